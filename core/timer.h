/* timer.h -- a binary min-heap of timers keyed by monotonic milliseconds;
 * the reactor keeps one and runs what is due before each epoll_wait. */
#ifndef NC_CORE_TIMER_H
#define NC_CORE_TIMER_H

#include <stddef.h>
#include <stdint.h>

#include "netcore/netcore.h"

struct nc_timer {
    uint64_t when;   /* deadline, ms */
    uint64_t repeat; /* 0: one-shot */
    uint64_t seq;    /* insertion order: equal deadlines fire FIFO */
    nc_timer_cb cb;
    void *arg;
    size_t idx;      /* position in the heap; SIZE_MAX when not in it */
    int running;     /* inside its callback */
    int stopped;     /* nc_timer_stop called while running */
};

/* Invariant: n + held <= cap.  `held` counts the repeating timers taken out
 * of the heap to run (at most one): their slots stay reserved, so putting
 * one back never allocates and cannot fail while the module holds it. */
typedef struct nc__timers {
    nc_timer **heap;
    size_t n, cap;
    size_t held;
    uint64_t seq;
} nc__timers;

/* Allocate and schedule; NULL when out of memory. */
nc_timer *nc__timer_start(nc__timers *ts, uint64_t now, uint64_t after, uint64_t repeat,
                          nc_timer_cb cb, void *arg);
void nc__timer_stop(nc__timers *ts, nc_timer *t);
/* Milliseconds until the next deadline, or -1 when there is none. */
int64_t nc__timers_timeout(const nc__timers *ts, uint64_t now);
/* Run every timer due at `now`; returns how many ran.  A repeating timer is
 * rescheduled from `now`, so a stalled loop does not fire a burst. */
unsigned nc__timers_run(nc__timers *ts, uint64_t now);
/* Free every timer (at exit). */
void nc__timers_free(nc__timers *ts);

/* The process's timer heap, used by the public nc_timer_* API. */
extern nc__timers nc__timer_heap;

#endif
