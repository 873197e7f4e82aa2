/* module.h -- loading protocol modules (.so) and checking their descriptor
 * before any of their hooks runs (dlopen runs ELF constructors first); each file is loaded once and shared by every
 * listener that names it. */
#ifndef NC_CORE_MODULE_H
#define NC_CORE_MODULE_H

#include <stddef.h>

#include "netcore/netcore.h"

typedef struct nc__module {
    char *path;
    void *dl;
    const nc_module *m;
    unsigned refs;
    struct nc__module *next;
} nc__module;

/* Check a descriptor found at `path`.  Returns NULL when it is acceptable,
 * else a one-line reason (written to buf) naming the file and, for an ABI
 * mismatch, both versions. */
const char *nc__module_check(const nc_module *m, const char *path, char *buf, size_t n);
/* Load (or find already loaded) the module at path.  Returns it with one
 * more reference, or NULL with err filled. */
nc__module *nc__module_open(const char *path, char *err, size_t errlen);
void nc__module_close(nc__module *mod);

#endif
