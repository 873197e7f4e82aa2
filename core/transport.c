/* transport.c -- the plain transport: a TCP or Unix stream socket read and
 * written with the system calls themselves (see transport.h for the
 * contract every transport keeps). */
#include <errno.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport.h"

static ssize_t plain_recv(nc__tp *t, void *buf, size_t n)
{
    for (;;) {
        ssize_t r = read(t->fd, buf, n);
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
}

static ssize_t plain_send(nc__tp *t, const struct iovec *iov, int cnt, int more)
{
    for (;;) {
        ssize_t r;
        if (more) {
            /* Headers followed by a file: MSG_MORE holds them back so they
             * leave in one segment with the file's first bytes (what
             * TCP_CORK/tcp_nopush do, without two more calls). */
            struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)cnt};
            r = sendmsg(t->fd, &mh, MSG_MORE | MSG_NOSIGNAL);
            if (r < 0 && errno == ENOTSOCK)
                r = writev(t->fd, iov, cnt);
        } else {
            r = cnt == 1 ? write(t->fd, iov[0].iov_base, iov[0].iov_len) : writev(t->fd, iov, cnt);
        }
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
}

static ssize_t plain_sendfile(nc__tp *t, int fd, off_t *off, size_t n)
{
    for (;;) {
        ssize_t r = sendfile(t->fd, fd, off, n);
        if (r >= 0)
            return r;
        if (errno == EINVAL || errno == ENOSYS)
            return -ENOSYS; /* a file sendfile cannot read (a pipe, some FUSE): the fallback */
        if (errno != EINTR)
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
}

/* Everything queued was written.  Send FIN first and read away what the
 * peer still sent, so that close() does not answer unread input with a
 * reset that could destroy our last bytes in flight (RFC 9112 9.6 asks
 * for this "lingering close"; nginx reads away the same way). */
static int plain_shutdown(nc__tp *t)
{
    static char sink[16384];
    shutdown(t->fd, SHUT_WR);
    for (int i = 0; i < 4 && read(t->fd, sink, sizeof sink) > 0; i++)
        ;
    return 0;
}

static void plain_close(nc__tp *t, int abort)
{
    if (abort) {
        struct linger lg = {1, 0};
        setsockopt(t->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(t->fd); /* also leaves the epoll set */
    t->fd = -1;
}

const nc__tp_ops nc__tp_plain = {
    .name = "tcp",
    .recv = plain_recv,
    .send = plain_send,
    .sendfile = plain_sendfile,
    .pending = NULL,
    .shutdown = plain_shutdown,
    .close = plain_close,
};

void nc__tp_init_plain(nc__tp *t, int fd)
{
    t->ops = &nc__tp_plain;
    t->fd = fd;
    t->want = 0;
    t->ctx = NULL;
}
