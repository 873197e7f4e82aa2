/* main.c -- the netcore command line: parse options, load the config, run
 * the server (or only check the config with -t). */
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "server.h"
#include "version.h"

#ifndef NC_MODULES_DIR
#define NC_MODULES_DIR "/usr/local/lib/netcore/modules"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: netcore -c FILE [-t]\n"
            "       netcore --version | --help\n"
            "\n"
            "  -c, --config FILE   the configuration (JSON); see docs/config.md\n"
            "  -t, --test          check the configuration (syntax, schema, modules and\n"
            "                      their options) without binding, then exit\n"
            "  -v, --version       print the version and the module ABI version\n"
            "  -h, --help          this text\n"
            "\n"
            "Signals: SIGTERM/SIGINT stop gracefully (a second one stops at once),\n"
            "SIGQUIT stops at once, SIGUSR1 reopens log files.\n"
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

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"test", no_argument, NULL, 't'},
        {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *conf = NULL;
    int check = 0, ch;
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
    if (!conf) {
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
    int rc = nc__server_run(&cfg, check);
    nc__config_free(&cfg);
    nc__log_close();
    nc__config_set_default_modules_dirs(NULL, NULL);
    return rc;
}
