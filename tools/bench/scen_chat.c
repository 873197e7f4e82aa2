/* scen_chat.c -- the chat scenario: pairs of users on the chat module, each
 * pair exchanging private messages ping-pong (/msg).  Every delivered
 * message is one operation, timed from its send (the time travels in the
 * text) and checked to carry the next sequence number of its pair. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* c->aux: 1 once the server confirmed the nickname; c->seq: next expected. */

static void nick_of(int idx, char *buf, size_t n)
{
    snprintf(buf, n, "b%c%d", idx % 2 ? 'b' : 'a', idx / 2);
}

static void send_msg(run *r, bconn *from, uint64_t seq)
{
    char to[32], line[256];
    nick_of(from->idx ^ 1, to, sizeof to);
    int n = snprintf(line, sizeof line, "/msg %s M %llu %llu ", to, (unsigned long long)seq,
                     (unsigned long long)now_ns());
    char *buf = r->state;
    memcpy(buf, line, (size_t)n);
    size_t total = (size_t)n + (r->o->size > 32 ? r->o->size - 32 : 0);
    memset(buf + n, 'x', total - (size_t)n);
    buf[total] = '\n';
    bc_send(r, from, buf, total + 1);
}

static int chat_start(run *r)
{
    r->state = malloc(r->o->size + 512);
    r->nconns = 2 * r->o->conns;
    r->conns = calloc((size_t)r->nconns, sizeof *r->conns);
    for (int i = 0; i < r->nconns; i++)
        bc_connect(r, i, i % 2);
    return 0;
}

static void chat_open(run *r, bconn *c)
{
    char nick[32], line[64];
    nick_of(c->idx, nick, sizeof nick);
    int n = snprintf(line, sizeof line, "/nick %s\n", nick);
    c->aux = 0;
    c->seq = 0;
    bc_send(r, c, line, (size_t)n);
}

static void chat_input(run *r, bconn *c)
{
    size_t off = 0;
    for (;;) {
        char *line = c->in + off;
        char *nl = memchr(line, '\n', c->inlen - off);
        if (!nl)
            break;
        size_t n = (size_t)(nl - line);
        off += n + 1;
        if (n >= 2 && line[0] == '!') {
            *nl = '\0';
            bc_error(r, c, ERR_STATUS, line);
            return;
        }
        if (!c->aux) {
            if (n > 14 && memcmp(line, "* you are now ", 14) == 0) {
                c->aux = 1;
                bconn *peer = &r->conns[c->idx ^ 1];
                /* When both of a pair are named, the A side opens. */
                if (peer->aux && peer->fd >= 0) {
                    bconn *a = c->role == 0 ? c : peer;
                    a->seq = 1;
                    send_msg(r, a, 0);
                }
            }
            continue;
        }
        char *m = memmem(line, n, "> M ", 4);
        if (!m || line[0] != '<')
            continue;
        unsigned long long seq, ts;
        *nl = '\0';
        if (sscanf(m + 4, "%llu %llu", &seq, &ts) != 2)
            continue;
        /* B expects 0, 2, 4 ...; A expects 1, 3, 5 ... */
        uint64_t expect = c->seq;
        if (seq != expect) {
            char why[96];
            snprintf(why, sizeof why, "pair %d: got message %llu, expected %llu", c->idx / 2, seq,
                     (unsigned long long)expect);
            bc_error(r, c, ERR_WRONG, why);
            return;
        }
        run_record(r, now_ns() - ts, r->o->size);
        c->seq = seq + 2;
        send_msg(r, c, seq + 1);
        if (c->fd < 0)
            return;
    }
    bc_consume(c, off);
}

const scenario scen_chat = {
    .name = "chat",
    .start = chat_start,
    .on_open = chat_open,
    .on_input = chat_input,
};
