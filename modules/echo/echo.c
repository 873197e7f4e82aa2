/* echo.c -- the echo module: every byte received is sent back, over TCP,
 * Unix sockets and UDP.  Memory stays bounded for a client that sends and
 * never reads because the core stops reading it above the output watermark.
 * Option banner: a string sent to each new connection (default none). */
#include <stdlib.h>
#include <string.h>

#include "netcore/netcore.h"

struct echo {
    const char *banner; /* owned by the core's config until fini */
    size_t banner_len;
};

static int echo_init(nc_listener *l, nc_options *o, void **instance)
{
    (void)l;
    struct echo *e = calloc(1, sizeof *e);
    if (!e)
        return nc_opt_error(o, "banner", "out of memory");
    if (nc_opt_str(o, "banner", NULL, &e->banner) < 0) {
        free(e);
        return -1;
    }
    e->banner_len = e->banner ? strlen(e->banner) : 0;
    *instance = e;
    return 0;
}

static void echo_fini(nc_listener *l, void *instance)
{
    (void)l;
    free(instance);
}

static int echo_accept(nc_conn *c)
{
    const struct echo *e = nc_listener_instance(nc_conn_listener(c));
    if (e->banner_len)
        nc_send(c, e->banner, e->banner_len);
    return 0;
}

static ssize_t echo_data(nc_conn *c, const char *data, size_t len)
{
    /* On failure the core has already closed the connection; consuming
     * everything is still the truth. */
    nc_send(c, data, len);
    return (ssize_t)len;
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
    .on_datagrams = echo_datagrams,
};
