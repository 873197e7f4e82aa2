/* epoll_bcast.c -- the broadcast benchmark's limit: the least code that
 * fans newline-delimited JSON out over epoll, speaking netcore-bench's
 * "plain" broadcast dialect (bench/broadcast.json):
 *   {"type":"login","nickname":"NICK"}      logs the connection in, no answer
 *   {"type":"broadcast","message":"TEXT"}   every OTHER logged-in connection gets
 *   {"type":"message","from":"NICK","message":"TEXT"}
 *   build/bench/epoll_bcast [-a 127.0.0.1] [-p 17004]
 *
 * Not a JSON parser: fields are found by searching for "key":" (no spaces)
 * and TEXT is copied as it came, still escaped, which is all the generator
 * needs.  Output is appended to each recipient's buffer and written once
 * per loop turn (after every event of the epoll_wait batch), so a burst of
 * messages costs one write per recipient; one with more than OUT_MAX
 * unsent bytes is dropped as a slow consumer. */
#include <errno.h>
#include <string.h>

#include "ref.h"

#define IN_MAX 16384         /* longest line accepted */
#define OUT_MAX (8u << 20)   /* unsent bytes before a reader is dropped */

struct conn {
    int fd;          /* -1 once closed; freed at the end of the loop turn */
    int member;      /* index in members[], -1 when not logged in */
    int queued;      /* on the flush list this turn */
    int want_out;    /* EPOLLOUT registered */
    char nick[64];
    char in[IN_MAX];
    size_t inlen;
    char *out;
    size_t off, len, cap;
    struct conn *next_dead;
};

static int ep;
static struct conn **members; /* logged-in connections, unordered */
static int nmembers;
static struct conn **flushq;  /* connections with output queued this turn */
static int nflush;
static struct conn *dead;     /* closed this turn: events may still point at them */

static void conn_close(struct conn *c)
{
    if (c->fd < 0)
        return;
    if (c->member >= 0) { /* swap the last member into the hole: O(1) */
        members[c->member] = members[--nmembers];
        members[c->member]->member = c->member;
    }
    close(c->fd);
    c->fd = -1;
    c->next_dead = dead;
    dead = c;
}

static void queue(struct conn *c, const char *p, size_t n)
{
    if (c->len - c->off + n > OUT_MAX) {
        conn_close(c);
        return;
    }
    if (c->len + n > c->cap) {
        memmove(c->out, c->out + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
        size_t cap = c->cap ? c->cap : 4096;
        while (c->len + n > cap)
            cap *= 2;
        char *grown = realloc(c->out, cap);
        if (!grown) {
            conn_close(c);
            return;
        }
        c->out = grown;
        c->cap = cap;
    }
    memcpy(c->out + c->len, p, n);
    c->len += n;
    if (!c->queued) {
        c->queued = 1;
        flushq[nflush++] = c;
    }
}

static void flush(struct conn *c)
{
    if (c->fd < 0)
        return;
    while (c->off < c->len) {
        ssize_t w = write(c->fd, c->out + c->off, c->len - c->off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            break;
        if (w < 0) {
            conn_close(c);
            return;
        }
        c->off += (size_t)w;
    }
    if (c->off == c->len)
        c->off = c->len = 0;
    int need = c->len > 0;
    if (need != c->want_out) {
        struct epoll_event ev = {.events = EPOLLIN | (need ? EPOLLOUT : 0u), .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = need;
    }
}

/* Finds "key":"VALUE" in line[0, n) and points *v at VALUE.  Returns its
 * length (escapes left in), or -1 when absent or unterminated. */
static int field(const char *line, size_t n, const char *key, const char **v)
{
    char pat[40];
    int pl = snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *k = memmem(line, n, pat, (size_t)pl);
    if (!k)
        return -1;
    const char *s = k + pl, *e = line + n, *q = s;
    while (q < e && *q != '"')
        q += (*q == '\\' && q + 1 < e) ? 2 : 1;
    if (q >= e)
        return -1;
    *v = s;
    return (int)(q - s);
}

static void on_line(struct conn *c, const char *line, size_t n)
{
    const char *v;
    int tl = field(line, n, "type", &v);
    if (tl == 5 && !memcmp(v, "login", 5)) {
        int nl = field(line, n, "nickname", &v);
        if (nl <= 0 || nl >= (int)sizeof c->nick)
            return;
        memcpy(c->nick, v, (size_t)nl);
        c->nick[nl] = '\0';
        if (c->member < 0) {
            c->member = nmembers;
            members[nmembers++] = c;
        }
        return;
    }
    if (tl != 9 || memcmp(v, "broadcast", 9) || c->member < 0)
        return;
    int ml = field(line, n, "message", &v);
    if (ml < 0)
        return;
    char head[128];
    int hl = snprintf(head, sizeof head, "{\"type\":\"message\",\"from\":\"%s\",\"message\":\"", c->nick);
    char *msg = malloc((size_t)hl + (size_t)ml + 3);
    if (!msg)
        return;
    memcpy(msg, head, (size_t)hl);
    memcpy(msg + hl, v, (size_t)ml);
    memcpy(msg + hl + ml, "\"}\n", 3);
    /* Backwards: a slow consumer closed by queue() is replaced in its slot
     * by the last member, which this loop has already served. */
    for (int i = nmembers - 1; i >= 0; i--)
        if (members[i] != c)
            queue(members[i], msg, (size_t)hl + (size_t)ml + 3);
    free(msg);
}

static void on_readable(struct conn *c)
{
    ssize_t r = read(c->fd, c->in + c->inlen, IN_MAX - c->inlen);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        conn_close(c);
        return;
    }
    if (r < 0)
        return;
    c->inlen += (size_t)r;
    size_t start = 0;
    const char *nl;
    while (c->fd >= 0 && (nl = memchr(c->in + start, '\n', c->inlen - start))) {
        on_line(c, c->in + start, (size_t)(nl - (c->in + start)));
        start = (size_t)(nl - c->in) + 1;
    }
    if (c->fd < 0)
        return;
    memmove(c->in, c->in + start, c->inlen - start);
    c->inlen -= start;
    if (c->inlen == IN_MAX) /* a line longer than we accept */
        conn_close(c);
}

static void accept_all(int lfd, long maxfd)
{
    struct conn *c;
    while ((c = ref_accept(lfd, maxfd, ep, sizeof *c)))
        c->member = -1;
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1";
    int port = 17004;
    ref_args(argc, argv, &addr, &port);
    long maxfd = ref_setup_process();
    members = calloc((size_t)maxfd, sizeof *members);
    flushq = calloc((size_t)maxfd, sizeof *flushq);
    if (!members || !flushq)
        return 1;
    static int listener_tag; /* data.ptr of the listening socket */
    int lfd;
    ep = ref_epoll_listen("epoll_bcast", addr, port, &listener_tag, &lfd);
    struct epoll_event evs[512];
    for (;;) {
        int n = epoll_wait(ep, evs, 512, -1);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &listener_tag) {
                accept_all(lfd, maxfd);
                continue;
            }
            struct conn *c = evs[i].data.ptr;
            if (c->fd >= 0 && (evs[i].events & EPOLLOUT))
                flush(c);
            if (c->fd >= 0 && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                on_readable(c);
        }
        for (int i = 0; i < nflush; i++) {
            flushq[i]->queued = 0;
            flush(flushq[i]);
        }
        nflush = 0;
        /* Only now is no event or flush entry left that points at them. */
        while (dead) {
            struct conn *d = dead;
            dead = d->next_dead;
            free(d->out);
            free(d);
        }
    }
}
