/* suites.h -- the list of CUnit suites; each test file defines
 * add_<name>_suite().  Tests mirror the source: unit/test_buf.c tests
 * core/buf.c, and so on. */
#ifndef NC_TEST_SUITES_H
#define NC_TEST_SUITES_H

#define NC_TEST_SUITES                                                                     \
    X(buf)                                                                                 \
    X(timer)                                                                               \
    X(addr)                                                                                \
    X(config)                                                                              \
    X(hist)                                                                                \
    X(util)                                                                                \
    X(http_parse)                                                                          \
    X(ft_proto)                                                                            \
    X(module)                                                                              \
    X(build)                                                                               \
    X(cli)                                                                                 \
    X(echo)                                                                                \
    X(reactor)                                                                             \
    X(bench)                                                                               \
    X(chat)                                                                                \
    X(http)                                                                                \
    X(udp)                                                                                 \
    X(ft)                                                                                  \
    X(sdk)                                                                                 \
    X(ops)                                                                                 \
    X(reload)                                                                              \
    X(ftclient)                                                                            \
    X(hostile)                                                                             \
    X(bchat)                                                                               \
    X(log)                                                                                 \
    X(strbuf)                                                                              \
    X(http_module)                                                                         \
    X(transport)                                                                           \
    X(tls)                                                                                 \
    X(tlsclient)                                                                           \
    X(tlsopts)                                                                             \
    X(tlsreal)

#define X(name) int add_##name##_suite(void);
NC_TEST_SUITES
#undef X

#endif
