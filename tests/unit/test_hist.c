/* test_hist.c -- unit tests of tools/bench/hist.c: quantiles within the
 * histogram's resolution, merge, and the median used for rounds. */
#include <CUnit/CUnit.h>
#include <stdlib.h>

#include "hist.h"
#include "suites.h"

static int close_to(uint64_t got, uint64_t want)
{
    /* 3 significant digits: within 0.1% (plus one for tiny values). */
    uint64_t tol = want / 1000 + 1;
    return got + tol >= want && got <= want + tol;
}

static void test_exact_small(void)
{
    hist *h = malloc(sizeof *h);
    hist_init(h);
    for (uint64_t v = 1; v <= 1000; v++)
        hist_record(h, v);
    CU_ASSERT_EQUAL(h->count, 1000);
    CU_ASSERT_EQUAL(hist_quantile(h, 0.5), 500);
    CU_ASSERT_EQUAL(hist_quantile(h, 0.99), 990);
    CU_ASSERT_EQUAL(hist_quantile(h, 1.0), 1000);
    CU_ASSERT_EQUAL(hist_quantile(h, 0.0), 1);
    CU_ASSERT_DOUBLE_EQUAL(hist_mean(h), 500.5, 0.001);
    free(h);
}

static void test_resolution(void)
{
    hist *h = malloc(sizeof *h);
    static const uint64_t vals[] = {1500, 123456, 9876543, 3000000000ull, 77777777777ull};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        hist_init(h);
        /* 999 small values and one large: p99.9 is the large one's bucket. */
        for (int k = 0; k < 999; k++)
            hist_record(h, 10);
        hist_record(h, vals[i]);
        CU_ASSERT(close_to(hist_quantile(h, 1.0), vals[i]));
        CU_ASSERT_EQUAL(h->max, vals[i]);
        hist_init(h);
        for (int k = 0; k < 100; k++)
            hist_record(h, vals[i] + (uint64_t)k);
        uint64_t p50 = hist_quantile(h, 0.5);
        CU_ASSERT(close_to(p50, vals[i] + 49));
    }
    free(h);
}

static void test_merge_and_cdf(void)
{
    hist *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    hist_init(a);
    hist_init(b);
    for (int i = 0; i < 100; i++)
        hist_record(a, 100);
    for (int i = 0; i < 100; i++)
        hist_record(b, 100000);
    hist_merge(a, b);
    CU_ASSERT_EQUAL(a->count, 200);
    CU_ASSERT_EQUAL(a->min, 100);
    CU_ASSERT_EQUAL(a->max, 100000);
    CU_ASSERT_EQUAL(hist_quantile(a, 0.25), 100);
    CU_ASSERT(close_to(hist_quantile(a, 0.75), 100000));
    free(a);
    free(b);
}

static void test_median(void)
{
    double odd[] = {5, 1, 3}, even[] = {4, 1, 3, 2};
    CU_ASSERT_DOUBLE_EQUAL(stat_median(odd, 3), 3, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(stat_median(even, 4), 2.5, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(stat_median(odd, 0), 0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(odd[0], 5, 1e-9); /* the input is not reordered */
}

int add_hist_suite(void)
{
    CU_pSuite s = CU_add_suite("hist", NULL, NULL);
    if (!s || !CU_add_test(s, "small values are exact", test_exact_small) ||
        !CU_add_test(s, "large values within 0.1%", test_resolution) ||
        !CU_add_test(s, "merge keeps counts, min, max, quantiles", test_merge_and_cdf) ||
        !CU_add_test(s, "median of rounds", test_median))
        return -1;
    return 0;
}
