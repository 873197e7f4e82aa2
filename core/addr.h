/* addr.h -- listen addresses: parsing "127.0.0.1:7000", "[::1]:7000",
 * "*:7000", "unix:/path" and formatting socket addresses back to text. */
#ifndef NC_CORE_ADDR_H
#define NC_CORE_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

typedef struct nc__addr {
    struct sockaddr_storage ss;
    socklen_t len;
} nc__addr;

/* Parse s.  Returns 0, or -1 with *err pointing at a static message that
 * says what was expected. */
int nc__addr_parse(const char *s, nc__addr *a, const char **err);
/* "1.2.3.4:80", "[::1]:80", "unix:/p" (or "unix" for an unnamed peer). */
void nc__addr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t n);
int nc__addr_port(const struct sockaddr *sa);

#define NC_ADDRSTRLEN 120

#endif
