/* fuzz_udp.c -- a libFuzzer target for the udp-receiver record writer: the
 * input is cut into datagrams ([length byte][bytes] records, a first byte
 * choosing JSON or text records), handed to on_datagrams as the core would. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stubs.h"

extern const nc_module netcore_module;
static const char *format = "json";

const char *fuzz_option(const char *key)
{
    if (!strcmp(key, "output"))
        return "/dev/null";
    if (!strcmp(key, "format"))
        return format;
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready[2];
    if (size < 1)
        return 0;
    int text = data[0] & 1;
    /* Two instances would share the output; keep one per format. */
    static int current = -1;
    if (current != text) {
        if (current >= 0)
            fuzz_fini(&netcore_module);
        format = text ? "text" : "json";
        if (fuzz_init(&netcore_module) != 0)
            abort();
        current = text;
        ready[text] = 1;
    }
    nc_dgram d[16];
    struct sockaddr_in6 peer = {.sin6_family = AF_INET6, .sin6_port = htons(4242)};
    peer.sin6_addr.s6_addr[15] = 1;
    unsigned n = 0;
    size_t i = 1;
    while (i < size && n < 16) {
        size_t len = data[i++];
        if (len > size - i)
            len = size - i;
        d[n].data = data + i;
        d[n].len = len;
        d[n].peer = (const struct sockaddr *)&peer;
        d[n].peer_len = sizeof peer;
        d[n].recv_time_us = 1763770000123456LL + i;
        n++;
        i += len;
    }
    if (n)
        netcore_module.on_datagrams(fuzz_listener(), d, n);
    return 0;
}
