#!/usr/bin/env bash
# Bounded memory under backpressure.
#
# AMQP (the shared RabbitMQ on 127.0.0.1:${AMQP_PORT:-5672}, a fresh
# namespace): the sink is held back with SIGSTOP while both generators run
# unthrottled (--rate=0) for 15 s; the broker holds the growing backlog.
# The resident memory (VmRSS) of the generators and the processor, sampled
# every 0.5 s, must stay under RSS_BOUND_KB.  Measured on this pipeline:
# about 9-12 MB each (the publisher keeps at most --inflight unconfirmed
# copies, the consumer at most --prefetch deliveries).  The bound, 48 MB,
# leaves 4x headroom and is still below what 15 s of unbounded buffering
# would take (about 57 MB of sensor batches alone).  Then the sink is
# released and everything the generators sent must be stored: verify clean.
#
# Pipe: in `generate | process | sink` with the sink stopped (SIGSTOP), the
# processor blocks writing into the full pipe and the generator behind it:
# their RSS stays flat and their output counters stop (no buffering in user
# space); released, the stream goes on and verifies clean.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pipeline.sh.inc"

RSS_BOUND_KB=$((48 * 1024))

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
last_out() { tail -n 1 "$1" 2>/dev/null | sed -n 's/.*"out":\([0-9]*\).*/\1/p'; }

# exit_within PID SECS: wait for our child PID; RC its status; 1 on timeout
exit_within() {
	local pid=$1 end=$((SECONDS + $2))
	while kill -0 "$pid" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.1
	done
	wait "$pid" 2>/dev/null
	RC=$?
}

# rows_at_least DB SOURCE N (re-evaluated on every try of wait_for)
rows_at_least() { [ "$(rows_of "$1" "$2")" -ge "$3" ]; }

rows_of() {
	sqlite3 -batch "$1" "SELECT (SELECT COUNT(*) FROM cpu_stats WHERE source = '$2') + (SELECT COUNT(*) FROM sensor_features WHERE source = '$2')" 2>/dev/null || echo 0
}

# ---- pipe: a stopped sink stops the whole pipeline ---------------------------------

db="$WORK/pipe.db"
mkfifo "$WORK/f1" "$WORK/f2"
"$SC" sink --db="$db" --stats-interval=0 <"$WORK/f2" 2>>"$WORK/sink.log" &
ps=$!
"$SC" process --stats-interval=0.5 --stats="$WORK/pp.stats" <"$WORK/f1" >"$WORK/f2" 2>>"$WORK/process.log" &
pp=$!
"$SC" generate --source=cpu --source-id=bp-pipe --rate=0 --count=100000000 --stats-interval=0.5 \
	--stats="$WORK/pg.stats" >"$WORK/f1" 2>>"$WORK/gen.log" &
pg=$!
sleep 2
kill -STOP "$ps"
sleep 2 # the pipes fill up
g0=$(last_out "$WORK/pg.stats") p0=$(last_out "$WORK/pp.stats")
gmin=999999999 gmax=0 pmin=999999999 pmax=0
for i in $(seq 20); do
	sleep 0.5
	r=$(rss_kb "$pg")
	[ "$r" -lt "$gmin" ] && gmin=$r
	[ "$r" -gt "$gmax" ] && gmax=$r
	r=$(rss_kb "$pp")
	[ "$r" -lt "$pmin" ] && pmin=$r
	[ "$r" -gt "$pmax" ] && pmax=$r
done
g1=$(last_out "$WORK/pg.stats") p1=$(last_out "$WORK/pp.stats")
check_eq "pipe, sink stopped: the generator's output counter stops (at $g0)" "$g0" "$g1"
check_eq "pipe, sink stopped: the processor's output counter stops (at $p0)" "$p0" "$p1"
check "pipe, sink stopped: the generator's RSS stays flat over 10 s (${gmin}-${gmax} kB)" test $((gmax - gmin)) -le 512
check "pipe, sink stopped: the processor's RSS stays flat over 10 s (${pmin}-${pmax} kB)" test $((pmax - pmin)) -le 512
kill -CONT "$ps"
gen_moved() { [ "$(last_out "$WORK/pg.stats")" -gt "$g1" ]; }
if wait_for 30 gen_moved; then
	ok "pipe, sink released: the generator goes on"
else
	not_ok "pipe, sink released: the generator goes on"
fi
kill -TERM "$pg" # (after at most 30 s of catching up)
for p in $pg $pp $ps; do exit_within "$p" 30 || kill -KILL "$p" 2>/dev/null; done
sent=$(stat_final "$WORK/pg.stats" out)
check_eq "pipe: every record the generator sent is stored" "${sent:-?}" "$(rows_of "$db" bp-pipe)"
check "pipe: verify is clean" "$SC" verify --db="$db"

# ---- amqp: the broker holds the backlog, the clients' memory stays bounded ----------

T=amqp
AMQP_PORT=${AMQP_PORT:-5672}
if ! timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$AMQP_PORT" 2>/dev/null; then
	not_ok "amqp backpressure: no broker on 127.0.0.1:$AMQP_PORT (scripts/brokers.sh start amqp)"
	finish
	exit
fi
B=(--broker="amqp://guest:guest@127.0.0.1:$AMQP_PORT/")
new_ns
db="$WORK/amqp.db"
start_sink "$db" "${B[@]}"
start_process main "${B[@]}"
sleep 2 # queues declared before the generators publish
kill -STOP "$SINK_PID"
declare -A GP
for src in cpu sensor; do
	"$SC" generate --transport=amqp --namespace="$NS" "${B[@]}" --source="$src" --source-id="bp-$src" \
		--rate=0 --duration=15 --stats-interval=0 --stats="$WORK/gen-$src.stats" 2>>"$WORK/gen-$src.log" &
	GP[$src]=$!
done
declare -A MAX=([cpu]=0 [sensor]=0 [process]=0)
samples=0
for i in $(seq 30); do
	sleep 0.5
	for src in cpu sensor; do
		r=$(rss_kb "${GP[$src]}")
		[ "$r" -gt "${MAX[$src]}" ] && MAX[$src]=$r
	done
	r=$(rss_kb "${PROC_PIDS[main]}")
	[ "$r" -gt "${MAX[process]}" ] && MAX[process]=$r
	samples=$((samples + 1))
done
for who in cpu sensor process; do
	name=$who
	[ "$who" = process ] || name="generate $who"
	check "amqp, sink stopped: $name stays under $((RSS_BOUND_KB / 1024)) MB RSS (max $((MAX[$who] / 1024)) MB over $samples samples)" \
		test "${MAX[$who]}" -lt "$RSS_BOUND_KB"
done
for src in cpu sensor; do
	if exit_within "${GP[$src]}" 60; then
		check_eq "amqp: generate $src ends its 15 s and exits 0" 0 "$RC"
	else
		not_ok "amqp: generate $src ends its 15 s and exits 0"
		kill -KILL "${GP[$src]}" 2>/dev/null
	fi
done
kill -CONT "$SINK_PID"
for src in cpu sensor; do
	sent=$(stat_final "$WORK/gen-$src.stats" out)
	if wait_for 240 rows_at_least "$db" "bp-$src" "${sent:-1}"; then
		ok "amqp, sink released: all ${sent:-?} $src records stored"
	else
		not_ok "amqp, sink released: all ${sent:-?} $src records stored ($(rows_of "$db" "bp-$src"))" "$(show_logs)"
	fi
done
check "amqp: processor and sink drain and exit 0" stop_all
check "amqp: verify is clean" "$SC" verify --db="$db"
finish
