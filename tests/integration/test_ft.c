/* test_ft.c -- the file-transfer module and netcore-ft against the real
 * process: round trips (empty, 1 byte, 1 MiB, 1 GiB sparse), resume after a
 * cut, every failure path of the atomic rules (client killed mid-upload,
 * wrong checksum, short body, a file-size limit, shutdown mid-upload, stale
 * temporaries), concurrent uploads of one name, a download of a file
 * replaced meanwhile, hostile names, limits, the <SEPARATOR> dialect, and 20
 * parallel downloads with memory flat. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "netcore/netcore.h"
#include "suites.h"

static t_proc *P;
static int ft, ro, sep, small, slow;
static char root[256];

static int setup(void)
{
    snprintf(root, sizeof root, "%s/ftroot", t_tmpdir());
    mkdir(root, 0755);
    /* a temporary left by a crash: removed at start */
    char stale[300];
    snprintf(stale, sizeof stale, "%s/.upload-99-1.tmp", root);
    FILE *f = fopen(stale, "w");
    fputs("half", f);
    fclose(f);
    char json[2048];
    snprintf(json, sizeof json,
             "{\"listeners\":["
             "{\"name\":\"ft\",\"module\":\"file-transfer\",\"listen\":\"127.0.0.1:0\",\"options\":{\"root\":\"%s\"}},"
             "{\"name\":\"ro\",\"module\":\"file-transfer\",\"listen\":\"127.0.0.1:0\",\"options\":{\"root\":\"%s\",\"read_only\":true}},"
             "{\"name\":\"sep\",\"module\":\"file-transfer\",\"listen\":\"127.0.0.1:0\",\"options\":{\"root\":\"%s\",\"dialect\":\"separator\"}},"
             "{\"name\":\"small\",\"module\":\"file-transfer\",\"listen\":\"127.0.0.1:0\",\"options\":{\"root\":\"%s\","
             "\"max_file_size\":1000,\"max_concurrent_uploads\":1}},"
             "{\"name\":\"slow\",\"module\":\"file-transfer\",\"listen\":\"127.0.0.1:0\",\"options\":{\"root\":\"%s\","
             "\"command_timeout_ms\":1000,\"upload_min_rate\":1000,\"upload_rate_window_ms\":1000,"
             "\"max_concurrent_uploads\":4}},"
             "{\"name\":\"status\",\"module\":\"status\",\"listen\":\"127.0.0.1:0\"}]}",
             root, root, root, root, root);
    P = t_start_conf(json);
    if (!P)
        return -1;
    ft = t_port(P, "ft");
    ro = t_port(P, "ro");
    sep = t_port(P, "sep");
    small = t_port(P, "small");
    slow = t_port(P, "slow");
    return access(stale, F_OK) == 0 ? -1 : 0; /* the stale temporary is gone */
}

static int teardown(void)
{
    return t_stop(P, SIGTERM, 10000) == 0 ? 0 : -1;
}

/* Stored content of NAME equals (data, n)? */
static int stored_is(const char *name, const void *data, size_t n)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", root, name);
    size_t got;
    char *b = t_read_file(p, &got);
    int same = b && got == n && memcmp(b, data, n) == 0;
    free(b);
    return same;
}

static int temporaries(void)
{
    DIR *d = opendir(root);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        n += strncmp(e->d_name, ".upload-", 8) == 0;
    closedir(d);
    return n;
}

static int ftcli(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s -q 127.0.0.1:%d %s 2>%s/ft.err", t_build_path("netcore-ft"), ft, args, t_tmpdir());
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_round_trips(void)
{
    static const size_t sizes[] = {0, 1, 1 << 20};
    for (size_t i = 0; i < 3; i++) {
        char src[300], dst[300], args[1024];
        snprintf(src, sizeof src, "%s/src%zu", t_tmpdir(), i);
        snprintf(dst, sizeof dst, "%s/dst%zu", t_tmpdir(), i);
        char *data = malloc(sizes[i] + 1);
        for (size_t k = 0; k < sizes[i]; k++)
            data[k] = (char)(rand() & 0xff);
        t_write_bytes(src, data, sizes[i]);
        snprintf(args, sizeof args, "put %s 'round trip %zu'", src, i);
        CU_ASSERT_EQUAL(ftcli(args), 0);
        char name[64];
        snprintf(name, sizeof name, "round trip %zu", i);
        CU_ASSERT(stored_is(name, data, sizes[i]));
        snprintf(args, sizeof args, "get 'round trip %zu' %s", i, dst);
        CU_ASSERT_EQUAL(ftcli(args), 0);
        size_t n;
        char *back = t_read_file(dst, &n);
        CU_ASSERT(back && n == sizes[i] && memcmp(back, data, n) == 0);
        free(back);
        free(data);
    }
    /* 1 GiB from a sparse source: put and get verify SHA-256 end to end. */
    char src[300], dst[300], args[1024];
    snprintf(src, sizeof src, "%s/big.src", t_tmpdir());
    snprintf(dst, sizeof dst, "%s/big.dst", t_tmpdir());
    int fd = open(src, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CU_ASSERT(ftruncate(fd, 1LL << 30) == 0);
    CU_ASSERT(pwrite(fd, "tail", 4, (1LL << 30) - 4) == 4);
    close(fd);
    snprintf(args, sizeof args, "put %s big", src);
    CU_ASSERT_EQUAL(ftcli(args), 0);
    snprintf(args, sizeof args, "get big %s", dst);
    CU_ASSERT_EQUAL(ftcli(args), 0);
    struct stat st;
    CU_ASSERT(stat(dst, &st) == 0 && st.st_size == 1LL << 30);
    unlink(src);
    unlink(dst);
    char p[300];
    snprintf(p, sizeof p, "%s/big", root);
    unlink(p);
    /* ls shows them */
    char out[4096];
    snprintf(args, sizeof args, "%s -q 127.0.0.1:%d ls", t_build_path("netcore-ft"), ft);
    CU_ASSERT_EQUAL(t_sh(args, out, sizeof out), 0);
    T_ASSERT_STR_CONTAINS(out, "  round trip 2\n");
    T_ASSERT_STR_CONTAINS(out, "     1048576  ");
}

static void test_resume(void)
{
    char src[300], dst[300], part[320], args[1024];
    size_t n = 3 << 20;
    char *data = malloc(n);
    for (size_t k = 0; k < n; k++)
        data[k] = (char)(k * 13 + k / 777);
    snprintf(src, sizeof src, "%s/resume.src", t_tmpdir());
    t_write_bytes(src, data, n);
    snprintf(args, sizeof args, "put %s resume.bin", src);
    CU_ASSERT_EQUAL(ftcli(args), 0);
    /* a download cut after 1 MiB */
    t_client *c = t_client_new(ft);
    t_client_send(c, "GET 0 resume.bin\n");
    char line[256];
    CU_ASSERT(t_readline(c, line, sizeof line, 5000) > 0);
    CU_ASSERT_STRING_EQUAL(line, "OK 3145728 3145728");
    char *cut = malloc(1 << 20);
    size_t have = c->len < (1u << 20) ? c->len : 1u << 20;
    memcpy(cut, c->buf, have);
    have += t_recv_exact(c->fd, cut + have, (1 << 20) - have, 5000);
    t_client_free(c);
    snprintf(dst, sizeof dst, "%s/resume.dst", t_tmpdir());
    snprintf(part, sizeof part, "%s.part", dst);
    t_write_bytes(part, cut, have);
    snprintf(args, sizeof args, "get resume.bin %s --continue", dst);
    CU_ASSERT_EQUAL(ftcli(args), 0);
    size_t got;
    char *back = t_read_file(dst, &got);
    CU_ASSERT(back && got == n && memcmp(back, data, n) == 0);
    CU_ASSERT_EQUAL(access(part, F_OK), -1);
    free(back);
    free(cut);
    free(data);
}

/* Store "old version" under name through the protocol. */
static void store_old(const char *name)
{
    t_client *c = t_client_new(ft);
    char cmd[512], line[256];
    snprintf(cmd, sizeof cmd, "PUT 11 - %s\nold version", name);
    t_client_send(c, cmd);
    CU_ASSERT(t_readline(c, line, sizeof line, 5000) > 0);
    CU_ASSERT_STRING_EQUAL(line, "CONTINUE");
    CU_ASSERT(t_readline(c, line, sizeof line, 5000) > 0);
    CU_ASSERT(strncmp(line, "OK ", 3) == 0);
    t_client_free(c);
    CU_ASSERT(stored_is(name, "old version", 11));
}

static void test_failures_keep_old(void)
{
    char line[256];
    static char body[1 << 20];
    memset(body, 'n', sizeof body);
    /* the client dies mid-upload */
    store_old("keep.txt");
    t_client *c = t_client_new(ft);
    t_client_send(c, "PUT 1048576 - keep.txt\n");
    CU_ASSERT(t_readline(c, line, sizeof line, 5000) > 0);
    t_send_all(c->fd, body, 500000);
    struct linger lg = {1, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    t_client_free(c);
    CU_ASSERT(t_wait_log(P, "upload of keep.txt abandoned after", 3000));
    CU_ASSERT(stored_is("keep.txt", "old version", 11));
    CU_ASSERT_EQUAL(temporaries(), 0);
    /* a wrong checksum: ERR 409, and the connection stays usable */
    c = t_client_new(ft);
    t_client_send(c, "PUT 5 0000000000000000000000000000000000000000000000000000000000000000 keep.txt\n");
    CU_ASSERT(t_readline(c, line, sizeof line, 5000) > 0);
    CU_ASSERT_STRING_EQUAL(line, "CONTINUE");
    t_client_send(c, "12345");
    CU_ASSERT(t_readline(c, line, sizeof line, 5000) > 0);
    CU_ASSERT_STRING_EQUAL(line, "ERR 409 checksum mismatch: the file was not kept");
    t_client_send(c, "SHA256 keep.txt\n");
    CU_ASSERT(t_readline(c, line, sizeof line, 5000) > 0);
    CU_ASSERT(strncmp(line, "OK ", 3) == 0);
    t_client_free(c);
    CU_ASSERT(stored_is("keep.txt", "old version", 11));
    CU_ASSERT_EQUAL(temporaries(), 0);
    /* the announced size never arrives: half-close after a short body */
    c = t_client_new(ft);
    t_client_send(c, "PUT 1000 - keep.txt\n");
    CU_ASSERT(t_readline(c, line, sizeof line, 5000) > 0);
    t_client_send(c, "only ten..");
    shutdown(c->fd, SHUT_WR);
    CU_ASSERT(t_wait_closed(c->fd, 3000));
    t_client_free(c);
    usleep(100000);
    CU_ASSERT(stored_is("keep.txt", "old version", 11));
    CU_ASSERT_EQUAL(temporaries(), 0);
    /* refused early, before any body: no space for a 512 GiB file */
    c = t_client_new(ft);
    t_client_send(c, "PUT 549755813888 - keep.txt\nLIST\n");
    CU_ASSERT(t_readline(c, line, sizeof line, 5000) > 0);
    CU_ASSERT_STRING_EQUAL(line, "ERR 507 not enough space");
    CU_ASSERT(t_readline(c, line, sizeof line, 5000) > 0);
    CU_ASSERT(strncmp(line, "OK ", 3) == 0); /* in step: the next request works */
    t_client_free(c);
}

static void test_fsize_limit_and_shutdown(void)
{
    /* A server limited to 64 KiB files (RLIMIT_FSIZE): writes fail with
     * EFBIG, like a full disk; the old file stays. */
    char json[1024], r2[300], line[256];
    snprintf(r2, sizeof r2, "%s/ftroot2", t_tmpdir());
    mkdir(r2, 0755);
    char old[320];
    snprintf(old, sizeof old, "%s/f.bin", r2);
    t_write_bytes(old, "old", 3);
    snprintf(json, sizeof json,
             "{\"listeners\":[{\"name\":\"lim\",\"module\":\"file-transfer\",\"listen\":\"127.0.0.1:0\","
             "\"options\":{\"root\":\"%s\"}}]}",
             r2);
    t_proc *p = t_start_ex(t_write_file("lim.json", json), 0, 65536);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    t_client *c = t_client_new(t_port(p, "lim"));
    static char body[200000];
    t_client_send(c, "PUT 200000 - f.bin\n");
    CU_ASSERT(t_readline(c, line, sizeof line, 5000) > 0);
    t_send_all(c->fd, body, sizeof body);
    CU_ASSERT(t_readline(c, line, sizeof line, 5000) > 0);
    CU_ASSERT_STRING_EQUAL(line, "ERR 507 writing failed: File too large");
    size_t n;
    char *b = t_read_file(old, &n);
    CU_ASSERT(b && n == 3 && memcmp(b, "old", 3) == 0);
    free(b);
    /* shutdown in the middle of an upload: the temporary goes, old stays */
    t_client_send(c, "PUT 50000 - f.bin\n");
    CU_ASSERT(t_readline(c, line, sizeof line, 5000) > 0);
    t_send_all(c->fd, body, 20000);
    usleep(100000);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
    t_client_free(c);
    b = t_read_file(old, &n);
    CU_ASSERT(b && n == 3 && memcmp(b, "old", 3) == 0);
    free(b);
    DIR *d = opendir(r2);
    struct dirent *e;
    int tmps = 0;
    while ((e = readdir(d)))
        tmps += e->d_name[0] == '.' && e->d_name[1] == 'u';
    closedir(d);
    CU_ASSERT_EQUAL(tmps, 0);
}

static void test_concurrent_same_name(void)
{
    static char a[100000], b[100000];
    memset(a, 'A', sizeof a);
    memset(b, 'B', sizeof b);
    char line[256];
    t_client *ca = t_client_new(ft), *cb = t_client_new(ft);
    t_client_send(ca, "PUT 100000 - race.bin\n");
    t_client_send(cb, "PUT 100000 - race.bin\n");
    CU_ASSERT(t_readline(ca, line, sizeof line, 5000) > 0);
    CU_ASSERT(t_readline(cb, line, sizeof line, 5000) > 0);
    t_send_all(ca->fd, a, 50000);
    t_send_all(cb->fd, b, sizeof b); /* B finishes first */
    CU_ASSERT(t_readline(cb, line, sizeof line, 5000) > 0);
    CU_ASSERT(stored_is("race.bin", b, sizeof b));
    t_send_all(ca->fd, a + 50000, 50000); /* A finishes last and wins, whole */
    CU_ASSERT(t_readline(ca, line, sizeof line, 5000) > 0);
    CU_ASSERT(strncmp(line, "OK ", 3) == 0);
    CU_ASSERT(stored_is("race.bin", a, sizeof a));
    t_client_free(ca);
    t_client_free(cb);
}

static void test_replaced_during_download(void)
{
    size_t n = 16 << 20;
    char *v1 = malloc(n);
    memset(v1, '1', n);
    char src[300], args[512], line[256];
    snprintf(src, sizeof src, "%s/v1", t_tmpdir());
    t_write_bytes(src, v1, n);
    snprintf(args, sizeof args, "put %s moving.bin", src);
    CU_ASSERT_EQUAL(ftcli(args), 0);
    t_client *d = t_client_new(ft);
    int small_buf = 65536;
    setsockopt(d->fd, SOL_SOCKET, SO_RCVBUF, &small_buf, sizeof small_buf);
    t_client_send(d, "GET 0 moving.bin\n");
    CU_ASSERT(t_readline(d, line, sizeof line, 5000) > 0);
    char *got = malloc(n);
    size_t have = d->len;
    memcpy(got, d->buf, have);
    have += t_recv_exact(d->fd, got + have, (1 << 20) - have, 5000);
    /* replace it while the download is under way */
    memset(v1, '2', n);
    t_write_bytes(src, v1, n);
    CU_ASSERT_EQUAL(ftcli(args), 0);
    have += t_recv_exact(d->fd, got + have, n - have, 10000);
    CU_ASSERT_EQUAL(have, n);
    size_t ones = 0;
    for (size_t i = 0; i < have; i++)
        ones += got[i] == '1';
    CU_ASSERT_EQUAL(ones, n); /* the old version, whole: never a mix */
    t_client_free(d);
    free(got);
    free(v1);
}

static void test_hostile_names_and_limits(void)
{
    static const struct {
        const char *req, *answer;
    } cases[] = {
        {"PUT 1 - ../x\n", "ERR 400 a file name must not start with '.'"},
        {"PUT 1 - /etc/passwd\n", "ERR 400 a file name must not contain '/'"},
        {"PUT 1 - a/b\n", "ERR 400 a file name must not contain '/'"},
        {"PUT 1 - .hidden\n", "ERR 400 a file name must not start with '.'"},
        {"PUT 1 - ..\n", "ERR 400 a file name must not start with '.'"},
        {"PUT 1 - x\x01y\n", "ERR 400 a file name must not contain control characters"},
        {"PUT 1 - bad\xff\n", "ERR 400 a file name must be valid UTF-8"},
        {"GET 0 ../../etc/passwd\n", "ERR 400 a file name must not start with '.'"},
        {"GET 0 nope.txt\n", "ERR 404 no such file"},
        {"GET 999 keep.txt\n", "ERR 416 offset beyond the end of the file"},
        {"SHA256 nope\n", "ERR 404 no such file"},
        {"HELLO\n", "ERR 400 unknown request (LIST, GET, PUT, SHA256, QUIT)"},
    };
    char line[512];
    t_client *c = t_client_new(ft);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        t_client_send(c, cases[i].req);
        CU_ASSERT(t_readline(c, line, sizeof line, 5000) >= 0);
        if (strcmp(line, cases[i].answer) != 0)
            fprintf(stderr, "\n  %s  want %s\n  got  %s\n", cases[i].req, cases[i].answer, line);
        CU_ASSERT_STRING_EQUAL(line, cases[i].answer);
    }
    /* a NUL inside the name, and a 300-byte name */
    t_send_all(c->fd, "PUT 1 - a\0b\n", 12);
    CU_ASSERT(t_readline(c, line, sizeof line, 5000) >= 0);
    CU_ASSERT_STRING_EQUAL(line, "ERR 400 a file name must not contain control characters");
    char longreq[400] = "PUT 1 - ";
    memset(longreq + 8, 'l', 300);
    strcpy(longreq + 308, "\n");
    t_client_send(c, longreq);
    CU_ASSERT(t_readline(c, line, sizeof line, 5000) >= 0);
    CU_ASSERT_STRING_EQUAL(line, "ERR 400 a file name is 1 to 255 bytes");
    t_client_send(c, "QUIT\n");
    CU_ASSERT(t_readline(c, line, sizeof line, 5000) >= 0);
    CU_ASSERT_STRING_EQUAL(line, "OK bye");
    t_client_free(c);
    CU_ASSERT_EQUAL(temporaries(), 0);
    /* read-only, max_file_size, max_concurrent_uploads */
    c = t_client_new(ro);
    t_client_send(c, "PUT 1 - x\nGET 0 keep.txt\n");
    CU_ASSERT(t_readline(c, line, sizeof line, 5000) >= 0);
    CU_ASSERT_STRING_EQUAL(line, "ERR 403 read-only: uploads are refused");
    CU_ASSERT(t_readline(c, line, sizeof line, 5000) >= 0);
    CU_ASSERT_STRING_EQUAL(line, "OK 11 11");
    t_client_free(c);
    c = t_client_new(small);
    t_client *c2 = t_client_new(small);
    t_client_send(c, "PUT 2000 - x\n");
    CU_ASSERT(t_readline(c, line, sizeof line, 5000) >= 0);
    CU_ASSERT_STRING_EQUAL(line, "ERR 413 larger than max_file_size");
    t_client_send(c, "PUT 10 - x\n");
    CU_ASSERT(t_readline(c, line, sizeof line, 5000) >= 0);
    CU_ASSERT_STRING_EQUAL(line, "CONTINUE");
    t_client_send(c2, "PUT 10 - y\n");
    CU_ASSERT(t_readline(c2, line, sizeof line, 5000) >= 0);
    CU_ASSERT_STRING_EQUAL(line, "ERR 503 too many uploads at once (max_concurrent_uploads)");
    t_client_free(c);
    t_client_free(c2);
}

static int list_served(int port)
{
    t_client *c = t_client_new(port);
    char line[512];
    t_client_send(c, "LIST\n");
    int ok = t_readline(c, line, sizeof line, 3000) > 0 && strncmp(line, "OK ", 3) == 0;
    t_client_free(c);
    return ok;
}

/* Slowloris: a request line trickled a byte every 250 ms gets ERR 408 at
 * command_timeout_ms (1000) and the close; so does a trickle of empty
 * lines (each an error, none a request); LIST is served meanwhile. */
static void test_slowloris_commands(void)
{
    static const char want[] = "ERR 408 request line not complete within command_timeout_ms (1000)\n";
    t_trickle *t = t_slowloris(slow, 20, "LI", 'x', 250, 12, list_served);
    CU_ASSERT_EQUAL(t->open, 0);
    CU_ASSERT(t->closed_ms >= 900 && t->closed_ms <= 2500);
    for (int i = 0; i < t->n; i++)
        CU_ASSERT_STRING_EQUAL(t->got[i], want);
    t_trickle_free(t);
    t = t_slowloris(slow, 5, NULL, '\n', 250, 12, NULL);
    CU_ASSERT_EQUAL(t->open, 0);
    for (int i = 0; i < t->n; i++) {
        size_t n = strlen(t->got[i]);
        CU_ASSERT(n > sizeof want && strcmp(t->got[i] + n - (sizeof want - 1), want) == 0);
    }
    t_trickle_free(t);
    usleep(1100000);
    CU_ASSERT_EQUAL(t_counter(t_port(P, "status"), "slow", "command_timeouts"), 25);
}

/* Upload slots: 4 uploads announcing 1 GB and sending a byte every 300 ms
 * hold all 4 slots (a fifth gets 503) until upload_min_rate (1000 B/s over
 * 1000 ms windows) drops them with ERR 408; then a normal upload succeeds
 * and no temporary is left. */
static void test_slow_uploads_dropped(void)
{
    char req[128];
    t_trickle *t = t_trickle_start(slow, 4, NULL);
    for (int i = 0; i < 4; i++) {
        snprintf(req, sizeof req, "PUT 1000000000 - trickle%d\n", i);
        t_send_all(t->fd[i], req, strlen(req));
    }
    usleep(100000);
    t_client *c = t_client_new(slow);
    t_client_send(c, "PUT 5 - normal.txt\n");
    T_LINE(c, "ERR 503 too many uploads at once (max_concurrent_uploads)");
    for (int k = 0; k < 15 && t->open; k++)
        t_trickle_step(t, 'z', 300);
    CU_ASSERT_EQUAL(t->open, 0);
    CU_ASSERT(t->closed_ms >= 900 && t->closed_ms <= 3500);
    for (int i = 0; i < t->n; i++)
        CU_ASSERT_STRING_EQUAL(t->got[i], "CONTINUE\nERR 408 upload slower than upload_min_rate (1000 bytes/s "
                                          "over 1000 ms): dropped\n");
    t_trickle_free(t);
    t_client_send(c, "PUT 5 - normal.txt\n");
    T_LINE(c, "CONTINUE");
    t_client_send(c, "hello");
    T_LINE(c, "OK 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    t_client_free(c);
    CU_ASSERT(stored_is("normal.txt", "hello", 5));
    for (int i = 0; i < 4; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s/trickle%d", root, i);
        CU_ASSERT_EQUAL(access(p, F_OK), -1);
    }
    CU_ASSERT_EQUAL(temporaries(), 0);
    usleep(1100000);
    CU_ASSERT_EQUAL(t_counter(t_port(P, "status"), "slow", "slow_uploads_dropped"), 4);
    CU_ASSERT(t_wait_log(P, "below upload_min_rate (1000 bytes/s)", 100));
}

/* A FIFO in the root: SHA256 of it is refused at once (it used to block a
 * work thread in open(2) for ever, two of them both threads, and SIGTERM
 * then never finished); SIGTERM exits within shutdown_timeout_ms. */
static void test_sha256_fifo(void)
{
    char r3[300], fifo[340], json[1024], line[256];
    snprintf(r3, sizeof r3, "%s/ftfifo", t_tmpdir());
    mkdir(r3, 0755);
    snprintf(fifo, sizeof fifo, "%s/pipe", r3);
    CU_ASSERT_EQUAL_FATAL(mkfifo(fifo, 0644), 0);
    snprintf(json, sizeof json,
             "{\"shutdown_timeout_ms\":1000,\"listeners\":[{\"name\":\"fifo\",\"module\":\"file-transfer\","
             "\"listen\":\"127.0.0.1:0\",\"options\":{\"root\":\"%s\"}}]}",
             r3);
    t_proc *p = t_start_conf(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int port = t_port(p, "fifo");
    t_client *a = t_client_new(port), *b = t_client_new(port), *c = t_client_new(port);
    t_client_send(a, "SHA256 pipe\n");
    t_client_send(b, "SHA256 pipe\n");
    T_LINE(a, "ERR 403 not a regular file");
    T_LINE(b, "ERR 403 not a regular file");
    t_client_send(c, "PUT 2 - x\n"); /* the work threads are free: an upload's commit */
    T_LINE(c, "CONTINUE");
    t_client_send(c, "hi");
    CU_ASSERT(t_readline(c, line, sizeof line, 3000) > 0 && strncmp(line, "OK ", 3) == 0);
    t_client_send(a, "SHA256 pipe\n"); /* and a client that keeps asking */
    t_client *d = t_client_new(port);
    t_client_send(d, "SHA256 pipe\n");
    usleep(100000);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 2500), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CU_ASSERT((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 2000);
    t_client_free(a);
    t_client_free(b);
    t_client_free(c);
    t_client_free(d);
}

/* Fair share of the work threads: 8 clients hashing a 256 MiB file each
 * (a hash is cut into 8 MiB jobs, each queued behind the others') delay a
 * 5-byte upload's commit by a few slices, not by whole files (it took
 * about a second before); every hash is right. */
static void test_sha256_fair_share(void)
{
    char big[300], line[256], want[80] = "";
    snprintf(big, sizeof big, "%s/zeros.bin", root);
    int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CU_ASSERT_FATAL(fd >= 0 && ftruncate(fd, 256LL << 20) == 0);
    close(fd);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "sha256sum %s", big);
    FILE *sum = popen(cmd, "r");
    CU_ASSERT_FATAL(sum != NULL && fscanf(sum, "%64s", want + 3) == 1);
    pclose(sum);
    memcpy(want, "OK ", 3);
    enum { N = 8 };
    t_client *h[N];
    for (int i = 0; i < N; i++) {
        h[i] = t_client_new(ft);
        t_client_send(h[i], "SHA256 zeros.bin\n");
    }
    usleep(50000);
    t_client *up = t_client_new(ft);
    t_client_send(up, "PUT 5 - five.txt\n");
    T_LINE(up, "CONTINUE");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    t_client_send(up, "hello");
    T_LINE(up, "OK 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    fprintf(stderr, "(upload answered in %ld ms behind %d hashes) ", ms, N);
    CU_ASSERT(ms < 250);
    for (int i = 0; i < N; i++) {
        CU_ASSERT(t_readline(h[i], line, sizeof line, 20000) > 0);
        CU_ASSERT_STRING_EQUAL(line, want);
        t_client_free(h[i]);
    }
    t_client_free(up);
    unlink(big);
}

/* The tutorial's download client, step for step: send the name (no
 * terminator), ONE recv(1024) for the header, decode it (UTF-8), split it
 * on <SEPARATOR> into exactly two parts, status "0", size = int() of the
 * rest (Python's: surrounding whitespace allowed, digits only), then recv
 * until the server closes and write it all.  Returns 1 when the file
 * arrived whole and equal to want. */
static int tutorial_download(int port, const char *name, const char *want, size_t size)
{
    int fd = t_connect_tcp(port);
    if (fd < 0)
        return 0;
    t_send_all(fd, name, strlen(name));
    char hdr[1025];
    ssize_t r = recv(fd, hdr, 1024, 0);
    int ok = r > 0 && nc_utf8_valid(hdr, (size_t)r);
    if (ok) {
        hdr[r] = '\0';
        char *mark = strstr(hdr, "<SEPARATOR>");
        char *sz = mark ? mark + 11 : NULL;
        ok = mark && !strstr(sz, "<SEPARATOR>") && mark - hdr == 1 && hdr[0] == '0';
        while (ok && *sz == ' ')
            sz++;
        char *end = sz;
        while (ok && *end >= '0' && *end <= '9')
            end++;
        ok = ok && end > sz && strspn(end, " \t\r\n") == strlen(end) && strtoull(sz, NULL, 10) == size;
    }
    char *got = malloc(size + 65536);
    size_t n = 0;
    for (;;) {
        ssize_t k = recv(fd, got + n, size + 65536 - n, 0);
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    ok = ok && n == size && memcmp(got, want, size) == 0;
    free(got);
    close(fd);
    return ok;
}

typedef struct dl_series {
    const char *name;
    const char *data;
    size_t size;
    int whole; /* of 200 */
} dl_series;

static void *series(void *arg)
{
    dl_series *d = arg;
    for (int i = 0; i < 200; i++)
        d->whole += tutorial_download(sep, d->name, d->data, d->size);
    return NULL;
}

/* 200 downloads in a row with the tutorial's exact client logic, of files of
 * 0 B, 1 B, 1 KiB and 3 MiB (the four series side by side): every one
 * whole.  Before, header and file came in one write, so recv(1024) got file
 * bytes in the size field (a bad size for text, a decode error for binary). */
static void test_tutorial_download_client(void)
{
    static dl_series d[4] = {{"t0.bin", NULL, 0, 0}, {"t1.bin", NULL, 1, 0}, {"t1k.txt", NULL, 1024, 0},
                             {"t3m.bin", NULL, 3 << 20, 0}};
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        char *b = malloc(d[i].size + 1), p[600];
        for (size_t k = 0; k < d[i].size; k++)
            b[k] = i == 2 ? (char)('a' + k % 26) : (char)(rand() & 0xff); /* 1 KiB of text, the others binary */
        if (i == 1)
            b[0] = (char)0xff; /* never valid UTF-8 */
        snprintf(p, sizeof p, "%s/%s", root, d[i].name);
        t_write_bytes(p, b, d[i].size);
        d[i].data = b;
        d[i].whole = 0;
    }
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, series, &d[i]);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        if (d[i].whole != 200)
            fprintf(stderr, "\n  %s: %d of 200 whole\n", d[i].name, d[i].whole);
        CU_ASSERT_EQUAL(d[i].whole, 200);
        free((void *)(uintptr_t)d[i].data);
    }
}

/* What the tutorial scripts send: one connection per transfer. */
/* A separator download's answer: the header padded with spaces to 1024
 * bytes, then the file. */
static size_t sep_answer(char *out, long long size, const char *body)
{
    int n = snprintf(out, 1025, "0<SEPARATOR>%lld", size);
    memset(out + n, ' ', 1024 - (size_t)n);
    strcpy(out + 1024, body);
    return 1024 + strlen(body);
}

static void test_separator_dialect(void)
{
    char buf[2048], want[2048];
    sep_answer(want, 12, "hello, world");
    int fd = t_connect_tcp(sep);
    t_send_all(fd, "tut.txt<SEPARATOR>12", 20);
    CU_ASSERT_EQUAL(t_recv_exact(fd, buf, 2, 5000), 2);
    CU_ASSERT_EQUAL(memcmp(buf, "ok", 2), 0);
    t_send_all(fd, "hello, world", 12);
    close(fd);
    usleep(300000);
    CU_ASSERT(stored_is("tut.txt", "hello, world", 12));
    /* a client that does not wait for "ok" (header and body together) */
    fd = t_connect_tcp(sep);
    t_send_all(fd, "tut2.txt<SEPARATOR>5abcde", 25);
    shutdown(fd, SHUT_WR);
    t_recv_exact(fd, buf, 2, 5000);
    close(fd);
    usleep(300000);
    CU_ASSERT(stored_is("tut2.txt", "abcde", 5));
    /* download */
    fd = t_connect_tcp(sep);
    t_send_all(fd, "tut.txt\n", 8);
    int eof = 0;
    size_t n = t_recv_all(fd, buf, sizeof buf - 1, 5000, &eof);
    buf[n] = '\0';
    CU_ASSERT_STRING_EQUAL(buf, want);
    CU_ASSERT_EQUAL(eof, 1);
    close(fd);
    fd = t_connect_tcp(sep);
    t_send_all(fd, "tut.txt", 7); /* no terminator at all */
    n = t_recv_all(fd, buf, sizeof buf - 1, 5000, &eof);
    buf[n] = '\0';
    CU_ASSERT_STRING_EQUAL(buf, want);
    close(fd);
    fd = t_connect_tcp(sep);
    t_send_all(fd, "missing.txt", 11);
    n = t_recv_all(fd, buf, sizeof buf - 1, 5000, &eof);
    buf[n] = '\0';
    CU_ASSERT_STRING_EQUAL(buf, "-1<SEPARATOR>no such file");
    CU_ASSERT_EQUAL(eof, 1);
    close(fd);
    /* short and long bodies are not kept */
    fd = t_connect_tcp(sep);
    t_send_all(fd, "tut.txt<SEPARATOR>100", 21);
    t_recv_exact(fd, buf, 2, 5000);
    t_send_all(fd, "short", 5);
    close(fd);
    fd = t_connect_tcp(sep);
    t_send_all(fd, "tut.txt<SEPARATOR>3", 19);
    t_recv_exact(fd, buf, 2, 5000);
    t_send_all(fd, "toolong", 7);
    close(fd);
    usleep(300000);
    CU_ASSERT(stored_is("tut.txt", "hello, world", 12));
    CU_ASSERT_EQUAL(temporaries(), 0);
}

static void test_parallel_downloads(void)
{
    char p[300];
    snprintf(p, sizeof p, "%s/large.bin", root);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CU_ASSERT(ftruncate(fd, 64 << 20) == 0);
    close(fd);
    enum { N = 20 };
    int fds[N];
    long rss0 = t_rss_kib(P->pid), rss_max = rss0;
    for (int i = 0; i < N; i++) {
        fds[i] = t_connect_tcp(ft);
        t_send_all(fds[i], "GET 0 large.bin\n", 16);
    }
    static char chunk[1 << 16];
    size_t total[N] = {0};
    size_t want = (64u << 20) + 19; /* "OK 67108864 67108864\n" is 21 bytes */
    want = (64u << 20) + 21;
    int done = 0, rounds = 0;
    while (done < N && rounds++ < 100000) {
        done = 0;
        for (int i = 0; i < N; i++) {
            if (total[i] >= want) {
                done++;
                continue;
            }
            ssize_t r = recv(fds[i], chunk, sizeof chunk, MSG_DONTWAIT);
            if (r > 0)
                total[i] += (size_t)r;
        }
        if (rounds % 256 == 0) {
            long rss = t_rss_kib(P->pid);
            if (rss > rss_max)
                rss_max = rss;
        }
    }
    CU_ASSERT_EQUAL(done, N);
    CU_ASSERT(rss_max - rss0 < 8192); /* 20 x 64 MiB in flight, memory flat */
    for (int i = 0; i < N; i++)
        close(fds[i]);
    unlink(p);
}

int add_ft_suite(void)
{
    CU_pSuite s = CU_add_suite("ft", setup, teardown);
    if (!s || !CU_add_test(s, "round trips: empty, 1 B, 1 MiB, 1 GiB sparse; ls", test_round_trips) ||
        !CU_add_test(s, "resume after a cut with --continue", test_resume) ||
        !CU_add_test(s, "killed client, bad checksum, short body, no space: old kept", test_failures_keep_old) ||
        !CU_add_test(s, "file-size limit and shutdown mid-upload: old kept", test_fsize_limit_and_shutdown) ||
        !CU_add_test(s, "concurrent uploads of one name: the last wins whole", test_concurrent_same_name) ||
        !CU_add_test(s, "a file replaced during its download: one version whole", test_replaced_during_download) ||
        !CU_add_test(s, "hostile names, protocol errors, read-only and limits", test_hostile_names_and_limits) ||
        !CU_add_test(s, "the <SEPARATOR> dialect, both directions", test_separator_dialect) ||
        !CU_add_test(s, "the tutorial's download client: 200 x 0 B, 1 B, 1 KiB, 3 MiB, all whole",
                     test_tutorial_download_client) ||
        !CU_add_test(s, "slowloris: request lines closed at command_timeout_ms", test_slowloris_commands) ||
        !CU_add_test(s, "slow uploads dropped at upload_min_rate; slots free again", test_slow_uploads_dropped) ||
        !CU_add_test(s, "SHA256 of a FIFO refused; SIGTERM within shutdown_timeout_ms", test_sha256_fifo) ||
        !CU_add_test(s, "8 SHA256 of 256 MiB: a 5-byte upload still answered at once", test_sha256_fair_share) ||
        !CU_add_test(s, "20 parallel downloads of 64 MiB, memory flat", test_parallel_downloads))
        return -1;
    return 0;
}
