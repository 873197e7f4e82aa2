/* test_hostile.c -- hostile clients against the real process, every module
 * at once: 1000 slowloris connections while a normal client is served;
 * descriptor exhaustion (ulimit -n 256, 2000 connection attempts); 10,000
 * concurrent echo connections each verified; resets and half-closes at many
 * points of every protocol; random garbage and oversized input to every
 * module; a slow echo reader dropped at the send timeout.  After each, the
 * server is alive, serves, and holds no connection it should not. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
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
static char ftroot[300];

static int setup(void)
{
    char cwd[256], json[4096];
    if (!getcwd(cwd, sizeof cwd))
        return -1;
    snprintf(ftroot, sizeof ftroot, "%s/hostile-ft", t_tmpdir());
    snprintf(json, sizeof json,
             "{\"listeners\":["
             "{\"name\":\"echo\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\",\"max_connections\":20000,"
             "\"send_timeout_ms\":500},"
             "{\"name\":\"chat\",\"module\":\"chat\",\"listen\":\"127.0.0.1:0\"},"
             "{\"name\":\"room\",\"module\":\"broadcast-chat\",\"listen\":\"127.0.0.1:0\"},"
             "{\"name\":\"web\",\"module\":\"http-static\",\"listen\":\"127.0.0.1:0\",\"max_connections\":20000,"
             "\"options\":{\"root\":\"%s/conf/www\",\"header_timeout_ms\":1000}},"
             "{\"name\":\"files\",\"module\":\"file-transfer\",\"listen\":\"127.0.0.1:0\",\"options\":{\"root\":\"%s\"}},"
             "{\"name\":\"status\",\"module\":\"status\",\"listen\":\"127.0.0.1:0\","
             "\"options\":{\"header_timeout_ms\":1000}}]}",
             cwd, ftroot);
    P = t_start_conf(json);
    return P ? 0 : -1;
}

static int teardown(void)
{
    return t_stop(P, SIGTERM, 10000) == 0 ? 0 : -1;
}

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One GET /, returns its latency in us, or -1. */
static long long get_page(int port)
{
    long long t0 = now_us();
    int fd = t_connect_tcp(port);
    if (fd < 0)
        return -1;
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    t_send_all(fd, req, strlen(req));
    static char buf[8192];
    int eof = 0;
    size_t n = t_recv_all(fd, buf, sizeof buf - 1, 3000, &eof);
    buf[n] = '\0';
    close(fd);
    return strncmp(buf, "HTTP/1.1 200 ", 13) == 0 ? now_us() - t0 : -1;
}

static int echo_ok(int port)
{
    int fd = t_connect_tcp(port);
    char b[8] = {0};
    int ok = fd >= 0 && t_send_all(fd, "alive", 5) == 0 && t_recv_exact(fd, b, 5, 3000) == 5 && !memcmp(b, "alive", 5);
    if (fd >= 0)
        close(fd);
    return ok;
}

/* Open connections per listener, from the status module. */
static long long open_conns(const char *listener)
{
    usleep(1200000); /* published once a second */
    int fd = t_connect_tcp(t_port(P, "status"));
    t_send_all(fd, "GET /status HTTP/1.1\r\n\r\n", 24);
    static char buf[65536];
    int eof = 0;
    size_t n = t_recv_all(fd, buf, sizeof buf - 1, 3000, &eof);
    buf[n] = '\0';
    close(fd);
    char *body = strstr(buf, "\r\n\r\n");
    json_error_t je;
    json_t *j = body ? json_loads(body + 4, 0, &je) : NULL;
    long long v = j ? json_integer_value(json_object_get(json_object_get(json_object_get(j, "listeners"), listener),
                                                         "connections_open"))
                    : -1;
    json_decref(j);
    return v;
}

static void test_slowloris_1000(void)
{
    enum { N = 1000 };
    static int fds[N];
    int web = t_port(P, "web");
    for (int i = 0; i < N; i++) {
        fds[i] = t_connect_tcp(web);
        if (fds[i] >= 0)
            t_send_all(fds[i], "GET / HTTP/1.1\r\n", 16);
    }
    long long worst = 0;
    for (int k = 0; k < 6; k++) {
        usleep(150000);
        for (int i = 0; i < N; i++)
            if (fds[i] >= 0)
                send(fds[i], "X", 1, MSG_NOSIGNAL); /* trickle */
        long long t = get_page(web);
        CU_ASSERT(t > 0);
        if (t > worst)
            worst = t;
    }
    CU_ASSERT(worst < 200000); /* a normal client is still served promptly */
    int closed = 0;
    for (int i = 0; i < N; i++)
        if (fds[i] >= 0) {
            closed += t_wait_closed(fds[i], 3000);
            close(fds[i]);
        }
    CU_ASSERT_EQUAL(closed, N); /* all closed at header_timeout_ms (1 s) */
    CU_ASSERT_EQUAL(open_conns("web"), 0);
}

static void test_10000_echo(void)
{
    enum { N = 10000 };
    static int fds[N];
    int port = t_port(P, "echo"), opened = 0;
    for (int i = 0; i < N; i++) {
        fds[i] = t_connect_tcp(port);
        opened += fds[i] >= 0;
    }
    CU_ASSERT_EQUAL(opened, N);
    for (int i = 0; i < N; i++) {
        char m[32];
        int n = snprintf(m, sizeof m, "conn %05d\n", i);
        if (fds[i] >= 0)
            t_send_all(fds[i], m, (size_t)n);
    }
    int ok = 0;
    for (int i = 0; i < N; i++) {
        char m[32], b[32];
        int n = snprintf(m, sizeof m, "conn %05d\n", i);
        if (fds[i] >= 0 && t_recv_exact(fds[i], b, (size_t)n, 5000) == (size_t)n && !memcmp(b, m, (size_t)n))
            ok++;
        if (fds[i] >= 0)
            close(fds[i]);
    }
    CU_ASSERT_EQUAL(ok, N);
}

static void test_resets_and_half_closes(void)
{
    static const struct {
        const char *listener, *msg;
    } protos[] = {
        {"echo", "hello echo"},
        {"chat", "/nick someone\n/msg someone hi\n/who\n"},
        {"room", "{\"type\":\"login\",\"nickname\":\"x\"}{\"type\":\"broadcast\",\"message\":\"m\"}"},
        {"web", "GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n"},
        {"files", "PUT 100 - cut.bin\n0123456789"},
    };
    for (size_t p = 0; p < sizeof protos / sizeof protos[0]; p++) {
        int port = t_port(P, protos[p].listener);
        size_t len = strlen(protos[p].msg);
        for (size_t cut = 0; cut <= len; cut += len / 7 + 1) {
            for (int how = 0; how < 2; how++) {
                int fd = t_connect_tcp(port);
                if (fd < 0)
                    continue;
                t_send_all(fd, protos[p].msg, cut);
                if (how == 0) {
                    struct linger lg = {1, 0}; /* reset */
                    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
                } else {
                    shutdown(fd, SHUT_WR); /* half-close, then read what comes */
                    t_wait_closed(fd, 2000);
                }
                close(fd);
            }
        }
    }
    CU_ASSERT(echo_ok(t_port(P, "echo")));
    CU_ASSERT(get_page(t_port(P, "web")) > 0);
    static const char *const names[] = {"echo", "chat", "room", "web", "files"};
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(open_conns(names[i]), 0); /* nothing left behind */
    char tmp[400];
    snprintf(tmp, sizeof tmp, "ls -a %s | grep -c '^\\.upload-' > /dev/null", ftroot);
    CU_ASSERT_NOT_EQUAL(system(tmp), 0); /* no temporary file left */
}

static void test_garbage_and_oversized(void)
{
    static const char *const names[] = {"echo", "chat", "room", "web", "files", "status"};
    srand(99);
    for (int i = 0; i < 6; i++) {
        for (int k = 0; k < 10; k++) {
            int fd = t_connect_tcp(t_port(P, names[i]));
            char junk[8192];
            for (size_t b = 0; b < sizeof junk; b++)
                junk[b] = (char)(rand() & 0xff);
            send(fd, junk, sizeof junk, MSG_NOSIGNAL);
            close(fd);
        }
    }
    /* oversized: a 2 MiB line, header block, JSON object, file name */
    size_t big = 2 << 20;
    char *x = malloc(big);
    memset(x, 'x', big);
    for (int i = 0; i < 5; i++) {
        int fd = t_connect_tcp(t_port(P, names[i]));
        const char *pre = i == 2 ? "{\"type\":\"broadcast\",\"message\":\"" : i == 3 ? "GET / HTTP/1.1\r\nX: " : i == 4 ? "GET 0 " : "";
        t_send_all(fd, pre, strlen(pre));
        send(fd, x, big, MSG_NOSIGNAL);
        t_wait_closed(fd, 3000);
        close(fd);
    }
    free(x);
    CU_ASSERT_EQUAL(kill(P->pid, 0), 0);
    CU_ASSERT(echo_ok(t_port(P, "echo")));
    CU_ASSERT(get_page(t_port(P, "web")) > 0);
    t_client *c = t_client_new(t_port(P, "chat"));
    char line[256];
    CU_ASSERT(t_readline(c, line, sizeof line, 3000) > 0); /* the welcome: chat still works */
    t_client_free(c);
    CU_ASSERT(open_conns("echo") <= 0 + 0);
}

static void test_slow_echo_reader(void)
{
    int fd = t_connect_tcp(t_port(P, "echo"));
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    long rss0 = t_rss_kib(P->pid);
    static char chunk[1 << 16];
    size_t sent = 0;
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    /* Send without reading until the server stops taking more, then wait:
     * the send timeout (500 ms) drops us. */
    for (int i = 0; i < 2000; i++) {
        ssize_t n = send(fd, chunk, sizeof chunk, MSG_NOSIGNAL);
        if (n > 0)
            sent += (size_t)n;
        else
            usleep(2000);
    }
    CU_ASSERT(t_wait_log(P, "(send_timeout_ms); closing", 5000));
    long rss = t_rss_kib(P->pid);
    CU_ASSERT(rss - rss0 < 8192); /* bounded however much was pushed */
    close(fd);
    (void)sent;
}

static void test_descriptor_exhaustion(void)
{
    t_proc *p = t_start_ex(t_write_file("fds.json", "{\"listeners\":[{\"name\":\"e\",\"module\":\"echo\","
                                                    "\"listen\":\"127.0.0.1:0\",\"backlog\":4096}]}"),
                           256, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int port = t_port(p, "e");
    enum { N = 2000 };
    static int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connect(fds[i], (struct sockaddr *)&sa, sizeof sa);
    }
    usleep(500000);
    long t0 = t_cpu_ticks(p->pid);
    usleep(1000000);
    long t1 = t_cpu_ticks(p->pid);
    CU_ASSERT(t1 - t0 < sysconf(_SC_CLK_TCK) / 5); /* waiting, not spinning */
    CU_ASSERT_EQUAL(kill(p->pid, 0), 0);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    usleep(500000);
    CU_ASSERT(echo_ok(port)); /* serves again */
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

static int status_served(int port)
{
    int fd = t_connect_tcp(port);
    t_send_all(fd, "GET /status HTTP/1.1\r\n\r\n", 24);
    char buf[256];
    size_t n = t_recv_exact(fd, buf, 17, 3000);
    close(fd);
    return n == 17 && memcmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0;
}

/* Slowloris on the status listener: a request head trickled a byte every
 * 250 ms gets 408 at header_timeout_ms (1000) and the close. */
static void test_slowloris_status(void)
{
    int sp = t_port(P, "status");
    t_trickle *t = t_slowloris(sp, 30, "GET /metrics HTTP/1.1\r\n", 'x', 250, 12, status_served);
    CU_ASSERT_EQUAL(t->open, 0);
    CU_ASSERT(t->closed_ms >= 900 && t->closed_ms <= 2500);
    static const char want[] = "HTTP/1.1 408 Request Timeout\r\n";
    static const char body[] = "\r\n\r\nrequest head not received within header_timeout_ms\n";
    for (int i = 0; i < t->n; i++) {
        CU_ASSERT_EQUAL(strncmp(t->got[i], want, sizeof want - 1), 0);
        size_t n = strlen(t->got[i]);
        CU_ASSERT(n > sizeof body && strcmp(t->got[i] + n - (sizeof body - 1), body) == 0);
    }
    t_trickle_free(t);
    usleep(1100000);
    CU_ASSERT_EQUAL(t_counter(sp, "status", "header_timeouts"), 30);
}

int add_hostile_suite(void)
{
    CU_pSuite s = CU_add_suite("hostile", setup, teardown);
    if (!s || !CU_add_test(s, "1000 slowloris connections; a normal client served", test_slowloris_1000) ||
        !CU_add_test(s, "10,000 concurrent echo connections, each verified", test_10000_echo) ||
        !CU_add_test(s, "resets and half-closes at many points of every protocol", test_resets_and_half_closes) ||
        !CU_add_test(s, "garbage and oversized input to every module", test_garbage_and_oversized) ||
        !CU_add_test(s, "a slow echo reader is dropped at send_timeout_ms", test_slow_echo_reader) ||
        !CU_add_test(s, "ulimit -n 256 and 2000 connection attempts", test_descriptor_exhaustion) ||
        !CU_add_test(s, "slowloris on status: 408 at header_timeout_ms", test_slowloris_status))
        return -1;
    return 0;
}
