#!/usr/bin/env bash
# scripts/bench/run-all.sh [quick|full] - every benchmark of issue 8, one
# after the other (never two at once), appending to bench/results/*.csv and
# redrawing docs/img/*.png.  `make bench` runs full (tens of minutes: use a
# quiet machine and say what else ran); `make bench-quick` runs the smoke
# profile (small counts, 1 pair; < 3 minutes) that CI can afford.
#
# Benchmarks whose broker is not reachable are skipped with a note (the
# brokers are started by scripts/brokers.sh, not here).  BENCH_ONLY="a b"
# runs a subset (names as the scripts, without .sh).
set -u -o pipefail
cd "$(dirname "$0")/../.." || exit 2
mode=${1:-quick}
case $mode in
quick)
	export BENCH_QUICK=1 BENCH_PAIRS=${BENCH_PAIRS:-1}
	default="pipe codec genloop kafka-producer amqp-publisher mqtt-publisher"
	;;
full)
	export BENCH_QUICK=0 BENCH_PAIRS=${BENCH_PAIRS:-5}
	default="pipe codec genloop profile kafka-producer kafka-pipeline amqp-publisher mqtt-publisher
		exp-kafka-scaling exp-kafka-producers exp-kafka-replication exp-amqp exp-mqtt-qos"
	;;
*)
	echo "usage: $0 [quick|full]" >&2
	exit 2
	;;
esac
: "${STREAMCTL:=$PWD/build/streamctl}"
export STREAMCTL

up() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
needs() {
	case $1 in
	kafka-* | exp-kafka-*) up 9092 ;;
	amqp-* | exp-amqp*) up 5672 ;;
	mqtt-* | exp-mqtt*) up 1883 ;;
	*) true ;;
	esac
}

start=$SECONDS
ran=0 skipped=0 failed=0
if [ "$mode" = quick ]; then results=bench/results/quick; else results=bench/results; fi
summary=$results/summary.txt
mkdir -p "$results"
: >"$summary"
for b in ${BENCH_ONLY:-$default}; do
	if ! needs "$b"; then
		echo "run-all: $b skipped (its broker is not reachable on 127.0.0.1)" | tee -a "$summary"
		skipped=$((skipped + 1))
		continue
	fi
	echo "run-all: $b ($mode)"
	t0=$SECONDS
	if bash "scripts/bench/$b.sh" 2> >(grep -v '^\(generate\|process\|sink\): ' >&2) | tee -a "$summary"; then
		ran=$((ran + 1))
	else
		echo "run-all: $b FAILED" | tee -a "$summary"
		failed=$((failed + 1))
	fi
	echo "run-all: $b took $((SECONDS - t0)) s" | tee -a "$summary"
done
echo "run-all: $mode: $ran ran, $skipped skipped, $failed failed in $((SECONDS - start)) s" | tee -a "$summary"
[ "$failed" -eq 0 ]
