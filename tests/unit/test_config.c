/* test_config.c -- unit tests of core/config.c: defaults, and a table of bad
 * configs each with the exact message a user would read. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "options.h"
#include "harness.h"
#include "log.h"
#include "suites.h"

#define F "/etc/nc/netcore.json"

static int setup(void)
{
    nc__config_set_default_modules_dirs(t_builddir(), NULL);
    return 0;
}

static int teardown(void)
{
    nc__config_set_default_modules_dirs(NULL, NULL);
    return 0;
}

static void test_defaults(void)
{
    const char *text = "{\"listeners\":[{\"module\":\"echo\",\"listen\":\"127.0.0.1:0\"},"
                       "{\"name\":\"u\",\"module\":\"echo\",\"listen\":\"[::1]:9\","
                       "\"transport\":\"udp\",\"options\":{\"banner\":\"hi\"}},"
                       "{\"name\":\"s\",\"module\":\"echo\",\"listen\":\"unix:/tmp/s\","
                       "\"max_connections\":5,\"idle_timeout_ms\":0}],"
                       "\"modules_dir\":\"mods\",\"log\":{\"level\":\"debug\","
                       "\"format\":\"json\",\"file\":\"log/n.log\"}}";
    nc__config c;
    char err[512] = "";
    /* modules_dir "mods" does not exist: point names at real files instead. */
    int rc = nc__config_parse(text, strlen(text), F, &c, err, sizeof err);
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT_STRING_EQUAL(err, F ": listeners[0].module: no module \"echo\" (looked in "
                                "/etc/nc/mods)");
    char text2[1024];
    snprintf(text2, sizeof text2, "%s", text);
    char *md = strstr(text2, "\"mods\"");
    char fixed[1200];
    snprintf(fixed, sizeof fixed, "%.*s\"%s\"%s", (int)(md - text2), text2,
             t_build_path("modules"), md + 6);
    rc = nc__config_parse(fixed, strlen(fixed), F, &c, err, sizeof err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(c.nlisteners, 3);
    CU_ASSERT_STRING_EQUAL(c.listeners[0].name, "echo"); /* defaults to the module */
    CU_ASSERT_EQUAL(c.listeners[0].transport, NC_TCP);
    CU_ASSERT_EQUAL(c.listeners[0].backlog, 511);
    CU_ASSERT_EQUAL(c.listeners[0].max_connections, 10000);
    CU_ASSERT_EQUAL(c.listeners[0].idle_timeout_ms, 300000);
    CU_ASSERT_EQUAL(c.listeners[0].max_input_bytes, 1 << 20);
    CU_ASSERT_EQUAL(c.listeners[0].max_output_bytes, 16 << 20);
    CU_ASSERT_EQUAL(c.listeners[0].write_budget_bytes, 256 << 10);
    CU_ASSERT_EQUAL(c.listeners[0].max_queued_files, 32);
    CU_ASSERT_EQUAL(c.worker_max_output_bytes, 256 << 20);
    CU_ASSERT_EQUAL(c.worker_max_queued_files, 0); /* a quarter of RLIMIT_NOFILE, at the worker's start */
    CU_ASSERT_EQUAL(c.listeners[1].transport, NC_UDP);
    CU_ASSERT_EQUAL(c.listeners[2].transport, NC_UNIX);
    CU_ASSERT_EQUAL(c.listeners[2].max_connections, 5);
    CU_ASSERT_EQUAL(c.listeners[2].idle_timeout_ms, 0);
    CU_ASSERT_EQUAL(c.shutdown_timeout_ms, 5000);
    CU_ASSERT_EQUAL(c.log_level, NC_LOG_DEBUG);
    CU_ASSERT_EQUAL(c.log_format, NC_LOGFMT_JSON);
    CU_ASSERT_STRING_EQUAL(c.log_file, "/etc/nc/log/n.log");
    CU_ASSERT_PTR_NOT_NULL(strstr(c.listeners[0].module_path, "/modules/echo.so"));
    nc__config_free(&c);
}

static void test_bad(void)
{
    static const struct {
        const char *text, *err;
    } cases[] = {
        {"", F ":1:0: '[' or '{' expected near end of file"},
        {"{\"listeners\": [}", F ":1:16: unexpected token near '}'"},
        {"{\n  \"listeners\": [],\n  \"listeners\": []\n}",
         F ":3:13: duplicate object key near '\"listeners\"'"},
        {"[]", F ": expected a JSON object at the top level"},
        {"{}", F ": listeners: missing (an array of listeners)"},
        {"{\"listeners\":[]}", F ": listeners: expected at least one listener"},
        {"{\"listeners\":{}}", F ": listeners: expected an array"},
        {"{\"listener\":[]}", F ": listener: unknown key (did you mean \"listeners\"?)"},
        {"{\"zzz\":[]}", F ": zzz: unknown key"},
        {"{\"listeners\":[1]}", F ": listeners[0]: expected an object"},
        {"{\"listeners\":[{\"listen\":\"127.0.0.1:1\"}]}",
         F ": listeners[0].module: missing (the module that serves this listener)"},
        {"{\"listeners\":[{\"module\":\"echo\"}]}",
         F ": listeners[0].listen: missing (for example \"127.0.0.1:7000\")"},
        {"{\"listeners\":[{\"module\":\"echo\",\"listen\":\"127.0.0.1\"}]}",
         F ": listeners[0].listen: \"127.0.0.1\": expected \"HOST:PORT\", \"[IPv6]:PORT\" or "
           "\"unix:PATH\""},
        {"{\"listeners\":[{\"module\":\"echo\",\"listen\":\"127.0.0.1:99999\"}]}",
         F ": listeners[0].listen: \"127.0.0.1:99999\": port must be 0..65535"},
        {"{\"listeners\":[{\"module\":\"echo\",\"listen\":7000}]}",
         F ": listeners[0].listen: expected a string"},
        {"{\"listeners\":[{\"module\":\"echo\",\"listen\":\"127.0.0.1:1\",\"port\":1}]}",
         F ": listeners[0].port: unknown key"},
        {"{\"listeners\":[{\"module\":\"echo\",\"listen\":\"127.0.0.1:1\",\"transport\":\"sctp\"}]}",
         F ": listeners[0].transport: expected \"tcp\" or \"udp\", not \"sctp\" (did you mean \"tcp\"?)"},
        {"{\"listeners\":[{\"module\":\"echo\",\"listen\":\"127.0.0.1:1\",\"transport\":\"quic\"}]}",
         F ": listeners[0].transport: expected \"tcp\" or \"udp\", not \"quic\""},
        {"{\"log\":{\"level\":\"inof\"},\"listeners\":[]}",
         F ": log.level: expected \"error\", \"warn\", \"info\" or \"debug\", not \"inof\" (did you mean \"info\"?)"},
        {"{\"listeners\": [ {\"module\":\"echo\" \"listen\":\"127.0.0.1:1\"} ]}",
         F ":1:41: '}' expected near '\"listen\"' (a missing comma before it?)"},
        {"{\"listeners\":[{\"module\":\"echo\",\"listen\":\"unix:/x\",\"transport\":\"udp\"}]}",
         F ": listeners[0].transport: \"udp\" needs an IP address, not a unix socket"},
        {"{\"listeners\":[{\"module\":\"echo\",\"listen\":\"127.0.0.1:1\",\"backlog\":0}]}",
         F ": listeners[0].backlog: expected an integer from 1 to 65535"},
        {"{\"listeners\":[{\"module\":\"echo\",\"listen\":\"127.0.0.1:1\",\"max_connections\":\"5\"}]}",
         F ": listeners[0].max_connections: expected an integer"},
        {"{\"listeners\":[{\"module\":\"echo\",\"listen\":\"127.0.0.1:1\",\"idle_timeout_ms\":-1}]}",
         F ": listeners[0].idle_timeout_ms: expected an integer from 0 to 86400000"},
        {"{\"listeners\":[{\"module\":\"echo\",\"listen\":\"127.0.0.1:1\",\"max_input_bytes\":1.5}]}",
         F ": listeners[0].max_input_bytes: expected an integer"},
        {"{\"listeners\":[{\"module\":\"echo\",\"listen\":\"127.0.0.1:1\",\"max_output_bytes\":10}]}",
         F ": listeners[0].max_output_bytes: expected an integer from 1024 to 68719476736"},
        {"{\"listeners\":[{\"module\":\"echo\",\"listen\":\"127.0.0.1:1\",\"write_budget_bytes\":0}]}",
         F ": listeners[0].write_budget_bytes: expected an integer from 4096 to 1073741824"},
        {"{\"listeners\":[{\"module\":\"echo\",\"listen\":\"127.0.0.1:1\",\"max_queued_files\":0}]}",
         F ": listeners[0].max_queued_files: expected an integer from 1 to 65536"},
        {"{\"worker_max_output_bytes\":1000,\"listeners\":[{\"module\":\"echo\",\"listen\":\"127.0.0.1:1\"}]}",
         F ": worker_max_output_bytes: expected an integer from 1048576 to 1099511627776"},
        {"{\"worker_max_queued_files\":-1,\"listeners\":[{\"module\":\"echo\",\"listen\":\"127.0.0.1:1\"}]}",
         F ": worker_max_queued_files: expected an integer from 0 to 10000000"},
        {"{\"listeners\":[{\"module\":\"echo\",\"listen\":\"127.0.0.1:1\",\"options\":[]}]}",
         F ": listeners[0].options: expected an object"},
        {"{\"listeners\":[{\"module\":\"echo\",\"listen\":\"127.0.0.1:1\"},"
         "{\"module\":\"echo\",\"listen\":\"127.0.0.1:2\"}]}",
         F ": listeners[1].name: \"echo\" is already the name of listeners[0] (names must be "
           "unique)"},
        {"{\"listeners\":[{\"name\":\"a\",\"module\":\"echo\",\"listen\":\"127.0.0.1:1\"},"
         "{\"name\":\"b\",\"module\":\"echo\",\"listen\":\"127.0.0.1:1\"}]}",
         F ": listeners[1].listen: \"127.0.0.1:1\" is already used by listeners[0]"},
        {"{\"listeners\":[{\"name\":\"a b\",\"module\":\"echo\",\"listen\":\"127.0.0.1:1\"}]}",
         F ": listeners[0].name: expected 1 to 64 characters from A-Z a-z 0-9 _ - ."},
        {"{\"listeners\":[{\"module\":\"nosuch\",\"listen\":\"127.0.0.1:1\"}]}",
         F ": listeners[0].module: no module \"nosuch\" (looked in build/modules)"},
        {"{\"listeners\":[{\"name\":\"x\",\"module\":\"Bad Name!\",\"listen\":\"127.0.0.1:1\"}]}",
         F ": listeners[0].module: \"Bad Name!\" is not a module name or a path to a .so"},
        {"{\"log\":{\"level\":\"loud\"},\"listeners\":[{\"module\":\"echo\",\"listen\":\"127.0.0.1:1\"}]}",
         F ": log.level: expected \"error\", \"warn\", \"info\" or \"debug\", not \"loud\""},
        {"{\"log\":{\"format\":\"xml\"},\"listeners\":[{\"module\":\"echo\",\"listen\":\"127.0.0.1:1\"}]}",
         F ": log.format: expected \"text\" or \"json\", not \"xml\""},
        {"{\"log\":{\"colour\":true},\"listeners\":[{\"module\":\"echo\",\"listen\":\"127.0.0.1:1\"}]}",
         F ": log.colour: unknown key"},
        {"{\"shutdown_timeout_ms\":true,\"listeners\":[{\"module\":\"echo\",\"listen\":\"127.0.0.1:1\"}]}",
         F ": shutdown_timeout_ms: expected an integer"},
        {"{\"modules_dir\":5,\"listeners\":[{\"module\":\"echo\",\"listen\":\"127.0.0.1:1\"}]}",
         F ": modules_dir: expected a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nc__config c;
        char err[512] = "";
        int rc = nc__config_parse(cases[i].text, strlen(cases[i].text), F, &c, err, sizeof err);
        CU_ASSERT_EQUAL(rc, -1);
        /* The default modules dir is "<builddir>/modules"; normalise it. */
        char want[512];
        snprintf(want, sizeof want, "%s", cases[i].err);
        char *p = strstr(want, "looked in build/modules");
        if (p && strcmp(t_builddir(), "build") != 0) {
            char tail[256];
            snprintf(tail, sizeof tail, "%s", p + strlen("looked in build/modules"));
            snprintf(p, sizeof want - (size_t)(p - want), "looked in %s/modules%s", t_builddir(),
                     tail);
        }
        if (strcmp(err, want) != 0)
            fprintf(stderr, "\n  case %zu:\n    want: %s\n    got:  %s\n", i, want, err);
        CU_ASSERT_STRING_EQUAL(err, want);
    }
}

/* A listener without "options": a module's relative default path is
 * resolved against the config's folder all the same.  Before, nc_opt_path
 * had nowhere to keep the resolved text and failed with "out of memory". */
static void test_relative_default_without_options(void)
{
    char text[512], err[512] = "";
    snprintf(text, sizeof text, "{\"listeners\":[{\"module\":\"%s\",\"listen\":\"127.0.0.1:0\"}]}",
             t_build_path("modules/echo.so"));
    nc__config c;
    CU_ASSERT_EQUAL_FATAL(nc__config_parse(text, strlen(text), F, &c, err, sizeof err), 0);
    nc_options *o = nc__options_new(F, "/etc/nc", &c.listeners[0]);
    const char *path = NULL;
    CU_ASSERT_EQUAL(nc_opt_path(o, "log", "logs/x.log", &path), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    CU_ASSERT_STRING_EQUAL(path, "/etc/nc/logs/x.log");
    CU_ASSERT_PTR_NULL(nc__options_finish(o, 0)); /* the resolved copy is not an unknown option */
    nc__options_free(o);
    CU_ASSERT_STRING_EQUAL(path, "/etc/nc/logs/x.log"); /* lives as long as the config */
    nc__config_free(&c);
}

static void test_load_missing_file(void)
{
    nc__config c;
    char err[512];
    CU_ASSERT_EQUAL(nc__config_load("/nonexistent/netcore.json", &c, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, "/nonexistent/netcore.json: cannot open: No such file or directory");
}

int add_config_suite(void)
{
    CU_pSuite s = CU_add_suite("config", setup, teardown);
    if (!s || !CU_add_test(s, "defaults are filled in, paths resolved", test_defaults) ||
        !CU_add_test(s, "33 bad configs, each with its exact message", test_bad) ||
        !CU_add_test(s, "a missing file names the file and errno text", test_load_missing_file) ||
        !CU_add_test(s, "a relative default path without an options object", test_relative_default_without_options))
        return -1;
    return 0;
}
