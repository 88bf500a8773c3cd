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
unit_out=$(scripts/run-unit.sh "$@" 2>&1) || rc=1
printf '%s\n' "$unit_out"
integ_out=$(AMQP_RESTART=scripts/amqp-bounce.sh scripts/run-integration.sh ${SUITES:-} 2>&1) || rc=1
printf '%s\n' "$integ_out"
if make --no-print-directory format-check; then fmt=0; else fmt=1; rc=1; fi

count() { printf '%s\n' "$1" | sed -n "s/^$2: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p" | tail -n 1; }
read -r up uf <<<"$(count "$unit_out" unit)"
read -r ip if_ <<<"$(count "$integ_out" integration)"
pass=$((${up:-0} + ${ip:-0} + (1 - fmt)))
fail=$((${uf:-0} + ${if_:-0} + fmt))
[ -z "${up:-}" ] && fail=$((fail + 1))
[ -z "${ip:-}" ] && fail=$((fail + 1))
echo
echo "check: unit ${up:-?}/${uf:-?}, integration ${ip:-?}/${if_:-?}, format $([ $fmt = 0 ] && echo ok || echo FAILED)"
printf '%d passed, %d failed\n' "$pass" "$fail"
[ "$rc" -eq 0 ] && [ "$fail" -eq 0 ]
