/* path.c -- from a request target to a path relative to the root.  The
 * decoded path is checked after decoding, once: an encoded slash or dot is
 * just a slash or dot, so "%2e%2e%2f" climbs exactly like "../" and is
 * refused the same way; nothing is decoded twice ("%252e" stays "%2e"). */
#include <string.h>

#include "http.h"
#include "netcore/netcore.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int http_path(const char *t, size_t n, char *out, size_t cap, int *dir_slash, const char **query,
              size_t *qlen)
{
    *query = NULL;
    *qlen = 0;
    *dir_slash = 0;
    /* absolute-form: scheme://authority[/path][?query][#fragment], the
     * authority already checked by http_parse; an empty path is "/" */
    size_t sl = http_scheme_len(t, n);
    int absolute = sl > 0;
    if (absolute) {
        size_t a = sl;
        while (a < n && t[a] != '/' && t[a] != '?' && t[a] != '#')
            a++;
        t += a;
        n -= a;
    }
    const char *hash = memchr(t, '#', n);
    if (hash)
        n = (size_t)(hash - t);
    const char *qm = memchr(t, '?', n);
    if (qm) {
        *query = qm + 1;
        *qlen = n - (size_t)(qm + 1 - t);
        n = (size_t)(qm - t);
    }
    if (absolute && n == 0) {
        t = "/";
        n = 1;
    }
    if (n == 0 || t[0] != '/')
        return -400;
    /* Decode into out, with a leading '/' kept as a sentinel. */
    char tmp[4096];
    if (n >= sizeof tmp || n >= cap)
        return -400;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c == '%') {
            int hi = i + 2 < n ? hexval(t[i + 1]) : -1, lo = i + 2 < n ? hexval(t[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -400;
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (c == 0 || c == '\\' || c < 0x20 || c == 0x7f)
            return -400;
        tmp[k++] = (char)c;
    }
    if (k && !nc_utf8_valid(tmp, k))
        return -400; /* overlong forms of '.' and '/' included */
    *dir_slash = k > 0 && tmp[k - 1] == '/';
    /* Resolve segments. */
    size_t o = 0;
    size_t i = 0;
    while (i < k) {
        while (i < k && tmp[i] == '/')
            i++;
        size_t s = i;
        while (i < k && tmp[i] != '/')
            i++;
        size_t len = i - s;
        if (len == 0 || (len == 1 && tmp[s] == '.'))
            continue;
        if (len == 2 && tmp[s] == '.' && tmp[s + 1] == '.') {
            if (o == 0)
                return -400; /* above the root */
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--; /* the slash before it */
            continue;
        }
        if (o + len + 2 > cap)
            return -400;
        if (o)
            out[o++] = '/';
        memcpy(out + o, tmp + s, len);
        o += len;
    }
    out[o] = '\0';
    /* "/a/.." ends at the root: treat as a directory reference. */
    if (o == 0)
        *dir_slash = 1;
    return 0;
}
