#!/usr/bin/env bash
# scripts/demo.sh [pipe|kafka|amqp|mqtt] - run the whole pipeline for a
# bounded time and print a summary: records stored, rate, latency, and where
# the SQLite file is.  `make demo TRANSPORT=kafka` calls it after set-up.
#
# Environment: DEMO_SECONDS (default 15), DEMO_DIR (default ./demo-out),
# CODEC (json|msgpack, default json), STREAMCTL (the binary).
set -euo pipefail
cd "$(dirname "$0")/.."
transport=${1:-${TRANSPORT:-pipe}}
[ -n "$transport" ] || transport=pipe
secs=${DEMO_SECONDS:-15}
dir=${DEMO_DIR:-$PWD/demo-out}
codec=${CODEC:-json}
SC=${STREAMCTL:-$PWD/build/streamctl}
ns="demo$(date +%s)"
db="$dir/$transport.db"

case "$transport" in
pipe | kafka | amqp | mqtt) ;;
*) echo "demo: unknown transport '$transport' (known: pipe, kafka, amqp, mqtt)" >&2; exit 64 ;;
esac
mkdir -p "$dir"
rm -f "$db" "$db-wal" "$db-shm"
if [ "$transport" != pipe ]; then
	scripts/brokers.sh start "$transport"
fi

echo "demo: $transport, $secs s, codec $codec, namespace $ns"
common=(--codec="$codec" --stats-interval=5)
pids=()
if [ "$transport" = pipe ]; then
	# Pipes and filters: one pipeline per generator, both sinks share the database.
	"$SC" generate --source=cpu --rate=10 --duration="$secs" "${common[@]}" --stats="$dir/gen-cpu.stats" |
		"$SC" process "${common[@]}" --stats="$dir/proc-cpu.stats" |
		"$SC" sink --db="$db" --stats="$dir/sink-cpu.stats" 2>"$dir/sink-cpu.log" &
	pids+=($!)
	"$SC" generate --source=sensor --rate=2 --duration="$secs" "${common[@]}" --stats="$dir/gen-sensor.stats" |
		"$SC" process "${common[@]}" --stats="$dir/proc-sensor.stats" |
		"$SC" sink --db="$db" --stats="$dir/sink-sensor.stats" 2>"$dir/sink-sensor.log" &
	pids+=($!)
	for p in "${pids[@]}"; do wait "$p"; done
	cat "$dir"/sink-*.log
else
	t=(--transport="$transport" --namespace="$ns")
	"$SC" sink "${t[@]}" --db="$db" --idle-exit=5 --stats="$dir/sink.stats" 2>"$dir/sink.log" &
	sink=$!
	"$SC" process "${t[@]}" "${common[@]}" --idle-exit=5 --stats="$dir/process.stats" 2>"$dir/process.log" &
	proc=$!
	"$SC" generate "${t[@]}" --source=cpu --rate=10 --duration="$secs" "${common[@]}" --stats="$dir/gen-cpu.stats" 2>"$dir/gen-cpu.log" &
	g1=$!
	"$SC" generate "${t[@]}" --source=sensor --rate=2 --duration="$secs" "${common[@]}" --stats="$dir/gen-sensor.stats" 2>"$dir/gen-sensor.log" &
	g2=$!
	rc=0
	for p in $g1 $g2 $proc $sink; do wait "$p" || rc=$?; done
	cat "$dir/sink.log"
	[ "$rc" -eq 0 ] || { echo "demo: a stage failed (exit $rc); logs in $dir" >&2; exit "$rc"; }
fi
echo
"$SC" verify --db="$db"
echo
echo "demo: database $db (sqlite3 $db 'SELECT * FROM cpu_stats LIMIT 5')"
echo "demo: stats as JSON lines in $dir/*.stats"
