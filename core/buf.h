/* buf.h -- a connection's byte buffers: the input buffer (what the module has
 * not consumed yet) and the output queue (memory, shared and file items). */
#ifndef NC_CORE_BUF_H
#define NC_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "netcore/netcore.h"
#include "transport.h"

/* Input not yet consumed.  Allocated only while a connection has leftover
 * input, so an idle connection holds no buffer. */
typedef struct nc__inbuf {
    char *data;
    size_t len, cap;
} nc__inbuf;

/* Make room for `need` more bytes; returns 0 or -ENOMEM. */
int nc__inbuf_reserve(nc__inbuf *b, size_t need);
int nc__inbuf_append(nc__inbuf *b, const void *data, size_t len);
/* Drop the first n bytes; frees the storage when it becomes empty. */
void nc__inbuf_consume(nc__inbuf *b, size_t n);
void nc__inbuf_free(nc__inbuf *b);

struct nc_shared {
    uint32_t refs;
    size_t len;
    char data[];
};

typedef struct nc__oitem nc__oitem;

/* Output queue.  Invariant: `bytes` is the sum of what every item has left
 * to send; `mem` counts the heap bytes the queue holds (the figure the
 * max_output_bytes limit and the watermarks are compared with; file
 * regions cost no memory and count only toward `bytes`); `fds` counts the
 * descriptors the queue owns (file regions queued with own set), which the
 * max_queued_files limits are compared with. */
typedef struct nc__outq {
    nc__oitem *head, *tail;
    size_t bytes;
    size_t mem;
    size_t fds;
} nc__outq;

/* What every output queue of this process holds together: the sums of
 * their `mem` and `fds` (the figures the per-worker caps are compared
 * with).  Kept by the queue operations below; read-only elsewhere. */
typedef struct nc__outq_totals {
    size_t mem;
    size_t fds;
} nc__outq_totals;
extern nc__outq_totals nc__outq_total;

int nc__outq_append(nc__outq *q, const void *data, size_t len);
int nc__outq_add_shared(nc__outq *q, nc_shared *s);
/* own: close fd when the item is done or dropped.  On failure an owned fd
 * is closed too, so the caller never has to. */
int nc__outq_add_file(nc__outq *q, int fd, off_t off, size_t len, int own);
/* Write as much as the transport takes, up to about budget bytes.  Returns 0
 * when the queue is empty, 1 when the socket is full and bytes remain, 2
 * when the budget ran out first (bytes remain, the socket may take more),
 * or -errno on a write error.  *written (may be NULL) gets the number of
 * bytes written. */
int nc__outq_flush(nc__outq *q, nc__tp *t, size_t budget, size_t *written);
void nc__outq_clear(nc__outq *q);
/* Release the chunk cache (at exit, so leak checkers see a clean heap). */
void nc__outq_cache_drain(void);

#endif
