/* main.c -- netcore-bench's command line and comparison specs: run one
 * scenario against several targets in alternating rounds, or a spec file
 * that also starts (and stops, by pid) the servers it compares. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

int bench_progress_tty;

static void usage(FILE *f)
{
    fprintf(f,
        "usage: netcore-bench SCENARIO [options] [NAME=]ADDR...\n"
        "       netcore-bench run SPEC.json [options]\n"
        "\n"
        "Scenarios: echo, http, broadcast, chat, file, udp, handshake (TLS handshakes: needs --tls).\n"
        "ADDR: HOST:PORT, [IPv6]:PORT, unix:PATH.\n"
        "Several targets are measured in alternating rounds (A, B, A, B ...); the table\n"
        "shows medians over rounds and each target's ratio to the first.\n"
        "\n"
        "  -c, --connections N   connections (echo, http), pairs (chat) [50]\n"
        "  -s, --size BYTES      message / payload size              [64]\n"
        "  -D, --depth N         requests in flight per connection   [1]\n"
        "  -d, --duration SECS   measured time per round             [10]\n"
        "  -w, --warmup SECS     unmeasured time before it           [2]\n"
        "  -r, --rounds N        rounds per target                   [3]\n"
        "      --timeout SECS    a request unanswered this long is an error [5]\n"
        "      --path PATH       http: the path to GET               [/]\n"
        "      --close           http: a new connection per request\n"
        "      --expect-length N http: required Content-Length (default: the first one seen)\n"
        "      --subscribers M   broadcast: subscribers              [100]\n"
        "      --publishers P    broadcast: publishers               [1]\n"
        "      --window W        broadcast: undelivered messages per publisher [1024]\n"
        "      --dialect D       broadcast: netcore, plain or redis  [netcore]\n"
        "      --redis           broadcast: same as --dialect redis\n"
        "      --rate N          udp: datagrams per second (0: as fast as possible) [0]\n"
        "      --name NAME       file: the file to download (or upload to)\n"
        "      --upload          file: upload --size bytes instead of downloading\n"
        "      --no-verify       file: check lengths only, not SHA-256 (hashing can limit the client)\n"
        "      --tls             speak TLS 1.2 or 1.3 (every scenario but udp); the server's\n"
        "                        certificate is verified (the system's CAs) against HOST\n"
        "      --cacert FILE     verify against the CAs in FILE instead\n"
        "      --insecure        do not verify the server's certificate\n"
        "      --sni NAME        send NAME as the server name and check the certificate against it\n"
        "      --alpn LIST       offer these protocols (comma-separated: h2,http/1.1)\n"
        "      --tls-ciphers L   TLS 1.2 cipher list (OpenSSL's syntax)\n"
        "      --tls-ciphersuites L  TLS 1.3 cipher suites (TLS_AES_128_GCM_SHA256:...)\n"
        "      --tls-version V   only TLS 1.2 or only 1.3\n"
        "      --resume          offer each connection slot's last TLS session again (tickets);\n"
        "                        the resumed fraction is reported\n"
        "      --json            print JSON instead of the table\n"
        "      --csv FILE        also write one row per target and round\n"
        "      --plot FILE       also draw a latency CDF and throughput bars (.png or .svg);\n"
        "                        with a spec of several runs, FILE-1.png, FILE-2.png ... (one per run)\n"
        "      --server-pid PID  the pid of the server behind the next target named (repeat it, in\n"
        "                        the targets' order): its CPU time (and its children's) gives srv us/op\n"
        "  -q, --quiet           no progress line, no first-error lines\n"
        "\n"
        "Counted: only complete, verified operations; errors (wrong bytes, resets,\n"
        "timeouts, bad status, failed connects) are counted apart.  'client' is the\n"
        "generator's own CPU use: at 90%% or more, it may be the bottleneck.\n"
        "Exit status: 0 when no errors were seen, 1 when some were, 2 on bad usage.\n");
}

enum {
    OPT_TIMEOUT = 256, OPT_PATH, OPT_CLOSE, OPT_EXPECT, OPT_SUBS, OPT_PUBS, OPT_WINDOW, OPT_DIALECT, OPT_REDIS,
    OPT_RATE, OPT_JSON, OPT_CSV, OPT_PLOT, OPT_NAME, OPT_UPLOAD, OPT_NOVERIFY, OPT_TLS, OPT_CACERT,
    OPT_INSECURE, OPT_SNI, OPT_ALPN, OPT_CIPHERS, OPT_SUITES, OPT_TLSVER, OPT_RESUME, OPT_SERVER_PID
};

static const struct option longopts[] = {
    {"connections", required_argument, NULL, 'c'}, {"size", required_argument, NULL, 's'},
    {"depth", required_argument, NULL, 'D'},       {"duration", required_argument, NULL, 'd'},
    {"warmup", required_argument, NULL, 'w'},      {"rounds", required_argument, NULL, 'r'},
    {"timeout", required_argument, NULL, OPT_TIMEOUT}, {"path", required_argument, NULL, OPT_PATH},
    {"close", no_argument, NULL, OPT_CLOSE},         {"expect-length", required_argument, NULL, OPT_EXPECT},
    {"subscribers", required_argument, NULL, OPT_SUBS}, {"publishers", required_argument, NULL, OPT_PUBS},
    {"window", required_argument, NULL, OPT_WINDOW}, {"dialect", required_argument, NULL, OPT_DIALECT},
    {"redis", no_argument, NULL, OPT_REDIS},         {"rate", required_argument, NULL, OPT_RATE},
    {"json", no_argument, NULL, OPT_JSON},           {"csv", required_argument, NULL, OPT_CSV},
    {"plot", required_argument, NULL, OPT_PLOT},     {"quiet", no_argument, NULL, 'q'},
    {"name", required_argument, NULL, OPT_NAME},   {"upload", no_argument, NULL, OPT_UPLOAD},
    {"no-verify", no_argument, NULL, OPT_NOVERIFY}, {"server-pid", required_argument, NULL, OPT_SERVER_PID},
    {"tls", no_argument, NULL, OPT_TLS},           {"cacert", required_argument, NULL, OPT_CACERT},
    {"insecure", no_argument, NULL, OPT_INSECURE}, {"sni", required_argument, NULL, OPT_SNI},
    {"alpn", required_argument, NULL, OPT_ALPN},   {"tls-ciphers", required_argument, NULL, OPT_CIPHERS},
    {"tls-ciphersuites", required_argument, NULL, OPT_SUITES},
    {"tls-version", required_argument, NULL, OPT_TLSVER}, {"resume", no_argument, NULL, OPT_RESUME},
    {"help", no_argument, NULL, 'h'},              {NULL, 0, NULL, 0},
};

/* Which options the command line set, so a spec's values yield to them. */
static unsigned char set_by_cli[OPT_SERVER_PID + 1];

static void defaults(opts *o)
{
    memset(o, 0, sizeof *o);
    o->conns = 50;
    o->size = 64;
    o->depth = 1;
    o->duration = 10;
    o->warmup = 2;
    o->rounds = 3;
    o->timeout = 5;
    o->path = "/";
    o->expect_len = -1;
    o->subs = 100;
    o->pubs = 1;
    o->window = 1024;
    o->dialect = "netcore";
}

static int set_opt(opts *o, int ch, const char *v)
{
    char *end = NULL;
    switch (ch) {
    case 'c': o->conns = (int)strtol(v, &end, 10); break;
    case 's': o->size = (size_t)strtoull(v, &end, 10); break;
    case 'D': o->depth = (int)strtol(v, &end, 10); break;
    case 'd': o->duration = strtod(v, &end); break;
    case 'w': o->warmup = strtod(v, &end); break;
    case 'r': o->rounds = (int)strtol(v, &end, 10); break;
    case OPT_TIMEOUT: o->timeout = strtod(v, &end); break;
    case OPT_PATH: o->path = v; break;
    case OPT_CLOSE: o->close_each = 1; break;
    case OPT_EXPECT: o->expect_len = strtoll(v, &end, 10); break;
    case OPT_SUBS: o->subs = (int)strtol(v, &end, 10); break;
    case OPT_PUBS: o->pubs = (int)strtol(v, &end, 10); break;
    case OPT_WINDOW: o->window = (int)strtol(v, &end, 10); break;
    case OPT_DIALECT: o->dialect = v; break;
    case OPT_REDIS: o->dialect = "redis"; break;
    case OPT_RATE: o->rate = strtod(v, &end); break;
    case OPT_JSON: o->json = 1; break;
    case OPT_CSV: o->csv = v; break;
    case OPT_PLOT: o->plot = v; break;
    case 'q': o->quiet = 1; break;
    case OPT_NAME: o->name = v; break;
    case OPT_UPLOAD: o->upload = 1; break;
    case OPT_NOVERIFY: o->no_verify = 1; break;
    case OPT_TLS: o->tls = 1; break;
    case OPT_CACERT: o->cacert = v; break;
    case OPT_INSECURE: o->insecure = 1; break;
    case OPT_SNI: o->sni = v; break;
    case OPT_ALPN: o->alpn = v; break;
    case OPT_CIPHERS: o->tls_ciphers = v; break;
    case OPT_SUITES: o->tls_ciphersuites = v; break;
    case OPT_TLSVER: o->tls_version = v; break;
    case OPT_RESUME: o->resume = 1; break;
    default: return -1;
    }
    if (end && *end) {
        fprintf(stderr, "netcore-bench: \"%s\" is not a number\n", v);
        return -1;
    }
    return 0;
}

static int check_opts(const opts *o)
{
    if (o->conns < 1 || o->size < 1 || o->depth < 1 || o->duration <= 0 || o->warmup < 0 ||
        o->rounds < 1 || o->subs < 1 || o->pubs < 1 || o->window < 1 || o->timeout <= 0) {
        fprintf(stderr, "netcore-bench: connections, size, depth, rounds, subscribers, publishers, "
                        "window must be at least 1; duration and timeout above 0\n");
        return -1;
    }
    if (!o->tls && (o->cacert || o->insecure || o->sni || o->alpn || o->tls_ciphers || o->tls_ciphersuites ||
                    o->tls_version || o->resume)) {
        fprintf(stderr, "netcore-bench: --cacert, --insecure, --sni, --alpn, --tls-ciphers, "
                        "--tls-ciphersuites, --tls-version and --resume need --tls\n");
        return -1;
    }
    if (o->cacert && o->insecure) {
        fprintf(stderr, "netcore-bench: --cacert and --insecure: choose one\n");
        return -1;
    }
    if (o->size > (64u << 20)) {
        fprintf(stderr, "netcore-bench: --size is limited to 64 MiB\n");
        return -1;
    }
    return 0;
}

static uint64_t total_errors(result *res, int n)
{
    uint64_t e = 0;
    for (int i = 0; i < n; i++)
        e += res[i].err_wrong + res[i].err_reset + res[i].err_timeout + res[i].err_status +
             res[i].err_connect;
    return e;
}

/* Alternating rounds: round 1 of every target, then round 2 ... */
static int compare(const opts *base, const opts *per_target, target *t, int nt)
{
    static int warned;
    if (base->rounds == 1 && !base->quiet && !warned++)
        fprintf(stderr, "netcore-bench: warning: one round is noise (on a shared machine a round moves by "
                        "10%% or more); quote medians of 3 or more alternating rounds (-r 3)\n");
    int nres = base->rounds * nt;
    result *res = calloc((size_t)nres, sizeof *res);
    int k = 0;
    for (int round = 0; round < base->rounds; round++)
        for (int i = 0; i < nt; i++) {
            const opts *o = per_target ? &per_target[i] : base;
            if (run_scenario(o, &t[i], round, &res[k]) < 0) {
                for (int j = 0; j < k; j++)
                    free(res[j].lat);
                free(res);
                return -1;
            }
            k++;
        }
    report(base, t, nt, res, k);
    uint64_t errs = total_errors(res, k);
    for (int i = 0; i < k; i++)
        free(res[i].lat);
    free(res);
    return errs ? 1 : 0;
}

/* ---- specs ---- */

static const char *logdir = "/tmp/netcore-bench-logs";

static int wait_port(target *t, const char *transport, double secs)
{
    if (transport && !strcmp(transport, "udp")) {
        usleep(300000); /* nothing to probe without sending */
        return 0;
    }
    struct timespec ts = {0, 20 * 1000000};
    for (int tries = 0; tries < (int)(secs / 0.02); tries++) {
        int fd = socket(t->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int ok = connect(fd, (struct sockaddr *)&t->ss, t->sl) == 0;
        close(fd);
        if (ok)
            return 0;
        if (t->pid && waitpid(t->pid, NULL, WNOHANG) == t->pid) {
            t->pid = 0;
            return -1;
        }
        nanosleep(&ts, NULL);
    }
    return -1;
}

static pid_t start_server(const char *name, json_t *argv, json_t *env, const char *cwd)
{
    mkdir(logdir, 0755);
    char logpath[512];
    snprintf(logpath, sizeof logpath, "%s/%s.log", logdir, name);
    /* "$PWD" in an argument stands for the folder netcore-bench runs in:
     * servers that resolve relative paths elsewhere (nginx's -c) need it. */
    char here[4096];
    if (!getcwd(here, sizeof here))
        here[0] = '\0';
    size_t n = json_array_size(argv);
    char **av = calloc(n + 1, sizeof *av);
    for (size_t i = 0; i < n; i++) {
        const char *a = json_string_value(json_array_get(argv, i));
        const char *at = a ? strstr(a, "$PWD") : NULL;
        if (at && asprintf(&av[i], "%.*s%s%s", (int)(at - a), a, here, at + 4) >= 0)
            continue;
        av[i] = strdup(a ? a : "");
    }
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        int nul = open("/dev/null", O_RDONLY);
        dup2(nul, 0);
        const char *k;
        json_t *v;
        json_object_foreach(env, k, v) setenv(k, json_string_value(v), 1);
        if (cwd && chdir(cwd) < 0)
            _exit(126);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (!av[0])
            _exit(127);
        execvp(av[0], av);
        fprintf(stderr, "exec %s: %s\n", av[0], strerror(errno));
        _exit(127);
    }
    for (size_t i = 0; i < n; i++)
        free(av[i]);
    free(av);
    return pid;
}

static void stop_server(target *t)
{
    if (!t->pid)
        return;
    kill(t->pid, SIGTERM);
    for (int i = 0; i < 250; i++) {
        if (waitpid(t->pid, NULL, WNOHANG) == t->pid) {
            t->pid = 0;
            return;
        }
        usleep(20000);
    }
    kill(t->pid, SIGKILL);
    waitpid(t->pid, NULL, 0);
    t->pid = 0;
}

/* Whether CMD can be executed: a path as it is, a bare name through PATH
 * (as execvp will look it up). */
static int have_command(const char *cmd)
{
    if (strchr(cmd, '/'))
        return access(cmd, X_OK) == 0;
    const char *path = getenv("PATH");
    char dir[4096];
    for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
        size_t n = strcspn(p, ":");
        if (snprintf(dir, sizeof dir, "%.*s/%s", (int)n, p, cmd) < (int)sizeof dir && access(dir, X_OK) == 0)
            return 1;
        p += n + (p[n] == ':');
    }
    return 0;
}

/* Checks, before any server is started, that every target's program is
 * there: its "requires" (a program a wrapper script runs) or else the first
 * word of "start".  Returns how many are missing, each named with what
 * provides it: its "package", or `ninja bench` for the project's own. */
static int check_targets(const char *path, json_t *targets)
{
    int missing = 0;
    for (size_t i = 0; i < json_array_size(targets); i++) {
        json_t *tj = json_array_get(targets, i);
        const char *name = json_string_value(json_object_get(tj, "name"));
        const char *pkg = json_string_value(json_object_get(tj, "package"));
        const char *cmd = json_string_value(json_object_get(tj, "requires"));
        if (!cmd)
            cmd = json_string_value(json_array_get(json_object_get(tj, "start"), 0));
        if (!cmd || have_command(cmd))
            continue;
        missing++;
        if (pkg)
            fprintf(stderr, "netcore-bench: %s: target %s needs %s, which is not installed "
                            "(Debian package %s; scripts/install-deps --bench installs it)\n",
                    path, name ? name : "?", cmd, pkg);
        else
            fprintf(stderr, "netcore-bench: %s: target %s needs %s, which is not built "
                            "(`ninja bench` builds netcore and the reference servers of bench/ref/)\n",
                    path, name ? name : "?", cmd);
    }
    return missing;
}

static void apply_json_opts(opts *o, json_t *obj)
{
    static const struct {
        const char *key;
        int ch;
    } map[] = {
        {"connections", 'c'}, {"size", 's'}, {"depth", 'D'}, {"duration", 'd'}, {"warmup", 'w'},
        {"rounds", 'r'}, {"timeout", OPT_TIMEOUT}, {"path", OPT_PATH}, {"close", OPT_CLOSE},
        {"expect_length", OPT_EXPECT}, {"subscribers", OPT_SUBS}, {"publishers", OPT_PUBS},
        {"window", OPT_WINDOW}, {"dialect", OPT_DIALECT}, {"rate", OPT_RATE},
        {"name", OPT_NAME}, {"upload", OPT_UPLOAD}, {"no_verify", OPT_NOVERIFY},
        {"tls", OPT_TLS}, {"cacert", OPT_CACERT}, {"insecure", OPT_INSECURE}, {"sni", OPT_SNI},
        {"alpn", OPT_ALPN}, {"tls_ciphers", OPT_CIPHERS}, {"tls_ciphersuites", OPT_SUITES},
        {"tls_version", OPT_TLSVER}, {"resume", OPT_RESUME},
    };
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        size_t i;
        if (!strcmp(k, "scenario"))
            continue; /* a run's own scenario: run_spec reads it */
        for (i = 0; i < sizeof map / sizeof map[0]; i++)
            if (!strcmp(map[i].key, k))
                break;
        if (i == sizeof map / sizeof map[0]) {
            fprintf(stderr, "netcore-bench: spec: unknown option \"%s\" (ignored)\n", k);
            continue;
        }
        if (set_by_cli[map[i].ch])
            continue;
        char buf[64];
        const char *s = buf;
        if (json_is_string(v))
            s = json_string_value(v); /* owned by the spec, which outlives every run */
        else if (json_is_integer(v))
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        else if (json_is_real(v))
            snprintf(buf, sizeof buf, "%g", json_real_value(v));
        else if (json_is_true(v))
            snprintf(buf, sizeof buf, "1");
        else
            continue;
        int *flag = map[i].ch == OPT_CLOSE      ? &o->close_each
                    : map[i].ch == OPT_UPLOAD   ? &o->upload
                    : map[i].ch == OPT_NOVERIFY ? &o->no_verify
                    : map[i].ch == OPT_TLS      ? &o->tls
                    : map[i].ch == OPT_INSECURE ? &o->insecure
                    : map[i].ch == OPT_RESUME   ? &o->resume
                                                : NULL;
        if (flag) {
            *flag = json_is_true(v);
            continue;
        }
        set_opt(o, map[i].ch, s);
    }
}

static int run_spec(const char *path, opts *cli)
{
    json_error_t je;
    json_t *spec = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!spec) {
        fprintf(stderr, "netcore-bench: %s:%d:%d: %s\n", path, je.line, je.column, je.text);
        return 2;
    }
    json_t *targets = json_object_get(spec, "targets");
    const char *scen = json_string_value(json_object_get(spec, "scenario"));
    if (!json_is_array(targets) || !json_array_size(targets) || !scen) {
        fprintf(stderr, "netcore-bench: %s: needs \"scenario\" and a non-empty \"targets\" array\n", path);
        json_decref(spec);
        return 2;
    }
    const char *desc = json_string_value(json_object_get(spec, "description"));
    if (desc && !cli->json)
        printf("%s\n", desc);
    json_t *setup = json_object_get(spec, "setup");
    for (size_t i = 0; i < json_array_size(setup); i++) {
        json_t *cmd = json_array_get(setup, i);
        pid_t pid = start_server("setup", cmd, NULL, NULL);
        int st;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            char words[256] = "";
            for (size_t k = 0; k < json_array_size(cmd); k++) {
                size_t used = strlen(words);
                snprintf(words + used, sizeof words - used, "%s%s", k ? " " : "",
                         json_string_value(json_array_get(cmd, k)) ? json_string_value(json_array_get(cmd, k)) : "?");
            }
            fprintf(stderr, "netcore-bench: %s: setup step %zu (%s) failed (see %s/setup.log)\n", path,
                    i + 1, words, logdir);
            json_decref(spec);
            return 2;
        }
    }
    if (check_targets(path, targets) > 0) {
        json_decref(spec);
        return 2;
    }
    int nt = (int)json_array_size(targets);
    target *t = calloc((size_t)nt, sizeof *t);
    int rc = 0;
    for (int i = 0; i < nt && rc == 0; i++) {
        json_t *tj = json_array_get(targets, i);
        const char *name = json_string_value(json_object_get(tj, "name"));
        const char *addr = json_string_value(json_object_get(tj, "addr"));
        char spec_t[512];
        snprintf(spec_t, sizeof spec_t, "%s=%s", name ? name : "?", addr ? addr : "");
        if (!name || !addr || parse_target(spec_t, &t[i]) < 0) {
            fprintf(stderr, "netcore-bench: %s: targets[%d]: needs \"name\" and a valid \"addr\"\n", path, i);
            rc = 2;
            break;
        }
        json_t *start = json_object_get(tj, "start");
        if (json_is_array(start)) {
            if (!cli->quiet)
                fprintf(stderr, "netcore-bench: starting %s (log: %s/%s.log)\n", name, logdir, name);
            t[i].pid = start_server(name, start, json_object_get(tj, "env"),
                                    json_string_value(json_object_get(tj, "cwd")));
        }
        if (wait_port(&t[i], json_string_value(json_object_get(tj, "transport")), 10) < 0) {
            fprintf(stderr, "netcore-bench: %s does not accept on %s (see %s/%s.log)\n", name, addr,
                    logdir, name);
            rc = 2;
        }
    }
    json_t *runs = json_object_get(spec, "runs");
    size_t nruns = json_array_size(runs) ? json_array_size(runs) : 1;
    for (size_t ri = 0; ri < nruns && rc != 2; ri++) {
        opts base = *cli;
        /* A run may name its own scenario (one spec for HTTP over TLS and
         * for handshakes against the same servers). */
        const char *rscen = json_string_value(json_object_get(json_array_get(runs, ri), "scenario"));
        base.scenario = rscen ? rscen : scen;
        base.run_no = (int)ri + 1;
        base.nruns = (int)nruns;
        apply_json_opts(&base, json_object_get(spec, "options"));
        if (json_array_size(runs))
            apply_json_opts(&base, json_array_get(runs, ri));
        opts *per = calloc((size_t)nt, sizeof *per);
        for (int i = 0; i < nt; i++) {
            per[i] = base;
            apply_json_opts(&per[i], json_object_get(json_array_get(targets, i), "options"));
        }
        if (check_opts(&base) < 0) {
            rc = 2;
        } else {
            int r = compare(&base, per, t, nt);
            if (r < 0)
                rc = 2;
            else if (r > 0)
                rc = 1;
        }
        free(per);
    }
    for (int i = 0; i < nt; i++) {
        stop_server(&t[i]);
        free(t[i].name);
        free(t[i].addr);
        free(t[i].host);
    }
    free(t);
    json_decref(spec);
    return rc;
}

/* --server-pid PID: appends PID to pids[] after checking that it names a
 * running process.  Returns -1 (with the reason printed) otherwise. */
static int parse_server_pid(const char *v, pid_t *pids, int *n)
{
    char *end;
    long pid = strtol(v, &end, 10);
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/%ld/stat", pid);
    if (*end || pid <= 0 || pid > 0x7fffffff) {
        fprintf(stderr, "netcore-bench: --server-pid \"%s\" is not a pid\n", v);
        return -1;
    }
    if (access(proc, R_OK) < 0) {
        fprintf(stderr, "netcore-bench: --server-pid %ld: no such process\n", pid);
        return -1;
    }
    if (*n == 64) {
        fprintf(stderr, "netcore-bench: at most 64 --server-pid\n");
        return -1;
    }
    pids[(*n)++] = (pid_t)pid;
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(stdout);
        return 0;
    }
    opts o;
    defaults(&o);
    o.scenario = argv[1];
    int ch, npids = 0;
    pid_t pids[64];
    optind = 2;
    while ((ch = getopt_long(argc, argv, "c:s:D:d:w:r:qh", longopts, NULL)) != -1) {
        if (ch == 'h') {
            usage(stdout);
            return 0;
        }
        if (ch == OPT_SERVER_PID) {
            if (parse_server_pid(optarg, pids, &npids) < 0)
                return 2;
            continue;
        }
        if (set_opt(&o, ch, optarg) < 0) {
            usage(stderr);
            return 2;
        }
        set_by_cli[ch] = 1;
    }
    bench_progress_tty = isatty(2) && !o.quiet && !o.json;
    if (!strcmp(argv[1], "run")) {
        if (optind != argc - 1) {
            fprintf(stderr, "netcore-bench: run needs one spec file\n");
            return 2;
        }
        if (npids) {
            fprintf(stderr, "netcore-bench: --server-pid is for targets named on the command line; "
                            "a spec's servers are measured when it starts them\n");
            return 2;
        }
        return run_spec(argv[optind], &o);
    }
    if (check_opts(&o) < 0)
        return 2;
    int nt = argc - optind;
    if (nt < 1) {
        fprintf(stderr, "netcore-bench: no target given\n");
        usage(stderr);
        return 2;
    }
    /* Every exit below goes through the frees: an error exit that leaks
     * would change the exit status under LeakSanitizer. */
    target *t = calloc((size_t)nt, sizeof *t);
    int rc = 0;
    for (int i = 0; i < nt && rc == 0; i++)
        if (parse_target(argv[optind + i], &t[i]) < 0) {
            fprintf(stderr, "netcore-bench: bad target \"%s\" (expected [NAME=]HOST:PORT, [IPv6]:PORT or unix:PATH)\n",
                    argv[optind + i]);
            rc = -1;
        }
    if (rc == 0 && npids > nt) {
        fprintf(stderr, "netcore-bench: %d --server-pid for %d target%s\n", npids, nt, nt == 1 ? "" : "s");
        rc = -1;
    }
    for (int i = 0; i < npids && rc == 0; i++)
        t[i].pid = pids[i]; /* measured, never signalled: only a spec's own servers are stopped */
    if (rc == 0)
        rc = compare(&o, NULL, t, nt);
    for (int i = 0; i < nt; i++) {
        free(t[i].name);
        free(t[i].addr);
        free(t[i].host);
    }
    free(t);
    return rc < 0 ? 2 : rc;
}
