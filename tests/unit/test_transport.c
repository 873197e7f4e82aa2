/* test_transport.c -- core/transport.c and the connection's use of the seam,
 * in process: a real reactor, a hand-made listener serving the test module,
 * and a connection whose transport is swapped for one that behaves like
 * TLS (input held inside it after the socket is drained; a write that waits
 * for the socket to become readable). */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core.h"
#include "harness.h"
#include "module.h"
#include "suites.h"

/* ---- a transport that reads the socket whole but hands over 3 bytes a
 * call (what SSL_read does with a record bigger than the caller's buffer),
 * and whose first write waits for the socket to be readable ---- */

static struct {
    char buf[4096];
    size_t len, off;
    int writes_wait; /* the next send returns -EAGAIN wanting read, until the peer sends */
    int waited;      /* sends that returned -EAGAIN so */
} H;

static ssize_t held_recv(nc__tp *t, void *b, size_t n)
{
    if (H.off == H.len) {
        H.off = H.len = 0;
        ssize_t r = nc__tp_plain.recv(t, H.buf, sizeof H.buf);
        if (r <= 0)
            return r;
        H.len = (size_t)r;
    }
    size_t k = H.len - H.off;
    if (k > 3)
        k = 3;
    if (k > n)
        k = n;
    memcpy(b, H.buf + H.off, k);
    H.off += k;
    return (ssize_t)k;
}

static size_t held_pending(const nc__tp *t)
{
    (void)t;
    return H.len - H.off;
}

static ssize_t held_send(nc__tp *t, const struct iovec *iov, int cnt, int more)
{
    if (H.writes_wait) {
        struct pollfd p = {.fd = t->fd, .events = POLLIN};
        if (poll(&p, 1, 0) != 1) {
            H.waited++;
            t->want |= NC__TP_SEND_WANTS_READ;
            return -EAGAIN;
        }
        H.writes_wait = 0;
    }
    t->want &= ~NC__TP_SEND_WANTS_READ;
    return nc__tp_plain.send(t, iov, cnt, more);
}

static const nc__tp_ops held_ops = {
    .name = "held",
    .recv = held_recv,
    .send = held_send,
    .sendfile = NULL, /* the queue's read + send fallback */
    .pending = held_pending,
    .shutdown = NULL, /* set from the plain one at run time */
    .close = NULL,
};

/* ---- a one-listener core around the test module ---- */

static struct {
    nc__module *mod;
    nc__lconf lc;
    nc_listener l;
    nc_options *o;
    json_t *opts;
    sigset_t mask;
} K;

static void stop_cb(nc_timer *t, void *arg)
{
    (void)t, (void)arg;
    nc__reactor_stop(1);
}

static int core_up(void)
{
    char err[512];
    sigprocmask(SIG_SETMASK, NULL, &K.mask); /* the reactor blocks the stop signals: given back below */
    if (nc__reactor_init(1000, 1000) < 0)
        return -1;
    K.mod = nc__module_open(t_build_path("tests/modules/testmod.so"), err, sizeof err);
    if (!K.mod) {
        fprintf(stderr, "\n  %s\n", err);
        return -1;
    }
    K.opts = json_pack("{s:s}", "mode", "lines");
    memset(&K.lc, 0, sizeof K.lc);
    K.lc.name = "t";
    K.lc.module = "testmod";
    K.lc.options = K.opts;
    K.lc.max_connections = 10;
    K.lc.max_input_bytes = 1 << 20;
    K.lc.max_output_bytes = 1 << 20;
    K.lc.write_budget_bytes = 256 * 1024;
    K.lc.max_queued_files = 64;
    memset(&K.l, 0, sizeof K.l);
    K.l.fd = -1;
    K.l.conf = &K.lc;
    K.l.name = K.lc.name;
    K.l.mod = K.mod;
    K.l.m = K.mod->m;
    K.l.high_water = 64 * 1024;
    K.l.idle_slack = 1;
    nc__listener_lists_init(&K.l);
    K.o = nc__options_new("unit.json", t_tmpdir(), &K.lc);
    void *inst = NULL;
    if (K.l.m->init(&K.l, K.o, &inst) < 0)
        return -1;
    K.l.instance = inst;
    K.l.inited = 1;
    nc__reactor_set_listeners(&K.l, 1);
    return 0;
}

static void core_down(void)
{
    K.l.m->fini(&K.l, K.l.instance);
    nc__reactor_set_listeners(NULL, 0);
    nc__listener_free(&K.l);
    nc__options_free(K.o);
    json_decref(K.opts);
    nc__module_close(K.mod);
    nc__reactor_free();
    sigprocmask(SIG_SETMASK, &K.mask, NULL);
}

/* A connection on sv[0] with the held transport, accepted by the module. */
static nc_conn *held_conn(int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
        return NULL;
    struct sockaddr_un none = {.sun_family = AF_UNIX};
    nc_conn *c = nc__conn_new(&K.l, sv[0], (struct sockaddr *)&none, 0);
    if (!c)
        return NULL;
    static nc__tp_ops ops;
    ops = held_ops;
    ops.shutdown = nc__tp_plain.shutdown;
    ops.close = nc__tp_plain.close;
    c->tp.ops = &ops;
    if (K.l.m->on_accept(c) == 0)
        c->flags |= CF_ACCEPTED;
    return c;
}

static size_t read_all(int fd, char *out, size_t cap)
{
    size_t n = 0;
    ssize_t r;
    while (n < cap - 1 && (r = read(fd, out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = 0;
    return n;
}

/* Input the transport holds after the socket is drained makes no epoll
 * event: the connection must read it anyway (CF_READ_MORE), a buffer's
 * worth per turn.  Before the seam, only the first 3 bytes were ever
 * delivered here and the other lines waited forever. */
static void test_pending_input_delivered(void)
{
    memset(&H, 0, sizeof H);
    CU_ASSERT_EQUAL_FATAL(core_up(), 0);
    int sv[2];
    nc_conn *c = held_conn(sv);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    unsigned long long id = (unsigned long long)c->id;
    CU_ASSERT_EQUAL(write(sv[1], "ab\ncd\nef\ngh\n", 12), 12); /* one readiness, read whole at once */
    nc_timer_start(300, 0, stop_cb, NULL);
    CU_ASSERT_EQUAL(nc__reactor_run(), 0);
    char got[256], want[256];
    read_all(sv[1], got, sizeof got);
    snprintf(want, sizeof want, "%llu:ab\n%llu:cd\n%llu:ef\n%llu:gh\n", id, id, id, id);
    CU_ASSERT_STRING_EQUAL(got, want);
    CU_ASSERT_EQUAL(held_pending(NULL), 0);
    close(sv[1]);
    core_down();
}

/* A write that waits for the socket to be readable (TLS during a key
 * update or renegotiation) is retried when EPOLLIN comes, before the read,
 * and does not ask for EPOLLOUT meanwhile (level-triggered, that would spin
 * the loop until the peer sends).  Before the seam, the answer to "x" was
 * never sent: the read took the peer's next bytes first, and the write
 * went on waiting for a readability that had come and gone. */
static int peer_fd;
static void peer_sends(nc_timer *t, void *arg)
{
    (void)t, (void)arg;
    CU_ASSERT_EQUAL(write(peer_fd, "y\n", 2), 2);
}

static void test_write_wanting_read(void)
{
    memset(&H, 0, sizeof H);
    CU_ASSERT_EQUAL_FATAL(core_up(), 0);
    int sv[2];
    nc_conn *c = held_conn(sv);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    unsigned long long id = (unsigned long long)c->id;
    H.writes_wait = 1;
    peer_fd = sv[1];
    CU_ASSERT_EQUAL(write(sv[1], "x\n", 2), 2);
    nc_timer_start(100, 0, peer_sends, NULL);
    nc_timer_start(300, 0, stop_cb, NULL);
    CU_ASSERT_EQUAL(nc__reactor_run(), 0);
    char got[256], want[256];
    read_all(sv[1], got, sizeof got);
    snprintf(want, sizeof want, "%llu:x\n%llu:y\n", id, id);
    CU_ASSERT_STRING_EQUAL(got, want);
    CU_ASSERT(H.waited >= 1 && H.waited <= 3); /* waited, without spinning */
    close(sv[1]);
    core_down();
}

int add_transport_suite(void)
{
    CU_pSuite s = CU_add_suite("transport", NULL, NULL);
    if (!s || !CU_add_test(s, "input held inside the transport is delivered without an event", test_pending_input_delivered) ||
        !CU_add_test(s, "a write that wants the socket readable waits for EPOLLIN", test_write_wanting_read))
        return -1;
    return 0;
}
