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
/* Reopen the log file (SIGUSR1).  Returns 0 or -errno. */
int nc__log_reopen(void);
void nc__log_close(void);
int nc__log_fd(void);
int nc__log_level_parse(const char *s); /* -1 when unknown */

/* The one formatter: `listener` may be NULL, `conn` 0 for none. */
void nc__logv(int level, const char *listener, uint64_t conn, const char *fmt, va_list ap);
void nc__log(int level, const char *listener, uint64_t conn, const char *fmt, ...)
    NC_PRINTF(4, 5);

#endif
