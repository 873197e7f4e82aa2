/* mock.c -- the mock core (include/netcore/mock.h): netcore.h over memory,
 * for running a module's hooks in a test or a fuzzer.  What the core's own
 * files do purely (options, the loader's checks, the timer heap, addresses,
 * nc_sendf, the utilities) is linked from core/ rather than copied, so
 * option errors, load refusals and timer order are exactly the core's; the
 * connection half mirrors core/conn.c's rules (delivery, watermarks, limits,
 * deferred close) over buffers instead of sockets. */
#include <dlfcn.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "module.h"
#include "nc_assert.h"
#include "netcore/mock.h"
#include "netcore/netcore.h"
#include "options.h"
#include "timer.h"

#define READ_CHUNK (64 * 1024)     /* the core's read buffer: one read's worth */
#define SHARED_COPY_MAX 1024       /* the core copies smaller shared buffers */
#define READ_ALL_MAX (64u << 20)
#define CLOCK0_MS 1000000u
#define WALL0_US 1763770000000000LL

/* Connection flags: the core's CF_* that a module can observe. */
enum {
    F_CLOSING = 1u << 0,
    F_FLUSH_CLOSE = 1u << 1,
    F_PAUSED = 1u << 2,
    F_THROTTLED = 1u << 3,
    F_EOF = 1u << 4,       /* on_eof delivered */
    F_ACCEPTED = 1u << 5,  /* on_close is owed */
    F_CLOSE_SOON = 1u << 6,
    F_REDELIVER = 1u << 7,
    F_GONE = 1u << 8,      /* destroyed: the record only */
    F_REFUSED = 1u << 9,
};

typedef struct bbuf {
    char *p;
    size_t len, cap;
} bbuf;

enum { OI_MEM, OI_SHARED, OI_FILE };

typedef struct oitem {
    struct oitem *next;
    int kind;
    size_t off, len; /* bytes read by the peer so far, of len */
    char *mem;
    nc_shared *sh;
    int fd, own;
    off_t start;
} oitem;

/* Every live buffer is on one list, so nc_mock_free can say how many the
 * module never released and free them (a leak reported once, not again by
 * a leak checker). */
struct nc_shared {
    struct nc_shared *prev, *next;
    size_t refs, len;
    char data[];
};

struct nc_conn {
    nc_mock *mk;
    uint64_t id;
    void *data;
    unsigned flags;
    int state;       /* enum nc_mock_state */
    int abort_state; /* the state an abort ends in (peer reset, stop) */
    bbuf sock;       /* sent by the peer, not read by the "core" yet */
    int peer_eof;    /* the peer's FIN follows sock */
    bbuf in;         /* read and left unconsumed by the module */
    oitem *head, *tail;
    size_t bytes, mem, fds;
    nc_conn *next;   /* every record, accept order */
    struct sockaddr_storage peer;
    socklen_t peer_len;
    char peer_str[NC_ADDRSTRLEN];
};

typedef struct counter {
    char *name;
    uint64_t value;
    struct counter *next;
} counter;

struct nc_listener {
    nc_mock *mk;
    const char *name;
    int fd;
    unsigned batch;
    void *instance;
    counter *counters;
};

typedef struct job {
    void (*work)(void *);
    void (*done)(void *);
    void *arg;
    struct job *next;
} job;

struct nc_mock {
    nc_listener l;
    const nc_module *m;
    char name[128], listen[NC_ADDRSTRLEN], file[256], dir[1024];
    nc__lconf lc;
    json_t *opts;
    size_t high_water;
    uint64_t now, next_id;
    nc_conn *head, *tail;
    size_t nopen;
    char **logs;
    unsigned nlogs, caplogs;
    int log_stderr;
    nc_mock_sent *sent;
    unsigned nsent, capsent;
    int sendto_rc;
    uint64_t drops;
    job *jobs, *jobs_tail;
    unsigned njobs;
    char *stats;
    int draining;
    unsigned misuse;
};

static nc_mock *live;
static size_t live_shared; /* nc_shared buffers allocated and not freed */
static nc_shared *shared_head;

/* A test that links the archive must export all of netcore.h to the
 * module it loads, also what it never calls itself: this pulls sendf.o in. */
__attribute__((used)) static int (*const keep_sendf)(nc_conn *, const char *, ...) = nc_sendf;

#ifdef NC_DEBUG
_Noreturn void nc__assert_fail(const char *expr, const char *file, int line, const char *func)
{
    fprintf(stderr, "nc_mock: assertion failed: %s (%s:%d in %s)\n", expr, file, line, func);
    abort();
}
#endif

static void turn(nc_mock *mk);
static void destroy(nc_conn *c);

/* ---- small buffers ---- */

static int bb_append(bbuf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np)
            return -1;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

static void bb_consume(bbuf *b, size_t n)
{
    if (n == 0)
        return;
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
}

static void bb_free(bbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ---- the log ---- */

static const char *const level_names[] = {"error", "warn", "info", "debug"};

static void record(int level, const char *listener, uint64_t conn, const char *fmt, va_list ap)
{
    if (level > NC_LOG_DEBUG)
        return; /* above every level the core admits */
    if (level < NC_LOG_ERROR)
        level = NC_LOG_ERROR;
    char msg[2048], line[2300];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (listener && conn)
        snprintf(line, sizeof line, "%s [%s#%llu] %s", level_names[level], listener,
                 (unsigned long long)conn, msg);
    else if (listener)
        snprintf(line, sizeof line, "%s [%s] %s", level_names[level], listener, msg);
    else
        snprintf(line, sizeof line, "%s %s", level_names[level], msg);
    nc_mock *mk = live;
    if (!mk || mk->log_stderr)
        fprintf(stderr, "%s\n", line);
    if (!mk)
        return;
    if (mk->nlogs == mk->caplogs) {
        unsigned cap = mk->caplogs ? mk->caplogs * 2 : 64;
        char **np = realloc(mk->logs, cap * sizeof *np);
        if (!np)
            return;
        mk->logs = np;
        mk->caplogs = cap;
    }
    char *copy = strdup(line);
    if (copy)
        mk->logs[mk->nlogs++] = copy;
}

static void core_log(int level, uint64_t conn, const char *fmt, ...) NC_PRINTF(3, 4);
static void core_log(int level, uint64_t conn, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(level, live ? live->l.name : NULL, conn, fmt, ap);
    va_end(ap);
}

/* A call the API forbids (on a connection after its on_close): said now,
 * and counted for nc_mock_free's verdict. */
static int gone(const nc_conn *c, const char *fn)
{
    if (!(c->flags & F_GONE))
        return 0;
    fprintf(stderr, "nc_mock: %s called on connection %llu after its on_close\n", fn,
            (unsigned long long)c->id);
    c->mk->misuse++;
    return 1;
}

void nc_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(level, NULL, 0, fmt, ap);
    va_end(ap);
}

void nc_log_listener(const nc_listener *l, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(level, l->name, 0, fmt, ap);
    va_end(ap);
}

void nc_log_conn(const nc_conn *c, int level, const char *fmt, ...)
{
    if (gone(c, "nc_log_conn"))
        return;
    va_list ap;
    va_start(ap, fmt);
    record(level, c->mk->l.name, c->id, fmt, ap);
    va_end(ap);
}

int nc_log_enabled(int level)
{
    return level <= NC_LOG_DEBUG;
}

/* ---- loading and starting ---- */

const nc_module *nc_mock_load(const char *so_path, char *err, size_t errlen)
{
    /* The reference is never given back: the descriptor stays valid for
     * the rest of the process, whatever the test does with it. */
    nc__module *mod = nc__module_open(so_path, err, errlen);
    return mod ? mod->m : NULL;
}

static const char *or(const char *s, const char *def)
{
    return s ? s : def;
}

static int pick_transport(const nc_module *m, const char *t, const char *listen)
{
    if (t)
        return !strcmp(t, "udp") ? NC_UDP : !strcmp(t, "unix") ? NC_UNIX : !strcmp(t, "tcp") ? NC_TCP : -1;
    if (!strncmp(listen, "unix:", 5))
        return NC_UNIX;
    return (m->flags & (NC_MOD_STREAM | NC_MOD_DGRAM)) == NC_MOD_DGRAM ? NC_UDP : NC_TCP;
}

/* init through the core's options code; NULL, or the core's message. */
static const char *run_init(nc_mock *mk, char *err, size_t errlen, int *inited)
{
    nc_options *o = nc__options_new(mk->file, mk->dir, &mk->lc);
    if (!o)
        return "out of memory";
    int rc = mk->m->init ? mk->m->init(&mk->l, o, &mk->l.instance) : 0;
    *inited = rc == 0;
    const char *why = nc__options_finish(o, rc);
    if (why)
        snprintf(err, errlen, "%s", why);
    nc__options_free(o);
    return why ? err : NULL;
}

static int open_socket(nc_mock *mk, int transport, char *err, size_t errlen)
{
    nc__addr a;
    const char *why;
    int family = AF_INET;
    if (nc__addr_parse(mk->listen, &a, &why) == 0)
        family = a.ss.ss_family;
    if (transport == NC_UNIX)
        family = AF_UNIX;
    int type = transport == NC_UDP ? SOCK_DGRAM : SOCK_STREAM;
    mk->l.fd = socket(family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (mk->l.fd < 0) {
        snprintf(err, errlen, "[%s] socket: %s", mk->l.name, strerror(errno));
        return -1;
    }
    return 0;
}

static int set_up(nc_mock *mk, const nc_mock_config *cfg, char *err, size_t errlen)
{
    snprintf(mk->name, sizeof mk->name, "%s", or(cfg->name, "mock"));
    snprintf(mk->listen, sizeof mk->listen, "%s", or(cfg->listen, "127.0.0.1:7000"));
    snprintf(mk->file, sizeof mk->file, "%s", or(cfg->config_file, "mock.json"));
    snprintf(mk->dir, sizeof mk->dir, "%s", or(cfg->config_dir, "."));
    mk->l.mk = mk;
    mk->l.name = mk->name;
    mk->l.fd = -1;
    mk->now = CLOCK0_MS;
    mk->log_stderr = (cfg->flags & NC_MOCK_LOG_STDERR) != 0;
    mk->lc.name = mk->name;
    mk->lc.listen = mk->listen;
    mk->lc.max_input_bytes = cfg->max_input_bytes > 0 ? cfg->max_input_bytes : 1 << 20;
    mk->lc.max_output_bytes = cfg->max_output_bytes > 0 ? cfg->max_output_bytes : 16 << 20;
    mk->lc.max_queued_files = cfg->max_queued_files > 0 ? cfg->max_queued_files : 32;
    /* As server.c's init_listener sets the watermark. */
    mk->high_water = 256 * 1024;
    if (mk->high_water > (size_t)mk->lc.max_output_bytes / 2)
        mk->high_water = (size_t)mk->lc.max_output_bytes / 2;
    if (cfg->options) {
        json_error_t je;
        mk->opts = json_loads(cfg->options, 0, &je);
        if (!mk->opts || !json_is_object(mk->opts)) {
            snprintf(err, errlen, "%s: listeners[0].options: expected a JSON object%s%s", mk->file,
                     mk->opts ? "" : ": ", mk->opts ? "" : je.text);
            return -1;
        }
        mk->lc.options = mk->opts;
    }
    return 0;
}

/* What a failed start or a stop leaves: timers, shared buffers, jobs. */
static int leak_report(nc_mock *mk);

static void mock_release(nc_mock *mk);

nc_mock *nc_mock_start(const nc_module *m, const nc_mock_config *cfg, char *err, size_t errlen)
{
    static const nc_mock_config defaults;
    if (!cfg)
        cfg = &defaults;
    if (live) {
        snprintf(err, errlen, "nc_mock_start: a mock core is already running in this process");
        return NULL;
    }
    nc_mock *mk = calloc(1, sizeof *mk);
    if (!mk) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    live = mk;
    mk->m = m;
    if (set_up(mk, cfg, err, errlen) < 0)
        goto fail;
    int transport = pick_transport(m, cfg->transport, mk->listen);
    if (transport < 0) {
        snprintf(err, errlen, "%s: listeners[0].transport: expected one of \"tcp\", \"udp\", \"unix\"", mk->file);
        goto fail;
    }
    mk->lc.transport = transport;
    mk->l.batch = 64;
    int want = transport == NC_UDP ? NC_MOD_DGRAM : NC_MOD_STREAM;
    if (!(m->flags & want)) {
        snprintf(err, errlen, "%s: listeners[0].transport: module %s does not serve %s", mk->file, m->name,
                 transport == NC_UDP ? "udp" : "streams (tcp or unix)");
        goto fail;
    }
    int inited = 0;
    if (run_init(mk, err, errlen, &inited))
        goto fail_fini;
    if (cfg->flags & NC_MOCK_NO_LISTEN)
        return mk;
    if (open_socket(mk, transport, err, errlen) < 0)
        goto fail_fini;
    if (m->on_listen && m->on_listen(&mk->l) < 0) {
        const char *last = mk->nlogs ? mk->logs[mk->nlogs - 1] : NULL;
        snprintf(err, errlen, "module %s failed to start%s%s%s", m->name, last ? " (" : "", last ? last : "",
                 last ? ")" : "");
        goto fail_fini;
    }
    return mk;
fail_fini:
    if (inited && m->fini)
        m->fini(&mk->l, mk->l.instance);
fail:
    leak_report(mk);
    mock_release(mk);
    return NULL;
}

nc_listener *nc_mock_listener(nc_mock *mk)
{
    return &mk->l;
}

/* ---- the output queue ---- */

static void item_free(oitem *it)
{
    if (it->kind == OI_MEM)
        free(it->mem);
    else if (it->kind == OI_SHARED)
        nc_shared_release(it->sh);
    else if (it->own)
        close(it->fd);
    free(it);
}

static void queue_clear(nc_conn *c)
{
    for (oitem *it = c->head, *next; it; it = next) {
        next = it->next;
        item_free(it);
    }
    c->head = c->tail = NULL;
    c->bytes = c->mem = c->fds = 0;
}

static void push(nc_conn *c, oitem *it)
{
    if (c->tail)
        c->tail->next = it;
    else
        c->head = it;
    c->tail = it;
    c->bytes += it->len;
    c->mem += it->kind == OI_FILE ? 0 : it->len;
    c->fds += it->kind == OI_FILE && it->own;
}

static int readable(const nc_conn *c)
{
    return !(c->flags & (F_CLOSING | F_PAUSED | F_THROTTLED | F_GONE));
}

/* conn.c's throttle_check: no input above the watermark; at half of it,
 * what is held is handed over again. */
static void throttle_check(nc_conn *c)
{
    size_t high = c->mk->high_water, files = (size_t)c->mk->lc.max_queued_files;
    if (!(c->flags & F_THROTTLED)) {
        if (c->mem < high && c->fds < files)
            return;
        c->flags |= F_THROTTLED;
        if (c->fds >= files)
            core_log(NC_LOG_INFO, c->id,
                     "%zu queued files reach max_queued_files (%zu): no more input until they are sent", c->fds,
                     files);
    } else if (c->mem <= high / 2 && c->fds <= files / 2) {
        c->flags &= ~F_THROTTLED;
        if (c->in.len)
            c->flags |= F_REDELIVER;
    }
}

static void close_soon(nc_conn *c)
{
    c->flags |= F_CLOSE_SOON | F_CLOSING;
}

void nc_close(nc_conn *c, int how)
{
    if (gone(c, "nc_close"))
        return;
    if (how == NC_CLOSE_ABORT) {
        c->flags &= ~F_FLUSH_CLOSE;
        close_soon(c);
        return;
    }
    if (c->flags & F_CLOSING)
        return;
    c->flags |= F_CLOSING | F_FLUSH_CLOSE;
    if (c->bytes == 0)
        close_soon(c);
}

static int queued(nc_conn *c, oitem *it)
{
    if (!it) {
        core_log(NC_LOG_ERROR, c->id, "out of memory for output; closing");
        nc_close(c, NC_CLOSE_ABORT);
        return -1;
    }
    push(c, it);
    if (c->mem > (size_t)c->mk->lc.max_output_bytes) {
        core_log(NC_LOG_WARN, c->id, "slow consumer: %zu bytes queued exceed max_output_bytes (%lld); closing",
                 c->mem, c->mk->lc.max_output_bytes);
        nc_close(c, NC_CLOSE_ABORT);
        return -1;
    }
    throttle_check(c);
    return 0;
}

static oitem *mem_item(const void *data, size_t len)
{
    oitem *it = calloc(1, sizeof *it);
    if (!it || !(it->mem = malloc(len))) {
        free(it);
        return NULL;
    }
    memcpy(it->mem, data, len);
    it->kind = OI_MEM;
    it->len = len;
    return it;
}

int nc_send(nc_conn *c, const void *data, size_t len)
{
    if (gone(c, "nc_send") || (c->flags & F_CLOSING))
        return -1;
    if (len == 0)
        return 0;
    return queued(c, mem_item(data, len));
}

int nc_sendfile(nc_conn *c, int fd, off_t offset, size_t len, unsigned flags)
{
    int own = (flags & NC_FILE_OWN) != 0;
    if (gone(c, "nc_sendfile") || (c->flags & F_CLOSING) || len == 0) {
        if (own)
            close(fd);
        return len == 0 && !(c->flags & (F_CLOSING | F_GONE)) ? 0 : -1;
    }
    oitem *it = calloc(1, sizeof *it);
    if (!it) {
        if (own)
            close(fd);
    } else {
        it->kind = OI_FILE;
        it->len = len;
        it->fd = fd;
        it->own = own;
        it->start = offset;
    }
    return queued(c, it);
}

nc_shared *nc_shared_new(const void *data, size_t len)
{
    nc_shared *s = malloc(sizeof *s + len);
    if (!s)
        return NULL;
    s->refs = 1;
    s->len = len;
    if (data && len)
        memcpy(s->data, data, len);
    s->prev = NULL;
    s->next = shared_head;
    if (shared_head)
        shared_head->prev = s;
    shared_head = s;
    live_shared++;
    return s;
}

char *nc_shared_data(nc_shared *s)
{
    return s->data;
}

size_t nc_shared_len(const nc_shared *s)
{
    return s->len;
}

static void shared_free(nc_shared *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        shared_head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    free(s);
    live_shared--;
}

void nc_shared_release(nc_shared *s)
{
    if (!s)
        return;
    if (s->refs == 0) {
        fprintf(stderr, "nc_mock: nc_shared_release on a buffer with no reference left\n");
        abort();
    }
    if (--s->refs == 0)
        shared_free(s);
}

int nc_send_shared(nc_conn *c, nc_shared *s)
{
    if (gone(c, "nc_send_shared") || (c->flags & F_CLOSING))
        return -1;
    if (s->len == 0)
        return 0;
    if (s->len <= SHARED_COPY_MAX)
        return queued(c, mem_item(s->data, s->len));
    oitem *it = calloc(1, sizeof *it);
    if (it) {
        it->kind = OI_SHARED;
        it->len = s->len;
        it->sh = s;
        s->refs++;
    }
    return queued(c, it);
}

/* ---- input, as conn.c delivers it ---- */

static int over_input_limit(nc_conn *c, size_t left)
{
    if (left <= (size_t)c->mk->lc.max_input_bytes)
        return 0;
    core_log(NC_LOG_WARN, c->id, "%zu bytes of unconsumed input exceed max_input_bytes (%lld); closing", left,
             c->mk->lc.max_input_bytes);
    nc_close(c, NC_CLOSE_ABORT);
    return 1;
}

static void deliver(nc_conn *c, const char *buf, size_t n)
{
    const nc_module *m = c->mk->m;
    int stored = c->in.len > 0;
    if (stored && n > 0 && bb_append(&c->in, buf, n) < 0) {
        core_log(NC_LOG_ERROR, c->id, "out of memory for input; closing");
        nc_close(c, NC_CLOSE_ABORT);
        return;
    }
    const char *data = stored ? c->in.p : buf;
    size_t len = stored ? c->in.len : n, done = 0;
    while (done < len && readable(c)) {
        ssize_t r = m->on_data(c, data + done, len - done);
        if (r < 0) {
            nc_close(c, NC_CLOSE_ABORT);
            return;
        }
        if ((size_t)r > len - done) {
            core_log(NC_LOG_ERROR, c->id, "module %s consumed %zd bytes of %zu offered; closing", m->name, r,
                     len - done);
            nc_close(c, NC_CLOSE_ABORT);
            return;
        }
        if (r == 0)
            break;
        done += (size_t)r;
    }
    if (c->flags & F_CLOSING)
        return;
    int held = (c->flags & F_THROTTLED) != 0;
    size_t left = len - done;
    if (stored) {
        bb_consume(&c->in, done);
    } else if (left > 0 && (held || !over_input_limit(c, left))) {
        if (bb_append(&c->in, data + done, left) < 0) {
            core_log(NC_LOG_ERROR, c->id, "out of memory for input; closing");
            nc_close(c, NC_CLOSE_ABORT);
        }
        return;
    }
    if (!held)
        over_input_limit(c, c->in.len);
}

static void on_eof(nc_conn *c)
{
    c->flags |= F_EOF;
    if (c->mk->m->on_eof)
        c->mk->m->on_eof(c);
    else
        nc_close(c, NC_CLOSE_FLUSH);
}

/* One "read" from the peer's side, as one EPOLLIN would do; returns 1 when
 * something happened. */
static int do_read(nc_conn *c)
{
    if (!readable(c) || (c->flags & F_EOF))
        return 0;
    if (c->sock.len) {
        size_t n = c->sock.len < READ_CHUNK ? c->sock.len : READ_CHUNK;
        char *chunk = malloc(n);
        if (!chunk)
            return 0;
        memcpy(chunk, c->sock.p, n);
        bb_consume(&c->sock, n);
        deliver(c, chunk, n);
        free(chunk);
        return 1;
    }
    if (c->peer_eof) {
        on_eof(c);
        return 1;
    }
    return 0;
}

/* ---- the end of a loop turn ---- */

/* reactor.c's settle: redeliveries, then closes (whose on_close may
 * schedule more), until nothing is left. */
static void settle(nc_mock *mk)
{
    for (int again = 1; again;) {
        again = 0;
        for (nc_conn *c = mk->head; c; c = c->next)
            if (c->flags & F_REDELIVER) {
                c->flags &= ~F_REDELIVER;
                if (c->in.len && readable(c))
                    deliver(c, NULL, 0);
                again = 1;
            }
        for (nc_conn *c = mk->head; c; c = c->next)
            if ((c->flags & F_CLOSE_SOON) && !(c->flags & F_GONE)) {
                destroy(c);
                again = 1;
            }
    }
}

/* Settle, then read what peers sent while anything is readable: one read
 * per connection per turn, as the core's level-triggered loop. */
static void turn(nc_mock *mk)
{
    settle(mk);
    for (int again = 1; again;) {
        again = 0;
        for (nc_conn *c = mk->head; c; c = c->next)
            again |= do_read(c);
        settle(mk);
    }
}

static void destroy(nc_conn *c)
{
    nc_mock *mk = c->mk;
    if ((c->flags & F_ACCEPTED) && mk->m->on_close)
        mk->m->on_close(c);
    c->state = (c->flags & F_FLUSH_CLOSE) ? NC_MOCK_CLOSED_FLUSH
               : c->abort_state          ? c->abort_state
                                         : NC_MOCK_CLOSED_ABORT;
    c->flags |= F_GONE;
    c->flags &= ~(F_CLOSE_SOON | F_REDELIVER);
    queue_clear(c);
    bb_free(&c->in);
    bb_free(&c->sock);
    mk->nopen--;
}

/* ---- the driver: connections ---- */

static int parse_peer(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
    if (!strcmp(text, "unix")) {
        *len = 0;
        memset(ss, 0, sizeof *ss);
        return 0;
    }
    nc__addr a;
    const char *why;
    if (nc__addr_parse(text, &a, &why) < 0)
        return -1;
    *ss = a.ss;
    *len = a.len;
    return 0;
}

static nc_conn *connect_peer(nc_mock *mk, const char *peer)
{
    if (mk->l.fd < 0 || mk->lc.transport == NC_UDP) {
        fprintf(stderr, "nc_mock_accept: listener %s takes no connections (%s)\n", mk->l.name,
                mk->l.fd < 0 ? "NC_MOCK_NO_LISTEN" : "udp");
        return NULL;
    }
    nc_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (parse_peer(or(peer, "127.0.0.1:40000"), &c->peer, &c->peer_len) < 0) {
        fprintf(stderr, "nc_mock_accept: cannot parse the peer address \"%s\"\n", peer);
        free(c);
        return NULL;
    }
    snprintf(c->peer_str, sizeof c->peer_str, "unix");
    if (c->peer_len)
        nc__addr_format((struct sockaddr *)&c->peer, c->peer_len, c->peer_str, sizeof c->peer_str);
    c->mk = mk;
    c->id = ++mk->next_id;
    if (mk->tail)
        mk->tail->next = c;
    else
        mk->head = c;
    mk->tail = c;
    mk->nopen++;
    core_log(NC_LOG_DEBUG, c->id, "accepted from %s", c->peer_str);
    if (mk->m->on_accept && mk->m->on_accept(c) < 0) {
        c->flags |= F_REFUSED;
        nc_close(c, NC_CLOSE_FLUSH); /* refused: its last words still go out */
    } else {
        c->flags |= F_ACCEPTED;
    }
    turn(mk);
    return c;
}

nc_conn *nc_mock_connect(nc_mock *mk, const char *peer)
{
    return connect_peer(mk, peer);
}

nc_conn *nc_mock_accept(nc_mock *mk, const char *peer)
{
    nc_conn *c = connect_peer(mk, peer);
    return c && !(c->flags & F_REFUSED) ? c : NULL;
}

int nc_mock_refused(const nc_conn *c)
{
    return (c->flags & F_REFUSED) != 0;
}

static int fed(nc_conn *c)
{
    turn(c->mk);
    return c->flags & (F_CLOSING | F_GONE) ? -1 : 0;
}

int nc_mock_feed(nc_conn *c, const void *data, size_t len)
{
    if (c->flags & (F_CLOSING | F_GONE) || c->peer_eof)
        return -1;
    if (bb_append(&c->sock, data, len) < 0)
        return -1;
    return fed(c);
}

int nc_mock_feeds(nc_conn *c, const char *s)
{
    return nc_mock_feed(c, s, strlen(s));
}

int nc_mock_eof(nc_conn *c)
{
    if (c->flags & (F_CLOSING | F_GONE))
        return -1;
    c->peer_eof = 1;
    return fed(c);
}

void nc_mock_hangup(nc_conn *c)
{
    if (c->flags & F_GONE)
        return;
    core_log(NC_LOG_DEBUG, c->id, "read: %s", strerror(ECONNRESET));
    c->abort_state = NC_MOCK_CLOSED_PEER;
    c->flags &= ~F_FLUSH_CLOSE;
    close_soon(c);
    turn(c->mk);
}

size_t nc_mock_pending(const nc_conn *c)
{
    return c->bytes;
}

size_t nc_mock_held(const nc_conn *c)
{
    return c->in.len;
}

int nc_mock_closed(const nc_conn *c)
{
    if (c->flags & F_GONE)
        return c->state;
    return (c->flags & F_FLUSH_CLOSE) ? NC_MOCK_FLUSHING : NC_MOCK_OPEN;
}

/* Copy from one item; -1 when a file region cannot be read (the core's
 * sendfile would fail the same way: the connection is aborted). */
static ssize_t read_item(nc_conn *c, oitem *it, char *buf, size_t n)
{
    size_t k = it->len - it->off < n ? it->len - it->off : n;
    if (it->kind == OI_MEM) {
        memcpy(buf, it->mem + it->off, k);
    } else if (it->kind == OI_SHARED) {
        memcpy(buf, it->sh->data + it->off, k);
    } else {
        ssize_t r = pread(it->fd, buf, k, it->start + (off_t)it->off);
        if (r <= 0) {
            core_log(NC_LOG_DEBUG, c->id, "write: %s", strerror(r < 0 ? errno : EIO));
            return -1;
        }
        k = (size_t)r;
    }
    it->off += k;
    return (ssize_t)k;
}

static size_t take(nc_conn *c, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n && c->head) {
        oitem *it = c->head;
        ssize_t r = read_item(c, it, buf + got, n - got);
        if (r < 0) {
            nc_close(c, NC_CLOSE_ABORT);
            break;
        }
        got += (size_t)r;
        c->bytes -= (size_t)r;
        /* The core's queue holds memory in chunks that leave as they are
         * written: counting what is unread is that, to a chunk. */
        c->mem -= it->kind == OI_FILE ? 0 : (size_t)r;
        if (it->off == it->len) {
            c->head = it->next;
            if (!c->head)
                c->tail = NULL;
            c->fds -= it->kind == OI_FILE && it->own;
            item_free(it);
        }
    }
    return got;
}

size_t nc_mock_read(nc_conn *c, void *buf, size_t n)
{
    if ((c->flags & F_GONE) || ((c->flags & F_CLOSING) && !(c->flags & F_FLUSH_CLOSE)) || !c->bytes || !n)
        return 0;
    size_t got = take(c, buf, n);
    if (!(c->flags & F_CLOSING) || (c->flags & F_FLUSH_CLOSE)) {
        throttle_check(c);
        if (c->bytes == 0) {
            if (c->flags & F_FLUSH_CLOSE)
                close_soon(c);
            else if (c->mk->m->on_writable && !(c->flags & F_CLOSING))
                c->mk->m->on_writable(c);
        }
    }
    turn(c->mk);
    return got;
}

char *nc_mock_read_all(nc_conn *c, size_t *len)
{
    bbuf b = {0};
    char chunk[16384];
    size_t n;
    while (b.len < READ_ALL_MAX) {
        size_t want = READ_ALL_MAX - b.len < sizeof chunk ? READ_ALL_MAX - b.len : sizeof chunk;
        if (!(n = nc_mock_read(c, chunk, want)))
            break;
        if (bb_append(&b, chunk, n) < 0) {
            bb_free(&b);
            return NULL;
        }
    }
    if (bb_append(&b, "", 1) < 0) {
        bb_free(&b);
        return NULL;
    }
    if (len)
        *len = b.len - 1;
    return b.p;
}

/* ---- the connection API ---- */

uint64_t nc_conn_id(const nc_conn *c)
{
    return c->id;
}

nc_listener *nc_conn_listener(const nc_conn *c)
{
    return &c->mk->l;
}

void nc_conn_set_data(nc_conn *c, void *data)
{
    if (!gone(c, "nc_conn_set_data"))
        c->data = data;
}

void *nc_conn_data(const nc_conn *c)
{
    return c->data;
}

const struct sockaddr *nc_conn_peer(const nc_conn *c, socklen_t *len)
{
    if (len)
        *len = c->peer_len;
    return (const struct sockaddr *)&c->peer;
}

const char *nc_conn_peer_str(const nc_conn *c)
{
    return c->peer_str;
}

size_t nc_conn_queued(const nc_conn *c)
{
    return c->bytes;
}

void nc_conn_pause(nc_conn *c)
{
    if (!gone(c, "nc_conn_pause"))
        c->flags |= F_PAUSED;
}

void nc_conn_resume(nc_conn *c)
{
    if (gone(c, "nc_conn_resume") || !(c->flags & F_PAUSED))
        return;
    c->flags &= ~F_PAUSED;
    if (!(c->flags & F_CLOSING) && c->in.len)
        c->flags |= F_REDELIVER;
}

/* ---- the listener API ---- */

const char *nc_listener_name(const nc_listener *l)
{
    return l->name;
}

void *nc_listener_instance(const nc_listener *l)
{
    return l->instance;
}

int nc_listener_fd(const nc_listener *l)
{
    return l->fd;
}

const char *nc_listener_addr(const nc_listener *l)
{
    return l->mk->listen;
}

void nc_listener_foreach(nc_listener *l, void (*cb)(nc_conn *c, void *arg), void *arg)
{
    for (nc_conn *c = l->mk->head, *next; c; c = next) {
        next = c->next;
        if (!(c->flags & (F_CLOSING | F_GONE)))
            cb(c, arg);
    }
}

size_t nc_listener_conn_count(const nc_listener *l)
{
    return l->mk->nopen;
}

void nc_listener_set_batch(nc_listener *l, unsigned n)
{
    l->batch = n < 1 ? 1 : n > 1024 ? 1024 : n;
}

int nc_sendto(nc_listener *l, const void *data, size_t len, const struct sockaddr *to, socklen_t tolen)
{
    nc_mock *mk = l->mk;
    if (l->fd < 0)
        return -EBADF;
    if (mk->sendto_rc < 0)
        return mk->sendto_rc;
    if (mk->nsent == mk->capsent) {
        unsigned cap = mk->capsent ? mk->capsent * 2 : 16;
        nc_mock_sent *np = realloc(mk->sent, cap * sizeof *np);
        if (!np)
            return -ENOMEM;
        mk->sent = np;
        mk->capsent = cap;
    }
    nc_mock_sent *s = &mk->sent[mk->nsent];
    if (!(s->data = malloc(len ? len : 1)))
        return -ENOMEM;
    memcpy(s->data, data, len);
    s->len = len;
    nc__addr_format(to, tolen, s->to, sizeof s->to);
    mk->nsent++;
    return 0;
}

uint64_t nc_listener_drops(const nc_listener *l)
{
    return l->mk->drops;
}

uint64_t *nc_counter(nc_listener *l, const char *name)
{
    for (counter *k = l->counters; k; k = k->next)
        if (strcmp(k->name, name) == 0)
            return &k->value;
    counter *k = calloc(1, sizeof *k);
    if (!k || !(k->name = strdup(name))) {
        free(k);
        return NULL;
    }
    k->next = l->counters;
    l->counters = k;
    return &k->value;
}

/* ---- timers, work, server state ---- */

nc_timer *nc_timer_start(uint64_t after_ms, uint64_t repeat_ms, nc_timer_cb cb, void *arg)
{
    return nc__timer_start(&nc__timer_heap, live ? live->now : 0, after_ms, repeat_ms, cb, arg);
}

void nc_timer_stop(nc_timer *t)
{
    nc__timer_stop(&nc__timer_heap, t);
}

uint64_t nc_now_ms(void)
{
    return live ? live->now : 0;
}

int nc_work_submit(void (*work)(void *arg), void (*done)(void *arg), void *arg)
{
    nc_mock *mk = live;
    if (!mk) {
        work(arg);
        done(arg);
        return 0;
    }
    job *j = calloc(1, sizeof *j);
    if (!j)
        return -1;
    j->work = work;
    j->done = done;
    j->arg = arg;
    if (mk->jobs_tail)
        mk->jobs_tail->next = j;
    else
        mk->jobs = j;
    mk->jobs_tail = j;
    mk->njobs++;
    return 0;
}

int nc_draining(void)
{
    return live ? live->draining : 0;
}

char *nc_stats_json(void)
{
    return live && live->stats ? strdup(live->stats) : NULL;
}

unsigned nc_mock_advance(nc_mock *mk, uint64_t ms)
{
    uint64_t target = mk->now + ms;
    unsigned ran = 0;
    for (;;) {
        int64_t wait = nc__timers_timeout(&nc__timer_heap, mk->now);
        if (wait < 0 || mk->now + (uint64_t)wait > target)
            break;
        mk->now += (uint64_t)wait;
        ran += nc__timers_run(&nc__timer_heap, mk->now);
        turn(mk);
    }
    mk->now = target;
    turn(mk); /* what a hook-less change (nc_conn_resume from the test) asked for */
    return ran;
}

unsigned nc_mock_timers(const nc_mock *mk)
{
    (void)mk;
    return (unsigned)nc__timer_heap.n;
}

unsigned nc_mock_run_work(nc_mock *mk)
{
    unsigned ran = 0;
    job *j;
    while ((j = mk->jobs)) {
        mk->jobs = j->next;
        if (!mk->jobs)
            mk->jobs_tail = NULL;
        mk->njobs--;
        j->work(j->arg);
        j->done(j->arg);
        free(j);
        ran++;
        turn(mk);
    }
    return ran;
}

unsigned nc_mock_work_pending(const nc_mock *mk)
{
    return mk->njobs;
}

/* ---- datagrams ---- */

void nc_mock_datagrams(nc_mock *mk, const nc_dgram *d, unsigned n)
{
    if (mk->l.fd < 0 || mk->lc.transport != NC_UDP) {
        fprintf(stderr, "nc_mock_datagrams: listener %s takes no datagrams (%s)\n", mk->l.name,
                mk->l.fd < 0 ? "NC_MOCK_NO_LISTEN" : "not udp");
        return;
    }
    nc_dgram batch[1024];
    int64_t wall = WALL0_US + (int64_t)(mk->now - CLOCK0_MS) * 1000;
    while (n) {
        unsigned k = n < mk->l.batch ? n : mk->l.batch;
        for (unsigned i = 0; i < k; i++) {
            batch[i] = d[i];
            if (!batch[i].recv_time_us)
                batch[i].recv_time_us = wall;
        }
        mk->m->on_datagrams(&mk->l, batch, k);
        turn(mk);
        d += k;
        n -= k;
    }
}

int nc_mock_datagram(nc_mock *mk, const char *peer, const void *data, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_peer(or(peer, "127.0.0.1:40000"), &ss, &sl) < 0)
        return -1;
    nc_dgram d = {.data = data, .len = len, .peer = (struct sockaddr *)&ss, .peer_len = sl};
    nc_mock_datagrams(mk, &d, 1);
    return 0;
}

unsigned nc_mock_sent_count(const nc_mock *mk)
{
    return mk->nsent;
}

const nc_mock_sent *nc_mock_sent_get(const nc_mock *mk, unsigned i)
{
    return i < mk->nsent ? &mk->sent[i] : NULL;
}

void nc_mock_sent_clear(nc_mock *mk)
{
    for (unsigned i = 0; i < mk->nsent; i++)
        free(mk->sent[i].data);
    mk->nsent = 0;
}

void nc_mock_set_sendto_result(nc_mock *mk, int rc)
{
    mk->sendto_rc = rc;
}

void nc_mock_set_drops(nc_mock *mk, uint64_t drops)
{
    mk->drops = drops;
}

/* ---- logs, counters, state ---- */

unsigned nc_mock_log_count(const nc_mock *mk, const char *substr)
{
    unsigned n = 0;
    for (unsigned i = 0; i < mk->nlogs; i++)
        n += !substr || strstr(mk->logs[i], substr) != NULL;
    return n;
}

const char *nc_mock_log_line(const nc_mock *mk, int i)
{
    if (i < 0)
        i = (int)mk->nlogs + i;
    return i >= 0 && (unsigned)i < mk->nlogs ? mk->logs[i] : NULL;
}

void nc_mock_log_clear(nc_mock *mk)
{
    for (unsigned i = 0; i < mk->nlogs; i++)
        free(mk->logs[i]);
    mk->nlogs = 0;
}

uint64_t nc_mock_counter(const nc_mock *mk, const char *name)
{
    for (const counter *k = mk->l.counters; k; k = k->next)
        if (strcmp(k->name, name) == 0)
            return k->value;
    return 0;
}

void nc_mock_set_draining(nc_mock *mk, int draining)
{
    mk->draining = draining;
}

void nc_mock_set_stats(nc_mock *mk, const char *json)
{
    free(mk->stats);
    mk->stats = json ? strdup(json) : NULL;
}

void nc_mock_reopen(nc_mock *mk)
{
    if (mk->m->on_reopen)
        mk->m->on_reopen(&mk->l);
    turn(mk);
}

/* ---- stopping ---- */

static void say(const nc_mock *mk, const char *what)
{
    fprintf(stderr, "nc_mock: module %s, listener %s: %s\n", mk->m->name, mk->l.name, what);
}

/* Timers are the process's: whatever is armed once fini returned belongs
 * to this module and would fire into a freed instance in the core. */
static int leak_report(nc_mock *mk)
{
    char line[512];
    int bad = 0;
    for (size_t i = 0; i < nc__timer_heap.n; i++) {
        const nc_timer *t = nc__timer_heap.heap[i];
        Dl_info di;
        int found = dladdr((void *)(uintptr_t)t->cb, &di);
        snprintf(line, sizeof line, "a %s timer is still armed after fini (callback %p%s%s%s%s)",
                 t->repeat ? "repeating" : "one-shot", (void *)(uintptr_t)t->cb, found && di.dli_sname ? " " : "",
                 found && di.dli_sname ? di.dli_sname : "", found && di.dli_fname ? " in " : "",
                 found && di.dli_fname ? di.dli_fname : "");
        say(mk, line);
        bad = 1;
    }
    nc__timers_free(&nc__timer_heap);
    if (live_shared) {
        snprintf(line, sizeof line, "%zu nc_shared buffer%s never released", live_shared,
                 live_shared == 1 ? "" : "s");
        say(mk, line);
        bad = 1;
    }
    for (nc_shared *sh = shared_head, *next; sh; sh = next) {
        next = sh->next;
        free(sh);
    }
    shared_head = NULL;
    live_shared = 0;
    if (mk->njobs) {
        snprintf(line, sizeof line, "%u job%s submitted after fini: done never called", mk->njobs,
                 mk->njobs == 1 ? "" : "s");
        say(mk, line);
        bad = 1;
    }
    if (mk->misuse) {
        snprintf(line, sizeof line, "%u call%s on connections after their on_close", mk->misuse,
                 mk->misuse == 1 ? "" : "s");
        say(mk, line);
        bad = 1;
    }
    return bad ? -1 : 0;
}

static void mock_release(nc_mock *mk)
{
    for (nc_conn *c = mk->head, *next; c; c = next) {
        next = c->next;
        queue_clear(c);
        bb_free(&c->in);
        bb_free(&c->sock);
        free(c);
    }
    for (counter *k = mk->l.counters, *next; k; k = next) {
        next = k->next;
        free(k->name);
        free(k);
    }
    for (job *j = mk->jobs, *next; j; j = next) {
        next = j->next;
        free(j);
    }
    nc_mock_log_clear(mk);
    free(mk->logs);
    nc_mock_sent_clear(mk);
    free(mk->sent);
    free(mk->stats);
    if (mk->l.fd >= 0)
        close(mk->l.fd);
    json_decref(mk->opts);
    free(mk);
    live = NULL;
}

int nc_mock_free(nc_mock *mk)
{
    if (!mk)
        return 0;
    for (nc_conn *c = mk->head; c; c = c->next)
        if (!(c->flags & F_GONE)) {
            c->abort_state = NC_MOCK_CLOSED_STOP;
            c->flags &= ~F_FLUSH_CLOSE;
            close_soon(c);
        }
    settle(mk);
    nc_mock_run_work(mk);
    if (mk->m->fini)
        mk->m->fini(&mk->l, mk->l.instance);
    int rc = leak_report(mk);
    mock_release(mk);
    return rc;
}
