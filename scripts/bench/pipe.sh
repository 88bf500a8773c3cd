#!/usr/bin/env bash
# scripts/bench/pipe.sh - the pipe transport: the ceiling every broker is
# measured against (issue 8).  No broker, three processes joined by pipes:
#
#   gen        streamctl generate --rate=0 --count=N > /dev/null
#   gen+proc   streamctl generate ... | streamctl process > /dev/null
#   full       streamctl generate ... | streamctl process | streamctl sink --db
#
# for source cpu and sensor, codec json and msgpack, the variants
# interleaved round by round.  The full pipeline's rate is rows / (last
# stored - first intended) from the DB (dbstats.py); the others' is N / wall.
# CPU is summed over the processes of the pipeline.
#
# usage: scripts/bench/pipe.sh [N]   (CSV: bench/results/pipe.csv)
. "$(dirname "$0")/lib.sh"
bench_init pipe
bench_venv

if [ "$BENCH_QUICK" = 1 ]; then N=${1:-20000}; else N=${1:-1000000}; fi # issue 20: cells of 1 s and more
: "${BENCH_PIPE_SOURCES:=cpu sensor}"
: "${BENCH_PIPE_CODECS:=json msgpack}"
NSENSOR=$((N / 25)) # a sensor record is ~90x bigger than a cpu one and JSON takes ~1 ms

# run_variant STAGES SOURCE CODEC PAIR
run_variant() {
	local stages=$1 src=$2 codec=$3 pair=$4 n=$N table=cpu_stats
	[ "$src" = sensor ] && n=$NSENSOR table=sensor_features
	local g=("$SC" generate --source="$src" --codec="$codec" --rate=0 --count="$n" --progress=never
		--stats-interval=0 --stats="$BENCH_TMP/gen.json")
	local p=("$SC" process --codec="$codec" --progress=never --stats-interval=0 --stats="$BENCH_TMP/proc.json")
	local db=$BENCH_TMP/pipe-$pair.db
	rm -f "$db" "$db-wal" "$db-shm"
	local s=("$SC" sink --db="$db" --progress=never --stats-interval=0 --stats="$BENCH_TMP/sink.json")
	local tag u=0 sy=0 r=0 size="" rows=$n span="" p50="" p99="" p999="" pmax="" wall
	local t0 t1
	t0=$(date +%s.%N)
	case $stages in
	gen) bench_time gen "${g[@]}" >/dev/null ;;
	gen+proc) bench_time gen "${g[@]}" | bench_time proc "${p[@]}" >/dev/null ;;
	full) bench_time gen "${g[@]}" | bench_time proc "${p[@]}" | bench_time sink "${s[@]}" 2>/dev/null ;;
	esac
	t1=$(date +%s.%N)
	wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	for tag in gen proc sink; do
		[ -f "$BENCH_TMP/time-$tag" ] || continue
		bench_time_read "$tag"
		u=$(awk -v a="$u" -v b="$T_USER" 'BEGIN { print a + b }')
		sy=$(awk -v a="$sy" -v b="$T_SYS" 'BEGIN { print a + b }')
		[ "$T_RSS" -gt "$r" ] && r=$T_RSS
		rm -f "$BENCH_TMP/time-$tag"
	done
	if [ "$stages" = full ]; then
		read -r rows span p50 p99 p999 pmax < <("$PY" "$BENCH_DIR/dbstats.py" "$db" "$table")
	fi
	# mean encoded record size (framing excluded), from the generator's final stats line
	size=$(tail -n 1 "$BENCH_TMP/gen.json" 2>/dev/null |
		sed -n 's/.*"out":\([0-9]*\).*"bytes_out":\([0-9]*\).*/\1 \2/p' |
		awk '$1 > 0 { printf "%d", $2 / $1 + 0.5 }')
	T_WALL=$wall T_USER=$u T_SYS=$sy T_RSS=$r
	TOOL_VER=streamctl bench_tp_row "streamctl-$stages" "$pair" "source=$src codec=$codec" "$n" "$size" "$rows" "$span" \
		"$p50" "$p99" "$p999" "$pmax"
}

for ((pair = 0; pair <= BENCH_PAIRS; pair++)); do
	for src in $BENCH_PIPE_SOURCES; do
		for codec in $BENCH_PIPE_CODECS; do
			for stages in gen gen+proc full; do
				bench_log "pair $pair/$BENCH_PAIRS: $stages $src $codec"
				run_variant "$stages" "$src" "$codec" "$pair"
			done
		done
	done
done
echo "== pipe transport, cpu N=$N, sensor N=$NSENSOR (full: rows / span in the DB) =="
bench_summary "$BENCH_CSV" "$RUN_ID" streamctl-full rate_tool
