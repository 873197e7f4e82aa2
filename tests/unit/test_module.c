/* test_module.c -- unit tests of core/module.c: the descriptor checks
 * (before any module code runs) and loading real .so files built broken on
 * purpose. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "module.h"
#include "suites.h"

static ssize_t dummy_data(nc_conn *c, const char *d, size_t n)
{
    (void)c;
    (void)d;
    return (ssize_t)n;
}

static nc_module good(void)
{
    nc_module m = {NC_MODULE_HEADER, .flags = NC_MOD_STREAM, .name = "x", .on_data = dummy_data};
    return m;
}

static void expect(const nc_module *m, const char *want)
{
    char buf[256];
    const char *got = nc__module_check(m, "x.so", buf, sizeof buf);
    if (!want) {
        CU_ASSERT_PTR_NULL(got);
        return;
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "\n  want: %s\n  got:  %s\n", want, got);
    CU_ASSERT_STRING_EQUAL(got, want);
}

static void test_check(void)
{
    char want[256];
    nc_module m = good();
    expect(&m, NULL);
    m.magic = 0x12345678;
    expect(&m, "x.so: not a netcore module (bad magic 0x12345678)");
    m = good();
    m.abi_major = NC_ABI_MAJOR + 1;
    snprintf(want, sizeof want, "x.so: module ABI %d.0 does not match netcore ABI %d.%d",
             NC_ABI_MAJOR + 1, NC_ABI_MAJOR, NC_ABI_MINOR);
    m.abi_minor = 0;
    expect(&m, want);
    m = good();
    m.abi_minor = NC_ABI_MINOR + 1; /* built against a newer core */
    snprintf(want, sizeof want, "x.so: module ABI %d.%d does not match netcore ABI %d.%d",
             NC_ABI_MAJOR, NC_ABI_MINOR + 1, NC_ABI_MAJOR, NC_ABI_MINOR);
    expect(&m, want);
    m = good();
    m.size = 8;
    snprintf(want, sizeof want, "x.so: module descriptor is 8 bytes, netcore ABI %d.%d expects %zu",
             NC_ABI_MAJOR, NC_ABI_MINOR, sizeof(nc_module));
    expect(&m, want);
    m = good();
    m.reserved[3] = &m;
    expect(&m, "x.so: module descriptor has non-zero reserved fields");
    m = good();
    m.name = "";
    expect(&m, "x.so: module has no name");
    m = good();
    m.flags = 0;
    expect(&m, "x.so: module x declares neither NC_MOD_STREAM nor NC_MOD_DGRAM");
    m = good();
    m.on_data = NULL;
    expect(&m, "x.so: module x serves streams but has no on_data");
    m = good();
    m.flags = NC_MOD_DGRAM;
    expect(&m, "x.so: module x serves datagrams but has no on_datagrams");
}

static void test_load(void)
{
    char err[512], want[512];
    const char *p = t_build_path("tests/modules/bad_abi.so");
    CU_ASSERT_PTR_NULL(nc__module_open(p, err, sizeof err));
    snprintf(want, sizeof want, "%s: module ABI %d.0 does not match netcore ABI %d.%d", p,
             NC_ABI_MAJOR + 1, NC_ABI_MAJOR, NC_ABI_MINOR);
    CU_ASSERT_STRING_EQUAL(err, want);

    p = t_build_path("tests/modules/no_symbol.so");
    CU_ASSERT_PTR_NULL(nc__module_open(p, err, sizeof err));
    snprintf(want, sizeof want, "%s: no \"netcore_module\" symbol: not a netcore module", p);
    CU_ASSERT_STRING_EQUAL(err, want);

    p = t_build_path("tests/modules/missing.so");
    CU_ASSERT_PTR_NULL(nc__module_open(p, err, sizeof err));
    snprintf(want, sizeof want,
             "%s: cannot load: cannot open shared object file: No such file or directory", p);
    CU_ASSERT_STRING_EQUAL(err, want);

    p = t_build_path("modules/echo.so");
    nc__module *a = nc__module_open(p, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    nc__module *b = nc__module_open(p, err, sizeof err);
    CU_ASSERT_PTR_EQUAL(a, b); /* loaded once, shared */
    CU_ASSERT_EQUAL(a->refs, 2);
    CU_ASSERT_STRING_EQUAL(a->m->name, "echo");
    nc__module_close(b);
    nc__module_close(a);
}

int add_module_suite(void)
{
    CU_pSuite s = CU_add_suite("module", NULL, NULL);
    if (!s || !CU_add_test(s, "descriptor checks name the file and both versions", test_check) ||
        !CU_add_test(s, "broken .so files are refused with one clear line", test_load))
        return -1;
    return 0;
}
