/* hist.h -- a log-linear latency histogram (3 significant digits, constant
 * memory, O(1) record) and the small statistics netcore-bench quotes. */
#ifndef NCB_HIST_H
#define NCB_HIST_H

#include <stddef.h>
#include <stdint.h>

/* Values are nanoseconds from 1 ns to ~2^51 ns (26 days).  Each power of
 * two is split into HIST_SUB/2 linear sub-buckets, so a recorded value is
 * reported within 1/HIST_SUB (0.1%) of itself. */
#define HIST_SUB_BITS 11
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_EXPS 41

typedef struct hist {
    uint64_t count;
    uint64_t min, max;
    long double sum;
    uint64_t buckets[HIST_EXPS * HIST_SUB];
} hist;

void hist_init(hist *h);
void hist_record(hist *h, uint64_t v);
void hist_merge(hist *into, const hist *from);
/* The value at quantile q (0..1): the upper edge of the bucket holding the
 * q-th value, clamped to the recorded max; 0 when empty. */
uint64_t hist_quantile(const hist *h, double q);
double hist_mean(const hist *h);
/* Calls cb(value, cumulative fraction) once per non-empty bucket, in order:
 * the points of a CDF. */
void hist_foreach(const hist *h, void (*cb)(uint64_t v, double frac, void *arg), void *arg);

/* Median of n doubles (sorts a copy); 0 when n == 0. */
double stat_median(const double *v, size_t n);

#endif
