/* sink.h -- where udp-receiver's records go: stdout or a file, written
 * through the page cache from the reactor, or (direct_io) by a writer
 * thread of the sink's own with O_DIRECT.  Reactor thread only. */
#ifndef UDPRECV_SINK_H
#define UDPRECV_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "netcore/netcore.h"

typedef struct sink sink;

typedef struct sink_conf {
    const char *path;     /* "-" for stdout */
    int direct;           /* direct_io: O_DIRECT for a regular file, if the file system has it */
    size_t max_buffer;    /* bytes of records held in memory at most */
    long long writeback;  /* buffered mode: write-behind step in bytes (0: off) */
    nc_listener *l;       /* for log lines */
    uint64_t *c_write_errors, *c_lost; /* counters the sink bumps (may be NULL) */
} sink_conf;

/* Open the output.  0, or -errno (nothing to free).  The sink keeps c's
 * strings and counters; they must outlive it. */
int sink_open(sink **out, const sink_conf *c);

/* Room for n bytes of records at the end; NULL when the memory bound is
 * reached (the caller counts the record as lost).  Finish with
 * sink_commit(s, used), used <= n, before the next call. */
char *sink_reserve(sink *s, size_t n);
void sink_commit(sink *s, size_t used);

/* Timer: hand what is buffered to the file, and report write errors. */
void sink_flush(sink *s);

/* Log rotation: what is buffered goes to the old file, from here on
 * records go to a new file at the same path.  0, or -errno (the old file
 * stays in use). */
int sink_reopen(sink *s);

/* Shutdown: write everything (waiting for the disk: this blocks), fsync,
 * close, free. */
void sink_close(sink *s);

/* 1 when records are written with O_DIRECT. */
int sink_is_direct(const sink *s);

#endif
