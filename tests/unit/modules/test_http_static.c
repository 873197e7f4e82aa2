/* test_http_static.c -- modules/http-static/http.c under the mock core:
 * whole requests in, whole responses out (files from memory and as file
 * regions, HEAD, 304, ranges, errors, listings, redirects), keep-alive and
 * pipelining whole and a byte at a time, and the two timeouts. */
#include <CUnit/CUnit.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mt.h"

/* Every file and folder gets this mtime, so that ETag and Last-Modified
 * are known text: 1700000000 is 0x6553f100. */
#define MTIME 1700000000
#define LASTMOD "Tue, 14 Nov 2023 22:13:20 GMT"
#define BIG_SIZE 100000 /* over cache_max_file_bytes: sent as a file region */

static char root[512];

/* The suite's set-up (no CUnit assertions there): 0, or -1. */
static int put_file(const char *rel, const void *data, size_t n)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    FILE *f = fopen(p, "wb");
    if (!f)
        return -1;
    int ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static int set_mtime(const char *rel)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    struct timespec ts[2] = {{MTIME, 0}, {MTIME, 0}};
    return utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW);
}

static unsigned char big[BIG_SIZE];

static int make_root(void)
{
    snprintf(root, sizeof root, "%s", mt_path("www"));
    char p[1024];
    static const char *const dirs[] = {"", "/docs", "/list", "/list/s&d"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(p, sizeof p, "%s%s", root, dirs[i]);
        if (mkdir(p, 0755) < 0)
            return -1;
    }
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (unsigned char)(i * 7 + i / 251);
    if (put_file("hello.txt", "hello, world\n", 13) < 0 || put_file("big.bin", big, sizeof big) < 0 ||
        put_file("docs/index.html", "<p>docs</p>\n", 12) < 0 || put_file("list/a\"b.txt", "12345", 5) < 0 ||
        put_file("list/<x>&y.txt", "", 0) < 0)
        return -1;
    static const char *const all[] = {"hello.txt", "big.bin", "docs/index.html", "docs", "list/a\"b.txt",
                                      "list/<x>&y.txt", "list/s&d", "list"};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (set_mtime(all[i]) < 0)
            return -1;
    return 0;
}

static nc_mock *start(const char *extra)
{
    char opts[2048];
    snprintf(opts, sizeof opts, "{\"root\": \"%s\", \"autoindex\": true%s%s}", root, extra ? ", " : "",
             extra ? extra : "");
    return mt_start("http-static", opts, NULL);
}

/* Drop every Date header line of the n bytes at s (its value is the wall
 * clock's) after checking its IMF-fixdate shape; returns the new length.
 * Binary bodies are fine: this counts bytes, it does not stop at NUL. */
static size_t drop_dates(char *s, size_t n)
{
    static const char key[] = "\r\nDate: ";
    for (char *d = s; (d = memmem(d, n - (size_t)(d - s), key, sizeof key - 1));) {
        char *v = d + sizeof key - 1;
        CU_ASSERT_FATAL((size_t)(v - s) + 31 <= n);
        CU_ASSERT(v[3] == ',' && memcmp(v + 25, " GMT\r\n", 6) == 0);
        memmove(d + 2, v + 31, n - (size_t)(v + 31 - s));
        n -= 37; /* "Date: ", 29 bytes of date, CRLF */
        s[n] = '\0';
        d += 2;
    }
    return n;
}

/* Everything the peer can read now, without its Date lines. */
static char *take_all(nc_conn *c, size_t *len)
{
    size_t n;
    char *got = nc_mock_read_all(c, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    n = drop_dates(got, n);
    if (len)
        *len = n;
    return got;
}

static void expect_text(nc_conn *c, const char *want)
{
    char *got = take_all(c, NULL);
    CU_ASSERT_STRING_EQUAL(got, want);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "\n  got:  [%s]\n  want: [%s]\n", got, want);
    free(got);
}

#define HELLO_HEAD                                                                                     \
    "HTTP/1.1 200 OK\r\nServer: netcore\r\nContent-Type: text/plain; charset=utf-8\r\n"                \
    "Content-Length: 13\r\nLast-Modified: " LASTMOD "\r\nETag: \"6553f100-d\"\r\nAccept-Ranges: bytes\r\n\r\n"

/* The whole response of an error page: status line, Server, extra header
 * lines, the page's headers, conn ("Connection: close\r\n" or ""), body. */
static void expect_error(nc_conn *c, int status, const char *reason, const char *extra, const char *conn)
{
    char body[256], want[2048];
    int bl = snprintf(body, sizeof body,
                      "<!DOCTYPE html>\n<html><head><title>%d %s</title></head><body><h1>%d %s</h1></body></html>\n",
                      status, reason, status, reason);
    snprintf(want, sizeof want,
             "HTTP/1.1 %d %s\r\nServer: netcore\r\n%sContent-Type: text/html; charset=utf-8\r\n"
             "Content-Length: %d\r\n%s\r\n%s",
             status, reason, extra, bl, conn, body);
    expect_text(c, want);
}

static void test_get_file(void)
{
    nc_mock *mk = start(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_conn *c = nc_mock_accept(mk, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    nc_mock_feeds(c, "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_text(c, HELLO_HEAD "hello, world\n");
    CU_ASSERT_EQUAL(nc_mock_closed(c), NC_MOCK_OPEN); /* HTTP/1.1: kept alive */
    /* The second time it comes from the cache, byte for byte the same. */
    nc_mock_feeds(c, "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_text(c, HELLO_HEAD "hello, world\n");
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "cache_hits"), 1);
    /* HTTP/1.0 without keep-alive: the same answer, then the close. */
    nc_mock_feeds(c, "GET /hello.txt HTTP/1.0\r\n\r\n");
    char want[1024];
    snprintf(want, sizeof want, "%s", HELLO_HEAD);
    want[strlen(want) - 2] = '\0';
    strcat(want, "Connection: close\r\n\r\nhello, world\n");
    expect_text(c, want);
    CU_ASSERT_EQUAL(nc_mock_closed(c), NC_MOCK_CLOSED_FLUSH);
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "requests"), 3);
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "responses_2xx"), 3);
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

/* A file over cache_max_file_bytes goes out as a file region (sendfile):
 * the head in memory, then the file's bytes. */
static void test_get_file_region(void)
{
    nc_mock *mk = start(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_conn *c = nc_mock_accept(mk, NULL);
    nc_mock_feeds(c, "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    static const char head[] = "HTTP/1.1 200 OK\r\nServer: netcore\r\nContent-Type: application/octet-stream\r\n"
                               "Content-Length: 100000\r\nLast-Modified: " LASTMOD "\r\n"
                               "ETag: \"6553f100-186a0\"\r\nAccept-Ranges: bytes\r\n\r\n";
    CU_ASSERT_EQUAL(nc_mock_pending(c), sizeof head - 1 + 37 + BIG_SIZE); /* 37: the Date line */
    size_t n;
    char *got = take_all(c, &n);
    CU_ASSERT_EQUAL_FATAL(n, sizeof head - 1 + BIG_SIZE);
    CU_ASSERT_EQUAL(memcmp(got, head, sizeof head - 1), 0);
    CU_ASSERT_EQUAL(memcmp(got + sizeof head - 1, big, BIG_SIZE), 0);
    free(got);
    /* A range of it: a region at an offset. */
    nc_mock_feeds(c, "GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=1000-1999\r\n\r\n");
    static const char rhead[] = "HTTP/1.1 206 Partial Content\r\nServer: netcore\r\nContent-Type: "
                                "application/octet-stream\r\nContent-Length: 1000\r\nLast-Modified: " LASTMOD
                                "\r\nETag: \"6553f100-186a0\"\r\nAccept-Ranges: bytes\r\n"
                                "Content-Range: bytes 1000-1999/100000\r\n\r\n";
    got = take_all(c, &n);
    CU_ASSERT_EQUAL_FATAL(n, sizeof rhead - 1 + 1000);
    CU_ASSERT_EQUAL(memcmp(got, rhead, sizeof rhead - 1), 0);
    CU_ASSERT_EQUAL(memcmp(got + sizeof rhead - 1, big + 1000, 1000), 0);
    free(got);
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

static void test_head_404_405(void)
{
    nc_mock *mk = start(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_conn *c = nc_mock_accept(mk, NULL);
    nc_mock_feeds(c, "HEAD /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_text(c, HELLO_HEAD);
    nc_mock_feeds(c, "GET /nope.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_error(c, 404, "Not Found", "", "");
    nc_mock_feeds(c, "POST /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_error(c, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n", "");
    nc_mock_feeds(c, "GET /hello.txt/ HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_error(c, 404, "Not Found", "", "");
    CU_ASSERT_EQUAL(nc_mock_closed(c), NC_MOCK_OPEN);
    /* HTTP/1.1 without Host: 400 and the close. */
    nc_mock_feeds(c, "GET /hello.txt HTTP/1.1\r\n\r\n");
    expect_error(c, 400, "Bad Request", "", "Connection: close\r\n");
    CU_ASSERT_EQUAL(nc_mock_closed(c), NC_MOCK_CLOSED_FLUSH);
    /* A TLS ClientHello to the plain port: a 400 at its first bytes, not
     * a wait for a newline that may never come. */
    nc_conn *t = nc_mock_accept(mk, NULL);
    nc_mock_feed(t, "\x16\x03\x01\x02\x00\x01", 6);
    expect_error(t, 400, "Bad Request", "", "Connection: close\r\n");
    CU_ASSERT_EQUAL(nc_mock_closed(t), NC_MOCK_CLOSED_FLUSH);
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "responses_4xx"), 5);
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

static void test_conditional_and_ranges(void)
{
    nc_mock *mk = start(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_conn *c = nc_mock_accept(mk, NULL);
    nc_mock_feeds(c, "GET /hello.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"other\", W/\"6553f100-d\"\r\n\r\n");
    expect_text(c, "HTTP/1.1 304 Not Modified\r\nServer: netcore\r\nETag: \"6553f100-d\"\r\n"
                   "Last-Modified: " LASTMOD "\r\n\r\n");
    nc_mock_feeds(c, "GET /hello.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"other\"\r\n\r\n");
    expect_text(c, HELLO_HEAD "hello, world\n");
    nc_mock_feeds(c, "GET /hello.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=7-11\r\n\r\n");
    expect_text(c, "HTTP/1.1 206 Partial Content\r\nServer: netcore\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   "Content-Length: 5\r\nLast-Modified: " LASTMOD "\r\nETag: \"6553f100-d\"\r\n"
                   "Accept-Ranges: bytes\r\nContent-Range: bytes 7-11/13\r\n\r\nworld");
    nc_mock_feeds(c, "GET /hello.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=-3\r\n\r\n");
    char *got = take_all(c, NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(got, "\r\nContent-Range: bytes 10-12/13\r\n\r\nld\n"));
    free(got);
    nc_mock_feeds(c, "GET /hello.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=13-\r\n\r\n");
    expect_error(c, 416, "Range Not Satisfiable", "Content-Range: bytes */13\r\n", "");
    /* If-Range with another tag: the whole file. */
    nc_mock_feeds(c, "GET /hello.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\nIf-Range: \"x\"\r\n\r\n");
    expect_text(c, HELLO_HEAD "hello, world\n");
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

/* Two requests in one feed get two responses in order, and so does the same
 * text fed a byte at a time. */
static void test_pipelined(void)
{
    static const char two[] = "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                              "GET /docs/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    static const char want[] =
        HELLO_HEAD "hello, world\n"
                   "HTTP/1.1 200 OK\r\nServer: netcore\r\nContent-Type: text/html; charset=utf-8\r\n"
                   "Content-Length: 12\r\nLast-Modified: " LASTMOD "\r\nETag: \"6553f100-c\"\r\n"
                   "Accept-Ranges: bytes\r\nConnection: close\r\n\r\n<p>docs</p>\n";
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        nc_mock *mk = start(NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
        nc_conn *c = nc_mock_accept(mk, NULL);
        if (bytewise)
            for (size_t i = 0; i < sizeof two - 1; i++)
                nc_mock_feed(c, two + i, 1);
        else
            nc_mock_feed(c, two, sizeof two - 1);
        expect_text(c, want);
        CU_ASSERT_EQUAL(nc_mock_closed(c), NC_MOCK_CLOSED_FLUSH);
        CU_ASSERT_EQUAL(nc_mock_counter(mk, "requests"), 2);
        CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
    }
}

/* A listing escapes names for HTML and percent-encodes them in links; a
 * folder named without its slash is redirected to it, query kept. */
static void test_listing_and_redirect(void)
{
    nc_mock *mk = start(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_conn *c = nc_mock_accept(mk, NULL);
    nc_mock_feeds(c, "GET /list/ HTTP/1.1\r\nHost: x\r\n\r\n");
    static const char body[] =
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of /list/</title></head>\n"
        "<body><h1>Index of /list/</h1><table>\n<tr><th>Name</th><th>Size</th><th>Modified</th></tr>\n"
        "<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n"
        "<tr><td><a href=\"%3Cx%3E%26y.txt\">&lt;x&gt;&amp;y.txt</a></td><td>0</td><td>2023-11-14 22:13</td></tr>\n"
        "<tr><td><a href=\"a%22b.txt\">a&quot;b.txt</a></td><td>5</td><td>2023-11-14 22:13</td></tr>\n"
        "<tr><td><a href=\"s%26d/\">s&amp;d/</a></td><td>-</td><td>2023-11-14 22:13</td></tr>\n"
        "</table></body></html>\n";
    char want[4096];
    snprintf(want, sizeof want,
             "HTTP/1.1 200 OK\r\nServer: netcore\r\nContent-Type: text/html; charset=utf-8\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             sizeof body - 1, body);
    expect_text(c, want);
    /* An empty folder lists too (its title escaped). */
    nc_mock_feeds(c, "GET /list/s%26d/ HTTP/1.1\r\nHost: x\r\n\r\n");
    static const char empty[] =
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of /list/s&amp;d/</title></head>\n"
        "<body><h1>Index of /list/s&amp;d/</h1><table>\n<tr><th>Name</th><th>Size</th><th>Modified</th></tr>\n"
        "<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n"
        "</table></body></html>\n";
    snprintf(want, sizeof want,
             "HTTP/1.1 200 OK\r\nServer: netcore\r\nContent-Type: text/html; charset=utf-8\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             sizeof empty - 1, empty);
    expect_text(c, want);
    CU_ASSERT_EQUAL(nc_mock_log_count(mk, "error"), 0);
    nc_mock_feeds(c, "GET /list?a=1&b=%2F HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_error(c, 301, "Moved Permanently", "Location: /list/?a=1&b=%2F\r\n", "");
    nc_mock_feeds(c, "GET /list/s%26d HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_error(c, 301, "Moved Permanently", "Location: /list/s&d/\r\n", "");
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
    /* Without autoindex a folder with no index is refused. */
    char opts[1024];
    snprintf(opts, sizeof opts, "{\"root\": \"%s\"}", root);
    mk = mt_start("http-static", opts, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    c = nc_mock_accept(mk, NULL);
    nc_mock_feeds(c, "GET /list/ HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_error(c, 403, "Forbidden", "", "");
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

/* A head over max_header_bytes gets 431, a request line over
 * max_request_line 414; both close the connection. */
static void test_limits(void)
{
    nc_mock *mk = start("\"max_header_bytes\": 256, \"max_request_line\": 64");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_conn *c = nc_mock_accept(mk, NULL);
    nc_mock_feeds(c, "GET /hello.txt HTTP/1.1\r\nHost: x\r\n");
    char field[300];
    memset(field, 'a', sizeof field);
    memcpy(field, "X-Pad: ", 7);
    field[sizeof field - 1] = '\0';
    CU_ASSERT_EQUAL(nc_mock_pending(c), 0);
    nc_mock_feeds(c, field); /* no end of the head yet, but already too much */
    expect_error(c, 431, "Request Header Fields Too Large", "", "Connection: close\r\n");
    CU_ASSERT_EQUAL(nc_mock_closed(c), NC_MOCK_CLOSED_FLUSH);
    c = nc_mock_accept(mk, NULL);
    char line[128];
    snprintf(line, sizeof line, "GET /%070d", 0);
    nc_mock_feeds(c, line);
    expect_error(c, 414, "URI Too Long", "", "Connection: close\r\n");
    CU_ASSERT_EQUAL(nc_mock_closed(c), NC_MOCK_CLOSED_FLUSH);
    /* A head just within the limit is served. */
    c = nc_mock_accept(mk, NULL);
    nc_mock_feeds(c, "GET /hello.txt HTTP/1.1\r\nHost: x\r\n");
    field[256 - 34 - 4] = '\0'; /* 34 bytes above, this line, its CRLF and the blank line: 256 */
    nc_mock_feeds(c, field);
    nc_mock_feeds(c, "\r\n\r\n");
    expect_text(c, HELLO_HEAD "hello, world\n");
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

static void test_timeouts(void)
{
    nc_mock *mk = start("\"header_timeout_ms\": 1000, \"keepalive_timeout_ms\": 3000");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    CU_ASSERT_EQUAL(nc_mock_timers(mk), 1); /* the sweep, every 250 ms */
    nc_conn *slow = nc_mock_accept(mk, "10.0.0.7:5000"), *idle = nc_mock_accept(mk, NULL);
    nc_conn *silent = nc_mock_accept(mk, NULL);
    nc_mock_feeds(slow, "GET /hello.txt HTTP/1.1\r\n");
    nc_mock_feeds(idle, "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_text(idle, HELLO_HEAD "hello, world\n");
    nc_mock_advance(mk, 900);
    CU_ASSERT_EQUAL(nc_mock_closed(slow), NC_MOCK_OPEN);
    nc_mock_advance(mk, 350);
    /* Both heads overdue: closed at once (abort), nothing sent, one line. */
    CU_ASSERT_EQUAL(nc_mock_closed(slow), NC_MOCK_CLOSED_ABORT);
    CU_ASSERT_EQUAL(nc_mock_closed(silent), NC_MOCK_CLOSED_ABORT);
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "header_timeouts"), 2);
    CU_ASSERT_EQUAL(nc_mock_log_count(mk, "info http-static: 2 connections closed: request head not received "
                                          "within header_timeout_ms (1000)"),
                    1);
    CU_ASSERT_EQUAL(nc_mock_closed(idle), NC_MOCK_OPEN);
    /* A head begun while idle runs on the header clock again. */
    nc_mock_feeds(idle, "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_text(idle, HELLO_HEAD "hello, world\n");
    nc_mock_advance(mk, 2900);
    CU_ASSERT_EQUAL(nc_mock_closed(idle), NC_MOCK_OPEN);
    nc_mock_advance(mk, 350);
    CU_ASSERT_EQUAL(nc_mock_closed(idle), NC_MOCK_CLOSED_FLUSH);
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "header_timeouts"), 2);
    /* One alone is logged with its connection. */
    nc_conn *one = nc_mock_accept(mk, NULL);
    nc_mock_advance(mk, 1250);
    CU_ASSERT_EQUAL(nc_mock_closed(one), NC_MOCK_CLOSED_ABORT);
    char want[160];
    snprintf(want, sizeof want,
             "info [mock#%llu] request head not received within header_timeout_ms (1000); closing",
             (unsigned long long)nc_conn_id(one));
    CU_ASSERT_STRING_EQUAL(nc_mock_log_line(mk, -1), want);
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0); /* fini stopped the sweep */
}

static void test_options(void)
{
    CU_ASSERT_STRING_EQUAL(mt_start_error("http-static", NULL, NULL),
                           "mock.json: listeners[0].options.root: missing (the folder to serve)");
    char opts[1024];
    snprintf(opts, sizeof opts, "{\"root\": \"%s\", \"index\": \"a/b\"}", root);
    CU_ASSERT_STRING_EQUAL(mt_start_error("http-static", opts, NULL),
                           "mock.json: listeners[0].options.index: expected a file name");
}

static int suite_init(void)
{
    return make_root();
}

int add_http_static_suite(void)
{
    CU_pSuite s = CU_add_suite("http_static", suite_init, NULL);
    if (!s)
        return -1;
    CU_add_test(s, "GET a file: head and body exact, cached, HTTP/1.0 closes", test_get_file);
    CU_add_test(s, "a large file and a range of it as file regions", test_get_file_region);
    CU_add_test(s, "HEAD, 404, 405, a file with a slash, 1.1 without Host", test_head_404_405);
    CU_add_test(s, "304 by If-None-Match, 206, suffix range, 416, If-Range", test_conditional_and_ranges);
    CU_add_test(s, "two pipelined requests, whole and a byte at a time", test_pipelined);
    CU_add_test(s, "listing with hostile names escaped; 301 to the slash; 403", test_listing_and_redirect);
    CU_add_test(s, "431 over max_header_bytes, 414 over max_request_line", test_limits);
    CU_add_test(s, "header and keep-alive timeouts close; fini leaves nothing", test_timeouts);
    CU_add_test(s, "option errors", test_options);
    return 0;
}
