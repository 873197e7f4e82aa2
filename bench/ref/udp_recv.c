/* udp_recv.c -- the UDP benchmark's limit: a receiver that only counts,
 * with recvmmsg in batches (or one recvfrom per datagram, -m recvfrom);
 * bench/udp.sh measures udp-receiver, which also records every datagram,
 * against it.
 *   build/bench/udp_recv [-a 127.0.0.1] [-p 17100] [-m mmsg|recvfrom] [-b 64] [-t 8] [-r RCVBUF]
 *
 * It counts for -t seconds, then prints one line of key=value pairs:
 * received, bytes, active_s (first to last datagram), recv_per_s over that
 * window, rcvbuf_errors (growth of the kernel's Udp RcvbufErrors: datagrams
 * dropped because the socket buffer was full) and cpu_ns_per_dgram.
 * Empty datagrams are netcore-bench's probes and are not counted. */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "ref.h"

#define MAX_BATCH 1024
#define DGRAM_MAX 65536

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* The RcvbufErrors column of /proc/net/snmp's Udp lines, -1 if unknown. */
static long long rcvbuf_errors(void)
{
    FILE *f = fopen("/proc/net/snmp", "r");
    char names[1024], values[1024];
    long long found = -1;
    while (f && found < 0 && fgets(names, sizeof names, f) && fgets(values, sizeof values, f)) {
        if (strncmp(names, "Udp: ", 5) || strncmp(values, "Udp: ", 5))
            continue;
        char *sn, *sv;
        char *n = strtok_r(names, " \n", &sn), *v = strtok_r(values, " \n", &sv);
        for (; n && v; n = strtok_r(NULL, " \n", &sn), v = strtok_r(NULL, " \n", &sv))
            if (!strcmp(n, "RcvbufErrors"))
                found = atoll(v);
    }
    if (f)
        fclose(f);
    return found;
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1", *mode = "mmsg";
    int port = 17100, batch = 64, rcvbuf = 0, ch;
    double secs = 8;
    while ((ch = getopt(argc, argv, "a:p:m:b:t:r:")) != -1) {
        switch (ch) {
        case 'a': addr = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'm': mode = optarg; break;
        case 'b': batch = atoi(optarg); break;
        case 't': secs = atof(optarg); break;
        case 'r': rcvbuf = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: %s [-a ADDR] [-p PORT] [-m mmsg|recvfrom] [-b BATCH] [-t SECS] [-r RCVBUF]\n",
                    argv[0]);
            return 2;
        }
    }
    int mmsg = !strcmp(mode, "mmsg");
    if ((!mmsg && strcmp(mode, "recvfrom")) || batch < 1 || batch > MAX_BATCH || secs <= 0) {
        fprintf(stderr, "udp_recv: -m is mmsg or recvfrom, -b 1 to %d, -t above 0\n", MAX_BATCH);
        return 2;
    }
    if (!mmsg)
        batch = 1;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        fprintf(stderr, "udp_recv: %s is not an IPv4 address\n", addr);
        return 1;
    }
    /* SO_RCVBUFFORCE passes rmem_max when we are root; otherwise the
     * kernel caps SO_RCVBUF at it. */
    if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        fprintf(stderr, "udp_recv: cannot bind %s:%d: %s\n", addr, port, strerror(errno));
        return 1;
    }
    /* Wake up every 100 ms even when nothing comes, to see the clock. */
    struct timeval tick = {0, 100000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);

    static char bufs[MAX_BATCH][DGRAM_MAX];
    static struct mmsghdr msgs[MAX_BATCH];
    static struct iovec iov[MAX_BATCH];
    for (int i = 0; i < batch; i++) {
        iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = DGRAM_MAX};
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    fprintf(stderr, "udp_recv: %s, batch %d, on %s:%d for %g s\n", mode, batch, addr, port, secs);
    long long drops0 = rcvbuf_errors();
    double cpu0 = cpu_s(), end = now_s() + secs, first = 0, last = 0;
    unsigned long long count = 0, bytes = 0, probes = 0;
    while (now_s() < end) {
        int got;
        if (mmsg) {
            got = recvmmsg(fd, msgs, (unsigned)batch, MSG_WAITFORONE, NULL);
        } else {
            ssize_t r = recv(fd, bufs[0], DGRAM_MAX, 0);
            msgs[0].msg_len = r > 0 ? (unsigned)r : 0;
            got = r < 0 ? -1 : 1;
        }
        if (got <= 0)
            continue; /* the 100 ms tick, or EINTR */
        unsigned long long real = 0;
        for (int i = 0; i < got; i++) {
            if (msgs[i].msg_len == 0) {
                probes++;
                continue;
            }
            real++;
            bytes += msgs[i].msg_len;
        }
        if (!real)
            continue;
        last = now_s();
        if (!count)
            first = last;
        count += real;
    }
    double cpu = cpu_s() - cpu0, active = last - first;
    long long drops1 = rcvbuf_errors();
    printf("receiver=udp_recv mode=%s batch=%d received=%llu bytes=%llu active_s=%.3f recv_per_s=%.0f "
           "rcvbuf_errors=%lld cpu_s=%.2f cpu_ns_per_dgram=%.0f probes=%llu\n",
           mode, batch, count, bytes, active, active > 0 ? (double)count / active : 0.0,
           drops0 >= 0 && drops1 >= 0 ? drops1 - drops0 : -1, cpu, count ? cpu * 1e9 / (double)count : 0.0,
           probes);
    return 0;
}
