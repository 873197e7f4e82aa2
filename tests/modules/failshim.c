/* failshim.c -- not a module: an LD_PRELOAD library for the integration
 * tests that makes chosen calls fail while a flag file exists, so the
 * core's handling of failures that cannot be provoked from outside runs
 * for real.  NC_FAILSHIM_DIR names the folder of flag files:
 *   epoll   EPOLL_CTL_ADD of a connected socket fails with ENOMEM
 *           (nc__conn_new fails for every accepted connection);
 *   thread  every pthread_create after the process's first fails with
 *           EAGAIN (a work queue gets one thread of two). */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define SHIM_EXPORT __attribute__((visibility("default")))

static int flag(const char *name)
{
    const char *dir = getenv("NC_FAILSHIM_DIR");
    char path[512];
    if (!dir)
        return 0;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

SHIM_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
SHIM_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    static int (*real)(int, int, int, struct epoll_event *);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "epoll_ctl");
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (op == EPOLL_CTL_ADD && getpeername(fd, (struct sockaddr *)&ss, &sl) == 0 && flag("epoll")) {
        errno = ENOMEM;
        return -1;
    }
    return real(epfd, op, fd, ev);
}

SHIM_EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);
SHIM_EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
    static int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    static int calls;
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "pthread_create");
    if (calls++ > 0 && flag("thread"))
        return EAGAIN;
    return real(t, a, fn, arg);
}
