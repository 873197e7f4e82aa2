/* harness.c -- process and socket helpers for the integration tests.  The
 * child's stderr is read on demand (t_wait_log) into a growing buffer so the
 * tests can assert on exact log lines. */
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long t_now_ms(void)
{
    return now_ms();
}

const char *t_builddir(void)
{
    const char *b = getenv("NC_BUILDDIR");
    return b && *b ? b : "build";
}

const char *t_build_path(const char *rel)
{
    static char bufs[8][512];
    static int k;
    char *b = bufs[k++ % 8];
    char cwd[256];
    if (t_builddir()[0] == '/' || !getcwd(cwd, sizeof cwd))
        snprintf(b, 512, "%s/%s", t_builddir(), rel);
    else
        snprintf(b, 512, "%s/%s/%s", cwd, t_builddir(), rel);
    return b;
}

static void rm_tmpdir(void)
{
    if (tmpdir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir);
    }
}

const char *t_tmpdir(void)
{
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/netcore-test-XXXXXX");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            exit(1);
        }
        atexit(rm_tmpdir);
    }
    return tmpdir;
}

const char *t_write_file(const char *name, const char *text)
{
    static char bufs[8][512];
    static int k;
    char *path = bufs[k++ % 8];
    snprintf(path, 512, "%s/%s", t_tmpdir(), name);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return path;
    }
    fputs(text, f);
    fclose(f);
    return path;
}

void t_write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, n, f) == n;
    if (f && fclose(f) != 0)
        ok = 0;
    if (!ok)
        fprintf(stderr, "\n  cannot write %s: %s\n", path, strerror(errno));
    CU_ASSERT(ok);
}

char *t_read_file(const char *path, size_t *n)
{
    if (n)
        *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *b = NULL;
    long len = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (len >= 0 && fseek(f, 0, SEEK_SET) == 0 && (b = malloc((size_t)len + 1))) {
        size_t got = fread(b, 1, (size_t)len, f);
        b[got] = '\0';
        if (n)
            *n = got;
    }
    fclose(f);
    return b;
}

int t_count(const char *hay, const char *needle)
{
    int k = 0;
    for (const char *p = hay; p && (p = strstr(p, needle)); p += strlen(needle))
        k++;
    return k;
}

int t_sh(const char *cmd, char *out, size_t n)
{
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    size_t got = out ? fread(out, 1, n - 1, f) : 0;
    if (out)
        out[got] = '\0';
    while (fgetc(f) != EOF) /* the rest, so the command never dies of a closed pipe */
        ;
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int t_shf(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof cmd) {
        fprintf(stderr, "t_shf: command longer than %zu bytes\n", sizeof cmd);
        return -1;
    }
    return t_sh(cmd, NULL, 0);
}

/* The reader thread: append everything the child writes to stderr. */
static void *reader_main(void *arg)
{
    t_proc *p = arg;
    char buf[65536];
    for (;;) {
        ssize_t n = read(p->errfd, buf, sizeof buf);
        if (n <= 0)
            break;
        pthread_mutex_lock(&p->mu);
        /* The buffer never moves (tests read p->log directly): beyond its
         * size, the rest is dropped. */
        if (p->log_cap - p->log_len <= (size_t)n)
            n = (ssize_t)(p->log_cap - p->log_len - 1);
        memcpy(p->log + p->log_len, buf, (size_t)n);
        p->log_len += (size_t)n;
        p->log[p->log_len] = '\0';
        pthread_mutex_unlock(&p->mu);
        if (getenv("NC_TEST_VERBOSE"))
            fwrite(buf, 1, (size_t)n, stderr);
    }
    return NULL;
}

static int log_has(t_proc *p, const char *needle)
{
    pthread_mutex_lock(&p->mu);
    int found = p->log && strstr(p->log, needle) != NULL;
    pthread_mutex_unlock(&p->mu);
    return found;
}

int t_wait_log(t_proc *p, const char *needle, int ms)
{
    long long end = now_ms() + ms;
    for (;;) {
        if (log_has(p, needle))
            return 1;
        if (now_ms() >= end)
            return 0;
        usleep(5000);
    }
}

t_proc *t_start(const char *config_path, long max_fds)
{
    return t_start_ex(config_path, max_fds, 0);
}

/* As root (CI), netcore refuses to serve unless the config names a user:
 * tests that do not care say "root". */
static const char *as_root(const char *config_path)
{
    static char fixed[8][600];
    static int k;
    if (geteuid() != 0)
        return config_path;
    FILE *f = fopen(config_path, "r");
    if (!f)
        return config_path;
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char *brace = strchr(text, '{');
    if (strstr(text, "\"user\"") || !brace)
        return config_path;
    char *path = fixed[k++ % 8];
    snprintf(path, 600, "%s.root.json", config_path);
    f = fopen(path, "w");
    fprintf(f, "%.*s{\"user\":\"root\",%s", (int)(brace - text), text, brace + 1);
    fclose(f);
    return path;
}

t_proc *t_start_ex(const char *config_path, long max_fds, long long max_fsize)
{
    config_path = as_root(config_path);
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return NULL;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 2);
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(devnull, 1);
        /* Under AddressSanitizer, freed memory sits in a quarantine that
         * would read as growth in the memory-bound tests; keep it small. */
        if (!getenv("ASAN_OPTIONS"))
            setenv("ASAN_OPTIONS", "quarantine_size_mb=1:detect_leaks=1", 1);
        if (max_fds > 0) {
            struct rlimit rl = {(rlim_t)max_fds, (rlim_t)max_fds};
            setrlimit(RLIMIT_NOFILE, &rl);
        }
        if (max_fsize > 0) {
            struct rlimit rl = {(rlim_t)max_fsize, (rlim_t)max_fsize};
            setrlimit(RLIMIT_FSIZE, &rl);
        }
        const char *bin = t_build_path("netcore");
        execl(bin, bin, "-c", config_path, (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    close(pipefd[1]);
    t_proc *p = calloc(1, sizeof *p);
    p->pid = pid;
    p->errfd = pipefd[0];
    pthread_mutex_init(&p->mu, NULL);
    p->log_cap = 32u << 20; /* address space only, until written */
    p->log = calloc(1, p->log_cap);
    p->has_reader = pthread_create(&p->reader, NULL, reader_main, p) == 0;
    if (!t_wait_log(p, " ready: ", 10000)) {
        fprintf(stderr, "\nnetcore did not become ready; its output:\n%s\n",
                p->log ? p->log : "(none)");
        CU_FAIL("netcore did not start");
        t_stop(p, SIGKILL, 2000);
        return NULL;
    }
    return p;
}

t_proc *t_adopt(pid_t pid, int errfd)
{
    t_proc *p = calloc(1, sizeof *p);
    p->pid = pid;
    p->errfd = errfd;
    pthread_mutex_init(&p->mu, NULL);
    p->log_cap = 32u << 20;
    p->log = calloc(1, p->log_cap);
    p->has_reader = pthread_create(&p->reader, NULL, reader_main, p) == 0;
    return p;
}

t_proc *t_start_conf(const char *json)
{
    static int k;
    char name[64];
    snprintf(name, sizeof name, "conf-%d.json", k++);
    return t_start(t_write_file(name, json), 0);
}

int t_port(t_proc *p, const char *listener)
{
    if (!p || !p->log)
        return -1;
    char needle[128];
    snprintf(needle, sizeof needle, "[%s] listening on ", listener);
    const char *s = strstr(p->log, needle);
    if (!s)
        return -1;
    s += strlen(needle);
    const char *eol = strchr(s, ' ');
    const char *colon = NULL;
    for (const char *q = s; q < eol; q++)
        if (*q == ':')
            colon = q;
    return colon ? atoi(colon + 1) : -1;
}

int t_stop(t_proc *p, int sig, int ms)
{
    if (!p)
        return -1;
    int status = -1;
    kill(p->pid, sig);
    long long end = now_ms() + ms;
    for (;;) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid)
            break;
        if (now_ms() > end) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            status = -1;
            break;
        }
        usleep(10000);
    }
    /* The reader ends at EOF, once every process holding the pipe is gone. */
    if (p->has_reader)
        pthread_join(p->reader, NULL);
    close(p->errfd);
    int rc = status == -1                ? -1
             : WIFEXITED(status)         ? WEXITSTATUS(status)
             : WIFSIGNALED(status)       ? 128 + WTERMSIG(status)
                                         : -1;
    if (getenv("NC_TEST_VERBOSE"))
        fprintf(stderr, "[netcore exited: %d]\n", rc);
    free(p->log);
    free(p);
    return rc;
}

static long cpu_one(pid_t pid, pid_t *ppid);
static long rss_one(pid_t pid);

/* The process and its direct children (netcore's workers). */
static long sum_tree(pid_t pid, long (*one)(pid_t))
{
    pid_t kids[256];
    int n = t_children(pid, kids, 256);
    long total = one(pid);
    for (int i = 0; i < n; i++) {
        long v = one(kids[i]);
        if (v > 0)
            total += v;
    }
    return total;
}

static long cpu_self(pid_t pid)
{
    return cpu_one(pid, NULL);
}

long t_cpu_ticks(pid_t pid)
{
    return sum_tree(pid, cpu_self);
}

int t_children(pid_t master, pid_t *out, int max)
{
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && n < max && (e = readdir(d))) {
        pid_t p = (pid_t)atoi(e->d_name), pp = 0;
        if (p <= 0 || p == master)
            continue;
        cpu_one(p, &pp);
        if (pp == master)
            out[n++] = p;
    }
    if (d)
        closedir(d);
    return n;
}

long t_rss_kib(pid_t pid)
{
    return sum_tree(pid, rss_one);
}

static long cpu_one(pid_t pid, pid_t *ppid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *s = strrchr(buf, ')');
    if (!s)
        return -1;
    long utime = 0, stime = 0;
    int pp = 0;
    /* fields after ")": state(3) ppid(4) ... utime(14) stime(15) */
    if (sscanf(s + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &pp, &utime, &stime) != 3)
        return -1;
    if (ppid)
        *ppid = pp;
    return utime + stime;
}

static long rss_one(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

int t_run(char *out, size_t n, const char *arg, ...)
{
    const char *argv[32];
    int argc = 0;
    argv[argc++] = t_build_path("netcore");
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    int pipefd[2];
    if (pipe(pipefd) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    size_t len = 0;
    ssize_t r;
    while ((r = read(pipefd[0], out + len, n - 1 - len)) > 0 && len + 1 < n)
        len += (size_t)r;
    out[len] = '\0';
    close(pipefd[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void set_timeouts(int fd)
{
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

int t_connect_tcp(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    set_timeouts(fd);
    return fd;
}

int t_connect_tcp6(int port)
{
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
    sa.sin6_addr = in6addr_loopback;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    set_timeouts(fd);
    return fd;
}

int t_connect_unix(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    set_timeouts(fd);
    return fd;
}

int t_send_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

size_t t_recv_all(int fd, void *buf, size_t n, int ms, int *eof)
{
    char *p = buf;
    size_t got = 0;
    long long end = now_ms() + ms;
    if (eof)
        *eof = 0;
    while (got < n) {
        long long left = end - now_ms();
        if (left <= 0)
            break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)left) <= 0)
            break;
        ssize_t r = recv(fd, p + got, n - got, 0);
        if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) {
            if (eof)
                *eof = 1;
            break;
        }
        if (r > 0)
            got += (size_t)r;
    }
    return got;
}

size_t t_recv_exact(int fd, void *buf, size_t n, int ms)
{
    return t_recv_all(fd, buf, n, ms, NULL);
}

int t_echo_on(int fd, const char *msg)
{
    char b[64] = {0};
    size_t n = strlen(msg);
    return n <= sizeof b && t_send_all(fd, msg, n) == 0 && t_recv_exact(fd, b, n, 3000) == n && !memcmp(b, msg, n);
}

int t_echo_once(int port, const char *msg)
{
    int fd = t_connect_tcp(port);
    if (fd < 0)
        return 0;
    int ok = t_echo_on(fd, msg);
    close(fd);
    return ok;
}

int t_wait_closed(int fd, int ms)
{
    char b[4096];
    long long end = now_ms() + ms;
    for (;;) {
        long long left = end - now_ms();
        if (left <= 0)
            return 0;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)left) <= 0)
            return 0;
        ssize_t r = recv(fd, b, sizeof b, 0);
        if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
            return 1;
    }
}

t_client *t_client_new(int port)
{
    int fd = t_connect_tcp(port);
    if (fd < 0)
        return NULL;
    t_client *c = calloc(1, sizeof *c);
    c->fd = fd;
    return c;
}

void t_client_free(t_client *c)
{
    if (!c)
        return;
    close(c->fd);
    free(c);
}

int t_client_send(t_client *c, const char *s)
{
    return t_send_all(c->fd, s, strlen(s));
}

int t_readline(t_client *c, char *out, size_t n, int ms)
{
    long long end = now_ms() + ms;
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl) {
            size_t l = (size_t)(nl - c->buf);
            size_t k = l;
            if (k && c->buf[k - 1] == '\r')
                k--;
            if (k >= n)
                k = n - 1;
            memcpy(out, c->buf, k);
            out[k] = '\0';
            memmove(c->buf, nl + 1, c->len - l - 1);
            c->len -= l + 1;
            return (int)k;
        }
        long long left = end - now_ms();
        if (left <= 0 || c->len == sizeof c->buf) {
            out[0] = '\0';
            return -1;
        }
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)left) <= 0)
            continue;
        ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
        if (r <= 0) {
            out[0] = '\0';
            return -1;
        }
        c->len += (size_t)r;
    }
}

int t_expect_line(t_client *c, const char *want, int ms)
{
    char line[8192];
    long long end = now_ms() + ms;
    while (now_ms() < end) {
        if (t_readline(c, line, sizeof line, (int)(end - now_ms())) < 0)
            return 0;
        if (strcmp(line, want) == 0)
            return 1;
    }
    return 0;
}

int t_no_line(t_client *c, int ms)
{
    char line[8192];
    return t_readline(c, line, sizeof line, ms) < 0;
}

/* ---- slowloris clients ---- */

t_trickle *t_trickle_start(int port, int n, const char *prefix)
{
    t_trickle *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    for (int i = 0; i < T_TRICKLE_MAX; i++)
        t->fd[i] = -1;
    if (n > T_TRICKLE_MAX)
        n = T_TRICKLE_MAX;
    for (int i = 0; i < n; i++) {
        t->fd[i] = t_connect_tcp(port);
        if (t->fd[i] < 0)
            continue;
        t->n++;
        t->open++;
        if (prefix)
            t_send_all(t->fd[i], prefix, strlen(prefix));
    }
    t->born_ms = now_ms();
    return t;
}

/* Take what arrived on each connection without waiting; a closed one (EOF
 * or reset) is noted with the time since the start. */
static void trickle_read(t_trickle *t)
{
    for (int i = 0; i < T_TRICKLE_MAX; i++) {
        if (t->fd[i] < 0 || t->closed[i])
            continue;
        for (;;) {
            char b[4096];
            ssize_t r = recv(t->fd[i], b, sizeof b, MSG_DONTWAIT);
            if (r > 0) {
                size_t room = sizeof t->got[i] - 1 - t->got_len[i];
                size_t k = (size_t)r < room ? (size_t)r : room;
                memcpy(t->got[i] + t->got_len[i], b, k);
                t->got_len[i] += k;
                t->got[i][t->got_len[i]] = '\0';
                continue;
            }
            if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                t->closed[i] = 1;
                t->open--;
                t->closed_ms = now_ms() - t->born_ms;
            }
            break;
        }
    }
}

int t_trickle_step(t_trickle *t, char byte, int gap_ms)
{
    trickle_read(t);
    for (int i = 0; i < T_TRICKLE_MAX; i++)
        if (t->fd[i] >= 0 && !t->closed[i])
            (void)send(t->fd[i], &byte, 1, MSG_NOSIGNAL);
    usleep((useconds_t)gap_ms * 1000);
    trickle_read(t);
    return t->open;
}

void t_trickle_free(t_trickle *t)
{
    if (!t)
        return;
    for (int i = 0; i < T_TRICKLE_MAX; i++)
        if (t->fd[i] >= 0)
            close(t->fd[i]);
    free(t);
}

t_trickle *t_slowloris(int port, int n, const char *prefix, char byte, int gap_ms, int steps,
                       int (*served)(int port))
{
    t_trickle *t = t_trickle_start(port, n, prefix);
    if (!t)
        return NULL;
    CU_ASSERT_EQUAL(t->n, n);
    for (int k = 0; k < steps && t->open; k++) {
        t_trickle_step(t, byte, gap_ms);
        if (k == 0 && served)
            CU_ASSERT(served(port)); /* served while the tricklers hold connections */
    }
    return t;
}

const char *t_metrics(int status_port)
{
    static char buf[1 << 17];
    int fd = t_connect_tcp(status_port);
    if (fd < 0)
        return NULL;
    t_send_all(fd, "GET /metrics HTTP/1.0\r\n\r\n", 25);
    int eof = 0;
    size_t n = t_recv_all(fd, buf, sizeof buf - 1, 3000, &eof);
    buf[n] = '\0';
    close(fd);
    return buf;
}

long long t_metric(int status_port, const char *family, const char *listener)
{
    const char *buf = t_metrics(status_port);
    if (!buf)
        return -1;
    char k[256];
    snprintf(k, sizeof k, "%s{listener=\"%s\",", family, listener);
    const char *p = strstr(buf, k);
    p = p ? strchr(p, '}') : NULL;
    return p ? atoll(p + 2) : -1;
}

long long t_counter(int status_port, const char *listener, const char *counter)
{
    const char *buf = t_metrics(status_port);
    if (!buf)
        return -1;
    char key[256];
    snprintf(key, sizeof key, "netcore_module_counter_total{listener=\"%s\",counter=\"%s\"} ", listener, counter);
    const char *p = strstr(buf, key);
    return p ? atoll(p + strlen(key)) : -1;
}
