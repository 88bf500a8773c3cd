/*
 * tests/tsan/criterion/criterion.h - a minimal stand-in for Criterion, used
 * only by `make tsan`.
 *
 * Criterion's runner maps its shared arena at addresses ThreadSanitizer
 * reserves, so a Criterion test binary cannot start under TSan.  This header
 * (found first on the include path of the tsan build) gives the same test
 * sources the few macros they use and a sequential runner in one process:
 * a failed assertion ends its test with a longjmp, and the closing line has
 * Criterion's shape so scripts/run-unit.sh counts it.
 */
#ifndef SC_TSAN_CRITERION_SHIM_H
#define SC_TSAN_CRITERION_SHIM_H

#include <stdbool.h>
#include <string.h>

void shim_register(const char *suite, const char *name, void (*fn)(void));
_Noreturn void shim_fail(const char *file, int line, const char *expr, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
_Noreturn void shim_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define Test(suite, name, ...)                                              \
	static void suite##_##name##_impl(void);                            \
	__attribute__((constructor)) static void suite##_##name##_reg(void) \
	{                                                                   \
		shim_register(#suite, #name, suite##_##name##_impl);        \
	}                                                                   \
	static void suite##_##name##_impl(void)

#define TestSuite(name, ...) extern int shim_suite_##name

#define cr_assert(cond, ...)                                                   \
	do {                                                                   \
		if (!(cond))                                                   \
			shim_fail(__FILE__, __LINE__, #cond, " " __VA_ARGS__); \
	} while (0)
#define cr_assert_not(cond, ...)    cr_assert(!(cond), __VA_ARGS__)
#define cr_assert_eq(a, b, ...)	    cr_assert((a) == (b), __VA_ARGS__)
#define cr_assert_neq(a, b, ...)    cr_assert((a) != (b), __VA_ARGS__)
#define cr_assert_lt(a, b, ...)	    cr_assert((a) < (b), __VA_ARGS__)
#define cr_assert_gt(a, b, ...)	    cr_assert((a) > (b), __VA_ARGS__)
#define cr_assert_geq(a, b, ...)    cr_assert((a) >= (b), __VA_ARGS__)
#define cr_assert_null(p, ...)	    cr_assert((p) == NULL, __VA_ARGS__)
#define cr_assert_not_null(p, ...)  cr_assert((p) != NULL, __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) cr_assert(strcmp((a), (b)) == 0, __VA_ARGS__)
#define cr_assert_fail(...)	    shim_fail(__FILE__, __LINE__, "fail", " " __VA_ARGS__)
#define cr_skip_test(...)	    shim_skip(" " __VA_ARGS__)

#endif /* SC_TSAN_CRITERION_SHIM_H */
