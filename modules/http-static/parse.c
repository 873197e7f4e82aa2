/* parse.c -- the HTTP/1.x request-head parser: strict where a lax reading
 * could let two parties disagree about where a request ends (header names,
 * Content-Length, Transfer-Encoding, obsolete line folding), lenient where it
 * costs nothing (bare LF line ends, empty lines before the request). */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "http.h"

static int tchar(unsigned char c)
{
    /* RFC 9110 token characters */
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int ieq(const char *a, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(a, lit, n) == 0;
}

int http_list_next(const char *v, size_t n, size_t *pos, size_t *s, size_t *e)
{
    size_t i = *pos;
    for (;;) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        if (i >= n) {
            *pos = i;
            return 0;
        }
        size_t b = i;
        while (i < n && v[i] != ',')
            i++;
        size_t end = i;
        while (end > b && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        if (end > b) {
            *pos = i;
            *s = b;
            *e = end;
            return 1;
        }
    }
}

/* Does the comma-separated list v contain the token tok (any case)? */
static int has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok), pos = 0, s, e;
    while (http_list_next(v, n, &pos, &s, &e))
        if (e - s == tl && strncasecmp(v + s, tok, tl) == 0)
            return 1;
    return 0;
}

static int hexdig(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 3986 unreserved and sub-delims: what a reg-name holds besides %XX. */
static int regchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("-._~!$&'()*+,;=", c));
}

/* "[" ( IPv6address / "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ) ) "]"
 * at s[0..n); returns its length or 0. */
static size_t ip_literal(const char *s, size_t n)
{
    const char *close = memchr(s, ']', n);
    if (!close)
        return 0;
    size_t l = (size_t)(close - s) - 1;
    const char *a = s + 1;
    if (l && (a[0] == 'v' || a[0] == 'V')) {
        size_t i = 1;
        while (i < l && hexdig((unsigned char)a[i]))
            i++;
        if (i == 1 || i >= l - 1 || a[i] != '.')
            return 0;
        for (i++; i < l; i++)
            if (!regchar((unsigned char)a[i]) && a[i] != ':')
                return 0;
        return l + 2;
    }
    char buf[INET6_ADDRSTRLEN + 8];
    struct in6_addr in6;
    if (l == 0 || l >= sizeof buf)
        return 0;
    memcpy(buf, a, l);
    buf[l] = '\0';
    return inet_pton(AF_INET6, buf, &in6) == 1 ? l + 2 : 0;
}

int http_host_valid(const char *s, size_t n)
{
    if (n == 0)
        return 1; /* RFC 9112 3.2: empty when the target has no authority */
    size_t i = 0;
    if (s[0] == '[') {
        if (!(i = ip_literal(s, n)))
            return 0;
    } else {
        while (i < n && s[i] != ':') {
            if (regchar((unsigned char)s[i]))
                i++;
            else if (s[i] == '%' && i + 2 < n && hexdig((unsigned char)s[i + 1]) && hexdig((unsigned char)s[i + 2]))
                i += 3;
            else
                return 0;
        }
        if (i == 0)
            return 0; /* ":80": an http host is never empty (RFC 9110 4.2.1) */
    }
    if (i == n)
        return 1;
    if (s[i++] != ':' || n - i > 5)
        return 0;
    long port = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        port = port * 10 + (s[i] - '0');
    }
    return port <= 65535;
}

size_t http_scheme_len(const char *t, size_t n)
{
    return n >= 7 && strncasecmp(t, "http://", 7) == 0 ? 7 : n >= 8 && strncasecmp(t, "https://", 8) == 0 ? 8 : 0;
}

/* An absolute-form target (RFC 9112 3.2.2): "http://" or "https://" (any
 * case), then an authority that must be a valid, non-empty host without
 * userinfo.  Returns 1 when t is not absolute-form or is valid, else 0. */
static int absolute_ok(const char *t, size_t n)
{
    size_t sl = http_scheme_len(t, n);
    if (!sl)
        return 1;
    const char *a = t + sl;
    size_t al = 0;
    while (sl + al < n && a[al] != '/' && a[al] != '?' && a[al] != '#')
        al++;
    return al > 0 && !memchr(a, '@', al) && http_host_valid(a, al);
}

/* Find the end of the head from *scan on: the blank line.  Returns the
 * head's length or 0. */
static size_t head_end(const char *buf, size_t len, size_t *scan, size_t start)
{
    size_t i = *scan > start ? *scan : start;
    for (; i < len; i++) {
        if (buf[i] != '\n')
            continue;
        /* "\n\n" or "\n\r\n" ends the head */
        if (i + 1 < len && buf[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
            return i + 3;
        if (i + 2 >= len) {
            /* Not decidable yet: resume from this newline next time. */
            *scan = i;
            return 0;
        }
    }
    *scan = len;
    return 0;
}

long http_parse(const char *buf, size_t len, size_t *scan, size_t max_line, size_t max_head,
                http_req *req)
{
    size_t start = 0;
    while (start < len && (buf[start] == '\r' || buf[start] == '\n'))
        start++;
    if (start > 64)
        return -400; /* a stream of empty lines is not a request */
    /* A request line starts with a method token: a byte that cannot be in
     * one (a TLS ClientHello's 0x16, binary) is a 400 at once rather than
     * after header_timeout_ms, whether or not a newline ever comes. */
    size_t m = start;
    while (m < len && m - start < 32 && tchar((unsigned char)buf[m]))
        m++;
    if (m < len && m - start < 32 && buf[m] != ' ')
        return -400;
    const char *nl = memchr(buf + start, '\n', len - start);
    size_t line_end = nl ? (size_t)(nl - buf) : len;
    if (line_end - start > max_line)
        return -414;
    if (!nl)
        return 0;
    size_t hl = head_end(buf, len, scan, line_end);
    if (!hl)
        return len - start > max_head ? -431 : 0;
    if (hl - start > max_head)
        return -431;

    memset(req, 0, sizeof *req);
    req->content_length = -1;

    /* Request line: METHOD SP TARGET SP HTTP/1.x */
    const char *p = buf + start, *e = buf + line_end;
    if (e > p && e[-1] == '\r')
        e--;
    req->line_len = (size_t)(e - p);
    const char *q = p;
    while (q < e && tchar((unsigned char)*q))
        q++;
    if (q == p || q >= e || *q != ' ')
        return -400;
    req->method = p;
    req->method_len = (size_t)(q - p);
    p = q + 1;
    q = p;
    while (q < e && (unsigned char)*q > ' ' && *q != 0x7f)
        q++;
    if (q == p || q >= e || *q != ' ')
        return -400;
    req->target = p;
    req->target_len = (size_t)(q - p);
    if (!absolute_ok(req->target, req->target_len))
        return -400;
    p = q + 1;
    if (e - p != 8 || memcmp(p, "HTTP/", 5) != 0 || p[5] < '0' || p[5] > '9' || p[6] != '.' ||
        p[7] < '0' || p[7] > '9')
        return -400;
    if (p[5] != '1')
        return -505;
    req->minor = p[7] - '0';

    /* Header fields */
    p = buf + line_end + 1;
    const char *end = buf + hl;
    int n_host = 0, n_cl = 0;
    for (;;) {
        const char *le = memchr(p, '\n', (size_t)(end - p));
        const char *ve = le;
        if (ve > p && ve[-1] == '\r')
            ve--;
        if (ve == p)
            break; /* the blank line */
        if (*p == ' ' || *p == '\t')
            return -400; /* obsolete line folding */
        const char *c = p;
        while (c < ve && tchar((unsigned char)*c))
            c++;
        if (c == p || c >= ve || *c != ':')
            return -400; /* no name, or whitespace before the colon */
        const char *name = p;
        size_t nlen = (size_t)(c - p);
        const char *v = c + 1;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        const char *vend = ve;
        while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
            vend--;
        for (const char *x = v; x < vend; x++)
            if (((unsigned char)*x < 0x20 && *x != '\t') || *x == 0x7f)
                return -400;
        size_t vlen = (size_t)(vend - v);
        if (ieq(name, nlen, "host")) {
            if (n_host++ || !http_host_valid(v, vlen))
                return -400;
            req->host = v;
            req->host_len = vlen;
            req->has_host = 1;
        } else if (ieq(name, nlen, "connection")) {
            if (has_token(v, vlen, "close"))
                req->conn_close = 1;
            if (has_token(v, vlen, "keep-alive"))
                req->conn_keepalive = 1;
        } else if (ieq(name, nlen, "content-length")) {
            long long cl = 0;
            if (vlen == 0 || vlen > 18)
                return -400;
            for (size_t i = 0; i < vlen; i++) {
                if (v[i] < '0' || v[i] > '9')
                    return -400;
                cl = cl * 10 + (v[i] - '0');
            }
            if (n_cl++ && cl != req->content_length)
                return -400;
            req->content_length = cl;
        } else if (ieq(name, nlen, "transfer-encoding")) {
            req->chunked = 1;
        } else if (ieq(name, nlen, "if-none-match")) {
            req->inm = v, req->inm_len = vlen;
        } else if (ieq(name, nlen, "if-modified-since")) {
            req->ims = v, req->ims_len = vlen;
        } else if (ieq(name, nlen, "if-match")) {
            req->im = v, req->im_len = vlen;
        } else if (ieq(name, nlen, "if-unmodified-since")) {
            req->ius = v, req->ius_len = vlen;
        } else if (ieq(name, nlen, "range")) {
            /* Two lines combine into "bytes=a, bytes=b", which is no valid
             * range-set: the request is served as if it had no Range. */
            if (req->range_lines++)
                req->range = NULL, req->range_len = 0;
            else
                req->range = v, req->range_len = vlen;
        } else if (ieq(name, nlen, "if-range")) {
            req->if_range = v, req->if_range_len = vlen;
        } else if (ieq(name, nlen, "user-agent")) {
            req->ua = v, req->ua_len = vlen;
        } else if (ieq(name, nlen, "referer")) {
            req->referer = v, req->referer_len = vlen;
        }
        p = le + 1;
    }
    /* Both framings at once is how request smuggling starts. */
    if (req->chunked && req->content_length >= 0)
        return -400;
    return (long)hl;
}
