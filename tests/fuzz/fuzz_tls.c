/* fuzz_tls.c -- a libFuzzer target for the server's TLS transport (core/tls.c
 * over the listener context of core/tlsctx.c): the input is what a peer
 * sends to a TLS listener, fed through one end of a socketpair in chunks the
 * input chooses, while the other end is a real server-side SSL object driven
 * through the transport's recv/send/pending/shutdown/close ops as conn.c
 * drives them.  The server's output is read and discarded.
 *
 * The context is the one nc__tls_load builds for a listener whose
 * self_signed_if_missing pair does not exist yet (an ephemeral pair made in
 * memory, as `netcore -t` does), with the master's ticket keys, so every
 * setting of ctx_settings applies (ticket_cb included).
 * The few core functions tls.c calls beyond those files are stood in for
 * below: the timer heap is the real timer.c on a clock of our own;
 * nc_close records the request and the driver closes the transport.
 *
 * Input: [chunk byte][flags byte][the peer's bytes].  chunk 0: the bytes in
 * one write; n > 0: pieces of 1..n bytes (1: byte by byte), their lengths
 * drawn from a generator seeded by the flags.  Flags: 0x01 answer every
 * read with the bytes read, as two iovecs (echo; the gathering path of
 * send); 0x02 let the handshake deadline expire at the end; 0x04 the peer's
 * EOF (after its close_notify, with a client) before the shutdown; 0x08
 * close as an abort, without shutdown.
 *
 * 0x10: a real OpenSSL client in process is the peer (0x20: at most TLS
 * 1.2; 0x40: resuming the previous client's session).  It does the
 * handshake first, then sends the input's pieces as application data
 * (0x80: some pieces written raw into the record stream instead), and it
 * reads what the server sends.  Raw bytes alone cannot finish a handshake
 * (the server's key share is random), so this is how the paths after it
 * (records larger than a read, pending, sends, close_notify) are fuzzed. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "core.h"
#include "log.h"
#include "timer.h"
#include "tls.h"

/* ---- stand-ins for the reactor and conn.c ---- */

static nc__timers heap;
static uint64_t now = 1000;
static int close_asked; /* nc_close was called: the driver closes the transport */

nc_timer *nc_timer_start(uint64_t after_ms, uint64_t repeat_ms, nc_timer_cb cb, void *arg)
{
    return nc__timer_start(&heap, now, after_ms, repeat_ms, cb, arg);
}

void nc_timer_stop(nc_timer *t)
{
    nc__timer_stop(&heap, t);
}

uint64_t nc_now_ms(void)
{
    return now;
}

const char *nc_conn_peer_str(const nc_conn *c)
{
    (void)c;
    return "127.0.0.1:40000";
}

void nc_close(nc_conn *c, int how)
{
    (void)c;
    close_asked = 1 + (how == NC_CLOSE_ABORT);
}

/* ---- the listener, made once ---- */

static const char conf_json[] =
    "{\"listeners\":[{\"name\":\"tls\",\"module\":\"/nonexistent/netcore-fuzz/none.so\",\"listen\":\"127.0.0.1:0\","
    "\"tls\":{\"cert\":\"/nonexistent/netcore-fuzz/cert.pem\",\"key\":\"/nonexistent/netcore-fuzz/key.pem\","
    "\"self_signed_if_missing\":true,\"alpn\":[\"h2\",\"http/1.1\"],\"ktls\":false,"
    "\"session_cache\":64,\"max_handshakes\":4,\"handshake_timeout_ms\":5000}}]}";

static nc__config cfg;
static nc_listener lst;
static SSL_CTX *client_ctx;
static SSL_SESSION *last_session; /* the previous client's, for 0x40 */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[1024];
    signal(SIGPIPE, SIG_IGN); /* as the reactor does: OpenSSL writes with write(2) */
    /* Log lines are formatted (their arguments are part of what is tested)
     * and thrown away. */
    if (nc__log_setup(NC_LOG_DEBUG, NC_LOGFMT_TEXT, "/dev/null") < 0 ||
        nc__config_parse(conf_json, sizeof conf_json - 1, "/fuzz/netcore.json", &cfg, err, sizeof err) < 0 ||
        (nc__tls_master_init() < 0 && snprintf(err, sizeof err, "no session ticket keys") > 0) || /* as the master: ticket_cb */
        nc__tls_load(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "fuzz_tls: %s\n", err);
        exit(1);
    }
    client_ctx = SSL_CTX_new(TLS_client_method());
    static const unsigned char alpn[] = "\x02h2\x08http/1.1";
    if (!client_ctx || SSL_CTX_set_alpn_protos(client_ctx, alpn, sizeof alpn - 1) != 0) {
        fprintf(stderr, "fuzz_tls: no client context\n");
        exit(1);
    }
    SSL_CTX_set_session_cache_mode(client_ctx, SSL_SESS_CACHE_CLIENT);
    lst.conf = &cfg.listeners[0];
    lst.name = cfg.listeners[0].name;
    return 0;
}

/* ---- one connection ---- */

static uint32_t rng;

static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static SSL *client; /* the peer, with 0x10 */

/* What the server sent: read and dropped (by the client, with one). */
static void drain(int fd)
{
    char sink[16384];
    if (!client) {
        while (read(fd, sink, sizeof sink) > 0)
            ;
        return;
    }
    if (!SSL_is_init_finished(client)) {
        SSL_do_handshake(client);
        if (!SSL_is_init_finished(client))
            return;
    }
    size_t got;
    for (int i = 0; i < 64 && SSL_read_ex(client, sink, sizeof sink, &got) == 1; i++)
        ;
    if (!last_session || SSL_session_reused(client) != 1) {
        SSL_SESSION *ss = SSL_get1_session(client);
        if (ss) {
            SSL_SESSION_free(last_session);
            last_session = ss;
        }
    }
    ERR_clear_error();
}

/* The peer's piece: application data through the client, or raw. */
static ssize_t peer_write(int fd, const uint8_t *p, size_t n, int raw)
{
    if (!client || raw)
        return write(fd, p, n);
    size_t put = 0;
    int rc = SSL_write_ex(client, p, n, &put);
    ERR_clear_error();
    return rc == 1 ? (ssize_t)put : -1;
}

/* Read until the transport has nothing more (its own buffer included);
 * returns 1 while the connection lives on. */
static int pump(nc_conn *c, int peer, int echo)
{
    char buf[4096];
    for (int rounds = 0; rounds < 64; rounds++) {
        /* Reads of any size: a record larger than one is held in the
         * transport (pending) until read. */
        ssize_t r = c->tp.ops->recv(&c->tp, buf, 1 + next() % sizeof buf);
        drain(peer);
        if (close_asked)
            return 0;
        if (r == -EAGAIN) {
            /* Input held back: never.  pending may count the start of a
             * record read ahead (conn.c then reads once more, in vain,
             * and waits for the socket), but a read now must not find
             * anything the one before did not return. */
            if (c->tp.ops->pending(&c->tp) > 0 && c->tp.ops->recv(&c->tp, buf, sizeof buf) > 0)
                __builtin_trap();
            return 1;
        }
        if (r <= 0)
            return 0; /* the peer's end, or an error the caller closes on */
        if (echo) {
            struct iovec iov[2] = {{buf, (size_t)r / 2}, {buf + r / 2, (size_t)r - (size_t)r / 2}};
            ssize_t w = c->tp.ops->send(&c->tp, iov, 2, 0);
            drain(peer);
            if (w < 0 && w != -EAGAIN)
                return 0;
        }
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned chunk = data[0], flags = data[1];
    data += 2;
    size -= 2;
    rng = 0x9e3779b9u ^ (flags << 8) ^ chunk;
    now += 1000; /* a new second: the rate-limited log lines are written again */
    close_asked = 0;

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        return 0;
    static uint64_t ids;
    nc_conn c = {.id = ++ids, .l = &lst};
    nc__tp_init_plain(&c.tp, sv[0]);
    if (nc__tls_attach(&c) < 0)
        __builtin_trap(); /* a handshake left counted by the previous input */

    int alive = 1;
    client = NULL;
    if (flags & 0x10) {
        if (!(client = SSL_new(client_ctx)) || SSL_set_fd(client, sv[1]) != 1)
            __builtin_trap();
        if (flags & 0x20)
            SSL_set_max_proto_version(client, TLS1_2_VERSION);
        if ((flags & 0x40) && last_session)
            SSL_set_session(client, last_session);
        SSL_set_connect_state(client);
        for (int i = 0; alive && i < 16 && !(SSL_is_init_finished(client) && heap.n == 0); i++) {
            drain(sv[1]);
            alive = pump(&c, sv[1], 0);
        }
    }
    size_t off = 0;
    while (alive && off < size) {
        size_t n = chunk ? 1 + next() % chunk : size - off;
        if (n > size - off)
            n = size - off;
        ssize_t w = peer_write(sv[1], data + off, n, (flags & 0x80) && (next() & 3) == 0);
        if (w > 0)
            off += (size_t)w;
        alive = pump(&c, sv[1], flags & 0x01);
        if (w <= 0 && alive)
            break; /* the server reads no more of it: the rest cannot be fed */
    }
    if (alive && (flags & 0x04)) {
        if (client)
            SSL_shutdown(client);
        shutdown(sv[1], SHUT_WR);
        alive = pump(&c, sv[1], flags & 0x01) && !close_asked;
    }
    if (alive && (flags & 0x02)) {
        now += (uint64_t)lst.conf->tls.handshake_timeout_ms;
        nc__timers_run(&heap, now); /* while the handshake runs: handshake_expired, then nc_close */
    }
    int abort = (flags & 0x08) || close_asked == 2;
    if (!abort && !close_asked) {
        for (int i = 0; i < 8; i++) {
            int r = c.tp.ops->shutdown(&c.tp);
            drain(sv[1]);
            if (r != -EAGAIN)
                break;
        }
    }
    c.tp.ops->close(&c.tp, abort);
    if (client) {
        drain(sv[1]); /* the close_notify, if one was sent */
        SSL_free(client);
        client = NULL;
    }
    close(sv[1]);
    ERR_clear_error();
    if (heap.n != 0)
        __builtin_trap(); /* the handshake deadline outlived its connection */
    return 0;
}
