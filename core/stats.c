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

void nc__stats_publish(void)
{
    nc__stat_worker *w = nc__my_slot;
    if (!w)
        return;
    nc__reactor *R = &nc__R;
    w->conns = R->nconns;
    w->draining = R->draining;
    size_t n = R->nlisteners < NC_STATS_LISTENERS ? R->nlisteners : NC_STATS_LISTENERS;
    for (size_t i = 0; i < n; i++) {
        nc_listener *l = &R->listeners[i];
        nc__stat_listener *s = &w->l[i];
        snprintf(s->name, sizeof s->name, "%s", l->name);
        snprintf(s->module, sizeof s->module, "%s", l->m ? l->m->name : "");
        s->conns_open = l->nconns;
        s->conns_total = l->conns_total;
        s->bytes_in = l->bytes_in;
        s->bytes_out = l->bytes_out;
        s->refused = l->refused;
        s->errors = l->errors;
        uint64_t q = 0;
        for (nc_conn *c = l->head; c; c = c->next)
            q += c->out.bytes;
        s->queued = q;
        s->fds = l->nconns + (l->fd >= 0 ? 1 : 0);
        uint32_t k = 0;
        for (nc__counter *c = l->counters; c && k < NC_STATS_COUNTERS; c = c->next, k++) {
            snprintf(s->counters[k].name, sizeof s->counters[k].name, "%s", c->name);
            s->counters[k].value = c->value;
        }
        s->ncounters = k;
    }
    w->nlisteners = (uint32_t)n;
}

/* Sum a listener's figures over every live worker slot. */
char *nc_stats_json(void)
{
    if (!nc__shm)
        return NULL;
    nc__stats_publish();
    json_t *root = json_object();
    json_object_set_new(root, "version", json_string(NC_VERSION));
    json_object_set_new(root, "pid", json_integer(nc__shm->master_pid));
    json_object_set_new(root, "uptime_seconds", json_real((double)(nc__wall_ms() - nc__shm->started_ms) / 1000.0));
    json_object_set_new(root, "generation", json_integer(nc__shm->generation));
    json_object_set_new(root, "reloads", json_integer(nc__shm->reloads));
    json_t *workers = json_array(), *listeners = json_object();
    for (int i = 0; i < NC_STATS_WORKERS; i++) {
        nc__stat_worker *w = &nc__shm->w[i];
        if (w->pid <= 0)
            continue; /* free, or a worker being started */
        json_t *wj = json_object();
        json_object_set_new(wj, "index", json_integer(w->index));
        json_object_set_new(wj, "pid", json_integer(w->pid));
        json_object_set_new(wj, "generation", json_integer(w->generation));
        json_object_set_new(wj, "restarts", json_integer(w->restarts));
        json_object_set_new(wj, "connections", json_integer((json_int_t)w->conns));
        json_object_set_new(wj, "draining", json_boolean(w->draining));
        json_array_append_new(workers, wj);
        for (uint32_t k = 0; k < w->nlisteners; k++) {
            nc__stat_listener *s = &w->l[k];
            json_t *lj = json_object_get(listeners, s->name);
            if (!lj) {
                lj = json_object();
                json_object_set_new(lj, "module", json_string(s->module));
                json_object_set_new(lj, "counters", json_object());
                json_object_set_new(listeners, s->name, lj);
            }
            static const char *const names[] = {"connections_open", "connections_total", "bytes_in", "bytes_out",
                                                "refused", "errors", "queued_bytes", "descriptors"};
            uint64_t vals[] = {s->conns_open, s->conns_total, s->bytes_in, s->bytes_out,
                               s->refused, s->errors, s->queued, s->fds};
            for (int v = 0; v < 8; v++) {
                json_t *old = json_object_get(lj, names[v]);
                json_int_t sum = (old ? json_integer_value(old) : 0) + (json_int_t)vals[v];
                json_object_set_new(lj, names[v], json_integer(sum));
            }
            json_t *cj = json_object_get(lj, "counters");
            for (uint32_t c = 0; c < s->ncounters; c++) {
                json_t *old = json_object_get(cj, s->counters[c].name);
                json_int_t sum = (old ? json_integer_value(old) : 0) + (json_int_t)s->counters[c].value;
                json_object_set_new(cj, s->counters[c].name, json_integer(sum));
            }
        }
    }
    json_object_set_new(root, "workers", workers);
    json_object_set_new(root, "listeners", listeners);
    char *out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return out;
}
