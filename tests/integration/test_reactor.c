/* test_reactor.c -- the core's behaviour through a test module against the
 * real process: framing and redelivery, flush-close and abort, pause and
 * resume, refusal, input and output limits, idle timeout, max_connections,
 * running out of descriptors, and SIGTERM with clients connected. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "suites.h"

static t_proc *start_testmod(const char *name, const char *mode, const char *extra, long fds)
{
    char json[1024];
    snprintf(json, sizeof json,
             "{\"listeners\":[{\"name\":\"%s\",\"module\":\"%s\",\"listen\":\"127.0.0.1:0\","
             "\"options\":{\"mode\":\"%s\"}%s%s}]}",
             name, t_build_path("tests/modules/testmod.so"), mode, extra ? "," : "",
             extra ? extra : "");
    char file[64];
    snprintf(file, sizeof file, "%s.json", name);
    return t_start(t_write_file(file, json), fds);
}

static void test_framing(void)
{
    t_proc *p = start_testmod("lines", "lines", NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int fd = t_connect_tcp(t_port(p, "lines"));
    /* Three lines in one packet: the core calls on_data again while the
     * module consumes one line per call. */
    CU_ASSERT_EQUAL(t_send_all(fd, "a\nbb\nccc\n", 9), 0);
    char buf[64] = {0};
    CU_ASSERT_EQUAL(t_recv_exact(fd, buf, 13, 5000), 13);
    CU_ASSERT_EQUAL(memcmp(buf, "1:a\n1:bb\n1:cc", 13), 0);
    char rest[8] = {0};
    CU_ASSERT_EQUAL(t_recv_exact(fd, rest, 2, 5000), 2);
    /* One byte at a time. */
    const char *msg = "split line\n";
    for (size_t i = 0; i < strlen(msg); i++) {
        CU_ASSERT_EQUAL(t_send_all(fd, msg + i, 1), 0);
        usleep(2000);
    }
    memset(buf, 0, sizeof buf);
    CU_ASSERT_EQUAL(t_recv_exact(fd, buf, 13, 5000), 13);
    CU_ASSERT_STRING_EQUAL(buf, "1:split line\n");
    /* Ids are unique and grow. */
    int fd2 = t_connect_tcp(t_port(p, "lines"));
    CU_ASSERT_EQUAL(t_send_all(fd2, "x\n", 2), 0);
    memset(buf, 0, sizeof buf);
    CU_ASSERT_EQUAL(t_recv_exact(fd2, buf, 4, 5000), 4);
    CU_ASSERT_STRING_EQUAL(buf, "2:x\n");
    close(fd2);
    /* Flush-close: the last words arrive, then EOF. */
    CU_ASSERT_EQUAL(t_send_all(fd, "close\n", 6), 0);
    int eof = 0;
    memset(buf, 0, sizeof buf);
    CU_ASSERT_EQUAL(t_recv_all(fd, buf, sizeof buf, 5000, &eof), 4);
    CU_ASSERT_STRING_EQUAL(buf, "bye\n");
    CU_ASSERT_EQUAL(eof, 1);
    close(fd);
    /* Abort: nothing queued is sent. */
    fd = t_connect_tcp(t_port(p, "lines"));
    CU_ASSERT_EQUAL(t_send_all(fd, "abort\n", 6), 0);
    CU_ASSERT_EQUAL(t_recv_all(fd, buf, sizeof buf, 5000, &eof), 0);
    CU_ASSERT_EQUAL(eof, 1);
    close(fd);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

static void test_pause_resume(void)
{
    t_proc *p = start_testmod("pause", "lines", NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int fd = t_connect_tcp(t_port(p, "pause"));
    /* "x" arrives in the same packet as "pause": it stays buffered while the
     * module has reading paused and is handed over on resume. */
    CU_ASSERT_EQUAL(t_send_all(fd, "pause\nx\n", 8), 0);
    char buf[32] = {0};
    CU_ASSERT_EQUAL(t_recv_exact(fd, buf, 7, 5000), 7);
    CU_ASSERT_STRING_EQUAL(buf, "paused\n");
    memset(buf, 0, sizeof buf);
    CU_ASSERT_EQUAL(t_recv_exact(fd, buf, 4, 100), 0); /* not yet: paused for 200 ms */
    CU_ASSERT_EQUAL(t_recv_exact(fd, buf, 4, 5000), 4);
    CU_ASSERT_STRING_EQUAL(buf, "1:x\n");
    close(fd);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

static void test_refuse(void)
{
    t_proc *p = start_testmod("refuse", "refuse", NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int fd = t_connect_tcp(t_port(p, "refuse"));
    char buf[32] = {0};
    int eof = 0;
    CU_ASSERT_EQUAL(t_recv_all(fd, buf, sizeof buf, 5000, &eof), 5);
    CU_ASSERT_STRING_EQUAL(buf, "busy\n");
    CU_ASSERT_EQUAL(eof, 1);
    close(fd);
    int rc = t_stop(p, SIGTERM, 5000);
    (void)rc;
}

static void test_refuse_no_on_close(void)
{
    t_proc *p = start_testmod("refuse2", "refuse", NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int fd = t_connect_tcp(t_port(p, "refuse2"));
    CU_ASSERT_EQUAL(t_wait_closed(fd, 5000), 1);
    close(fd);
    CU_ASSERT(t_wait_log(p, "testmod accept", 2000));
    pid_t pid = p->pid;
    (void)pid;
    /* Keep the log: t_stop frees it, so check before. */
    t_wait_log(p, "never", 200);
    CU_ASSERT_EQUAL(t_count(p->log, "testmod close"), 0);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

static void test_input_limit(void)
{
    t_proc *p = start_testmod("hold", "hold", "\"max_input_bytes\":4096", 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int fd = t_connect_tcp(t_port(p, "hold"));
    static char junk[10000];
    memset(junk, 'j', sizeof junk);
    t_send_all(fd, junk, sizeof junk);
    CU_ASSERT_EQUAL(t_wait_closed(fd, 5000), 1);
    CU_ASSERT(t_wait_log(p, "[hold#1] 10000 bytes of unconsumed input exceed max_input_bytes (4096); closing", 2000) ||
              t_wait_log(p, "bytes of unconsumed input exceed max_input_bytes (4096); closing", 10));
    close(fd);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

static void test_slow_consumer(void)
{
    t_proc *p = start_testmod("flood", "flood", "\"max_output_bytes\":1048576", 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int fd = t_connect_tcp(t_port(p, "flood"));
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    /* Never read: the queue passes 1 MiB and the server drops us. */
    CU_ASSERT(t_wait_log(p, "slow consumer: ", 10000));
    T_ASSERT_STR_CONTAINS(p->log, "bytes queued exceed max_output_bytes (1048576); closing");
    CU_ASSERT(t_wait_log(p, "[flood#1] testmod close", 2000));
    long rss = t_rss_kib(p->pid);
    CU_ASSERT(rss > 0 && rss < 64 * 1024);
    close(fd);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

static void test_idle_timeout(void)
{
    t_proc *p = start_testmod("idle", "lines", "\"idle_timeout_ms\":300", 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int fd = t_connect_tcp(t_port(p, "idle"));
    int busy = t_connect_tcp(t_port(p, "idle"));
    /* The busy one talks every 100 ms and survives; the silent one is closed. */
    char buf[16];
    for (int i = 0; i < 8; i++) {
        t_send_all(busy, "k\n", 2);
        CU_ASSERT_EQUAL(t_recv_exact(busy, buf, 4, 2000), 4);
        usleep(100000);
    }
    CU_ASSERT_EQUAL(t_wait_closed(fd, 100), 1);
    CU_ASSERT(t_wait_log(p, "[idle#1] idle for ", 1000));
    T_ASSERT_STR_CONTAINS(p->log, "ms (idle_timeout_ms); closing");
    t_send_all(busy, "k\n", 2);
    CU_ASSERT_EQUAL(t_recv_exact(busy, buf, 4, 2000), 4);
    close(fd);
    close(busy);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

static void test_max_connections(void)
{
    t_proc *p = start_testmod("max2", "lines", "\"max_connections\":2", 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int port = t_port(p, "max2");
    int a = t_connect_tcp(port), b = t_connect_tcp(port), c = t_connect_tcp(port);
    CU_ASSERT_EQUAL(t_wait_closed(c, 5000), 1);
    CU_ASSERT(t_wait_log(p, "max_connections (2) reached: refusing new connections (1 so far)", 2000));
    char buf[8];
    t_send_all(a, "a\n", 2);
    CU_ASSERT_EQUAL(t_recv_exact(a, buf, 4, 2000), 4);
    close(a);
    close(c);
    usleep(100000);
    int d = t_connect_tcp(port);
    t_send_all(d, "d\n", 2);
    CU_ASSERT_EQUAL(t_recv_exact(d, buf, 4, 2000), 4); /* room again */
    close(b);
    close(d);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

static void test_out_of_descriptors(void)
{
    enum { N = 200 };
    t_proc *p = start_testmod("fds", "lines", NULL, 64);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int port = t_port(p, "fds");
    static int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = t_connect_tcp(port); /* the kernel completes them: backlog */
    usleep(300000);
    long t0 = t_cpu_ticks(p->pid);
    usleep(1000000);
    long t1 = t_cpu_ticks(p->pid);
    /* Waiting with descriptors exhausted must not spin: < 0.2 s of CPU in 1 s. */
    long hz = sysconf(_SC_CLK_TCK);
    CU_ASSERT(t1 - t0 < hz / 5);
    CU_ASSERT(t_wait_log(p, "accept: Too many open files", 2000));
    int served = 0;
    char buf[16];
    for (int i = 0; i < N; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
    }
    usleep(300000);
    int fd = t_connect_tcp(port);
    t_send_all(fd, "z\n", 2);
    if (t_recv_exact(fd, buf, 2, 5000) == 2)
        served = 1;
    CU_ASSERT_EQUAL(served, 1); /* serves again once descriptors free up */
    close(fd);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

static void test_sigterm_with_clients(void)
{
    t_proc *p = start_testmod("term", "lines", NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int port = t_port(p, "term");
    int fds[5];
    char buf[16];
    for (int i = 0; i < 5; i++) {
        fds[i] = t_connect_tcp(port);
        t_send_all(fds[i], "h\n", 2);
        CU_ASSERT_EQUAL(t_recv_exact(fds[i], buf, 4, 2000), 4);
    }
    kill(p->pid, SIGTERM);
    for (int i = 0; i < 5; i++) {
        CU_ASSERT_EQUAL(t_wait_closed(fds[i], 5000), 1);
        close(fds[i]);
    }
    CU_ASSERT(t_wait_log(p, "stopped", 5000));
    CU_ASSERT_EQUAL(t_count(p->log, "testmod close"), 5);
    T_ASSERT_STR_CONTAINS(p->log, "testmod fini");
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

/* What does not fit in the statistics slot (64 listeners, 16 counters a
 * listener) used to vanish silently: now it is logged once and counted. */
static void test_stats_overflow(void)
{
    static char json[16384];
    size_t n = (size_t)snprintf(json, sizeof json,
                                "{\"listeners\":[{\"name\":\"status\",\"module\":\"status\",\"listen\":\"127.0.0.1:0\"},"
                                "{\"name\":\"many\",\"module\":\"%s\",\"listen\":\"127.0.0.1:0\","
                                "\"options\":{\"counters\":20}}",
                                t_build_path("tests/modules/testmod.so"));
    for (int i = 0; i < 63; i++)
        n += (size_t)snprintf(json + n, sizeof json - n,
                              ",{\"name\":\"e%d\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\"}", i);
    snprintf(json + n, sizeof json - n, "]}");
    t_proc *p = t_start_conf(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT(t_wait_log(p, "statistics: 1 listener past the first 64 not published (counted in unpublished_listeners)",
                         3000));
    T_ASSERT_STR_CONTAINS(p->log,
                          "statistics: 4 module counters past 16 per listener not published (counted in "
                          "unpublished_counters)");
    t_client *c = t_client_new(t_port(p, "status"));
    t_client_send(c, "GET /metrics HTTP/1.1\r\n\r\n");
    CU_ASSERT(t_expect_line(c, "netcore_stats_unpublished{kind=\"listeners\"} 1", 3000));
    CU_ASSERT(t_expect_line(c, "netcore_stats_unpublished{kind=\"counters\"} 4", 3000));
    t_client_free(c);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

/* ---- failures from inside: tests/modules/failshim.so preloaded ---- */

/* A flag folder for the shim, and a flag in it made (on) or removed. */
static const char *shim_dir(const char *name)
{
    static char dir[400];
    snprintf(dir, sizeof dir, "%s/%s", t_tmpdir(), name);
    mkdir(dir, 0755);
    return dir;
}

static void shim_flag(const char *dir, const char *flag, int on)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, flag);
    if (on)
        close(open(path, O_WRONLY | O_CREAT, 0644));
    else
        unlink(path);
}

/* Start from config text with the shim preloaded (into this start only). */
static t_proc *start_shimmed(const char *json, const char *dir)
{
    char shim[PATH_MAX], opts[1024];
    CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(t_build_path("tests/modules/failshim.so"), shim));
    const char *asan = getenv("ASAN_OPTIONS");
    char *saved = asan ? strdup(asan) : NULL;
    /* A sanitizer runtime wants to come first; the shim does not mind. */
    snprintf(opts, sizeof opts, "%s:verify_asan_link_order=0", asan ? asan : "quarantine_size_mb=1:detect_leaks=1");
    setenv("ASAN_OPTIONS", opts, 1);
    setenv("LD_PRELOAD", shim, 1);
    setenv("NC_FAILSHIM_DIR", dir, 1);
    t_proc *p = t_start_conf(json);
    unsetenv("LD_PRELOAD");
    unsetenv("NC_FAILSHIM_DIR");
    if (saved)
        setenv("ASAN_OPTIONS", saved, 1);
    else
        unsetenv("ASAN_OPTIONS");
    free(saved);
    return p;
}

/* nc__conn_new failing (here: epoll refuses the socket) used to keep the
 * peer's max_connections_per_ip count taken: after two such failures the
 * address was refused for good. */
static void test_conn_new_failure_gives_back_ip(void)
{
    const char *dir = shim_dir("shim-ip");
    t_proc *p = start_shimmed("{\"listeners\":[{\"name\":\"e\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\","
                              "\"max_connections_per_ip\":2}]}",
                              dir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int port = t_port(p, "e");
    shim_flag(dir, "epoll", 1);
    for (int i = 0; i < 3; i++) {
        int fd = t_connect_tcp(port);
        CU_ASSERT(t_wait_closed(fd, 3000));
        close(fd);
    }
    shim_flag(dir, "epoll", 0);
    CU_ASSERT(t_wait_log(p, "cannot take a new connection: Cannot allocate memory; closing it", 3000));
    /* Two at once: the per-IP limit sees only open connections. */
    int a = t_connect_tcp(port);
    CU_ASSERT(t_echo_once(port, "second"));
    char b[8] = {0};
    CU_ASSERT(a >= 0 && t_send_all(a, "first", 5) == 0 && t_recv_exact(a, b, 5, 3000) == 5);
    CU_ASSERT_STRING_EQUAL(b, "first");
    close(a);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

/* A work queue whose second thread cannot start runs on one, rather than
 * failing the job and leaving the first thread and its eventfd behind. */
static void test_work_partial_start(void)
{
    const char *dir = shim_dir("shim-thread");
    char root[512], json[1024];
    snprintf(root, sizeof root, "%s/ft-root", dir);
    mkdir(root, 0755);
    char file[600];
    snprintf(file, sizeof file, "%s/abc.txt", root);
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CU_ASSERT_EQUAL(write(fd, "abc", 3), 3);
    close(fd);
    snprintf(json, sizeof json,
             "{\"listeners\":[{\"name\":\"f\",\"module\":\"file-transfer\",\"listen\":\"127.0.0.1:0\","
             "\"options\":{\"root\":\"%s\"}}]}",
             root);
    shim_flag(dir, "thread", 1);
    t_proc *p = start_shimmed(json, dir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    t_client *c = t_client_new(t_port(p, "f"));
    for (int i = 0; i < 3; i++) {
        t_client_send(c, "SHA256 abc.txt\n");
        T_LINE(c, "OK ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
    T_ASSERT_STR_CONTAINS(p->log, "work queue: started 1 of 2 threads (Resource temporarily unavailable); going on");
    t_client_free(c);
    shim_flag(dir, "thread", 0);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

int add_reactor_suite(void)
{
    CU_pSuite s = CU_add_suite("reactor", NULL, NULL);
    if (!s || !CU_add_test(s, "framing by consumed bytes, ids, flush-close, abort", test_framing) ||
        !CU_add_test(s, "pause keeps input buffered, resume hands it over", test_pause_resume) ||
        !CU_add_test(s, "a refused connection gets its last words", test_refuse) ||
        !CU_add_test(s, "a refused connection gets no on_close", test_refuse_no_on_close) ||
        !CU_add_test(s, "max_input_bytes closes with a log line", test_input_limit) ||
        !CU_add_test(s, "max_output_bytes drops a slow consumer", test_slow_consumer) ||
        !CU_add_test(s, "idle_timeout_ms closes the silent, not the busy", test_idle_timeout) ||
        !CU_add_test(s, "max_connections refuses the extra, then room again",
                     test_max_connections) ||
        !CU_add_test(s, "out of descriptors: no spin, serves again", test_out_of_descriptors) ||
        !CU_add_test(s, "SIGTERM with clients: EOF, on_close each, fini, exit 0",
                     test_sigterm_with_clients) ||
        !CU_add_test(s, "a failed nc__conn_new gives back the per-IP count", test_conn_new_failure_gives_back_ip) ||
        !CU_add_test(s, "a work queue with one thread of two still runs jobs", test_work_partial_start) ||
        !CU_add_test(s, "listeners past 64 and counters past 16 are logged and counted", test_stats_overflow))
        return -1;
    return 0;
}
