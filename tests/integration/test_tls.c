/* test_tls.c -- TLS on stream listeners against the real netcore: echo over
 * TLS 1.3 and 1.2 with the certificate verified, http-static through curl
 * (a 1 MiB file through the read + write fallback, 8 MiB to a slow reader,
 * HEAD, a range, ALPN), close_notify, the config's errors, and hostile peers (plain HTTP to a TLS
 * port, handshakes that never come, a flood past max_handshakes, TLS to a
 * plain port), each with its log line and counter. */
#include <CUnit/CUnit.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "harness.h"
#include "suites.h"

static char cert[600], key[600], other_key[600];

/* A P-256 certificate for localhost and 127.0.0.1 (and a second key that
 * matches nothing), made once per run in the test folder. */
static int make_cert(void)
{
    snprintf(cert, sizeof cert, "%s/tls-cert.pem", t_tmpdir());
    snprintf(key, sizeof key, "%s/tls-key.pem", t_tmpdir());
    snprintf(other_key, sizeof other_key, "%s/tls-other-key.pem", t_tmpdir());
    char cmd[2400];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost "
             "-addext subjectAltName=IP:127.0.0.1,DNS:localhost -days 2 -keyout %s -out %s 2>/dev/null && "
             "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out %s 2>/dev/null",
             key, cert, other_key);
    return t_sh(cmd, NULL, 0);
}

static const char *tls_obj(const char *extra)
{
    static char buf[2048];
    snprintf(buf, sizeof buf, "\"tls\":{\"cert\":\"%s\",\"key\":\"%s\"%s%s}", cert, key, extra ? "," : "",
             extra ? extra : "");
    return buf;
}

/* ---- a blocking TLS client ---- */

typedef struct tcl {
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
} tcl;

/* Connect and handshake, verifying the server against ca (NULL: the test
 * certificate) for 127.0.0.1, offering sess to resume if not NULL;
 * version 0: any.  NULL on failure. */
static tcl *tcl_open_ex(int port, int version, const char *ca, SSL_SESSION *sess)
{
    tcl *t = calloc(1, sizeof *t);
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (version) {
        SSL_CTX_set_min_proto_version(t->ctx, version);
        SSL_CTX_set_max_proto_version(t->ctx, version);
    }
    SSL_CTX_load_verify_locations(t->ctx, ca ? ca : cert, NULL);
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    t->fd = t_connect_tcp(port);
    struct timeval tv = {5, 0};
    setsockopt(t->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    t->ssl = SSL_new(t->ctx);
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), "127.0.0.1");
    SSL_set_fd(t->ssl, t->fd);
    if (sess)
        SSL_set_session(t->ssl, sess);
    if (t->fd < 0 || SSL_connect(t->ssl) != 1) {
        SSL_free(t->ssl);
        SSL_CTX_free(t->ctx);
        if (t->fd >= 0)
            close(t->fd);
        free(t);
        ERR_clear_error();
        return NULL;
    }
    return t;
}

static tcl *tcl_open(int port, int version)
{
    return tcl_open_ex(port, version, NULL, NULL);
}

/* With close_notify: OpenSSL marks the session of a connection freed
 * without one as not resumable. */
static void tcl_close(tcl *t)
{
    if (!t)
        return;
    SSL_shutdown(t->ssl);
    SSL_free(t->ssl);
    SSL_CTX_free(t->ctx);
    close(t->fd);
    free(t);
}

/* Read exactly n bytes (or until the end); returns what was read. */
static size_t tcl_read(tcl *t, char *buf, size_t n)
{
    size_t got = 0, k;
    while (got < n && SSL_read_ex(t->ssl, buf + got, n - got, &k) == 1)
        got += k;
    return got;
}

/* ---- tests ---- */

static void test_echo_tls(void)
{
    CU_ASSERT_EQUAL_FATAL(make_cert(), 0);
    char json[4096];
    snprintf(json, sizeof json,
             "{\"listeners\":[{\"name\":\"te\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\",%s}]}", tls_obj(NULL));
    t_proc *p = t_start_conf(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int port = t_port(p, "te");
    int versions[] = {TLS1_3_VERSION, TLS1_2_VERSION};
    for (int i = 0; i < 2; i++) {
        tcl *t = tcl_open(port, versions[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        CU_ASSERT_EQUAL(SSL_version(t->ssl), versions[i]);
        CU_ASSERT_EQUAL(SSL_get_verify_result(t->ssl), X509_V_OK);
        /* 100 KiB: several records each way, the echo's queue through SSL_write */
        static char out[100000], in[100000];
        for (size_t j = 0; j < sizeof out; j++)
            out[j] = (char)('a' + (j * 7 + (size_t)i) % 26);
        size_t w = 0;
        CU_ASSERT(SSL_write_ex(t->ssl, out, sizeof out, &w) == 1 && w == sizeof out);
        CU_ASSERT_EQUAL(tcl_read(t, in, sizeof in), sizeof in);
        CU_ASSERT(memcmp(in, out, sizeof in) == 0);
        /* The client ends first, owed nothing: the server's goodbye is
         * its FIN alone (no close_notify record to a peer that has gone,
         * as nginx does), and the session stays resumable all the same
         * (tlsopts resumes through the cache after such ends). */
        CU_ASSERT_EQUAL(SSL_shutdown(t->ssl), 0); /* our close_notify sent, theirs not yet seen */
        shutdown(t->fd, SHUT_WR);
        char rest[64];
        CU_ASSERT_EQUAL(recv(t->fd, rest, sizeof rest, 0), 0);
        tcl_close(t);
    }
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

static void test_http_tls(void)
{
    char root[600], json[4096], cmd[4096], out[4096];
    snprintf(root, sizeof root, "%s/tls-www", t_tmpdir());
    snprintf(cmd, sizeof cmd, "mkdir -p %s && head -c 1048576 /dev/urandom > %s/1m.bin && printf 0123456789abcdef > %s/s.txt && "
             "head -c 8388608 /dev/urandom > %s/8m.bin",
             root, root, root, root);
    CU_ASSERT_EQUAL_FATAL(t_sh(cmd, NULL, 0), 0);
    snprintf(json, sizeof json,
             "{\"listeners\":[{\"name\":\"tw\",\"module\":\"http-static\",\"listen\":\"127.0.0.1:0\",%s,"
             "\"options\":{\"root\":\"%s\",\"access_log\":\"off\"}}]}",
             tls_obj("\"alpn\":[\"http/1.1\"]"), root);
    t_proc *p = t_start_conf(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int port = t_port(p, "tw");
    /* 1 MiB through the read + write fallback (TLS has no sendfile): the
     * same bytes; then HEAD, a range, and two requests on one connection. */
    snprintf(cmd, sizeof cmd, "curl -sS --cacert %s https://127.0.0.1:%d/1m.bin | sha256sum | cut -c1-64; "
             "sha256sum < %s/1m.bin | cut -c1-64", cert, port, root);
    CU_ASSERT_EQUAL(t_sh(cmd, out, sizeof out), 0);
    CU_ASSERT(strlen(out) == 130 && memcmp(out, out + 65, 64) == 0);
    /* 8 MiB to a reader held to 32 MB/s: the socket fills in the middle of
     * a run of records again and again, and what OpenSSL holds then must
     * go out first, once. */
    snprintf(cmd, sizeof cmd, "curl -sS --limit-rate 32M --cacert %s https://127.0.0.1:%d/8m.bin | sha256sum | cut -c1-64; "
             "sha256sum < %s/8m.bin | cut -c1-64", cert, port, root);
    CU_ASSERT_EQUAL(t_sh(cmd, out, sizeof out), 0);
    CU_ASSERT(strlen(out) == 130 && memcmp(out, out + 65, 64) == 0);
    snprintf(cmd, sizeof cmd, "curl -sS --cacert %s -I https://127.0.0.1:%d/s.txt | tr -d '\\r' | grep -i '^content-length'",
             cert, port);
    CU_ASSERT_EQUAL(t_sh(cmd, out, sizeof out), 0);
    CU_ASSERT_STRING_EQUAL(out, "Content-Length: 16\n");
    snprintf(cmd, sizeof cmd, "curl -sS --cacert %s -r 3-6 https://127.0.0.1:%d/s.txt", cert, port);
    CU_ASSERT_EQUAL(t_sh(cmd, out, sizeof out), 0);
    CU_ASSERT_STRING_EQUAL(out, "3456");
    snprintf(cmd, sizeof cmd,
             "curl -sS --cacert %s -w ' %%{num_connects}' https://127.0.0.1:%d/s.txt https://127.0.0.1:%d/s.txt",
             cert, port, port);
    CU_ASSERT_EQUAL(t_sh(cmd, out, sizeof out), 0);
    CU_ASSERT_STRING_EQUAL(out, "0123456789abcdef 10123456789abcdef 0"); /* the second reused the connection */
    snprintf(cmd, sizeof cmd, "openssl s_client -connect 127.0.0.1:%d -alpn http/1.1 -CAfile %s </dev/null 2>/dev/null | grep '^ALPN'",
             port, cert);
    CU_ASSERT_EQUAL(t_sh(cmd, out, sizeof out), 0);
    CU_ASSERT_STRING_EQUAL(out, "ALPN protocol: http/1.1\n");
    /* Connection: close ends with close_notify: a clean TLS end, not a cut. */
    tcl *t = tcl_open(port, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    const char *req = "GET /s.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    size_t w;
    CU_ASSERT(SSL_write_ex(t->ssl, req, strlen(req), &w) == 1);
    char buf[4096];
    size_t n = tcl_read(t, buf, sizeof buf - 1);
    buf[n] = 0;
    T_ASSERT_STR_CONTAINS(buf, "\r\n\r\n0123456789abcdef");
    size_t k;
    CU_ASSERT_EQUAL(SSL_read_ex(t->ssl, buf, sizeof buf, &k), 0);
    CU_ASSERT_EQUAL(SSL_get_error(t->ssl, 0), SSL_ERROR_ZERO_RETURN); /* close_notify received */
    tcl_close(t);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

static void check_error(const char *tls, const char *transport, const char *want_tail)
{
    char json[4096], out[4096];
    snprintf(json, sizeof json,
             "{%s\"listeners\":[{\"name\":\"x\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\"%s,%s}]}",
             getuid() == 0 ? "\"user\":\"root\"," : "", transport, tls);
    const char *path = t_write_file("tls-bad.json", json);
    CU_ASSERT_EQUAL(t_run(out, sizeof out, "-t", "-c", path, NULL), 1);
    char want[4096];
    snprintf(want, sizeof want, "netcore: %s: %s\n", path, want_tail);
    if (strcmp(out, want))
        fprintf(stderr, "\n  got:  %s  want: %s", out, want);
    CU_ASSERT_STRING_EQUAL(out, want);
}

static void test_tls_config_errors(void)
{
    char tls[2048], tail[2048];
    snprintf(tls, sizeof tls, "\"tls\":{\"cert\":\"%s\",\"key\":\"%s/none.pem\"}", cert, t_tmpdir());
    snprintf(tail, sizeof tail, "listeners[0].tls.key: %s/none.pem: No such file or directory", t_tmpdir());
    check_error(tls, "", tail);
    snprintf(tls, sizeof tls, "\"tls\":{\"cert\":\"%s\",\"key\":\"%s\"}", cert, other_key);
    snprintf(tail, sizeof tail, "listeners[0].tls.key: %s: the key does not match the certificate in %s", other_key,
             cert);
    check_error(tls, "", tail);
    snprintf(tls, sizeof tls, "\"tls\":{\"cert\":\"%s\",\"key\":\"%s\"}", key, key);
    snprintf(tail, sizeof tail, "listeners[0].tls.cert: %s: not a PEM certificate chain (no start line)", key);
    check_error(tls, "", tail);
    snprintf(tls, sizeof tls, "\"tls\":{\"cert\":\"%s\",\"key\":\"%s\"}", cert, cert);
    snprintf(tail, sizeof tail, "listeners[0].tls.key: %s: not a PEM private key (unsupported)", cert);
    check_error(tls, "", tail);
    check_error(tls_obj(NULL), ",\"transport\":\"udp\"",
                "listeners[0].tls: TLS needs a stream listener (tcp or unix), not udp");
    check_error(tls_obj("\"protocols\":[\"TLSv1.1\"]"), "",
                "listeners[0].tls.protocols[0]: expected \"TLSv1.2\" or \"TLSv1.3\"");
    check_error(tls_obj("\"ciphers\":\"NOPE\""), "", "listeners[0].tls.ciphers: \"NOPE\": no cipher match");
    check_error(tls_obj("\"handshake_timeout_ms\":5"), "",
                "listeners[0].tls.handshake_timeout_ms: expected an integer from 100 to 3600000");
    check_error("\"tls\":{\"key\":\"k.pem\"}", "",
                "listeners[0].tls.cert: missing (a PEM file: the certificate chain, the server's first)");
    check_error(tls_obj("\"crt\":\"x\""), "", "listeners[0].tls.crt: unknown key (did you mean \"cert\"?)");
}

/* Hostile peers, each met with a log line, a counter and a closed
 * connection, and nobody else affected. */
static void test_tls_hostile(void)
{
    char json[4096];
    snprintf(json, sizeof json,
             "{\"listeners\":[{\"name\":\"te\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\",%s},"
             "{\"name\":\"plain\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\"},"
             "{\"name\":\"st\",\"module\":\"status\",\"listen\":\"127.0.0.1:0\"}]}",
             tls_obj("\"handshake_timeout_ms\":400,\"max_handshakes\":2"));
    t_proc *p = t_start_conf(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int port = t_port(p, "te"), plain = t_port(p, "plain"), st = t_port(p, "st");
    /* Plain HTTP to the TLS port: closed, said so. */
    int fd = t_connect_tcp(port);
    t_send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
    CU_ASSERT(t_wait_closed(fd, 3000));
    close(fd);
    CU_ASSERT(t_wait_log(p, "TLS handshake with 127.0.0.1:", 3000));
    CU_ASSERT(t_wait_log(p, "failed: http request (plain HTTP sent to a TLS listener)", 3000));
    /* Two connections that never say hello hold both handshake slots: a
     * third is refused at once; an established one is not disturbed. */
    tcl *est = tcl_open(port, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(est);
    int s1 = t_connect_tcp(port), s2 = t_connect_tcp(port);
    usleep(100 * 1000);
    int s3 = t_connect_tcp(port);
    CU_ASSERT(t_wait_closed(s3, 2000));
    close(s3);
    CU_ASSERT(t_wait_log(p, "2 TLS handshakes in progress reach max_handshakes (2): refusing new connections", 2000));
    size_t w;
    char b[8] = {0};
    CU_ASSERT(SSL_write_ex(est->ssl, "still", 5, &w) == 1 && tcl_read(est, b, 5) == 5);
    CU_ASSERT_STRING_EQUAL(b, "still");
    /* ... until their deadline closes them. */
    CU_ASSERT(t_wait_closed(s1, 3000));
    CU_ASSERT(t_wait_closed(s2, 3000));
    close(s1);
    close(s2);
    CU_ASSERT(t_wait_log(p, "not done within handshake_timeout_ms (400); closing", 2000));
    tcl *again = tcl_open(port, 0); /* the slots are free again */
    CU_ASSERT_PTR_NOT_NULL(again);
    tcl_close(again);
    /* Garbage instead of a ClientHello. */
    fd = t_connect_tcp(port);
    t_send_all(fd, "\x16\x03\x01\x00\x05hello", 10);
    CU_ASSERT(t_wait_closed(fd, 3000));
    close(fd);
    /* TLS to the plain port fails for the client; the plain echo serves on. */
    CU_ASSERT_PTR_NULL(tcl_open(plain, 0));
    CU_ASSERT(t_echo_once(plain, "plain still"));
    tcl_close(est);
    usleep(1200 * 1000); /* workers publish statistics once a second */
    CU_ASSERT_EQUAL(t_metric(st, "netcore_tls_handshake_timeouts_total", "te"), 2);
    CU_ASSERT_EQUAL(t_metric(st, "netcore_tls_handshakes_refused_total", "te"), 1);
    CU_ASSERT_EQUAL(t_metric(st, "netcore_tls_handshake_failures_total", "te"), 2);
    long long done = t_metric(st, "netcore_tls_handshakes_total", "te");
    if (done != 2)
        fprintf(stderr, "\n  tls_handshakes %lld\n", done);
    CU_ASSERT_EQUAL(done, 2);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

/* One echo round trip on t; 1 when it came back. */
static int tcl_echo(tcl *t, const char *msg)
{
    char b[256] = {0};
    size_t w, n = strlen(msg);
    return SSL_write_ex(t->ssl, msg, n, &w) == 1 && tcl_read(t, b, n) == n && memcmp(b, msg, n) == 0;
}

/* The session of a connection that has done a round trip (TLS 1.3 sends
 * its tickets after the handshake: the round trip has read them). */
static SSL_SESSION *session_of(int port, int version)
{
    tcl *t = tcl_open(port, version);
    if (!t)
        return NULL;
    SSL_SESSION *s = tcl_echo(t, "ticket?") ? SSL_get1_session(t->ssl) : NULL;
    tcl_close(t);
    return s;
}

/* Resumed on every try, on whichever of the two workers. */
static int resumes(int port, int version, SSL_SESSION *s, int tries)
{
    int ok = 0;
    for (int i = 0; i < tries; i++) {
        tcl *t = tcl_open_ex(port, version, NULL, s);
        ok += t && SSL_session_reused(t->ssl) && tcl_echo(t, "again");
        tcl_close(t);
    }
    return ok;
}

static char *peer_cn(tcl *t, char *buf, size_t n)
{
    X509 *x = SSL_get1_peer_certificate(t->ssl);
    buf[0] = 0;
    if (x)
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, (int)n);
    X509_free(x);
    return buf;
}

/* Sessions resume across the two workers and across a reload (the
 * master's ticket keys); a reload serves new certificates to new
 * connections while an open one keeps its own; a broken key refuses the
 * reload and changes nothing. */
static void test_tls_resume_and_reload(void)
{
    char live_cert[600], live_key[600], b_cert[600], b_key[600], cmd[8192], json[4096];
    snprintf(live_cert, sizeof live_cert, "%s/tls-live-cert.pem", t_tmpdir());
    snprintf(live_key, sizeof live_key, "%s/tls-live-key.pem", t_tmpdir());
    snprintf(b_cert, sizeof b_cert, "%s/tls-b-cert.pem", t_tmpdir());
    snprintf(b_key, sizeof b_key, "%s/tls-b-key.pem", t_tmpdir());
    snprintf(cmd, sizeof cmd,
             "cp %s %s && cp %s %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-subj /CN=second -addext subjectAltName=IP:127.0.0.1 -days 2 -keyout %s -out %s 2>/dev/null",
             cert, live_cert, key, live_key, b_key, b_cert);
    CU_ASSERT_EQUAL_FATAL(t_sh(cmd, NULL, 0), 0);
    snprintf(json, sizeof json,
             "{%s\"workers\":2,\"listeners\":[{\"name\":\"te\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\","
             "\"tls\":{\"cert\":\"%s\",\"key\":\"%s\"}}]}",
             getuid() == 0 ? "\"user\":\"root\"," : "", live_cert, live_key);
    t_proc *p = t_start(t_write_file("tls-reload.json", json), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int port = t_port(p, "te");
    SSL_SESSION *s12 = session_of(port, TLS1_2_VERSION), *s13 = session_of(port, TLS1_3_VERSION);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s12);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s13);
    CU_ASSERT_EQUAL(resumes(port, TLS1_2_VERSION, s12, 6), 6);
    CU_ASSERT_EQUAL(resumes(port, TLS1_3_VERSION, s13, 6), 6);
    tcl *old = tcl_open(port, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(old);
    /* A reload with the files unchanged: the sessions still resume. */
    kill(p->pid, SIGHUP);
    CU_ASSERT_FATAL(t_wait_log(p, "reload: generation 2 serving", 5000));
    CU_ASSERT_EQUAL(resumes(port, TLS1_2_VERSION, s12, 4), 4);
    CU_ASSERT_EQUAL(resumes(port, TLS1_3_VERSION, s13, 4), 4);
    /* New certificate and key: new connections get them, the open one keeps its own. */
    snprintf(cmd, sizeof cmd, "cp %s %s.new && mv %s.new %s && cp %s %s.new && mv %s.new %s", b_cert, live_cert,
             live_cert, live_cert, b_key, live_key, live_key, live_key);
    CU_ASSERT_EQUAL_FATAL(t_sh(cmd, NULL, 0), 0);
    kill(p->pid, SIGHUP);
    CU_ASSERT_FATAL(t_wait_log(p, "reload: generation 3 serving", 5000));
    char cn[128];
    tcl *fresh = tcl_open_ex(port, 0, b_cert, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fresh);
    CU_ASSERT_STRING_EQUAL(peer_cn(fresh, cn, sizeof cn), "second");
    tcl_close(fresh);
    CU_ASSERT(tcl_echo(old, "old one"));
    CU_ASSERT_STRING_EQUAL(peer_cn(old, cn, sizeof cn), "localhost");
    /* A broken key: refused, named, and nothing changes. */
    snprintf(cmd, sizeof cmd, "printf 'not a key\\n' > %s", live_key);
    CU_ASSERT_EQUAL_FATAL(t_sh(cmd, NULL, 0), 0);
    kill(p->pid, SIGHUP);
    char want[2048];
    snprintf(want, sizeof want, "listeners[0].tls.key: %s: not a PEM private key", live_key);
    CU_ASSERT(t_wait_log(p, want, 5000));
    CU_ASSERT(t_wait_log(p, "was refused (the reason is above); keeping the running configuration", 5000));
    fresh = tcl_open_ex(port, 0, b_cert, NULL);
    CU_ASSERT_PTR_NOT_NULL(fresh);
    CU_ASSERT(fresh && tcl_echo(fresh, "still served"));
    tcl_close(fresh);
    tcl_close(old);
    SSL_SESSION_free(s12);
    SSL_SESSION_free(s13);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

int add_tls_suite(void)
{
    CU_pSuite s = CU_add_suite("tls", NULL, NULL);
    if (!s || !CU_add_test(s, "echo over TLS 1.3 and 1.2, the certificate verified", test_echo_tls) ||
        !CU_add_test(s, "http-static over TLS: curl, 1 MiB, HEAD, range, keep-alive, ALPN, close_notify", test_http_tls) ||
        !CU_add_test(s, "tls config errors name the key and the file", test_tls_config_errors) ||
        !CU_add_test(s, "plain HTTP, silent handshakes, max_handshakes, garbage, TLS to plain", test_tls_hostile) ||
        !CU_add_test(s, "resumption across workers and reloads; certificates reloaded, a broken one refused",
                     test_tls_resume_and_reload))
        return -1;
    return 0;
}
