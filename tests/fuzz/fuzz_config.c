/* fuzz_config.c -- a libFuzzer target for the config loader: any bytes as
 * netcore.json; an error must be a message, never a crash or a leak. */
#include <stdint.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nc__config cfg;
    char err[1024];
    if (nc__config_parse((const char *)data, size, "/fuzz/netcore.json", &cfg, err, sizeof err) == 0)
        nc__config_free(&cfg);
    else if (!err[0])
        __builtin_trap(); /* a refusal always says why */
    return 0;
}
