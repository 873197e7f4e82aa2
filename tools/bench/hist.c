/* hist.c -- the log-linear histogram.  Bucket index: for v < HIST_SUB the
 * value itself (exact); above, the exponent e = floor(log2 v) - SUB_BITS + 1
 * picks a row and the top SUB_BITS bits below the leading one pick the
 * column, so every row has the same relative resolution. */
#include "hist.h"

#include <stdlib.h>
#include <string.h>

void hist_init(hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

static size_t index_of(uint64_t v)
{
    if (v < HIST_SUB)
        return (size_t)v;
    unsigned lz = (unsigned)__builtin_clzll(v);
    unsigned msb = 63 - lz;                 /* >= SUB_BITS */
    unsigned e = msb - HIST_SUB_BITS + 1;   /* row, >= 1 */
    if (e >= HIST_EXPS)
        return HIST_EXPS * HIST_SUB - 1;
    uint64_t sub = (v >> (e - 1)) & (HIST_SUB - 1); /* SUB_BITS bits after the leading 1 */
    return (size_t)e * HIST_SUB + (size_t)(sub >> 1) + HIST_SUB / 2;
}

/* The largest value that maps to bucket i. */
static uint64_t upper_of(size_t i)
{
    size_t e = i / HIST_SUB, s = i % HIST_SUB;
    if (e == 0)
        return s;
    /* row e holds [2^(e+SUB_BITS-1), 2^(e+SUB_BITS)) in SUB/2 steps of 2^e */
    uint64_t base = (uint64_t)1 << (e + HIST_SUB_BITS - 1);
    uint64_t step = (uint64_t)1 << e;
    return base + (uint64_t)(s - HIST_SUB / 2) * step + step - 1;
}

void hist_record(hist *h, uint64_t v)
{
    h->buckets[index_of(v)]++;
    h->count++;
    h->sum += (long double)v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

void hist_merge(hist *into, const hist *from)
{
    for (size_t i = 0; i < HIST_EXPS * HIST_SUB; i++)
        into->buckets[i] += from->buckets[i];
    into->count += from->count;
    into->sum += from->sum;
    if (from->min < into->min)
        into->min = from->min;
    if (from->max > into->max)
        into->max = from->max;
}

uint64_t hist_quantile(const hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q <= 0)
        return h->min;
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.5);
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_EXPS * HIST_SUB; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t v = upper_of(i);
            return v > h->max ? h->max : v < h->min ? h->min : v;
        }
    }
    return h->max;
}

double hist_mean(const hist *h)
{
    return h->count ? (double)(h->sum / (long double)h->count) : 0.0;
}

void hist_foreach(const hist *h, void (*cb)(uint64_t v, double frac, void *arg), void *arg)
{
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_EXPS * HIST_SUB && seen < h->count; i++) {
        if (!h->buckets[i])
            continue;
        seen += h->buckets[i];
        uint64_t v = upper_of(i);
        cb(v > h->max ? h->max : v, (double)seen / (double)h->count, arg);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double stat_median(const double *v, size_t n)
{
    if (n == 0)
        return 0;
    double *c = malloc(n * sizeof *c);
    if (!c)
        return v[0];
    memcpy(c, v, n * sizeof *c);
    qsort(c, n, sizeof *c, cmp_double);
    double m = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
    free(c);
    return m;
}
