/* tls.c -- the TLS transport (transport.h's second implementation) over the
 * listeners' contexts of tlsctx.c: non-blocking SSL_read/SSL_write whose
 * WANT_READ and WANT_WRITE drive the connection's epoll interest, a
 * handshake deadline, a bound on concurrent handshakes, failures counted
 * by reason, close_notify on a graceful end, and SSL_sendfile where the
 * kernel took the connection's TLS over. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core.h"
#include "log.h"
#include "tls.h"

/* ---- the transport ---- */

/* A TLS connection's state (nc__tp.ctx). */
typedef struct tls_conn {
    SSL *ssl;
    nc_conn *c;
    nc_timer *deadline; /* the handshake's, until it is done */
} tls_conn;

/* Handshakes in progress in this worker (max_handshakes bounds them). */
static size_t handshaking;

static void handshake_done(tls_conn *t)
{
    if (!t->deadline)
        return;
    nc_timer_stop(t->deadline);
    t->deadline = NULL;
    handshaking--;
}

/* After every successful call: the handshake is over once OpenSSL says
 * so (it may finish inside a read or a write). */
static void progress(tls_conn *t)
{
    if (t->deadline && SSL_is_init_finished(t->ssl)) {
        handshake_done(t);
        t->c->l->tls_handshakes++;
        t->c->l->tls_resumed += SSL_session_reused(t->ssl) == 1;
#ifndef OPENSSL_NO_KTLS
        /* The kernel took the sending side over (SSL_OP_ENABLE_KTLS, a
         * cipher it offloads): files can go out with SSL_sendfile. */
        if (BIO_get_ktls_send(SSL_get_wbio(t->ssl)))
            t->c->tp.ops = &nc__tp_ktls;
#endif
    }
}

/* Why a handshake failed, for its counter: the peer does not speak TLS,
 * nothing in common (version, cipher, ALPN, signature), or its
 * certificate (missing, or not signed by client_ca). */
static void count_failure(nc_listener *l, unsigned long code)
{
    int r = ERR_GET_REASON(code);
    l->tls_handshake_failures++;
    switch (r) {
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_RECORD_LENGTH_MISMATCH:
    case SSL_R_UNEXPECTED_RECORD:
    case SSL_R_UNEXPECTED_MESSAGE:
    case SSL_R_LENGTH_MISMATCH:
    case SSL_R_BAD_PACKET_LENGTH:
        l->tls_fail_not_tls++;
        break;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_VERSION_TOO_HIGH:
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_SHARED_GROUPS:
    case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
    case SSL_R_NO_APPLICATION_PROTOCOL:
    case SSL_R_INAPPROPRIATE_FALLBACK:
        l->tls_fail_negotiation++;
        break;
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    case SSL_R_NO_CERTIFICATES_RETURNED:
        l->tls_fail_client_cert++;
        break;
    default:
        break;
    }
}

/* What SSL_get_error says, in the transport's terms: -EAGAIN with `want`
 * set, 0 for the peer's end, or a negative errno after counting and (rate
 * limited) saying why. */
static ssize_t failed(nc__tp *tp, tls_conn *t, int rc, int reading)
{
    int e = SSL_get_error(t->ssl, rc);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        if (!reading)
            tp->want |= NC__TP_SEND_WANTS_READ;
        return -EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        if (reading)
            tp->want |= NC__TP_RECV_WANTS_WRITE;
        return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0; /* close_notify, or (SSL_OP_IGNORE_UNEXPECTED_EOF) a plain close */
    case SSL_ERROR_SYSCALL: {
        int se = errno;
        ERR_clear_error();
        return se ? -se : 0;
    }
    default: {
        static nc__ratelimit lm;
        char r[256];
        nc_listener *l = t->c->l;
        unsigned long code = ERR_peek_error();
        nc__tls_reason(r, sizeof r);
        if (t->deadline) {
            count_failure(l, code);
            if (nc__log_allow(&lm, nc_now_ms(), 20, 1000)) {
                const char *hint = ERR_GET_REASON(code) == SSL_R_HTTP_REQUEST ? " (plain HTTP sent to a TLS listener)"
                                   : ERR_GET_REASON(code) == SSL_R_WRONG_VERSION_NUMBER
                                       ? " (not TLS, or a version this listener does not accept)"
                                       : "";
                nc__log(NC_LOG_INFO, l->name, t->c->id, "TLS handshake with %s failed: %s%s", nc_conn_peer_str(t->c), r,
                        hint);
            }
        } else if (nc__log_allow(&lm, nc_now_ms(), 20, 1000)) {
            nc__log(NC_LOG_INFO, l->name, t->c->id, "TLS: %s; closing", r);
        }
        l->errors++;
        return -EPROTO;
    }
    }
}

static ssize_t tls_recv(nc__tp *tp, void *buf, size_t n)
{
    tls_conn *t = tp->ctx;
    size_t got = 0;
    tp->want &= ~NC__TP_RECV_WANTS_WRITE;
    ERR_clear_error();
    int rc = SSL_read_ex(t->ssl, buf, n, &got);
    /* A handshake can finish inside any read: one that returns data, one
     * with nothing more yet, or one that meets the peer's end right after
     * its Finished. */
    progress(t);
    return rc == 1 ? (ssize_t)got : failed(tp, t, rc, 1);
}

/* The iovec's first bytes: small items gathered into one record (a record
 * per small item would cost a record header and a MAC each), a large one
 * written record after record until the socket is full.  With partial
 * writes SSL_write_ex returns after one record, and a count short of the
 * bytes offered tells the queue the socket is full (transport.h): so one
 * call per record would wait for EPOLLOUT, and re-read the file's bounce
 * buffer, every 16 KiB.  What a WANT_WRITE leaves pending inside OpenSSL
 * starts the bytes the queue offers again. */
static ssize_t tls_send(nc__tp *tp, const struct iovec *iov, int cnt, int more)
{
    (void)more;
    tls_conn *t = tp->ctx;
    static char rec[16384];
    const void *p = iov[0].iov_base;
    size_t len = iov[0].iov_len;
    if (cnt > 1 && len < sizeof rec) {
        len = 0;
        for (int i = 0; i < cnt && len < sizeof rec; i++) {
            size_t k = iov[i].iov_len < sizeof rec - len ? iov[i].iov_len : sizeof rec - len;
            memcpy(rec + len, iov[i].iov_base, k);
            len += k;
        }
        p = rec;
    }
    size_t done = 0;
    tp->want &= ~NC__TP_SEND_WANTS_READ;
    while (done < len) {
        size_t put = 0;
        ERR_clear_error();
        int rc = SSL_write_ex(t->ssl, (const char *)p + done, len - done, &put);
        if (rc != 1) {
            if (done == 0)
                return failed(tp, t, rc, 0);
            /* Records went out before the socket filled: report them, and
             * let the next call meet the WANT_WRITE (or the error) again. */
            ERR_clear_error();
            break;
        }
        progress(t);
        done += put;
    }
    return (ssize_t)done;
}

/* Input OpenSSL holds: plaintext of a record already opened, or (read
 * ahead) bytes of further records read from the socket, which epoll will
 * not announce again: either is read at the next turn.  Some bytes of a
 * record still incomplete count too; that read meets EAGAIN and waits. */
static size_t tls_pending(const nc__tp *tp)
{
    const tls_conn *t = tp->ctx;
    int n = SSL_pending(t->ssl);
    return n > 0 ? (size_t)n : (size_t)SSL_has_pending(t->ssl);
}

/* close_notify, once the last byte is out; the peer's answer is not
 * waited for (RFC 8446 6.1 allows closing the write side alone). */
static int tls_shutdown(nc__tp *tp)
{
    tls_conn *t = tp->ctx;
    if (!SSL_is_init_finished(t->ssl))
        return nc__tp_plain.shutdown(tp); /* nothing agreed yet: no close_notify to send */
    ERR_clear_error();
    int rc = SSL_shutdown(t->ssl), err = errno;
    if (rc < 0) {
        int e = SSL_get_error(t->ssl, rc);
        if (e == SSL_ERROR_WANT_WRITE)
            return -EAGAIN;
        if (e == SSL_ERROR_WANT_READ) {
            tp->want |= NC__TP_SEND_WANTS_READ;
            return -EAGAIN;
        }
        ERR_clear_error();
        /* The close_notify met a reset or a closed socket (a client that
         * hangs up right after its own close_notify): the peer is gone, so
         * no FIN and no read-away, two system calls that could only fail. */
        if (e == SSL_ERROR_SYSCALL && (err == EPIPE || err == ECONNRESET))
            return -err;
    }
    return nc__tp_plain.shutdown(tp); /* FIN, and the read-away of what the peer still sent */
}

static void tls_close(nc__tp *tp, int abort)
{
    tls_conn *t = tp->ctx;
    handshake_done(t);
    /* The peer ended cleanly (close_notify, or a plain EOF, which
     * SSL_OP_IGNORE_UNEXPECTED_EOF reads as one) and the core closes
     * without a close_notify of its own (the peer is gone): mark the
     * session shut down properly all the same, or SSL_free drops it from
     * the session cache as if the connection had failed. */
    if (!abort && (SSL_get_shutdown(t->ssl) & SSL_RECEIVED_SHUTDOWN))
        SSL_set_shutdown(t->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(t->ssl);
    free(t);
    tp->ctx = NULL;
    nc__tp_plain.close(tp, abort);
}

const nc__tp_ops nc__tp_tls = {
    .name = "tls",
    .recv = tls_recv,
    .send = tls_send,
    .sendfile = NULL, /* the queue's pread + send fallback: OpenSSL encrypts */
    .pending = tls_pending,
    .shutdown = tls_shutdown,
    .close = tls_close,
};

#ifndef OPENSSL_NO_KTLS
/* A file region with the kernel encrypting it: no copy through user
 * space.  A failure other than "not now" makes the queue fall back to
 * read + write for the rest of that file. */
static ssize_t ktls_sendfile(nc__tp *tp, int fd, off_t *off, size_t n)
{
    tls_conn *t = tp->ctx;
    tp->want &= ~NC__TP_SEND_WANTS_READ;
    ERR_clear_error();
    ossl_ssize_t rc = SSL_sendfile(t->ssl, fd, *off, n, 0);
    if (rc > 0) {
        *off += rc;
        return rc;
    }
    int e = SSL_get_error(t->ssl, (int)rc);
    ERR_clear_error();
    if (e == SSL_ERROR_WANT_WRITE)
        return -EAGAIN;
    if (rc == 0)
        return 0;
    return errno == EAGAIN ? -EAGAIN : -ENOSYS;
}
#endif

const nc__tp_ops nc__tp_ktls = {
    .name = "ktls",
    .recv = tls_recv,
    .send = tls_send,
#ifndef OPENSSL_NO_KTLS
    .sendfile = ktls_sendfile,
#endif
    .pending = tls_pending,
    .shutdown = tls_shutdown,
    .close = tls_close,
};

static void handshake_expired(nc_timer *tm, void *arg)
{
    (void)tm;
    static nc__ratelimit lm;
    tls_conn *t = arg;
    nc_listener *l = t->c->l;
    t->deadline = NULL; /* a one-shot timer is freed after this callback */
    handshaking--;
    l->tls_handshake_timeouts++;
    if (nc__log_allow(&lm, nc_now_ms(), 20, 1000))
        nc__log(NC_LOG_INFO, l->name, t->c->id, "TLS handshake with %s not done within handshake_timeout_ms (%lld); closing",
                nc_conn_peer_str(t->c), l->conf->tls.handshake_timeout_ms);
    nc_close(t->c, NC_CLOSE_ABORT);
}

int nc__tls_attach(nc_conn *c)
{
    nc_listener *l = c->l;
    const nc__tlsconf *cf = &l->conf->tls;
    SSL_CTX *ctx = nc__tls_ctx(l->conf->index);
    if (!ctx)
        return -EINVAL;
    if (handshaking >= (size_t)cf->max_handshakes) {
        static nc__ratelimit lm;
        l->tls_handshakes_refused++;
        if (nc__log_allow(&lm, nc_now_ms(), 1, 1000))
            nc__log(NC_LOG_WARN, l->name, 0,
                    "%zu TLS handshakes in progress reach max_handshakes (%lld): refusing new connections",
                    handshaking, cf->max_handshakes);
        return -EBUSY;
    }
    tls_conn *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->c = c;
    t->ssl = SSL_new(ctx);
    if (!t->ssl || SSL_set_fd(t->ssl, c->tp.fd) != 1) {
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return -ENOMEM;
    }
    t->deadline = nc_timer_start((uint64_t)cf->handshake_timeout_ms, 0, handshake_expired, t);
    if (!t->deadline) {
        SSL_free(t->ssl);
        free(t);
        return -ENOMEM;
    }
    handshaking++;
    SSL_set_accept_state(t->ssl);
    c->tp.ops = &nc__tp_tls;
    c->tp.ctx = t;
    return 0;
}
