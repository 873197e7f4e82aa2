/* main.c -- the runner of netcore-module-tests: every shipped module under
 * the mock core.  `netcore-module-tests [SUITE...]` runs only those; the
 * helpers of mt.h live here too. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mt.h"

static const struct {
    const char *name;
    int (*add)(void);
} suites[] = {
#define X(name) {#name, add_##name##_suite},
    MT_SUITES
#undef X
};

const nc_module *mt_module(const char *name)
{
    const char *dir = getenv("NC_BUILDDIR");
    char path[1024], err[1024];
    snprintf(path, sizeof path, "%s/modules/%s.so", dir && *dir ? dir : "build", name);
    const nc_module *m = nc_mock_load(path, err, sizeof err);
    if (!m)
        fprintf(stderr, "\n  %s\n", err);
    return m;
}

nc_mock *mt_start(const char *name, const char *options, const nc_mock_config *cfg)
{
    const nc_module *m = mt_module(name);
    if (!m)
        return NULL;
    nc_mock_config c = {0};
    if (cfg)
        c = *cfg;
    c.options = options;
    char err[1024];
    nc_mock *mk = nc_mock_start(m, &c, err, sizeof err);
    if (!mk)
        fprintf(stderr, "\n  %s\n", err);
    return mk;
}

const char *mt_start_error(const char *name, const char *options, const nc_mock_config *cfg)
{
    static char err[1024];
    const nc_module *m = mt_module(name);
    if (!m)
        return "cannot load the module";
    nc_mock_config c = {0};
    if (cfg)
        c = *cfg;
    c.options = options;
    nc_mock *mk = nc_mock_start(m, &c, err, sizeof err);
    if (mk) {
        nc_mock_free(mk);
        return "";
    }
    return err;
}

static char tmpdir[64];

static void rm_tmpdir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
}

const char *mt_tmpdir(void)
{
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/netcore-mt-XXXXXX");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            exit(1);
        }
        atexit(rm_tmpdir);
    }
    return tmpdir;
}

const char *mt_path(const char *name)
{
    static char bufs[4][512];
    static int k;
    char *b = bufs[k++ % 4];
    snprintf(b, 512, "%s/%s", mt_tmpdir(), name);
    return b;
}

char *mt_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0, r;
    char *b = malloc(cap);
    while (b && (r = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (b)
        b[n] = '\0';
    if (len)
        *len = n;
    return b;
}

int main(int argc, char **argv)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) {
        int want = argc < 2;
        for (int a = 1; a < argc; a++)
            if (strcmp(argv[a], suites[i].name) == 0)
                want = 1;
        if (want && suites[i].add() != 0) {
            fprintf(stderr, "cannot add suite %s: %s\n", suites[i].name, CU_get_error_msg());
            return 2;
        }
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    unsigned ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    if (ran == 0) {
        fprintf(stderr, "no test ran\n");
        return 1;
    }
    return failed ? 1 : 0;
}
