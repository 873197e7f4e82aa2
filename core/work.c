/* work.c -- the work queue: blocking jobs (fsync, hashing files) run on a
 * small pool of threads; their completions come back to the reactor through
 * an eventfd, so the loop itself never waits on a disk.  Threads start on
 * the first submission (as many of WORK_THREADS as the system allows, at
 * least one); at exit the queue is drained before they stop, but never past
 * shutdown_timeout_ms: a job stuck in the kernel (a hung disk) is cancelled
 * then, so a SIGTERM always ends the process. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core.h"
#include "log.h"

#define WORK_THREADS 2

typedef struct job {
    void (*work)(void *);
    void (*done)(void *);
    void *arg;
    struct job *next;
} job;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t idle_cv = PTHREAD_COND_INITIALIZER; /* a job ended or a thread left */
static unsigned running;                                 /* jobs inside work() now */
static job *todo_head, *todo_tail, *done_head, *done_tail;
static pthread_t threads[WORK_THREADS];
static unsigned nthreads; /* started: the queue runs on as many as could start */
static int started, stopping, efd = -1;
static unsigned pending; /* submitted, done not yet called */
static uint32_t work_evkind = EV_WORK;

static void *worker(void *unused)
{
    (void)unused;
    /* Cancellable only inside a job, never while holding mu. */
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    pthread_mutex_lock(&mu);
    for (;;) {
        while (!todo_head && !stopping)
            pthread_cond_wait(&cv, &mu);
        if (!todo_head)
            break;
        job *j = todo_head;
        todo_head = j->next;
        if (!todo_head)
            todo_tail = NULL;
        running++;
        pthread_mutex_unlock(&mu);
        pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
        j->work(j->arg);
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
        pthread_mutex_lock(&mu);
        running--;
        pthread_cond_broadcast(&idle_cv);
        j->next = NULL;
        if (done_tail)
            done_tail->next = j;
        else
            done_head = j;
        done_tail = j;
        uint64_t one = 1;
        ssize_t w = write(efd, &one, sizeof one);
        (void)w;
    }
    pthread_cond_broadcast(&idle_cv);
    pthread_mutex_unlock(&mu);
    return NULL;
}

static int start(void)
{
    efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0)
        return -errno;
    int rc = nc__ev_add(efd, EPOLLIN, &work_evkind);
    if (rc < 0) {
        close(efd);
        efd = -1;
        return rc;
    }
    while (nthreads < WORK_THREADS && (rc = pthread_create(&threads[nthreads], NULL, worker, NULL)) == 0)
        nthreads++;
    if (nthreads == 0) {
        /* Nothing runs: leave nothing behind, and try again at the next
         * submission. */
        nc__log(NC_LOG_ERROR, NULL, 0, "work queue: cannot start a thread: %s", strerror(rc));
        nc__ev_del(efd);
        close(efd);
        efd = -1;
        return -rc;
    }
    if (nthreads < WORK_THREADS)
        nc__log(NC_LOG_WARN, NULL, 0, "work queue: started %u of %d threads (%s); going on with those", nthreads,
                WORK_THREADS, strerror(rc));
    started = 1;
    return 0;
}

int nc_work_submit(void (*work)(void *arg), void (*done)(void *arg), void *arg)
{
    if (!started && start() < 0)
        return -1;
    job *j = calloc(1, sizeof *j);
    if (!j)
        return -1;
    j->work = work;
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&mu);
    if (todo_tail)
        todo_tail->next = j;
    else
        todo_head = j;
    todo_tail = j;
    pending++;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    return 0;
}

/* Reactor side: call done for every finished job. */
void nc__work_on_event(void)
{
    uint64_t n;
    ssize_t r = read(efd, &n, sizeof n);
    (void)r;
    pthread_mutex_lock(&mu);
    job *j = done_head;
    done_head = done_tail = NULL;
    pthread_mutex_unlock(&mu);
    while (j) {
        job *next = j->next;
        pending--;
        j->done(j->arg);
        free(j);
        j = next;
    }
}

/* The reactor waits for these before it stops, but not past its stop
 * deadline (shutdown_timeout_ms): then nc__work_shutdown deals with them. */
unsigned nc__work_pending(void)
{
    if (nc__reactor_stopping() && nc_now_ms() >= nc__reactor_stop_deadline())
        return 0;
    return pending;
}

/* Wait until the queue is empty and no job runs, or until deadline (ms,
 * monotonic); returns the jobs still queued or running.  mu held. */
static unsigned wait_idle(uint64_t deadline)
{
    for (;;) {
        unsigned left = running;
        for (job *j = todo_head; j; j = j->next)
            left++;
        uint64_t now = nc__clock_ms();
        if (!left || now >= deadline)
            return left;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts); /* the condvar's clock */
        uint64_t ns = (uint64_t)ts.tv_nsec + (deadline - now) * 1000000u;
        ts.tv_sec += (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        pthread_cond_timedwait(&idle_cv, &mu, &ts);
    }
}

/* At exit: let queued jobs finish (an upload's fsync), deliver their
 * completions, stop the threads.  Jobs still running at the stop deadline
 * (at least a second from now) are cancelled at their next cancellation
 * point (read, open, fsync...): their done is never called, and what they
 * held is left to the process's exit. */
void nc__work_shutdown(void)
{
    if (!started)
        return;
    uint64_t now = nc__clock_ms();
    uint64_t deadline = nc__reactor_stop_deadline();
    if (deadline < now + 1000)
        deadline = now + 1000;
    pthread_mutex_lock(&mu);
    stopping = 1;
    pthread_cond_broadcast(&cv);
    unsigned stuck = wait_idle(deadline);
    pthread_mutex_unlock(&mu);
    if (stuck) {
        nc__log(NC_LOG_ERROR, NULL, 0,
                "work queue: %u job%s still running past shutdown_timeout_ms (%lld); cancelling them", stuck,
                stuck == 1 ? "" : "s", nc__reactor_shutdown_timeout_ms());
        for (unsigned i = 0; i < nthreads; i++)
            pthread_cancel(threads[i]);
    }
    for (unsigned i = 0; i < nthreads; i++)
        pthread_join(threads[i], NULL);
    nc__work_on_event();
    close(efd);
    efd = -1;
    nthreads = 0;
    started = stopping = 0;
    running = 0; /* cancelled jobs, and any queued behind them, are given up */
    todo_head = todo_tail = NULL;
}
