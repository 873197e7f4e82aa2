/* test_build.c -- the shipped build.ninja is exactly what ./configure.py
 * writes with default options. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "suites.h"

static char *slurp_cmd(const char *cmd)
{
    FILE *f = popen(cmd, "r");
    if (!f)
        return NULL;
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0)
        n += r;
    buf[n] = '\0';
    pclose(f);
    return buf;
}

static void test_build_ninja_fresh(void)
{
    char *want = slurp_cmd("python3 configure.py --output -");
    char *have = slurp_cmd("cat build.ninja");
    CU_ASSERT_PTR_NOT_NULL_FATAL(want);
    CU_ASSERT_PTR_NOT_NULL_FATAL(have);
    CU_ASSERT(strlen(want) > 1000);
    if (strcmp(want, have) != 0)
        fprintf(stderr, "\n  build.ninja differs from `./configure.py` output: run "
                        "./configure.py and commit build.ninja\n");
    CU_ASSERT_STRING_EQUAL(want, have);
    free(want);
    free(have);
}

static void test_api_doc_fresh(void)
{
    int st = system("python3 scripts/gen-api-doc --check");
    if (st != 0)
        fprintf(stderr, "\n  docs/api.md is stale: run scripts/gen-api-doc\n");
    CU_ASSERT_EQUAL(st, 0);
}

int add_build_suite(void)
{
    CU_pSuite s = CU_add_suite("build", NULL, NULL);
    if (!s || !CU_add_test(s, "shipped build.ninja matches ./configure.py", test_build_ninja_fresh) ||
        !CU_add_test(s, "docs/api.md matches the header", test_api_doc_fresh))
        return -1;
    return 0;
}
