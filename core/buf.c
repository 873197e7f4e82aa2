/* buf.c -- input buffers and output queues.  The output queue is a list of
 * items written through the connection's transport (memory and shared
 * items as an iovec, file regions as sendfile or its fallback), in order; small memory chunks are recycled through a bounded cache so that
 * ping-pong traffic does not malloc and free on every message. */
#include "buf.h"
#include "nc_assert.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define INBUF_MIN 4096
#define CHUNK_SIZE 4096  /* default memory chunk (header included) */
#define CHUNK_CACHE_MAX 256
#define IOV_BATCH 64

enum { OI_MEM, OI_SHARED, OI_FILE };

struct nc__oitem {
    nc__oitem *next;
    int kind;
    int own_fd;
    size_t off; /* bytes of this item already written */
    size_t len; /* bytes in the item */
    union {
        struct {
            size_t cap;
            char *data;
        } mem;
        nc_shared *sh;
        struct {
            int fd;
            int no_sendfile; /* the transport's sendfile refused this file: the fallback */
            off_t start;
        } file;
    } u;
};

/* ---- input ---- */

int nc__inbuf_reserve(nc__inbuf *b, size_t need)
{
    if (b->cap - b->len >= need)
        return 0;
    size_t cap = b->cap ? b->cap : INBUF_MIN;
    while (cap - b->len < need) {
        if (cap > SIZE_MAX / 2)
            return -ENOMEM;
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p)
        return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int nc__inbuf_append(nc__inbuf *b, const void *data, size_t len)
{
    int rc = nc__inbuf_reserve(b, len);
    if (rc == 0) {
        memcpy(b->data + b->len, data, len);
        b->len += len;
    }
    return rc;
}

void nc__inbuf_consume(nc__inbuf *b, size_t n)
{
    if (n >= b->len) {
        nc__inbuf_free(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    /* Give back a large buffer once most of it is unused. */
    if (b->cap > 4 * INBUF_MIN && b->len < b->cap / 4) {
        char *p = realloc(b->data, b->cap / 2);
        if (p) {
            b->data = p;
            b->cap /= 2;
        }
    }
}

void nc__inbuf_free(nc__inbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- output items ---- */

nc__outq_totals nc__outq_total;

static nc__oitem *chunk_cache;
static unsigned chunk_cache_n;

static nc__oitem *mem_item(size_t len)
{
    nc__oitem *it;
    size_t room = CHUNK_SIZE - sizeof *it;
    if (len <= room && chunk_cache) {
        it = chunk_cache;
        chunk_cache = it->next;
        chunk_cache_n--;
    } else {
        size_t cap = len <= room ? room : len;
        it = malloc(sizeof *it + cap);
        if (!it)
            return NULL;
        it->u.mem.cap = cap;
        it->u.mem.data = (char *)(it + 1);
    }
    it->next = NULL;
    it->kind = OI_MEM;
    it->own_fd = 0;
    it->off = it->len = 0;
    return it;
}

static void item_free(nc__oitem *it)
{
    switch (it->kind) {
    case OI_MEM:
        if (it->u.mem.cap == CHUNK_SIZE - sizeof *it && chunk_cache_n < CHUNK_CACHE_MAX) {
            it->next = chunk_cache;
            chunk_cache = it;
            chunk_cache_n++;
            return;
        }
        break;
    case OI_SHARED:
        nc_shared_release(it->u.sh);
        break;
    case OI_FILE:
        if (it->own_fd)
            close(it->u.file.fd);
        break;
    }
    free(it);
}

void nc__outq_cache_drain(void)
{
    while (chunk_cache) {
        nc__oitem *it = chunk_cache;
        chunk_cache = it->next;
        free(it);
    }
    chunk_cache_n = 0;
}

static size_t item_mem(const nc__oitem *it)
{
    switch (it->kind) {
    case OI_MEM:
        return it->u.mem.cap;
    case OI_SHARED:
        return it->len;
    default:
        return 0;
    }
}

static void push(nc__outq *q, nc__oitem *it)
{
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    q->bytes += it->len - it->off;
    size_t m = item_mem(it), f = it->own_fd ? 1 : 0;
    q->mem += m;
    q->fds += f;
    nc__outq_total.mem += m;
    nc__outq_total.fds += f;
}

/* An item leaves the queue: its memory and descriptor leave the counts. */
static void unaccount(nc__outq *q, const nc__oitem *it)
{
    size_t m = item_mem(it), f = it->own_fd ? 1 : 0;
    q->mem -= m;
    q->fds -= f;
    nc__outq_total.mem -= m;
    nc__outq_total.fds -= f;
}

int nc__outq_append(nc__outq *q, const void *data, size_t len)
{
    if (len == 0)
        return 0;
    nc__oitem *t = q->tail;
    if (t && t->kind == OI_MEM && t->u.mem.cap - t->len >= len) {
        memcpy(t->u.mem.data + t->len, data, len);
        t->len += len;
        q->bytes += len;
        return 0;
    }
    /* Fill the tail chunk first, then start a new item for the rest. */
    if (t && t->kind == OI_MEM && t->u.mem.cap > t->len) {
        size_t part = t->u.mem.cap - t->len;
        memcpy(t->u.mem.data + t->len, data, part);
        t->len += part;
        q->bytes += part;
        data = (const char *)data + part;
        len -= part;
    }
    nc__oitem *it = mem_item(len);
    if (!it)
        return -ENOMEM;
    memcpy(it->u.mem.data, data, len);
    it->len = len;
    push(q, it);
    return 0;
}

int nc__outq_add_shared(nc__outq *q, nc_shared *s)
{
    if (s->len == 0)
        return 0;
    nc__oitem *it = malloc(sizeof *it);
    if (!it)
        return -ENOMEM;
    it->next = NULL;
    it->kind = OI_SHARED;
    it->own_fd = 0;
    it->off = 0;
    it->len = s->len;
    it->u.sh = s;
    NC_ASSERT(s->refs > 0); /* a released buffer must not be queued */
    s->refs++;
    push(q, it);
    return 0;
}

int nc__outq_add_file(nc__outq *q, int fd, off_t off, size_t len, int own)
{
    if (len == 0) {
        if (own)
            close(fd);
        return 0;
    }
    nc__oitem *it = malloc(sizeof *it);
    if (!it) {
        if (own)
            close(fd);
        return -ENOMEM;
    }
    it->next = NULL;
    it->kind = OI_FILE;
    it->own_fd = own;
    it->off = 0;
    it->len = len;
    it->u.file.fd = fd;
    it->u.file.no_sendfile = 0;
    it->u.file.start = off;
    push(q, it);
    return 0;
}

/* The queue's invariant (buf.h): `bytes` is what its items have left, the
 * tail is the last item, every item's offset is within it.  A walk of the
 * queue, so only in debug and sanitizer builds. */
static int outq_consistent(const nc__outq *q)
{
    size_t sum = 0, n = 0;
    const nc__oitem *last = NULL;
    for (const nc__oitem *it = q->head; it; it = it->next) {
        if (it->off > it->len || (it->kind == OI_SHARED && it->u.sh->refs == 0))
            return 0;
        sum += it->len - it->off;
        last = it;
        if (++n == 256) /* a long backlog: checked up to here, not walked whole on every write */
            return sum <= q->bytes && q->tail != NULL && q->tail->next == NULL;
    }
    return sum == q->bytes && last == q->tail && (q->head != NULL) == (q->tail != NULL);
}

/* Drop fully written items from the head; `n` bytes were written. */
static void advance(nc__outq *q, size_t n)
{
    NC_ASSERT(n <= q->bytes);
    q->bytes -= n;
    while (n > 0 && q->head) { /* n never exceeds what is queued */
        nc__oitem *it = q->head;
        size_t left = it->len - it->off;
        if (n < left) {
            it->off += n;
            return;
        }
        n -= left;
        q->head = it->next;
        if (!q->head)
            q->tail = NULL;
        unaccount(q, it);
        item_free(it);
    }
}

/* A file region through the transport's sendfile, or read and sent where
 * the transport has none (TLS without kernel offload) or the file cannot be
 * sendfile'd: a bounce buffer, read again from the region's position at
 * every call, so a short send costs a re-read rather than a held copy, and
 * a retried send starts with the same bytes (transport.h). */
static ssize_t send_file(nc__tp *t, nc__oitem *it, size_t *want)
{
    static char bounce[65536];
    off_t pos = it->u.file.start + (off_t)it->off;
    if (t->ops->sendfile && !it->u.file.no_sendfile) {
        ssize_t n = t->ops->sendfile(t, it->u.file.fd, &pos, *want);
        if (n != -ENOSYS)
            return n;
        it->u.file.no_sendfile = 1;
    }
    if (*want > sizeof bounce)
        *want = sizeof bounce;
    ssize_t r;
    do
        r = pread(it->u.file.fd, bounce, *want, pos);
    while (r < 0 && errno == EINTR);
    if (r <= 0)
        return r < 0 ? -errno : 0;
    *want = (size_t)r; /* what a send of all of it would write: less is a full socket */
    struct iovec iov = {bounce, (size_t)r};
    return t->ops->send(t, &iov, 1, 0);
}

int nc__outq_flush(nc__outq *q, nc__tp *t, size_t budget, size_t *written)
{
    size_t total = 0;
    int rc = 0;
    while (q->head) {
        if (total >= budget) {
            rc = 2;
            break;
        }
        nc__oitem *it = q->head;
        ssize_t n;
        size_t want;
        if (it->kind == OI_FILE) {
            want = it->len - it->off;
            if (want > budget - total)
                want = budget - total;
            n = send_file(t, it, &want);
            if (n == 0) {
                /* The file shrank under us: the promised bytes cannot be
                 * sent, and the peer would wait forever for them. */
                rc = -EIO;
                break;
            }
        } else {
            struct iovec iov[IOV_BATCH];
            int cnt = 0;
            nc__oitem *p = it;
            want = 0;
            for (; p && p->kind != OI_FILE && cnt < IOV_BATCH; p = p->next) {
                char *base = p->kind == OI_MEM ? p->u.mem.data : p->u.sh->data;
                iov[cnt].iov_base = base + p->off;
                iov[cnt].iov_len = p->len - p->off;
                want += iov[cnt].iov_len;
                cnt++;
            }
            n = t->ops->send(t, iov, cnt, p && p->kind == OI_FILE);
        }
        if (n < 0) {
            rc = n == -EAGAIN ? 1 : (int)n;
            break;
        }
        NC_ASSERT((size_t)n <= want);
        advance(q, (size_t)n);
        NC_ASSERT(outq_consistent(q));
        total += (size_t)n;
        if ((size_t)n < want) {
            rc = 1; /* the socket buffer is full; EPOLLOUT will tell */
            break;
        }
    }
    if (written)
        *written = total;
    if (rc == 0 && q->head)
        rc = 1;
    return rc;
}

void nc__outq_clear(nc__outq *q)
{
    nc__oitem *it = q->head;
    while (it) {
        nc__oitem *next = it->next;
        unaccount(q, it);
        item_free(it);
        it = next;
    }
    q->head = q->tail = NULL;
    q->bytes = 0;
}

/* ---- shared buffers (public API) ---- */

nc_shared *nc_shared_new(const void *data, size_t len)
{
    nc_shared *s = malloc(sizeof *s + len);
    if (!s)
        return NULL;
    s->refs = 1;
    s->len = len;
    if (data && len)
        memcpy(s->data, data, len);
    return s;
}

char *nc_shared_data(nc_shared *s)
{
    return s->data;
}

size_t nc_shared_len(const nc_shared *s)
{
    return s->len;
}

void nc_shared_release(nc_shared *s)
{
    if (!s)
        return;
    NC_ASSERT(s->refs > 0); /* released more often than referenced */
    if (--s->refs == 0)
        free(s);
}
