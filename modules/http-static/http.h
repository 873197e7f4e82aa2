/* http.h -- the http-static module's internal interfaces: the request-head
 * parser, the URL path resolver and the MIME table.  Private to the module
 * (and its unit tests and fuzzers); modules share no headers. */
#ifndef NC_HTTP_H
#define NC_HTTP_H

#include <stddef.h>
#include <stdint.h>

/* Everything the server needs from a request head.  Pointers point into the
 * buffer given to http_parse and are valid while it is. */
typedef struct http_req {
    const char *method;
    size_t method_len;
    const char *target;
    size_t target_len;
    int minor;                 /* HTTP/1.minor */
    const char *host;
    size_t host_len;
    int has_host;
    int conn_close, conn_keepalive;
    long long content_length;  /* -1: none */
    int chunked;               /* Transfer-Encoding present */
    const char *inm, *ims, *im, *ius, *range, *if_range, *ua, *referer;
    size_t inm_len, ims_len, im_len, ius_len, range_len, if_range_len, ua_len, referer_len;
    int range_lines;           /* Range field lines seen; past one, range is NULL (ignored) */
    size_t line_len;           /* the request line, without its line end */
} http_req;

/* Is s[0..n) a valid Host field value (RFC 9112 3.2, RFC 3986 3.2.2):
 * empty, or uri-host [":" port] where uri-host is an IP-literal in brackets
 * (IPv6 or IPvFuture), or a non-empty reg-name (an IPv4 address is one) of
 * unreserved, sub-delims and %XX, and port is up to 5 digits no more than
 * 65535?  Returns 1 or 0. */
int http_host_valid(const char *s, size_t n);

/* The next member of a comma-separated header list (RFC 9110 5.6.1) from
 * v[*pos]: empty members and the whitespace around members are skipped.
 * Returns 1 with the member in v[*s, *e) and *pos moved past it, or 0 at
 * the end.  The one list tokenizer: Connection tokens, entity-tag lists. */
int http_list_next(const char *v, size_t n, size_t *pos, size_t *s, size_t *e);

/* 7 or 8 when t[0..n) starts with "http://" or "https://" (any case): an
 * absolute-form target; else 0. */
size_t http_scheme_len(const char *t, size_t n);

/* Parse the request head at buf[0..len).  Returns the head's length in
 * bytes (request line, headers, blank line) with req filled in; 0 when the
 * head is not complete yet (call again with more); or -STATUS for a request
 * to refuse: -400 malformed (an invalid Host value, or an absolute-form
 * target whose authority is empty, has userinfo or is not a valid host,
 * included), -414 request line over max_line, -431 head over max_head,
 * -505 an HTTP major version other than 1.  Two or more Range lines leave
 * range NULL (the request is served as if it had none).  *scan is where the
 * search for the end of the head resumes (0 for a new request), so feeding
 * a head one byte at a time costs linear time.  Empty lines before a request
 * line are part of the head. */
long http_parse(const char *buf, size_t len, size_t *scan, size_t max_line, size_t max_head,
                http_req *req);

/* Decode the request target's path: skip an absolute-form scheme and
 * authority, cut the query (returned through *query, without '?') and the
 * fragment, percent-decode once, resolve "." and ".." segments and collapse
 * repeated slashes.  The result, written to out, is relative to the root
 * ("" is the root itself) and never contains "..", NUL, a backslash or a
 * control character, and is valid UTF-8.  *dir_slash tells whether the
 * path ended with '/'.  Returns 0, or -400 for a target that is malformed
 * or tries to climb above the root. */
int http_path(const char *target, size_t n, char *out, size_t cap, int *dir_slash,
              const char **query, size_t *qlen);

/* The MIME type for a file name (by extension, case-insensitive), from the
 * extra table first (may be NULL), then the built-in one;
 * "application/octet-stream" when unknown.  *text tells whether
 * "; charset=utf-8" belongs after it. */
typedef struct http_mime_extra {
    char *ext;
    char *type;
} http_mime_extra;
const char *http_mime(const char *name, const http_mime_extra *extra, size_t nextra, int *text);

#endif
