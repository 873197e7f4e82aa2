/* options.h -- the core's side of a listener's "options" (options.c): made
 * before init, finished after it.  Apart from core.h so that the mock core
 * (tools/mock/mock.c) reuses the code without the core's structures. */
#ifndef NC_CORE_OPTIONS_H
#define NC_CORE_OPTIONS_H

#include "config.h"
#include "netcore/netcore.h"

nc_options *nc__options_new(const char *file, const char *dir, const nc__lconf *lc);
/* Returns the recorded error, or NULL; after init also reports unknown keys. */
const char *nc__options_finish(nc_options *o, int init_rc);
void nc__options_free(nc_options *o);

#endif
