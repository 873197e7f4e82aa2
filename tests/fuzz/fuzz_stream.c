/* fuzz_stream.c -- a libFuzzer target for any stream module (chat,
 * broadcast-chat, echo, status, file-transfer), linked with the module and
 * the mock core (include/netcore/mock.h); built once per module with
 * FUZZ_OPTIONS (the listener's options, JSON, where "%s" is a scratch
 * folder) and FUZZ_NAME.  Each input starts the module afresh and stops it
 * at the end, so what fini leaves armed or unreleased is a crash too.
 *
 * The input is a script of records [op byte][length byte][bytes]: the op's
 * low 2 bits pick one of 4 connections (accepted on first use); 0x40: move
 * the clock length * 16 ms instead (timers and deadlines fire); 0x20: the
 * peer does not read its output this time (the watermark, slow consumers);
 * 0x10: the peer's EOF after the bytes; 0x80: the peer resets the
 * connection after them.  Work the module submitted runs before the peer
 * reads.  So the fuzzer explores segmentation, interleaving between users,
 * disconnects and timeouts mid-message. */
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

#define CONNS 4

/* What /status and /metrics render (status reads nothing else). */
static const char stats[] =
    "{\"version\":\"0\",\"uptime_seconds\":1.5,\"reloads\":0,\"listeners\":{\"a\\\"b\":{\"module\":\"x\\n\","
    "\"connections_open\":1,\"counters\":{\"c\\\\\":2}}},\"unpublished\":{\"listeners\":0,\"counters\":0},"
    "\"workers\":[{\"index\":0,\"pid\":1,\"generation\":1,\"connections\":1,\"restarts\":0}]}";

static char root[128];

/* The scratch folder, emptied before every input (modules that store files
 * write into it). */
static void clear_root(void)
{
    if (!root[0]) {
        snprintf(root, sizeof root, "/tmp/fuzz-%s-%u", FUZZ_NAME, (unsigned)getuid());
        mkdir(root, 0700);
    }
    int dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
    if (!d)
        abort();
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            if (unlinkat(dfd, de->d_name, 0) < 0)
                unlinkat(dfd, de->d_name, AT_REMOVEDIR);
    closedir(d);
}

/* FUZZ_VERBOSE=1 in the environment: the module's log lines and every
 * byte the peers read go to stderr (to see what an input does). */
static int verbose = -1;

static void drain(nc_conn *c)
{
    char buf[4096];
    size_t n;
    while ((n = nc_mock_read(c, buf, sizeof buf)) > 0)
        if (verbose)
            fprintf(stderr, "[%llu] read %zu: %.*s\n", (unsigned long long)nc_conn_id(c), n, (int)n, buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    clear_root();
    char opts[512], err[1024];
    const char *hole = strstr(FUZZ_OPTIONS, "%s"); /* the scratch folder goes there */
    if (hole)
        snprintf(opts, sizeof opts, "%.*s%s%s", (int)(hole - FUZZ_OPTIONS), FUZZ_OPTIONS, root, hole + 2);
    else
        snprintf(opts, sizeof opts, "%s", FUZZ_OPTIONS);
    if (verbose < 0)
        verbose = getenv("FUZZ_VERBOSE") != NULL;
    nc_mock_config cfg = {.options = opts, .flags = verbose ? NC_MOCK_LOG_STDERR : 0};
    nc_mock *mk = nc_mock_start(&netcore_module, &cfg, err, sizeof err);
    if (!mk) {
        fprintf(stderr, "fuzz_%s: %s\n", FUZZ_NAME, err);
        abort();
    }
    nc_mock_set_stats(mk, stats);
    nc_conn *conns[CONNS] = {0};
    size_t i = 0;
    while (i + 2 <= size) {
        unsigned op = data[i];
        size_t len = data[i + 1];
        i += 2;
        if (op & 0x40) {
            nc_mock_advance(mk, len * 16);
            continue;
        }
        if (len > size - i)
            len = size - i;
        nc_conn **c = &conns[op & (CONNS - 1)];
        if (*c && nc_mock_closed(*c) != NC_MOCK_OPEN && nc_mock_closed(*c) != NC_MOCK_FLUSHING)
            *c = NULL; /* closed: the next record connects again */
        if (!*c)
            *c = nc_mock_accept(mk, "192.0.2.7:4000");
        if (*c) {
            nc_mock_feed(*c, data + i, len);
            if (op & 0x10)
                nc_mock_eof(*c);
            nc_mock_run_work(mk); /* the reactor would have its completions soon */
            if (!(op & 0x20))
                drain(*c);
            if (op & 0x80)
                nc_mock_hangup(*c);
        }
        i += len;
    }
    if (nc_mock_free(mk) != 0)
        abort(); /* the module left timers, buffers or work behind */
    return 0;
}
