/* mock.h -- the mock core: every function of netcore.h implemented over
 * memory, with a driver API, so a module's hooks run inside a test or a
 * fuzzer: requests in, exact bytes out, a fake clock, no sockets, no threads.
 * Link libnetcore-mock.a (pkg-config netcore-mock) into the test instead of
 * the core; see docs/writing-modules.md, "Testing your module in process". */
#ifndef NETCORE_MOCK_H
#define NETCORE_MOCK_H

#include <stddef.h>
#include <stdint.h>

#include "netcore/netcore.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One mock core serves one listener.  The public API has no handle for
 * timers, work, nc_now_ms, nc_draining or nc_stats_json, so they are the
 * process's: at most one mock is alive per process at a time (nc_mock_start
 * refuses a second one), and everything runs on the calling thread.  Not
 * thread-safe.
 *
 * Turns.  The real core settles deferred work at the end of every loop turn:
 * input held while paused or throttled is handed over again, closed
 * connections get their on_close, once.  Every nc_mock_* call that can run
 * a hook ends with such a turn, so when it returns nothing is left pending
 * but timers (nc_mock_advance) and work (nc_mock_run_work).
 *
 * What the mock does not model: the core's idle_timeout_ms and
 * send_timeout_ms (they belong to the core, not to a module), the per-IP
 * and global connection limits, the worker-wide output caps and the write
 * budget (the peer reads what it asks for, when it asks). */
typedef struct nc_mock nc_mock;

/* nc_mock_config.flags */
#define NC_MOCK_NO_LISTEN 0x1u  /* init only, as `netcore -t`: no socket, no on_listen, no connections */
#define NC_MOCK_LOG_STDERR 0x2u /* also write each recorded log line to stderr (debugging a test) */

typedef struct nc_mock_config {
    const char *name;        /* listener name; NULL: "mock" */
    const char *listen;      /* nc_listener_addr's text; NULL: "127.0.0.1:7000" ("udp" transport too) */
    /* "tcp", "udp" or "unix"; NULL: "unix" for a "unix:" address, "udp"
     * for a module that serves only datagrams, else "tcp". */
    const char *transport;
    const char *options;     /* the listener's "options", JSON object text; NULL: none */
    const char *config_file; /* named in option errors; NULL: "mock.json" */
    const char *config_dir;  /* relative nc_opt_path values resolve here; NULL: "." */
    unsigned flags;          /* NC_MOCK_* */
    /* The listener's limits, as in netcore.json; 0 means the core's default. */
    long long max_input_bytes;  /* default 1 MiB */
    long long max_output_bytes; /* default 16 MiB */
    long long max_queued_files; /* default 32 */
} nc_mock_config;

/* Load a module as the core does: dlopen(RTLD_NOW | RTLD_LOCAL), then the
 * loader's checks of the descriptor (magic, ABI, size, reserved fields,
 * name, flags and their hooks).  The test binary must export the nc_*
 * functions to the module: link it with -rdynamic (pkg-config's Libs do).
 * Returns the descriptor (the library stays loaded until the process
 * exits), or NULL with the core's one-line reason in err. */
NC_EXPORT const nc_module *nc_mock_load(const char *so_path, char *err, size_t errlen);

/* Start m on a listener: the transport check, init with the options
 * (errors and unknown keys reported exactly as the core reports them), then
 * -- unless NC_MOCK_NO_LISTEN -- a real socket of the listener's kind
 * (unbound: setsockopt works, nothing is received on it) for
 * nc_listener_fd, and on_listen.  cfg may be NULL (all defaults).  The
 * clock starts at 1,000,000 ms.  Returns the mock, or NULL with the text the
 * core would print (without its "netcore: " prefix) in err; after a failure
 * fini has run if init had succeeded, as in the core. */
NC_EXPORT nc_mock *nc_mock_start(const nc_module *m, const nc_mock_config *cfg, char *err,
                                 size_t errlen);

/* Stop as the core stops: every open connection is closed (on_close),
 * queued work is run (the core waits for it), then fini.  Then it checks
 * what the module left behind: timers still armed, nc_shared buffers not
 * released, work submitted and never done, and API calls made on a
 * connection after its on_close.  Returns 0 when there was nothing, else
 * -1 after writing one line per finding to stderr.  Frees the mock and
 * every connection record; NULL returns 0. */
NC_EXPORT int nc_mock_free(nc_mock *mk);

/* The listener the module sees (for calling a hook directly). */
NC_EXPORT nc_listener *nc_mock_listener(nc_mock *mk);

/* ---- Connections -------------------------------------------------------- */

/* A peer connects from `peer` ("10.0.0.2:40000", "[::1]:5000", "unix";
 * NULL: "127.0.0.1:40000").  Returns the connection after on_accept, or
 * NULL when on_accept refused it (then no on_close follows) or the address
 * does not parse (said on stderr).  The record is the mock's and stays readable after the
 * connection closed, until nc_mock_free.  A udp listener, or one started
 * with NC_MOCK_NO_LISTEN, takes no connections (NULL, said on stderr);
 * likewise only a udp listener takes datagrams. */
NC_EXPORT nc_conn *nc_mock_accept(nc_mock *mk, const char *peer);
/* The same, but returns the record also when on_accept refused: the core
 * still sends a refused connection's last words (then closes it, with no
 * on_close), and the test may want to read them. */
NC_EXPORT nc_conn *nc_mock_connect(nc_mock *mk, const char *peer);
/* 1 when on_accept refused the connection. */
NC_EXPORT int nc_mock_refused(const nc_conn *c);

/* The peer sends len bytes.  They are read as the core reads them: in reads
 * of up to 64 KiB, each handed to on_data with whatever the module left
 * unconsumed before it, on_data called again while it consumes; nothing is
 * read while the module paused the connection or while its output is
 * above the watermark (the bytes wait, as in the socket, and are read when
 * that ends); unconsumed input above max_input_bytes, or on_data returning
 * -1 or more than it was given, closes it (abort).  Returns 0 while the
 * connection is open, -1 when it is closing or closed (bytes sent to a
 * closed connection are dropped). */
NC_EXPORT int nc_mock_feed(nc_conn *c, const void *data, size_t len);
/* The same for a NUL-terminated string. */
NC_EXPORT int nc_mock_feeds(nc_conn *c, const char *s);
/* The peer shuts its sending side down: once the input before it is read,
 * on_eof runs (or, without one, the connection closes after its output is
 * read).  Returns as nc_mock_feed. */
NC_EXPORT int nc_mock_eof(nc_conn *c);
/* The peer resets the connection: its output is dropped, on_close runs. */
NC_EXPORT void nc_mock_hangup(nc_conn *c);

/* Output the module queued and the peer has not read yet (memory, shared
 * and file regions), in bytes. */
NC_EXPORT size_t nc_mock_pending(const nc_conn *c);
/* The peer reads up to n bytes of output into buf (file regions are read
 * from their file with pread then, as sendfile would).  When that empties
 * the queue, on_writable runs, or a close waiting for the flush happens.
 * Returns the count read, 0 when nothing is queued. */
NC_EXPORT size_t nc_mock_read(nc_conn *c, void *buf, size_t n);
/* Read until nothing more comes (on_writable may queue more), at most
 * 64 MiB.  Returns a malloc'd, NUL-terminated copy (free() it) with the
 * count in *len (len may be NULL), or NULL when out of memory. */
NC_EXPORT char *nc_mock_read_all(nc_conn *c, size_t *len);

/* What became of a connection: NC_MOCK_OPEN; NC_MOCK_FLUSHING, nc_close
 * (FLUSH) with output unread (it closes once the peer read it);
 * NC_MOCK_CLOSED_FLUSH, closed after its output was read; ..._ABORT,
 * aborted by the module, by on_data's -1 or by a limit of the core;
 * ..._PEER, reset by the peer (nc_mock_hangup); ..._STOP, closed by
 * nc_mock_free. */
enum nc_mock_state {
    NC_MOCK_OPEN = 0, NC_MOCK_FLUSHING, NC_MOCK_CLOSED_FLUSH, NC_MOCK_CLOSED_ABORT, NC_MOCK_CLOSED_PEER, NC_MOCK_CLOSED_STOP
};
NC_EXPORT int nc_mock_closed(const nc_conn *c); /* an enum nc_mock_state */
/* Input the core holds for the module (read, not consumed yet), in bytes. */
NC_EXPORT size_t nc_mock_held(const nc_conn *c);

/* ---- Datagrams ---------------------------------------------------------- */

/* Hand n datagrams to on_datagrams as recvmmsg batches would: in batches
 * of the listener's batch size (nc_listener_set_batch; 64 by default), a
 * turn after each.  A datagram without recv_time_us gets the mock's wall
 * clock: 1,763,770,000,000,000 us at the start, moving with
 * nc_mock_advance. */
NC_EXPORT void nc_mock_datagrams(nc_mock *mk, const nc_dgram *d, unsigned n);
/* One datagram from peer ("10.0.0.2:5000"; NULL: "127.0.0.1:40000").
 * Returns 0, or -1 when the address does not parse. */
NC_EXPORT int nc_mock_datagram(nc_mock *mk, const char *peer, const void *data, size_t len);

/* Datagrams the module sent with nc_sendto, oldest first. */
typedef struct nc_mock_sent {
    unsigned char *data;
    size_t len;
    char to[120]; /* "10.0.0.2:5000" */
} nc_mock_sent;
NC_EXPORT unsigned nc_mock_sent_count(const nc_mock *mk);
/* The i-th one, valid until nc_mock_sent_clear or nc_mock_free; NULL past the end. */
NC_EXPORT const nc_mock_sent *nc_mock_sent_get(const nc_mock *mk, unsigned i);
NC_EXPORT void nc_mock_sent_clear(nc_mock *mk);
/* What nc_sendto returns from now on: 0 (recorded), or a negative errno
 * such as -EAGAIN (the datagram is dropped, nothing recorded). */
NC_EXPORT void nc_mock_set_sendto_result(nc_mock *mk, int rc);
/* What nc_listener_drops returns. */
NC_EXPORT void nc_mock_set_drops(nc_mock *mk, uint64_t drops);

/* ---- Time and work ------------------------------------------------------ */

/* Move the clock ms forward, stopping at every timer deadline on the way
 * to run what is due there (in deadline order, FIFO for equal ones; the
 * core's timer heap), as a loop that never stalls would: a 100 ms
 * repeating timer fires 10 times in nc_mock_advance(mk, 1000).  Each stop
 * is a turn, and a last one follows: nc_mock_advance(mk, 0) just runs a
 * turn (after the test itself called nc_conn_resume, say).  Returns how
 * many timer callbacks ran. */
NC_EXPORT unsigned nc_mock_advance(nc_mock *mk, uint64_t ms);
/* Timers armed now (repeating and one-shot). */
NC_EXPORT unsigned nc_mock_timers(const nc_mock *mk);
/* Run every job nc_work_submit queued -- work(), then done() -- in
 * submission order on this thread, including jobs a done() submits.
 * Returns how many ran.  (Outside a running mock, nc_work_submit calls
 * work and done at once.) */
NC_EXPORT unsigned nc_mock_run_work(nc_mock *mk);
NC_EXPORT unsigned nc_mock_work_pending(const nc_mock *mk);

/* ---- Logs, counters and server state ------------------------------------ */

/* Every line the module logged is recorded as "LEVEL [LISTENER#ID] MESSAGE"
 * ("warn [mock#2] closing"; "[LISTENER]" for listener lines, nothing for
 * nc_log), without the core's time, role and pid.  The core's own lines
 * about a connection that the mock reproduces are recorded too, with the
 * core's words: "accepted from PEER" (debug), the input limit, the slow
 * consumer, a module consuming more than offered, "read: Connection reset
 * by peer" (debug, nc_mock_hangup).  Every level
 * is recorded and nc_log_enabled says yes to all, so a module's debug
 * logging runs too. */
NC_EXPORT unsigned nc_mock_log_count(const nc_mock *mk, const char *substr); /* NULL: all */
/* The i-th line, or the last one (i = -1); NULL when there is none. */
NC_EXPORT const char *nc_mock_log_line(const nc_mock *mk, int i);
NC_EXPORT void nc_mock_log_clear(nc_mock *mk);

/* The value of the module's counter `name` (nc_counter); 0 when it has none. */
NC_EXPORT uint64_t nc_mock_counter(const nc_mock *mk, const char *name);
/* What nc_draining returns. */
NC_EXPORT void nc_mock_set_draining(nc_mock *mk, int draining);
/* What nc_stats_json returns (a copy of json each time; NULL: NULL, the
 * default). */
NC_EXPORT void nc_mock_set_stats(nc_mock *mk, const char *json);
/* Call the module's on_reopen, as SIGUSR1 does. */
NC_EXPORT void nc_mock_reopen(nc_mock *mk);

#ifdef __cplusplus
}
#endif
#endif /* NETCORE_MOCK_H */
