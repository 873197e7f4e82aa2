/* listener.c -- listening sockets: binding (TCP over IPv4/IPv6, Unix stream,
 * UDP), accepting with a per-wake-up budget and the spare-descriptor trick
 * for EMFILE, receiving datagrams in recvmmsg batches, idle timeouts, and the
 * listener half of the public API. */
#include <errno.h>
#include <fcntl.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <stddef.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "log.h"
#include "nc_assert.h"
#include "netcore/hash.h"
#include "tls.h"

#define ACCEPT_BUDGET 256
#define RECV_BUDGET 16
#define DGRAM_MAX 65536

/* Accepting, for the whole worker: this file's alone.  A hand-made core
 * (the unit tests) has no share to hold and no spare. */
static struct {
    int spare_fd;      /* kept open for the EMFILE accept-and-close trick */
    int accept_paused; /* paused after running out of descriptors */
    int full_paused;   /* at max_conns with other workers: accepting nothing until one closes */
    size_t max_conns;  /* this worker's share of the global max_connections */
    int nworkers;      /* worker processes sharing the listening sockets */
} W = {.spare_fd = -1, .max_conns = SIZE_MAX};

int nc__listener_worker_init(size_t max_conns, int nworkers)
{
    W.max_conns = max_conns;
    W.nworkers = nworkers;
    W.accept_paused = W.full_paused = 0;
    if (W.spare_fd < 0)
        W.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return W.spare_fd < 0 ? -errno : 0;
}

void nc__listener_worker_fini(void)
{
    if (W.spare_fd >= 0)
        close(W.spare_fd);
    W.spare_fd = -1;
}

/* True at most once per `every` ms for the given call site: floods of a log
 * line (refused connections, EMFILE) must not flood the log. */
static int ratelimit(nc__ratelimit *rl, uint64_t every)
{
    return nc__log_allow(rl, nc_now_ms(), 1, every);
}

static void udp_free(nc_listener *l)
{
    free(l->msgs);
    free(l->iovs);
    free(l->dbuf);
    free(l->peers);
    free(l->dgrams);
    l->msgs = NULL;
    l->iovs = NULL;
    l->dbuf = NULL;
    l->peers = NULL;
    l->dgrams = NULL;
}

static int udp_alloc(nc_listener *l)
{
    unsigned b = l->batch ? l->batch : 64;
    l->batch = b;
    l->msgs = calloc(b, sizeof *l->msgs);
    l->iovs = calloc(b, sizeof *l->iovs);
    l->dbuf = malloc((size_t)b * DGRAM_MAX);
    l->peers = calloc(b, sizeof *l->peers);
    l->dgrams = calloc(b, sizeof *l->dgrams);
    if (!l->msgs || !l->iovs || !l->dbuf || !l->peers || !l->dgrams) {
        udp_free(l);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < b; i++) {
        l->iovs[i].iov_base = l->dbuf + (size_t)i * DGRAM_MAX;
        l->iovs[i].iov_len = DGRAM_MAX;
        l->msgs[i].msg_hdr.msg_iov = &l->iovs[i];
        l->msgs[i].msg_hdr.msg_iovlen = 1;
    }
    return 0;
}

/* A Unix socket file left by a process that died: nobody accepts on it. */
static int unlink_stale_unix(const struct sockaddr_un *un)
{
    struct stat st;
    if (stat(un->sun_path, &st) < 0 || !S_ISSOCK(st.st_mode))
        return 0;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = connect(fd, (const struct sockaddr *)un, sizeof *un);
    int e = errno;
    close(fd);
    if (rc == 0)
        return -EADDRINUSE;
    if (e == ECONNREFUSED)
        unlink(un->sun_path);
    return 0;
}

int nc__listener_open(const nc__lconf *lc, char *addr_str, size_t addrlen, char *err, size_t errlen)
{
    int family = lc->addr.ss.ss_family;
    int type = lc->transport == NC_UDP ? SOCK_DGRAM : SOCK_STREAM;
    const char *step = "socket";
    int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0)
        goto fail;
    if (family != AF_UNIX)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (family == AF_UNIX) {
        int rc = unlink_stale_unix((const struct sockaddr_un *)&lc->addr.ss);
        if (rc < 0) {
            errno = -rc;
            step = "bind";
            goto fail;
        }
    }
    step = "bind";
    if (bind(fd, (const struct sockaddr *)&lc->addr.ss, lc->addr.len) < 0)
        goto fail;
    if (type == SOCK_STREAM) {
        step = "listen";
        if (listen(fd, lc->backlog) < 0)
            goto fail;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (family != AF_UNIX && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        nc__addr_format((struct sockaddr *)&ss, sl, addr_str, addrlen);
    else
        nc__addr_format((const struct sockaddr *)&lc->addr.ss, lc->addr.len, addr_str, addrlen);
    return fd;
fail:;
    int e = errno;
    snprintf(err, errlen, "listener \"%s\" (listeners[%d]): cannot %s %s: %s", lc->name, lc->index, step,
             lc->listen, strerror(e));
    if (fd >= 0)
        close(fd);
    return -1;
}

void nc__listener_unbind(const nc__lconf *lc, int fd)
{
    if (fd < 0)
        return;
    close(fd);
    if (lc->transport == NC_UNIX)
        unlink(((const struct sockaddr_un *)&lc->addr.ss)->sun_path);
}

/* Every worker watches the same listening sockets: EPOLLEXCLUSIVE wakes
 * one of them per connection rather than all (no thundering herd). */
static int watch(nc_listener *l)
{
    return nc__ev_add(l->fd, EPOLLIN | EPOLLEXCLUSIVE, l);
}

static int sock_drops(int fd, uint32_t *drops);
static void refresh_drops(nc_listener *l);
static void do_recv(nc_listener *l);

int nc__listener_adopt(nc_listener *l, int fd, const char *addr_str, char *err, size_t errlen)
{
    snprintf(l->addr_str, sizeof l->addr_str, "%s", addr_str);
    if (l->conf->transport == NC_UDP && udp_alloc(l) < 0) {
        snprintf(err, errlen, "listener \"%s\": out of memory for datagram buffers", l->name);
        return -1;
    }
    l->fd = fd;
    if (l->conf->transport == NC_UDP)
        sock_drops(fd, &l->ovfl_last); /* the baseline: a socket handed over by a reload brings its past */
    int rc = watch(l);
    if (rc < 0) {
        snprintf(err, errlen, "listener \"%s\": epoll: %s", l->name, strerror(-rc));
        l->fd = -1;
        return -1;
    }
    l->accepting = 1;
    if (l->conf->max_connections_per_ip > 0) {
        l->nips_buckets = 1024;
        l->ips = calloc(l->nips_buckets, sizeof *l->ips);
    }
    return 0;
}

void nc__listener_close(nc_listener *l, int hand_over)
{
    if (l->fd < 0)
        return;
    /* Datagrams already in the socket buffer reached us: hand them to the
     * module before the socket (and they) go away -- unless a next
     * generation reads this socket too (a reload), which will have them. */
    if (!hand_over && l->conf->transport == NC_UDP && l->msgs && l->inited) {
        l->drain_more = 1;
        for (int i = 0; i < 1024 && l->drain_more; i++)
            do_recv(l);
    }
    /* The registration first: it belongs to the open file description,
     * which the master and the other workers (this generation's and the
     * next's) still hold, so close() alone would leave it in this worker's
     * epoll set (epoll(7), "Questions and answers" 6) -- an EPOLLEXCLUSIVE
     * one, still taking wake-ups for connections this worker will never
     * accept, and reporting a level-triggered event the loop ignores. */
    if (l->accepting)
        nc__ev_del(l->fd);
    l->accepting = 0;
    /* Only this worker's copy: the master keeps the socket (and its Unix
     * path) for the other workers and the next generation. */
    close(l->fd);
    l->fd = -1;
    if (nc_list_empty(&l->conns))
        nc__tlist_stop(&l->idle);
}

void nc__listener_free(nc_listener *l)
{
    udp_free(l);
    for (nc__counter *k = l->counters, *n; k; k = n) {
        n = k->next;
        free(k->name);
        free(k);
    }
    l->counters = NULL;
    for (size_t b = 0; l->ips && b < l->nips_buckets; b++)
        for (nc__ipcount *e = l->ips[b], *n; e; e = n) {
            n = e->next;
            free(e);
        }
    free(l->ips);
    l->ips = NULL;
}

void nc__listener_pause_accept(nc_listener *l)
{
    if (l->fd >= 0 && l->accepting) {
        nc__ev_del(l->fd); /* EPOLLEXCLUSIVE registrations cannot be modified */
        l->accepting = 0;
    }
}

void nc__listener_resume_accept(nc_listener *l)
{
    if (l->fd >= 0 && !l->accepting && !nc__reactor_stopping() && !nc_draining()) {
        watch(l);
        l->accepting = 1;
    }
}

/* Stream listeners only: datagram sockets need no descriptors to receive. */
static void set_accepting(int on)
{
    size_t n;
    nc_listener *ls = nc__reactor_listeners(&n);
    for (size_t i = 0; i < n; i++) {
        nc_listener *l = &ls[i];
        if (l->conf->transport == NC_UDP)
            continue;
        if (on)
            nc__listener_resume_accept(l);
        else
            nc__listener_pause_accept(l);
    }
}

static void resume_all(nc_timer *t, void *arg)
{
    (void)t;
    (void)arg;
    W.accept_paused = 0;
    if (!W.full_paused)
        set_accepting(1);
}

/* Out of descriptors even for the spare: stop accepting everywhere and try
 * again shortly, rather than spinning on a listener that stays readable. */
static void pause_all(void)
{
    if (W.accept_paused)
        return;
    W.accept_paused = 1;
    set_accepting(0);
    nc_timer_start(100, 0, resume_all, NULL);
}

/* A worker holding its share of the global max_connections steps aside
 * while other workers share the listening sockets: it stops accepting, so
 * the kernel hands new connections to the workers with room, instead of
 * this one taking them only to close them.  When every worker is full, new
 * connections wait in the listen backlog, as with nginx.  Accepting resumes
 * when one of this worker's connections closes (nc__listener_conn_gone). */
static void full_pause(void)
{
    static nc__ratelimit last;
    if (W.full_paused)
        return;
    W.full_paused = 1;
    set_accepting(0);
    if (ratelimit(&last, 1000))
        nc__log(NC_LOG_WARN, NULL, 0,
                "this worker holds its share (%zu) of the global max_connections: new connections go to the "
                "other workers",
                W.max_conns);
}

void nc__listener_conn_gone(void)
{
    if (W.full_paused && nc__conn_count() < W.max_conns) {
        W.full_paused = 0;
        if (!W.accept_paused)
            set_accepting(1);
    }
}

static void on_no_fds(nc_listener *l, int e)
{
    static nc__ratelimit last;
    int rejected = 0;
    if (e == EMFILE && W.spare_fd >= 0) {
        /* Spend the spare descriptor to take the waiting peer off the
         * queue and close it: it gets a clean close instead of hanging. */
        close(W.spare_fd);
        int fd = accept(l->fd, NULL, NULL);
        if (fd >= 0) {
            close(fd);
            rejected = 1;
            l->refused++;
        }
        W.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    if (ratelimit(&last, 1000))
        nc__log(NC_LOG_WARN, l->name, 0, "accept: %s (%zu connections open); %s", strerror(e),
                nc__conn_count(), rejected ? "closing new connections until descriptors free up"
                                       : "pausing accepts for 100 ms");
    if (!rejected)
        pause_all();
}

/* The address part of a peer as a 16-byte key (IPv4 mapped into IPv6);
 * 0 for peers without one (Unix sockets). */
static int ip_key(const struct sockaddr *sa, unsigned char key[16])
{
    memset(key, 0, 16);
    // NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult): accept4 filled the address
    if (sa->sa_family == AF_INET) {
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 1;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return 1;
    }
    return 0;
}

static size_t ip_hash(const unsigned char *k, size_t n)
{
    return (size_t)nc_hash_bytes(k, 16) & (n - 1);
}

/* Count one more connection from sa; 0 when it is over the limit. */
static int ip_take(nc_listener *l, const struct sockaddr *sa)
{
    unsigned char k[16];
    if (!ip_key(sa, k))
        return 1;
    nc__ipcount **pp = &l->ips[ip_hash(k, l->nips_buckets)];
    for (; *pp; pp = &(*pp)->next)
        if (!memcmp((*pp)->addr, k, 16)) {
            if ((*pp)->count >= (uint32_t)l->conf->max_connections_per_ip)
                return 0;
            (*pp)->count++;
            return 1;
        }
    nc__ipcount *e = calloc(1, sizeof *e);
    if (!e)
        return 0;
    memcpy(e->addr, k, 16);
    e->count = 1;
    *pp = e;
    return 1;
}

/* Count one connection from sa less (the reverse of ip_take). */
static void ip_give_back(nc_listener *l, const struct sockaddr *sa)
{
    unsigned char k[16];
    if (!l->ips || !ip_key(sa, k))
        return;
    for (nc__ipcount **pp = &l->ips[ip_hash(k, l->nips_buckets)]; *pp; pp = &(*pp)->next)
        if (!memcmp((*pp)->addr, k, 16)) {
            if (--(*pp)->count == 0) {
                nc__ipcount *e = *pp;
                *pp = e->next;
                free(e);
            }
            return;
        }
}

void nc__listener_ip_release(nc_listener *l, const nc_conn *c)
{
    if (c->peer_len)
        ip_give_back(l, &c->peer.sa);
}

static void do_accept(nc_listener *l)
{
    static nc__ratelimit last_refused;
    for (int i = 0; i < ACCEPT_BUDGET && l->fd >= 0; i++) {
        if (W.nworkers > 1 && nc__conn_count() >= W.max_conns) {
            full_pause();
            return;
        }
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == EAGAIN || e == EWOULDBLOCK)
                return;
            if (e == EINTR || e == ECONNABORTED || e == EPROTO)
                continue;
            if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
                on_no_fds(l, e);
                if (W.accept_paused)
                    return;
                continue;
            }
            nc__log(NC_LOG_ERROR, l->name, 0, "accept: %s", strerror(e));
            return;
        }
        if (l->nconns >= (size_t)l->conf->max_connections || nc__conn_count() >= W.max_conns) {
            l->refused++;
            if (ratelimit(&last_refused, 1000)) {
                if (l->nconns >= (size_t)l->conf->max_connections)
                    nc__log(NC_LOG_WARN, l->name, 0,
                            "max_connections (%lld) reached: refusing new connections (%llu so far)",
                            l->conf->max_connections, (unsigned long long)l->refused);
                else
                    nc__log(NC_LOG_WARN, l->name, 0,
                            "the global max_connections (%zu for this worker) reached: refusing new "
                            "connections (%llu so far)",
                            W.max_conns, (unsigned long long)l->refused);
            }
            close(fd);
            continue;
        }
        if (l->ips && !ip_take(l, (struct sockaddr *)&ss)) {
            static nc__ratelimit last_ip;
            l->refused++;
            if (ratelimit(&last_ip, 1000)) {
                char who[NC_ADDRSTRLEN];
                nc__addr_format((struct sockaddr *)&ss, sl, who, sizeof who);
                nc__log(NC_LOG_WARN, l->name, 0,
                        "max_connections_per_ip (%lld) reached for %s: refusing (%llu refused so far)",
                        l->conf->max_connections_per_ip, who, (unsigned long long)l->refused);
            }
            close(fd);
            continue;
        }
        if (l->conf->transport == NC_TCP) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        nc_conn *c = nc__conn_new(l, fd, (struct sockaddr *)&ss, sl);
        if (!c) {
            static nc__ratelimit last_new;
            int e = errno;
            l->refused++;
            if (ratelimit(&last_new, 1000))
                nc__log(NC_LOG_ERROR, l->name, 0, "cannot take a new connection: %s; closing it (%llu refused so far)",
                        strerror(e), (unsigned long long)l->refused);
            if (l->ips)
                ip_give_back(l, (struct sockaddr *)&ss); /* ip_take counted it */
            close(fd);
            continue;
        }
        if (l->conf->tls.on) {
            int rc = nc__tls_attach(c);
            if (rc < 0) {
                static nc__ratelimit last_tls;
                l->refused++;
                if (rc != -EBUSY && ratelimit(&last_tls, 1000)) /* -EBUSY: tls.c said it */
                    nc__log(NC_LOG_ERROR, l->name, c->id, "cannot start TLS: %s; closing", strerror(-rc));
                nc_close(c, NC_CLOSE_ABORT); /* not accepted: no on_close */
                continue;
            }
        }
        if (nc_log_enabled(NC_LOG_DEBUG))
            nc__log(NC_LOG_DEBUG, l->name, c->id, "accepted from %s", nc_conn_peer_str(c));
        int refused = 0;
        if (l->m->on_accept) {
            uint64_t t0 = nc__hook_enter();
            refused = l->m->on_accept(c) < 0;
            nc__hook_leave(l, t0);
        }
        if (refused) {
            nc_close(c, NC_CLOSE_FLUSH); /* refused: its last words still go out */
            continue;
        }
        c->flags |= CF_ACCEPTED; /* on_close is owed from here on */
    }
}

/* The kernel's count of datagrams dropped on this socket for want of buffer
 * space (SK_MEMINFO_DROPS; the same counter SO_RXQ_OVFL would attach to
 * every datagram, which costs a control message per datagram -- about 7%
 * of the receive path at 1400 B).  Polled instead: after full batches (the
 * only time the buffer can be overflowing) at most every 100 ms, and when a
 * module asks. */
static int sock_drops(int fd, uint32_t *drops)
{
    uint32_t mem[SK_MEMINFO_VARS];
    socklen_t len = sizeof mem;
    if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len) < 0)
        return -errno;
    if (len < (SK_MEMINFO_DROPS + 1) * sizeof mem[0])
        return -ENOPROTOOPT; /* a kernel without the drops field */
    *drops = mem[SK_MEMINFO_DROPS];
    return 0;
}

static void refresh_drops(nc_listener *l)
{
    static nc__ratelimit last_drop_log;
    uint32_t now = 0;
    if (l->fd < 0 || sock_drops(l->fd, &now) < 0)
        return;
    l->drops_checked_ms = nc_now_ms();
    if (now == l->ovfl_last)
        return;
    uint32_t d = now - l->ovfl_last; /* the kernel's counter wraps at 2^32 */
    l->drops += d;
    l->ovfl_last = now;
    if (ratelimit(&last_drop_log, 1000))
        nc__log(NC_LOG_WARN, l->name, 0, "the kernel dropped %u datagrams (socket buffer full); %llu in all", d,
                (unsigned long long)l->drops);
}

static void do_recv(nc_listener *l)
{
    l->drain_more = 1;
    for (int round = 0; round < RECV_BUDGET && l->fd >= 0; round++) {
        for (unsigned i = 0; i < l->batch; i++) {
            struct msghdr *h = &l->msgs[i].msg_hdr;
            h->msg_name = &l->peers[i];
            h->msg_namelen = sizeof l->peers[i];
        }
        int n = recvmmsg(l->fd, l->msgs, l->batch, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                nc__log(NC_LOG_ERROR, l->name, 0, "recvmmsg: %s", strerror(errno));
            l->drain_more = 0;
            return;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
        for (int i = 0; i < n; i++) {
            l->dgrams[i].data = (const unsigned char *)l->iovs[i].iov_base;
            l->dgrams[i].len = l->msgs[i].msg_len;
            l->dgrams[i].peer = (const struct sockaddr *)&l->peers[i];
            l->dgrams[i].peer_len = l->msgs[i].msg_hdr.msg_namelen;
            l->dgrams[i].recv_time_us = us;
            l->bytes_in += l->msgs[i].msg_len;
        }
        if (n > 0) {
            uint64_t t0 = nc__hook_enter();
            l->m->on_datagrams(l, l->dgrams, (unsigned)n);
            nc__hook_leave(l, t0);
        }
        if ((unsigned)n < l->batch) {
            l->drain_more = 0;
            return;
        }
        if (nc_now_ms() - l->drops_checked_ms >= 100)
            refresh_drops(l);
    }
}

void nc__listener_on_event(nc_listener *l, uint32_t events)
{
    (void)events;
    if (l->fd < 0)
        return; /* closed earlier in this turn */
    if (l->conf->transport == NC_UDP)
        do_recv(l);
    else
        do_accept(l);
}

/* ---- timeout lists (idle_timeout_ms, send_timeout_ms) ---- */

static nc_conn *tnode_conn(const nc__tlist *t, nc_list *q)
{
    return (nc_conn *)(void *)((char *)NC_LIST_DATA(q, nc__tnode, q) - t->node_off);
}

/* Keep one timer per list, due when its oldest connection that is not
 * already closing passes the timeout. */
static void tlist_arm(nc__tlist *t);

static void tlist_sweep(nc_timer *tm, void *arg)
{
    (void)tm;
    nc__tlist *t = arg;
    t->timer = NULL;
    nc_list *q = nc_list_first(&t->q), *next;
    for (; q; q = next) {
        next = nc_list_next(&t->q, q); /* expire() may unlink q, never another node */
        nc__tnode *n = NC_LIST_DATA(q, nc__tnode, q);
        if (nc_now_ms() - n->since < t->timeout_ms)
            break;
        nc_conn *c = tnode_conn(t, q);
        if (!(c->flags & CF_ON_CLOSE_LIST))
            t->expire(c, nc_now_ms() - n->since);
    }
    tlist_arm(t);
}

static void tlist_arm(nc__tlist *t)
{
    if (t->timer || t->timeout_ms == 0)
        return;
    nc_list *q = nc_list_first(&t->q);
    while (q && (tnode_conn(t, q)->flags & CF_ON_CLOSE_LIST))
        q = nc_list_next(&t->q, q);
    if (!q)
        return;
    uint64_t due = NC_LIST_DATA(q, nc__tnode, q)->since + t->timeout_ms;
    t->timer = nc_timer_start(due > nc_now_ms() ? due - nc_now_ms() : 0, 0, tlist_sweep, t);
}

void nc__tlist_add(nc__tlist *t, nc__tnode *n)
{
    NC_ASSERT(!nc_list_linked(&n->q));
    n->since = nc_now_ms();
    nc_list_push_tail(&t->q, &n->q);
    tlist_arm(t);
}

/* The list stays sorted: the node goes to the end with the newest stamp.
 * The timer, armed for an older node, needs nothing. */
void nc__tlist_requeue(nc__tlist *t, nc__tnode *n)
{
    NC_ASSERT(nc_list_linked(&n->q));
    n->since = nc_now_ms();
    if (nc_list_last(&t->q) != &n->q) {
        nc_list_remove(&n->q);
        nc_list_push_tail(&t->q, &n->q);
    }
}

void nc__tlist_del(nc__tnode *n)
{
    nc_list_remove(&n->q);
}

void nc__tlist_stop(nc__tlist *t)
{
    if (t->timer) {
        nc_timer_stop(t->timer);
        t->timer = NULL;
    }
}

static void idle_expire(nc_conn *c, uint64_t age_ms)
{
    static nc__ratelimit last;
    c->l->closed_idle++;
    /* level first: lines that would not print must not count as suppressed */
    if (nc_log_enabled(NC_LOG_INFO) && ratelimit(&last, 100))
        nc__log(NC_LOG_INFO, c->l->name, c->id, "idle for %llu ms (idle_timeout_ms); closing",
                (unsigned long long)age_ms);
    nc_close(c, NC_CLOSE_ABORT);
}

static void send_expire(nc_conn *c, uint64_t age_ms)
{
    static nc__ratelimit last;
    c->l->errors++;
    c->l->closed_send_timeout++;
    if (ratelimit(&last, 200))
        nc__log(NC_LOG_WARN, c->l->name, c->id,
                "peer read nothing for %llu ms with %zu bytes queued (send_timeout_ms); closing",
                (unsigned long long)age_ms, c->out.bytes);
    nc_close(c, NC_CLOSE_ABORT);
}

void nc__listener_lists_init(nc_listener *l)
{
    nc_list_init(&l->conns);
    long long idle = l->conf->idle_timeout_ms, send = l->conf->send_timeout_ms;
    nc_list_init(&l->idle.q);
    l->idle.timeout_ms = idle > 0 ? (uint64_t)idle : 0;
    l->idle.node_off = offsetof(nc_conn, idle);
    l->idle.expire = idle_expire;
    nc_list_init(&l->wait.q);
    l->wait.timeout_ms = send > 0 ? (uint64_t)send : 0;
    l->wait.node_off = offsetof(nc_conn, wait);
    l->wait.expire = send_expire;
}

/* ---- public API ---- */

const char *nc_listener_name(const nc_listener *l)
{
    return l->name;
}

void *nc_listener_instance(const nc_listener *l)
{
    return l->instance;
}

int nc_listener_fd(const nc_listener *l)
{
    return l->fd;
}

const char *nc_listener_addr(const nc_listener *l)
{
    return l->addr_str[0] ? l->addr_str : l->conf->listen;
}

void nc_listener_foreach(nc_listener *l, void (*cb)(nc_conn *c, void *arg), void *arg)
{
    /* Closing is deferred, so the next node stays valid across the callback. */
    for (nc_list *q = nc_list_first(&l->conns), *n; q; q = n) {
        n = nc_list_next(&l->conns, q);
        nc_conn *c = NC_LIST_DATA(q, nc_conn, lnode);
        if (!(c->flags & CF_CLOSING))
            cb(c, arg);
    }
}

size_t nc_listener_conn_count(const nc_listener *l)
{
    return l->nconns;
}

void nc_listener_set_batch(nc_listener *l, unsigned n)
{
    if (n < 1)
        n = 1;
    if (n > 1024)
        n = 1024;
    if (!l->msgs)
        l->batch = n;
}

int nc_sendto(nc_listener *l, const void *data, size_t len, const struct sockaddr *to,
              socklen_t tolen)
{
    if (l->fd < 0)
        return -EBADF;
    ssize_t n = sendto(l->fd, data, len, MSG_DONTWAIT, to, tolen);
    if (n < 0)
        return -errno;
    l->bytes_out += (uint64_t)n;
    return 0;
}

uint64_t nc_listener_drops(const nc_listener *l)
{
    if (l->conf->transport == NC_UDP)
        refresh_drops((nc_listener *)l); /* a fresh reading; the listener is the core's */
    return l->drops;
}

uint64_t *nc_counter(nc_listener *l, const char *name)
{
    for (nc__counter *k = l->counters; k; k = k->next)
        if (strcmp(k->name, name) == 0)
            return &k->value;
    nc__counter *k = calloc(1, sizeof *k);
    if (!k || !(k->name = strdup(name))) {
        free(k);
        return NULL;
    }
    k->next = l->counters;
    l->counters = k;
    return &k->value;
}

void nc_log_listener(const nc_listener *l, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nc__logv(level, l->name, 0, fmt, ap);
    va_end(ap);
}
