/* test_kv.c -- kv.c tested in process with the mock core (netcore/mock.h):
 * the real kv.so loaded into this program, driven hook by hook, its answers
 * checked byte for byte, its timer fired by a fake clock.  No server, no
 * sockets.  docs/writing-modules.md, "Testing your module in process".
 *
 * Build:  cc -O2 -o test_kv test_kv.c $(pkg-config --cflags --libs netcore-mock)
 * Run:    ./test_kv ./kv.so */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netcore/mock.h"

static int failures;

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);     \
            failures++;                                                                  \
        }                                                                                \
    } while (0)

/* Everything the peer would read now, compared with want. */
static void expect(nc_conn *c, const char *want)
{
    char *got = nc_mock_read_all(c, NULL);
    if (!got || strcmp(got, want) != 0) {
        fprintf(stderr, "expected \"%s\", got \"%s\"\n", want, got ? got : "(null)");
        failures++;
    }
    free(got);
}

int main(int argc, char **argv)
{
    char err[1024];
    const nc_module *m = nc_mock_load(argc > 1 ? argv[1] : "./kv.so", err, sizeof err);
    if (!m) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }

    /* Option errors are the core's own messages. */
    nc_mock_config bad = {.options = "{\"max_value\": 0}"};
    CHECK(nc_mock_start(m, &bad, err, sizeof err) == NULL);
    CHECK(strcmp(err, "mock.json: listeners[0].options.max_value: expected an integer from 1 to 1048576") == 0);

    nc_mock_config cfg = {.options = "{\"max_value\": 16}"};
    nc_mock *mk = nc_mock_start(m, &cfg, err, sizeof err);
    if (!mk) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    nc_conn *a = nc_mock_accept(mk, "10.0.0.1:5000");
    nc_conn *w = nc_mock_accept(mk, "10.0.0.2:5000");

    /* Requests in, answers out; a line split anywhere is the same line. */
    nc_mock_feeds(a, "SET k v\nGET k\n");
    expect(a, "+OK\n$v\n");
    nc_mock_feeds(a, "GE");
    expect(a, "");
    nc_mock_feeds(a, "T nope\r\n");
    expect(a, "-ERR no such key\n");
    nc_mock_feeds(a, "SET k 0123456789abcdefg\n");
    expect(a, "-ERR value longer than max_value (16)\n");

    /* A watcher hears about changes, expiry included: the clock is fake. */
    nc_mock_feeds(w, "WATCH\n");
    expect(w, "+OK watching\n");
    nc_mock_feeds(a, "SET t x EX 2\n");
    expect(a, "+OK\n");
    expect(w, "* set t\n");
    nc_mock_advance(mk, 1999);
    expect(w, "");
    nc_mock_advance(mk, 1000); /* the sweep runs once a second */
    expect(w, "* expired t\n");

    /* DUMP streams through on_writable as the peer reads. */
    nc_mock_feeds(a, "DUMP\n");
    expect(a, "k v\nEND\n");

    /* QUIT: the answer, then the close, once it has been read. */
    nc_mock_feeds(a, "QUIT\n");
    CHECK(nc_mock_closed(a) == NC_MOCK_FLUSHING);
    expect(a, "+OK bye\n");
    CHECK(nc_mock_closed(a) == NC_MOCK_CLOSED_FLUSH);

    /* Stopping: on_close for w, fini; 0 means fini left no timer armed
     * and nothing unreleased. */
    CHECK(nc_mock_free(mk) == 0);
    if (failures) {
        fprintf(stderr, "kv: %d checks failed\n", failures);
        return 1;
    }
    printf("kv: all checks passed\n");
    return 0;
}
