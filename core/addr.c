/* addr.c -- listen address parsing and formatting.  Only numeric addresses
 * (and "*" and "localhost"): resolving names would block and would make a
 * config mean different things on different days. */
#include "addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

static int parse_port(const char *p, in_port_t *out, const char **err)
{
    if (*p == '\0') {
        *err = "missing port after ':'";
        return -1;
    }
    long v = 0;
    for (const char *q = p; *q; q++) {
        if (*q < '0' || *q > '9') {
            *err = "port must be a number";
            return -1;
        }
        v = v * 10 + (*q - '0');
        if (v > 65535) {
            *err = "port must be 0..65535";
            return -1;
        }
    }
    *out = htons((in_port_t)v);
    return 0;
}

int nc__addr_parse(const char *s, nc__addr *a, const char **err)
{
    memset(a, 0, sizeof *a);
    if (strncmp(s, "unix:", 5) == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *)&a->ss;
        const char *path = s + 5;
        if (*path == '\0') {
            *err = "missing path after \"unix:\"";
            return -1;
        }
        if (strlen(path) >= sizeof un->sun_path) {
            *err = "unix socket path is longer than 107 bytes";
            return -1;
        }
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, path);
        a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
        return 0;
    }
    char host[64];
    const char *port;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':') {
            *err = "expected \"[IPv6]:PORT\"";
            return -1;
        }
        size_t hl = (size_t)(close - s - 1);
        if (hl >= sizeof host) {
            *err = "not an IPv6 address";
            return -1;
        }
        memcpy(host, s + 1, hl);
        host[hl] = '\0';
        port = close + 2;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;
        in6->sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1) {
            *err = "not an IPv6 address";
            return -1;
        }
        if (parse_port(port, &in6->sin6_port, err) < 0)
            return -1;
        a->len = sizeof *in6;
        return 0;
    }
    const char *colon = strrchr(s, ':');
    if (!colon) {
        *err = "expected \"HOST:PORT\", \"[IPv6]:PORT\" or \"unix:PATH\"";
        return -1;
    }
    size_t hl = (size_t)(colon - s);
    if (hl >= sizeof host || memchr(s, ':', hl)) {
        *err = "expected \"HOST:PORT\" (write IPv6 addresses as \"[::1]:PORT\")";
        return -1;
    }
    memcpy(host, s, hl);
    host[hl] = '\0';
    struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;
    in->sin_family = AF_INET;
    if (strcmp(host, "*") == 0 || hl == 0) {
        in->sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (strcmp(host, "localhost") == 0) {
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (inet_pton(AF_INET, host, &in->sin_addr) != 1) {
        *err = "not an IPv4 address (names other than localhost are not resolved)";
        return -1;
    }
    if (parse_port(colon + 1, &in->sin_port, err) < 0)
        return -1;
    a->len = sizeof *in;
    return 0;
}

void nc__addr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t n)
{
    char host[INET6_ADDRSTRLEN];
    switch (sa->sa_family) {
    case AF_INET: {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(buf, n, "%s:%u", host, ntohs(in->sin_port));
        break;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(buf, n, "[%s]:%u", host, ntohs(in6->sin6_port));
        break;
    }
    case AF_UNIX: {
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        size_t off = offsetof(struct sockaddr_un, sun_path);
        if (len > off && un->sun_path[0])
            snprintf(buf, n, "unix:%.*s", (int)(len - off), un->sun_path);
        else
            snprintf(buf, n, "unix");
        break;
    }
    default:
        snprintf(buf, n, "?");
    }
}

int nc__addr_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return -1;
}
