/* conn.c -- one accepted stream connection: reading into the module through
 * on_data, the output queue and its watermarks, deferred close, and the
 * connection half of the public API.
 *
 * Input: the reactor reads into one shared buffer; a connection keeps a
 * buffer of its own only for what the module left unconsumed.  Output: sends
 * are queued and flushed once per loop turn (or on EPOLLOUT), so several
 * sends in one turn cost one writev.  Close: nc_close only marks; the
 * reactor's close phase calls on_close and frees after the turn's events,
 * so a handle stays valid for the rest of the hook that closed it.
 *
 * Back-pressure: a connection whose queue is above its high watermark
 * (memory, or descriptors of queued files) gets no more input, neither read
 * from the socket nor delivered from what was read already, until the
 * queue is below half of both; past the worker-wide caps the connections
 * holding the most are dropped. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core.h"
#include "log.h"
#include "nc_assert.h"

/* The worker's connections: how many are open, the last id given, and the
 * one buffer every read goes into (a connection holds input of its own
 * only for what its module left unconsumed). */
static size_t nconns;
static uint64_t next_id;
static char rbuf[64 * 1024];

size_t nc__conn_count(void)
{
    return nconns;
}

/* At most 20 lines a second from one call site: a flood of misbehaving
 * peers must not flood the log. */
static int allow(nc__ratelimit *lm)
{
    return nc__log_allow(lm, nc_now_ms(), 20, 1000);
}

/* The epoll interest follows from the flags, and from what a transport
 * that returned -EAGAIN waits for: a write that needs the socket readable
 * first (TLS), a read that needs it writable. */
static void update_events(nc_conn *c)
{
    if (c->flags & CF_ON_CLOSE_LIST)
        return; /* closed in this turn: close() takes it out of the epoll set */
    uint32_t want = 0;
    int reading = !(c->flags & (CF_CLOSING | CF_PAUSED | CF_THROTTLED | CF_EOF));
    if (reading)
        want |= EPOLLIN | EPOLLRDHUP;
    if (c->flags & CF_WAIT_OUT)
        want |= (c->tp.want & NC__TP_SEND_WANTS_READ) ? EPOLLIN : EPOLLOUT;
    if (reading && (c->tp.want & NC__TP_RECV_WANTS_WRITE))
        want |= EPOLLOUT;
    if (want != c->events) {
        nc__ev_mod(c->tp.fd, want, c);
        c->events = want;
    }
}

/* Activity moves a connection to the tail of the idle list.  Doing that on
 * every read and write is measurable at high rates, so a connection is
 * moved at most once per idle_slack ms; the list stays sorted because
 * idle.since is updated only when it moves (an idle close can come up to
 * idle_slack early, a tenth of the timeout at most). */
void nc__conn_touch(nc_conn *c)
{
    if (nc_now_ms() - c->idle.since < c->l->idle_slack)
        return;
    nc__tlist_requeue(&c->l->idle, &c->idle);
}

/* Returns NULL with errno set (ENOMEM, or epoll's error) on failure. */
nc_conn *nc__conn_new(nc_listener *l, int fd, const struct sockaddr *peer, socklen_t plen)
{
    nc_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->evkind = EV_CONN;
    nc__tp_init_plain(&c->tp, fd);
    c->id = ++next_id;
    c->l = l;
    if (plen > sizeof c->peer)
        plen = 0; /* unix peers: "unix" is all there is to say */
    memcpy(&c->peer, peer, plen);
    c->peer_len = plen;
    c->events = EPOLLIN | EPOLLRDHUP;
    int rc = nc__ev_add(fd, c->events, c);
    if (rc < 0) {
        free(c);
        errno = -rc;
        return NULL;
    }
    nc_list_push_tail(&l->conns, &c->lnode);
    l->nconns++;
    l->conns_total++;
    nconns++;
    nc_list_init(&c->wait.q);
    nc_list_init(&c->idle.q);
    nc_list_init(&c->flushq);
    nc_list_init(&c->redeliverq);
    nc__tlist_add(&l->idle, &c->idle);
    return c;
}

static void schedule_redeliver(nc_conn *c)
{
    if (c->in.len > 0)
        nc__reactor_redeliver_soon(c);
}

void nc_close(nc_conn *c, int how)
{
    if (how == NC_CLOSE_ABORT) {
        c->flags &= ~CF_FLUSH_CLOSE;
        nc__reactor_close_soon(c);
        return;
    }
    if (c->flags & CF_CLOSING)
        return;
    c->flags |= CF_CLOSING | CF_FLUSH_CLOSE;
    if (c->out.bytes == 0)
        nc__reactor_close_soon(c);
    else
        nc__reactor_flush_soon(c);
    update_events(c);
}

/* Unconsumed input beyond the listener's bound: the peer is sending what the
 * module cannot frame (or faster than it can consume). */
static int over_input_limit(nc_conn *c, size_t left)
{
    static nc__ratelimit lm;
    if (left <= (size_t)c->l->conf->max_input_bytes)
        return 0;
    c->l->errors++;
    c->l->closed_input++;
    if (allow(&lm))
        nc__log(NC_LOG_WARN, c->l->name, c->id,
                "%zu bytes of unconsumed input exceed max_input_bytes (%lld); closing", left,
                c->l->conf->max_input_bytes);
    nc_close(c, NC_CLOSE_ABORT);
    return 1;
}

/* May the module be given input?  Not while its output is above the
 * watermarks (CF_THROTTLED): input already read waits in c->in with the
 * rest in the socket, so a peer that pipelines requests and never reads
 * the answers costs one queue's worth, not one answer per request read. */
static int readable(const nc_conn *c)
{
    return !(c->flags & (CF_CLOSING | CF_PAUSED | CF_THROTTLED));
}

/* Hand input to the module: `buf`/`n` is new input not yet stored (n may be
 * 0 for a redelivery of what is stored).  Calls on_data again while it keeps
 * consuming, so a module may handle one message per call. */
static void deliver(nc_conn *c, const char *buf, size_t n)
{
    const nc_module *m = c->l->m;
    const char *data;
    size_t len;
    int stored = c->in.len > 0;
    if (stored && n > 0) {
        if (nc__inbuf_append(&c->in, buf, n) < 0) {
            nc__log(NC_LOG_ERROR, c->l->name, c->id, "out of memory for input; closing");
            nc_close(c, NC_CLOSE_ABORT);
            return;
        }
    }
    if (stored) {
        data = c->in.data;
        len = c->in.len;
    } else {
        data = buf;
        len = n;
    }
    size_t done = 0;
    while (done < len && readable(c)) {
        uint64_t t0 = nc__hook_enter();
        ssize_t r = m->on_data(c, data + done, len - done);
        nc__hook_leave(c->l, t0);
        if (r < 0) {
            nc_close(c, NC_CLOSE_ABORT);
            return;
        }
        if ((size_t)r > len - done) {
            nc__log(NC_LOG_ERROR, c->l->name, c->id,
                    "module %s consumed %zd bytes of %zu offered; closing", m->name, r,
                    len - done);
            nc_close(c, NC_CLOSE_ABORT);
            return;
        }
        if (r == 0)
            break;
        done += (size_t)r;
    }
    if (c->flags & CF_CLOSING)
        return;
    /* Input held back by the throttle is not input the module failed to
     * frame: max_input_bytes applies once it has been offered again.  (It
     * is bounded all the same: nothing is read while throttled.) */
    int held = (c->flags & CF_THROTTLED) != 0;
    size_t left = len - done;
    if (stored) {
        nc__inbuf_consume(&c->in, done);
    } else if (left > 0 && (held || !over_input_limit(c, left))) {
        if (nc__inbuf_append(&c->in, data + done, left) < 0) {
            nc__log(NC_LOG_ERROR, c->l->name, c->id, "out of memory for input; closing");
            nc_close(c, NC_CLOSE_ABORT);
        }
        return;
    }
    if (!held)
        over_input_limit(c, c->in.len);
}

void nc__conn_redeliver(nc_conn *c)
{
    c->flags &= ~CF_REDELIVER;
    if (c->in.len > 0 && readable(c))
        deliver(c, NULL, 0);
}

static void on_eof(nc_conn *c)
{
    c->flags |= CF_EOF;
    if (c->l->m->on_eof) {
        uint64_t t0 = nc__hook_enter();
        c->l->m->on_eof(c);
        nc__hook_leave(c->l, t0);
    } else
        nc_close(c, NC_CLOSE_FLUSH);
    /* After the hook: most peers that end are closed here and then, with
     * the fd about to leave the epoll set, there is nothing to change. */
    update_events(c);
}

/* One read through the transport into the shared buffer.  Input the
 * transport still holds afterwards (a TLS record read whole) makes no epoll
 * event, so it is read at the connection's next flush, in the next turn:
 * one buffer's worth per turn, like the socket itself. */
static void do_read(nc_conn *c)
{
    ssize_t n = c->tp.ops->recv(&c->tp, rbuf, sizeof rbuf);
    if (n > 0) {
        c->l->bytes_in += (uint64_t)n;
        nc__conn_touch(c);
        deliver(c, rbuf, (size_t)n);
        if (c->tp.ops->pending && c->tp.ops->pending(&c->tp) > 0 && readable(c) && !(c->flags & CF_EOF)) {
            c->flags |= CF_READ_MORE;
            nc__reactor_yield(c);
        }
    } else if (n == 0) {
        on_eof(c);
    } else if (n == -EAGAIN) {
        if (c->tp.want & NC__TP_RECV_WANTS_WRITE)
            update_events(c);
    } else {
        c->l->errors++;
        nc__log(NC_LOG_DEBUG, c->l->name, c->id, "read: %s", strerror((int)-n));
        nc_close(c, NC_CLOSE_ABORT);
    }
}

/* Input held back by the throttle is handed over in the next loop turn, not
 * in this one: redelivered now, its answers would be flushed and the
 * connection unthrottled again within the same turn, over and over, and one
 * connection could keep the loop to itself until the kernel's socket
 * buffers were full (seconds, for a pipeline of costly requests).  Through
 * the yielded list it gets one watermark's worth of work per turn. */
static void resume_next_turn(nc_conn *c)
{
    c->flags |= CF_RESUME;
    if (c->flags & CF_PENDING)
        return; /* a flush is coming anyway (yielded, or later in this turn) */
    nc__reactor_yield(c);
}

/* The watermarks: at high_water bytes of queued memory or at
 * max_queued_files queued descriptors the connection is throttled (no
 * input read or delivered); at half of both it goes on, with what it had
 * read already handed over first.  Throttling rather than closing: a client
 * that pipelines and reads its answers is legitimate and only waits; one
 * that never reads is closed by send_timeout_ms, holding at most this
 * much meanwhile. */
static void throttle_check(nc_conn *c)
{
    size_t high = c->l->high_water, files = (size_t)c->l->conf->max_queued_files;
    if (!(c->flags & CF_THROTTLED)) {
        if (c->out.mem < high && c->out.fds < files)
            return;
        c->flags |= CF_THROTTLED;
        if (c->out.fds >= files) {
            static nc__ratelimit lm;
            c->l->throttled_files++;
            if (nc_log_enabled(NC_LOG_INFO) && allow(&lm))
                nc__log(NC_LOG_INFO, c->l->name, c->id,
                        "%zu queued files reach max_queued_files (%zu): no more input until they are sent",
                        c->out.fds, files);
        }
    } else if (c->out.mem <= high / 2 && c->out.fds <= files / 2) {
        c->flags &= ~CF_THROTTLED;
        if (c->in.len > 0)
            resume_next_turn(c);
    } else {
        return;
    }
    update_events(c);
}

/* The transport's graceful end, once: 0 done (or failed: the close goes on
 * all the same), -EAGAIN when it waits for the socket. */
static int shut(nc_conn *c)
{
    if (c->flags & CF_SHUT)
        return 0;
    int rc = c->tp.ops->shutdown(&c->tp);
    if (rc == -EAGAIN)
        return rc;
    c->flags |= CF_SHUT;
    return 0;
}

void nc__conn_flush(nc_conn *c)
{
    if ((c->flags & CF_CLOSING) && !(c->flags & CF_FLUSH_CLOSE))
        return;
    if (c->flags & CF_RESUME) {
        c->flags &= ~CF_RESUME;
        schedule_redeliver(c); /* settle() hands it over after this flush */
    }
    if (c->flags & CF_READ_MORE) {
        c->flags &= ~CF_READ_MORE;
        if (readable(c) && !(c->flags & CF_EOF))
            do_read(c); /* what it queues goes out below */
        if ((c->flags & CF_CLOSING) && !(c->flags & CF_FLUSH_CLOSE))
            return;
    }
    size_t had = c->out.bytes, wrote = 0;
    /* At most write_budget_bytes per turn (256 KiB): a 1 MiB response goes
     * out in four turns, interleaved with the other connections', so their
     * readers (and the kernel's loopback or NIC work) run alongside instead
     * of waiting for whole files. */
    long long budget = c->l->conf->write_budget_bytes; /* 0 only in a hand-made conf: no budget */
    int rc = nc__outq_flush(&c->out, &c->tp, budget > 0 ? (size_t)budget : SIZE_MAX, &wrote);
    if (wrote) {
        c->l->bytes_out += wrote;
        nc__conn_touch(c);
    }
    if (rc < 0) {
        c->l->errors++;
        nc__log(NC_LOG_DEBUG, c->l->name, c->id, "write: %s", strerror(-rc));
        nc_close(c, NC_CLOSE_ABORT);
        return;
    }
    if (rc == 0 && (c->flags & CF_FLUSH_CLOSE) && shut(c) == -EAGAIN)
        rc = 1; /* the transport's goodbye (close_notify) waits for the socket */
    /* The send-timeout list holds the connections waiting for their peer
     * to read; any progress restarts the clock. */
    if (rc == 2 && !(c->flags & CF_YIELDED)) {
        /* Budget spent: let the other connections have their turn, and go
         * on in the next one (no EPOLLOUT round trip: the socket has room). */
        nc__reactor_yield(c);
    }
    if (rc == 1) {
        if (!(c->flags & CF_WAIT_OUT)) {
            c->flags |= CF_WAIT_OUT;
            nc__tlist_add(&c->l->wait, &c->wait);
        } else if (wrote) {
            nc__tlist_requeue(&c->l->wait, &c->wait); /* progress restarts the clock */
        }
    } else if (c->flags & CF_WAIT_OUT) {
        c->flags &= ~CF_WAIT_OUT;
        nc__tlist_del(&c->wait);
    }
    NC_ASSERT(!!(c->flags & CF_WAIT_OUT) == nc_list_linked(&c->wait.q));
    throttle_check(c);
    if (rc == 0) {
        if (c->flags & CF_FLUSH_CLOSE) {
            nc__reactor_close_soon(c);
            return;
        }
        if (had && c->l->m->on_writable && !(c->flags & CF_CLOSING)) {
            uint64_t t0 = nc__hook_enter();
            c->l->m->on_writable(c);
            nc__hook_leave(c->l, t0);
        }
    }
    if (!(c->flags & CF_ON_CLOSE_LIST))
        update_events(c);
}

void nc__conn_on_event(nc_conn *c, uint32_t ev)
{
    if ((c->flags & CF_CLOSING) && !(c->flags & CF_FLUSH_CLOSE))
        return; /* closed earlier in this turn: the event is stale */
    /* A transport's read may wait for writability and its write for
     * readability (TLS); for plain sockets want is always 0. */
    unsigned tw = c->tp.want;
    if ((ev & EPOLLOUT) || ((ev & EPOLLIN) && (tw & NC__TP_SEND_WANTS_READ)))
        nc__conn_flush(c);
    uint32_t in = EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR | ((tw & NC__TP_RECV_WANTS_WRITE) ? EPOLLOUT : 0);
    if ((ev & in) && readable(c) && !(c->flags & (CF_EOF | CF_THROTTLED))) {
        do_read(c);
    } else if (ev & (EPOLLERR | EPOLLHUP)) {
        nc_close(c, NC_CLOSE_ABORT);
    }
}

void nc__conn_destroy(nc_conn *c)
{
    nc_listener *l = c->l;
    if (c->flags & CF_ACCEPTED && l->m->on_close) {
        uint64_t t0 = nc__hook_enter();
        l->m->on_close(c);
        nc__hook_leave(l, t0);
    }
    nc_list_remove(&c->lnode);
    nc__tlist_del(&c->idle);
    nc__tlist_del(&c->wait);
    nc__listener_ip_release(l, c);
    l->nconns--;
    nconns--;
    nc__listener_conn_gone();
    /* A flushed close whose queue was empty from the start comes here
     * without a flush: its transport says goodbye now, as far as the socket
     * takes it; unless the peer ended first and was sent nothing after it:
     * then close() alone is the whole goodbye (its FIN; everything up to
     * the peer's end was read, so no reset), and a close_notify would only
     * meet a socket the peer has closed (nginx skips both the same way).
     * Aborted while the peer was not reading: a reset, so the kernel drops
     * what it still holds for it instead of trickling it out. */
    if ((c->flags & (CF_FLUSH_CLOSE | CF_EOF)) == CF_FLUSH_CLOSE)
        shut(c);
    c->tp.ops->close(&c->tp, !(c->flags & CF_FLUSH_CLOSE) && (c->flags & CF_WAIT_OUT));
    nc__inbuf_free(&c->in);
    nc__outq_clear(&c->out);
    free(c->peer_str);
    free(c);
}

/* ---- public API ---- */

uint64_t nc_conn_id(const nc_conn *c)
{
    return c->id;
}

nc_listener *nc_conn_listener(const nc_conn *c)
{
    return c->l;
}

void nc_conn_set_data(nc_conn *c, void *data)
{
    c->data = data;
}

void *nc_conn_data(const nc_conn *c)
{
    return c->data;
}

const struct sockaddr *nc_conn_peer(const nc_conn *c, socklen_t *len)
{
    if (len)
        *len = c->peer_len;
    return &c->peer.sa;
}

const char *nc_conn_peer_str(const nc_conn *c)
{
    if (!c->peer_str) {
        char buf[NC_ADDRSTRLEN] = "unix";
        if (c->peer_len)
            nc__addr_format(&c->peer.sa, c->peer_len, buf, sizeof buf);
        ((nc_conn *)c)->peer_str = strdup(buf);
        if (!c->peer_str)
            return "?";
    }
    return c->peer_str;
}

size_t nc_conn_queued(const nc_conn *c)
{
    return c->out.bytes;
}

/* The worker's caps on what all its queues hold together (SIZE_MAX until
 * set: a hand-made core, as in the unit tests, has none). */
static size_t cap_mem = SIZE_MAX, cap_files = SIZE_MAX;

void nc__conn_set_worker_caps(const nc__config *cfg)
{
    cap_mem = (size_t)cfg->worker_max_output_bytes;
    cap_files = (size_t)cfg->worker_max_queued_files;
    if (cap_files == 0) {
        /* A quarter of the descriptors: what is left keeps accepting and
         * opening files however the queues fill. */
        struct rlimit rl;
        cap_files = 65536;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur / 4 < cap_files)
            cap_files = rl.rlim_cur / 4 > 16 ? (size_t)rl.rlim_cur / 4 : 16;
    }
}

/* Past a worker-wide cap (memory when files is 0, descriptors otherwise):
 * drop the connections holding the most first -- the slow consumers, as
 * Redis evicts clients by output buffer -- until the total is back under.
 * Their queues are emptied at once, so memory and descriptors come back now
 * rather than in the close phase. */
static void shed(int files)
{
    static nc__ratelimit lm;
    size_t cap = files ? cap_files : cap_mem;
    for (;;) {
        size_t total = files ? nc__outq_total.fds : nc__outq_total.mem;
        if (total <= cap)
            return;
        nc_conn *worst = NULL;
        size_t most = 0;
        size_t nl;
        nc_listener *ls = nc__reactor_listeners(&nl);
        for (size_t i = 0; i < nl; i++) {
            for (nc_list *q = nc_list_first(&ls[i].conns); q; q = nc_list_next(&ls[i].conns, q)) {
                nc_conn *k = NC_LIST_DATA(q, nc_conn, lnode);
                size_t v = files ? k->out.fds : k->out.mem;
                if (v > most) {
                    most = v;
                    worst = k;
                }
            }
        }
        if (!worst)
            return; /* the rest is not in any connection's queue */
        nc_listener *l = worst->l;
        l->errors++;
        if (files)
            l->shed_files++;
        else
            l->shed_memory++;
        if (allow(&lm))
            nc__log(NC_LOG_WARN, l->name, worst->id,
                    "%zu %s queued by this worker's connections pass %s (%zu): dropping the one holding the "
                    "most (%zu)",
                    total, files ? "descriptors" : "bytes",
                    files ? "worker_max_queued_files" : "worker_max_output_bytes", cap, most);
        nc_close(worst, NC_CLOSE_ABORT);
        nc__outq_clear(&worst->out);
    }
}

/* After anything was queued: enforce the slow-consumer bounds, then flush
 * at the end of the turn. */
static int queued(nc_conn *c, int rc)
{
    if (rc < 0) {
        nc__log(NC_LOG_ERROR, c->l->name, c->id, "out of memory for output; closing");
        nc_close(c, NC_CLOSE_ABORT);
        return -1;
    }
    static nc__ratelimit lm;
    if (c->out.mem > (size_t)c->l->conf->max_output_bytes) {
        c->l->errors++;
        c->l->closed_slow++;
        if (allow(&lm))
            nc__log(NC_LOG_WARN, c->l->name, c->id,
                    "slow consumer: %zu bytes queued exceed max_output_bytes (%lld); closing",
                    c->out.mem, c->l->conf->max_output_bytes);
        nc_close(c, NC_CLOSE_ABORT);
        return -1;
    }
    if (nc__outq_total.mem > cap_mem || nc__outq_total.fds > cap_files) {
        shed(0);
        shed(1);
        if (c->flags & CF_CLOSING)
            return -1; /* it was the one holding the most */
    }
    throttle_check(c);
    nc__reactor_flush_soon(c);
    return 0;
}

int nc_send(nc_conn *c, const void *data, size_t len)
{
    if (c->flags & CF_CLOSING)
        return -1;
    if (len == 0)
        return 0;
    return queued(c, nc__outq_append(&c->out, data, len));
}

int nc_sendfile(nc_conn *c, int fd, off_t offset, size_t len, unsigned flags)
{
    if (c->flags & CF_CLOSING) {
        if (flags & NC_FILE_OWN)
            close(fd);
        return -1;
    }
    if (len == 0) {
        if (flags & NC_FILE_OWN)
            close(fd);
        return 0;
    }
    return queued(c, nc__outq_add_file(&c->out, fd, offset, len, (flags & NC_FILE_OWN) != 0));
}

/* Small messages are copied into the connection's chunk instead of being
 * referenced: a backlog of many small messages then goes out in a few large
 * iovecs rather than one iovec each (and costs no item allocation). */
#define SHARED_COPY_MAX 1024

int nc_send_shared(nc_conn *c, nc_shared *s)
{
    if (c->flags & CF_CLOSING)
        return -1;
    if (s->len == 0)
        return 0;
    if (s->len <= SHARED_COPY_MAX)
        return queued(c, nc__outq_append(&c->out, s->data, s->len));
    return queued(c, nc__outq_add_shared(&c->out, s));
}

void nc_conn_pause(nc_conn *c)
{
    c->flags |= CF_PAUSED;
    update_events(c);
}

void nc_conn_resume(nc_conn *c)
{
    if (!(c->flags & CF_PAUSED))
        return;
    c->flags &= ~CF_PAUSED;
    if (c->flags & CF_CLOSING)
        return;
    update_events(c);
    schedule_redeliver(c);
}

void nc_log_conn(const nc_conn *c, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nc__logv(level, c->l->name, c->id, fmt, ap);
    va_end(ap);
}
