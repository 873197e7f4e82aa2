/* test_log.c -- unit tests of core/log.c: a level outside the table (from a
 * module's nc_log) is written as an error line, never read before it. */
#include <CUnit/CUnit.h>
#include <jansson.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "log.h"
#include "suites.h"

static void test_negative_level(void)
{
    const char *path = t_write_file("log-level.log", "");
    CU_ASSERT_EQUAL_FATAL(nc__log_setup(NC_LOG_INFO, NC_LOGFMT_TEXT, path), 0);
    nc_log(-1, "negative %d", 1);
    nc_log(-1000000, "negative %d", 2);
    nc_log(NC_LOG_DEBUG + 1, "above debug: not written at info");
    nc__log_close();
    char buf[1024] = {0};
    int fd = open(path, O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    CU_ASSERT(n > 0);
    T_ASSERT_STR_CONTAINS(buf, "Z error netcore[");
    T_ASSERT_STR_CONTAINS(buf, "] negative 1\n");
    T_ASSERT_STR_CONTAINS(buf, "] negative 2\n");
    CU_ASSERT_PTR_NULL(strstr(buf, "above debug"));
}

/* JSON lines stay JSON: quotes, backslashes and control bytes escaped, and
 * a message whose escaped form is longer than a line is cut before an
 * escape, never inside one. */
static void test_json_escaping(void)
{
    const char *path = t_write_file("log-json.log", "");
    CU_ASSERT_EQUAL_FATAL(nc__log_setup(NC_LOG_INFO, NC_LOGFMT_JSON, path), 0);
    nc__log(NC_LOG_WARN, "li\"st", 7, "a \"quoted\" \\ line\twith\x01 bytes");
    char big[2000];
    for (size_t i = 0; i < sizeof big - 1; i++)
        big[i] = i % 3 == 0 ? '"' : i % 3 == 1 ? '\x02' : 'x'; /* grows to ~3.7x escaped */
    big[sizeof big - 1] = '\0';
    nc__log(NC_LOG_WARN, NULL, 0, "%s", big);
    nc__log_close();
    size_t n;
    char *text = t_read_file(path, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    char *nl = strchr(text, '\n');
    CU_ASSERT_PTR_NOT_NULL_FATAL(nl);
    *nl = '\0';
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "msg")), "a \"quoted\" \\ line\twith\x01 bytes");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "listener")), "li\"st");
    json_decref(j);
    char *second = nl + 1;
    nl = strchr(second, '\n');
    CU_ASSERT_PTR_NOT_NULL_FATAL(nl);
    CU_ASSERT(nl - second < 4096);
    *nl = '\0';
    j = json_loads(second, 0, &je);
    if (!j)
        fprintf(stderr, "\n  cut line is not JSON: %s\n", je.text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    const char *msg = json_string_value(json_object_get(j, "msg"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(msg);
    CU_ASSERT(strlen(msg) > 500 && strlen(msg) < sizeof big - 1); /* cut, and a prefix of the message */
    CU_ASSERT_EQUAL(strncmp(msg, big, strlen(msg)), 0);
    json_decref(j);
    free(text);
}

int add_log_suite(void)
{
    CU_pSuite s = CU_add_suite("log", NULL, NULL);
    if (!s || !CU_add_test(s, "a negative level is logged as an error", test_negative_level) ||
        !CU_add_test(s, "JSON lines: escaped, and cut only between escapes", test_json_escaping))
        return -1;
    return 0;
}
