#!/usr/bin/env python3
"""Print the cached powers of ten for src/codec/dtoa.c (Grisu, Loitsch 2010, section 4).

For k = -348, -340, ..., 340: the 64-bit significand f (top bit set) and the
binary exponent e with f * 2^e = 10^k rounded to nearest, computed exactly
with Python integers.  Usage: scripts/gen-dtoa-powers.py > table (paste into
the cached_pow[] initialiser in src/codec/dtoa.c).
"""
from fractions import Fraction

for k in range(-348, 341, 8):
    x = Fraction(10) ** k
    e = x.numerator.bit_length() - x.denominator.bit_length() - 64
    while Fraction(2) ** (e + 64) <= x:
        e += 1
    while Fraction(2) ** (e + 63) > x:
        e -= 1
    q = x / Fraction(2) ** e  # in [2^63, 2^64)
    f = q.numerator // q.denominator
    if 2 * (q - f) >= 1:
        f += 1
    if f == 1 << 64:
        f, e = f >> 1, e + 1
    assert (1 << 63) <= f < (1 << 64)
    print("\t{0x%016xull, %d, %d}," % (f, e, k))
