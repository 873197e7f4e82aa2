/* ref.h -- the few lines every reference server of bench/ref/ shares: the
 * -a ADDR -p PORT command line, the descriptor limit raised, a
 * non-blocking IPv4 listening socket, and the epoll servers' accept.  Header-only (static inline functions) so
 * each server stays one compilation unit, built by `ninja bench`. */
#ifndef NC_BENCH_REF_H
#define NC_BENCH_REF_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* Parses -a ADDR and -p PORT (both optional, *addr and *port keep their
 * defaults otherwise); exits with status 2 and a usage line on anything
 * else. */
static inline void ref_args(int argc, char **argv, const char **addr, int *port)
{
    int ch;
    while ((ch = getopt(argc, argv, "a:p:")) != -1) {
        if (ch == 'a') {
            *addr = optarg;
        } else if (ch == 'p') {
            *port = atoi(optarg);
        } else {
            fprintf(stderr, "usage: %s [-a ADDR] [-p PORT]\n", argv[0]);
            exit(2);
        }
    }
    if (*port <= 0 || *port > 65535) {
        fprintf(stderr, "%s: -p needs a port between 1 and 65535\n", argv[0]);
        exit(2);
    }
}

/* The servers are measured with thousands of connections: take the hard
 * descriptor limit, and ignore SIGPIPE (a peer that went away is an EPIPE
 * on write, handled as a close).  Returns the new soft limit. */
static inline long ref_setup_process(void)
{
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 1024;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return (long)rl.rlim_cur;
}

/* A non-blocking TCP socket listening on ADDR:PORT (IPv4, SO_REUSEADDR,
 * backlog 4096).  Exits with status 1 and the reason when it cannot. */
static inline int ref_listen(const char *prog, const char *addr, int port)
{
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (fd < 0 || inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        fprintf(stderr, "%s: %s is not an IPv4 address\n", prog, addr);
        exit(1);
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4096) < 0) {
        fprintf(stderr, "%s: cannot listen on %s:%d: ", prog, addr, port);
        perror(NULL);
        exit(1);
    }
    fprintf(stderr, "%s: listening on %s:%d\n", prog, addr, port);
    return fd;
}

/* The epoll servers: an epoll instance with a listening socket on
 * ADDR:PORT registered for EPOLLIN with data.ptr = tag, which tells its
 * events from the connections'.  *lfd gets the socket.  Returns the epoll
 * descriptor. */
static inline int ref_epoll_listen(const char *prog, const char *addr, int port, void *tag, int *lfd)
{
    *lfd = ref_listen(prog, addr, port);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = tag};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, *lfd, &ev) < 0) {
        perror(prog);
        exit(1);
    }
    return ep;
}

/* Accepts one connection (TCP_NODELAY: ping-pong must not wait for Nagle)
 * into a zeroed object of `size` bytes whose first member is its int fd,
 * registered with ep for EPOLLIN with data.ptr = the object.  A descriptor
 * at or above maxfd, or one we have no memory for, is closed.  Returns the
 * object (the caller owns it), or NULL when no connection is waiting. */
static inline void *ref_accept(int lfd, long maxfd, int ep, size_t size)
{
    int one = 1, fd;
    while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        int *obj = calloc(1, size);
        if (!obj || fd >= maxfd) {
            free(obj);
            close(fd);
            continue;
        }
        *obj = fd;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = obj};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        return obj;
    }
    return NULL;
}

#endif
