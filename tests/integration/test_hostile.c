/* test_hostile.c -- hostile clients against the real process, every module
 * at once: 1000 slowloris connections while a normal client is served;
 * descriptor exhaustion (ulimit -n 256, 2000 connection attempts); 10,000
 * concurrent echo connections each verified; resets and half-closes at many
 * points of every protocol; random garbage and oversized input to every
 * module; a slow echo reader dropped at the send timeout.  After each, the
 * server is alive, serves, and holds no connection it should not. */
#include <arpa/inet.h>
#include <dirent.h>
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
#include <sys/stat.h>
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

/* A figure of the named listener from p's /status (published once a second). */
static long long status_figure(t_proc *p, const char *listener, const char *key)
{
    usleep(1200000);
    int fd = t_connect_tcp(t_port(p, "status"));
    t_send_all(fd, "GET /status HTTP/1.1\r\n\r\n", 24);
    static char buf[65536];
    int eof = 0;
    size_t n = t_recv_all(fd, buf, sizeof buf - 1, 3000, &eof);
    buf[n] = '\0';
    close(fd);
    char *body = strstr(buf, "\r\n\r\n");
    json_error_t je;
    json_t *j = body ? json_loads(body + 4, 0, &je) : NULL;
    json_t *v = json_object_get(json_object_get(json_object_get(j, "listeners"), listener), key);
    long long r = v ? json_integer_value(v) : -1;
    json_decref(j);
    return r;
}

/* Open connections per listener, from the status module. */
static long long open_conns(const char *listener)
{
    return status_figure(P, listener, "connections_open");
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
    CU_ASSERT(t_echo_once(t_port(P, "echo"), "alive"));
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
    CU_ASSERT(t_echo_once(t_port(P, "echo"), "alive"));
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
    CU_ASSERT(t_echo_once(port, "alive")); /* serves again */
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

/* ---- one client must not cost everyone: output limits (issue 16) ---- */

/* A folder of n small files under the test's temporary folder. */
static const char *make_root(const char *name, int n, size_t size)
{
    static char root[2][400];
    static int k;
    char *r = root[k++ % 2];
    snprintf(r, sizeof root[0], "%s/%s", t_tmpdir(), name);
    mkdir(r, 0755);
    char *body = malloc(size + 1);
    memset(body, 'f', size);
    for (int i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/file-%04d.txt", r, i);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            CU_ASSERT_EQUAL(write(fd, body, size), (ssize_t)size);
            close(fd);
        }
    }
    free(body);
    return r;
}

/* The memory-bound tests below compare RSS: under AddressSanitizer, freed
 * memory held in its quarantine (256 MB by default) would read as growth.
 * The harness keeps it small only when ASAN_OPTIONS is unset; keep it small
 * when it is set too (for the servers started from here on). */
static void small_quarantine(void)
{
    const char *o = getenv("ASAN_OPTIONS");
    if (o && !strstr(o, "quarantine_size_mb")) {
        char opts[1024];
        snprintf(opts, sizeof opts, "%s:quarantine_size_mb=1", o);
        setenv("ASAN_OPTIONS", opts, 1);
    }
}

/* netcore with echo, file-transfer (root), http-static (root) and status;
 * `top` and `files` are extra top-level and file-transfer listener keys. */
static t_proc *start_limits(const char *root, const char *top, const char *files, long max_fds)
{
    char cwd[256], json[4096];
    if (!getcwd(cwd, sizeof cwd))
        return NULL;
    snprintf(json, sizeof json,
             "{%s%s\"listeners\":["
             "{\"name\":\"echo\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\"},"
             "{\"name\":\"files\",\"module\":\"file-transfer\",\"listen\":\"127.0.0.1:0\"%s%s,"
             "\"options\":{\"root\":\"%s\"}},"
             "{\"name\":\"web\",\"module\":\"http-static\",\"listen\":\"127.0.0.1:0\","
             "\"options\":{\"root\":\"%s\"}},"
             "{\"name\":\"status\",\"module\":\"status\",\"listen\":\"127.0.0.1:0\"}]}",
             top ? top : "", top ? "," : "", files ? "," : "", files ? files : "", root, root);
    static int k;
    char name[64];
    snprintf(name, sizeof name, "limits-%d.json", k++);
    small_quarantine();
    return t_start(t_write_file(name, json), max_fds);
}

/* The worst echo round trip over `ms` (one every 50 ms), in ms; a round
 * trip that never comes counts as 20 s. */
static long long worst_echo_ms(int port, int ms)
{
    long long worst = 0, end = now_us() + (long long)ms * 1000;
    int fd = t_connect_tcp(port);
    do {
        long long t0 = now_us();
        char b[8];
        long long t = t_send_all(fd, "alive", 5) == 0 && t_recv_exact(fd, b, 5, 20000) == 5
                          ? (now_us() - t0) / 1000
                          : 20000;
        if (t > worst)
            worst = t;
        usleep(50000);
    } while (now_us() < end && worst < 20000);
    close(fd);
    return worst;
}

/* Connect and send `req` `times` times in one go (non-blocking: what the
 * socket buffers take), never reading. */
static int pipeline(int port, const char *req, int times)
{
    int fd = t_connect_tcp(port);
    if (fd < 0)
        return -1;
    size_t rl = strlen(req), n = rl * (size_t)times;
    char *all = malloc(n);
    for (int i = 0; i < times; i++)
        memcpy(all + rl * (size_t)i, req, rl);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    size_t off = 0;
    for (int tries = 0; off < n && tries < 200; tries++) {
        ssize_t w = send(fd, all + off, n - off, MSG_NOSIGNAL);
        if (w > 0)
            off += (size_t)w;
        else
            usleep(1000);
    }
    free(all);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

/* Item 3: 20 connections pipelining 1.6 KB of LIST each (1000 files in the
 * root, about 30 KB an answer) and never reading.  Before the throttle
 * applied to input already read, every LIST was answered at once: the
 * reactor was busy for seconds (an echo round trip took 9.4 s) and the
 * worker grew by hundreds of MB.  Now each connection is answered up to
 * its high watermark (and what the kernel's buffers take) and waits. */
static void test_pipelined_list(void)
{
    const char *root = make_root("list-root", 1000, 10);
    t_proc *p = start_limits(root, NULL, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int files = t_port(p, "files"), echo = t_port(p, "echo");
    CU_ASSERT(worst_echo_ms(echo, 100) < 100);
    long rss0 = t_rss_kib(p->pid);
    enum { N = 20, LISTS = 320 }; /* 320 x "LIST\n": 1.6 KB */
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = pipeline(files, "LIST\n", LISTS);
    long long worst = worst_echo_ms(echo, 1500);
    long rss1 = t_rss_kib(p->pid);
    fprintf(stderr, "\n  pipelined LIST: worst echo %lld ms, RSS %ld -> %ld KiB\n", worst, rss0, rss1);
    CU_ASSERT(worst < 2000); /* about 250 ms here; 5 to 9 s before */
    CU_ASSERT(rss1 - rss0 < 64 * 1024); /* about 5 MB here; 200 to 300 MB before */
    /* Held back, not lost: a client that reads gets every answer, whole. */
    static char buf[1 << 16];
    size_t lines = 0;
    long long end = now_us() + 20 * 1000000LL;
    struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
    while (lines < LISTS * 1001 && now_us() < end && poll(&pfd, 1, 3000) == 1) {
        ssize_t got = recv(fds[0], buf, sizeof buf, 0);
        if (got <= 0)
            break;
        for (ssize_t b = 0; b < got; b++)
            lines += buf[b] == '\n';
    }
    if (lines != LISTS * 1001)
        fprintf(stderr, "  %zu lines of %d\n", lines, LISTS * 1001);
    CU_ASSERT_EQUAL(lines, LISTS * 1001); /* "OK 1000" and 1000 names, 320 times */
    for (int i = 0; i < N; i++)
        close(fds[i]);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 10000), 0);
}

/* Descriptors a process holds. */
static int count_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    int n = 0;
    while (d && readdir(d))
        n++;
    if (d)
        closedir(d);
    return n - 2; /* . and .. */
}

/* A file of `size` bytes (sparse) in root. */
static void make_big(const char *root, const char *name, off_t size)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CU_ASSERT(fd >= 0 && ftruncate(fd, size) == 0);
    close(fd);
}

/* Item 4: pipelined GETs of a large file, never read.  Each queued file
 * region held a descriptor and counted 0 bytes, so nothing stopped the
 * module opening one per GET: two such connections under a limit of 1024
 * descriptors took them all and accepts failed.  Now a connection holding
 * max_queued_files (32) gets no more input until they are sent. */
static void test_pipelined_get_fds(void)
{
    const char *root = make_root("get-root", 1, 10);
    make_big(root, "big.bin", 64 << 20);
    make_big(root, "mid.bin", 64 << 10);
    t_proc *p = start_limits(root, NULL, NULL, 1024);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    pid_t w;
    CU_ASSERT_EQUAL_FATAL(t_children(p->pid, &w, 1), 1);
    int files = t_port(p, "files"), echo = t_port(p, "echo");
    int base = count_fds(w);
    int a = pipeline(files, "GET 0 big.bin\n", 4000), b = pipeline(files, "GET 0 big.bin\n", 4000);
    /* http-static bounds its pipeline by queued bytes, and 100-byte ranges
     * are few bytes: the same rule bounds their descriptors. */
    int h = pipeline(t_port(p, "web"), "GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-99\r\n\r\n", 20000);
    usleep(500000);
    int held = count_fds(w);
    fprintf(stderr, "\n  pipelined GET: worker descriptors %d -> %d\n", base, held);
    CU_ASSERT(held - base <= 3 * (32 + 1) + 4);
    int served = 0;
    for (int i = 0; i < 50; i++)
        served += t_echo_once(echo, "alive"); /* accepts go on */
    CU_ASSERT_EQUAL(served, 50);
    CU_ASSERT(status_figure(p, "files", "throttled_files") >= 2);
    CU_ASSERT(status_figure(p, "files", "descriptors") >= 2 + 2 * 32); /* queued files count as held */
    T_ASSERT_STR_CONTAINS(p->log, "queued files reach max_queued_files (32): no more input until they are sent");
    CU_ASSERT(status_figure(p, "web", "throttled_files") >= 1);
    close(a);
    close(b);
    close(h);
    /* Throttled, not lost: a client that reads gets 100 pipelined files whole. */
    int c = pipeline(files, "GET 0 mid.bin\n", 100);
    static char buf[1 << 16];
    const size_t want = 100 * (strlen("OK 65536 65536\n") + (64 << 10));
    size_t got = 0;
    struct pollfd pfd = {.fd = c, .events = POLLIN};
    while (got < want && poll(&pfd, 1, 3000) == 1) {
        ssize_t r = recv(c, buf, sizeof buf, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    CU_ASSERT_EQUAL(got, want);
    close(c);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 10000), 0);
}

/* Item 4, the worker's total: past worker_max_queued_files the connection
 * holding the most queued files is dropped. */
static void test_worker_file_cap(void)
{
    const char *root = make_root("cap-root", 1, 10);
    make_big(root, "big.bin", 64 << 20);
    t_proc *p = start_limits(root, "\"worker_max_queued_files\":100", NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    pid_t w;
    CU_ASSERT_EQUAL_FATAL(t_children(p->pid, &w, 1), 1);
    int files = t_port(p, "files");
    int base = count_fds(w);
    enum { N = 6 };
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = pipeline(files, "GET 0 big.bin\n", 200);
        usleep(100000);
    }
    usleep(300000);
    int held = count_fds(w);
    fprintf(stderr, "\n  worker file cap: descriptors %d -> %d\n", base, held);
    CU_ASSERT(held - base <= 100 + N);
    CU_ASSERT(status_figure(p, "files", "shed_files") >= 3); /* 6 x 32 wanted, 100 allowed */
    T_ASSERT_STR_CONTAINS(p->log, "pass worker_max_queued_files (100): dropping the one holding the most (32)");
    int dropped = 0;
    for (int i = 0; i < N; i++) {
        dropped += t_wait_closed(fds[i], 200);
        close(fds[i]);
    }
    CU_ASSERT(dropped >= 3);
    CU_ASSERT(t_echo_once(t_port(p, "echo"), "alive"));
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 10000), 0);
}

/* Item 5: broadcast-chat subscribers that never read.  Limits were per
 * connection only: 40 of them grew the worker by 40 x max_backlog (8 MiB).
 * Past worker_max_output_bytes (32 MiB here) the largest queues are
 * dropped first, and the subscriber that reads is served throughout. */
static void test_worker_output_cap(void)
{
    char json[1024];
    snprintf(json, sizeof json,
             "{\"worker_max_output_bytes\":33554432,\"listeners\":["
             "{\"name\":\"room\",\"module\":\"broadcast-chat\",\"listen\":\"127.0.0.1:0\"},"
             "{\"name\":\"status\",\"module\":\"status\",\"listen\":\"127.0.0.1:0\"}]}");
    small_quarantine();
    t_proc *p = t_start_conf(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int room = t_port(p, "room");
    enum { SUBS = 40, MSGS = 20000 };
    t_client *sub[SUBS], *pub = t_client_new(room), *fast = t_client_new(room);
    char line[2048];
    t_client_send(pub, "{\"type\":\"login\",\"nickname\":\"pub\"}\n");
    t_client_send(fast, "{\"type\":\"login\",\"nickname\":\"fast\"}\n");
    for (int i = 0; i < SUBS; i++) {
        sub[i] = t_client_new(room);
        int small = 4096;
        setsockopt(sub[i]->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        char cmd[128];
        snprintf(cmd, sizeof cmd, "{\"type\":\"login\",\"nickname\":\"sub%d\"}\n", i);
        t_client_send(sub[i], cmd);
    }
    CU_ASSERT(t_readline(fast, line, sizeof line, 5000) > 0);
    long rss0 = t_rss_kib(p->pid);
    char msg[1200];
    int n = snprintf(msg, sizeof msg, "{\"type\":\"broadcast\",\"message\":\"");
    memset(msg + n, 'z', 900);
    snprintf(msg + n + 900, sizeof msg - (size_t)n - 900, "\"}\n");
    long peak = 0;
    int got = 0;
    for (int i = 0; i < MSGS; i++) {
        t_client_send(pub, msg);
        if (i % 100 == 99) {
            /* the reader keeps up; everything but broadcasts is a notice */
            while (got <= i - 50 && t_readline(fast, line, sizeof line, 5000) > 0)
                got += strncmp(line, "{\"sender_id\":0,", 15) != 0;
            if (i % 2000 == 1999) {
                long r = t_rss_kib(p->pid);
                peak = r > peak ? r : peak;
            }
        }
    }
    while (got < MSGS && t_readline(fast, line, sizeof line, 5000) > 0)
        got += strncmp(line, "{\"sender_id\":0,", 15) != 0;
    fprintf(stderr, "\n  worker output cap: RSS %ld -> peak %ld KiB, %d of %d delivered to the reader\n", rss0,
            peak, got, MSGS);
    CU_ASSERT_EQUAL(got, MSGS);
    CU_ASSERT(peak - rss0 < 64 * 1024); /* 32 MiB cap; 40 x 8 MiB before */
    CU_ASSERT(status_figure(p, "room", "shed_memory") >= 1);
    CU_ASSERT(status_figure(p, "room", "queued_bytes") <= 33554432);
    T_ASSERT_STR_CONTAINS(p->log, "pass worker_max_output_bytes (33554432): dropping the one holding the most");
    int dropped = 0;
    for (int i = 0; i < SUBS; i++) {
        dropped += t_wait_closed(sub[i]->fd, 100);
        t_client_free(sub[i]);
    }
    CU_ASSERT(dropped >= SUBS / 2);
    t_client_free(pub);
    t_client_free(fast);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 10000), 0);
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
        !CU_add_test(s, "pipelined LIST never read: input waits at the watermark", test_pipelined_list) ||
        !CU_add_test(s, "pipelined GET never read: 32 descriptors, accepts go on", test_pipelined_get_fds) ||
        !CU_add_test(s, "worker_max_queued_files drops the largest holder", test_worker_file_cap) ||
        !CU_add_test(s, "worker_max_output_bytes drops the largest slow consumers", test_worker_output_cap) ||
        !CU_add_test(s, "slowloris on status: 408 at header_timeout_ms", test_slowloris_status))
        return -1;
    return 0;
}
