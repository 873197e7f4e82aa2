/* util.c -- small text helpers of the public API: UTF-8 validation, JSON
 * string escaping and base64, shared by the modules that speak text. */
#include <string.h>

#include "netcore/netcore.h"

int nc_utf8_valid(const void *sv, size_t n)
{
    const unsigned char *s = sv, *e = s + n;
    while (s < e) {
        /* ASCII runs are the common case: skip eight bytes at a time. */
        while (e - s >= 8) {
            uint64_t w;
            memcpy(&w, s, 8);
            if (w & 0x8080808080808080ull)
                break;
            s += 8;
        }
        if (s >= e)
            break;
        unsigned c = *s;
        if (c < 0x80) {
            s++;
            continue;
        }
        size_t len;
        unsigned min, cp;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2, min = 0x80, cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3, min = 0x800, cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4, min = 0x10000, cp = c & 0x07;
        } else {
            return 0; /* continuation byte, overlong lead (c0, c1) or > f4 */
        }
        if ((size_t)(e - s) < len)
            return 0;
        for (size_t i = 1; i < len; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        s += len;
    }
    return 1;
}

/* Bytes that need an escape in a JSON string: controls, '"', '\\', DEL. */
static int needs_escape(unsigned char c)
{
    return c < 0x20 || c == '"' || c == '\\' || c == 0x7f;
}

size_t nc_json_escape(char *out, size_t cap, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, i = 0;
    while (i < n) {
        /* Copy the run that needs no escaping in one go: most text is one run. */
        size_t run = i;
        while (run < n && !needs_escape((unsigned char)s[run]))
            run++;
        if (run > i) {
            if (o + (run - i) <= cap)
                memcpy(out + o, s + i, run - i);
            o += run - i;
            i = run;
            if (i == n)
                break;
        }
        unsigned char c = (unsigned char)s[i++];
        char esc = c == '"' ? '"' : c == '\\' ? '\\' : c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't'
                 : c == '\b' ? 'b' : c == '\f' ? 'f' : 0;
        if (esc) {
            if (o + 2 <= cap) {
                out[o] = '\\';
                out[o + 1] = esc;
            }
            o += 2;
        } else {
            if (o + 6 <= cap) {
                memcpy(out + o, "\\u00", 4);
                out[o + 4] = hex[c >> 4];
                out[o + 5] = hex[c & 15];
            }
            o += 6;
        }
    }
    return o;
}

size_t nc_base64_encode(char *out, size_t cap, const void *sv, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = sv;
    size_t need = (n + 2) / 3 * 4;
    if (need > cap)
        return need;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
        out[o++] = tab[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0);
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    return o;
}
