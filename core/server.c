/* server.c -- start-up and teardown.  Start-up is all or nothing: every
 * module loads and accepts its options, then every listener binds, before a
 * single connection is accepted; any failure undoes what was done. */
#include "server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "log.h"
#include "version.h"

static const char *transport_name(int t)
{
    return t == NC_UDP ? "udp" : t == NC_UNIX ? "unix" : "tcp";
}

/* Print a start-up error to stderr, and to the log when that is a file. */
static void report(const char *msg)
{
    fprintf(stderr, "netcore: %s\n", msg);
}

static void teardown(void)
{
    nc__reactor *R = &nc__R;
    nc__work_shutdown();
    for (size_t i = 0; i < R->nlisteners; i++) {
        nc_listener *l = &R->listeners[i];
        if (!l->conf)
            continue; /* start-up failed before this one was set up */
        nc__listener_close(l);
        if (l->inited && l->m->fini)
            l->m->fini(l, l->instance);
        l->inited = 0;
        nc__module_close(l->mod);
        free(l->msgs);
        free(l->iovs);
        free(l->dbuf);
        free(l->cbuf);
        free(l->peers);
        free(l->dgrams);
        for (nc__counter *k = l->counters, *n; k; k = n) {
            n = k->next;
            free(k->name);
            free(k);
        }
    }
    free(R->listeners);
    R->listeners = NULL;
    R->nlisteners = 0;
    nc__reactor_free();
}

static int init_listener(nc__config *cfg, nc_listener *l, const nc__lconf *lc)
{
    char err[1024];
    l->evkind = EV_LISTENER;
    l->fd = -1;
    l->conf = lc;
    l->name = lc->name;
    size_t high = 256 * 1024;
    if (high > (size_t)lc->max_output_bytes / 2)
        high = (size_t)lc->max_output_bytes / 2;
    l->high_water = high;
    l->idle_slack = (uint64_t)lc->idle_timeout_ms / 10;
    if (l->idle_slack > 1000)
        l->idle_slack = 1000;
    l->mod = nc__module_open(lc->module_path, err, sizeof err);
    if (!l->mod) {
        char msg[1200];
        snprintf(msg, sizeof msg, "%s: listeners[%d].module: %s", cfg->path, lc->index, err);
        report(msg);
        return -1;
    }
    l->m = l->mod->m;
    int want = lc->transport == NC_UDP ? NC_MOD_DGRAM : NC_MOD_STREAM;
    if (!(l->m->flags & want)) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s: listeners[%d].transport: module %s does not serve %s",
                 cfg->path, lc->index, l->m->name,
                 lc->transport == NC_UDP ? "udp" : "streams (tcp or unix)");
        report(msg);
        return -1;
    }
    nc_options *o = nc__options_new(cfg->path, cfg->dir, lc);
    if (!o) {
        report("out of memory");
        return -1;
    }
    int rc = l->m->init ? l->m->init(l, o, &l->instance) : 0;
    l->inited = rc == 0;
    const char *why = nc__options_finish(o, rc);
    if (why)
        report(why);
    nc__options_free(o);
    return why ? -1 : 0;
}

int nc__server_run(nc__config *cfg, int check_only)
{
    nc__reactor *R = &nc__R;
    char err[1024];
    int rc = nc__reactor_init();
    if (rc < 0) {
        snprintf(err, sizeof err, "cannot set up the event loop: %s", strerror(-rc));
        report(err);
        nc__reactor_free();
        return NC_EXIT_RUNTIME;
    }
    R->shutdown_timeout_ms = cfg->shutdown_timeout_ms;
    R->listeners = calloc(cfg->nlisteners, sizeof *R->listeners);
    if (!R->listeners) {
        report("out of memory");
        nc__reactor_free();
        return NC_EXIT_RUNTIME;
    }
    R->nlisteners = cfg->nlisteners;
    for (size_t i = 0; i < cfg->nlisteners; i++)
        R->listeners[i].fd = -1;
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        if (init_listener(cfg, &R->listeners[i], &cfg->listeners[i]) < 0) {
            teardown();
            return NC_EXIT_CONFIG;
        }
    }
    if (check_only) {
        printf("%s: configuration is valid (%zu listener%s)\n", cfg->path, cfg->nlisteners,
               cfg->nlisteners == 1 ? "" : "s");
        teardown();
        return NC_EXIT_OK;
    }
    for (size_t i = 0; i < R->nlisteners; i++) {
        nc_listener *l = &R->listeners[i];
        if (nc__listener_bind(l, err, sizeof err) < 0) {
            report(err);
            nc__log(NC_LOG_ERROR, NULL, 0, "%s", err);
            teardown();
            return NC_EXIT_CONFIG;
        }
    }
    for (size_t i = 0; i < R->nlisteners; i++) {
        nc_listener *l = &R->listeners[i];
        if (l->m->on_listen && l->m->on_listen(l) < 0) {
            snprintf(err, sizeof err, "listener \"%s\" (listeners[%d]): module %s failed to start",
                     l->name, l->conf->index, l->m->name);
            report(err);
            teardown();
            return NC_EXIT_CONFIG;
        }
    }
    for (size_t i = 0; i < R->nlisteners; i++) {
        nc_listener *l = &R->listeners[i];
        nc__log(NC_LOG_INFO, l->name, 0, "listening on %s (%s), module %s %s", l->addr_str,
                transport_name(l->conf->transport), l->m->name,
                l->m->version ? l->m->version : "");
    }
    nc__log(NC_LOG_INFO, NULL, 0, "netcore %s ready: %zu listener%s, pid %d", NC_VERSION,
            R->nlisteners, R->nlisteners == 1 ? "" : "s", (int)getpid());
    rc = nc__reactor_run();
    teardown();
    nc__log(NC_LOG_INFO, NULL, 0, "stopped");
    return rc;
}
