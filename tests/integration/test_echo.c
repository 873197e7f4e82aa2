/* test_echo.c -- the echo module against the real process: sizes from 1 byte
 * to 16 MiB, a slow reader with memory bounded, 1000 concurrent clients,
 * clients that vanish, half-close, IPv6, Unix and UDP, and two listeners of
 * one module with different options. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "suites.h"

static t_proc *P;
static int port, port6;
static char sock_path[300];

static int setup(void)
{
    char json[1024];
    snprintf(sock_path, sizeof sock_path, "%s/echo.sock", t_tmpdir());
    snprintf(json, sizeof json,
             "{\"log\":{\"level\":\"info\"},\"listeners\":["
             "{\"name\":\"echo\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\"},"
             "{\"name\":\"echo6\",\"module\":\"echo\",\"listen\":\"[::1]:0\"},"
             "{\"name\":\"echo-unix\",\"module\":\"echo\",\"listen\":\"unix:%s\"},"
             "{\"name\":\"echo-udp\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\",\"transport\":\"udp\"},"
             "{\"name\":\"hello\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\",\"options\":{\"banner\":\"hello\\n\"}},"
             "{\"name\":\"howdy\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\",\"options\":{\"banner\":\"howdy\\n\"}},"
             "{\"name\":\"lines\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\",\"options\":{\"line_timeout_ms\":1500}},"
             "{\"name\":\"status\",\"module\":\"status\",\"listen\":\"127.0.0.1:0\"}"
             "]}",
             sock_path);
    P = t_start_conf(json);
    if (!P)
        return -1;
    port = t_port(P, "echo");
    port6 = t_port(P, "echo6");
    return port > 0 && port6 > 0 ? 0 : -1;
}

static int teardown(void)
{
    int rc = t_stop(P, SIGTERM, 5000);
    return rc == 0 ? 0 : -1;
}

static void roundtrip(int fd, size_t n)
{
    char *out = malloc(n), *in = malloc(n);
    for (size_t i = 0; i < n; i++)
        out[i] = (char)(rand() & 0xff);
    CU_ASSERT_EQUAL(t_send_all(fd, out, n), 0);
    CU_ASSERT_EQUAL(t_recv_exact(fd, in, n, 10000), n);
    CU_ASSERT_EQUAL(memcmp(in, out, n), 0);
    free(out);
    free(in);
}

static void test_small(void)
{
    int fd = t_connect_tcp(port);
    CU_ASSERT_FATAL(fd >= 0);
    roundtrip(fd, 1);
    roundtrip(fd, 64 * 1024);
    close(fd);
}

struct writer {
    int fd;
    const char *buf;
    size_t n;
};

static void *write_all(void *arg)
{
    struct writer *w = arg;
    t_send_all(w->fd, w->buf, w->n);
    return NULL;
}

/* 16 MiB sent at full speed, read slowly: the echo must be exact and the
 * server must not buffer the whole stream (it stops reading instead). */
static void test_16mib_slow_reader(void)
{
    size_t n = 16u << 20;
    char *out = malloc(n), *in = malloc(n);
    for (size_t i = 0; i < n; i++)
        out[i] = (char)(i * 31 + (i >> 13));
    int fd = t_connect_tcp(port);
    CU_ASSERT_FATAL(fd >= 0);
    long rss0 = t_rss_kib(P->pid);
    struct writer w = {fd, out, n};
    pthread_t th;
    pthread_create(&th, NULL, write_all, &w);
    size_t got = 0;
    long rss_max = rss0;
    int rounds = 0;
    while (got < n) {
        /* Slow: 64 KiB, then a pause, for the first 2 seconds. */
        if (rounds++ < 40)
            usleep(50000);
        size_t want = n - got < 65536 ? n - got : 65536;
        size_t r = t_recv_exact(fd, in + got, want, 10000);
        if (r == 0)
            break;
        got += r;
        long rss = t_rss_kib(P->pid);
        if (rss > rss_max)
            rss_max = rss;
    }
    pthread_join(th, NULL);
    CU_ASSERT_EQUAL(got, n);
    CU_ASSERT_EQUAL(memcmp(in, out, n), 0);
    /* Bounded by the output watermark plus socket buffers, far below 16 MiB. */
    if (rss_max - rss0 > 4096)
        fprintf(stderr, "\n  server RSS grew by %ld KiB\n", rss_max - rss0);
    CU_ASSERT(rss_max - rss0 < 4096);
    close(fd);
    free(out);
    free(in);
}

static void test_1000_clients(void)
{
    enum { N = 1000 };
    static int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = t_connect_tcp(port);
        CU_ASSERT_FATAL(fds[i] >= 0);
    }
    for (int i = 0; i < N; i++) {
        char msg[64];
        int len = snprintf(msg, sizeof msg, "client %d says %08x\n", i, i * 2654435761u);
        CU_ASSERT_EQUAL(t_send_all(fds[i], msg, (size_t)len), 0);
    }
    int ok = 0;
    for (int i = 0; i < N; i++) {
        char msg[64], got[64];
        int len = snprintf(msg, sizeof msg, "client %d says %08x\n", i, i * 2654435761u);
        if (t_recv_exact(fds[i], got, (size_t)len, 10000) == (size_t)len &&
            memcmp(got, msg, (size_t)len) == 0)
            ok++;
        close(fds[i]);
    }
    CU_ASSERT_EQUAL(ok, N);
}

static void test_client_vanishes(void)
{
    /* Send 1 MiB and close without reading: the server must shrug it off. */
    for (int k = 0; k < 5; k++) {
        int fd = t_connect_tcp(port);
        CU_ASSERT_FATAL(fd >= 0);
        static char junk[1 << 20];
        send(fd, junk, sizeof junk, MSG_NOSIGNAL | MSG_DONTWAIT);
        struct linger lg = {1, 0}; /* and reset, for good measure */
        if (k % 2)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(fd);
    }
    int fd = t_connect_tcp(port);
    roundtrip(fd, 1000);
    close(fd);
    CU_ASSERT_EQUAL(kill(P->pid, 0), 0);
}

static void test_half_close(void)
{
    int fd = t_connect_tcp(port);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(t_send_all(fd, "last words", 10), 0);
    shutdown(fd, SHUT_WR);
    char buf[64];
    int eof = 0;
    size_t n = t_recv_all(fd, buf, sizeof buf, 5000, &eof);
    CU_ASSERT_EQUAL(n, 10);
    CU_ASSERT_EQUAL(memcmp(buf, "last words", 10), 0);
    CU_ASSERT_EQUAL(eof, 1); /* everything echoed, then closed */
    close(fd);
}

static void test_ipv6_unix(void)
{
    int fd = t_connect_tcp6(port6);
    CU_ASSERT_FATAL(fd >= 0);
    roundtrip(fd, 5000);
    close(fd);
    fd = t_connect_unix(sock_path);
    CU_ASSERT_FATAL(fd >= 0);
    roundtrip(fd, 5000);
    close(fd);
}

static void test_udp(void)
{
    int uport = t_port(P, "echo-udp");
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)uport)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    static char big[65507], back[65536];
    memset(big, 'u', sizeof big);
    size_t sizes[] = {0, 1, 1400, sizeof big};
    for (size_t i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(sendto(fd, big, sizes[i], 0, (struct sockaddr *)&sa, sizeof sa),
                        (ssize_t)sizes[i]);
        ssize_t n = recv(fd, back, sizeof back, 0);
        CU_ASSERT_EQUAL(n, (ssize_t)sizes[i]);
    }
    close(fd);
}

static void test_two_listeners_options(void)
{
    int a = t_connect_tcp(t_port(P, "hello")), b = t_connect_tcp(t_port(P, "howdy"));
    char buf[16];
    CU_ASSERT_EQUAL(t_recv_exact(a, buf, 6, 5000), 6);
    CU_ASSERT_EQUAL(memcmp(buf, "hello\n", 6), 0);
    CU_ASSERT_EQUAL(t_recv_exact(b, buf, 6, 5000), 6);
    CU_ASSERT_EQUAL(memcmp(buf, "howdy\n", 6), 0);
    roundtrip(a, 10);
    roundtrip(b, 10);
    close(a);
    close(b);
}

static int echo_served(int p)
{
    return t_echo_once(p, "alive\n");
}

/* Slowloris: 20 clients trickling a byte every 300 ms never finish a line
 * and are closed at line_timeout_ms (1500), although each byte resets the
 * core's idle timer; 10 clients sending a whole (1-byte) line every 300 ms
 * make progress and stay; a normal client is served meanwhile. */
static void test_slowloris_lines(void)
{
    int lp = t_port(P, "lines");
    t_trickle *bytes = t_trickle_start(lp, 20, NULL), *lines = t_trickle_start(lp, 10, NULL);
    CU_ASSERT_EQUAL(bytes->n, 20);
    CU_ASSERT_EQUAL(lines->n, 10);
    for (int k = 0; k < 12 && bytes->open; k++) {
        t_trickle_step(bytes, 'x', 150);
        t_trickle_step(lines, '\n', 150);
        if (k == 1) {
            CU_ASSERT(echo_served(lp));
            CU_ASSERT_EQUAL(bytes->open, 20); /* not before the deadline */
        }
    }
    CU_ASSERT_EQUAL(bytes->open, 0);
    CU_ASSERT(bytes->closed_ms >= 1400 && bytes->closed_ms <= 3000);
    CU_ASSERT_EQUAL(lines->open, 10);
    for (int i = 0; i < bytes->n; i++) { /* each got its own bytes back up to the close */
        size_t n = strlen(bytes->got[i]);
        CU_ASSERT(n >= 4 && n <= 7 && strspn(bytes->got[i], "x") == n);
    }
    CU_ASSERT(echo_served(lp));
    t_trickle_free(bytes);
    t_trickle_free(lines);
    usleep(1100000); /* counters are published once a second */
    CU_ASSERT_EQUAL(t_counter(t_port(P, "status"), "lines", "line_timeouts"), 20);
    CU_ASSERT(t_wait_log(P, "connections closed: a complete line not received within line_timeout_ms (1500)", 100) ||
              t_wait_log(P, "a complete line not received within line_timeout_ms (1500); closing", 100));
}

int add_echo_suite(void)
{
    CU_pSuite s = CU_add_suite("echo", setup, teardown);
    if (!s || !CU_add_test(s, "1 byte and 64 KiB", test_small) ||
        !CU_add_test(s, "16 MiB with a slow reader, memory bounded", test_16mib_slow_reader) ||
        !CU_add_test(s, "1000 concurrent clients, each its own bytes", test_1000_clients) ||
        !CU_add_test(s, "clients that close or reset half-way", test_client_vanishes) ||
        !CU_add_test(s, "half-close: all echoed, then EOF", test_half_close) ||
        !CU_add_test(s, "IPv6 and Unix sockets", test_ipv6_unix) ||
        !CU_add_test(s, "UDP datagrams of 0, 1, 1400, 65507 bytes", test_udp) ||
        !CU_add_test(s, "two listeners of one module, different options",
                     test_two_listeners_options) ||
        !CU_add_test(s, "slowloris: a line within line_timeout_ms; 20 tricklers closed", test_slowloris_lines))
        return -1;
    return 0;
}
