/* log.c -- the core's logger.  Lines are built in a stack buffer and written
 * with one write(2) so that lines from several processes never interleave. */
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "nc_assert.h"
#include "netcore/strbuf.h"

static int log_level = NC_LOG_INFO;
static int log_format = NC_LOGFMT_TEXT;
static int log_fd = 2;
static char log_path[4096];

static const char *const level_names[] = {"error", "warn", "info", "debug"};
/* Who writes: "master", "worker0", "check"; with the pid on every line, so
 * that the master's lines and each worker's can be told apart (nginx's
 * error log puts its pid on every line too). */
static char log_role[24] = "netcore";

void nc__log_role(const char *role)
{
    snprintf(log_role, sizeof log_role, "%s", role);
}

int nc__log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

static int open_log(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    return fd < 0 ? -errno : fd;
}

int nc__log_setup(int level, int format, const char *path)
{
    int fd = 2;
    if (path && strcmp(path, "-") != 0) {
        if (strlen(path) >= sizeof log_path)
            return -ENAMETOOLONG;
        fd = open_log(path);
        if (fd < 0)
            return fd;
        snprintf(log_path, sizeof log_path, "%s", path);
    } else {
        log_path[0] = '\0';
    }
    if (log_fd > 2)
        close(log_fd);
    log_fd = fd;
    log_level = level;
    log_format = format;
    return 0;
}

int nc__log_reopen(void)
{
    if (log_path[0] == '\0')
        return 0;
    int fd = open_log(log_path);
    if (fd < 0)
        return fd;
    if (log_fd > 2)
        close(log_fd);
    log_fd = fd;
    return 0;
}

int nc__log_fd(void)
{
    return log_fd;
}

void nc__log_close(void)
{
    if (log_fd > 2)
        close(log_fd);
    log_fd = 2;
    log_path[0] = '\0';
}

/* Append s as JSON string content (without quotes) through nc_json_escape,
 * leaving `reserve` bytes free: when the whole of s does not fit, the
 * longest prefix whose escaped form fits is written (found by halving,
 * only for lines that are cut), so an escape is whole or absent and a cut
 * line is still valid JSON. */
static void json_escape(nc_sb *sb, const char *s, size_t reserve)
{
    /* A fixed builder keeps its last byte for the NUL. */
    size_t room = sb->cap > sb->len + reserve + 1 ? sb->cap - sb->len - reserve - 1 : 0;
    size_t n = strlen(s);
    if (nc_json_escape(NULL, 0, s, n) > room) {
        size_t lo = 0, hi = n; /* escaped(lo) fits, escaped(hi) does not */
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            if (nc_json_escape(NULL, 0, s, mid) <= room)
                lo = mid;
            else
                hi = mid;
        }
        n = lo;
    }
    size_t w = nc_json_escape(sb->buf + sb->len, room, s, n);
    NC_ASSERT(w <= room);
    sb->len += w;
    sb->buf[sb->len] = '\0';
}

void nc__logv(int level, const char *listener, uint64_t conn, const char *fmt, va_list ap)
{
    if (level > log_level)
        return;
    if (level < NC_LOG_ERROR)
        level = NC_LOG_ERROR; /* a module's out-of-range level: still a line, never a read before level_names */
    char msg[2048], line[4096];
    int m = vsnprintf(msg, sizeof msg, fmt, ap);
    if (m < 0)
        return;

    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char when[96];
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(ts.tv_nsec / 1000000) % 1000);

    /* One byte stays free for the newline; a text line too long is cut. */
    nc_sb sb;
    nc_sb_init(&sb, line, sizeof line - 1);
    if (log_format == NC_LOGFMT_JSON) {
        nc_sb_printf(&sb, "{\"time\":\"%s\",\"level\":\"%s\",\"role\":\"%s\",\"pid\":%d", when,
                     level_names[level], log_role, (int)getpid());
        if (listener) {
            nc_sb_puts(&sb, ",\"listener\":\"");
            json_escape(&sb, listener, 256);
            nc_sb_putc(&sb, '"');
        }
        if (conn)
            nc_sb_printf(&sb, ",\"conn\":%llu", (unsigned long long)conn);
        nc_sb_puts(&sb, ",\"msg\":\"");
        json_escape(&sb, msg, 2); /* room for the closing quote and brace */
        nc_sb_puts(&sb, "\"}");
    } else {
        nc_sb_printf(&sb, "%s %s %s[%d]", when, level_names[level], log_role, (int)getpid());
        if (listener && conn)
            nc_sb_printf(&sb, " [%s#%llu]", listener, (unsigned long long)conn);
        else if (listener)
            nc_sb_printf(&sb, " [%s]", listener);
        nc_sb_printf(&sb, " %s", msg);
    }
    size_t n = sb.len;
    line[n++] = '\n';
    /* A failed log write has nowhere to be reported; the loop never waits on it. */
    ssize_t w = write(log_fd, line, n);
    (void)w;
    nc_sb_free(&sb); /* a fixed builder over `line`: frees nothing, but says so to the analyzer */
}

void nc__log(int level, const char *listener, uint64_t conn, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nc__logv(level, listener, conn, fmt, ap);
    va_end(ap);
}

int nc__log_allow(nc__ratelimit *rl, uint64_t now_ms, unsigned per_window, uint64_t window_ms)
{
    if (!rl->window || now_ms - rl->window >= window_ms) {
        if (rl->dropped)
            nc__log(NC_LOG_WARN, NULL, 0, "(%u similar log lines suppressed)", rl->dropped);
        rl->window = now_ms ? now_ms : 1;
        rl->n = rl->dropped = 0;
    }
    if (rl->n < per_window) {
        rl->n++;
        return 1;
    }
    rl->dropped++;
    return 0;
}

/* ---- public API ---- */

int nc_log_enabled(int level)
{
    return level <= log_level;
}

void nc_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nc__logv(level, NULL, 0, fmt, ap);
    va_end(ap);
}

#ifdef NC_DEBUG
_Noreturn void nc__assert_fail(const char *expr, const char *file, int line, const char *func)
{
    /* Straight to the log's descriptor: the failed check may be in the
     * logger itself. */
    dprintf(log_fd, "netcore: assertion failed: %s (%s:%d in %s)\n", expr, file, line, func);
    abort();
}
#endif
