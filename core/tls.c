/* tls.c -- TLS on stream listeners with OpenSSL: each TLS listener's
 * SSL_CTX, built before a process drops its privileges (keys may be
 * readable by root alone), and the TLS transport (transport.h's second
 * implementation): non-blocking SSL_read/SSL_write whose WANT_READ and
 * WANT_WRITE drive the connection's epoll interest, a handshake deadline,
 * a bound on concurrent handshakes, and close_notify on a graceful end. */
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

/* ---- contexts, one per TLS listener (index as in the config) ---- */

static SSL_CTX **ctxs;
static size_t nctxs;

/* Ticket keys: a name, an HMAC secret and an AES key (16 + 32 + 32),
 * made by the master and inherited by every worker it forks. */
static unsigned char ticket_keys[80];
static int have_ticket_keys;

int nc__tls_master_init(void)
{
    if (RAND_bytes(ticket_keys, sizeof ticket_keys) != 1)
        return -1;
    have_ticket_keys = 1;
    return 0;
}

/* The reason of OpenSSL's last error, for a message; the queue is
 * emptied so the next message does not inherit it. */
static const char *ssl_reason(char *buf, size_t n)
{
    unsigned long e = ERR_peek_error(); /* the first: the cause, not its consequences */
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    snprintf(buf, n, "%s", r ? r : "unknown error");
    ERR_clear_error();
    return buf;
}

static int alpn_select(SSL *s, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned inlen, void *arg)
{
    (void)s;
    const nc__tlsconf *t = arg;
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, t->alpn, (unsigned)t->alpn_len, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL; /* RFC 7301 3.2: no protocol in common */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* A PEM file OpenSSL is about to read: its own errors say "no such file"
 * as "system lib"; the errno text, with the path, is what helps. */
static int readable_file(const char *path, char *why, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, n, "%s: %s", path, strerror(errno));
        return 0;
    }
    fclose(f);
    return 1;
}

static SSL_CTX *ctx_new(const nc__config *cfg, const nc__lconf *lc, char *err, size_t errlen)
{
    const nc__tlsconf *t = &lc->tls;
    char why[512], r[256];
    const char *key = NULL;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snprintf(err, errlen, "%s: listeners[%d].tls: %s", cfg->path, lc->index, ssl_reason(r, sizeof r));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, t->min_version);
    SSL_CTX_set_max_proto_version(ctx, t->max_version);
    /* No renegotiation (a client-initiated one is a cheap way to make the
     * server do handshakes), no compression (CRIME), the server's order of
     * ciphers, and a peer that closes without close_notify is an ordinary
     * end of stream, not an error. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* Partial writes and a moving buffer: the output queue offers the same
     * bytes again after WANT_WRITE, but not always at the same address or
     * with the same length (more may have been queued behind them).
     * RELEASE_BUFFERS: an idle connection holds no 16 KiB record buffers. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    if (!readable_file(t->cert_path, why, sizeof why)) {
        key = "cert";
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, t->cert_path) != 1) {
        snprintf(why, sizeof why, "%s: not a PEM certificate chain (%s)", t->cert_path, ssl_reason(r, sizeof r));
        key = "cert";
        goto fail;
    }
    if (!readable_file(t->key_path, why, sizeof why)) {
        key = "key";
        goto fail;
    }
    ERR_clear_error();
    int krc = SSL_CTX_use_PrivateKey_file(ctx, t->key_path, SSL_FILETYPE_PEM);
    if (krc != 1 && ERR_GET_REASON(ERR_peek_error()) == X509_R_KEY_VALUES_MISMATCH) {
        ERR_clear_error();
        snprintf(why, sizeof why, "%s: the key does not match the certificate in %s", t->key_path, t->cert_path);
        key = "key";
        goto fail;
    }
    if (krc != 1) {
        snprintf(why, sizeof why, "%s: not a PEM private key (%s)", t->key_path, ssl_reason(r, sizeof r));
        key = "key";
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        snprintf(why, sizeof why, "%s: the key does not match the certificate in %s", t->key_path, t->cert_path);
        key = "key";
        goto fail;
    }
    if (t->ciphers && SSL_CTX_set_cipher_list(ctx, t->ciphers) != 1) {
        snprintf(why, sizeof why, "\"%s\": %s", t->ciphers, ssl_reason(r, sizeof r));
        key = "ciphers";
        goto fail;
    }
    if (t->ciphersuites && SSL_CTX_set_ciphersuites(ctx, t->ciphersuites) != 1) {
        snprintf(why, sizeof why, "\"%s\": %s", t->ciphersuites, ssl_reason(r, sizeof r));
        key = "ciphersuites";
        goto fail;
    }
    if (t->alpn)
        SSL_CTX_set_alpn_select_cb(ctx, alpn_select, (void *)t);
    if (have_ticket_keys)
        SSL_CTX_set_tlsext_ticket_keys(ctx, ticket_keys, sizeof ticket_keys);
    /* A stateful cache would be per worker; tickets resume everywhere. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    return ctx;
fail:
    snprintf(err, errlen, "%s: listeners[%d].tls.%s: %s", cfg->path, lc->index, key, why);
    SSL_CTX_free(ctx);
    return NULL;
}

int nc__tls_load(const nc__config *cfg, char *err, size_t errlen)
{
    nc__tls_unload();
    ctxs = calloc(cfg->nlisteners ? cfg->nlisteners : 1, sizeof *ctxs);
    if (!ctxs) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    nctxs = cfg->nlisteners;
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        if (!cfg->listeners[i].tls.on)
            continue;
        ctxs[i] = ctx_new(cfg, &cfg->listeners[i], err, errlen);
        if (!ctxs[i]) {
            nc__tls_unload();
            return -1;
        }
    }
    return 0;
}

void nc__tls_unload(void)
{
    for (size_t i = 0; i < nctxs; i++)
        SSL_CTX_free(ctxs[i]);
    free(ctxs);
    ctxs = NULL;
    nctxs = 0;
}

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
        ssl_reason(r, sizeof r);
        if (t->deadline) {
            l->tls_handshake_failures++;
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

/* The iovec's first bytes, up to one record's worth, in one SSL_write:
 * a record per small item would cost a record header and a MAC each. */
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
    size_t put = 0;
    tp->want &= ~NC__TP_SEND_WANTS_READ;
    ERR_clear_error();
    int rc = SSL_write_ex(t->ssl, p, len, &put);
    if (rc == 1) {
        progress(t);
        return (ssize_t)put;
    }
    return failed(tp, t, rc, 0);
}

static size_t tls_pending(const nc__tp *tp)
{
    const tls_conn *t = tp->ctx;
    return (size_t)SSL_pending(t->ssl);
}

/* close_notify, once the last byte is out; the peer's answer is not
 * waited for (RFC 8446 6.1 allows closing the write side alone). */
static int tls_shutdown(nc__tp *tp)
{
    tls_conn *t = tp->ctx;
    if (!SSL_is_init_finished(t->ssl))
        return nc__tp_plain.shutdown(tp); /* nothing agreed yet: no close_notify to send */
    ERR_clear_error();
    int rc = SSL_shutdown(t->ssl);
    if (rc < 0) {
        int e = SSL_get_error(t->ssl, rc);
        if (e == SSL_ERROR_WANT_WRITE)
            return -EAGAIN;
        if (e == SSL_ERROR_WANT_READ) {
            tp->want |= NC__TP_SEND_WANTS_READ;
            return -EAGAIN;
        }
        ERR_clear_error();
    }
    return nc__tp_plain.shutdown(tp); /* FIN, and the read-away of what the peer still sent */
}

static void tls_close(nc__tp *tp, int abort)
{
    tls_conn *t = tp->ctx;
    handshake_done(t);
    SSL_free(t->ssl);
    free(t);
    tp->ctx = NULL;
    nc__tp_plain.close(tp, abort);
}

const nc__tp_ops nc__tp_tls = {
    .name = "tls",
    .recv = tls_recv,
    .send = tls_send,
    .sendfile = NULL, /* the queue's pread + send fallback: no kernel TLS yet */
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
    if ((size_t)l->conf->index >= nctxs || !ctxs[l->conf->index])
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
    t->ssl = SSL_new(ctxs[l->conf->index]);
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
