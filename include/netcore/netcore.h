/* netcore.h -- the public module API of netcore: the whole contract between
 * the core and a protocol module (.so).  Modules include only this header. */
#ifndef NETCORE_NETCORE_H
#define NETCORE_NETCORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ABI version.  MAJOR changes when an existing hook, function or field changes
 * meaning or layout (the loader refuses a module built for another MAJOR).
 * MINOR grows when something is appended; a module built for a newer MINOR
 * than the core's is refused, an older one is accepted.  See docs/abi.md. */
#define NC_ABI_MAJOR 1
#define NC_ABI_MINOR 1
#define NC_MODULE_MAGIC 0x6e636d31u /* "ncm1" */

#if defined(__GNUC__)
#define NC_EXPORT __attribute__((visibility("default")))
#define NC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define NC_EXPORT
#define NC_PRINTF(a, b)
#endif

/* Opaque handles.  Their layout belongs to the core and may change at any
 * time; modules only ever hold pointers to them. */
typedef struct nc_conn nc_conn;         /* one accepted stream connection */
typedef struct nc_listener nc_listener; /* one listener from the config */
typedef struct nc_options nc_options;   /* a listener's "options" object */
typedef struct nc_timer nc_timer;       /* a one-shot or repeating timer */
typedef struct nc_shared nc_shared;     /* a refcounted, immutable byte buffer */

/* ---- Logging ---------------------------------------------------------- */

enum nc_log_level { NC_LOG_ERROR = 0, NC_LOG_WARN, NC_LOG_INFO, NC_LOG_DEBUG };

/* Log a line; never blocks the reactor for long (stderr or a file).  The
 * _conn form adds the listener's name and the connection id, the _listener
 * form the listener's name.  Callable from every hook and timer. */
NC_EXPORT void nc_log(int level, const char *fmt, ...) NC_PRINTF(2, 3);
NC_EXPORT void nc_log_listener(const nc_listener *l, int level, const char *fmt, ...)
    NC_PRINTF(3, 4);
NC_EXPORT void nc_log_conn(const nc_conn *c, int level, const char *fmt, ...) NC_PRINTF(3, 4);
/* Non-zero when a line of this level would be written: guard costly logging. */
NC_EXPORT int nc_log_enabled(int level);

/* ---- Options (inside init only) --------------------------------------- */

/* Typed getters for the listener's "options" object.  Each returns 0 and
 * stores the value (or the default when the key is absent), or -1 when the
 * value has the wrong type or is out of range; the error, naming the JSON
 * path (for example `listeners[1].options.root`), is recorded for the core to
 * report.  Strings stay valid until fini.  After init returns, every key the
 * module did not ask for is reported as unknown and the listener is refused.
 * Valid only during init. */
NC_EXPORT int nc_opt_str(nc_options *o, const char *key, const char *def, const char **out);
NC_EXPORT int nc_opt_int(nc_options *o, const char *key, long long def, long long min,
                         long long max, long long *out);
NC_EXPORT int nc_opt_bool(nc_options *o, const char *key, int def, int *out);
/* A file system path: a relative one is resolved against the folder of the
 * config file (as the core's own paths are); "-" and "off" are returned as
 * they are.  The result lives until fini.  Returns as nc_opt_str. */
NC_EXPORT int nc_opt_path(nc_options *o, const char *key, const char *def, const char **out);
/* One of a fixed set of strings (choices is NULL-terminated); stores the
 * index.  Returns as nc_opt_str. */
NC_EXPORT int nc_opt_enum(nc_options *o, const char *key, const char *const *choices, int def,
                          int *out);
/* An object of string values: calls cb(arg, name, value) for each member; cb
 * returns NULL to go on or an error message (for that member) to stop.
 * Returns as nc_opt_str (-1 also when cb stopped it). */
NC_EXPORT int nc_opt_strmap(nc_options *o, const char *key,
                            const char *(*cb)(void *arg, const char *name, const char *value),
                            void *arg);
/* Record a module-specific error for key (e.g. "root: No such file or
 * directory"); the core prefixes the JSON path.  Returns -1 for convenience. */
NC_EXPORT int nc_opt_error(nc_options *o, const char *key, const char *fmt, ...) NC_PRINTF(3, 4);

/* ---- Listeners -------------------------------------------------------- */

NC_EXPORT const char *nc_listener_name(const nc_listener *l);
/* The instance pointer init stored; NULL if none. */
NC_EXPORT void *nc_listener_instance(const nc_listener *l);
/* The listening (or UDP) socket, for socket options such as SO_RCVBUF or a
 * multicast join; -1 during `netcore -t`, when nothing is bound.  The core
 * owns it: never close it. */
NC_EXPORT int nc_listener_fd(const nc_listener *l);
/* The bound address as text ("127.0.0.1:7000", "[::1]:7000", "unix:/p"). */
NC_EXPORT const char *nc_listener_addr(const nc_listener *l);
/* Call cb for every open connection of the listener (in accept order).  The
 * callback may send to or close the connection it is given. */
NC_EXPORT void nc_listener_foreach(nc_listener *l, void (*cb)(nc_conn *c, void *arg), void *arg);
NC_EXPORT size_t nc_listener_conn_count(const nc_listener *l);
/* UDP: datagrams received per recvmmsg call (1..1024, default 64); call
 * from init. */
NC_EXPORT void nc_listener_set_batch(nc_listener *l, unsigned n);

/* ---- Connections ------------------------------------------------------ */

/* Process-unique id, never reused while the process runs (starts at 1). */
NC_EXPORT uint64_t nc_conn_id(const nc_conn *c);
NC_EXPORT nc_listener *nc_conn_listener(const nc_conn *c);
/* Per-connection module data: the core never touches it; free it in on_close. */
NC_EXPORT void nc_conn_set_data(nc_conn *c, void *data);
NC_EXPORT void *nc_conn_data(const nc_conn *c);
/* Peer address: sockaddr form (length in *len) and text form; the text is
 * "unix" for Unix-socket peers.  Valid until on_close returns. */
NC_EXPORT const struct sockaddr *nc_conn_peer(const nc_conn *c, socklen_t *len);
NC_EXPORT const char *nc_conn_peer_str(const nc_conn *c);
/* Bytes of output queued and not yet written (memory and file regions). */
NC_EXPORT size_t nc_conn_queued(const nc_conn *c);

/* Queue bytes for sending.  The core copies them; output is written when the
 * current hook returns, never blocking.  Returns 0, or -1 when the connection
 * is closing (the bytes are dropped) or when the queue passed the listener's
 * max_output_bytes, in which case the connection is closed as a slow consumer.
 * Callable from every hook and timer, also for connections other than the one
 * a hook was called for. */
NC_EXPORT int nc_send(nc_conn *c, const void *data, size_t len);
/* Like nc_send, for a formatted string. */
NC_EXPORT int nc_sendf(nc_conn *c, const char *fmt, ...) NC_PRINTF(2, 3);
/* Queue a region of an open file, sent with sendfile(2) without copying.
 * When flags has NC_FILE_OWN the core takes ownership of fd and closes it
 * when the region is sent or the connection closes (also on error);
 * otherwise fd must stay open until then.  len 0 queues nothing.  Returns as
 * nc_send. */
#define NC_FILE_OWN 1u
NC_EXPORT int nc_sendfile(nc_conn *c, int fd, off_t offset, size_t len, unsigned flags);

/* Shared buffers: build a message once and queue it on many connections
 * without copying (broadcast fan-out).  nc_shared_new copies len bytes (data
 * may be NULL to fill in later through nc_shared_data before the first send).
 * The creator holds one reference; each send takes another; nc_shared_release
 * drops one.  Returns NULL when out of memory. */
NC_EXPORT nc_shared *nc_shared_new(const void *data, size_t len);
/* The buffer's bytes (to fill in before the first send) and their count. */
NC_EXPORT char *nc_shared_data(nc_shared *s);
NC_EXPORT size_t nc_shared_len(const nc_shared *s);
/* Drop one reference; the last one frees the buffer (NULL is ignored). */
NC_EXPORT void nc_shared_release(nc_shared *s);
/* Queue s on c.  Returns as nc_send. */
NC_EXPORT int nc_send_shared(nc_conn *c, nc_shared *s);

/* Close a connection.  NC_CLOSE_FLUSH stops reading, sends what is queued,
 * then closes (bounded by the listener's send timeout); NC_CLOSE_ABORT closes
 * now and drops the queue.  The close is deferred: the connection stays valid
 * until the current hook returns, and on_close follows.  Calling it again, or
 * on a closing connection, is harmless. */
enum nc_close_how { NC_CLOSE_FLUSH = 0, NC_CLOSE_ABORT = 1 };
NC_EXPORT void nc_close(nc_conn *c, int how);
/* Stop or resume calling on_data for this connection (input stays in the
 * socket: TCP flow control pushes back on the peer).  Resuming hands over
 * any input already buffered from the next loop turn. */
NC_EXPORT void nc_conn_pause(nc_conn *c);
NC_EXPORT void nc_conn_resume(nc_conn *c);

/* ---- Datagrams (UDP listeners) ---------------------------------------- */

typedef struct nc_dgram {
    const unsigned char *data;  /* payload, valid during on_datagrams only */
    size_t len;                 /* payload size (whole: up to 65,507 bytes) */
    const struct sockaddr *peer; /* sender */
    socklen_t peer_len;
    int64_t recv_time_us;        /* CLOCK_REALTIME at receipt, microseconds */
} nc_dgram;

/* Send one datagram from the listener's socket.  Returns 0, or -errno
 * (EAGAIN when the socket buffer is full: the datagram is dropped). */
NC_EXPORT int nc_sendto(nc_listener *l, const void *data, size_t len, const struct sockaddr *to,
                        socklen_t tolen);
/* Datagrams the kernel dropped on this socket for lack of buffer space
 * (SK_MEMINFO_DROPS), since the listener started.  Reads the kernel's
 * counter (a system call): call it from a timer, not for every batch. */
NC_EXPORT uint64_t nc_listener_drops(const nc_listener *l);

/* ---- Timers ------------------------------------------------------------ */

typedef void (*nc_timer_cb)(nc_timer *t, void *arg);
/* Call cb after `after_ms`, then every `repeat_ms` when that is non-zero.
 * A one-shot timer is freed after its callback returns (do not stop it
 * then); a repeating one lives until nc_timer_stop.  Timers run on the
 * reactor thread between I/O events.  Returns NULL when out of memory. */
NC_EXPORT nc_timer *nc_timer_start(uint64_t after_ms, uint64_t repeat_ms, nc_timer_cb cb,
                                   void *arg);
/* Cancel and free a pending timer; safe from inside its own callback. */
NC_EXPORT void nc_timer_stop(nc_timer *t);
/* Monotonic milliseconds, cached per loop turn (cheap). */
NC_EXPORT uint64_t nc_now_ms(void);

/* ---- Blocking work off the reactor -------------------------------------- */

/* Run work(arg) on one of the core's worker threads (disk I/O that may
 * block: fsync, hashing a large file), then done(arg) on the reactor thread
 * once it finished.  work must not call any nc_* function (it runs on
 * another thread); done may call all of them.  done is always called, even
 * when the connection that asked has closed meanwhile: keep what work and
 * done share alive until done runs.  Jobs run in submission order per
 * thread, concurrently across threads (2 threads).  Returns 0, or -1 when
 * out of memory (nothing will be called). */
NC_EXPORT int nc_work_submit(void (*work)(void *arg), void (*done)(void *arg), void *arg);

/* ---- Counters ---------------------------------------------------------- */

/* Publish a module-specific counter for the listener (e.g. "datagrams",
 * "drops"); the returned slot is the module's to update; it lives until
 * fini.  Returns NULL when out of memory. */
NC_EXPORT uint64_t *nc_counter(nc_listener *l, const char *name);

/* ---- Utilities --------------------------------------------------------- */

/* 1 when s[0..n) is well-formed UTF-8 (no overlong forms, no surrogates,
 * nothing above U+10FFFF), else 0. */
NC_EXPORT int nc_utf8_valid(const void *s, size_t n);
/* Write s[0..n) as the content of a JSON string (without the quotes) into
 * out, which has room for cap bytes.  Returns the length of the escaped
 * text; when that exceeds cap, nothing useful was written and the caller
 * retries with a buffer of the returned size.  Worst case: 6 * n. */
NC_EXPORT size_t nc_json_escape(char *out, size_t cap, const char *s, size_t n);
/* Whether this process could open path for appending, creating it if need
 * be, without creating anything now: an existing file it may write (not a
 * folder), or a new name in an existing folder it may write into.  For
 * `init`, which also runs for `netcore -t` and must change nothing on disk:
 * check there, create the file in `on_listen`.  Returns 0 or a negative
 * errno (-ENOENT: no such folder; -EISDIR; -EACCES ...).  Since ABI 1.1. */
NC_EXPORT int nc_path_writable(const char *path);
/* Standard base64 (RFC 4648, with padding) of s[0..n) into out; returns the
 * length, 4 * ceil(n / 3), or that length without writing when it exceeds
 * cap. */
NC_EXPORT size_t nc_base64_encode(char *out, size_t cap, const void *s, size_t n);

/* ---- Server state -------------------------------------------------------- */

/* Non-zero while this worker drains after a reload: it accepts nothing new
 * and exits once its connections are done.  Protocols with keep-alive should
 * close after the current request (http-static answers "Connection: close"). */
NC_EXPORT int nc_draining(void);
/* Every worker's figures as one JSON document (docs/status.md has its
 * schema): per listener, summed over workers, the core's counts and the
 * modules' counters; per worker, pid, connections and restarts.  Figures of
 * other workers are up to a second old.  Returns a malloc'd string to
 * free(), or NULL. */
NC_EXPORT char *nc_stats_json(void);

/* ---- The module descriptor -------------------------------------------- */

/* Flags a module declares. */
#define NC_MOD_STREAM 0x1u   /* serves tcp/unix listeners */
#define NC_MOD_DGRAM 0x2u    /* serves udp listeners */
#define NC_MOD_SHARED 0x4u   /* state shared by all its connections: worker 0 alone serves it */

/* A module exports one object of this type named `netcore_module`
 * (NC_MODULE_DEFINE does it).  The loader checks magic, abi_major,
 * abi_minor and size before calling anything, and that reserved[] is zero.
 * Hooks a module does not need may be NULL. */
typedef struct nc_module {
    uint32_t magic;        /* NC_MODULE_MAGIC */
    uint16_t abi_major;    /* NC_ABI_MAJOR */
    uint16_t abi_minor;    /* NC_ABI_MINOR */
    uint32_t size;         /* sizeof(nc_module) */
    uint32_t flags;        /* NC_MOD_* */
    const char *name;      /* short name, [a-z0-9_-] */
    const char *version;   /* the module's own version, free form */
    const char *description;

    /* Per listener: validate options, build the listener's instance state
     * and store it in *instance.  Return 0, or -1 after recording an error
     * with nc_opt_error (or any nc_opt_* failure).  Called once per listener
     * before anything is bound; also by `netcore -t`. */
    int (*init)(nc_listener *l, nc_options *opts, void **instance);
    /* Per listener, after its last connection closed: free the instance. */
    void (*fini)(nc_listener *l, void *instance);
    /* The listener's socket is bound (nc_listener_fd is valid): set socket
     * options, join groups, start timers.  Return 0, or -1 after logging
     * why, and netcore does not start.  Not called by `netcore -t`. */
    int (*on_listen)(nc_listener *l);

    /* A connection was accepted.  Return 0, or -1 to refuse it (closed with
     * no on_close).  May send. */
    int (*on_accept)(nc_conn *c);
    /* Input arrived: data/len is all the input not consumed so far.  Return
     * the number of bytes consumed (0..len); the rest is handed over again,
     * with what follows, at the next call.  Return -1 to abort the
     * connection.  Unconsumed input beyond max_input_bytes closes it. */
    ssize_t (*on_data)(nc_conn *c, const char *data, size_t len);
    /* The peer closed its sending side (EOF) while the connection is open.
     * NULL means: close once the queue is flushed. */
    void (*on_eof)(nc_conn *c);
    /* The queued output drained (it had been non-empty and is now empty):
     * the place to queue the next chunk of a large stream. */
    void (*on_writable)(nc_conn *c);
    /* Exactly once for every connection on_accept accepted; nothing is called
     * for it afterwards and the handle is invalid once it returns. */
    void (*on_close)(nc_conn *c);

    /* UDP: a batch of n >= 1 datagrams received on listener l. */
    void (*on_datagrams)(nc_listener *l, const nc_dgram *d, unsigned n);
    /* Log reopen (SIGUSR1): reopen any files the listener writes. */
    void (*on_reopen)(nc_listener *l);

    void *reserved[8]; /* must be zero (NULL) */
} nc_module;

#define NC_MODULE_SYMBOL "netcore_module"
#define NC_MODULE_DEFINE NC_EXPORT const nc_module netcore_module

/* Fill the header fields in an initialiser:
 *   NC_MODULE_DEFINE = { NC_MODULE_HEADER, .flags = NC_MOD_STREAM, ... }; */
#define NC_MODULE_HEADER                                                                  \
    .magic = NC_MODULE_MAGIC, .abi_major = NC_ABI_MAJOR, .abi_minor = NC_ABI_MINOR,       \
    .size = sizeof(nc_module)

#ifdef __cplusplus
}
#endif
#endif /* NETCORE_NETCORE_H */
