/* main.c -- the netcore command line: parse options, load the config, run
 * the server (or only check the config with -t). */
#include <dirent.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config.h"
#include "core.h"
#include "log.h"
#include "module.h"
#include "server.h"
#include "version.h"

#ifndef NC_MODULES_DIR
#define NC_MODULES_DIR "/usr/local/lib/netcore/modules"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: netcore -c FILE [-t]\n"
            "       netcore --list-modules [-c FILE]\n"
            "       netcore --version | --help\n"
            "\n"
            "  -c, --config FILE   the configuration (JSON); see docs/config.md\n"
            "  -t, --test          check the configuration (syntax, schema, modules and\n"
            "                      their options) without binding, then exit\n"
            "      --list-modules  list the modules netcore can find (the config's modules_dir\n"
            "                      with -c), with version and ABI, or why one cannot load\n"
            "  -v, --version       print the version and the module ABI version\n"
            "  -h, --help          this text\n"
            "\n"
            "Signals: SIGTERM/SIGINT stop gracefully (a second one stops at once),\n"
            "SIGQUIT stops at once, SIGHUP reloads the configuration, SIGUSR1 reopens\n"
            "log files.\n"
            "Exit status: 0 stopped cleanly or config valid; 1 bad config, a module\n"
            "refused it, or a listener could not bind; 2 bad command line; 3 the event\n"
            "loop failed.\n");
}

/* Raise the soft descriptor limit to the hard one, as servers expecting
 * many connections do; failing is not fatal. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* List every .so of one folder; returns how many could not be loaded. */
static int list_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    char *names[1024] = {NULL};
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 1024) {
        size_t l = strlen(e->d_name);
        if (l > 3 && strcmp(e->d_name + l - 3, ".so") == 0)
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    int bad = 0;
    char real[PATH_MAX];
    printf("%s:\n", realpath(dir, real) ? real : dir);
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX + 300], err[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        nc__module *m = nc__module_open(path, err, sizeof err);
        if (m) {
            printf("  %-16s %-8s ABI %u.%u  %s\n", m->m->name, m->m->version ? m->m->version : "-",
                   m->m->abi_major, m->m->abi_minor, m->m->description ? m->m->description : "");
            nc__module_close(m);
        } else {
            /* The loader's message starts with the path; keep the reason. */
            const char *why = strncmp(err, path, strlen(path)) == 0 ? err + strlen(path) + 2 : err;
            printf("  %-16s cannot be loaded: %s\n", names[i], why);
            bad++;
        }
        free(names[i]);
    }
    return bad;
}

static int list_modules(const char *conf)
{
    const char *dirs[3] = {NULL, NULL, NULL};
    char *own = NULL;
    json_t *root = NULL;
    if (conf) {
        json_error_t je;
        root = json_load_file(conf, 0, &je);
        if (!root) {
            fprintf(stderr, "netcore: %s:%d:%d: %s\n", conf, je.line, je.column, je.text);
            return NC_EXIT_CONFIG;
        }
        const char *md = json_string_value(json_object_get(root, "modules_dir"));
        if (md) {
            char *dup = strdup(conf);
            if (md[0] == '/' || asprintf(&own, "%s/%s", dirname(dup), md) < 0)
                own = strdup(md);
            free(dup);
            dirs[0] = own;
        }
    }
    if (!dirs[0])
        for (int i = 0; i < 3; i++)
            dirs[i] = nc__config_default_modules_dir(i);
    printf("netcore %s, module ABI %d.%d\n", NC_VERSION, NC_ABI_MAJOR, NC_ABI_MINOR);
    int seen = 0;
    char done[3][PATH_MAX];
    for (int i = 0; i < 3; i++) {
        char real[PATH_MAX];
        if (!dirs[i] || !realpath(dirs[i], real))
            continue;
        int dup = 0;
        for (int k = 0; k < seen; k++)
            dup |= strcmp(done[k], real) == 0;
        if (dup)
            continue;
        snprintf(done[seen++], PATH_MAX, "%s", real);
        list_dir(dirs[i]);
    }
    if (!seen)
        printf("(no module folder found)\n");
    free(own);
    if (root)
        json_decref(root);
    return NC_EXIT_OK;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"test", no_argument, NULL, 't'},
        {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"list-modules", no_argument, NULL, 'L'},
        {NULL, 0, NULL, 0},
    };
    nc__proctitle_init(argc, argv);
    const char *conf = NULL;
    int check = 0, list = 0, ch;
    while ((ch = getopt_long(argc, argv, "c:tvh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            conf = optarg;
            break;
        case 't':
            check = 1;
            break;
        case 'v':
            printf("netcore %s (module ABI %d.%d)\n", NC_VERSION, NC_ABI_MAJOR, NC_ABI_MINOR);
            return NC_EXIT_OK;
        case 'h':
            usage(stdout);
            return NC_EXIT_OK;
        case 'L':
            list = 1;
            break;
        default:
            usage(stderr);
            return NC_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "netcore: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return NC_EXIT_USAGE;
    }
    if (!conf && !list) {
        fprintf(stderr, "netcore: no configuration: use -c FILE\n");
        usage(stderr);
        return NC_EXIT_USAGE;
    }

    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        nc__config_set_default_modules_dirs(dirname(exe), NC_MODULES_DIR);
    } else {
        nc__config_set_default_modules_dirs(NULL, NC_MODULES_DIR);
    }

    if (list) {
        int rc = list_modules(conf);
        nc__config_set_default_modules_dirs(NULL, NULL);
        return rc;
    }

    nc__config cfg;
    char err[2048];
    if (nc__config_load(conf, &cfg, err, sizeof err) < 0) {
        fprintf(stderr, "netcore: %s\n", err);
        nc__config_set_default_modules_dirs(NULL, NULL);
        return NC_EXIT_CONFIG;
    }
    if (!check) {
        int rc = nc__log_setup(cfg.log_level, cfg.log_format, cfg.log_file);
        if (rc < 0) {
            fprintf(stderr, "netcore: %s: log.file: cannot open %s: %s\n", cfg.path,
                    cfg.log_file, strerror(-rc));
            nc__config_free(&cfg);
            return NC_EXIT_CONFIG;
        }
        raise_nofile();
    }
    int rc = check ? nc__master_check(&cfg) : nc__master_run(&cfg);
    nc__config_free(&cfg);
    nc__log_close();
    nc__config_set_default_modules_dirs(NULL, NULL);
    return rc;
}
