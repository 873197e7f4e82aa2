/* log.h -- the core's logger: levels, timestamps, text or JSON lines, written
 * to stderr or a file with one write(2) per line. */
#ifndef NC_CORE_LOG_H
#define NC_CORE_LOG_H

#include <stdarg.h>
#include <stdint.h>

#include "netcore/netcore.h"

enum nc__log_format { NC_LOGFMT_TEXT = 0, NC_LOGFMT_JSON = 1 };

/* Configure; path NULL or "-" means stderr.  Returns 0 or -errno (the old
 * destination stays in use on failure). */
int nc__log_setup(int level, int format, const char *path);
/* The role named on this process's lines ("master", "worker0", "check"). */
void nc__log_role(const char *role);
/* Reopen the log file (SIGUSR1).  Returns 0 or -errno. */
int nc__log_reopen(void);
void nc__log_close(void);
int nc__log_fd(void);
int nc__log_level_parse(const char *s); /* -1 when unknown */

/* A rate limit for one call site of a log line that a flood could trigger
 * (refused connections, slow consumers, timeouts).  Keep it static at the
 * call site, zero-initialised. */
typedef struct nc__ratelimit {
    uint64_t window; /* start of the current window, ms */
    unsigned n;      /* lines allowed in it */
    unsigned dropped;
} nc__ratelimit;

/* 1 when the line may be written: at most `per_window` lines in each window
 * of `window_ms` (now_ms is the caller's clock).  When a new window starts
 * after lines were held back, says how many in a line of its own. */
int nc__log_allow(nc__ratelimit *rl, uint64_t now_ms, unsigned per_window, uint64_t window_ms);

/* The one formatter: `listener` may be NULL, `conn` 0 for none. */
void nc__logv(int level, const char *listener, uint64_t conn, const char *fmt, va_list ap);
void nc__log(int level, const char *listener, uint64_t conn, const char *fmt, ...)
    NC_PRINTF(4, 5);

#endif
