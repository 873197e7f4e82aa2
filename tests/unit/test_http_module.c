/* test_http_module.c -- modules/http-static/http.c in process: the real
 * http-static.so loaded by the core's loader into this test binary (which
 * holds the core), its instance built, listened and freed through its
 * descriptor, with the core's timer heap looked at in between. */
#include <CUnit/CUnit.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "harness.h"
#include "module.h"
#include "suites.h"
#include "timer.h"

/* fini must stop the repeating timers on_listen started (the header and
 * keep-alive sweep, the access log's flush): left armed, they fire with the
 * instance freed.  Before, both stayed in the heap after fini. */
static void test_fini_stops_timers(void)
{
    char err[512];
    nc__module *mod = nc__module_open(t_build_path("modules/http-static.so"), err, sizeof err);
    if (!mod)
        fprintf(stderr, "\n  %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mod);
    const nc_module *m = mod->m;
    char logp[600];
    snprintf(logp, sizeof logp, "%s/unit-access.log", t_tmpdir());
    json_t *opts = json_pack("{s:s, s:s}", "root", t_tmpdir(), "access_log", logp);
    nc__lconf lc = {.name = "unit", .module = "http-static", .options = opts};
    nc_listener l;
    memset(&l, 0, sizeof l);
    l.fd = -1;
    l.conf = &lc;
    l.name = lc.name;
    l.m = m;
    nc_options *o = nc__options_new("unit.json", t_tmpdir(), &lc);
    void *inst = NULL;
    int rc = m->init(&l, o, &inst);
    const char *why = nc__options_finish(o, rc);
    if (why)
        fprintf(stderr, "\n  init: %s\n", why);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    l.instance = inst;
    l.inited = 1;
    size_t before = nc__timer_heap.n;
    CU_ASSERT_EQUAL(m->on_listen(&l), 0);
    CU_ASSERT_EQUAL(nc__timer_heap.n, before + 2); /* the sweep and the log flush */
    m->fini(&l, inst);
    CU_ASSERT_EQUAL_FATAL(nc__timer_heap.n, before);
    /* and nothing of it runs later, however late */
    CU_ASSERT_EQUAL(nc__timers_run(&nc__timer_heap, UINT64_MAX / 2), 0);
    nc__options_free(o);
    nc__listener_free(&l);
    json_decref(opts);
    nc__module_close(mod);
}

int add_http_module_suite(void)
{
    CU_pSuite s = CU_add_suite("http_module", NULL, NULL);
    if (!s || !CU_add_test(s, "fini stops the timers on_listen started", test_fini_stops_timers))
        return -1;
    return 0;
}
