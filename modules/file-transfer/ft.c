/* ft.c -- the file-transfer module: list, download (whole or from an
 * offset, with sendfile), upload (size announced first, optional SHA-256)
 * and SHA-256 of stored files, over a native text protocol or the
 * "<SEPARATOR>" dialect of common socket tutorials.
 *
 * Never lose, never corrupt: an upload goes to a temporary file in root
 * (".upload-PID-RANDOM.tmp", a name no other process, generation or host
 * sharing the folder can be using), held under an exclusive flock while the
 * upload lives; it is fsync'ed and renamed over the final name only when
 * the announced size has arrived and the checksum (if given) matches; every
 * other ending unlinks the temporary.  Stale temporaries (a worker killed
 * mid-upload) are removed at start only when nobody holds their lock, so a
 * reload's new generation or a restarted worker never removes an upload
 * another process is still writing.  fsync, rename and hashing run on the
 * core's work threads, so the reactor never waits on the disk for them.
 * See docs/protocols/file-transfer.md. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "ft.h"
#include "netcore/deadline.h"
#include "netcore/netcore.h"
#include "netcore/strbuf.h"

#define SEP "<SEPARATOR>"
#define SEP_QUIET_MS 30 /* the dialect has no terminator: a pause ends a message */

enum { D_NATIVE, D_SEPARATOR };
static const char *const dialects[] = {"native", "separator", NULL};

typedef struct ft {
    const char *root;
    int rootfd;
    long long max_file;
    int read_only;
    long long max_uploads;
    int dialect;
    int uploads; /* in progress */
    /* Slowloris bounds (docs/hardening.md): a request line must be complete
     * within command_timeout_ms of its first byte; an upload body must bring
     * upload_min_rate bytes/s in every upload_rate_window_ms. */
    long long command_timeout, min_rate, rate_window;
    nc_deadlines cmds;
    uint64_t *c_up, *c_down, *c_refused, *c_bytes_up, *c_slow;
} ft;

enum { S_CMD, S_BODY, S_WAIT, S_SEP_FIRST, S_SEP_BODY, S_SEP_SEND, S_DONE };

/* A separator download's header is padded with spaces to SEP_HEADER bytes
 * and the file follows only once the header has left and SEP_HEADER_PAUSE_MS
 * passed: the tutorials' client reads the header with one recv(1024) and
 * splits it on <SEPARATOR>, so anything sent with the header ends up in
 * its size field.  docs/protocols/file-transfer.md has the reasoning. */
#define SEP_HEADER 1024
#define SEP_HEADER_PAUSE_MS 20

typedef struct fconn fconn;

/* One upload, shared by the connection and a work job. */
typedef struct upload {
    ft *f;
    int tmpfd;
    char tmp[64];
    char name[FT_NAME_MAX + 1];
    long long size, remaining;
    int has_sha;
    unsigned char want[32], got[32];
    EVP_MD_CTX *md;
    int werr;    /* errno of a failed write: the rest is read and dropped */
    int result;  /* work: 0 kept, else an ERR code */
    char msg[160];
} upload;

struct fconn {
    nc_conn *c;
    ft *f;
    int state;
    int gone;        /* closed while a job is in flight: done frees */
    upload *up;
    nc_timer *quiet; /* separator dialect: waiting for the first message to end */
    int quiet_done;  /* ... and it has */
    nc_timer *pause; /* separator download: the pause between header and file */
    int dl_fd;       /* ... the file to send then (-1: none) */
    size_t dl_size;
    int eof;         /* the peer shut down its side */
    nc_deadline dl;  /* command_timeout_ms, while a request line is unfinished */
    nc_timer *rate;  /* upload_rate_window_ms, while a body is read */
    long long rate_bytes; /* body bytes in the current window */
    /* SHA256 job: hashed SHA_SLICE bytes per work job, the file and the
     * digest kept here between slices (owned by the connection; the job
     * and its done never run at once) */
    char name[FT_NAME_MAX + 1];
    int sha_fd;           /* -1: not open */
    EVP_MD_CTX *sha_md;
    int sha_more;         /* work: the file has more to hash */
    int sha_code;         /* work: 0, or the ERR code ... */
    const char *sha_msg;  /* ... and its message (static text) */
    int sha_err;          /* a read error's errno */
    unsigned char sha[32];
};

static void bump(uint64_t *k, uint64_t n)
{
    if (k)
        *k += n;
}

/* ---- listener ---- */

static int is_tmp_name(const char *n)
{
    size_t len = strlen(n);
    return strncmp(n, ".upload-", 8) == 0 && len > 12 && strcmp(n + len - 4, ".tmp") == 0;
}

/* Remove temporaries left by uploads that no live process holds: an
 * in-flight upload keeps an exclusive flock on its temporary (in whichever
 * process, generation or host it runs), so only a temporary whose lock can
 * be taken is stale.  The lock is held across the unlink, and the name must
 * still be the inode locked, so a name reused meanwhile is never removed.
 * Opened with O_NONBLOCK and O_NOFOLLOW: a FIFO or a symlink under a
 * temporary's name is neither waited on nor followed. */
static void remove_stale(ft *f)
{
    int fd = dup(f->rootfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    rewinddir(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_tmp_name(e->d_name))
            continue;
        int tfd = openat(f->rootfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (tfd < 0)
            continue;
        struct stat a, b;
        if (fstat(tfd, &a) == 0 && S_ISREG(a.st_mode) && flock(tfd, LOCK_EX | LOCK_NB) == 0 &&
            fstatat(f->rootfd, e->d_name, &b, AT_SYMLINK_NOFOLLOW) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino && unlinkat(f->rootfd, e->d_name, 0) == 0)
            nc_log(NC_LOG_WARN, "file-transfer: removed %s/%s, left by an interrupted upload", f->root,
                   e->d_name);
        close(tfd); /* drops the lock */
    }
    closedir(d);
}

/* Create an upload's temporary and lock it.  The name is the pid and 64
 * random bits (O_EXCL settles a collision).  The lock comes after the
 * create: a remove_stale that got in between holds the lock (ours fails)
 * or has unlinked the name already (st_nlink 0); either way it is not ours
 * to use, and a new name is tried.  Returns the descriptor, or -1 (errno). */
static int tmp_create(ft *f, char *name, size_t cap)
{
    static uint64_t seq;
    for (int tries = 0; tries < 16; tries++) {
        uint64_t r;
        if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            r = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (++seq * 0x9e3779b97f4a7c15ull);
        }
        snprintf(name, cap, ".upload-%d-%016llx.tmp", (int)getpid(), (unsigned long long)r);
        int fd = openat(f->rootfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0) {
            if (errno == EEXIST)
                continue;
            return -1;
        }
        struct stat st;
        if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &st) == 0 && st.st_nlink > 0)
            return fd;
        close(fd); /* a remover has it, and unlinks it */
    }
    errno = EEXIST;
    return -1;
}

/* root exists as a folder, or can be made: its nearest existing ancestor
 * is a folder this process may write into.  Returns 0, or -1 with the
 * option error set. */
static int check_root(nc_options *o, const char *root)
{
    struct stat st;
    if (stat(root, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return nc_opt_error(o, "root", "%s: not a folder", root);
        return 0;
    }
    if (errno != ENOENT)
        return nc_opt_error(o, "root", "%s: %s", root, strerror(errno));
    char up[4096];
    snprintf(up, sizeof up, "%s", root);
    for (;;) {
        char *slash = strrchr(up, '/');
        if (!slash)
            return nc_opt_error(o, "root", "%s: no such folder", root);
        if (slash == up)
            slash[1] = '\0'; /* "/" */
        else
            *slash = '\0';
        if (stat(up, &st) == 0)
            break;
        if (errno != ENOENT || strcmp(up, "/") == 0)
            return nc_opt_error(o, "root", "%s: %s: %s", root, up, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return nc_opt_error(o, "root", "%s: cannot be created: %s is not a folder", root, up);
    if (access(up, W_OK | X_OK) < 0)
        return nc_opt_error(o, "root", "%s: cannot be created in %s: %s", root, up, strerror(errno));
    nc_log(NC_LOG_INFO, "file-transfer: %s does not exist yet: it is created when the listener starts", root);
    return 0;
}

static void cmd_expired(nc_conn *c);

static int ft_init(nc_listener *l, nc_options *o, void **instance)
{
    ft *f = calloc(1, sizeof *f);
    if (!f)
        return nc_opt_error(o, "root", "out of memory");
    f->rootfd = -1;
    if (nc_opt_path(o, "root", NULL, &f->root) < 0 ||
        nc_opt_int(o, "max_file_size", 1LL << 40, 0, 1LL << 50, &f->max_file) < 0 ||
        nc_opt_bool(o, "read_only", 0, &f->read_only) < 0 ||
        nc_opt_int(o, "max_concurrent_uploads", 16, 1, 100000, &f->max_uploads) < 0 ||
        nc_opt_enum(o, "dialect", dialects, D_NATIVE, &f->dialect) < 0 ||
        nc_opt_int(o, "command_timeout_ms", 10000, 0, 86400000, &f->command_timeout) < 0 ||
        nc_opt_int(o, "upload_min_rate", 1024, 0, 1LL << 40, &f->min_rate) < 0 ||
        nc_opt_int(o, "upload_rate_window_ms", 20000, 100, 86400000, &f->rate_window) < 0)
        goto fail;
    if (!f->root) {
        nc_opt_error(o, "root", "missing (the folder files are stored in)");
        goto fail;
    }
    /* Nothing is created here: init also runs for `netcore -t` and the
     * master's check, which change nothing on disk.  A missing root is
     * created by on_listen (a real start); here it must be creatable. */
    if (check_root(o, f->root) < 0)
        goto fail;
    f->c_up = nc_counter(l, "uploads");
    f->c_down = nc_counter(l, "downloads");
    f->c_refused = nc_counter(l, "refused");
    f->c_bytes_up = nc_counter(l, "bytes_uploaded");
    f->c_slow = nc_counter(l, "slow_uploads_dropped");
    nc_deadlines_init(&f->cmds, (uint64_t)f->command_timeout, "a complete request line", "command_timeout_ms",
                      nc_counter(l, "command_timeouts"), cmd_expired);
    *instance = f;
    return 0;
fail:
    if (f->rootfd >= 0)
        close(f->rootfd);
    free(f);
    return -1;
}

static int ft_listen(nc_listener *l)
{
    ft *f = nc_listener_instance(l);
    /* Create root and its missing parents (like mkdir -p). */
    char path[4096];
    snprintf(path, sizeof path, "%s", f->root);
    for (char *p = path + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(path, 0755) < 0 && errno != EEXIST) {
                nc_log_listener(l, NC_LOG_ERROR, "root: %s: cannot create: %s", path, strerror(errno));
                return -1;
            }
            *p = c;
            if (!c)
                break;
        }
    }
    f->rootfd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (f->rootfd < 0) {
        nc_log_listener(l, NC_LOG_ERROR, "root: %s: %s", f->root, strerror(errno));
        return -1;
    }
    remove_stale(f);
    return 0;
}

static void ft_fini(nc_listener *l, void *instance)
{
    (void)l;
    ft *f = instance;
    nc_deadlines_stop(&f->cmds);
    if (f->rootfd >= 0)
        close(f->rootfd);
    free(f);
}

/* ---- replies ---- */

static void reply_err(fconn *fc, int code, const char *msg)
{
    bump(fc->f->c_refused, 1);
    if (fc->f->dialect == D_SEPARATOR)
        nc_sendf(fc->c, "-1" SEP "%s", msg);
    else
        nc_sendf(fc->c, "ERR %d %s\n", code, msg);
}

static void hex(char *out, const unsigned char *sha)
{
    static const char h[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = h[sha[i] >> 4];
        out[2 * i + 1] = h[sha[i] & 15];
    }
    out[64] = '\0';
}

/* ---- uploads ---- */

static void upload_free(upload *u)
{
    if (u->tmpfd >= 0) {
        unlinkat(u->f->rootfd, u->tmp, 0); /* still under our lock */
        close(u->tmpfd);
    }
    if (u->md)
        EVP_MD_CTX_free(u->md);
    u->f->uploads--;
    free(u);
}

static upload *upload_start(fconn *fc, const char *name, long long size, const unsigned char *sha,
                            int *code, const char **msg)
{
    ft *f = fc->f;
    *code = 0;
    if (f->read_only) {
        *code = 403, *msg = "read-only: uploads are refused";
        return NULL;
    }
    if (size > f->max_file) {
        *code = 413, *msg = "larger than max_file_size";
        return NULL;
    }
    if (f->uploads >= f->max_uploads) {
        *code = 503, *msg = "too many uploads at once (max_concurrent_uploads)";
        return NULL;
    }
    struct statvfs vs;
    if (fstatvfs(f->rootfd, &vs) == 0 && (unsigned long long)vs.f_bavail * vs.f_frsize < (unsigned long long)size) {
        *code = 507, *msg = "not enough space";
        return NULL;
    }
    upload *u = calloc(1, sizeof *u);
    if (!u) {
        *code = 500, *msg = "out of memory";
        return NULL;
    }
    u->f = f;
    f->uploads++;
    u->tmp[0] = '\0';
    snprintf(u->name, sizeof u->name, "%s", name);
    u->size = u->remaining = size;
    if (sha) {
        u->has_sha = 1;
        memcpy(u->want, sha, 32);
    }
    u->tmpfd = tmp_create(f, u->tmp, sizeof u->tmp);
    u->md = EVP_MD_CTX_new();
    if (u->tmpfd < 0 || !u->md || !EVP_DigestInit_ex(u->md, EVP_sha256(), NULL)) {
        *code = 500, *msg = "cannot create a temporary file";
        nc_log_conn(fc->c, NC_LOG_ERROR, "%s/%s: %s", f->root, u->tmp[0] ? u->tmp : ".upload-*.tmp",
                    strerror(errno));
        upload_free(u);
        return NULL;
    }
    return u;
}

/* Body bytes: write and hash them; a write error is remembered and the
 * rest is still consumed, so the stream stays in step. */
static void upload_feed(upload *u, const char *data, size_t n)
{
    EVP_DigestUpdate(u->md, data, n);
    u->remaining -= (long long)n;
    bump(u->f->c_bytes_up, n);
    while (n && !u->werr) {
        ssize_t w = write(u->tmpfd, data, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            u->werr = errno;
            break;
        }
        data += w;
        n -= (size_t)w;
    }
}

/* Work thread: make the upload durable, or throw it away. */
static void upload_commit(void *arg)
{
    fconn *fc = arg;
    upload *u = fc->up;
    ft *f = u->f;
    if (u->werr) {
        u->result = u->werr == ENOSPC || u->werr == EDQUOT || u->werr == EFBIG ? 507 : 500;
        snprintf(u->msg, sizeof u->msg, "writing failed: %s", strerror(u->werr));
        return;
    }
    if (u->has_sha && memcmp(u->got, u->want, 32) != 0) {
        u->result = 409;
        snprintf(u->msg, sizeof u->msg, "checksum mismatch: the file was not kept");
        return;
    }
    if (fsync(u->tmpfd) < 0) {
        u->result = 507;
        snprintf(u->msg, sizeof u->msg, "fsync failed: %s", strerror(errno));
        return;
    }
    /* The rename replaces the old version in one step: readers see the old
     * file or the new one, never a mix; the directory fsync makes it stick.
     * The temporary's descriptor (and so its lock) is kept until the name
     * is gone, so no remove_stale can take it meanwhile. */
    if (renameat(f->rootfd, u->tmp, f->rootfd, u->name) < 0) {
        u->result = 500;
        snprintf(u->msg, sizeof u->msg, "rename failed: %s", strerror(errno));
        return; /* upload_free unlinks the temporary and closes it */
    }
    close(u->tmpfd);
    u->tmpfd = -1;
    fsync(f->rootfd);
    u->result = 0;
}

static void body_end(fconn *fc);

static void sha_reset(fconn *fc);

static void fconn_free(fconn *fc)
{
    sha_reset(fc);
    body_end(fc);
    if (fc->up)
        upload_free(fc->up);
    if (fc->quiet)
        nc_timer_stop(fc->quiet);
    if (fc->pause)
        nc_timer_stop(fc->pause);
    if (fc->dl_fd >= 0)
        close(fc->dl_fd);
    free(fc);
}

static void upload_done(void *arg)
{
    fconn *fc = arg;
    upload *u = fc->up;
    if (fc->gone) {
        if (u->result == 0)
            nc_log(NC_LOG_INFO, "file-transfer: stored %s (%lld bytes; the client left before the answer)",
                   u->name, u->size);
        fconn_free(fc);
        return;
    }
    char h[65];
    hex(h, u->got);
    if (u->result == 0) {
        bump(fc->f->c_up, 1);
        nc_log_conn(fc->c, NC_LOG_INFO, "stored %s (%lld bytes, sha256 %s)", u->name, u->size, h);
        if (fc->f->dialect == D_NATIVE)
            nc_sendf(fc->c, "OK %s\n", h);
    } else {
        nc_log_conn(fc->c, NC_LOG_WARN, "upload of %s refused: %s", u->name, u->msg);
        if (fc->f->dialect == D_NATIVE)
            reply_err(fc, u->result, u->msg);
    }
    upload_free(u);
    fc->up = NULL;
    if (fc->f->dialect == D_SEPARATOR) {
        fc->state = S_DONE;
        nc_close(fc->c, NC_CLOSE_FLUSH);
        return;
    }
    fc->state = S_CMD;
    nc_conn_resume(fc->c);
    if (fc->eof)
        nc_close(fc->c, NC_CLOSE_FLUSH);
}

/* ---- upload bodies: the minimum rate ---- */

static void rate_check(nc_timer *t, void *arg);

static void body_begin(fconn *fc, int state)
{
    fc->state = state;
    fc->rate_bytes = 0;
    if (fc->f->min_rate && !fc->rate)
        fc->rate = nc_timer_start((uint64_t)fc->f->rate_window, (uint64_t)fc->f->rate_window, rate_check, fc);
}

static void body_end(fconn *fc)
{
    if (fc->rate)
        nc_timer_stop(fc->rate);
    fc->rate = NULL;
}

/* Every upload_rate_window_ms: a body that brought less than upload_min_rate
 * bytes/s in the window is dropped, which frees its upload slot at once.
 * One log line a second at most, with the count of the others. */
static void rate_check(nc_timer *t, void *arg)
{
    (void)t;
    fconn *fc = arg;
    ft *f = fc->f;
    long long need = f->min_rate * f->rate_window / 1000;
    if (fc->rate_bytes >= need || !fc->up) {
        fc->rate_bytes = 0;
        return;
    }
    static uint64_t last_log;
    static unsigned unlogged;
    uint64_t now = nc_now_ms();
    unlogged++;
    if (now - last_log >= 1000) {
        nc_log_conn(fc->c, NC_LOG_WARN,
                    "upload of %s dropped: %lld bytes in %lld ms, below upload_min_rate (%lld bytes/s); "
                    "%u such drops since the last line",
                    fc->up->name, fc->rate_bytes, f->rate_window, f->min_rate, unlogged);
        last_log = now;
        unlogged = 0;
    }
    bump(f->c_slow, 1);
    body_end(fc);
    char msg[128];
    snprintf(msg, sizeof msg, "upload slower than upload_min_rate (%lld bytes/s over %lld ms): dropped", f->min_rate,
             f->rate_window);
    reply_err(fc, 408, msg);
    upload_free(fc->up);
    fc->up = NULL;
    fc->state = S_DONE;
    nc_close(fc->c, NC_CLOSE_FLUSH);
}

static void upload_finish(fconn *fc)
{
    upload *u = fc->up;
    body_end(fc);
    unsigned int len = 0;
    EVP_DigestFinal_ex(u->md, u->got, &len);
    fc->state = S_WAIT;
    nc_conn_pause(fc->c);
    if (nc_work_submit(upload_commit, upload_done, fc) < 0) {
        u->result = 500;
        snprintf(u->msg, sizeof u->msg, "out of memory");
        upload_done(fc);
    }
}

/* Open a stored regular file; returns the fd, or -1 with code and msg set. */
static int open_file(ft *f, const char *name, struct stat *st, int *code, const char **msg)
{
    int fd = openat(f->rootfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        *code = errno == ENOENT ? 404 : 403;
        *msg = errno == ENOENT ? "no such file" : "cannot be read";
        return -1;
    }
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        *code = 403, *msg = "not a regular file";
        return -1;
    }
    return fd;
}

/* ---- SHA256 of a stored file ----
 *
 * Fair share of the work threads: a connection has at most one job in
 * flight (it is paused meanwhile), and a hash is cut into slices of
 * SHA_SLICE bytes, each slice a job of its own submitted at the back of the
 * queue; so eight clients hashing 512 MB files delay another client's
 * upload commit by a few slices, not by whole files.  The file is opened
 * with O_NONBLOCK and O_NOFOLLOW and refused unless regular (open_file), so
 * a FIFO in the root cannot block a work thread in open or read. */

#define SHA_SLICE (8u << 20)

static void sha_reset(fconn *fc)
{
    if (fc->sha_fd >= 0)
        close(fc->sha_fd);
    fc->sha_fd = -1;
    if (fc->sha_md)
        EVP_MD_CTX_free(fc->sha_md);
    fc->sha_md = NULL;
}

static void sha_work(void *arg)
{
    fconn *fc = arg;
    fc->sha_more = 0;
    if (fc->sha_fd < 0) {
        struct stat st;
        fc->sha_fd = open_file(fc->f, fc->name, &st, &fc->sha_code, &fc->sha_msg);
        if (fc->sha_fd < 0)
            return;
        fc->sha_md = EVP_MD_CTX_new();
        if (!fc->sha_md || !EVP_DigestInit_ex(fc->sha_md, EVP_sha256(), NULL)) {
            fc->sha_code = 500, fc->sha_msg = "out of memory";
            return;
        }
    }
    static __thread char buf[1 << 16];
    size_t done = 0;
    ssize_t n = 0;
    while (done < SHA_SLICE && (n = read(fc->sha_fd, buf, sizeof buf)) > 0) {
        EVP_DigestUpdate(fc->sha_md, buf, (size_t)n);
        done += (size_t)n;
    }
    if (n < 0) {
        fc->sha_err = errno;
        return;
    }
    if (n > 0) {
        fc->sha_more = 1; /* a full slice: the rest in a later job */
        return;
    }
    unsigned int len;
    EVP_DigestFinal_ex(fc->sha_md, fc->sha, &len);
}

static void sha_done(void *arg)
{
    fconn *fc = arg;
    if (fc->gone) {
        fconn_free(fc);
        return;
    }
    if (fc->sha_more && !fc->sha_code && !fc->sha_err) {
        if (nc_work_submit(sha_work, sha_done, fc) == 0)
            return;
        fc->sha_code = 500, fc->sha_msg = "out of memory";
    }
    sha_reset(fc);
    if (fc->sha_code) {
        reply_err(fc, fc->sha_code, fc->sha_msg);
    } else if (fc->sha_err) {
        reply_err(fc, 500, strerror(fc->sha_err));
    } else {
        char h[65];
        hex(h, fc->sha);
        nc_sendf(fc->c, "OK %s\n", h);
    }
    fc->state = S_CMD;
    nc_conn_resume(fc->c);
    if (fc->eof)
        nc_close(fc->c, NC_CLOSE_FLUSH);
}

/* ---- downloads and listing ---- */

static void do_list(fconn *fc)
{
    int fd = dup(fc->f->rootfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        reply_err(fc, 500, "cannot read the folder");
        return;
    }
    rewinddir(d); /* a dup shares the offset of earlier listings */
    /* Count, then list: the count lets the client know where the list ends.
     * The list is built whole (growable, no bound but memory) or not at all. */
    nc_sb body;
    nc_sb_init_grow(&body, NULL, 0, (size_t)-1 / 2);
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(d)) && !nc_sb_truncated(&body)) {
        struct stat st;
        if (e->d_name[0] == '.' || fstatat(fc->f->rootfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            !S_ISREG(st.st_mode))
            continue;
        nc_sb_printf(&body, "%lld %lld %s\n", (long long)st.st_size, (long long)st.st_mtim.tv_sec, e->d_name);
        count++;
    }
    closedir(d);
    if (nc_sb_truncated(&body)) {
        nc_sb_free(&body);
        reply_err(fc, 500, "out of memory");
        return;
    }
    nc_sendf(fc->c, "OK %zu\n", count);
    nc_send(fc->c, nc_sb_str(&body), body.len);
    nc_sb_free(&body);
}

static void do_get(fconn *fc, const ft_req *r)
{
    struct stat st;
    int code;
    const char *msg;
    int fd = open_file(fc->f, r->name, &st, &code, &msg);
    if (fd < 0) {
        reply_err(fc, code, msg);
        return;
    }
    if (r->offset > st.st_size) {
        close(fd);
        reply_err(fc, 416, "offset beyond the end of the file");
        return;
    }
    long long len = (long long)st.st_size - r->offset;
    nc_sendf(fc->c, "OK %lld %lld\n", (long long)st.st_size, len);
    /* The descriptor pins this version: a rename over the name meanwhile
     * does not change what this download sends. */
    nc_sendfile(fc->c, fd, (off_t)r->offset, (size_t)len, NC_FILE_OWN);
    bump(fc->f->c_down, 1);
}

/* ---- the native protocol ---- */

static void cmd_expired(nc_conn *c)
{
    fconn *fc = nc_conn_data(c);
    char msg[96];
    snprintf(msg, sizeof msg, "request line not complete within command_timeout_ms (%lld)", fc->f->command_timeout);
    reply_err(fc, 408, msg);
}

static ssize_t native_line(fconn *fc, const char *data, size_t len)
{
    const char *nl = memchr(data, '\n', len);
    /* Only a well-formed request stops the clock: a trickle of bytes, or of
     * empty or broken lines, is closed at command_timeout_ms. */
    nc_deadline_arm(&fc->f->cmds, &fc->dl, fc->c);
    if (!nl) {
        if (len > FT_LINE_MAX) {
            reply_err(fc, 400, "request line too long");
            nc_close(fc->c, NC_CLOSE_FLUSH);
            return (ssize_t)len;
        }
        return 0;
    }
    size_t n = (size_t)(nl - data);
    ft_req r;
    const char *why;
    if (ft_parse_line(data, n, &r, &why) < 0) {
        reply_err(fc, 400, why);
        return (ssize_t)(n + 1);
    }
    nc_deadline_disarm(&fc->f->cmds, &fc->dl);
    switch (r.op) {
    case FT_LIST:
        do_list(fc);
        break;
    case FT_GET:
        do_get(fc, &r);
        break;
    case FT_QUIT:
        nc_send(fc->c, "OK bye\n", 7);
        nc_close(fc->c, NC_CLOSE_FLUSH);
        break;
    case FT_SHA256:
        snprintf(fc->name, sizeof fc->name, "%s", r.name);
        fc->sha_code = fc->sha_err = 0;
        fc->state = S_WAIT;
        nc_conn_pause(fc->c);
        if (nc_work_submit(sha_work, sha_done, fc) < 0) {
            fc->sha_code = 500, fc->sha_msg = "out of memory";
            sha_done(fc);
        }
        break;
    case FT_PUT: {
        int code;
        const char *msg;
        fc->up = upload_start(fc, r.name, r.size, r.has_sha ? r.sha : NULL, &code, &msg);
        if (!fc->up) {
            reply_err(fc, code, msg); /* refused before any body is sent */
            break;
        }
        nc_send(fc->c, "CONTINUE\n", 9);
        body_begin(fc, S_BODY);
        if (r.size == 0)
            upload_finish(fc);
        break;
    }
    }
    return (ssize_t)(n + 1);
}

/* ---- the <SEPARATOR> dialect ---- */

static void header_sent(nc_timer *t, void *arg)
{
    (void)t;
    fconn *fc = arg;
    if (nc_conn_queued(fc->c)) { /* the header is still on its way out */
        fc->pause = nc_timer_start(SEP_HEADER_PAUSE_MS, 0, header_sent, fc);
        if (fc->pause)
            return;
    }
    fc->pause = NULL;
    nc_sendfile(fc->c, fc->dl_fd, 0, fc->dl_size, NC_FILE_OWN);
    fc->dl_fd = -1;
    fc->state = S_DONE;
    nc_close(fc->c, NC_CLOSE_FLUSH);
}

/* Send the padded header now, the file (fd, owned from here) after the
 * pause.  Returns 0 when the file follows, -1 when the caller closes now
 * (an empty file: the header is everything). */
static int sep_download(fconn *fc, int fd, size_t size)
{
    char hdr[SEP_HEADER];
    int n = snprintf(hdr, sizeof hdr, "0" SEP "%zu", size);
    memset(hdr + n, ' ', sizeof hdr - (size_t)n);
    nc_send(fc->c, hdr, sizeof hdr);
    bump(fc->f->c_down, 1);
    if (size && (fc->pause = nc_timer_start(SEP_HEADER_PAUSE_MS, 0, header_sent, fc))) {
        fc->dl_fd = fd;
        fc->dl_size = size;
        fc->state = S_SEP_SEND;
        return 0;
    }
    if (size) /* no timer: send it at once rather than not at all */
        nc_sendfile(fc->c, fd, 0, size, NC_FILE_OWN);
    else
        close(fd);
    return -1;
}

static void sep_message(fconn *fc, const char *data, size_t len, size_t *used)
{
    *used = len;
    const char *sep = memmem(data, len, SEP, strlen(SEP));
    const char *why;
    if (!sep) { /* a download: the name, a trailing newline ignored */
        size_t n = len;
        while (n && (data[n - 1] == '\n' || data[n - 1] == '\r'))
            n--;
        char name[FT_NAME_MAX + 1];
        if (!ft_name_ok(data, n, &why)) {
            reply_err(fc, 400, why);
        } else {
            memcpy(name, data, n);
            name[n] = '\0';
            struct stat st;
            int code;
            const char *msg;
            int fd = open_file(fc->f, name, &st, &code, &msg);
            if (fd < 0) {
                reply_err(fc, code, msg);
            } else if (sep_download(fc, fd, (size_t)st.st_size) == 0) {
                return;
            }
        }
        fc->state = S_DONE;
        nc_close(fc->c, NC_CLOSE_FLUSH);
        return;
    }
    /* An upload: NAME<SEPARATOR>SIZE; bytes after the digits (from a client
     * that did not wait for "ok") are the start of the body. */
    size_t nl = (size_t)(sep - data);
    const char *p = sep + strlen(SEP), *end = data + len;
    long long size = 0;
    int digits = 0;
    while (p < end && *p >= '0' && *p <= '9' && size < (1LL << 50)) {
        size = size * 10 + (*p++ - '0');
        digits++;
    }
    if (p < end && *p == '\n')
        p++;
    *used = (size_t)(p - data);
    char name[FT_NAME_MAX + 1];
    int code;
    const char *msg;
    if (!digits) {
        reply_err(fc, 400, "expected NAME<SEPARATOR>SIZE");
    } else if (!ft_name_ok(data, nl, &why)) {
        reply_err(fc, 400, why);
    } else {
        memcpy(name, data, nl);
        name[nl] = '\0';
        fc->up = upload_start(fc, name, size, NULL, &code, &msg);
        if (fc->up) {
            nc_send(fc->c, "ok", 2);
            body_begin(fc, S_SEP_BODY);
            return;
        }
        reply_err(fc, code, msg);
    }
    fc->state = S_DONE;
    nc_close(fc->c, NC_CLOSE_FLUSH);
}

static ssize_t ft_data(nc_conn *c, const char *data, size_t len);

static void quiet_fired(nc_timer *t, void *arg)
{
    (void)t;
    fconn *fc = arg;
    fc->quiet = NULL;
    fc->quiet_done = 1;
    nc_conn_resume(fc->c); /* hands the buffered first message to ft_data */
}

/* ---- hooks ---- */

static int ft_accept(nc_conn *c)
{
    fconn *fc = calloc(1, sizeof *fc);
    if (!fc)
        return -1;
    fc->c = c;
    fc->sha_fd = -1;
    fc->dl_fd = -1;
    fc->f = nc_listener_instance(nc_conn_listener(c));
    fc->state = fc->f->dialect == D_SEPARATOR ? S_SEP_FIRST : S_CMD;
    nc_conn_set_data(c, fc);
    return 0;
}

static ssize_t ft_data(nc_conn *c, const char *data, size_t len)
{
    fconn *fc = nc_conn_data(c);
    switch (fc->state) {
    case S_CMD:
        return native_line(fc, data, len);
    case S_BODY:
    case S_SEP_BODY: {
        upload *u = fc->up;
        size_t take = (long long)len < u->remaining ? len : (size_t)u->remaining;
        if (fc->state == S_SEP_BODY && (take < len || (fc->eof && take < (size_t)u->remaining))) {
            /* not exactly SIZE bytes: more than announced, or the peer
             * already closed with fewer */
            nc_log_conn(c, NC_LOG_WARN, "upload of %s dropped: %zu bytes arrived for %lld announced",
                        u->name, (size_t)(u->size - u->remaining) + len, u->size);
            body_end(fc);
            upload_free(u);
            fc->up = NULL;
            fc->state = S_DONE;
            nc_close(c, NC_CLOSE_FLUSH);
            return (ssize_t)len;
        }
        upload_feed(u, data, take);
        fc->rate_bytes += (long long)take;
        if (u->remaining == 0 && (fc->state == S_BODY || fc->eof))
            upload_finish(fc);
        return (ssize_t)take;
    }
    case S_SEP_FIRST: {
        /* The message has no terminator: it ends at a newline, at a
         * non-digit after NAME<SEPARATOR>SIZE (body bytes from a client
         * that did not wait for "ok"), or at a pause in the stream. */
        if (fc->quiet)
            return 0;
        int ready = memchr(data, '\n', len) || len >= FT_LINE_MAX || fc->quiet_done;
        const char *sep = ready ? NULL : memmem(data, len, SEP, strlen(SEP));
        if (sep) {
            const char *p = sep + strlen(SEP), *e = data + len;
            while (p < e && *p >= '0' && *p <= '9')
                p++;
            ready = p < e && p > sep + strlen(SEP);
        }
        if (!ready) {
            fc->quiet = nc_timer_start(SEP_QUIET_MS, 0, quiet_fired, fc);
            nc_conn_pause(c);
            return 0;
        }
        size_t used;
        sep_message(fc, data, len, &used);
        return (ssize_t)used;
    }
    default:
        return (ssize_t)len; /* S_WAIT is paused; S_DONE drops */
    }
}

static void ft_eof(nc_conn *c)
{
    fconn *fc = nc_conn_data(c);
    fc->eof = 1;
    if ((fc->state == S_SEP_FIRST && fc->quiet) || fc->state == S_SEP_SEND)
        return; /* its message is buffered, or its file waits: a timer goes on */
    if (fc->state == S_WAIT)
        return; /* the job's done answers and closes */
    if (fc->state == S_SEP_BODY) {
        upload *u = fc->up;
        if (u->remaining == 0 && !u->werr) {
            upload_finish(fc); /* exactly SIZE bytes, then the close */
            return;
        }
        nc_log_conn(c, NC_LOG_WARN, "upload of %s dropped: %lld of %lld bytes arrived%s", u->name,
                    u->size - u->remaining, u->size, u->werr == EMSGSIZE ? " (and more)" : "");
        body_end(fc);
        upload_free(u);
        fc->up = NULL;
    }
    nc_close(c, NC_CLOSE_FLUSH);
}

static void ft_close(nc_conn *c)
{
    fconn *fc = nc_conn_data(c);
    nc_deadline_disarm(&fc->f->cmds, &fc->dl);
    body_end(fc);
    if (fc->state == S_WAIT) {
        fc->gone = 1; /* the job's done frees it */
        if (fc->quiet) {
            nc_timer_stop(fc->quiet);
            fc->quiet = NULL;
        }
        return;
    }
    if (fc->up) {
        /* Unlink the temporary first, then say so. */
        char name[FT_NAME_MAX + 1];
        long long got = fc->up->size - fc->up->remaining, size = fc->up->size;
        snprintf(name, sizeof name, "%s", fc->up->name);
        fconn_free(fc);
        nc_log_conn(c, NC_LOG_WARN, "upload of %s abandoned after %lld of %lld bytes; the old file is untouched",
                    name, got, size);
        return;
    }
    fconn_free(fc);
}

NC_MODULE_DEFINE = {
    NC_MODULE_HEADER,
    .flags = NC_MOD_STREAM,
    .name = "file-transfer",
    .version = "1.0.0",
    .description = "list, download, upload files; never a partial or corrupt file",
    .init = ft_init,
    .fini = ft_fini,
    .on_listen = ft_listen,
    .on_accept = ft_accept,
    .on_data = ft_data,
    .on_eof = ft_eof,
    .on_close = ft_close,
};
