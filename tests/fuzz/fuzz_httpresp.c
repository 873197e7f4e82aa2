/* fuzz_httpresp.c -- a libFuzzer target for http-static's responses: the
 * whole module (http.c with parse.c, path.c and mime.c) driven through its
 * descriptor with the mock core (include/netcore/mock.h).  The input first names up
 * to 7 entries to create in the listed folder of a scratch root (hostile
 * names: quotes, ampersands, angle brackets, non-ASCII, up to NAME_MAX
 * bytes), then gives request bytes, fed whole on one connection and in
 * 7-byte pieces on another: listings of that folder, 301s built from
 * hostile paths and queries, error pages, ranges and conditionals.  ASan
 * catches a write or read past any buffer; every byte sent is read, file
 * regions too. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netcore/mock.h"

extern const nc_module netcore_module;

static char root[64];
/* cache_valid_ms 0: every request goes to the file system, the names of
 * this run; autoindex_max_bytes small enough for its limit to be reached. */
static const char options[] = "{\"root\": \"%s\", \"autoindex\": true, \"cache_valid_ms\": 0, "
                              "\"autoindex_max_bytes\": 65536}";

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

/* Feed in pieces of `step` bytes, the peer reading everything after each. */
static void feed(nc_conn *c, const uint8_t *rq, size_t rn, size_t step)
{
    char buf[4096];
    for (size_t off = 0; off < rn; off += step) {
        nc_mock_feed(c, rq + off, rn - off < step ? rn - off : step);
        while (nc_mock_read(c, buf, sizeof buf) > 0)
            ;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        make_root();
        char p[128];
        snprintf(p, sizeof p, "%s/d", root);
        dfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
            abort();
        ready = 1;
    }
    clear_folder(dfd);
    char opts[256], err[1024];
    snprintf(opts, sizeof opts, options, root);
    nc_mock_config cfg = {.options = opts};
    nc_mock *mk = nc_mock_start(&netcore_module, &cfg, err, sizeof err);
    if (!mk) {
        fprintf(stderr, "fuzz_httpresp: %s\n", err);
        abort();
    }
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
        nc_conn *c = nc_mock_accept(mk, "192.0.2.7:4000");
        if (!c)
            continue;
        feed(c, rq, rn, slot == 0 ? rn + 1 : 7);
        nc_mock_hangup(c);
    }
    nc_mock_advance(mk, 1000); /* the module's sweeps */
    if (nc_mock_free(mk) != 0)
        abort(); /* fini left timers, buffers or work behind */
    return 0;
}
