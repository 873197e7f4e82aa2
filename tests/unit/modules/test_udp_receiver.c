/* test_udp_receiver.c -- modules/udp-receiver (udprecv.c, sink.c) under the
 * mock core: the exact JSON and text records, replies, counters, flushing
 * on the timer and at fini, write-behind through the work queue, options. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mt.h"

/* The mock's wall clock at the start: 1763770000 s. */
#define T0 "2025-11-22T00:06:40."

static nc_mock *start_to(const char *out, const char *extra)
{
    char opts[1024];
    snprintf(opts, sizeof opts, "{\"output\": \"%s\"%s%s}", out, extra ? ", " : "", extra ? extra : "");
    unlink(out);
    return mt_start("udp-receiver", opts, NULL);
}

static void expect_file(const char *path, const char *want)
{
    char *got = mt_slurp(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_STRING_EQUAL(got, want);
    if (strcmp(got, want))
        fprintf(stderr, "\n  got: %s\n", got);
    free(got);
}

static void test_json_records(void)
{
    const char *out = mt_path("udp.json");
    nc_mock *mk = start_to(out, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    CU_ASSERT_EQUAL(nc_mock_datagram(mk, "10.0.0.2:5000", "hi \"you\"\n", 9), 0);
    nc_mock_advance(mk, 5);
    CU_ASSERT_EQUAL(nc_mock_datagram(mk, "[2001:db8::1]:53", "\xff\x00\x01", 3), 0);
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "datagrams"), 2);
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "bytes"), 12);
    expect_file(out, ""); /* buffered until the flush timer */
    nc_mock_advance(mk, 95); /* flush_ms 100 */
    expect_file(out, "{\"time\":\"" T0 "000000Z\",\"from\":\"10.0.0.2:5000\",\"size\":9,"
                     "\"text\":\"hi \\\"you\\\"\\n\"}\n"
                     "{\"time\":\"" T0 "005000Z\",\"from\":\"[2001:db8::1]:53\",\"size\":3,\"base64\":\"/wAB\"}\n");
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

static void test_text_records_and_fini_flush(void)
{
    const char *out = mt_path("udp.txt");
    nc_mock *mk = start_to(out, "\"format\": \"text\"");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_mock_datagram(mk, "10.0.0.3:7", "a\\b\tc\x01\xc3\xa9", 8);
    nc_mock_log_clear(mk);
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0); /* fini writes what is buffered */
    expect_file(out, T0 "000000Z 10.0.0.3:7 8 a\\\\b\\tc\\x01\xc3\xa9\n");
}

static void test_replies(void)
{
    const char *out = mt_path("udp-ack.json");
    nc_mock *mk = start_to(out, "\"reply\": \"ack\"");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_mock_datagram(mk, "10.0.0.2:5000", "x", 1);
    CU_ASSERT_EQUAL(nc_mock_sent_count(mk), 1);
    const nc_mock_sent *s = nc_mock_sent_get(mk, 0);
    CU_ASSERT_EQUAL(s->len, 4);
    CU_ASSERT_EQUAL(memcmp(s->data, "ack\n", 4), 0);
    CU_ASSERT_STRING_EQUAL(s->to, "10.0.0.2:5000");
    nc_mock_set_sendto_result(mk, -11); /* EAGAIN: dropped, not counted */
    nc_mock_datagram(mk, "10.0.0.2:5000", "y", 1);
    CU_ASSERT_EQUAL(nc_mock_sent_count(mk), 1);
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "replies"), 1);
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);

    mk = start_to(out, "\"reply\": \"echo\"");
    nc_mock_datagram(mk, "[::1]:9", "echo me", 7);
    s = nc_mock_sent_get(mk, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(s->len, 7);
    CU_ASSERT_EQUAL(memcmp(s->data, "echo me", 7), 0);
    CU_ASSERT_STRING_EQUAL(s->to, "[::1]:9");
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

static void test_drops_and_summary(void)
{
    const char *out = mt_path("udp-drops.json");
    nc_mock *mk = start_to(out, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_mock_set_drops(mk, 5);
    nc_mock_advance(mk, 100);
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "kernel_drops"), 5);
    nc_mock_datagram(mk, NULL, "abc", 3);
    CU_ASSERT_EQUAL(nc_mock_timers(mk), 1); /* the flush tick */
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);     /* and fini stopped it */
}

static void test_write_behind_work(void)
{
    const char *out = mt_path("udp-wb.json");
    nc_mock *mk = start_to(out, "\"writeback_bytes\": 1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_mock_datagram(mk, NULL, "abc", 3);
    CU_ASSERT_EQUAL(nc_mock_work_pending(mk), 0);
    nc_mock_advance(mk, 100); /* written, then a write-behind job for it */
    CU_ASSERT_EQUAL(nc_mock_work_pending(mk), 1);
    CU_ASSERT_EQUAL(nc_mock_run_work(mk), 1);
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "write_errors"), 0);
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

static void test_options(void)
{
    CU_ASSERT_STRING_EQUAL(mt_start_error("udp-receiver", "{\"format\": \"xml\"}", NULL),
                           "mock.json: listeners[0].options.format: expected one of \"json\", \"text\"");
    CU_ASSERT_STRING_EQUAL(mt_start_error("udp-receiver", "{\"multicast\": \"10.0.0.1\"}", NULL),
                           "mock.json: listeners[0].options.multicast: \"10.0.0.1\" is not a multicast group "
                           "address");
    const char *link = mt_path("udp-link");
    unlink(link);
    CU_ASSERT_EQUAL(symlink("/tmp/anything", link), 0);
    char opts[700], want[900];
    snprintf(opts, sizeof opts, "{\"output\": \"%s\"}", link);
    snprintf(want, sizeof want,
             "mock.json: listeners[0].options.output: %s: a symbolic link (records are never written through one)",
             link);
    CU_ASSERT_STRING_EQUAL(mt_start_error("udp-receiver", opts, NULL), want);
    nc_mock_config tcp = {.transport = "tcp"};
    CU_ASSERT_STRING_EQUAL(mt_start_error("udp-receiver", NULL, &tcp),
                           "mock.json: listeners[0].transport: module udp-receiver does not serve streams (tcp or "
                           "unix)");
    /* `netcore -t`: init only, nothing created on disk. */
    const char *out = mt_path("udp-check.json");
    unlink(out);
    nc_mock_config check = {.flags = NC_MOCK_NO_LISTEN};
    snprintf(opts, sizeof opts, "{\"output\": \"%s\"}", out);
    nc_mock *mk = mt_start("udp-receiver", opts, &check);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
    CU_ASSERT_NOT_EQUAL(access(out, F_OK), 0);
}

int add_udp_receiver_suite(void)
{
    CU_pSuite s = CU_add_suite("udp_receiver", NULL, NULL);
    if (!s)
        return -1;
    CU_add_test(s, "JSON records, flushed by the timer", test_json_records);
    CU_add_test(s, "text records with escapes, flushed at fini", test_text_records_and_fini_flush);
    CU_add_test(s, "ack and echo replies through nc_sendto", test_replies);
    CU_add_test(s, "kernel drops counted on the tick; fini stops it", test_drops_and_summary);
    CU_add_test(s, "write-behind runs as work", test_write_behind_work);
    CU_add_test(s, "option errors and the init-only check", test_options);
    return 0;
}
