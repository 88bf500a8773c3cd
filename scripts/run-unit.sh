#!/usr/bin/env bash
# Run Criterion test binaries one after another and sum their results.
# Usage: scripts/run-unit.sh build/tests/test_a build/tests/test_b ...
set -u
pass=0 fail=0 bad=()
for t in "$@"; do
	out=$("$t" --jobs=2 2>&1)
	rc=$?
	line=$(printf '%s\n' "$out" | grep 'Synthesis:' | tail -n 1)
	p=$(printf '%s' "$line" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
	f=$(printf '%s' "$line" | sed -n 's/.*Failing: \([0-9]*\).*/\1/p')
	c=$(printf '%s' "$line" | sed -n 's/.*Crashing: \([0-9]*\).*/\1/p')
	pass=$((pass + ${p:-0}))
	fail=$((fail + ${f:-0} + ${c:-0}))
	if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
		printf '%s\n' "$out" | grep -v '^\[----\] *$' | tail -n 40
		bad+=("$(basename "$t")")
		[ -z "$line" ] && fail=$((fail + 1))
	fi
	printf 'unit: %-32s %s\n' "$(basename "$t")" "${line#*Synthesis: }"
done
printf 'unit: %d passed, %d failed\n' "$pass" "$fail"
[ "${#bad[@]}" -eq 0 ] || { echo "unit: failing: ${bad[*]}"; exit 1; }
