/* test_reload.c -- reloads and restarts that lose nothing: with long-lived
 * connections of every kind open, a SIGHUP's new generation answers new
 * connections at once and the draining one uses no CPU; a reload storm
 * under continuous and sparse load fails nothing; uploads are stored under
 * their own name or not at all across reloads, worker kills and restarts;
 * a reload applies log.file, log.level and pid_file, and works with the
 * most workers the config accepts. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "suites.h"

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One request on a fresh connection: send req (may be empty), read until
 * `want` shows up.  Returns the milliseconds it took, or -1 when no answer
 * came within ms. */
static long probe(int port, int udp, const char *req, const char *want, int ms)
{
    long long t0 = mono_ms();
    int fd;
    if (udp) {
        fd = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof to) < 0) {
            if (fd >= 0)
                close(fd);
            return -1;
        }
    } else if ((fd = t_connect_tcp(port)) < 0) {
        return -1;
    }
    if (*req && send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
        close(fd);
        return -1;
    }
    char buf[8192];
    size_t n = 0;
    long took = -1;
    while (n < sizeof buf - 1) {
        int left = (int)(t0 + ms - mono_ms());
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&pfd, 1, left) <= 0)
            break;
        ssize_t r = recv(fd, buf + n, sizeof buf - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = '\0';
        if (strstr(buf, want)) {
            took = (long)(mono_ms() - t0);
            break;
        }
    }
    close(fd);
    return took;
}

/* What each kind of listener is asked, and what it must answer. */
typedef struct target {
    const char *name;
    int udp;
    const char *req, *want;
} target;

static const target targets[] = {
    {"echo", 0, "ping\n", "ping\n"},
    {"echo-udp", 1, "ping", "ping"},
    {"chat", 0, "", "* welcome, you are guest"},
    {"room", 0, "{\"type\":\"login\",\"nickname\":\"newcomer\"}\n", "{\"status\":\"ok\""},
    {"web", 0, "GET /index.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", "HTTP/1.1 200 OK"},
    {"ft", 0, "LIST\n", "OK "},
    {"status", 0, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n", "HTTP/1.1 200 OK"},
};
#define NTARGETS (sizeof targets / sizeof targets[0])

static void make_dir(const char *sub)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", t_tmpdir(), sub);
    mkdir(p, 0755);
}

/* A config with one listener of every shipped module (port 0 everywhere:
 * kept across reloads by name), www/ and files/ under the test folder. */
static const char *every_module_conf(const char *name, int workers, long drain_ms)
{
    make_dir("www");
    make_dir("files");
    char p[512];
    snprintf(p, sizeof p, "%s/www/index.html", t_tmpdir());
    t_write_bytes(p, "<h1>hi</h1>\n", 12);
    static char json[4096];
    snprintf(json, sizeof json,
             "{\"user\":\"root\",\"workers\":%d,\"drain_timeout_ms\":%ld,\"listeners\":["
             "{\"name\":\"echo\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\"},"
             "{\"name\":\"echo-udp\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\",\"transport\":\"udp\"},"
             "{\"name\":\"chat\",\"module\":\"chat\",\"listen\":\"127.0.0.1:0\"},"
             "{\"name\":\"room\",\"module\":\"broadcast-chat\",\"listen\":\"127.0.0.1:0\"},"
             "{\"name\":\"web\",\"module\":\"http-static\",\"listen\":\"127.0.0.1:0\","
             "\"options\":{\"root\":\"%s/www\"}},"
             "{\"name\":\"ft\",\"module\":\"file-transfer\",\"listen\":\"127.0.0.1:0\","
             "\"options\":{\"root\":\"%s/files\"}},"
             "{\"name\":\"status\",\"module\":\"status\",\"listen\":\"127.0.0.1:0\"}]}",
             workers, drain_ms, t_tmpdir(), t_tmpdir());
    return t_write_file(name, json);
}

/* Read one HTTP response with a Content-Length body; returns the body
 * length, or -1; *close set when it says Connection: close. */
static long read_http(int fd, int *conn_close)
{
    char h[4096];
    size_t n = 0;
    char *end = NULL;
    while (n < sizeof h - 1 && !end) {
        if (t_recv_exact(fd, h + n, 1, 3000) != 1)
            return -1;
        h[++n] = '\0';
        end = strstr(h, "\r\n\r\n");
    }
    if (!end || strncmp(h, "HTTP/1.1 200", 12) != 0)
        return -1;
    *conn_close = strstr(h, "Connection: close") != NULL;
    const char *cl = strstr(h, "Content-Length: ");
    long len = cl ? atol(cl + 16) : -1;
    char body[4096];
    for (long got = 0; got < len;) {
        size_t want = (size_t)(len - got) < sizeof body ? (size_t)(len - got) : sizeof body;
        size_t r = t_recv_exact(fd, body, want, 3000);
        if (r == 0)
            return -1;
        got += (long)r;
    }
    return len;
}

/* The answer to an upload: the line after "CONTINUE" (which PUT gets
 * first), into line; 1 when it is "OK ...". */
static int put_answer(t_client *c, char *line, size_t n)
{
    int len;
    while ((len = t_readline(c, line, n, 5000)) >= 0 && strcmp(line, "CONTINUE") == 0)
        ;
    return len > 0 && strncmp(line, "OK ", 3) == 0;
}

static void fill(unsigned char *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)((i * 131u + seed * 7919u + (i >> 9)) & 0xff);
}

/* Long-lived connections of every kind open across a SIGHUP: a new
 * connection to every listener is answered at once (not after the old
 * generation's drain), the draining worker sleeps, and every old
 * connection goes on working. */
static void test_every_module_across_reload(void)
{
    const char *conf = every_module_conf("every.json", 1, 20000);
    char p[512];
    enum { BIG = 8 << 20, UP = 1000000 };
    unsigned char *big = malloc(BIG);
    fill(big, BIG, 1);
    snprintf(p, sizeof p, "%s/www/big.bin", t_tmpdir());
    t_write_bytes(p, big, BIG);
    t_proc *s = t_start(conf, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    int port[NTARGETS];
    for (size_t i = 0; i < NTARGETS; i++) {
        port[i] = t_port(s, targets[i].name);
        CU_ASSERT(port[i] > 0);
        CU_ASSERT(probe(port[i], targets[i].udp, targets[i].req, targets[i].want, 3000) >= 0);
    }
    pid_t old[4];
    CU_ASSERT_EQUAL_FATAL(t_children(s->pid, old, 4), 1);

    /* The long-lived ones. */
    int idle = t_connect_tcp(t_port(s, "echo"));
    CU_ASSERT(t_echo_on(idle, "ping"));
    t_client *alice = t_client_new(t_port(s, "chat")), *bob = t_client_new(t_port(s, "chat"));
    char line[1024];
    t_client_send(alice, "/nick alice\n");
    CU_ASSERT(t_expect_line(alice, "* you are now alice", 3000));
    t_client_send(bob, "/nick bob\n");
    CU_ASSERT(t_expect_line(bob, "* you are now bob", 3000));
    t_client *member = t_client_new(t_port(s, "room"));
    t_client_send(member, "{\"type\":\"login\",\"nickname\":\"early\"}\n");
    CU_ASSERT(t_readline(member, line, sizeof line, 3000) > 0 && strncmp(line, "{\"status\":\"ok\"", 14) == 0);
    int keep = t_connect_tcp(t_port(s, "web")), cc = 0;
    const char *get = "GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n";
    CU_ASSERT(t_send_all(keep, get, strlen(get)) == 0);
    CU_ASSERT_EQUAL(read_http(keep, &cc), 12);
    CU_ASSERT_EQUAL(cc, 0);
    unsigned char *up = malloc(UP);
    fill(up, UP, 2);
    t_client *upl = t_client_new(t_port(s, "ft"));
    char cmd[128];
    snprintf(cmd, sizeof cmd, "PUT %d - across.bin\n", UP);
    t_client_send(upl, cmd);
    CU_ASSERT(t_send_all(upl->fd, up, UP / 2) == 0);
    int rcv = 4096;
    int slow = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(slow, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)t_port(s, "web"))};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CU_ASSERT_FATAL(connect(slow, (struct sockaddr *)&to, sizeof to) == 0);
    const char *getbig = "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n";
    CU_ASSERT(t_send_all(slow, getbig, strlen(getbig)) == 0);
    char head[256];
    CU_ASSERT(t_recv_exact(slow, head, 100, 3000) == 100);
    usleep(200000);

    long long t0 = mono_ms();
    CU_ASSERT_EQUAL(kill(s->pid, SIGHUP), 0);
    CU_ASSERT_FATAL(t_wait_log(s, "reload: generation 2 serving 7 listeners (0 added, 0 removed, 7 kept)", 5000));
    long long ready = mono_ms() - t0;
    /* The old worker has stopped accepting ("draining:" is its line): from
     * here only the new generation can answer. */
    CU_ASSERT(t_wait_log(s, "draining: ", 3000));
    long worst = 0;
    for (size_t i = 0; i < NTARGETS; i++) {
        long took = probe(port[i], targets[i].udp, targets[i].req, targets[i].want, 1000);
        if (took < 0)
            fprintf(stderr, "\n  %s: no answer within 1 s of the new generation serving\n", targets[i].name);
        CU_ASSERT(took >= 0);
        if (took > worst)
            worst = took;
    }
    fprintf(stderr, "\n  new generation serving %lld ms after SIGHUP; slowest new connection %ld ms\n", ready,
            worst);
    CU_ASSERT(kill(old[0], 0) == 0); /* still draining: it has connections */

    /* The draining worker has nothing to do -- while new connections keep
     * arriving for the new generation -- and must not spin. */
    long c0 = t_cpu_ticks(old[0]);
    int late = 0;
    for (int i = 0; i < 10; i++) {
        late += probe(port[0], 0, "ping", "ping", 1000) < 0;
        usleep(200000);
    }
    long used = t_cpu_ticks(old[0]) - c0;
    CU_ASSERT_EQUAL(late, 0);
    fprintf(stderr, "  the draining worker used %ld ticks of CPU in 2 s; %d of 10 new connections unanswered\n",
            used, late);
    CU_ASSERT(used <= 10); /* 100 ms of 2000: a spinning one uses ~200 */

    /* Every old connection goes on. */
    CU_ASSERT(t_echo_on(idle, "ping"));
    t_client_send(alice, "/msg bob still here\n");
    CU_ASSERT(t_expect_line(bob, "<alice> still here", 3000));
    t_client_send(member, "{\"type\":\"broadcast\",\"message\":\"after\"}\n");
    CU_ASSERT(t_wait_closed(member->fd, 300) == 0);
    CU_ASSERT(t_send_all(keep, get, strlen(get)) == 0);
    CU_ASSERT_EQUAL(read_http(keep, &cc), 12);
    CU_ASSERT_EQUAL(cc, 1); /* a draining generation closes keep-alive after the answer */
    CU_ASSERT(t_wait_closed(keep, 3000));
    CU_ASSERT(t_send_all(upl->fd, up + UP / 2, UP - UP / 2) == 0);
    CU_ASSERT(put_answer(upl, line, sizeof line));
    snprintf(p, sizeof p, "%s/files/across.bin", t_tmpdir());
    size_t n = 0;
    unsigned char *got = (unsigned char *)t_read_file(p, &n);
    CU_ASSERT(got && n == UP && memcmp(got, up, UP) == 0);
    free(got);
    /* the slow download, read to its end */
    unsigned char *body = malloc(BIG + 4096);
    size_t have = 100;
    memcpy(body, head, 100);
    have += t_recv_exact(slow, body + 100, BIG + 4096 - 100, 5000);
    unsigned char *hdr_end = memmem(body, have, "\r\n\r\n", 4);
    CU_ASSERT_FATAL(hdr_end != NULL);
    size_t off = (size_t)(hdr_end + 4 - body);
    CU_ASSERT_EQUAL(have - off, (size_t)BIG);
    CU_ASSERT(have - off == BIG && memcmp(body + off, big, BIG) == 0);
    free(body);
    close(slow);
    close(idle);
    t_client_free(upl);
    t_client_free(alice);
    t_client_free(bob);
    t_client_free(member);
    free(big);
    free(up);
    CU_ASSERT_EQUAL(t_stop(s, SIGTERM, 10000), 0);
}

/* ---- a reload storm ---- */

typedef struct sparse {
    int ports[NTARGETS];
    volatile int stop;
    int attempts, failures;
    char failed[512];
} sparse;

/* A new connection to each TCP listener in turn, every 50 ms. */
static void *sparse_main(void *arg)
{
    sparse *sp = arg;
    for (unsigned k = 0; !sp->stop && k < 400; k++) {
        const target *t = &targets[k % NTARGETS];
        if (t->udp)
            continue;
        sp->attempts++;
        if (probe(sp->ports[k % NTARGETS], 0, t->req, t->want, 3000) < 0) {
            sp->failures++;
            size_t l = strlen(sp->failed);
            snprintf(sp->failed + l, sizeof sp->failed - l, " %s", t->name);
        }
        usleep(50000);
    }
    return NULL;
}

static double bench_field(const char *file, const char *key)
{
    char jp[600];
    snprintf(jp, sizeof jp, "%s/%s", t_tmpdir(), file);
    json_error_t je;
    json_t *j = json_load_file(jp, 0, &je);
    if (!j)
        return -1;
    json_t *t = json_array_get(json_object_get(j, "targets"), 0);
    double v = json_number_value(json_object_get(t, key));
    json_decref(j);
    return v;
}

static void test_reload_storm(void)
{
    const char *conf = every_module_conf("storm.json", 2, 30000);
    t_proc *s = t_start(conf, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    sparse sp = {0};
    for (size_t i = 0; i < NTARGETS; i++)
        sp.ports[i] = t_port(s, targets[i].name);
    /* a long-lived connection that keeps its generation draining */
    int idle = t_connect_tcp(sp.ports[0]);
    CU_ASSERT(t_echo_on(idle, "ping"));
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s echo -c 10 -d 6 -w 0 -r 1 --json -q 127.0.0.1:%d > %s/storm-echo.json &"
             "%s http -c 10 -d 6 -w 0 -r 1 --path /index.html --json -q 127.0.0.1:%d > %s/storm-http.json & wait",
             t_build_path("netcore-bench"), sp.ports[0], t_tmpdir(), t_build_path("netcore-bench"), sp.ports[4],
             t_tmpdir());
    FILE *load = popen(cmd, "r");
    pthread_t th;
    pthread_create(&th, NULL, sparse_main, &sp);
    usleep(500000);
    for (int i = 0; i < 20; i++) {
        kill(s->pid, SIGHUP);
        usleep(200000);
    }
    usleep(1500000);
    sp.stop = 1;
    pthread_join(th, NULL);
    pclose(load);
    CU_ASSERT(t_echo_on(idle, "ping"));
    close(idle);
    pthread_mutex_lock(&s->mu);
    int reloads = t_count(s->log, "reload: generation ");
    int refused = t_count(s->log, "keeping the running configuration");
    pthread_mutex_unlock(&s->mu);
    double echo_req = bench_field("storm-echo.json", "rate"), echo_err = bench_field("storm-echo.json", "errors");
    double http_req = bench_field("storm-http.json", "rate"), http_err = bench_field("storm-http.json", "errors");
    fprintf(stderr,
            "\n  20 SIGHUPs: %d reloads; sparse: %d new connections, %d failed%s; echo load: %.0f requests/s, %.0f "
            "errors; http load: %.0f requests/s, %.0f errors\n",
            reloads, sp.attempts, sp.failures, sp.failed, echo_req, echo_err, http_req, http_err);
    CU_ASSERT(reloads >= 5); /* signals that arrive during a reload merge into one */
    CU_ASSERT_EQUAL(refused, 0);
    CU_ASSERT(sp.attempts >= 50);
    CU_ASSERT_EQUAL(sp.failures, 0);
    CU_ASSERT(echo_req > 100 && http_req > 100);
    CU_ASSERT_EQUAL(echo_err, 0);
    CU_ASSERT_EQUAL(http_err, 0);
    CU_ASSERT_EQUAL(t_stop(s, SIGTERM, 20000), 0);
}

/* ---- uploads across reloads, kills and restarts ---- */

static const char *ft_conf(const char *name, int workers)
{
    make_dir("up");
    static char json[1024];
    snprintf(json, sizeof json,
             "{\"user\":\"root\",\"workers\":%d,\"drain_timeout_ms\":20000,\"listeners\":["
             "{\"name\":\"ft\",\"module\":\"file-transfer\",\"listen\":\"127.0.0.1:0\","
             "\"options\":{\"root\":\"%s/up\",\"max_concurrent_uploads\":100}}]}",
             workers, t_tmpdir());
    return t_write_file(name, json);
}

/* Names of the temporaries in up/ (at most max), each "pid name". */
static int temporaries(char names[][128], int max)
{
    char p[512];
    snprintf(p, sizeof p, "%s/up", t_tmpdir());
    DIR *d = opendir(p);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strncmp(e->d_name, ".upload-", 8) == 0 && n < max)
            snprintf(names[n++], 128, "%.120s", e->d_name);
    if (d)
        closedir(d);
    return n;
}

static int stored_is(const char *name, const unsigned char *want, size_t n)
{
    char p[512];
    snprintf(p, sizeof p, "%s/up/%s", t_tmpdir(), name);
    size_t have = 0;
    unsigned char *b = (unsigned char *)t_read_file(p, &have);
    int ok = b && have == n && memcmp(b, want, n) == 0;
    free(b);
    return ok;
}

static void clear_up(void)
{
    char p[512];
    snprintf(p, sizeof p, "rm -rf %s/up", t_tmpdir());
    CU_ASSERT_EQUAL(system(p), 0);
}

/* Upload X half sent, SIGHUP, upload Y on the new generation: each is
 * stored under its own name with its own bytes. */
static void test_upload_across_reload(void)
{
    clear_up();
    t_proc *s = t_start(ft_conf("ftx.json", 1), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    int port = t_port(s, "ft");
    enum { N = 200000 };
    unsigned char *x = malloc(N), *y = malloc(N);
    fill(x, N, 3);
    fill(y, N, 4);
    t_client *cx = t_client_new(port);
    t_client_send(cx, "PUT 200000 - x.bin\n");
    CU_ASSERT(t_send_all(cx->fd, x, N / 2) == 0);
    usleep(200000);
    kill(s->pid, SIGHUP);
    CU_ASSERT_FATAL(t_wait_log(s, "reload: generation 2 serving", 5000));
    t_client *cy = t_client_new(port);
    t_client_send(cy, "PUT 200000 - y.bin\n");
    CU_ASSERT(t_send_all(cy->fd, y, N / 2) == 0);
    usleep(200000);
    char tmps[8][128];
    CU_ASSERT_EQUAL(temporaries(tmps, 8), 2); /* the new generation removed nothing in flight */
    CU_ASSERT(t_send_all(cx->fd, x + N / 2, N - N / 2) == 0);
    char line[256];
    CU_ASSERT(put_answer(cx, line, sizeof line));
    CU_ASSERT(t_send_all(cy->fd, y + N / 2, N - N / 2) == 0);
    CU_ASSERT(put_answer(cy, line, sizeof line));
    CU_ASSERT(stored_is("x.bin", x, N));
    CU_ASSERT(stored_is("y.bin", y, N));
    CU_ASSERT_EQUAL(temporaries(tmps, 8), 0);
    t_client_free(cx);
    t_client_free(cy);
    free(x);
    free(y);
    CU_ASSERT_EQUAL(t_stop(s, SIGTERM, 10000), 0);
}

/* Two workers with uploads in flight on both; one is killed with SIGKILL.
 * Its replacement removes the killed worker's temporaries, not the
 * other's; the other's uploads complete, the killed ones store nothing. */
static void test_upload_worker_killed(void)
{
    clear_up();
    t_proc *s = t_start(ft_conf("ftk.json", 2), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    int port = t_port(s, "ft");
    pid_t kids[4];
    CU_ASSERT_EQUAL_FATAL(t_children(s->pid, kids, 4), 2);
    enum { N = 100000, MAXC = 40 };
    unsigned char *data = malloc(N);
    t_client *cl[MAXC];
    int nc = 0, on[2] = {0, 0};
    char tmps[MAXC][128];
    /* Open uploads until both workers hold at least one.  The kernel tends
     * to hand every connection to the same idle worker; a worker stopped
     * for a moment is not waiting in epoll_wait, so the next connection
     * goes to the other. */
    while (nc < MAXC && (!on[0] || !on[1])) {
        pid_t stopped = 0;
        if (nc >= 2) {
            stopped = on[0] ? kids[0] : kids[1];
            kill(stopped, SIGSTOP);
            usleep(50000);
        }
        fill(data, N, (unsigned)nc);
        cl[nc] = t_client_new(port);
        char cmd[64];
        snprintf(cmd, sizeof cmd, "PUT %d - k%d.bin\n", N, nc);
        t_client_send(cl[nc], cmd);
        CU_ASSERT(t_send_all(cl[nc]->fd, data, N / 2) == 0);
        nc++;
        if (stopped) {
            usleep(100000);
            kill(stopped, SIGCONT);
        }
        int nt = 0;
        for (int w = 0; w < 50 && (nt = temporaries(tmps, MAXC)) < nc; w++)
            usleep(20000);
        if (nt != nc)
            fprintf(stderr, "\n  %d temporaries for %d uploads\n", nt, nc);
        CU_ASSERT_EQUAL(nt, nc);
        on[0] = on[1] = 0;
        for (int i = 0; i < nt; i++)
            for (int k = 0; k < 2; k++)
                on[k] += atoi(tmps[i] + 8) == kids[k];
    }
    CU_ASSERT_FATAL(on[0] > 0 && on[1] > 0);
    CU_ASSERT_EQUAL(kill(kids[0], SIGKILL), 0);
    char want[160];
    snprintf(want, sizeof want, "(pid %d) was killed by signal 9 (Killed); restarting it", (int)kids[0]);
    CU_ASSERT(t_wait_log(s, want, 3000));
    CU_ASSERT(t_wait_log(s, "left by an interrupted upload", 5000));
    usleep(200000);
    int nt = temporaries(tmps, MAXC), theirs = 0, mine = 0;
    for (int i = 0; i < nt; i++) {
        theirs += atoi(tmps[i] + 8) == kids[0];
        mine += atoi(tmps[i] + 8) == kids[1];
    }
    CU_ASSERT_EQUAL(theirs, 0);  /* the dead worker's: removed */
    CU_ASSERT_EQUAL(mine, on[1]); /* the live worker's: untouched */
    int ok = 0, lost = 0;
    for (int i = 0; i < nc; i++) {
        fill(data, N, (unsigned)i);
        t_send_all(cl[i]->fd, data + N / 2, N - N / 2);
        char line[256], name[32];
        snprintf(name, sizeof name, "k%d.bin", i);
        if (put_answer(cl[i], line, sizeof line)) {
            ok++;
            CU_ASSERT(stored_is(name, data, N));
        } else {
            lost++;
            char p[512];
            struct stat st;
            snprintf(p, sizeof p, "%s/up/%s", t_tmpdir(), name);
            CU_ASSERT(stat(p, &st) < 0); /* nothing stored under its name */
        }
        t_client_free(cl[i]);
    }
    fprintf(stderr, "\n  %d uploads: %d on the killed worker, %d completed\n", nc, on[0], ok);
    CU_ASSERT_EQUAL(ok, on[1]);
    CU_ASSERT_EQUAL(lost, on[0]);
    CU_ASSERT_EQUAL(temporaries(tmps, MAXC), 0);
    free(data);
    CU_ASSERT_EQUAL(t_stop(s, SIGTERM, 10000), 0);
}

/* A restart after SIGKILL: the temporary left behind is removed; one whose
 * lock a live process holds, a FIFO and a symlink under a temporary's name
 * are not touched (and nothing hangs on the FIFO).  Once the lock is
 * released, the next reload's generation removes that one too. */
static void test_restart_removes_stale(void)
{
    clear_up();
    const char *conf = ft_conf("fts.json", 1);
    t_proc *s = t_start(conf, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    t_client *c = t_client_new(t_port(s, "ft"));
    t_client_send(c, "PUT 100000 - left.bin\n");
    char junk[50000];
    memset(junk, 'j', sizeof junk);
    CU_ASSERT(t_send_all(c->fd, junk, sizeof junk) == 0);
    char tmps[8][128];
    for (int w = 0; w < 50 && temporaries(tmps, 8) < 1; w++)
        usleep(20000);
    CU_ASSERT_EQUAL_FATAL(temporaries(tmps, 8), 1);
    pid_t kids[2];
    CU_ASSERT_EQUAL_FATAL(t_children(s->pid, kids, 2), 1);
    /* Stopped first, so the master's death (PDEATHSIG) cannot make it
     * clean up gracefully: the whole server dies as with kill -9. */
    kill(kids[0], SIGSTOP);
    kill(s->pid, SIGKILL);
    kill(kids[0], SIGKILL);
    t_stop(s, SIGKILL, 3000);
    t_client_free(c);
    for (int w = 0; w < 100 && kill(kids[0], 0) == 0; w++)
        usleep(20000);
    CU_ASSERT_EQUAL(temporaries(tmps, 8), 1); /* left behind */
    char p[512], held[512];
    snprintf(held, sizeof held, "%s/up/.upload-1-00000000000000aa.tmp", t_tmpdir());
    int hfd = open(held, O_WRONLY | O_CREAT | O_CLOEXEC, 0644); /* not inherited by the server */
    CU_ASSERT_FATAL(hfd >= 0);
    CU_ASSERT_EQUAL(flock(hfd, LOCK_EX), 0);
    snprintf(p, sizeof p, "%s/up/.upload-2-00000000000000bb.tmp", t_tmpdir());
    CU_ASSERT_EQUAL(mkfifo(p, 0644), 0);
    snprintf(p, sizeof p, "%s/up/.upload-3-00000000000000cc.tmp", t_tmpdir());
    CU_ASSERT_EQUAL(symlink("/etc/hostname", p), 0);

    s = t_start(conf, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    char want[800];
    snprintf(want, sizeof want, "file-transfer: removed %s/up/%s, left by an interrupted upload", t_tmpdir(),
             tmps[0]);
    T_ASSERT_STR_CONTAINS(s->log, want);
    char now[8][128];
    int n = temporaries(now, 8);
    CU_ASSERT_EQUAL(n, 3); /* held, FIFO and symlink stay */
    for (int i = 0; i < n; i++)
        CU_ASSERT(strcmp(now[i], tmps[0]) != 0);
    CU_ASSERT(access("/etc/hostname", F_OK) == 0);
    /* released: the next generation removes it */
    close(hfd);
    kill(s->pid, SIGHUP);
    CU_ASSERT(t_wait_log(s, "reload: generation 2 serving", 5000));
    snprintf(want, sizeof want, "removed %s", held);
    CU_ASSERT(t_wait_log(s, want, 3000));
    CU_ASSERT(access(held, F_OK) < 0);
    CU_ASSERT_EQUAL(temporaries(now, 8), 2);
    CU_ASSERT_EQUAL(t_stop(s, SIGTERM, 10000), 0);
}

/* A chat user connected before a reload keeps talking to the users of its
 * generation until it leaves or drain_timeout_ms ends. */
static void test_chat_kept_until_drain(void)
{
    t_proc *s = t_start_conf("{\"user\":\"root\",\"drain_timeout_ms\":1500,\"listeners\":["
                             "{\"name\":\"chat\",\"module\":\"chat\",\"listen\":\"127.0.0.1:0\"}]}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    int port = t_port(s, "chat");
    t_client *a = t_client_new(port), *b = t_client_new(port);
    t_client_send(a, "/nick alice\n");
    t_client_send(b, "/nick bob\n");
    CU_ASSERT(t_expect_line(a, "* you are now alice", 3000));
    CU_ASSERT(t_expect_line(b, "* you are now bob", 3000));
    kill(s->pid, SIGHUP);
    CU_ASSERT_FATAL(t_wait_log(s, "reload: generation 2 serving", 5000));
    long long t0 = mono_ms();
    t_client_send(a, "/msg bob across\n");
    CU_ASSERT(t_expect_line(b, "<alice> across", 3000));
    t_client_send(a, "/quit\n");
    CU_ASSERT(t_wait_closed(a->fd, 3000));
    /* a newcomer is served by the new generation meanwhile */
    CU_ASSERT(probe(port, 0, "", "* welcome, you are guest", 1000) >= 0);
    CU_ASSERT(t_wait_closed(b->fd, 5000));
    long long held = mono_ms() - t0;
    fprintf(stderr, "\n  bob was closed %lld ms after the reload (drain_timeout_ms 1500)\n", held);
    CU_ASSERT(held >= 1000);
    CU_ASSERT(t_wait_log(s, "drain_timeout_ms passed: closing 1 connection", 3000));
    t_client_free(a);
    t_client_free(b);
    CU_ASSERT_EQUAL(t_stop(s, SIGTERM, 10000), 0);
}

/* "workers": 64, the most the config accepts: both generations fit. */
static void test_reload_max_workers(void)
{
    t_proc *s = t_start_conf("{\"user\":\"root\",\"workers\":64,\"drain_timeout_ms\":2000,\"listeners\":["
                             "{\"name\":\"e\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\"}]}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    int port = t_port(s, "e");
    int idle = t_connect_tcp(port);
    CU_ASSERT(t_echo_on(idle, "ping"));
    kill(s->pid, SIGHUP);
    CU_ASSERT(t_wait_log(s, "reload: generation 2 serving", 30000));
    pthread_mutex_lock(&s->mu);
    CU_ASSERT_PTR_NULL(strstr(s->log, "cannot start worker"));
    pthread_mutex_unlock(&s->mu);
    CU_ASSERT(probe(port, 0, "ping", "ping", 1000) >= 0);
    CU_ASSERT(t_echo_on(idle, "ping"));
    pid_t kids[256];
    int n = t_children(s->pid, kids, 256);
    CU_ASSERT(n >= 64);
    close(idle);
    CU_ASSERT_EQUAL(t_stop(s, SIGTERM, 20000), 0);
}

static int file_has(const char *path, const char *needle)
{
    char *b = t_read_file(path, NULL);
    int yes = b && strstr(b, needle) != NULL;
    free(b);
    return yes;
}

/* A reload applies log.file, log.level and pid_file in the master and in
 * the new workers. */
static void test_reload_log_and_pid(void)
{
    char json[1024], blog[300], clog[300], ppid[300], qpid[300];
    snprintf(blog, sizeof blog, "%s/b.log", t_tmpdir());
    snprintf(clog, sizeof clog, "%s/c.log", t_tmpdir());
    snprintf(ppid, sizeof ppid, "%s/p.pid", t_tmpdir());
    snprintf(qpid, sizeof qpid, "%s/q.pid", t_tmpdir());
    const char *listener = "{\"name\":\"e\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\"}";
    snprintf(json, sizeof json, "{\"user\":\"root\",\"drain_timeout_ms\":500,\"listeners\":[%s]}", listener);
    const char *conf = t_write_file("logpid.json", json);
    t_proc *s = t_start(conf, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    int port = t_port(s, "e");
    snprintf(json, sizeof json,
             "{\"user\":\"root\",\"drain_timeout_ms\":500,\"pid_file\":\"%s\",\"log\":{\"level\":\"debug\","
             "\"file\":\"%s\"},\"listeners\":[%s]}",
             ppid, blog, listener);
    t_write_file("logpid.json", json);
    kill(s->pid, SIGHUP);
    for (int w = 0; w < 250 && !file_has(blog, "reload: generation 2 serving"); w++)
        usleep(20000);
    CU_ASSERT(file_has(blog, "reload: generation 2 serving")); /* the master */
    CU_ASSERT(file_has(blog, "worker 0 serving"));             /* a new worker, at debug */
    CU_ASSERT(probe(port, 0, "ping", "ping", 1000) >= 0);
    usleep(100000);
    CU_ASSERT(file_has(blog, "accepted from 127.0.0.1:"));
    char pidtxt[32];
    snprintf(pidtxt, sizeof pidtxt, "%d\n", (int)s->pid);
    CU_ASSERT(file_has(ppid, pidtxt));
    /* level back to info, another file, the pid file moved */
    snprintf(json, sizeof json,
             "{\"user\":\"root\",\"drain_timeout_ms\":500,\"pid_file\":\"%s\",\"log\":{\"level\":\"info\","
             "\"file\":\"%s\"},\"listeners\":[%s]}",
             qpid, clog, listener);
    t_write_file("logpid.json", json);
    kill(s->pid, SIGHUP);
    for (int w = 0; w < 250 && !file_has(clog, "reload: generation 3 serving"); w++)
        usleep(20000);
    CU_ASSERT(file_has(clog, "reload: generation 3 serving"));
    CU_ASSERT(probe(port, 0, "ping", "ping", 1000) >= 0);
    usleep(100000);
    CU_ASSERT(!file_has(clog, "worker 0 serving"));
    CU_ASSERT(!file_has(clog, "accepted from"));
    CU_ASSERT(access(ppid, F_OK) < 0);
    CU_ASSERT(file_has(qpid, pidtxt));
    /* a log.file that cannot be opened refuses the reload */
    snprintf(json, sizeof json,
             "{\"user\":\"root\",\"log\":{\"file\":\"%s/no/such/dir/x.log\"},\"listeners\":[%s]}", t_tmpdir(),
             listener);
    t_write_file("logpid.json", json);
    kill(s->pid, SIGHUP);
    char want[400];
    snprintf(want, sizeof want, "log.file: %s/no/such/dir/x.log: No such file or directory; keeping the running "
                                "configuration", t_tmpdir());
    for (int w = 0; w < 250 && !file_has(clog, want); w++)
        usleep(20000);
    CU_ASSERT(file_has(clog, want));
    CU_ASSERT(probe(port, 0, "ping", "ping", 1000) >= 0);
    CU_ASSERT_EQUAL(t_stop(s, SIGTERM, 10000), 0);
    CU_ASSERT(access(qpid, F_OK) < 0);
}

int add_reload_suite(void)
{
    CU_pSuite s = CU_add_suite("reload", NULL, NULL);
    if (!s ||
        !CU_add_test(s, "long-lived connections of every module across SIGHUP: new ones answered, the old "
                        "generation idle",
                     test_every_module_across_reload) ||
        !CU_add_test(s, "20 SIGHUPs every 200 ms under continuous and sparse load: nothing fails",
                     test_reload_storm) ||
        !CU_add_test(s, "upload X across a reload, upload Y on the new generation: each under its own name",
                     test_upload_across_reload) ||
        !CU_add_test(s, "SIGKILL of one of two workers with uploads on both", test_upload_worker_killed) ||
        !CU_add_test(s, "restart after SIGKILL removes only temporaries nobody holds", test_restart_removes_stale) ||
        !CU_add_test(s, "a chat user keeps its connection until drain_timeout_ms", test_chat_kept_until_drain) ||
        !CU_add_test(s, "reload with 64 workers", test_reload_max_workers) ||
        !CU_add_test(s, "reload applies log.file, log.level and pid_file", test_reload_log_and_pid))
        return -1;
    return 0;
}
