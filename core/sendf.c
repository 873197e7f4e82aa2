/* sendf.c -- nc_sendf: formatted output built on the public nc_send,
 * nc_close and nc_log_conn alone, so the mock core (tools/mock/mock.c)
 * links this code instead of a copy of it. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "netcore/netcore.h"

NC_EXPORT int nc_sendf(nc_conn *c, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof small)
        return nc_send(c, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big) {
        nc_log_conn(c, NC_LOG_ERROR, "out of memory for output; closing");
        nc_close(c, NC_CLOSE_ABORT);
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = nc_send(c, big, (size_t)n);
    free(big);
    return rc;
}
