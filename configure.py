#!/usr/bin/env python3
"""configure.py -- writes build.ninja for netcore (Python 3, standard library only).

The repository ships the build.ninja that `./configure.py` writes with no
options; a test fails when the two differ.  Run `./configure.py --help`.
"""
import argparse
import os
import shlex
import sys

VERSION_FILE = "core/version.h"
# The core's files that the mock core links (tools/mock/mock.c): pure code,
# nothing that owns a socket or the reactor.
MOCK_CORE = ["addr", "module", "options", "sendf", "timer", "util"]
TOP = os.path.dirname(os.path.abspath(__file__))

WARN = ("-Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes "
        "-Wpointer-arith -Wformat=2 -Wundef -Wvla -Wcast-align -Wwrite-strings "
        "-Wno-unused-parameter")


def sources(folder, ext=".c"):
    """Sorted files of one folder, relative to the top (the output must not
    depend on the order the file system lists them)."""
    path = os.path.join(TOP, folder)
    if not os.path.isdir(path):
        return []
    return sorted(os.path.join(folder, f) for f in os.listdir(path) if f.endswith(ext))


def subdirs(folder):
    path = os.path.join(TOP, folder)
    if not os.path.isdir(path):
        return []
    return sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)))


def main():
    ap = argparse.ArgumentParser(description="Write build.ninja for netcore.")
    ap.add_argument("--debug", action="store_true", help="-O0 -g3, no optimisation")
    ap.add_argument("--sanitize", metavar="LIST", default="",
                    help="sanitizers, for example address,undefined")
    ap.add_argument("--prefix", default="/usr/local", help="install prefix (default /usr/local)")
    ap.add_argument("--cc", default="cc", help="C compiler (default cc)")
    ap.add_argument("--cflags", default="", help="extra compiler flags")
    ap.add_argument("--ldflags", default="", help="extra linker flags")
    ap.add_argument("--no-werror", action="store_true", help="do not turn warnings into errors")
    ap.add_argument("--builddir", default="build", help="where objects go (default build)")
    ap.add_argument("--output", default="build.ninja", help="the file to write ('-': stdout)")
    args = ap.parse_args()

    # The options that change the output, in a canonical order, recorded so
    # that `ninja` re-runs us the same way when configure.py changes.  Writing
    # to stdout (--output -) is not recorded: it must print the same text.
    argv = []
    for name in ("debug", "no_werror"):
        if getattr(args, name):
            argv.append("--" + name.replace("_", "-"))
    for name, default in (("sanitize", ""), ("prefix", "/usr/local"), ("cc", "cc"),
                          ("cflags", ""), ("ldflags", ""), ("builddir", "build"),
                          ("output", "build.ninja")):
        v = getattr(args, name)
        if v != default and not (name == "output" and v == "-"):
            argv.append(f"--{name}={shlex.quote(v)}")

    opt = "-O0 -g3" if args.debug else "-O2 -g"
    if args.debug or args.sanitize:
        opt += " -DNC_DEBUG"  # NC_ASSERT is live (core/nc_assert.h)
    cflags = f"-std=c11 -D_GNU_SOURCE {opt} {WARN}"
    if not args.no_werror:
        cflags += " -Werror"
    ldflags = ""
    if args.sanitize:
        san = f"-fsanitize={args.sanitize} -fno-omit-frame-pointer -fno-sanitize-recover=all"
        cflags += " " + san
        ldflags += " " + san
    if args.cflags:
        cflags += " " + args.cflags
    if args.ldflags:
        ldflags += " " + args.ldflags
    b = args.builddir
    prefix = args.prefix.rstrip("/") or "/"
    moddir = f"{prefix}/lib/netcore/modules"

    out = []
    w = out.append
    w("# build.ninja -- written by configure.py; edit configure.py, not this file.")
    w(f"# configure.py arguments: {' '.join(argv) if argv else '(none)'}")
    w("ninja_required_version = 1.10")
    w(f"builddir = {b}")
    w(f"cc = {args.cc}")
    w(f"cflags = {cflags.strip()}")
    w(f"ldflags = {ldflags.strip()}")
    w(f"prefix = {prefix}")
    w(f"configure_args = {' '.join(argv)}")
    w("")
    w("rule cc")
    w("  command = $cc -MMD -MF $out.d $cflags $extra -Iinclude -c $in -o $out")
    w("  depfile = $out.d")
    w("  deps = gcc")
    w("  description = CC $out")
    w("rule cc_pic")
    w("  command = $cc -MMD -MF $out.d $cflags $extra -fPIC -fvisibility=hidden -Iinclude -c $in -o $out")
    w("  depfile = $out.d")
    w("  deps = gcc")
    w("  description = CC $out")
    w("rule link")
    w("  command = $cc $ldflags -o $out $in $libs")
    w("  description = LINK $out")
    w("rule link_so")
    w("  command = $cc $ldflags -shared -o $out $in $libs")
    w("  description = SO $out")
    w("rule ar")
    w("  command = rm -f $out && ar crs $out $in")
    w("  description = AR $out")
    w("rule configure")
    w("  command = python3 configure.py $configure_args")
    w("  generator = 1")
    w("  description = CONFIGURE")
    w("rule run")
    w("  command = $cmd")
    w("  pool = console")
    w("  description = $desc")
    w("")
    if args.output != "-":
        w(f"build {args.output}: configure configure.py")
    else:
        w("build build.ninja: configure configure.py")
    w("")

    # The core.  Compiled hidden by default: the only symbols the executable
    # exports to modules are the NC_EXPORT ones of the public API.
    core = [s for s in sources("core")]
    core_objs = []
    for s in core:
        o = f"$builddir/obj/{s[:-2]}.o"
        w(f"build {o}: cc {s}")
        w(f"  extra = -fvisibility=hidden -DNC_MODULES_DIR=\\\"{moddir}\\\"")
        core_objs.append(o)
    lib_objs = [o for o in core_objs if not o.endswith("/main.o")]
    w(f"build $builddir/netcore: link {' '.join(core_objs)}")
    w("  libs = -ljansson -ldl -lpthread -lssl -lcrypto")
    w("  ldflags = $ldflags -rdynamic")
    w("")

    # Modules: one folder each, every .c in it goes into NAME.so.
    mod_outs = []
    for m in subdirs("modules"):
        objs = []
        for s in sources(f"modules/{m}"):
            o = f"$builddir/obj/{s[:-2]}.o"
            w(f"build {o}: cc_pic {s}")
            objs.append(o)
        if not objs:
            continue
        so = f"$builddir/modules/{m}.so"
        w(f"build {so}: link_so {' '.join(objs)}")
        libs = {"file-transfer": "-lcrypto", "broadcast-chat": "-ljansson",
                "status": "-ljansson"}.get(m, "")
        w(f"  libs = {libs}")
        mod_outs.append(so)
    w("")

    # Tools: netcore-bench (tools/bench/), linked with jansson for its specs
    # and OpenSSL for --tls and the file scenario's hashing.
    tool_outs = []
    bench_objs = []
    for s in sources("tools/bench"):
        o = f"$builddir/obj/{s[:-2]}.o"
        w(f"build {o}: cc {s}")
        bench_objs.append(o)
    if bench_objs:
        w(f"build $builddir/netcore-bench: link {' '.join(bench_objs)}")
        w("  libs = -ljansson -lssl -lcrypto")
        tool_outs.append("$builddir/netcore-bench")
    w("")

    # bench/rawsend.c: the raw sendfile limit the file benchmark compares with.
    w("build $builddir/obj/bench/rawsend.o: cc bench/rawsend.c")
    w("build $builddir/bench-rawsend: link $builddir/obj/bench/rawsend.o")
    w("  libs = -lpthread -lcrypto")
    tool_outs.append("$builddir/bench-rawsend")
    # bench/busipc.c: the local bus's candidate mechanisms side by side.
    w("build $builddir/obj/bench/busipc.o: cc bench/busipc.c")
    w("build $builddir/bench-busipc: link $builddir/obj/bench/busipc.o")
    tool_outs.append("$builddir/bench-busipc")
    w("")

    # `ninja bench`: everything the specs of bench/ start, with the reference
    # servers of bench/ref/ (one file each, into $builddir/bench/).  Not part
    # of `all`: uv_echo and ev_echo need libuv1-dev and libevent-dev, which
    # only `scripts/install-deps --bench` installs.
    ref_outs = []
    for s in sources("bench/ref"):
        name = os.path.basename(s)[:-2]
        o = f"$builddir/obj/{s[:-2]}.o"
        w(f"build {o}: cc {s}")
        w(f"build $builddir/bench/{name}: link {o}")
        w(f"  libs = {dict(uv_echo='-luv', ev_echo='-levent').get(name, '')}")
        ref_outs.append(f"$builddir/bench/{name}")
    w(f"build bench: phony all {' '.join(ref_outs)}")
    w("")

    ft_objs = []
    for s in sources("tools/ft"):
        o = f"$builddir/obj/{s[:-2]}.o"
        w(f"build {o}: cc {s}")
        ft_objs.append(o)
    if ft_objs:
        w(f"build $builddir/netcore-ft: link {' '.join(ft_objs)}")
        w("  libs = -lssl -lcrypto")
        tool_outs.append("$builddir/netcore-ft")
    w("")

    # The mock core (include/netcore/mock.h): tools/mock/mock.c with the
    # core's pure parts (options, the loader's checks, the timer heap,
    # addresses, nc_sendf, utilities), installed with the SDK.
    for s in sources("tools/mock"):
        w(f"build $builddir/obj/{s[:-2]}.o: cc {s}")
        w("  extra = -Icore")
    mock_objs = [f"$builddir/obj/{s[:-2]}.o" for s in sources("tools/mock")] + \
        [f"$builddir/obj/core/{n}.o" for n in MOCK_CORE]
    w(f"build $builddir/libnetcore-mock.a: ar {' '.join(mock_objs)}")
    w("")

    # Test modules, broken on purpose (and one good one) for the loader tests.
    tmod_outs = []
    for s in sources("tests/modules"):
        name = os.path.basename(s)[:-2]
        o = f"$builddir/obj/{s[:-2]}.o"
        w(f"build {o}: cc_pic {s}")
        so = f"$builddir/tests/modules/{name}.so"
        w(f"build {so}: link_so {o}")
        tmod_outs.append(so)
    w("")

    # The CUnit suite: unit tests link the core's objects; integration tests
    # start $builddir/netcore.
    test_srcs = sources("tests") + sources("tests/unit") + sources("tests/integration")
    hist_obj = "$builddir/obj/tools/bench/hist.o"
    test_objs = []
    for s in test_srcs:
        o = f"$builddir/obj/{s[:-2]}.o"
        w(f"build {o}: cc {s}")
        w("  extra = -Icore -Itests -Itools/bench -Imodules/http-static -Imodules/file-transfer")
        test_objs.append(o)
    # Module parsers linked into the suite for unit tests (as they are into
    # the fuzzers): modules share no code, so each is compiled again here.
    unit_mods = []
    for s in ["modules/http-static/parse.c", "modules/http-static/path.c",
              "modules/http-static/mime.c", "modules/file-transfer/proto.c"]:
        o = f"$builddir/obj/tests/{s[:-2]}.o"
        w(f"build {o}: cc {s}")
        unit_mods.append(o)
    w(f"build $builddir/tests/netcore-tests: link {' '.join(test_objs + lib_objs + [hist_obj] + unit_mods)}")
    w("  libs = -lcunit -ljansson -ldl -lpthread -lssl -lcrypto")
    w("  ldflags = $ldflags -rdynamic")
    w("")

    # The module suite: every shipped module's real .so loaded into a
    # binary that holds the mock core (-rdynamic: the modules' nc_* calls
    # resolve to it).  tests/unit/modules/ mirrors modules/.
    mt_objs = []
    for s in sources("tests/unit/modules"):
        o = f"$builddir/obj/{s[:-2]}.o"
        w(f"build {o}: cc {s}")
        w("  extra = -Itests/unit/modules")
        mt_objs.append(o)
    w(f"build $builddir/tests/netcore-module-tests: link {' '.join(mt_objs)} $builddir/libnetcore-mock.a")
    w("  libs = -lcunit -ljansson -ldl")
    w("  ldflags = $ldflags -rdynamic")
    w("")

    # libFuzzer targets (clang), built by `ninja fuzz` only: the normal build
    # does not need clang.  Each links what it fuzzes and nothing else;
    # module targets link the module's sources with the mock core's
    # (include/netcore/mock.h) in place of the core.  fuzz_stream.c serves
    # every stream module, with its options (JSON; "%s": a scratch folder).
    w("rule fuzz_link")
    w("  command = clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all "
      "-std=c11 -D_GNU_SOURCE -DNC_DEBUG -Iinclude -Icore -Itests/fuzz $extra $in -o $out $libs")
    w("  description = FUZZ $out")
    mock = ["tools/mock/mock.c"] + [f"core/{n}.c" for n in MOCK_CORE]

    def stream(name, module, options, libs=""):
        opts = options.replace('"', '\\"')
        return (["tests/fuzz/fuzz_stream.c"] + sources(f"modules/{module}") + mock,
                f"-DFUZZ_NAME='\"{name}\"' -DFUZZ_OPTIONS='\"{opts}\"'", ("-ljansson -ldl " + libs).strip())
    fuzz = {
        "config": (["tests/fuzz/fuzz_config.c", "core/config.c", "core/addr.c", "core/log.c", "core/util.c"], "", "-ljansson"),
        "http": (["tests/fuzz/fuzz_http.c", "modules/http-static/parse.c", "modules/http-static/path.c",
                  "core/util.c"], "-Imodules/http-static", ""),
        "httpresp": (["tests/fuzz/fuzz_httpresp.c"] + sources("modules/http-static") + mock,
                     "-Imodules/http-static", "-ljansson -ldl"),
        "ft": (["tests/fuzz/fuzz_ft.c", "modules/file-transfer/proto.c", "core/util.c"],
               "-Imodules/file-transfer", ""),
        "udp": (["tests/fuzz/fuzz_udp.c"] + sources("modules/udp-receiver") + mock, "", "-ljansson -ldl"),
        # The TLS transport in process: tls.c over tlsctx.c's context, the
        # real timer heap and config loader; the reactor's few functions
        # are stood in for in fuzz_tls.c.
        "tls": (["tests/fuzz/fuzz_tls.c"] + [f"core/{n}.c" for n in ["tls", "tlsctx", "transport", "timer",
                                                                    "config", "addr", "log", "util"]],
                "", "-ljansson -lssl -lcrypto"),
        "bchat": stream("bchat", "broadcast-chat", '{"max_message": 512, "max_backlog": 4096}'),
        "chat": stream("chat", "chat", '{"max_line": 512, "desk": "support"}'),
        "echo": stream("echo", "echo", '{"banner": "hi", "line_timeout_ms": 1000}'),
        "status": stream("status", "status", '{"header_timeout_ms": 1000}'),
        "ftmod": stream("ftmod", "file-transfer", '{"root": "%s", "max_file_size": 65536, '
                        '"max_concurrent_uploads": 2, "command_timeout_ms": 1000}', "-lcrypto"),
    }
    fuzz_outs = []
    for name in sorted(fuzz):
        srcs, extra, libs = fuzz[name]
        w(f"build $builddir/fuzz/fuzz_{name}: fuzz_link {' '.join(srcs)} | include/netcore/mock.h")
        w(f"  extra = {extra}")
        w(f"  libs = {libs}")
        fuzz_outs.append(f"$builddir/fuzz/fuzz_{name}")
    w(f"build fuzz: phony {' '.join(fuzz_outs)}")
    w("")

    everything = (["$builddir/netcore"] + mod_outs + tool_outs + tmod_outs +
                  ["$builddir/libnetcore-mock.a", "$builddir/tests/netcore-module-tests",
                   "$builddir/tests/netcore-tests"])
    w(f"build all: phony {' '.join(everything)}")
    w("build test: run | all")
    w("  cmd = NC_BUILDDIR=$builddir $builddir/tests/netcore-module-tests && "
      "NC_BUILDDIR=$builddir $builddir/tests/netcore-tests")
    w("  desc = TEST")
    w("build run: run | all")
    w("  cmd = $builddir/netcore -c conf/netcore.json")
    w("  desc = RUN netcore -c conf/netcore.json")
    w("build install: run | all")
    w("  cmd = scripts/install --prefix $prefix --builddir $builddir")
    w("  desc = INSTALL under $${DESTDIR}$prefix")
    w("build uninstall: run")
    w("  cmd = scripts/install --uninstall --prefix $prefix --builddir $builddir")
    w("  desc = UNINSTALL from $${DESTDIR}$prefix")
    w("default all")
    text = "\n".join(out) + "\n"

    if args.output == "-":
        sys.stdout.write(text)
    else:
        with open(os.path.join(TOP, args.output) if not os.path.isabs(args.output)
                  else args.output, "w") as f:
            f.write(text)
        print(f"configure.py: wrote {args.output}")


if __name__ == "__main__":
    main()
