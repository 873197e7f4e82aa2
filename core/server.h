/* server.h -- the life of a netcore process: the configuration check
 * (`netcore -t`, and the master's preflight), a worker serving on the
 * sockets the master bound, and the master itself (master.c). */
#ifndef NC_CORE_SERVER_H
#define NC_CORE_SERVER_H

#include "config.h"
#include "stats.h"

/* Exit statuses (documented in docs/config.md and netcore --help). */
enum {
    NC_EXIT_OK = 0,
    NC_EXIT_CONFIG = 1,  /* bad config, module refused, cannot bind */
    NC_EXIT_USAGE = 2,   /* bad command line */
    NC_EXIT_RUNTIME = 3, /* the loop failed (epoll) */
};

/* Load every module and initialise every listener, then tear down: what
 * `netcore -t` does.  Prints the outcome; returns an exit status. */
int nc__server_check(nc__config *cfg, int quiet);

/* Load every module cfg names, before the process drops its privileges
 * (modules need only be readable by the user netcore starts as); each stays
 * loaded until nc__server_unload.  Returns 0, or -1 having reported why. */
int nc__server_preload(const nc__config *cfg);
void nc__server_unload(void);

/* A worker: serve cfg's listeners on the sockets fds[i] (bound by the
 * master; addrs[i] their real addresses).  Worker `index` of `nworkers`;
 * listeners of modules that keep shared state (NC_MOD_SHARED) are served by
 * worker 0 only.  Writes one byte to ready_fd once serving (then closes it).
 * Returns an exit status. */
int nc__worker_run(nc__config *cfg, const int *fds, char (*addrs)[120], int index, int nworkers,
                   nc__stat_worker *slot, int ready_fd);

/* `netcore -t`: the check a start makes, in a child exactly as the master's
 * preflight (modules loaded, privileges dropped to "user", listeners
 * initialised), after the same root-without-"user" rule.  Returns an exit
 * status. */
int nc__master_check(nc__config *cfg);

/* The master: bind, supervise workers, reload on SIGHUP.  Returns an exit
 * status. */
int nc__master_run(nc__config *cfg);

#endif
