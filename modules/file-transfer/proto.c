/* proto.c -- parsing the native file-transfer protocol's request lines and
 * checking file names (docs/protocols/file-transfer.md).  Strict: a name is
 * the rest of the line, taken byte for byte, and must pass ft_name_ok. */
#include <stdint.h>
#include <string.h>

#include "ft.h"
#include "netcore/netcore.h"

int ft_name_ok(const char *name, size_t n, const char **why)
{
    if (n == 0 || n > FT_NAME_MAX) {
        *why = "a file name is 1 to 255 bytes";
        return 0;
    }
    if (name[0] == '.') {
        *why = "a file name must not start with '.'";
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '/') {
            *why = "a file name must not contain '/'";
            return 0;
        }
        if (c < 0x20 || c == 0x7f) {
            *why = "a file name must not contain control characters";
            return 0;
        }
    }
    if (!nc_utf8_valid(name, n)) {
        *why = "a file name must be valid UTF-8";
        return 0;
    }
    return 1;
}

/* A decimal number at *p (advanced past it and one following space). */
static int number(const char **p, const char *end, long long *out)
{
    const char *s = *p;
    long long v = 0;
    if (s >= end || *s < '0' || *s > '9')
        return -1;
    while (s < end && *s >= '0' && *s <= '9') {
        if (v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*s++ - '0');
    }
    *out = v;
    *p = s;
    return 0;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int take_name(const char *p, const char *end, ft_req *r, const char **why)
{
    size_t n = (size_t)(end - p);
    if (!ft_name_ok(p, n, why))
        return -1;
    memcpy(r->name, p, n);
    r->name[n] = '\0';
    return 0;
}

int ft_parse_line(const char *line, size_t n, ft_req *r, const char **why)
{
    memset(r, 0, sizeof *r);
    if (n && line[n - 1] == '\r')
        n--;
    const char *end = line + n, *sp = memchr(line, ' ', n);
    size_t cl = sp ? (size_t)(sp - line) : n;
    const char *p = sp ? sp + 1 : end;
    if (cl == 4 && !memcmp(line, "LIST", 4) && !sp) {
        r->op = FT_LIST;
        return 0;
    }
    if (cl == 4 && !memcmp(line, "QUIT", 4) && !sp) {
        r->op = FT_QUIT;
        return 0;
    }
    if (cl == 6 && !memcmp(line, "SHA256", 6)) {
        r->op = FT_SHA256;
        if (!sp) {
            *why = "usage: SHA256 NAME";
            return -1;
        }
        return take_name(p, end, r, why);
    }
    if (cl == 3 && !memcmp(line, "GET", 3)) {
        r->op = FT_GET;
        if (!sp || number(&p, end, &r->offset) < 0 || p >= end || *p != ' ') {
            *why = "usage: GET OFFSET NAME";
            return -1;
        }
        return take_name(p + 1, end, r, why);
    }
    if (cl == 3 && !memcmp(line, "PUT", 3)) {
        r->op = FT_PUT;
        if (!sp || number(&p, end, &r->size) < 0 || p >= end || *p != ' ') {
            *why = "usage: PUT SIZE SHA256|- NAME";
            return -1;
        }
        p++;
        if (p < end && *p == '-') {
            p++;
        } else {
            if (end - p < 64) {
                *why = "usage: PUT SIZE SHA256|- NAME (SHA256: 64 hex digits)";
                return -1;
            }
            for (int i = 0; i < 32; i++) {
                int hi = hexval(p[2 * i]), lo = hexval(p[2 * i + 1]);
                if (hi < 0 || lo < 0) {
                    *why = "usage: PUT SIZE SHA256|- NAME (SHA256: 64 hex digits)";
                    return -1;
                }
                r->sha[i] = (unsigned char)(hi * 16 + lo);
            }
            r->has_sha = 1;
            p += 64;
        }
        if (p >= end || *p != ' ') {
            *why = "usage: PUT SIZE SHA256|- NAME";
            return -1;
        }
        return take_name(p + 1, end, r, why);
    }
    *why = "unknown request (LIST, GET, PUT, SHA256, QUIT)";
    return -1;
}
