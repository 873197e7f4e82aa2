/* report.c -- netcore-bench's output: the comparison table (medians over
 * rounds, ratios to the first target), --json, --csv, and --plot through
 * gnuplot; also the CPU accounting of a server process. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static double proc_one(pid_t pid, pid_t *ppid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *s = strrchr(buf, ')');
    long pp = 0;
    unsigned long ut = 0, st = 0;
    if (!s || sscanf(s + 2, "%*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &pp, &ut, &st) != 3)
        return 0;
    if (ppid)
        *ppid = (pid_t)pp;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds of a server: the process and its direct children (nginx's
 * workers, netcore's workers). */
double proc_cpu_seconds(pid_t pid)
{
    double total = proc_one(pid, NULL);
    DIR *d = opendir("/proc");
    if (!d)
        return total;
    struct dirent *e;
    while ((e = readdir(d))) {
        pid_t p = (pid_t)atoi(e->d_name);
        if (p <= 0 || p == pid)
            continue;
        pid_t pp = 0;
        double c = proc_one(p, &pp);
        if (pp == pid)
            total += c;
    }
    closedir(d);
    return total;
}

static const char *unit(const opts *o)
{
    if (!strcmp(o->scenario, "echo"))
        return "rt/s";
    if (!strcmp(o->scenario, "http"))
        return "req/s";
    if (!strcmp(o->scenario, "broadcast"))
        return "deliv/s";
    if (!strcmp(o->scenario, "udp"))
        return "dgram/s";
    if (!strcmp(o->scenario, "chat"))
        return "msg/s";
    if (!strcmp(o->scenario, "file"))
        return "files/s";
    if (!strcmp(o->scenario, "handshake"))
        return "hs/s";
    return "ops/s";
}

static void fmt_ns(char *b, size_t n, uint64_t ns)
{
    if (ns < 10000)
        snprintf(b, n, "%llu ns", (unsigned long long)ns);
    else if (ns < 10000000)
        snprintf(b, n, "%.0f us", (double)ns / 1e3);
    else if (ns < 10000000000ull)
        snprintf(b, n, "%.1f ms", (double)ns / 1e6);
    else
        snprintf(b, n, "%.1f s", (double)ns / 1e9);
}

static void fmt_rate(char *b, size_t n, double v)
{
    if (v >= 1e6)
        snprintf(b, n, "%.2fM", v / 1e6);
    else if (v >= 1e4)
        snprintf(b, n, "%.1fk", v / 1e3);
    else
        snprintf(b, n, "%.0f", v);
}

typedef struct summary {
    target *t;
    double rate, mbps, client_cpu, server_us, ratio;
    double rate_min, rate_max; /* the spread over rounds */
    uint64_t errors, sent;
    uint64_t hs_full, hs_resumed; /* TLS handshakes, all rounds */
    hist lat;
    int rounds;
} summary;

static void summarise(const opts *o, target *targets, int nt, result *res, int nres, summary *s)
{
    double *v = malloc((size_t)nres * sizeof *v), *w = malloc((size_t)nres * sizeof *w);
    double *cc = malloc((size_t)nres * sizeof *cc), *sv = malloc((size_t)nres * sizeof *sv);
    for (int i = 0; i < nt; i++) {
        summary *x = &s[i];
        memset(x, 0, sizeof *x);
        x->t = &targets[i];
        hist_init(&x->lat);
        int k = 0, ks = 0;
        for (int j = 0; j < nres; j++) {
            result *r = &res[j];
            if (r->t != &targets[i])
                continue;
            v[k] = r->secs > 0 ? (double)r->ops / r->secs : 0;
            w[k] = r->secs > 0 ? (double)r->bytes / r->secs / 1e6 : 0;
            cc[k] = r->client_cpu;
            if (r->server_cpu >= 0 && r->ops)
                sv[ks++] = r->server_cpu * r->secs / (double)r->ops * 1e6;
            k++;
            hist_merge(&x->lat, r->lat);
            x->errors += r->err_wrong + r->err_reset + r->err_timeout + r->err_status + r->err_connect;
            x->sent += r->sent;
            x->hs_full += r->hs_full;
            x->hs_resumed += r->hs_resumed;
        }
        x->rounds = k;
        x->rate_min = x->rate_max = k ? v[0] : 0;
        for (int j = 1; j < k; j++) {
            x->rate_min = v[j] < x->rate_min ? v[j] : x->rate_min;
            x->rate_max = v[j] > x->rate_max ? v[j] : x->rate_max;
        }
        x->rate = stat_median(v, (size_t)k);
        x->mbps = stat_median(w, (size_t)k);
        x->client_cpu = stat_median(cc, (size_t)k);
        x->server_us = ks ? stat_median(sv, (size_t)ks) : -1;
        x->ratio = s[0].rate > 0 ? x->rate / s[0].rate : 0;
    }
    (void)o;
    free(v);
    free(w);
    free(cc);
    free(sv);
}

/* One line saying what a run measures ("50 connections, GET /1k.bin, ..."):
 * the table's heading and the plot's title. */
void describe_run(const opts *o, char *what, size_t n)
{
    if (!strcmp(o->scenario, "broadcast"))
        snprintf(what, n, "%d subscribers, %d publisher%s, %zu B, window %d, %s dialect",
                 o->subs, o->pubs, o->pubs == 1 ? "" : "s", o->size, o->window, o->dialect);
    else if (!strcmp(o->scenario, "udp"))
        snprintf(what, n, "%zu B datagrams, %s", o->size, o->rate > 0 ? "paced" : "as fast as possible");
    else if (!strcmp(o->scenario, "file"))
        snprintf(what, n, "%d connections, %s %s%s", o->conns, o->upload ? "upload to" : "download of",
                 o->name ? o->name : "?", o->upload || o->no_verify ? "" : ", SHA-256 verified");
    else if (!strcmp(o->scenario, "chat"))
        snprintf(what, n, "%d pairs exchanging private messages, %zu B", o->conns, o->size);
    else if (!strcmp(o->scenario, "http"))
        snprintf(what, n, "%d connections, GET %s, %s, depth %d", o->conns, o->path,
                 o->close_each ? "a connection per request" : "keep-alive", o->depth);
    else if (!strcmp(o->scenario, "handshake"))
        snprintf(what, n, "%d connections, each connect, TLS handshake, close", o->conns);
    else
        snprintf(what, n, "%d connections, %zu B, depth %d", o->conns, o->size, o->depth);
    size_t used = strlen(what);
    if (o->tls && used < n)
        snprintf(what + used, n - used, ", TLS%s%s%s", o->tls_version ? " " : "",
                 o->tls_version ? o->tls_version : "", o->resume ? ", sessions resumed" : "");
}

static void print_table(const opts *o, summary *s, int nt)
{
    char what[160];
    describe_run(o, what, sizeof what);
    printf("\nscenario %s: %s; %d round%s of %g s (+%g s warm-up), medians over rounds\n",
           o->scenario, what, o->rounds, o->rounds == 1 ? "" : "s", o->duration, o->warmup);
    if (o->rounds == 1)
        printf("(one round: noise, not a measurement; quote medians of -r 3 or more)\n");
    printf("%-16s %10s %8s %9s %9s %9s %9s %9s %7s %7s %9s %6s\n", "target", unit(o), "MB/s",
           "p50", "p90", "p99", "p99.9", "max", "errors", "client", "srv us/op", "ratio");
    int client_bound = 0;
    for (int i = 0; i < nt; i++) {
        summary *x = &s[i];
        char r[32], q[5][32];
        fmt_rate(r, sizeof r, x->rate);
        const double qs[4] = {0.5, 0.9, 0.99, 0.999};
        for (int k = 0; k < 4; k++)
            fmt_ns(q[k], sizeof q[k], hist_quantile(&x->lat, qs[k]));
        fmt_ns(q[4], sizeof q[4], x->lat.count ? x->lat.max : 0);
        char srv[16] = "-";
        if (x->server_us >= 0)
            snprintf(srv, sizeof srv, "%.2f", x->server_us);
        char cpu[16];
        snprintf(cpu, sizeof cpu, "%.0f%%%s", x->client_cpu * 100, x->client_cpu >= 0.9 ? "*" : "");
        if (x->client_cpu >= 0.9)
            client_bound = 1;
        if (!strcmp(o->scenario, "udp"))
            strcpy(q[0], "-"), strcpy(q[1], "-"), strcpy(q[2], "-"), strcpy(q[3], "-"), strcpy(q[4], "-");
        printf("%-16s %10s %8.1f %9s %9s %9s %9s %9s %7llu %7s %9s %6.2f\n", x->t->name, r, x->mbps,
               q[0], q[1], q[2], q[3], q[4], (unsigned long long)x->errors, cpu, srv, x->ratio);
    }
    if (client_bound)
        printf("* the generator used 90%% or more of a core: it may have been the bottleneck; "
               "compare srv us/op, which does not depend on the client\n");
    for (int i = 0; i < nt; i++)
        if (!strcmp(o->scenario, "udp"))
            printf("%s: sent %llu datagrams in all rounds\n", s[i].t->name,
                   (unsigned long long)s[i].sent);
    for (int i = 0; i < nt && o->resume; i++) {
        uint64_t all = s[i].hs_full + s[i].hs_resumed;
        printf("%s: %llu TLS handshakes in all rounds, %llu resumed (%.1f%%), %llu full\n", s[i].t->name,
               (unsigned long long)all, (unsigned long long)s[i].hs_resumed,
               all ? 100.0 * (double)s[i].hs_resumed / (double)all : 0.0, (unsigned long long)s[i].hs_full);
    }
}

static void print_json(const opts *o, summary *s, int nt, result *res, int nres)
{
    printf("{\"scenario\":\"%s\",\"rounds\":%d,\"duration\":%g,\"warmup\":%g,\"targets\":[", o->scenario,
           o->rounds, o->duration, o->warmup);
    for (int i = 0; i < nt; i++) {
        summary *x = &s[i];
        printf("%s{\"name\":\"%s\",\"addr\":\"%s\",\"rate\":%.1f,\"mb_per_s\":%.2f,\"ratio\":%.4f,"
               "\"errors\":%llu,\"sent\":%llu,\"tls_full\":%llu,\"tls_resumed\":%llu,"
               "\"client_cpu\":%.3f,\"server_us_per_op\":%.3f,"
               "\"latency_ns\":{\"count\":%llu,\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"p999\":%llu,"
               "\"max\":%llu,\"mean\":%.0f},\"rounds\":[",
               i ? "," : "", x->t->name, x->t->addr, x->rate, x->mbps, x->ratio,
               (unsigned long long)x->errors, (unsigned long long)x->sent, (unsigned long long)x->hs_full,
               (unsigned long long)x->hs_resumed, x->client_cpu,
               x->server_us, (unsigned long long)x->lat.count,
               (unsigned long long)hist_quantile(&x->lat, 0.5),
               (unsigned long long)hist_quantile(&x->lat, 0.9),
               (unsigned long long)hist_quantile(&x->lat, 0.99),
               (unsigned long long)hist_quantile(&x->lat, 0.999),
               (unsigned long long)(x->lat.count ? x->lat.max : 0), hist_mean(&x->lat));
        int first = 1;
        for (int j = 0; j < nres; j++) {
            result *r = &res[j];
            if (r->t != x->t)
                continue;
            printf("%s{\"round\":%d,\"secs\":%.3f,\"ops\":%llu,\"bytes\":%llu,\"errors\":{\"wrong\":%llu,"
                   "\"reset\":%llu,\"timeout\":%llu,\"status\":%llu,\"connect\":%llu},"
                   "\"tls_full\":%llu,\"tls_resumed\":%llu,\"client_cpu\":%.3f,\"server_cpu\":%.3f}",
                   first ? "" : ",", r->round + 1, r->secs, (unsigned long long)r->ops,
                   (unsigned long long)r->bytes, (unsigned long long)r->err_wrong,
                   (unsigned long long)r->err_reset, (unsigned long long)r->err_timeout,
                   (unsigned long long)r->err_status, (unsigned long long)r->err_connect,
                   (unsigned long long)r->hs_full, (unsigned long long)r->hs_resumed, r->client_cpu,
                   r->server_cpu);
            first = 0;
        }
        printf("]}");
    }
    printf("]}\n");
}

static void write_csv(const opts *o, result *res, int nres)
{
    /* A spec's runs share the file: the first run writes the header, the
     * others append, and the last column says which run a row is from. */
    int first = o->run_no <= 1;
    FILE *f = fopen(o->csv, first ? "w" : "a");
    if (!f) {
        perror(o->csv);
        return;
    }
    if (first)
        fprintf(f, "scenario,target,round,secs,ops,rate,bytes,p50_ns,p90_ns,p99_ns,p999_ns,max_ns,"
                   "err_wrong,err_reset,err_timeout,err_status,err_connect,client_cpu,server_cpu,run\n");
    for (int j = 0; j < nres; j++) {
        result *r = &res[j];
        fprintf(f, "%s,%s,%d,%.3f,%llu,%.1f,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%.3f,%.3f,%d\n",
                o->scenario, r->t->name, r->round + 1, r->secs, (unsigned long long)r->ops,
                r->secs > 0 ? (double)r->ops / r->secs : 0, (unsigned long long)r->bytes,
                (unsigned long long)hist_quantile(r->lat, 0.5),
                (unsigned long long)hist_quantile(r->lat, 0.9),
                (unsigned long long)hist_quantile(r->lat, 0.99),
                (unsigned long long)hist_quantile(r->lat, 0.999),
                (unsigned long long)(r->lat->count ? r->lat->max : 0),
                (unsigned long long)r->err_wrong, (unsigned long long)r->err_reset,
                (unsigned long long)r->err_timeout, (unsigned long long)r->err_status,
                (unsigned long long)r->err_connect, r->client_cpu, r->server_cpu, o->run_no > 0 ? o->run_no : 1);
    }
    fclose(f);
    fprintf(stderr, "netcore-bench: wrote %s\n", o->csv);
}

static void cdf_point(uint64_t v, double frac, void *arg)
{
    fprintf(arg, "%.3f %.6f\n", (double)v / 1e3, frac);
}

/* The file --plot writes for this run: FILE itself, or with a spec of
 * several runs FILE-N.EXT (N from 1), so that runs do not overwrite each
 * other.  Returns a string the caller frees. */
char *plot_path(const opts *o)
{
    char *p = NULL;
    const char *dot = strrchr(o->plot, '.'), *slash = strrchr(o->plot, '/');
    if (o->nruns <= 1)
        return strdup(o->plot);
    if (!dot || (slash && dot < slash))
        dot = o->plot + strlen(o->plot);
    if (asprintf(&p, "%.*s-%d%s", (int)(dot - o->plot), o->plot, o->run_no, dot) < 0)
        return NULL;
    return p;
}

/* A gnuplot single-quoted string: a quote is written twice.  Titles and
 * names go out as they are (the terminals are noenhanced, so "netcore_w1"
 * is not a subscript). */
static void gp_str(FILE *f, const char *v)
{
    fputc('\'', f);
    for (; *v; v++) {
        if (*v == '\'')
            fputc('\'', f);
        if (*v != '\n')
            fputc(*v, f);
    }
    fputc('\'', f);
}

/* Writes the gnuplot script of one run into dir/plot.gp: a latency CDF per
 * target beside throughput bars (median over rounds, min-max whiskers,
 * ratio to the first target above each bar).  Returns -1 when a file
 * cannot be written. */
static int plot_script(const opts *o, summary *s, int nt, const char *dir, const char *out)
{
    char path[512];
    for (int i = 0; i < nt; i++) {
        snprintf(path, sizeof path, "%s/cdf%d.dat", dir, i);
        FILE *f = fopen(path, "w");
        if (!f)
            return -1;
        hist_foreach(&s[i].lat, cdf_point, f);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/rate.dat", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    for (int i = 0; i < nt; i++) {
        fprintf(f, "%d \"", i);
        for (const char *c = s[i].t->name; *c; c++)
            fputc(*c == '"' ? '\'' : *c, f);
        fprintf(f, "\" %.1f %.1f %.1f %.4f\n", s[i].rate, s[i].rate_min, s[i].rate_max, s[i].ratio);
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/plot.gp", dir);
    f = fopen(path, "w");
    if (!f)
        return -1;
    if (nt < 1) { /* nothing to draw (and s[0] below needs a target) */
        fclose(f);
        return -1;
    }
    const char *ext = strrchr(out, '.');
    char what[160], title[400];
    describe_run(o, what, sizeof what);
    if (o->nruns > 1)
        snprintf(title, sizeof title, "%s, run %d of %d: %s; %d round%s", o->scenario, o->run_no, o->nruns,
                 what, o->rounds, o->rounds == 1 ? " (noise)" : "s");
    else
        snprintf(title, sizeof title, "%s: %s; %d round%s", o->scenario, what, o->rounds,
                 o->rounds == 1 ? " (noise)" : "s");
    fprintf(f, "set terminal %s noenhanced size 1200,520\nset output ",
            ext && !strcmp(ext, ".svg") ? "svg" : "pngcairo");
    gp_str(f, out);
    fprintf(f, "\nset multiplot layout 1,2 title ");
    gp_str(f, title);
    fprintf(f, "\nset title 'latency CDF'\nset logscale x\nset xlabel 'microseconds'\n"
               "set ylabel 'fraction of operations'\nset key bottom right\nplot ");
    for (int i = 0; i < nt; i++) {
        fprintf(f, "%s'%s/cdf%d.dat' using 1:2 with lines title ", i ? ", " : "", dir, i);
        gp_str(f, s[i].t->name);
    }
    fprintf(f, "\nunset logscale x\nset title 'throughput: median, min-max over rounds, ratio to %s'\n",
            s[0].t->name);
    fprintf(f, "set xlabel ''\nset ylabel '%s'\nset style fill solid 0.6\nset boxwidth 0.6\n"
               "set xrange [-0.6:%d.6]\nset yrange [0:*]\nset offsets 0, 0, graph 0.1, 0\nunset key\n"
               "plot '%s/rate.dat' using 1:3:xtic(2) with boxes, "
               "'' using 1:3:4:5 with yerrorbars lc rgb 'black' pt -1, "
               "'' using 1:5:(sprintf('%%.2fx', $6)) with labels offset 0,1\nunset multiplot\n",
            unit(o), nt - 1, dir);
    fclose(f);
    return 0;
}

static void plot(const opts *o, summary *s, int nt)
{
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        fprintf(stderr, "netcore-bench: --plot needs gnuplot, which is not installed "
                        "(Debian package gnuplot-nox; scripts/install-deps --bench installs it); no plot written\n");
        return;
    }
    char dir[] = "/tmp/netcore-bench-plot-XXXXXX";
    char *out = plot_path(o);
    if (!out || !mkdtemp(dir)) {
        free(out);
        return;
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "gnuplot '%s/plot.gp' 2>&1", dir);
    if (plot_script(o, s, nt, dir, out) < 0 || system(cmd) != 0) {
        fprintf(stderr, "netcore-bench: gnuplot failed; its script and data are in %s\n", dir);
        free(out);
        return;
    }
    fprintf(stderr, "netcore-bench: wrote %s\n", out);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir); /* our own mkdtemp folder */
    if (system(cmd) != 0)
        fprintf(stderr, "netcore-bench: could not remove %s\n", dir);
    free(out);
}

void report(const opts *o, target *targets, int nt, result *res, int nres)
{
    summary *s = malloc((size_t)nt * sizeof *s);
    summarise(o, targets, nt, res, nres, s);
    if (o->json)
        print_json(o, s, nt, res, nres);
    else
        print_table(o, s, nt);
    if (o->csv)
        write_csv(o, res, nres);
    if (o->plot)
        plot(o, s, nt);
    fflush(stdout);
    free(s);
}
