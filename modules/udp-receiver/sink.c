/* sink.c -- udp-receiver's record output.  Buffered: one buffer written with
 * write(2) from the reactor, write-behind jobs on the core's work threads.
 * Direct (direct_io): aligned chunks that a writer thread of the sink's own
 * writes with O_DIRECT, so records never pass through the page cache. */
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum {
    CHUNK = 1 << 20, /* direct: records per write */
    DALIGN = 4096,   /* direct: file offsets, lengths and buffer addresses */
    MIN_CHUNKS = 3,  /* one filling, one carrying its tail, one being written */
    KEEP_SPARE = 8,  /* chunks kept for reuse beyond what is in flight */
};

/* A file open for direct writes.  Counted, under the sink's mutex: the
 * reactor holds one reference while records go to it, every chunk one.
 * The writer drops the last one after the file's final chunk and then
 * fsyncs and closes it, outside the lock (the reactor closes it itself
 * only if no chunk was ever queued for it). */
typedef struct dfile {
    int fd;     /* through the page cache: unaligned tails, the head block's read */
    int dfd;    /* O_DIRECT; -1 once the file system refused (EINVAL) */
    int refs;
    int locked; /* reactor: we hold the write lock on fd, the file is ours */
} dfile;

/* A run of records whose buf[0] sits at file offset pos, a multiple of
 * DALIGN, so that its aligned prefix can go out with O_DIRECT.  The bytes
 * after the prefix are carried into the next chunk (and, for a flush, also
 * written through the page cache, to be overwritten by the next chunk). */
typedef struct chunk {
    struct chunk *next;
    dfile *f;
    off_t pos;
    size_t len;    /* bytes in buf */
    size_t unread; /* buf[0..unread) is the file's, never in buf: the writer reads it first */
    size_t fresh;  /* buf[0..fresh) is in the file already; past it is news */
    int flush;     /* write the unaligned tail too */
    char *buf;     /* CHUNK bytes, DALIGN-aligned */
} chunk;

struct sink {
    sink_conf c;
    int direct;
    /* buffered; in direct mode buf holds records while the file is locked */
    int fd;
    char *buf;
    size_t len, cap;
    int held;   /* direct: the last reserve was in buf */
    int locked; /* buffered: we may append (see try_lock) */
    int lock_warned;
    int regular; /* write-behind: where our writes end, where the last job started */
    off_t end, wb_mark, wb_prev;
    int wb_busy;
    /* direct, reactor side */
    dfile *f;
    chunk *cur, *spare;
    size_t nchunks, nspare, max_chunks;
    /* direct, shared with the writer under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t writer;
    int writer_running, stop;
    chunk *todo, **todo_tail, *done;
    uint64_t errors, lost; /* failed writes, records given up at shutdown */
    int last_err;
    uint64_t errors_seen, lost_seen; /* reactor: what it has reported */
    /* write errors are logged once a second at most (a full disk fails
     * every flush): when the last line was, and the failures since */
    uint64_t err_logged_ms, err_unlogged;
};

static void bump(uint64_t *k, uint64_t n)
{
    if (k)
        *k += n;
}

/* A failed write (n of them): logged at most once a second, with the
 * count of those not logged since the last line; counted every time. */
static void write_failed(sink *s, uint64_t n, int err)
{
    bump(s->c.c_write_errors, n);
    uint64_t now = nc_now_ms();
    if (s->err_logged_ms && now - s->err_logged_ms < 1000) {
        s->err_unlogged += n;
        return;
    }
    if (s->err_unlogged)
        nc_log_listener(s->c.l, NC_LOG_ERROR, "writing records to %s: %s (and %llu failed writes not logged since the "
                        "last line)", s->c.path, strerror(err), (unsigned long long)s->err_unlogged);
    else
        nc_log_listener(s->c.l, NC_LOG_ERROR, "writing records to %s: %s", s->c.path, strerror(err));
    s->err_logged_ms = now;
    s->err_unlogged = 0;
}

/* Records (lines) in [p, e). */
static uint64_t count_lines(const char *p, const char *e)
{
    uint64_t n = 0;
    for (; p < e && (p = memchr(p, '\n', (size_t)(e - p))); p++)
        n++;
    return n;
}

/* pwritev(2) until done: 0, or -errno.  *at advances past what was
 * written, also when a later part fails; iov is used up. */
static int pwritev_all(int fd, struct iovec *iov, int n, off_t *at)
{
    while (n > 0) {
        ssize_t w = pwritev(fd, iov, n, *at);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)
            return -EIO;
        *at += w;
        for (; n > 0 && (size_t)w >= iov->iov_len; iov++, n--)
            w -= (ssize_t)iov->iov_len;
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

static int pwrite_all(int fd, const char *p, size_t n, off_t *at)
{
    struct iovec v = {.iov_base = (void *)(uintptr_t)p, .iov_len = n};
    return pwritev_all(fd, &v, 1, at);
}

/* ---- who may write the file ---------------------------------------------- */

/* Writers of one file coordinate with an open-file-description lock on the
 * whole of it.  Appenders (buffered mode, O_APPEND) take it shared: any
 * number may append together -- several workers, a reload's two
 * generations.  A direct writer takes it exclusive: its writes land at
 * offsets of its own, and anyone else's would be overwritten.  Whoever
 * cannot have it holds its records in memory (up to max_buffer_bytes) and
 * tries again at every flush.  1 when we have it. */
static int try_lock(int fd, short type)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET};
    return fcntl(fd, F_OFD_SETLK, &fl) == 0;
}

/* Try again, logging when the wait starts and when it ends. */
static int wait_lock(sink *s, int fd, short type)
{
    if (!try_lock(fd, type)) {
        if (!s->lock_warned)
            nc_log_listener(s->c.l, NC_LOG_WARN,
                            "%s is being written by another process in a way that excludes us (direct_io on one "
                            "side: a reload's previous generation finishing, or another worker); holding records "
                            "until it is free",
                            s->c.path);
        s->lock_warned = 1;
        return 0;
    }
    if (s->lock_warned)
        nc_log_listener(s->c.l, NC_LOG_INFO, "%s is free; writing", s->c.path);
    s->lock_warned = 0;
    return 1;
}

/* ---- buffered ---------------------------------------------------------- */

/* Write-behind.  At high rates records arrive at a GB/s; left to the page
 * cache they pile up as dirty pages until the kernel throttles the writer
 * -- the reactor -- in balance_dirty_pages, and they evict cache that
 * serves other listeners.  So every `writeback` bytes a job on the core's
 * work threads starts writeback of the newest range and, once the range
 * before it is on disk, drops that one from the page cache.  Both calls may
 * wait for the disk, which is why they are not made here.  The job owns a
 * duplicate of the descriptor, so a reopen meanwhile is harmless. */
typedef struct wb_job {
    sink *s;
    int fd;
    off_t start, prev, end;
} wb_job;

static void wb_work(void *arg)
{
    wb_job *j = arg;
    sync_file_range(j->fd, j->start, j->end - j->start, SYNC_FILE_RANGE_WRITE);
    if (j->start > j->prev &&
        sync_file_range(j->fd, j->prev, j->start - j->prev,
                        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) == 0)
        posix_fadvise(j->fd, j->prev, j->start - j->prev, POSIX_FADV_DONTNEED);
}

static void wb_done(void *arg)
{
    wb_job *j = arg;
    j->s->wb_busy = 0;
    close(j->fd);
    free(j);
}

static void write_behind(sink *s)
{
    if (!s->regular || s->c.writeback == 0 || s->wb_busy || s->end - s->wb_mark < s->c.writeback)
        return;
    wb_job *j = malloc(sizeof *j);
    if (!j)
        return;
    *j = (wb_job){.s = s, .fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 3), .start = s->wb_mark, .prev = s->wb_prev,
                  .end = s->end};
    if (j->fd < 0 || nc_work_submit(wb_work, wb_done, j) < 0) {
        if (j->fd >= 0)
            close(j->fd);
        free(j);
        return;
    }
    s->wb_busy = 1;
    s->wb_prev = s->wb_mark;
    s->wb_mark = s->end;
}

/* Write what is buffered.  A failed write keeps the records for the next
 * try, up to max_buffer; beyond that new records are counted as lost.  So
 * does a file that a direct writer has to itself (try_lock). */
static void flush_buffered(sink *s)
{
    if (!s->locked && !(s->locked = wait_lock(s, s->fd, F_RDLCK)))
        return;
    size_t off = 0;
    while (off < s->len) {
        ssize_t n = write(s->fd, s->buf + off, s->len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            write_failed(s, 1, errno);
            break;
        }
        off += (size_t)n;
    }
    memmove(s->buf, s->buf + off, s->len - off);
    s->len -= off;
    s->end += (off_t)off;
    write_behind(s);
}

static void opened_buffered(sink *s)
{
    struct stat st;
    s->regular = fstat(s->fd, &st) == 0 && S_ISREG(st.st_mode);
    s->locked = !s->regular || (fcntl(s->fd, F_GETFL) & O_ACCMODE) != O_RDWR || try_lock(s->fd, F_RDLCK);
    s->end = s->regular ? st.st_size : 0;
    s->wb_mark = s->wb_prev = s->end;
}

/* Never through a symbolic link (O_NOFOLLOW: -ELOOP): whoever can replace
 * the output by a link would have records appended to any file we may
 * write.  O_NONBLOCK only for the open (a FIFO with no reader must not
 * stop the reactor); writes block as they always did. */
#define OUT_FLAGS (O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)

static int blocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

static int open_append(const char *path)
{
    if (strcmp(path, "-") == 0)
        return 1;
    /* Read access only for the shared lock (try_lock); a file we may only
     * write is appended to without it. */
    int fd = open(path, O_RDWR | O_APPEND | OUT_FLAGS, 0644);
    if (fd < 0 && errno == EACCES)
        fd = open(path, O_WRONLY | O_APPEND | OUT_FLAGS, 0644);
    return fd < 0 ? -errno : blocking(fd);
}

/* Room for n more bytes in buf, growing it up to max_buffer. */
static char *grow(sink *s, size_t n)
{
    if (s->cap - s->len < n) {
        size_t cap = s->cap ? s->cap : 256 * 1024;
        while (cap - s->len < n)
            cap *= 2;
        if (cap > s->c.max_buffer)
            return NULL;
        char *b = realloc(s->buf, cap);
        if (!b)
            return NULL;
        s->buf = b;
        s->cap = cap;
    }
    return s->buf + s->len;
}

static char *reserve_buffered(sink *s, size_t n)
{
    if (s->cap - s->len < n && s->len)
        flush_buffered(s);
    return grow(s, n);
}

/* ---- direct: the writer thread ------------------------------------------ */

/* Drop a reference (under mu); 1 when it was the last: the caller closes
 * the file, outside the lock (fsync may wait for the disk). */
static int dfile_put(dfile *f)
{
    return --f->refs == 0;
}

static void dfile_close(dfile *f, int sync)
{
    if (sync)
        fsync(f->fd);
    if (f->dfd >= 0)
        close(f->dfd);
    close(f->fd);
    free(f);
}

/* Chunks that follow each other in one file, written with one pwritev:
 * each but the last is a whole run of aligned blocks (no tail to flush)
 * that the next continues. */
enum { GROUP_MAX = 32 };

static size_t aligned_len(const chunk *c)
{
    return c->len & ~(size_t)(DALIGN - 1);
}

static size_t group_len(chunk *c)
{
    size_t n = 1;
    while (n < GROUP_MAX && c->next && !c->flush && c->next->f == c->f && !c->next->unread &&
           c->next->pos == c->pos + (off_t)aligned_len(c)) {
        c = c->next;
        n++;
    }
    return n;
}

/* Write a group: the head block's first bytes from the file if we never
 * had them, the aligned prefixes with O_DIRECT, the last chunk's tail (for
 * a flush) through the page cache.  Positions are explicit, so writing a
 * group again after a failure is harmless.  0, or -errno; *reached is the
 * file offset up to which the group is written. */
static int write_group(chunk *first, size_t n, off_t *reached)
{
    *reached = first->pos;
    dfile *f = first->f;
    if (first->unread) {
        ssize_t r = pread(f->fd, first->buf, first->unread, first->pos);
        if (r < 0)
            return -errno;
        if ((size_t)r < first->unread) /* the file was cut meanwhile: keep lines apart */
            memset(first->buf + r, '\n', first->unread - (size_t)r);
    }
    struct iovec iov[GROUP_MAX];
    chunk *c = first, *last = first;
    int k = 0;
    for (size_t i = 0; i < n; i++, c = c->next) {
        if (aligned_len(c))
            iov[k++] = (struct iovec){.iov_base = c->buf, .iov_len = aligned_len(c)};
        last = c;
    }
    int rc = 0;
    if (k && f->dfd >= 0) {
        rc = pwritev_all(f->dfd, iov, k, reached);
        if (rc == -EINVAL) { /* not for this file after all: the page cache it is */
            close(f->dfd);
            f->dfd = -1;
        }
    }
    if (k && f->dfd < 0)
        for (c = first, rc = 0; rc == 0 && c != last->next; c = c->next) {
            *reached = c->pos;
            rc = pwrite_all(f->fd, c->buf, aligned_len(c), reached);
        }
    if (rc < 0)
        return rc;
    size_t al = aligned_len(last);
    return last->flush && last->len > al ? pwrite_all(f->fd, last->buf + al, last->len - al, reached) : 0;
}

/* Records of c given up on, when the file holds its bytes up to offset
 * reached.  A chunk answers for its bytes from fresh up to its aligned end
 * -- the rest is carried into the next chunk, which answers for it -- or
 * up to its end if it is a flush, whose successor starts with those bytes
 * as written. */
static uint64_t lost_lines(const chunk *c, off_t reached)
{
    size_t from = c->fresh, to = c->flush ? c->len : aligned_len(c);
    if (reached > c->pos && (size_t)(reached - c->pos) > from)
        from = (size_t)(reached - c->pos);
    return count_lines(c->buf + from, c->buf + to);
}

/* Put chunks back at the head of the queue (under mu). */
static void requeue(sink *s, chunk *head)
{
    chunk *t = head;
    while (t->next)
        t = t->next;
    t->next = s->todo;
    if (!s->todo)
        s->todo_tail = &t->next;
    s->todo = head;
}

/* Before trying a failed write again (under mu): 100 ms, or less if the
 * sink is stopping. */
static void pause_100ms(sink *s)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 100 * 1000 * 1000;
    if (until.tv_nsec >= 1000 * 1000 * 1000) {
        until.tv_sec++;
        until.tv_nsec -= 1000 * 1000 * 1000;
    }
    while (!s->stop && pthread_cond_timedwait(&s->cv, &s->mu, &until) == 0) {
    }
}

/* Chunks in order, contiguous ones together.  A failed write is tried
 * again every 100 ms (a full disk may get room) while records pile up in
 * memory up to the bound, as in buffered mode; at shutdown it is given up
 * and its records counted as lost. */
static void *writer_main(void *arg)
{
    sink *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->todo && !s->stop)
            pthread_cond_wait(&s->cv, &s->mu);
        chunk *c = s->todo;
        if (!c)
            break;
        s->todo = NULL;
        s->todo_tail = &s->todo;
        while (c) {
            size_t n = group_len(c);
            pthread_mutex_unlock(&s->mu);
            off_t reached;
            int rc = write_group(c, n, &reached);
            pthread_mutex_lock(&s->mu);
            if (rc < 0) {
                s->errors++;
                s->last_err = -rc;
                if (!s->stop) {
                    requeue(s, c);
                    pause_100ms(s);
                    break;
                }
            }
            for (size_t i = 0; i < n; i++) {
                chunk *next = c->next;
                if (rc < 0)
                    s->lost += lost_lines(c, reached);
                if (dfile_put(c->f)) {
                    pthread_mutex_unlock(&s->mu);
                    dfile_close(c->f, 1);
                    pthread_mutex_lock(&s->mu);
                }
                c->f = NULL;
                c->next = s->done;
                s->done = c;
                c = next;
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- direct: the reactor side ------------------------------------------- */

/* Take back the chunks the writer is done with; report its errors. */
static void reclaim(sink *s)
{
    pthread_mutex_lock(&s->mu);
    chunk *c = s->done;
    s->done = NULL;
    uint64_t errors = s->errors, lost = s->lost;
    int err = s->last_err;
    pthread_mutex_unlock(&s->mu);
    while (c) {
        chunk *next = c->next;
        if (s->nspare < KEEP_SPARE) {
            c->next = s->spare;
            s->spare = c;
            s->nspare++;
        } else {
            free(c->buf);
            free(c);
            s->nchunks--;
        }
        c = next;
    }
    if (errors != s->errors_seen) {
        write_failed(s, errors - s->errors_seen, err);
        s->errors_seen = errors;
    }
    if (lost != s->lost_seen) {
        bump(s->c.c_lost, lost - s->lost_seen);
        s->lost_seen = lost;
    }
}

/* A free chunk for file f (a reference taken), or NULL at the bound. */
static chunk *chunk_get(sink *s, dfile *f)
{
    chunk *c = s->spare;
    if (!c) {
        reclaim(s);
        c = s->spare;
    }
    if (c) {
        s->spare = c->next;
        s->nspare--;
    } else {
        if (s->nchunks >= s->max_chunks || !(c = calloc(1, sizeof *c)))
            return NULL;
        void *b;
        if (posix_memalign(&b, DALIGN, CHUNK) != 0) {
            free(c);
            return NULL;
        }
        c->buf = b;
        s->nchunks++;
    }
    pthread_mutex_lock(&s->mu);
    f->refs++;
    pthread_mutex_unlock(&s->mu);
    c->f = f;
    c->next = NULL;
    c->flush = 0;
    return c;
}

static void push(sink *s, chunk *c)
{
    c->next = NULL;
    pthread_mutex_lock(&s->mu);
    *s->todo_tail = c;
    s->todo_tail = &c->next;
    if (!s->writer_running && pthread_create(&s->writer, NULL, writer_main, s) == 0)
        s->writer_running = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* The first chunk of a newly opened file: it starts at the block that
 * holds the file's end, whose first bytes the writer reads in. */
static int begin_file(sink *s)
{
    struct stat st;
    chunk *c;
    if (fstat(s->f->fd, &st) < 0 || !(c = chunk_get(s, s->f)))
        return -1;
    c->pos = st.st_size & ~(off_t)(DALIGN - 1);
    c->len = c->unread = c->fresh = (size_t)(st.st_size - c->pos);
    s->cur = c;
    return 0;
}

/* Queue the current chunk for writing (flush: its unaligned tail too) and
 * go on in a new one that starts with that tail.  -1 when no chunk is free
 * (the current one stays). */
static int hand_off(sink *s, int flush)
{
    chunk *c = s->cur, *n = chunk_get(s, c->f);
    if (!n)
        return -1;
    size_t al = c->len & ~(size_t)(DALIGN - 1);
    n->pos = c->pos + (off_t)al;
    n->len = c->len - al;
    n->unread = c->unread > al ? c->unread - al : 0; /* bytes the writer may be reading into c */
    n->fresh = flush ? n->len : n->unread; /* what of it is in the file already */
    memcpy(n->buf + n->unread, c->buf + al + n->unread, n->len - n->unread);
    c->flush = flush;
    push(s, c);
    s->cur = n;
    return 0;
}

static char *reserve_direct(sink *s, size_t n)
{
    s->held = !s->f->locked || s->len;
    if (s->held) /* in order behind what is held already */
        return grow(s, n);
    if (!s->cur && begin_file(s) < 0)
        return NULL;
    if (CHUNK - s->cur->len < n && hand_off(s, 0) < 0)
        return NULL;
    return s->cur->buf + s->cur->len;
}

/* Records held while the file was locked go into chunks, in order; what
 * does not fit stays for the next flush. */
static void unhold(sink *s)
{
    size_t off = 0;
    while (off < s->len && (s->cur || begin_file(s) == 0)) {
        size_t room = CHUNK - s->cur->len, n = s->len - off < room ? s->len - off : room;
        memcpy(s->cur->buf + s->cur->len, s->buf + off, n);
        s->cur->len += n;
        off += n;
        if (s->cur->len == CHUNK && hand_off(s, 0) < 0)
            break;
    }
    memmove(s->buf, s->buf + off, s->len - off);
    s->len -= off;
}

/* Open path for direct writes: 0, or -errno; -EINVAL when the file system
 * has no O_DIRECT or the output is not a regular file. */
static int open_direct(const char *path, dfile **out)
{
    struct stat st;
    dfile *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    f->refs = 1;
    f->dfd = -1;
    /* The O_DIRECT descriptor is opened by name too: it must be the same
     * file (the name may have been replaced in between). */
    int err = 0;
    struct stat dst;
    f->fd = open(path, O_RDWR | OUT_FLAGS, 0644);
    if (f->fd < 0 || fstat(f->fd, &st) < 0)
        err = errno;
    else if (!S_ISREG(st.st_mode))
        err = EINVAL;
    else if ((f->dfd = open(path, O_WRONLY | O_DIRECT | O_NOFOLLOW | O_CLOEXEC)) < 0 || fstat(f->dfd, &dst) < 0)
        err = errno;
    else if (dst.st_ino != st.st_ino || dst.st_dev != st.st_dev)
        err = EINVAL;
    if (err) {
        if (f->dfd >= 0)
            close(f->dfd);
        if (f->fd >= 0)
            close(f->fd);
        free(f);
        return -err;
    }
    f->locked = try_lock(f->fd, F_WRLCK);
    *out = f;
    return 0;
}

/* The reactor lets go of the current file: its last chunk goes to the
 * writer (even with nothing new: the writer, not the reactor, must be the
 * one to fsync and close). */
static void release_file(sink *s)
{
    chunk *c = s->cur;
    dfile *f = s->f;
    s->cur = NULL;
    s->f = NULL;
    pthread_mutex_lock(&s->mu);
    int last = dfile_put(f);
    pthread_mutex_unlock(&s->mu);
    if (c) {
        c->flush = 1;
        push(s, c);
    } else if (last) {
        dfile_close(f, 0); /* no chunk was ever queued for it: nothing of ours to sync */
    }
}

/* ---- the interface ------------------------------------------------------ */

int sink_open(sink **out, const sink_conf *c)
{
    sink *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->c = *c;
    s->fd = -1;
    s->todo_tail = &s->todo;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (c->direct && strcmp(c->path, "-") != 0) {
        int rc = open_direct(c->path, &s->f);
        if (rc == 0) {
            s->direct = 1;
            s->max_chunks = c->max_buffer / CHUNK > MIN_CHUNKS ? c->max_buffer / CHUNK : MIN_CHUNKS;
            *out = s;
            return 0;
        }
        if (rc != -EINVAL) {
            pthread_mutex_destroy(&s->mu);
            pthread_cond_destroy(&s->cv);
            free(s);
            return rc;
        }
        nc_log_listener(c->l, NC_LOG_WARN, "direct_io: %s is not a regular file on a file system with O_DIRECT; "
                        "writing through the page cache", c->path);
    }
    s->fd = open_append(c->path);
    s->cap = 256 * 1024;
    s->buf = malloc(s->cap);
    if (s->fd < 0 || !s->buf) {
        int err = s->fd < 0 ? s->fd : -ENOMEM;
        if (s->fd > 2)
            close(s->fd);
        free(s->buf);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        free(s);
        return err;
    }
    opened_buffered(s);
    *out = s;
    return 0;
}

int sink_is_direct(const sink *s)
{
    return s->direct;
}

char *sink_reserve(sink *s, size_t n)
{
    return s->direct ? reserve_direct(s, n) : reserve_buffered(s, n);
}

void sink_commit(sink *s, size_t used)
{
    if (s->direct && !s->held)
        s->cur->len += used;
    else
        s->len += used;
}

void sink_flush(sink *s)
{
    if (!s->direct) {
        if (s->len)
            flush_buffered(s);
        return;
    }
    reclaim(s);
    if (!s->f->locked)
        s->f->locked = wait_lock(s, s->f->fd, F_WRLCK);
    if (s->f->locked && s->len)
        unhold(s);
    if (s->cur && s->cur->len > s->cur->fresh)
        hand_off(s, 1); /* no chunk free: the next tick tries again */
}

int sink_reopen(sink *s)
{
    if (!s->direct) {
        if (s->fd <= 2)
            return 0;
        flush_buffered(s);
        int fd = open_append(s->c.path);
        if (fd < 0)
            return fd;
        struct stat st;
        if (s->regular && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
            close(fd); /* a FIFO or a device put in the file's place */
            return -EINVAL;
        }
        close(s->fd);
        s->fd = fd;
        opened_buffered(s);
        return 0;
    }
    dfile *nf = NULL;
    int rc = open_direct(s->c.path, &nf);
    if (rc < 0)
        return rc;
    release_file(s);
    s->f = nf;
    return 0;
}

void sink_close(sink *s)
{
    if (s->direct) {
        /* Records still held: the other writer may be finishing (a reload);
         * give it a second. */
        for (int i = 0; s->len && i < 50; i++) {
            reclaim(s);
            if (!s->f->locked)
                s->f->locked = wait_lock(s, s->f->fd, F_WRLCK);
            if (s->f->locked)
                unhold(s);
            if (s->len)
                usleep(20 * 1000);
        }
        if (s->len) {
            uint64_t lost = count_lines(s->buf, s->buf + s->len);
            bump(s->c.c_lost, lost);
            nc_log_listener(s->c.l, NC_LOG_ERROR, "%s stayed locked by another process: %llu records lost",
                            s->c.path, (unsigned long long)lost);
        }
        free(s->buf);
        release_file(s);
        pthread_mutex_lock(&s->mu);
        s->stop = 1;
        pthread_cond_signal(&s->cv);
        int running = s->writer_running;
        pthread_mutex_unlock(&s->mu);
        if (running)
            pthread_join(s->writer, NULL);
        else
            writer_main(s); /* the thread never started: write the queue here, at exit */
        reclaim(s);
        for (chunk *c = s->spare, *next; c; c = next) {
            next = c->next;
            free(c->buf);
            free(c);
        }
    } else {
        for (int i = 0; s->len && !s->locked && i < 50; i++) { /* as above */
            flush_buffered(s);
            if (!s->locked)
                usleep(20 * 1000);
        }
        if (s->len)
            flush_buffered(s);
        bump(s->c.c_lost, count_lines(s->buf, s->buf + s->len)); /* never written now */
        if (s->fd > 2) {
            fsync(s->fd);
            close(s->fd);
        }
        free(s->buf);
    }
    if (s->err_unlogged)
        nc_log_listener(s->c.l, NC_LOG_ERROR, "writing records to %s: %llu failed writes not logged since the last line",
                        s->c.path, (unsigned long long)s->err_unlogged);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
