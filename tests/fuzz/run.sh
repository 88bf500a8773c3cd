#!/usr/bin/env bash
# Run libFuzzer targets one after another, each on a copy of its seed corpus.
# Usage: tests/fuzz/run.sh BUILD_DIR SECONDS BIN...
#   SECONDS > 0: fuzz each target for that long (-max_total_time);
#   SECONDS = 0: smoke test, run each target over its seeds once (-runs=0).
# Prints one line per target; exits non-zero when any target crashed (the
# crash input is left in BUILD_DIR/artifacts/ and the log in BUILD_DIR/logs/).
set -u
build=$1 secs=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$build/artifacts" "$build/logs"
bad=()
for bin in "$@"; do
	name=$(basename "$bin")
	seeds=$here/corpus/${name#fuzz_}
	work=$build/corpus/$name
	log=$build/logs/$name.log
	rm -rf "$work" "$build/artifacts/$name-"*
	mkdir -p "$work"
	[ -d "$seeds" ] && cp "$seeds"/* "$work"/ 2>/dev/null
	if [ "$secs" -gt 0 ]; then
		mode=(-max_total_time="$secs" -print_final_stats=1)
	else
		mode=(-runs=0)
	fi
	"$bin" "${mode[@]}" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
		-artifact_prefix="$build/artifacts/$name-" "$work" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
	took=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\2/p' "$log" | tail -n 1)
	if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
		echo "fuzz: $name: $runs runs in ${took:-0} s, no crash"
	else
		grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz|artifact_prefix|Test unit written)' "$log" | tail -n 8
		echo "fuzz: $name: FAILED (exit $rc), see $log"
		bad+=("$name")
	fi
done
[ "${#bad[@]}" -eq 0 ] || { echo "fuzz: failing: ${bad[*]}"; exit 1; }
