/* busipc.c -- measures the candidate mechanisms for the local bus (issue 20):
 * how a worker hands a 64-byte message to another worker process. Prints
 * messages per second, CPU per message and publish-to-delivery latency for
 * Unix SOCK_SEQPACKET pairs (a send per message), a SOCK_STREAM pair written
 * once per batch, a shared-memory ring with an eventfd wake-up,
 * and a hop through a broker process (what "the master relays" would cost).
 *
 *   ninja build/bench-busipc && build/bench-busipc [-n MSGS] [-r RATE] [-s SIZE]
 *
 * Rate 0: as fast as the receiver keeps up (throughput); a rate: paced
 * publishing, for the latency a lightly loaded bus has. */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sched.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

/* What the receiver reports back through a pipe when it has them all. */
typedef struct result {
    long long first_ns, last_ns, cpu_us;
    long long lat_p50, lat_p99, lat_max;
    long got;
} result;

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static long long cpu_us_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

#define SLOT 128 /* the largest message measured */
static long nmsg = 1000000, rate = 0;
static size_t msize = 64;

/* Paces the publisher: sleeps until message i is due at `rate`. */
static void pace(long i, long long t0)
{
    if (!rate)
        return;
    /* Sleeping, not spinning: the CPU figure is the mechanism's. */
    long long due = t0 + i * 1000000000LL / rate;
    struct timespec ts = {due / 1000000000LL, due % 1000000000LL};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static void finish(result *r, long long *lat, int out)
{
    r->cpu_us = cpu_us_self();
    qsort(lat, (size_t)r->got, sizeof *lat, cmp_ll);
    r->lat_p50 = lat[r->got / 2];
    r->lat_p99 = lat[r->got * 99 / 100];
    r->lat_max = lat[r->got - 1];
    if (write(out, r, sizeof *r) != sizeof *r)
        die("write result");
}

/* One message delivered: its latency from the timestamp it carries. */
static void record(result *r, long long *lat, const char *m)
{
    long long t, nw = now_ns();
    memcpy(&t, m, sizeof t);
    lat[r->got] = nw - t;
    if (!r->got)
        r->first_ns = nw;
    r->last_ns = nw;
    r->got++;
}

/* ---- sockets: publisher -> receiver, or publisher -> broker -> receiver ---- */

static void sock_send(int fd, const char *m)
{
    for (;;) {
        ssize_t w = send(fd, m, msize, 0);
        if (w == (ssize_t)msize)
            return;
        if (w < 0 && errno == EINTR)
            continue;
        die("send");
    }
}

/* Reads messages (blocking on epoll) until n have come; forward, if >= 0,
 * relays each (the broker). */
static void sock_recv_loop(int fd, int forward, int out, int stream)
{
    static char sbuf[65536 + 2 * SLOT];
    size_t slen = 0;
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    long long *lat = forward < 0 ? malloc(sizeof *lat * (size_t)nmsg) : NULL;
    result r = {0};
    char m[65536];
    while (r.got < nmsg) {
        struct epoll_event e;
        if (epoll_wait(ep, &e, 1, -1) < 0 && errno != EINTR)
            die("epoll_wait");
        while (r.got < nmsg) { /* not past the last: the sender may close then */
            ssize_t n = recv(fd, m, sizeof m, MSG_DONTWAIT);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                break;
            if (n <= 0)
                die("recv");
            if (stream) {
                /* A byte stream: whole messages out of it, the rest kept. */
                memcpy(sbuf + slen, m, (size_t)n);
                slen += (size_t)n;
                size_t off = 0;
                for (; slen - off >= msize; off += msize)
                    record(&r, lat, sbuf + off);
                memmove(sbuf, sbuf + off, slen - off);
                slen -= off;
                continue;
            }
            if (forward >= 0) {
                sock_send(forward, m);
                r.got++;
            } else {
                record(&r, lat, m);
            }
        }
    }
    if (forward < 0)
        finish(&r, lat, out);
    else
        _exit(0);
}

static void seqpacket(int fds[2])
{
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fds) < 0)
        die("socketpair");
    int sz = 4 << 20;
    setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
}

/* ---- the ring: single producer, single consumer, fixed-size slots ---- */

#define RING_SLOTS 16384
typedef struct ring {
    _Atomic uint64_t head; /* written by the producer */
    char pad1[56];
    _Atomic uint64_t tail; /* written by the consumer */
    _Atomic int sleeping;  /* the consumer is (about to be) in epoll_wait */
    char pad2[52];
    char slot[RING_SLOTS][SLOT];
} ring;

static void ring_recv_loop(ring *q, int efd, int out)
{
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = efd};
    epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
    long long *lat = malloc(sizeof *lat * (size_t)nmsg);
    result r = {0};
    while (r.got < nmsg) {
        uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
        uint64_t h = atomic_load_explicit(&q->head, memory_order_acquire);
        if (t == h) {
            /* Say we sleep, then look again: a producer that wrote after
             * our look sees the flag and wakes us (no lost wake-up). */
            atomic_store(&q->sleeping, 1);
            if (atomic_load(&q->head) != t) {
                atomic_store(&q->sleeping, 0);
                continue;
            }
            struct epoll_event e;
            if (epoll_wait(ep, &e, 1, -1) < 0 && errno != EINTR)
                die("epoll_wait");
            uint64_t v;
            if (read(efd, &v, sizeof v) < 0 && errno != EAGAIN)
                die("read eventfd");
            atomic_store(&q->sleeping, 0);
            continue;
        }
        for (; t != h; t++)
            record(&r, lat, q->slot[t % RING_SLOTS]);
        atomic_store_explicit(&q->tail, t, memory_order_release);
    }
    finish(&r, lat, out);
}

static void ring_send(ring *q, int efd, const char *m)
{
    uint64_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
    while (h - atomic_load_explicit(&q->tail, memory_order_acquire) >= RING_SLOTS)
        sched_yield(); /* full: a real bus would count and drop (at most once) */
    memcpy(q->slot[h % RING_SLOTS], m, msize);
    atomic_store_explicit(&q->head, h + 1, memory_order_release);
    if (atomic_load(&q->sleeping)) {
        uint64_t one = 1;
        if (write(efd, &one, sizeof one) < 0)
            die("write eventfd");
    }
}

/* ---- the runs ---- */

static void report(const char *name, const result *r, long long pub_cpu_us, long long broker_cpu_us)
{
    double secs = (double)(r->last_ns - r->first_ns) / 1e9;
    double cpu = (double)(pub_cpu_us + r->cpu_us + broker_cpu_us) / (double)r->got * 1000.0;
    printf("%-22s %12.0f %10.0f %10.1f %10.1f %10.1f\n", name, secs > 0 ? (double)r->got / secs : 0, cpu,
           (double)r->lat_p50 / 1000.0, (double)r->lat_p99 / 1000.0, (double)r->lat_max / 1000.0);
}

static long long child_cpu_us(pid_t pid)
{
    int st;
    struct rusage ru;
    if (wait4(pid, &st, 0, &ru) < 0)
        die("wait4");
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static void run(const char *mode)
{
    int res[2];
    if (pipe(res) < 0)
        die("pipe");
    char m[SLOT] = {0};
    pid_t rx, broker = -1;
    long long t0, pub0 = cpu_us_self();
    ring *q = NULL;
    int efd = -1, tx = -1, stream = !strcmp(mode, "stream");
    char batch[32 * SLOT];
    size_t blen = 0;
    if (!strcmp(mode, "ring")) {
        q = mmap(NULL, sizeof *q, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        efd = eventfd(0, EFD_NONBLOCK);
        if (q == MAP_FAILED || efd < 0)
            die("ring");
        if (!(rx = fork())) {
            ring_recv_loop(q, efd, res[1]);
            _exit(0);
        }
    } else {
        int a[2];
        if (stream) {
            if (socketpair(AF_UNIX, SOCK_STREAM, 0, a) < 0)
                die("socketpair");
        } else {
            seqpacket(a);
        }
        if (!strcmp(mode, "broker")) {
            int b[2];
            seqpacket(b);
            if (!(rx = fork())) {
                close(a[0]);
                close(a[1]);
                close(b[0]);
                sock_recv_loop(b[1], -1, res[1], 0);
                _exit(0);
            }
            if (!(broker = fork())) {
                close(b[1]);
                close(a[0]);
                sock_recv_loop(a[1], b[0], -1, 0);
            }
            close(b[0]);
            close(b[1]);
        } else if (!(rx = fork())) {
            close(a[0]);
            sock_recv_loop(a[1], -1, res[1], stream);
            _exit(0);
        }
        close(a[1]);
        tx = a[0];
    }
    usleep(100000);
    t0 = now_ns();
    for (long i = 0; i < nmsg; i++) {
        pace(i, t0);
        long long ts = now_ns();
        memcpy(m, &ts, sizeof ts);
        if (q) {
            ring_send(q, efd, m);
        } else if (stream) {
            /* What a worker would do: queue each message, write the queue
             * once per loop turn (here: every 32 messages, or each one
             * when paced). */
            memcpy(batch + blen, m, msize);
            blen += msize;
            if (rate || blen >= 32 * msize || i == nmsg - 1) {
                for (size_t off = 0; off < blen;) {
                    ssize_t w = write(tx, batch + off, blen - off);
                    if (w < 0 && errno != EINTR)
                        die("write");
                    off += w > 0 ? (size_t)w : 0;
                }
                blen = 0;
            }
        } else {
            sock_send(tx, m);
        }
    }
    result r;
    if (read(res[0], &r, sizeof r) != sizeof r)
        die("read result");
    long long pub = cpu_us_self() - pub0;
    child_cpu_us(rx); /* its own getrusage is in r.cpu_us */
    long long bc = broker > 0 ? child_cpu_us(broker) : 0;
    report(mode, &r, pub, bc);
    if (tx >= 0)
        close(tx);
    close(res[0]);
    close(res[1]);
    if (q)
        munmap(q, sizeof *q), close(efd);
}

int main(int argc, char **argv)
{
    int o;
    while ((o = getopt(argc, argv, "n:r:s:")) != -1) {
        if (o == 'n')
            nmsg = atol(optarg);
        else if (o == 'r')
            rate = atol(optarg);
        else if (o == 's')
            msize = (size_t)atol(optarg);
        else {
            fprintf(stderr, "usage: busipc [-n MSGS] [-r RATE] [-s SIZE]\n");
            return 2;
        }
    }
    if (msize < 8 || msize > SLOT || nmsg < 1) {
        fprintf(stderr, "busipc: -s from 8 to %d, -n at least 1\n", SLOT);
        return 2;
    }
    printf("%ld messages of %zu B, %s\n", nmsg, msize, rate ? "paced" : "as fast as they go");
    if (rate)
        printf("rate %ld/s\n", rate);
    printf("%-22s %12s %10s %10s %10s %10s\n", "mechanism", "msgs/s", "ns CPU/msg", "p50 us", "p99 us", "max us");
    run("seqpacket");
    run("stream");
    run("ring");
    run("broker");
    return 0;
}
