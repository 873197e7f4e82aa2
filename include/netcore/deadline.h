/* deadline.h -- "this message must be complete by then": per-connection
 * deadlines for modules, built only on the public API (nc_timer, nc_close,
 * nc_log), header-only so that using it changes no ABI.  See
 * docs/hardening.md (slowloris) for why every protocol needs one.
 *
 * A module keeps one nc_deadlines per listener (its instance) and one
 * nc_deadline per connection.  Since a listener's timeout is fixed, arming
 * appends to a list that stays sorted by due time: arm, disarm and the
 * sweep's pop are O(1), whatever the number of connections.  The sweep timer
 * starts at the first arm (never during init or `netcore -t`) and stops in
 * nc_deadlines_stop, which fini must call.  Expired connections get the
 * module's `expired` callback (to say why), then NC_CLOSE_FLUSH; the log
 * gets at most one line a second however many expire, with the count. */
#ifndef NETCORE_DEADLINE_H
#define NETCORE_DEADLINE_H

#include "netcore/netcore.h"

typedef struct nc_deadline {
    struct nc_deadline *prev, *next;
    nc_conn *c;
    uint64_t due; /* 0: not armed */
} nc_deadline;

typedef struct nc_deadlines {
    nc_deadline *head, *tail; /* armed entries, earliest due first */
    uint64_t timeout_ms;      /* 0: off (arming does nothing) */
    const char *what;         /* for the log: "a complete line" */
    const char *key;          /* the option: "line_timeout_ms" */
    uint64_t *counter;        /* bumped per expiry; may be NULL */
    void (*expired)(nc_conn *c); /* may be NULL; called before the close */
    nc_timer *sweep;
    uint64_t last_log_ms;
    unsigned unlogged;        /* expiries not yet in a log line */
} nc_deadlines;

static inline void nc_deadlines_sweep_(nc_timer *t, void *arg)
{
    (void)t;
    nc_deadlines *d = arg;
    uint64_t now = nc_now_ms();
    while (d->head && d->head->due <= now) {
        nc_deadline *e = d->head;
        d->head = e->next;
        if (d->head)
            d->head->prev = NULL;
        else
            d->tail = NULL;
        e->prev = e->next = NULL;
        e->due = 0;
        if (d->counter)
            (*d->counter)++;
        /* The first expiry of a quiet second is logged with its connection;
         * the rest of a flood is counted into one line a second later. */
        if (++d->unlogged == 1 && now - d->last_log_ms >= 1000) {
            nc_log_conn(e->c, NC_LOG_INFO, "%s not received within %s (%llu); closing", d->what, d->key,
                        (unsigned long long)d->timeout_ms);
            d->unlogged = 0;
            d->last_log_ms = now;
        }
        if (d->expired)
            d->expired(e->c);
        nc_close(e->c, NC_CLOSE_FLUSH);
    }
    if (d->unlogged && now - d->last_log_ms >= 1000) {
        nc_log(NC_LOG_INFO, "%u connections closed: %s not received within %s (%llu)", d->unlogged, d->what,
               d->key, (unsigned long long)d->timeout_ms);
        d->unlogged = 0;
        d->last_log_ms = now;
    }
}

/* Set up the list for a listener (in init).  Never fails. */
static inline void nc_deadlines_init(nc_deadlines *d, uint64_t timeout_ms, const char *what, const char *key,
                                     uint64_t *counter, void (*expired)(nc_conn *c))
{
    *d = (nc_deadlines){.timeout_ms = timeout_ms, .what = what, .key = key, .counter = counter,
                        .expired = expired};
}

/* Stop the sweep (in fini; every connection has closed by then). */
static inline void nc_deadlines_stop(nc_deadlines *d)
{
    if (d->sweep)
        nc_timer_stop(d->sweep);
    d->sweep = NULL;
}

static inline int nc_deadline_armed(const nc_deadline *e)
{
    return e->due != 0;
}

/* Start e's clock now, unless it is running already.  Out of memory for
 * the sweep timer: the deadline is not enforced until a later arm starts
 * it (the core's idle_timeout_ms still applies). */
static inline void nc_deadline_arm(nc_deadlines *d, nc_deadline *e, nc_conn *c)
{
    if (e->due || !d->timeout_ms)
        return;
    if (!d->sweep) {
        uint64_t period = d->timeout_ms / 4;
        period = period > 250 ? 250 : period < 5 ? 5 : period;
        d->sweep = nc_timer_start(period, period, nc_deadlines_sweep_, d);
    }
    e->c = c;
    e->due = nc_now_ms() + d->timeout_ms;
    e->next = NULL;
    e->prev = d->tail;
    if (d->tail)
        d->tail->next = e;
    else
        d->head = e;
    d->tail = e;
}

/* Stop e's clock (the message is complete, or the connection closes). */
static inline void nc_deadline_disarm(nc_deadlines *d, nc_deadline *e)
{
    if (!e->due)
        return;
    if (e->prev)
        e->prev->next = e->next;
    else
        d->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        d->tail = e->prev;
    e->prev = e->next = NULL;
    e->due = 0;
}

#endif /* NETCORE_DEADLINE_H */
