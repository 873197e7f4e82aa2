/* stats.c -- publishing a worker's figures into the shared statistics
 * region, and nc_stats_json(), which reads every worker's slot and sums
 * them per listener for monitoring modules (the status module). */
#include "stats.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "log.h"
#include "version.h"

nc__stats *nc__shm;
nc__stat_worker *nc__my_slot;

int64_t nc__wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int nc__stats_map(void)
{
    void *p = mmap(NULL, sizeof(nc__stats), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    nc__shm = p;
    nc__shm->master_pid = (int32_t)getpid();
    nc__shm->started_ms = nc__wall_ms();
    return 0;
}

/* Copy a name into the region only when it changed, so that a reader is not
 * shown a string being rewritten every second. */
static void put_name(char *dst, size_t cap, const char *src)
{
    if (strncmp(dst, src, cap - 1) != 0)
        snprintf(dst, cap, "%s", src);
}

/* What did not fit in the slot is said once per process and counted. */
static void report_unpublished(uint32_t listeners, uint32_t counters)
{
    static int said_listeners, said_counters;
    if (listeners && !said_listeners) {
        said_listeners = 1;
        nc__log(NC_LOG_WARN, NULL, 0,
                "statistics: %u listener%s past the first %d not published (counted in unpublished_listeners)",
                listeners, listeners == 1 ? "" : "s", NC_STATS_LISTENERS);
    }
    if (counters && !said_counters) {
        said_counters = 1;
        nc__log(NC_LOG_WARN, NULL, 0,
                "statistics: %u module counter%s past %d per listener not published (counted in "
                "unpublished_counters)",
                counters, counters == 1 ? "" : "s", NC_STATS_COUNTERS);
    }
    NC_STAT_SET(nc__my_slot->unpublished_listeners, listeners);
    NC_STAT_SET(nc__my_slot->unpublished_counters, counters);
}

void nc__stats_publish(void)
{
    nc__stat_worker *w = nc__my_slot;
    if (!w)
        return;
    size_t nl;
    nc_listener *ls = nc__reactor_listeners(&nl);
    NC_STAT_SET(w->conns, (uint64_t)nc__conn_count());
    NC_STAT_SET(w->draining, (int32_t)nc_draining());
    size_t n = nl < NC_STATS_LISTENERS ? nl : NC_STATS_LISTENERS;
    uint32_t lost = 0;
    for (size_t i = 0; i < n; i++) {
        nc_listener *l = &ls[i];
        nc__stat_listener *s = &w->l[i];
        put_name(s->name, sizeof s->name, l->name);
        put_name(s->module, sizeof s->module, l->m ? l->m->name : "");
        NC_STAT_SET(s->conns_open, (uint64_t)l->nconns);
        NC_STAT_SET(s->conns_total, l->conns_total);
        NC_STAT_SET(s->bytes_in, l->bytes_in);
        NC_STAT_SET(s->bytes_out, l->bytes_out);
        NC_STAT_SET(s->refused, l->refused);
        NC_STAT_SET(s->errors, l->errors);
        NC_STAT_SET(s->throttled_files, l->throttled_files);
        NC_STAT_SET(s->shed_memory, l->shed_memory);
        NC_STAT_SET(s->shed_files, l->shed_files);
        NC_STAT_SET(s->closed_idle, l->closed_idle);
        NC_STAT_SET(s->closed_send_timeout, l->closed_send_timeout);
        NC_STAT_SET(s->closed_slow, l->closed_slow);
        NC_STAT_SET(s->closed_input, l->closed_input);
        NC_STAT_SET(s->tls_handshakes, l->tls_handshakes);
        NC_STAT_SET(s->tls_handshake_failures, l->tls_handshake_failures);
        NC_STAT_SET(s->tls_handshake_timeouts, l->tls_handshake_timeouts);
        NC_STAT_SET(s->tls_handshakes_refused, l->tls_handshakes_refused);
        NC_STAT_SET(s->tls_resumed, l->tls_resumed);
        NC_STAT_SET(s->tls_fail_not_tls, l->tls_fail_not_tls);
        NC_STAT_SET(s->tls_fail_negotiation, l->tls_fail_negotiation);
        NC_STAT_SET(s->tls_fail_client_cert, l->tls_fail_client_cert);
        NC_STAT_SET(s->hook_ns, l->hook_ns);
        uint64_t q = 0, files = 0;
        for (nc_list *cq = nc_list_first(&l->conns); cq; cq = nc_list_next(&l->conns, cq)) {
            const nc_conn *c = NC_LIST_DATA(cq, nc_conn, lnode);
            q += c->out.bytes;
            files += c->out.fds;
        }
        NC_STAT_SET(s->queued, q);
        /* connections, the listening socket, and the files queued to send */
        NC_STAT_SET(s->fds, (uint64_t)l->nconns + (l->fd >= 0 ? 1 : 0) + files);
        uint32_t k = 0;
        for (nc__counter *c = l->counters; c; c = c->next, k++) {
            if (k >= NC_STATS_COUNTERS) {
                lost++;
                continue;
            }
            put_name(s->counters[k].name, sizeof s->counters[k].name, c->name);
            NC_STAT_SET(s->counters[k].value, c->value);
        }
        NC_STAT_SET(s->ncounters, k < NC_STATS_COUNTERS ? k : NC_STATS_COUNTERS);
    }
    NC_STAT_SET(w->nlisteners, (uint32_t)n);
    report_unpublished((uint32_t)(nl - n), lost);
}

/* Sum a listener's figures over every live worker slot. */
char *nc_stats_json(void)
{
    if (!nc__shm)
        return NULL;
    nc__stats_publish();
    json_t *root = json_object();
    json_object_set_new(root, "version", json_string(NC_VERSION));
    json_object_set_new(root, "pid", json_integer(NC_STAT_GET(nc__shm->master_pid)));
    json_object_set_new(root, "uptime_seconds",
                        json_real((double)(nc__wall_ms() - NC_STAT_GET(nc__shm->started_ms)) / 1000.0));
    json_object_set_new(root, "generation", json_integer(NC_STAT_GET(nc__shm->generation)));
    json_object_set_new(root, "reloads", json_integer(NC_STAT_GET(nc__shm->reloads)));
    json_t *workers = json_array(), *listeners = json_object();
    json_int_t lost_listeners = 0, lost_counters = 0;
    for (int i = 0; i < NC_STATS_WORKERS; i++) {
        nc__stat_worker *w = &nc__shm->w[i];
        int32_t pid = NC_STAT_GET(w->pid);
        if (pid <= 0)
            continue; /* free, or a worker being started */
        json_t *wj = json_object();
        json_object_set_new(wj, "index", json_integer(NC_STAT_GET(w->index)));
        json_object_set_new(wj, "pid", json_integer(pid));
        json_object_set_new(wj, "generation", json_integer(NC_STAT_GET(w->generation)));
        json_object_set_new(wj, "restarts", json_integer(NC_STAT_GET(w->restarts)));
        json_object_set_new(wj, "connections", json_integer((json_int_t)NC_STAT_GET(w->conns)));
        json_object_set_new(wj, "draining", json_boolean(NC_STAT_GET(w->draining)));
        json_array_append_new(workers, wj);
        lost_listeners += NC_STAT_GET(w->unpublished_listeners);
        lost_counters += NC_STAT_GET(w->unpublished_counters);
        uint32_t nl = NC_STAT_GET(w->nlisteners);
        for (uint32_t k = 0; k < nl && k < NC_STATS_LISTENERS; k++) {
            nc__stat_listener *s = &w->l[k];
            json_t *lj = json_object_get(listeners, s->name);
            if (!lj) {
                lj = json_object();
                json_object_set_new(lj, "module", json_string(s->module));
                json_object_set_new(lj, "counters", json_object());
                json_object_set_new(listeners, s->name, lj);
            }
            static const char *const names[] = {"connections_open", "connections_total", "bytes_in",
                                                "bytes_out", "refused", "errors", "queued_bytes",
                                                "descriptors", "throttled_files", "shed_memory",
                                                "shed_files", "closed_idle", "closed_send_timeout",
                                                "closed_slow_consumer", "closed_input_limit", "hook_ns",
                                                "tls_handshakes", "tls_handshake_failures",
                                                "tls_handshake_timeouts", "tls_handshakes_refused",
                                                "tls_resumed", "tls_failed_not_tls",
                                                "tls_failed_negotiation", "tls_failed_client_cert"};
            uint64_t vals[] = {NC_STAT_GET(s->conns_open), NC_STAT_GET(s->conns_total),
                               NC_STAT_GET(s->bytes_in), NC_STAT_GET(s->bytes_out),
                               NC_STAT_GET(s->refused), NC_STAT_GET(s->errors),
                               NC_STAT_GET(s->queued), NC_STAT_GET(s->fds),
                               NC_STAT_GET(s->throttled_files), NC_STAT_GET(s->shed_memory),
                               NC_STAT_GET(s->shed_files), NC_STAT_GET(s->closed_idle),
                               NC_STAT_GET(s->closed_send_timeout), NC_STAT_GET(s->closed_slow),
                               NC_STAT_GET(s->closed_input), NC_STAT_GET(s->hook_ns),
                               NC_STAT_GET(s->tls_handshakes), NC_STAT_GET(s->tls_handshake_failures),
                               NC_STAT_GET(s->tls_handshake_timeouts), NC_STAT_GET(s->tls_handshakes_refused),
                               NC_STAT_GET(s->tls_resumed), NC_STAT_GET(s->tls_fail_not_tls),
                               NC_STAT_GET(s->tls_fail_negotiation), NC_STAT_GET(s->tls_fail_client_cert)};
            for (size_t v = 0; v < sizeof vals / sizeof vals[0]; v++) {
                json_t *old = json_object_get(lj, names[v]);
                json_int_t sum = (old ? json_integer_value(old) : 0) + (json_int_t)vals[v];
                json_object_set_new(lj, names[v], json_integer(sum));
            }
            json_t *cj = json_object_get(lj, "counters");
            uint32_t nc = NC_STAT_GET(s->ncounters);
            for (uint32_t c = 0; c < nc && c < NC_STATS_COUNTERS; c++) {
                json_t *old = json_object_get(cj, s->counters[c].name);
                json_int_t sum = (old ? json_integer_value(old) : 0) + (json_int_t)NC_STAT_GET(s->counters[c].value);
                json_object_set_new(cj, s->counters[c].name, json_integer(sum));
            }
        }
    }
    json_t *lost = json_object();
    json_object_set_new(lost, "listeners", json_integer(lost_listeners));
    json_object_set_new(lost, "counters", json_integer(lost_counters));
    json_object_set_new(root, "unpublished", lost);
    json_object_set_new(root, "workers", workers);
    json_object_set_new(root, "listeners", listeners);
    char *out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return out;
}
