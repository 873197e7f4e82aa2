/* harness.h -- helpers for the CUnit suite: starting the real build/netcore
 * with a config, reading its log, and talking to it over sockets. */
#ifndef NC_TEST_HARNESS_H
#define NC_TEST_HARNESS_H

#include <CUnit/CUnit.h>
#include <stddef.h>
#include <sys/types.h>

/* The build folder (NC_BUILDDIR, default "build") and paths inside it. */
const char *t_builddir(void);
/* "<builddir>/<rel>" in a static rotating buffer. */
const char *t_build_path(const char *rel);
/* A fresh temporary folder for this test (removed at exit). */
const char *t_tmpdir(void);
/* Write text to "<tmpdir>/<name>"; returns the path (static rotating). */
const char *t_write_file(const char *name, const char *text);
/* Write n bytes to path (any path), replacing it; a CUnit failure when it
 * cannot be written. */
void t_write_bytes(const char *path, const void *data, size_t n);
/* The whole content of path, malloc'd and NUL-terminated (*n its size, when
 * n is not NULL), or NULL (and *n 0) when it cannot be read. */
char *t_read_file(const char *path, size_t *n);
/* How many times needle occurs in hay (0 for a NULL hay). */
int t_count(const char *hay, const char *needle);
/* Run sh -c cmd, its stdout into out (NUL-terminated, truncated to n; out
 * may be NULL to discard it).  Returns the exit status, -1 if killed. */
int t_sh(const char *cmd, char *out, size_t n);
/* t_sh of the formatted command (at most 4 KiB), its output discarded. */
int t_shf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Monotonic milliseconds, for the tests' own deadlines. */
long long t_now_ms(void);

#include <pthread.h>

typedef struct t_proc {
    pid_t pid;
    int errfd;        /* read end of the child's stderr */
    char *log;        /* everything read from stderr so far */
    size_t log_len, log_cap;
    int exited;
    int status;
    /* A thread keeps reading stderr, so a chatty server never blocks on a
     * full pipe; log is read under mu. */
    pthread_t reader;
    int has_reader;
    pthread_mutex_t mu;
} t_proc;

/* Start netcore -c CONFIG_PATH [extra args] and wait until it logs "ready"
 * (or exits).  max_fds > 0 sets RLIMIT_NOFILE (soft and hard) in the child.
 * Returns NULL (with a CUnit failure) when it did not become ready. */
t_proc *t_start(const char *config_path, long max_fds);
/* The same with RLIMIT_FSIZE (bytes) set in the child as well, when > 0. */
t_proc *t_start_ex(const char *config_path, long max_fds, long long max_fsize);
/* Watch a process started by hand (its stderr's read end given). */
t_proc *t_adopt(pid_t pid, int errfd);
/* Start from config text written to a temporary file. */
t_proc *t_start_conf(const char *json);
/* The port the named listener is on (from its "listening on" line), or -1. */
int t_port(t_proc *p, const char *listener);
/* Read the child's stderr for up to ms; returns 1 when needle appeared. */
int t_wait_log(t_proc *p, const char *needle, int ms);
/* Send sig and wait up to ms for exit; returns the exit status, 128+signal
 * when killed, or -1 on timeout (then the child is killed). Frees p. */
int t_stop(t_proc *p, int sig, int ms);
/* CPU time (user+system) the child used so far, in clock ticks. */
long t_cpu_ticks(pid_t pid);
/* Resident memory of a process, KiB. */
long t_rss_kib(pid_t pid);
/* The pids of master's children (its workers), at most max; returns how many. */
int t_children(pid_t master, pid_t *out, int max);

/* Run netcore with args (NULL-terminated), capturing stdout+stderr into out
 * (NUL-terminated, truncated to n).  Returns the exit status. */
int t_run(char *out, size_t n, const char *arg, ...);

/* Sockets. */
int t_connect_tcp(int port);     /* 127.0.0.1, blocking; -1 on failure */
int t_connect_tcp6(int port);    /* ::1 */
int t_connect_unix(const char *path);
int t_send_all(int fd, const void *buf, size_t n);
/* Read exactly n bytes within ms; returns bytes read (< n on EOF/timeout). */
size_t t_recv_exact(int fd, void *buf, size_t n, int ms);
/* One echo round trip: send msg (at most 64 bytes) on fd, 1 when the same
 * bytes come back within 3 s. */
int t_echo_on(int fd, const char *msg);
/* The same on a new connection to 127.0.0.1:port, closed after. */
int t_echo_once(int port, const char *msg);
/* Read until EOF or ms; returns bytes read, *eof set when EOF was seen. */
size_t t_recv_all(int fd, void *buf, size_t n, int ms, int *eof);
/* 1 when the peer closed (EOF or reset) within ms. */
int t_wait_closed(int fd, int ms);

/* Assertions that also print what was expected. */
#define T_ASSERT_STR_CONTAINS(hay, needle)                                                 \
    do {                                                                                   \
        const char *h_ = (hay), *n_ = (needle);                                            \
        if (!h_ || !strstr(h_, n_))                                                        \
            fprintf(stderr, "\n  expected to find: %s\n  in: %s\n", n_, h_ ? h_ : "(null)"); \
        CU_ASSERT_PTR_NOT_NULL(h_ ? strstr(h_, n_) : NULL);                               \
    } while (0)

#endif

/* A line-oriented client: lines are read through a buffer of its own. */
typedef struct t_client {
    int fd;
    size_t len;
    char buf[1 << 16];
} t_client;

/* Connect to 127.0.0.1:port; NULL on failure. */
t_client *t_client_new(int port);
void t_client_free(t_client *c);
int t_client_send(t_client *c, const char *s);
/* Next line without its "\n" (and "\r") into out; returns its length, or -1
 * on timeout or EOF. */
int t_readline(t_client *c, char *out, size_t n, int ms);
/* Read lines until one equals want; returns 1 when found. */
int t_expect_line(t_client *c, const char *want, int ms);
/* Next line, which must equal want (printed when it does not). */
#define T_LINE(cl, want)                                                                   \
    do {                                                                                   \
        char l_[4096];                                                                     \
        int n_ = t_readline((cl), l_, sizeof l_, 5000);                                    \
        if (n_ < 0 || strcmp(l_, (want)) != 0)                                             \
            fprintf(stderr, "\n  %s:%d: want line: %s\n  got: %s\n", __FILE__, __LINE__,   \
                    (want), n_ < 0 ? "(nothing)" : l_);                                    \
        CU_ASSERT(n_ >= 0 && strcmp(l_, (want)) == 0);                                     \
    } while (0)
/* No line arrives within ms. */
int t_no_line(t_client *c, int ms);

/* Slowloris: n connections (at most T_TRICKLE_MAX) that send one byte each
 * per step.  Unused slots have fd -1 (so zero-filled fd 0 never counts). */
#define T_TRICKLE_MAX 64
typedef struct t_trickle {
    int n, open;             /* connected; not yet closed by the server */
    int fd[T_TRICKLE_MAX];
    int closed[T_TRICKLE_MAX];
    char got[T_TRICKLE_MAX][512]; /* what each received (NUL-terminated, cut) */
    size_t got_len[T_TRICKLE_MAX];
    long long born_ms, closed_ms; /* start; when the last close was seen */
} t_trickle;
/* Connect n clients to 127.0.0.1:port, each sending prefix (may be NULL). */
t_trickle *t_trickle_start(int port, int n, const char *prefix);
/* Send byte on every open one, wait gap_ms, collect replies and closes;
 * returns how many are still open. */
int t_trickle_step(t_trickle *t, char byte, int gap_ms);
void t_trickle_free(t_trickle *t);
/* n tricklers send prefix, then byte every gap_ms for at most steps steps
 * (fewer once the server closed them all); after the first step served(port)
 * must return 1 (may be NULL).  The caller checks closes and replies. */
t_trickle *t_slowloris(int port, int n, const char *prefix, char byte, int gap_ms, int steps,
                       int (*served)(int port));
/* A module counter as /metrics of the status listener shows it, or -1.
 * Workers publish once a second: wait that long after the event. */
long long t_counter(int status_port, const char *listener, const char *counter);
/* The status listener's whole /metrics text (a static buffer, valid until
 * the next call), or NULL when it cannot be reached. */
const char *t_metrics(int status_port);
/* One listener's value of a per-listener /metrics family, or -1. */
long long t_metric(int status_port, const char *family, const char *listener);
