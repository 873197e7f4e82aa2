/* test_ftclient.c -- netcore-ft as a user meets it: the "done" line after
 * put and get, a local file kept unless --force, a port that does not speak
 * the protocol (echo, HTTP, a silent one) named plainly. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "suites.h"

static t_proc *P;
static int ft, echo, web;

static int setup(void)
{
    char json[1024];
    snprintf(json, sizeof json,
             "{\"listeners\":["
             "{\"name\":\"ft\",\"module\":\"file-transfer\",\"listen\":\"127.0.0.1:0\",\"options\":{\"root\":\"%s/ftc\"}},"
             "{\"name\":\"echo\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\"},"
             "{\"name\":\"web\",\"module\":\"http-static\",\"listen\":\"127.0.0.1:0\",\"options\":{\"root\":\"%s\"}}]}",
             t_tmpdir(), t_tmpdir());
    P = t_start_conf(json);
    if (!P)
        return -1;
    ft = t_port(P, "ft");
    echo = t_port(P, "echo");
    web = t_port(P, "web");
    return 0;
}

static int teardown(void)
{
    return t_stop(P, SIGTERM, 5000) == 0 ? 0 : -1;
}

/* Run netcore-ft ARGS against port; stderr+stdout into out; exit status. */
static int ftc(int port, const char *args, char *out, size_t n)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s 127.0.0.1:%d %s 2>&1", t_build_path("netcore-ft"), port, args);
    return t_sh(cmd, out, n);
}

static void test_done_and_force(void)
{
    char src[300], dst[300], args[1024], out[4096];
    snprintf(src, sizeof src, "%s/hello.txt", t_tmpdir());
    snprintf(dst, sizeof dst, "%s/back.txt", t_tmpdir());
    FILE *f = fopen(src, "w");
    for (int i = 0; i < 300; i++)
        fputs("0123456789", f); /* 3000 bytes */
    fclose(f);
    snprintf(args, sizeof args, "put %s", src);
    CU_ASSERT_EQUAL(ftc(ft, args, out, sizeof out), 0);
    T_ASSERT_STR_CONTAINS(out, "netcore-ft: put hello.txt: done, 2.9 KiB in ");
    T_ASSERT_STR_CONTAINS(out, " s, SHA-256 verified\n");
    snprintf(args, sizeof args, "get hello.txt %s", dst);
    CU_ASSERT_EQUAL(ftc(ft, args, out, sizeof out), 0);
    T_ASSERT_STR_CONTAINS(out, "netcore-ft: get hello.txt: done, 2.9 KiB in ");
    /* a second get keeps the local file */
    f = fopen(dst, "w");
    fputs("mine", f);
    fclose(f);
    CU_ASSERT_EQUAL(ftc(ft, args, out, sizeof out), 1);
    char want[600];
    snprintf(want, sizeof want, "netcore-ft: %s exists: not overwritten (use --force to replace it)\n", dst);
    CU_ASSERT_STRING_EQUAL(out, want);
    f = fopen(dst, "r");
    char b[16] = {0};
    CU_ASSERT(f && fread(b, 1, sizeof b - 1, f) == 4 && strcmp(b, "mine") == 0);
    if (f)
        fclose(f);
    snprintf(args, sizeof args, "get --force hello.txt %s", dst);
    CU_ASSERT_EQUAL(ftc(ft, args, out, sizeof out), 0);
    f = fopen(dst, "r");
    long len = -1;
    if (f) {
        fseek(f, 0, SEEK_END);
        len = ftell(f);
        fclose(f);
    }
    CU_ASSERT_EQUAL(len, 3000);
    /* -q: nothing said on success */
    snprintf(args, sizeof args, "-q put %s", src);
    CU_ASSERT_EQUAL(ftc(ft, args, out, sizeof out), 0);
    CU_ASSERT_STRING_EQUAL(out, "");
}

static void test_wrong_port(void)
{
    char out[4096], want[512];
    CU_ASSERT_EQUAL(ftc(echo, "ls", out, sizeof out), 1);
    snprintf(want, sizeof want,
             "netcore-ft: 127.0.0.1:%d does not speak the file-transfer protocol (it answered \"LIST\")\n", echo);
    CU_ASSERT_STRING_EQUAL(out, want);
    /* http-static refuses "LIST" at once (a request line without a
     * target): its answer is named */
    CU_ASSERT_EQUAL(ftc(web, "ls", out, sizeof out), 1);
    snprintf(want, sizeof want,
             "netcore-ft: 127.0.0.1:%d does not speak the file-transfer protocol (it answered \"HTTP/1.1 400 Bad "
             "Request?\")\n", web);
    CU_ASSERT_STRING_EQUAL(out, want);
    /* a peer that says nothing at all is named too (a socket that
     * listens and never reads) */
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    CU_ASSERT_FATAL(ls >= 0 && bind(ls, (struct sockaddr *)&a, sizeof a) == 0 && listen(ls, 4) == 0 &&
                    getsockname(ls, (struct sockaddr *)&a, &al) == 0);
    int silent = ntohs(a.sin_port);
    CU_ASSERT_EQUAL(ftc(silent, "ls", out, sizeof out), 1);
    snprintf(want, sizeof want,
             "netcore-ft: 127.0.0.1:%d did not answer within 5 s: is it a file-transfer listener?\n", silent);
    CU_ASSERT_STRING_EQUAL(out, want);
    close(ls);
}

int add_ftclient_suite(void)
{
    CU_pSuite s = CU_add_suite("ftclient", setup, teardown);
    if (!s || !CU_add_test(s, "put and get say done; get keeps a local file unless --force", test_done_and_force) ||
        !CU_add_test(s, "a port that does not speak the protocol is named plainly", test_wrong_port))
        return -1;
    return 0;
}
