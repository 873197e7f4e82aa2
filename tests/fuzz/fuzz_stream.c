/* fuzz_stream.c -- a libFuzzer target for any stream module (chat,
 * broadcast-chat, ...), linked with the module and stubs.c.  The input is
 * a script: records of [connection byte][length byte][bytes]; the
 * connection byte picks one of 4 connections (accepted on first use) and,
 * with its high bit, closes it after the bytes.  So the fuzzer explores
 * segmentation, interleaving between users and disconnects mid-message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stubs.h"

extern const nc_module netcore_module;

const char *fuzz_option(const char *key)
{
    if (!strcmp(key, "max_line") || !strcmp(key, "max_message"))
        return "512"; /* small limits reach the limit paths */
    if (!strcmp(key, "max_backlog"))
        return "4096";
    if (!strcmp(key, "desk"))
        return "support";
    return NULL;
}

static fuzz_buf bufs[FUZZ_MAX_CONNS];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (fuzz_init(&netcore_module) != 0)
            abort();
        ready = 1;
    }
    nc_conn *conns[FUZZ_MAX_CONNS] = {0};
    for (int i = 0; i < FUZZ_MAX_CONNS; i++)
        bufs[i].len = 0;
    size_t i = 0;
    while (i + 2 <= size) {
        int slot = data[i] & (FUZZ_MAX_CONNS - 1);
        int close_after = data[i] & 0x80;
        size_t len = data[i + 1];
        i += 2;
        if (len > size - i)
            len = size - i;
        if (!conns[slot])
            conns[slot] = fuzz_accept(&netcore_module, slot);
        if (conns[slot])
            fuzz_feed(&netcore_module, conns[slot], &bufs[slot], data + i, len);
        i += len;
        if (close_after && conns[slot]) {
            fuzz_close(&netcore_module, slot);
            conns[slot] = NULL;
            bufs[slot].len = 0;
        }
    }
    for (int s = 0; s < FUZZ_MAX_CONNS; s++)
        if (conns[s])
            fuzz_close(&netcore_module, s);
    return 0;
}
