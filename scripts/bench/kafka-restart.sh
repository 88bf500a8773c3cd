#!/usr/bin/env bash
# scripts/bench/kafka-restart.sh - how long a Kafka pipeline stalls when its
# processor is SIGKILLed and started again (issue 17; target: the sink
# advances again within 5 s).
#
# One run: sink and processor, a cpu generator at RATE for DUR seconds; at
# KILL_AT s the processor gets SIGKILL and RESTART_AFTER s later a new one
# starts.  Two modes, interleaved (bench_interleave):
#   static   both processors have the same --client-id and -X group.instance.id (static:
#            static membership, KIP-345), the new one takes the partitions back
#   dynamic  no --client-id (a new member; the group waits for the dead one's
#            session to time out, session.timeout.ms)
# Figures come from the sink DB afterwards, not from polling:
#   resume_s  first stored_ns of a record processed after the restart, minus
#             the restart time: how long until the sink advances again
#   stall_s   the same from the kill
# plus rows stored and whether `streamctl verify --expect` is clean.
#
# usage: scripts/bench/kafka-restart.sh   (CSV: bench/results/kafka-restart.csv)
# env: RATE (500), DUR (20), KILL_AT (6), RESTART_AFTER (1), IDLE (70: the
# sink's and the new processor's --idle-exit, longer than any stall
# measured: librdkafka's old default session timeout was 45 s), BENCH_PAIRS
. "$(dirname "$0")/lib.sh"
bench_init kafka-restart

: "${RATE:=500}" "${DUR:=20}" "${KILL_AT:=6}" "${RESTART_AFTER:=1}" "${IDLE:=70}"
[ "$BENCH_QUICK" = 1 ] && DUR=12 KILL_AT=4
N=$((RATE * DUR))
HEADER="$BENCH_META_HEADER,bench,mode,pair,rate,count,kill_at_s,restart_after_s,resume_s,stall_s,stored,verify"
PIDS=()
bench_cleanup_hook() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
}

now_ns() { date +%s%N; }

run_mode() {
	local mode=$1 pair=$2 ns db id=() gen pid1 pid2 kill_ns restart_ns res verify
	ns=$(bench_uniq bench-kr)
	db=$BENCH_TMP/$ns.db
	[ "$mode" = static ] && id=(--client-id="$ns-proc" -X group.instance.id="$ns-proc")
	local common=(--transport=kafka --broker="kafka://$KAFKA_BOOTSTRAP" --namespace="$ns"
		--stats-interval=0 --progress=never)
	"$SC" sink "${common[@]}" --client-id="$ns-sink" --db="$db" --idle-exit="$IDLE" \
		--stats=/dev/null 2>>"$BENCH_TMP/sink.log" &
	local sink=$!
	PIDS=("$sink")
	"$SC" process "${common[@]}" "${id[@]}" --stats=/dev/null 2>>"$BENCH_TMP/proc.log" &
	pid1=$!
	PIDS+=("$pid1")
	sleep 5 # the group's first join (group.initial.rebalance.delay.ms 3 s)
	"$SC" generate "${common[@]}" --source=cpu --source-id="$ns" --rate="$RATE" --count="$N" \
		--stats=/dev/null 2>>"$BENCH_TMP/gen.log" &
	gen=$!
	PIDS+=("$gen")
	sleep "$KILL_AT"
	kill_ns=$(now_ns)
	kill -KILL "$pid1"
	wait "$pid1" 2>/dev/null
	sleep "$RESTART_AFTER"
	restart_ns=$(now_ns)
	"$SC" process "${common[@]}" "${id[@]}" --idle-exit="$IDLE" --stats=/dev/null \
		2>>"$BENCH_TMP/proc.log" &
	pid2=$!
	PIDS+=("$pid2")
	wait "$gen"
	wait "$sink"
	kill -TERM "$pid2" 2>/dev/null
	wait "$pid2" 2>/dev/null
	PIDS=()
	res=$(sqlite3 -batch -separator ' ' "$db" "SELECT
		(SELECT CASE WHEN MIN(stored_ns) IS NULL THEN 'never' ELSE printf('%.3f', (MIN(stored_ns) - $restart_ns) / 1e9) END FROM cpu_stats WHERE processed_ns > $restart_ns),
		(SELECT CASE WHEN MIN(stored_ns) IS NULL THEN 'never' ELSE printf('%.3f', (MIN(stored_ns) - $kill_ns) / 1e9) END FROM cpu_stats WHERE processed_ns > $restart_ns),
		(SELECT COUNT(*) FROM cpu_stats)" 2>/dev/null)
	read -r resume stall stored <<<"$res"
	if "$SC" verify --db="$db" --expect="$N" >"$BENCH_TMP/verify.out" 2>&1; then verify=clean; else verify=NOT_clean; fi
	bench_csv_append "$BENCH_CSV" "$HEADER" \
		"$(bench_meta),kafka-restart,$mode,$pair,$RATE,$N,$KILL_AT,$RESTART_AFTER,${resume:-},${stall:-},${stored:-0},$verify"
	bench_log "  $mode: sink advanced again ${resume:-never} s after the restart (${stall:-?} s after the kill), $stored of $N stored, verify $verify"
	[ -n "${BENCH_KEEP_TMP:-}" ] || rm -f "$db" "$db-wal" "$db-shm"
}
run_static() { run_mode static "$1"; }
run_dynamic() { run_mode dynamic "$1"; }

bench_interleave "$BENCH_PAIRS" static dynamic
echo "== seconds until the sink advances after a processor restart (median over pairs 1..$BENCH_PAIRS) =="
for m in static dynamic; do
	awk -F, -v run="$RUN_ID" -v m="$m" '$1 == run && $9 == m && $10 > 0 && $15 ~ /^[0-9]/ { print $15 }' "$BENCH_CSV" |
		sort -n | awk -v m="$m" '{ v[NR] = $1 } END { if (NR) printf "%-8s resume_s median %s (min %s, max %s, n=%d)\n", m, v[int((NR + 1) / 2)], v[1], v[NR], NR }'
done
