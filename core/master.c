/* master.c -- the master process: binds every listener, supervises the
 * workers (each its own reactor on the inherited sockets), and reloads.
 * The master does no protocol work and never loads a module: a preflight
 * child checks every config (modules load, options accepted), and workers
 * load modules fresh, so a .so rebuilt on disk is picked up by a reload.
 *
 * Reload (SIGHUP): the new config is checked; sockets whose address stays
 * are handed to the new workers as they are (never closed and bound again,
 * so nothing waiting in an accept queue is lost); new ones are bound; the
 * new generation starts; once it is serving, the old one drains (SIGUSR2)
 * and removed sockets are closed.  Any failure keeps the running config. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "log.h"
#include "tls.h"
#include "server.h"
#include "version.h"

/* One statistics slot per live worker process, of every generation still
 * running (a reload storm leaves several draining at once). */
#define MAX_PROCS NC_STATS_WORKERS

typedef struct proc {
    pid_t pid;
    int index;
    unsigned gen;
    int slot;
    uint64_t started;
} proc;

static proc procs[MAX_PROCS];
static nc__config *cfg;        /* the running configuration (heap) */
static int *fds;               /* one socket per cfg listener */
static char (*addrs)[120];
static unsigned generation;
static int sigfd = -1;
static int stopping;           /* 1 graceful, 2 now */
static uint64_t stop_deadline;
static unsigned restarts[NC_STATS_WORKERS];
static uint64_t backoff[NC_STATS_WORKERS], restart_at[NC_STATS_WORKERS];

static uint64_t now_ms(void)
{
    return nc__clock_ms();
}

static void report(const char *msg)
{
    fprintf(stderr, "netcore: %s\n", msg);
}

/* Workers and preflight children: become the configured user. */
static int drop_privileges(const nc__config *c)
{
    if (geteuid() != 0 || !c->user || strcmp(c->user, "root") == 0)
        return 0;
    struct passwd *pw = getpwnam(c->user);
    if (!pw) {
        nc__log(NC_LOG_ERROR, NULL, 0, "%s: user: no user \"%s\"", c->path, c->user);
        return -1;
    }
    gid_t gid = pw->pw_gid;
    if (c->group) {
        struct group *gr = getgrnam(c->group);
        if (!gr) {
            nc__log(NC_LOG_ERROR, NULL, 0, "%s: group: no group \"%s\"", c->path, c->group);
            return -1;
        }
        gid = gr->gr_gid;
    }
    if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(pw->pw_uid) < 0 || setuid(0) == 0) {
        nc__log(NC_LOG_ERROR, NULL, 0, "cannot become user %s: %s", c->user, strerror(errno));
        return -1;
    }
    return 0;
}

/* Check a config in a child, as a worker will start: modules load (before
 * the privilege drop), options are accepted (after it).  quiet: stdout to
 * /dev/null (the master's preflight) rather than the verdict (-t). */
static int preflight(nc__config *c, int quiet)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return NC_EXIT_RUNTIME;
    if (pid == 0) {
        if (sigfd >= 0)
            close(sigfd);
        if (quiet) {
            int nul = open("/dev/null", O_WRONLY);
            dup2(nul, 1);
        }
        nc__proctitle_set("netcore: checking %s", c->path);
        nc__log_role("check");
        int rc = NC_EXIT_CONFIG;
        if (nc__server_preload(c) == 0) {
            rc = drop_privileges(c) < 0 ? NC_EXIT_CONFIG : nc__server_check(c, quiet);
            nc__server_unload();
        }
        fflush(stdout);
        /* exit, not _exit: a leak checker runs at exit and must see this child */
        exit(rc);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : NC_EXIT_RUNTIME;
}

/* Root serves protocols only when the config says which user to serve as
 * ("root" on purpose included): a start and -t apply the same rule. */
static int root_rule(const nc__config *c)
{
    if (geteuid() != 0 || c->user)
        return NC_EXIT_OK;
    char err[4200];
    snprintf(err, sizeof err,
             "%s: running as root with no \"user\": set \"user\" to the account to serve as "
             "(\"user\": \"root\" serves as root, on purpose)",
             c->path);
    report(err);
    return NC_EXIT_CONFIG;
}

int nc__master_check(nc__config *c)
{
    int rc = root_rule(c);
    return rc != NC_EXIT_OK ? rc : preflight(c, 0);
}

static const char *transport_name(int t)
{
    return t == NC_UDP ? "udp" : t == NC_UNIX ? "unix" : "tcp";
}

static int free_slot(void)
{
    for (int i = 0; i < NC_STATS_WORKERS; i++)
        if (!NC_STAT_GET(nc__shm->w[i].pid))
            return i;
    return -1;
}

static int free_slots(void)
{
    int n = 0;
    for (int i = 0; i < NC_STATS_WORKERS; i++)
        n += !NC_STAT_GET(nc__shm->w[i].pid);
    return n;
}

static void close_others(int ready)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    int dfd = dirfd(d);
    struct dirent *e;
    int victims[1024], n = 0;
    while ((e = readdir(d)) && n < 1024) {
        int fd = atoi(e->d_name);
        if (fd <= 2 || fd == dfd || fd == ready || fd == nc__log_fd() || e->d_name[0] == '.')
            continue;
        int keep = 0;
        for (size_t i = 0; i < cfg->nlisteners; i++)
            keep |= fds[i] == fd;
        if (!keep)
            victims[n++] = fd;
    }
    closedir(d);
    for (int i = 0; i < n; i++)
        close(victims[i]);
}

/* Fork worker `index` of the current generation; returns its ready pipe's
 * read end, or -1. */
static int spawn(int index)
{
    int p[2];
    int slot = free_slot(), k;
    for (k = 0; k < MAX_PROCS && procs[k].pid; k++)
        ;
    if (slot < 0 || k == MAX_PROCS || pipe2(p, O_CLOEXEC) < 0) {
        nc__log(NC_LOG_ERROR, NULL, 0, "cannot start worker %d: %s", index,
                slot < 0 || k == MAX_PROCS ? "every worker slot is taken" : strerror(errno));
        return -1;
    }
    /* Prepare the slot before the child can publish into it. */
    nc__stat_worker *slotp = &nc__shm->w[slot];
    memset(slotp, 0, sizeof *slotp);
    NC_STAT_SET(slotp->pid, -1); /* taken */
    NC_STAT_SET(slotp->index, (uint32_t)index);
    NC_STAT_SET(slotp->generation, generation);
    NC_STAT_SET(slotp->restarts, restarts[index]);
    NC_STAT_SET(slotp->started_ms, nc__wall_ms());
    pid_t master = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        nc__log(NC_LOG_ERROR, NULL, 0, "cannot start worker %d: %s", index, strerror(errno));
        NC_STAT_SET(slotp->pid, 0);
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        close(p[0]);
        close(sigfd);
        /* Keep only what this worker serves: a socket of a listener being
         * removed by this reload must not live on in the new generation. */
        close_others(p[1]);
        /* Die with the master: a worker alone would serve a stale config. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != master)
            _exit(1);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        /* This generation's log (a reload may have changed log.file, level
         * or format), opened before the privilege drop, as the master does. */
        int lrc = nc__log_setup(cfg->log_level, cfg->log_format, cfg->log_file);
        if (lrc < 0) {
            nc__log(NC_LOG_ERROR, NULL, 0, "%s: log.file: %s: %s", cfg->path, cfg->log_file, strerror(-lrc));
            _exit(NC_EXIT_CONFIG);
        }
        nc__proctitle_set("netcore: worker %d (generation %u)", index, generation);
        char role[24];
        snprintf(role, sizeof role, "worker%d", index);
        nc__log_role(role);
        if (nc__server_preload(cfg) < 0)
            _exit(NC_EXIT_CONFIG);
        if (drop_privileges(cfg) < 0)
            _exit(NC_EXIT_CONFIG);
        nc__stat_worker *w = &nc__shm->w[slot];
        int rc = nc__worker_run(cfg, fds, addrs, index, (int)cfg->workers, w, p[1]);
        nc__server_unload();
        exit(rc);
    }
    close(p[1]);
    NC_STAT_SET(slotp->pid, pid);
    procs[k] = (proc){.pid = pid, .index = index, .gen = generation, .slot = slot, .started = now_ms()};
    return p[0];
}

/* Start every worker of the current generation; 0 once all are serving. */
static int start_generation(void)
{
    int pipes[NC_STATS_WORKERS];
    int n = (int)cfg->workers, ok = 1;
    for (int i = 0; i < n; i++) {
        pipes[i] = spawn(i);
        if (pipes[i] < 0)
            ok = 0;
    }
    for (int i = 0; i < n; i++) {
        if (pipes[i] < 0)
            continue;
        struct pollfd pfd = {.fd = pipes[i], .events = POLLIN};
        char c = 0;
        if (poll(&pfd, 1, 15000) <= 0 || read(pipes[i], &c, 1) != 1 || c != 'R')
            ok = 0;
        close(pipes[i]);
    }
    return ok ? 0 : -1;
}

static void signal_gen(unsigned gen, int sig)
{
    for (int k = 0; k < MAX_PROCS; k++)
        if (procs[k].pid && procs[k].gen == gen)
            kill(procs[k].pid, sig);
}

static void signal_all(int sig)
{
    for (int k = 0; k < MAX_PROCS; k++)
        if (procs[k].pid)
            kill(procs[k].pid, sig);
}

static int live(void)
{
    int n = 0;
    for (int k = 0; k < MAX_PROCS; k++)
        n += procs[k].pid != 0;
    return n;
}

static void reap(void)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        int k;
        for (k = 0; k < MAX_PROCS && procs[k].pid != pid; k++)
            ;
        if (k == MAX_PROCS)
            continue; /* a preflight child */
        proc p = procs[k];
        procs[k].pid = 0;
        NC_STAT_SET(nc__shm->w[p.slot].pid, 0);
        char how[96];
        if (WIFSIGNALED(st))
            snprintf(how, sizeof how, "was killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
        else
            snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(st));
        if (p.gen != generation || stopping) {
            nc__log(NC_LOG_INFO, NULL, 0, "worker %d (pid %d, generation %u) %s", p.index, (int)pid, p.gen, how);
            continue;
        }
        /* Replace it; back off when it keeps dying young. */
        uint64_t lived = now_ms() - p.started;
        uint64_t b = backoff[p.index];
        b = lived < 2000 ? (b ? (b * 2 > 30000 ? 30000 : b * 2) : 100) : 0;
        backoff[p.index] = b;
        restart_at[p.index] = now_ms() + b;
        restarts[p.index]++;
        nc__log(NC_LOG_WARN, NULL, 0, "worker %d (pid %d) %s; restarting it%s%llu ms", p.index, (int)pid, how,
                b ? " in " : " now (", (unsigned long long)b);
    }
}

static void restart_due(void)
{
    uint64_t now = now_ms();
    for (int i = 0; i < (int)cfg->workers && !stopping; i++) {
        if (!restart_at[i] || restart_at[i] > now)
            continue;
        restart_at[i] = 0;
        int rd = spawn(i);
        if (rd >= 0)
            close(rd); /* it reports ready to nobody: a restart is not a start-up */
    }
}

static int same_socket(const nc__lconf *a, const nc__lconf *b)
{
    if (a->transport != b->transport || a->addr.len != b->addr.len ||
        memcmp(&a->addr.ss, &b->addr.ss, a->addr.len) != 0)
        return 0;
    /* Port 0 means "any free port": the same only under the same name. */
    if (a->transport != NC_UNIX && nc__addr_port((const struct sockaddr *)&a->addr.ss) == 0)
        return strcmp(a->name, b->name) == 0;
    return 1;
}

static void log_listeners(nc__config *c, const unsigned char *only_new)
{
    for (size_t i = 0; i < c->nlisteners; i++)
        if (!only_new || only_new[i])
            nc__log(NC_LOG_INFO, c->listeners[i].name, 0, "listening on %s (%s), module %s", addrs[i],
                    transport_name(c->listeners[i].transport), c->listeners[i].module);
}

static void write_pid_file(void)
{
    if (!cfg->pid_path)
        return;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", cfg->pid_path);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0 || rename(tmp, cfg->pid_path) < 0)
        nc__log(NC_LOG_ERROR, NULL, 0, "pid_file %s: %s", cfg->pid_path, strerror(errno));
}

static void reload(void)
{
    char err[2048];
    nc__config *nc = calloc(1, sizeof *nc);
    if (!nc || nc__config_load(cfg->path, nc, err, sizeof err) < 0) {
        nc__log(NC_LOG_ERROR, NULL, 0, "reload: %s; keeping the running configuration", nc ? err : "out of memory");
        free(nc);
        return;
    }
    if (nc__tls_make_missing(nc, err, sizeof err) < 0) {
        nc__log(NC_LOG_ERROR, NULL, 0, "reload: %s; keeping the running configuration", err);
        nc__config_free(nc);
        free(nc);
        return;
    }
    if (preflight(nc, 1) != 0) {
        nc__log(NC_LOG_ERROR, NULL, 0, "reload: %s was refused (the reason is above); keeping the running configuration",
                nc->path);
        nc__config_free(nc);
        free(nc);
        return;
    }
    /* Room for a whole new generation beside the ones still draining: a
     * reload storm with long-lived connections open can fill every slot. */
    int room = free_slots();
    if (room < (int)nc->workers) {
        nc__log(NC_LOG_ERROR, NULL, 0,
                "reload: no room for %lld new workers (%d of %d worker slots free: earlier generations are still "
                "draining, for at most drain_timeout_ms); keeping the running configuration",
                nc->workers, room, NC_STATS_WORKERS);
        nc__config_free(nc);
        free(nc);
        return;
    }
    /* The new workers open the log themselves: refuse a log.file they
     * could not open now rather than start a generation that cannot log. */
    if (nc->log_file && strcmp(nc->log_file, "-") != 0) {
        int lfd = open(nc->log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (lfd < 0) {
            nc__log(NC_LOG_ERROR, NULL, 0, "reload: %s: log.file: %s: %s; keeping the running configuration",
                    nc->path, nc->log_file, strerror(errno));
            nc__config_free(nc);
            free(nc);
            return;
        }
        close(lfd);
    }
    int *nfds = calloc(nc->nlisteners, sizeof *nfds);
    char(*naddrs)[120] = calloc(nc->nlisteners, sizeof *naddrs);
    unsigned char *kept = calloc(cfg->nlisteners, 1), *fresh = calloc(nc->nlisteners, 1);
    int added = 0, ok = 1;
    if (!nfds || !naddrs || !kept || !fresh) {
        nc__log(NC_LOG_ERROR, NULL, 0, "reload: out of memory; keeping the running configuration");
        free(nfds);
        free(naddrs);
        free(kept);
        free(fresh);
        nc__config_free(nc);
        free(nc);
        return;
    }
    for (size_t i = 0; i < nc->nlisteners && ok; i++) {
        nfds[i] = -1;
        for (size_t j = 0; j < cfg->nlisteners; j++)
            if (!kept[j] && same_socket(&cfg->listeners[j], &nc->listeners[i])) {
                kept[j] = 1;
                nfds[i] = fds[j];
                memcpy(naddrs[i], addrs[j], sizeof naddrs[i]);
                break;
            }
        if (nfds[i] < 0) {
            nfds[i] = nc__listener_open(&nc->listeners[i], naddrs[i], sizeof naddrs[i], err, sizeof err);
            if (nfds[i] < 0) {
                nc__log(NC_LOG_ERROR, NULL, 0, "reload: %s; keeping the running configuration", err);
                ok = 0;
            } else {
                fresh[i] = 1;
                added++;
            }
        }
    }
    nc__config *old = cfg;
    int *ofds = fds;
    char(*oaddrs)[120] = addrs;
    unsigned ogen = generation;
    if (ok) {
        cfg = nc;
        fds = nfds;
        addrs = naddrs;
        generation++;
        NC_STAT_SET(nc__shm->generation, generation);
        NC_STAT_SET(nc__shm->nworkers, (uint32_t)cfg->workers);
        memset(restarts, 0, sizeof restarts);
        memset(backoff, 0, sizeof backoff);
        memset(restart_at, 0, sizeof restart_at);
        if (start_generation() < 0) {
            nc__log(NC_LOG_ERROR, NULL, 0, "reload: the new workers did not start; keeping the running configuration");
            signal_gen(generation, SIGQUIT);
            generation = ogen;
            NC_STAT_SET(nc__shm->generation, ogen);
            cfg = old;
            fds = ofds;
            addrs = oaddrs;
            ok = 0;
        }
    }
    if (!ok) {
        for (size_t i = 0; i < nc->nlisteners; i++)
            if (fresh[i])
                nc__listener_unbind(&nc->listeners[i], nfds[i]);
        nc__config_free(nc);
        free(nc);
        free(nfds);
        free(naddrs);
        free(kept);
        free(fresh);
        return;
    }
    signal_gen(ogen, SIGUSR2); /* the old generation drains */
    int removed = 0;
    for (size_t j = 0; j < old->nlisteners; j++)
        if (!kept[j]) {
            nc__listener_unbind(&old->listeners[j], ofds[j]);
            removed++;
        }
    int lrc = nc__log_setup(cfg->log_level, cfg->log_format, cfg->log_file);
    if (lrc < 0)
        nc__log(NC_LOG_ERROR, NULL, 0, "%s: log.file: %s: %s; the master keeps its old log", cfg->path,
                cfg->log_file, strerror(-lrc));
    /* pid_file follows the config: written where it now says, removed where
     * it no longer does. */
    if (old->pid_path && (!cfg->pid_path || strcmp(old->pid_path, cfg->pid_path) != 0))
        unlink(old->pid_path);
    write_pid_file();
    log_listeners(cfg, fresh);
    NC_STAT_SET(nc__shm->reloads, NC_STAT_GET(nc__shm->reloads) + 1); /* the master alone writes it */
    nc__log(NC_LOG_INFO, NULL, 0,
            "reload: generation %u serving %zu listener%s (%d added, %d removed, %zu kept); the old workers drain",
            generation, cfg->nlisteners, cfg->nlisteners == 1 ? "" : "s", added, removed,
            cfg->nlisteners - (size_t)added);
    nc__config_free(old);
    free(old);
    free(ofds);
    free(oaddrs);
    free(kept);
    free(fresh);
}

int nc__master_run(nc__config *initial)
{
    char err[2048];
    cfg = calloc(1, sizeof *cfg);
    if (!cfg) {
        report("out of memory");
        return NC_EXIT_RUNTIME;
    }
    *cfg = *initial; /* the master owns it from here (reload replaces it) */
    nc__log_role("master");
    memset(initial, 0, sizeof *initial);
    int rc = NC_EXIT_OK;

    if ((rc = root_rule(cfg)) != NC_EXIT_OK)
        goto out;
    if (geteuid() != 0 && cfg->user)
        nc__log(NC_LOG_INFO, NULL, 0, "not started as root: \"user\" (%s) does not apply", cfg->user);
    char tlserr[4600];
    if (nc__tls_make_missing(cfg, tlserr, sizeof tlserr) < 0) {
        report(tlserr);
        rc = NC_EXIT_CONFIG;
        goto out;
    }
    nc__tls_ktls_report(cfg); /* probed once, before any fork: every process knows */
    if ((rc = preflight(cfg, 1)) != NC_EXIT_OK)
        goto out;
    if (nc__tls_master_init() < 0) {
        report("cannot make the TLS session ticket keys (no randomness)");
        rc = NC_EXIT_RUNTIME;
        goto out;
    }
    if (nc__stats_map() < 0) {
        report("cannot map the statistics region");
        rc = NC_EXIT_RUNTIME;
        goto out;
    }
    fds = calloc(cfg->nlisteners, sizeof *fds);
    addrs = calloc(cfg->nlisteners, sizeof *addrs);
    if (!fds || !addrs) {
        report("out of memory");
        rc = NC_EXIT_RUNTIME;
        goto out;
    }
    for (size_t i = 0; i < cfg->nlisteners; i++)
        fds[i] = -1;
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        fds[i] = nc__listener_open(&cfg->listeners[i], addrs[i], sizeof addrs[i], err, sizeof err);
        if (fds[i] < 0) {
            report(err);
            if (nc__log_fd() != 2) /* once on the terminal; the log file gets it too */
                nc__log(NC_LOG_ERROR, NULL, 0, "%s", err);
            rc = NC_EXIT_CONFIG;
            goto out;
        }
    }
    nc__proctitle_set("netcore: master (%s)", cfg->path);
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = {SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(&set, sigs[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    write_pid_file();
    log_listeners(cfg, NULL);
    generation = 1;
    NC_STAT_SET(nc__shm->generation, 1);
    NC_STAT_SET(nc__shm->nworkers, (uint32_t)cfg->workers);
    if (start_generation() < 0) {
        report("a worker failed to start (the reason is above)");
        signal_all(SIGQUIT);
        while (live()) {
            usleep(10000);
            reap();
        }
        rc = NC_EXIT_CONFIG;
        goto out;
    }
    nc__log(NC_LOG_INFO, NULL, 0, "netcore %s ready: %zu listener%s, %lld worker%s, pid %d", NC_VERSION,
            cfg->nlisteners, cfg->nlisteners == 1 ? "" : "s", cfg->workers, cfg->workers == 1 ? "" : "s",
            (int)getpid());

    for (;;) {
        if (stopping && !live())
            break;
        int timeout = 1000;
        if (stopping && now_ms() >= stop_deadline) {
            nc__log(NC_LOG_WARN, NULL, 0, "workers did not stop in time: killing them");
            signal_all(SIGKILL);
            stop_deadline = now_ms() + 5000;
        }
        for (int i = 0; i < (int)cfg->workers; i++)
            if (restart_at[i]) {
                uint64_t now = now_ms();
                int left = restart_at[i] > now ? (int)(restart_at[i] - now) : 0;
                if (left < timeout)
                    timeout = left;
            }
        struct pollfd pfd = {.fd = sigfd, .events = POLLIN};
        if (poll(&pfd, 1, timeout) > 0) {
            struct signalfd_siginfo si;
            while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
                switch (si.ssi_signo) {
                case SIGCHLD:
                    reap();
                    break;
                case SIGHUP:
                    if (!stopping) {
                        nc__log(NC_LOG_INFO, NULL, 0, "SIGHUP received: reloading %s", cfg->path);
                        reload();
                    }
                    break;
                case SIGUSR1:
                    nc__log_reopen();
                    signal_all(SIGUSR1);
                    nc__log(NC_LOG_INFO, NULL, 0, "SIGUSR1: the master's log reopened; telling %d worker%s",
                            live(), live() == 1 ? "" : "s");
                    break;
                case SIGTERM:
                case SIGINT:
                    if (!stopping) {
                        nc__log(NC_LOG_INFO, NULL, 0, "%s received: stopping gracefully",
                                si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
                        stopping = 1;
                        stop_deadline = now_ms() + (uint64_t)cfg->shutdown_timeout_ms +
                                        (uint64_t)cfg->drain_timeout_ms + 5000;
                        signal_all(SIGTERM);
                        break;
                    }
                    /* a second one stops now */
                    __attribute__((fallthrough));
                case SIGQUIT:
                    nc__log(NC_LOG_INFO, NULL, 0, "stopping now");
                    stopping = 2;
                    signal_all(SIGQUIT);
                    break;
                }
            }
        }
        reap();
        restart_due();
        nc__tls_master_tick(cfg->tls_ticket_rotation_s);
    }
    nc__log(NC_LOG_INFO, NULL, 0, "stopped");
out:
    for (size_t i = 0; fds && i < cfg->nlisteners; i++)
        nc__listener_unbind(&cfg->listeners[i], fds[i]);
    if (cfg->pid_path && rc == NC_EXIT_OK)
        unlink(cfg->pid_path);
    if (sigfd >= 0)
        close(sigfd);
    free(fds);
    free(addrs);
    nc__config_free(cfg);
    free(cfg);
    return rc;
}
