/* test_broadcast_chat.c -- modules/broadcast-chat/bchat.c under the mock
 * core: login and join notices, broadcasts fanned out byte-exact to every
 * other member, framing (back to back, a byte at a time), every error
 * reply, objects over max_message skipped exactly, leave notices, slow
 * consumers dropped by max_backlog and by the core's max_output_bytes
 * while the others keep receiving, and the message deadline. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt.h"

#define SYS(text) "{\"sender_id\":0,\"sender_nickname\":\"System\",\"message\":\"" text "\"}\n"
#define ERR(text) "{\"status\":\"error\",\"error\":\"" text "\"}\n"

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

static void drain(nc_conn *c)
{
    free(nc_mock_read_all(c, NULL));
}

/* A member logged in as nick, what it was sent read; the others' queues
 * are left as they are. */
static nc_conn *login(nc_mock *mk, const char *nick, unsigned id)
{
    nc_conn *c = nc_mock_accept(mk, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    char req[256], want[512];
    snprintf(req, sizeof req, "{\"type\":\"login\",\"nickname\":\"%s\"}\n", nick);
    nc_mock_feeds(c, req);
    snprintf(want, sizeof want,
             "{\"status\":\"ok\",\"id\":%u}\n{\"sender_id\":0,\"sender_nickname\":\"System\",\"message\":\"%s "
             "joined (id %u)\"}\n",
             id, nick, id);
    expect_read(c, want);
    return c;
}

static void test_fanout(void)
{
    nc_mock *mk = mt_start("broadcast-chat", NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_conn *zs = login(mk, "zhangsan", 1), *ls = login(mk, "lisi", 2);
    expect_read(zs, SYS("lisi joined (id 2)"));
    nc_conn *ww = login(mk, "wangwu", 3);
    drain(zs);
    drain(ls);
    /* A client's sender_id is ignored; other fields too. */
    nc_mock_feeds(ls, "{\"type\":\"broadcast\",\"sender_id\":99,\"extra\":[1,{\"}\":2}],\"message\":\"hi \\\"all\\\"\\n\\u00e9\\u0001/\"}");
    static const char msg[] = "{\"sender_id\":2,\"sender_nickname\":\"lisi\",\"message\":\"hi \\\"all\\\"\\n\xc3\xa9\\u0001/\"}\n";
    expect_read(zs, msg);
    expect_read(ww, msg);
    CU_ASSERT_EQUAL(nc_mock_pending(ls), 0); /* not to the sender */
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "broadcasts"), 1);
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "deliveries"), 1 + 2 + 3 + 2); /* the joins, then this */
    /* Objects back to back, then whitespace-separated, a byte at a time. */
    nc_mock_feeds(zs, "{\"type\":\"broadcast\",\"message\":\"a\"}{\"type\":\"broadcast\",\"message\":\"b\"}");
    static const char two[] = "{\"sender_id\":1,\"sender_nickname\":\"zhangsan\",\"message\":\"a\"}\n"
                              "{\"sender_id\":1,\"sender_nickname\":\"zhangsan\",\"message\":\"b\"}\n";
    expect_read(ls, two);
    expect_read(ww, two);
    static const char split[] = " {\"type\":\"broadcast\",\"message\":\"a\"}\r\n\t{\"type\" : \"broadcast\", "
                                "\"message\" : \"b\"}\n";
    for (size_t i = 0; i < sizeof split - 1; i++)
        nc_mock_feed(zs, split + i, 1);
    expect_read(ls, two);
    expect_read(ww, two);
    CU_ASSERT_EQUAL(nc_mock_pending(zs), 0);
    /* A logout: ok, the others told, the close. */
    nc_mock_feeds(ww, "{\"type\":\"logout\"}");
    expect_read(ww, "{\"status\":\"ok\"}\n");
    CU_ASSERT_EQUAL(nc_mock_closed(ww), NC_MOCK_CLOSED_FLUSH);
    expect_read(zs, SYS("wangwu left (id 3)"));
    expect_read(ls, SYS("wangwu left (id 3)"));
    /* A hang-up mid-object after login: the same notice. */
    nc_mock_feeds(ls, "{\"type\":\"broad");
    nc_mock_hangup(ls);
    expect_read(zs, SYS("lisi left (id 2)"));
    /* Ids are never reused. */
    nc_conn *again = login(mk, "lisi", 4);
    expect_read(zs, SYS("lisi joined (id 4)"));
    (void)again;
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

static void test_errors(void)
{
    nc_mock *mk = mt_start("broadcast-chat", NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_conn *c = nc_mock_accept(mk, NULL);
    static const char *const before[][2] = {
        {"{\"type\":\"broadcast\",\"message\":\"x\"}",
         ERR("not logged in: send {\\\"type\\\":\\\"login\\\",\\\"nickname\\\":\\\"...\\\"} first")},
        {"hello {\"type\":\"logout\"}\n", ERR("malformed JSON: expected an object")}, /* the line is skipped */
        {"{\"type\":\"login\",\"nickname\":\"a\",\"nickname\":\"b\"}",
         ERR("malformed JSON: duplicate object key near '\\\"nickname\\\"'")},
        {"{\"type\":}", ERR("malformed JSON: unexpected token near '}'")},
        {"{\"type\":\"x\n", ERR("malformed JSON: control character in a string")},
        {"{\"x\":1}", ERR("missing \\\"type\\\": a string")},
        {"{\"type\":7}", ERR("missing \\\"type\\\": a string")},
        {"{\"type\":\"dance\"}", ERR("unknown type \\\"dance\\\"")},
        {"[1]\n", ERR("malformed JSON: expected an object")}, /* skipped to its newline */
        {"{\"type\":\"login\"}", ERR("login needs \\\"nickname\\\": a string")},
        {"{\"type\":\"login\",\"nickname\":\"\"}", ERR("nickname must be 1 to 64 bytes")},
        {"{\"type\":\"login\",\"nickname\":\"sYsTeM\"}", ERR("nickname \\\"System\\\" is reserved")},
        {"{\"type\":\"login\",\"nickname\":\"a\\u0007b\"}", ERR("nickname must not contain control characters")},
        {"{\"type\":\"login\",\"nickname\":\"a\\u0085b\"}", ERR("nickname must not contain control characters")},
        {"{\"type\":\"login\",\"nickname\":\"evil\\u202egnp\"}",
         ERR("nickname must not contain bidirectional overrides (U+202A..U+202E, U+2066..U+2069)")},
    };
    for (size_t i = 0; i < sizeof before / sizeof before[0]; i++) {
        nc_mock_feeds(c, before[i][0]);
        expect_read(c, before[i][1]);
    }
    CU_ASSERT_EQUAL(nc_mock_closed(c), NC_MOCK_OPEN);
    char nick65[66];
    memset(nick65, 'n', 65);
    nick65[65] = '\0';
    char req[160];
    snprintf(req, sizeof req, "{\"type\":\"login\",\"nickname\":\"%s\"}", nick65);
    nc_mock_feeds(c, req);
    expect_read(c, ERR("nickname must be 1 to 64 bytes"));
    nc_mock_feeds(c, "{\"type\":\"login\",\"nickname\":\"me\"}");
    expect_read(c, "{\"status\":\"ok\",\"id\":1}\n" SYS("me joined (id 1)"));
    nc_mock_feeds(c, "{\"type\":\"login\",\"nickname\":\"me2\"}{\"type\":\"broadcast\",\"message\":1}");
    expect_read(c, ERR("already logged in") ERR("broadcast needs \\\"message\\\": a string"));
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "protocol_errors"), sizeof before / sizeof before[0] + 3);
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

/* An object over max_message is refused once and skipped exactly (its
 * braces and strings tracked), the next read; whole and a byte at a time. */
static void test_max_message(void)
{
    nc_mock *mk = mt_start("broadcast-chat", "{\"max_message\": 64}", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_conn *a = login(mk, "a", 1), *b = login(mk, "b", 2);
    drain(a);
    static const char big[] = "{\"type\":\"broadcast\",\"message\":\"0123456789 } { 0123456789 \\\" }} 0123456789\","
                              "\"n\":{\"m\":[1,2,{}]}}"
                              "{\"type\":\"broadcast\",\"message\":\"small\"}";
    static const char want[] = ERR("message too large (max_message is 64 bytes)");
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        if (bytewise)
            for (size_t i = 0; i < sizeof big - 1; i++)
                nc_mock_feed(b, big + i, 1);
        else
            nc_mock_feeds(b, big);
        expect_read(b, want);
        expect_read(a, "{\"sender_id\":2,\"sender_nickname\":\"b\",\"message\":\"small\"}\n");
    }
    /* A bad line with no newline within max_message: closed. */
    static char junk[80];
    memset(junk, 'j', sizeof junk - 1);
    nc_mock_feeds(b, junk);
    expect_read(b, ERR("malformed JSON: expected an object") ERR("cannot find the next object: closing"));
    CU_ASSERT_EQUAL(nc_mock_closed(b), NC_MOCK_CLOSED_FLUSH);
    expect_read(a, SYS("b left (id 2)"));
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

/* Three members; one never reads.  max_backlog drops it (the module's own
 * limit) with a log line, and every other member keeps receiving, the
 * left notice included. */
static void test_slow_consumer_backlog(void)
{
    nc_mock *mk = mt_start("broadcast-chat", "{\"max_backlog\": 1024}", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_conn *talker = login(mk, "talker", 1), *slow = login(mk, "slow", 2), *fast = login(mk, "fast", 3);
    drain(talker);
    drain(slow);
    char req[200], msg[200];
    static const char pad[] = "0123456789012345678901234567890123456789";
    snprintf(req, sizeof req, "{\"type\":\"broadcast\",\"message\":\"%s\"}", pad);
    size_t len = (size_t)snprintf(msg, sizeof msg, "{\"sender_id\":1,\"sender_nickname\":\"talker\",\"message\":\"%s\"}\n", pad);
    CU_ASSERT_EQUAL_FATAL(len, 96); /* 10 fit in 1024; the 11th would not */
    for (int i = 0; i < 10; i++) {
        nc_mock_feeds(talker, req);
        CU_ASSERT_EQUAL(nc_mock_closed(slow), NC_MOCK_OPEN);
        expect_read(fast, msg);
    }
    CU_ASSERT_EQUAL(nc_mock_pending(slow), 960);
    nc_mock_feeds(talker, req); /* 960 + 96 > 1024 */
    CU_ASSERT_EQUAL(nc_mock_closed(slow), NC_MOCK_CLOSED_ABORT);
    char line[200];
    snprintf(line, sizeof line,
             "warn [mock#%llu] slow consumer: 960 bytes unsent exceed max_backlog (1024); disconnecting",
             (unsigned long long)nc_conn_id(slow));
    CU_ASSERT_EQUAL(nc_mock_log_count(mk, line), 1);
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "slow_consumers_dropped"), 1);
    char both[400];
    snprintf(both, sizeof both, "%s%s", msg, SYS("slow left (id 2)"));
    expect_read(fast, both);
    expect_read(talker, SYS("slow left (id 2)"));
    nc_mock_feeds(talker, req);
    expect_read(fast, msg);
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

/* The same with the core's limit first: max_output_bytes below
 * max_backlog, as the docs warn against; the core aborts the slow one. */
static void test_slow_consumer_core_limit(void)
{
    nc_mock_config cfg = {.max_output_bytes = 2048};
    nc_mock *mk = mt_start("broadcast-chat", "{\"max_backlog\": 1048576}", &cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_conn *talker = login(mk, "talker", 1), *slow = login(mk, "slow", 2), *fast = login(mk, "fast", 3);
    drain(talker);
    drain(slow);
    char req[2100], msg[2200];
    static char text[901];
    memset(text, 'x', 900);
    snprintf(req, sizeof req, "{\"type\":\"broadcast\",\"message\":\"%s\"}", text);
    snprintf(msg, sizeof msg, "{\"sender_id\":1,\"sender_nickname\":\"talker\",\"message\":\"%s\"}\n", text);
    size_t ml = strlen(msg);
    for (int i = 0; i < 2; i++) {
        nc_mock_feeds(talker, req);
        expect_read(fast, msg);
    }
    CU_ASSERT_EQUAL(nc_mock_closed(slow), NC_MOCK_OPEN);
    nc_mock_feeds(talker, req);
    CU_ASSERT_EQUAL(nc_mock_closed(slow), NC_MOCK_CLOSED_ABORT); /* the third passed 2048 */
    char line[200];
    snprintf(line, sizeof line, "warn [mock#%llu] slow consumer: %zu bytes queued exceed max_output_bytes (2048); closing",
             (unsigned long long)nc_conn_id(slow), 3 * ml);
    CU_ASSERT_EQUAL(nc_mock_log_count(mk, line), 1);
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "slow_consumers_dropped"), 0); /* not the module's doing */
    char both[2400];
    snprintf(both, sizeof both, "%s%s", msg, SYS("slow left (id 2)"));
    expect_read(fast, both);
    nc_mock_feeds(talker, req);
    expect_read(fast, msg);
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

/* message_timeout_ms runs from the first byte after an object until the
 * next one closes; the CRLF right after an object is free. */
static void test_message_deadline(void)
{
    nc_mock *mk = mt_start("broadcast-chat", "{\"message_timeout_ms\": 1000}", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_conn *quiet = login(mk, "quiet", 1), *slow = nc_mock_accept(mk, NULL);
    drain(quiet);
    nc_mock_feeds(quiet, "\n"); /* login's line ended in "\n": "\n\n", two free bytes */
    nc_mock_feeds(slow, "{\"type\"");
    nc_mock_advance(mk, 1250);
    expect_read(slow, ERR("no complete message within message_timeout_ms (1000): closing"));
    CU_ASSERT_EQUAL(nc_mock_closed(slow), NC_MOCK_CLOSED_FLUSH);
    CU_ASSERT_EQUAL(nc_mock_closed(quiet), NC_MOCK_OPEN);
    CU_ASSERT_EQUAL(nc_mock_counter(mk, "message_timeouts"), 1);
    /* A third byte of whitespace starts the clock. */
    nc_mock_feeds(quiet, " ");
    nc_mock_advance(mk, 1250);
    expect_read(quiet, ERR("no complete message within message_timeout_ms (1000): closing"));
    CU_ASSERT_EQUAL(nc_mock_closed(quiet), NC_MOCK_CLOSED_FLUSH);
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

int add_broadcast_chat_suite(void)
{
    CU_pSuite s = CU_add_suite("broadcast_chat", NULL, NULL);
    if (!s)
        return -1;
    CU_add_test(s, "login, broadcasts byte-exact to every other member, framing, leave", test_fanout);
    CU_add_test(s, "every error reply; the connection stays usable", test_errors);
    CU_add_test(s, "over max_message: refused once, skipped exactly", test_max_message);
    CU_add_test(s, "a slow consumer dropped at max_backlog; the others keep receiving",
                test_slow_consumer_backlog);
    CU_add_test(s, "a slow consumer dropped at the core's max_output_bytes", test_slow_consumer_core_limit);
    CU_add_test(s, "message_timeout_ms", test_message_deadline);
    return 0;
}
