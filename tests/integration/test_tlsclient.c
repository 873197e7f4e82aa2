/* test_tlsclient.c -- netcore-bench and netcore-ft over TLS against servers
 * that are not netcore's TLS: nginx (ssl, session tickets) for handshakes,
 * resumption and http, and haproxy terminating TLS in front of netcore's
 * plain echo and file-transfer listeners; certificates made by openssl in
 * the test's folder.  Wrong CAs and names fail with the problem named. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "suites.h"

static t_proc *P;              /* netcore: plain echo and file-transfer */
static pid_t nginx_pid, haproxy_pid;
static int web_port, echo_tls, ft_tls, ft_plain, chat_tls;
static char dir[300];          /* <tmpdir>/tls */

/* A port nothing listens on now (bound, read, closed). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(sa.sin_port);
}

/* argv[0] (from PATH) with its output into dir/log; returns its pid. */
static pid_t spawn(const char *log, const char *const argv[])
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", dir, log);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (nul >= 0)
            dup2(nul, 0);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static int wait_port(int port, pid_t pid)
{
    for (int i = 0; i < 250; i++) {
        int fd = t_connect_tcp(port);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return -1;
        usleep(20000);
    }
    return -1;
}

static void stop_pid(pid_t *pid)
{
    if (*pid <= 0)
        return;
    kill(*pid, SIGTERM);
    for (int i = 0; i < 250; i++) {
        if (waitpid(*pid, NULL, WNOHANG) == *pid) {
            *pid = 0;
            return;
        }
        usleep(20000);
    }
    kill(*pid, SIGKILL); /* not reaped yet: the pid is still our child's */
    waitpid(*pid, NULL, 0);
    *pid = 0;
}

/* t_write_bytes without CUnit (setup runs outside any test). */
static int put_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "w");
    int ok = f && fwrite(data, 1, n, f) == n;
    if (f && fclose(f) != 0)
        ok = 0;
    if (!ok)
        fprintf(stderr, "cannot write %s\n", path);
    return ok ? 0 : -1;
}

/* cert.pem/key.pem: localhost and 127.0.0.1, self-signed (its own CA);
 * other.pem: an unrelated self-signed certificate, the wrong CA. */
static int make_certs(void)
{
    const char *req = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 2>/dev/null";
    if (t_shf("%s -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost "
           "-keyout %s/key.pem -out %s/cert.pem", req, dir, dir) != 0 ||
        t_shf("%s -subj /CN=other -keyout %s/okey.pem -out %s/other.pem", req, dir, dir) != 0 ||
        t_shf("cat %s/cert.pem %s/key.pem > %s/both.pem", dir, dir, dir) != 0)
        return -1;
    return 0;
}

static int start_nginx(void)
{
    char conf[8192], path[400];
    web_port = free_port();
    snprintf(conf, sizeof conf,
             "worker_processes 1;\ndaemon off;\nmaster_process off;\npid %s/nginx.pid;\n"
             "error_log %s/nginx.err warn;\nevents { worker_connections 256; }\nhttp {\n"
             "  access_log off;\n  client_body_temp_path %s/t; proxy_temp_path %s/t; fastcgi_temp_path %s/t;\n"
             "  uwsgi_temp_path %s/t; scgi_temp_path %s/t;\n"
             "  server {\n    listen 127.0.0.1:%d ssl;\n    ssl_certificate %s/cert.pem;\n"
             "    ssl_certificate_key %s/key.pem;\n    ssl_protocols TLSv1.2 TLSv1.3;\n"
             "    ssl_session_tickets on;\n    root %s/www;\n  }\n}\n",
             dir, dir, dir, dir, dir, dir, dir, web_port, dir, dir, dir);
    snprintf(path, sizeof path, "%s/nginx.conf", dir);
    if (put_file(path, conf, strlen(conf)) < 0)
        return -1;
    const char *const argv[] = {"nginx", "-p", dir, "-c", path, NULL};
    nginx_pid = spawn("nginx.log", argv);
    return wait_port(web_port, nginx_pid);
}

/* haproxy in tcp mode: TLS on echo_tls, ft_tls and chat_tls, plain to
 * netcore. */
static int start_haproxy(int echo_port, int ft_port, int chat_port)
{
    char conf[8192], path[400];
    echo_tls = free_port();
    ft_tls = free_port();
    chat_tls = free_port();
    snprintf(conf, sizeof conf,
             "global\n  maxconn 256\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n"
             "  timeout server 30s\n"
             "listen echo\n  bind 127.0.0.1:%d ssl crt %s/both.pem\n  server s 127.0.0.1:%d\n"
             "listen ft\n  bind 127.0.0.1:%d ssl crt %s/both.pem\n  server s 127.0.0.1:%d\n"
             "listen chat\n  bind 127.0.0.1:%d ssl crt %s/both.pem\n  server s 127.0.0.1:%d\n",
             echo_tls, dir, echo_port, ft_tls, dir, ft_port, chat_tls, dir, chat_port);
    snprintf(path, sizeof path, "%s/haproxy.cfg", dir);
    if (put_file(path, conf, strlen(conf)) < 0)
        return -1;
    const char *const argv[] = {"haproxy", "-db", "-f", path, NULL};
    haproxy_pid = spawn("haproxy.log", argv);
    if (wait_port(echo_tls, haproxy_pid) < 0 || wait_port(ft_tls, haproxy_pid) < 0)
        return -1;
    return wait_port(chat_tls, haproxy_pid);
}

static int setup(void)
{
    snprintf(dir, sizeof dir, "%s/tls", t_tmpdir());
    if (t_shf("mkdir -p %s/www %s/t %s/ft", dir, dir, dir) != 0 || make_certs() < 0)
        return -1;
    char body[1024];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (char)('a' + i % 26);
    char path[400];
    snprintf(path, sizeof path, "%s/www/1k.bin", dir);
    if (put_file(path, body, sizeof body) < 0)
        return -1;
    char json[2048];
    snprintf(json, sizeof json,
             "{\"listeners\":["
             "{\"name\":\"ft\",\"module\":\"file-transfer\",\"listen\":\"127.0.0.1:0\",\"options\":{\"root\":\"%s/ft\"}},"
             "{\"name\":\"echo\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\"},"
             "{\"name\":\"chat\",\"module\":\"chat\",\"listen\":\"127.0.0.1:0\"}]}",
             dir);
    P = t_start_conf(json);
    if (!P)
        return -1;
    ft_plain = t_port(P, "ft");
    if (start_nginx() < 0) {
        fprintf(stderr, "nginx did not start (see %s/nginx.log)\n", dir);
        return -1;
    }
    if (start_haproxy(t_port(P, "echo"), ft_plain, t_port(P, "chat")) < 0) {
        fprintf(stderr, "haproxy did not start (see %s/haproxy.log)\n", dir);
        return -1;
    }
    return 0;
}

static int teardown(void)
{
    stop_pid(&haproxy_pid);
    stop_pid(&nginx_pid);
    return P && t_stop(P, SIGTERM, 5000) == 0 ? 0 : -1;
}

/* netcore-bench ARGS --json -q: the first target's JSON (caller frees the
 * root, *root), its exit status in *status. */
static json_t *bench(json_t **root, int *status, const char *fmt, ...)
{
    char args[1200], cmd[1600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s --json -q", t_build_path("netcore-bench"), args);
    static char out[1 << 16];
    *status = t_sh(cmd, out, sizeof out);
    *root = json_loads(out, 0, NULL);
    if (!*root)
        fprintf(stderr, "\n  not JSON from %s:\n%s\n", cmd, out);
    return json_array_get(json_object_get(*root, "targets"), 0);
}

static long long jint(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* The one round's figures (the runs here have -r 1). */
static json_t *round1(json_t *t)
{
    return json_array_get(json_object_get(t, "rounds"), 0);
}

static void test_handshake(void)
{
    int st;
    json_t *root;
    json_t *t = bench(&root, &st, "handshake --tls --cacert %s/cert.pem -c 4 -d 0.5 -w 0.1 -r 1 localhost:%d",
                      dir, web_port);
    CU_ASSERT_EQUAL(st, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    json_t *r = round1(t);
    CU_ASSERT(jint(r, "ops") > 0);
    CU_ASSERT_EQUAL(jint(t, "errors"), 0);
    /* every handshake counted was a full one: nothing was offered */
    CU_ASSERT_EQUAL(jint(r, "tls_full"), jint(r, "ops"));
    CU_ASSERT_EQUAL(jint(r, "tls_resumed"), 0);
    json_decref(root);
    /* an IP target is checked against the certificate's IP name */
    t = bench(&root, &st, "handshake --tls --cacert %s/cert.pem -c 2 -d 0.3 -w 0 -r 1 127.0.0.1:%d", dir,
              web_port);
    CU_ASSERT_EQUAL(st, 0);
    CU_ASSERT(jint(round1(t), "ops") > 0);
    CU_ASSERT_EQUAL(jint(t, "errors"), 0);
    json_decref(root);
}

/* --resume, on TLS 1.3 (tickets after the handshake) and 1.2 (in it). */
static void test_resume(void)
{
    static const char *const versions[] = {"1.3", "1.2"};
    for (int i = 0; i < 2; i++) {
        int st;
        json_t *root;
        json_t *t = bench(&root, &st,
                          "handshake --tls --cacert %s/cert.pem --resume --tls-version %s -c 4 -d 0.5 -w 0.2 -r 1 "
                          "localhost:%d", dir, versions[i], web_port);
        CU_ASSERT_EQUAL(st, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        json_t *r = round1(t);
        long long ops = jint(r, "ops"), full = jint(r, "tls_full"), resumed = jint(r, "tls_resumed");
        if (resumed * 10 < ops * 9)
            fprintf(stderr, "\n  TLS %s: %lld handshakes, %lld resumed, %lld full\n", versions[i], ops, resumed,
                    full);
        CU_ASSERT(ops > 0);
        CU_ASSERT_EQUAL(full + resumed, ops);
        /* the slots' first (full) handshakes fall in the warm-up */
        CU_ASSERT(resumed * 10 >= ops * 9);
        CU_ASSERT_EQUAL(jint(t, "errors"), 0);
        json_decref(root);
    }
    /* the table says it in words */
    char cmd[1200], out[8192];
    snprintf(cmd, sizeof cmd, "%s handshake --tls --insecure --resume -c 2 -d 0.3 -w 0.1 -r 1 -q N=localhost:%d",
             t_build_path("netcore-bench"), web_port);
    CU_ASSERT_EQUAL(t_sh(cmd, out, sizeof out), 0);
    T_ASSERT_STR_CONTAINS(out, "connections, each connect, TLS handshake, close, TLS, sessions resumed;");
    T_ASSERT_STR_CONTAINS(out, "N: ");
    T_ASSERT_STR_CONTAINS(out, " TLS handshakes in all rounds, ");
}

static void test_http(void)
{
    int st;
    json_t *root;
    json_t *t = bench(&root, &st, "http --tls --cacert %s/cert.pem --path /1k.bin -c 4 -D 2 -d 0.5 -w 0.1 -r 1 "
                                  "localhost:%d", dir, web_port);
    CU_ASSERT_EQUAL(st, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    json_t *r = round1(t);
    CU_ASSERT(jint(r, "ops") > 0);
    CU_ASSERT_EQUAL(jint(r, "bytes"), jint(r, "ops") * 1024);
    CU_ASSERT_EQUAL(jint(t, "errors"), 0);
    json_decref(root);
    /* a new connection (and handshake) per request */
    t = bench(&root, &st, "http --tls --insecure --close --path /1k.bin -c 2 -d 0.3 -w 0 -r 1 localhost:%d",
              web_port);
    CU_ASSERT_EQUAL(st, 0);
    CU_ASSERT(jint(round1(t), "ops") > 0);
    CU_ASSERT_EQUAL(jint(t, "errors"), 0);
    json_decref(root);
}

/* netcore-bench ARGS, stderr and stdout into out; the exit status. */
static int bench_text(char *out, size_t n, const char *fmt, ...)
{
    char args[1200], cmd[1600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s 2>&1 >/dev/null", t_build_path("netcore-bench"), args);
    return t_sh(cmd, out, n);
}

static void test_verify(void)
{
    char out[4096], want[1024];
    /* the wrong CA: said once, even with -q, and the run stops */
    CU_ASSERT_EQUAL(bench_text(out, sizeof out, "http --tls --cacert %s/other.pem -c 2 -d 5 -w 0 -r 1 -q A=localhost:%d",
                               dir, web_port), 1);
    snprintf(want, sizeof want,
             "netcore-bench: A: TLS handshake failed: certificate verify failed: self-signed certificate "
             "(name checked: localhost; CA: %s/other.pem); stopping (give the server's CA with --cacert FILE, "
             "or --insecure)\n", dir);
    CU_ASSERT_STRING_EQUAL(out, want);
    /* the right CA, the wrong name */
    CU_ASSERT_EQUAL(bench_text(out, sizeof out, "handshake --tls --cacert %s/cert.pem --sni example.org -c 1 -d 5 "
                                                "-w 0 -r 1 -q A=localhost:%d", dir, web_port), 1);
    snprintf(want, sizeof want,
             "netcore-bench: A: TLS handshake failed: certificate verify failed: hostname mismatch "
             "(name checked: example.org; CA: %s/cert.pem); stopping (give the server's CA with --cacert FILE, "
             "or --insecure)\n", dir);
    CU_ASSERT_STRING_EQUAL(out, want);
    /* --insecure takes the same server */
    int st;
    json_t *root;
    json_t *t = bench(&root, &st, "handshake --tls --insecure -c 2 -d 0.3 -w 0 -r 1 localhost:%d", web_port);
    CU_ASSERT_EQUAL(st, 0);
    CU_ASSERT(jint(round1(t), "ops") > 0);
    CU_ASSERT_EQUAL(jint(t, "errors"), 0);
    json_decref(root);
    /* TLS options without --tls, and a bad version, are usage errors */
    CU_ASSERT_EQUAL(bench_text(out, sizeof out, "http --insecure localhost:%d", web_port), 2);
    T_ASSERT_STR_CONTAINS(out, "netcore-bench: --cacert, --insecure, --sni, --alpn, --tls-ciphers, "
                               "--tls-ciphersuites, --tls-version and --resume need --tls\n");
    CU_ASSERT_EQUAL(bench_text(out, sizeof out, "handshake --tls --tls-version 1.1 -d 0.1 -r 1 -q localhost:%d",
                               web_port), 2);
    CU_ASSERT_STRING_EQUAL(out, "netcore-bench: --tls-version \"1.1\": expected 1.2 or 1.3\n");
    CU_ASSERT_EQUAL(bench_text(out, sizeof out, "handshake -d 0.1 -r 1 -q localhost:%d", web_port), 2);
    CU_ASSERT_STRING_EQUAL(out, "netcore-bench: handshake measures TLS handshakes: it needs --tls\n");
}

/* echo, chat and file through haproxy's TLS: every byte, message sequence
 * and SHA-256 checked by the scenarios. */
static void test_echo_file_via_proxy(void)
{
    int st;
    json_t *root;
    json_t *t = bench(&root, &st, "echo --tls --cacert %s/cert.pem -c 4 -s 3000 -D 2 -d 0.5 -w 0.1 -r 1 127.0.0.1:%d",
                      dir, echo_tls);
    CU_ASSERT_EQUAL(st, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT(jint(round1(t), "ops") > 0);
    CU_ASSERT_EQUAL(jint(round1(t), "bytes"), jint(round1(t), "ops") * 3000);
    CU_ASSERT_EQUAL(jint(t, "errors"), 0);
    json_decref(root);
    t = bench(&root, &st, "chat --tls --cacert %s/cert.pem -c 2 -d 0.5 -w 0.1 -r 1 localhost:%d", dir, chat_tls);
    CU_ASSERT_EQUAL(st, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT(jint(round1(t), "ops") > 0);
    CU_ASSERT_EQUAL(jint(t, "errors"), 0);
    json_decref(root);
    char path[400], data[200000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)(i * 31 + i / 251);
    snprintf(path, sizeof path, "%s/ft/bench.bin", dir);
    t_write_bytes(path, data, sizeof data);
    t = bench(&root, &st, "file --tls --cacert %s/cert.pem --name bench.bin -c 2 -d 0.5 -w 0.1 -r 1 127.0.0.1:%d",
              dir, ft_tls);
    CU_ASSERT_EQUAL(st, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT(jint(round1(t), "ops") > 0);
    CU_ASSERT_EQUAL(jint(t, "errors"), 0);
    json_decref(root);
}

/* netcore-ft ARGS (stdout and stderr into out); its exit status. */
static int ftc(char *out, size_t n, const char *fmt, ...)
{
    char args[1200], cmd[1600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", t_build_path("netcore-ft"), args);
    return t_sh(cmd, out, n);
}

static void test_ft(void)
{
    char src[400], dst[400], out[4096], want[1024], sum[256];
    snprintf(src, sizeof src, "%s/up.bin", dir);
    snprintf(dst, sizeof dst, "%s/down.bin", dir);
    size_t n = 3u << 20; /* 3 MiB: many TLS records, several sendfile-sized chunks */
    char *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (char)(i * 7 + i / 4093);
    t_write_bytes(src, data, n);
    CU_ASSERT_EQUAL(ftc(out, sizeof out, "127.0.0.1:%d --tls --cacert %s/cert.pem put %s", ft_tls, dir, src), 0);
    T_ASSERT_STR_CONTAINS(out, "netcore-ft: put up.bin: done, 3.0 MiB in ");
    /* what arrived behind the proxy is the file, byte for byte */
    char stored[400];
    snprintf(stored, sizeof stored, "%s/ft/up.bin", dir);
    size_t got = 0;
    char *back = t_read_file(stored, &got);
    CU_ASSERT(back && got == n && memcmp(back, data, n) == 0);
    free(back);
    CU_ASSERT_EQUAL(ftc(out, sizeof out, "127.0.0.1:%d --tls --cacert %s/cert.pem get up.bin %s", ft_tls, dir, dst), 0);
    T_ASSERT_STR_CONTAINS(out, "netcore-ft: get up.bin: done, 3.0 MiB in ");
    back = t_read_file(dst, &got);
    CU_ASSERT(back && got == n && memcmp(back, data, n) == 0);
    free(back);
    /* sha256 and ls over TLS say what sha256sum and the file say */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "sha256sum %s | cut -c1-64", src);
    CU_ASSERT_EQUAL(t_sh(cmd, sum, sizeof sum), 0);
    sum[64] = '\0';
    CU_ASSERT_EQUAL(ftc(out, sizeof out, "localhost:%d --tls --cacert %s/cert.pem sha256 up.bin", ft_tls, dir), 0);
    snprintf(want, sizeof want, "%s  up.bin\n", sum);
    CU_ASSERT_STRING_EQUAL(out, want);
    CU_ASSERT_EQUAL(ftc(out, sizeof out, "127.0.0.1:%d --tls --insecure ls", ft_tls), 0);
    T_ASSERT_STR_CONTAINS(out, "     3145728  ");
    T_ASSERT_STR_CONTAINS(out, "  up.bin\n");
    free(data);
}

static void test_ft_refusals(void)
{
    char out[4096], want[1024];
    CU_ASSERT_EQUAL(ftc(out, sizeof out, "127.0.0.1:%d --tls --cacert %s/other.pem ls", ft_tls, dir), 1);
    snprintf(want, sizeof want,
             "netcore-ft: TLS handshake with 127.0.0.1:%d failed: certificate verify failed: self-signed "
             "certificate (name checked: 127.0.0.1; CA: %s/other.pem)\n", ft_tls, dir);
    CU_ASSERT_STRING_EQUAL(out, want);
    /* TLS to the plain listener: a handshake failure, not a protocol one */
    CU_ASSERT_EQUAL(ftc(out, sizeof out, "127.0.0.1:%d --tls --insecure ls", ft_plain), 1);
    snprintf(want, sizeof want, "netcore-ft: TLS handshake with 127.0.0.1:%d failed: ", ft_plain);
    CU_ASSERT_NSTRING_EQUAL(out, want, strlen(want));
    CU_ASSERT_EQUAL(ftc(out, sizeof out, "127.0.0.1:%d --insecure ls", ft_tls), 2);
    CU_ASSERT_STRING_EQUAL(out, "netcore-ft: --cacert and --insecure need --tls\n");
}

int add_tlsclient_suite(void)
{
    CU_pSuite s = CU_add_suite("tlsclient", setup, teardown);
    if (!s || !CU_add_test(s, "bench handshake against nginx: full handshakes, no errors", test_handshake) ||
        !CU_add_test(s, "bench --resume: TLS 1.3 and 1.2 sessions resumed, counted apart", test_resume) ||
        !CU_add_test(s, "bench http --tls: every 1 KiB body, keep-alive and --close", test_http) ||
        !CU_add_test(s, "a wrong CA or name is named and stops the run; --insecure passes", test_verify) ||
        !CU_add_test(s, "bench echo, chat and file over TLS through haproxy", test_echo_file_via_proxy) ||
        !CU_add_test(s, "netcore-ft put, get, sha256, ls over TLS through haproxy", test_ft) ||
        !CU_add_test(s, "netcore-ft: a wrong CA and TLS to a plain port are named", test_ft_refusals))
        return -1;
    return 0;
}
