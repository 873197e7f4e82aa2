/* kv.c -- an example netcore module: a line-based key-value store.  It shows
 * per-listener options, per-connection state, framing by consumed bytes,
 * broadcasting to the listener's connections, a timer, streaming a large
 * answer with backpressure, and error handling.  docs/writing-modules.md
 * walks through it.
 *
 *   SET key value [EX seconds]   +OK           (expires after seconds)
 *   GET key                      $value  or  -ERR no such key
 *   DEL key                      :1  or  :0
 *   WATCH                        +OK watching; then "* set KEY" / "* del KEY"
 *   DUMP                         every "key value" line, then END
 *   QUIT                         +OK bye, then the server closes
 *
 * Build:  cc -O2 -shared -fPIC $(pkg-config --cflags netcore) -o kv.so kv.c */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netcore/netcore.h"

/* ---- the store: a chained hash table, owned by the listener ---- */

typedef struct entry {
    char *key, *value;
    uint64_t expires; /* nc_now_ms() deadline; 0: never */
    struct entry *next;
} entry;

typedef struct kv {
    long long max_keys, max_value; /* options */
    entry *table[1024];
    size_t count;
    nc_timer *sweeper; /* drops expired keys once a second */
    nc_listener *l;
} kv;

/* Per connection: are we watching, and where a DUMP has got to. */
typedef struct session {
    int watching;
    int dumping;
    size_t dump_bucket;
} session;

static size_t bucket(const char *k)
{
    size_t h = 5381;
    while (*k)
        h = h * 33 + (unsigned char)*k++;
    return h % 1024;
}

static entry **find(kv *s, const char *key)
{
    entry **pp = &s->table[bucket(key)];
    while (*pp && strcmp((*pp)->key, key) != 0)
        pp = &(*pp)->next;
    return pp;
}

static void drop(kv *s, entry **pp)
{
    entry *e = *pp;
    *pp = e->next;
    free(e->key);
    free(e->value);
    free(e);
    s->count--;
}

/* ---- broadcasting: every watcher hears about every change ---- */

struct note {
    const char *what, *key;
};

static void tell(nc_conn *c, void *arg)
{
    session *ss = nc_conn_data(c);
    struct note *n = arg;
    if (ss->watching)
        nc_sendf(c, "* %s %s\n", n->what, n->key);
}

static void announce(kv *s, const char *what, const char *key)
{
    struct note n = {what, key};
    nc_listener_foreach(s->l, tell, &n);
}

/* ---- the timer ---- */

static void sweep(nc_timer *t, void *arg)
{
    (void)t;
    kv *s = arg;
    uint64_t now = nc_now_ms();
    for (size_t b = 0; b < 1024; b++)
        for (entry **pp = &s->table[b]; *pp;) {
            if ((*pp)->expires && (*pp)->expires <= now) {
                announce(s, "expired", (*pp)->key);
                drop(s, pp);
            } else {
                pp = &(*pp)->next;
            }
        }
}

/* ---- listener hooks ---- */

static int kv_init(nc_listener *l, nc_options *o, void **instance)
{
    kv *s = calloc(1, sizeof *s);
    if (!s)
        return nc_opt_error(o, "max_keys", "out of memory");
    if (nc_opt_int(o, "max_keys", 100000, 1, 100000000, &s->max_keys) < 0 ||
        nc_opt_int(o, "max_value", 4096, 1, 1 << 20, &s->max_value) < 0) {
        free(s);
        return -1; /* the core reports which option and why */
    }
    s->l = l;
    *instance = s;
    return 0;
}

static int kv_listen(nc_listener *l)
{
    kv *s = nc_listener_instance(l);
    s->sweeper = nc_timer_start(1000, 1000, sweep, s);
    return s->sweeper ? 0 : -1;
}

static void kv_fini(nc_listener *l, void *instance)
{
    (void)l;
    kv *s = instance;
    if (s->sweeper)
        nc_timer_stop(s->sweeper);
    for (size_t b = 0; b < 1024; b++)
        while (s->table[b])
            drop(s, &s->table[b]);
    free(s);
}

/* ---- connection hooks ---- */

static int kv_accept(nc_conn *c)
{
    session *ss = calloc(1, sizeof *ss);
    if (!ss)
        return -1; /* refused: no on_close will follow */
    nc_conn_set_data(c, ss);
    return 0;
}

static void kv_close(nc_conn *c)
{
    free(nc_conn_data(c));
}

/* DUMP streams the store a bucket range at a time: each piece is queued only
 * when the previous one has drained, so a huge store never sits in memory
 * twice, and a slow reader only slows itself. */
static void dump_more(nc_conn *c)
{
    kv *s = nc_listener_instance(nc_conn_listener(c));
    session *ss = nc_conn_data(c);
    size_t end = ss->dump_bucket + 64;
    for (; ss->dump_bucket < end && ss->dump_bucket < 1024; ss->dump_bucket++)
        for (entry *e = s->table[ss->dump_bucket]; e; e = e->next)
            nc_sendf(c, "%s %s\n", e->key, e->value);
    if (ss->dump_bucket >= 1024) {
        nc_send(c, "END\n", 4);
        ss->dumping = 0;
    } else if (nc_conn_queued(c) == 0) {
        dump_more(c); /* nothing was queued: no on_writable would come */
    }
}

static void kv_writable(nc_conn *c)
{
    session *ss = nc_conn_data(c);
    if (ss->dumping)
        dump_more(c);
}

static void command(nc_conn *c, kv *s, session *ss, char *line)
{
    char *save = NULL;
    char *cmd = strtok_r(line, " ", &save);
    char *key = strtok_r(NULL, " ", &save);
    if (!cmd) {
        return;
    } else if (!strcmp(cmd, "GET") && key) {
        entry *e = *find(s, key);
        if (e)
            nc_sendf(c, "$%s\n", e->value);
        else
            nc_send(c, "-ERR no such key\n", 17);
    } else if (!strcmp(cmd, "SET") && key) {
        char *value = strtok_r(NULL, " ", &save);
        char *ex = strtok_r(NULL, " ", &save);
        char *secs = strtok_r(NULL, " ", &save);
        long long ttl = 0;
        if (!value || (ex && (strcmp(ex, "EX") || !secs || (ttl = atoll(secs)) <= 0))) {
            nc_send(c, "-ERR usage: SET key value [EX seconds]\n", 39);
            return;
        }
        if ((long long)strlen(value) > s->max_value) {
            nc_sendf(c, "-ERR value longer than max_value (%lld)\n", s->max_value);
            return;
        }
        entry **pp = find(s, key);
        if (!*pp) {
            if ((long long)s->count >= s->max_keys) {
                nc_send(c, "-ERR store full (max_keys)\n", 27);
                return;
            }
            entry *e = calloc(1, sizeof *e);
            if (!e || !(e->key = strdup(key))) {
                free(e);
                nc_send(c, "-ERR out of memory\n", 19);
                return;
            }
            *pp = e;
            s->count++;
        }
        free((*pp)->value);
        (*pp)->value = strdup(value);
        (*pp)->expires = ttl ? nc_now_ms() + (uint64_t)ttl * 1000 : 0;
        nc_send(c, "+OK\n", 4);
        announce(s, "set", key);
    } else if (!strcmp(cmd, "DEL") && key) {
        entry **pp = find(s, key);
        int found = *pp != NULL;
        if (found) {
            drop(s, pp);
            announce(s, "del", key);
        }
        nc_send(c, found ? ":1\n" : ":0\n", 3);
    } else if (!strcmp(cmd, "WATCH")) {
        ss->watching = 1;
        nc_send(c, "+OK watching\n", 13);
    } else if (!strcmp(cmd, "DUMP")) {
        ss->dumping = 1;
        ss->dump_bucket = 0;
        dump_more(c);
    } else if (!strcmp(cmd, "QUIT")) {
        nc_send(c, "+OK bye\n", 8);
        nc_close(c, NC_CLOSE_FLUSH);
    } else {
        nc_send(c, "-ERR unknown command\n", 21);
    }
}

/* Framing: the core hands over everything not consumed yet; consume one
 * whole line per call (the core calls again while we make progress) and
 * leave a partial line for when the rest arrives. */
static ssize_t kv_data(nc_conn *c, const char *data, size_t len)
{
    kv *s = nc_listener_instance(nc_conn_listener(c));
    session *ss = nc_conn_data(c);
    const char *nl = memchr(data, '\n', len);
    if (!nl) {
        if (len > (size_t)s->max_value + 256) {
            nc_send(c, "-ERR line too long\n", 19);
            nc_close(c, NC_CLOSE_FLUSH); /* cannot find the next line: give up */
            return (ssize_t)len;
        }
        return 0;
    }
    size_t n = (size_t)(nl - data);
    char line[8192];
    if (n >= sizeof line) {
        nc_send(c, "-ERR line too long\n", 19);
        return (ssize_t)(n + 1);
    }
    memcpy(line, data, n);
    line[n && line[n - 1] == '\r' ? n - 1 : n] = '\0';
    command(c, s, ss, line);
    return (ssize_t)(n + 1);
}

NC_MODULE_DEFINE = {
    NC_MODULE_HEADER,
    .flags = NC_MOD_STREAM | NC_MOD_SHARED,
    .name = "kv",
    .version = "1.0.0",
    .description = "example: a line-based key-value store",
    .init = kv_init,
    .fini = kv_fini,
    .on_listen = kv_listen,
    .on_accept = kv_accept,
    .on_data = kv_data,
    .on_writable = kv_writable,
    .on_close = kv_close,
};
