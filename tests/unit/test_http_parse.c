/* test_http_parse.c -- unit tests of modules/http-static/parse.c and path.c:
 * request heads whole, one byte at a time and pipelined; every refusal; and
 * a table of target paths, traversal attempts included. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "http.h"
#include "netcore/strbuf.h"
#include "suites.h"

static long parse(const char *s, http_req *r)
{
    size_t scan = 0;
    return http_parse(s, strlen(s), &scan, 8192, 8192, r);
}

static void test_whole(void)
{
    http_req r;
    const char *req = "GET /a/b?x=1 HTTP/1.1\r\nHost: example\r\nConnection: keep-alive, Upgrade\r\n"
                      "Range: bytes=0-9\r\nIf-None-Match: \"x\"\r\nUser-Agent: t/1\r\n\r\nNEXT";
    long n = parse(req, &r);
    CU_ASSERT_EQUAL(n, (long)strlen(req) - 4);
    CU_ASSERT_EQUAL(r.method_len, 3);
    CU_ASSERT_EQUAL(r.target_len, 8);
    CU_ASSERT_EQUAL(memcmp(r.target, "/a/b?x=1", 8), 0);
    CU_ASSERT_EQUAL(r.minor, 1);
    CU_ASSERT(r.has_host && r.host_len == 7);
    CU_ASSERT(r.conn_keepalive && !r.conn_close);
    CU_ASSERT_EQUAL(r.range_len, 9);
    CU_ASSERT_EQUAL(r.inm_len, 3);
    CU_ASSERT_EQUAL(r.content_length, -1);
    /* bare LF, HTTP/1.0, no headers */
    CU_ASSERT_EQUAL(parse("GET / HTTP/1.0\n\n", &r), 16);
    CU_ASSERT_EQUAL(r.minor, 0);
    /* empty lines before the request line are skipped */
    CU_ASSERT_EQUAL(parse("\r\n\r\nHEAD / HTTP/1.1\r\nHost: h\r\n\r\n", &r), 32);
}

static void test_bytewise(void)
{
    const char *req = "GET /index.html HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n";
    size_t total = strlen(req), scan = 0;
    http_req r;
    for (size_t i = 1; i < total; i++)
        CU_ASSERT_EQUAL(http_parse(req, i, &scan, 8192, 8192, &r), 0);
    CU_ASSERT_EQUAL(http_parse(req, total, &scan, 8192, 8192, &r), (long)total);
    CU_ASSERT_EQUAL(memcmp(r.target, "/index.html", 11), 0);
}

static void test_refusals(void)
{
    static const struct {
        const char *req;
        long want;
    } cases[] = {
        {"GET / HTTP/2.0\r\n\r\n", -505},
        {"GET / HTTP/1.1 \r\n\r\n", -400},
        {"GET  / HTTP/1.1\r\n\r\n", -400},
        {"GET / FTP/1.1\r\n\r\n", -400},
        {"G(T / HTTP/1.1\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nHost : x\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nX: a\x01" "b\r\n\r\n", -400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        http_req r;
        long got = parse(cases[i].req, &r);
        if (got != cases[i].want)
            fprintf(stderr, "\n  case %zu: want %ld got %ld\n", i, cases[i].want, got);
        CU_ASSERT_EQUAL(got, cases[i].want);
    }
    /* A byte no method has is refused before the line ends (a TLS
     * ClientHello to a plain port), also fed one byte at a time; a method
     * still being received is not. */
    static const char hello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
    for (size_t i = 1; i <= sizeof hello - 1; i++) {
        size_t scan = 0;
        http_req rr;
        CU_ASSERT_EQUAL(http_parse(hello, i, &scan, 8192, 8192, &rr), -400);
    }
    size_t scan0 = 0;
    http_req r0;
    CU_ASSERT_EQUAL(http_parse("GE", 2, &scan0, 8192, 8192, &r0), 0);
    CU_ASSERT_EQUAL(http_parse("GET /", 5, &scan0, 8192, 8192, &r0), 0);
    CU_ASSERT_EQUAL(http_parse("\r\nG\x01", 4, &scan0, 8192, 8192, &r0), -400);
    /* Same Content-Length twice is fine. */
    http_req r;
    CU_ASSERT(parse("GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", &r) > 0);
    CU_ASSERT_EQUAL(r.content_length, 5);
    /* Limits: 414 for the request line, 431 for the head, even incomplete. */
    char big[20000];
    size_t scan = 0;
    snprintf(big, sizeof big, "GET /%0*d", 9000, 0);
    CU_ASSERT_EQUAL(http_parse(big, strlen(big), &scan, 8192, 8192, &r), -414);
    scan = 0;
    nc_sb sb;
    nc_sb_init(&sb, big, sizeof big);
    nc_sb_puts(&sb, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 300; i++)
        nc_sb_printf(&sb, "X-H%d: 0123456789012345678901234567890\r\n", i);
    CU_ASSERT(!nc_sb_truncated(&sb));
    CU_ASSERT_EQUAL(http_parse(big, sb.len, &scan, 8192, 8192, &r), -431);
}

/* Parse s fed one byte at a time: every shorter prefix must ask for more,
 * and the whole must give the same as parsing it in one piece. */
static long parse_bytewise(const char *s, http_req *r)
{
    size_t n = strlen(s), scan = 0;
    http_req whole;
    long want = parse(s, &whole);
    for (size_t i = 1; i < n; i++) {
        long got = http_parse(s, i, &scan, 8192, 8192, r);
        if (got != 0) {
            fprintf(stderr, "\n  %s: answered %ld after %zu of %zu bytes\n", s, got, i, n);
            return got;
        }
    }
    long got = http_parse(s, n, &scan, 8192, 8192, r);
    CU_ASSERT_EQUAL(got, want);
    return got;
}

/* Host (RFC 9112 3.2, RFC 3986 3.2.2) and the authority of absolute-form
 * targets (RFC 9112 3.2.2): an invalid one is 400, whole or byte by byte. */
static void test_host_authority(void)
{
    static const struct {
        const char *line, *host; /* host NULL: no Host line */
        int ok;
    } cases[] = {
        {"GET / HTTP/1.1", "example.com", 1},
        {"GET / HTTP/1.1", "example.com:8080", 1},
        {"GET / HTTP/1.1", "1.2.3.4", 1},
        {"GET / HTTP/1.1", "[::1]:80", 1},
        {"GET / HTTP/1.1", "[2001:db8::7]", 1},
        {"GET / HTTP/1.1", "[v7.fe:x]", 1},
        {"GET / HTTP/1.1", "a%41b.example", 1},
        {"GET / HTTP/1.1", "h:", 1},
        {"GET / HTTP/1.1", "", 1},
        {"GET / HTTP/1.1", "xn--bcher-kva.example:65535", 1},
        {"GET / HTTP/1.1", "example.com/\\:552", 0},
        {"GET / HTTP/1.1", "1.2.3.4:9000:80", 0},
        {"GET / HTTP/1.1", "[abcd::1", 0},
        {"GET / HTTP/1.1", "[abcd::1]x", 0},
        {"GET / HTTP/1.1", "[::g]", 0},
        {"GET / HTTP/1.1", "[]", 0},
        {"GET / HTTP/1.1", "[v.x]", 0},
        {"GET / HTTP/1.1", ":80", 0},
        {"GET / HTTP/1.1", "h:65536", 0},
        {"GET / HTTP/1.1", "h:123456", 0},
        {"GET / HTTP/1.1", "h:8a", 0},
        {"GET / HTTP/1.1", "exa mple", 0},
        {"GET / HTTP/1.1", "user@h", 0},
        {"GET / HTTP/1.1", "a%4", 0},
        {"GET / HTTP/1.1", "\xc3\xa9.example", 0},
        {"GET http:/// HTTP/1.0", NULL, 0},
        {"GET http:// HTTP/1.0", NULL, 0},
        {"GET http://user@h/ HTTP/1.1", "h", 0},
        {"GET http://[::1/x HTTP/1.1", "h", 0},
        {"GET http://h:99999/ HTTP/1.1", "h", 0},
        {"GET http://h\\x/ HTTP/1.1", "h", 0},
        {"GET http://h/x HTTP/1.1", "h", 1},
        {"GET HTTP://H:80/x HTTP/1.1", "other", 1},
        {"GET https://h?q HTTP/1.1", "h", 1},
        {"GET http://[::1]:8080/ HTTP/1.0", NULL, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char head[512];
        if (cases[i].host)
            snprintf(head, sizeof head, "%s\r\nHost: %s\r\n\r\n", cases[i].line, cases[i].host);
        else
            snprintf(head, sizeof head, "%s\r\n\r\n", cases[i].line);
        http_req r;
        long got = parse_bytewise(head, &r);
        long want = cases[i].ok ? (long)strlen(head) : -400;
        if (got != want)
            fprintf(stderr, "\n  %s / Host: %s: want %ld got %ld\n", cases[i].line,
                    cases[i].host ? cases[i].host : "(none)", want, got);
        CU_ASSERT_EQUAL(got, want);
    }
}

/* Two Range lines are ignored together, however the head is cut; the
 * conditional headers are picked up. */
static void test_range_lines_conditionals(void)
{
    http_req r;
    const char *two = "GET / HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1\r\nX: y\r\nrange: bytes=5-6\r\n\r\n";
    CU_ASSERT_EQUAL(parse_bytewise(two, &r), (long)strlen(two));
    CU_ASSERT_PTR_NULL(r.range);
    CU_ASSERT_EQUAL(r.range_lines, 2);
    const char *three = "GET / HTTP/1.1\r\nRange: bytes=0-1\r\nRange: bytes=5-6\r\nRange: bytes=7-8\r\n\r\n";
    CU_ASSERT_EQUAL(parse_bytewise(three, &r), (long)strlen(three));
    CU_ASSERT_PTR_NULL(r.range);
    const char *one = "GET / HTTP/1.1\r\nRange: bytes=0-1, 5-6\r\n\r\n";
    CU_ASSERT_EQUAL(parse_bytewise(one, &r), (long)strlen(one));
    CU_ASSERT(r.range && r.range_len == 14 && r.range_lines == 1);
    const char *cond = "GET / HTTP/1.1\r\nIf-Match: \"a\", \"b\"\r\nIf-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                       "If-Range: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n";
    CU_ASSERT_EQUAL(parse_bytewise(cond, &r), (long)strlen(cond));
    CU_ASSERT(r.im && r.im_len == 8 && memcmp(r.im, "\"a\", \"b\"", 8) == 0);
    CU_ASSERT(r.ius && r.ius_len == 29);
    CU_ASSERT(r.if_range && r.if_range_len == 29);
}

static void test_paths(void)
{
    static const struct {
        const char *target, *rel; /* rel NULL: refused */
        int slash;
    } cases[] = {
        {"/", "", 1},
        {"/index.html", "index.html", 0},
        {"/a/b/", "a/b", 1},
        {"//a///b", "a/b", 0},
        {"/a/./b/../c", "a/c", 0},
        {"/a/..", "", 1},
        {"/a%20b", "a b", 0},
        {"/%E4%BD%A0", "\xe4\xbd\xa0", 0},
        {"/q?x=../../etc", "q", 0},
        {"/f#frag", "f", 0},
        {"http://host:80/x/y", "x/y", 0},
        {"http://host", "", 1},
        {"HTTP://host/a", "a", 0},
        {"https://host?x=/y", "", 1}, /* the authority ends at '?', the query is not the path */
        {"http://host#/y", "", 1},
        {"/%252e%252e/x", "%2e%2e/x", 0}, /* decoded once only */
        {"/a/%2e%2e/b", "b", 0},           /* an encoded ".." inside stays inside */
        {"/..", NULL, 0},
        {"/../etc/passwd", NULL, 0},
        {"/a/../../etc/passwd", NULL, 0},
        {"/%2e%2e/etc/passwd", NULL, 0},
        {"/%2E%2E%2Fetc%2Fpasswd", NULL, 0},
        {"/..%2f..%2fetc/passwd", NULL, 0},
        {"/.%2e/x", NULL, 0},
        {"/a\\..\\..\\x", NULL, 0},
        {"/%5c..%5cx", NULL, 0},
        {"/a%00.html", NULL, 0},
        {"/%c0%ae%c0%ae/x", NULL, 0},      /* overlong '.' */
        {"/%c0%af", NULL, 0},              /* overlong '/' */
        {"/%e0%80%ae", NULL, 0},
        {"/%", NULL, 0},
        {"/%zz", NULL, 0},
        {"/%0a", NULL, 0},
        {"*", NULL, 0},
        {"relative", NULL, 0},
        {"", NULL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[4096];
        int slash = -1;
        const char *q;
        size_t ql;
        int rc = http_path(cases[i].target, strlen(cases[i].target), out, sizeof out, &slash, &q, &ql);
        if (!cases[i].rel) {
            if (rc != -400)
                fprintf(stderr, "\n  %s: accepted as \"%s\"\n", cases[i].target, out);
            CU_ASSERT_EQUAL(rc, -400);
            continue;
        }
        CU_ASSERT_EQUAL(rc, 0);
        if (rc == 0 && strcmp(out, cases[i].rel) != 0)
            fprintf(stderr, "\n  %s: want \"%s\" got \"%s\"\n", cases[i].target, cases[i].rel, out);
        CU_ASSERT_STRING_EQUAL(out, cases[i].rel);
        CU_ASSERT_EQUAL(slash, cases[i].slash);
    }
}

static void test_mime(void)
{
    int text;
    CU_ASSERT_STRING_EQUAL(http_mime("a/b/index.HTML", NULL, 0, &text), "text/html");
    CU_ASSERT_EQUAL(text, 1);
    CU_ASSERT_STRING_EQUAL(http_mime("x.png", NULL, 0, &text), "image/png");
    CU_ASSERT_EQUAL(text, 0);
    CU_ASSERT_STRING_EQUAL(http_mime("x.woff2", NULL, 0, &text), "font/woff2");
    CU_ASSERT_STRING_EQUAL(http_mime("noext", NULL, 0, &text), "application/octet-stream");
    CU_ASSERT_STRING_EQUAL(http_mime("dir.d/noext", NULL, 0, &text), "application/octet-stream");
    char e1[] = "png", t1[] = "image/x-mine", e2[] = "ts", t2[] = "text/x-typescript";
    http_mime_extra extra[] = {{e1, t1}, {e2, t2}};
    CU_ASSERT_STRING_EQUAL(http_mime("x.png", extra, 2, &text), "image/x-mine");
    CU_ASSERT_STRING_EQUAL(http_mime("x.ts", extra, 2, &text), "text/x-typescript");
    CU_ASSERT_EQUAL(text, 1);
}

/* The one list tokenizer behind Connection and the entity-tag lists:
 * members in order, empty members and OWS skipped, nothing past the end. */
static void test_list_next(void)
{
    static const char v[] = " ,a, b\t,, \"x,\" ,W/\"y\",\t";
    size_t pos = 0, st, en;
    const char *want[] = {"a", "b", "\"x", "\"", "W/\"y\""};
    for (size_t k = 0; k < 5; k++) {
        CU_ASSERT_EQUAL_FATAL(http_list_next(v, sizeof v - 1, &pos, &st, &en), 1);
        CU_ASSERT_EQUAL(en - st, strlen(want[k]));
        CU_ASSERT_EQUAL(memcmp(v + st, want[k], en - st), 0);
    }
    CU_ASSERT_EQUAL(http_list_next(v, sizeof v - 1, &pos, &st, &en), 0);
    CU_ASSERT_EQUAL(http_list_next(v, sizeof v - 1, &pos, &st, &en), 0);
    pos = 0;
    CU_ASSERT_EQUAL(http_list_next("", 0, &pos, &st, &en), 0);
    CU_ASSERT_EQUAL(http_list_next(" , ,", 4, &pos, &st, &en), 0);
}

int add_http_parse_suite(void)
{
    CU_pSuite s = CU_add_suite("http_parse", NULL, NULL);
    if (!s || !CU_add_test(s, "whole heads, bare LF, leading empty lines", test_whole) ||
        !CU_add_test(s, "a head fed one byte at a time", test_bytewise) ||
        !CU_add_test(s, "refusals: 400, 414, 431, 505", test_refusals) ||
        !CU_add_test(s, "target paths and traversal attempts", test_paths) ||
        !CU_add_test(s, "Host and absolute-form authority (RFC 9112 3.2), byte by byte", test_host_authority) ||
        !CU_add_test(s, "two Range lines ignored; If-Match, If-Unmodified-Since, If-Range", test_range_lines_conditionals) ||
        !CU_add_test(s, "MIME types, built in and extended", test_mime) ||
        !CU_add_test(s, "comma-separated lists, member by member", test_list_next))
        return -1;
    return 0;
}
