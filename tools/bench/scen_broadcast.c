/* scen_broadcast.c -- the broadcast scenario: M subscribers and P publishers
 * in one room.  Each publisher keeps at most `window` messages undelivered
 * (counted over all subscribers); each delivery to a subscriber is one
 * operation, timed from the publisher's send (the time travels in the
 * message) and checked to arrive exactly once and in order per publisher.
 * Dialects: netcore (broadcast-chat module: login answered with
 * {"status":"ok",...}), plain (the same JSON, no login answer), redis
 * (SUBSCRIBE/PUBLISH over RESP). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

enum { SUB = 0, PUB = 1 };
enum { D_NETCORE, D_PLAIN, D_REDIS };
#define CHANNEL "nc-bench"

struct bstate {
    int dialect;
    int ready;           /* connections logged in / subscribed */
    int started;
    uint64_t *delivered; /* per publisher */
    uint64_t *sent;      /* per publisher */
    uint64_t *next;      /* [sub * pubs + pub]: next expected seq, UINT64_MAX unknown */
    char *msg;
};

static int nsubs(run *r)
{
    return r->o->subs;
}

static void publish(run *r, bconn *c)
{
    struct bstate *s = r->state;
    int p = c->idx - nsubs(r);
    char head[96];
    int hl = snprintf(head, sizeof head, "B %d %llu %llu ", p, (unsigned long long)s->sent[p],
                      (unsigned long long)now_ns());
    size_t size = r->o->size > (size_t)hl ? r->o->size : (size_t)hl;
    memcpy(s->msg, head, (size_t)hl);
    memset(s->msg + hl, 'x', size - (size_t)hl);
    char frame[256];
    int fl;
    if (s->dialect == D_REDIS)
        fl = snprintf(frame, sizeof frame, "*3\r\n$7\r\nPUBLISH\r\n$%zu\r\n%s\r\n$%zu\r\n",
                      strlen(CHANNEL), CHANNEL, size);
    else
        fl = snprintf(frame, sizeof frame, "{\"type\":\"broadcast\",\"message\":\"");
    bc_send(r, c, frame, (size_t)fl);
    bc_send(r, c, s->msg, size);
    if (s->dialect == D_REDIS)
        bc_send(r, c, "\r\n", 2);
    else
        bc_send(r, c, "\"}\n", 3);
    s->sent[p]++;
}

static void top_up(run *r, int p)
{
    struct bstate *s = r->state;
    bconn *c = &r->conns[nsubs(r) + p];
    uint64_t window = (uint64_t)r->o->window * (uint64_t)nsubs(r);
    while (c->fd >= 0 && s->sent[p] * (uint64_t)nsubs(r) - s->delivered[p] < window)
        publish(r, c);
}

static void got_ready(run *r)
{
    struct bstate *s = r->state;
    if (++s->ready == r->nconns && !s->started) {
        s->started = 1;
        for (int p = 0; p < r->o->pubs; p++)
            top_up(r, p);
    }
}

static int bc_start(run *r)
{
    struct bstate *s = calloc(1, sizeof *s);
    r->state = s;
    const char *d = r->o->dialect ? r->o->dialect : "netcore";
    s->dialect = !strcmp(d, "redis") ? D_REDIS : !strcmp(d, "plain") ? D_PLAIN : D_NETCORE;
    if (strcmp(d, "redis") && strcmp(d, "plain") && strcmp(d, "netcore")) {
        fprintf(stderr, "netcore-bench: --dialect must be netcore, plain or redis\n");
        return -1;
    }
    int subs = r->o->subs, pubs = r->o->pubs;
    s->delivered = calloc((size_t)pubs, sizeof *s->delivered);
    s->sent = calloc((size_t)pubs, sizeof *s->sent);
    s->next = malloc((size_t)subs * (size_t)pubs * sizeof *s->next);
    memset(s->next, 0xff, (size_t)subs * (size_t)pubs * sizeof *s->next);
    s->msg = malloc(r->o->size + 128);
    r->nconns = subs + pubs;
    r->conns = calloc((size_t)r->nconns, sizeof *r->conns);
    for (int i = 0; i < r->nconns; i++)
        bc_connect(r, i, i < subs ? SUB : PUB);
    return 0;
}

static void bc_open(run *r, bconn *c)
{
    struct bstate *s = r->state;
    if (s->dialect == D_REDIS) {
        if (c->role == SUB) {
            char cmd[64];
            int n = snprintf(cmd, sizeof cmd, "SUBSCRIBE %s\r\n", CHANNEL);
            bc_send(r, c, cmd, (size_t)n);
        } else {
            got_ready(r);
        }
        return;
    }
    char login[96];
    int n = snprintf(login, sizeof login, "{\"type\":\"login\",\"nickname\":\"%s%d\"}\n",
                     c->role == SUB ? "sub" : "pub", c->idx);
    bc_send(r, c, login, (size_t)n);
    c->aux = 0; /* not yet logged in */
    if (s->dialect == D_PLAIN) {
        c->aux = 1;
        got_ready(r);
    }
}

/* One delivered payload ("B p seq ts ...") to subscriber c. */
static void delivery(run *r, bconn *c, const char *m, size_t n)
{
    struct bstate *s = r->state;
    /* "B p seq ts ": parsed by hand, this is the generator's hot path. */
    uint64_t f[3] = {0, 0, 0};
    size_t i = 2;
    if (n < 8 || m[0] != 'B' || m[1] != ' ')
        return; /* not ours (a join notice, say) */
    for (int k = 0; k < 3; k++) {
        if (i >= n || m[i] < '0' || m[i] > '9')
            return;
        while (i < n && m[i] >= '0' && m[i] <= '9')
            f[k] = f[k] * 10 + (uint64_t)(m[i++] - '0');
        i++;
    }
    int p = (int)f[0];
    uint64_t seq = f[1], ts = f[2];
    if (f[0] >= (uint64_t)r->o->pubs)
        return;
    uint64_t *next = &s->next[(size_t)c->idx * (size_t)r->o->pubs + (size_t)p];
    if (*next != UINT64_MAX && seq != *next) {
        char why[96];
        snprintf(why, sizeof why, "from publisher %d: got message %llu, expected %llu", p,
                 (unsigned long long)seq, (unsigned long long)*next);
        bc_error(r, c, ERR_WRONG, why);
        memset(s->next + (size_t)c->idx * (size_t)r->o->pubs, 0xff,
               (size_t)r->o->pubs * sizeof *s->next);
        return;
    }
    *next = seq + 1;
    run_record(r, now_ns() - ts, r->o->size);
    s->delivered[p]++;
    top_up(r, p);
}

/* RESP: parse one value at *off; returns 1 done, 0 need more, -1 bad.
 * For arrays of bulk strings, the last bulk string is returned in *last and
 * the first in *first. */
static int resp_value(const char *b, size_t n, size_t *off, const char **first, size_t *flen,
                      const char **last, size_t *llen)
{
    size_t o = *off;
    if (o >= n)
        return 0;
    const char *eol = memmem(b + o, n - o, "\r\n", 2);
    if (!eol)
        return 0;
    char t = b[o];
    long long v = atoll(b + o + 1);
    size_t after = (size_t)(eol - b) + 2;
    if (t == '+' || t == '-' || t == ':') {
        *off = after;
        return 1;
    }
    if (t == '$') {
        if (v < 0) {
            *off = after;
            return 1;
        }
        if (n - after < (size_t)v + 2)
            return 0;
        *last = b + after;
        *llen = (size_t)v;
        if (!*first) {
            *first = b + after;
            *flen = (size_t)v;
        }
        *off = after + (size_t)v + 2;
        return 1;
    }
    if (t == '*') {
        size_t o2 = after;
        for (long long i = 0; i < v; i++) {
            int rc = resp_value(b, n, &o2, first, flen, last, llen);
            if (rc <= 0)
                return rc;
        }
        *off = o2;
        return 1;
    }
    return -1;
}

static void bc_input(run *r, bconn *c)
{
    struct bstate *s = r->state;
    size_t off = 0;
    if (s->dialect == D_REDIS) {
        for (;;) {
            const char *first = NULL, *last = NULL;
            size_t fl = 0, ll = 0, o = off;
            int rc = resp_value(c->in, c->inlen, &o, &first, &fl, &last, &ll);
            if (rc == 0)
                break;
            if (rc < 0) {
                bc_error(r, c, ERR_WRONG, "unparseable RESP from the server");
                return;
            }
            off = o;
            if (c->role != SUB || !first)
                continue;
            if (fl == 9 && memcmp(first, "subscribe", 9) == 0)
                got_ready(r);
            else if (fl == 7 && memcmp(first, "message", 7) == 0)
                delivery(r, c, last, ll);
            if (c->fd < 0)
                return;
        }
        bc_consume(c, off);
        return;
    }
    for (;;) {
        const char *line = c->in + off;
        const char *nl = memchr(line, '\n', c->inlen - off);
        if (!nl)
            break;
        size_t n = (size_t)(nl - line);
        off += n + 1;
        if (!c->aux) {
            if (memmem(line, n, "\"status\":\"ok\"", 13)) {
                c->aux = 1;
                got_ready(r);
            } else if (memmem(line, n, "\"status\":\"error\"", 16)) {
                bc_error(r, c, ERR_STATUS, "login refused");
                return;
            }
            continue;
        }
        if (c->role != SUB)
            continue;
        const char *m = memmem(line, n, "\"message\":\"B ", 13);
        if (m) {
            delivery(r, c, m + 11, n - (size_t)(m + 11 - line));
            if (c->fd < 0)
                return;
        }
    }
    bc_consume(c, off);
}

static void bc_finish(run *r)
{
    struct bstate *s = r->state;
    free(s->delivered);
    free(s->sent);
    free(s->next);
    free(s->msg);
}

const scenario scen_broadcast = {
    .name = "broadcast",
    .start = bc_start,
    .on_open = bc_open,
    .on_input = bc_input,
    .finish = bc_finish,
};
