/* scen_handshake.c -- the handshake scenario: N connection slots each
 * connect, complete a TLS handshake and close, over and over; one operation
 * is one handshake, timed from the connect to its end.  With --resume each
 * slot offers the session it was last given (the loop counts full and
 * resumed handshakes apart; a full one is a figure, not an error).  TLS 1.3
 * tickets come after the handshake and OpenSSL's client uses each once, so
 * a 1.3 slot reads its next ticket before closing (not timed). */
#include <openssl/ssl.h>
#include <stdlib.h>

#include "bench.h"

/* Per connection: c->seq is 1 while a TLS 1.3 slot waits for its next
 * session ticket, the wait bounded by --timeout through c->ts. */

static int hs_start(run *r)
{
    r->nconns = r->o->conns;
    r->conns = calloc((size_t)r->nconns, sizeof *r->conns);
    for (int i = 0; i < r->nconns; i++)
        bc_connect(r, i, 0);
    return 0;
}

static void hs_open(run *r, bconn *c)
{
    run_record(r, now_ns() - c->started, 0);
    c->seq = 0;
    if (r->o->resume && SSL_version(c->ssl) == TLS1_3_VERSION) {
        c->seq = 1;
        bc_push_ts(c, now_ns());
        return;
    }
    bc_reconnect(r, c);
}

static void hs_session(run *r, bconn *c)
{
    if (!c->seq)
        return;
    c->seq = 0;
    bc_pop_ts(c);
    bc_reconnect(r, c);
}

static void hs_input(run *r, bconn *c)
{
    bc_error(r, c, ERR_WRONG, "the server sent data after the handshake");
}

const scenario scen_handshake = {
    .name = "handshake",
    .start = hs_start,
    .on_open = hs_open,
    .on_input = hs_input,
    .on_session = hs_session,
};
