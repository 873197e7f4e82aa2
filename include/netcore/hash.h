/* hash.h -- FNV-1a, the one string/byte hash of the core and the modules
 * (hash tables of peers, cache keys, nicknames); header-only, so using it
 * changes no ABI.  Not for keys an attacker picks to collide on purpose
 * into one unbounded chain: bound the chains, or key a hash with a secret. */
#ifndef NETCORE_HASH_H
#define NETCORE_HASH_H

#include <stddef.h>
#include <stdint.h>

/* ---- Hashing ----------------------------------------------------------- */

/* FNV-1a (64-bit) of p[0..n). */
static inline uint64_t nc_hash_bytes(const void *p, size_t n)
{
    const unsigned char *b = (const unsigned char *)p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* FNV-1a (64-bit) of a NUL-terminated string, without the NUL. */
static inline uint64_t nc_hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

#endif /* NETCORE_HASH_H */
