/* fuzz_tls.c -- a libFuzzer target for the TLS transport (core/tls.c over
 * core/tlsctx.c's contexts): the server side of a connection, in process,
 * fed a hostile peer's byte stream through a socketpair at fuzzer-chosen
 * boundaries, driven through the transport's ops as conn.c drives them.
 *
 * The input's first byte picks the peer:
 *  - even: raw bytes (ClientHellos, garbage, truncated records, alerts),
 *    in chunks whose sizes the input chooses (one byte at a time included);
 *  - odd: a real OpenSSL client does the handshake first (TLS 1.2 or 1.3
 *    by the next bit), then the rest alternates application data it
 *    encrypts, raw bytes injected between its records (corrupt records
 *    after a good handshake), server sends and a graceful shutdown.
 * The listener is configured as `netcore -t` would check it: no certificate
 * files, self_signed_if_missing, so tlsctx.c makes its in-memory pair. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "core.h"
#include "log.h"
#include "tls.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the core around the transport: the few calls tls.c makes ---- */

static int closed; /* nc_close was called on the connection */
static nc_timer *armed;
static nc_timer_cb armed_cb;
static void *armed_arg;

nc_timer *nc_timer_start(uint64_t after_ms, uint64_t repeat_ms, nc_timer_cb cb, void *arg)
{
    (void)after_ms;
    (void)repeat_ms;
    static char token;
    if (armed)
        __builtin_trap(); /* one connection, one handshake deadline */
    armed = (nc_timer *)&token;
    armed_cb = cb;
    armed_arg = arg;
    return armed;
}

void nc_timer_stop(nc_timer *t)
{
    if (t != armed)
        __builtin_trap(); /* a timer stopped twice, or never started */
    armed = NULL;
}

uint64_t nc_now_ms(void)
{
    return 0;
}

void nc_close(nc_conn *c, int how)
{
    (void)c;
    (void)how;
    closed = 1;
}

const char *nc_conn_peer_str(const nc_conn *c)
{
    (void)c;
    return "127.0.0.1:1";
}

/* ---- set-up, once ---- */

static nc__config cfg;
static SSL_CTX *client_ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const char conf[] =
        "{\"user\":\"root\",\"listeners\":[{\"name\":\"fz\",\"module\":\"/fuzz/echo.so\",\"listen\":\"127.0.0.1:0\","
        "\"tls\":{\"cert\":\"/nonexistent/fuzz/cert.pem\",\"key\":\"/nonexistent/fuzz/key.pem\","
        "\"self_signed_if_missing\":true,\"ktls\":false,\"alpn\":[\"http/1.1\",\"x\"],"
        "\"handshake_timeout_ms\":1000,\"session_cache\":64}}]}";
    char err[1024];
    nc__log_setup(NC_LOG_ERROR, 0, "-");
    if (nc__config_parse(conf, sizeof conf - 1, "/fuzz/netcore.json", &cfg, err, sizeof err) < 0 ||
        nc__tls_load(&cfg, err, sizeof err) < 0 || nc__tls_master_init() < 0) {
        fprintf(stderr, "fuzz_tls: %s\n", err);
        abort();
    }
    client_ctx = SSL_CTX_new(TLS_client_method());
    if (!client_ctx)
        abort();
    SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, NULL);
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_CTX_set_alpn_protos(client_ctx, alpn, sizeof alpn - 1);
    return 0;
}

/* ---- one input ---- */

typedef struct input {
    const uint8_t *p;
    size_t n;
} input;

static unsigned take(input *in, unsigned bits)
{
    unsigned v = 0;
    for (unsigned i = 0; i < (bits + 7) / 8 && in->n; i++, in->p++, in->n--)
        v = v << 8 | *in->p;
    return bits >= 32 ? v : v & ((1u << bits) - 1);
}

/* Everything the server wrote, read away (the peer's socket buffer must
 * not fill: the transport would then wait on EPOLLOUT forever). */
static void drain(int fd)
{
    char b[65536];
    while (read(fd, b, sizeof b) > 0)
        ;
}

/* What conn.c does on a readable event: read until -EAGAIN, then what the
 * transport holds (pending).  Returns -1 once the connection is over. */
static int server_read(nc_conn *c)
{
    char b[4096];
    for (int i = 0; i < 64; i++) {
        ssize_t r = c->tp.ops->recv(&c->tp, b, sizeof b);
        if (r == -EAGAIN && !(c->tp.ops->pending && c->tp.ops->pending(&c->tp)))
            return 0; /* drained: conn.c would wait for the socket now */
        if (r <= 0)
            return -1;
    }
    return 0;
}

static int server_send(nc_conn *c, const uint8_t *p, size_t n, int split)
{
    struct iovec iov[3];
    size_t a = split && n > 2 ? n / 3 : n, b = split && n > 2 ? n / 3 : 0;
    iov[0] = (struct iovec){(void *)p, a};
    iov[1] = (struct iovec){(void *)(p + a), b};
    iov[2] = (struct iovec){(void *)(p + a + b), n - a - b};
    ssize_t w = c->tp.ops->send(&c->tp, iov, split ? 3 : 1, 0);
    return w < 0 && w != -EAGAIN ? -1 : 0;
}

/* Client and server turns until the client's handshake is done (or 50). */
static int handshake(SSL *cl, nc_conn *c)
{
    for (int i = 0; i < 50; i++) {
        int rc = SSL_do_handshake(cl);
        if (server_read(c) < 0)
            return -1;
        if (rc == 1)
            return 0;
        int e = SSL_get_error(cl, rc);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            return -1;
    }
    return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    input in = {data, size};
    unsigned mode = take(&in, 8);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
        return 0;
    static nc_listener l;
    static nc_conn c;
    memset(&l, 0, sizeof l);
    memset(&c, 0, sizeof c);
    l.conf = &cfg.listeners[0];
    l.name = "fz";
    c.l = &l;
    nc__tp_init_plain(&c.tp, sv[0]);
    closed = 0;
    if (nc__tls_attach(&c) < 0) {
        close(sv[0]);
        close(sv[1]);
        return 0;
    }
    int peer = sv[1], over = 0;
    SSL *cl = NULL;
    if (mode & 1) {
        cl = SSL_new(client_ctx);
        SSL_set_fd(cl, peer);
        SSL_set_connect_state(cl);
        int v = mode & 2 ? TLS1_3_VERSION : TLS1_2_VERSION;
        SSL_set_min_proto_version(cl, v);
        SSL_set_max_proto_version(cl, v);
        if (mode & 4)
            SSL_set_tlsext_host_name(cl, "localhost");
        over = handshake(cl, &c) < 0;
    }
    while (!over && !closed && in.n) {
        unsigned op = take(&in, 8), len = take(&in, 8) + 1;
        if (len > in.n)
            len = (unsigned)in.n;
        const uint8_t *chunk = in.p;
        in.p += len;
        in.n -= len;
        switch (cl ? op % 5 : op % 3) {
        case 0: /* raw bytes from the peer */
            if (write(peer, chunk, len) < 0 && errno != EAGAIN)
                over = 1;
            over |= server_read(&c) < 0;
            break;
        case 1: /* the server writes; the peer reads it away */
            over |= server_send(&c, chunk, len, op & 8) < 0;
            if (cl) {
                char b[4096];
                while (SSL_read(cl, b, sizeof b) > 0)
                    ;
                ERR_clear_error();
            }
            drain(peer);
            break;
        case 2: /* the graceful end, as conn.c calls it once the queue is empty */
            if (c.tp.ops->shutdown(&c.tp) != -EAGAIN)
                over = 1;
            drain(peer);
            break;
        case 3: /* application data the real client encrypts */
            if (SSL_write(cl, chunk, (int)len) <= 0)
                ERR_clear_error();
            over |= server_read(&c) < 0;
            break;
        case 4: /* the client ends, or asks for a key update */
            if (op & 16)
                SSL_shutdown(cl);
            else if (SSL_version(cl) == TLS1_3_VERSION)
                SSL_key_update(cl, op & 32 ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED);
            ERR_clear_error();
            over |= server_read(&c) < 0;
            break;
        }
    }
    /* The handshake's deadline, when it never finished and nothing closed
     * the connection: what the timer would do. */
    if (armed && !closed && !over && !(mode & 8)) {
        nc_timer *tm = armed;
        armed = NULL; /* a one-shot timer is gone once it fired */
        armed_cb(tm, armed_arg);
    }
    c.tp.ops->close(&c.tp, over || closed);
    if (armed)
        __builtin_trap(); /* a connection closed with its deadline armed */
    if (cl)
        SSL_free(cl);
    close(peer);
    ERR_clear_error();
    return 0;
}
