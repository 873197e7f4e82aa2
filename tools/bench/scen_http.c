/* scen_http.c -- the http scenario: GET of one path over keep-alive
 * connections (D requests in flight each), or one connection per request
 * with --close.  A response counts when its status is 200 and its
 * Content-Length matches the expected length (--expect-length, or the first
 * response's) and the whole body has arrived. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bench.h"

struct hstate {
    char req[1024];
    size_t reqlen;
    long long expect; /* -1 until known */
};

/* Per connection: c->aux is the body bytes still to skip of the current
 * response; c->seq is 1 while inside a body. */

static void send_req(run *r, bconn *c)
{
    struct hstate *h = r->state;
    bc_push_ts(c, r->o->close_each ? c->started : now_ns());
    bc_send(r, c, h->req, h->reqlen);
}

static int http_start(run *r)
{
    struct hstate *h = calloc(1, sizeof *h);
    r->state = h;
    const char *host = r->t->addr;
    h->reqlen = (size_t)snprintf(h->req, sizeof h->req,
                                 "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: netcore-bench\r\n%s\r\n",
                                 r->o->path, host,
                                 r->o->close_each ? "Connection: close\r\n" : "");
    h->expect = r->o->expect_len;
    r->nconns = r->o->conns;
    r->conns = calloc((size_t)r->nconns, sizeof *r->conns);
    for (int i = 0; i < r->nconns; i++)
        bc_connect(r, i, 0);
    return 0;
}

static void http_open(run *r, bconn *c)
{
    int d = r->o->close_each ? 1 : r->o->depth;
    for (int i = 0; i < d; i++)
        send_req(r, c);
}

static long long header_value(const char *h, size_t n, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = h; p < h + n;) {
        const char *eol = memchr(p, '\n', (size_t)(h + n - p));
        if (!eol)
            break;
        if ((size_t)(eol - p) > nl + 1 && strncasecmp(p, name, nl) == 0 && p[nl] == ':')
            return atoll(p + nl + 1);
        p = eol + 1;
    }
    return -1;
}

static void http_input(run *r, bconn *c)
{
    struct hstate *h = r->state;
    size_t off = 0;
    for (;;) {
        if (c->seq) { /* inside a body */
            size_t take = c->inlen - off < c->aux ? c->inlen - off : (size_t)c->aux;
            off += take;
            c->aux -= take;
            if (c->aux > 0)
                break;
            c->seq = 0;
            uint64_t t = bc_pop_ts(c);
            run_record(r, now_ns() - t, (uint64_t)(h->expect > 0 ? h->expect : 0));
            /* The server said this was the connection's last answer (or we
             * asked for that): open a new one, as browsers do; not an error. */
            if (r->o->close_each || c->pos_out) {
                c->pos_out = 0;
                bc_reconnect(r, c);
                if (!r->o->close_each && c->fd >= 0)
                    c->started = now_ns();
                return;
            }
            send_req(r, c);
            if (c->fd < 0)
                return;
            continue;
        }
        const char *p = c->in + off;
        size_t left = c->inlen - off;
        const char *end = left >= 4 ? memmem(p, left, "\r\n\r\n", 4) : NULL;
        if (!end) {
            if (left > 65536) {
                bc_error(r, c, ERR_STATUS, "response headers larger than 64 KiB");
                return;
            }
            break;
        }
        size_t hl = (size_t)(end - p) + 4;
        int status = 0;
        if (left < 12 || strncmp(p, "HTTP/1.", 7) != 0 || sscanf(p + 9, "%3d", &status) != 1) {
            bc_error(r, c, ERR_STATUS, "not an HTTP/1.x response");
            return;
        }
        long long cl = header_value(p, hl, "Content-Length");
        const char *conn = memmem(p, hl, "\r\nConnection: close", 19);
        if (conn && !r->o->close_each) {
            /* Requests pipelined behind this one will not be answered:
             * they are not errors either; reconnecting resends them. */
            c->pos_out = 1;
        }
        if (status != 200) {
            char why[64];
            snprintf(why, sizeof why, "status %d", status);
            bc_error(r, c, ERR_STATUS, why);
            return;
        }
        if (cl < 0) {
            bc_error(r, c, ERR_STATUS, "no Content-Length");
            return;
        }
        if (h->expect < 0)
            h->expect = cl;
        if (cl != h->expect) {
            char why[96];
            snprintf(why, sizeof why, "Content-Length %lld, expected %lld", cl, h->expect);
            bc_error(r, c, ERR_WRONG, why);
            return;
        }
        off += hl;
        c->seq = 1;
        c->aux = (uint64_t)cl;
    }
    bc_consume(c, off);
}

const scenario scen_http = {
    .name = "http",
    .start = http_start,
    .on_open = http_open,
    .on_input = http_input,
};
