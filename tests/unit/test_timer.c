/* test_timer.c -- unit tests of core/timer.c: ordering, repetition, stopping
 * from inside a callback, and the timeout the loop sleeps for. */
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"
#include "timer.h"

static char order[64];
static size_t norder;

static void mark(nc_timer *t, void *arg)
{
    (void)t;
    order[norder++] = *(const char *)arg;
}

static void test_order(void)
{
    nc__timers ts = {0};
    norder = 0;
    static const char a = 'a', b = 'b', c = 'c', d = 'd';
    nc__timer_start(&ts, 0, 30, 0, mark, (void *)&c);
    nc__timer_start(&ts, 0, 10, 0, mark, (void *)&a);
    nc__timer_start(&ts, 0, 20, 0, mark, (void *)&b);
    nc__timer_start(&ts, 0, 20, 0, mark, (void *)&d); /* same deadline: FIFO */
    CU_ASSERT_EQUAL(nc__timers_timeout(&ts, 0), 10);
    CU_ASSERT_EQUAL(nc__timers_run(&ts, 5), 0);
    CU_ASSERT_EQUAL(nc__timers_run(&ts, 25), 3);
    CU_ASSERT_EQUAL(nc__timers_timeout(&ts, 25), 5);
    CU_ASSERT_EQUAL(nc__timers_run(&ts, 100), 1);
    order[norder] = '\0';
    CU_ASSERT_STRING_EQUAL(order, "abdc");
    CU_ASSERT_EQUAL(nc__timers_timeout(&ts, 100), -1);
    nc__timers_free(&ts);
}

static int fired;
static void count(nc_timer *t, void *arg)
{
    (void)t;
    (void)arg;
    fired++;
}

static void test_repeat_and_stop(void)
{
    nc__timers ts = {0};
    fired = 0;
    nc_timer *t = nc__timer_start(&ts, 0, 10, 10, count, NULL);
    nc__timers_run(&ts, 10);
    nc__timers_run(&ts, 20);
    nc__timers_run(&ts, 30);
    CU_ASSERT_EQUAL(fired, 3);
    /* A stalled loop does not fire a burst of catch-up calls. */
    nc__timers_run(&ts, 1000);
    CU_ASSERT_EQUAL(fired, 4);
    nc__timer_stop(&ts, t);
    nc__timers_run(&ts, 5000);
    CU_ASSERT_EQUAL(fired, 4);
    CU_ASSERT_EQUAL(ts.n, 0);
    nc__timers_free(&ts);
}

static nc__timers *self_ts;
static void stop_self(nc_timer *t, void *arg)
{
    (void)arg;
    fired++;
    nc__timer_stop(self_ts, t);
}

static void test_stop_inside_callback(void)
{
    nc__timers ts = {0};
    self_ts = &ts;
    fired = 0;
    nc__timer_start(&ts, 0, 5, 5, stop_self, NULL);
    nc__timers_run(&ts, 5);
    nc__timers_run(&ts, 10);
    CU_ASSERT_EQUAL(fired, 1);
    CU_ASSERT_EQUAL(ts.n, 0);
    nc__timers_free(&ts);
}

static void test_heap_many(void)
{
    nc__timers ts = {0};
    nc_timer *all[1000];
    srand(42);
    for (int i = 0; i < 1000; i++)
        all[i] = nc__timer_start(&ts, 0, (uint64_t)(rand() % 500), 0, count, NULL);
    for (int i = 0; i < 1000; i += 3)
        nc__timer_stop(&ts, all[i]); /* removal from the middle keeps the heap valid */
    fired = 0;
    uint64_t prev = 0;
    for (uint64_t now = 0; now <= 500; now++) {
        if (ts.n) {
            CU_ASSERT(ts.heap[0]->when >= prev);
            prev = ts.heap[0]->when;
        }
        nc__timers_run(&ts, now);
    }
    CU_ASSERT_EQUAL(fired, 1000 - 334);
    nc__timers_free(&ts);
}

/* A repeating timer's callback fills the heap; the timer must still be able
 * to go back without an allocation (one that failed used to free the timer
 * while the module held it, to be stopped later: a use after free). */
static nc__timers *fill_ts;
static int fill_room, fill_runs;
static void fill_heap(nc_timer *t, void *arg)
{
    (void)t;
    (void)arg;
    fill_runs++;
    /* Take every free slot there is (the heap grows only when it must). */
    for (int i = 0; i < 64 && fill_ts->n < fill_ts->cap; i++)
        nc__timer_start(fill_ts, 0, 100000, 0, count, NULL);
    fill_room = fill_ts->n < fill_ts->cap;
}

static void test_repeat_keeps_its_slot(void)
{
    nc__timers ts = {0};
    fill_ts = &ts;
    fill_runs = 0;
    nc_timer *t = nc__timer_start(&ts, 0, 10, 10, fill_heap, NULL);
    nc__timers_run(&ts, 10);
    CU_ASSERT_EQUAL(fill_runs, 1);
    CU_ASSERT(fill_room); /* room kept for it while it ran */
    CU_ASSERT_EQUAL(t->idx != SIZE_MAX, 1); /* back in the heap */
    nc__timers_run(&ts, 20);
    CU_ASSERT_EQUAL(fill_runs, 2);
    nc__timer_stop(&ts, t);
    nc__timers_free(&ts);
}

int add_timer_suite(void)
{
    CU_pSuite s = CU_add_suite("timer", NULL, NULL);
    if (!s || !CU_add_test(s, "timers fire in deadline order, FIFO on ties", test_order) ||
        !CU_add_test(s, "repeating timers repeat and stop", test_repeat_and_stop) ||
        !CU_add_test(s, "a timer may stop itself", test_stop_inside_callback) ||
        !CU_add_test(s, "1000 timers with removals stay ordered", test_heap_many) ||
        !CU_add_test(s, "a repeating timer keeps its slot while it runs", test_repeat_keeps_its_slot))
        return -1;
    return 0;
}
