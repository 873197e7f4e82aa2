/* ft.h -- the file-transfer module's request-line parser and file-name
 * rules; private to the module (and its tests and fuzzers). */
#ifndef NC_FT_H
#define NC_FT_H

#include <stddef.h>

#define FT_NAME_MAX 255
#define FT_LINE_MAX 4096

enum ft_op { FT_LIST, FT_GET, FT_PUT, FT_SHA256, FT_QUIT };

typedef struct ft_req {
    int op;
    long long offset;      /* GET */
    long long size;        /* PUT */
    int has_sha;           /* PUT: a SHA-256 was given */
    unsigned char sha[32];
    char name[FT_NAME_MAX + 1];
} ft_req;

/* Parse one request line (without its "\n"; a trailing "\r" is allowed).
 * Returns 0, or -1 with *why set to the message for "ERR 400 ...". */
int ft_parse_line(const char *line, size_t n, ft_req *r, const char **why);
/* A file name the server accepts: 1..255 bytes of UTF-8, no '/', no NUL or
 * control character, not "." or "..", no leading '.' (the server's
 * temporary files).  Returns 1, or 0 with *why set. */
int ft_name_ok(const char *name, size_t n, const char **why);

#endif
