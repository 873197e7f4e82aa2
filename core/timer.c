/* timer.c -- the timer heap.  Ownership: a timer is owned by the heap from
 * start until stop (or, for a one-shot, until its callback returns). */
#include "timer.h"

#include <errno.h>
#include <stdlib.h>

#include "nc_assert.h"

nc__timers nc__timer_heap;

static int earlier(const nc_timer *a, const nc_timer *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void place(nc__timers *ts, size_t i, nc_timer *t)
{
    ts->heap[i] = t;
    t->idx = i;
}

static void sift_up(nc__timers *ts, size_t i)
{
    nc_timer *t = ts->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!earlier(t, ts->heap[p]))
            break;
        place(ts, i, ts->heap[p]);
        i = p;
    }
    place(ts, i, t);
}

static void sift_down(nc__timers *ts, size_t i)
{
    nc_timer *t = ts->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        nc_timer *best = t;
        if (l < ts->n && earlier(ts->heap[l], best)) {
            m = l;
            best = ts->heap[l];
        }
        if (l + 1 < ts->n && earlier(ts->heap[l + 1], best))
            m = l + 1;
        if (m == i)
            break;
        place(ts, i, ts->heap[m]);
        i = m;
    }
    place(ts, i, t);
}

/* The heap's invariant around slot i: its timer knows its slot, and it is
 * not earlier than its parent nor later than its children. */
static int heap_ok_at(const nc__timers *ts, size_t i)
{
    if (i >= ts->n)
        return 1;
    const nc_timer *t = ts->heap[i];
    if (t->idx != i || (i > 0 && earlier(t, ts->heap[(i - 1) / 2])))
        return 0;
    for (size_t c = 2 * i + 1; c <= 2 * i + 2 && c < ts->n; c++)
        if (earlier(ts->heap[c], t))
            return 0;
    return 1;
}

/* Into a heap with room for it. */
static void heap_insert(nc__timers *ts, nc_timer *t)
{
    t->seq = ts->seq++;
    place(ts, ts->n++, t);
    sift_up(ts, t->idx);
    NC_ASSERT(heap_ok_at(ts, t->idx) && heap_ok_at(ts, 0));
}

static int heap_push(nc__timers *ts, nc_timer *t)
{
    if (ts->n + ts->held >= ts->cap) {
        size_t cap = ts->cap ? ts->cap * 2 : 16;
        nc_timer **h = realloc(ts->heap, cap * sizeof *h);
        if (!h)
            return -ENOMEM;
        ts->heap = h;
        ts->cap = cap;
    }
    heap_insert(ts, t);
    return 0;
}


static void heap_remove(nc__timers *ts, nc_timer *t)
{
    size_t i = t->idx;
    NC_ASSERT(i < ts->n && ts->heap[i] == t); /* a stopped timer is stopped once */
    t->idx = SIZE_MAX;
    ts->n--;
    if (i == ts->n)
        return;
    place(ts, i, ts->heap[ts->n]);
    sift_down(ts, i);
    sift_up(ts, ts->heap[i]->idx);
    NC_ASSERT(heap_ok_at(ts, i) && heap_ok_at(ts, 0));
}

nc_timer *nc__timer_start(nc__timers *ts, uint64_t now, uint64_t after, uint64_t repeat,
                          nc_timer_cb cb, void *arg)
{
    nc_timer *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->when = now + after;
    t->repeat = repeat;
    t->cb = cb;
    t->arg = arg;
    if (heap_push(ts, t) < 0) {
        free(t);
        return NULL;
    }
    return t;
}

void nc__timer_stop(nc__timers *ts, nc_timer *t)
{
    if (!t)
        return;
    if (t->idx != SIZE_MAX)
        heap_remove(ts, t);
    if (t->running)
        t->stopped = 1; /* freed by nc__timers_run when the callback returns */
    else
        free(t);
}

int64_t nc__timers_timeout(const nc__timers *ts, uint64_t now)
{
    if (ts->n == 0)
        return -1;
    uint64_t w = ts->heap[0]->when;
    return w <= now ? 0 : (int64_t)(w - now);
}

unsigned nc__timers_run(nc__timers *ts, uint64_t now)
{
    unsigned ran = 0;
    // NOLINTNEXTLINE(clang-analyzer-unix.Malloc): a stopped timer leaves the heap before it is freed
    while (ts->n > 0 && ts->heap[0]->when <= now) {
        nc_timer *t = ts->heap[0];
        heap_remove(ts, t);
        size_t again = t->repeat != 0;
        ts->held += again; /* its slot stays reserved while it runs */
        t->running = 1;
        t->cb(t, t->arg);
        t->running = 0;
        ts->held -= again;
        ran++;
        if (t->stopped || !again) {
            free(t);
        } else {
            /* Back into the slot kept for it: freeing it here would leave
             * the module holding a dangling handle it will stop later. */
            t->when = now + t->repeat;
            heap_insert(ts, t);
        }
    }
    return ran;
}

void nc__timers_free(nc__timers *ts)
{
    for (size_t i = 0; i < ts->n; i++)
        free(ts->heap[i]);
    free(ts->heap);
    ts->heap = NULL;
    ts->n = ts->cap = 0;
}
