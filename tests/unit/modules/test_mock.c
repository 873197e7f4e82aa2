/* test_mock.c -- tools/mock/mock.c itself, driving a small module defined
 * here: the core's delivery rules (leftovers handed again, pause and
 * resume, max_input_bytes, the watermark), deferred close and on_close
 * once, on_writable, the fake clock, work, and what nc_mock_free reports. */
#include <CUnit/CUnit.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mt.h"

/* The probe module: consumes whole lines ("pause", "resume", "close",
 * "abort", "big", "file", "shared", "tick N", "work", "leak-timer",
 * "leak-shared", anything else is echoed as "<line>\n"), counts hooks. */
static struct {
    unsigned accepts, closes, eofs, writables, ticks, works, dones;
    nc_conn *last;
    nc_timer *leaked;
    int refuse;
    char path[512];
} P;

static void tick(nc_timer *t, void *arg)
{
    (void)arg;
    P.ticks++;
    if (P.ticks == 3)
        nc_timer_stop(t); /* from inside its own callback */
}

static void work(void *arg)
{
    (void)arg;
    P.works++;
}

/* done runs even when the connection closed meanwhile (nc_mock_free runs
 * queued work after closing every connection): it must not touch it then. */
static void done(void *arg)
{
    if (!P.closes)
        nc_sendf(arg, "done %u\n", P.works);
    P.dones++;
}

static void command(nc_conn *c, const char *line)
{
    if (!strcmp(line, "pause")) {
        nc_conn_pause(c);
    } else if (!strcmp(line, "close")) {
        nc_send(c, "bye\n", 4);
        nc_close(c, NC_CLOSE_FLUSH);
    } else if (!strcmp(line, "abort")) {
        nc_close(c, NC_CLOSE_ABORT);
    } else if (!strcmp(line, "big")) {
        static char big[300 * 1024];
        memset(big, 'b', sizeof big);
        nc_send(c, big, sizeof big);
    } else if (!strcmp(line, "file")) {
        int fd = open(P.path, O_RDONLY);
        nc_sendfile(c, fd, 2, 5, NC_FILE_OWN);
    } else if (!strcmp(line, "shared")) {
        nc_shared *s = nc_shared_new(NULL, 2000);
        memset(nc_shared_data(s), 's', 2000);
        nc_send_shared(c, s);
        nc_shared_release(s);
    } else if (!strncmp(line, "tick ", 5)) {
        uint64_t ms = strtoull(line + 5, NULL, 10);
        nc_timer_start(ms, ms, tick, NULL);
    } else if (!strcmp(line, "work")) {
        nc_work_submit(work, done, c);
    } else if (!strcmp(line, "leak-timer")) {
        P.leaked = nc_timer_start(1000, 1000, tick, NULL);
    } else if (!strcmp(line, "leak-shared")) {
        nc_shared_new("x", 1);
    } else {
        nc_sendf(c, "<%s>\n", line);
    }
}

static int p_init(nc_listener *l, nc_options *o, void **inst)
{
    long long n;
    if (nc_opt_int(o, "n", 1, 1, 10, &n) < 0)
        return -1;
    *inst = NULL;
    return 0;
}

static int p_accept(nc_conn *c)
{
    P.last = c;
    if (P.refuse) {
        nc_send(c, "full\n", 5);
        return -1;
    }
    P.accepts++;
    return 0;
}

static ssize_t p_data(nc_conn *c, const char *d, size_t n)
{
    const char *nl = memchr(d, '\n', n);
    if (!nl)
        return 0;
    char line[256];
    size_t k = (size_t)(nl - d) < sizeof line - 1 ? (size_t)(nl - d) : sizeof line - 1;
    memcpy(line, d, k);
    line[k] = '\0';
    if (!strcmp(line, "fail"))
        return -1;
    command(c, line);
    return nl - d + 1; /* one line per call: the core calls again */
}

static void p_eof(nc_conn *c)
{
    P.eofs++;
    nc_send(c, "eof\n", 4);
    nc_close(c, NC_CLOSE_FLUSH);
}

static void p_writable(nc_conn *c)
{
    P.writables++;
}

static void p_close(nc_conn *c)
{
    P.closes++;
}

static const nc_module probe = {
    NC_MODULE_HEADER,
    .flags = NC_MOD_STREAM,
    .name = "probe",
    .init = p_init,
    .on_accept = p_accept,
    .on_data = p_data,
    .on_eof = p_eof,
    .on_writable = p_writable,
    .on_close = p_close,
};

static nc_mock *start(const nc_mock_config *cfg)
{
    memset(&P, 0, sizeof P);
    snprintf(P.path, sizeof P.path, "%s", mt_path("probe.txt"));
    FILE *f = fopen(P.path, "w");
    fputs("0123456789", f);
    fclose(f);
    char err[512];
    nc_mock *mk = nc_mock_start(&probe, cfg, err, sizeof err);
    if (!mk)
        fprintf(stderr, "\n  %s\n", err);
    return mk;
}

static char *read_all(nc_conn *c)
{
    return nc_mock_read_all(c, NULL);
}

#define EXPECT_OUT(c, want)                                                              \
    do {                                                                                 \
        char *got_ = read_all(c);                                                        \
        CU_ASSERT_PTR_NOT_NULL_FATAL(got_);                                              \
        CU_ASSERT_STRING_EQUAL(got_, want);                                              \
        free(got_);                                                                      \
    } while (0)

static void test_leftovers_and_lines(void)
{
    nc_mock *mk = start(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mk);
    nc_conn *c = nc_mock_accept(mk, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(nc_conn_id(c), 1);
    CU_ASSERT_STRING_EQUAL(nc_conn_peer_str(c), "127.0.0.1:40000");
    nc_mock_feeds(c, "a\nb");
    CU_ASSERT_EQUAL(nc_mock_held(c), 1); /* "b" waits for its newline */
    nc_mock_feeds(c, "c\nd\n");
    CU_ASSERT_EQUAL(nc_mock_held(c), 0);
    EXPECT_OUT(c, "<a>\n<bc>\n<d>\n");
    CU_ASSERT_EQUAL(P.writables, 1); /* the queue drained once */
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
    CU_ASSERT_EQUAL(P.closes, 1);
}

static void test_pause_resume_redelivers(void)
{
    nc_mock *mk = start(NULL);
    nc_conn *c = nc_mock_accept(mk, NULL);
    nc_mock_feeds(c, "pause\nx\ny\n");
    CU_ASSERT_EQUAL(nc_mock_held(c), 4); /* read already, not delivered while paused */
    nc_mock_feeds(c, "z\n");             /* stays "in the socket" */
    EXPECT_OUT(c, "");
    nc_conn_resume(c);
    nc_mock_advance(mk, 0); /* a turn: the held input is handed over again */
    EXPECT_OUT(c, "<x>\n<y>\n<z>\n");
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

static void test_close_once_and_states(void)
{
    nc_mock *mk = start(NULL);
    nc_conn *a = nc_mock_accept(mk, NULL), *b = nc_mock_accept(mk, NULL), *d = nc_mock_accept(mk, NULL);
    CU_ASSERT_EQUAL(nc_listener_conn_count(nc_mock_listener(mk)), 3);
    CU_ASSERT_EQUAL(nc_mock_feeds(a, "close\n"), -1);
    CU_ASSERT_EQUAL(nc_mock_closed(a), NC_MOCK_FLUSHING);
    CU_ASSERT_EQUAL(P.closes, 0);
    EXPECT_OUT(a, "bye\n");
    CU_ASSERT_EQUAL(nc_mock_closed(a), NC_MOCK_CLOSED_FLUSH);
    CU_ASSERT_EQUAL(P.closes, 1);
    nc_mock_feeds(b, "x\nabort\n");
    CU_ASSERT_EQUAL(nc_mock_closed(b), NC_MOCK_CLOSED_ABORT);
    char buf[8];
    CU_ASSERT_EQUAL(nc_mock_read(b, buf, sizeof buf), 0); /* an abort drops the queue */
    nc_mock_hangup(d);
    CU_ASSERT_EQUAL(nc_mock_closed(d), NC_MOCK_CLOSED_PEER);
    CU_ASSERT_EQUAL(P.closes, 3);
    CU_ASSERT_EQUAL(nc_mock_feeds(d, "x\n"), -1);
    nc_conn *e = nc_mock_accept(mk, NULL);
    CU_ASSERT_EQUAL(nc_mock_eof(e), -1);
    CU_ASSERT_EQUAL(P.eofs, 1);
    EXPECT_OUT(e, "eof\n");
    CU_ASSERT_EQUAL(nc_mock_closed(e), NC_MOCK_CLOSED_FLUSH);
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
    CU_ASSERT_EQUAL(P.closes, 4);
}

static void test_refused_last_words(void)
{
    nc_mock *mk = start(NULL);
    P.refuse = 1;
    CU_ASSERT_PTR_NULL(nc_mock_accept(mk, NULL));
    nc_conn *c = nc_mock_connect(mk, "[::1]:5000");
    CU_ASSERT_TRUE(nc_mock_refused(c));
    CU_ASSERT_STRING_EQUAL(nc_conn_peer_str(c), "[::1]:5000");
    EXPECT_OUT(c, "full\n");
    CU_ASSERT_EQUAL(nc_mock_closed(c), NC_MOCK_CLOSED_FLUSH);
    CU_ASSERT_EQUAL(P.closes, 0); /* refused: no on_close */
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

static void test_input_limit(void)
{
    nc_mock_config cfg = {.max_input_bytes = 8};
    nc_mock *mk = start(&cfg);
    nc_conn *c = nc_mock_accept(mk, NULL);
    CU_ASSERT_EQUAL(nc_mock_feeds(c, "12345678"), 0); /* 8 held: at the bound */
    CU_ASSERT_EQUAL(nc_mock_feeds(c, "9"), -1);
    CU_ASSERT_EQUAL(nc_mock_closed(c), NC_MOCK_CLOSED_ABORT);
    CU_ASSERT_STRING_EQUAL(nc_mock_log_line(mk, -1),
                           "warn [mock#1] 9 bytes of unconsumed input exceed max_input_bytes (8); closing");
    nc_conn *d = nc_mock_accept(mk, NULL);
    CU_ASSERT_EQUAL(nc_mock_feeds(d, "fail\n"), -1); /* on_data's -1 aborts */
    CU_ASSERT_EQUAL(nc_mock_closed(d), NC_MOCK_CLOSED_ABORT);
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

static void test_output_limit_and_watermark(void)
{
    nc_mock *mk = start(NULL);
    nc_conn *c = nc_mock_accept(mk, NULL);
    /* 300 KiB queued is above the 256 KiB watermark: no more input is
     * delivered until the peer reads it down to half. */
    nc_mock_feeds(c, "big\nx\n");
    CU_ASSERT_EQUAL(nc_mock_pending(c), 300 * 1024);
    static char buf[300 * 1024];
    CU_ASSERT_EQUAL(nc_mock_read(c, buf, 100 * 1024), 100 * 1024);
    CU_ASSERT_EQUAL(nc_mock_pending(c), 200 * 1024); /* still throttled: x not answered */
    CU_ASSERT_EQUAL(nc_mock_read(c, buf, 200 * 1024 - 100), 200 * 1024 - 100);
    CU_ASSERT_EQUAL(nc_mock_pending(c), 100 + 4); /* unthrottled: "<x>\n" followed */
    CU_ASSERT_EQUAL(P.writables, 0);
    nc_mock_free(mk);

    nc_mock_config cfg = {.max_output_bytes = 4096};
    mk = start(&cfg);
    c = nc_mock_accept(mk, NULL);
    CU_ASSERT_EQUAL(nc_mock_feeds(c, "big\n"), -1);
    CU_ASSERT_EQUAL(nc_mock_closed(c), NC_MOCK_CLOSED_ABORT);
    CU_ASSERT_EQUAL(nc_mock_log_count(mk, "slow consumer: 307200 bytes queued exceed max_output_bytes (4096)"), 1);
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

static void test_files_and_shared(void)
{
    nc_mock *mk = start(NULL);
    nc_conn *c = nc_mock_accept(mk, NULL);
    nc_mock_feeds(c, "file\nshared\n");
    CU_ASSERT_EQUAL(nc_mock_pending(c), 5 + 2000);
    char buf[8] = {0};
    CU_ASSERT_EQUAL(nc_mock_read(c, buf, 5), 5);
    CU_ASSERT_STRING_EQUAL(buf, "23456"); /* offset 2, 5 bytes, read from the file now */
    size_t n;
    char *rest = nc_mock_read_all(c, &n);
    CU_ASSERT_EQUAL(n, 2000);
    CU_ASSERT_EQUAL(rest[0], 's');
    CU_ASSERT_EQUAL(rest[1999], 's');
    free(rest);
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

static void test_timers_and_work(void)
{
    nc_mock *mk = start(NULL);
    nc_conn *c = nc_mock_accept(mk, NULL);
    uint64_t t0 = nc_now_ms();
    CU_ASSERT_EQUAL(t0, 1000000);
    nc_mock_feeds(c, "tick 100\n");
    CU_ASSERT_EQUAL(nc_mock_timers(mk), 1);
    CU_ASSERT_EQUAL(nc_mock_advance(mk, 99), 0);
    CU_ASSERT_EQUAL(nc_mock_advance(mk, 1), 1);
    CU_ASSERT_EQUAL(nc_mock_advance(mk, 1000), 2); /* stopped itself at its third run */
    CU_ASSERT_EQUAL(P.ticks, 3);
    CU_ASSERT_EQUAL(nc_mock_timers(mk), 0);
    CU_ASSERT_EQUAL(nc_now_ms(), t0 + 1100);
    nc_mock_feeds(c, "work\nwork\n");
    CU_ASSERT_EQUAL(nc_mock_work_pending(mk), 2);
    CU_ASSERT_EQUAL(P.works, 0);
    CU_ASSERT_EQUAL(nc_mock_run_work(mk), 2);
    EXPECT_OUT(c, "done 1\ndone 2\n");
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

static void test_leak_report(void)
{
    nc_mock *mk = start(NULL);
    nc_conn *c = nc_mock_accept(mk, NULL);
    nc_mock_feeds(c, "leak-timer\nleak-shared\n");
    /* The findings go to stderr: caught in a file to be read. */
    const char *path = mt_path("leaks.txt");
    fflush(stderr);
    int saved = dup(2), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    close(fd);
    CU_ASSERT_EQUAL(nc_mock_free(mk), -1);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char *text = mt_slurp(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "nc_mock: module probe, listener mock: a repeating timer is still armed "
                                        "after fini (callback 0x"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "nc_mock: module probe, listener mock: 1 nc_shared buffer never released\n"));
    unsigned lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    CU_ASSERT_EQUAL(lines, 2);
    free(text);
    /* Work never run by the test is the core's to finish, not a leak. */
    mk = start(NULL);
    c = nc_mock_accept(mk, NULL);
    nc_mock_feeds(c, "work\n");
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
    CU_ASSERT_EQUAL(P.dones, 1);
}

static void test_option_errors(void)
{
    char err[512];
    memset(&P, 0, sizeof P);
    nc_mock_config cfg = {.options = "{\"n\": 11}"};
    CU_ASSERT_PTR_NULL(nc_mock_start(&probe, &cfg, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "mock.json: listeners[0].options.n: expected an integer from 1 to 10");
    cfg.options = "{\"m\": 1}";
    CU_ASSERT_PTR_NULL(nc_mock_start(&probe, &cfg, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "mock.json: listeners[0].options.m: unknown option (did you mean \"n\"?)");
    cfg.options = NULL;
    cfg.transport = "udp";
    CU_ASSERT_PTR_NULL(nc_mock_start(&probe, &cfg, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "mock.json: listeners[0].transport: module probe does not serve udp");
    CU_ASSERT_PTR_NULL(nc_mock_load("/nonexistent/x.so", err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "/nonexistent/x.so: cannot load: cannot open shared object file: No such file or directory");
    nc_mock *mk = nc_mock_start(&probe, NULL, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL(mk);
    CU_ASSERT_PTR_NULL(nc_mock_start(&probe, NULL, err, sizeof err)); /* one at a time */
    CU_ASSERT_EQUAL(nc_mock_free(mk), 0);
}

int add_mock_suite(void)
{
    CU_pSuite s = CU_add_suite("mock", NULL, NULL);
    if (!s)
        return -1;
    CU_add_test(s, "leftovers are handed again with what follows", test_leftovers_and_lines);
    CU_add_test(s, "input held while paused is redelivered after resume", test_pause_resume_redelivers);
    CU_add_test(s, "closes are deferred, on_close runs once, states", test_close_once_and_states);
    CU_add_test(s, "a refused connection's last words are readable", test_refused_last_words);
    CU_add_test(s, "max_input_bytes and on_data's -1 abort", test_input_limit);
    CU_add_test(s, "the watermark throttles input; max_output_bytes closes", test_output_limit_and_watermark);
    CU_add_test(s, "file regions and shared buffers are read by the peer", test_files_and_shared);
    CU_add_test(s, "the fake clock fires timers; work runs on demand", test_timers_and_work);
    CU_add_test(s, "nc_mock_free reports armed timers and unreleased buffers", test_leak_report);
    CU_add_test(s, "option and load errors are the core's", test_option_errors);
    return 0;
}
