#!/usr/bin/env bash
# The roles' error paths, reached with the fault transport (transports/fault.c),
# which wraps a real backend and fails or delays its n-th publish, poll,
# commit or flush, or drops the connection after n calls.  Over the pipe,
# and over Kafka (the shared broker on 127.0.0.1:${KAFKA_PORT:-9092}, a fresh
# namespace): whatever fails, a role either retries or exits with a clear
# one-line error and a sysexits code, commits nothing it has not made safe,
# and after a restart without faults verify --expect=N is clean.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pipeline.sh.inc"

# ---- pipe -----------------------------------------------------------------------

check_exit 74 "generate: a failed publish exits 74" \
	"$SC" generate --transport=fault -X fault.inner=pipe -X fault.publish=5 --count=10 --rate=0 --stats-interval=0
check_grep "generate: the error names the injected failure" "injected publish failure .call 5" "$WORK/last.out"
check_exit 65 "an unknown fault key exits 65" "$SC" generate --transport=fault -X fault.inner=pipe -X fault.bogus=1
check_grep "the unknown key is named" "unknown key 'fault.bogus'" "$WORK/last.out"
check_exit 65 "fault without an inner backend exits 65" "$SC" generate --transport=fault --count=1
check_grep "the missing inner backend is named" "fault.inner=NAME is required" "$WORK/last.out"

# a processor whose 3rd publish fails re-sends its batch: nothing is lost, the
# sink refuses the replays, and verify --expect is clean
db="$WORK/pipe-retry.db"
n=500
"$SC" generate --source=cpu --source-id=f-pipe --count=$n --rate=0 --stats-interval=0 2>>"$WORK/gen.log" |
	"$SC" process --transport=fault -X fault.inner=pipe -X fault.publish=3 --stats-interval=0 2>"$WORK/process.log" |
	"$SC" sink --db="$db" --stats-interval=0 2>>"$WORK/sink.log"
rcs="${PIPESTATUS[*]}"
check_eq "pipe: a failed publish in process is retried (exit codes)" "0 0 0" "$rcs"
check_grep "pipe: the processor says it re-sends" "re-sending the batch" "$WORK/process.log"
check "pipe: every record stored once after the retried publish" "$SC" verify --db="$db" --expect=$n

# a slow flush and a slow poll change nothing but time
db="$WORK/pipe-delay.db"
"$SC" generate --source=cpu --source-id=f-delay --count=200 --rate=0 --stats-interval=0 \
	--transport=fault -X fault.inner=pipe -X fault.flush=1:delay=300 2>>"$WORK/gen.log" |
	"$SC" process --stats-interval=0 2>>"$WORK/process.log" |
	"$SC" sink --transport=fault -X fault.inner=pipe -X fault.poll=1:delay=500 --db="$db" \
		--stats-interval=0 2>>"$WORK/sink.log"
check_eq "pipe: delayed flush and poll (exit codes)" "0 0 0" "${PIPESTATUS[*]}"
check "pipe: delayed flush and poll lose nothing" "$SC" verify --db="$db" --expect=200

# ---- kafka ----------------------------------------------------------------------

KAFKA_PORT=${KAFKA_PORT:-9092}
if ! timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$KAFKA_PORT" 2>/dev/null; then
	not_ok "kafka faults: no broker on 127.0.0.1:$KAFKA_PORT (scripts/brokers.sh start kafka)"
	finish
	exit
fi
B=--broker="kafka://127.0.0.1:$KAFKA_PORT"
T=kafka
new_ns
db="$WORK/kafka.db"
n=400
run_gen cpu "$n" "$B" --rate=0 --source-id=f-kafka
check_eq "kafka: the generator sent $n" 0 "$?"

# a sink whose 2nd commit fails exits with an error; what it did not commit
# comes back to its restarted group, and the rows are not doubled
T=fault
start_process a "$B" -X fault.inner=kafka
"$SC" sink --transport=fault -X fault.inner=kafka -X fault.commit=2 --namespace="$NS" "$B" \
	--db="$db" --stats-interval=0 --idle-exit=20 2>"$WORK/sink-fault.log"
rc=$?
check "kafka: a sink whose commit fails exits non-zero (got $rc)" test "$rc" -ne 0
check_grep "kafka: the sink names the injected commit failure" "injected commit failure" "$WORK/sink-fault.log"
check "kafka: what the failing sink stored verifies clean" "$SC" verify --db="$db"
T=kafka
start_sink "$db" "$B"
if wait_rows "$db" "$n" 60; then ok "kafka: a restarted sink stores the rest"; else not_ok "kafka: a restarted sink stores the rest ($(rows_total "$db") rows)" "$(show_logs)"; fi

# a processor that loses its connection after 100 calls exits; a restarted
# one carries on from the last commit, and nothing is missing or doubled
stop_pid "${PROC_PIDS[a]}"
unset 'PROC_PIDS[a]'
run_gen cpu "$n" "$B" --rate=0 --source-id=f-kafka2
"$SC" process --transport=fault -X fault.inner=kafka -X fault.drop=100 --namespace="$NS" "$B" \
	--stats-interval=0 --idle-exit=20 2>"$WORK/process-drop.log"
rc=$?
check "kafka: a processor whose connection drops exits non-zero (got $rc)" test "$rc" -ne 0
check_grep "kafka: the processor names the lost connection" "injected connection loss" "$WORK/process-drop.log"
start_process b "$B"
if wait_rows "$db" "$n" 90 2; then ok "kafka: after the restarts both sources are complete"; else not_ok "kafka: after the restarts both sources are complete ($(rows_total "$db") rows)" "$(show_logs)"; fi
check "kafka: processor and sink drain and exit 0" stop_all
check "kafka: verify --expect=$n is clean for both sources" "$SC" verify --db="$db" --expect="$n"
finish
