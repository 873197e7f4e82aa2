/* test_sdk.c -- the module SDK end to end: install into a temporary DESTDIR,
 * build the installed examples/kv out of tree with pkg-config against that
 * install, run the installed netcore with it (its own modules found without a
 * modules_dir) and talk to it; the three man pages installed and rendering
 * without a warning; docs/writing-modules.md followed from a temporary-prefix
 * install, kv tested there with the installed mock core; --list-modules;
 * the public header compiled as C99, C11 and C++;
 * uninstall. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "suites.h"

static char dest[300], prefix_root[400];

static int setup(void)
{
    snprintf(dest, sizeof dest, "%s/destdir", t_tmpdir());
    snprintf(prefix_root, sizeof prefix_root, "%s/usr/local", dest);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "DESTDIR=%s scripts/install --prefix /usr/local --builddir %s 2>&1", dest,
             t_builddir());
    return t_sh(cmd, NULL, 0) == 0 ? 0 : -1;
}

/* `scripts/install --uninstall` from prefix pfx removes every file it put there. */
static void uninstall_leaves_nothing(const char *pfx)
{
    char cmd[1024], out[4096];
    snprintf(cmd, sizeof cmd, "scripts/install --uninstall --prefix %s --builddir %s 2>&1", pfx, t_builddir());
    CU_ASSERT_EQUAL(t_sh(cmd, out, sizeof out), 0);
    snprintf(cmd, sizeof cmd, "find %s -type f -print", pfx);
    CU_ASSERT_EQUAL(t_sh(cmd, out, sizeof out), 0);
    CU_ASSERT_STRING_EQUAL(out, "");
}

static void test_layout(void)
{
    static const char *const files[] = {
        "bin/netcore", "bin/netcore-bench", "bin/netcore-ft", "include/netcore/netcore.h",
        "include/netcore/strbuf.h", "include/netcore/deadline.h", "include/netcore/hash.h",
        "include/netcore/mock.h", "lib/libnetcore-mock.a", "lib/pkgconfig/netcore-mock.pc",
        "share/doc/netcore/examples/kv/test_kv.c",
        "lib/netcore/modules/echo.so", "lib/netcore/modules/http-static.so",
        "lib/netcore/modules/file-transfer.so", "lib/pkgconfig/netcore.pc",
        "etc/netcore/netcore.json", "share/netcore/www/index.html", "share/netcore/www/img/logo.png",
        "share/man/man1/netcore.1", "share/man/man1/netcore-ft.1", "share/man/man1/netcore-bench.1",
        "lib/systemd/system/netcore.service", "share/doc/netcore/examples/kv/kv.c",
        "share/doc/netcore/examples/kv/build.sh", "share/doc/netcore/writing-modules.md",
        "share/doc/netcore/api.md", "share/doc/netcore/config.md",
        "share/doc/netcore/protocols/file-transfer.md",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s/%s", prefix_root, files[i]);
        if (access(p, F_OK) != 0)
            fprintf(stderr, "\n  missing: %s\n", p);
        CU_ASSERT_EQUAL(access(p, F_OK), 0);
    }
    char cmd[1024], out[1024];
    snprintf(cmd, sizeof cmd,
             "PKG_CONFIG_PATH=%s/lib/pkgconfig pkg-config --variable=modulesdir --modversion netcore",
             prefix_root);
    CU_ASSERT_EQUAL(t_sh(cmd, out, sizeof out), 0);
    T_ASSERT_STR_CONTAINS(out, "/usr/local/lib/netcore/modules\n");
}

/* An install under a real prefix, as the unit runs it: the unit file
 * passes systemd-analyze verify, and the installed config -- its paths
 * right where it is installed, workers as "nobody" -- passes -t once the
 * state folders exist as the unit's ExecStartPre makes them, and -t writes
 * no file there. */
static void test_installed_config_and_unit(void)
{
    char pfx[300], cmd[4096], out[4096];
    snprintf(pfx, sizeof pfx, "%s/pfx", t_tmpdir());
    CU_ASSERT_EQUAL(chmod(t_tmpdir(), 0711), 0); /* "nobody" must reach the site */
    snprintf(cmd, sizeof cmd, "scripts/install --prefix %s --localstatedir %s/var --builddir %s 2>&1", pfx, pfx,
             t_builddir());
    CU_ASSERT_EQUAL_FATAL(t_sh(cmd, out, sizeof out), 0);
    snprintf(cmd, sizeof cmd, "MANPATH=%s/share/man systemd-analyze verify %s/lib/systemd/system/netcore.service 2>&1",
             pfx, pfx);
    int rc = t_sh(cmd, out, sizeof out);
    if (rc != 0 || out[0])
        fprintf(stderr, "\n  systemd-analyze verify: %s\n", out);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_STRING_EQUAL(out, "");
    snprintf(cmd, sizeof cmd, "grep -c '%s/bin/netcore -t -c %s/etc/netcore/netcore.json' %s/lib/systemd/system/netcore.service",
             pfx, pfx, pfx);
    CU_ASSERT_EQUAL(t_sh(cmd, out, sizeof out), 0);
    CU_ASSERT_STRING_EQUAL(out, "2\n"); /* ExecStartPre and ExecReload */
    snprintf(cmd, sizeof cmd,
             "install -d -o nobody -g nogroup -m 0755 %s/var/lib/netcore %s/var/lib/netcore/files "
             "%s/var/log/netcore && cd / && %s/bin/netcore -t -c %s/etc/netcore/netcore.json 2>&1",
             pfx, pfx, pfx, pfx, pfx);
    rc = t_sh(cmd, out, sizeof out);
    if (rc != 0)
        fprintf(stderr, "\n  -t on the installed config: %s\n", out);
    CU_ASSERT_EQUAL(rc, 0);
    T_ASSERT_STR_CONTAINS(out, "configuration is valid (8 listeners)");
    /* the https listener's self-signed pair goes to the state folder */
    snprintf(cmd, sizeof cmd, "grep -c '\"%s/var/lib/netcore/tls/cert.pem\"' %s/etc/netcore/netcore.json", pfx, pfx);
    CU_ASSERT_EQUAL(t_sh(cmd, out, sizeof out), 0);
    CU_ASSERT_STRING_EQUAL(out, "1\n");
    /* -t changed nothing on disk: no access log, no UDP records file, no
     * certificate (it checked the listener with a pair made in memory) */
    snprintf(cmd, sizeof cmd, "find %s/var -type f -print", pfx);
    CU_ASSERT_EQUAL(t_sh(cmd, out, sizeof out), 0);
    CU_ASSERT_STRING_EQUAL(out, "");
    uninstall_leaves_nothing(pfx);
}

/* Each installed man page renders with groff's every warning on and none
 * printed, and says what it must. */
static void test_man_pages(void)
{
    static const struct {
        const char *page, *says;
    } pages[] = {
        {"netcore.1", "SIGHUP"}, {"netcore.1", "--list-modules"}, {"netcore.1", "share/doc/netcore"},
        {"netcore-ft.1", "--continue"}, {"netcore-ft.1", "EXIT STATUS"},
        {"netcore-bench.1", "--server-pid"}, {"netcore-bench.1", "SPEC FILES"},
        {"netcore-ft.1", "--cacert"}, {"netcore-bench.1", "--resume"}, {"netcore-bench.1", "handshake"},
    };
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        char cmd[1024], out[8192];
        snprintf(cmd, sizeof cmd, "groff -man -Tutf8 -ww -z %s/share/man/man1/%s 2>&1", prefix_root, pages[i].page);
        CU_ASSERT_EQUAL(t_sh(cmd, out, sizeof out), 0);
        if (out[0])
            fprintf(stderr, "\n  %s: %s\n", pages[i].page, out);
        CU_ASSERT_STRING_EQUAL(out, "");
        snprintf(cmd, sizeof cmd, "MANWIDTH=200 man -l %s/share/man/man1/%s 2>&1 | grep -c -F -e '%s'",
                 prefix_root, pages[i].page, pages[i].says);
        CU_ASSERT_EQUAL(t_sh(cmd, out, sizeof out), 0);
    }
}

/* docs/writing-modules.md as a user with only an install follows it: under a
 * temporary prefix, found through PKG_CONFIG_PATH alone; its kv blocks are
 * the installed kv.c, whole; upper.c and kv.c build from the page and the
 * installed examples; netcore -t accepts both of its configs (as root too:
 * they name "user"). */
static void test_tutorial_from_prefix(void)
{
    char pfx[300], work[300], cmd[4096], out[4096];
    snprintf(pfx, sizeof pfx, "%s/tut", t_tmpdir());
    snprintf(work, sizeof work, "%s/tutwork", t_tmpdir());
    CU_ASSERT_EQUAL(chmod(t_tmpdir(), 0711), 0);
    snprintf(cmd, sizeof cmd, "scripts/install --prefix %s --builddir %s 2>&1", pfx, t_builddir());
    CU_ASSERT_EQUAL_FATAL(t_sh(cmd, out, sizeof out), 0);
    const char *doc = "share/doc/netcore/writing-modules.md";
    /* the kv blocks, joined by the blank line between them, are kv.c */
    snprintf(cmd, sizeof cmd,
             "awk '/^```c$/{n++; if (n > 2) print \"\"; inb = 1; next} /^```$/{inb = 0; next} inb && n >= 2' "
             "%s/%s | cmp - %s/share/doc/netcore/examples/kv/kv.c 2>&1",
             pfx, doc, pfx);
    int rc = t_sh(cmd, out, sizeof out);
    if (rc != 0)
        fprintf(stderr, "\n  writing-modules.md's kv blocks are not kv.c: %s\n", out);
    CU_ASSERT_EQUAL(rc, 0);
    /* the page's commands, from a copy of the installed example */
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s && cd %s && cp -r %s/share/doc/netcore/examples/kv . && "
             "awk '/^```c$/{n++; next} /^```$/{if (n == 1) exit} n == 1' %s/%s > upper.c && "
             "awk '/<<.JSON.$/{k++; if (k == 1) f = 1; next} f && /^    JSON$/{exit} f {sub(/^    /, \"\"); print}' "
             "%s/%s > upper.json && "
             "awk '/<<.JSON.$/{k++; if (k == 2) f = 1; next} f && /^    JSON$/{exit} f {sub(/^    /, \"\"); print}' "
             "%s/%s > kv/kv.json && export PKG_CONFIG_PATH=%s/lib/pkgconfig && "
             "cc -O2 -Wall -Wextra -Werror -shared -fPIC $(pkg-config --cflags netcore) -o upper.so upper.c && "
             "cd kv && cc -O2 -Wall -Wextra -Werror -shared -fPIC $(pkg-config --cflags netcore) -o kv.so kv.c && "
             "%s/bin/netcore -t -c ../upper.json && %s/bin/netcore -t -c kv.json 2>&1",
             work, work, pfx, pfx, doc, pfx, doc, pfx, doc, pfx, pfx, pfx);
    rc = t_sh(cmd, out, sizeof out);
    if (rc != 0)
        fprintf(stderr, "\n  following writing-modules.md: %s\n", out);
    CU_ASSERT_EQUAL(rc, 0);
    T_ASSERT_STR_CONTAINS(out, "../upper.json: configuration is valid (1 listener)\n");
    T_ASSERT_STR_CONTAINS(out, "\nkv.json: configuration is valid (1 listener)\n");
    /* Section 12: its test block is the installed test_kv.c, and its
     * commands, run as they are in the installed kv folder, build kv.so and
     * the test against the installed mock core and pass. */
    snprintf(cmd, sizeof cmd,
             "awk '/^```c test$/{inb = 1; next} /^```$/{inb = 0} inb' %s/%s | "
             "cmp - %s/share/doc/netcore/examples/kv/test_kv.c 2>&1",
             pfx, doc, pfx);
    rc = t_sh(cmd, out, sizeof out);
    if (rc != 0)
        fprintf(stderr, "\n  writing-modules.md's test block is not test_kv.c: %s\n", out);
    CU_ASSERT_EQUAL(rc, 0);
    static const char *const steps[] = {
        "cc -O2 -Wall -Wextra -shared -fPIC $(pkg-config --cflags netcore) -o kv.so kv.c",
        "cc -O2 -Wall -Wextra -o test_kv test_kv.c $(pkg-config --cflags --libs netcore-mock)",
        "./test_kv ./kv.so",
    };
    /* A sanitized build installs a sanitized libnetcore-mock.a: the test
     * that links it needs the runtime (the .so does not). */
#ifdef __SANITIZE_ADDRESS__
    const char *san = "cc -fsanitize=address,undefined";
#else
    const char *san = "cc";
#endif
    char run[2048] = "";
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        snprintf(cmd, sizeof cmd, "grep -qxF '    %s' %s/%s", steps[i], pfx, doc);
        CU_ASSERT_EQUAL(t_sh(cmd, out, sizeof out), 0);
        int links_mock = strstr(steps[i], "netcore-mock") != NULL;
        snprintf(run + strlen(run), sizeof run - strlen(run), " && %s%s", links_mock ? san : "",
                 steps[i] + (links_mock ? 2 : 0));
    }
    snprintf(cmd, sizeof cmd,
             "rm -rf %s/mockwork && cp -r %s/share/doc/netcore/examples/kv %s/mockwork && cd %s/mockwork && "
             "export PKG_CONFIG_PATH=%s/lib/pkgconfig%s 2>&1",
             work, pfx, work, work, pfx, run);
    rc = t_sh(cmd, out, sizeof out);
    if (rc != 0)
        fprintf(stderr, "\n  testing kv with the installed mock core: %s\n", out);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_STRING_EQUAL(out, "kv: all checks passed\n");
    uninstall_leaves_nothing(pfx);
}

static void test_kv_out_of_tree(void)
{
    char cmd[4096], out[4096], so[300];
    snprintf(so, sizeof so, "%s/kv.so", t_tmpdir());
    /* the tutorial's command on the installed example, against the DESTDIR
     * install (a staged one: PKG_CONFIG_SYSROOT_DIR) */
    snprintf(cmd, sizeof cmd,
             "rm -rf %s/kvsrc && cp -r %s/share/doc/netcore/examples/kv %s/kvsrc && cd %s/kvsrc && "
             "PKG_CONFIG_PATH=%s/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=%s "
             "cc -O2 -Wall -Wextra -Werror -shared -fPIC $(PKG_CONFIG_PATH=%s/lib/pkgconfig "
             "PKG_CONFIG_SYSROOT_DIR=%s pkg-config --cflags netcore) -o %s kv.c 2>&1",
             t_tmpdir(), prefix_root, t_tmpdir(), t_tmpdir(), prefix_root, dest, prefix_root, dest, so);
    CU_ASSERT_EQUAL_FATAL(t_sh(cmd, out, sizeof out), 0);
    char json[1024];
    snprintf(json, sizeof json,
             "{\"user\":\"root\",\"listeners\":[{\"name\":\"kv\",\"module\":\"%s\",\"listen\":\"127.0.0.1:0\","
             "\"options\":{\"max_value\":16}},"
             "{\"name\":\"echo\",\"module\":\"echo\",\"listen\":\"127.0.0.1:0\"}]}",
             so);
    /* run the installed binary: t_start runs <builddir>/netcore, so start it by hand */
    const char *conf = t_write_file("kv.json", json);
    snprintf(cmd, sizeof cmd, "%s/bin/netcore", prefix_root);
    int pipefd[2];
    CU_ASSERT_FATAL(pipe(pipefd) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 2);
        execl(cmd, cmd, "-c", conf, (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    t_proc *p = t_adopt(pid, pipefd[0]);
    CU_ASSERT_FATAL(t_wait_log(p, " ready: ", 5000));
    int port = t_port(p, "kv");
    t_client *a = t_client_new(port), *w = t_client_new(port);
    t_client_send(w, "WATCH\n");
    T_LINE(w, "+OK watching");
    t_client_send(a, "SET color blue\nGET color\nGET nope\nSET big 01234567890123456789\nDEL color\nDEL color\nBOGUS\n");
    T_LINE(a, "+OK");
    T_LINE(a, "$blue");
    T_LINE(a, "-ERR no such key");
    T_LINE(a, "-ERR value longer than max_value (16)");
    T_LINE(a, ":1");
    T_LINE(a, ":0");
    T_LINE(a, "-ERR unknown command");
    T_LINE(w, "* set color");
    T_LINE(w, "* del color");
    /* the timer: a key with EX 1 expires, and watchers hear it */
    t_client_send(a, "SET brief x EX 1\n");
    T_LINE(a, "+OK");
    T_LINE(w, "* set brief");
    char line[256];
    CU_ASSERT(t_readline(w, line, sizeof line, 3000) > 0);
    CU_ASSERT_STRING_EQUAL(line, "* expired brief");
    /* DUMP streams every key */
    for (int i = 0; i < 500; i++) {
        char c[64];
        snprintf(c, sizeof c, "SET k%d v%d\n", i, i);
        t_client_send(a, c);
        T_LINE(a, "+OK");
    }
    t_client_send(a, "DUMP\n");
    int lines = 0;
    while (t_readline(a, line, sizeof line, 3000) >= 0 && strcmp(line, "END") != 0)
        lines++;
    CU_ASSERT_EQUAL(lines, 500);
    t_client_free(a);
    t_client_free(w);
    /* the installed echo module was found without a modules_dir */
    int e = t_connect_tcp(t_port(p, "echo"));
    t_send_all(e, "hi", 2);
    char b[4] = {0};
    CU_ASSERT_EQUAL(t_recv_exact(e, b, 2, 3000), 2);
    close(e);
    CU_ASSERT_EQUAL(t_stop(p, SIGTERM, 5000), 0);
}

static void test_list_modules(void)
{
    char cmd[1024], out[8192];
    snprintf(cmd, sizeof cmd, "%s/bin/netcore --list-modules", prefix_root);
    CU_ASSERT_EQUAL(t_sh(cmd, out, sizeof out), 0);
    T_ASSERT_STR_CONTAINS(out, "netcore 0.1.0, module ABI 1.1\n");
    T_ASSERT_STR_CONTAINS(out, "/usr/local/lib/netcore/modules:\n");
    T_ASSERT_STR_CONTAINS(out, "  echo             1.0.0    ABI 1.1  sends every byte back (TCP, Unix, UDP)\n");
    T_ASSERT_STR_CONTAINS(out, "  http-static      1.0.0    ABI 1.1  ");
    /* a folder with a broken module: listed with the reason */
    char json[512];
    snprintf(json, sizeof json, "{\"modules_dir\":\"%s/tests/modules\",\"listeners\":[]}", t_builddir()[0] == '/' ? t_builddir() : t_build_path(""));
    const char *conf = t_write_file("list.json", json);
    snprintf(cmd, sizeof cmd, "%s/bin/netcore --list-modules -c %s", prefix_root, conf);
    CU_ASSERT_EQUAL(t_sh(cmd, out, sizeof out), 0);
    T_ASSERT_STR_CONTAINS(out, "  bad_abi.so       cannot be loaded: module ABI 2.0 does not match netcore ABI 1.1\n");
    T_ASSERT_STR_CONTAINS(out, "  no_symbol.so     cannot be loaded: no \"netcore_module\" symbol: not a netcore module\n");
    T_ASSERT_STR_CONTAINS(out, "  testmod          0.0.1    ABI 1.1");
}

static void test_headers(void)
{
    char cmd[1024], out[4096];
    const char *src = t_write_file("hdr.c", "#include <netcore/netcore.h>\n#include <netcore/mock.h>\n"
                                            "static ssize_t d(nc_conn *c, const char *p, size_t n) { (void)c; (void)p; return (ssize_t)n; }\n"
                                            "NC_MODULE_DEFINE = { NC_MODULE_HEADER, .flags = NC_MOD_STREAM, .name = \"h\", .on_data = d };\n");
    const char *cpp = t_write_file("hdr.cc", "#include <netcore/netcore.h>\n#include <netcore/mock.h>\n"
                                             "extern \"C\" int use(nc_conn *c) { return nc_send(c, \"x\", 1); }\n");
    static const char *const modes[] = {"cc -std=c99", "cc -std=c11", "c++ -std=c++11", "c++ -std=c++17"};
    for (int i = 0; i < 4; i++) {
        snprintf(cmd, sizeof cmd, "%s -Wall -Wextra -pedantic -Werror -fsyntax-only -I%s/include %s 2>&1", modes[i],
                 prefix_root, i < 2 ? src : cpp);
        int rc = t_sh(cmd, out, sizeof out);
        if (rc != 0)
            fprintf(stderr, "\n  %s:\n%s\n", modes[i], out);
        CU_ASSERT_EQUAL(rc, 0);
    }
}

static void test_uninstall(void)
{
    char cmd[1024], out[1024];
    snprintf(cmd, sizeof cmd, "DESTDIR=%s scripts/install --uninstall --prefix /usr/local --builddir %s 2>&1", dest,
             t_builddir());
    CU_ASSERT_EQUAL(t_sh(cmd, out, sizeof out), 0);
    snprintf(cmd, sizeof cmd, "find %s -type f | wc -l", dest);
    CU_ASSERT_EQUAL(t_sh(cmd, out, sizeof out), 0);
    CU_ASSERT_STRING_EQUAL(out, "0\n");
}

int add_sdk_suite(void)
{
    CU_pSuite s = CU_add_suite("sdk", setup, NULL);
    if (!s || !CU_add_test(s, "DESTDIR install: files, netcore.pc, installed config", test_layout) ||
        !CU_add_test(s, "the installed config and the systemd unit, under a real prefix",
                     test_installed_config_and_unit) ||
        !CU_add_test(s, "the three man pages installed, rendering without a warning", test_man_pages) ||
        !CU_add_test(s, "writing-modules.md followed from a temporary-prefix install", test_tutorial_from_prefix) ||
        !CU_add_test(s, "the installed examples/kv built out of tree, run by the installed netcore",
                     test_kv_out_of_tree) ||
        !CU_add_test(s, "--list-modules, broken modules with their reason", test_list_modules) ||
        !CU_add_test(s, "the header as C99, C11, C++11, C++17", test_headers) ||
        !CU_add_test(s, "uninstall removes every file", test_uninstall))
        return -1;
    return 0;
}
