/* test_util.c -- unit tests of core/util.c: UTF-8 validation (the classic
 * malformed forms), JSON escaping, base64 (RFC 4648 vectors). */
#include <CUnit/CUnit.h>
#include <string.h>

#include "netcore/netcore.h"
#include "suites.h"

static void test_utf8(void)
{
    static const struct {
        const char *s;
        size_t n;
        int ok;
    } cases[] = {
        {"", 0, 1},
        {"plain ascii, long enough to take the fast path", 46, 1},
        {"\xe4\xbd\xa0\xe5\xa5\xbd", 6, 1},              /* 你好 */
        {"caf\xc3\xa9", 5, 1},                             /* café */
        {"\xf0\x9f\x98\x80", 4, 1},                        /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", 4, 1},                        /* U+10FFFF */
        {"\xc0\xaf", 2, 0},                                /* overlong '/' */
        {"\xe0\x80\xaf", 3, 0},                            /* overlong, 3 bytes */
        {"\xf0\x80\x80\xaf", 4, 0},                        /* overlong, 4 bytes */
        {"\xed\xa0\x80", 3, 0},                            /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", 4, 0},                        /* above U+10FFFF */
        {"\x80", 1, 0},                                    /* lone continuation */
        {"\xe4\xbd", 2, 0},                                /* truncated */
        {"\xe4\x41\xa0", 3, 0},                            /* bad continuation */
        {"\xff", 1, 0},
        {"abcdefgh\xc3\xa9xyz\xff", 14, 0},                /* bad byte after a fast run */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CU_ASSERT_EQUAL(nc_utf8_valid(cases[i].s, cases[i].n), cases[i].ok);
}

static void test_json_escape(void)
{
    char out[64];
    const char *in = "a\"b\\c\nd\x01\x7f\xe4\xbd\xa0";
    size_t n = nc_json_escape(out, sizeof out, in, strlen(in));
    out[n] = '\0';
    CU_ASSERT_STRING_EQUAL(out, "a\\\"b\\\\c\\nd\\u0001\\u007f\xe4\xbd\xa0");
    CU_ASSERT_EQUAL(nc_json_escape(out, 3, in, strlen(in)), n); /* too small: says how much */
}

static void test_base64(void)
{
    static const char *const vec[][2] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                         {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
                                         {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < 7; i++) {
        char out[16];
        size_t n = nc_base64_encode(out, sizeof out, vec[i][0], strlen(vec[i][0]));
        CU_ASSERT_EQUAL(n, strlen(vec[i][1]));
        out[n] = '\0';
        CU_ASSERT_STRING_EQUAL(out, vec[i][1]);
    }
    unsigned char bin[3] = {0xff, 0x00, 0xfe};
    char out[8];
    size_t n = nc_base64_encode(out, sizeof out, bin, 3);
    out[n] = '\0';
    CU_ASSERT_STRING_EQUAL(out, "/wD+");
    CU_ASSERT_EQUAL(nc_base64_encode(out, 2, bin, 3), 4);
}

int add_util_suite(void)
{
    CU_pSuite s = CU_add_suite("util", NULL, NULL);
    if (!s || !CU_add_test(s, "UTF-8: valid forms and every malformed kind", test_utf8) ||
        !CU_add_test(s, "JSON string escaping", test_json_escape) ||
        !CU_add_test(s, "base64 (RFC 4648 vectors)", test_base64))
        return -1;
    return 0;
}
