/* shim_main.c - the sequential runner of tests/tsan/criterion/criterion.h. */
#include "criterion/criterion.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define SHIM_MAX 256

static struct {
	const char *suite, *name;
	void (*fn)(void);
} tests[SHIM_MAX];
static int ntests;
static jmp_buf out;

void shim_register(const char *suite, const char *name, void (*fn)(void))
{
	if (ntests < SHIM_MAX)
		tests[ntests++] = (__typeof__(tests[0])){suite, name, fn};
}

void shim_fail(const char *file, int line, const char *expr, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "[----] %s:%d: assertion failed: %s: ", file, line, expr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	longjmp(out, 1);
}

void shim_skip(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "[SKIP] ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	longjmp(out, 2);
}

/* Arguments (Criterion's --jobs and the like) are ignored: one process, in order. */
int main(void)
{
	volatile int pass = 0, fail = 0;

	for (volatile int i = 0; i < ntests; i++) {
		int rc = setjmp(out);

		if (rc == 0) {
			tests[i].fn();
			pass++;
			fprintf(stderr, "[PASS] %s::%s\n", tests[i].suite, tests[i].name);
		} else if (rc == 1) {
			fail++;
			fprintf(stderr, "[FAIL] %s::%s\n", tests[i].suite, tests[i].name);
		}
	}
	fprintf(stderr, "[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: 0 \n",
		pass + fail, pass, fail);
	return fail ? 1 : 0;
}
