/*
 * fuzz_dtoa.c - libFuzzer target for dtoa_shortest() (src/codec/dtoa.h).
 *
 * The first 8 bytes of each input are a double's bit pattern (native byte
 * order; shorter inputs are zero-padded).  For every finite double the
 * output must read back bit for bit with strtod(), be a JSON number no
 * longer than %.17g, look like an integer only below 1e17, and when Grisu3
 * succeeds its digits must be the shortest (no correctly rounded decimal
 * with one digit fewer reads back as the input).  Any violation prints the
 * input and abort()s, which libFuzzer reports as a crash.
 * Seeds: tests/fuzz/corpus/dtoa/ (edge cases, 8 bytes each).
 */
#include "dtoa.h"
#include "../unit/json_number.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, double v, const char *out)
{
	fprintf(stderr, "fuzz: dtoa: %s: %a (%.17g) printed as %s\n", what, v, v, out);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t raw[8] = {0};
	char out[DTOA_BUFSIZE + 8], g17[40], d[18];
	double v, back;
	size_t n;
	int nd, e10;

	memcpy(raw, data, size < 8 ? size : 8);
	memcpy(&v, raw, sizeof(v));
	if (!isfinite(v))
		return 0;
	memset(out, 'x', sizeof(out));
	n = dtoa_shortest(v, out);
	if (n == 0 || n >= DTOA_BUFSIZE || out[n] != '\0' || strlen(out) != n)
		fail("bad length or missing NUL", v, out);
	back = strtod(out, NULL);
	if (memcmp(&back, &v, sizeof(v)))
		fail("does not read back", v, out);
	if (!is_json_number(out))
		fail("not a JSON number", v, out);
	if ((int)n > snprintf(g17, sizeof(g17), "%.17g", v))
		fail("longer than %.17g", v, out);
	if (!strpbrk(out, ".e") && fabs(v) >= 1e17)
		fail("integer-looking above 1e17", v, out);
	if (v != 0) {
		nd = dtoa_grisu3(fabs(v), d, &e10);
		if (nd > 1) {
			snprintf(g17, sizeof(g17), "%.*e", nd - 2, fabs(v));
			if (strtod(g17, NULL) == fabs(v))
				fail("grisu3 digits are not the shortest", v, g17);
		}
	}
	return 0;
}
