/* test_udp.c -- the udp-receiver module against the real process: several
 * senders, sizes 0 to 65,507, UTF-8 and binary payloads, both formats, ack
 * and echo replies, "bye", log reopen, SIGTERM right after a burst with no
 * record lost, counters, a multicast group (in a network namespace of the
 * test's own), option errors, and -t creating no output file. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "netcore/netcore.h"
#include "suites.h"

static t_proc *P;
static char jpath[300], tpath[300];

static int setup(void)
{
    snprintf(jpath, sizeof jpath, "%s/udp-json.log", t_tmpdir());
    snprintf(tpath, sizeof tpath, "%s/udp-text.log", t_tmpdir());
    char json[2048];
    snprintf(json, sizeof json,
             "{\"listeners\":["
             "{\"name\":\"uj\",\"module\":\"udp-receiver\",\"listen\":\"127.0.0.1:0\",\"transport\":\"udp\","
             "\"options\":{\"output\":\"%s\",\"reply\":\"ack\",\"rcvbuf\":8388608}},"
             "{\"name\":\"ut\",\"module\":\"udp-receiver\",\"listen\":\"[::1]:0\",\"transport\":\"udp\","
             "\"options\":{\"output\":\"%s\",\"format\":\"text\",\"reply\":\"echo\",\"batch\":8}}]}",
             jpath, tpath);
    P = t_start_conf(json);
    return P ? 0 : -1;
}

static int teardown(void)
{
    return t_stop(P, SIGTERM, 5000) == 0 ? 0 : -1;
}

static int udp_sock(int family)
{
    int fd = socket(family, SOCK_DGRAM, 0);
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int big = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    return fd;
}

static void send4(int fd, int port, const void *d, size_t n)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CU_ASSERT_EQUAL(sendto(fd, d, n, 0, (struct sockaddr *)&sa, sizeof sa), (ssize_t)n);
}

static int local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    return ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                                   : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* The file's text, "" when there is none (malloc'd either way). */
static char *slurp(const char *path)
{
    char *b = t_read_file(path, NULL);
    return b ? b : strdup("");
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_json_records(void)
{
    int port = t_port(P, "uj");
    int a = udp_sock(AF_INET), b = udp_sock(AF_INET), c = udp_sock(AF_INET);
    static char big[65507];
    memset(big, 'a', sizeof big);
    const char *zh = "\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c"; /* 你好，世界 */
    const unsigned char bin[] = {0x00, 0xff, 0xfe, 0x80, 0x0a};
    send4(a, port, "", 0);
    send4(b, port, "x", 1);
    send4(c, port, big, 1400);
    send4(a, port, big, sizeof big);
    send4(b, port, zh, strlen(zh));
    send4(c, port, bin, sizeof bin);
    send4(a, port, "quote\" back\\slash\n", 18);
    send4(b, port, "bye", 3);
    /* every datagram is acknowledged */
    char ack[16];
    int acks = 0;
    for (int i = 0; i < 3; i++)
        acks += recv(a, ack, sizeof ack, 0) == 4;
    for (int i = 0; i < 3; i++)
        acks += recv(b, ack, sizeof ack, 0) == 4;
    for (int i = 0; i < 2; i++)
        acks += recv(c, ack, sizeof ack, 0) == 4;
    CU_ASSERT_EQUAL(acks, 8);
    usleep(300000); /* flushed at least every 100 ms */
    char *log = slurp(jpath);
    CU_ASSERT_EQUAL(count_lines(log), 8);
    char want[70000], b64[64];
    int pa = local_port(a), pb = local_port(b), pc = local_port(c);
    snprintf(want, sizeof want, "\",\"from\":\"127.0.0.1:%d\",\"size\":0,\"text\":\"\"}\n", pa);
    T_ASSERT_STR_CONTAINS(log, want);
    snprintf(want, sizeof want, "\",\"from\":\"127.0.0.1:%d\",\"size\":1,\"text\":\"x\"}\n", pb);
    T_ASSERT_STR_CONTAINS(log, want);
    snprintf(want, sizeof want, "\",\"from\":\"127.0.0.1:%d\",\"size\":1400,\"text\":\"%.1400s\"}\n", pc, big);
    T_ASSERT_STR_CONTAINS(log, want);
    snprintf(want, sizeof want, "\",\"from\":\"127.0.0.1:%d\",\"size\":65507,\"text\":\"%.65507s\"}\n", pa, big);
    T_ASSERT_STR_CONTAINS(log, want);
    snprintf(want, sizeof want, "\",\"from\":\"127.0.0.1:%d\",\"size\":15,\"text\":\"%s\"}\n", pb, zh);
    T_ASSERT_STR_CONTAINS(log, want);
    size_t bl = nc_base64_encode(b64, sizeof b64, bin, sizeof bin);
    snprintf(want, sizeof want, "\",\"from\":\"127.0.0.1:%d\",\"size\":5,\"base64\":\"%.*s\"}\n", pc, (int)bl, b64);
    T_ASSERT_STR_CONTAINS(log, want);
    T_ASSERT_STR_CONTAINS(log, "\"size\":18,\"text\":\"quote\\\" back\\\\slash\\n\"}\n");
    T_ASSERT_STR_CONTAINS(log, "\"size\":3,\"text\":\"bye\"}\n");
    /* {"time":"2026-11-22T00:19:16.478322Z", ... */
    CU_ASSERT(strncmp(log, "{\"time\":\"20", 11) == 0 && log[35] == 'Z' && log[28] == '.');
    free(log);
    send4(a, port, "after bye", 9); /* still running */
    CU_ASSERT_EQUAL(recv(a, ack, sizeof ack, 0), 4);
    close(a);
    close(b);
    close(c);
}

static void test_text_echo(void)
{
    int port = t_port(P, "ut");
    int fd = udp_sock(AF_INET6);
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
    sa.sin6_addr = in6addr_loopback;
    const char *msgs[] = {"line\nbreak\\", "\xe4\xbd\xa0\xe5\xa5\xbd", "\x01\xc0\xaf", "plain text"};
    char back[256];
    for (int i = 0; i < 4; i++) {
        sendto(fd, msgs[i], strlen(msgs[i]), 0, (struct sockaddr *)&sa, sizeof sa);
        ssize_t n = recv(fd, back, sizeof back, 0);
        CU_ASSERT_EQUAL(n, (ssize_t)strlen(msgs[i])); /* echoed */
        CU_ASSERT(n > 0 && memcmp(back, msgs[i], (size_t)n) == 0);
    }
    usleep(300000);
    char *log = slurp(tpath);
    char want[256];
    int p = local_port(fd);
    snprintf(want, sizeof want, "Z [::1]:%d 11 line\\nbreak\\\\\n", p);
    T_ASSERT_STR_CONTAINS(log, want);
    snprintf(want, sizeof want, "Z [::1]:%d 6 \xe4\xbd\xa0\xe5\xa5\xbd\n", p);
    T_ASSERT_STR_CONTAINS(log, want);
    snprintf(want, sizeof want, "Z [::1]:%d 3 \\x01\\xc0\\xaf\n", p);
    T_ASSERT_STR_CONTAINS(log, want);
    snprintf(want, sizeof want, "Z [::1]:%d 10 plain text\n", p);
    T_ASSERT_STR_CONTAINS(log, want);
    free(log);
    close(fd);
}

static void test_reopen(void)
{
    int port = t_port(P, "uj");
    int fd = udp_sock(AF_INET);
    char moved[320], ack[8];
    snprintf(moved, sizeof moved, "%s.1", jpath);
    CU_ASSERT_EQUAL(rename(jpath, moved), 0);
    kill(P->pid, SIGUSR1);
    CU_ASSERT(t_wait_log(P, "SIGUSR1: log files reopened", 2000));
    send4(fd, port, "rotated", 7);
    CU_ASSERT_EQUAL(recv(fd, ack, sizeof ack, 0), 4);
    usleep(300000);
    char *log = slurp(jpath);
    CU_ASSERT_EQUAL(count_lines(log), 1);
    T_ASSERT_STR_CONTAINS(log, "\"text\":\"rotated\"");
    free(log);
    close(fd);
}

/* A udp-receiver listener named name on 127.0.0.1, recording to
 * TMPDIR/file (its path in path), with extra options after "output". */
static t_proc *start_recorder(const char *name, const char *file, const char *extra, char *path, size_t pathlen)
{
    char json[1024];
    snprintf(path, pathlen, "%s/%s", t_tmpdir(), file);
    unlink(path);
    snprintf(json, sizeof json,
             "{\"listeners\":[{\"name\":\"%s\",\"module\":\"udp-receiver\",\"listen\":\"127.0.0.1:0\","
             "\"transport\":\"udp\",\"options\":{\"output\":\"%s\",%s}}]}",
             name, path, extra);
    return t_start_conf(json);
}

/* n datagrams of size bytes: "NUMBER " and then fill; every `pace`
 * datagrams a 20 ms pause (0: none). */
static void send_numbered(int fd, int port, int n, size_t size, char fill, int pace)
{
    char msg[1400];
    memset(msg, fill, sizeof msg);
    for (int i = 0; i < n; i++) {
        int k = snprintf(msg, sizeof msg, "%06d ", i);
        msg[k] = fill;
        send4(fd, port, msg, size);
        if (pace && i % pace == pace - 1)
            usleep(20000);
    }
}

/* After SIGTERM: the counts in the module's summary line. */
static void summary(t_proc *p, unsigned long long *got, unsigned long long *drops)
{
    *got = *drops = 0;
    CU_ASSERT(t_wait_log(p, "udp-receiver: ", 5000));
    const char *s = strstr(p->log, "udp-receiver: ");
    if (s)
        sscanf(s, "udp-receiver: %llu datagrams", got);
    const char *d = s ? strstr(s, " recorded to ") : NULL;
    if (d)
        sscanf(strchr(d, ';') + 2, "%llu dropped", drops);
}

/* With the worker stopped and a small socket buffer, a burst overflows:
 * the kernel's drops are logged and counted, and received + dropped is
 * exactly what was sent. */
static void test_kernel_drops(void)
{
    char path[300];
    t_proc *p = start_recorder("dr", "drops.log", "\"rcvbuf\":65536", path, sizeof path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    pid_t w[4];
    CU_ASSERT_EQUAL_FATAL(t_children(p->pid, w, 4), 1);
    int port = t_port(p, "dr"), fd = udp_sock(AF_INET);
    char msg[1000];
    memset(msg, 'd', sizeof msg);
    CU_ASSERT_EQUAL(kill(w[0], SIGSTOP), 0);
    enum { N = 2000 };
    for (int i = 0; i < N; i++)
        send4(fd, port, msg, sizeof msg);
    CU_ASSERT_EQUAL(kill(w[0], SIGCONT), 0);
    CU_ASSERT(t_wait_log(p, "the kernel dropped ", 3000));
    T_ASSERT_STR_CONTAINS(p->log, "datagrams (socket buffer full); ");
    usleep(200000);
    kill(p->pid, SIGTERM);
    unsigned long long got, drops;
    summary(p, &got, &drops);
    CU_ASSERT(drops > 0);
    CU_ASSERT_EQUAL(got + drops, N);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
    char *log = slurp(path);
    CU_ASSERT_EQUAL(count_lines(log), got);
    free(log);
    close(fd);
}

/* Pages of the output file resident in the page cache in [off, off+len). */
static size_t resident_pages(const char *path, size_t off, size_t len)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return (size_t)-1;
    void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)off);
    close(fd);
    if (m == MAP_FAILED)
        return (size_t)-1;
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), n = (len + pg - 1) / pg, res = 0;
    unsigned char *vec = malloc(n);
    if (mincore(m, len, vec) == 0)
        for (size_t i = 0; i < n; i++)
            res += vec[i] & 1;
    free(vec);
    munmap(m, len);
    return res;
}

/* writeback_bytes: with 24 MB of records and a 1 MiB step, the start of the
 * file has been written back and dropped from the page cache, the newest
 * records are still cached, and every record is in the file, in order. */
static void test_write_behind(void)
{
    char path[300];
    t_proc *p = start_recorder("wb", "behind.log", "\"rcvbuf\":33554432,\"writeback_bytes\":1048576", path,
                               sizeof path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int port = t_port(p, "wb"), fd = udp_sock(AF_INET);
    enum { N = 16000 };
    send_numbered(fd, port, N, 1400, 'w', 1000); /* paced: this test is about the file, not drops */
    usleep(500000);
    struct stat st;
    CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
    CU_ASSERT(st.st_size > 20 * 1000 * 1000);
    size_t last = ((size_t)st.st_size - (1 << 20)) & ~(size_t)4095;
    size_t head = resident_pages(path, 0, 4 << 20), tail = resident_pages(path, last, 1 << 20);
    CU_ASSERT(head < 64);  /* of 1024: written back and dropped */
    CU_ASSERT(tail > 128); /* of 256: the newest range stays cached */
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
    char *log = slurp(path);
    CU_ASSERT_EQUAL(count_lines(log), N);
    char want[64];
    const char *at = log;
    int in_order = 1;
    for (int i = 0; i < N && at; i += 997) {
        snprintf(want, sizeof want, "\"text\":\"%06d w", i);
        const char *f = strstr(at, want);
        in_order &= f != NULL;
        at = f;
    }
    CU_ASSERT(in_order);
    free(log);
    close(fd);
}

/* The records of send_numbered(.., fill, ..) at the start of s: how many
 * complete lines are numbered 0, 1, 2, ... in order (a partial line, or
 * any other line, ends the count). */
static long numbered_lines(const char *s, char fill)
{
    long n = 0;
    char want[32];
    for (const char *nl; (nl = strchr(s, '\n')); s = nl + 1, n++) {
        int k = snprintf(want, sizeof want, "\"text\":\"%06ld %c", n, fill);
        if (!memmem(s, (size_t)(nl - s), want, (size_t)k))
            break;
    }
    return n;
}

/* direct_io: records bypass the page cache; a file that ends in the middle
 * of a block is appended to (its last bytes read back, not lost); rotation
 * by rename + SIGUSR1; SIGTERM right after a burst loses nothing. */
static void test_direct_io(void)
{
    char path[300], moved[320], json[1024];
    static const char before[] = "{\"note\":\"written before netcore started\"}\n";
    snprintf(path, sizeof path, "%s/direct.log", t_tmpdir());
    snprintf(moved, sizeof moved, "%s.1", path);
    unlink(moved);
    FILE *f = fopen(path, "w");
    fputs(before, f);
    fclose(f);
    snprintf(json, sizeof json,
             "{\"listeners\":[{\"name\":\"dio\",\"module\":\"udp-receiver\",\"listen\":\"127.0.0.1:0\","
             "\"transport\":\"udp\",\"options\":{\"output\":\"%s\",\"direct_io\":true,\"rcvbuf\":33554432}}]}",
             path);
    t_proc *p = t_start_conf(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT(t_wait_log(p, "with O_DIRECT", 2000));
    int port = t_port(p, "dio"), fd = udp_sock(AF_INET);
    enum { N = 6000, M = 3000 };
    send_numbered(fd, port, N, 1400, 'd', 500); /* ~8.7 MB */
    usleep(300000);
    CU_ASSERT(resident_pages(path, 0, 4 << 20) < 16); /* of 1024: never in the page cache */
    char *mid = slurp(path); /* flushed within flush_ms, with no more traffic to push it out */
    CU_ASSERT_EQUAL(numbered_lines(mid + sizeof before - 1, 'd'), N);
    free(mid);
    CU_ASSERT_EQUAL(rename(path, moved), 0);
    kill(p->pid, SIGUSR1);
    CU_ASSERT(t_wait_log(p, "SIGUSR1: log files reopened", 2000));
    send_numbered(fd, port, M, 100, 'r', 0);
    kill(p->pid, SIGTERM);
    unsigned long long got, drops;
    summary(p, &got, &drops);
    CU_ASSERT_EQUAL(got, N + M);
    CU_ASSERT_EQUAL(drops, 0);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
    char *old = slurp(moved), *cur = slurp(path);
    CU_ASSERT_NSTRING_EQUAL(old, before, sizeof before - 1);
    CU_ASSERT_EQUAL(numbered_lines(old + sizeof before - 1, 'd'), N);
    CU_ASSERT_EQUAL(strlen(old), sizeof before - 1 + strlen(old + sizeof before - 1));
    CU_ASSERT_EQUAL(numbered_lines(cur, 'r'), M);
    CU_ASSERT_EQUAL(count_lines(cur), M);
    free(old);
    free(cur);
    close(fd);
}

/* The file at path holds exactly these runs of send_numbered records, one
 * after another: counts[i] records of fills[i], each run numbered from 0. */
static void assert_runs(const char *path, const char *fills, const long *counts)
{
    char *log = slurp(path);
    const char *rest = log;
    long total = 0;
    for (size_t i = 0; fills[i] && rest; i++) {
        CU_ASSERT_EQUAL(numbered_lines(rest, fills[i]), counts[i]);
        for (long n = counts[i]; n > 0 && rest; n--)
            rest = strchr(rest, '\n') ? strchr(rest, '\n') + 1 : NULL;
        total += counts[i];
    }
    CU_ASSERT_PTR_NOT_NULL(rest);
    CU_ASSERT_EQUAL(count_lines(log), (size_t)total);
    free(log);
}

/* Two processes on one file, as a reload's old and new generations, with
 * direct_io on at least one side: the new one holds its records until the
 * old one has written its last and let go of the file, then appends them.
 * Nothing of either is overwritten. */
static void handover(const char *old_opts, const char *new_opts)
{
    char path[300], opts[200], json[1024];
    snprintf(opts, sizeof opts, "%s\"rcvbuf\":33554432", old_opts);
    t_proc *a = start_recorder("old", "handover.log", opts, path, sizeof path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    snprintf(json, sizeof json,
             "{\"listeners\":[{\"name\":\"new\",\"module\":\"udp-receiver\",\"listen\":\"127.0.0.1:0\","
             "\"transport\":\"udp\",\"options\":{\"output\":\"%s\",%s\"rcvbuf\":33554432}}]}",
             path, new_opts);
    t_proc *b = t_start_conf(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    int fd = udp_sock(AF_INET);
    send_numbered(fd, t_port(a, "old"), 3000, 1400, 'a', 500);
    send_numbered(fd, t_port(b, "new"), 2000, 1400, 'b', 500);
    CU_ASSERT(t_wait_log(b, "is being written by another process", 2000));
    usleep(200000);
    CU_ASSERT_EQUAL(t_stop(a, SIGTERM, 5000), 0);
    CU_ASSERT(t_wait_log(b, "is free; writing", 2000));
    send_numbered(fd, t_port(b, "new"), 1000, 100, 'c', 0);
    CU_ASSERT_EQUAL(t_stop(b, SIGTERM, 5000), 0);
    assert_runs(path, "abc", (const long[]){3000, 2000, 1000});
    close(fd);
}

/* The same through a real reload (SIGHUP): the old workers' records, then
 * the new ones', whole and in order. */
static void test_direct_io_reload(void)
{
    char path[300];
    t_proc *p = start_recorder("rl", "reload.log", "\"direct_io\":true,\"rcvbuf\":33554432", path, sizeof path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int port = t_port(p, "rl"), fd = udp_sock(AF_INET);
    send_numbered(fd, port, 3000, 1400, 'a', 500);
    usleep(200000);
    kill(p->pid, SIGHUP);
    CU_ASSERT(t_wait_log(p, "the old workers drain", 5000));
    usleep(200000);
    send_numbered(fd, port, 2000, 1400, 'b', 500);
    usleep(200000);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
    assert_runs(path, "ab", (const long[]){3000, 2000});
    close(fd);
}

static void test_handover(void)
{
    handover("\"direct_io\":true,", "\"direct_io\":true,");
    handover("", "\"direct_io\":true,"); /* direct_io turned on at a reload */
    handover("\"direct_io\":true,", ""); /* and off */
}

/* One listener's count of lost records in its summary line. */
static long long lost_in_summary(const t_proc *p, const char *name)
{
    char key[64];
    snprintf(key, sizeof key, "[%s] udp-receiver: ", name);
    const char *s = strstr(p->log, key), *l = s ? strstr(s, " dropped by the kernel, ") : NULL;
    long long n = -1;
    if (l)
        sscanf(l, " dropped by the kernel, %lld records lost", &n);
    return n;
}

/* A file that cannot grow (RLIMIT_FSIZE: EFBIG), through the page cache
 * and with O_DIRECT: the error is logged with the file's name and counted,
 * the server keeps answering, memory stays within max_buffer_bytes (the
 * records beyond it are counted as lost), and what reached the file is an
 * unbroken prefix of the records. */
static void test_file_full(void)
{
    char json[1024], pb[300], pd[300], want[400];
    snprintf(pb, sizeof pb, "%s/full-b.log", t_tmpdir());
    snprintf(pd, sizeof pd, "%s/full-d.log", t_tmpdir());
    unlink(pb);
    unlink(pd);
    const char *opts = "\"reply\":\"ack\",\"rcvbuf\":8388608,\"max_buffer_bytes\":1048576";
    snprintf(json, sizeof json,
             "{\"listeners\":["
             "{\"name\":\"fb\",\"module\":\"udp-receiver\",\"listen\":\"127.0.0.1:0\",\"transport\":\"udp\","
             "\"options\":{\"output\":\"%s\",%s}},"
             "{\"name\":\"fd\",\"module\":\"udp-receiver\",\"listen\":\"127.0.0.1:0\",\"transport\":\"udp\","
             "\"options\":{\"output\":\"%s\",\"direct_io\":true,%s}}]}",
             pb, opts, pd, opts);
    t_proc *p = t_start_ex(t_write_file("full.json", json), 0, 1 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    const char *names[2] = {"fb", "fd"}, *paths[2] = {pb, pd};
    int fd = udp_sock(AF_INET);
    char ack[8];
    for (int i = 0; i < 2; i++) {
        int port = t_port(p, names[i]);
        for (int k = 0; k < 2500; k++) { /* ~3.7 MB: the file's 1 MiB, the buffer's, and more */
            char msg[1400];
            memset(msg, 'f', sizeof msg);
            msg[snprintf(msg, sizeof msg, "%06d ", k)] = 'f';
            send4(fd, port, msg, sizeof msg);
            CU_ASSERT_EQUAL(recv(fd, ack, sizeof ack, 0), 4); /* lock-step: no kernel drops */
        }
        snprintf(want, sizeof want, "[%s] writing records to %s: File too large", names[i], paths[i]);
        CU_ASSERT(t_wait_log(p, want, 3000));
        /* Once a second at most, with a count of the rest (there were
         * hundreds of lines, one per flush or chunk). */
        usleep(1100000);
        send4(fd, port, "one more", 8);
        CU_ASSERT_EQUAL(recv(fd, ack, sizeof ack, 0), 4);
        usleep(300000);
        pthread_mutex_lock(&p->mu);
        int lines = 0;
        for (const char *q = p->log; (q = strstr(q, want)); q++)
            lines++;
        snprintf(want, sizeof want, "[%s] writing records to %s: File too large (and ", names[i], paths[i]);
        const char *more = strstr(p->log, want);
        pthread_mutex_unlock(&p->mu);
        if (lines > 5)
            fprintf(stderr, "\n%s: %d error lines\n", names[i], lines);
        CU_ASSERT(lines >= 1 && lines <= 5);
        CU_ASSERT_PTR_NOT_NULL(more);
        if (more)
            CU_ASSERT(strstr(more, " failed writes not logged since the last line)") != NULL);
        send4(fd, port, "still there?", 12);
        CU_ASSERT_EQUAL(recv(fd, ack, sizeof ack, 0), 4);
    }
    CU_ASSERT(t_rss_kib(p->pid) < 64 * 1024);
    kill(p->pid, SIGTERM);
    long long lost[2];
    for (int i = 0; i < 2; i++) {
        snprintf(want, sizeof want, "[%s] udp-receiver: ", names[i]);
        CU_ASSERT(t_wait_log(p, want, 5000));
        lost[i] = lost_in_summary(p, names[i]);
    }
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
    for (int i = 0; i < 2; i++) {
        struct stat st;
        CU_ASSERT_EQUAL(stat(paths[i], &st), 0);
        CU_ASSERT(st.st_size <= 1 << 20);
        char *log = slurp(paths[i]);
        long lines = numbered_lines(log, 'f');
        CU_ASSERT(lines > 600); /* of ~690 that fit */
        CU_ASSERT(lost[i] > 1000);
        if (lines + lost[i] != 2502)
            fprintf(stderr, "\n%s: %ld records in the file, %lld counted as lost\n", paths[i], lines, lost[i]);
        CU_ASSERT_EQUAL(lines + lost[i], 2502); /* each record in the file, or counted */
        free(log);
    }
    close(fd);
}

static void test_sigterm_burst(void)
{
    char path[300];
    t_proc *p = start_recorder("burst", "burst.log", "\"rcvbuf\":33554432", path, sizeof path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int port = t_port(p, "burst");
    int fd = udp_sock(AF_INET);
    enum { N = 20000 };
    send_numbered(fd, port, N, 100, 'm', 0);
    /* Stop at once: what is still in the socket buffer must be recorded. */
    kill(p->pid, SIGTERM);
    char want[200];
    unsigned long long got, drops;
    summary(p, &got, &drops);
    CU_ASSERT_EQUAL(got + drops, N);
    CU_ASSERT_EQUAL(drops, 0); /* a 32 MiB buffer holds the burst */
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
    char *log = slurp(path);
    CU_ASSERT_EQUAL(count_lines(log), got);
    snprintf(want, sizeof want, "\"text\":\"%06d mmm", N - 1);
    T_ASSERT_STR_CONTAINS(log, want);
    free(log);
    close(fd);
}

static void test_option_errors(void)
{
    char out[2048], json[512];
    const char *cases[][2] = {
        {"{\"multicast\":\"127.0.0.1\"}", "listeners[0].options.multicast: \"127.0.0.1\" is not a multicast group address"},
        {"{\"format\":\"xml\"}", "listeners[0].options.format: expected one of \"json\", \"text\""},
        {"{\"reply\":\"yes\"}", "listeners[0].options.reply: expected one of \"none\", \"ack\", \"echo\""},
        {"{\"batch\":0}", "listeners[0].options.batch: expected an integer from 1 to 1024"},
        {"{\"writeback_bytes\":-1}", "listeners[0].options.writeback_bytes: expected an integer from 0 to 1099511627776"},
        {"{\"output\":\"/nonexistent/dir/x.log\"}", "listeners[0].options.output: /nonexistent/dir/x.log: No such file or directory"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(json, sizeof json,
                 "{\"user\":\"root\",\"listeners\":[{\"module\":\"udp-receiver\",\"listen\":\"127.0.0.1:9\","
                 "\"transport\":\"udp\",\"options\":%s}]}",
                 cases[i][0]);
        const char *p = t_write_file("udpbad.json", json);
        CU_ASSERT_EQUAL(t_run(out, sizeof out, "-t", "-c", p, NULL), 1);
        T_ASSERT_STR_CONTAINS(out, cases[i][1]);
    }
}

static void test_multicast(void)
{
    /* A network namespace of the test's own, where loopback may carry
     * multicast without touching the machine's own interfaces. */
    char cmd[4096], conf[300], outp[300];
    snprintf(conf, sizeof conf, "%s/mc.json", t_tmpdir());
    snprintf(outp, sizeof outp, "%s/mc.log", t_tmpdir());
    FILE *f = fopen(conf, "w");
    fprintf(f, "{\"user\":\"root\",\"listeners\":[{\"name\":\"mc\",\"module\":\"udp-receiver\",\"listen\":\"0.0.0.0:9100\","
               "\"transport\":\"udp\",\"options\":{\"output\":\"%s\",\"multicast\":\"239.1.2.3\","
               "\"multicast_interface\":\"127.0.0.1\"}}]}",
            outp);
    fclose(f);
    char ns[64];
    snprintf(ns, sizeof ns, "nctest%d", (int)getpid());
    snprintf(cmd, sizeof cmd,
             "set -e; ip netns add %s; trap 'kill $pid 2>/dev/null || true; ip netns del %s' EXIT; "
             "ip netns exec %s ip link set lo up; ip netns exec %s ip link set lo multicast on; "
             "ip netns exec %s ip route add 239.0.0.0/8 dev lo; "
             "ip netns exec %s %s -c %s 2>%s/mc.err & pid=$!; sleep 0.5; "
             "ip netns exec %s python3 -c 'import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); "
             "s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(\"127.0.0.1\")); "
             "s.sendto(b\"to the group\", (\"239.1.2.3\", 9100))'; sleep 0.3; kill $pid; wait $pid",
             ns, ns, ns, ns, ns, ns, t_build_path("netcore"), conf, t_tmpdir(), ns);
    int st = system(cmd);
    CU_ASSERT_EQUAL(WEXITSTATUS(st), 0);
    char *log = slurp(outp);
    T_ASSERT_STR_CONTAINS(log, "\"size\":12,\"text\":\"to the group\"}");
    free(log);
    snprintf(cmd, sizeof cmd, "%s/mc.err", t_tmpdir());
    log = slurp(cmd);
    T_ASSERT_STR_CONTAINS(log, "joined multicast group 239.1.2.3");
    free(log);
}

/* SIGUSR1 after the output was replaced by a symbolic link to another
 * file, or by a FIFO: refused (logged, counted), the other file untouched,
 * records still go to the file opened before; a config naming a link as
 * the output is refused at start.  Both modes. */
static void test_reopen_refuses_links(void)
{
    char json[2048], pb[300], pd[300], victim[300], moved[320], want[600];
    snprintf(pb, sizeof pb, "%s/rl-b.log", t_tmpdir());
    snprintf(pd, sizeof pd, "%s/rl-d.log", t_tmpdir());
    snprintf(victim, sizeof victim, "%s/victim.txt", t_tmpdir());
    unlink(pb);
    unlink(pd);
    FILE *v = fopen(victim, "w");
    fputs("secret\n", v);
    fclose(v);
    snprintf(json, sizeof json,
             "{\"listeners\":["
             "{\"name\":\"rb\",\"module\":\"udp-receiver\",\"listen\":\"127.0.0.1:0\",\"transport\":\"udp\","
             "\"options\":{\"output\":\"%s\",\"format\":\"text\",\"reply\":\"ack\"}},"
             "{\"name\":\"rd\",\"module\":\"udp-receiver\",\"listen\":\"127.0.0.1:0\",\"transport\":\"udp\","
             "\"options\":{\"output\":\"%s\",\"format\":\"text\",\"reply\":\"ack\",\"direct_io\":true}},"
             "{\"name\":\"status\",\"module\":\"status\",\"listen\":\"127.0.0.1:0\"}]}",
             pb, pd);
    t_proc *p = t_start_conf(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    const char *names[2] = {"rb", "rd"}, *paths[2] = {pb, pd};
    int fd = udp_sock(AF_INET);
    char ack[8];
    for (int i = 0; i < 2; i++) {
        int port = t_port(p, names[i]);
        snprintf(moved, sizeof moved, "%s.1", paths[i]);
        CU_ASSERT_EQUAL(rename(paths[i], moved), 0);
        CU_ASSERT_EQUAL(symlink(victim, paths[i]), 0);
        kill(p->pid, SIGUSR1);
        snprintf(want, sizeof want, "[%s] reopening %s: a symbolic link; refused, records still go to the file "
                                    "opened before", names[i], paths[i]);
        CU_ASSERT(t_wait_log(p, want, 3000));
        send4(fd, port, "after the link", 14);
        CU_ASSERT_EQUAL(recv(fd, ack, sizeof ack, 0), 4);
        unlink(paths[i]);
        CU_ASSERT_EQUAL(mkfifo(paths[i], 0644), 0);
        kill(p->pid, SIGUSR1);
        snprintf(want, sizeof want, "[%s] reopening %s: not a regular file; refused", names[i], paths[i]);
        CU_ASSERT(t_wait_log(p, want, 3000));
        send4(fd, port, "after the fifo", 14);
        CU_ASSERT_EQUAL(recv(fd, ack, sizeof ack, 0), 4);
    }
    usleep(1300000);
    /* rb's FIFO stayed in place while rd's two signals reopened rb too */
    CU_ASSERT_EQUAL(t_counter(t_port(p, "status"), "rb", "reopen_refused"), 4);
    CU_ASSERT_EQUAL(t_counter(t_port(p, "status"), "rd", "reopen_refused"), 2);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
    char *vic = slurp(victim);
    CU_ASSERT_STRING_EQUAL(vic, "secret\n");
    free(vic);
    for (int i = 0; i < 2; i++) {
        snprintf(moved, sizeof moved, "%s.1", paths[i]);
        char *log = slurp(moved);
        T_ASSERT_STR_CONTAINS(log, "after the link\n");
        T_ASSERT_STR_CONTAINS(log, "after the fifo\n");
        free(log);
        unlink(paths[i]);
    }
    /* a link as the output at start */
    CU_ASSERT_EQUAL(symlink(victim, pb), 0);
    snprintf(json, sizeof json,
             "{\"user\":\"root\",\"listeners\":[{\"name\":\"rb\",\"module\":\"udp-receiver\","
             "\"listen\":\"127.0.0.1:0\",\"transport\":\"udp\",\"options\":{\"output\":\"%s\"}}]}", pb);
    char out[2048];
    CU_ASSERT_EQUAL(t_run(out, sizeof out, "-t", "-c", t_write_file("link.json", json), NULL), 1);
    snprintf(want, sizeof want, "listeners[0].options.output: %s: a symbolic link (records are never written "
                                "through one)", pb);
    T_ASSERT_STR_CONTAINS(out, want);
    unlink(pb);
    close(fd);
}

/* netcore -t changes nothing on disk: an output that does not exist yet is
 * checked, not created, in either mode; a real start creates it (on_listen).
 * One in a folder that does not exist is refused, naming the option and
 * the file. */
static void test_check_creates_nothing(void)
{
    char json[2048], out[2048], want[1200], pb[300], pd[300], missing[300];
    snprintf(pb, sizeof pb, "%s/new-b.log", t_tmpdir());
    snprintf(pd, sizeof pd, "%s/new-d.log", t_tmpdir());
    snprintf(missing, sizeof missing, "%s/no-such-dir/x.log", t_tmpdir());
    unlink(pb);
    unlink(pd);
    snprintf(json, sizeof json,
             "{\"user\":\"root\",\"listeners\":["
             "{\"name\":\"nb\",\"module\":\"udp-receiver\",\"listen\":\"127.0.0.1:0\",\"transport\":\"udp\","
             "\"options\":{\"output\":\"%s\"}},"
             "{\"name\":\"nd\",\"module\":\"udp-receiver\",\"listen\":\"127.0.0.1:0\",\"transport\":\"udp\","
             "\"options\":{\"output\":\"%s\",\"direct_io\":true}}]}",
             pb, pd);
    const char *conf = t_write_file("udpnew.json", json);
    CU_ASSERT_EQUAL(t_run(out, sizeof out, "-t", "-c", conf, NULL), 0);
    snprintf(want, sizeof want, "%s: configuration is valid (2 listeners)\n", conf);
    CU_ASSERT_STRING_EQUAL(out, want);
    CU_ASSERT_EQUAL(access(pb, F_OK), -1);
    CU_ASSERT_EQUAL(access(pd, F_OK), -1);
    t_proc *p = t_start(conf, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(access(pb, F_OK), 0);
    CU_ASSERT_EQUAL(access(pd, F_OK), 0);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
    unlink(pb);
    unlink(pd);

    snprintf(json, sizeof json,
             "{\"user\":\"root\",\"listeners\":[{\"name\":\"nm\",\"module\":\"udp-receiver\","
             "\"listen\":\"127.0.0.1:0\",\"transport\":\"udp\",\"options\":{\"output\":\"%s\"}}]}",
             missing);
    conf = t_write_file("udpmissing.json", json);
    CU_ASSERT_EQUAL(t_run(out, sizeof out, "-t", "-c", conf, NULL), 1);
    snprintf(want, sizeof want, "netcore: %s: listeners[0].options.output: %s: No such file or directory\n", conf,
             missing);
    CU_ASSERT_STRING_EQUAL(out, want);
}

int add_udp_suite(void)
{
    CU_pSuite s = CU_add_suite("udp", setup, teardown);
    if (!s || !CU_add_test(s, "JSON records: senders, sizes 0..65507, UTF-8, binary, ack", test_json_records) ||
        !CU_add_test(s, "kernel drops (a stopped worker, a small buffer) are logged and counted", test_kernel_drops) ||
        !CU_add_test(s, "write-behind: old records leave the page cache, none is lost", test_write_behind) ||
        !CU_add_test(s, "text records over IPv6, escapes, echo replies", test_text_echo) ||
        !CU_add_test(s, "SIGUSR1 reopens the output", test_reopen) ||
        !CU_add_test(s, "SIGTERM right after a burst loses no record", test_sigterm_burst) ||
        !CU_add_test(s, "direct_io: no page cache, appends, rotation, SIGTERM", test_direct_io) ||
        !CU_add_test(s, "direct_io: a second writer waits for the file, then appends", test_handover) ||
        !CU_add_test(s, "direct_io across a reload: old records, then new, whole and in order", test_direct_io_reload) ||
        !CU_add_test(s, "a file that cannot grow: errors named and counted, server answers", test_file_full) ||
        !CU_add_test(s, "option errors name the option", test_option_errors) ||
        !CU_add_test(s, "-t creates no output file; a start does; a missing folder is named", test_check_creates_nothing) ||
        !CU_add_test(s, "SIGUSR1 refuses a link or a FIFO put in the output's place", test_reopen_refuses_links) ||
        !CU_add_test(s, "a multicast group, in a network namespace", test_multicast))
        return -1;
    return 0;
}
