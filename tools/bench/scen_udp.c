/* scen_udp.c -- the udp scenario: send datagrams of S bytes (a 64-bit
 * sequence number in the first 8 bytes) at --rate per second, or as fast as
 * sendmmsg allows, for the duration.  It prints what it sent, so that the
 * receiver's count can be set beside it; each datagram sent in the measured
 * window is one operation. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

#define BATCH 64

struct ustate {
    int fd;
    uint64_t seq;
    uint64_t first_send;
    unsigned char *bufs;
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
};

static int udp_start(run *r)
{
    struct ustate *u = calloc(1, sizeof *u);
    r->state = u;
    u->fd = socket(r->t->ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (u->fd < 0 || connect(u->fd, (struct sockaddr *)&r->t->ss, r->t->sl) < 0) {
        fprintf(stderr, "netcore-bench: udp socket to %s: %s\n", r->t->addr, strerror(errno));
        return -1;
    }
    size_t s = r->o->size < 8 ? 8 : r->o->size;
    u->bufs = calloc(BATCH, s);
    for (int i = 0; i < BATCH; i++) {
        memset(u->bufs + (size_t)i * s + 8, 'u', s - 8);
        u->iov[i].iov_base = u->bufs + (size_t)i * s;
        u->iov[i].iov_len = r->o->size;
        u->msgs[i].msg_hdr.msg_iov = &u->iov[i];
        u->msgs[i].msg_hdr.msg_iovlen = 1;
    }
    u->first_send = now_ns();
    return 0;
}

static void udp_tick(run *r)
{
    struct ustate *u = r->state;
    uint64_t due = BATCH;
    if (r->o->rate > 0) {
        double el = (double)(now_ns() - u->first_send) / 1e9;
        uint64_t want = (uint64_t)(el * r->o->rate);
        if (want <= u->seq)
            return;
        due = want - u->seq;
        if (due > BATCH)
            due = BATCH;
    }
    size_t s = r->o->size < 8 ? 8 : r->o->size;
    for (unsigned i = 0; i < due; i++) {
        uint64_t q = u->seq + i + 1;
        memcpy(u->bufs + (size_t)i * s, &q, 8);
    }
    int n = sendmmsg(u->fd, u->msgs, (unsigned)due, 0);
    if (n < 0) {
        if (errno == ECONNREFUSED)
            r->res->err_connect++;
        else if (errno != EAGAIN && errno != ENOBUFS && errno != EINTR)
            r->res->err_reset++;
        return;
    }
    u->seq += (uint64_t)n;
    r->res->sent += (uint64_t)n;
    if (r->measuring) {
        r->res->ops += (uint64_t)n;
        r->res->bytes += (uint64_t)n * r->o->size;
    }
}

static void udp_finish(run *r)
{
    struct ustate *u = r->state;
    if (!r->o->quiet)
        fprintf(stderr, "netcore-bench: udp: sent %llu datagrams of %zu bytes to %s (last seq %llu)\n",
                (unsigned long long)u->seq, r->o->size, r->t->addr, (unsigned long long)u->seq);
    close(u->fd);
    free(u->bufs);
}

const scenario scen_udp = {
    .name = "udp",
    .start = udp_start,
    .on_tick = udp_tick,
    .finish = udp_finish,
};
