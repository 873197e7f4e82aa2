/* testmod.c -- a module for the core's integration tests.  Option mode:
 *   "hold"   consumes nothing (tests max_input_bytes);
 *   "flood"  on accept, queues 64 KiB every millisecond from a timer without
 *            regard to the peer (tests max_output_bytes, timers);
 *   "lines"  consumes one line per on_data call and answers "<id>:<line>",
 *            "close\n" closes after flushing, "abort\n" aborts, "pause\n"
 *            pauses reading for 200 ms (tests framing, redelivery, pause);
 *   "refuse" sends "busy\n" and refuses every connection.
 * Option counters: N publishes counters c0..cN-1 (values 1..N).
 * Every hook is logged at info level so tests can check the call order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netcore/netcore.h"

enum { HOLD, FLOOD, LINES, REFUSE };
static const char *const modes[] = {"hold", "flood", "lines", "refuse", NULL};

struct inst {
    int mode;
};

static int t_init(nc_listener *l, nc_options *o, void **instance)
{
    struct inst *in = calloc(1, sizeof *in);
    if (!in)
        return -1;
    if (nc_opt_enum(o, "mode", modes, LINES, &in->mode) < 0) {
        free(in);
        return -1;
    }
    long long must;
    if (nc_opt_int(o, "must_be_even", 0, 0, 1000, &must) < 0) {
        free(in);
        return -1;
    }
    if (must % 2) {
        free(in);
        return nc_opt_error(o, "must_be_even", "%lld is odd", must);
    }
    long long ncounters; /* counters "c0".."cN-1", counting up from 1 */
    if (nc_opt_int(o, "counters", 0, 0, 100, &ncounters) < 0) {
        free(in);
        return -1;
    }
    for (int i = 0; i < (int)ncounters; i++) {
        char name[16];
        snprintf(name, sizeof name, "c%d", i);
        uint64_t *k = nc_counter(l, name);
        if (k)
            *k = (uint64_t)i + 1;
    }
    *instance = in;
    nc_log_listener(l, NC_LOG_INFO, "testmod init mode=%s", modes[in->mode]);
    return 0;
}

static void t_fini(nc_listener *l, void *instance)
{
    nc_log_listener(l, NC_LOG_INFO, "testmod fini");
    free(instance);
}

struct flood {
    nc_conn *c;
    nc_timer *t;
};

static void flood_tick(nc_timer *t, void *arg)
{
    (void)t;
    static char block[65536];
    struct flood *f = arg;
    nc_send(f->c, block, sizeof block); /* fails once the limit closes it */
}

static int t_accept(nc_conn *c)
{
    struct inst *in = nc_listener_instance(nc_conn_listener(c));
    nc_log_conn(c, NC_LOG_INFO, "testmod accept from %s", nc_conn_peer_str(c));
    if (in->mode == REFUSE) {
        nc_send(c, "busy\n", 5);
        return -1;
    }
    if (in->mode == FLOOD) {
        struct flood *f = calloc(1, sizeof *f);
        f->c = c;
        f->t = nc_timer_start(1, 1, flood_tick, f);
        nc_conn_set_data(c, f);
    }
    return 0;
}

static void resume_cb(nc_timer *t, void *arg)
{
    (void)t;
    nc_conn_resume(arg);
    nc_conn_set_data(arg, NULL);
}

static ssize_t t_data(nc_conn *c, const char *data, size_t len)
{
    struct inst *in = nc_listener_instance(nc_conn_listener(c));
    if (in->mode == HOLD || in->mode == FLOOD)
        return 0;
    const char *nl = memchr(data, '\n', len);
    if (!nl)
        return 0;
    size_t n = (size_t)(nl - data) + 1;
    if (n == 6 && memcmp(data, "close\n", 6) == 0) {
        nc_send(c, "bye\n", 4);
        nc_close(c, NC_CLOSE_FLUSH);
    } else if (n == 6 && memcmp(data, "abort\n", 6) == 0) {
        nc_send(c, "never sent\n", 11);
        nc_close(c, NC_CLOSE_ABORT);
    } else if (n == 6 && memcmp(data, "pause\n", 6) == 0) {
        nc_conn_pause(c);
        nc_conn_set_data(c, nc_timer_start(200, 0, resume_cb, c));
        nc_sendf(c, "paused\n");
    } else {
        nc_sendf(c, "%llu:%.*s", (unsigned long long)nc_conn_id(c), (int)n, data);
    }
    return (ssize_t)n;
}

static void t_close(nc_conn *c)
{
    struct inst *in = nc_listener_instance(nc_conn_listener(c));
    if (in->mode == FLOOD) {
        struct flood *f = nc_conn_data(c);
        nc_timer_stop(f->t);
        free(f);
    } else if (in->mode == LINES && nc_conn_data(c)) {
        nc_timer_stop(nc_conn_data(c)); /* the pending resume */
    }
    nc_log_conn(c, NC_LOG_INFO, "testmod close");
}

NC_MODULE_DEFINE = {
    NC_MODULE_HEADER,
    .flags = NC_MOD_STREAM,
    .name = "testmod",
    .version = "0.0.1",
    .init = t_init,
    .fini = t_fini,
    .on_accept = t_accept,
    .on_data = t_data,
    .on_close = t_close,
};
