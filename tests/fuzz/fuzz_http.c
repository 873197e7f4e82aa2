/* fuzz_http.c -- a libFuzzer target for http-static's request parser and
 * path resolver: the input parsed whole and again one byte at a time (both
 * must agree), every target resolved, and a resolved path checked to never
 * climb out of the root. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    http_req whole, bytewise;
    size_t scan = 0;
    long a = http_parse(buf, size, &scan, 8192, 8192, &whole);
    long b = 0;
    scan = 0;
    for (size_t i = 1; i <= size && b == 0; i++)
        b = http_parse(buf, i, &scan, 8192, 8192, &bytewise);
    /* Fed byte by byte, the parser must stop at the same head (or refuse
     * at the same point), never see a different request. */
    if (a > 0 && b != a)
        abort();
    if (a > 0) {
        char out[4096];
        int dir;
        const char *q;
        size_t ql;
        if (http_path(whole.target, whole.target_len, out, sizeof out, &dir, &q, &ql) == 0) {
            if (strstr(out, "..") && (!strncmp(out, "../", 3) || strstr(out, "/../") || !strcmp(out, "..")))
                abort(); /* a ".." segment survived */
            if (out[0] == '/' || memchr(out, '\\', strlen(out)))
                abort();
        }
    }
    /* and the resolver on raw input */
    char out[4096];
    int dir;
    const char *q;
    size_t ql;
    if (http_path(buf, size, out, sizeof out, &dir, &q, &ql) == 0 && (out[0] == '/' || !strcmp(out, "..")))
        abort();
    return 0;
}
