/* mt.h -- the module suite (netcore-module-tests): each shipped module's
 * real .so under the mock core (include/netcore/mock.h).  One file per
 * module, tests/unit/modules/test_<module>.c mirroring modules/, each
 * defining add_<name>_suite(), listed in MT_SUITES. */
#ifndef NC_TESTS_MT_H
#define NC_TESTS_MT_H

#include <stddef.h>

#include "netcore/mock.h"

#define MT_SUITES                                                                          \
    X(mock)                                                                                \
    X(echo)                                                                                \
    X(udp_receiver)                                                                        \
    X(status)                                                                              \
    X(http_static)                                                                         \
    X(file_transfer)                                                                       \
    X(chat)                                                                                \
    X(broadcast_chat)

#define X(name) int add_##name##_suite(void);
MT_SUITES
#undef X

/* $NC_BUILDDIR/modules/NAME.so (NC_BUILDDIR defaults to "build"), loaded
 * once per process with nc_mock_load; NULL (and why on stderr) if it
 * cannot be. */
const nc_module *mt_module(const char *name);
/* Start module NAME with the JSON options text (NULL: none) and the rest
 * of cfg (NULL: defaults); NULL, with the error on stderr, on failure. */
nc_mock *mt_start(const char *name, const char *options, const nc_mock_config *cfg);
/* The error text of a start expected to fail ("" if it succeeded, which
 * then also freed the mock). */
const char *mt_start_error(const char *name, const char *options, const nc_mock_config *cfg);
/* A scratch folder for the process, removed at exit. */
const char *mt_tmpdir(void);
/* mt_tmpdir()/name, in one of a few rotating buffers. */
const char *mt_path(const char *name);
/* The whole of a file (malloc'd, NUL-terminated; NULL if unreadable). */
char *mt_slurp(const char *path, size_t *len);

#endif
