/* status.c -- the status module: a small HTTP endpoint for operators.
 * GET /metrics answers in the Prometheus text format, GET /status with the
 * JSON document of nc_stats_json(): per listener (summed over every worker)
 * connections, bytes, refusals, errors, queued bytes, descriptors and the
 * modules' own counters; per worker pid, connections, restarts; uptime and
 * version.  One request per connection (Connection: close).  Bind it to
 * 127.0.0.1.  See docs/status.md. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netcore/deadline.h"
#include "netcore/netcore.h"

/* The request head must arrive within header_timeout_ms of the accept (as
 * http-static's): a client trickling its head a byte at a time is closed
 * with 408 instead of holding the connection. */
typedef struct st {
    long long header_timeout;
    nc_deadlines heads;
} st;

/* A growable text buffer. */
typedef struct text {
    char *p;
    size_t len, cap;
} text;

static void put(text *t, const char *fmt, ...) NC_PRINTF(2, 3);
static void put(text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (t->p && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap ? t->cap * 2 : 4096) + (size_t)n;
        char *np = realloc(t->p, cap);
        if (!np)
            return;
        t->p = np;
        t->cap = cap;
    }
}

/* Label values: backslash, double quote and newline escaped. */
static const char *lv(const char *s, char *buf, size_t n)
{
    size_t o = 0;
    for (; *s && o + 3 < n; s++) {
        if (*s == '\\' || *s == '"') {
            buf[o++] = '\\';
            buf[o++] = *s;
        } else if (*s == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else {
            buf[o++] = *s;
        }
    }
    buf[o] = '\0';
    return buf;
}

static void family(text *t, const char *name, const char *type, const char *help)
{
    put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static char *metrics(const char *json)
{
    json_error_t je;
    json_t *root = json_loads(json, 0, &je);
    if (!root)
        return NULL;
    text t = {0};
    char a[256], b[256];
    family(&t, "netcore_info", "gauge", "Always 1; the labels say which netcore this is.");
    put(&t, "netcore_info{version=\"%s\"} 1\n", lv(json_string_value(json_object_get(root, "version")), a, sizeof a));
    family(&t, "netcore_uptime_seconds", "gauge", "Seconds since the master started.");
    put(&t, "netcore_uptime_seconds %.3f\n", json_number_value(json_object_get(root, "uptime_seconds")));
    family(&t, "netcore_reloads_total", "counter", "Configuration reloads that took effect.");
    put(&t, "netcore_reloads_total %lld\n", (long long)json_integer_value(json_object_get(root, "reloads")));

    static const struct {
        const char *key, *name, *type, *help;
    } per_listener[] = {
        {"connections_open", "netcore_connections_open", "gauge", "Open connections."},
        {"connections_total", "netcore_connections_total", "counter", "Connections accepted."},
        {"bytes_in", "netcore_received_bytes_total", "counter", "Bytes received."},
        {"bytes_out", "netcore_sent_bytes_total", "counter", "Bytes sent."},
        {"refused", "netcore_refused_total", "counter", "Connections refused by a limit."},
        {"errors", "netcore_errors_total", "counter", "Connections ended by an error or a limit."},
        {"queued_bytes", "netcore_queued_bytes", "gauge", "Output queued and not yet sent."},
        {"descriptors", "netcore_descriptors", "gauge",
         "Descriptors held: connections, the listening socket and queued files."},
        {"throttled_files", "netcore_throttled_files_total", "counter",
         "Times a connection got no more input at max_queued_files."},
        {"shed_memory", "netcore_shed_memory_total", "counter",
         "Connections dropped at worker_max_output_bytes (largest queue first)."},
        {"shed_files", "netcore_shed_files_total", "counter",
         "Connections dropped at worker_max_queued_files (most queued files first)."},
        {"closed_idle", "netcore_closed_idle_total", "counter", "Connections closed at idle_timeout_ms."},
        {"closed_send_timeout", "netcore_closed_send_timeout_total", "counter",
         "Connections closed at send_timeout_ms (the peer read nothing)."},
        {"closed_slow_consumer", "netcore_closed_slow_consumer_total", "counter",
         "Connections closed past max_output_bytes (a slow consumer)."},
        {"closed_input_limit", "netcore_closed_input_limit_total", "counter",
         "Connections closed past max_input_bytes."},
        {"tls_handshakes", "netcore_tls_handshakes_total", "counter", "TLS handshakes completed."},
        {"tls_handshake_failures", "netcore_tls_handshake_failures_total", "counter",
         "TLS handshakes failed (not TLS, no protocol or cipher in common, a bad certificate)."},
        {"tls_handshake_timeouts", "netcore_tls_handshake_timeouts_total", "counter",
         "TLS handshakes not done within handshake_timeout_ms."},
        {"tls_handshakes_refused", "netcore_tls_handshakes_refused_total", "counter",
         "TLS connections refused at max_handshakes (handshakes in progress in a worker)."},
        {"tls_resumed", "netcore_tls_resumed_total", "counter",
         "TLS handshakes that resumed a session (a ticket, or the session cache)."},
        {"tls_failed_not_tls", "netcore_tls_failed_not_tls_total", "counter",
         "TLS handshakes failed because the peer did not speak TLS (plain HTTP, garbage)."},
        {"tls_failed_negotiation", "netcore_tls_failed_negotiation_total", "counter",
         "TLS handshakes failed with nothing in common: version, cipher, group, ALPN protocol."},
        {"tls_failed_client_cert", "netcore_tls_failed_client_cert_total", "counter",
         "TLS handshakes failed on the client's certificate: none sent, or not signed by client_ca."},
    };
    json_t *ls = json_object_get(root, "listeners");
    for (size_t f = 0; f < sizeof per_listener / sizeof per_listener[0]; f++) {
        family(&t, per_listener[f].name, per_listener[f].type, per_listener[f].help);
        const char *name;
        json_t *l;
        json_object_foreach(ls, name, l) {
            put(&t, "%s{listener=\"%s\",module=\"%s\"} %lld\n", per_listener[f].name, lv(name, a, sizeof a),
                lv(json_string_value(json_object_get(l, "module")), b, sizeof b),
                (long long)json_integer_value(json_object_get(l, per_listener[f].key)));
        }
    }
    /* What each protocol costs: the time its module spends in its hooks. */
    family(&t, "netcore_module_hook_seconds_total", "counter",
           "Seconds spent inside the module's hooks for this listener (on the reactor: CPU time).");
    {
        const char *ln;
        json_t *lj;
        json_object_foreach(ls, ln, lj) {
            put(&t, "netcore_module_hook_seconds_total{listener=\"%s\",module=\"%s\"} %.6f\n", lv(ln, a, sizeof a),
                lv(json_string_value(json_object_get(lj, "module")), b, sizeof b),
                (double)json_integer_value(json_object_get(lj, "hook_ns")) / 1e9);
        }
    }
    family(&t, "netcore_module_counter_total", "counter", "Counters published by modules (nc_counter).");
    const char *name;
    json_t *l;
    json_object_foreach(ls, name, l) {
        const char *cname;
        json_t *cv;
        json_object_foreach(json_object_get(l, "counters"), cname, cv) {
            char c[128];
            put(&t, "netcore_module_counter_total{listener=\"%s\",counter=\"%s\"} %lld\n", lv(name, a, sizeof a),
                lv(cname, c, sizeof c), (long long)json_integer_value(cv));
        }
    }
    family(&t, "netcore_stats_unpublished", "gauge",
           "Listeners (past 64 per worker) and module counters (past 16 per listener) left out of these figures.");
    json_t *lost = json_object_get(root, "unpublished");
    put(&t, "netcore_stats_unpublished{kind=\"listeners\"} %lld\n",
        (long long)json_integer_value(json_object_get(lost, "listeners")));
    put(&t, "netcore_stats_unpublished{kind=\"counters\"} %lld\n",
        (long long)json_integer_value(json_object_get(lost, "counters")));
    json_t *ws = json_object_get(root, "workers");
    family(&t, "netcore_worker_connections", "gauge", "Open connections per worker process.");
    size_t i;
    json_t *w;
    json_array_foreach(ws, i, w) {
        put(&t, "netcore_worker_connections{worker=\"%lld\",pid=\"%lld\",generation=\"%lld\"} %lld\n",
            (long long)json_integer_value(json_object_get(w, "index")), (long long)json_integer_value(json_object_get(w, "pid")),
            (long long)json_integer_value(json_object_get(w, "generation")),
            (long long)json_integer_value(json_object_get(w, "connections")));
    }
    family(&t, "netcore_worker_restarts_total", "counter", "Times the worker in this position was replaced.");
    json_array_foreach(ws, i, w) {
        put(&t, "netcore_worker_restarts_total{worker=\"%lld\",pid=\"%lld\",generation=\"%lld\"} %lld\n",
            (long long)json_integer_value(json_object_get(w, "index")), (long long)json_integer_value(json_object_get(w, "pid")),
            (long long)json_integer_value(json_object_get(w, "generation")),
            (long long)json_integer_value(json_object_get(w, "restarts")));
    }
    json_decref(root);
    return t.p;
}

/* head: a HEAD request gets the same head, Content-Length included, and
 * no body (RFC 9110 9.3.2). */
static void respond(nc_conn *c, int head, int status, const char *type, const char *body, size_t n)
{
    st *t = nc_listener_instance(nc_conn_listener(c));
    nc_deadline_disarm(&t->heads, nc_conn_data(c)); /* answered: the flush is the core's */
    nc_sendf(c, "HTTP/1.1 %d %s\r\nServer: netcore\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
             status,
             status == 200   ? "OK"
             : status == 404 ? "Not Found"
             : status == 405 ? "Method Not Allowed"
             : status == 408 ? "Request Timeout"
                             : "Bad Request",
             type, n);
    if (!head)
        nc_send(c, body, n);
    nc_close(c, NC_CLOSE_FLUSH);
}

static void head_expired(nc_conn *c)
{
    static const char msg[] = "request head not received within header_timeout_ms\n";
    respond(c, 0, 408, "text/plain; charset=utf-8", msg, sizeof msg - 1);
}

static int st_init(nc_listener *l, nc_options *o, void **instance)
{
    st *t = calloc(1, sizeof *t);
    if (!t)
        return nc_opt_error(o, "header_timeout_ms", "out of memory");
    if (nc_opt_int(o, "header_timeout_ms", 10000, 0, 86400000, &t->header_timeout) < 0) {
        free(t);
        return -1;
    }
    nc_deadlines_init(&t->heads, (uint64_t)t->header_timeout, "a request head", "header_timeout_ms",
                      nc_counter(l, "header_timeouts"), head_expired);
    *instance = t;
    return 0;
}

static void st_fini(nc_listener *l, void *instance)
{
    (void)l;
    st *t = instance;
    nc_deadlines_stop(&t->heads);
    free(t);
}

static int st_accept(nc_conn *c)
{
    st *t = nc_listener_instance(nc_conn_listener(c));
    nc_deadline *dl = calloc(1, sizeof *dl);
    if (!dl)
        return -1;
    nc_conn_set_data(c, dl);
    nc_deadline_arm(&t->heads, dl, c);
    return 0;
}

static void st_close(nc_conn *c)
{
    st *t = nc_listener_instance(nc_conn_listener(c));
    nc_deadline *dl = nc_conn_data(c);
    nc_deadline_disarm(&t->heads, dl);
    free(dl);
}

static ssize_t st_data(nc_conn *c, const char *data, size_t len)
{
    const char *end = memmem(data, len, "\r\n\r\n", 4);
    if (!end) {
        if (len > 8192) {
            respond(c, 0, 400, "text/plain; charset=utf-8", "request too large\n", 18);
            return (ssize_t)len;
        }
        return 0;
    }
    int head = len >= 5 && memcmp(data, "HEAD ", 5) == 0;
    if (!head && (len < 4 || memcmp(data, "GET ", 4) != 0)) {
        respond(c, 0, 405, "text/plain; charset=utf-8", "GET only\n", 9);
        return (ssize_t)len;
    }
    const char *path = data + (head ? 5 : 4);
    const char *sp = memchr(path, ' ', (size_t)(end - path));
    size_t pl = sp ? (size_t)(sp - path) : 0;
    const char *q = memchr(path, '?', pl);
    if (q)
        pl = (size_t)(q - path);
    char *json = nc_stats_json();
    if (!json) {
        respond(c, head, 400, "text/plain; charset=utf-8", "no statistics\n", 14);
        return (ssize_t)len;
    }
    if (pl == 8 && memcmp(path, "/metrics", 8) == 0) {
        char *m = metrics(json);
        respond(c, head, 200, "text/plain; version=0.0.4; charset=utf-8", m ? m : "", m ? strlen(m) : 0);
        free(m);
    } else if (pl == 7 && memcmp(path, "/status", 7) == 0) {
        size_t n = strlen(json);
        json[n] = '\n'; /* the terminating NUL becomes a newline; send n + 1 bytes */
        respond(c, head, 200, "application/json", json, n + 1);
    } else {
        respond(c, head, 404, "text/plain; charset=utf-8", "try /metrics or /status\n", 24);
    }
    free(json);
    return (ssize_t)len;
}

NC_MODULE_DEFINE = {
    NC_MODULE_HEADER,
    .flags = NC_MOD_STREAM | NC_MOD_SHARED,
    .name = "status",
    .version = "1.0.0",
    .description = "operators' endpoint: /metrics (Prometheus) and /status (JSON)",
    .init = st_init,
    .fini = st_fini,
    .on_accept = st_accept,
    .on_data = st_data,
    .on_close = st_close,
};
