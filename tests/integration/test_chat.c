/* test_chat.c -- the chat module against the real process: nicknames, /msg,
 * /who, the desk flow, segmentation, errors that leave the connection
 * usable, and clients that vanish mid-line. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "suites.h"

static t_proc *P;
static int desk_port, plain_port;

static int setup(void)
{
    P = t_start_conf("{\"listeners\":["
                     "{\"name\":\"desk\",\"module\":\"chat\",\"listen\":\"127.0.0.1:0\","
                     "\"options\":{\"desk\":\"support\",\"max_line\":64}},"
                     "{\"name\":\"plain\",\"module\":\"chat\",\"listen\":\"127.0.0.1:0\"},"
                     "{\"name\":\"slow\",\"module\":\"chat\",\"listen\":\"127.0.0.1:0\","
                     "\"options\":{\"line_timeout_ms\":1000}},"
                     "{\"name\":\"status\",\"module\":\"status\",\"listen\":\"127.0.0.1:0\"}]}");
    if (!P)
        return -1;
    desk_port = t_port(P, "desk");
    plain_port = t_port(P, "plain");
    return 0;
}

static int teardown(void)
{
    return t_stop(P, SIGTERM, 5000) == 0 ? 0 : -1;
}

/* Connect, check the welcome line, take a nickname. */
static t_client *join(int port, const char *nick)
{
    t_client *c = t_client_new(port);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    char line[512];
    CU_ASSERT(t_readline(c, line, sizeof line, 5000) > 0);
    CU_ASSERT(strncmp(line, "* welcome, you are guest", 24) == 0);
    T_ASSERT_STR_CONTAINS(line, "Commands: /nick NAME, /msg NAME TEXT, /who, /help, /quit");
    if (nick) {
        char cmd[80], want[80];
        snprintf(cmd, sizeof cmd, "/nick %s\n", nick);
        snprintf(want, sizeof want, "* you are now %s", nick);
        t_client_send(c, cmd);
        T_LINE(c, want);
    }
    return c;
}

static void test_nick_msg_who(void)
{
    t_client *a = join(plain_port, "alice"), *b = join(plain_port, "bob");
    t_client_send(b, "/nick ALICE\n");
    T_LINE(b, "! nickname ALICE is taken");
    t_client_send(b, "/nick a b\n");
    T_LINE(b, "! invalid nickname: use 1 to 32 of A-Z a-z 0-9 _ -");
    t_client_send(b, "/nick abcdefghijabcdefghijabcdefghijabc\n"); /* 33 */
    T_LINE(b, "! invalid nickname: use 1 to 32 of A-Z a-z 0-9 _ -");
    t_client_send(b, "/msg alice hello alice\n");
    T_LINE(a, "<bob> hello alice");
    t_client_send(a, "/msg BOB \xe4\xbd\xa0\xe5\xa5\xbd\r\n"); /* case-insensitive, CRLF, UTF-8 */
    T_LINE(b, "<alice> \xe4\xbd\xa0\xe5\xa5\xbd");
    t_client_send(a, "/msg zed hi\n");
    T_LINE(a, "! no such user: zed");
    t_client_send(a, "/msg bob\n");
    T_LINE(a, "! usage: /msg NAME TEXT");
    t_client_send(a, "/who\n");
    T_LINE(a, "* users: alice bob");
    t_client_send(a, "just text\n");
    T_LINE(a, "! no recipient: use /msg NAME TEXT");
    t_client_send(a, "/dance\n");
    T_LINE(a, "! unknown command /dance (try /help)");
    t_client_send(a, "/msg bob \xc0\xaf\n");
    T_LINE(a, "! invalid UTF-8: line dropped");
    /* A renamed user keeps being reachable under the new name only. */
    t_client_send(b, "/nick bobby\n");
    T_LINE(b, "* you are now bobby");
    t_client_send(a, "/msg bob x\n");
    T_LINE(a, "! no such user: bob");
    t_client_send(a, "/help\n");
    T_LINE(a, "* /nick NAME: change your nickname (1 to 32 of A-Z a-z 0-9 _ -)");
    t_client_free(a);
    t_client_free(b);
}

static void test_segmentation(void)
{
    t_client *a = join(plain_port, "seg_a"), *b = join(plain_port, "seg_b");
    const char *msg = "/msg seg_a one byte at a time\n";
    for (size_t i = 0; i < strlen(msg); i++) {
        t_send_all(b->fd, msg + i, 1);
        usleep(1000);
    }
    T_LINE(a, "<seg_b> one byte at a time");
    t_client_send(b, "/msg seg_a x\n/msg seg_a y\n/who\n/msg seg_a z\n");
    T_LINE(a, "<seg_b> x");
    T_LINE(a, "<seg_b> y");
    T_LINE(a, "<seg_b> z");
    char line[256];
    CU_ASSERT(t_readline(b, line, sizeof line, 5000) > 0);
    CU_ASSERT(strncmp(line, "* users:", 8) == 0);
    t_client_free(a);
    t_client_free(b);
}

static void test_desk(void)
{
    t_client *alice = join(desk_port, "alice");
    t_client_send(alice, "I need help\n");
    T_LINE(alice, "! support is not online");
    t_client *carol = join(desk_port, "carol");
    t_client *desk = join(desk_port, "Support"); /* the desk name is case-insensitive */
    t_client_send(alice, "my order is late\n");
    t_client_send(carol, "where is the manual?\n");
    T_LINE(desk, "<alice> my order is late");
    T_LINE(desk, "<carol> where is the manual?");
    t_client_send(desk, "/msg alice on its way\n");
    t_client_send(desk, "/msg carol page 2\n");
    T_LINE(alice, "<Support> on its way");
    T_LINE(carol, "<Support> page 2");
    CU_ASSERT(t_no_line(carol, 200)); /* the reply to alice reached alice only */
    t_client_send(desk, "hello?\n");
    T_LINE(desk, "! you are support: answer with /msg NAME TEXT");
    t_client_free(desk);
    usleep(100000);
    t_client_send(alice, "still there?\n");
    T_LINE(alice, "! support is not online");
    t_client_free(alice);
    t_client_free(carol);
}

/* Relayed text cannot drive the recipient's terminal: a CR that would
 * forge a line from the desk, escape sequences, BEL, DEL and C1 controls
 * arrive as visible \xHH / \u00HH text; a tab, UTF-8 and a trailing CR
 * (CRLF) are kept as they are.  The exact bytes, over /msg and the desk. */
static void test_controls_escaped(void)
{
    t_client *mallory = join(desk_port, "mallory"), *victim = join(desk_port, "victim");
    t_client_send(mallory, "/msg victim \r<support> your password please\x1b[K\x07\tok \xc3\xa9\xc2\x85\x7f!\r\n");
    char line[512];
    CU_ASSERT(t_readline(victim, line, sizeof line, 5000) > 0);
    CU_ASSERT_STRING_EQUAL(line, "<mallory> \\x0d<support> your password please\\x1b[K\\x07\tok \xc3\xa9\\u0085\\x7f!");
    t_client_free(victim);
    t_client *desk = join(desk_port, "support");
    t_client_send(mallory, "hi\x1b]0;owned\x07\x1b[2J\x01" "end\n");
    T_LINE(desk, "<mallory> hi\\x1b]0;owned\\x07\\x1b[2J\\x01end");
    t_client_free(desk);
    t_client_free(mallory);
}

static void test_long_lines(void)
{
    t_client *a = join(desk_port, "longa");
    char big[200];
    memset(big, 'x', sizeof big);
    big[199] = '\n';
    t_send_all(a->fd, big, 200); /* one packet, over max_line 64 */
    T_LINE(a, "! line too long (max 64 bytes): dropped");
    /* Over the limit before any newline arrives, then the rest later. */
    t_send_all(a->fd, big, 100);
    T_LINE(a, "! line too long (max 64 bytes): dropped");
    t_send_all(a->fd, big + 100, 100); /* the rest of the line, with its newline */
    t_client_send(a, "/who\n");
    char line[256];
    CU_ASSERT(t_readline(a, line, sizeof line, 5000) > 0);
    CU_ASSERT(strncmp(line, "* users:", 8) == 0); /* still usable, nothing else said */
    t_client_free(a);
}

static void test_vanishing_clients(void)
{
    t_client *a = join(plain_port, "stay");
    for (int i = 0; i < 10; i++) {
        t_client *b = join(plain_port, NULL);
        t_client_send(b, "/msg stay half a mess");
        t_client_free(b); /* gone mid-line */
    }
    t_client *b = join(plain_port, "later");
    t_client_send(b, "/msg stay whole\n");
    T_LINE(a, "<later> whole"); /* and nothing of the half lines */
    t_client_send(a, "/quit\n");
    T_LINE(a, "* bye");
    CU_ASSERT(t_wait_closed(a->fd, 5000));
    t_client_free(a);
    t_client_free(b);
}

static int chat_served(int port)
{
    t_client *c = join(port, "normal");
    t_client_send(c, "/who\n");
    char line[512];
    int ok = t_readline(c, line, sizeof line, 3000) > 0 && strncmp(line, "* users:", 8) == 0;
    t_client_free(c);
    return ok;
}

/* Every trickler got the welcome line, then the reason, then the close. */
static void assert_timed_out(const t_trickle *t)
{
    CU_ASSERT_EQUAL(t->open, 0);
    CU_ASSERT(t->closed_ms >= 900 && t->closed_ms <= 2500);
    for (int i = 0; i < t->n; i++) {
        const char *nl = strchr(t->got[i], '\n');
        CU_ASSERT(strncmp(t->got[i], "* welcome, you are guest", 24) == 0);
        CU_ASSERT_STRING_EQUAL(nl ? nl + 1 : "", "! no complete line within line_timeout_ms (1000): closing\n");
    }
}

/* Slowloris: clients trickling a byte (or an empty line) every 250 ms are
 * closed at line_timeout_ms, with the reason; a normal client is served
 * meanwhile, and a client that sent a whole line is left alone. */
static void test_slowloris(void)
{
    int port = t_port(P, "slow");
    t_client *idle = join(port, "idle");
    t_trickle *t = t_slowloris(port, 20, NULL, 'x', 250, 12, chat_served);
    assert_timed_out(t);
    t_trickle_free(t);
    t = t_slowloris(port, 10, NULL, '\n', 250, 12, NULL);
    assert_timed_out(t);
    t_trickle_free(t);
    t_client_send(idle, "/who\n");
    T_LINE(idle, "* users: idle");
    t_client_free(idle);
    usleep(1100000);
    CU_ASSERT_EQUAL(t_counter(t_port(P, "status"), "slow", "line_timeouts"), 30);
}

int add_chat_suite(void)
{
    CU_pSuite s = CU_add_suite("chat", setup, teardown);
    if (!s || !CU_add_test(s, "/nick, /msg, /who, errors keep the line usable", test_nick_msg_who) ||
        !CU_add_test(s, "1-byte pieces and several lines per packet", test_segmentation) ||
        !CU_add_test(s, "the desk flow", test_desk) ||
        !CU_add_test(s, "C0 and C1 controls in relayed text arrive escaped", test_controls_escaped) ||
        !CU_add_test(s, "too-long lines are dropped with an error", test_long_lines) ||
        !CU_add_test(s, "clients vanishing mid-line; /quit", test_vanishing_clients) ||
        !CU_add_test(s, "slowloris: tricklers closed at line_timeout_ms", test_slowloris))
        return -1;
    return 0;
}
