/* test_log.c -- unit tests of core/log.c: a level outside the table (from a
 * module's nc_log) is written as an error line, never read before it. */
#include <CUnit/CUnit.h>
#include <fcntl.h>
#include <stdio.h>
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

int add_log_suite(void)
{
    CU_pSuite s = CU_add_suite("log", NULL, NULL);
    if (!s || !CU_add_test(s, "a negative level is logged as an error", test_negative_level))
        return -1;
    return 0;
}
