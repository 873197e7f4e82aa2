/* epoll_echo.c -- the echo benchmark's limit: the least code that echoes
 * over epoll (one thread, level-triggered, read then write, no framework).
 * netcore's echo module is measured against it by bench/echo.json.
 *   build/bench/epoll_echo [-a 127.0.0.1] [-p 17001]
 *
 * A connection owns no buffer while the kernel keeps up: bytes are read
 * into one shared 64 KiB buffer and written straight back.  Only a short
 * write makes the connection keep the rest (`left`); it then waits for
 * EPOLLOUT and stops reading until that is gone, so a peer that does not
 * read cannot make us buffer without bound. */
#include <errno.h>
#include <string.h>

#include "ref.h"

struct conn {
    int fd;
    char *left;       /* unsent bytes after a short write, NULL when none */
    size_t off, len;  /* left[off, len) is still to go */
};

static int ep;
static char shared[65536];

static void conn_close(struct conn *c)
{
    close(c->fd); /* the last reference: this also ends its epoll registration */
    free(c->left);
    free(c);
}

static void want(struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes p[0, n); keeps what the kernel did not take.  Returns -1 when
 * the connection must be closed. */
static int send_or_keep(struct conn *c, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(c->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN)
            return -1;
        if (w < 0) {
            char *keep = malloc(n);
            if (!keep)
                return -1;
            memcpy(keep, p, n);
            c->left = keep;
            c->off = 0;
            c->len = n;
            want(c, EPOLLOUT);
            return 0;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int on_readable(struct conn *c)
{
    ssize_t r = read(c->fd, shared, sizeof shared);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
        return -1;
    return r > 0 ? send_or_keep(c, shared, (size_t)r) : 0;
}

static int on_writable(struct conn *c)
{
    char *left = c->left;
    size_t off = c->off, len = c->len;
    c->left = NULL;
    int rc = send_or_keep(c, left + off, len - off);
    free(left);
    if (rc == 0 && !c->left)
        want(c, EPOLLIN); /* drained: read again */
    return rc;
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1";
    int port = 17001;
    ref_args(argc, argv, &addr, &port);
    long maxfd = ref_setup_process();
    static int listener_tag; /* data.ptr of the listening socket */
    int lfd;
    ep = ref_epoll_listen("epoll_echo", addr, port, &listener_tag, &lfd);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        /* epoll reports a descriptor at most once per call and a
         * connection is only closed while its own event is handled, so no
         * later event of this batch can point at a freed connection. */
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &listener_tag) {
                while (ref_accept(lfd, maxfd, ep, sizeof(struct conn)))
                    continue; /* a connection needs nothing more until it sends */
                continue;
            }
            struct conn *c = evs[i].data.ptr;
            int rc = c->left ? on_writable(c) : on_readable(c);
            if (rc < 0)
                conn_close(c);
        }
    }
}
