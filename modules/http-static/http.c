/* http.c -- the http-static module: a static HTTP/1.1 file server.  Request
 * heads are parsed by parse.c, targets resolved by path.c; files are opened
 * beneath the root with openat2(RESOLVE_BENEATH) so that neither ".." nor a
 * symlink leads out of it; bodies go out with sendfile from the core, small
 * hot files from a validated in-memory cache.  See
 * docs/protocols/http-static.md. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "netcore/hash.h"
#include "netcore/list.h"
#include "netcore/netcore.h"
#include "netcore/strbuf.h"

#define PIPELINE_QUEUE_MAX (256 * 1024) /* stop reading requests above this much queued */
/* A response head never grows past this.  The longest is a 301 whose
 * Location holds the path and query percent-encoded: up to 3 x
 * max_request_line (at most 1 MiB) and some. */
#define HEAD_MAX ((size_t)4 << 20)
/* What a Location keeps unencoded besides the unreserved characters (RFC
 * 3986 pchar); the path is decoded text, so '%' is encoded in it, while the
 * query is the client's raw text, where an existing %XX stays as it is. */
#define PATH_KEEP "/!$&'()*+,;=:@"
#define QUERY_KEEP "/?!$&'()*+,;=:@%"
#define MAX_RANGES 200 /* the most max_ranges may be (Apache's MaxRanges default) */

typedef struct hconn hconn;

typedef struct centry {
    char *key;                /* the request path ("" root, "dir/" a directory) */
    char *file;               /* the file served for it, relative to root */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    uint64_t checked;         /* nc_now_ms() of the last validation */
    char etag[48];
    char lastmod[40];
    const char *type;
    int text;
    nc_shared *body;          /* the content */
    struct centry *hnext, *prev, *next; /* hash chain; LRU list (head = oldest) */
} centry;

typedef struct hs {
    const char *root;
    int rootfd;
    const char *index;
    char *rootreal; /* realpath(root): absolute symlinks that begin with it lead inside */
    int no_openat2; /* openat2 failed with ENOSYS or EPERM: walk_beneath every path */
    int autoindex, follow_symlinks;
    const char *server;
    long long max_line, max_head, header_timeout, keepalive_timeout, max_body;
    long long cache_valid, cache_max_file, cache_max_entries;
    http_mime_extra *mime;
    size_t nmime;
    /* access log */
    const char *log_path;
    int log_fd;
    char *logbuf;
    size_t loglen;
    /* timeouts: two lists, each sorted by deadline since its timeout is fixed */
    nc_list waitq; /* of hconn.node: reading a request head, deadline ascending */
    nc_list idleq; /* of hconn.node: keep-alive, between requests, deadline ascending */
    nc_timer *sweep;     /* started in on_listen, stopped in fini: */
    nc_timer *log_timer; /* both hold h as their argument */
    /* cache */
    centry **ctab;
    size_t cbuckets, centries;
    centry *lru_head, *lru_tail;
    /* Date header and log time, rebuilt once a second */
    time_t date_sec;
    char date[40];
    char logtime[40];
    long long max_listing, max_ranges;
    uint64_t *c_requests, *c_2xx, *c_3xx, *c_4xx, *c_5xx, *c_cache_hits, *c_timeouts;
    uint64_t *c_listing_limit, *c_ranges_refused;
    uint64_t ranges_log_at; /* nc_now_ms() of the last "ranges refused" line */
    unsigned ranges_log_dropped;
    uint64_t listing_log_at; /* nc_now_ms() of the last "listing too large" line */
    unsigned listing_log_dropped;
} hs;

enum { L_NONE, L_WAIT, L_IDLE };

struct hconn {
    nc_conn *c;
    hs *h;
    int list;       /* L_NONE, or which of the two `node` is on */
    uint64_t deadline;
    nc_list node;
    size_t scan;
    long long discard; /* body bytes still to read and drop */
    int paused;
};

/* ---- small helpers ---- */

static void refresh_time(hs *h)
{
    time_t now = time(NULL);
    if (now == h->date_sec)
        return;
    h->date_sec = now;
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(h->date, sizeof h->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    strftime(h->logtime, sizeof h->logtime, "%d/%b/%Y:%H:%M:%S +0000", &tm);
}

static void http_date(char *buf, size_t n, time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* IMF-fixdate (and the two obsolete forms RFC 9110 says to accept). */
static int parse_http_date(const char *s, size_t n, time_t *out)
{
    char buf[64];
    if (n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    struct tm tm;
    static const char *const fmts[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                                       "%a %b %e %H:%M:%S %Y"};
    for (int i = 0; i < 3; i++) {
        memset(&tm, 0, sizeof tm);
        const char *e = strptime(buf, fmts[i], &tm);
        if (e && *e == '\0') {
            *out = timegm(&tm);
            return 0;
        }
    }
    return -1;
}

static void list_del(hconn *hc)
{
    nc_list_remove(&hc->node);
    hc->list = L_NONE;
}

/* Both lists stay sorted: a listener's timeout is fixed, so appending with
 * now + timeout keeps deadlines ascending. */
static void list_add(hs *h, hconn *hc, int which)
{
    nc_list_remove(&hc->node);
    hc->list = which;
    hc->deadline = nc_now_ms() + (uint64_t)(which == L_WAIT ? h->header_timeout : h->keepalive_timeout);
    nc_list_push_tail(which == L_WAIT ? &h->waitq : &h->idleq, &hc->node);
}

static hconn *list_head(const nc_list *q)
{
    nc_list *n = nc_list_first(q);
    return n ? NC_LIST_DATA(n, hconn, node) : NULL;
}

static void sweep(nc_timer *t, void *arg)
{
    (void)t;
    hs *h = arg;
    uint64_t now = nc_now_ms();
    unsigned timed_out = 0;
    nc_conn *first = NULL;
    hconn *hc;
    while ((hc = list_head(&h->waitq)) && hc->deadline <= now) {
        list_del(hc);
        if (h->c_timeouts)
            (*h->c_timeouts)++;
        if (!timed_out++)
            first = hc->c;
        nc_close(hc->c, NC_CLOSE_ABORT);
    }
    /* One line per sweep, however many: a slowloris flood must not flood the log. */
    if (timed_out == 1)
        nc_log_conn(first, NC_LOG_INFO, "request head not received within header_timeout_ms (%lld); closing",
                    h->header_timeout);
    else if (timed_out > 1)
        nc_log(NC_LOG_INFO, "http-static: %u connections closed: request head not received within "
                            "header_timeout_ms (%lld)",
               timed_out, h->header_timeout);
    while ((hc = list_head(&h->idleq)) && hc->deadline <= now) {
        list_del(hc);
        nc_close(hc->c, NC_CLOSE_FLUSH);
    }
}

/* ---- access log ---- */

static void log_flush(hs *h)
{
    if (h->log_fd < 0 || h->loglen == 0)
        return;
    size_t off = 0;
    while (off < h->loglen) {
        ssize_t n = write(h->log_fd, h->logbuf + off, h->loglen - off);
        if (n <= 0)
            break; /* nowhere to report it; drop rather than block */
        off += (size_t)n;
    }
    h->loglen = 0;
}

#define LOGBUF 65536

/* Append a header value to the log line, escaping quotes, backslashes
 * and control bytes so that a client cannot forge log lines; at most max
 * bytes of escaped text, so that every field of a line fits. */
static void log_field(nc_sb *sb, const char *s, size_t n, size_t max)
{
    if (!s || !n) {
        nc_sb_putc(sb, '-');
        return;
    }
    size_t start = sb->len;
    for (size_t i = 0; i < n && sb->len - start + 4 <= max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x7f)
            nc_sb_printf(sb, "\\x%02X", c);
        else
            nc_sb_putc(sb, (char)c);
    }
}

static void access_log(hs *h, nc_conn *c, const http_req *r, int status, unsigned long long bytes)
{
    if (h->log_fd < 0)
        return;
    const char *peer = nc_conn_peer_str(c);
    /* "unix" peers and IPv6 brackets: the log shows the address alone. */
    char host[128];
    snprintf(host, sizeof host, "%s", peer);
    char *colon = strrchr(host, ':');
    if (colon && host[0] != '[')
        *colon = '\0';
    else if (host[0] == '[' && strchr(host, ']')) {
        memmove(host, host + 1, strlen(host));
        *strchr(host, ']') = '\0';
    }
    /* host (128) + time (40) + fields (1024 + 1024 + 1200) + the rest fit in 4096 */
    char line[4096];
    nc_sb sb;
    nc_sb_init(&sb, line, sizeof line);
    nc_sb_printf(&sb, "%s - - [%s] \"", host, h->logtime);
    log_field(&sb, r ? r->method : NULL, r ? r->line_len : 0, 1024);
    nc_sb_printf(&sb, "\" %d %llu \"", status, bytes);
    log_field(&sb, r ? r->referer : NULL, r ? r->referer_len : 0, 1024);
    nc_sb_puts(&sb, "\" \"");
    log_field(&sb, r ? r->ua : NULL, r ? r->ua_len : 0, 1200);
    nc_sb_puts(&sb, "\"\n");
    if (nc_sb_truncated(&sb))
        line[sb.len - 1] = '\n'; /* cannot happen with the bounds above; a line stays a line */
    if (h->loglen + sb.len > LOGBUF)
        log_flush(h);
    memcpy(h->logbuf + h->loglen, line, sb.len);
    h->loglen += sb.len;
}

static void log_tick(nc_timer *t, void *arg)
{
    (void)t;
    log_flush(arg);
}

static int open_log(hs *h)
{
    if (strcmp(h->log_path, "-") == 0)
        return 1;
    return open(h->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

/* ---- options ---- */

static const char *add_mime(void *arg, const char *ext, const char *type)
{
    hs *h = arg;
    if (!ext[0] || strchr(ext, '.') || strchr(ext, '/'))
        return "expected an extension without a dot";
    if (!type[0] || !strchr(type, '/') || strpbrk(type, "\r\n"))
        return "expected a media type such as \"text/plain\"";
    http_mime_extra *m = realloc(h->mime, (h->nmime + 1) * sizeof *m);
    if (!m)
        return "out of memory";
    h->mime = m;
    m[h->nmime].ext = strdup(ext);
    m[h->nmime].type = strdup(type);
    h->nmime++;
    return NULL;
}

static void free_instance(hs *h)
{
    for (size_t i = 0; i < h->nmime; i++) {
        free(h->mime[i].ext);
        free(h->mime[i].type);
    }
    free(h->mime);
    for (centry *e = h->lru_head, *n; e; e = n) {
        n = e->next;
        free(e->key);
        free(e->file);
        nc_shared_release(e->body);
        free(e);
    }
    free(h->ctab);
    if (h->rootfd >= 0)
        close(h->rootfd);
    free(h->rootreal);
    if (h->log_fd > 2)
        close(h->log_fd);
    free(h->logbuf);
    free(h);
}

static int hs_init(nc_listener *l, nc_options *o, void **instance)
{
    hs *h = calloc(1, sizeof *h);
    if (!h)
        return nc_opt_error(o, "root", "out of memory");
    nc_list_init(&h->waitq);
    nc_list_init(&h->idleq);
    h->rootfd = -1;
    h->log_fd = -1;
    if (nc_opt_path(o, "root", NULL, &h->root) < 0 || nc_opt_str(o, "index", "index.html", &h->index) < 0 ||
        nc_opt_bool(o, "autoindex", 0, &h->autoindex) < 0 ||
        nc_opt_bool(o, "follow_symlinks", 0, &h->follow_symlinks) < 0 ||
        nc_opt_str(o, "server", "netcore", &h->server) < 0 ||
        nc_opt_int(o, "max_request_line", 8192, 64, 1 << 20, &h->max_line) < 0 ||
        nc_opt_int(o, "max_header_bytes", 8192, 256, 1 << 20, &h->max_head) < 0 ||
        nc_opt_int(o, "header_timeout_ms", 10000, 10, 3600000, &h->header_timeout) < 0 ||
        nc_opt_int(o, "keepalive_timeout_ms", 75000, 10, 3600000, &h->keepalive_timeout) < 0 ||
        nc_opt_int(o, "max_body_bytes", 1 << 20, 0, 1LL << 30, &h->max_body) < 0 ||
        nc_opt_int(o, "cache_valid_ms", 1000, 0, 3600000, &h->cache_valid) < 0 ||
        nc_opt_int(o, "cache_max_file_bytes", 65536, 0, 16 << 20, &h->cache_max_file) < 0 ||
        nc_opt_int(o, "cache_entries", 1024, 0, 1 << 20, &h->cache_max_entries) < 0 ||
        nc_opt_int(o, "autoindex_max_bytes", 64LL << 20, 65536, 1LL << 30, &h->max_listing) < 0 ||
        nc_opt_int(o, "max_ranges", 16, 1, MAX_RANGES, &h->max_ranges) < 0 ||
        nc_opt_path(o, "access_log", "off", &h->log_path) < 0 ||
        nc_opt_strmap(o, "mime_types", add_mime, h) < 0)
        goto fail;
    if (!h->root) {
        nc_opt_error(o, "root", "missing (the folder to serve)");
        goto fail;
    }
    if (!h->index[0] || strchr(h->index, '/')) {
        nc_opt_error(o, "index", "expected a file name");
        goto fail;
    }
    if (strpbrk(h->server, "\r\n")) {
        nc_opt_error(o, "server", "must not contain line breaks");
        goto fail;
    }
    h->rootfd = open(h->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (h->rootfd < 0 || !(h->rootreal = realpath(h->root, NULL))) {
        nc_opt_error(o, "root", "%s: %s", h->root, strerror(errno));
        goto fail;
    }
    if (strcmp(h->log_path, "off") != 0) {
        /* Checked here, opened (and created) by on_listen: init also runs
         * for `netcore -t`, which changes nothing on disk. */
        int rc = strcmp(h->log_path, "-") == 0 ? 0 : nc_path_writable(h->log_path);
        if (rc < 0) {
            nc_opt_error(o, "access_log", "%s: %s", h->log_path, strerror(-rc));
            goto fail;
        }
        h->logbuf = malloc(LOGBUF);
        if (!h->logbuf)
            goto fail;
    }
    h->cbuckets = 256;
    h->ctab = calloc(h->cbuckets, sizeof *h->ctab);
    if (!h->ctab)
        goto fail;
    h->c_requests = nc_counter(l, "requests");
    h->c_2xx = nc_counter(l, "responses_2xx");
    h->c_3xx = nc_counter(l, "responses_3xx");
    h->c_4xx = nc_counter(l, "responses_4xx");
    h->c_5xx = nc_counter(l, "responses_5xx");
    h->c_cache_hits = nc_counter(l, "cache_hits");
    h->c_timeouts = nc_counter(l, "header_timeouts");
    h->c_listing_limit = nc_counter(l, "listings_too_large");
    h->c_ranges_refused = nc_counter(l, "ranges_refused");
    *instance = h;
    return 0;
fail:
    free_instance(h);
    return -1;
}

static int hs_listen(nc_listener *l)
{
    hs *h = nc_listener_instance(l);
    if (h->logbuf) {
        h->log_fd = open_log(h);
        if (h->log_fd < 0) {
            nc_log_listener(l, NC_LOG_ERROR, "access_log %s: %s", h->log_path, strerror(errno));
            return -1;
        }
    }
    long long period = h->header_timeout < h->keepalive_timeout ? h->header_timeout : h->keepalive_timeout;
    period /= 4;
    if (period > 250)
        period = 250;
    if (period < 5)
        period = 5;
    h->sweep = nc_timer_start((uint64_t)period, (uint64_t)period, sweep, h);
    if (!h->sweep || (h->log_fd >= 0 && !(h->log_timer = nc_timer_start(1000, 1000, log_tick, h)))) {
        nc_log_listener(l, NC_LOG_ERROR, "cannot start the timeout and log timers: out of memory");
        return -1; /* fini stops the one that started */
    }
    return 0;
}

static void hs_fini(nc_listener *l, void *instance)
{
    (void)l;
    hs *h = instance;
    /* Repeating timers live until stopped: left armed, they would fire with
     * h freed. */
    nc_timer_stop(h->sweep);
    nc_timer_stop(h->log_timer);
    log_flush(h);
    free_instance(h);
}

static void hs_reopen(nc_listener *l)
{
    hs *h = nc_listener_instance(l);
    if (h->log_fd < 0 || h->log_fd <= 2)
        return;
    log_flush(h);
    int fd = open_log(h);
    if (fd < 0) {
        nc_log_listener(l, NC_LOG_ERROR, "reopening access_log %s: %s", h->log_path, strerror(errno));
        return;
    }
    close(h->log_fd);
    h->log_fd = fd;
}

/* ---- files ---- */

#define MAX_LINKS 40  /* symlinks followed in one path, as the kernel allows */
#define MAX_DEPTH 128 /* folders deep a walked path may go (404 beyond) */
#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)

/* Does the absolute symlink target t lead into the root?  Returns t made
 * relative to the root ("" for the root itself), or NULL. */
static const char *inside_root(const hs *h, const char *t)
{
    size_t rl = strcmp(h->rootreal, "/") == 0 ? 0 : strlen(h->rootreal);
    if (strncmp(t, h->rootreal, rl) != 0 || (t[rl] != '/' && t[rl] != '\0'))
        return NULL;
    return t + rl;
}

/* Resolve rel beneath the root one component at a time, each opened with
 * O_PATH | O_NOFOLLOW relative to its folder's descriptor, so that no
 * component is ever resolved by the kernel through a symlink.  A symlink is
 * read and followed by hand while it stays inside the root: a relative
 * target from the link's folder (its ".." popping the folders walked, never
 * above the root), an absolute one when it begins with the root's real
 * path.  This is the fallback where openat2 is missing (ENOSYS: kernels
 * before 5.6, seccomp profiles) and the path for absolute symlinks, which
 * RESOLVE_BENEATH refuses even when they lead inside.  Returns a descriptor
 * opened OPEN_FLAGS, or -1 with errno: EXDEV for a path leading out, ELOOP
 * past MAX_LINKS, ENAMETOOLONG past MAX_DEPTH or PATH_MAX. */
static int walk_beneath(const hs *h, const char *rel)
{
    int dirs[MAX_DEPTH + 1]; /* dirs[0] is the root (not ours to close) */
    int depth = 0, links = 0, fd = -1, err = 0;
    dirs[0] = h->rootfd;
    char todo[PATH_MAX], leaf[NAME_MAX + 1] = "";
    if (snprintf(todo, sizeof todo, "%s", rel) >= (int)sizeof todo) {
        errno = ENAMETOOLONG;
        return -1;
    }
    size_t pos = 0;
    for (;;) {
        while (todo[pos] == '/')
            pos++;
        if (!todo[pos])
            break;
        size_t len = strcspn(todo + pos, "/");
        if (leaf[0]) {
            err = ENOTDIR; /* a file with more path after it */
            break;
        }
        if (len > NAME_MAX) {
            err = ENAMETOOLONG;
            break;
        }
        char name[NAME_MAX + 1];
        memcpy(name, todo + pos, len);
        name[len] = '\0';
        pos += len;
        if (!strcmp(name, "."))
            continue;
        if (!strcmp(name, "..")) {
            if (depth == 0) {
                err = EXDEV;
                break;
            }
            close(dirs[depth--]);
            continue;
        }
        int c = openat(dirs[depth], name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (c < 0 || fstat(c, &st) < 0) {
            err = errno;
            if (c >= 0)
                close(c);
            break;
        }
        if (S_ISLNK(st.st_mode)) {
            char t[PATH_MAX];
            ssize_t tl = readlinkat(c, "", t, sizeof t - 1);
            close(c);
            if (tl <= 0 || ++links > MAX_LINKS) {
                err = tl < 0 ? errno : ELOOP;
                break;
            }
            t[tl] = '\0';
            const char *target = t;
            if (t[0] == '/') {
                if (!(target = inside_root(h, t))) {
                    err = EXDEV;
                    break;
                }
                while (depth > 0)
                    close(dirs[depth--]); /* an absolute target starts again from the root */
            }
            /* The target's components, then what was left after the link. */
            char rest[PATH_MAX];
            int n = snprintf(rest, sizeof rest, "%s/%s", target, todo + pos);
            if (n < 0 || (size_t)n >= sizeof rest) {
                err = ENAMETOOLONG;
                break;
            }
            memcpy(todo, rest, (size_t)n + 1);
            pos = 0;
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            if (depth == MAX_DEPTH) {
                close(c);
                err = ENAMETOOLONG;
                break;
            }
            dirs[++depth] = c;
            continue;
        }
        close(c);
        memcpy(leaf, name, len + 1); /* a file: it must be the last component */
    }
    if (!err) {
        /* Reopen the last component for reading, by name in its folder and
         * still without following: a symlink put there meanwhile fails. */
        fd = leaf[0] ? openat(dirs[depth], leaf, OPEN_FLAGS | O_NOFOLLOW)
                     : openat(dirs[depth], ".", OPEN_FLAGS | O_DIRECTORY);
        if (fd < 0)
            err = errno;
    }
    while (depth > 0)
        close(dirs[depth--]);
    errno = err;
    return err ? -1 : fd;
}

/* Open rel beneath the root: no "..", no symlink leading out of it (unless
 * follow_symlinks), and never blocking on a FIFO.  openat2 with
 * RESOLVE_BENEATH first; the component walk where openat2 is missing or
 * refused an absolute symlink (EXDEV), which may yet lead inside. */
static int open_beneath(hs *h, const char *rel)
{
    const char *p = rel[0] ? rel : ".";
    struct open_how how = {.flags = OPEN_FLAGS, .resolve = RESOLVE_NO_MAGICLINKS};
    if (!h->follow_symlinks)
        how.resolve |= RESOLVE_BENEATH;
    int fd = h->no_openat2 ? -1 : (int)syscall(SYS_openat2, h->rootfd, p, &how, sizeof how);
    if (fd >= 0 || (!h->no_openat2 && errno != ENOSYS && errno != EPERM && errno != EXDEV))
        return fd;
    if (!h->no_openat2 && errno != EXDEV) {
        h->no_openat2 = 1; /* it will not come back in this process */
        nc_log(NC_LOG_WARN, "http-static: openat2 is not available (%s): paths under %s are resolved "
                            "one component at a time instead",
               strerror(errno), h->root);
    }
    if (h->follow_symlinks)
        return openat(h->rootfd, p, OPEN_FLAGS);
    return walk_beneath(h, rel);
}

static size_t chash(const char *k)
{
    return (size_t)nc_hash_str(k);
}

static centry *cache_find(hs *h, const char *key)
{
    for (centry *e = h->ctab[chash(key) & (h->cbuckets - 1)]; e; e = e->hnext)
        if (strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static void cache_unlink(hs *h, centry *e)
{
    for (centry **pp = &h->ctab[chash(e->key) & (h->cbuckets - 1)]; *pp; pp = &(*pp)->hnext)
        if (*pp == e) {
            *pp = e->hnext;
            break;
        }
    if (e->prev)
        e->prev->next = e->next;
    else
        h->lru_head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        h->lru_tail = e->prev;
    h->centries--;
    free(e->key);
    free(e->file);
    nc_shared_release(e->body);
    free(e);
}

static void cache_touch(hs *h, centry *e)
{
    if (h->lru_tail == e)
        return;
    if (e->prev)
        e->prev->next = e->next;
    else
        h->lru_head = e->next;
    e->next->prev = e->prev;
    e->prev = h->lru_tail;
    e->next = NULL;
    h->lru_tail->next = e;
    h->lru_tail = e;
}

static void set_meta(hs *h, centry *e, const struct stat *st, const char *file)
{
    e->dev = st->st_dev;
    e->ino = st->st_ino;
    e->size = st->st_size;
    e->mtime = st->st_mtim;
    snprintf(e->etag, sizeof e->etag, "\"%llx-%llx\"", (unsigned long long)st->st_mtim.tv_sec,
             (unsigned long long)st->st_size);
    http_date(e->lastmod, sizeof e->lastmod, st->st_mtim.tv_sec);
    e->type = http_mime(file, h->mime, h->nmime, &e->text);
}

static int same_file(const centry *e, const struct stat *st)
{
    return e->dev == st->st_dev && e->ino == st->st_ino && e->size == st->st_size &&
           e->mtime.tv_sec == st->st_mtim.tv_sec && e->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* Store a small regular file's content under key; fd stays the caller's. */
static centry *cache_store(hs *h, const char *key, const char *file, int fd, const struct stat *st)
{
    if (h->cache_valid <= 0 || h->cache_max_entries <= 0 || st->st_size > h->cache_max_file)
        return NULL;
    nc_shared *body = nc_shared_new(NULL, (size_t)st->st_size);
    if (!body)
        return NULL;
    size_t got = 0;
    while (got < (size_t)st->st_size) {
        ssize_t n = pread(fd, nc_shared_data(body) + got, (size_t)st->st_size - got, (off_t)got);
        if (n <= 0) {
            nc_shared_release(body);
            return NULL; /* changed under us: serve it uncached */
        }
        got += (size_t)n;
    }
    centry *e = calloc(1, sizeof *e);
    if (!e || !(e->key = strdup(key)) || !(e->file = strdup(file))) {
        if (e)
            free(e->key);
        free(e);
        nc_shared_release(body);
        return NULL;
    }
    set_meta(h, e, st, file);
    e->body = body;
    e->checked = nc_now_ms();
    while (h->centries >= (size_t)h->cache_max_entries && h->lru_head)
        cache_unlink(h, h->lru_head); // NOLINT(clang-analyzer-unix.Malloc): e is not on the list yet
    size_t b = chash(key) & (h->cbuckets - 1);
    e->hnext = h->ctab[b];
    h->ctab[b] = e;
    e->prev = h->lru_tail;
    if (h->lru_tail)
        h->lru_tail->next = e;
    else
        h->lru_head = e;
    h->lru_tail = e;
    h->centries++;
    return e;
}

/* ---- responses ---- */

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 412: return "Precondition Failed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

typedef struct resp {
    hs *h;
    nc_conn *c;
    const http_req *r;
    int head_only;
    int keep;
    int status;
    unsigned long long sent; /* body bytes, for the log */
    nc_sb hb;                /* the response head being built (head_begin .. head_send) */
    char hbuf[2048];         /* where hb starts; it moves to the heap beyond */
} resp;

static void count_status(hs *h, int status)
{
    uint64_t *k = status < 300 ? h->c_2xx : status < 400 ? h->c_3xx : status < 500 ? h->c_4xx : h->c_5xx;
    if (k)
        (*k)++;
}

/* Start a response head in x->hb: the status line and the headers every
 * response has.  The caller appends its own header lines (each ending in
 * CRLF) to x->hb, then calls head_send. */
/* Appends a decimal number.  The head of every response is built from
 * puts and this instead of printf: formatting was ~3% of a worker's CPU
 * serving 1 KiB files (perf, 500 keep-alive connections). */
static void sb_num(nc_sb *sb, long long v)
{
    char d[24];
    size_t i = sizeof d;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do
        d[--i] = (char)('0' + u % 10);
    while ((u /= 10) && i > 1);
    if (v < 0)
        d[--i] = '-';
    nc_sb_append(sb, d + i, sizeof d - i);
}

static void head_begin(resp *x, int status)
{
    hs *h = x->h;
    x->status = status;
    nc_sb_init_grow(&x->hb, x->hbuf, sizeof x->hbuf, HEAD_MAX);
    nc_sb_puts(&x->hb, "HTTP/1.1 ");
    sb_num(&x->hb, status);
    nc_sb_putc(&x->hb, ' ');
    nc_sb_puts(&x->hb, reason(status));
    if (h->server[0]) {
        nc_sb_puts(&x->hb, "\r\nServer: ");
        nc_sb_puts(&x->hb, h->server);
    }
    nc_sb_puts(&x->hb, "\r\nDate: ");
    nc_sb_puts(&x->hb, h->date);
    nc_sb_puts(&x->hb, "\r\n");
}

/* Finish the head (Connection, the blank line) and queue it.  Returns 0;
 * or -1 when it did not fit in HEAD_MAX (or memory), in which case a bare
 * 500 went out instead, the connection is to close, and the caller sends no
 * body: a head is sent whole or not at all. */
static int head_send(resp *x)
{
    if (!x->keep)
        nc_sb_puts(&x->hb, "Connection: close\r\n");
    else if (x->r && x->r->minor == 0)
        nc_sb_puts(&x->hb, "Connection: keep-alive\r\n");
    nc_sb_puts(&x->hb, "\r\n");
    int ok = !nc_sb_truncated(&x->hb);
    if (ok) {
        nc_send(x->c, x->hb.buf, x->hb.len);
    } else {
        static const char fail[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                                   "Connection: close\r\n\r\n";
        nc_send(x->c, fail, sizeof fail - 1);
        x->status = 500;
        x->keep = 0;
    }
    nc_sb_free(&x->hb);
    return ok ? 0 : -1;
}

/* A small HTML error page; `extra` is more header lines (each ending in
 * CRLF) or "". */
static void error_page(resp *x, int status, const char *extra)
{
    char body[256];
    int bl = snprintf(body, sizeof body,
                      "<!DOCTYPE html>\n<html><head><title>%d %s</title></head><body><h1>%d %s</h1></body></html>\n",
                      status, reason(status), status, reason(status));
    head_begin(x, status);
    nc_sb_puts(&x->hb, extra);
    nc_sb_printf(&x->hb, "Content-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n", bl);
    if (head_send(x) == 0 && !x->head_only) {
        nc_send(x->c, body, (size_t)bl);
        x->sent = (unsigned long long)bl;
    }
}

/* One line per 10 s at most, with how many were left out since the last. */
static int log_allowed(uint64_t *at, unsigned *dropped)
{
    uint64_t now = nc_now_ms();
    if (*at && now - *at < 10000) {
        (*dropped)++;
        return 0;
    }
    *at = now;
    return 1;
}

/* Does the entity-tag list (If-Match, If-None-Match) match etag?  "*"
 * matches any; strong comparison (If-Match, RFC 9110 8.8.3.2) never matches
 * a weak tag (W/"..."), weak comparison (If-None-Match) ignores W/. */
static int etag_match(const char *list, size_t n, const char *etag, int strong)
{
    size_t el = strlen(etag), pos = 0, s, e;
    while (http_list_next(list, n, &pos, &s, &e)) {
        if (e - s == 1 && list[s] == '*')
            return 1;
        int weak = e - s > 2 && list[s] == 'W' && list[s + 1] == '/';
        if (weak)
            s += 2;
        if (e - s == el && memcmp(list + s, etag, el) == 0 && !(weak && strong))
            return 1;
    }
    return 0;
}

/* The preconditions of RFC 9110 13.2.2, in its order, for GET and HEAD:
 * If-Match (else If-Unmodified-Since) false: 412; If-None-Match (else
 * If-Modified-Since) false: 304.  A date that does not parse makes its
 * header ignored (13.1.3, 13.1.4).  Returns 0 to go on, or the status. */
static int preconditions(const http_req *r, const centry *e)
{
    time_t t;
    if (r->im) {
        if (!etag_match(r->im, r->im_len, e->etag, 1))
            return 412;
    } else if (r->ius && parse_http_date(r->ius, r->ius_len, &t) == 0 && e->mtime.tv_sec > t) {
        return 412;
    }
    if (r->inm) {
        if (etag_match(r->inm, r->inm_len, e->etag, 0))
            return 304;
    } else if (r->ims && parse_http_date(r->ims, r->ims_len, &t) == 0 && e->mtime.tv_sec <= t) {
        return 304;
    }
    return 0;
}

/* If-Range (RFC 9110 13.1.5): does the validator match, so that Range
 * applies?  An entity tag by strong comparison; an HTTP-date when it is
 * exactly the Last-Modified and that is strong (at least a second before
 * the response's Date), since a file changed twice within a second would
 * keep its date.  No If-Range: yes. */
static int if_range_ok(const hs *h, const http_req *r, const centry *e)
{
    if (!r->if_range)
        return 1;
    const char *v = r->if_range;
    size_t n = r->if_range_len;
    if (n && (v[0] == '"' || (n > 1 && v[0] == 'W' && v[1] == '/')))
        return v[0] == '"' && n == strlen(e->etag) && memcmp(v, e->etag, n) == 0;
    time_t t;
    return parse_http_date(v, n, &t) == 0 && t == e->mtime.tv_sec && e->mtime.tv_sec < h->date_sec;
}

typedef struct brange {
    long long from, to; /* inclusive, within the file */
} brange;

/* A range-spec "a-b", "a-" or "-n" at v[0..n) (whitespace trimmed).
 * Returns 1 satisfiable (out set), 0 unsatisfiable, -1 invalid. */
static int range_spec(const char *v, size_t n, long long size, brange *out)
{
    while (n && (*v == ' ' || *v == '\t'))
        v++, n--;
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    const char *dash = memchr(v, '-', n);
    if (!dash)
        return -1;
    long long a = -1, b = -1;
    for (const char *p = v; p < dash; p++) {
        if (*p < '0' || *p > '9' || a > (LLONG_MAX - 9) / 10)
            return -1;
        a = (a < 0 ? 0 : a * 10) + (*p - '0');
    }
    for (const char *p = dash + 1; p < v + n; p++) {
        if (*p < '0' || *p > '9' || b > (LLONG_MAX - 9) / 10)
            return -1;
        b = (b < 0 ? 0 : b * 10) + (*p - '0');
    }
    if (a < 0 && b < 0)
        return -1;
    if (a < 0) { /* suffix: the last b bytes */
        if (b == 0 || size == 0)
            return 0;
        out->from = b >= size ? 0 : size - b;
        out->to = size - 1;
        return 1;
    }
    if (b >= 0 && b < a)
        return -1;
    if (a >= size)
        return 0;
    out->from = a;
    out->to = b < 0 || b >= size ? size - 1 : b;
    return 1;
}

enum { RANGES_IGNORE = 0, RANGES_UNSATISFIABLE = -1, RANGES_REFUSED = -2 };

/* Parse "bytes=spec, spec, ..." (RFC 9110 14.1.2) against size.  Returns
 * the number of satisfiable ranges (in out, in the order asked); 0
 * (RANGES_IGNORE) for a header to ignore (another unit, an invalid spec);
 * RANGES_UNSATISFIABLE when no range is satisfiable; RANGES_REFUSED when
 * it asks for more than max ranges or for more bytes in all than the file
 * has (overlap: the amplification nginx and Apache had), which is answered
 * as if there were no Range, like nginx's max_ranges. */
static int parse_ranges(const char *v, size_t n, long long size, brange *out, int max)
{
    if (!v || n < 6 || strncasecmp(v, "bytes=", 6) != 0)
        return RANGES_IGNORE;
    v += 6;
    n -= 6;
    int count = 0, specs = 0;
    long long total = 0;
    size_t i = 0;
    while (i <= n) {
        size_t e = i;
        while (e < n && v[e] != ',')
            e++;
        size_t s = i;
        while (s < e && (v[s] == ' ' || v[s] == '\t'))
            s++;
        if (s < e) { /* empty list elements are allowed (RFC 9110 5.6.1) */
            if (++specs > max)
                return RANGES_REFUSED;
            brange br;
            int k = range_spec(v + s, e - s, size, &br);
            if (k < 0)
                return RANGES_IGNORE;
            if (k > 0) {
                total += br.to - br.from + 1;
                if (total > size)
                    return RANGES_REFUSED;
                out[count++] = br;
            }
        }
        i = e + 1;
    }
    if (!specs)
        return RANGES_IGNORE;
    return count ? count : RANGES_UNSATISFIABLE;
}

/* A Range answered as if absent because of max_ranges or overlap. */
static void ranges_refused(resp *x)
{
    hs *h = x->h;
    if (h->c_ranges_refused)
        (*h->c_ranges_refused)++;
    if (log_allowed(&h->ranges_log_at, &h->ranges_log_dropped)) {
        nc_log_conn(x->c, NC_LOG_INFO,
                    "Range with more than max_ranges (%lld) ranges or more bytes than the file: "
                    "answered 200 with the whole file (%u more since the last line)",
                    h->max_ranges, h->ranges_log_dropped);
        h->ranges_log_dropped = 0;
    }
}

/* Queue bytes [from, to] of the file: from the cache entry's memory, or
 * as a file region of fd (own: the core closes fd after this region). */
static void send_part(resp *x, const centry *e, int fd, long long from, long long to, int own)
{
    size_t len = (size_t)(to - from + 1);
    if (e->body)
        nc_send(x->c, nc_shared_data(e->body) + from, len);
    else
        nc_sendfile(x->c, fd, (off_t)from, len, own ? NC_FILE_OWN : 0);
}

/* 206 with multipart/byteranges (RFC 9110 14.6): one part per range, in
 * the order asked, each with its Content-Type and Content-Range.  The
 * part heads are built first, so Content-Length is exact. */
static void send_multipart(resp *x, const centry *e, int fd, const brange *br, int count)
{
    char bound[40];
    static unsigned serial;
    /* Not in the content, in practice: the file's identity, the time and a counter. */
    snprintf(bound, sizeof bound, "%016llx%08x", (unsigned long long)e->ino ^ (unsigned long long)e->size << 20,
             (unsigned)nc_now_ms() ^ ++serial * 2654435761u);
    nc_sb parts;
    nc_sb_init_grow(&parts, NULL, 0, HEAD_MAX);
    size_t at[MAX_RANGES + 1];
    long long total = 0;
    for (int i = 0; i < count; i++) {
        at[i] = parts.len;
        nc_sb_printf(&parts, "%s--%s\r\nContent-Type: %s%s\r\nContent-Range: bytes %lld-%lld/%lld\r\n\r\n",
                     i ? "\r\n" : "", bound, e->type, e->text ? "; charset=utf-8" : "", br[i].from, br[i].to,
                     (long long)e->size);
        total += br[i].to - br[i].from + 1;
    }
    at[count] = parts.len;
    nc_sb_printf(&parts, "\r\n--%s--\r\n", bound);
    total += (long long)parts.len;
    head_begin(x, 206);
    nc_sb_printf(&x->hb,
                 "Content-Type: multipart/byteranges; boundary=%s\r\nContent-Length: %lld\r\n"
                 "Last-Modified: %s\r\nETag: %s\r\nAccept-Ranges: bytes\r\n",
                 bound, total, e->lastmod, e->etag);
    int gave = 0; /* fd went to the core with the last part */
    if (nc_sb_truncated(&parts)) {
        nc_sb_free(&x->hb); /* cannot happen (part heads are small and few); a 500 rather than a wrong body */
        error_page(x, 500, "");
    } else if (head_send(x) == 0 && !x->head_only) {
        for (int i = 0; i < count; i++) {
            nc_send(x->c, parts.buf + at[i], at[i + 1] - at[i]);
            /* one descriptor for all the parts: the core closes it after the last */
            send_part(x, e, fd, br[i].from, br[i].to, i == count - 1);
        }
        nc_send(x->c, parts.buf + at[count], parts.len - at[count]);
        x->sent = (unsigned long long)total;
        gave = !e->body;
    }
    if (!gave && fd >= 0)
        close(fd);
    nc_sb_free(&parts);
}

/* Answer with a regular file: from the cache entry e (content in memory) or
 * from fd (sent with sendfile; the core takes the descriptor). */
static void send_file(resp *x, const centry *e, int fd)
{
    const http_req *r = x->r;
    int pre = preconditions(r, e);
    if (pre == 304) {
        head_begin(x, 304);
        nc_sb_printf(&x->hb, "ETag: %s\r\nLast-Modified: %s\r\n", e->etag, e->lastmod);
        head_send(x);
    } else if (pre == 412) {
        error_page(x, 412, "");
    }
    if (pre) {
        if (fd >= 0)
            close(fd);
        return;
    }
    long long size = (long long)e->size;
    brange br[MAX_RANGES];
    int rr = r->range && if_range_ok(x->h, r, e)
                 ? parse_ranges(r->range, r->range_len, size, br, (int)x->h->max_ranges)
                 : RANGES_IGNORE;
    if (rr == RANGES_REFUSED) {
        ranges_refused(x);
        rr = RANGES_IGNORE;
    }
    if (rr == RANGES_UNSATISFIABLE) {
        char more[64];
        snprintf(more, sizeof more, "Content-Range: bytes */%lld\r\n", size);
        if (fd >= 0)
            close(fd);
        error_page(x, 416, more);
        return;
    }
    if (rr > 1) {
        send_multipart(x, e, fd, br, rr);
        return;
    }
    long long from = rr ? br[0].from : 0, to = rr ? br[0].to : size - 1;
    long long len = to - from + 1;
    head_begin(x, rr ? 206 : 200);
    nc_sb_puts(&x->hb, "Content-Type: ");
    nc_sb_puts(&x->hb, e->type);
    if (e->text)
        nc_sb_puts(&x->hb, "; charset=utf-8");
    nc_sb_puts(&x->hb, "\r\nContent-Length: ");
    sb_num(&x->hb, len);
    nc_sb_puts(&x->hb, "\r\nLast-Modified: ");
    nc_sb_puts(&x->hb, e->lastmod);
    nc_sb_puts(&x->hb, "\r\nETag: ");
    nc_sb_puts(&x->hb, e->etag);
    nc_sb_puts(&x->hb, "\r\nAccept-Ranges: bytes\r\n");
    if (rr)
        nc_sb_printf(&x->hb, "Content-Range: bytes %lld-%lld/%lld\r\n", from, to, size);
    if (head_send(x) < 0 || x->head_only || len == 0) {
        if (fd >= 0)
            close(fd);
        return;
    }
    x->sent = (unsigned long long)len;
    if (e->body && !rr) {
        nc_send_shared(x->c, e->body);
    } else {
        send_part(x, e, fd, from, to, 1);
        if (!e->body)
            fd = -1; /* the core's now */
    }
    if (fd >= 0)
        close(fd);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* The names in a folder, sorted; NULL (and errno) when it cannot be read
 * whole: a listing is complete or not sent. */
static char **read_names(int dirfd, size_t *count)
{
    int fd = dup(dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    rewinddir(d); /* a dup shares the directory offset */
    /* Allocated before the first name: an empty folder is an empty array,
     * not NULL, which means failure. */
    size_t n = 0, cap = 64;
    char **names = malloc(cap * sizeof *names);
    if (!names) {
        closedir(d);
        return NULL;
    }
    struct dirent *de;
    int failed = 0;
    errno = 0;
    while (!failed && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (n == cap) {
            cap *= 2;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                failed = 1;
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(de->d_name)))
            failed = 1;
        else
            n++;
    }
    if (errno)
        failed = 1; /* readdir's error, or ENOMEM from above */
    closedir(d);
    if (failed) {
        free_names(names, n);
        return NULL;
    }
    if (n)
        qsort(names, n, sizeof *names, cmp_names); /* qsort(NULL, 0) is undefined */
    *count = n;
    return names;
}

/* The autoindex page of the folder dirfd (rel is its path, "" the root):
 * built whole in a growable buffer up to autoindex_max_bytes; a folder whose
 * page would be larger gets 500, never a cut page. */
static void listing(resp *x, int dirfd, const char *rel)
{
    hs *h = x->h;
    size_t n = 0;
    char **names = read_names(dirfd, &n);
    if (!names) {
        nc_log_conn(x->c, NC_LOG_ERROR, "reading the folder /%s for its listing: %s", rel, strerror(errno));
        error_page(x, 500, "");
        return;
    }
    nc_sb b;
    nc_sb_init_grow(&b, NULL, 0, (size_t)h->max_listing);
    char title[4200];
    nc_sb t;
    nc_sb_init(&t, title, sizeof title);
    nc_sb_putc(&t, '/');
    nc_sb_puts(&t, rel);
    if (rel[0])
        nc_sb_putc(&t, '/');
    nc_sb_puts(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ");
    nc_sb_html(&b, title, t.len);
    nc_sb_puts(&b, "</title></head>\n<body><h1>Index of ");
    nc_sb_html(&b, title, t.len);
    nc_sb_puts(&b, "</h1><table>\n<tr><th>Name</th><th>Size</th><th>Modified</th></tr>\n"
                   "<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n");
    for (size_t i = 0; i < n && !nc_sb_truncated(&b); i++) {
        struct stat st;
        if (fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue; /* gone since readdir */
        int isdir = S_ISDIR(st.st_mode);
        size_t nl = strlen(names[i]);
        char when[40];
        struct tm tm;
        gmtime_r(&st.st_mtim.tv_sec, &tm);
        strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
        nc_sb_puts(&b, "<tr><td><a href=\"");
        nc_sb_pct(&b, names[i], nl, ""); /* nothing but unreserved: safe inside the attribute too */
        nc_sb_puts(&b, isdir ? "/\">" : "\">");
        nc_sb_html(&b, names[i], nl);
        if (isdir)
            nc_sb_printf(&b, "/</a></td><td>-</td><td>%s</td></tr>\n", when);
        else
            nc_sb_printf(&b, "</a></td><td>%lld</td><td>%s</td></tr>\n", (long long)st.st_size, when);
    }
    nc_sb_puts(&b, "</table></body></html>\n");
    free_names(names, n);
    if (nc_sb_truncated(&b)) {
        if (h->c_listing_limit)
            (*h->c_listing_limit)++;
        if (log_allowed(&h->listing_log_at, &h->listing_log_dropped)) {
            nc_log_conn(x->c, NC_LOG_WARN,
                        "listing of /%s (%zu names) is over autoindex_max_bytes (%lld) or out of memory: "
                        "answered 500 (%u more since the last line)",
                        rel, n, h->max_listing, h->listing_log_dropped);
            h->listing_log_dropped = 0;
        }
        nc_sb_free(&b);
        error_page(x, 500, "");
        return;
    }
    head_begin(x, 200);
    nc_sb_printf(&x->hb, "Content-Type: text/html; charset=utf-8\r\nContent-Length: %zu\r\n", b.len);
    if (head_send(x) == 0 && !x->head_only) {
        nc_send(x->c, b.buf, b.len);
        x->sent = b.len;
    }
    nc_sb_free(&b);
}

static int errno_status(int e)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG:
        return 404;
    case EACCES:
    case EPERM:
    case EXDEV: /* a symlink leading out of the root */
    case ELOOP:
        return 403;
    default:
        return 500;
    }
}

/* 301 from a folder named without its trailing slash to the same with it.
 * The Location is built from the resolved path (never the raw target, so
 * "//evil.example/../docs" leads to "/docs/", not to another host), with
 * every byte a URI may not hold percent-encoded, and the client's query
 * kept. */
static void redirect_slash(resp *x, const char *rel, const char *query, size_t qlen)
{
    char lbuf[1024];
    nc_sb loc;
    nc_sb_init_grow(&loc, lbuf, sizeof lbuf, HEAD_MAX);
    nc_sb_puts(&loc, "Location: /");
    nc_sb_pct(&loc, rel, strlen(rel), PATH_KEEP);
    nc_sb_putc(&loc, '/');
    if (query) {
        nc_sb_putc(&loc, '?');
        nc_sb_pct(&loc, query, qlen, QUERY_KEEP);
    }
    nc_sb_puts(&loc, "\r\n");
    if (nc_sb_truncated(&loc))
        error_page(x, 500, "");
    else
        error_page(x, 301, nc_sb_str(&loc));
    nc_sb_free(&loc);
}

static void serve(resp *x)
{
    hs *h = x->h;
    const http_req *r = x->r;
    char rel[4096], key[4100];
    int dir_slash;
    const char *query;
    size_t qlen;
    if (http_path(r->target, r->target_len, rel, sizeof rel, &dir_slash, &query, &qlen) < 0) {
        x->keep = 0;
        error_page(x, 400, "");
        return;
    }
    snprintf(key, sizeof key, "%s%s", rel, dir_slash && rel[0] ? "/" : "");
    centry *e = h->cache_valid > 0 ? cache_find(h, key) : NULL;
    if (e && nc_now_ms() - e->checked < (uint64_t)h->cache_valid) {
        if (h->c_cache_hits)
            (*h->c_cache_hits)++;
        cache_touch(h, e);
        send_file(x, e, -1);
        return;
    }
    int fd = open_beneath(h, rel);
    if (fd < 0) {
        if (e)
            cache_unlink(h, e);
        error_page(x, errno_status(errno), "");
        return;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        error_page(x, 500, "");
        return;
    }
    const char *file = rel;
    char filebuf[4200];
    if (S_ISDIR(st.st_mode)) {
        if (!dir_slash) {
            close(fd);
            redirect_slash(x, rel, query, qlen);
            return;
        }
        nc_sb fb;
        nc_sb_init(&fb, filebuf, sizeof filebuf);
        nc_sb_printf(&fb, "%s%s%s", rel, rel[0] ? "/" : "", h->index);
        int ifd = nc_sb_truncated(&fb) ? -1 : open_beneath(h, filebuf);
        struct stat ist;
        if (ifd >= 0 && fstat(ifd, &ist) == 0 && S_ISREG(ist.st_mode)) {
            file = filebuf;
            close(fd);
            fd = ifd;
            st = ist;
        } else {
            if (ifd >= 0)
                close(ifd);
            if (h->autoindex) {
                listing(x, fd, rel);
            } else {
                error_page(x, 403, "");
            }
            close(fd);
            return;
        }
    } else if (dir_slash && rel[0]) {
        close(fd); /* "file.txt/" */
        error_page(x, 404, "");
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        error_page(x, 403, ""); /* FIFOs, devices, sockets */
        return;
    }
    if (e && same_file(e, &st)) {
        e->checked = nc_now_ms();
        cache_touch(h, e);
        close(fd);
        send_file(x, e, -1);
        return;
    }
    if (e)
        cache_unlink(h, e);
    centry *ne = cache_store(h, key, file, fd, &st);
    if (ne) {
        close(fd);
        send_file(x, ne, -1);
        return;
    }
    centry tmp = {0};
    set_meta(h, &tmp, &st, file);
    send_file(x, &tmp, fd);
}

/* ---- connection hooks ---- */

static int hs_accept(nc_conn *c)
{
    hs *h = nc_listener_instance(nc_conn_listener(c));
    hconn *hc = calloc(1, sizeof *hc);
    if (!hc)
        return -1;
    hc->c = c;
    hc->h = h;
    nc_list_init(&hc->node);
    nc_conn_set_data(c, hc);
    list_add(h, hc, L_WAIT); /* the first request's head is due within header_timeout_ms */
    return 0;
}

static void hs_close(nc_conn *c)
{
    hconn *hc = nc_conn_data(c);
    list_del(hc);
    free(hc);
}

static void hs_writable(nc_conn *c)
{
    hconn *hc = nc_conn_data(c);
    if (hc->paused) {
        hc->paused = 0;
        nc_conn_resume(c);
    }
}

static ssize_t hs_data(nc_conn *c, const char *data, size_t len)
{
    hconn *hc = nc_conn_data(c);
    hs *h = hc->h;
    if (hc->discard > 0) {
        size_t take = len < (size_t)hc->discard ? len : (size_t)hc->discard;
        hc->discard -= (long long)take;
        return (ssize_t)take;
    }
    if (nc_conn_queued(c) > PIPELINE_QUEUE_MAX) {
        /* Pipelined requests wait until the responses before them drain. */
        hc->paused = 1;
        nc_conn_pause(c);
        return 0;
    }
    if (hc->list == L_IDLE)
        list_add(h, hc, L_WAIT); /* the next request has begun */
    http_req r;
    long n = http_parse(data, len, &hc->scan, (size_t)h->max_line, (size_t)h->max_head, &r);
    if (n == 0)
        return 0;
    refresh_time(h);
    resp x = {.h = h, .c = c, .r = n > 0 ? &r : NULL, .keep = 1};
    if (h->c_requests)
        (*h->c_requests)++;
    list_del(hc);
    hc->scan = 0;
    if (n < 0) {
        x.keep = 0;
        error_page(&x, (int)-n, "");
        count_status(h, x.status);
        access_log(h, c, NULL, x.status, x.sent);
        nc_close(c, NC_CLOSE_FLUSH);
        return (ssize_t)len;
    }
    x.keep = r.minor >= 1 ? !r.conn_close : r.conn_keepalive;
    if (nc_draining())
        x.keep = 0; /* a reload is under way: this answer is the connection's last */
    int is_get = r.method_len == 3 && memcmp(r.method, "GET", 3) == 0;
    int is_head = r.method_len == 4 && memcmp(r.method, "HEAD", 4) == 0;
    x.head_only = is_head;
    if (r.chunked) {
        x.keep = 0; /* cannot find the end of a chunked body without reading it: close */
        error_page(&x, 400, "");
    } else if (r.content_length > h->max_body) {
        x.keep = 0;
        error_page(&x, 413, "");
    } else if (r.minor >= 1 && !r.has_host) {
        x.keep = 0;
        error_page(&x, 400, "");
    } else if (!is_get && !is_head) {
        error_page(&x, 405, "Allow: GET, HEAD\r\n");
    } else {
        serve(&x);
    }
    count_status(h, x.status);
    access_log(h, c, &r, x.status, x.sent);
    if (!x.keep) {
        nc_close(c, NC_CLOSE_FLUSH);
        return (ssize_t)len;
    }
    if (r.content_length > 0)
        hc->discard = r.content_length; /* read and dropped: the stream stays in step */
    list_add(h, hc, L_IDLE);
    return n;
}

NC_MODULE_DEFINE = {
    NC_MODULE_HEADER,
    .flags = NC_MOD_STREAM,
    .name = "http-static",
    .version = "1.0.0",
    .description = "static HTTP/1.1 file server",
    .init = hs_init,
    .fini = hs_fini,
    .on_listen = hs_listen,
    .on_accept = hs_accept,
    .on_data = hs_data,
    .on_writable = hs_writable,
    .on_close = hs_close,
    .on_reopen = hs_reopen,
};
