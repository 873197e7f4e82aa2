/* test_build.c -- the shipped build.ninja is exactly what ./configure.py
 * writes with default options; docs/api.md is what scripts/gen-api-doc
 * writes, with every declaration whole and the structs' members listed. */
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

/* The cuts that once were in api.md: a prototype that spans lines ended at
 * its first line's comma, and no struct member was listed. */
static void test_api_doc_whole(void)
{
    char *doc = slurp_cmd("cat docs/api.md");
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    T_ASSERT_STR_CONTAINS(doc, "- `int nc_opt_int(nc_options *o, const char *key, long long def, long long min, "
                               "long long max, long long *out);`\n");
    T_ASSERT_STR_CONTAINS(doc, "- `int nc_sendto(nc_listener *l, const void *data, size_t len, const struct "
                               "sockaddr *to, socklen_t tolen);`");
    T_ASSERT_STR_CONTAINS(doc, "  - `ssize_t (*on_data)(nc_conn *c, const char *data, size_t len);` — Input arrived");
    T_ASSERT_STR_CONTAINS(doc, "  - `void (*on_datagrams)(nc_listener *l, const nc_dgram *d, unsigned n);`");
    T_ASSERT_STR_CONTAINS(doc, "  - `int64_t recv_time_us;` — CLOCK_REALTIME at receipt, microseconds\n");
    T_ASSERT_STR_CONTAINS(doc, "  - `const unsigned char *data;` — payload, valid during on_datagrams only\n");
    T_ASSERT_STR_CONTAINS(doc, "## Modules and worker processes (`NC_MOD_SHARED`)\n");
    T_ASSERT_STR_CONTAINS(doc, "| 0 on success, or a negative errno value (`-EAGAIN`, `-ENOENT` ...) | `nc_sendto`, "
                               "`nc_path_writable` |\n");
    /* no declaration anywhere ends in a comma or a continuation */
    int cut = 0;
    for (char *p = doc; (p = strstr(p, ",`")) != NULL; p += 2)
        cut++;
    for (char *p = doc; (p = strstr(p, "\\`")) != NULL; p += 2)
        cut++;
    CU_ASSERT_EQUAL(cut, 0);
    free(doc);
}

int add_build_suite(void)
{
    CU_pSuite s = CU_add_suite("build", NULL, NULL);
    if (!s || !CU_add_test(s, "shipped build.ninja matches ./configure.py", test_build_ninja_fresh) ||
        !CU_add_test(s, "docs/api.md matches the header", test_api_doc_fresh) ||
        !CU_add_test(s, "docs/api.md: prototypes whole, hooks and nc_dgram fields listed", test_api_doc_whole))
        return -1;
    return 0;
}
