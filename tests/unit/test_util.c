/* test_util.c -- unit tests of core/util.c: UTF-8 validation (the classic
 * malformed forms), JSON escaping, base64 (RFC 4648 vectors), and the fast
 * paths (AVX2 and word-at-a-time scans, AVX2 encoder) checked against byte-wise
 * references at every length and position. */
#include <CUnit/CUnit.h>
#include <stdio.h>
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

/* Byte-at-a-time UTF-8 check after Unicode's table of well-formed byte
 * sequences (Table 3-7): the reference the fast paths must agree with. */
static int ref_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i], lo = 0x80, hi = 0xbf;
        size_t k;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            k = 1;
        else if (c >= 0xe0 && c <= 0xef)
            k = 2, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        else if (c >= 0xf0 && c <= 0xf4)
            k = 3, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        else
            return 0;
        if (n - i - 1 < k || s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t j = 2; j <= k; j++)
            if (s[i + j] < 0x80 || s[i + j] > 0xbf)
                return 0;
        i += k + 1;
    }
    return 1;
}

/* Valid and invalid sequences at every position of ASCII text, from every
 * alignment: the 32- and 8-byte skips must stop where the scalar check
 * would. */
static void test_utf8_every_position(void)
{
    static const char *const seqs[] = {"\xc3\xa9", "\xe4\xbd\xa0", "\xf0\x9f\x98\x80", "\x80", "\xff",
                                       "\xed\xa0\x80", "\xe4\xbd", "\xc0\xaf", "\xf4\x90\x80\x80", "\x7f"};
    unsigned char buf[3 + 100];
    int bad = 0, valid = 0;
    for (size_t off = 0; off < 3; off++)
        for (size_t len = 1; len <= 100; len++)
            for (size_t pos = 0; pos < len; pos++)
                for (size_t k = 0; k < sizeof seqs / sizeof seqs[0]; k++) {
                    unsigned char *in = buf + off;
                    memset(in, 'a', len);
                    size_t sl = strlen(seqs[k]);
                    memcpy(in + pos, seqs[k], pos + sl <= len ? sl : len - pos);
                    int want = ref_utf8(in, len);
                    valid += want;
                    bad += nc_utf8_valid(in, len) != want;
                }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(valid > 10000); /* both answers were asked for, many times */
}

/* The byte-at-a-time escape every fast path must agree with. */
static size_t ref_escape(char *out, const unsigned char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f') {
            out[o++] = '\\';
            out[o++] = c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : c == '\b' ? 'b' : 'f';
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)sprintf(out + o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    return o;
}

static void test_json_escape_every_position(void)
{
    static const unsigned char specials[] = {'"', '\\', '\n', 0, 0x1f, 0x7f, 0x20, 0x80, 0xff, 0x7e};
    unsigned char in[100];
    char got[6 * sizeof in], want[6 * sizeof in];
    int bad = 0;
    for (size_t len = 1; len <= sizeof in; len++)
        for (size_t pos = 0; pos < len; pos++)
            for (size_t k = 0; k < sizeof specials; k++) {
                memset(in, 'x', len);
                in[pos] = specials[k];
                if (pos + 9 < len)
                    in[pos + 9] = specials[(k + 1) % sizeof specials];
                size_t n = nc_json_escape(got, sizeof got, (const char *)in, len);
                size_t m = ref_escape(want, in, len);
                if (n != m || memcmp(got, want, n) != 0)
                    bad++;
            }
    CU_ASSERT_EQUAL(bad, 0);
}

/* Decodes base64 one bit at a time: a reference that shares nothing with
 * the encoder. */
static size_t ref_unbase64(unsigned char *out, const char *s, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t bits = 0, o = 0;
    memset(out, 0, n);
    for (size_t i = 0; i < n && s[i] != '='; i++) {
        const char *c = strchr(tab, s[i]);
        if (!c || !s[i])
            return (size_t)-1;
        for (int b = 5; b >= 0; b--, bits++)
            if ((c - tab) >> b & 1)
                out[bits / 8] |= (unsigned char)(0x80 >> (bits % 8));
    }
    o = bits / 8;
    return o;
}

static void test_base64_every_length(void)
{
    unsigned char in[400], back[600];
    char out[600];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof in; i++) {
        x = x * 1103515245u + 12345u;
        in[i] = i < 256 ? (unsigned char)i : (unsigned char)(x >> 16); /* every byte value */
    }
    int bad = 0;
    for (size_t off = 0; off < 3; off++)
        for (size_t len = 0; len + off <= sizeof in; len++) {
            size_t n = nc_base64_encode(out, sizeof out, in + off, len);
            if (n != (len + 2) / 3 * 4 || ref_unbase64(back, out, n) != len || memcmp(back, in + off, len) != 0)
                bad++;
            if (n && len % 3 && out[n - 1] != '=')
                bad++;
        }
    CU_ASSERT_EQUAL(bad, 0);
}

int add_util_suite(void)
{
    CU_pSuite s = CU_add_suite("util", NULL, NULL);
    if (!s || !CU_add_test(s, "UTF-8: valid forms and every malformed kind", test_utf8) ||
        !CU_add_test(s, "UTF-8: sequences at every position and alignment", test_utf8_every_position) ||
        !CU_add_test(s, "JSON string escaping", test_json_escape) ||
        !CU_add_test(s, "base64 (RFC 4648 vectors)", test_base64) ||
        !CU_add_test(s, "JSON escaping: every special byte at every position", test_json_escape_every_position) ||
        !CU_add_test(s, "base64: every length, every byte value, decoded back", test_base64_every_length))
        return -1;
    return 0;
}
