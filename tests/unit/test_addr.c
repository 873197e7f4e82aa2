/* test_addr.c -- unit tests of core/addr.c: every accepted form, and the
 * message for each rejected one. */
#include <CUnit/CUnit.h>
#include <string.h>

#include "addr.h"
#include "suites.h"

static void test_good(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"127.0.0.1:7000", "127.0.0.1:7000"},
        {"0.0.0.0:0", "0.0.0.0:0"},
        {"*:80", "0.0.0.0:80"},
        {":8080", "0.0.0.0:8080"},
        {"localhost:65535", "127.0.0.1:65535"},
        {"[::1]:7000", "[::1]:7000"},
        {"[::]:1", "[::]:1"},
        {"[fe80::1:2]:9", "[fe80::1:2]:9"},
        {"unix:/tmp/x.sock", "unix:/tmp/x.sock"},
        {"unix:rel/x.sock", "unix:rel/x.sock"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nc__addr a;
        const char *err = NULL;
        CU_ASSERT_EQUAL(nc__addr_parse(cases[i].in, &a, &err), 0);
        char buf[NC_ADDRSTRLEN];
        nc__addr_format((struct sockaddr *)&a.ss, a.len, buf, sizeof buf);
        CU_ASSERT_STRING_EQUAL(buf, cases[i].out);
    }
}

static void test_bad(void)
{
    static const struct {
        const char *in, *err;
    } cases[] = {
        {"127.0.0.1", "expected \"HOST:PORT\", \"[IPv6]:PORT\" or \"unix:PATH\""},
        {"127.0.0.1:", "missing port after ':'"},
        {"127.0.0.1:70000", "port must be 0..65535"},
        {"127.0.0.1:12a", "port must be a number"},
        {"127.0.0.1:-1", "port must be a number"},
        {"example.com:80", "not an IPv4 address (names other than localhost are not resolved)"},
        {"300.1.1.1:80", "not an IPv4 address (names other than localhost are not resolved)"},
        {"::1:80", "expected \"HOST:PORT\" (write IPv6 addresses as \"[::1]:PORT\")"},
        {"[::1]80", "expected \"[IPv6]:PORT\""},
        {"[::g]:80", "not an IPv6 address"},
        {"unix:", "missing path after \"unix:\""},
        {"", "expected \"HOST:PORT\", \"[IPv6]:PORT\" or \"unix:PATH\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nc__addr a;
        const char *err = "";
        CU_ASSERT_EQUAL(nc__addr_parse(cases[i].in, &a, &err), -1);
        CU_ASSERT_STRING_EQUAL(err, cases[i].err);
    }
    char longpath[200] = "unix:/";
    memset(longpath + 6, 'a', 150);
    longpath[156] = '\0';
    nc__addr a;
    const char *err = "";
    CU_ASSERT_EQUAL(nc__addr_parse(longpath, &a, &err), -1);
    CU_ASSERT_STRING_EQUAL(err, "unix socket path is longer than 107 bytes");
}

int add_addr_suite(void)
{
    CU_pSuite s = CU_add_suite("addr", NULL, NULL);
    if (!s || !CU_add_test(s, "accepted forms parse and format back", test_good) ||
        !CU_add_test(s, "rejected forms say what was expected", test_bad))
        return -1;
    return 0;
}
