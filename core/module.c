/* module.c -- the module loader.  dlopen with RTLD_NOW so a module with a
 * missing symbol fails at load, not at its first call; RTLD_LOCAL so two
 * modules never see each other's symbols. */
#include "module.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static nc__module *loaded;

const char *nc__module_check(const nc_module *m, const char *path, char *buf, size_t n)
{
    if (m->magic != NC_MODULE_MAGIC) {
        snprintf(buf, n, "%s: not a netcore module (bad magic 0x%08x)", path, m->magic);
        return buf;
    }
    if (m->abi_major != NC_ABI_MAJOR || m->abi_minor > NC_ABI_MINOR) {
        snprintf(buf, n, "%s: module ABI %u.%u does not match netcore ABI %u.%u", path,
                 m->abi_major, m->abi_minor, (unsigned)NC_ABI_MAJOR, (unsigned)NC_ABI_MINOR);
        return buf;
    }
    if (m->size != sizeof(nc_module)) {
        snprintf(buf, n, "%s: module descriptor is %u bytes, netcore ABI %u.%u expects %zu", path,
                 m->size, (unsigned)NC_ABI_MAJOR, (unsigned)NC_ABI_MINOR, sizeof(nc_module));
        return buf;
    }
    for (size_t i = 0; i < sizeof m->reserved / sizeof m->reserved[0]; i++)
        if (m->reserved[i]) {
            snprintf(buf, n, "%s: module descriptor has non-zero reserved fields", path);
            return buf;
        }
    if (!m->name || !m->name[0]) {
        snprintf(buf, n, "%s: module has no name", path);
        return buf;
    }
    if (!(m->flags & (NC_MOD_STREAM | NC_MOD_DGRAM))) {
        snprintf(buf, n, "%s: module %s declares neither NC_MOD_STREAM nor NC_MOD_DGRAM", path,
                 m->name);
        return buf;
    }
    if ((m->flags & NC_MOD_STREAM) && !m->on_data) {
        snprintf(buf, n, "%s: module %s serves streams but has no on_data", path, m->name);
        return buf;
    }
    if ((m->flags & NC_MOD_DGRAM) && !m->on_datagrams) {
        snprintf(buf, n, "%s: module %s serves datagrams but has no on_datagrams", path, m->name);
        return buf;
    }
    return NULL;
}

nc__module *nc__module_open(const char *path, char *err, size_t errlen)
{
    for (nc__module *p = loaded; p; p = p->next)
        if (strcmp(p->path, path) == 0) {
            p->refs++;
            return p;
        }
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *why = dlerror();
        /* dlerror() usually starts with the path already. */
        size_t pl = strlen(path);
        if (why && strncmp(why, path, pl) == 0 && strncmp(why + pl, ": ", 2) == 0)
            why += pl + 2;
        snprintf(err, errlen, "%s: cannot load: %s", path, why ? why : "unknown error");
        return NULL;
    }
    dlerror();
    const nc_module *m = dlsym(dl, NC_MODULE_SYMBOL);
    if (!m) {
        snprintf(err, errlen, "%s: no \"%s\" symbol: not a netcore module", path,
                 NC_MODULE_SYMBOL);
        dlclose(dl);
        return NULL;
    }
    if (nc__module_check(m, path, err, errlen)) {
        dlclose(dl);
        return NULL;
    }
    nc__module *mod = calloc(1, sizeof *mod);
    if (!mod || !(mod->path = strdup(path))) {
        free(mod);
        dlclose(dl);
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    mod->dl = dl;
    mod->m = m;
    mod->refs = 1;
    mod->next = loaded;
    loaded = mod;
    return mod;
}

void nc__module_close(nc__module *mod)
{
    if (!mod || --mod->refs > 0)
        return;
    for (nc__module **pp = &loaded; *pp; pp = &(*pp)->next)
        if (*pp == mod) {
            *pp = mod->next;
            break;
        }
    /* Under a leak checker, unloading would hide the module's symbols from
     * its report; NC_NO_DLCLOSE keeps them loaded. */
    if (!getenv("NC_NO_DLCLOSE"))
        dlclose(mod->dl);
    free(mod->path);
    free(mod);
}
