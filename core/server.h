/* server.h -- the life of a netcore process: from a checked config to
 * listeners with initialised module instances, the loop, and teardown. */
#ifndef NC_CORE_SERVER_H
#define NC_CORE_SERVER_H

#include "config.h"

/* Exit statuses (documented in docs/config.md and netcore --help). */
enum {
    NC_EXIT_OK = 0,
    NC_EXIT_CONFIG = 1,  /* bad config, module refused, cannot bind */
    NC_EXIT_USAGE = 2,   /* bad command line */
    NC_EXIT_RUNTIME = 3, /* the loop failed (epoll) */
};

/* Load modules and initialise every listener; with check_only, stop there
 * (`netcore -t`).  Otherwise bind, serve until stopped, and tear down.
 * Errors go to stderr (and the log).  Returns an exit status. */
int nc__server_run(nc__config *cfg, int check_only);

#endif
