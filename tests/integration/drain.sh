#!/usr/bin/env bash
# Graceful drain per role.  SIGTERM or SIGINT to generate, process or sink
# mid-stream makes that role finish what it holds and exit 0 within 15 s,
# what was stored verifies clean, and nothing the stopped role had sent or
# committed is lost: after a restart the final verify --expect=N is clean.
# Over the pipe (each role, both signals) and over Kafka (the shared broker
# on 127.0.0.1:${KAFKA_PORT:-9092}, a fresh namespace).  A second signal
# exits at once with 128+signal: shown on a role that is really blocked (a
# processor writing into the pipe of a stopped sink, a processor whose
# broker does not answer).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pipeline.sh.inc"

STOP_WITHIN=15 # seconds a signalled role may take to drain and exit

# exit_within PID SECS: wait for PID (our child) to exit; RC its status, 1 on timeout
exit_within() {
	local pid=$1 end=$((SECONDS + $2))
	while kill -0 "$pid" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.1
	done
	wait "$pid" 2>/dev/null
	RC=$?
	return 0
}

# check_stop DESC PID SIG: send SIG, the role must exit 0 within STOP_WITHIN
check_stop() {
	local desc=$1 pid=$2 sig=$3 t0=$SECONDS
	kill "-$sig" "$pid"
	if ! exit_within "$pid" "$STOP_WITHIN"; then
		not_ok "$desc: exits within $STOP_WITHIN s of SIG$sig" "$(show_logs)"
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	elif [ "$RC" -ne 0 ]; then
		not_ok "$desc: exits 0 on SIG$sig (got $RC)" "$(show_logs)"
	else
		ok "$desc: exits 0 within $STOP_WITHIN s of SIG$sig ($((SECONDS - t0)) s)"
	fi
}

# rows_of DB SOURCE
rows_of() {
	sqlite3 -batch "$1" "SELECT (SELECT COUNT(*) FROM cpu_stats WHERE source = '$2') + (SELECT COUNT(*) FROM sensor_features WHERE source = '$2')" 2>/dev/null || echo 0
}

# rows_at_least DB SOURCE N (re-evaluated on every try of wait_for)
rows_at_least() { [ "$(rows_of "$1" "$2")" -ge "$3" ]; }

# ---- pipe: generate | process | sink, one role signalled -------------------------

# pipe_start DB SOURCE_ID RATE COUNT: the three roles joined by FIFOs; pids in PG PP PS
pipe_start() {
	local db=$1 id=$2 rate=$3 count=$4
	rm -f "$WORK/f1" "$WORK/f2"
	mkfifo "$WORK/f1" "$WORK/f2"
	"$SC" sink --db="$db" --stats-interval=0 --stats="$WORK/pipe-sink.stats" <"$WORK/f2" 2>>"$WORK/sink.log" &
	PS=$!
	"$SC" process --stats-interval=0 --stats="$WORK/pipe-process.stats" <"$WORK/f1" >"$WORK/f2" 2>>"$WORK/process.log" &
	PP=$!
	"$SC" generate --source=cpu --source-id="$id" --rate="$rate" --count="$count" \
		--stats-interval=0 --stats="$WORK/pipe-gen.stats" >"$WORK/f1" 2>>"$WORK/gen.log" &
	PG=$!
}

# pipe_case ROLE SIG: stop ROLE mid-stream; the others follow (EOF or a closed pipe)
pipe_case() {
	local role=$1 sig=$2 db="$WORK/pipe-$1-$2.db" n=3000 pid sent stored p
	rm -f "$WORK"/pipe-*.stats
	pipe_start "$db" "pipe-$role" 400 "$n"
	sleep 2
	case "$role" in
	generate) pid=$PG ;;
	process) pid=$PP ;;
	sink) pid=$PS ;;
	esac
	check_stop "pipe $role" "$pid" "$sig"
	for p in $PG $PP $PS; do
		[ "$p" = "$pid" ] && continue
		exit_within "$p" "$STOP_WITHIN" || { kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; }
	done
	stored=$(rows_of "$db" "pipe-$role")
	check "pipe $role SIG$sig: what was stored verifies clean ($stored rows)" "$SC" verify --db="$db"
	# Compared with what was sent, never with the sink's own count: the
	# generator's and the processor's "out" (records written into the next
	# pipe) and the sink's "in" (records it read, which a pipe cannot deliver
	# again, so every one must be stored).  A role stopped mid-stream drains
	# what it holds; what sat in the kernel pipe of a stopped reader is lost
	# to the pipe (the restart below fills it in).
	gsent=$(stat_final "$WORK/pipe-gen.stats" out)
	psent=$(stat_final "$WORK/pipe-process.stats" out)
	sread=$(stat_final "$WORK/pipe-sink.stats" in)
	case "$role" in
	generate) sent=$gsent what="the generator sent" ;; # the rest flows on to EOF
	process) sent=$psent what="the stopped processor sent" ;;
	sink) sent=$sread what="the stopped sink had read" ;;
	esac
	check_eq "pipe $role SIG$sig: every record $what is in the database" "${sent:-?}" "$stored"
	check "pipe $role SIG$sig: something was sent before the stop (${sent:-?})" test "${sent:-0}" -gt 0
	# (when the sink stops, the roles before it die of a closed pipe and
	# report no final figures)
	[ "$role" = sink ] ||
		check "pipe $role SIG$sig: no more stored ($stored) than the processor sent (${psent:-?}), nor than the generator sent (${gsent:-?})" \
			test "$stored" -le "${psent:-0}" -a "${psent:-0}" -le "${gsent:-0}"
	# restart: a new pipeline with the same source id fills in the rest (replays refused)
	pipe_start "$db" "pipe-$role" 0 "$n"
	for p in $PG $PP $PS; do exit_within "$p" 60 || kill -KILL "$p" 2>/dev/null; done
	check "pipe $role SIG$sig: after a restart verify --expect=$n is clean" "$SC" verify --db="$db" --expect="$n"
}

for role in generate process sink; do
	pipe_case "$role" TERM
	pipe_case "$role" INT
done

# A second signal exits at once: the sink is stopped (SIGSTOP), so the
# processor blocks writing into the full pipe and the first SIGTERM cannot
# complete its drain; the second ends it with 128+15.
db="$WORK/pipe-blocked.db"
pipe_start "$db" pipe-blocked 0 1000000
sleep 1
kill -STOP "$PS"
sleep 2
kill -TERM "$PP"
sleep 0.5
blocked=no
kill -0 "$PP" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$PP/stat")" != Z ] && blocked=yes
kill -TERM "$PP"
if exit_within "$PP" 5; then
	check_eq "pipe blocked process (still running after the first SIGTERM: $blocked): a second SIGTERM exits at once with 143" 143 "$RC"
else
	not_ok "pipe blocked process: a second SIGTERM exits at once"
	kill -KILL "$PP" 2>/dev/null
fi
kill -KILL "$PS" 2>/dev/null
kill -CONT "$PS" 2>/dev/null
wait "$PS" 2>/dev/null
exit_within "$PG" 5 || kill -KILL "$PG" 2>/dev/null # its reader is gone: EPIPE

# the same with SIGINT twice on the generator, blocked behind a stopped processor

rm -f "$WORK/f1"
mkfifo "$WORK/f1"
"$SC" process --stats-interval=0 <"$WORK/f1" >/dev/null 2>>"$WORK/process.log" &
PP=$!
"$SC" generate --source=sensor --rate=0 --count=1000000 --stats-interval=0 >"$WORK/f1" 2>>"$WORK/gen.log" &
PG=$!
sleep 1
kill -STOP "$PP"
sleep 2
kill -INT "$PG"
sleep 0.5
kill -INT "$PG"
if exit_within "$PG" 5; then
	check_eq "pipe blocked generate: a second SIGINT exits at once with 130" 130 "$RC"
else
	not_ok "pipe blocked generate: a second SIGINT exits at once"
	kill -KILL "$PG" 2>/dev/null
fi
kill -KILL "$PP" 2>/dev/null
kill -CONT "$PP" 2>/dev/null
wait "$PP" 2>/dev/null

# ---- kafka: the shared broker, a fresh namespace ------------------------------------

T=kafka
KAFKA_PORT=${KAFKA_PORT:-9092}
if ! timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$KAFKA_PORT" 2>/dev/null; then
	not_ok "kafka drain: no broker on 127.0.0.1:$KAFKA_PORT (scripts/brokers.sh start kafka)"
	finish
	exit
fi
B=(--broker="kafka://127.0.0.1:$KAFKA_PORT")
new_ns
db="$WORK/kafka.db"
n=3000
start_sink "$db" "${B[@]}"
start_process a "${B[@]}"
# generators started directly (not through a shell function) so that $! is streamctl
gen() {
	"$SC" generate --transport=kafka --namespace="$NS" "${B[@]}" --stats-interval=0 "$@" \
		2>>"$WORK/gen.log" &
	GPID=$!
}
gen --source=cpu --count="$n" --rate=250 --source-id=drain-cpu
gcpu=$GPID
gen --source=sensor --count="$n" --rate=250 --source-id=drain-sensor --stats="$WORK/gen-sensor.stats"
gsensor=$GPID

sleep 3
check_stop "kafka process" "${PROC_PIDS[a]}" TERM
unset 'PROC_PIDS[a]'
check "kafka process SIGTERM: what was stored verifies clean ($(rows_total "$db") rows)" "$SC" verify --db="$db"
start_process b "${B[@]}"

sleep 2
check_stop "kafka sink" "$SINK_PID" INT
SINK_PID=
check "kafka sink SIGINT: what was stored verifies clean ($(rows_total "$db") rows)" "$SC" verify --db="$db"
start_sink "$db" "${B[@]}"

sleep 2
check_stop "kafka generate" "$gsensor" TERM
k=$(stat_final "$WORK/gen-sensor.stats" out)
if wait_for 60 rows_at_least "$db" drain-sensor "${k:-1}"; then
	ok "kafka generate SIGTERM: all ${k:-?} sensor records it had sent are stored"
else
	not_ok "kafka generate SIGTERM: all ${k:-?} sensor records it had sent are stored ($(rows_of "$db" drain-sensor))" "$(show_logs)"
fi
check "kafka generate SIGTERM: what was stored verifies clean" "$SC" verify --db="$db"
# restart the stopped generator: it starts again at seq 0; the sink refuses what it has
gen --source=sensor --count="$n" --rate=0 --source-id=drain-sensor
GEN_PIDS=("$gcpu" "$GPID")
check "kafka: the generators finish" wait_gens
if wait_rows "$db" "$n" 120; then ok "kafka: every record stored after the three restarts"; else not_ok "kafka: every record stored ($(rows_total "$db") rows)" "$(show_logs)"; fi
check "kafka: processor and sink drain and exit 0" stop_all
check "kafka: verify --expect=$n is clean (the cpu source was never regenerated)" "$SC" verify --db="$db" --expect="$n"

# a second SIGTERM on a processor that cannot finish draining: its output
# pipe is full (the reader never reads), so the first SIGTERM leaves it
# blocked writing what it owes downstream; the second one exits at once
mkfifo "$WORK/full"
sleep 120 <"$WORK/full" &
reader=$!
"$SC" generate --source=cpu --rate=0 --count=2000000 --stats-interval=0 2>/dev/null |
	"$SC" process --stats-interval=0 >"$WORK/full" 2>>"$WORK/blocked.log" &
p=$!
sleep 2
kill -TERM "$p"
sleep 1
if kill -0 "$p" 2>/dev/null; then
	ok "a processor with a full output pipe is still draining after one SIGTERM"
else
	not_ok "a processor with a full output pipe is still draining after one SIGTERM" "$(cat "$WORK/blocked.log")"
fi
kill -TERM "$p" 2>/dev/null
if exit_within "$p" 3; then
	check_eq "a second SIGTERM exits at once with 143" 143 "$RC"
else
	not_ok "a second SIGTERM exits at once"
	kill -KILL "$p" 2>/dev/null
fi
kill "$reader" 2>/dev/null
wait "$reader" 2>/dev/null

# and a single SIGTERM still ends it within a bounded time (its start-up gives up)
"$SC" process --transport=kafka --broker=kafka://127.0.0.1:1 --namespace="$NS" 2>>"$WORK/dead.log" &
p=$!
sleep 1
kill -TERM "$p"
if exit_within "$p" "$STOP_WITHIN"; then
	ok "kafka process with a dead broker: one SIGTERM ends it within $STOP_WITHIN s (status $RC)"
else
	not_ok "kafka process with a dead broker: one SIGTERM ends it within $STOP_WITHIN s"
	kill -KILL "$p" 2>/dev/null
fi
finish
