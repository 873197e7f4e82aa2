/* core.h -- the core's internal structures: the reactor, listeners and
 * connections.  Never included by modules: they see opaque handles only. */
#ifndef NC_CORE_CORE_H
#define NC_CORE_CORE_H

#include <netinet/in.h>
#include <stdint.h>
#include <time.h>

#include "addr.h"
#include "buf.h"
#include "config.h"
#include "module.h"
#include "netcore/netcore.h"
#include "netcore/list.h"
#include "options.h"
#include "timer.h"
#include "transport.h"

/* Every object registered with epoll starts with one of these, so an event
 * can be dispatched from data.ptr alone. */
enum nc__evkind { EV_LISTENER = 1, EV_CONN, EV_SIGNAL, EV_WORK, EV_HANDLER };

/* Any other descriptor the loop watches (the bus's sockets, a Redis
 * client's): epoll's data points at one of these, embedded in its owner,
 * and the loop calls fn with the events.  fn may close its own descriptor
 * and free its own owner (a descriptor appears at most once in a batch),
 * but must defer freeing any other handler's: a later event of the same
 * batch may point at it. */
typedef struct nc__evh {
    uint32_t kind; /* EV_HANDLER */
    void (*fn)(struct nc__evh *h, uint32_t events);
} nc__evh;

/* Connection flags. */
enum {
    CF_CLOSING = 1u << 0,    /* nc_close called: no more hooks but on_close */
    CF_FLUSH_CLOSE = 1u << 1, /* close once the queue is empty */
    CF_PAUSED = 1u << 2,     /* module paused reading */
    CF_THROTTLED = 1u << 3,  /* core paused reading: queue above high watermark */
    CF_EOF = 1u << 4,        /* peer sent FIN */
    CF_WAIT_OUT = 1u << 5,   /* socket full: waiting for EPOLLOUT */
    CF_PENDING = 1u << 6,    /* on the reactor's pending-write list */
    CF_REDELIVER = 1u << 7,  /* on the redeliver list (resume with input) */
    CF_ON_CLOSE_LIST = 1u << 8,
    CF_ACCEPTED = 1u << 9,   /* on_accept said yes: on_close is owed */
    CF_YIELDED = 1u << 10,   /* on the yielded list (CF_PENDING stays set) */
    CF_RESUME = 1u << 11,    /* unthrottled with input held: redeliver at its next flush */
    CF_READ_MORE = 1u << 12, /* the transport holds input (transport.h, pending): read at its next flush */
    CF_SHUT = 1u << 13,      /* the transport's shutdown ran (FIN or close_notify sent) */
};

/* Open connections per peer address (max_connections_per_ip). */
typedef struct nc__ipcount {
    unsigned char addr[16];
    uint32_t count;
    struct nc__ipcount *next;
} nc__ipcount;

typedef struct nc__counter {
    char *name;
    uint64_t value;
    struct nc__counter *next;
} nc__counter;

/* A timeout list (listener.c owns them): connections in the order of a
 * timestamp, oldest first, and one timer due when the first of them passes
 * the timeout; the timer is re-armed by each sweep, not per connection.
 * Used twice per listener: idle (idle_timeout_ms, ordered by last
 * activity) and waiting for the peer to read (send_timeout_ms, ordered by
 * the last write progress). */
typedef struct nc__tnode {
    nc_list q;    /* self-linked while not on the list */
    uint64_t since; /* nc__R.now when last (re)appended */
} nc__tnode;

typedef struct nc__tlist {
    nc_list q;         /* of nc__tnode, `since` ascending */
    nc_timer *timer;     /* due at the first node's expiry; NULL when none is armed */
    uint64_t timeout_ms; /* 0: off (nodes are still kept in order) */
    size_t node_off;     /* offsetof(nc_conn, the node this list links) */
    void (*expire)(nc_conn *c, uint64_t age_ms); /* counts, logs and closes */
} nc__tlist;

struct nc_listener {
    uint32_t evkind; /* EV_LISTENER */
    int fd;
    const nc__lconf *conf;
    const char *name;
    nc__module *mod;
    const nc_module *m;
    void *instance;
    int inited;
    int accepting;      /* registered for EPOLLIN */
    char addr_str[NC_ADDRSTRLEN];
    size_t high_water;  /* stop reading a connection above this much queued memory */
    uint64_t idle_slack; /* ms: see nc__conn_touch */

    nc_list conns;             /* open connections (nc_conn.lnode), accept order */
    nc__tlist idle;            /* the same, least recently active first */
    nc__tlist wait;            /* waiting for the peer to read (while CF_WAIT_OUT) */
    size_t nconns;
    nc__ipcount **ips;  /* max_connections_per_ip: a hash of counts */
    size_t nips_buckets;

    /* UDP */
    unsigned batch;
    struct mmsghdr *msgs;
    struct iovec *iovs;
    unsigned char *dbuf;
    struct sockaddr_in6 *peers;
    nc_dgram *dgrams;
    uint32_t ovfl_last;      /* SK_MEMINFO_DROPS when last looked at (at adopt: the baseline) */
    uint64_t drops_checked_ms;
    int drain_more;     /* the last recvmmsg filled its batch: more may wait */
    uint64_t drops;

    /* statistics */
    uint64_t conns_total, bytes_in, bytes_out, refused, errors;
    uint64_t throttled_files; /* connections stopped at max_queued_files */
    uint64_t shed_memory, shed_files; /* dropped at the worker's caps (worker_max_*) */
    /* closed by a limit of the core: idle_timeout_ms, send_timeout_ms,
     * max_output_bytes (a slow consumer), max_input_bytes */
    uint64_t closed_idle, closed_send_timeout, closed_slow, closed_input;
    /* TLS (tls.c): handshakes done, failed (a bad ClientHello, no cipher in
     * common, plain text to a TLS port ...), timed out, refused at
     * max_handshakes */
    uint64_t tls_handshakes, tls_handshake_failures, tls_handshake_timeouts, tls_handshakes_refused;
    uint64_t tls_resumed, tls_fail_not_tls, tls_fail_negotiation, tls_fail_client_cert;
    uint64_t hook_ns; /* time inside this listener's module hooks */
    nc__counter *counters;
};

struct nc_conn {
    uint32_t evkind; /* EV_CONN */
    nc__tp tp;       /* the only way to the descriptor (transport.h) */
    uint32_t flags;
    uint32_t events; /* the mask registered with epoll */
    uint64_t id;
    nc_listener *l;
    void *data;
    nc__inbuf in;
    nc__outq out;
    nc_list lnode;          /* on the listener's conns */
    nc__tnode idle;         /* on the listener's idle list from accept to close */
    /* The reactor's deferred-work queues (reactor.c owns them and the flags
     * that mirror them: CF_PENDING, CF_YIELDED, CF_REDELIVER,
     * CF_ON_CLOSE_LIST).  The close list is never unlinked from, so it is
     * singly linked. */
    nc_list flushq;       /* on pending (CF_PENDING) or yielded (CF_YIELDED too) */
    nc_list redeliverq;   /* on redeliver (CF_REDELIVER) */
    nc_conn *cnext;         /* on closing (CF_ON_CLOSE_LIST) */
    nc__tnode wait;         /* on the listener's send-timeout list while CF_WAIT_OUT */
    char *peer_str;         /* built on first request */
    socklen_t peer_len;
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } peer;
};


uint64_t nc__clock_ms(void);

/* reactor.c: the loop, its clock (nc_now_ms), its state (stopping,
 * draining, their deadlines) and the deferred-work queues.  Its struct is
 * private to it; the rest of the core asks through these. */
int nc__reactor_init(long long shutdown_timeout_ms, long long drain_timeout_ms);
void nc__reactor_free(void);
/* The worker's listeners (the array is server.c's; the reactor walks it to
 * stop, drain and reopen). */
void nc__reactor_set_listeners(nc_listener *ls, size_t n);
nc_listener *nc__reactor_listeners(size_t *n);
/* 1 while a graceful stop is under way, 2 once it is stopping now, else 0. */
int nc__reactor_stopping(void);
/* When a stop must be over: its deadline once stopping, else what it
 * would be if one began now; and the option it comes from. */
uint64_t nc__reactor_stop_deadline(void);
long long nc__reactor_shutdown_timeout_ms(void);
int nc__ev_add(int fd, uint32_t events, void *tag);
int nc__ev_mod(int fd, uint32_t events, void *tag);
void nc__ev_del(int fd);
int nc__reactor_run(void);         /* returns the process exit status */
void nc__reactor_stop(int now);

/* conn.c: connections, their input and output, and the worker's count of
 * them. */
size_t nc__conn_count(void);
nc_conn *nc__conn_new(nc_listener *l, int fd, const struct sockaddr *peer, socklen_t plen);
void nc__conn_on_event(nc_conn *c, uint32_t events);
void nc__conn_redeliver(nc_conn *c);

/* reactor.c: the deferred-work queues.  Each is idempotent.  flush_soon:
 * flush c's output this turn (not while it waits for EPOLLOUT); yield: in
 * the next turn instead (its write budget is spent, or throttled input is
 * to resume); redeliver_soon: hand c's held input to the module again;
 * close_soon: destroy c once this turn's work is done (marks it
 * CF_CLOSING).  A closed connection is taken off every queue in O(1). */
void nc__reactor_flush_soon(nc_conn *c);
void nc__reactor_yield(nc_conn *c);
void nc__reactor_redeliver_soon(nc_conn *c);
void nc__reactor_close_soon(nc_conn *c);
/* Flush pending output; returns nothing: failures are turned into closes. */
void nc__conn_flush(nc_conn *c);
/* Close now: on_close, free.  Only from the reactor's close phase. */
void nc__conn_destroy(nc_conn *c);
void nc__conn_touch(nc_conn *c);
/* The worker-wide caps on queued output (worker_max_output_bytes,
 * worker_max_queued_files; 0 for the latter: a quarter of RLIMIT_NOFILE). */
void nc__conn_set_worker_caps(const nc__config *cfg);

/* Per-module accounting: the time a listener's module spends in its hooks
 * (on_accept, on_data, on_eof, on_writable, on_close, on_datagrams), read
 * from CLOCK_MONOTONIC (the vDSO: no system call) around each call.  On
 * the reactor thread, which a hook must not block, that is CPU time unless
 * the worker was preempted meanwhile. */
static inline uint64_t nc__hook_enter(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void nc__hook_leave(nc_listener *l, uint64_t t0)
{
    l->hook_ns += nc__hook_enter() - t0;
}

/* listener.c: sockets, accepting (its throttles: out of descriptors, the
 * worker's share of max_connections), the timeout lists, per-IP counts. */
/* Worker: its share of the global max_connections and the number of
 * workers sharing the sockets; keeps the spare descriptor for EMFILE.
 * Returns 0 or -errno.  nc__listener_worker_fini gives it back. */
int nc__listener_worker_init(size_t max_conns, int nworkers);
void nc__listener_worker_fini(void);
/* Master: create, bind and listen; returns the fd and fills addr_str, or -1
 * with err naming the listener and the address. */
int nc__listener_open(const nc__lconf *lc, char *addr_str, size_t addrlen, char *err, size_t errlen);
/* Master: close a listening socket it opened (and unlink a Unix path). */
void nc__listener_unbind(const nc__lconf *lc, int fd);
/* Worker: serve on an inherited socket. */
int nc__listener_adopt(nc_listener *l, int fd, const char *addr_str, char *err, size_t errlen);
void nc__listener_on_event(nc_listener *l, uint32_t events);
/* Worker: stop serving the socket (its epoll registration deleted, this
 * worker's copy closed).  hand_over: a reload's next generation reads the
 * socket, so datagrams still queued are left to it rather than read now. */
void nc__listener_close(nc_listener *l, int hand_over);
/* Free what the listener holds (datagram buffers, counters, per-IP counts);
 * after its module's fini. */
void nc__listener_free(nc_listener *l);
void nc__listener_pause_accept(nc_listener *l);
void nc__listener_resume_accept(nc_listener *l);
/* A connection of this worker closed: resume accepting if it had stepped
 * aside at its share of the global max_connections. */
void nc__listener_conn_gone(void);
/* The listener's lists (its connections, and its two timeout lists), set
 * up once before anything else (nc__listener_lists_init).  Timeout lists:
 * append a connection's node stamped now (arming the timer if need be),
 * move it to the end with a new stamp, take it off, and stop the timer. */
void nc__listener_lists_init(nc_listener *l);
void nc__tlist_add(nc__tlist *t, nc__tnode *n);
void nc__tlist_requeue(nc__tlist *t, nc__tnode *n);
void nc__tlist_del(nc__tnode *n);
void nc__tlist_stop(nc__tlist *t);
void nc__listener_ip_release(nc_listener *l, const nc_conn *c);
void nc__reactor_drain(void);

/* work.c */
void nc__work_on_event(void);
unsigned nc__work_pending(void);
void nc__work_shutdown(void);

/* util.c */
/* The candidate closest to word by edit distance, if close enough to be a
 * typo of it (1 edit for short words, up to 3 for long ones), else NULL:
 * "did you mean" in config errors. */
const char *nc__nearest(const char *word, const char *const *cands, size_t n);

/* proctitle.c */
/* Before anything reads argv (getopt): makes argv[] and the environment
 * copies, so their original space can hold the title. */
void nc__proctitle_init(int argc, char **argv);
/* The title ps shows ("netcore: master"), and a short thread name. */
void nc__proctitle_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));


#endif
