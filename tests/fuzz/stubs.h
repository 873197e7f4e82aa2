/* stubs.h -- the fuzzing harness's view of stubs.c: driving one module
 * through its descriptor without a core. */
#ifndef NC_FUZZ_STUBS_H
#define NC_FUZZ_STUBS_H

#include <arpa/inet.h>
#include <stdint.h>
#include <unistd.h>

#include "netcore/netcore.h"

#define FUZZ_MAX_CONNS 4

typedef struct fuzz_buf {
    size_t len;
    uint8_t bytes[1 << 16];
} fuzz_buf;

/* Provided by each fuzz target: an option's value, or NULL for its default. */
const char *fuzz_option(const char *key);

/* Start the module on the stub listener as the core does (init, then
 * on_listen); 0, or -1 when either refused.  fuzz_fini calls fini. */
int fuzz_init(const nc_module *m);
void fuzz_fini(const nc_module *m);
nc_conn *fuzz_accept(const nc_module *m, int slot);
void fuzz_feed(const nc_module *m, nc_conn *c, fuzz_buf *in, const uint8_t *data, size_t n);
void fuzz_close(const nc_module *m, int slot);
nc_listener *fuzz_listener(void);

#endif
