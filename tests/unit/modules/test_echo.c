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

static void test_banner_first(void)
{
    nc_mock *mk = mt_start("echo", "{\"banner\": \"hi there\\r\\n\"}", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_conn *c = nc_mock_accept(mk, NULL);
    nc_mock_feeds(c, "x");
    expect_read(c, "hi there\r\nx");
    CU_ASSERT_EQUAL(nc_mock_eof(c), -1); /* no on_eof: closed once the output is read */
    CU_ASSERT_EQUAL(nc_mock_closed(c), NC_MOCK_CLOSED_FLUSH);
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

/* A line must be complete within line_timeout_ms of its first byte, however
 * slowly its bytes come. */
static void test_line_deadline(void)
{
    nc_mock *mk = mt_start("echo", "{\"line_timeout_ms\": 1000}", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_conn *slow = nc_mock_accept(mk, "10.0.0.9:1234"), *fine = nc_mock_accept(mk, NULL);
    CU_ASSERT_EQUAL(nc_mock_timers(mk), 0); /* the sweep starts at the first arm */
    for (int i = 0; i < 3; i++) {
        nc_mock_feeds(slow, "a");
        nc_mock_feeds(fine, "line\n");
        nc_mock_advance(mk, 300);
    }
    CU_ASSERT_EQUAL(nc_mock_closed(slow), NC_MOCK_OPEN);
    nc_mock_advance(mk, 300);
    CU_ASSERT_EQUAL(nc_mock_closed(slow), NC_MOCK_FLUSHING);
    expect_read(slow, "aaa");
    CU_ASSERT_EQUAL(nc_mock_closed(slow), NC_MOCK_CLOSED_FLUSH);
    CU_ASSERT_EQUAL(nc_mock_closed(fine), NC_MOCK_OPEN);
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "line_timeouts"), 1);
    CU_ASSERT_EQUAL(nc_mock_log_count(mk, "info [mock#1] a complete line not received within line_timeout_ms (1000); closing"), 1);
    /* 4096 bytes without a newline count as a line (a binary stream). */
    static char block[4096];
    memset(block, 'b', sizeof block);
    nc_mock_feed(fine, "x", 1);
    nc_mock_feed(fine, block, sizeof block - 1);
    nc_mock_advance(mk, 5000);
    CU_ASSERT_EQUAL(nc_mock_closed(fine), NC_MOCK_OPEN);
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0); /* fini stopped the sweep */
}

static void test_datagrams(void)
{
    nc_mock_config udp = {.transport = "udp"};
    nc_mock *mk = mt_start("echo", NULL, &udp);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    CU_ASSERT_EQUAL(nc_mock_datagram(mk, "192.0.2.1:999", "ping", 4), 0);
    CU_ASSERT_EQUAL(nc_mock_datagram(mk, "[2001:db8::2]:53", "", 0), 0);
    CU_ASSERT_EQUAL(nc_mock_sent_count(mk), 2);
    const nc_mock_sent *s = nc_mock_sent_get(mk, 0);
    CU_ASSERT_EQUAL(s->len, 4);
    CU_ASSERT_EQUAL(memcmp(s->data, "ping", 4), 0);
    CU_ASSERT_STRING_EQUAL(s->to, "192.0.2.1:999");
    CU_ASSERT_EQUAL(nc_mock_sent_get(mk, 1)->len, 0);
    CU_ASSERT_STRING_EQUAL(nc_mock_sent_get(mk, 1)->to, "[2001:db8::2]:53");
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

static void test_options(void)
{
    CU_ASSERT_STRING_EQUAL(mt_start_error("echo", "{\"banner\": 1}", NULL),
                           "mock.json: listeners[0].options.banner: expected a string");
    CU_ASSERT_STRING_EQUAL(mt_start_error("echo", "{\"baner\": \"x\"}", NULL),
                           "mock.json: listeners[0].options.baner: unknown option (did you mean \"banner\"?)");
}

int add_echo_suite(void)
{
    CU_pSuite s = CU_add_suite("echo", NULL, NULL);
    if (!s)
        return -1;
    CU_add_test(s, "bytes come back as they were sent", test_echoes_bytes);
    CU_add_test(s, "the banner goes first; EOF closes after the flush", test_banner_first);
    CU_add_test(s, "a line not complete within line_timeout_ms closes", test_line_deadline);
    CU_add_test(s, "datagrams are sent back to their sender", test_datagrams);
    CU_add_test(s, "option errors", test_options);
    return 0;
}
