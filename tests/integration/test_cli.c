/* test_cli.c -- the netcore command line against the real binary: -t on good
 * and bad configs, broken modules, --version/--help, usage errors, and a
 * listener that cannot bind. */
#include <CUnit/CUnit.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "netcore/netcore.h"
#include "suites.h"

static char out[16384];

static void test_version_help(void)
{
    char want[64];
    snprintf(want, sizeof want, "(module ABI %d.%d)\n", NC_ABI_MAJOR, NC_ABI_MINOR);
    CU_ASSERT_EQUAL(t_run(out, sizeof out, "--version", NULL), 0);
    T_ASSERT_STR_CONTAINS(out, want);
    CU_ASSERT_EQUAL(t_run(out, sizeof out, "--help", NULL), 0);
    T_ASSERT_STR_CONTAINS(out, "usage: netcore -c FILE [-t]");
    CU_ASSERT_EQUAL(t_run(out, sizeof out, "--bogus", NULL), 2);
    T_ASSERT_STR_CONTAINS(out, "unrecognized option '--bogus'");
    CU_ASSERT_EQUAL(t_run(out, sizeof out, NULL), 2);
    T_ASSERT_STR_CONTAINS(out, "netcore: no configuration: use -c FILE");
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char buf[1 << 18];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strdup(buf);
}

/* Every option --help lists is in docs/config.md and in netcore(1), so
 * neither can fall behind the command line. */
static void test_options_documented(void)
{
    CU_ASSERT_EQUAL_FATAL(t_run(out, sizeof out, "--help", NULL), 0);
    char *md = slurp("docs/config.md"), *man = slurp("docs/netcore.1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(md);
    CU_ASSERT_PTR_NOT_NULL_FATAL(man);
    /* the option lines: "  -c, --config FILE   ..." and "      --list-modules  ..." */
    int seen = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        char *p = line + strspn(line, " ");
        if (p == line || p[0] != '-')
            continue;
        while (p[0] == '-') {
            char opt[40], roff[80];
            size_t k = 0, r = 0;
            while (k < sizeof opt - 1 && (p[k] == '-' || (p[k] >= 'a' && p[k] <= 'z')))
                opt[k] = p[k], k++;
            opt[k] = '\0';
            for (size_t i = 0; i < k; i++) {
                if (opt[i] == '-')
                    roff[r++] = '\\';
                roff[r++] = opt[i];
            }
            roff[r] = '\0';
            seen++;
            if (!strstr(md, opt))
                fprintf(stderr, "\n  docs/config.md does not list %s\n", opt);
            if (!strstr(man, roff))
                fprintf(stderr, "\n  docs/netcore.1 does not list %s\n", opt);
            CU_ASSERT_PTR_NOT_NULL(strstr(md, opt));
            CU_ASSERT_PTR_NOT_NULL(strstr(man, roff));
            p += k;
            if (p[0] == ',' && p[1] == ' ')
                p += 2; /* "-c, --config" */
            else
                break;
        }
    }
    CU_ASSERT_EQUAL(seen, 9); /* -c --config -t --test --list-modules -v --version -h --help */
    T_ASSERT_STR_CONTAINS(md, "--list-modules");
    free(md);
    free(man);
}

/* Write a config that names "user": "root" (as root, -t refuses a config
 * without "user", as a start does), on the first line so that line and
 * column numbers stay those of json. */
static const char *write_conf(const char *name, const char *json)
{
    static char text[4096];
    snprintf(text, sizeof text, "{\"user\":\"root\",%s", json + 1);
    return t_write_file(name, text);
}

static void test_check_good(void)
{
    const char *p = write_conf("good.json",
                                 "{\"listeners\":[{\"module\":\"echo\",\"listen\":\"127.0.0.1:1\"},"
                                 "{\"name\":\"u\",\"module\":\"echo\",\"listen\":\"127.0.0.1:1\","
                                 "\"transport\":\"udp\"}]}");
    CU_ASSERT_EQUAL(t_run(out, sizeof out, "-t", "-c", p, NULL), 0);
    char want[600];
    snprintf(want, sizeof want, "%s: configuration is valid (2 listeners)\n", p);
    CU_ASSERT_STRING_EQUAL(out, want);
    /* -t never binds: port 1 needs root to bind and is checked anyway. */
}

static void test_shipped_config(void)
{
    CU_ASSERT_EQUAL(t_run(out, sizeof out, "-t", "-c", "conf/netcore.json", NULL), 0);
    T_ASSERT_STR_CONTAINS(out, "conf/netcore.json: configuration is valid");
}

/* -t on a config: expect exit 1 and exactly "netcore: FILE: <msg>\n". */
static void check_bad(const char *name, const char *json, const char *msg)
{
    const char *p = write_conf(name, json);
    CU_ASSERT_EQUAL(t_run(out, sizeof out, "-t", "-c", p, NULL), 1);
    char want[2048];
    snprintf(want, sizeof want, "netcore: %s: %s\n", p, msg);
    if (strcmp(out, want) != 0)
        fprintf(stderr, "\n  want: %s  got:  %s", want, out);
    CU_ASSERT_STRING_EQUAL(out, want);
}

static void test_check_bad(void)
{
    char json[1024];
    check_bad("bad1.json", "{\"listeners\":[{\"module\":\"echo\",\"listen\":\"127.0.0.1:x\"}]}",
              "listeners[0].listen: \"127.0.0.1:x\": port must be a number");
    check_bad("bad2.json", "{\"listeners\":[{\"module\":\"echo\",\"listen\":\"127.0.0.1:1\",\n"
                           "\"options\":{\"banner\":5}}]}",
              "listeners[0].options.banner: expected a string");
    check_bad("bad3.json", "{\"listeners\":[{\"module\":\"echo\",\"listen\":\"127.0.0.1:1\","
                           "\"options\":{\"baner\":\"x\"}}]}",
              "listeners[0].options.baner: unknown option (did you mean \"banner\"?)");
    /* a misspelt required key: the typo is named, not the key it hides */
    check_bad("bad3b.json", "{\"listeners\":[{\"module\":\"file-transfer\",\"listen\":\"127.0.0.1:1\","
                            "\"options\":{\"rooot\":\"/tmp/x\"}}]}",
              "listeners[0].options.rooot: unknown option (did you mean \"root\"?)");
    check_bad("bad3c.json", "{\"listeners\":[{\"module\":\"file-transfer\",\"listen\":\"127.0.0.1:1\","
                            "\"options\":{\"root\":\"/tmp\",\"dialect\":\"seperator\"}}]}",
              "listeners[0].options.dialect: expected one of \"native\", \"separator\" (did you mean \"separator\"?)");
    snprintf(json, sizeof json,
             "{\"listeners\":[{\"module\":\"%s\",\"listen\":\"127.0.0.1:1\","
             "\"options\":{\"must_be_even\":3}}]}",
             t_build_path("tests/modules/testmod.so"));
    check_bad("bad4.json", json, "listeners[0].options.must_be_even: 3 is odd");
    /* A refusal in the middle: the listeners after it were never set up,
     * and tearing down must not touch them (this crashed once). */
    snprintf(json, sizeof json,
             "{\"listeners\":[{\"module\":\"echo\",\"listen\":\"127.0.0.1:1\"},"
             "{\"name\":\"mid\",\"module\":\"%s\",\"listen\":\"127.0.0.1:2\","
             "\"options\":{\"must_be_even\":5}},{\"name\":\"e3\",\"module\":\"echo\",\"listen\":\"127.0.0.1:3\"}]}",
             t_build_path("tests/modules/testmod.so"));
    check_bad("bad4b.json", json, "listeners[1].options.must_be_even: 5 is odd");
    snprintf(json, sizeof json,
             "{\"listeners\":[{\"module\":\"%s\",\"listen\":\"127.0.0.1:1\","
             "\"options\":{\"mode\":\"sing\"}}]}",
             t_build_path("tests/modules/testmod.so"));
    check_bad("bad5.json", json,
              "listeners[0].options.mode: expected one of \"hold\", \"flood\", \"lines\", "
              "\"refuse\"");
    snprintf(json, sizeof json,
             "{\"listeners\":[{\"module\":\"%s\",\"listen\":\"127.0.0.1:1\","
             "\"transport\":\"udp\"}]}",
             t_build_path("tests/modules/testmod.so"));
    check_bad("bad6.json", json, "listeners[0].transport: module testmod does not serve udp");
    /* A syntax error names line and column. */
    const char *p = write_conf("bad7.json", "{\"listeners\": [\n  {\"module\": \"echo\",}\n]}");
    CU_ASSERT_EQUAL(t_run(out, sizeof out, "-t", "-c", p, NULL), 1);
    char want[600];
    snprintf(want, sizeof want, "netcore: %s:2:21: string or '}' expected near '}'\n", p);
    CU_ASSERT_STRING_EQUAL(out, want);
}

static void test_broken_modules(void)
{
    char json[1024], msg[1024];
    const char *so = t_build_path("tests/modules/bad_abi.so");
    snprintf(json, sizeof json, "{\"listeners\":[{\"module\":\"%s\",\"listen\":\"127.0.0.1:1\"}]}", so);
    snprintf(msg, sizeof msg, "listeners[0].module: %s: module ABI %d.0 does not match netcore ABI %d.%d",
             so, NC_ABI_MAJOR + 1, NC_ABI_MAJOR, NC_ABI_MINOR);
    check_bad("abi.json", json, msg);
    so = t_build_path("tests/modules/no_symbol.so");
    snprintf(json, sizeof json, "{\"listeners\":[{\"module\":\"%s\",\"listen\":\"127.0.0.1:1\"}]}", so);
    snprintf(msg, sizeof msg, "listeners[0].module: %s: no \"netcore_module\" symbol: not a netcore module", so);
    check_bad("nosym.json", json, msg);
    so = t_build_path("tests/modules/gone.so");
    snprintf(json, sizeof json, "{\"listeners\":[{\"module\":\"%s\",\"listen\":\"127.0.0.1:1\"}]}", so);
    snprintf(msg, sizeof msg, "listeners[0].module: %s: cannot load: cannot open shared object file: No such file or directory", so);
    check_bad("gone.json", json, msg);
}

static void test_bind_failure(void)
{
    /* Hold a port, then ask netcore to listen on it after a good listener:
     * it must exit 1 naming the listener and address, and release the
     * first listener's port (nothing half-started). */
    t_proc *hold = t_start_conf("{\"listeners\":[{\"name\":\"holder\",\"module\":\"echo\","
                                "\"listen\":\"127.0.0.1:0\"}]}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(hold);
    int port = t_port(hold, "holder");
    char json[512];
    snprintf(json, sizeof json,
             "{\"user\":\"root\",\"listeners\":[{\"name\":\"first\",\"module\":\"echo\",\"listen\":\"unix:%s/first.sock\"},"
             "{\"name\":\"second\",\"module\":\"echo\",\"listen\":\"127.0.0.1:%d\"}]}",
             t_tmpdir(), port);
    const char *p = t_write_file("bind.json", json);
    CU_ASSERT_EQUAL(t_run(out, sizeof out, "-c", p, NULL), 1);
    char want[512];
    snprintf(want, sizeof want,
             "netcore: listener \"second\" (listeners[1]): cannot bind 127.0.0.1:%d: Address already in use\n",
             port);
    T_ASSERT_STR_CONTAINS(out, want);
    const char *again = strstr(out, "cannot bind");
    CU_ASSERT(again && !strstr(again + 1, "cannot bind")); /* said once */
    char sock[300];
    snprintf(sock, sizeof sock, "%s/first.sock", t_tmpdir());
    CU_ASSERT_EQUAL(access(sock, F_OK), -1); /* the first listener was undone */
    CU_ASSERT_EQUAL(t_stop(hold, SIGTERM, 5000), 0);
}

static void test_root_needs_user(void)
{
    if (geteuid() != 0)
        return; /* only root is refused */
    const char *p = t_write_file("rootless.json", "{\"listeners\":[{\"module\":\"echo\",\"listen\":\"127.0.0.1:0\"}]}");
    CU_ASSERT_EQUAL(t_run(out, sizeof out, "-c", p, NULL), 1);
    char want[600];
    snprintf(want, sizeof want,
             "netcore: %s: running as root with no \"user\": set \"user\" to the account to serve as "
             "(\"user\": \"root\" serves as root, on purpose)\n",
             p);
    CU_ASSERT_STRING_EQUAL(out, want);
    /* -t applies the same rule: what it accepts, a start accepts */
    CU_ASSERT_EQUAL(t_run(out, sizeof out, "-t", "-c", p, NULL), 1);
    CU_ASSERT_STRING_EQUAL(out, want);
}

/* -t changes nothing on disk: file-transfer's missing root is reported as
 * created at start, and only a real start creates it.  A root that cannot
 * be created is refused by -t with the reason. */
static void test_check_writes_nothing(void)
{
    char root[400], json[1024];
    snprintf(root, sizeof root, "%s/not/yet/files", t_tmpdir());
    snprintf(json, sizeof json,
             "{\"listeners\":[{\"name\":\"ft\",\"module\":\"file-transfer\",\"listen\":\"127.0.0.1:0\","
             "\"options\":{\"root\":\"%s\"}}]}",
             root);
    const char *p = write_conf("ftroot.json", json);
    CU_ASSERT_EQUAL(t_run(out, sizeof out, "-t", "-c", p, NULL), 0);
    char want[600];
    snprintf(want, sizeof want, "file-transfer: %s does not exist yet: it is created when the listener starts",
             root);
    T_ASSERT_STR_CONTAINS(out, want);
    T_ASSERT_STR_CONTAINS(out, "configuration is valid (1 listener)");
    char top[400];
    snprintf(top, sizeof top, "%s/not", t_tmpdir());
    CU_ASSERT_EQUAL(access(top, F_OK), -1); /* nothing made */
    t_proc *s = t_start(p, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    struct stat st;
    CU_ASSERT(stat(root, &st) == 0 && S_ISDIR(st.st_mode)); /* a start makes it */
    CU_ASSERT_EQUAL(t_stop(s, SIGTERM, 5000), 0);
    /* http-static's access_log: checked, not created, by -t */
    char logp[400], www[400];
    snprintf(logp, sizeof logp, "%s/access-t.log", t_tmpdir());
    snprintf(www, sizeof www, "%s", t_tmpdir());
    snprintf(json, sizeof json,
             "{\"listeners\":[{\"module\":\"http-static\",\"listen\":\"127.0.0.1:0\","
             "\"options\":{\"root\":\"%s\",\"access_log\":\"%s\"}}]}",
             www, logp);
    p = write_conf("logt.json", json);
    CU_ASSERT_EQUAL(t_run(out, sizeof out, "-t", "-c", p, NULL), 0);
    CU_ASSERT_EQUAL(access(logp, F_OK), -1);
    snprintf(json, sizeof json,
             "{\"listeners\":[{\"module\":\"http-static\",\"listen\":\"127.0.0.1:0\","
             "\"options\":{\"root\":\"%s\",\"access_log\":\"%s/nodir/a.log\"}}]}",
             www, www);
    p = write_conf("logt2.json", json);
    CU_ASSERT_EQUAL(t_run(out, sizeof out, "-t", "-c", p, NULL), 1);
    snprintf(want, sizeof want, "listeners[0].options.access_log: %s/nodir/a.log: No such file or directory", www);
    T_ASSERT_STR_CONTAINS(out, want);
    /* under a file, a root cannot be made: -t says so */
    snprintf(root, sizeof root, "%s/ftroot.json/files", t_tmpdir());
    snprintf(json, sizeof json,
             "{\"listeners\":[{\"module\":\"file-transfer\",\"listen\":\"127.0.0.1:0\","
             "\"options\":{\"root\":\"%s\"}}]}",
             root);
    p = write_conf("ftroot2.json", json);
    CU_ASSERT_EQUAL(t_run(out, sizeof out, "-t", "-c", p, NULL), 1);
    snprintf(want, sizeof want, "listeners[0].options.root: %s: Not a directory", root);
    T_ASSERT_STR_CONTAINS(out, want);
}

int add_cli_suite(void)
{
    CU_pSuite s = CU_add_suite("cli", NULL, NULL);
    if (!s || !CU_add_test(s, "--version, --help, usage errors", test_version_help) ||
        !CU_add_test(s, "every --help option is in docs/config.md and netcore(1)", test_options_documented) ||
        !CU_add_test(s, "-t on a good config", test_check_good) ||
        !CU_add_test(s, "-t on the shipped conf/netcore.json", test_shipped_config) ||
        !CU_add_test(s, "-t on bad configs names the key", test_check_bad) ||
        !CU_add_test(s, "missing .so, no symbol, wrong ABI", test_broken_modules) ||
        !CU_add_test(s, "a listener that cannot bind: exit 1, nothing left", test_bind_failure) ||
        !CU_add_test(s, "as root, serving needs an explicit user", test_root_needs_user) ||
        !CU_add_test(s, "-t changes nothing on disk (file-transfer's root)", test_check_writes_nothing))
        return -1;
    return 0;
}
