/* test_ft_proto.c -- unit tests of modules/file-transfer/proto.c: request
 * lines and the file-name rules. */
#include <CUnit/CUnit.h>
#include <string.h>

#include "ft.h"
#include "suites.h"

static void test_lines(void)
{
    ft_req r;
    const char *why = NULL;
    CU_ASSERT_EQUAL(ft_parse_line("LIST", 4, &r, &why), 0);
    CU_ASSERT_EQUAL(r.op, FT_LIST);
    CU_ASSERT_EQUAL(ft_parse_line("QUIT\r", 5, &r, &why), 0);
    CU_ASSERT_EQUAL(r.op, FT_QUIT);
    const char *g = "GET 123 my file name.txt";
    CU_ASSERT_EQUAL(ft_parse_line(g, strlen(g), &r, &why), 0);
    CU_ASSERT_EQUAL(r.op, FT_GET);
    CU_ASSERT_EQUAL(r.offset, 123);
    CU_ASSERT_STRING_EQUAL(r.name, "my file name.txt");
    const char *p = "PUT 10 - \xe4\xbd\xa0\xe5\xa5\xbd.txt";
    CU_ASSERT_EQUAL(ft_parse_line(p, strlen(p), &r, &why), 0);
    CU_ASSERT_EQUAL(r.size, 10);
    CU_ASSERT_EQUAL(r.has_sha, 0);
    CU_ASSERT_STRING_EQUAL(r.name, "\xe4\xbd\xa0\xe5\xa5\xbd.txt");
    p = "PUT 0 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 empty";
    CU_ASSERT_EQUAL(ft_parse_line(p, strlen(p), &r, &why), 0);
    CU_ASSERT_EQUAL(r.has_sha, 1);
    CU_ASSERT_EQUAL(r.sha[0], 0xe3);
    CU_ASSERT_EQUAL(r.sha[31], 0x55);
    const char *s = "SHA256 a b";
    CU_ASSERT_EQUAL(ft_parse_line(s, strlen(s), &r, &why), 0);
    CU_ASSERT_STRING_EQUAL(r.name, "a b");
    static const struct {
        const char *line, *why;
    } bad[] = {
        {"HELLO", "unknown request (LIST, GET, PUT, SHA256, QUIT)"},
        {"LIST x", "unknown request (LIST, GET, PUT, SHA256, QUIT)"},
        {"get 0 x", "unknown request (LIST, GET, PUT, SHA256, QUIT)"},
        {"GET x", "usage: GET OFFSET NAME"},
        {"GET -1 x", "usage: GET OFFSET NAME"},
        {"GET 99999999999999999999 x", "usage: GET OFFSET NAME"},
        {"PUT 5 x", "usage: PUT SIZE SHA256|- NAME (SHA256: 64 hex digits)"},
        {"PUT 5 -x", "usage: PUT SIZE SHA256|- NAME"},
        {"PUT 5 - ", "a file name is 1 to 255 bytes"},
        {"SHA256", "usage: SHA256 NAME"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = "";
        CU_ASSERT_EQUAL(ft_parse_line(bad[i].line, strlen(bad[i].line), &r, &why), -1);
        CU_ASSERT_STRING_EQUAL(why, bad[i].why);
    }
}

static void test_names(void)
{
    static const struct {
        const char *name;
        size_t n;
        const char *why; /* NULL: accepted */
    } cases[] = {
        {"report.pdf", 10, NULL},
        {"with spaces and ünïcödé", 27, NULL},
        {"../x", 4, "a file name must not start with '.'"},
        {"/etc/passwd", 11, "a file name must not contain '/'"},
        {"a/b", 3, "a file name must not contain '/'"},
        {".hidden", 7, "a file name must not start with '.'"},
        {".", 1, "a file name must not start with '.'"},
        {"..", 2, "a file name must not start with '.'"},
        {"a\0b", 3, "a file name must not contain control characters"},
        {"tab\there", 8, "a file name must not contain control characters"},
        {"bad\xff", 4, "a file name must be valid UTF-8"},
        {"", 0, "a file name is 1 to 255 bytes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *why = NULL;
        int ok = ft_name_ok(cases[i].name, cases[i].n, &why);
        CU_ASSERT_EQUAL(ok, cases[i].why == NULL);
        if (cases[i].why)
            CU_ASSERT_STRING_EQUAL(why, cases[i].why);
    }
    char longname[300];
    memset(longname, 'n', sizeof longname);
    const char *why = NULL;
    CU_ASSERT_EQUAL(ft_name_ok(longname, 255, &why), 1);
    CU_ASSERT_EQUAL(ft_name_ok(longname, 256, &why), 0);
}

int add_ft_proto_suite(void)
{
    CU_pSuite s = CU_add_suite("ft_proto", NULL, NULL);
    if (!s || !CU_add_test(s, "request lines and their refusals", test_lines) ||
        !CU_add_test(s, "file-name rules", test_names))
        return -1;
    return 0;
}
