/* test_tlsopts.c -- the TLS listener's options against the real netcore,
 * with openssl s_client as the client: SNI choosing certificates, ALPN,
 * mutual TLS (required and optional, a good, a foreign and no client
 * certificate), sessions (-reconnect, -sess_out/-sess_in, the session
 * cache, ticket key files shared by two servers, the master's rotation),
 * the self-signed pair made at first start, failures counted by reason. */
#include <CUnit/CUnit.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "suites.h"

static char dir[256];

/* A test CA; server certificates it signs (default.test, a.test, and
 * *.w.test with a CN only); a client certificate it signs and one signed
 * by a stranger. */
static int make_pki(void)
{
    snprintf(dir, sizeof dir, "%s/pki", t_tmpdir());
    char cmd[6000];
    snprintf(cmd, sizeof cmd,
             "(set -e; mkdir -p %s; cd %s; "
             "ec='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes'; "
             "openssl req -x509 $ec -subj /CN=test-ca -days 2 -keyout ca.key -out ca.pem; "
             "openssl req -x509 $ec -subj /CN=stranger-ca -days 2 -keyout sca.key -out sca.pem; "
             "sign() { openssl req $ec -subj \"/CN=$2\" -keyout $1.key -out $1.csr; "
             "  printf \"$3\" > $1.ext; "
             "  openssl x509 -req -in $1.csr -CA $4.pem -CAkey $4.key -CAcreateserial -days 2 -extfile $1.ext "
             "  -out $1.pem; }; "
             "sign def default.test 'subjectAltName=DNS:default.test,IP:127.0.0.1\\n' ca; "
             "sign a a.test 'subjectAltName=DNS:a.test,DNS:alias.test\\n' ca; "
             "sign w wild 'basicConstraints=CA:FALSE\\n' ca; "
             "sign client alice 'extendedKeyUsage=clientAuth\\n' ca; "
             "sign intruder mallory 'extendedKeyUsage=clientAuth\\n' sca; "
             "head -c 80 /dev/urandom > t1.key; head -c 80 /dev/urandom > t2.key; head -c 48 /dev/urandom > t3.key; "
             "head -c 50 /dev/urandom > short.key) >/dev/null 2>&1",
             dir, dir);
    return t_sh(cmd, NULL, 0);
}

static const char *root(void)
{
    return getuid() == 0 ? "\"user\":\"root\"," : "";
}

/* openssl s_client against 127.0.0.1:port with args, sending `send` and
 * waiting a moment for the answer; its stdout and stderr in out (the
 * exit status returned). */
static int sclient(int port, const char *args, const char *send, char *out, size_t n)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd %s && (printf '%s'; sleep 0.4) | timeout 10 openssl s_client -connect 127.0.0.1:%d "
             "-CAfile ca.pem -verify_return_error %s 2>&1",
             dir, send ? send : "", port, args);
    return t_sh(cmd, out, n);
}

/* The subject CN of the certificate the server chose for `sni`. */
static const char *served_cn(int port, const char *sni, char *out, size_t n)
{
    char args[512], buf[8192];
    snprintf(args, sizeof args, "-brief %s%s", sni ? "-servername " : "-noservername", sni ? sni : "");
    sclient(port, args, NULL, buf, sizeof buf);
    const char *p = strstr(buf, "Peer certificate: CN = ");
    snprintf(out, n, "%s", p ? p + 23 : "(none)");
    char *nl = strchr(out, '\n');
    if (nl)
        *nl = 0;
    return out;
}

static t_proc *start(const char *name, const char *listeners)
{
    char json[9000];
    snprintf(json, sizeof json, "{%s\"listeners\":[%s,{\"name\":\"st\",\"module\":\"status\","
             "\"listen\":\"127.0.0.1:0\"}]}", root(), listeners);
    return t_start(t_write_file(name, json), 0);
}

/* A per-listener metric once the workers have published it (once a
 * second). */
static long long metric_now(t_proc *p, const char *family, const char *listener)
{
    usleep(1200 * 1000);
    return t_metric(t_port(p, "st"), family, listener);
}

static void test_sni_alpn(void)
{
    CU_ASSERT_EQUAL_FATAL(make_pki(), 0);
    char l[8192], cn[256], out[8192];
    snprintf(l, sizeof l,
             "{\"name\":\"sni\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\",\"tls\":{"
             "\"cert\":\"%s/def.pem\",\"key\":\"%s/def.key\",\"alpn\":[\"echo/1\",\"http/1.1\"],"
             "\"certificates\":[{\"cert\":\"%s/a.pem\",\"key\":\"%s/a.key\"},"
             "{\"cert\":\"%s/w.pem\",\"key\":\"%s/w.key\",\"names\":[\"*.w.test\",\"exact.test\"]}]}}",
             dir, dir, dir, dir, dir, dir);
    t_proc *p = start("tls-sni.json", l);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int port = t_port(p, "sni");
    /* Names from the certificate's subjectAltName, any case; given names; a wildcard of one label. */
    CU_ASSERT_STRING_EQUAL(served_cn(port, "a.test", cn, sizeof cn), "a.test");
    CU_ASSERT_STRING_EQUAL(served_cn(port, "ALIAS.test", cn, sizeof cn), "a.test");
    CU_ASSERT_STRING_EQUAL(served_cn(port, "x.w.test", cn, sizeof cn), "wild");
    CU_ASSERT_STRING_EQUAL(served_cn(port, "exact.test", cn, sizeof cn), "wild");
    /* Not matched: the default certificate, as with no SNI at all. */
    CU_ASSERT_STRING_EQUAL(served_cn(port, "w.test", cn, sizeof cn), "default.test");
    CU_ASSERT_STRING_EQUAL(served_cn(port, "a.b.w.test", cn, sizeof cn), "default.test");
    CU_ASSERT_STRING_EQUAL(served_cn(port, "nobody.test", cn, sizeof cn), "default.test");
    CU_ASSERT_STRING_EQUAL(served_cn(port, NULL, cn, sizeof cn), "default.test");
    /* The chosen certificate serves: bytes echoed, verified for its name. */
    CU_ASSERT_EQUAL(sclient(port, "-quiet -no_ign_eof -servername a.test -verify_hostname a.test", "over sni\\n", out, sizeof out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "over sni\n"));
    /* TLS 1.2's default suites are Mozilla's "intermediate" (AEAD only): a
     * client offering CBC alone is refused, an AEAD one served. */
    sclient(port, "-brief -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA", NULL, out, sizeof out);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "handshake failure"));
    CU_ASSERT(t_wait_log(p, "failed: no shared cipher", 2000));
    sclient(port, "-brief -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256", NULL, out, sizeof out);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "Ciphersuite: ECDHE-ECDSA-AES128-GCM-SHA256"));
    /* ALPN: the server's first choice among the client's; none in common is a fatal alert, counted. */
    sclient(port, "-alpn http/1.1,echo/1", NULL, out, sizeof out);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "ALPN protocol: echo/1"));
    sclient(port, "-brief -servername a.test -alpn h2", NULL, out, sizeof out);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "no application protocol"));
    CU_ASSERT(t_wait_log(p, "failed: no application protocol", 2000));
    /* A version the listener does not take and plain bytes: counted apart. */
    t_proc *q = start("tls-v13.json", "{\"name\":\"v13\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\","
                                      "\"tls\":{\"cert\":\"pki/def.pem\",\"key\":\"pki/def.key\","
                                      "\"protocols\":[\"TLSv1.3\"]}}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    sclient(t_port(q, "v13"), "-tls1_2", NULL, out, sizeof out);
    CU_ASSERT(t_wait_log(q, "failed: unsupported protocol", 2000));
    int fd = t_connect_tcp(t_port(q, "v13"));
    t_send_all(fd, "GET / HTTP/1.1\r\n\r\n", 18);
    CU_ASSERT(t_wait_closed(fd, 3000));
    close(fd);
    CU_ASSERT_EQUAL(metric_now(q, "netcore_tls_failed_negotiation_total", "v13"), 1);
    CU_ASSERT_EQUAL(t_metric(t_port(q, "st"), "netcore_tls_failed_not_tls_total", "v13"), 1);
    CU_ASSERT_EQUAL(t_metric(t_port(q, "st"), "netcore_tls_handshake_failures_total", "v13"), 2);
    CU_ASSERT_EQUAL(t_metric(t_port(p, "st"), "netcore_tls_failed_negotiation_total", "sni"), 2);
    CU_ASSERT_EQUAL(t_stop(q, SIGTERM, 5000), 0);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

static void test_mutual_tls(void)
{
    char l[8192], out[8192];
    snprintf(l, sizeof l,
             "{\"name\":\"req\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\",\"tls\":{"
             "\"cert\":\"%s/def.pem\",\"key\":\"%s/def.key\",\"client_ca\":\"%s/ca.pem\"}},"
             "{\"name\":\"opt\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\",\"tls\":{"
             "\"cert\":\"%s/def.pem\",\"key\":\"%s/def.key\",\"client_ca\":\"%s/ca.pem\",\"verify\":\"optional\"}},"
             "{\"name\":\"open\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\",\"tls\":{"
             "\"cert\":\"%s/def.pem\",\"key\":\"%s/def.key\"}}",
             dir, dir, dir, dir, dir, dir, dir, dir);
    t_proc *p = start("tls-mtls.json", l);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int req = t_port(p, "req"), opt = t_port(p, "opt"), open_ = t_port(p, "open");
    /* Required: alice's certificate (signed by client_ca) is served. */
    CU_ASSERT_EQUAL(sclient(req, "-quiet -no_ign_eof -cert client.pem -key client.key", "alice here\\n", out, sizeof out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "alice here\n"));
    /* No certificate, and one from another CA: refused, named, counted, nothing echoed. */
    sclient(req, "-quiet -no_ign_eof", "nobody\\n", out, sizeof out);
    CU_ASSERT_PTR_NULL(strstr(out, "nobody\n"));
    CU_ASSERT(t_wait_log(p, "failed: peer did not return a certificate", 2000));
    sclient(req, "-quiet -no_ign_eof -cert intruder.pem -key intruder.key", "mallory\\n", out, sizeof out);
    CU_ASSERT_PTR_NULL(strstr(out, "mallory\n"));
    CU_ASSERT(t_wait_log(p, "failed: certificate verify failed", 2000));
    /* Optional: served without a certificate and with a good one; a bad one is refused. */
    CU_ASSERT_EQUAL(sclient(opt, "-quiet -no_ign_eof", "anon\\n", out, sizeof out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "anon\n"));
    CU_ASSERT_EQUAL(sclient(opt, "-quiet -no_ign_eof -cert client.pem -key client.key", "alice\\n", out, sizeof out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "alice\n"));
    sclient(opt, "-quiet -no_ign_eof -cert intruder.pem -key intruder.key", "mallory\\n", out, sizeof out);
    CU_ASSERT_PTR_NULL(strstr(out, "mallory\n"));
    /* A session from the listener without client certificates does not
     * open the one that requires them (the ticket keys are the same). */
    char args[1024];
    snprintf(args, sizeof args, "-tls1_2 -sess_out %s/open.sess", dir);
    sclient(open_, args, NULL, out, sizeof out);
    snprintf(args, sizeof args, "-tls1_2 -sess_in %s/open.sess", dir);
    sclient(req, args, "smuggled\\n", out, sizeof out);
    CU_ASSERT_PTR_NULL(strstr(out, "Reused"));
    CU_ASSERT_PTR_NULL(strstr(out, "smuggled\n"));
    /* Alice's own session resumes, with her certificate remembered. */
    snprintf(args, sizeof args, "-tls1_2 -cert client.pem -key client.key -sess_out %s/alice.sess", dir);
    sclient(req, args, NULL, out, sizeof out);
    snprintf(args, sizeof args, "-tls1_2 -sess_in %s/alice.sess", dir);
    sclient(req, args, "resumed alice\\n", out, sizeof out);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "Reused, TLSv1.2"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "resumed alice\n"));
    CU_ASSERT_EQUAL(metric_now(p, "netcore_tls_failed_client_cert_total", "req"), 3);
    CU_ASSERT_EQUAL(t_metric(t_port(p, "st"), "netcore_tls_failed_client_cert_total", "opt"), 1);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

/* The session ticket lines of s_client -reconnect: 1 new + 5 reused when
 * sessions resume. */
static int reconnect_reused(int port, const char *extra)
{
    char out[32768], args[256];
    snprintf(args, sizeof args, "-tls1_2 -reconnect %s", extra);
    sclient(port, args, NULL, out, sizeof out);
    return t_count(out, "Reused, TLSv1.2");
}

static int resumes_with(int port, const char *sess)
{
    char out[8192], args[1024];
    snprintf(args, sizeof args, "-sess_in %s/%s", dir, sess);
    sclient(port, args, "r\\n", out, sizeof out);
    return strstr(out, "Reused, TLSv1.3") != NULL;
}

/* A TLS 1.3 resumption with sess (written anew to next): the resumed
 * connection must bring a fresh ticket, since clients use each once. */
static int resumed_gets_ticket(int port, const char *sess, const char *next)
{
    char out[16384], args[1024];
    snprintf(args, sizeof args, "-tls1_3 -sess_in %s/%s -sess_out %s/%s", dir, sess, dir, next);
    sclient(port, args, "r\\n", out, sizeof out);
    return strstr(out, "Reused, TLSv1.3") && strstr(out, "Post-Handshake New Session Ticket arrived");
}

static void sess_out(int port, const char *sess)
{
    char out[8192], args[1024];
    /* TLS 1.3 sends its tickets after the handshake: the echo's round trip reads them. */
    snprintf(args, sizeof args, "-sess_out %s/%s", dir, sess);
    sclient(port, args, "t\\n", out, sizeof out);
}

static void test_sessions(void)
{
    char l[8192];
    /* Two servers (two machines) sharing ticket key files; a third with a key of its own. */
    snprintf(l, sizeof l,
             "{\"name\":\"k\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\",\"tls\":{\"cert\":\"%s/def.pem\","
             "\"key\":\"%s/def.key\",\"ticket_key_files\":[\"%s/t1.key\"]}}",
             dir, dir, dir);
    t_proc *a = start("tls-keys-a.json", l);
    snprintf(l, sizeof l,
             "{\"name\":\"k\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\",\"tls\":{\"cert\":\"%s/def.pem\","
             "\"key\":\"%s/def.key\",\"ticket_key_files\":[\"%s/t2.key\",\"%s/t1.key\"]}}",
             dir, dir, dir, dir);
    t_proc *b = start("tls-keys-b.json", l);
    snprintf(l, sizeof l,
             "{\"name\":\"k\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\",\"tls\":{\"cert\":\"%s/def.pem\","
             "\"key\":\"%s/def.key\",\"ticket_key_files\":[\"%s/t3.key\"]}}",
             dir, dir, dir);
    t_proc *c = start("tls-keys-c.json", l);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    int pa = t_port(a, "k"), pb = t_port(b, "k"), pc = t_port(c, "k");
    CU_ASSERT_EQUAL(reconnect_reused(pa, ""), 5);
    sess_out(pa, "a.sess");
    CU_ASSERT(resumes_with(pa, "a.sess"));
    CU_ASSERT(resumes_with(pb, "a.sess")); /* B decrypts with its second key, A's first */
    CU_ASSERT(!resumes_with(pc, "a.sess"));
    /* With the newest key too, a TLS 1.3 resumption renews the ticket,
     * and the new one resumes again. */
    CU_ASSERT(resumed_gets_ticket(pa, "a.sess", "a2.sess"));
    CU_ASSERT(resumed_gets_ticket(pa, "a2.sess", "a3.sess"));
    sess_out(pb, "b.sess");
    CU_ASSERT(!resumes_with(pa, "b.sess")); /* A has no t2 */
    CU_ASSERT_EQUAL(t_stop(a, SIGTERM, 5000), 0);
    CU_ASSERT_EQUAL(t_stop(b, SIGTERM, 5000), 0);
    CU_ASSERT_EQUAL(t_stop(c, SIGTERM, 5000), 0);

    /* No tickets: the per-worker cache resumes by session id; neither: nothing does. */
    snprintf(l, sizeof l,
             "{\"name\":\"c\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\",\"tls\":{\"cert\":\"%s/def.pem\","
             "\"key\":\"%s/def.key\",\"session_tickets\":false,\"session_cache\":1000}},"
             "{\"name\":\"n\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\",\"tls\":{\"cert\":\"%s/def.pem\","
             "\"key\":\"%s/def.key\",\"session_tickets\":false}}",
             dir, dir, dir, dir);
    t_proc *p = start("tls-cache.json", l);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(reconnect_reused(t_port(p, "c"), "-no_ticket"), 5);
    CU_ASSERT_EQUAL(reconnect_reused(t_port(p, "n"), ""), 0);
    CU_ASSERT_EQUAL(metric_now(p, "netcore_tls_resumed_total", "c"), 5);
    CU_ASSERT_EQUAL(t_metric(t_port(p, "st"), "netcore_tls_resumed_total", "n"), 0);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);

    /* The master's keys, rotated every second: a ticket opens while its
     * key is the newest or the one before, not after two rotations. */
    char json[4096];
    snprintf(json, sizeof json,
             "{%s\"workers\":2,\"tls_ticket_rotation_s\":1,\"listeners\":[{\"name\":\"r\",\"module\":\"echo\","
             "\"listen\":\"127.0.0.1:0\",\"tls\":{\"cert\":\"%s/def.pem\",\"key\":\"%s/def.key\"}}]}",
             root(), dir, dir);
    p = t_start(t_write_file("tls-rotate.json", json), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int pr = t_port(p, "r");
    CU_ASSERT_FATAL(t_wait_log(p, "TLS session ticket key 1 made", 4000));
    sess_out(pr, "r.sess"); /* sealed with key 1 */
    CU_ASSERT(resumes_with(pr, "r.sess"));
    CU_ASSERT(resumed_gets_ticket(pr, "r.sess", "r2.sess")); /* the master's keys renew too */
    CU_ASSERT_FATAL(t_wait_log(p, "TLS session ticket key 2 made (tls_ticket_rotation_s 1); key 1 still decrypts",
                               4000));
    CU_ASSERT(resumes_with(pr, "r.sess"));
    CU_ASSERT_FATAL(t_wait_log(p, "TLS session ticket key 3 made", 4000));
    CU_ASSERT(!resumes_with(pr, "r.sess"));
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

static void check_error(const char *tls, const char *want_tail)
{
    char json[4096], out[4096], want[4096];
    snprintf(json, sizeof json,
             "{%s\"listeners\":[{\"name\":\"x\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\",\"tls\":{%s}}]}", root(),
             tls);
    const char *path = t_write_file("tls-opts-bad.json", json);
    CU_ASSERT_EQUAL(t_run(out, sizeof out, "-t", "-c", path, NULL), 1);
    snprintf(want, sizeof want, "netcore: %s: %s\n", path, want_tail);
    if (strcmp(out, want))
        fprintf(stderr, "\n  got:  %s  want: %s", out, want);
    CU_ASSERT_STRING_EQUAL(out, want);
}

static void test_tls_option_errors(void)
{
    char tls[2048], tail[2048];
    const char *pair = "\"cert\":\"pki/def.pem\",\"key\":\"pki/def.key\"";
    snprintf(tls, sizeof tls, "%s,\"verify\":\"required\"", pair);
    check_error(tls, "listeners[0].tls.verify: \"required\" needs client_ca (the PEM file of the CAs that sign "
                     "client certificates)");
    snprintf(tls, sizeof tls, "%s,\"client_ca\":\"pki/ca.pem\",\"verify\":\"maybe\"", pair);
    check_error(tls, "listeners[0].tls.verify: expected \"none\", \"optional\" or \"required\"");
    snprintf(tls, sizeof tls, "%s,\"client_ca\":\"pki/none.pem\"", pair);
    snprintf(tail, sizeof tail, "listeners[0].tls.client_ca: %s/pki/none.pem: No such file or directory", t_tmpdir());
    check_error(tls, tail);
    snprintf(tls, sizeof tls, "%s,\"client_ca\":\"pki/t1.key\"", pair);
    snprintf(tail, sizeof tail, "listeners[0].tls.client_ca: %s/pki/t1.key: no PEM certificate in it (no certificate or crl found)",
             t_tmpdir());
    check_error(tls, tail);
    snprintf(tls, sizeof tls, "%s,\"certificates\":[{\"cert\":\"pki/a.pem\"}]", pair);
    check_error(tls, "listeners[0].tls.certificates[0].key: missing (a PEM file)");
    snprintf(tls, sizeof tls, "%s,\"certificates\":[{\"cert\":\"pki/a.pem\",\"key\":\"pki/w.key\"}]", pair);
    snprintf(tail, sizeof tail,
             "listeners[0].tls.certificates[0].key: %s/pki/w.key: the key does not match the certificate in "
             "%s/pki/a.pem",
             t_tmpdir(), t_tmpdir());
    check_error(tls, tail);
    snprintf(tls, sizeof tls, "%s,\"certificates\":[{\"cert\":\"pki/a.pem\",\"key\":\"pki/a.key\",\"names\":[]}]",
             pair);
    check_error(tls, "listeners[0].tls.certificates[0].names: expected server names (\"example.com\", "
                     "\"*.example.com\"), or no \"names\" to use the certificate's own");
    snprintf(tls, sizeof tls, "%s,\"ticket_key_files\":[\"pki/t1.key\",\"pki/short.key\"]", pair);
    snprintf(tail, sizeof tail,
             "listeners[0].tls.ticket_key_files[1]: %s/pki/short.key: 50 bytes; a ticket key file holds 80 (or 48) "
             "random bytes (openssl rand 80)",
             t_tmpdir());
    check_error(tls, tail);
    snprintf(tls, sizeof tls, "%s,\"ticket_key_files\":[\"pki/t1.key\"],\"session_tickets\":false", pair);
    check_error(tls, "listeners[0].tls.ticket_key_files: set, but session_tickets is false");
    snprintf(tls, sizeof tls, "%s,\"session_tickets\":\"yes\"", pair);
    check_error(tls, "listeners[0].tls.session_tickets: expected true or false");
}

/* self_signed_if_missing: made at first start (key 0600), logged, served
 * and verifiable for localhost; kept at the next start; -t makes nothing. */
static void test_self_signed(void)
{
    char json[4096], kp[700], cp[700], out[8192], want[2048];
    snprintf(cp, sizeof cp, "%s/run-tls/tls/cert.pem", t_tmpdir());
    snprintf(kp, sizeof kp, "%s/run-tls/tls/key.pem", t_tmpdir());
    snprintf(json, sizeof json,
             "{%s\"listeners\":[{\"name\":\"https\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\","
             "\"tls\":{\"cert\":\"run-tls/tls/cert.pem\",\"key\":\"run-tls/tls/key.pem\","
             "\"self_signed_if_missing\":true}}]}",
             root());
    const char *path = t_write_file("tls-self.json", json);
    CU_ASSERT_EQUAL(t_run(out, sizeof out, "-t", "-c", path, NULL), 0);
    CU_ASSERT(access(cp, F_OK) != 0 && access(kp, F_OK) != 0);
    t_proc *p = t_start(path, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    snprintf(want, sizeof want,
             "[https] TLS: no certificate at %s: made a self-signed one for localhost, 127.0.0.1 and ::1 (key %s); "
             "browsers will not trust it",
             cp, kp);
    CU_ASSERT(t_wait_log(p, want, 1000));
    CU_ASSERT(t_wait_log(p, "TLS: kernel TLS ", 1000));
    struct stat st;
    CU_ASSERT(stat(kp, &st) == 0 && (st.st_mode & 0777) == 0600);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "(printf 'self\\n'; sleep 0.4) | timeout 10 openssl s_client -quiet -no_ign_eof -connect 127.0.0.1:%d -CAfile %s "
             "-verify_return_error -verify_hostname localhost 2>&1",
             t_port(p, "https"), cp);
    CU_ASSERT_EQUAL(t_sh(cmd, out, sizeof out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "self\n"));
    size_t n1 = 0, n2 = 0;
    char *first = t_read_file(cp, &n1);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
    p = t_start(path, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    char *second = t_read_file(cp, &n2);
    CU_ASSERT(first && second && n1 == n2 && !memcmp(first, second, n1));
    CU_ASSERT(!strstr(p->log, "made a self-signed one"));
    free(first);
    free(second);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

int add_tlsopts_suite(void)
{
    CU_pSuite s = CU_add_suite("tlsopts", NULL, NULL);
    if (!s || !CU_add_test(s, "SNI picks certificates by name; ALPN; failures counted by reason", test_sni_alpn) ||
        !CU_add_test(s, "mutual TLS: required and optional; good, foreign and no client certificate",
                     test_mutual_tls) ||
        !CU_add_test(s, "sessions: ticket key files across servers, the cache, the master's rotation", test_sessions) ||
        !CU_add_test(s, "the options' errors name the key and the file", test_tls_option_errors) ||
        !CU_add_test(s, "self_signed_if_missing: made once, logged, served; -t writes nothing", test_self_signed))
        return -1;
    return 0;
}
