/* bad_abi.c -- a module built for a future ABI major version, for the
 * loader's tests: it must be refused before any of its code runs. */
#include <stdlib.h>

#include "netcore/netcore.h"

static int bad_init(nc_listener *l, nc_options *o, void **instance)
{
    (void)l;
    (void)o;
    (void)instance;
    abort(); /* never called: the loader refuses this module */
}

NC_MODULE_DEFINE = {
    .magic = NC_MODULE_MAGIC,
    .abi_major = NC_ABI_MAJOR + 1,
    .abi_minor = 0,
    .size = sizeof(nc_module),
    .flags = NC_MOD_STREAM,
    .name = "bad_abi",
    .version = "0",
    .init = bad_init,
};
