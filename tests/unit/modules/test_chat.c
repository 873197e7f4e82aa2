/* test_chat.c -- modules/chat/chat.c under the mock core: nicknames, /msg
 * reaching its one recipient, /who, the desk, the errors, controls written
 * out visibly, lines over max_line whole and a byte at a time, the line
 * deadline, and a user's name freed by its close. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt.h"

#define HELP "Commands: /nick NAME, /msg NAME TEXT, /who, /help, /quit"

static void expect_read(nc_conn *c, const char *want)
{
    size_t n;
    char *got = nc_mock_read_all(c, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_EQUAL(n, strlen(want));
    CU_ASSERT_STRING_EQUAL(got, want);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "\n  got:  [%s]\n  want: [%s]\n", got, want);
    free(got);
}

/* Read and drop what is queued. */
static void drain(nc_conn *c)
{
    free(nc_mock_read_all(c, NULL));
}

/* A new user, its welcome read, named `nick` (NULL: stays a guest). */
static nc_conn *join(nc_mock *mk, const char *nick, const char *desk)
{
    nc_conn *c = nc_mock_accept(mk, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    char want[256];
    snprintf(want, sizeof want, "* welcome, you are guest%llu. " HELP "%s%s\n", (unsigned long long)nc_conn_id(c),
             desk ? "; other lines go to " : "", desk ? desk : "");
    expect_read(c, want);
    if (nick) {
        char line[64];
        snprintf(line, sizeof line, "/nick %s\n", nick);
        nc_mock_feeds(c, line);
        snprintf(want, sizeof want, "* you are now %s\n", nick);
        expect_read(c, want);
    }
    return c;
}

static void test_msg_and_who(void)
{
    nc_mock *mk = mt_start("chat", NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_conn *alice = join(mk, "alice", NULL), *bob = join(mk, "bob", NULL), *guest = join(mk, NULL, NULL);
    nc_mock_feeds(alice, "/msg BOB hello there\r\n");
    CU_ASSERT_EQUAL(nc_mock_pending(alice), 0); /* the sender gets nothing */
    CU_ASSERT_EQUAL(nc_mock_pending(guest), 0); /* nor does anyone else */
    expect_read(bob, "<alice> hello there\n");
    nc_mock_feeds(bob, "/msg alice  two  spaces \n");
    expect_read(alice, "<bob>  two  spaces \n");
    char want[128];
    snprintf(want, sizeof want, "* users: alice bob guest%llu\n", (unsigned long long)nc_conn_id(guest));
    nc_mock_feeds(guest, "/who\n");
    expect_read(guest, want);
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "messages"), 2);
    /* A rename keeps the place in /who; the old name is free again. */
    nc_mock_feeds(alice, "/nick Alicia\n");
    expect_read(alice, "* you are now Alicia\n");
    nc_mock_feeds(bob, "/msg alice hi\n/who\n");
    snprintf(want, sizeof want, "! no such user: alice\n* users: Alicia bob guest%llu\n",
             (unsigned long long)nc_conn_id(guest));
    expect_read(bob, want);
    /* The same in pieces and a byte at a time. */
    static const char line[] = "/msg alicia piece by piece\n";
    for (size_t i = 0; i < sizeof line - 1; i++)
        nc_mock_feed(bob, line + i, 1);
    expect_read(alice, "<bob> piece by piece\n");
    /* /quit says bye and closes; the name leaves /who. */
    nc_mock_feeds(bob, "/quit\n");
    expect_read(bob, "* bye\n");
    CU_ASSERT_EQUAL(nc_mock_closed(bob), NC_MOCK_CLOSED_FLUSH);
    nc_mock_hangup(guest);
    nc_mock_feeds(alice, "/who\n/msg bob are you there\n");
    expect_read(alice, "* users: Alicia\n! no such user: bob\n");
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

static void test_nicknames(void)
{
    nc_mock *mk = mt_start("chat", NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_conn *alice = join(mk, "alice", NULL), *other = join(mk, NULL, NULL);
    nc_mock_feeds(other, "/nick ALICE\n");
    expect_read(other, "! nickname ALICE is taken\n");
    nc_mock_feeds(alice, "/nick ALICE\n"); /* one's own name in another case is fine */
    expect_read(alice, "* you are now ALICE\n");
    static const char *const bad[] = {"/nick\n", "/nick a b\n", "/nick caf\xc3\xa9\n",
                                      "/nick 123456789012345678901234567890123\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nc_mock_feeds(other, bad[i]);
        expect_read(other, "! invalid nickname: use 1 to 32 of A-Z a-z 0-9 _ -\n");
    }
    /* Someone took the next guest's name: it gets an underscore. */
    char next[32];
    snprintf(next, sizeof next, "guest%llu", (unsigned long long)nc_conn_id(other) + 1);
    char line[64], want[256];
    snprintf(line, sizeof line, "/nick %s\n", next);
    nc_mock_feeds(other, line);
    drain(other);
    nc_conn *late = nc_mock_accept(mk, NULL);
    snprintf(want, sizeof want, "* welcome, you are %s_. " HELP "\n", next);
    expect_read(late, want);
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "protocol_errors"), 5);
    /* A closed user's name can be taken. */
    nc_mock_hangup(alice);
    nc_mock_feeds(late, "/nick alice\n");
    expect_read(late, "* you are now alice\n");
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

static void test_errors(void)
{
    nc_mock *mk = mt_start("chat", "{\"max_line\": 16}", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_conn *a = join(mk, "a", NULL);
    static const char *const cases[][2] = {
        {"hello\n", "! no recipient: use /msg NAME TEXT\n"},
        {"/msg zed hi\n", "! no such user: zed\n"},
        {"/msg a\n", "! usage: /msg NAME TEXT\n"},
        {"/msg a \n", "! usage: /msg NAME TEXT\n"},
        {"/dance now\n", "! unknown command /dance (try /help)\n"},
        {"/x\xff\n", "! invalid UTF-8: line dropped\n"},
        {"\n\r\n", ""}, /* empty lines are ignored */
        {"12345678901234567\n", "! line too long (max 16 bytes): dropped\n"},
        {"1234567890123456\n", "! no recipient: use /msg NAME TEXT\n"}, /* 16: fits */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nc_mock_feeds(a, cases[i][0]);
        expect_read(a, cases[i][1]);
    }
    /* Too long a byte at a time: one error, the whole line dropped up to
     * its newline, the next line read. */
    static const char longer[] = "/msg a 0123456789abcdef\n/who\n";
    for (size_t i = 0; i < sizeof longer - 1; i++)
        nc_mock_feed(a, longer + i, 1);
    expect_read(a, "! line too long (max 16 bytes): dropped\n* users: a\n");
    nc_mock_feeds(a, "/help\n");
    expect_read(a, "* /nick NAME: change your nickname (1 to 32 of A-Z a-z 0-9 _ -)\n"
                   "* /msg NAME TEXT: send TEXT to NAME only\n* /who: list the users\n* /quit: leave\n");
    CU_ASSERT_EQUAL(nc_mock_closed(a), NC_MOCK_OPEN);
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "protocol_errors"), 9);
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

/* Controls in relayed text reach the terminal as visible text. */
static void test_controls_defanged(void)
{
    nc_mock *mk = mt_start("chat", NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_conn *m = join(mk, "mallory", NULL), *bob = join(mk, "bob", NULL);
    nc_mock_feeds(m, "/msg bob \r<support> pay here\x1b[K\ttab \x7f \xc2\x85 \xc3\xa9\r\n");
    expect_read(bob, "<mallory> \\x0d<support> pay here\\x1b[K\ttab \\x7f \\u0085 \xc3\xa9\n");
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

static void test_desk(void)
{
    CU_ASSERT_STRING_EQUAL(mt_start_error("chat", "{\"desk\": \"help desk\"}", NULL),
                           "mock.json: listeners[0].options.desk: \"help desk\" is not a nickname (1 to 32 of "
                           "A-Z a-z 0-9 _ -)");
    nc_mock *mk = mt_start("chat", "{\"desk\": \"Support\"}", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_conn *alice = join(mk, "alice", "Support");
    nc_mock_feeds(alice, "my order is late\n");
    expect_read(alice, "! Support is not online\n");
    nc_conn *desk = join(mk, "support", "Support"); /* the desk is whoever takes the name, any case */
    nc_mock_feeds(alice, "my order is late\n");
    expect_read(desk, "<alice> my order is late\n");
    CU_ASSERT_EQUAL(nc_mock_pending(alice), 0);
    nc_mock_feeds(desk, "hello?\n");
    expect_read(desk, "! you are Support: answer with /msg NAME TEXT\n");
    nc_mock_feeds(desk, "/msg alice it ships today\n");
    expect_read(alice, "<support> it ships today\n");
    nc_mock_feeds(alice, "/help\n");
    expect_read(alice, "* /nick NAME: change your nickname (1 to 32 of A-Z a-z 0-9 _ -)\n"
                       "* /msg NAME TEXT: send TEXT to NAME only\n* /who: list the users\n* /quit: leave\n"
                       "* any other line goes to Support\n");
    /* The desk leaves: plain lines are refused again. */
    nc_mock_hangup(desk);
    nc_mock_feeds(alice, "anyone?\n");
    expect_read(alice, "! Support is not online\n");
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

/* line_timeout_ms runs from the first byte of a line; empty lines do not
 * stop it, a complete line does. */
static void test_line_deadline(void)
{
    nc_mock *mk = mt_start("chat", "{\"line_timeout_ms\": 1000}", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_conn *slow = join(mk, NULL, NULL), *blank = join(mk, NULL, NULL), *fine = join(mk, NULL, NULL);
    nc_mock_feeds(slow, "/wh");
    nc_mock_feeds(blank, "\n");
    nc_mock_feeds(fine, "/who");
    nc_mock_advance(mk, 500);
    nc_mock_feeds(fine, "\n");
    drain(fine);
    nc_mock_feeds(blank, "\r\n");
    nc_mock_advance(mk, 750);
    static const char bye[] = "! no complete line within line_timeout_ms (1000): closing\n";
    expect_read(slow, bye);
    expect_read(blank, bye);
    CU_ASSERT_EQUAL(nc_mock_closed(slow), NC_MOCK_CLOSED_FLUSH);
    CU_ASSERT_EQUAL(nc_mock_closed(blank), NC_MOCK_CLOSED_FLUSH);
    CU_ASSERT_EQUAL(nc_mock_closed(fine), NC_MOCK_OPEN);
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "line_timeouts"), 2);
    nc_mock_advance(mk, 5000); /* a user who went quiet after a line stays */
    CU_ASSERT_EQUAL(nc_mock_closed(fine), NC_MOCK_OPEN);
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0); /* fini stopped the sweep */
}

int add_chat_suite(void)
{
    CU_pSuite s = CU_add_suite("chat", NULL, NULL);
    if (!s)
        return -1;
    CU_add_test(s, "/msg reaches its one recipient; /who; /quit; a closed user leaves", test_msg_and_who);
    CU_add_test(s, "nicknames: taken, malformed, a guest name taken, freed by a close", test_nicknames);
    CU_add_test(s, "errors, empty lines, max_line whole and a byte at a time, /help", test_errors);
    CU_add_test(s, "controls in relayed text are written out visibly", test_controls_defanged);
    CU_add_test(s, "the desk: plain lines to it, offline, from itself", test_desk);
    CU_add_test(s, "line_timeout_ms", test_line_deadline);
    return 0;
}
