/* echo.c -- the echo module: every byte received is sent back, over TCP,
 * Unix sockets and UDP.  Memory stays bounded for a client that sends and
 * never reads because the core stops reading it above the output watermark.
 * Options: banner, a string sent to each new connection (default none);
 * line_timeout_ms, the slowloris bound (below and docs/hardening.md). */
#include <stdlib.h>
#include <string.h>

#include "netcore/deadline.h"
#include "netcore/netcore.h"

/* Echo has no messages, so the unit of progress is a line: bytes up to a
 * newline, or LINE_BLOCK bytes without one (a binary stream).  A line must
 * be complete within line_timeout_ms of its first byte; a client that
 * trickles a byte every few seconds never completes one and is closed,
 * although each byte resets the core's idle_timeout_ms. */
#define LINE_BLOCK 4096

struct echo {
    const char *banner; /* owned by the core's config until fini */
    size_t banner_len;
    long long line_timeout;
    nc_deadlines lines;
};

typedef struct econn {
    nc_deadline dl;
    size_t partial; /* bytes since the last newline (or block) */
} econn;

static int echo_init(nc_listener *l, nc_options *o, void **instance)
{
    struct echo *e = calloc(1, sizeof *e);
    if (!e)
        return nc_opt_error(o, "banner", "out of memory");
    if (nc_opt_str(o, "banner", NULL, &e->banner) < 0 ||
        nc_opt_int(o, "line_timeout_ms", 30000, 0, 86400000, &e->line_timeout) < 0) {
        free(e);
        return -1;
    }
    e->banner_len = e->banner ? strlen(e->banner) : 0;
    nc_deadlines_init(&e->lines, (uint64_t)e->line_timeout, "a complete line", "line_timeout_ms",
                      nc_counter(l, "line_timeouts"), NULL);
    *instance = e;
    return 0;
}

static void echo_fini(nc_listener *l, void *instance)
{
    (void)l;
    struct echo *e = instance;
    nc_deadlines_stop(&e->lines);
    free(e);
}

static int echo_accept(nc_conn *c)
{
    const struct echo *e = nc_listener_instance(nc_conn_listener(c));
    econn *ec = calloc(1, sizeof *ec);
    if (!ec)
        return -1;
    nc_conn_set_data(c, ec);
    if (e->banner_len)
        nc_send(c, e->banner, e->banner_len);
    return 0;
}

static ssize_t echo_data(nc_conn *c, const char *data, size_t len)
{
    struct echo *e = nc_listener_instance(nc_conn_listener(c));
    econn *ec = nc_conn_data(c);
    const char *nl = memrchr(data, '\n', len);
    if (nl) {
        nc_deadline_disarm(&e->lines, &ec->dl);
        ec->partial = (size_t)(data + len - (nl + 1));
    } else {
        ec->partial += len;
    }
    if (ec->partial >= LINE_BLOCK) {
        nc_deadline_disarm(&e->lines, &ec->dl);
        ec->partial = 0;
    }
    if (ec->partial)
        nc_deadline_arm(&e->lines, &ec->dl, c);
    /* On failure the core has already closed the connection; consuming
     * everything is still the truth. */
    nc_send(c, data, len);
    return (ssize_t)len;
}

static void echo_close(nc_conn *c)
{
    struct echo *e = nc_listener_instance(nc_conn_listener(c));
    econn *ec = nc_conn_data(c);
    nc_deadline_disarm(&e->lines, &ec->dl);
    free(ec);
}

static void echo_datagrams(nc_listener *l, const nc_dgram *d, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        nc_sendto(l, d[i].data, d[i].len, d[i].peer, d[i].peer_len);
}

NC_MODULE_DEFINE = {
    NC_MODULE_HEADER,
    .flags = NC_MOD_STREAM | NC_MOD_DGRAM,
    .name = "echo",
    .version = "1.0.0",
    .description = "sends every byte back (TCP, Unix, UDP)",
    .init = echo_init,
    .fini = echo_fini,
    .on_accept = echo_accept,
    .on_data = echo_data,
    .on_close = echo_close,
    .on_datagrams = echo_datagrams,
};
