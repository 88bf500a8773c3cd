#!/usr/bin/env bash
# Run integration suites (tests/integration/<name>.sh) and sum their results.
# Usage: scripts/run-integration.sh [suite ...]   (default: every suite)
# Suites that need a broker start it through scripts/brokers.sh; the
# brokers this script started are stopped again at the end.
set -u
cd "$(dirname "$0")/.."
: "${STREAMCTL:=$PWD/build/streamctl}"
export STREAMCTL
if [ $# -eq 0 ]; then
	set -- $(ls tests/integration/*.sh | xargs -n1 basename | sed 's/\.sh$//' | grep -v '^lib$')
fi
pass=0 fail=0 bad=()
for s in "$@"; do
	f=tests/integration/$s.sh
	[ -f "$f" ] || { echo "integration: no suite '$s'"; fail=$((fail + 1)); continue; }
	echo "integration: $s"
	out=$(SUITE=$s bash "$f" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	line=$(printf '%s\n' "$out" | grep -E "^$s: [0-9]+ passed, [0-9]+ failed$" | tail -n 1)
	p=$(printf '%s' "$line" | sed -n 's/.*: \([0-9]*\) passed.*/\1/p')
	f=$(printf '%s' "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
	pass=$((pass + ${p:-0}))
	fail=$((fail + ${f:-0}))
	if [ "$rc" -ne 0 ]; then
		bad+=("$s")
		[ -z "$line" ] && fail=$((fail + 1))
	fi
done
printf 'integration: %d passed, %d failed\n' "$pass" "$fail"
[ "${#bad[@]}" -eq 0 ] || { echo "integration: failing suites: ${bad[*]}"; exit 1; }
