/* udprecv.c -- the udp-receiver module: records every datagram (receive
 * time, sender, size, payload) as a JSON or text line, the way a syslog or
 * telemetry collector does, and optionally answers.  Records are buffered
 * and written in batches (sink.c), at least every flush_ms and at shutdown;
 * the core drains the socket before closing it, so nothing that reached the
 * socket is lost at SIGTERM.  See docs/protocols/udp-receiver.md. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "netcore/netcore.h"
#include "sink.h"

enum { F_JSON, F_TEXT };
enum { R_NONE, R_ACK, R_ECHO };
static const char *const formats[] = {"json", "text", NULL};
static const char *const replies[] = {"none", "ack", "echo", NULL};

typedef struct urecv {
    nc_listener *l;
    int format, reply;
    const char *output;
    sink *sink;
    int direct;
    long long batch, rcvbuf, flush_ms, max_buffer, writeback;
    const char *mcast, *mcast_if;
    nc_timer *timer;
    time_t tsec;          /* the second the cached prefix is for */
    char tprefix[32];     /* "2026-11-22T00:20:01." */
    struct sockaddr_storage last_peer; /* the sender the cached text is for */
    socklen_t last_peer_len;
    char peer_text[INET6_ADDRSTRLEN + 8];
    size_t peer_text_len;
    uint64_t drops_seen;
    uint64_t *c_datagrams, *c_bytes, *c_drops, *c_replies, *c_lost, *c_write_errors, *c_reopen_refused;
} urecv;

static void bump(uint64_t *k, uint64_t n)
{
    if (k)
        *k += n;
}

static void tick(nc_timer *t, void *arg)
{
    (void)t;
    urecv *u = arg;
    uint64_t d = nc_listener_drops(u->l);
    if (d != u->drops_seen) {
        bump(u->c_drops, d - u->drops_seen);
        u->drops_seen = d;
    }
    sink_flush(u->sink);
}

/* Why an output that is a symbolic link is refused, at init and on_listen. */
static const char link_refused[] = "a symbolic link (records are never written through one)";

static int ur_init(nc_listener *l, nc_options *o, void **instance)
{
    urecv *u = calloc(1, sizeof *u);
    if (!u)
        return nc_opt_error(o, "output", "out of memory");
    u->l = l;
    if (nc_opt_enum(o, "format", formats, F_JSON, &u->format) < 0 ||
        nc_opt_enum(o, "reply", replies, R_NONE, &u->reply) < 0 ||
        nc_opt_path(o, "output", "-", &u->output) < 0 ||
        nc_opt_int(o, "batch", 64, 1, 1024, &u->batch) < 0 ||
        nc_opt_int(o, "rcvbuf", 0, 0, 1LL << 30, &u->rcvbuf) < 0 ||
        nc_opt_int(o, "flush_ms", 100, 1, 100, &u->flush_ms) < 0 ||
        nc_opt_int(o, "max_buffer_bytes", 64LL << 20, 1 << 20, 1LL << 32, &u->max_buffer) < 0 ||
        nc_opt_int(o, "writeback_bytes", 16LL << 20, 0, 1LL << 40, &u->writeback) < 0 ||
        nc_opt_bool(o, "direct_io", 0, &u->direct) < 0 ||
        nc_opt_str(o, "multicast", NULL, &u->mcast) < 0 ||
        nc_opt_str(o, "multicast_interface", NULL, &u->mcast_if) < 0)
        goto fail;
    if (u->mcast) {
        struct in_addr a4;
        struct in6_addr a6;
        if (!(inet_pton(AF_INET, u->mcast, &a4) == 1 && IN_MULTICAST(ntohl(a4.s_addr))) &&
            !(inet_pton(AF_INET6, u->mcast, &a6) == 1 && IN6_IS_ADDR_MULTICAST(&a6))) {
            nc_opt_error(o, "multicast", "\"%s\" is not a multicast group address", u->mcast);
            goto fail;
        }
    }
    nc_listener_set_batch(l, (unsigned)u->batch);
    u->c_datagrams = nc_counter(l, "datagrams");
    u->c_bytes = nc_counter(l, "bytes");
    u->c_drops = nc_counter(l, "kernel_drops");
    u->c_replies = nc_counter(l, "replies");
    u->c_lost = nc_counter(l, "records_lost");
    u->c_write_errors = nc_counter(l, "write_errors");
    u->c_reopen_refused = nc_counter(l, "reopen_refused");
    if (strcmp(u->output, "-") != 0) {
        /* Checked here, opened (and created) by on_listen: init also runs
         * for `netcore -t` and the master's preflight, which change nothing
         * on disk. */
        struct stat st;
        int rc = lstat(u->output, &st) == 0 && S_ISLNK(st.st_mode) ? -ELOOP : nc_path_writable(u->output);
        if (rc == -ELOOP) {
            nc_opt_error(o, "output", "%s: %s", u->output, link_refused);
            goto fail;
        }
        if (rc < 0) {
            nc_opt_error(o, "output", "%s: %s", u->output, strerror(-rc));
            goto fail;
        }
    }
    *instance = u;
    return 0;
fail:
    free(u);
    return -1;
}

static int ur_listen(nc_listener *l)
{
    urecv *u = nc_listener_instance(l);
    int fd = nc_listener_fd(l);
    if (u->rcvbuf > 0) {
        int v = (int)u->rcvbuf;
        /* SO_RCVBUFFORCE goes past net.core.rmem_max when we may. */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v) < 0 &&
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v) < 0) {
            nc_log_listener(l, NC_LOG_ERROR, "rcvbuf %d: %s", v, strerror(errno));
            return -1;
        }
    }
    if (u->mcast) {
        struct in_addr a4;
        int rc;
        if (inet_pton(AF_INET, u->mcast, &a4) == 1) {
            struct ip_mreqn m = {.imr_multiaddr = a4};
            if (u->mcast_if && inet_pton(AF_INET, u->mcast_if, &m.imr_address) != 1)
                m.imr_ifindex = (int)if_nametoindex(u->mcast_if);
            rc = setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m);
        } else {
            struct ipv6_mreq m = {0};
            inet_pton(AF_INET6, u->mcast, &m.ipv6mr_multiaddr);
            m.ipv6mr_interface = u->mcast_if ? if_nametoindex(u->mcast_if) : 0;
            rc = setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &m, sizeof m);
        }
        if (rc < 0) {
            nc_log_listener(l, NC_LOG_ERROR, "joining multicast group %s%s%s: %s", u->mcast,
                            u->mcast_if ? " on " : "", u->mcast_if ? u->mcast_if : "", strerror(errno));
            return -1;
        }
        nc_log_listener(l, NC_LOG_INFO, "joined multicast group %s", u->mcast);
    }
    /* Each generation's workers open the file anew; with direct_io one
     * that the previous generation still writes is waited for (sink.c). */
    sink_conf sc = {.path = u->output, .direct = u->direct, .max_buffer = (size_t)u->max_buffer,
                    .writeback = u->writeback, .l = l, .c_write_errors = u->c_write_errors, .c_lost = u->c_lost};
    int rc = sink_open(&u->sink, &sc);
    if (rc < 0) {
        nc_log_listener(l, NC_LOG_ERROR, "output %s: %s", u->output,
                        rc == -ELOOP ? link_refused : strerror(-rc));
        return -1;
    }
    if (sink_is_direct(u->sink))
        nc_log_listener(l, NC_LOG_INFO, "writing records to %s with O_DIRECT", u->output);
    u->timer = nc_timer_start((uint64_t)u->flush_ms, (uint64_t)u->flush_ms, tick, u);
    return u->timer ? 0 : -1;
}

static uint64_t val(const uint64_t *k)
{
    return k ? *k : 0;
}

static void ur_fini(nc_listener *l, void *instance)
{
    urecv *u = instance;
    if (u->sink) { /* on_listen opened it: not `netcore -t` */
        tick(NULL, u);
        sink_close(u->sink); /* everything written: the lost count is final */
    }
    if (u->timer) /* it ran: this was a real run, not `netcore -t` */
        nc_log_listener(l, NC_LOG_INFO,
                        "udp-receiver: %llu datagrams, %llu bytes recorded to %s; %llu dropped by the "
                        "kernel, %llu records lost, %llu replies",
                        (unsigned long long)val(u->c_datagrams), (unsigned long long)val(u->c_bytes),
                        u->output, (unsigned long long)val(u->c_drops), (unsigned long long)val(u->c_lost),
                        (unsigned long long)val(u->c_replies));
    if (u->timer)
        nc_timer_stop(u->timer);
    free(u);
}

static void ur_reopen(nc_listener *l)
{
    urecv *u = nc_listener_instance(l);
    if (!u->sink)
        return;
    int rc = sink_reopen(u->sink);
    /* Someone put a link, a FIFO or a device where the output was: refuse
     * it, keep writing to the file already open. */
    if (rc == -ELOOP || rc == -EINVAL) {
        if (u->c_reopen_refused)
            (*u->c_reopen_refused)++;
        nc_log_listener(l, NC_LOG_ERROR, "reopening %s: %s; refused, records still go to the file opened before",
                        u->output, rc == -ELOOP ? "a symbolic link" : "not a regular file");
    } else if (rc < 0) {
        nc_log_listener(l, NC_LOG_ERROR, "reopening %s: %s", u->output, strerror(-rc));
    }
}

static size_t put_time(urecv *u, char *out, int64_t us)
{
    time_t sec = (time_t)(us / 1000000);
    if (sec != u->tsec) {
        struct tm tm;
        gmtime_r(&sec, &tm);
        strftime(u->tprefix, sizeof u->tprefix, "%Y-%m-%dT%H:%M:%S.", &tm);
        u->tsec = sec;
    }
    size_t n = strlen(u->tprefix);
    memcpy(out, u->tprefix, n);
    unsigned frac = (unsigned)(us % 1000000);
    for (int i = 5; i >= 0; i--) {
        out[n + (size_t)i] = (char)('0' + frac % 10);
        frac /= 10;
    }
    out[n + 6] = 'Z';
    return n + 7;
}

static size_t format_addr(char *out, const struct sockaddr *sa)
{
    char host[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
        return (size_t)sprintf(out, "[%s]:%u", host, ntohs(s6->sin6_port));
    }
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
    return (size_t)sprintf(out, "%s:%u", host, ntohs(s4->sin_port));
}

/* Senders come in streaks (a collector hears from few peers at a time), so
 * the last sender's text is kept rather than formatted for every record.
 * len is at most sizeof(struct sockaddr_in6): the core receives into those. */
static size_t put_addr(urecv *u, char *out, const struct sockaddr *sa, socklen_t len)
{
    if (len != u->last_peer_len || memcmp(sa, &u->last_peer, len) != 0) {
        u->peer_text_len = format_addr(u->peer_text, sa);
        memcpy(&u->last_peer, sa, len);
        u->last_peer_len = len;
    }
    memcpy(out, u->peer_text, u->peer_text_len);
    return u->peer_text_len;
}

static size_t put_uint(char *out, size_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* Text format payload: UTF-8 as it is, everything else printable ASCII as
 * it is; control bytes, backslash and invalid bytes as escapes. */
static size_t put_text_payload(char *out, const unsigned char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out[o++] = (char)c;
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
            if (len && i + len <= n && nc_utf8_valid(s + i, len)) {
                memcpy(out + o, s + i, len);
                o += len;
                i += len;
                continue;
            }
        }
        out[o++] = '\\';
        switch (c) {
        case '\\': out[o++] = '\\'; break;
        case '\n': out[o++] = 'n'; break;
        case '\r': out[o++] = 'r'; break;
        case '\t': out[o++] = 't'; break;
        default:
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
        i++;
    }
    return o;
}

static void record(urecv *u, const nc_dgram *d)
{
    /* Worst case: escapes (6x for JSON, 4x text) plus the fixed fields. */
    size_t need = 6 * d->len + 160;
    char *p = sink_reserve(u->sink, need), *start = p;
    if (!p) {
        bump(u->c_lost, 1);
        return;
    }
    if (u->format == F_JSON) {
        memcpy(p, "{\"time\":\"", 9);
        p += 9;
        p += put_time(u, p, d->recv_time_us);
        memcpy(p, "\",\"from\":\"", 10);
        p += 10;
        p += put_addr(u, p, d->peer, d->peer_len);
        memcpy(p, "\",\"size\":", 9);
        p += 9;
        p += put_uint(p, d->len);
        *p++ = ',';
        if (nc_utf8_valid(d->data, d->len)) {
            memcpy(p, "\"text\":\"", 8);
            p += 8;
            p += nc_json_escape(p, need, (const char *)d->data, d->len);
        } else {
            memcpy(p, "\"base64\":\"", 10);
            p += 10;
            p += nc_base64_encode(p, need, d->data, d->len);
        }
        memcpy(p, "\"}\n", 3);
        p += 3;
    } else {
        p += put_time(u, p, d->recv_time_us);
        *p++ = ' ';
        p += put_addr(u, p, d->peer, d->peer_len);
        *p++ = ' ';
        p += put_uint(p, d->len);
        *p++ = ' ';
        p += put_text_payload(p, d->data, d->len);
        *p++ = '\n';
    }
    sink_commit(u->sink, (size_t)(p - start));
}

static void ur_datagrams(nc_listener *l, const nc_dgram *d, unsigned n)
{
    urecv *u = nc_listener_instance(l);
    for (unsigned i = 0; i < n; i++) {
        record(u, &d[i]);
        bump(u->c_bytes, d[i].len);
        if (u->reply == R_ACK) {
            if (nc_sendto(l, "ack\n", 4, d[i].peer, d[i].peer_len) == 0)
                bump(u->c_replies, 1);
        } else if (u->reply == R_ECHO) {
            if (nc_sendto(l, d[i].data, d[i].len, d[i].peer, d[i].peer_len) == 0)
                bump(u->c_replies, 1);
        }
    }
    bump(u->c_datagrams, n);
}

NC_MODULE_DEFINE = {
    NC_MODULE_HEADER,
    .flags = NC_MOD_DGRAM,
    .name = "udp-receiver",
    .version = "1.0.0",
    .description = "records every datagram as a JSON or text line; optional ack or echo",
    .init = ur_init,
    .fini = ur_fini,
    .on_listen = ur_listen,
    .on_datagrams = ur_datagrams,
    .on_reopen = ur_reopen,
};
