/* transport.h -- the seam between a stream connection and its descriptor:
 * every byte a connection reads or writes, and its end, go through its
 * transport.  Plain TCP/Unix (transport.c) is the first implementation; TLS
 * is the second, so the contract below follows OpenSSL's rules too.
 *
 * Error convention (the core's internal one): a call returns a count, or a
 * negative errno; -EAGAIN means "not now": the transport has recorded in
 * `want` which readiness it waits for, and the connection asks epoll for it.
 *
 * The contract a caller keeps, for TLS's sake:
 *  - after send returned -EAGAIN or a short count, the next send starts with
 *    the same bytes not yet taken (the output queue only ever appends);
 *  - a send may need the socket readable first (TLS: a renegotiation or a
 *    key update in flight): NC__TP_SEND_WANTS_READ; a recv may need it
 *    writable (NC__TP_RECV_WANTS_WRITE);
 *  - input may be buffered inside the transport once the socket is drained
 *    (TLS: a record read whole, partly handed over): `pending` says how
 *    much, and it must be read before waiting on the socket again;
 *  - a file region goes through sendfile when the transport has it, and
 *    through pread + send otherwise (NULL sendfile, or -ENOSYS from it);
 *  - shutdown may have to send something (TLS: close_notify) and so may
 *    return -EAGAIN; it is bounded by the listener's send timeout. */
#ifndef NC_CORE_TRANSPORT_H
#define NC_CORE_TRANSPORT_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct nc__tp nc__tp;

/* What a transport that returned -EAGAIN waits for, beyond the obvious
 * (recv: readable, send and shutdown: writable). */
enum {
    NC__TP_RECV_WANTS_WRITE = 1u << 0,
    NC__TP_SEND_WANTS_READ = 1u << 1,
};

typedef struct nc__tp_ops {
    const char *name; /* "tcp" (also Unix sockets), "tls" */
    /* Up to n bytes into buf: a count > 0, 0 at the peer's end of stream,
     * or -errno (-EAGAIN: nothing now). */
    ssize_t (*recv)(nc__tp *t, void *buf, size_t n);
    /* Write iov[0..cnt): a count (short when the socket filled), or -errno.
     * more: a file region follows; hold a partial segment back for it. */
    ssize_t (*send)(nc__tp *t, const struct iovec *iov, int cnt, int more);
    /* Up to n bytes of fd from *off (advanced by what was sent): a count,
     * 0 when the file has no more bytes there, or -errno (-ENOSYS: use the
     * fallback from now on).  NULL: always the fallback. */
    ssize_t (*sendfile)(nc__tp *t, int fd, off_t *off, size_t n);
    /* Bytes of input held inside the transport (NULL: never any). */
    size_t (*pending)(const nc__tp *t);
    /* The graceful end, once the last queued byte is sent: 0 when done,
     * -EAGAIN to be called again when `want` is met, -errno on failure
     * (the connection is then closed all the same). */
    int (*shutdown)(nc__tp *t);
    /* Release the descriptor (it leaves the epoll set).  abort: the peer
     * is not reading, so what is still queued in the kernel is dropped
     * (a reset) instead of trickling out. */
    void (*close)(nc__tp *t, int abort);
} nc__tp_ops;

/* A connection's transport: embedded in nc_conn, owned by conn.c, which is
 * the only caller of the ops; the fd is for epoll registration and the
 * ops, nothing else. */
struct nc__tp {
    const nc__tp_ops *ops;
    int fd;
    unsigned want; /* NC__TP_*: set by an op that returned -EAGAIN, cleared by one that made progress */
    void *ctx;     /* the implementation's own state (TLS: the SSL object) */
};

/* Plain TCP and Unix sockets: recv is read(2), send writev(2) or
 * sendmsg(2) with MSG_MORE, sendfile(2), shutdown(SHUT_WR) and a short
 * read-away of what the peer still sent, close(2) with SO_LINGER 0 on
 * abort. */
extern const nc__tp_ops nc__tp_plain;
void nc__tp_init_plain(nc__tp *t, int fd);

#endif
