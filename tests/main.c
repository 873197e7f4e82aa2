/* main.c -- the netcore CUnit runner: every unit and integration suite.
 * `netcore-tests [SUITE...]` runs only the named suites. */
#include <CUnit/Basic.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "suites.h"

static const struct {
    const char *name;
    int (*add)(void);
} suites[] = {
#define X(name) {#name, add_##name##_suite},
    NC_TEST_SUITES
#undef X
};

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    /* The concurrency tests open thousands of sockets. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
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
