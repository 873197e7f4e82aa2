/* fuzz_httpresp.c -- a libFuzzer target for http-static's responses: the
 * whole module (http.c with parse.c, path.c and mime.c) driven through its
 * descriptor with stubs.c in place of the core.  The input first names up
 * to 7 entries to create in the listed folder of a scratch root (hostile
 * names: quotes, ampersands, angle brackets, non-ASCII, up to NAME_MAX
 * bytes), then gives request bytes, fed whole on one connection and in
 * 7-byte pieces on another: listings of that folder, 301s built from
 * hostile paths and queries, error pages, ranges and conditionals.  ASan
 * catches a write or read past any buffer; stubs.c reads every byte sent. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stubs.h"

extern const nc_module netcore_module;

static char root[64];

const char *fuzz_option(const char *key)
{
    if (!strcmp(key, "root"))
        return root;
    if (!strcmp(key, "autoindex"))
        return "true";
    if (!strcmp(key, "cache_valid_ms"))
        return "0"; /* every request goes to the file system: the names of this run */
    if (!strcmp(key, "autoindex_max_bytes"))
        return "65536"; /* small enough for the limit path to be reached */
    return NULL;
}

static int dfd = -1;

/* One scratch root per user, reused from run to run (libFuzzer leaves with
 * _Exit, so nothing could remove a fresh one each time); its folder d is
 * emptied before every input. */
static void make_root(void)
{
    snprintf(root, sizeof root, "/tmp/fuzz-httpresp-%u", (unsigned)getuid());
    char p[128];
    mkdir(root, 0700);
    snprintf(p, sizeof p, "%s/d", root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/sub", root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/f.txt", root);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "0123456789abcdef", 16) != 16)
        abort();
    close(fd);
}

/* Empty root/d of the previous input's entries. */
static void clear_folder(int dfd)
{
    DIR *d = fdopendir(dup(dfd));
    if (!d)
        abort();
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            if (unlinkat(dfd, de->d_name, 0) < 0)
                unlinkat(dfd, de->d_name, AT_REMOVEDIR);
    closedir(d);
}

static fuzz_buf bufs[2];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        make_root();
        if (fuzz_init(&netcore_module) != 0)
            abort();
        char p[128];
        snprintf(p, sizeof p, "%s/d", root);
        dfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
            abort();
        ready = 1;
    }
    clear_folder(dfd);
    size_t i = 0;
    unsigned names = size ? data[i++] & 7 : 0;
    for (unsigned k = 0; k < names && i < size; k++) {
        /* [length-1 | 0x80 for a folder][bytes]; NUL and '/' cannot be in a name */
        int isdir = data[i] & 0x80;
        size_t len = 1 + (size_t)(data[i++] & 0x7f) * 2;
        if (len > 255)
            len = 255; /* NAME_MAX */
        char name[256];
        size_t n = 0;
        for (; n < len && i < size; n++, i++)
            name[n] = data[i] == 0 || data[i] == '/' ? '\'' : (char)data[i];
        name[n] = '\0';
        if (!n || !strcmp(name, ".") || !strcmp(name, ".."))
            continue;
        if (isdir) {
            mkdirat(dfd, name, 0755);
        } else {
            int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (fd >= 0)
                close(fd);
        }
    }
    /* The rest: requests, whole on connection 0, in 7-byte pieces on 1. */
    const uint8_t *rq = data + i;
    size_t rn = size - i;
    for (int slot = 0; slot < 2; slot++) {
        bufs[slot].len = 0;
        nc_conn *c = fuzz_accept(&netcore_module, slot);
        if (!c)
            continue;
        if (slot == 0) {
            fuzz_feed(&netcore_module, c, &bufs[slot], rq, rn);
        } else {
            for (size_t off = 0; off < rn; off += 7)
                fuzz_feed(&netcore_module, c, &bufs[slot], rq + off, rn - off < 7 ? rn - off : 7);
        }
        fuzz_close(&netcore_module, slot);
    }
    return 0;
}
