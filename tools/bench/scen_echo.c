/* scen_echo.c -- the echo scenario: N connections each keep D messages of S
 * bytes in flight; every echoed byte is compared with what was sent (a
 * pattern derived from the connection and the stream offset), and a message
 * counts only when all its bytes came back right. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static inline unsigned char pat(int idx, uint64_t pos)
{
    return (unsigned char)((pos * 131u) ^ ((uint64_t)idx * 7u) ^ (pos >> 9));
}

static void send_msg(run *r, bconn *c)
{
    size_t s = r->o->size;
    unsigned char *buf = r->state;
    for (size_t i = 0; i < s; i++)
        buf[i] = pat(c->idx, c->pos_out + i);
    c->pos_out += s;
    bc_push_ts(c, now_ns());
    bc_send(r, c, buf, s);
}

static int echo_start(run *r)
{
    r->state = malloc(r->o->size ? r->o->size : 1);
    r->nconns = r->o->conns;
    r->conns = calloc((size_t)r->nconns, sizeof *r->conns);
    for (int i = 0; i < r->nconns; i++)
        bc_connect(r, i, 0);
    return 0;
}

static void echo_open(run *r, bconn *c)
{
    for (int d = 0; d < r->o->depth; d++)
        send_msg(r, c);
}

static void echo_input(run *r, bconn *c)
{
    size_t s = r->o->size;
    for (size_t i = 0; i < c->inlen; i++) {
        if ((unsigned char)c->in[i] != pat(c->idx, c->pos_in + i)) {
            char why[96];
            snprintf(why, sizeof why, "byte %llu of the stream differs",
                     (unsigned long long)(c->pos_in + i));
            bc_error(r, c, ERR_WRONG, why);
            return;
        }
    }
    uint64_t before = c->pos_in;
    c->pos_in += c->inlen;
    c->inlen = 0;
    if (c->pos_in > c->pos_out) {
        bc_error(r, c, ERR_WRONG, "more bytes came back than were sent");
        return;
    }
    uint64_t done = c->pos_in / s - before / s;
    uint64_t now = now_ns();
    for (uint64_t k = 0; k < done; k++) {
        run_record(r, now - bc_pop_ts(c), s);
        send_msg(r, c);
        if (c->fd < 0)
            return;
    }
}

const scenario scen_echo = {
    .name = "echo",
    .start = echo_start,
    .on_open = echo_open,
    .on_input = echo_input,
};
