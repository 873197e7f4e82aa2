/* test_strbuf.c -- unit tests of include/netcore/strbuf.h, the bounded text
 * builder: a fixed buffer is never written past (guard bytes checked after
 * every append of every length), truncation is reported and sticky, a
 * growable builder grows to exactly its bound, and the HTML and percent
 * escapes. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "netcore/strbuf.h"
#include "suites.h"

/* The idiom this replaces wrote past the buffer once the length passed the
 * capacity; here every appender, at every capacity, stays inside. */
static void test_fixed_never_overruns(void)
{
    int bad = 0;
    for (size_t cap = 0; cap < 40; cap++) {
        char mem[64];
        memset(mem, 'G', sizeof mem);
        nc_sb sb;
        nc_sb_init(&sb, mem, cap);
        for (int i = 0; i < 10; i++) {
            switch (i % 5) {
            case 0: nc_sb_printf(&sb, "%d-%s;", i, "abc"); break;
            case 1: nc_sb_append(&sb, "xyz", 3); break;
            case 2: nc_sb_html(&sb, "<'&\">", 5); break;
            case 3: nc_sb_pct(&sb, "a b/\xff", 5, "/"); break;
            default: nc_sb_putc(&sb, '!'); break;
            }
            for (size_t k = cap; k < sizeof mem; k++)
                bad += mem[k] != 'G';
            if (cap && (sb.len >= cap || mem[sb.len] != '\0' || strlen(mem) != sb.len))
                bad++;
        }
        /* 10 appends make 80 bytes of text: every cap here truncates */
        bad += !nc_sb_truncated(&sb);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

static void test_truncation_sticky(void)
{
    char mem[8];
    nc_sb sb;
    nc_sb_init(&sb, mem, sizeof mem);
    CU_ASSERT_EQUAL(nc_sb_puts(&sb, "abc"), 0);
    CU_ASSERT_EQUAL(nc_sb_printf(&sb, "%s", "defgh"), -1); /* 8 bytes of text do not fit in 8 */
    CU_ASSERT_STRING_EQUAL(mem, "abcdefg");
    CU_ASSERT(nc_sb_truncated(&sb));
    CU_ASSERT_EQUAL(nc_sb_putc(&sb, 'z'), -1);
    CU_ASSERT_STRING_EQUAL(mem, "abcdefg");
    nc_sb_reset(&sb);
    CU_ASSERT(!nc_sb_truncated(&sb));
    CU_ASSERT_EQUAL(nc_sb_printf(&sb, "%07d", 42), 0); /* exactly cap - 1 */
    CU_ASSERT_STRING_EQUAL(nc_sb_str(&sb), "0000042");
    CU_ASSERT_EQUAL(nc_sb_putc(&sb, 'x'), -1);
    /* A builder with no buffer at all */
    nc_sb none;
    nc_sb_init(&none, NULL, 0);
    CU_ASSERT_EQUAL(nc_sb_printf(&none, "x"), -1);
    CU_ASSERT_STRING_EQUAL(nc_sb_str(&none), "");
}

static void test_growable(void)
{
    char first[16];
    nc_sb sb;
    nc_sb_init_grow(&sb, first, sizeof first, 1000);
    CU_ASSERT_EQUAL(nc_sb_puts(&sb, "0123456789"), 0);
    CU_ASSERT_PTR_EQUAL(sb.buf, first); /* still in the caller's buffer */
    for (int i = 0; i < 98; i++)
        CU_ASSERT_EQUAL(nc_sb_printf(&sb, "%010d", i), 0);
    CU_ASSERT_EQUAL(sb.len, 990);
    CU_ASSERT(sb.heap);
    CU_ASSERT(!nc_sb_truncated(&sb));
    CU_ASSERT_EQUAL(memcmp(sb.buf, "01234567890000000000", 20), 0);
    CU_ASSERT_EQUAL(nc_sb_printf(&sb, "%s", "abcdefghij"), -1); /* 1001 bytes with the NUL */
    CU_ASSERT_EQUAL(sb.len, 999);
    CU_ASSERT_EQUAL(sb.cap, 1000);
    CU_ASSERT_STRING_EQUAL(sb.buf + 990, "abcdefghi");
    nc_sb_free(&sb);
    CU_ASSERT_EQUAL(sb.len, 0);
    /* From nothing, one large append */
    nc_sb_init_grow(&sb, NULL, 0, 1 << 20);
    char big[100000];
    memset(big, 'q', sizeof big);
    CU_ASSERT_EQUAL(nc_sb_append(&sb, big, sizeof big), 0);
    CU_ASSERT_EQUAL(nc_sb_printf(&sb, "%.*s", 5000, big), 0);
    CU_ASSERT_EQUAL(sb.len, sizeof big + 5000);
    CU_ASSERT_EQUAL(strlen(sb.buf), sizeof big + 5000);
    nc_sb_free(&sb);
}

static void test_escapes(void)
{
    char mem[256];
    nc_sb sb;
    nc_sb_init(&sb, mem, sizeof mem);
    nc_sb_html(&sb, "a<b>&\"c'd", 9);
    CU_ASSERT_STRING_EQUAL(mem, "a&lt;b&gt;&amp;&quot;c&#39;d");
    nc_sb_reset(&sb);
    nc_sb_pct(&sb, "/a b/\xc3\xa9?x#%41%zz%4", 18, "/");
    CU_ASSERT_STRING_EQUAL(mem, "/a%20b/%C3%A9%3Fx%23%2541%25zz%254");
    nc_sb_reset(&sb);
    nc_sb_pct(&sb, "q=%41%zz&r=\x80%4", 14, "=&%");
    CU_ASSERT_STRING_EQUAL(mem, "q=%41%25zz&r=%80%254");
    nc_sb_reset(&sb);
    nc_sb_html(&sb, "nul\0x", 5); /* lengths, not NULs, end the input */
    CU_ASSERT_EQUAL(sb.len, 5);
    /* 250 apostrophes grow to 1250 bytes: a fixed 256-byte builder says so */
    char q[250];
    memset(q, '\'', sizeof q);
    nc_sb_reset(&sb);
    CU_ASSERT_EQUAL(nc_sb_html(&sb, q, sizeof q), -1);
    CU_ASSERT_EQUAL(sb.len, 255);
}

int add_strbuf_suite(void)
{
    CU_pSuite s = CU_add_suite("strbuf", NULL, NULL);
    if (!s || !CU_add_test(s, "fixed: never past the buffer, at every capacity", test_fixed_never_overruns) ||
        !CU_add_test(s, "truncation reported, kept and sticky", test_truncation_sticky) ||
        !CU_add_test(s, "growable: caller's buffer, then heap up to max", test_growable) ||
        !CU_add_test(s, "HTML and percent escapes", test_escapes))
        return -1;
    return 0;
}
