/* fuzz_udp.c -- a libFuzzer target for udp-receiver (udprecv.c, sink.c)
 * under the mock core: the input is cut into datagrams ([length byte]
 * [bytes] records, a first byte choosing JSON or text records, and with
 * its bit 1 a reply mode), handed to on_datagrams in one batch.  Each input
 * starts the module and stops it (fini writes and closes the output). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "netcore/mock.h"

extern const nc_module netcore_module;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char opts[256], err[1024];
    snprintf(opts, sizeof opts, "{\"output\": \"/dev/null\", \"format\": \"%s\", \"reply\": \"%s\"}",
             data[0] & 1 ? "text" : "json", data[0] & 2 ? "echo" : "none");
    nc_mock_config cfg = {.options = opts};
    nc_mock *mk = nc_mock_start(&netcore_module, &cfg, err, sizeof err);
    if (!mk) {
        fprintf(stderr, "fuzz_udp: %s\n", err);
        abort();
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
        d[n].recv_time_us = 1763770000123456LL + (int64_t)i;
        n++;
        i += len;
    }
    if (n)
        nc_mock_datagrams(mk, d, n);
    nc_mock_advance(mk, 100); /* the flush tick */
    if (nc_mock_free(mk) != 0)
        abort();
    return 0;
}
