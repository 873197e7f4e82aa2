/* server.c -- the configuration check and a worker's life.  Start-up is all
 * or nothing: every module loads and accepts its options, every listener
 * adopts its socket and every on_listen succeeds before the worker says it
 * is ready; any failure undoes what was done. */
#include "server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "log.h"
#include "tls.h"
#include "version.h"

static void report(const char *msg)
{
    fprintf(stderr, "netcore: %s\n", msg);
}

/* The worker's listeners: this file's array, handed to the reactor. */
static nc_listener *listeners;
static size_t nlisteners;

static void teardown(void)
{
    nc__work_shutdown();
    for (size_t i = 0; i < nlisteners; i++) {
        nc_listener *l = &listeners[i];
        if (!l->conf)
            continue; /* start-up failed before this one was set up */
        nc__listener_close(l, 0);
        if (l->inited && l->m->fini)
            l->m->fini(l, l->instance);
        l->inited = 0;
        nc__module_close(l->mod);
        nc__listener_free(l);
    }
    free(listeners);
    listeners = NULL;
    nlisteners = 0;
    nc__reactor_set_listeners(NULL, 0);
    nc__listener_worker_fini();
    nc__reactor_free();
}

static nc__module *open_module(const nc__config *cfg, const nc__lconf *lc)
{
    char err[1024];
    nc__module *m = nc__module_open(lc->module_path, err, sizeof err);
    if (!m) {
        char msg[1200];
        snprintf(msg, sizeof msg, "%s: listeners[%d].module: %s", cfg->path, lc->index, err);
        report(msg);
    }
    return m;
}

/* Modules are loaded before a process drops its privileges, as nginx loads
 * its dynamic modules: a .so need only be readable by the user netcore
 * starts as (a build tree in root's 0700 home, say), not by the one it
 * serves as.  Their ELF constructors run then, as that user; every hook
 * (init first) runs after the drop.  Each keeps the reference taken here
 * until nc__server_unload. */
static nc__module **preloaded;
static size_t npreloaded;

int nc__server_preload(const nc__config *cfg)
{
    preloaded = calloc(cfg->nlisteners ? cfg->nlisteners : 1, sizeof *preloaded);
    if (!preloaded) {
        report("out of memory");
        return -1;
    }
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        nc__module *m = open_module(cfg, &cfg->listeners[i]);
        if (!m) {
            nc__server_unload();
            return -1;
        }
        preloaded[npreloaded++] = m;
    }
    char err[1024];
    if (nc__tls_load(cfg, err, sizeof err) < 0) {
        report(err);
        nc__server_unload();
        return -1;
    }
    return 0;
}

void nc__server_unload(void)
{
    for (size_t i = 0; i < npreloaded; i++)
        nc__module_close(preloaded[i]);
    free(preloaded);
    preloaded = NULL;
    npreloaded = 0;
    nc__tls_unload();
}

static int init_listener(nc__config *cfg, nc_listener *l, const nc__lconf *lc)
{
    l->evkind = EV_LISTENER;
    l->fd = -1;
    l->conf = lc;
    l->name = lc->name;
    size_t high = 256 * 1024;
    if (high > (size_t)lc->max_output_bytes / 2)
        high = (size_t)lc->max_output_bytes / 2;
    l->high_water = high;
    nc__listener_lists_init(l);
    l->idle_slack = (uint64_t)lc->idle_timeout_ms / 10;
    if (l->idle_slack > 1000)
        l->idle_slack = 1000;
    l->mod = open_module(cfg, lc);
    if (!l->mod)
        return -1;
    l->m = l->mod->m;
    int want = lc->transport == NC_UDP ? NC_MOD_DGRAM : NC_MOD_STREAM;
    if (!(l->m->flags & want)) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s: listeners[%d].transport: module %s does not serve %s", cfg->path,
                 lc->index, l->m->name, lc->transport == NC_UDP ? "udp" : "streams (tcp or unix)");
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

/* Reactor and listeners, modules initialised; nothing bound. */
static int setup(nc__config *cfg)
{
    int rc = nc__reactor_init(cfg->shutdown_timeout_ms, cfg->drain_timeout_ms);
    if (rc < 0) {
        char err[256];
        snprintf(err, sizeof err, "cannot set up the event loop: %s", strerror(-rc));
        report(err);
        nc__reactor_free();
        return NC_EXIT_RUNTIME;
    }
    listeners = calloc(cfg->nlisteners, sizeof *listeners);
    if (!listeners) {
        report("out of memory");
        nc__reactor_free();
        return NC_EXIT_RUNTIME;
    }
    nlisteners = cfg->nlisteners;
    nc__reactor_set_listeners(listeners, nlisteners);
    for (size_t i = 0; i < cfg->nlisteners; i++)
        listeners[i].fd = -1;
    for (size_t i = 0; i < cfg->nlisteners; i++)
        if (init_listener(cfg, &listeners[i], &cfg->listeners[i]) < 0) {
            teardown();
            return NC_EXIT_CONFIG;
        }
    return NC_EXIT_OK;
}

int nc__server_check(nc__config *cfg, int quiet)
{
    int rc = setup(cfg);
    if (rc != NC_EXIT_OK)
        return rc;
    if (!quiet)
        printf("%s: configuration is valid (%zu listener%s)\n", cfg->path, cfg->nlisteners,
               cfg->nlisteners == 1 ? "" : "s");
    teardown();
    return NC_EXIT_OK;
}

static void publish_tick(nc_timer *t, void *arg)
{
    (void)t;
    (void)arg;
    nc__stats_publish();
}

int nc__worker_run(nc__config *cfg, const int *fds, char (*addrs)[120], int index, int nworkers,
                   nc__stat_worker *slot, int ready_fd)
{
    char err[1024];
    int rc = setup(cfg);
    if (rc != NC_EXIT_OK)
        return rc;
    rc = nc__listener_worker_init((size_t)((cfg->max_connections + nworkers - 1) / nworkers), nworkers);
    if (rc < 0)
        nc__log(NC_LOG_WARN, NULL, 0, "no spare descriptor for EMFILE: %s", strerror(-rc));
    nc__conn_set_worker_caps(cfg);
    for (size_t i = 0; i < nlisteners; i++) {
        nc_listener *l = &listeners[i];
        if ((l->m->flags & NC_MOD_SHARED) && index != 0) {
            /* Shared state lives in one process: worker 0 serves it. */
            close(fds[i]);
            continue;
        }
        if (nc__listener_adopt(l, fds[i], addrs[i], err, sizeof err) < 0) {
            nc__log(NC_LOG_ERROR, NULL, 0, "%s", err);
            teardown();
            return NC_EXIT_CONFIG;
        }
    }
    for (size_t i = 0; i < nlisteners; i++) {
        nc_listener *l = &listeners[i];
        if (l->fd >= 0 && l->m->on_listen && l->m->on_listen(l) < 0) {
            nc__log(NC_LOG_ERROR, l->name, 0, "module %s failed to start", l->m->name);
            teardown();
            return NC_EXIT_CONFIG;
        }
    }
    nc__my_slot = slot;
    nc__stats_publish();
    nc_timer_start(1000, 1000, publish_tick, NULL);
    if (ready_fd >= 0) {
        ssize_t w = write(ready_fd, "R", 1);
        (void)w;
        close(ready_fd);
    }
    nc__log(NC_LOG_DEBUG, NULL, 0, "worker %d serving", index);
    rc = nc__reactor_run();
    nc__stats_publish();
    teardown();
    return rc;
}
