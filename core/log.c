/* log.c -- the core's logger.  Lines are built in a stack buffer and written
 * with one write(2) so that lines from several processes never interleave. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static int log_level = NC_LOG_INFO;
static int log_format = NC_LOGFMT_TEXT;
static int log_fd = 2;
static char log_path[4096];

static const char *const level_names[] = {"error", "warn", "info", "debug"};

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

/* Append s to the buffer as JSON string content (without quotes). */
static size_t json_escape(char *out, size_t cap, size_t n, const char *s)
{
    for (; *s && n + 7 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            out[n++] = '\\';
            out[n++] = (char)ch;
        } else if (ch < 0x20) {
            n += (size_t)snprintf(out + n, cap - n, "\\u%04x", ch);
        } else {
            out[n++] = (char)ch;
        }
    }
    return n;
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

    size_t n;
    if (log_format == NC_LOGFMT_JSON) {
        n = (size_t)snprintf(line, sizeof line, "{\"time\":\"%s\",\"level\":\"%s\",\"pid\":%d",
                             when, level_names[level], (int)getpid());
        if (listener) {
            n += (size_t)snprintf(line + n, sizeof line - n, ",\"listener\":\"");
            n = json_escape(line, sizeof line, n, listener);
            line[n++] = '"';
        }
        if (conn)
            n += (size_t)snprintf(line + n, sizeof line - n, ",\"conn\":%llu",
                                  (unsigned long long)conn);
        n += (size_t)snprintf(line + n, sizeof line - n, ",\"msg\":\"");
        n = json_escape(line, sizeof line - 3, n, msg);
        line[n++] = '"';
        line[n++] = '}';
    } else {
        n = (size_t)snprintf(line, sizeof line, "%s %s", when, level_names[level]);
        if (listener && conn)
            n += (size_t)snprintf(line + n, sizeof line - n, " [%s#%llu]", listener,
                                  (unsigned long long)conn);
        else if (listener)
            n += (size_t)snprintf(line + n, sizeof line - n, " [%s]", listener);
        if (n < sizeof line)
            n += (size_t)snprintf(line + n, sizeof line - n, " %s", msg);
        if (n > sizeof line - 2)
            n = sizeof line - 2;
    }
    line[n++] = '\n';
    /* A failed log write has nowhere to be reported; the loop never waits on it. */
    ssize_t w = write(log_fd, line, n);
    (void)w;
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
