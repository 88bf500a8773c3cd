#!/usr/bin/env bash
# scripts/bench/compare.sh [quick|full] - `make compare` (full, under an hour
# on a quiet machine) and `make compare-quick` (seconds per cell, in make
# test): the transports compared like for like by compare.py (its header
# says what is measured and how).  Makes the Python venv of the reference
# pipelines if it is missing; the brokers are compare.py's own.
#   COMPARE_ONLY=sweep,sensor,codec,crash   a subset of the sections
#   COMPARE_RENDER_ONLY=1                    redraw tables/figures from the CSVs
. "$(dirname "$0")/lib.sh"
mode=${1:-full}
case $mode in
quick) q=(--quick) ;;
full) q=() ;;
*)
	echo "usage: $0 [quick|full]" >&2
	exit 2
	;;
esac
: "${STREAMCTL:=$BENCH_ROOT/build/streamctl}"
export STREAMCTL
[ -x "$STREAMCTL" ] || make -C "$BENCH_ROOT" -s >/dev/null || bench_die "build failed"
if [ "${COMPARE_RENDER_ONLY:-0}" = 1 ]; then
	exec "${PY:-python3}" "$BENCH_DIR/compare.py" render "${q[@]}"
fi
bench_venv
exec "$PY" "$BENCH_DIR/compare.py" run "${q[@]}" ${COMPARE_ONLY:+--only="$COMPARE_ONLY"}
