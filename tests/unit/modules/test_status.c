/* test_status.c -- modules/status/status.c under the mock core: /status and
 * /metrics built from nc_stats_json, the errors, the head deadline
 * (header_timeout_ms), requests whole and a byte at a time. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt.h"

static const char stats[] =
    "{\"version\":\"1.2.3\",\"uptime_seconds\":12.5,\"reloads\":2,"
    "\"listeners\":{\"web\":{\"module\":\"http-static\",\"connections_open\":3,\"bytes_in\":100,"
    "\"hook_ns\":1500000000,\"counters\":{\"hits\":7}}},"
    "\"unpublished\":{\"listeners\":0,\"counters\":1},"
    "\"workers\":[{\"index\":0,\"pid\":4242,\"generation\":1,\"connections\":3,\"restarts\":0}]}";

static char *head_for(int status, const char *reason, const char *type, size_t n)
{
    static char h[512];
    snprintf(h, sizeof h,
             "HTTP/1.1 %d %s\r\nServer: netcore\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
             "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
             status, reason, type, n);
    return h;
}

/* One request on a new connection; the whole answer, the connection closed
 * after it was read. */
static char *ask(nc_mock *mk, const char *req, int bytewise)
{
    nc_conn *c = nc_mock_accept(mk, NULL);
    if (!c)
        return NULL;
    if (bytewise)
        for (const char *p = req; *p; p++)
            nc_mock_feed(c, p, 1);
    else
        nc_mock_feeds(c, req);
    char *out = nc_mock_read_all(c, NULL);
    CU_ASSERT_EQUAL(nc_mock_closed(c), NC_MOCK_CLOSED_FLUSH);
    return out;
}

static void expect(char *got, int status, const char *reason, const char *type, const char *body)
{
    char want[8192];
    snprintf(want, sizeof want, "%s%s", head_for(status, reason, type, strlen(body)), body);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_STRING_EQUAL(got, want);
    free(got);
}

static void test_status_json(void)
{
    nc_mock *mk = mt_start("status", NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_mock_set_stats(mk, stats);
    char body[2048];
    snprintf(body, sizeof body, "%s\n", stats);
    expect(ask(mk, "GET /status HTTP/1.1\r\nHost: x\r\n\r\n", 0), 200, "OK", "application/json", body);
    expect(ask(mk, "GET /status?pretty HTTP/1.1\r\n\r\n", 1), 200, "OK", "application/json", body);
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

/* HEAD: the head GET would get, Content-Length included, and no body.
 * Before, the body was sent too, and a client reading the next response
 * on the connection would have taken it for one. */
static void test_head(void)
{
    nc_mock *mk = mt_start("status", NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_mock_set_stats(mk, stats);
    char *got = ask(mk, "HEAD /status HTTP/1.1\r\n\r\n", 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_STRING_EQUAL(got, head_for(200, "OK", "application/json", strlen(stats) + 1));
    free(got);
    got = ask(mk, "HEAD /nothing HTTP/1.1\r\n\r\n", 1);
    CU_ASSERT_STRING_EQUAL(got, head_for(404, "Not Found", "text/plain; charset=utf-8", 24));
    free(got);
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

static void test_metrics(void)
{
    nc_mock *mk = mt_start("status", NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_mock_set_stats(mk, stats);
    char *got = ask(mk, "GET /metrics HTTP/1.0\r\n\r\n", 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    char *body = strstr(got, "\r\n\r\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    body += 4;
    CU_ASSERT_EQUAL(strncmp(got, head_for(200, "OK", "text/plain; version=0.0.4; charset=utf-8", strlen(body)),
                            (size_t)(body - got)),
                    0);
    static const char *const lines[] = {
        "# HELP netcore_info Always 1; the labels say which netcore this is.\n# TYPE netcore_info gauge\n"
        "netcore_info{version=\"1.2.3\"} 1\n",
        "\nnetcore_uptime_seconds 12.500\n",
        "\nnetcore_reloads_total 2\n",
        "\nnetcore_connections_open{listener=\"web\",module=\"http-static\"} 3\n",
        "\nnetcore_received_bytes_total{listener=\"web\",module=\"http-static\"} 100\n",
        "\nnetcore_sent_bytes_total{listener=\"web\",module=\"http-static\"} 0\n",
        "\nnetcore_module_hook_seconds_total{listener=\"web\",module=\"http-static\"} 1.500000\n",
        "\nnetcore_module_counter_total{listener=\"web\",counter=\"hits\"} 7\n",
        "\nnetcore_stats_unpublished{kind=\"counters\"} 1\n",
        "\nnetcore_worker_connections{worker=\"0\",pid=\"4242\",generation=\"1\"} 3\n",
        "\nnetcore_worker_restarts_total{worker=\"0\",pid=\"4242\",generation=\"1\"} 0\n",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        CU_ASSERT_PTR_NOT_NULL(strstr(body, lines[i]));
        if (!strstr(body, lines[i]))
            fprintf(stderr, "\n  missing: %s", lines[i]);
    }
    CU_ASSERT_EQUAL(body[strlen(body) - 1], '\n');
    free(got);
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

static void test_errors(void)
{
    nc_mock *mk = mt_start("status", NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    const char *plain = "text/plain; charset=utf-8";
    expect(ask(mk, "GET /status HTTP/1.1\r\n\r\n", 0), 400, "Bad Request", plain, "no statistics\n");
    nc_mock_set_stats(mk, stats);
    expect(ask(mk, "GET /nope HTTP/1.1\r\n\r\n", 0), 404, "Not Found", plain, "try /metrics or /status\n");
    expect(ask(mk, "POST /status HTTP/1.1\r\n\r\n", 0), 405, "Method Not Allowed", plain, "GET only\n");
    static char big[8200];
    memset(big, 'a', sizeof big - 1);
    expect(ask(mk, big, 0), 400, "Bad Request", plain, "request too large\n");
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

static void test_head_deadline(void)
{
    nc_mock *mk = mt_start("status", "{\"header_timeout_ms\": 2000}", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_conn *c = nc_mock_accept(mk, NULL);
    nc_mock_feeds(c, "GET /sta");
    nc_mock_advance(mk, 1900);
    CU_ASSERT_EQUAL(nc_mock_pending(c), 0);
    nc_mock_advance(mk, 500);
    static const char msg[] = "request head not received within header_timeout_ms\n";
    char want[1024];
    snprintf(want, sizeof want, "%s%s", head_for(408, "Request Timeout", "text/plain; charset=utf-8", sizeof msg - 1),
             msg);
    char *got = nc_mock_read_all(c, NULL);
    CU_ASSERT_STRING_EQUAL(got, want);
    free(got);
    CU_ASSERT_EQUAL(nc_mock_closed(c), NC_MOCK_CLOSED_FLUSH);
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "header_timeouts"), 1);
    CU_ASSERT_STRING_EQUAL(nc_mock_log_line(mk, -1),
                           "info [mock#1] a request head not received within header_timeout_ms (2000); closing");
    /* A head in time disarms it: nothing more happens to this one. */
    nc_mock_set_stats(mk, stats);
    nc_conn *d = nc_mock_accept(mk, NULL);
    nc_mock_feeds(d, "GET /status HTTP/1.1\r\n\r\n");
    nc_mock_advance(mk, 5000);
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "header_timeouts"), 1);
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
    CU_ASSERT_STRING_EQUAL(mt_start_error("status", "{\"header_timeout_ms\": -1}", NULL),
                           "mock.json: listeners[0].options.header_timeout_ms: expected an integer from 0 to 86400000");
}

int add_status_suite(void)
{
    CU_pSuite s = CU_add_suite("status", NULL, NULL);
    if (!s)
        return -1;
    CU_add_test(s, "GET /status answers nc_stats_json's document", test_status_json);
    CU_add_test(s, "GET /metrics in the Prometheus text format", test_metrics);
    CU_add_test(s, "HEAD gets the head and no body", test_head);
    CU_add_test(s, "400, 404, 405 and a head too large", test_errors);
    CU_add_test(s, "a head not complete within header_timeout_ms gets 408", test_head_deadline);
    return 0;
}
