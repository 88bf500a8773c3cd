#!/usr/bin/env bash
# scripts/bench/mqtt-sink-kills.sh - does an MQTT sink lose a record when it
# is SIGKILLed?  paho 1.3 acknowledges a PUBLISH when it reads it, before the
# consumer sees it; the consumer's journal must hold every message the broker
# was told is safe.  Each run is scripts/chaos.sh mqtt --kinds=sink: the full
# pipeline (two generators at 50 records/s each, one processor, one sink) on
# a private Mosquitto while the sink is SIGKILLed FAULTS times over DUR s and
# restarted 0.5-3 s later each time; then `streamctl verify --expect` counts
# what is missing.  Seeds are SEED0 + run (SEED0 default 1000), the same
# for both builds.
#
# One CSV row per run: rows stored, gaps, missing (and which seqs), replays
# refused as duplicates, PASS/FAIL.  REVS="BEFORE AFTER" (commits): both are
# built in temporary worktrees (revs.sh) and run alternately; each row's
# git_rev names the build that ran.  Nothing is timed: the figure is the count
# of lost records per kill.
#
# usage: scripts/bench/mqtt-sink-kills.sh [RUNS [FAULTS [DUR]]]   (4 12 60)
# env: REVS, SEED0
# CSV: bench/results/mqtt-sink-kills.csv
. "$(dirname "$0")/lib.sh"
bench_init mqtt-sink-kills

RUNS=${1:-4} FAULTS=${2:-12} DUR=${3:-60}
HEADER="$BENCH_META_HEADER,bench,run,seed,seconds,kills,rows,gaps,missing,missing_seqs,duplicates_refused,result"

builds=("$SC") revs=("$BENCH_REV")
if [ -n "${REVS:-}" ]; then
	. "$BENCH_DIR/revs.sh"
	bench_revs_env
fi

for ((i = 1; i <= RUNS; i++)); do
	for k in "${!builds[@]}"; do
		wd=$BENCH_TMP/run$i-$k csv=$BENCH_TMP/chaos.csv
		rm -f "$csv"
		STREAMCTL=${builds[k]} "$BENCH_ROOT/scripts/chaos.sh" mqtt --seed=$((${SEED0:-1000} + i)) \
			--kinds=sink --faults="$FAULTS" --duration="$DUR" --workdir="$wd" --csv="$csv" \
			--quiet >"$BENCH_TMP/out" 2>"$BENCH_TMP/err"
		[ -s "$csv" ] || bench_die "chaos.sh wrote no result: $(tail -n 3 "$BENCH_TMP/err")"
		# date,transport,seed,duration_s,rate_hz,msgs_per_source,processors,
		# faults_broker,faults_processor,faults_sink,broker_signal,consumer_signal,
		# rows_verified,gaps,missing,duplicates_refused,...,result,elapsed_s
		IFS=, read -r _ _ seed _ _ _ _ _ _ kills _ _ rows gaps missing dups _ _ result _ \
			< <(tail -n 1 "$csv")
		seqs=$(grep -o 'missing [0-9][0-9 ,]*' "$wd/verify.out" 2>/dev/null |
			sed 's/missing //; s/[ ,]*$//' | tr '\n' ' ' | sed 's/ *$//')
		rm -rf "$wd"
		BENCH_REV=${revs[k]}
		bench_csv_append "$BENCH_CSV" "$HEADER" \
			"$(bench_meta),mqtt-sink-kills,$i,$seed,$DUR,$kills,$rows,$gaps,$missing,\"$seqs\",$dups,$result"
		bench_log "run $i ${revs[k]}: $kills sink kills, $rows rows, $missing missing${seqs:+ ($seqs)}, $dups duplicates refused: $result"
	done
done
