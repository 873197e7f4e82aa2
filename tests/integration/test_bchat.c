/* test_bchat.c -- the broadcast-chat module against the real process: login
 * and ids, join/leave notices, forged sender ids, framing in any
 * segmentation, every error, 1000 clients receiving every message once and
 * in order, a slow reader dropped while the others keep receiving, garbage,
 * and one room shared by two listeners. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "suites.h"

static t_proc *P;
static int port, port2, small_port;

static int setup(void)
{
    P = t_start_conf("{\"listeners\":["
                     "{\"name\":\"room\",\"module\":\"broadcast-chat\",\"listen\":\"127.0.0.1:0\"},"
                     "{\"name\":\"room2\",\"module\":\"broadcast-chat\",\"listen\":\"127.0.0.1:0\","
                     "\"options\":{\"room\":\"room\"}},"
                     "{\"name\":\"small\",\"module\":\"broadcast-chat\",\"listen\":\"127.0.0.1:0\","
                     "\"options\":{\"max_message\":1024,\"max_backlog\":65536}},"
                     "{\"name\":\"slow\",\"module\":\"broadcast-chat\",\"listen\":\"127.0.0.1:0\","
                     "\"options\":{\"room\":\"slowroom\",\"message_timeout_ms\":1000}},"
                     "{\"name\":\"status\",\"module\":\"status\",\"listen\":\"127.0.0.1:0\"}]}");
    if (!P)
        return -1;
    port = t_port(P, "room");
    port2 = t_port(P, "room2");
    small_port = t_port(P, "small");
    return 0;
}

static int teardown(void)
{
    return t_stop(P, SIGTERM, 5000) == 0 ? 0 : -1;
}

/* Log in; returns the id (parsed from the answer). */
static long login(t_client *c, const char *nick)
{
    char cmd[256], line[512];
    snprintf(cmd, sizeof cmd, "{\"type\":\"login\",\"nickname\":\"%s\"}\n", nick);
    t_client_send(c, cmd);
    if (t_readline(c, line, sizeof line, 5000) < 0)
        return -1;
    long id = -1;
    if (sscanf(line, "{\"status\":\"ok\",\"id\":%ld}", &id) != 1)
        fprintf(stderr, "\n  login answer: %s\n", line);
    return id;
}

/* Skip System notices; return the next other line. */
static int next_msg(t_client *c, char *out, size_t n)
{
    for (;;) {
        if (t_readline(c, out, n, 5000) < 0)
            return -1;
        if (strncmp(out, "{\"sender_id\":0,", 15) != 0)
            return 0;
    }
}

static void test_login_broadcast(void)
{
    t_client *a = t_client_new(small_port), *b = t_client_new(small_port);
    long ia = login(a, "zhangsan");
    CU_ASSERT(ia >= 1);
    char want[256];
    snprintf(want, sizeof want,
             "{\"sender_id\":0,\"sender_nickname\":\"System\",\"message\":\"zhangsan joined (id %ld)\"}", ia);
    T_LINE(a, want); /* the new user sees its own join notice */
    long ib = login(b, "li\\\"si");
    CU_ASSERT_EQUAL(ib, ia + 1);
    snprintf(want, sizeof want,
             "{\"sender_id\":0,\"sender_nickname\":\"System\",\"message\":\"li\\\"si joined (id %ld)\"}", ib);
    T_LINE(b, want);
    T_LINE(a, want);
    /* A forged sender_id is ignored; the sender does not get its own. */
    t_client_send(a, "{\"type\":\"broadcast\",\"message\":\"hello \xe4\xbd\xa0\",\"sender_id\":999}\n");
    snprintf(want, sizeof want,
             "{\"sender_id\":%ld,\"sender_nickname\":\"zhangsan\",\"message\":\"hello \xe4\xbd\xa0\"}", ia);
    T_LINE(b, want);
    CU_ASSERT(t_no_line(a, 200));
    /* Bare objects back to back, whitespace between others, 1-byte pieces. */
    t_client_send(a, "{\"type\":\"broadcast\",\"message\":\"1\"}{\"type\":\"broadcast\",\"message\":\"2\"}"
                     " \r\n\t{\"type\":\"broadcast\",\"message\":\"3\"}");
    const char *slow = "{\"type\":\"broadcast\",\"message\":\"4 {}\\\"\"}";
    for (size_t i = 0; i < strlen(slow); i++) {
        t_send_all(a->fd, slow + i, 1);
        usleep(500);
    }
    for (int k = 1; k <= 3; k++) {
        snprintf(want, sizeof want, "{\"sender_id\":%ld,\"sender_nickname\":\"zhangsan\",\"message\":\"%d\"}", ia, k);
        T_LINE(b, want);
    }
    snprintf(want, sizeof want, "{\"sender_id\":%ld,\"sender_nickname\":\"zhangsan\",\"message\":\"4 {}\\\"\"}", ia);
    T_LINE(b, want);
    /* Logout: ok, closed, and the others are told. */
    t_client_send(b, "{\"type\":\"logout\"}");
    T_LINE(b, "{\"status\":\"ok\"}");
    CU_ASSERT(t_wait_closed(b->fd, 5000));
    snprintf(want, sizeof want,
             "{\"sender_id\":0,\"sender_nickname\":\"System\",\"message\":\"li\\\"si left (id %ld)\"}", ib);
    T_LINE(a, want);
    /* A disconnect mid-message: the others are told it left. */
    t_client *c = t_client_new(small_port);
    long ic = login(c, "gone");
    t_client_send(c, "{\"type\":\"broadcast\",\"mess");
    t_client_free(c);
    snprintf(want, sizeof want, "{\"sender_id\":0,\"sender_nickname\":\"System\",\"message\":\"gone joined (id %ld)\"}", ic);
    T_LINE(a, want);
    snprintf(want, sizeof want, "{\"sender_id\":0,\"sender_nickname\":\"System\",\"message\":\"gone left (id %ld)\"}", ic);
    T_LINE(a, want);
    t_client_free(a);
    t_client_free(b);
}

static void test_errors(void)
{
    t_client *a = t_client_new(small_port);
    t_client_send(a, "{\"type\":\"broadcast\",\"message\":\"x\"}\n");
    T_LINE(a, "{\"status\":\"error\",\"error\":\"not logged in: send {\\\"type\\\":\\\"login\\\",\\\"nickname\\\":\\\"...\\\"} first\"}");
    t_client_send(a, "hello\n");
    T_LINE(a, "{\"status\":\"error\",\"error\":\"malformed JSON: expected an object\"}");
    t_client_send(a, "{\"type\":}\n");
    char line[512];
    CU_ASSERT(t_readline(a, line, sizeof line, 5000) > 0);
    CU_ASSERT(strncmp(line, "{\"status\":\"error\",\"error\":\"malformed JSON: ", 42) == 0);
    t_client_send(a, "{\"type\":\"dance\"}");
    T_LINE(a, "{\"status\":\"error\",\"error\":\"unknown type \\\"dance\\\"\"}");
    t_client_send(a, "{\"nickname\":\"x\"}");
    T_LINE(a, "{\"status\":\"error\",\"error\":\"missing \\\"type\\\": a string\"}");
    t_client_send(a, "{\"type\":\"login\",\"nickname\":5}");
    T_LINE(a, "{\"status\":\"error\",\"error\":\"login needs \\\"nickname\\\": a string\"}");
    t_client_send(a, "{\"type\":\"login\",\"nickname\":\"\"}");
    T_LINE(a, "{\"status\":\"error\",\"error\":\"nickname must be 1 to 64 bytes\"}");
    t_client_send(a, "{\"type\":\"login\",\"nickname\":\"12345678901234567890123456789012345678901234567890123456789012345\"}");
    T_LINE(a, "{\"status\":\"error\",\"error\":\"nickname must be 1 to 64 bytes\"}");
    t_client_send(a, "{\"type\":\"login\",\"nickname\":\"a\\u0007b\"}");
    T_LINE(a, "{\"status\":\"error\",\"error\":\"nickname must not contain control characters\"}");
    /* The notices' sender is reserved (any case); C1 controls and bidi
     * overrides or isolates are refused, as \u escapes and as raw UTF-8. */
    static const struct {
        const char *nick, *error;
    } refused[] = {
        {"System", "nickname \\\"System\\\" is reserved"},
        {"sYSTEM", "nickname \\\"System\\\" is reserved"},
        {"a\\u0085b", "nickname must not contain control characters"},
        {"a\xc2\x9b" "b", "nickname must not contain control characters"},
        {"a\\u007fb", "nickname must not contain control characters"},
        {"x\\u202ey", "nickname must not contain bidirectional overrides (U+202A..U+202E, U+2066..U+2069)"},
        {"x\xe2\x80\xaay", "nickname must not contain bidirectional overrides (U+202A..U+202E, U+2066..U+2069)"},
        {"x\\u2066y", "nickname must not contain bidirectional overrides (U+202A..U+202E, U+2066..U+2069)"},
        {"x\xe2\x81\xa9y", "nickname must not contain bidirectional overrides (U+202A..U+202E, U+2066..U+2069)"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char req[256], want_err[256];
        snprintf(req, sizeof req, "{\"type\":\"login\",\"nickname\":\"%s\"}", refused[i].nick);
        snprintf(want_err, sizeof want_err, "{\"status\":\"error\",\"error\":\"%s\"}", refused[i].error);
        t_client_send(a, req);
        T_LINE(a, want_err);
    }
    /* A newline inside a string breaks the object; the next line is fine. */
    t_client_send(a, "{\"type\":\"login\",\"nick\nname\":\"x\"}\n");
    T_LINE(a, "{\"status\":\"error\",\"error\":\"malformed JSON: control character in a string\"}");
    /* ... and what followed the newline on that line is garbage of its own. */
    T_LINE(a, "{\"status\":\"error\",\"error\":\"malformed JSON: expected an object\"}");
    long id = login(a, "errs");
    CU_ASSERT(id > 0);
    t_client_send(a, "{\"type\":\"login\",\"nickname\":\"again\"}");
    char want[128];
    snprintf(want, sizeof want, "{\"sender_id\":0,\"sender_nickname\":\"System\",\"message\":\"errs joined (id %ld)\"}", id);
    T_LINE(a, want);
    T_LINE(a, "{\"status\":\"error\",\"error\":\"already logged in\"}");
    t_client_send(a, "{\"type\":\"broadcast\"}");
    T_LINE(a, "{\"status\":\"error\",\"error\":\"broadcast needs \\\"message\\\": a string\"}");
    /* Over max_message (1024): one error, the object skipped exactly, the
     * next object (no separator) handled. */
    char big[3000];
    int n = snprintf(big, sizeof big, "{\"type\":\"broadcast\",\"message\":\"");
    memset(big + n, 'y', 2000);
    snprintf(big + n + 2000, sizeof big - (size_t)n - 2000, "\"}{\"type\":\"dance\"}");
    t_client_send(a, big);
    T_LINE(a, "{\"status\":\"error\",\"error\":\"message too large (max_message is 1024 bytes)\"}");
    T_LINE(a, "{\"status\":\"error\",\"error\":\"unknown type \\\"dance\\\"\"}");
    t_client_free(a);
}

static void test_garbage(void)
{
    srand(7);
    for (int k = 0; k < 20; k++) {
        t_client *g = t_client_new(small_port);
        char junk[4096];
        for (size_t i = 0; i < sizeof junk; i++)
            junk[i] = (char)(rand() & 0xff);
        t_send_all(g->fd, junk, sizeof junk);
        t_client_free(g);
    }
    t_client *a = t_client_new(small_port), *b = t_client_new(small_port);
    CU_ASSERT(login(a, "after") > 0);
    CU_ASSERT(login(b, "garbage") > 0);
    t_client_send(a, "{\"type\":\"broadcast\",\"message\":\"still here\"}");
    char line[512];
    CU_ASSERT_EQUAL(next_msg(b, line, sizeof line), 0);
    T_ASSERT_STR_CONTAINS(line, "\"message\":\"still here\"");
    CU_ASSERT_EQUAL(kill(P->pid, 0), 0);
    t_client_free(a);
    t_client_free(b);
}

static void test_shared_room(void)
{
    t_client *a = t_client_new(port), *b = t_client_new(port2);
    CU_ASSERT(login(a, "tcp_a") > 0);
    CU_ASSERT(login(b, "tcp_b") > 0);
    t_client_send(b, "{\"type\":\"broadcast\",\"message\":\"across listeners\"}");
    char line[512];
    CU_ASSERT_EQUAL(next_msg(a, line, sizeof line), 0);
    T_ASSERT_STR_CONTAINS(line, "\"sender_nickname\":\"tcp_b\",\"message\":\"across listeners\"");
    t_client_free(a);
    t_client_free(b);
}

static void test_1000_clients(void)
{
    enum { N = 1000, M = 20 };
    static t_client *cl[N];
    char cmd[128], line[512];
    for (int i = 0; i < N; i++) {
        cl[i] = t_client_new(port);
        CU_ASSERT_PTR_NOT_NULL_FATAL(cl[i]);
        snprintf(cmd, sizeof cmd, "{\"type\":\"login\",\"nickname\":\"u%d\"}\n", i);
        t_client_send(cl[i], cmd);
    }
    /* Each sees its own ok (notices of earlier joins may come first). */
    int ok = 0;
    for (int i = 0; i < N; i++)
        while (t_readline(cl[i], line, sizeof line, 5000) >= 0)
            if (strncmp(line, "{\"status\":\"ok\"", 14) == 0) {
                ok++;
                break;
            }
    CU_ASSERT_EQUAL(ok, N);
    for (int m = 0; m < M; m++) {
        snprintf(cmd, sizeof cmd, "{\"type\":\"broadcast\",\"message\":\"m%d\"}", m);
        t_client_send(cl[0], cmd);
    }
    int perfect = 0;
    for (int i = 1; i < N; i++) {
        int next = 0, bad = 0;
        while (next < M) {
            if (next_msg(cl[i], line, sizeof line) < 0) {
                bad = 1;
                break;
            }
            char want[64];
            snprintf(want, sizeof want, "\"message\":\"m%d\"}", next);
            if (!strstr(line, want)) {
                bad = 1;
                break;
            }
            next++;
        }
        if (!bad && t_no_line(cl[i], 0))
            perfect++;
    }
    CU_ASSERT_EQUAL(perfect, N - 1); /* every message, once, in order */
    for (int i = 0; i < N; i++)
        t_client_free(cl[i]);
}

static void test_slow_reader(void)
{
    t_client *slow = t_client_new(small_port);
    int small = 4096;
    setsockopt(slow->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    t_client *pub = t_client_new(small_port), *fast = t_client_new(small_port);
    CU_ASSERT(login(slow, "slow") > 0);
    CU_ASSERT(login(pub, "pub") > 0);
    CU_ASSERT(login(fast, "fast") > 0);
    char msg[1200];
    int n = snprintf(msg, sizeof msg, "{\"type\":\"broadcast\",\"message\":\"");
    memset(msg + n, 'z', 900);
    snprintf(msg + n + 900, sizeof msg - (size_t)n - 900, "\"}\n");
    int got = 0;
    char line[2048];
    /* 8000 x 950 B: more than the kernel's socket buffers can hide. */
    for (int i = 0; i < 8000; i++) {
        t_client_send(pub, msg);
        /* the fast reader keeps up */
        while (got <= i && next_msg(fast, line, sizeof line) == 0)
            got++;
    }
    CU_ASSERT_EQUAL(got, 8000);
    CU_ASSERT(t_wait_log(P, "slow consumer: ", 5000));
    T_ASSERT_STR_CONTAINS(P->log, "bytes unsent exceed max_backlog (65536); disconnecting");
    CU_ASSERT(t_wait_closed(slow->fd, 5000));
    t_client_free(slow);
    t_client_free(pub);
    t_client_free(fast);
}

static int bchat_served(int p)
{
    t_client *c = t_client_new(p);
    int ok = c && login(c, "normal") >= 1;
    t_client_free(c);
    return ok;
}

static void assert_timed_out(const t_trickle *t)
{
    CU_ASSERT_EQUAL(t->open, 0);
    CU_ASSERT(t->closed_ms >= 900 && t->closed_ms <= 2500);
    for (int i = 0; i < t->n; i++)
        CU_ASSERT_STRING_EQUAL(t->got[i], "{\"status\":\"error\",\"error\":\"no complete message within "
                                          "message_timeout_ms (1000): closing\"}\n");
}

/* Slowloris: an object trickled a byte every 250 ms, or whitespace
 * trickled between objects, is closed at message_timeout_ms with an error;
 * a client that logged in and went quiet stays, a normal one is served. */
static void test_slowloris(void)
{
    int sp = t_port(P, "slow");
    t_client *quiet = t_client_new(sp);
    CU_ASSERT(login(quiet, "quiet") >= 1);
    t_trickle *t = t_slowloris(sp, 20, "{\"type\":\"login\",\"nickname\":\"", 'a', 250, 12, bchat_served);
    assert_timed_out(t);
    t_trickle_free(t);
    t = t_slowloris(sp, 10, NULL, ' ', 250, 12, NULL);
    assert_timed_out(t);
    t_trickle_free(t);
    char line[512];
    while (t_readline(quiet, line, sizeof line, 200) >= 0) /* the normal client's notices */
        CU_ASSERT(strncmp(line, "{\"sender_id\":0,", 15) == 0);
    t_client *other = t_client_new(sp);
    CU_ASSERT(login(other, "other") >= 1);
    t_client_send(quiet, "{\"type\":\"broadcast\",\"message\":\"still here\"}\n");
    CU_ASSERT(next_msg(other, line, sizeof line) == 0);
    T_ASSERT_STR_CONTAINS(line, "\"sender_nickname\":\"quiet\",\"message\":\"still here\"");
    t_client_free(other);
    t_client_free(quiet);
    usleep(1100000);
    CU_ASSERT_EQUAL(t_counter(t_port(P, "status"), "slow", "message_timeouts"), 30);
}

int add_bchat_suite(void)
{
    CU_pSuite s = CU_add_suite("bchat", setup, teardown);
    if (!s || !CU_add_test(s, "login, ids, notices, forged sender, framing, logout", test_login_broadcast) ||
        !CU_add_test(s, "every error, connection still usable", test_errors) ||
        !CU_add_test(s, "random garbage leaves the room working", test_garbage) ||
        !CU_add_test(s, "two listeners share one room", test_shared_room) ||
        !CU_add_test(s, "1000 clients get every message once, in order", test_1000_clients) ||
        !CU_add_test(s, "a slow reader is dropped, the others keep up", test_slow_reader) ||
        !CU_add_test(s, "slowloris: tricklers closed at message_timeout_ms", test_slowloris))
        return -1;
    return 0;
}
