/* test_http.c -- the http-static module against the real process: every
 * status, keep-alive and pipelining, one-byte segmentation, HEAD, ranges,
 * conditional requests, MIME types, 30+ traversal attempts, request bodies,
 * slowloris, autoindex, symlinks, the access log, a 1 GiB sparse download
 * with memory flat, and curl, python's http.client and headless Chromium as
 * peers. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "netcore/strbuf.h"
#include "suites.h"

static t_proc *P;
static int web, webnc, demo;
static char root[256], access_path[300], demo_log[300];

static void put(const char *rel, const char *content, size_t n)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    FILE *f = fopen(p, "wb");
    fwrite(content, 1, n, f);
    fclose(f);
}

static int setup(void)
{
    snprintf(root, sizeof root, "%s/www", t_tmpdir());
    char p[512];
    mkdir(root, 0755);
    snprintf(p, sizeof p, "%s/sub", root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/noindex", root);
    mkdir(p, 0755);
    put("index.html", "<html>home</html>\n", 18);
    put("hello.txt", "hello world\n", 12);
    put("sub/index.html", "sub index\n", 10);
    put("noindex/<b>&.txt", "x", 1);
    put("app.js", "1;", 2);
    put("style.css", "a{}", 3);
    put("thing.xyz", "x", 1);
    put("thing.qqq", "x", 1);
    put("logo.png", "\x89PNG\r\n\x1a\n", 8);
    char data[1000];
    for (int i = 0; i < 1000; i++)
        data[i] = (char)('A' + i % 26);
    put("data.bin", data, sizeof data);
    static char big[300000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + (i * 7 + i / 1000) % 26);
    put("big.bin", big, sizeof big);
    snprintf(p, sizeof p, "%s/secret.txt", t_tmpdir());
    FILE *f = fopen(p, "w");
    fputs("TOPSECRET\n", f);
    fclose(f);
    char link[512];
    snprintf(link, sizeof link, "%s/link-out", root);
    if (symlink(p, link) < 0)
        return -1;
    snprintf(link, sizeof link, "%s/link-in", root);
    if (symlink("hello.txt", link) < 0)
        return -1;
    snprintf(link, sizeof link, "%s/link-rel-out", root);
    if (symlink("../secret.txt", link) < 0)
        return -1;
    snprintf(p, sizeof p, "%s/fifo", root);
    mkfifo(p, 0644);
    snprintf(p, sizeof p, "%s/big.sparse", root);
    f = fopen(p, "w");
    if (ftruncate(fileno(f), 1LL << 30) < 0)
        return -1;
    fclose(f);
    snprintf(access_path, sizeof access_path, "%s/access.log", t_tmpdir());
    snprintf(demo_log, sizeof demo_log, "%s/demo.log", t_tmpdir());
    char cwd[256], json[4096];
    if (!getcwd(cwd, sizeof cwd))
        return -1;
    snprintf(json, sizeof json,
             "{\"listeners\":["
             "{\"name\":\"web\",\"module\":\"http-static\",\"listen\":\"127.0.0.1:0\",\"options\":{"
             "\"root\":\"%s\",\"access_log\":\"%s\",\"header_timeout_ms\":400,\"keepalive_timeout_ms\":1500,"
             "\"max_body_bytes\":1000,\"mime_types\":{\"xyz\":\"application/x-xyz\"}}},"
             "{\"name\":\"webnc\",\"module\":\"http-static\",\"listen\":\"127.0.0.1:0\",\"options\":{"
             "\"root\":\"%s\",\"cache_valid_ms\":0,\"autoindex\":true,\"follow_symlinks\":true,\"server\":\"\"},"
             "\"write_budget_bytes\":4096},"
             "{\"name\":\"demo\",\"module\":\"http-static\",\"listen\":\"127.0.0.1:0\",\"options\":{"
             "\"root\":\"%s/conf/www\",\"access_log\":\"%s\"}}]}",
             root, access_path, root, cwd, demo_log);
    P = t_start_conf(json);
    if (!P)
        return -1;
    web = t_port(P, "web");
    webnc = t_port(P, "webnc");
    demo = t_port(P, "demo");
    return 0;
}

static int teardown(void)
{
    return t_stop(P, SIGTERM, 5000) == 0 ? 0 : -1;
}

typedef struct hres {
    int status;
    char head[8192];
    long long clen;
    char *body;
    size_t blen;
} hres;

static void hres_free(hres *r)
{
    free(r->body);
    r->body = NULL;
}

/* Read one response from c (HEAD responses have no body). */
static int read_resp(t_client *c, hres *r, int is_head)
{
    memset(r, 0, sizeof *r);
    r->clen = -1;
    for (;;) {
        char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (end) {
            size_t hl = (size_t)(end - c->buf) + 4;
            if (hl >= sizeof r->head)
                return -1;
            memcpy(r->head, c->buf, hl);
            r->head[hl] = '\0';
            memmove(c->buf, c->buf + hl, c->len - hl);
            c->len -= hl;
            break;
        }
        size_t got = t_recv_all(c->fd, c->buf + c->len, 1, 5000, NULL);
        if (got == 0)
            return -1;
        c->len += got;
    }
    sscanf(r->head, "HTTP/1.1 %d", &r->status);
    const char *cl = strcasestr(r->head, "\r\nContent-Length: ");
    if (cl)
        r->clen = atoll(cl + 18);
    size_t want = is_head || r->clen < 0 || r->status == 304 ? 0 : (size_t)r->clen;
    r->body = malloc(want + 1);
    size_t have = c->len < want ? c->len : want;
    memcpy(r->body, c->buf, have);
    memmove(c->buf, c->buf + have, c->len - have);
    c->len -= have;
    if (have < want)
        have += t_recv_exact(c->fd, r->body + have, want - have, 10000);
    r->body[have] = '\0';
    r->blen = have;
    return have == want ? 0 : -1;
}

static int req_on(t_client *c, const char *raw, hres *r)
{
    if (t_client_send(c, raw) < 0)
        return -1;
    return read_resp(c, r, strncmp(raw, "HEAD ", 5) == 0);
}

static int req(int port, const char *raw, hres *r)
{
    t_client *c = t_client_new(port);
    if (!c)
        return -1;
    int rc = req_on(c, raw, r);
    t_client_free(c);
    return rc;
}

static const char *hdr(const hres *r, const char *name)
{
    static char v[1024];
    char needle[128];
    snprintf(needle, sizeof needle, "\r\n%s: ", name);
    const char *p = strcasestr(r->head, needle);
    if (!p)
        return NULL;
    p += strlen(needle);
    size_t n = strcspn(p, "\r");
    snprintf(v, sizeof v, "%.*s", (int)n, p);
    return v;
}

#define GET(path) "GET " path " HTTP/1.1\r\nHost: t\r\nUser-Agent: netcore-test\r\n\r\n"

/* Read the next response on c; check its status and, when given, one
 * header's value and the body. */
static void expect_next(t_client *c, int status, const char *name, const char *value, const char *body)
{
    hres r;
    CU_ASSERT_EQUAL_FATAL(read_resp(c, &r, 0), 0);
    if (r.status != status)
        fprintf(stderr, "\n  want %d, got: %s\n", status, r.head);
    CU_ASSERT_EQUAL(r.status, status);
    if (name) {
        const char *v = hdr(&r, name);
        CU_ASSERT_PTR_NOT_NULL(v);
        if (v)
            CU_ASSERT_STRING_EQUAL(v, value);
    }
    if (body)
        CU_ASSERT_STRING_EQUAL(r.body, body);
    hres_free(&r);
}

/* Send raw on c, then check the response as expect_next does. */
static void expect_next_after(t_client *c, const char *raw, int status, const char *body)
{
    CU_ASSERT_EQUAL(t_client_send(c, raw), 0);
    expect_next(c, status, NULL, NULL, body);
}

static void test_basic(void)
{
    hres r;
    CU_ASSERT_EQUAL_FATAL(req(web, GET("/"), &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(r.body, "<html>home</html>\n");
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Content-Type"), "text/html; charset=utf-8");
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Content-Length"), "18");
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Server"), "netcore");
    CU_ASSERT_PTR_NOT_NULL(hdr(&r, "Date"));
    CU_ASSERT_PTR_NOT_NULL(hdr(&r, "Last-Modified"));
    CU_ASSERT_PTR_NOT_NULL(hdr(&r, "ETag"));
    hres_free(&r);
    CU_ASSERT_EQUAL(req(webnc, GET("/hello.txt"), &r), 0);
    CU_ASSERT_STRING_EQUAL(r.body, "hello world\n");
    CU_ASSERT_PTR_NULL(hdr(&r, "Server")); /* "server": "" hides it */
    hres_free(&r);
}

static void test_statuses(void)
{
    static const struct {
        const char *raw;
        int status;
        const char *header, *value; /* optional */
    } cases[] = {
        {GET("/nope"), 404, NULL, NULL},
        {GET("/noindex/"), 403, NULL, NULL},
        {GET("/sub"), 301, "Location", "/sub/"},
        {GET("/sub?x=1"), 301, "Location", "/sub/?x=1"},
        {GET("/sub/"), 200, NULL, NULL},
        {GET("/hello.txt/"), 404, NULL, NULL},
        {"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc", 405, "Allow", "GET, HEAD"},
        {"DELETE /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n", 405, "Allow", "GET, HEAD"},
        {"GET / HTTP/1.1\r\n\r\n", 400, "Connection", "close"},
        {"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505, NULL, NULL},
        {"GET /../hello.txt HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL, NULL},
        {GET("/link-out"), 403, NULL, NULL},
        {GET("/link-rel-out"), 403, NULL, NULL},
        {GET("/link-in"), 200, NULL, NULL},
        {GET("/fifo"), 403, NULL, NULL},
        {"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n", 413, NULL, NULL},
        {"GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "Connection", "close"},
        {"GET /data.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=1000-\r\n\r\n", 416, "Content-Range", "bytes */1000"},
        {"GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n", 400, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hres r;
        int rc = req(web, cases[i].raw, &r);
        CU_ASSERT_EQUAL(rc, 0);
        if (r.status != cases[i].status)
            fprintf(stderr, "\n  case %zu: want %d, got %d\n", i, cases[i].status, r.status);
        CU_ASSERT_EQUAL(r.status, cases[i].status);
        if (cases[i].header) {
            const char *v = hdr(&r, cases[i].header);
            CU_ASSERT_PTR_NOT_NULL(v);
            if (v)
                CU_ASSERT_STRING_EQUAL(v, cases[i].value);
        }
        if (cases[i].status >= 400) {
            T_ASSERT_STR_CONTAINS(r.body, "</h1></body></html>");
            CU_ASSERT_STRING_EQUAL(hdr(&r, "Content-Type"), "text/html; charset=utf-8");
        }
        hres_free(&r);
    }
    /* 414 and 431 */
    char big[20000];
    hres r;
    snprintf(big, sizeof big, "GET /%0*d HTTP/1.1\r\nHost: t\r\n\r\n", 9000, 0);
    CU_ASSERT_EQUAL(req(web, big, &r), 0);
    CU_ASSERT_EQUAL(r.status, 414);
    hres_free(&r);
    nc_sb sb;
    nc_sb_init(&sb, big, sizeof big);
    nc_sb_puts(&sb, "GET / HTTP/1.1\r\nHost: t\r\n");
    for (int i = 0; i < 300; i++)
        nc_sb_printf(&sb, "X-H%d: 0123456789012345678901234567890\r\n", i);
    nc_sb_puts(&sb, "\r\n");
    CU_ASSERT(!nc_sb_truncated(&sb));
    CU_ASSERT_EQUAL(req(web, big, &r), 0);
    CU_ASSERT_EQUAL(r.status, 431);
    hres_free(&r);
}

static void test_conditional_ranges_head(void)
{
    int ports[2] = {web, webnc}; /* the cached path and the sendfile path */
    for (int pi = 0; pi < 2; pi++) {
        hres r;
        char raw[512], etag[64], lm[64];
        CU_ASSERT_EQUAL_FATAL(req(ports[pi], GET("/data.bin"), &r), 0);
        snprintf(etag, sizeof etag, "%s", hdr(&r, "ETag"));
        snprintf(lm, sizeof lm, "%s", hdr(&r, "Last-Modified"));
        CU_ASSERT_EQUAL(r.blen, 1000);
        CU_ASSERT_STRING_EQUAL(hdr(&r, "Accept-Ranges"), "bytes");
        hres_free(&r);
        enum { ETAG, LM, NONE };
        static const struct {
            const char *h;
            int what, status;
        } cond[] = {{"If-None-Match: ", ETAG, 304}, {"If-None-Match: \"other\", ", ETAG, 304},
                    {"If-None-Match: W/", ETAG, 304}, {"If-None-Match: \"other\"", NONE, 200},
                    {"If-Modified-Since: ", LM, 304}, {"If-None-Match: *", NONE, 304}};
        for (size_t i = 0; i < sizeof cond / sizeof cond[0]; i++) {
            char line[200];
            const char *arg = cond[i].what == LM ? lm : cond[i].what == ETAG ? etag : "";
            snprintf(line, sizeof line, "%s%s", cond[i].h, arg);
            snprintf(raw, sizeof raw, "GET /data.bin HTTP/1.1\r\nHost: t\r\n%s\r\n\r\n", line);
            CU_ASSERT_EQUAL(req(ports[pi], raw, &r), 0);
            if (r.status != cond[i].status)
                fprintf(stderr, "\n  %s: want %d got %d\n", line, cond[i].status, r.status);
            CU_ASSERT_EQUAL(r.status, cond[i].status);
            if (r.status == 304) {
                CU_ASSERT_EQUAL(r.blen, 0);
                CU_ASSERT_STRING_EQUAL(hdr(&r, "ETag"), etag);
            }
            hres_free(&r);
        }
        CU_ASSERT_EQUAL(req(ports[pi], "GET /data.bin HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: Thu, 01 Jan 1970 00:00:01 GMT\r\n\r\n", &r), 0);
        CU_ASSERT_EQUAL(r.status, 200);
        hres_free(&r);
        static const struct {
            const char *range, *content_range, *body;
        } ranges[] = {{"bytes=0-9", "bytes 0-9/1000", "ABCDEFGHIJ"},
                      {"bytes=990-", "bytes 990-999/1000", "CDEFGHIJKL"},
                      {"bytes=-5", "bytes 995-999/1000", "HIJKL"},
                      {"bytes=26-27", "bytes 26-27/1000", "AB"},
                      {"bytes=998-5000", "bytes 998-999/1000", "KL"}};
        for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
            snprintf(raw, sizeof raw, "GET /data.bin HTTP/1.1\r\nHost: t\r\nRange: %s\r\n\r\n", ranges[i].range);
            CU_ASSERT_EQUAL(req(ports[pi], raw, &r), 0);
            CU_ASSERT_EQUAL(r.status, 206);
            CU_ASSERT_STRING_EQUAL(hdr(&r, "Content-Range"), ranges[i].content_range);
            CU_ASSERT_STRING_EQUAL(r.body, ranges[i].body);
            hres_free(&r);
        }
        /* a stale If-Range: the whole file */
        CU_ASSERT_EQUAL(req(ports[pi], "GET /data.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=0-1\r\nIf-Range: \"stale\"\r\n\r\n", &r), 0);
        CU_ASSERT_EQUAL(r.status, 200);
        hres_free(&r);
        /* HEAD: the headers of a GET, no body; the next response is intact. */
        t_client *c = t_client_new(ports[pi]);
        CU_ASSERT_EQUAL(req_on(c, "HEAD /data.bin HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
        CU_ASSERT_EQUAL(r.status, 200);
        CU_ASSERT_STRING_EQUAL(hdr(&r, "Content-Length"), "1000");
        hres_free(&r);
        CU_ASSERT_EQUAL(req_on(c, GET("/hello.txt"), &r), 0);
        CU_ASSERT_STRING_EQUAL(r.body, "hello world\n");
        hres_free(&r);
        t_client_free(c);
    }
}

static void set_mtime(const char *rel, time_t t)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    struct timespec ts[2] = {{t, 0}, {t, 0}};
    CU_ASSERT_EQUAL(utimensat(AT_FDCWD, p, ts, 0), 0);
}

/* GET path with extra header lines (each ending in CRLF) on port. */
static int get_with(int port, const char *path, const char *extra, hres *r)
{
    char raw[4096];
    snprintf(raw, sizeof raw, "GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n", path, extra);
    return req(port, raw, r);
}

/* RFC 9110 13.1.1 If-Match, 13.1.4 If-Unmodified-Since (412), 13.1.5
 * If-Range with an entity tag or an HTTP-date, evaluated in 13.2.2's
 * order, on the cached and the sendfile paths.  Before, If-Match and
 * If-Unmodified-Since were never evaluated and a date in If-Range never
 * matched. */
static void test_preconditions(void)
{
    put("dated.bin", "0123456789abcdefghij", 20);
    set_mtime("dated.bin", 1577836800); /* Wed, 01 Jan 2020 00:00:00 GMT */
    put("future.bin", "0123456789abcdefghij", 20);
    set_mtime("future.bin", time(NULL) + 100); /* a Last-Modified not before Date: weak */
    int ports[2] = {web, webnc};
    for (int pi = 0; pi < 2; pi++) {
        hres r;
        CU_ASSERT_EQUAL_FATAL(get_with(ports[pi], "/dated.bin", "", &r), 0);
        char etag[64], weak[80], line[256];
        snprintf(etag, sizeof etag, "%s", hdr(&r, "ETag"));
        snprintf(weak, sizeof weak, "W/%s", etag);
        CU_ASSERT_STRING_EQUAL(hdr(&r, "Last-Modified"), "Wed, 01 Jan 2020 00:00:00 GMT");
        hres_free(&r);
        const char *lm = "Wed, 01 Jan 2020 00:00:00 GMT";
        struct {
            const char *pre, *arg, *post; /* the header lines: pre arg post */
            int status;
            const char *range; /* Content-Range expected for 206 */
        } cases[] = {
            {"If-Match: ", etag, "\r\n", 200, NULL},
            {"If-Match: \"other\", ", etag, "\r\n", 200, NULL},
            {"If-Match: *", "", "\r\n", 200, NULL},
            {"If-Match: \"other\"", "", "\r\n", 412, NULL},
            {"If-Match: ", weak, "\r\n", 412, NULL}, /* strong comparison */
            {"If-Match: \"other\"\r\nIf-None-Match: ", etag, "\r\n", 412, NULL}, /* If-Match first */
            {"If-Unmodified-Since: ", lm, "\r\n", 200, NULL},
            {"If-Unmodified-Since: ", "Tue, 31 Dec 2019 23:59:59 GMT", "\r\n", 412, NULL},
            {"If-Unmodified-Since: ", "Sunday, 29-Dec-19 23:59:59 GMT", "\r\n", 412, NULL},
            {"If-Unmodified-Since: ", "yesterday", "\r\n", 200, NULL}, /* invalid: ignored */
            {"If-Match: ", etag, "\r\nIf-Unmodified-Since: Tue, 31 Dec 2019 23:59:59 GMT\r\n", 200, NULL},
            {"If-Unmodified-Since: Thu, 01 Jan 2037 00:00:00 GMT\r\nIf-None-Match: ", etag, "\r\n", 304, NULL},
            {"Range: bytes=0-3\r\nIf-Range: ", lm, "\r\n", 206, "bytes 0-3/20"},
            {"Range: bytes=0-3\r\nIf-Range: ", "Wed, 01 Jan 2020 00:00:01 GMT", "\r\n", 200, NULL},
            {"Range: bytes=0-3\r\nIf-Range: ", "not a date", "\r\n", 200, NULL},
            {"Range: bytes=0-3\r\nIf-Range: ", etag, "\r\n", 206, "bytes 0-3/20"},
            {"Range: bytes=0-3\r\nIf-Range: ", weak, "\r\n", 200, NULL},
            {"If-Match: \"other\"\r\nRange: bytes=0-3", "", "\r\n", 412, NULL},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            snprintf(line, sizeof line, "%s%s%s", cases[i].pre, cases[i].arg, cases[i].post);
            CU_ASSERT_EQUAL(get_with(ports[pi], "/dated.bin", line, &r), 0);
            if (r.status != cases[i].status)
                fprintf(stderr, "\n  %s  want %d got %d\n", line, cases[i].status, r.status);
            CU_ASSERT_EQUAL(r.status, cases[i].status);
            if (r.status == 412)
                T_ASSERT_STR_CONTAINS(r.head, "HTTP/1.1 412 Precondition Failed\r\n");
            if (r.status == 200)
                CU_ASSERT_STRING_EQUAL(r.body, "0123456789abcdefghij");
            if (cases[i].range && r.status == 206) {
                CU_ASSERT_STRING_EQUAL(hdr(&r, "Content-Range"), cases[i].range);
                CU_ASSERT_STRING_EQUAL(r.body, "0123");
            }
            hres_free(&r);
        }
        /* A Last-Modified that is not a second before Date is weak: If-Range with it never matches. */
        CU_ASSERT_EQUAL_FATAL(get_with(ports[pi], "/future.bin", "", &r), 0);
        snprintf(line, sizeof line, "Range: bytes=0-3\r\nIf-Range: %s\r\n", hdr(&r, "Last-Modified"));
        hres_free(&r);
        CU_ASSERT_EQUAL(get_with(ports[pi], "/future.bin", line, &r), 0);
        CU_ASSERT_EQUAL(r.status, 200);
        hres_free(&r);
    }
}

/* The body of a multipart/byteranges answer, as RFC 9110 14.6 has it. */
static void want_multipart(const hres *r, const char *type, const long long (*rg)[2], int n, const char *data,
                           long long size)
{
    const char *ct = hdr(r, "Content-Type");
    const char *b = ct ? strstr(ct, "multipart/byteranges; boundary=") : NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    char bound[100], want[8192];
    snprintf(bound, sizeof bound, "%s", b + strlen("multipart/byteranges; boundary="));
    nc_sb sb;
    nc_sb_init(&sb, want, sizeof want);
    for (int i = 0; i < n; i++)
        nc_sb_printf(&sb, "%s--%s\r\nContent-Type: %s\r\nContent-Range: bytes %lld-%lld/%lld\r\n\r\n%.*s",
                     i ? "\r\n" : "", bound, type, rg[i][0], rg[i][1], size, (int)(rg[i][1] - rg[i][0] + 1),
                     data + rg[i][0]);
    nc_sb_printf(&sb, "\r\n--%s--\r\n", bound);
    CU_ASSERT(!nc_sb_truncated(&sb));
    CU_ASSERT_EQUAL(r->blen, sb.len);
    CU_ASSERT(r->blen == sb.len && memcmp(r->body, want, sb.len) == 0);
}

/* Several ranges: 206 multipart/byteranges (RFC 9110 14.6), in the order
 * asked, on the cached and the sendfile paths; more than max_ranges (16)
 * or more bytes in all than the file (overlap amplification) are served
 * as if there were no Range (200, the whole file), as nginx does; two
 * Range lines are ignored together; an invalid spec voids the header; no
 * satisfiable range is 416.  Before, several ranges got the whole file. */
static void test_multiple_ranges(void)
{
    char data[1001];
    for (int i = 0; i < 1000; i++)
        data[i] = (char)('A' + i % 26);
    data[1000] = '\0';
    int ports[2] = {web, webnc};
    for (int pi = 0; pi < 2; pi++) {
        hres r;
        CU_ASSERT_EQUAL_FATAL(get_with(ports[pi], "/data.bin", "Range: bytes=0-1, 5-6\r\n", &r), 0);
        CU_ASSERT_EQUAL(r.status, 206);
        CU_ASSERT_PTR_NULL(hdr(&r, "Content-Range"));
        static const long long two[][2] = {{0, 1}, {5, 6}};
        want_multipart(&r, "application/octet-stream", two, 2, data, 1000);
        hres_free(&r);
        /* out of order and overlapping a little, within the file's size: as asked */
        CU_ASSERT_EQUAL(get_with(ports[pi], "/data.bin", "Range: bytes=990-,-3,,100-199,150-160\r\n", &r), 0);
        CU_ASSERT_EQUAL(r.status, 206);
        static const long long four[][2] = {{990, 999}, {997, 999}, {100, 199}, {150, 160}};
        want_multipart(&r, "application/octet-stream", four, 4, data, 1000);
        long long mlen = r.clen;
        hres_free(&r);
        /* HEAD: the same head, no body */
        t_client *c = t_client_new(ports[pi]);
        CU_ASSERT_EQUAL(req_on(c, "HEAD /data.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=990-,-3,,100-199,150-160\r\n\r\n", &r), 0);
        CU_ASSERT_EQUAL(r.status, 206);
        CU_ASSERT_EQUAL(r.clen, mlen);
        CU_ASSERT_EQUAL(r.blen, 0);
        hres_free(&r);
        expect_next_after(c, GET("/hello.txt"), 200, "hello world\n");
        t_client_free(c);
        /* 16 ranges: 206 with 16 parts; 17: the whole file */
        char sixteen[512], seventeen[600]; /* room for sixteen and one more range */
        nc_sb a;
        nc_sb_init(&a, sixteen, sizeof sixteen);
        nc_sb_puts(&a, "Range: bytes=");
        long long rg[16][2];
        for (int i = 0; i < 16; i++) {
            rg[i][0] = rg[i][1] = 2 * i;
            nc_sb_printf(&a, "%s%d-%d", i ? "," : "", 2 * i, 2 * i);
        }
        snprintf(seventeen, sizeof seventeen, "%s,32-32\r\n", sixteen);
        nc_sb_puts(&a, "\r\n");
        CU_ASSERT_EQUAL(get_with(ports[pi], "/data.bin", sixteen, &r), 0);
        CU_ASSERT_EQUAL(r.status, 206);
        want_multipart(&r, "application/octet-stream", (const long long (*)[2])rg, 16, data, 1000);
        hres_free(&r);
        static const char *const whole[] = {
            NULL, /* seventeen */
            "Range: bytes=0-999,0-999\r\n",       /* 2000 bytes of a 1000-byte file */
            "Range: bytes=0-600, 400-999\r\n",    /* 1201 */
            "Range: bytes=-1000,-1000\r\n",
            "Range: bytes=0-1\r\nRange: bytes=5-6\r\n", /* two lines */
            "Range: bytes=5-1\r\n",               /* invalid spec */
            "Range: bytes=0-1,x\r\n",
            "Range: pages=1-2\r\n",
            "Range: bytes=\r\n",
        };
        for (size_t i = 0; i < sizeof whole / sizeof whole[0]; i++) {
            const char *h = whole[i] ? whole[i] : seventeen;
            CU_ASSERT_EQUAL(get_with(ports[pi], "/data.bin", h, &r), 0);
            if (r.status != 200)
                fprintf(stderr, "\n  %s  want 200 got %d\n", h, r.status);
            CU_ASSERT_EQUAL(r.status, 200);
            CU_ASSERT_EQUAL(r.blen, 1000);
            CU_ASSERT(r.blen == 1000 && memcmp(r.body, data, 1000) == 0);
            hres_free(&r);
        }
        /* one satisfiable range of several: a single part */
        CU_ASSERT_EQUAL(get_with(ports[pi], "/data.bin", "Range: bytes=2000-3000, 3-4\r\n", &r), 0);
        CU_ASSERT_EQUAL(r.status, 206);
        CU_ASSERT_STRING_EQUAL(hdr(&r, "Content-Range"), "bytes 3-4/1000");
        CU_ASSERT_STRING_EQUAL(r.body, "DE");
        hres_free(&r);
        CU_ASSERT_EQUAL(get_with(ports[pi], "/data.bin", "Range: bytes=2000-3000, 5000-\r\n", &r), 0);
        CU_ASSERT_EQUAL(r.status, 416);
        CU_ASSERT_STRING_EQUAL(hdr(&r, "Content-Range"), "bytes */1000");
        hres_free(&r);
    }
    CU_ASSERT(t_wait_log(P, "Range with more than max_ranges (16) ranges or more bytes than the file", 1000));
}

/* Host and absolute-form authority (RFC 9112 3.2): 400 and a close for an
 * invalid one, over a real socket; before, all were answered 200. */
static void test_host_validation(void)
{
    static const char *const bad[] = {
        "GET /hello.txt HTTP/1.1\r\nHost: example.com/\\:552\r\n\r\n",
        "GET /hello.txt HTTP/1.1\r\nHost: 1.2.3.4:9000:80\r\n\r\n",
        "GET /hello.txt HTTP/1.1\r\nHost: [abcd::1\r\n\r\n",
        "GET http:/// HTTP/1.0\r\n\r\n",
        "GET http://user@t/hello.txt HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /hello.txt HTTP/1.1\r\nHost: t:99999\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t_client *c = t_client_new(web);
        hres r;
        CU_ASSERT_EQUAL(req_on(c, bad[i], &r), 0);
        if (r.status != 400)
            fprintf(stderr, "\n  %s  want 400 got %d\n", bad[i], r.status);
        T_ASSERT_STR_CONTAINS(r.head, "HTTP/1.1 400 Bad Request\r\n");
        CU_ASSERT_STRING_EQUAL(hdr(&r, "Connection"), "close");
        CU_ASSERT(t_wait_closed(c->fd, 2000));
        hres_free(&r);
        t_client_free(c);
    }
    static const char *const good[] = {
        "GET /hello.txt HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
        "GET /hello.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "GET http://t/hello.txt HTTP/1.1\r\nHost: other\r\n\r\n",
        "GET HTTP://T:80/hello.txt HTTP/1.0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        hres r;
        CU_ASSERT_EQUAL(req(web, good[i], &r), 0);
        CU_ASSERT_EQUAL(r.status, 200);
        CU_ASSERT_STRING_EQUAL(r.body, "hello world\n");
        hres_free(&r);
    }
}

static void test_keepalive_pipelining(void)
{
    hres r;
    t_client *c = t_client_new(web);
    /* three requests in one packet, answered in order */
    t_client_send(c, GET("/hello.txt") GET("/nope") GET("/sub/"));
    CU_ASSERT_EQUAL(read_resp(c, &r, 0), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(r.body, "hello world\n");
    hres_free(&r);
    CU_ASSERT_EQUAL(read_resp(c, &r, 0), 0);
    CU_ASSERT_EQUAL(r.status, 404);
    hres_free(&r);
    CU_ASSERT_EQUAL(read_resp(c, &r, 0), 0);
    CU_ASSERT_STRING_EQUAL(r.body, "sub index\n");
    hres_free(&r);
    /* a GET with a body: read and dropped, the next request stays in step */
    t_client_send(c, "GET /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nGET /nope ");
    CU_ASSERT_EQUAL(read_resp(c, &r, 0), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    hres_free(&r);
    CU_ASSERT_EQUAL(req_on(c, GET("/sub/"), &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(r.body, "sub index\n");
    hres_free(&r);
    /* one byte at a time */
    const char *one = GET("/hello.txt");
    for (size_t i = 0; i < strlen(one); i++) {
        t_send_all(c->fd, one + i, 1);
        usleep(500);
    }
    CU_ASSERT_EQUAL(read_resp(c, &r, 0), 0);
    CU_ASSERT_STRING_EQUAL(r.body, "hello world\n");
    hres_free(&r);
    /* Connection: close */
    CU_ASSERT_EQUAL(req_on(c, "GET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r), 0);
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Connection"), "close");
    CU_ASSERT(t_wait_closed(c->fd, 2000));
    hres_free(&r);
    t_client_free(c);
    /* HTTP/1.0: closes by default; keep-alive on request */
    c = t_client_new(web);
    CU_ASSERT_EQUAL(req_on(c, "GET /hello.txt HTTP/1.0\r\n\r\n", &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT(t_wait_closed(c->fd, 2000));
    hres_free(&r);
    t_client_free(c);
    c = t_client_new(web);
    CU_ASSERT_EQUAL(req_on(c, "GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r), 0);
    CU_ASSERT_STRING_EQUAL(hdr(&r, "Connection"), "keep-alive");
    hres_free(&r);
    CU_ASSERT_EQUAL(req_on(c, "GET /sub/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    hres_free(&r);
    /* and the keep-alive idle timeout (1.5 s) closes it */
    CU_ASSERT(t_wait_closed(c->fd, 4000));
    t_client_free(c);
}

/* write_budget_bytes 4096 on webnc: two connections, each with two
 * pipelined 300 KB responses (and a range), go out in ~75 turns each,
 * interleaved; every byte arrives, in order. */
static void test_write_budget(void)
{
    static char want[300000];
    for (size_t i = 0; i < sizeof want; i++)
        want[i] = (char)('a' + (i * 7 + i / 1000) % 26);
    t_client *a = t_client_new(webnc), *b = t_client_new(webnc);
    const char *two = GET("/big.bin") "GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=1000-200999\r\n\r\n";
    t_client_send(a, two);
    t_client_send(b, two);
    int ok = 0;
    hres r;
    for (int k = 0; k < 2; k++) {
        t_client *c = k ? b : a;
        if (read_resp(c, &r, 0) == 0 && r.status == 200 && r.blen == sizeof want && !memcmp(r.body, want, sizeof want))
            ok++;
        hres_free(&r);
        if (read_resp(c, &r, 0) == 0 && r.status == 206 && r.blen == 200000 && !memcmp(r.body, want + 1000, 200000))
            ok++;
        hres_free(&r);
    }
    CU_ASSERT_EQUAL(ok, 4);
    t_client_free(a);
    t_client_free(b);
}

static void test_traversal(void)
{
    static const char *const attempts[] = {
        "/../secret.txt", "/../../../../etc/passwd", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt",
        "/..%2fsecret.txt", "/..%2Fsecret.txt", "/%2e%2e%2fsecret.txt", "/.%2e/secret.txt",
        "/%2e./secret.txt", "/%252e%252e/secret.txt", "/sub/../../secret.txt", "/sub/%2e%2e/%2e%2e/secret.txt",
        "//etc/passwd", "/\\..\\secret.txt", "/%5c..%5csecret.txt", "/..\\secret.txt",
        "/secret.txt%00.html", "/%00", "/%c0%ae%c0%ae/secret.txt", "/%c0%af..%c0%afsecret.txt",
        "/%e0%80%ae%e0%80%ae/secret.txt", "/%c1%9c..%c1%9csecret.txt", "/link-out", "/link-rel-out",
        "/link-out/", "/./../secret.txt", "/sub/./../../secret.txt", "/..;/secret.txt",
        "/%2e%2e%5csecret.txt", "/..%00/secret.txt", "/etc/passwd", "/proc/self/environ",
        "http://t/../secret.txt", "/sub/..%2f..%2fsecret.txt",
    };
    int n = (int)(sizeof attempts / sizeof attempts[0]);
    CU_ASSERT(n >= 30);
    for (int i = 0; i < n; i++) {
        char raw[512];
        snprintf(raw, sizeof raw, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", attempts[i]);
        hres r;
        CU_ASSERT_EQUAL(req(web, raw, &r), 0);
        int ok = r.status == 400 || r.status == 403 || r.status == 404;
        if (!ok || strstr(r.body, "TOPSECRET") || strstr(r.body, "root:"))
            fprintf(stderr, "\n  %s answered %d: %s\n", attempts[i], r.status, r.body);
        CU_ASSERT(ok);
        CU_ASSERT_PTR_NULL(strstr(r.body, "TOPSECRET"));
        CU_ASSERT_PTR_NULL(strstr(r.body, "root:"));
        hres_free(&r);
    }
}

static void test_mime_autoindex_symlinks(void)
{
    static const struct {
        const char *path, *type;
    } cases[] = {{"/logo.png", "image/png"},
                 {"/app.js", "text/javascript; charset=utf-8"},
                 {"/style.css", "text/css; charset=utf-8"},
                 {"/hello.txt", "text/plain; charset=utf-8"},
                 {"/thing.xyz", "application/x-xyz"},
                 {"/thing.qqq", "application/octet-stream"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char raw[256];
        snprintf(raw, sizeof raw, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", cases[i].path);
        hres r;
        CU_ASSERT_EQUAL(req(web, raw, &r), 0);
        CU_ASSERT_STRING_EQUAL(hdr(&r, "Content-Type"), cases[i].type);
        hres_free(&r);
    }
    hres r;
    CU_ASSERT_EQUAL(req(webnc, GET("/noindex/"), &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    T_ASSERT_STR_CONTAINS(r.body, "<a href=\"%3Cb%3E%26.txt\">&lt;b&gt;&amp;.txt</a>");
    T_ASSERT_STR_CONTAINS(r.body, "<h1>Index of /noindex/</h1>");
    hres_free(&r);
    CU_ASSERT_EQUAL(req(webnc, GET("/link-out"), &r), 0); /* follow_symlinks: true */
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(r.body, "TOPSECRET\n");
    hres_free(&r);
}

/* References for the listing tests, written apart from the server's. */
static void ref_pct(char *out, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~", c))
            *out++ = (char)c;
        else
            out += sprintf(out, "%%%02X", c);
    }
    *out = '\0';
}

static void ref_html(char *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': out = stpcpy(out, "&lt;"); break;
        case '>': out = stpcpy(out, "&gt;"); break;
        case '&': out = stpcpy(out, "&amp;"); break;
        case '"': out = stpcpy(out, "&quot;"); break;
        case '\'': out = stpcpy(out, "&#39;"); break;
        default: *out++ = *s;
        }
    }
    *out = '\0';
}

/* 250 names that grow sixfold when escaped (apostrophes, ampersands,
 * quotes, angle brackets), half of them NAME_MAX (255) bytes long, in a
 * folder whose own name grows too: the listing (over 500 KB) is whole, every
 * row and the title complete, Content-Length exact, and the response after
 * it on the same connection in step.  Before the text builder this overran
 * the listing buffer (ASan: heap-buffer-overflow in listing). */
static void test_autoindex_hostile_names(void)
{
    static const char chars[] = "'&\"<>";
    char dir[256];
    memset(dir, '\'', 200);
    memcpy(dir, "&\"<", 3);
    dir[200] = '\0';
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", root, dir);
    CU_ASSERT_EQUAL_FATAL(mkdir(p, 0755), 0);
    enum { N = 250 };
    static char names[N][256];
    for (int i = 0; i < N; i++) {
        size_t len = i % 2 ? 250 : 255; /* 255: NAME_MAX */
        snprintf(names[i], sizeof names[i], "%03d", i);
        for (size_t j = 3; j < len; j++)
            names[i][j] = chars[(size_t)i % 3 == 0 ? (size_t)i / 3 % 5 : (i + j * (size_t)(i % 7 + 1)) % 5];
        names[i][len] = '\0';
        snprintf(p, sizeof p, "%s/%.255s/%.255s", root, dir, names[i]);
        if (i % 10 == 9) {
            CU_ASSERT_EQUAL(mkdir(p, 0755), 0);
        } else {
            t_write_bytes(p, "x", 1);
        }
    }
    char target[4096], esc[2048];
    ref_pct(esc, dir);
    snprintf(target, sizeof target, "GET /%s/ HTTP/1.1\r\nHost: t\r\n\r\n" GET("/hello.txt"), esc);
    t_client *c = t_client_new(webnc);
    CU_ASSERT_EQUAL_FATAL(t_client_send(c, target), 0);
    hres r;
    CU_ASSERT_EQUAL_FATAL(read_resp(c, &r, 0), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT(r.blen > 500000);
    CU_ASSERT_EQUAL((long long)r.blen, r.clen);
    CU_ASSERT_EQUAL(strlen(r.body), r.blen);
    CU_ASSERT_EQUAL(t_count(r.body, "<tr>"), N + 2);
    char title[2048], want[4096];
    ref_html(title, dir);
    snprintf(want, sizeof want, "<title>Index of /%s/</title>", title);
    T_ASSERT_STR_CONTAINS(r.body, want);
    snprintf(want, sizeof want, "<h1>Index of /%s/</h1>", title);
    T_ASSERT_STR_CONTAINS(r.body, want);
    int missing = 0;
    for (int i = 0; i < N; i++) {
        char href[1024], text[2048], row[3200];
        ref_pct(href, names[i]);
        ref_html(text, names[i]);
        const char *slash = i % 10 == 9 ? "/" : "";
        snprintf(row, sizeof row, "<tr><td><a href=\"%s%s\">%s%s</a></td><td>%s</td>", href, slash, text, slash,
                 i % 10 == 9 ? "-" : "1");
        missing += !strstr(r.body, row);
    }
    CU_ASSERT_EQUAL(missing, 0);
    size_t tl = strlen("</table></body></html>\n");
    CU_ASSERT(r.blen > tl && strcmp(r.body + r.blen - tl, "</table></body></html>\n") == 0);
    hres_free(&r);
    expect_next(c, 200, NULL, NULL, "hello world\n");
    t_client_free(c);
}

/* A folder of 3000 names lists whole: complete, never cut. */
static void test_autoindex_large_folder(void)
{
    char p[600];
    snprintf(p, sizeof p, "%s/many", root);
    CU_ASSERT_EQUAL_FATAL(mkdir(p, 0755), 0);
    enum { N = 3000 };
    for (int i = 0; i < N; i++) {
        snprintf(p, sizeof p, "%s/many/file-%05d-with-a-longer-name.txt", root, i);
        t_write_bytes(p, "", 0);
    }
    hres r;
    CU_ASSERT_EQUAL_FATAL(req(webnc, GET("/many/"), &r), 0);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(t_count(r.body, "<tr>"), N + 2);
    CU_ASSERT_EQUAL(t_count(r.body, "-with-a-longer-name.txt\">file-"), N);
    T_ASSERT_STR_CONTAINS(r.body, "file-02999-with-a-longer-name.txt</a></td><td>0</td>");
    hres_free(&r);
}

/* 301s to the slash, pipelined so that a cut head would run into the next
 * response: a 6000-byte query kept whole in Location (the old 512-byte
 * buffer cut it, and the response lost its Content-Length and blank line);
 * "//evil.example/../sub" leads to /sub/, never to another host; raw
 * non-ASCII bytes of path and query are percent-encoded. */
static void test_redirects(void)
{
    char p[600];
    snprintf(p, sizeof p, "%s/caf\xc3\xa9", root);
    CU_ASSERT_EQUAL_FATAL(mkdir(p, 0755), 0);
    static char reqs[16384], longq[6100];
    memset(longq, 'y', 6000);
    longq[6000] = '\0';
    snprintf(reqs, sizeof reqs,
             "GET /sub?x=%s HTTP/1.1\r\nHost: t\r\n\r\n"
             "GET //evil.example/../sub HTTP/1.1\r\nHost: t\r\n\r\n"
             "GET /caf\xc3\xa9?q=\xff%%41%%zz&r=<\"> HTTP/1.1\r\nHost: t\r\n\r\n"
             "GET http://t//evil.example/%%2e%%2e/sub HTTP/1.1\r\nHost: t\r\n\r\n"
             GET("/hello.txt"),
             longq);
    t_client *c = t_client_new(web);
    CU_ASSERT_EQUAL_FATAL(t_send_all(c->fd, reqs, strlen(reqs)), 0);
    hres r;
    CU_ASSERT_EQUAL_FATAL(read_resp(c, &r, 0), 0);
    CU_ASSERT_EQUAL(r.status, 301);
    char want[6200];
    snprintf(want, sizeof want, "\r\nLocation: /sub/?x=%s\r\n", longq);
    T_ASSERT_STR_CONTAINS(r.head, want);
    CU_ASSERT(r.clen > 0 && (size_t)r.clen == r.blen);
    hres_free(&r);
    expect_next(c, 301, "Location", "/sub/", NULL);
    expect_next(c, 301, "Location", "/caf%C3%A9/?q=%FF%41%25zz&r=%3C%22%3E", NULL);
    expect_next(c, 301, "Location", "/sub/", NULL);
    expect_next(c, 200, NULL, NULL, "hello world\n");
    t_client_free(c);
}

/* Start netcore from config text with openat2 failing with ENOSYS, as on
 * kernels before 5.6 or under a container's seccomp profile: a seccomp
 * filter installed in the child before it execs build/netcore. */
static t_proc *start_without_openat2(const char *json)
{
#if defined(__x86_64__)
    const unsigned arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
    const unsigned arch = AUDIT_ARCH_AARCH64;
#else
    const unsigned arch = 0;
    CU_FAIL("no seccomp arch value for this machine");
    return NULL;
#endif
    struct sock_filter prog[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat2, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog fprog = {.len = sizeof prog / sizeof prog[0], .filter = prog};
    const char *conf = t_write_file("nosys.json", json);
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return NULL;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 2);
        if (!getenv("ASAN_OPTIONS"))
            setenv("ASAN_OPTIONS", "quarantine_size_mb=1:detect_leaks=1", 1);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) < 0) {
            fprintf(stderr, "seccomp: %s\n", strerror(errno));
            _exit(127);
        }
        const char *bin = t_build_path("netcore");
        execl(bin, bin, "-c", conf, (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    close(pipefd[1]);
    t_proc *p = t_adopt(pid, pipefd[0]);
    if (!t_wait_log(p, " ready: ", 10000)) {
        fprintf(stderr, "\nnetcore under seccomp did not become ready:\n%s\n", p->log);
        CU_FAIL("netcore did not start");
        t_stop(p, SIGKILL, 2000);
        return NULL;
    }
    return p;
}

static void symlink_at(const char *target, const char *link)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", root, link);
    CU_ASSERT_EQUAL(symlink(target, p), 0);
}

/* Symlinks with openat2 and without it (seccomp: ENOSYS): the same answers.
 * A symlinked folder leading out (GET /outdir/passwd served the file
 * outside the root before, where openat2 was missing) and every other link
 * out is 403; links that stay inside work, absolute ones included (refused
 * before, although the docs said they work); loops are 403. */
static void test_symlinks_without_openat2(void)
{
    char real[PATH_MAX], outside[600], t[PATH_MAX + 64];
    CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(root, real));
    snprintf(outside, sizeof outside, "%s/outside", t_tmpdir());
    CU_ASSERT_EQUAL_FATAL(mkdir(outside, 0755), 0);
    snprintf(t, sizeof t, "%s/passwd", outside);
    t_write_bytes(t, "root:x:0:0:root:/root:/bin/sh\n", 30);
    snprintf(t, sizeof t, "%s2", real);
    mkdir(t, 0755); /* www2: a sibling whose path starts like the root's */
    snprintf(t, sizeof t, "%s2/x", real);
    t_write_bytes(t, "EVIL\n", 5);
    symlink_at(outside, "outdir");
    snprintf(t, sizeof t, "%s/hello.txt", real);
    symlink_at(t, "link-abs-in");
    symlink_at("sub", "dir-in");
    snprintf(t, sizeof t, "%s/sub", real);
    symlink_at(t, "dir-abs-in");
    symlink_at("../hello.txt", "sub/up");
    symlink_at("../../secret.txt", "sub/upout");
    symlink_at("loop2", "loop1");
    symlink_at("loop1", "loop2");
    snprintf(t, sizeof t, "%s/../secret.txt", real);
    symlink_at(t, "abs-dotdot");
    snprintf(t, sizeof t, "%s2/x", real);
    symlink_at(t, "prefix-trick");
    snprintf(t, sizeof t, "%s/outdir/passwd", real);
    symlink_at(t, "abs-via-outdir");
    symlink_at("dir-in/../dir-abs-in/index.html", "chain");

    char json[1024];
    snprintf(json, sizeof json,
             "{%s\"listeners\":[{\"name\":\"nosys\",\"module\":\"http-static\",\"listen\":\"127.0.0.1:0\","
             "\"options\":{\"root\":\"%s\",\"cache_valid_ms\":0}}]}",
             geteuid() == 0 ? "\"user\":\"root\"," : "", root);
    t_proc *np = start_without_openat2(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(np);
    int nosys = t_port(np, "nosys");
    static const struct {
        const char *path;
        int status;
        const char *body;
    } cases[] = {
        {"/outdir/passwd", 403, NULL}, {"/outdir/", 403, NULL},     {"/link-out", 403, NULL},
        {"/link-rel-out", 403, NULL},  {"/sub/upout", 403, NULL},   {"/loop1", 403, NULL},
        {"/abs-dotdot", 403, NULL},    {"/prefix-trick", 403, NULL}, {"/abs-via-outdir", 403, NULL},
        {"/link-in", 200, "hello world\n"},     {"/link-abs-in", 200, "hello world\n"},
        {"/sub/up", 200, "hello world\n"},      {"/dir-in/", 200, "sub index\n"},
        {"/dir-abs-in/", 200, "sub index\n"},   {"/chain", 200, "sub index\n"},
        {"/dir-abs-in/index.html", 200, "sub index\n"}, {"/hello.txt", 200, "hello world\n"},
    };
    int ports[2] = {web, nosys};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            char raw[256];
            snprintf(raw, sizeof raw, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", cases[i].path);
            hres r;
            CU_ASSERT_EQUAL(req(ports[k], raw, &r), 0);
            if (r.status != cases[i].status)
                fprintf(stderr, "\n  %s (%s): want %d, got %d\n", cases[i].path, k ? "no openat2" : "openat2",
                        cases[i].status, r.status);
            CU_ASSERT_EQUAL(r.status, cases[i].status);
            if (cases[i].body)
                CU_ASSERT_STRING_EQUAL(r.body, cases[i].body);
            CU_ASSERT_PTR_NULL(strstr(r.body, "root:x"));
            CU_ASSERT_PTR_NULL(strstr(r.body, "EVIL"));
            CU_ASSERT_PTR_NULL(strstr(r.body, "TOPSECRET"));
            hres_free(&r);
        }
    /* The filter did its work: the worker saw ENOSYS and said so, once. */
    CU_ASSERT(t_wait_log(np, "openat2 is not available (Function not implemented)", 2000));
    CU_ASSERT_EQUAL(t_stop(np, SIGTERM, 5000), 0);
}

static void test_slowloris(void)
{
    enum { N = 50 };
    t_client *slow[N];
    for (int i = 0; i < N; i++) {
        slow[i] = t_client_new(web);
        t_client_send(slow[i], "GET / HTTP/1.1\r\n");
    }
    /* keep trickling; a normal client is served meanwhile */
    for (int k = 0; k < 3; k++) {
        usleep(100000);
        for (int i = 0; i < N; i++)
            t_client_send(slow[i], "X-a: b\r\n");
        hres r;
        CU_ASSERT_EQUAL(req(web, GET("/hello.txt"), &r), 0);
        CU_ASSERT_EQUAL(r.status, 200);
        hres_free(&r);
    }
    int closed = 0;
    for (int i = 0; i < N; i++) {
        closed += t_wait_closed(slow[i]->fd, 2000);
        t_client_free(slow[i]);
    }
    CU_ASSERT_EQUAL(closed, N); /* header_timeout_ms 400 */
    CU_ASSERT(t_wait_log(P, "http-static: 50 connections closed: request head not received within "
                            "header_timeout_ms (400)", 1000) ||
              t_wait_log(P, "request head not received within header_timeout_ms (400)", 10));
}

static void test_access_log(void)
{
    hres r;
    CU_ASSERT_EQUAL(req(web, "GET /hello.txt?q=\"x\" HTTP/1.1\r\nHost: t\r\nUser-Agent: netcore-test\r\nReferer: http://r/\r\n\r\n", &r), 0);
    hres_free(&r);
    usleep(1300000); /* buffered; flushed every second */
    FILE *f = fopen(access_path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char line[1024];
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        /* 127.0.0.1 - - [22/Nov/2026:00:12:26 +0000] "GET ..." 200 12 "http://r/" "netcore-test" */
        char when[64];
        if (sscanf(line, "127.0.0.1 - - [%63[^]]] ", when) == 1 && strlen(when) == 26 &&
            strstr(line, "] \"GET /hello.txt?q=\\x22x\\x22 HTTP/1.1\" 200 12 \"http://r/\" \"netcore-test\"\n"))
            found = 1;
    }
    fclose(f);
    CU_ASSERT(found);
    /* SIGUSR1 reopens it: after a rename, new lines go to a new file. */
    char moved[320];
    snprintf(moved, sizeof moved, "%s.1", access_path);
    rename(access_path, moved);
    kill(P->pid, SIGUSR1);
    CU_ASSERT(t_wait_log(P, "SIGUSR1: log files reopened", 2000));
    CU_ASSERT_EQUAL(req(web, GET("/sub/"), &r), 0);
    hres_free(&r);
    usleep(1300000);
    f = fopen(access_path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT(fgets(line, sizeof line, f) != NULL);
    T_ASSERT_STR_CONTAINS(line, "\"GET /sub/ HTTP/1.1\" 200 10 ");
    fclose(f);
}

static void test_sparse_1gib(void)
{
    t_client *c = t_client_new(web);
    long rss0 = t_rss_kib(P->pid);
    t_client_send(c, GET("/big.sparse"));
    hres r;
    memset(&r, 0, sizeof r);
    /* read the head by hand, then stream the body without keeping it */
    char *end = NULL;
    while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4))) {
        size_t got = t_recv_all(c->fd, c->buf + c->len, 1, 5000, NULL);
        CU_ASSERT_FATAL(got > 0);
        c->len += got;
    }
    *end = '\0';
    T_ASSERT_STR_CONTAINS(c->buf, "\r\nContent-Length: 1073741824\r\n");
    size_t body = c->len - (size_t)(end + 4 - c->buf);
    static char chunk[1 << 20];
    long rss_max = rss0;
    int k = 0;
    while (body < (1u << 30)) {
        size_t got = t_recv_all(c->fd, chunk, sizeof chunk, 10000, NULL);
        if (got == 0)
            break;
        body += got;
        if (++k % 64 == 0) {
            long rss = t_rss_kib(P->pid);
            if (rss > rss_max)
                rss_max = rss;
        }
    }
    CU_ASSERT_EQUAL(body, 1u << 30);
    CU_ASSERT(rss_max - rss0 < 8192); /* sendfile: flat */
    t_client_free(c);
}

static void test_curl_python(void)
{
    char cmd[1024], out[4096];
    snprintf(cmd, sizeof cmd,
             "curl -s -o %s/curl.png -w '%%{http_code} %%{content_type} %%{size_download}' "
             "http://127.0.0.1:%d/logo.png",
             t_tmpdir(), web);
    CU_ASSERT_EQUAL(t_sh(cmd, out, sizeof out), 0);
    CU_ASSERT_STRING_EQUAL(out, "200 image/png 8");
    snprintf(cmd, sizeof cmd,
             "python3 -c '\n"
             "import http.client\n"
             "c = http.client.HTTPConnection(\"127.0.0.1\", %d, timeout=5)\n"
             "for p in [\"/\", \"/style.css\", \"/app.js\", \"/sub\", \"/nope\"]:\n"
             "    c.request(\"GET\", p)\n"
             "    r = c.getresponse(); b = r.read()\n"
             "    print(p, r.status, len(b), r.getheader(\"Content-Type\"))\n"
             "'",
             web);
    CU_ASSERT_EQUAL(t_sh(cmd, out, sizeof out), 0);
    CU_ASSERT_STRING_EQUAL(out, "/ 200 18 text/html; charset=utf-8\n"
                                "/style.css 200 3 text/css; charset=utf-8\n"
                                "/app.js 200 2 text/javascript; charset=utf-8\n"
                                "/sub 301 122 text/html; charset=utf-8\n"
                                "/nope 404 106 text/html; charset=utf-8\n");
}

static void test_chromium(void)
{
    const char *bin = access("/usr/bin/chromium", X_OK) == 0 ? "/usr/bin/chromium" : NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(bin); /* scripts/install-deps --test installs it */
    char cmd[2048], out[16384];
    snprintf(cmd, sizeof cmd,
             "timeout 60 %s --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
             "--disable-background-networking --disable-component-update --disable-sync "
             "--user-data-dir=%s/chromium --virtual-time-budget=3000 --dump-dom "
             "http://127.0.0.1:%d/ 2>/dev/null",
             bin, t_tmpdir(), demo);
    CU_ASSERT_EQUAL(t_sh(cmd, out, sizeof out), 0);
    T_ASSERT_STR_CONTAINS(out, "The script ran: static files, MIME types and keep-alive all work.");
    T_ASSERT_STR_CONTAINS(out, "<h1>netcore is serving this page</h1>");
    /* every shipped listener, with the page's own address in the commands */
    static const char *const listed[] = {"nc 127.0.0.1 7000", "nc 127.0.0.1 7001", "nc 127.0.0.1 7002",
                                         "build/netcore-ft 127.0.0.1:7003 put README.md",
                                         "curl -i http://127.0.0.1:8080/", "echo hello | nc -u -w1 127.0.0.1 9000",
                                         "href=\"http://127.0.0.1:9090/metrics\""};
    for (size_t i = 0; i < sizeof listed / sizeof listed[0]; i++)
        T_ASSERT_STR_CONTAINS(out, listed[i]);
    char here[64];
    snprintf(here, sizeof here, "<code class=\"here\">127.0.0.1:%d</code>", demo);
    T_ASSERT_STR_CONTAINS(out, here);
    CU_ASSERT_PTR_NULL(strstr(out, "HOST"));
    usleep(1300000);
    FILE *f = fopen(demo_log, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char log[65536];
    size_t n = fread(log, 1, sizeof log - 1, f);
    log[n] = '\0';
    fclose(f);
    T_ASSERT_STR_CONTAINS(log, "\"GET / HTTP/1.1\" 200 ");
    T_ASSERT_STR_CONTAINS(log, "\"GET /style.css HTTP/1.1\" 200 ");
    T_ASSERT_STR_CONTAINS(log, "\"GET /app.js HTTP/1.1\" 200 ");
    T_ASSERT_STR_CONTAINS(log, "\"GET /img/logo.png HTTP/1.1\" 200 ");
}

int add_http_suite(void)
{
    CU_pSuite s = CU_add_suite("http", setup, teardown);
    if (!s || !CU_add_test(s, "200 with every header; Server hidden", test_basic) ||
        !CU_add_test(s, "every status: 301 400 403 404 405 413 414 416 431 505", test_statuses) ||
        !CU_add_test(s, "write_budget_bytes 4096: large responses interleave, every byte in order", test_write_budget) ||
        !CU_add_test(s, "304s, ranges, HEAD; cached and sendfile paths", test_conditional_ranges_head) ||
        !CU_add_test(s, "If-Match, If-Unmodified-Since (412), If-Range by tag and date", test_preconditions) ||
        !CU_add_test(s, "several ranges: multipart/byteranges; bounds on count and overlap", test_multiple_ranges) ||
        !CU_add_test(s, "Host and absolute-form authority: 400 for invalid ones", test_host_validation) ||
        !CU_add_test(s, "keep-alive, pipelining, bodies, 1-byte pieces, 1.0", test_keepalive_pipelining) ||
        !CU_add_test(s, "34 traversal attempts: 400/403/404, never the file", test_traversal) ||
        !CU_add_test(s, "MIME types, autoindex escaping, follow_symlinks", test_mime_autoindex_symlinks) ||
        !CU_add_test(s, "autoindex: 250 names that grow when escaped, NAME_MAX, whole and valid",
                     test_autoindex_hostile_names) ||
        !CU_add_test(s, "autoindex: a folder of 3000 names lists whole", test_autoindex_large_folder) ||
        !CU_add_test(s, "301: long Location whole, no open redirect, non-ASCII encoded; pipelined",
                     test_redirects) ||
        !CU_add_test(s, "symlinks with and without openat2 (seccomp ENOSYS): out 403, inside 200",
                     test_symlinks_without_openat2) ||
        !CU_add_test(s, "slowloris closed at header_timeout_ms, others served", test_slowloris) ||
        !CU_add_test(s, "access log in Combined Log Format; SIGUSR1 reopen", test_access_log) ||
        !CU_add_test(s, "1 GiB sparse file whole, server memory flat", test_sparse_1gib) ||
        !CU_add_test(s, "curl and python http.client as peers", test_curl_python) ||
        !CU_add_test(s, "headless Chromium loads the demo page and its assets", test_chromium))
        return -1;
    return 0;
}
