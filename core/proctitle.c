/* proctitle.c -- process titles for ps and top: "netcore: master",
 * "netcore: worker 0 (generation 2)".  The title is written over the
 * argument strings (and the environment strings after them, moved to the
 * heap first), the space the kernel shows in /proc/PID/cmdline, as nginx and
 * PostgreSQL do; the thread name (comm) is set too. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "core.h"

extern char **environ;

static char *area;   /* argv[0]: where the title goes */
static size_t space; /* bytes from area to the end of the last string */

void nc__proctitle_init(int argc, char **argv)
{
    if (argc < 1 || !argv[0])
        return;
    char *end = argv[0] + strlen(argv[0]) + 1;
    for (int i = 1; i < argc; i++)
        if (argv[i] == end)
            end = argv[i] + strlen(argv[i]) + 1;
    /* The environment usually follows the arguments: move it to the heap,
     * so its strings can be overwritten too (getenv reads the copies). */
    size_t n = 0;
    while (environ[n])
        n++;
    char **copy = calloc(n + 1, sizeof *copy);
    if (copy) {
        for (size_t i = 0; i < n; i++) {
            if (environ[i] == end)
                end = environ[i] + strlen(environ[i]) + 1;
            copy[i] = strdup(environ[i]);
            if (!copy[i]) {
                for (size_t k = 0; k < i; k++)
                    free(copy[k]);
                free(copy);
                copy = NULL;
                end = argv[argc - 1] + strlen(argv[argc - 1]) + 1;
                break;
            }
        }
        if (copy)
            environ = copy;
    }
    area = argv[0];
    space = (size_t)(end - area);
    /* The argument pointers keep pointing at what they said: copies. */
    for (int i = 0; i < argc; i++)
        argv[i] = strdup(argv[i]);
}

void nc__proctitle_set(const char *fmt, ...)
{
    char title[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(title, sizeof title, fmt, ap);
    va_end(ap);
    if (area && space > 1) {
        size_t len = strlen(title);
        if (len > space - 1)
            len = space - 1;
        memcpy(area, title, len);
        memset(area + len, 0, space - len); /* one string: ps shows no tail */
    }
    /* comm is 15 bytes: "netcore: worker 12 ..." would lose what tells
     * processes apart, so it gets a short form of its own. */
    char comm[16];
    if (strncmp(title, "netcore: worker ", 16) == 0)
        snprintf(comm, sizeof comm, "nc-worker%d", atoi(title + 16));
    else if (strncmp(title, "netcore: ", 9) == 0)
        snprintf(comm, sizeof comm, "nc-%.*s", (int)strcspn(title + 9, " "), title + 9); /* its first word */
    else
        snprintf(comm, sizeof comm, "%.15s", title);
    prctl(PR_SET_NAME, comm, 0, 0, 0);
}
