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

/* What the page must say to write a module without opening the header:
 * prototypes whole however many lines they span, every hook of
 * nc_module and every field of nc_dgram, what NC_MOD_SHARED implies. */
static void test_api_doc_complete(void)
{
    size_t n;
    char *doc = t_read_file("docs/api.md", &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    T_ASSERT_STR_CONTAINS(doc, "- `int nc_opt_int(nc_options *o, const char *key, long long def, long long min, "
                               "long long max, long long *out)`");
    T_ASSERT_STR_CONTAINS(doc, "- `nc_timer *nc_timer_start(uint64_t after_ms, uint64_t repeat_ms, nc_timer_cb cb, "
                               "void *arg)`");
    T_ASSERT_STR_CONTAINS(doc, "- `int nc_sendto(nc_listener *l, const void *data, size_t len, "
                               "const struct sockaddr *to, socklen_t tolen)`");
    T_ASSERT_STR_CONTAINS(doc, "  - `ssize_t (*on_data)(nc_conn *c, const char *data, size_t len)` — Input arrived");
    T_ASSERT_STR_CONTAINS(doc, "  - `int64_t recv_time_us` — CLOCK_REALTIME at receipt");
    T_ASSERT_STR_CONTAINS(doc, "served by **worker 0 only**");
    static const char *const hooks[] = {"init", "fini", "on_listen", "on_accept", "on_data", "on_eof",
                                        "on_writable", "on_close", "on_datagrams", "on_reopen"};
    for (size_t i = 0; i < sizeof hooks / sizeof hooks[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "(*%s)(", hooks[i]);
        T_ASSERT_STR_CONTAINS(doc, want);
    }
    /* A declaration cut at a line end leaves a comma or an open parenthesis
     * before the closing backquote. */
    static const char *const cut[] = {",` —", ",`\n", "(` —", "(`\n"};
    for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++)
        CU_ASSERT_PTR_NULL(strstr(doc, cut[i]));
    free(doc);
}

int add_build_suite(void)
{
    CU_pSuite s = CU_add_suite("build", NULL, NULL);
    if (!s || !CU_add_test(s, "shipped build.ninja matches ./configure.py", test_build_ninja_fresh) ||
        !CU_add_test(s, "docs/api.md matches the header", test_api_doc_fresh) ||
        !CU_add_test(s, "docs/api.md has whole prototypes, every hook and field", test_api_doc_complete))
        return -1;
    return 0;
}
