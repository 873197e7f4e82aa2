/* stubs.c -- a stand-in for the netcore core, for fuzzing modules in
 * process: the public API of include/netcore/netcore.h implemented over
 * plain memory (output discarded but bounded, timers never fire, options
 * all defaults unless NC_FUZZ_OPTIONS says otherwise).  A fuzzer drives a
 * module through its real descriptor with this. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netcore/netcore.h"
#include "stubs.h"

struct nc_conn {
    uint64_t id;
    void *data;
    nc_listener *l;
    size_t queued;
    int closed;
    struct sockaddr_in peer;
};
struct nc_listener {
    void *instance;
    nc_conn *conns[FUZZ_MAX_CONNS];
    uint64_t counters[16];
    int ncounters;
};
struct nc_options {
    int unused;
};
struct nc_timer {
    int unused;
};
struct nc_shared {
    size_t refs, len;
    char data[];
};

static nc_listener the_listener;
static struct nc_options the_options;
static uint64_t next_id = 1;

/* ---- the harness's side ---- */

nc_listener *fuzz_listener(void)
{
    return &the_listener;
}

int fuzz_init(const nc_module *m)
{
    memset(&the_listener, 0, sizeof the_listener);
    void *inst = NULL;
    if (m->init && m->init(&the_listener, &the_options, &inst) != 0)
        return -1;
    the_listener.instance = inst;
    /* As the core starts a listener: init, then on_listen (which opens
     * output files and starts timers; udp-receiver's sink exists only
     * after it). */
    if (m->on_listen && m->on_listen(&the_listener) != 0) {
        if (m->fini)
            m->fini(&the_listener, inst);
        return -1;
    }
    return 0;
}

void fuzz_fini(const nc_module *m)
{
    if (m->fini)
        m->fini(&the_listener, the_listener.instance);
}

nc_conn *fuzz_accept(const nc_module *m, int slot)
{
    nc_conn *c = calloc(1, sizeof *c);
    c->id = next_id++;
    c->l = &the_listener;
    c->peer.sin_family = AF_INET;
    c->peer.sin_port = htons(1234);
    c->peer.sin_addr.s_addr = htonl(0x7f000001);
    if (m->on_accept && m->on_accept(c) != 0) {
        free(c);
        return NULL;
    }
    the_listener.conns[slot] = c;
    return c;
}

/* Feed bytes as the core would: everything unconsumed, again and again
 * while the module makes progress. */
void fuzz_feed(const nc_module *m, nc_conn *c, fuzz_buf *in, const uint8_t *data, size_t n)
{
    if (c->closed)
        return;
    if (in->len + n > sizeof in->bytes)
        n = sizeof in->bytes - in->len; /* the core's max_input_bytes */
    memcpy(in->bytes + in->len, data, n);
    in->len += n;
    while (in->len && !c->closed) {
        ssize_t r = m->on_data(c, (const char *)in->bytes, in->len);
        if (r < 0 || (size_t)r > in->len) {
            if ((size_t)r > in->len && r >= 0)
                abort(); /* a module may never consume more than it was given */
            c->closed = 1;
            break;
        }
        if (r == 0)
            break;
        memmove(in->bytes, in->bytes + r, in->len - (size_t)r);
        in->len -= (size_t)r;
    }
}

void fuzz_close(const nc_module *m, int slot)
{
    nc_conn *c = the_listener.conns[slot];
    if (!c)
        return;
    if (m->on_close)
        m->on_close(c);
    the_listener.conns[slot] = NULL;
    free(c);
}

/* ---- the API the module sees ---- */

void nc_log(int level, const char *fmt, ...) { (void)level; (void)fmt; }
void nc_log_listener(const nc_listener *l, int level, const char *fmt, ...) { (void)l; (void)level; (void)fmt; }
void nc_log_conn(const nc_conn *c, int level, const char *fmt, ...) { (void)c; (void)level; (void)fmt; }
int nc_log_enabled(int level) { (void)level; return 0; }

int nc_opt_str(nc_options *o, const char *key, const char *def, const char **out)
{
    (void)o;
    const char *v = fuzz_option(key);
    *out = v ? v : def;
    return 0;
}
int nc_opt_path(nc_options *o, const char *key, const char *def, const char **out)
{
    return nc_opt_str(o, key, def, out);
}
int nc_opt_int(nc_options *o, const char *key, long long def, long long min, long long max, long long *out)
{
    (void)o; (void)min; (void)max;
    const char *v = fuzz_option(key);
    *out = v ? atoll(v) : def;
    return 0;
}
int nc_opt_bool(nc_options *o, const char *key, int def, int *out)
{
    (void)o;
    const char *v = fuzz_option(key);
    *out = v ? !strcmp(v, "true") : def;
    return 0;
}
int nc_opt_enum(nc_options *o, const char *key, const char *const *choices, int def, int *out)
{
    (void)o;
    const char *v = fuzz_option(key);
    *out = def;
    for (int i = 0; v && choices[i]; i++)
        if (!strcmp(v, choices[i]))
            *out = i;
    return 0;
}
int nc_opt_strmap(nc_options *o, const char *key, const char *(*cb)(void *, const char *, const char *), void *arg)
{
    (void)o; (void)key; (void)cb; (void)arg;
    return 0;
}
int nc_opt_error(nc_options *o, const char *key, const char *fmt, ...) { (void)o; (void)key; (void)fmt; return -1; }

const char *nc_listener_name(const nc_listener *l) { (void)l; return "fuzz"; }
void *nc_listener_instance(const nc_listener *l) { return l->instance; }
int nc_listener_fd(const nc_listener *l) { (void)l; return -1; }
const char *nc_listener_addr(const nc_listener *l) { (void)l; return "127.0.0.1:1"; }
void nc_listener_foreach(nc_listener *l, void (*cb)(nc_conn *, void *), void *arg)
{
    for (int i = 0; i < FUZZ_MAX_CONNS; i++)
        if (l->conns[i] && !l->conns[i]->closed)
            cb(l->conns[i], arg);
}
size_t nc_listener_conn_count(const nc_listener *l)
{
    size_t n = 0;
    for (int i = 0; i < FUZZ_MAX_CONNS; i++)
        n += l->conns[i] != NULL;
    return n;
}
void nc_listener_set_batch(nc_listener *l, unsigned n) { (void)l; (void)n; }

uint64_t nc_conn_id(const nc_conn *c) { return c->id; }
nc_listener *nc_conn_listener(const nc_conn *c) { return c->l; }
void nc_conn_set_data(nc_conn *c, void *data) { c->data = data; }
void *nc_conn_data(const nc_conn *c) { return c->data; }
const struct sockaddr *nc_conn_peer(const nc_conn *c, socklen_t *len)
{
    if (len)
        *len = sizeof c->peer;
    return (const struct sockaddr *)&c->peer;
}
const char *nc_conn_peer_str(const nc_conn *c) { (void)c; return "127.0.0.1:1234"; }
size_t nc_conn_queued(const nc_conn *c) { return c->queued; }

int nc_send(nc_conn *c, const void *data, size_t len)
{
    if (c->closed)
        return -1;
    /* Touch every byte, so that reading past a buffer is caught. */
    volatile unsigned char sink = 0;
    for (size_t i = 0; i < len; i++)
        sink ^= ((const unsigned char *)data)[i];
    (void)sink;
    c->queued = 0; /* the peer reads everything at once */
    return 0;
}
int nc_sendfile(nc_conn *c, int fd, off_t offset, size_t len, unsigned flags)
{
    (void)c; (void)offset; (void)len;
    if (flags & NC_FILE_OWN)
        close(fd);
    return 0;
}
nc_shared *nc_shared_new(const void *data, size_t len)
{
    nc_shared *s = malloc(sizeof *s + len);
    s->refs = 1;
    s->len = len;
    if (data)
        memcpy(s->data, data, len);
    return s;
}
char *nc_shared_data(nc_shared *s) { return s->data; }
size_t nc_shared_len(const nc_shared *s) { return s->len; }
void nc_shared_release(nc_shared *s)
{
    if (s && --s->refs == 0)
        free(s);
}
int nc_send_shared(nc_conn *c, nc_shared *s) { return nc_send(c, s->data, s->len); }
void nc_close(nc_conn *c, int how) { (void)how; c->closed = 1; }
void nc_conn_pause(nc_conn *c) { (void)c; }
void nc_conn_resume(nc_conn *c) { (void)c; }
int nc_sendto(nc_listener *l, const void *data, size_t len, const struct sockaddr *to, socklen_t tolen)
{
    (void)l; (void)data; (void)len; (void)to; (void)tolen;
    return 0;
}
uint64_t nc_listener_drops(const nc_listener *l) { (void)l; return 0; }
static struct nc_timer a_timer;
nc_timer *nc_timer_start(uint64_t a, uint64_t r, nc_timer_cb cb, void *arg)
{
    (void)a; (void)r; (void)cb; (void)arg;
    return &a_timer; /* never fires */
}
void nc_timer_stop(nc_timer *t) { (void)t; }
uint64_t nc_now_ms(void) { return 1000; }
uint64_t *nc_counter(nc_listener *l, const char *name)
{
    (void)name;
    return l->ncounters < 16 ? &l->counters[l->ncounters++] : NULL;
}
int nc_work_submit(void (*work)(void *), void (*done)(void *), void *arg)
{
    work(arg); /* synchronously: the order a real run could also take */
    done(arg);
    return 0;
}
int nc_draining(void) { return 0; }
char *nc_stats_json(void) { return NULL; }
