/* nc_assert.h -- NC_ASSERT: the core's invariants, checked in --debug and
 * --sanitize builds (and the fuzzers), where NC_DEBUG is defined, and
 * compiled out of release builds. */
#ifndef NC_ASSERT_H
#define NC_ASSERT_H

#ifdef NC_DEBUG
/* Logs "assertion failed: EXPR (FILE:LINE in FUNC)" and aborts (log.c). */
_Noreturn void nc__assert_fail(const char *expr, const char *file, int line, const char *func);
#define NC_ASSERT(x) ((x) ? (void)0 : nc__assert_fail(#x, __FILE__, __LINE__, __func__))
#else
/* Not evaluated, but still compiled: a variable used only in assertions
 * stays "used", and the expression must keep building. */
#define NC_ASSERT(x) ((void)sizeof(!(x)))
#endif

#endif /* NC_ASSERT_H */
