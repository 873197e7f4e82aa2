/* test_bench.c -- netcore-bench against netcore and against small servers
 * run inside the test: the counts are sane, alternating rounds and ratios
 * are reported, and a server that corrupts one byte in a thousand (or
 * answers with a wrong length) shows up as errors, not as throughput; every
 * spec of bench/ runs one short round (so none can rot); --plot,
 * --server-pid and the one-round warning. */
#include <arpa/inet.h>
#include <dirent.h>
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

/* Runs sh -c CMD, stdout into out (NUL-terminated, truncated to cap) and
 * stderr into err the same way.  Returns the exit status, -1 if killed. */
static int sh_capture(char *out, size_t cap, char *err, size_t ecap, const char *fmt, ...)
{
    char cmd[2048], errpath[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(errpath, sizeof errpath, "%s/stderr.txt", t_tmpdir());
    char full[2600];
    snprintf(full, sizeof full, "(%s) 2>'%s'", cmd, errpath);
    FILE *f = popen(full, "r");
    size_t n = f ? fread(out, 1, cap - 1, f) : 0;
    out[n] = '\0';
    int st = f ? pclose(f) : -1;
    FILE *e = fopen(errpath, "r");
    n = e ? fread(err, 1, ecap - 1, e) : 0;
    err[n] = '\0';
    if (e)
        fclose(e);
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* One spec of bench/ for one short round: it must exit 0 and print one
 * JSON table per run of the spec, of the run's scenario (its own or the
 * spec's), every target in each; no target may see
 * a single error, and each must complete verified work in at least one run
 * (not in every one: in 0.4 s, 500 connections sharing the bandwidth may
 * not finish one 1 MiB response each).  Returns 0 when all that held. */
static int spec_once(const char *spec)
{
    char path[300];
    snprintf(path, sizeof path, "bench/%s", spec);
    json_t *sj = json_load_file(path, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sj);
    const char *scen = json_string_value(json_object_get(sj, "scenario"));
    size_t runs = json_array_size(json_object_get(sj, "runs")) ? json_array_size(json_object_get(sj, "runs")) : 1;
    size_t ntargets = json_array_size(json_object_get(sj, "targets"));
    /* A file download spec serves 1 GiB: too long for one short round; the
     * same servers, spec and setup serve 1m.bin as well. */
    const char *extra = scen && !strcmp(scen, "file") ? "--name 1m.bin" : "";
    static char out[1 << 18], err[1 << 16];
    int st = sh_capture(out, sizeof out, err, sizeof err, "%s run %s -d 0.3 -w 0.1 -r 1 --json -q %s",
                        t_build_path("netcore-bench"), path, extra);
    int bad = st != 0;
    size_t seen = 0;
    int *worked = calloc(ntargets + 1, sizeof *worked);
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *j = json_loads(line, 0, NULL);
        if (!j)
            continue;
        seen++;
        /* Each run is of its own scenario when it names one. */
        const char *rs = json_string_value(json_object_get(json_array_get(json_object_get(sj, "runs"), seen - 1),
                                                           "scenario"));
        const char *got = json_string_value(json_object_get(j, "scenario"));
        if (!got || strcmp(got, rs ? rs : scen)) {
            fprintf(stderr, "\n  %s run %zu: scenario %s, expected %s\n", spec, seen, got ? got : "(none)",
                    rs ? rs : scen);
            bad = 1;
        }
        for (size_t i = 0; i < ntargets; i++) {
            json_t *t = tgt(j, i);
            worked[i] |= t && num(t, "rate") > 0;
            if (!t || num(t, "errors") != 0) {
                fprintf(stderr, "\n  %s run %zu: target %s: rate %.0f, errors %.0f\n", spec, seen,
                        t ? json_string_value(json_object_get(t, "name")) : "(missing)", t ? num(t, "rate") : 0,
                        t ? num(t, "errors") : 0);
                bad = 1;
            }
        }
        json_decref(j);
    }
    for (size_t i = 0; i < ntargets; i++)
        if (!worked[i]) {
            fprintf(stderr, "\n  %s: target %zu completed nothing in any run\n", spec, i + 1);
            bad = 1;
        }
    free(worked);
    if (seen != runs)
        bad = 1;
    if (bad)
        fprintf(stderr, "\n  %s: exit %d, %zu of %zu runs reported; its stderr:\n%s\n", spec, st, seen, runs, err);
    json_decref(sj);
    return bad ? -1 : 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_spec(const struct dirent *e)
{
    size_t n = strlen(e->d_name);
    return n > 5 && !strcmp(e->d_name + n - 5, ".json");
}

/* Every spec in bench/ (found by listing the folder, so a new one is
 * covered without touching this test) from the top of the tree, where its
 * relative paths point. */
static void test_every_spec(void)
{
    struct dirent **list;
    int n = scandir("bench", &list, is_spec, by_name);
    CU_ASSERT_FATAL(n >= 7); /* broadcast echo file http tls workers-echo workers-http */
    for (int i = 0; i < n; i++) {
        int rc = spec_once(list[i]->d_name);
        if (rc != 0)
            fprintf(stderr, "\n  bench/%s does not run (see /tmp/netcore-bench-logs/)\n", list[i]->d_name);
        CU_ASSERT_EQUAL(rc, 0);
        free(list[i]);
    }
    free(list);
}

/* A spec whose server is not there says which, and what provides it,
 * before anything is started. */
static void test_spec_missing_server(void)
{
    const char *spec = t_write_file(
        "missing.json", "{\"scenario\":\"echo\",\"targets\":["
                        "{\"name\":\"pkg\",\"addr\":\"127.0.0.1:1\",\"package\":\"nc-fake-pkg\","
                        "\"start\":[\"nc-no-such-server\"]},"
                        "{\"name\":\"own\",\"addr\":\"127.0.0.1:1\",\"start\":[\"build/bench/nc_no_such_ref\"]}]}");
    char out[4096], err[4096];
    int st = sh_capture(out, sizeof out, err, sizeof err, "%s run %s -d 0.2 -r 1", t_build_path("netcore-bench"),
                        spec);
    CU_ASSERT_EQUAL(st, 2);
    T_ASSERT_STR_CONTAINS(err, "target pkg needs nc-no-such-server, which is not installed "
                               "(Debian package nc-fake-pkg; scripts/install-deps --bench installs it)");
    T_ASSERT_STR_CONTAINS(err, "target own needs build/bench/nc_no_such_ref, which is not built "
                               "(`ninja bench` builds netcore and the reference servers of bench/ref/)");
    CU_ASSERT_PTR_NULL(strstr(err, "starting"));
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static char *slurp(const char *path)
{
    long n = file_size(path);
    FILE *f = fopen(path, "r");
    if (n < 0 || !f) {
        if (f)
            fclose(f);
        return NULL;
    }
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    b[got] = '\0';
    fclose(f);
    return b;
}

/* --plot with a spec of two runs: one SVG per run, titled with the run,
 * names with underscores kept as they are (gnuplot's enhanced text would
 * make "srv_a" an "srv" with a subscript "a"), bars labelled with the
 * ratio, whiskers from the rounds' spread.  Without a spec, one file. */
static void test_plot(void)
{
    t_proc *p = t_start_conf("{\"listeners\":[{\"name\":\"e\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\"}]}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int port = t_port(p, "e");
    char specj[600];
    snprintf(specj, sizeof specj,
             "{\"scenario\":\"echo\",\"runs\":[{\"connections\":2},{\"connections\":4}],\"targets\":["
             "{\"name\":\"srv_a\",\"addr\":\"127.0.0.1:%d\"},{\"name\":\"srv_b\",\"addr\":\"127.0.0.1:%d\"}]}",
             port, port);
    const char *spec = t_write_file("plot.json", specj);
    char out[1 << 14], err[1 << 14], svg[400];
    int st = sh_capture(out, sizeof out, err, sizeof err, "%s run %s -d 0.2 -w 0 -r 2 -q --plot %s/p.svg --csv %s/p.csv",
                        t_build_path("netcore-bench"), spec, t_tmpdir(), t_tmpdir());
    CU_ASSERT_EQUAL(st, 0);
    /* --csv keeps every run: one header, 2 runs x 2 targets x 2 rounds,
     * each row ending in its run's number */
    snprintf(svg, sizeof svg, "%s/p.csv", t_tmpdir());
    char *csv = slurp(svg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(csv);
    CU_ASSERT_EQUAL(t_count(csv, "\n"), 1 + 8);
    CU_ASSERT_EQUAL(t_count(csv, "scenario,"), 1);
    CU_ASSERT_EQUAL(t_count(csv, ",1\n"), 4);
    CU_ASSERT_EQUAL(t_count(csv, ",2\n"), 4);
    T_ASSERT_STR_CONTAINS(csv, ",client_cpu,server_cpu,run\n");
    free(csv);
    snprintf(svg, sizeof svg, "%s/p.svg", t_tmpdir());
    CU_ASSERT_EQUAL(file_size(svg), -1); /* not one file overwritten by each run */
    for (int run = 1; run <= 2; run++) {
        snprintf(svg, sizeof svg, "%s/p-%d.svg", t_tmpdir(), run);
        char *text = slurp(svg);
        CU_ASSERT_PTR_NOT_NULL_FATAL(text);
        char title[120];
        snprintf(title, sizeof title, "echo, run %d of 2: %d connections, 64 B, depth 1; 2 rounds", run, run * 2);
        T_ASSERT_STR_CONTAINS(text, title);
        T_ASSERT_STR_CONTAINS(text, "srv_a");
        T_ASSERT_STR_CONTAINS(text, "srv_b");
        T_ASSERT_STR_CONTAINS(text, "1.00x");
        T_ASSERT_STR_CONTAINS(text, "throughput: median, min-max over rounds, ratio to srv_a");
        free(text);
        T_ASSERT_STR_CONTAINS(err, svg);
    }
    /* No spec: exactly the file named; one round, so its title says noise. */
    st = sh_capture(out, sizeof out, err, sizeof err, "%s echo -c 2 -d 0.2 -w 0 -r 1 --plot %s/one.svg x_y=127.0.0.1:%d",
                    t_build_path("netcore-bench"), t_tmpdir(), port);
    CU_ASSERT_EQUAL(st, 0);
    snprintf(svg, sizeof svg, "%s/one.svg", t_tmpdir());
    char *text = slurp(svg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    T_ASSERT_STR_CONTAINS(text, "echo: 2 connections, 64 B, depth 1; 1 round (noise)");
    T_ASSERT_STR_CONTAINS(text, "x_y");
    free(text);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

/* One round warns, on stderr and in the table; two do not. */
static void test_one_round_warning(void)
{
    t_proc *p = t_start_conf("{\"listeners\":[{\"name\":\"e\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\"}]}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    char out[1 << 14], err[1 << 14];
    int st = sh_capture(out, sizeof out, err, sizeof err, "%s echo -c 2 -d 0.2 -w 0 -r 1 127.0.0.1:%d",
                        t_build_path("netcore-bench"), t_port(p, "e"));
    CU_ASSERT_EQUAL(st, 0);
    T_ASSERT_STR_CONTAINS(err, "netcore-bench: warning: one round is noise (on a shared machine a round moves "
                               "by 10% or more); quote medians of 3 or more alternating rounds (-r 3)");
    T_ASSERT_STR_CONTAINS(out, "(one round: noise, not a measurement; quote medians of -r 3 or more)");
    st = sh_capture(out, sizeof out, err, sizeof err, "%s echo -c 2 -d 0.2 -w 0 -r 2 127.0.0.1:%d",
                    t_build_path("netcore-bench"), t_port(p, "e"));
    CU_ASSERT_EQUAL(st, 0);
    CU_ASSERT_PTR_NULL(strstr(err, "one round"));
    CU_ASSERT_PTR_NULL(strstr(out, "one round"));
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

/* Without a spec, --server-pid names the server: srv us/op is then its
 * CPU time (the master's and its workers') per operation. */
static void test_server_pid(void)
{
    t_proc *p = t_start_conf("{\"listeners\":[{\"name\":\"e\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\"}]}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int port = t_port(p, "e"), st;
    json_t *j = bench_json(&st, "echo -c 4 -d 0.3 -w 0 -r 1 --server-pid %d A=127.0.0.1:%d B=127.0.0.1:%d",
                           (int)p->pid, port, port);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_EQUAL(st, 0);
    double us = num(tgt(j, 0), "server_us_per_op");
    CU_ASSERT(us > 0 && us < 1000); /* a 64-byte echo costs microseconds */
    CU_ASSERT_DOUBLE_EQUAL(num(tgt(j, 1), "server_us_per_op"), -1, 1e-9); /* no pid given for B */
    json_decref(j);
    char out[4096], err[4096];
    st = sh_capture(out, sizeof out, err, sizeof err, "%s echo -d 0.2 -r 1 --server-pid 2147483646 127.0.0.1:%d",
                    t_build_path("netcore-bench"), port);
    CU_ASSERT_EQUAL(st, 2);
    T_ASSERT_STR_CONTAINS(err, "netcore-bench: --server-pid 2147483646: no such process");
    st = sh_capture(out, sizeof out, err, sizeof err, "%s echo -d 0.2 -r 1 --server-pid %d --server-pid %d 127.0.0.1:%d",
                    t_build_path("netcore-bench"), (int)p->pid, (int)p->pid, port);
    CU_ASSERT_EQUAL(st, 2);
    T_ASSERT_STR_CONTAINS(err, "netcore-bench: 2 --server-pid for 1 target");
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

int add_bench_suite(void)
{
    CU_pSuite s = CU_add_suite("bench", NULL, NULL);
    if (!s || !CU_add_test(s, "echo and udp against netcore, rounds, ratio, csv", test_echo_netcore) ||
        !CU_add_test(s, "a server corrupting 1 byte in 1000 shows as errors", test_corrupting_server) ||
        !CU_add_test(s, "http keep-alive, --close, and a lying Content-Length", test_http) ||
        !CU_add_test(s, "bad usage and unreachable targets", test_usage) ||
        !CU_add_test(s, "--plot: a file per run, titled, names as written, ratio and spread", test_plot) ||
        !CU_add_test(s, "one round warns that it is noise", test_one_round_warning) ||
        !CU_add_test(s, "--server-pid gives srv us/op without a spec", test_server_pid) ||
        !CU_add_test(s, "a spec's missing server is named with its package", test_spec_missing_server) ||
        !CU_add_test(s, "every spec in bench/ runs one short round", test_every_spec))
        return -1;
    return 0;
}
