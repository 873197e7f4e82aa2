/* test_bench.c -- netcore-bench against netcore and against small servers
 * run inside the test: the counts are sane, alternating rounds and ratios
 * are reported, and a server that corrupts one byte in a thousand (or
 * answers with a wrong length) shows up as errors, not as throughput. */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "suites.h"

/* ---- a thread-per-connection server for the tests ---- */

typedef void (*handler)(int fd);
struct tsrv {
    int lfd;
    int port;
    handler h;
    pthread_t th;
};

static void *conn_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    extern handler current_handler;
    current_handler(fd);
    close(fd);
    return NULL;
}

handler current_handler;

static void *accept_main(void *arg)
{
    struct tsrv *s = arg;
    for (;;) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            return NULL;
        pthread_t th;
        pthread_create(&th, NULL, conn_main, (void *)(intptr_t)fd);
        pthread_detach(th);
    }
}

static void tsrv_start(struct tsrv *s, handler h)
{
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(s->lfd, (struct sockaddr *)&sa, sizeof sa);
    listen(s->lfd, 128);
    socklen_t sl = sizeof sa;
    getsockname(s->lfd, (struct sockaddr *)&sa, &sl);
    s->port = ntohs(sa.sin_port);
    current_handler = h;
    pthread_create(&s->th, NULL, accept_main, s);
}

static void tsrv_stop(struct tsrv *s)
{
    shutdown(s->lfd, SHUT_RDWR);
    close(s->lfd);
    pthread_join(s->th, NULL);
    usleep(100000); /* let connection threads see their peers go */
}

/* Echo, but flip one byte in every 1000. */
static void corrupting_echo(int fd)
{
    char buf[4096];
    unsigned long long total = 0;
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            if ((total + (unsigned long long)i) % 1000 == 999)
                buf[i] ^= 0x20;
        total += (unsigned long long)n;
        if (t_send_all(fd, buf, (size_t)n) < 0)
            return;
    }
}

/* HTTP: answer each request (ending in a blank line) with a 5-byte body;
 * with `liar` set, every 50th response claims a different length. */
static int liar;
static void tiny_http(int fd)
{
    char buf[8192];
    size_t have = 0;
    unsigned long long served = 0;
    ssize_t n;
    while ((n = recv(fd, buf + have, sizeof buf - have, 0)) > 0) {
        have += (size_t)n;
        char *end;
        while ((end = memmem(buf, have, "\r\n\r\n", 4))) {
            size_t used = (size_t)(end - buf) + 4;
            int close_after = memmem(buf, used, "Connection: close", 17) != NULL;
            served++;
            const char *resp = (liar && served % 50 == 0)
                                   ? "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello!"
                                   : "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
            if (t_send_all(fd, resp, strlen(resp)) < 0)
                return;
            memmove(buf, buf + used, have - used);
            have -= used;
            if (close_after)
                return;
        }
    }
}

/* ---- running netcore-bench ---- */

static json_t *bench_json(int *status, const char *fmt, ...)
{
    char args[1024], cmd[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s --json -q", t_build_path("netcore-bench"), args);
    FILE *f = popen(cmd, "r");
    static char out[1 << 20];
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    int st = pclose(f);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    if (!j)
        fprintf(stderr, "\n  netcore-bench printed no JSON: %s\n", out);
    return j;
}

static json_t *tgt(json_t *j, size_t i)
{
    return json_array_get(json_object_get(j, "targets"), i);
}

static double num(json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

static void test_echo_netcore(void)
{
    t_proc *p = t_start_conf("{\"listeners\":[{\"name\":\"e\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\"},"
                             "{\"name\":\"u\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\",\"transport\":\"udp\"}]}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int port = t_port(p, "e");
    int st;
    /* Two targets (the same server twice) in alternating rounds. */
    json_t *j = bench_json(&st, "echo -c 20 -s 100 -D 2 -d 0.5 -w 0.2 -r 2 --csv %s/b.csv "
                                "A=127.0.0.1:%d B=127.0.0.1:%d", t_tmpdir(), port, port);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_EQUAL(st, 0);
    for (size_t i = 0; i < 2; i++) {
        json_t *t = tgt(j, i);
        CU_ASSERT(num(t, "rate") > 1000);
        CU_ASSERT_EQUAL(num(t, "errors"), 0);
        CU_ASSERT_EQUAL(json_array_size(json_object_get(t, "rounds")), 2);
        json_t *lat = json_object_get(t, "latency_ns");
        CU_ASSERT(num(lat, "count") > 100);
        CU_ASSERT(num(lat, "p50") > 0 && num(lat, "p50") <= num(lat, "p99"));
        CU_ASSERT(num(t, "mb_per_s") > 0);
    }
    CU_ASSERT_DOUBLE_EQUAL(num(tgt(j, 0), "ratio"), 1.0, 1e-9);
    CU_ASSERT(num(tgt(j, 1), "ratio") > 0.3 && num(tgt(j, 1), "ratio") < 3);
    json_decref(j);
    char path[300], line[512];
    snprintf(path, sizeof path, "%s/b.csv", t_tmpdir());
    FILE *f = fopen(path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    int rows = 0;
    while (fgets(line, sizeof line, f))
        rows++;
    fclose(f);
    CU_ASSERT_EQUAL(rows, 1 + 4); /* header, 2 targets x 2 rounds */

    /* UDP: what was sent is reported. */
    j = bench_json(&st, "udp -s 64 -d 0.5 -w 0 -r 1 127.0.0.1:%d", t_port(p, "u"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT(num(tgt(j, 0), "sent") > 100);
    CU_ASSERT_EQUAL(num(tgt(j, 0), "errors"), 0);
    json_decref(j);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

static void test_corrupting_server(void)
{
    struct tsrv s;
    tsrv_start(&s, corrupting_echo);
    int st;
    json_t *j = bench_json(&st, "echo -c 4 -s 64 -d 0.5 -w 0 -r 1 127.0.0.1:%d", s.port);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    json_t *t = tgt(j, 0);
    json_t *r0 = json_array_get(json_object_get(t, "rounds"), 0);
    json_t *errs = json_object_get(r0, "errors");
    CU_ASSERT(num(errs, "wrong") > 0); /* every corrupted byte is caught */
    CU_ASSERT_EQUAL(st, 1);            /* and the exit status says so */
    /* Only verified messages count: at most 15 whole messages (999 bytes)
     * fit between two corrupted bytes, so ops <= 16 per error. */
    CU_ASSERT(num(r0, "ops") <= 16 * (num(errs, "wrong") + 4));
    json_decref(j);
    tsrv_stop(&s);
}

static void test_http(void)
{
    struct tsrv s;
    liar = 0;
    tsrv_start(&s, tiny_http);
    int st;
    json_t *j = bench_json(&st, "http --path /x -c 4 -D 2 -d 0.5 -w 0 -r 1 127.0.0.1:%d", s.port);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_EQUAL(st, 0);
    CU_ASSERT(num(tgt(j, 0), "rate") > 100);
    CU_ASSERT_EQUAL(num(tgt(j, 0), "errors"), 0);
    json_decref(j);
    j = bench_json(&st, "http --close -c 2 -d 0.5 -w 0 -r 1 127.0.0.1:%d", s.port);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT(num(tgt(j, 0), "rate") > 50);
    CU_ASSERT_EQUAL(num(tgt(j, 0), "errors"), 0);
    json_decref(j);
    liar = 1;
    j = bench_json(&st, "http -c 2 -d 0.5 -w 0 -r 1 --expect-length 5 127.0.0.1:%d", s.port);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT(num(tgt(j, 0), "errors") > 0);
    CU_ASSERT_EQUAL(st, 1);
    json_decref(j);
    tsrv_stop(&s);
}

static void test_usage(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "%s echo -c 0 127.0.0.1:1 2>/dev/null", t_build_path("netcore-bench"));
    int st = system(cmd);
    CU_ASSERT_EQUAL(WEXITSTATUS(st), 2);
    snprintf(cmd, sizeof cmd, "%s echo -q -d 0.3 -w 0 -r 1 --timeout 1 127.0.0.1:1 >/dev/null 2>&1",
             t_build_path("netcore-bench"));
    st = system(cmd);
    CU_ASSERT_EQUAL(WEXITSTATUS(st), 1); /* nothing listens: connect errors */
}

int add_bench_suite(void)
{
    CU_pSuite s = CU_add_suite("bench", NULL, NULL);
    if (!s || !CU_add_test(s, "echo and udp against netcore, rounds, ratio, csv", test_echo_netcore) ||
        !CU_add_test(s, "a server corrupting 1 byte in 1000 shows as errors", test_corrupting_server) ||
        !CU_add_test(s, "http keep-alive, --close, and a lying Content-Length", test_http) ||
        !CU_add_test(s, "bad usage and unreachable targets", test_usage))
        return -1;
    return 0;
}
