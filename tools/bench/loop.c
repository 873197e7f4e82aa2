/* loop.c -- netcore-bench's client loop: one thread, level-triggered epoll,
 * non-blocking connections with their own input and output buffers.  A
 * scenario drives the connections; the loop owns time (warm-up, the
 * measured window), errors, and CPU accounting. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int parse_target(const char *s, target *t)
{
    memset(&t->ss, 0, sizeof t->ss);
    const char *addr = strchr(s, '=') ? strchr(s, '=') + 1 : s;
    if (strchr(s, '='))
        t->name = strndup(s, (size_t)(strchr(s, '=') - s));
    else
        t->name = strdup(s);
    t->addr = strdup(addr);
    if (strncmp(addr, "unix:", 5) == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *)&t->ss;
        un->sun_family = AF_UNIX;
        snprintf(un->sun_path, sizeof un->sun_path, "%s", addr + 5);
        t->sl = sizeof *un;
        t->host = strdup("");
        return 0;
    }
    char host[128];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof host)
        return -1;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    int port = atoi(colon + 1);
    if (port <= 0 || port > 65535)
        return -1;
    if (host[0] == '[') {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&t->ss;
        host[strlen(host) - 1] = '\0';
        t->host = strdup(host + 1);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1)
            return -1;
        t->sl = sizeof *in6;
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&t->ss;
        t->host = strdup(host);
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, strcmp(host, "localhost") ? host : "127.0.0.1", &in->sin_addr) != 1)
            return -1;
        t->sl = sizeof *in;
    }
    return 0;
}

static void set_events(run *r, bconn *c, int want_out)
{
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(r->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* A TLS connection's interest follows what OpenSSL last asked for; the
 * registered mask is remembered so that no turn pays for an unchanged one. */
static void tls_events(run *r, bconn *c)
{
    unsigned want = tls_interest(c);
    if (c->fd < 0 || want == c->evmask)
        return;
    struct epoll_event ev = {.events = want, .data.ptr = c};
    epoll_ctl(r->ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->evmask = want;
}

static int open_socket(run *r, bconn *c)
{
    int fd = socket(r->t->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (r->t->ss.ss_family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (connect(fd, (struct sockaddr *)&r->t->ss, r->t->sl) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    c->fd = fd;
    c->open = 0;
    c->dead = 0;
    c->started = now_ns();
    c->evmask = EPOLLIN | EPOLLOUT;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

bconn *bc_connect(run *r, int idx, int role)
{
    bconn *c = &r->conns[idx];
    memset(c, 0, sizeof *c);
    c->idx = idx;
    c->role = role;
    c->fd = -1;
    c->tscap = 1024;
    c->ts = calloc(c->tscap, sizeof *c->ts);
    if (open_socket(r, c) < 0) {
        r->res->err_connect++;
        c->dead = 1;
    }
    return c;
}

static void bc_close(run *r, bconn *c)
{
    tls_close(r, c);
    if (c->fd >= 0) {
        epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->open = 0;
    c->inlen = c->outlen = c->outoff = 0;
    c->tscount = c->tshead = 0;
    c->pos_in = c->pos_out = 0;
}

void bc_reconnect(run *r, bconn *c)
{
    bc_close(r, c);
    if (r->stop)
        return;
    if (open_socket(r, c) < 0) {
        r->res->err_connect++;
        c->dead = 1;
    }
}

void bc_error(run *r, bconn *c, int kind, const char *why)
{
    uint64_t *slot[] = {&r->res->err_wrong, &r->res->err_reset, &r->res->err_timeout,
                        &r->res->err_status, &r->res->err_connect};
    (*slot[kind])++;
    if (!r->o->quiet && *slot[kind] == 1)
        fprintf(stderr, "netcore-bench: %s: first error of this kind: %s\n", r->t->name, why);
    /* Start over on a fresh connection so errors keep being counted. */
    bc_reconnect(r, c);
}

static void tls_flush(run *r, bconn *c)
{
    while (c->outoff < c->outlen) {
        long n = tls_write(r, c, c->out + c->outoff, c->outlen - c->outoff);
        if (n < 0)
            return;
        if (n == 0)
            break;
        c->outoff += (size_t)n;
    }
    if (c->outoff == c->outlen)
        c->outoff = c->outlen = 0;
    tls_events(r, c);
}

static void flush(run *r, bconn *c)
{
    if (c->ssl) {
        tls_flush(r, c);
        return;
    }
    while (c->outoff < c->outlen) {
        ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                if (errno == EAGAIN) {
                    set_events(r, c, 1);
                    return;
                }
                continue;
            }
            bc_error(r, c, ERR_RESET, strerror(errno));
            return;
        }
        c->outoff += (size_t)n;
    }
    c->outoff = c->outlen = 0;
}

void bc_send(run *r, bconn *c, const void *data, size_t len)
{
    if (c->fd < 0)
        return;
    int idle = c->outoff == c->outlen;
    if (c->outcap - c->outlen < len) {
        if (c->outoff) {
            memmove(c->out, c->out + c->outoff, c->outlen - c->outoff);
            c->outlen -= c->outoff;
            c->outoff = 0;
        }
        if (c->outcap - c->outlen < len) {
            size_t cap = c->outcap ? c->outcap : 4096;
            while (cap - c->outlen < len)
                cap *= 2;
            c->out = realloc(c->out, cap);
            c->outcap = cap;
        }
    }
    memcpy(c->out + c->outlen, data, len);
    c->outlen += len;
    if (idle && c->open)
        flush(r, c);
}

void bc_consume(bconn *c, size_t n)
{
    if (n >= c->inlen) {
        c->inlen = 0;
        return;
    }
    memmove(c->in, c->in + n, c->inlen - n);
    c->inlen -= n;
}

void bc_push_ts(bconn *c, uint64_t t)
{
    if (c->tscount == c->tscap) {
        uint64_t *n = calloc(c->tscap * 2, sizeof *n);
        for (unsigned i = 0; i < c->tscount; i++)
            n[i] = c->ts[(c->tshead + i) % c->tscap];
        free(c->ts);
        c->ts = n;
        c->tshead = 0;
        c->tscap *= 2;
    }
    c->ts[(c->tshead + c->tscount) % c->tscap] = t;
    c->tscount++;
}

uint64_t bc_pop_ts(bconn *c)
{
    if (!c->tscount)
        return 0;
    uint64_t t = c->ts[c->tshead];
    c->tshead = (c->tshead + 1) % c->tscap;
    c->tscount--;
    return t;
}

void run_record(run *r, uint64_t latency_ns, uint64_t bytes)
{
    if (!r->measuring)
        return;
    hist_record(r->res->lat, latency_ns);
    r->res->ops++;
    r->res->bytes += bytes;
}

static double cpu_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static void in_room(bconn *c)
{
    if (c->incap - c->inlen < 65536) {
        size_t cap = c->incap ? c->incap * 2 : 131072;
        while (cap - c->inlen < 65536)
            cap *= 2;
        c->in = realloc(c->in, cap);
        c->incap = cap;
    }
}

/* Records until OpenSSL wants the socket again, at most 16 a turn so that
 * one fast connection cannot starve the rest; what is left decrypted inside
 * OpenSSL then has no epoll event to bring it, so the connection is marked
 * and the loop comes back for it without waiting. */
static void tls_readable(run *r, bconn *c)
{
    for (int budget = 16;; budget--) {
        in_room(c);
        long n = tls_read(r, c, c->in + c->inlen, c->incap - c->inlen);
        if (n < 0)
            return;
        if (c->tls_new_sess) {
            c->tls_new_sess = 0;
            if (r->sc->on_session) {
                r->sc->on_session(r, c);
                if (c->fd < 0 || !c->ssl)
                    return;
            }
        }
        if (n == 0)
            break;
        c->inlen += (size_t)n;
        r->sc->on_input(r, c);
        if (c->fd < 0 || !c->ssl)
            return;
        if (budget == 0)
            break;
    }
    int more = SSL_has_pending(c->ssl);
    if (more != c->tls_pending) {
        c->tls_pending = (unsigned char)more;
        r->tls_npending += more ? 1 : -1;
    }
    tls_events(r, c);
}

static void on_readable(run *r, bconn *c)
{
    if (c->ssl) {
        tls_readable(r, c);
        return;
    }
    in_room(c);
    ssize_t n = recv(c->fd, c->in + c->inlen, c->incap - c->inlen, 0);
    if (n > 0) {
        c->inlen += (size_t)n;
        r->sc->on_input(r, c);
    } else if (n == 0) {
        bc_error(r, c, ERR_RESET, "the server closed the connection");
    } else if (errno != EAGAIN && errno != EINTR) {
        bc_error(r, c, ERR_RESET, strerror(errno));
    }
}

static void check_timeouts(run *r, uint64_t now)
{
    uint64_t limit = (uint64_t)(r->o->timeout * 1e9);
    for (int i = 0; i < r->nconns; i++) {
        bconn *c = &r->conns[i];
        if (c->fd >= 0 && c->tscount && now - c->ts[c->tshead] > limit)
            bc_error(r, c, ERR_TIMEOUT, "no answer within the timeout");
        else if (c->fd >= 0 && !c->open && now - c->started > limit)
            bc_error(r, c, ERR_CONNECT, c->ssl ? "TLS handshake timed out" : "connect timed out");
    }
}

/* The handshake is done: the connection opens; what came with the last
 * flight may already be decrypted inside OpenSSL, where no epoll event
 * would announce it, so it is read at once. */
static void tls_step(run *r, bconn *c)
{
    int rc = tls_handshake(r, c);
    if (rc <= 0) {
        if (rc == 0)
            tls_events(r, c);
        return;
    }
    c->open = 1;
    r->sc->on_open(r, c);
    if (c->fd >= 0 && c->ssl && c->open)
        tls_readable(r, c);
    if (c->fd >= 0 && c->ssl && c->open)
        flush(r, c);
}

static void on_connected(run *r, bconn *c)
{
    if (r->tls) {
        if (tls_begin(r, c) == 0)
            tls_step(r, c);
        return;
    }
    c->open = 1;
    set_events(r, c, c->outoff < c->outlen);
    r->sc->on_open(r, c);
    if (c->fd >= 0 && c->outoff < c->outlen)
        flush(r, c);
}

/* An open TLS connection: a write that waited for input and a read that
 * waited for room are retried first.  Each step may have closed or
 * replaced the connection (c->ssl is then NULL or not yet open). */
static void tls_event(run *r, bconn *c, unsigned ev)
{
#define LIVE (c->fd >= 0 && c->ssl && c->open)
    if ((ev & EPOLLIN) && c->tls_wr_want_in)
        flush(r, c);
    if (LIVE && (ev & EPOLLOUT) && c->tls_rd_want_out)
        tls_readable(r, c);
    if (LIVE && (ev & EPOLLOUT) && c->outoff < c->outlen && !c->tls_wr_want_in)
        flush(r, c);
    if (LIVE && (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        tls_readable(r, c);
    if (LIVE)
        tls_events(r, c);
#undef LIVE
}

static void on_event(run *r, bconn *c, unsigned ev)
{
    if (!c->open && !c->ssl && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err)
            bc_error(r, c, ERR_CONNECT, strerror(err));
        else
            on_connected(r, c);
        return;
    }
    if (c->ssl) {
        if (c->open)
            tls_event(r, c, ev);
        else
            tls_step(r, c);
        return;
    }
    if (ev & EPOLLOUT) {
        flush(r, c);
        if (c->fd >= 0 && c->outoff == c->outlen)
            set_events(r, c, 0);
    }
    if (c->fd >= 0 && (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        on_readable(r, c);
}

/* Connections whose decrypted input waits inside OpenSSL. */
static void tls_drain_pending(run *r)
{
    for (int i = 0; i < r->nconns && r->tls_npending > 0; i++) {
        bconn *c = &r->conns[i];
        if (c->tls_pending && c->fd >= 0 && c->ssl && c->open)
            tls_readable(r, c);
    }
}

/* Closes and frees what a run's start made (also after a failed start). */
static void run_free(run *r)
{
    for (int i = 0; i < r->nconns; i++) {
        bc_close(r, &r->conns[i]);
        free(r->conns[i].in);
        free(r->conns[i].out);
        free(r->conns[i].ts);
    }
    tls_ctx_free(r);
    free(r->conns);
    free(r->state);
    close(r->ep);
}

extern int bench_progress_tty;

int run_scenario(const opts *o, target *t, int round, result *res)
{
    static const scenario *all[] = {&scen_echo, &scen_http, &scen_broadcast, &scen_udp,
                                    &scen_chat, &scen_file, &scen_handshake};
    run r = {.o = o, .t = t, .res = res};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(all[i]->name, o->scenario) == 0)
            r.sc = all[i];
    if (!r.sc) {
        fprintf(stderr, "netcore-bench: unknown scenario \"%s\"\n", o->scenario);
        return -1;
    }
    if (o->tls && !strcmp(o->scenario, "udp")) {
        fprintf(stderr, "netcore-bench: udp has no TLS (--tls is for the stream scenarios)\n");
        return -1;
    }
    if (!o->tls && r.sc == &scen_handshake) {
        fprintf(stderr, "netcore-bench: handshake measures TLS handshakes: it needs --tls\n");
        return -1;
    }
    /* before anything is allocated: a refusal here leaks nothing */
    if (tls_ctx_new(&r) < 0)
        return -1;
    memset(res, 0, sizeof *res);
    res->t = t;
    res->round = round;
    res->server_cpu = -1;
    res->lat = malloc(sizeof *res->lat);
    hist_init(res->lat);
    r.ep = epoll_create1(EPOLL_CLOEXEC);
    r.t0 = now_ns();
    r.t_measure = r.t0 + (uint64_t)(o->warmup * 1e9);
    r.t_end = r.t_measure + (uint64_t)(o->duration * 1e9);
    if (r.sc->start(&r) < 0) {
        run_free(&r);
        free(res->lat);
        res->lat = NULL;
        return -1;
    }
    double cpu0 = 0, srv0 = 0;
    uint64_t last_check = r.t0;
    uint64_t last_progress = last_check, ops_at_progress = 0;
    struct epoll_event evs[256];
    for (;;) {
        uint64_t now = now_ns();
        if (!r.measuring && now >= r.t_measure) {
            r.measuring = 1;
            cpu0 = cpu_self();
            if (t->pid)
                srv0 = proc_cpu_seconds(t->pid);
        }
        if (now >= r.t_end || r.stop)
            break;
        int timeout = r.sc->on_tick || r.tls_npending ? 0 : 10;
        int n = epoll_wait(r.ep, evs, 256, timeout);
        for (int i = 0; i < n; i++) {
            bconn *c = evs[i].data.ptr;
            if (c->fd >= 0)
                on_event(&r, c, evs[i].events);
        }
        if (r.tls_npending)
            tls_drain_pending(&r);
        if (r.sc->on_tick)
            r.sc->on_tick(&r);
        now = now_ns();
        if (now - last_check > 100000000u) {
            check_timeouts(&r, now);
            last_check = now;
        }
        if (bench_progress_tty && now - last_progress > 1000000000u) {
            double el = (double)(now - r.t0) / 1e9;
            double rate = (double)(res->ops - ops_at_progress) / ((double)(now - last_progress) / 1e9);
            fprintf(stderr, "\r  round %d  %-14s %5.1fs/%.0fs  %s  %10.0f ops/s  errors %llu   ",
                    round + 1, t->name, el, o->warmup + o->duration,
                    r.measuring ? "measuring" : "warm-up  ", rate,
                    (unsigned long long)(res->err_wrong + res->err_reset + res->err_timeout +
                                         res->err_status + res->err_connect));
            last_progress = now;
            ops_at_progress = res->ops;
        }
    }
    /* A run stopped before its window (a certificate that does not verify)
     * measured nothing. */
    uint64_t end = now_ns();
    double wall = r.measuring && end > r.t_measure ? (double)(end - r.t_measure) / 1e9 : 0;
    res->secs = wall;
    res->client_cpu = wall > 0 ? (cpu_self() - cpu0) / wall : 0;
    if (t->pid && wall > 0)
        res->server_cpu = (proc_cpu_seconds(t->pid) - srv0) / wall;
    r.stop = 1;
    if (r.sc->finish)
        r.sc->finish(&r);
    run_free(&r);
    if (bench_progress_tty)
        fprintf(stderr, "\r%100s\r", "");
    return 0;
}
