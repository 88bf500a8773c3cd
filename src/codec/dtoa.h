/*
 * dtoa.h - shortest round-trip formatting of doubles (issue 8: the JSON
 * encoder's bottleneck).
 *
 * Algorithm: Grisu3 from F. Loitsch, "Printing Floating-Point Numbers
 * Quickly and Accurately with Integers", PLDI 2010, with a fallback.
 * Grisu3 produces the shortest digit string that reads back to the same
 * double and proves it, or reports that it cannot (about 0.5% of random
 * doubles); dtoa_shortest() then takes the digits of the shortest of
 * %.15g, %.16g and %.17g that strtod() reads back equal (what the JSON
 * encoder printed before).  Either way the digits are laid out by one rule
 * (below), so the output always round-trips and is never longer than
 * %.17g nor than that old loop's output.
 */
#ifndef SC_DTOA_H
#define SC_DTOA_H

#include <stddef.h>

/* Room for any dtoa_shortest() output plus its NUL. */
#define DTOA_BUFSIZE 32

/*
 * Write v (finite; the caller checks) into buf[DTOA_BUFSIZE] as a decimal
 * that strtod() reads back as exactly v; returns the length (buf is
 * NUL-terminated).  The text is a JSON number: optional '-', digits with
 * an optional '.', optional exponent in printf style ("e+15", "e-07").
 * Layout: positional when the leading digit's power of ten X is in
 * [-4, 16] and positional is not longer than exponent form, else exponent
 * form; so a number without '.' or 'e' is below 1e17 and fits int64.
 * 0.0 and -0.0 give "0" and "-0".
 */
size_t dtoa_shortest(double v, char *buf);

/*
 * Grisu3 alone, for tests: for finite v > 0, write the shortest digits
 * (no leading or trailing zeros, no NUL) into digits[18] so that v reads
 * back from digits * 10^*exp10; returns their count (1..17), or 0 when
 * Grisu3 cannot guarantee the result (then digits is undefined).
 */
int dtoa_grisu3(double v, char *digits, int *exp10);

#endif /* SC_DTOA_H */
