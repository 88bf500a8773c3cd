#!/usr/bin/env bash
# scripts/bench/genloop.sh - mean and std of one generator loop iteration
# (gen_next + encode, without the pacing sleep) over R runs x L loops, with
# the 95% CI and the runs it would take to reach the target width
# (tests/bench/bench_genloop.c says how R and L were chosen).
# CSV bench/results/genloop.csv, plot docs/img/genloop.png.
. "$(dirname "$0")/lib.sh"
bench_init genloop
bench_venv
BG=$(bench_bin bench_genloop)
if [ "$BENCH_QUICK" = 1 ]; then ARGS=(--runs=10 --loops=300 --sensor-loops=10); else ARGS=(--runs=30 --loops=1000 --sensor-loops=30); fi
"$BG" "${ARGS[@]}" --csv >"$BENCH_TMP/g.csv" || bench_die "bench_genloop failed"
bench_append_csv "$BENCH_RESULTS/genloop.csv" <"$BENCH_TMP/g.csv"
column -s, -t <"$BENCH_TMP/g.csv" | tee "$BENCH_RESULTS/genloop-last.txt"
bench_plot one genloop.csv
