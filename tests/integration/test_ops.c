/* test_ops.c -- operating netcore: worker processes (a shared room stays
 * whole, a killed worker is replaced while the service answers), SIGHUP
 * reload (listeners added and removed, a broken config changes nothing, no
 * failed request under load), per-IP limits, the send timeout, pid_file,
 * privilege drop, and /metrics checked by a strict Prometheus text parser. */
#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "suites.h"

static void test_workers(void)
{
    t_proc *p = t_start_conf("{\"workers\":2,\"listeners\":["
                             "{\"name\":\"e\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\"},"
                             "{\"name\":\"room\",\"module\":\"broadcast-chat\",\"listen\":\"127.0.0.1:0\"}]}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    T_ASSERT_STR_CONTAINS(p->log, "ready: 2 listeners, 2 workers");
    pid_t kids[8];
    CU_ASSERT_EQUAL(t_children(p->pid, kids, 8), 2);
    int ok = 0;
    for (int i = 0; i < 50; i++)
        ok += t_echo_once(t_port(p, "e"), "ping");
    CU_ASSERT_EQUAL(ok, 50);
    /* 30 clients in one room: with two workers, everyone still gets every
     * message (the room's listener runs in one worker). */
    enum { N = 30 };
    t_client *cl[N];
    char line[512], cmd[128];
    for (int i = 0; i < N; i++) {
        cl[i] = t_client_new(t_port(p, "room"));
        snprintf(cmd, sizeof cmd, "{\"type\":\"login\",\"nickname\":\"w%d\"}\n", i);
        t_client_send(cl[i], cmd);
        while (t_readline(cl[i], line, sizeof line, 3000) >= 0 && strncmp(line, "{\"status\":\"ok\"", 14) != 0)
            ;
    }
    t_client_send(cl[0], "{\"type\":\"broadcast\",\"message\":\"to all\"}\n");
    int got = 0;
    for (int i = 1; i < N; i++) {
        while (t_readline(cl[i], line, sizeof line, 3000) >= 0)
            if (strstr(line, "\"message\":\"to all\"")) {
                got++;
                break;
            }
    }
    CU_ASSERT_EQUAL(got, N - 1);
    for (int i = 0; i < N; i++)
        t_client_free(cl[i]);

    /* kill -9 a worker: it is replaced, and the service answers throughout */
    CU_ASSERT_EQUAL(kill(kids[1], SIGKILL), 0);
    int served = 0, tries = 0;
    for (; tries < 100; tries++) {
        served += t_echo_once(t_port(p, "e"), "ping");
        usleep(10000);
    }
    CU_ASSERT(served >= 95); /* at most a connection or two in the dying worker */
    char want[128];
    snprintf(want, sizeof want, "(pid %d) was killed by signal 9 (Killed); restarting it", (int)kids[1]);
    CU_ASSERT(t_wait_log(p, want, 3000));
    pid_t after[8];
    usleep(300000);
    CU_ASSERT_EQUAL(t_children(p->pid, after, 8), 2);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 10000), 0);
}

static const char *write_conf(const char *name, const char *body)
{
    return t_write_file(name, body);
}

static void test_reload(void)
{
    char json[1024];
    const char *path = write_conf("reload.json",
                                  "{\"user\":\"root\",\"drain_timeout_ms\":3000,\"listeners\":["
                                  "{\"name\":\"one\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\"},"
                                  "{\"name\":\"web\",\"module\":\"http-static\",\"listen\":\"127.0.0.1:0\","
                                  "\"options\":{\"root\":\"conf/www\"}}]}");
    /* conf/www relative to the config file: use an absolute root instead */
    char cwd[256];
    CU_ASSERT_FATAL(getcwd(cwd, sizeof cwd) != NULL);
    snprintf(json, sizeof json,
             "{\"user\":\"root\",\"drain_timeout_ms\":3000,\"listeners\":["
             "{\"name\":\"one\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\"},"
             "{\"name\":\"web\",\"module\":\"http-static\",\"listen\":\"127.0.0.1:0\","
             "\"options\":{\"root\":\"%s/conf/www\"}}]}",
             cwd);
    path = write_conf("reload.json", json);
    t_proc *p = t_start(path, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int one = t_port(p, "one"), web = t_port(p, "web");
    /* Steady load on both while reloading twice with an unchanged config. */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s echo -c 20 -d 3 -w 0 -r 1 --json -q 127.0.0.1:%d > %s/reload-echo.json &"
                              "%s http -c 20 -d 3 -w 0 -r 1 --json -q 127.0.0.1:%d > %s/reload-http.json & wait",
             t_build_path("netcore-bench"), one, t_tmpdir(), t_build_path("netcore-bench"), web, t_tmpdir());
    FILE *load = popen(cmd, "r");
    usleep(800000);
    kill(p->pid, SIGHUP);
    CU_ASSERT(t_wait_log(p, "reload: generation 2 serving 2 listeners (0 added, 0 removed, 2 kept)", 5000));
    usleep(800000);
    kill(p->pid, SIGHUP);
    CU_ASSERT(t_wait_log(p, "reload: generation 3 serving", 5000));
    pclose(load);
    const char *files[] = {"reload-echo.json", "reload-http.json"};
    for (int i = 0; i < 2; i++) {
        char jp[300];
        snprintf(jp, sizeof jp, "%s/%s", t_tmpdir(), files[i]);
        json_error_t je;
        json_t *j = json_load_file(jp, 0, &je);
        CU_ASSERT_PTR_NOT_NULL_FATAL(j);
        json_t *t = json_array_get(json_object_get(j, "targets"), 0);
        double rate = json_number_value(json_object_get(t, "rate"));
        double errors = json_number_value(json_object_get(t, "errors"));
        if (errors != 0)
            fprintf(stderr, "\n  %s: %.0f errors during reloads\n", files[i], errors);
        CU_ASSERT(rate > 100);
        CU_ASSERT_EQUAL(errors, 0); /* no request failed, no connection refused or reset */
        json_decref(j);
    }
    /* Add one listener, remove another. */
    snprintf(json, sizeof json,
             "{\"user\":\"root\",\"drain_timeout_ms\":3000,\"listeners\":["
             "{\"name\":\"two\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\"},"
             "{\"name\":\"web\",\"module\":\"http-static\",\"listen\":\"127.0.0.1:0\","
             "\"options\":{\"root\":\"%s/conf/www\"}}]}",
             cwd);
    write_conf("reload.json", json);
    kill(p->pid, SIGHUP);
    CU_ASSERT(t_wait_log(p, "(1 added, 1 removed, 1 kept)", 5000));
    int two = t_port(p, "two");
    CU_ASSERT(two > 0);
    CU_ASSERT(t_echo_once(two, "ping"));
    usleep(200000);
    CU_ASSERT_EQUAL(t_connect_tcp(one), -1); /* the removed listener is gone */
    /* A broken config changes nothing. */
    write_conf("reload.json", "{\"listeners\": [ {\"module\": \"echo\", }");
    kill(p->pid, SIGHUP);
    CU_ASSERT(t_wait_log(p, "; keeping the running configuration", 5000));
    CU_ASSERT(t_echo_once(two, "ping"));
    /* A config whose module refuses its options changes nothing either. */
    snprintf(json, sizeof json,
             "{\"user\":\"root\",\"listeners\":[{\"name\":\"two\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\","
             "\"options\":{\"nope\":1}}]}");
    write_conf("reload.json", json);
    kill(p->pid, SIGHUP);
    CU_ASSERT(t_wait_log(p, "was refused (the reason is above); keeping the running configuration", 5000));
    T_ASSERT_STR_CONTAINS(p->log, "listeners[0].options.nope: unknown option");
    CU_ASSERT(t_echo_once(two, "ping"));
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 10000), 0);
}

static int connect_from(const char *src, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &sa.sin_addr);
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* Global max_connections 4 over 2 workers: a worker at its share (2) steps
 * aside, so all 4 are served whichever worker the kernel woke first; the
 * 5th waits in the backlog (not closed) and is served once one leaves. */
static void test_global_share(void)
{
    t_proc *p = t_start_conf("{\"workers\":2,\"max_connections\":4,\"listeners\":["
                             "{\"name\":\"e\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\"}]}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int port = t_port(p, "e"), fd[5], ok = 0;
    for (int i = 0; i < 4; i++) {
        fd[i] = t_connect_tcp(port);
        ok += t_echo_on(fd[i], "ping");
    }
    CU_ASSERT_EQUAL(ok, 4);
    CU_ASSERT(t_wait_log(p, "this worker holds its share (2) of the global max_connections", 2000));
    fd[4] = t_connect_tcp(port);
    CU_ASSERT(fd[4] >= 0);
    char b[8];
    CU_ASSERT_EQUAL(t_send_all(fd[4], "wait", 4), 0);
    CU_ASSERT_EQUAL(t_recv_exact(fd[4], b, 4, 300), 0); /* queued, not served, not closed */
    close(fd[0]);
    CU_ASSERT_EQUAL(t_recv_exact(fd[4], b, 4, 3000), 4);
    CU_ASSERT(memcmp(b, "wait", 4) == 0);
    for (int i = 1; i < 5; i++)
        close(fd[i]);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 10000), 0);
}

static void test_limits(void)
{
    char json[1024];
    snprintf(json, sizeof json,
             "{\"listeners\":[{\"name\":\"perip\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\","
             "\"max_connections_per_ip\":2},"
             "{\"name\":\"flood\",\"module\":\"%s\",\"listen\":\"127.0.0.1:0\",\"send_timeout_ms\":300,"
             "\"max_output_bytes\":1073741824,\"options\":{\"mode\":\"flood\"}}]}",
             t_build_path("tests/modules/testmod.so"));
    t_proc *p = t_start_conf(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int port = t_port(p, "perip");
    int a = connect_from("127.0.0.1", port), b = connect_from("127.0.0.1", port);
    int c = connect_from("127.0.0.1", port), d = connect_from("127.0.0.2", port);
    CU_ASSERT(t_wait_closed(c, 3000)); /* a third from the same address */
    CU_ASSERT(t_wait_log(p, "max_connections_per_ip (2) reached for 127.0.0.1:", 2000));
    char buf[4];
    t_send_all(d, "ok", 2);
    CU_ASSERT_EQUAL(t_recv_exact(d, buf, 2, 2000), 2); /* another address is fine */
    close(a);
    usleep(100000);
    int e = connect_from("127.0.0.1", port);
    t_send_all(e, "ok", 2);
    CU_ASSERT_EQUAL(t_recv_exact(e, buf, 2, 2000), 2); /* room again */
    close(b);
    close(c);
    close(d);
    close(e);
    /* send timeout: a peer that reads nothing while output waits */
    int f = t_connect_tcp(t_port(p, "flood"));
    int small = 4096;
    setsockopt(f, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    CU_ASSERT(t_wait_log(p, "(send_timeout_ms); closing", 5000));
    T_ASSERT_STR_CONTAINS(p->log, "peer read nothing for ");
    close(f);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

static void test_pidfile_and_user(void)
{
    char json[1024], pidpath[300];
    snprintf(pidpath, sizeof pidpath, "%s/netcore.pid", t_tmpdir());
    int root = geteuid() == 0;
    snprintf(json, sizeof json,
             "{\"pid_file\":\"%s\",%s\"listeners\":[{\"name\":\"e\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\"}]}",
             pidpath, root ? "\"user\":\"nobody\"," : "");
    t_proc *p = t_start_conf(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    FILE *f = fopen(pidpath, "r");
    int pid = 0;
    CU_ASSERT(f && fscanf(f, "%d", &pid) == 1);
    if (f)
        fclose(f);
    CU_ASSERT_EQUAL(pid, p->pid);
    if (root) {
        /* The master keeps root (it binds on reload); the worker is nobody. */
        pid_t kids[4];
        CU_ASSERT_EQUAL(t_children(p->pid, kids, 4), 1);
        char path[64], line[256];
        snprintf(path, sizeof path, "/proc/%d/status", (int)kids[0]);
        FILE *s = fopen(path, "r");
        int uid = -1;
        while (s && fgets(line, sizeof line, s))
            if (sscanf(line, "Uid: %d", &uid) == 1)
                break;
        if (s)
            fclose(s);
        CU_ASSERT(uid > 0 && uid != 0);
        CU_ASSERT(t_echo_once(t_port(p, "e"), "ping"));
    }
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
    CU_ASSERT_EQUAL(access(pidpath, F_OK), -1); /* removed at exit */
}

/* A clone in root's 0700 home: the workers serve as "nobody", who cannot
 * read the module files; they are loaded before the privilege drop (as
 * nginx loads its modules), so the start, -t and a reload all work. */
static void test_private_modules_dir(void)
{
    if (geteuid() != 0)
        return; /* only root drops privileges */
    char dir[300], cmd[2000], json[1024];
    snprintf(dir, sizeof dir, "%s/private", t_tmpdir());
    snprintf(cmd, sizeof cmd, "mkdir -p %s && chmod 700 %s && cp %s %s/", dir, dir,
             t_build_path("modules/echo.so"), dir);
    CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
    snprintf(json, sizeof json,
             "{\"user\":\"nobody\",\"modules_dir\":\"%s\",\"listeners\":[{\"name\":\"e\",\"module\":\"echo\","
             "\"listen\":\"127.0.0.1:0\"}]}",
             dir);
    const char *conf = t_write_file("private.json", json);
    char out[2048];
    CU_ASSERT_EQUAL(t_run(out, sizeof out, "-t", "-c", conf, NULL), 0);
    T_ASSERT_STR_CONTAINS(out, "configuration is valid (1 listener)");
    t_proc *p = t_start(conf, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT(t_echo_once(t_port(p, "e"), "ping"));
    kill(p->pid, SIGHUP);
    CU_ASSERT(t_wait_log(p, "reload: generation 2 serving", 5000));
    CU_ASSERT(t_echo_once(t_port(p, "e"), "ping"));
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

static void cmdline(pid_t pid, char *out, size_t n)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    FILE *f = fopen(path, "r");
    size_t got = f ? fread(out, 1, n - 1, f) : 0;
    if (f)
        fclose(f);
    out[got] = '\0';
}

static int occurrences(t_proc *p, const char *needle)
{
    pthread_mutex_lock(&p->mu);
    int k = 0;
    for (const char *s = p->log; (s = strstr(s, needle)); s++)
        k++;
    pthread_mutex_unlock(&p->mu);
    return k;
}

/* What an operator sees: process titles that tell master and workers (and
 * generations) apart in ps, each event said once, a SIGHUP sent to a
 * worker by mistake answered with a line naming the master. */
static void test_titles_and_log_noise(void)
{
    const char *conf = t_write_file("titles.json", "{\"user\":\"root\",\"drain_timeout_ms\":500,\"listeners\":["
                                                  "{\"name\":\"e\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\"}]}");
    t_proc *p = t_start(conf, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    char title[512], want[512];
    cmdline(p->pid, title, sizeof title);
    snprintf(want, sizeof want, "netcore: master (%s)", conf);
    CU_ASSERT_STRING_EQUAL(title, want);
    pid_t kids[4];
    CU_ASSERT_EQUAL_FATAL(t_children(p->pid, kids, 4), 1);
    cmdline(kids[0], title, sizeof title);
    CU_ASSERT_STRING_EQUAL(title, "netcore: worker 0 (generation 1)");
    kill(kids[0], SIGHUP);
    snprintf(want, sizeof want, "SIGHUP from pid %d ignored: reload by sending SIGHUP to the master, pid %d",
             (int)getpid(), (int)p->pid);
    CU_ASSERT(t_wait_log(p, want, 3000));
    kill(p->pid, SIGHUP);
    CU_ASSERT(t_wait_log(p, "reload: generation 2 serving", 5000));
    usleep(100000);
    pid_t now[4];
    int n = t_children(p->pid, now, 4), gen2 = 0;
    for (int i = 0; i < n; i++) {
        cmdline(now[i], title, sizeof title);
        gen2 += strcmp(title, "netcore: worker 0 (generation 2)") == 0;
    }
    CU_ASSERT_EQUAL(gen2, 1);
    kill(p->pid, SIGUSR1);
    CU_ASSERT(t_wait_log(p, "SIGUSR1: log files reopened", 3000));
    CU_ASSERT_EQUAL(occurrences(p, "SIGUSR1: the master's log reopened; telling 1 worker"), 1);
    usleep(700000); /* generation 1 has drained */
    kill(p->pid, SIGTERM);
    CU_ASSERT(t_wait_log(p, "stopped", 5000));
    CU_ASSERT_EQUAL(occurrences(p, "SIGTERM received"), 1); /* the master's, not once more per worker */
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

/* A strict reader of the Prometheus text format (0.0.4): every line a
 * comment or a sample; names and labels well formed; TYPE before samples
 * and at most once per family; values parse as numbers. */
static int prom_valid(const char *text, char *why, size_t n)
{
    char typed[64][128];
    int ntyped = 0, lineno = 0;
    for (const char *l = text; *l; ) {
        const char *e = strchr(l, '\n');
        if (!e) {
            snprintf(why, n, "last line not terminated");
            return 0;
        }
        lineno++;
        char line[2048];
        size_t len = (size_t)(e - l);
        if (len >= sizeof line) {
            snprintf(why, n, "line %d too long", lineno);
            return 0;
        }
        memcpy(line, l, len);
        line[len] = '\0';
        l = e + 1;
        if (line[0] == '#') {
            char kind[8], name[128], rest[512];
            if (sscanf(line, "# %7s %127s %511[^\n]", kind, name, rest) < 3) {
                snprintf(why, n, "line %d: malformed comment", lineno);
                return 0;
            }
            if (!strcmp(kind, "TYPE")) {
                if (strcmp(rest, "counter") && strcmp(rest, "gauge") && strcmp(rest, "untyped") &&
                    strcmp(rest, "histogram") && strcmp(rest, "summary")) {
                    snprintf(why, n, "line %d: bad type %.40s", lineno, rest);
                    return 0;
                }
                for (int i = 0; i < ntyped; i++)
                    if (!strcmp(typed[i], name)) {
                        snprintf(why, n, "line %d: second TYPE for %.60s", lineno, name);
                        return 0;
                    }
                snprintf(typed[ntyped++ % 64], 128, "%s", name);
            }
            continue;
        }
        const char *p = line;
        if (!(isalpha((unsigned char)*p) || *p == '_' || *p == ':')) {
            snprintf(why, n, "line %d: bad metric name", lineno);
            return 0;
        }
        char name[128];
        size_t k = 0;
        while (*p && (isalnum((unsigned char)*p) || *p == '_' || *p == ':') && k < 127)
            name[k++] = *p++;
        name[k] = '\0';
        int found = 0;
        for (int i = 0; i < ntyped; i++)
            found |= !strcmp(typed[i], name);
        if (!found) {
            snprintf(why, n, "line %d: sample %.60s before its TYPE", lineno, name);
            return 0;
        }
        if (*p == '{') {
            p++;
            while (*p != '}') {
                if (!(isalpha((unsigned char)*p) || *p == '_')) {
                    snprintf(why, n, "line %d: bad label name", lineno);
                    return 0;
                }
                while (isalnum((unsigned char)*p) || *p == '_')
                    p++;
                if (p[0] != '=' || p[1] != '"') {
                    snprintf(why, n, "line %d: label without =\"", lineno);
                    return 0;
                }
                p += 2;
                while (*p && *p != '"') {
                    if (*p == '\\') {
                        if (p[1] != '\\' && p[1] != '"' && p[1] != 'n') {
                            snprintf(why, n, "line %d: bad escape", lineno);
                            return 0;
                        }
                        p++;
                    }
                    p++;
                }
                if (*p != '"') {
                    snprintf(why, n, "line %d: unterminated label value", lineno);
                    return 0;
                }
                p++;
                if (*p == ',')
                    p++;
                else if (*p != '}') {
                    snprintf(why, n, "line %d: expected , or }", lineno);
                    return 0;
                }
            }
            p++;
        }
        if (*p != ' ') {
            snprintf(why, n, "line %d: no space before the value", lineno);
            return 0;
        }
        char *end;
        strtod(p + 1, &end);
        if (end == p + 1 || (*end && *end != ' ')) {
            snprintf(why, n, "line %d: bad value", lineno);
            return 0;
        }
    }
    return 1;
}

/* GET path from a status listener: the body (static buffer), or NULL. */
static char *status_get(int port, const char *path)
{
    static char body[65536];
    char req[128];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    t_client *c = t_client_new(port);
    if (!c)
        return NULL;
    t_client_send(c, req);
    int eof = 0;
    size_t n = c->len;
    memcpy(body, c->buf, n);
    n += t_recv_all(c->fd, body + n, sizeof body - 1 - n, 3000, &eof);
    body[n] = '\0';
    t_client_free(c);
    char *start = strstr(body, "\r\n\r\n");
    return start ? start + 4 : NULL;
}

/* Per-module accounting: what each protocol costs -- time in its hooks,
 * and the connections each limit closed -- per listener. */
static void test_module_accounting(void)
{
    char json[1024], cwd[256];
    CU_ASSERT_FATAL(getcwd(cwd, sizeof cwd) != NULL);
    snprintf(json, sizeof json,
             "{\"listeners\":[{\"name\":\"status\",\"module\":\"status\",\"listen\":\"127.0.0.1:0\"},"
             "{\"name\":\"e\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\",\"idle_timeout_ms\":300},"
             "{\"name\":\"quiet\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\"},"
             "{\"name\":\"web\",\"module\":\"http-static\",\"listen\":\"127.0.0.1:0\","
             "\"options\":{\"root\":\"%s/conf/www\"}}]}",
             cwd);
    t_proc *p = t_start_conf(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int fd = t_connect_tcp(t_port(p, "e"));
    int ok = 0;
    for (int i = 0; i < 200; i++)
        ok += t_echo_on(fd, "ping");
    CU_ASSERT_EQUAL(ok, 200);
    close(fd);
    for (int i = 0; i < 20; i++)
        CU_ASSERT_PTR_NOT_NULL(status_get(t_port(p, "web"), "/index.html"));
    int idle = t_connect_tcp(t_port(p, "e"));
    CU_ASSERT(t_wait_closed(idle, 3000)); /* idle_timeout_ms */
    close(idle);
    char *body = status_get(t_port(p, "status"), "/status");
    json_error_t je;
    json_t *j = body ? json_loads(body, 0, &je) : NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    json_t *ls = json_object_get(j, "listeners");
    json_int_t e_ns = json_integer_value(json_object_get(json_object_get(ls, "e"), "hook_ns"));
    json_int_t web_ns = json_integer_value(json_object_get(json_object_get(ls, "web"), "hook_ns"));
    fprintf(stderr, "\n  time in hooks: echo %lld ns for 200 round trips, http-static %lld ns for 20 requests\n",
            (long long)e_ns, (long long)web_ns);
    CU_ASSERT(e_ns > 0 && web_ns > 0);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(ls, "quiet"), "hook_ns")), 0);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(ls, "e"), "closed_idle")), 1);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(ls, "quiet"), "closed_idle")), 0);
    json_decref(j);
    body = status_get(t_port(p, "status"), "/metrics");
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    T_ASSERT_STR_CONTAINS(body, "netcore_module_hook_seconds_total{listener=\"e\",module=\"echo\"} 0.");
    T_ASSERT_STR_CONTAINS(body, "netcore_module_hook_seconds_total{listener=\"quiet\",module=\"echo\"} 0.000000\n");
    T_ASSERT_STR_CONTAINS(body, "netcore_closed_idle_total{listener=\"e\",module=\"echo\"} 1\n");
    char why[256] = "";
    CU_ASSERT(prom_valid(body, why, sizeof why));
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

static void test_metrics(void)
{
    t_proc *p = t_start_conf("{\"workers\":2,\"listeners\":["
                             "{\"name\":\"status\",\"module\":\"status\",\"listen\":\"127.0.0.1:0\"},"
                             "{\"name\":\"e\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\"},"
                             "{\"name\":\"u\",\"module\":\"udp-receiver\",\"listen\":\"127.0.0.1:0\",\"transport\":\"udp\","
                             "\"options\":{\"output\":\"/dev/null\"}}]}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    for (int i = 0; i < 10; i++)
        t_echo_once(t_port(p, "e"), "ping");
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)t_port(p, "u"))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < 7; i++)
        sendto(u, "d", 1, 0, (struct sockaddr *)&sa, sizeof sa);
    close(u);
    usleep(1300000); /* other workers publish once a second */
    t_client *c = t_client_new(t_port(p, "status"));
    t_client_send(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    static char body[65536];
    int eof = 0;
    size_t n = c->len;
    memcpy(body, c->buf, n);
    n += t_recv_all(c->fd, body + n, sizeof body - 1 - n, 3000, &eof);
    body[n] = '\0';
    t_client_free(c);
    char *start = strstr(body, "\r\n\r\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(start);
    T_ASSERT_STR_CONTAINS(body, "Content-Type: text/plain; version=0.0.4");
    char why[256] = "";
    int valid = prom_valid(start + 4, why, sizeof why);
    if (!valid)
        fprintf(stderr, "\n  /metrics is not valid: %s\n", why);
    CU_ASSERT(valid);
    T_ASSERT_STR_CONTAINS(start, "netcore_connections_total{listener=\"e\",module=\"echo\"} 10\n");
    T_ASSERT_STR_CONTAINS(start, "netcore_module_counter_total{listener=\"u\",counter=\"datagrams\"} 7\n");
    T_ASSERT_STR_CONTAINS(start, "netcore_worker_restarts_total{worker=\"1\"");
    /* /status is the same figures as JSON */
    c = t_client_new(t_port(p, "status"));
    t_client_send(c, "GET /status HTTP/1.1\r\nHost: x\r\n\r\n");
    n = c->len;
    memcpy(body, c->buf, n);
    n += t_recv_all(c->fd, body + n, sizeof body - 1 - n, 3000, &eof);
    body[n] = '\0';
    t_client_free(c);
    start = strstr(body, "\r\n\r\n");
    json_error_t je;
    json_t *j = start ? json_loads(start + 4, 0, &je) : NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "workers")), 2);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(json_object_get(j, "listeners"), "e"),
                                                       "connections_total")), 10);
    json_decref(j);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

int add_ops_suite(void)
{
    CU_pSuite s = CU_add_suite("ops", NULL, NULL);
    if (!s || !CU_add_test(s, "2 workers: a shared room stays whole; kill -9 is replaced", test_workers) ||
        !CU_add_test(s, "SIGHUP: under load no request fails; add/remove; broken kept", test_reload) ||
        !CU_add_test(s, "max_connections_per_ip and send_timeout_ms", test_limits) ||
        !CU_add_test(s, "2 workers: a worker at its share of max_connections steps aside", test_global_share) ||
        !CU_add_test(s, "pid_file, and workers drop to \"user\" when root", test_pidfile_and_user) ||
        !CU_add_test(s, "modules in a folder only root can read, workers as nobody", test_private_modules_dir) ||
        !CU_add_test(s, "process titles; each event said once; SIGHUP to a worker", test_titles_and_log_noise) ||
        !CU_add_test(s, "/metrics passes a strict Prometheus parser; /status", test_metrics) ||
        !CU_add_test(s, "per-module accounting: time in hooks, closes by limit", test_module_accounting))
        return -1;
    return 0;
}
