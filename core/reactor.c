/* reactor.c -- the epoll loop: one turn waits for events, dispatches them,
 * runs due timers, then settles the deferred work (redelivered input,
 * pending writes, closes) until none is left.  Signals arrive through a
 * signalfd, so they are handled between events like any other input. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "log.h"
#include "nc_assert.h"

#define MAX_EVENTS 512

/* The loop's state: this file's alone. */
typedef struct nc__reactor {
    uint32_t sig_evkind; /* EV_SIGNAL, the tag for sigfd */
    int epfd;
    int sigfd;
    uint64_t now; /* monotonic ms, refreshed every turn */
    /* Deferred work, settled after every batch of events (conn.c asks
     * through the nc__reactor_*_soon functions). */
    nc_list pending;   /* output to flush this turn */
    nc_list yielded;   /* used their write budget: flushed again next turn */
    nc_list redeliver; /* held input to hand to the module again */
    nc_conn *closing;  /* to destroy once this turn's work is done */
    nc_listener *listeners; /* server.c's array */
    size_t nlisteners;
    int stopping; /* 1: graceful stop under way; 2: stop now */
    int draining; /* reload: accepting nothing, finishing connections */
    uint64_t drain_deadline;
    long long drain_timeout_ms;
    uint64_t stop_deadline;
    long long shutdown_timeout_ms;
} nc__reactor;

static nc__reactor nc__R = {.epfd = -1, .sigfd = -1};

uint64_t nc__clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int nc__ev_add(int fd, uint32_t events, void *tag)
{
    struct epoll_event ev = {.events = events, .data.ptr = tag};
    return epoll_ctl(nc__R.epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int nc__ev_mod(int fd, uint32_t events, void *tag)
{
    struct epoll_event ev = {.events = events, .data.ptr = tag};
    return epoll_ctl(nc__R.epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void nc__ev_del(int fd)
{
    struct epoll_event ev = {0};
    epoll_ctl(nc__R.epfd, EPOLL_CTL_DEL, fd, &ev);
}

int nc__reactor_init(long long shutdown_timeout_ms, long long drain_timeout_ms)
{
    nc__reactor *R = &nc__R;
    memset(R, 0, sizeof *R);
    R->shutdown_timeout_ms = shutdown_timeout_ms;
    R->drain_timeout_ms = drain_timeout_ms;
    nc_list_init(&R->pending);
    nc_list_init(&R->yielded);
    nc_list_init(&R->redeliver);
    R->sig_evkind = EV_SIGNAL;
    R->sigfd = -1;
    R->now = nc__clock_ms();
    R->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (R->epfd < 0)
        return -errno;

    signal(SIGPIPE, SIG_IGN);
    /* A file-size limit (RLIMIT_FSIZE) must show up as EFBIG from write(2),
     * which modules report, not as a signal that kills the server. */
    signal(SIGXFSZ, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -errno;
    R->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (R->sigfd < 0)
        return -errno;
    int rc = nc__ev_add(R->sigfd, EPOLLIN, &R->sig_evkind);
    return rc < 0 ? rc : 0;
}

void nc__reactor_set_listeners(nc_listener *ls, size_t n)
{
    nc__R.listeners = ls;
    nc__R.nlisteners = n;
}

nc_listener *nc__reactor_listeners(size_t *n)
{
    *n = nc__R.nlisteners;
    return nc__R.listeners;
}

int nc__reactor_stopping(void)
{
    return nc__R.stopping;
}

uint64_t nc__reactor_stop_deadline(void)
{
    return nc__R.stopping ? nc__R.stop_deadline : nc__clock_ms() + (uint64_t)nc__R.shutdown_timeout_ms;
}

long long nc__reactor_shutdown_timeout_ms(void)
{
    return nc__R.shutdown_timeout_ms;
}

void nc__reactor_free(void)
{
    nc__reactor *R = &nc__R;
    if (R->sigfd >= 0)
        close(R->sigfd);
    if (R->epfd >= 0)
        close(R->epfd);
    R->sigfd = R->epfd = -1;
    nc__timers_free(&nc__timer_heap);
    nc__outq_cache_drain();
}

static void close_all(int how)
{
    for (size_t i = 0; i < nc__R.nlisteners; i++) {
        nc_listener *l = &nc__R.listeners[i];
        for (nc_list *q = nc_list_first(&l->conns); q; q = nc_list_next(&l->conns, q))
            nc_close(NC_LIST_DATA(q, nc_conn, lnode), how); /* deferred: the list stays as it is */
    }
}

/* Reload: stop accepting, keep serving what is open, exit when it is done
 * or drain_timeout_ms has passed (then the usual graceful stop). */
void nc__reactor_drain(void)
{
    nc__reactor *R = &nc__R;
    if (R->draining || R->stopping)
        return;
    R->draining = 1;
    R->drain_deadline = R->now + (uint64_t)R->drain_timeout_ms;
    for (size_t i = 0; i < R->nlisteners; i++)
        nc__listener_close(&R->listeners[i], 1); /* the next generation serves the sockets */
    nc__log(NC_LOG_INFO, NULL, 0, "draining: %zu connection%s to finish (at most %lld ms)", nc__conn_count(),
            nc__conn_count() == 1 ? "" : "s", R->drain_timeout_ms);
}

int nc_draining(void)
{
    return nc__R.draining;
}

void nc__reactor_stop(int now)
{
    nc__reactor *R = &nc__R;
    if (!R->stopping) {
        for (size_t i = 0; i < R->nlisteners; i++)
            nc__listener_close(&R->listeners[i], 0);
        R->stop_deadline = R->now + (uint64_t)R->shutdown_timeout_ms;
        R->stopping = 1;
        nc__log(NC_LOG_INFO, NULL, 0, "stopping: %zu connection%s to finish (at most %lld ms)",
                nc__conn_count(), nc__conn_count() == 1 ? "" : "s", R->shutdown_timeout_ms);
        close_all(NC_CLOSE_FLUSH);
    }
    if (now) {
        R->stopping = 2;
        close_all(NC_CLOSE_ABORT);
    }
}

static void on_signal(void)
{
    struct signalfd_siginfo si;
    while (read(nc__R.sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        switch (si.ssi_signo) {
        case SIGINT:
        case SIGTERM:
            /* The master says it once for all of them; a signal sent to
             * this worker by someone else is worth a line of its own. */
            if ((pid_t)si.ssi_pid != getppid())
                nc__log(NC_LOG_INFO, NULL, 0, "%s received from pid %d",
                        si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM", (int)si.ssi_pid);
            nc__reactor_stop(nc__R.stopping != 0); /* a second one: stop now */
            break;
        case SIGQUIT:
            nc__log(NC_LOG_INFO, NULL, 0, "SIGQUIT received: stopping now");
            nc__reactor_stop(1);
            break;
        case SIGUSR1: {
            int rc = nc__log_reopen();
            if (rc < 0)
                nc__log(NC_LOG_ERROR, NULL, 0, "reopening the log file: %s", strerror(-rc));
            for (size_t i = 0; i < nc__R.nlisteners; i++) {
                nc_listener *l = &nc__R.listeners[i];
                if (l->inited && l->m->on_reopen)
                    l->m->on_reopen(l);
            }
            nc__log(NC_LOG_INFO, NULL, 0, "SIGUSR1: log files reopened"); /* the worker's files */
            break;
        }
        case SIGUSR2:
            nc__reactor_drain();
            break;
        case SIGHUP:
            /* The master reloads; said, so a SIGHUP sent to the wrong pid
             * is not silently lost. */
            nc__log(NC_LOG_WARN, NULL, 0, "SIGHUP from pid %d ignored: reload by sending SIGHUP to the master, pid %d",
                    (int)si.ssi_pid, (int)getppid());
            break;
        }
    }
}

/* ---- the deferred-work queues (the only code that touches them) ---- */

void nc__reactor_flush_soon(nc_conn *c)
{
    if (c->flags & (CF_PENDING | CF_WAIT_OUT))
        return;
    NC_ASSERT(!nc_list_linked(&c->flushq)); /* CF_PENDING mirrors the flush queues */
    c->flags |= CF_PENDING;
    nc_list_push_tail(&nc__R.pending, &c->flushq);
}

void nc__reactor_yield(nc_conn *c)
{
    c->flags |= CF_PENDING | CF_YIELDED;
    nc_list_remove(&c->flushq); /* off pending, if it was still there */
    nc_list_push_tail(&nc__R.yielded, &c->flushq);
}

void nc__reactor_redeliver_soon(nc_conn *c)
{
    if (c->flags & CF_REDELIVER)
        return;
    NC_ASSERT(!nc_list_linked(&c->redeliverq));
    c->flags |= CF_REDELIVER;
    nc_list_push_tail(&nc__R.redeliver, &c->redeliverq);
}

void nc__reactor_close_soon(nc_conn *c)
{
    if (c->flags & CF_ON_CLOSE_LIST)
        return;
    c->flags |= CF_ON_CLOSE_LIST | CF_CLOSING;
    c->cnext = nc__R.closing;
    nc__R.closing = c;
}

/* Deferred work, in an order that keeps every queue free of freed
 * connections: input redelivery, then writes, then closes (whose on_close
 * may queue writes or closes for others: hence the loop).  Each round
 * takes what is queued when it starts; what its work queues goes to the
 * next round. */
static void settle(void)
{
    nc__reactor *R = &nc__R;
    nc_list now;
    nc_list *q;
    /* Connections that spent their write budget last turn go on now. */
    for (q = nc_list_first(&R->yielded); q; q = nc_list_next(&R->yielded, q))
        NC_LIST_DATA(q, nc_conn, flushq)->flags &= ~CF_YIELDED;
    nc_list_append_all(&R->pending, &R->yielded);
    while (!nc_list_empty(&R->redeliver) || !nc_list_empty(&R->pending) || R->closing) {
        nc_list_init(&now);
        nc_list_append_all(&now, &R->redeliver);
        while ((q = nc_list_first(&now))) {
            nc_list_remove(q);
            NC_ASSERT(NC_LIST_DATA(q, nc_conn, redeliverq)->flags & CF_REDELIVER);
            nc__conn_redeliver(NC_LIST_DATA(q, nc_conn, redeliverq));
        }
        nc_list_append_all(&now, &R->pending);
        while ((q = nc_list_first(&now))) {
            nc_conn *c = NC_LIST_DATA(q, nc_conn, flushq);
            NC_ASSERT((c->flags & (CF_PENDING | CF_YIELDED)) == CF_PENDING);
            nc_list_remove(q);
            c->flags &= ~CF_PENDING;
            nc__conn_flush(c);
        }
        nc_conn *c = R->closing;
        R->closing = NULL;
        while (c) {
            nc_conn *next = c->cnext;
            nc_list_remove(&c->flushq);
            nc_list_remove(&c->redeliverq);
            nc__conn_destroy(c);
            c = next;
        }
    }
}

int nc__reactor_run(void)
{
    nc__reactor *R = &nc__R;
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        settle();
        /* Stop once every connection is gone and no job's completion (an
         * upload's rename, say) is still owed to a module. */
        if (R->stopping && nc__conn_count() == 0 && nc__work_pending() == 0)
            break;
        R->now = nc__clock_ms();
        if (R->draining && !R->stopping && (nc__conn_count() == 0 || R->now >= R->drain_deadline)) {
            if (nc__conn_count())
                nc__log(NC_LOG_WARN, NULL, 0, "drain_timeout_ms passed: closing %zu connection%s",
                        nc__conn_count(), nc__conn_count() == 1 ? "" : "s");
            nc__reactor_stop(0);
            continue;
        }
        if (R->stopping == 1 && R->now >= R->stop_deadline) {
            nc__log(NC_LOG_WARN, NULL, 0,
                    "shutdown_timeout_ms passed: closing %zu connection%s with output unsent",
                    nc__conn_count(), nc__conn_count() == 1 ? "" : "s");
            nc__reactor_stop(1);
            continue;
        }
        int64_t timeout = nc__timers_timeout(&nc__timer_heap, R->now);
        if (R->stopping == 1) {
            int64_t left = (int64_t)(R->stop_deadline - R->now);
            if (timeout < 0 || left < timeout)
                timeout = left;
        } else if (R->draining) {
            int64_t left = (int64_t)(R->drain_deadline - R->now);
            if (timeout < 0 || left < timeout)
                timeout = left < 0 ? 0 : left;
        }
        if (timeout > 60000)
            timeout = 60000;
        if (!nc_list_empty(&R->yielded))
            timeout = 0; /* writes are waiting for their next turn */
        int n = epoll_wait(R->epfd, evs, MAX_EVENTS, (int)timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            nc__log(NC_LOG_ERROR, NULL, 0, "epoll_wait: %s", strerror(errno));
            return 3;
        }
        R->now = nc__clock_ms();
        for (int i = 0; i < n; i++) {
            uint32_t *kind = evs[i].data.ptr;
            switch (*kind) {
            case EV_CONN:
                nc__conn_on_event((nc_conn *)kind, evs[i].events);
                break;
            case EV_LISTENER:
                nc__listener_on_event((nc_listener *)kind, evs[i].events);
                break;
            case EV_SIGNAL:
                on_signal();
                break;
            case EV_WORK:
                nc__work_on_event();
                break;
            case EV_HANDLER:
                ((nc__evh *)kind)->fn((nc__evh *)kind, evs[i].events);
                break;
            }
        }
        nc__timers_run(&nc__timer_heap, R->now);
    }
    return 0;
}

/* ---- public timer API ---- */

nc_timer *nc_timer_start(uint64_t after_ms, uint64_t repeat_ms, nc_timer_cb cb, void *arg)
{
    return nc__timer_start(&nc__timer_heap, nc__R.now, after_ms, repeat_ms, cb, arg);
}

void nc_timer_stop(nc_timer *t)
{
    nc__timer_stop(&nc__timer_heap, t);
}

uint64_t nc_now_ms(void)
{
    return nc__R.now;
}
