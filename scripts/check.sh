#!/usr/bin/env bash
# scripts/check.sh TEST_BIN... - what `make check` runs: start the local
# brokers, run the Criterion unit tests (some talk to the real brokers), the
# integration suites, and the format check; print one total line.
set -u
cd "$(dirname "$0")/.."
: "${STREAMCTL:?}"
export STREAMCTL

scripts/brokers.sh start all || { echo "check: cannot start the local brokers"; exit 1; }

rc=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
scripts/run-unit.sh "$@" 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
unit_out=$(cat "$log")
AMQP_RESTART=scripts/amqp-bounce.sh scripts/run-integration.sh ${SUITES:-} 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
integ_out=$(cat "$log")
if make --no-print-directory format-check; then fmt=0; else fmt=1; rc=1; fi
# REPORT.md's generated blocks must be what the committed CSVs give
if make --no-print-directory report-check; then rep=0; else rep=1; rc=1; fi

# The unit tests include test_contract: the same behaviour asked of every
# transport against its real broker.
# Optional: the unit, pipe, cli and metrics tests again under ASan/UBSan,
# and a bounded libFuzzer run of every fuzz target.
san_p=0 san_f=0 fz_p=0 fz_f=0
if [ "${CHECK_SANITIZERS:-0}" = 1 ]; then
	make --no-print-directory asan 2>&1 | tee "$log"
	[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
	while read -r p f; do san_p=$((san_p + p)); san_f=$((san_f + f)); done < <(
		sed -n 's/^\(unit\|integration\): \([0-9]*\) passed, \([0-9]*\) failed$/\2 \3/p' "$log")
	[ "$san_p" -gt 0 ] || san_f=$((san_f + 1))
fi
# With the sanitizers: the contract suite and the transport tests under
# ThreadSanitizer (make tsan).
ts_p=0 ts_f=0
if [ "${CHECK_SANITIZERS:-0}" = 1 ]; then
	make --no-print-directory tsan 2>&1 | tee "$log"
	[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
	read -r ts_p ts_f < <(sed -n 's/^unit: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$log" | tail -n 1)
	ts_p=${ts_p:-0} ts_f=${ts_f:-1}
	[ "$ts_p" -gt 0 ] || ts_f=$((ts_f + 1))
fi
if [ -n "${CHECK_FUZZ_SECONDS:-}" ]; then
	make --no-print-directory fuzz FUZZ_SECONDS="$CHECK_FUZZ_SECONDS" 2>&1 | tee "$log"
	[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
	fz_p=$(grep -c ', no crash$' "$log")
	fz_f=$(grep -c ': FAILED' "$log")
	[ "$fz_p" -gt 0 ] || fz_f=$((fz_f + 1))
fi

count() { printf '%s\n' "$1" | sed -n "s/^$2: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p" | tail -n 1; }
read -r up uf <<<"$(count "$unit_out" unit)"
read -r ip if_ <<<"$(count "$integ_out" integration)"
# Optional: the quick benchmark profile (smoke: every benchmark runs once, small)
bq_p=0 bq_f=0
if [ "${CHECK_BENCH_QUICK:-0}" = 1 ]; then
	make --no-print-directory bench-quick 2>&1 | tee "$log"
	if [ "${PIPESTATUS[0]}" -eq 0 ] && grep -q ', 0 skipped, 0 failed' "$log"; then bq_p=1; else bq_f=1; rc=1; fi
	# the transport comparison (make compare) in seconds per cell
	if make --no-print-directory compare-quick; then bq_p=$((bq_p + 1)); else bq_f=$((bq_f + 1)); rc=1; fi
fi

pass=$((${up:-0} + ${ip:-0} + (1 - fmt) + (1 - rep) + san_p + ts_p + fz_p + bq_p))
fail=$((${uf:-0} + ${if_:-0} + fmt + rep + san_f + ts_f + fz_f + bq_f))
[ -z "${up:-}" ] && fail=$((fail + 1))
[ -z "${ip:-}" ] && fail=$((fail + 1))
echo
echo "check: unit ${up:-?}/${uf:-?}, integration ${ip:-?}/${if_:-?}, format $([ $fmt = 0 ] && echo ok || echo FAILED), report $([ $rep = 0 ] && echo ok || echo FAILED), sanitizers $san_p/$san_f, tsan $ts_p/$ts_f, fuzz $fz_p/$fz_f, bench-quick $bq_p/$bq_f (passed/failed)"
printf '%d passed, %d failed\n' "$pass" "$fail"
[ "$rc" -eq 0 ] && [ "$fail" -eq 0 ]
