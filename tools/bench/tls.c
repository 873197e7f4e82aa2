/* tls.c -- netcore-bench's TLS client (OpenSSL 3): the run's context from
 * --tls and its options, the non-blocking handshake, reads and writes the
 * loop drives through epoll, --resume's sessions, and one blocking side
 * connection for questions asked before a run. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

/* A session the server gave: kept in the connection's slot (replacing the
 * older one), so the next handshake of that slot can offer it.  The slot
 * owns the reference (returning 1 keeps it). */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    bconn *c = SSL_get_app_data(ssl);
    if (!c)
        return 0; /* the side connection keeps nothing */
    if (c->sess)
        SSL_SESSION_free(c->sess);
    c->sess = sess;
    c->tls_new_sess = 1;
    return 1;
}

static int is_ip(const char *s)
{
    unsigned char b[16];
    return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

/* ALPN's wire format from "h2,http/1.1": each name prefixed by its length.
 * Returns the length, or -1 for an empty or too long name. */
static int alpn_wire(const char *list, unsigned char *out, size_t cap)
{
    size_t len = 0;
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n == 0 || n > 255 || len + 1 + n > cap)
            return -1;
        out[len++] = (unsigned char)n;
        memcpy(out + len, p, n);
        len += n;
        p += n + (p[n] == ',');
    }
    return len ? (int)len : -1;
}

/* OpenSSL's reason for the last error, or what fallback says. */
static const char *last_reason(const char *fallback)
{
    const char *r = ERR_reason_error_string(ERR_peek_last_error());
    return r ? r : fallback;
}

static int ctx_versions(SSL_CTX *ctx, const char *v)
{
    int lo = TLS1_2_VERSION, hi = TLS1_3_VERSION;
    if (v && !strcmp(v, "1.2"))
        hi = TLS1_2_VERSION;
    else if (v && !strcmp(v, "1.3"))
        lo = TLS1_3_VERSION;
    else if (v) {
        fprintf(stderr, "netcore-bench: --tls-version \"%s\": expected 1.2 or 1.3\n", v);
        return -1;
    }
    SSL_CTX_set_min_proto_version(ctx, lo);
    SSL_CTX_set_max_proto_version(ctx, hi);
    return 0;
}

static int ctx_verify(SSL_CTX *ctx, const opts *o)
{
    if (o->insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        return 0;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (!o->cacert)
        return SSL_CTX_set_default_verify_paths(ctx) == 1 ? 0 : -1;
    if (access(o->cacert, R_OK) < 0) {
        fprintf(stderr, "netcore-bench: --cacert %s: %s\n", o->cacert, strerror(errno));
        return -1;
    }
    if (SSL_CTX_load_verify_locations(ctx, o->cacert, NULL) != 1) {
        fprintf(stderr, "netcore-bench: --cacert %s: %s\n", o->cacert, last_reason("no certificate in it"));
        return -1;
    }
    return 0;
}

/* The run's context; nothing without --tls.  Returns -1 with the option at
 * fault named. */
int tls_ctx_new(run *r)
{
    const opts *o = r->o;
    if (!o->tls)
        return 0;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        fprintf(stderr, "netcore-bench: TLS: %s\n", last_reason("cannot create a context"));
        return -1;
    }
    /* A write that must wait is repeated with the same bytes, which bc_send
     * may have moved (realloc, compaction): OpenSSL allows that with
     * ACCEPT_MOVING_WRITE_BUFFER.  A server leaving without close_notify is
     * an ordinary close. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    unsigned char alpn[512];
    int alen = o->alpn ? alpn_wire(o->alpn, alpn, sizeof alpn) : 0;
    int bad = ctx_versions(ctx, o->tls_version) < 0 || ctx_verify(ctx, o) < 0;
    if (!bad && o->tls_ciphers && SSL_CTX_set_cipher_list(ctx, o->tls_ciphers) != 1) {
        fprintf(stderr, "netcore-bench: --tls-ciphers \"%s\": no cipher OpenSSL knows\n", o->tls_ciphers);
        bad = 1;
    }
    if (!bad && o->tls_ciphersuites && SSL_CTX_set_ciphersuites(ctx, o->tls_ciphersuites) != 1) {
        fprintf(stderr, "netcore-bench: --tls-ciphersuites \"%s\": not TLS 1.3 suites OpenSSL knows\n",
                o->tls_ciphersuites);
        bad = 1;
    }
    if (!bad && alen < 0) {
        fprintf(stderr, "netcore-bench: --alpn \"%s\": expected names of 1 to 255 bytes, comma-separated\n",
                o->alpn);
        bad = 1;
    }
    if (!bad && alen > 0 && SSL_CTX_set_alpn_protos(ctx, alpn, (unsigned)alen) != 0)
        bad = 1;
    if (bad) {
        SSL_CTX_free(ctx);
        return -1;
    }
    if (o->resume) {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    }
    r->tls = ctx;
    return 0;
}

/* Frees the context and the sessions the slots kept. */
void tls_ctx_free(run *r)
{
    for (int i = 0; i < r->nconns; i++)
        if (r->conns[i].sess) {
            SSL_SESSION_free(r->conns[i].sess);
            r->conns[i].sess = NULL;
        }
    SSL_CTX_free(r->tls);
    r->tls = NULL;
}

/* The name the handshake sends (SNI: never an IP) and checks: --sni, else
 * the target's host; an IP is checked against the certificate's IP names. */
static const char *checked_name(const run *r)
{
    return r->o->sni ? r->o->sni : r->t->host;
}

static SSL *new_ssl(run *r, int fd)
{
    SSL *ssl = SSL_new(r->tls);
    if (!ssl)
        return NULL;
    SSL_set_fd(ssl, fd);
    const char *name = checked_name(r);
    if (name && *name) {
        if (!is_ip(name))
            SSL_set_tlsext_host_name(ssl, name);
        if (!r->o->insecure) {
            if (is_ip(name))
                X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name);
            else
                SSL_set1_host(ssl, name);
        }
    }
    SSL_set_connect_state(ssl);
    return ssl;
}

int tls_begin(run *r, bconn *c)
{
    c->ssl = new_ssl(r, c->fd);
    if (!c->ssl) {
        bc_error(r, c, ERR_CONNECT, "TLS: out of memory");
        return -1;
    }
    SSL_set_app_data(c->ssl, c);
    if (r->o->resume && c->sess)
        SSL_set_session(c->ssl, c->sess);
    c->tls_hs_want_out = 1; /* the ClientHello */
    return 0;
}

/* Why a handshake failed, into why; returns 1 when it was the certificate
 * (a wrong --cacert or name will not get better by retrying). */
static int hs_why(run *r, SSL *ssl, int rc, char *why, size_t n)
{
    int e = SSL_get_error(ssl, rc);
    long v = SSL_get_verify_result(ssl);
    if (!r->o->insecure && v != X509_V_OK) {
        const char *name = checked_name(r);
        snprintf(why, n, "TLS handshake failed: certificate verify failed: %s (name checked: %s; CA: %s)",
                 X509_verify_cert_error_string(v), name && *name ? name : "none",
                 r->o->cacert ? r->o->cacert : "the system's store");
        return 1;
    }
    if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
        snprintf(why, n, "TLS handshake failed: %s",
                 errno && rc < 0 ? strerror(errno) : "the server closed the connection");
    else
        snprintf(why, n, "TLS handshake failed: %s", last_reason("unknown error"));
    return 0;
}

int tls_handshake(run *r, bconn *c)
{
    ERR_clear_error();
    errno = 0;
    int rc = SSL_do_handshake(c->ssl);
    if (rc == 1) {
        c->tls_hs_want_out = 0;
        if (r->measuring)
            (*(SSL_session_reused(c->ssl) ? &r->res->hs_resumed : &r->res->hs_full))++;
        return 1;
    }
    int e = SSL_get_error(c->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        c->tls_hs_want_out = e == SSL_ERROR_WANT_WRITE;
        return 0;
    }
    char why[512];
    if (hs_why(r, c->ssl, rc, why, sizeof why)) {
        /* Said whatever -q is, once, and the target's run stops. */
        if (!r->stop)
            fprintf(stderr, "netcore-bench: %s: %s; stopping (give the server's CA with --cacert FILE, "
                            "or --insecure)\n", r->t->name, why);
        r->stop = 1;
        r->res->err_connect++;
        bc_reconnect(r, c); /* closes: the run is stopping */
        return -1;
    }
    bc_error(r, c, ERR_CONNECT, why);
    return -1;
}

/* What a failed read or write says. */
static void io_why(SSL *ssl, int rc, char *why, size_t n)
{
    int e = SSL_get_error(ssl, rc);
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && errno == 0))
        snprintf(why, n, "the server closed the connection");
    else if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
        snprintf(why, n, "%s", strerror(errno));
    else
        snprintf(why, n, "TLS: %s", last_reason("unknown error"));
}

long tls_write(run *r, bconn *c, const char *p, size_t n)
{
    /* After WANT_*, OpenSSL needs the same bytes again: the same length
     * (the buffer only grows behind them, so they are still there). */
    if (c->tls_wlen)
        n = c->tls_wlen;
    else if (n > INT_MAX)
        n = 1u << 30;
    ERR_clear_error();
    errno = 0;
    int w = SSL_write(c->ssl, p, (int)n);
    if (w > 0) {
        c->tls_wlen = 0;
        c->tls_wr_want_in = 0;
        return w;
    }
    int e = SSL_get_error(c->ssl, w);
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
        c->tls_wlen = n;
        c->tls_wr_want_in = e == SSL_ERROR_WANT_READ;
        return 0;
    }
    char why[256];
    io_why(c->ssl, w, why, sizeof why);
    bc_error(r, c, ERR_RESET, why);
    return -1;
}

long tls_read(run *r, bconn *c, char *p, size_t n)
{
    ERR_clear_error();
    errno = 0;
    int k = SSL_read(c->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
    if (k > 0) {
        c->tls_rd_want_out = 0;
        return k;
    }
    int e = SSL_get_error(c->ssl, k);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        c->tls_rd_want_out = e == SSL_ERROR_WANT_WRITE;
        return 0;
    }
    char why[256];
    io_why(c->ssl, k, why, sizeof why);
    bc_error(r, c, ERR_RESET, why);
    return -1;
}

/* One non-blocking close_notify when the handshake was done (not waited
 * for: the socket closes next), then the connection is freed.  The slot's
 * session stays. */
void tls_close(run *r, bconn *c)
{
    (void)r;
    if (!c->ssl)
        return;
    if (SSL_is_init_finished(c->ssl))
        SSL_shutdown(c->ssl);
    ERR_clear_error();
    SSL_free(c->ssl);
    c->ssl = NULL;
    c->tls_hs_want_out = c->tls_rd_want_out = c->tls_wr_want_in = c->tls_new_sess = 0;
    c->tls_wlen = 0;
    if (c->tls_pending) {
        c->tls_pending = 0;
        r->tls_npending--;
    }
}

/* Readable always (level-triggered); writable while connecting, while the
 * handshake or a read waits to write, and while output is queued, except
 * when the write waits for a read. */
unsigned tls_interest(const bconn *c)
{
    unsigned ev = EPOLLIN;
    if (!c->open) {
        if (!c->ssl || c->tls_hs_want_out)
            ev |= EPOLLOUT;
    } else if (c->tls_rd_want_out || (c->outoff < c->outlen && !c->tls_wr_want_in)) {
        ev |= EPOLLOUT;
    }
    return ev;
}

/* ---- the blocking side connection ---- */

int tls_side_open(run *r, tls_side *s)
{
    s->ssl = NULL;
    s->fd = socket(r->t->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->fd < 0 || connect(s->fd, (struct sockaddr *)&r->t->ss, r->t->sl) < 0) {
        fprintf(stderr, "netcore-bench: %s: connecting to %s: %s\n", r->t->name, r->t->addr, strerror(errno));
        if (s->fd >= 0)
            close(s->fd);
        s->fd = -1;
        return -1;
    }
    if (!r->tls)
        return 0;
    s->ssl = new_ssl(r, s->fd);
    ERR_clear_error();
    errno = 0;
    int rc = s->ssl ? SSL_connect(s->ssl) : -1;
    if (rc != 1) {
        char why[512] = "TLS: out of memory";
        if (s->ssl)
            hs_why(r, s->ssl, rc, why, sizeof why);
        fprintf(stderr, "netcore-bench: %s: %s\n", r->t->name, why);
        tls_side_close(s);
        return -1;
    }
    return 0;
}

long tls_side_write(tls_side *s, const void *p, size_t n)
{
    if (!s->ssl)
        return send(s->fd, p, n, MSG_NOSIGNAL);
    int w = SSL_write(s->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
    return w > 0 ? w : -1;
}

long tls_side_read(tls_side *s, void *p, size_t n)
{
    if (!s->ssl)
        return recv(s->fd, p, n, 0);
    int k = SSL_read(s->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
    return k > 0 ? k : k == 0 || SSL_get_error(s->ssl, k) == SSL_ERROR_ZERO_RETURN ? 0 : -1;
}

void tls_side_close(tls_side *s)
{
    if (s->ssl) {
        if (SSL_is_init_finished(s->ssl))
            SSL_shutdown(s->ssl);
        SSL_free(s->ssl);
        ERR_clear_error();
    }
    if (s->fd >= 0)
        close(s->fd);
    s->ssl = NULL;
    s->fd = -1;
}
