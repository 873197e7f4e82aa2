/* stats.h -- server-wide statistics in shared memory: the master maps one
 * region before forking; every worker publishes its listeners' figures and
 * module counters into its own slot (once a second, and when asked), and
 * nc_stats_json() reads them all.  Figures are written and read with
 * relaxed atomic stores and loads (NC_STAT_SET, NC_STAT_GET): a reader may
 * see one second-old figures, never torn values, on any architecture. */
#ifndef NC_CORE_STATS_H
#define NC_CORE_STATS_H

#include <stdint.h>
#include <sys/types.h>

/* Worker processes of every generation alive at once: up to 64 serving
 * plus those of earlier generations still draining after reloads. */
#define NC_STATS_WORKERS 256
#define NC_STATS_LISTENERS 64
#define NC_STATS_COUNTERS 16

/* Every figure in the region is read and written through these. */
#define NC_STAT_SET(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)
#define NC_STAT_GET(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

typedef struct nc__stat_counter {
    char name[40];
    uint64_t value;
} nc__stat_counter;

typedef struct nc__stat_listener {
    char name[72];
    char module[40];
    uint64_t conns_open, conns_total, bytes_in, bytes_out, refused, errors, queued, fds;
    uint32_t ncounters;
    nc__stat_counter counters[NC_STATS_COUNTERS];
    uint64_t throttled_files, shed_memory, shed_files; /* the output limits (conn.c) */
    uint64_t closed_idle, closed_send_timeout, closed_slow, closed_input, hook_ns;
    uint64_t tls_handshakes, tls_handshake_failures, tls_handshake_timeouts, tls_handshakes_refused;
    uint64_t tls_resumed, tls_fail_not_tls, tls_fail_negotiation, tls_fail_client_cert;
} nc__stat_listener;

typedef struct nc__stat_worker {
    int32_t pid;         /* 0: slot free */
    uint32_t index;      /* position in its generation */
    uint32_t generation;
    uint32_t restarts;   /* of this index, since the master started */
    int32_t draining;
    uint32_t nlisteners;
    uint64_t conns;
    int64_t started_ms;  /* wall clock */
    nc__stat_listener l[NC_STATS_LISTENERS];
    /* What did not fit: listeners past NC_STATS_LISTENERS, counters past
     * NC_STATS_COUNTERS (of all its listeners); logged once, counted here. */
    uint32_t unpublished_listeners, unpublished_counters;
} nc__stat_worker;

typedef struct nc__stats {
    int32_t master_pid;
    uint32_t generation;
    uint32_t reloads;
    uint32_t nworkers;   /* of the current generation */
    int64_t started_ms;
    nc__stat_worker w[NC_STATS_WORKERS];
} nc__stats;

/* The region (NULL before nc__stats_map). */
extern nc__stats *nc__shm;
/* This process's slot (NULL in the master). */
extern nc__stat_worker *nc__my_slot;

int nc__stats_map(void);
/* Copy this worker's current figures into its slot. */
void nc__stats_publish(void);
int64_t nc__wall_ms(void);

#endif
