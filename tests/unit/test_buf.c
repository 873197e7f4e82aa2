/* test_buf.c -- unit tests of core/buf.c: input buffers, the output queue
 * (memory, shared and file items, partial writes, through the transport:
 * the file fallback, a deferred write) and shared buffers. */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "harness.h"
#include "suites.h"

static void test_inbuf(void)
{
    nc__inbuf b = {0};
    CU_ASSERT_EQUAL(nc__inbuf_append(&b, "hello world", 11), 0);
    CU_ASSERT_EQUAL(b.len, 11);
    nc__inbuf_consume(&b, 6);
    CU_ASSERT_EQUAL(b.len, 5);
    CU_ASSERT_EQUAL(memcmp(b.data, "world", 5), 0);
    nc__inbuf_consume(&b, 5);
    CU_ASSERT_EQUAL(b.len, 0);
    CU_ASSERT_PTR_NULL(b.data); /* an empty buffer holds no memory */
    char big[100000];
    memset(big, 'x', sizeof big);
    CU_ASSERT_EQUAL(nc__inbuf_append(&b, big, sizeof big), 0);
    CU_ASSERT(b.cap >= sizeof big);
    nc__inbuf_consume(&b, sizeof big - 10);
    CU_ASSERT_EQUAL(b.len, 10);
    CU_ASSERT(b.cap < sizeof big); /* shrinks once mostly unused */
    nc__inbuf_free(&b);
}

/* The plain transport over fd (one at a time: each call reuses it). */
static nc__tp *plain(int fd)
{
    static nc__tp t;
    nc__tp_init_plain(&t, fd);
    return &t;
}

/* Drain the read end and return everything read. */
static size_t drain(int fd, char *out, size_t cap)
{
    size_t n = 0;
    ssize_t r;
    while (n < cap && (r = read(fd, out + n, cap - n)) > 0)
        n += (size_t)r;
    return n;
}

static void test_outq_order(void)
{
    int sv[2];
    CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    nc__outq q = {0};
    nc_shared *s = nc_shared_new("[shared]", 8);
    CU_ASSERT_EQUAL(nc__outq_append(&q, "one ", 4), 0);
    CU_ASSERT_EQUAL(nc__outq_add_shared(&q, s), 0);
    CU_ASSERT_EQUAL(nc__outq_append(&q, " two", 4), 0);
    nc_shared_release(s); /* the queue holds its own reference */

    char path[] = "/tmp/nc-buf-XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_EQUAL(write(fd, "0123456789", 10), 10);
    unlink(path);
    CU_ASSERT_EQUAL(nc__outq_add_file(&q, fd, 3, 4, 1), 0);
    CU_ASSERT_EQUAL(nc__outq_append(&q, "!", 1), 0);
    CU_ASSERT_EQUAL(q.bytes, 4 + 8 + 4 + 4 + 1);

    size_t w = 0;
    CU_ASSERT_EQUAL(nc__outq_flush(&q, plain(sv[0]), (size_t)-1, &w), 0);
    CU_ASSERT_EQUAL(w, 21);
    CU_ASSERT_EQUAL(q.bytes, 0);
    CU_ASSERT_EQUAL(q.mem, 0);
    CU_ASSERT_PTR_NULL(q.head);
    char got[64] = {0};
    CU_ASSERT_EQUAL(drain(sv[1], got, sizeof got), 21);
    CU_ASSERT_STRING_EQUAL(got, "one [shared] two3456!");
    close(sv[0]);
    close(sv[1]);
}

static void test_outq_partial(void)
{
    int sv[2];
    CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    nc__outq q = {0};
    size_t total = 1 << 20;
    char *data = malloc(total);
    for (size_t i = 0; i < total; i++)
        data[i] = (char)(i * 7 + i / 251);
    for (size_t off = 0; off < total; off += 1000)
        CU_ASSERT_EQUAL(nc__outq_append(&q, data + off, off + 1000 > total ? total - off : 1000), 0);
    CU_ASSERT_EQUAL(q.bytes, total);
    char *got = malloc(total);
    size_t have = 0;
    int rounds = 0, rc;
    do {
        size_t w;
        rc = nc__outq_flush(&q, plain(sv[0]), (size_t)-1, &w);
        CU_ASSERT(rc >= 0);
        have += drain(sv[1], got + have, total - have);
        rounds++;
    } while (rc == 1 && rounds < 100000);
    have += drain(sv[1], got + have, total - have);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT(rounds > 1); /* the small buffer forced partial writes */
    CU_ASSERT_EQUAL(have, total);
    CU_ASSERT_EQUAL(memcmp(got, data, total), 0);
    free(data);
    free(got);
    close(sv[0]);
    close(sv[1]);
}

static void test_outq_error(void)
{
    int sv[2];
    CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    close(sv[1]);
    nc__outq q = {0};
    nc__outq_append(&q, "x", 1);
    CU_ASSERT_EQUAL(nc__outq_flush(&q, plain(sv[0]), (size_t)-1, NULL), -EPIPE);
    nc__outq_clear(&q);
    CU_ASSERT_EQUAL(q.bytes, 0);
    close(sv[0]);
}

static void test_outq_file_shrunk(void)
{
    int sv[2];
    CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    char path[] = "/tmp/nc-buf-XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_EQUAL(write(fd, "abc", 3), 3);
    unlink(path);
    nc__outq q = {0};
    nc__outq_add_file(&q, fd, 0, 10, 1); /* promises more than the file has */
    size_t w = 0;
    CU_ASSERT_EQUAL(nc__outq_flush(&q, plain(sv[0]), (size_t)-1, &w), 1); /* a short send: wait for EPOLLOUT */
    CU_ASSERT_EQUAL(w, 3);
    CU_ASSERT_EQUAL(nc__outq_flush(&q, plain(sv[0]), (size_t)-1, NULL), -EIO); /* then nothing more: fail */
    nc__outq_clear(&q); /* closes the owned fd */
    CU_ASSERT_EQUAL(fcntl(fd, F_GETFD), -1);
    close(sv[0]);
    close(sv[1]);
}

/* The write budget: a flush stops once it has written budget bytes (a file
 * region is cut to fit), says 2 (more to write, the socket was not full),
 * and the next flushes go on in order. */
static void test_outq_budget(void)
{
    int sv[2];
    CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    int big = 1 << 20;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    char path[] = "/tmp/nc-buf-XXXXXX";
    int fd = mkstemp(path);
    char data[3000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)('a' + i % 26);
    CU_ASSERT_EQUAL(write(fd, data, sizeof data), (ssize_t)sizeof data);
    unlink(path);
    nc__outq q = {0};
    CU_ASSERT_EQUAL(nc__outq_append(&q, "head:", 5), 0);
    CU_ASSERT_EQUAL(nc__outq_add_file(&q, fd, 0, sizeof data, 1), 0);
    CU_ASSERT_EQUAL(nc__outq_append(&q, ":tail", 5), 0);
    size_t w = 0, total = 0;
    int rounds = 0, rc;
    while ((rc = nc__outq_flush(&q, plain(sv[0]), 1000, &w)) == 2) {
        CU_ASSERT(w >= 1000 && w <= 1000 + 5); /* a memory item is not cut; a file is */
        total += w;
        rounds++;
    }
    CU_ASSERT_EQUAL(rc, 0);
    total += w;
    CU_ASSERT_EQUAL(total, 5 + sizeof data + 5);
    CU_ASSERT_EQUAL(rounds, 3);
    char got[4000] = {0};
    CU_ASSERT_EQUAL(drain(sv[1], got, sizeof got), total);
    CU_ASSERT(memcmp(got, "head:", 5) == 0 && memcmp(got + 5, data, sizeof data) == 0 &&
              memcmp(got + 5 + sizeof data, ":tail", 5) == 0);
    close(sv[0]);
    close(sv[1]);
}

static void test_shared_refs(void)
{
    nc_shared *s = nc_shared_new(NULL, 5);
    memcpy(nc_shared_data(s), "abcde", 5);
    CU_ASSERT_EQUAL(nc_shared_len(s), 5);
    nc__outq a = {0}, b = {0};
    nc__outq_add_shared(&a, s);
    nc__outq_add_shared(&b, s);
    CU_ASSERT_EQUAL(s->refs, 3);
    nc__outq_clear(&a);
    CU_ASSERT_EQUAL(s->refs, 2);
    nc_shared_release(s);
    CU_ASSERT_EQUAL(s->refs, 1);
    nc__outq_clear(&b); /* frees it: a leak checker would complain otherwise */
}

/* Queued descriptors and memory are counted per queue and for the process:
 * an owned file region holds one descriptor until it is sent or dropped; a
 * region of the caller's fd holds none. */
static void test_outq_counts(void)
{
    int sv[2];
    CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    char path[] = "/tmp/nc-buf-XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_EQUAL(write(fd, "0123456789", 10), 10);
    unlink(path);
    nc__outq_totals t0 = nc__outq_total;
    nc__outq a = {0}, b = {0};
    CU_ASSERT_EQUAL(nc__outq_add_file(&a, dup(fd), 0, 10, 1), 0);
    CU_ASSERT_EQUAL(nc__outq_add_file(&a, dup(fd), 0, 10, 1), 0);
    CU_ASSERT_EQUAL(nc__outq_add_file(&a, fd, 0, 10, 0), 0); /* not owned */
    CU_ASSERT_EQUAL(nc__outq_append(&b, "abc", 3), 0);
    CU_ASSERT_EQUAL(nc__outq_add_file(&b, dup(fd), 0, 10, 1), 0);
    CU_ASSERT_EQUAL(a.fds, 2);
    CU_ASSERT_EQUAL(a.mem, 0);
    CU_ASSERT_EQUAL(b.fds, 1);
    CU_ASSERT(b.mem >= 3);
    CU_ASSERT_EQUAL(nc__outq_total.fds, t0.fds + 3);
    CU_ASSERT_EQUAL(nc__outq_total.mem, t0.mem + b.mem);
    size_t w = 0;
    CU_ASSERT_EQUAL(nc__outq_flush(&a, plain(sv[0]), 15, &w), 2); /* the first region sent: its fd closed */
    CU_ASSERT_EQUAL(a.fds, 1);
    CU_ASSERT_EQUAL(nc__outq_total.fds, t0.fds + 2);
    nc__outq_clear(&a);
    nc__outq_clear(&b);
    CU_ASSERT_EQUAL(a.fds + b.fds + a.mem + b.mem, 0);
    CU_ASSERT_EQUAL(nc__outq_total.fds, t0.fds);
    CU_ASSERT_EQUAL(nc__outq_total.mem, t0.mem);
    CU_ASSERT_NOT_EQUAL(fcntl(fd, F_GETFD), -1); /* the caller's fd stays open */
    close(fd);
    close(sv[0]);
    close(sv[1]);
}

/* A transport without sendfile (TLS without kernel offload), and one whose
 * sendfile refuses the file: the queue reads the region and sends it
 * through the transport's send, so the peer gets the same bytes in the
 * same order; a refusing sendfile is asked once per region, not per call. */
static int sendfile_calls;
static ssize_t refusing_sendfile(nc__tp *t, int fd, off_t *off, size_t n)
{
    (void)t, (void)fd, (void)off, (void)n;
    sendfile_calls++;
    return -ENOSYS;
}

static void check_fallback(nc__tp_ops *ops)
{
    int sv[2];
    CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    char path[] = "/tmp/nc-buf-XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    static char file[300000], want[300010], got[300010];
    for (size_t i = 0; i < sizeof file; i++)
        file[i] = (char)('a' + i % 23);
    CU_ASSERT_EQUAL_FATAL(write(fd, file, sizeof file), (ssize_t)sizeof file);
    nc__outq q = {0};
    nc__outq_append(&q, "HEAD", 4);
    nc__outq_add_file(&q, fd, 1000, sizeof file - 2000, 1);
    nc__outq_append(&q, "TAIL", 4);
    memcpy(want, "HEAD", 4);
    memcpy(want + 4, file + 1000, sizeof file - 2000);
    memcpy(want + 4 + sizeof file - 2000, "TAIL", 4);
    size_t total = sizeof file - 2000 + 8, n = 0;
    nc__tp t;
    nc__tp_init_plain(&t, sv[0]);
    t.ops = ops;
    int rc, rounds = 0;
    while ((rc = nc__outq_flush(&q, &t, (size_t)-1, NULL)) == 1 && rounds++ < 10000)
        n += drain(sv[1], got + n, sizeof got - n); /* the socket filled: the peer reads */
    CU_ASSERT_EQUAL(rc, 0);
    n += drain(sv[1], got + n, sizeof got - n);
    CU_ASSERT_EQUAL(n, total);
    CU_ASSERT(memcmp(got, want, total) == 0);
    CU_ASSERT_EQUAL(q.bytes, 0);
    CU_ASSERT_EQUAL(fcntl(fd, F_GETFD), -1); /* sent: the owned fd closed */
    close(sv[0]);
    close(sv[1]);
}

static void test_outq_file_fallback(void)
{
    nc__tp_ops none = nc__tp_plain, refusing = nc__tp_plain;
    none.sendfile = NULL;
    check_fallback(&none);
    refusing.sendfile = refusing_sendfile;
    sendfile_calls = 0;
    check_fallback(&refusing);
    CU_ASSERT_EQUAL(sendfile_calls, 1);
}

/* A transport that cannot write now (-EAGAIN: TLS waiting for the peer, or
 * a full socket) leaves the queue as it was: the next flush offers the same
 * bytes first (transport.h's contract for a retried write). */
static const char *seen;
static size_t seen_len;
static int eagain_left;
static ssize_t picky_send(nc__tp *t, const struct iovec *iov, int cnt, int more)
{
    (void)more;
    seen = iov[0].iov_base;
    seen_len = iov[0].iov_len;
    if (eagain_left-- > 0) {
        t->want = NC__TP_SEND_WANTS_READ;
        return -EAGAIN;
    }
    t->want = 0;
    return nc__tp_plain.send(t, iov, cnt, 0);
}

static void test_outq_retry_same_bytes(void)
{
    int sv[2];
    CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    nc__tp_ops ops = nc__tp_plain;
    ops.send = picky_send;
    nc__tp t;
    nc__tp_init_plain(&t, sv[0]);
    t.ops = &ops;
    nc__outq q = {0};
    nc__outq_append(&q, "first", 5);
    eagain_left = 1;
    CU_ASSERT_EQUAL(nc__outq_flush(&q, &t, (size_t)-1, NULL), 1); /* wait */
    CU_ASSERT_EQUAL(t.want, NC__TP_SEND_WANTS_READ);
    const char *first = seen;
    CU_ASSERT_EQUAL(seen_len, 5);
    nc__outq_append(&q, " second", 7); /* queued meanwhile: appended, the head unchanged */
    CU_ASSERT_EQUAL(q.bytes, 12);
    CU_ASSERT_EQUAL(nc__outq_flush(&q, &t, (size_t)-1, NULL), 0);
    CU_ASSERT(seen == first); /* the same bytes, at the same place, first */
    char got[32] = {0};
    CU_ASSERT_EQUAL(drain(sv[1], got, sizeof got), 12);
    CU_ASSERT_STRING_EQUAL(got, "first second");
    close(sv[0]);
    close(sv[1]);
}

/* NC_ASSERT is live where NC_DEBUG is (the sanitizer build CI runs): a
 * queue whose byte count disagrees with its items aborts at the next write
 * with the expression and its place; a release build writes on. */
static void test_assertions_live(void)
{
    int p[2];
    CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 2);
        nc__outq q = {0};
        nc__outq_append(&q, "abc", 3);
        q.bytes = 10; /* the invariant broken on purpose */
        int fd = open("/dev/null", O_WRONLY);
        nc__outq_flush(&q, plain(fd), 1 << 20, NULL);
        _exit(0);
    }
    close(p[1]);
    char buf[4096] = {0};
    size_t got = 0;
    ssize_t n;
    while (got < sizeof buf - 1 && (n = read(p[0], buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)n;
    close(p[0]);
    int st;
    CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
#ifdef NC_DEBUG
    CU_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    T_ASSERT_STR_CONTAINS(buf, "netcore: assertion failed: outq_consistent(q) (core/buf.c:");
#else
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CU_ASSERT_STRING_EQUAL(buf, "");
#endif
}

int add_buf_suite(void)
{
    CU_pSuite s = CU_add_suite("buf", NULL, NULL);
    if (!s || !CU_add_test(s, "input buffer grows, consumes, shrinks, frees", test_inbuf) ||
        !CU_add_test(s, "output queue keeps order across memory, shared, file", test_outq_order) ||
        !CU_add_test(s, "output queue survives partial writes", test_outq_partial) ||
        !CU_add_test(s, "write error is reported as -errno", test_outq_error) ||
        !CU_add_test(s, "a file shorter than promised fails, fd closed", test_outq_file_shrunk) ||
        !CU_add_test(s, "a flush stops at its write budget and goes on in order", test_outq_budget) ||
        !CU_add_test(s, "shared buffers count references", test_shared_refs) ||
        !CU_add_test(s, "a file region goes through read and send without sendfile", test_outq_file_fallback) ||
        !CU_add_test(s, "a write the transport defers offers the same bytes again", test_outq_retry_same_bytes) ||
        !CU_add_test(s, "queued descriptors and memory are counted, per queue and in all", test_outq_counts) ||
        !CU_add_test(s, "NC_ASSERT aborts on a broken invariant in debug builds", test_assertions_live))
        return -1;
    return 0;
}
