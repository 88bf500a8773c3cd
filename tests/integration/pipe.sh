#!/usr/bin/env bash
# The whole pipeline over the pipe transport: generate | process | sink, verify.
. "$(dirname "$0")/lib.sh"

# run_pipeline DB CODEC SOURCE COUNT
run_pipeline() {
	"$SC" generate --transport=pipe --source="$3" --count="$4" --rate=0 --codec="$2" --stats-interval=0 2>"$WORK/gen.err" |
		"$SC" process --transport=pipe --codec="$2" --stats-interval=0 2>"$WORK/proc.err" |
		"$SC" sink --transport=pipe --db="$1" --stats-interval=0 2>"$WORK/sink.err"
}

for codec in json msgpack; do
	for source in cpu sensor; do
		db="$WORK/$source-$codec.db"
		n=1000
		check "pipe $source/$codec: pipeline exits 0" run_pipeline "$db" "$codec" "$source" "$n"
		check "pipe $source/$codec: verify --expect=$n is clean" "$SC" verify --db="$db" --expect=$n
	done
done

# paced: no record leaves before its intended send time (one sent early
# would make every latency measured from the intended time read low), and
# the intended times keep the schedule; at 10 kHz the generator wakes once
# per --tick (1 ms) and sends what is due
paced_case() { # LABEL RATE COUNT PERIOD_NS
	local label=$1 rate=$2 n=$3 period=$4
	db="$WORK/paced-$rate.db"
	paced() {
		"$SC" generate --source=cpu --count="$n" --rate="$rate" --stats-interval=0 2>/dev/null |
			"$SC" process --stats-interval=0 2>/dev/null |
			"$SC" sink --db="$db" --stats-interval=0 2>/dev/null
	}
	check "pipe cpu at $label: pipeline exits 0" paced
	check "pipe cpu at $label: verify --expect=$n is clean" "$SC" verify --db="$db" --expect="$n"
	check_eq "at $label no record was sent before its intended time" 0 \
		"$(sql "$db" "SELECT COUNT(*) FROM cpu_stats WHERE sent_ns < intended_ns")"
	check_eq "at $label the intended times are $period ns apart" $((n - 1)) \
		"$(sql "$db" "SELECT (MAX(intended_ns) - MIN(intended_ns)) / $period FROM cpu_stats")"
}
paced_case "1 kHz" 1000 1500 1000000
paced_case "10 kHz, 1 ms tick" 10000 3000 100000

db="$WORK/cpu-json.db"
sqlite3 "$db" "DELETE FROM cpu_stats WHERE seq = 417"
check_exit 1 "verify exits 1 after a row is deleted" "$SC" verify --db="$db" --expect=1000
check_grep "verify names the gap" "417" "$WORK/last.out"

# both generators into one processor and one sink
db="$WORK/both.db"
both() {
	{ "$SC" generate --source=cpu --count=300 --rate=0 --source-id=cpu-a --stats-interval=0 &&
	  "$SC" generate --source=sensor --count=300 --rate=0 --source-id=sensor-a --stats-interval=0; } 2>/dev/null |
		"$SC" process --stats-interval=0 2>/dev/null | "$SC" sink --db="$db" --stats-interval=0 2>/dev/null
}
check "cpu and sensor through one processor and sink" both
check "verify is clean for both sources" "$SC" verify --db="$db" --expect=300
check_eq "two sources stored" 2 "$(sql "$db" "SELECT (SELECT COUNT(DISTINCT source) FROM cpu_stats) + (SELECT COUNT(DISTINCT source) FROM sensor_features)")"

# a malformed frame in the middle becomes a dead letter; the stream goes on
db="$WORK/dlq.db"
"$SC" generate --source=cpu --count=200 --rate=0 --stats-interval=0 >"$WORK/a.bin" 2>/dev/null
"$SC" generate --source=cpu --count=200 --rate=0 --stats-interval=0 --source-id=cpu-b >"$WORK/b.bin" 2>/dev/null
{ cat "$WORK/a.bin"; printf 'garbage that is not a frame'; cat "$WORK/b.bin"; } >"$WORK/mixed.bin"
dlq() { "$SC" process --stats-interval=0 <"$WORK/mixed.bin" 2>/dev/null | "$SC" sink --db="$db" --stats-interval=0 2>/dev/null; }
check "pipeline with a malformed frame exits 0" dlq
check "the good records are all stored" "$SC" verify --db="$db" --expect=200
check_eq "one dead-letter row" 1 "$(sql "$db" "SELECT COUNT(*) FROM deadletters")"
check_grep "dead letter carries the reason" "bad frame header" <(sql "$db" "SELECT reason FROM deadletters")

# a well-framed message with an undecodable payload is dead-lettered by process
db="$WORK/dlq2.db"
undecodable() {
	{ cat "$WORK/a.bin"; printf 'SC\000\000\000\000\000\011{"v":1,"k'; } |
		"$SC" process --stats-interval=0 2>/dev/null | "$SC" sink --db="$db" --stats-interval=0 2>/dev/null
}
check "pipeline with an undecodable payload exits 0" undecodable
check_eq "undecodable payload is one dead letter" 1 "$(sql "$db" "SELECT COUNT(*) FROM deadletters WHERE stage='process'")"
check_eq "its bytes are kept" '{"v":1,"k' "$(sql "$db" "SELECT CAST(payload AS TEXT) FROM deadletters")"

# replaying the same input refuses duplicates instead of adding rows
db="$WORK/replay.db"
replay() { "$SC" process --stats-interval=0 <"$WORK/a.bin" 2>/dev/null | "$SC" sink --db="$db" --stats-interval=0 2>/dev/null; }
replay
check "a replayed stream is accepted" replay
check_eq "no second row after a replay" 200 "$(sql "$db" "SELECT COUNT(*) FROM cpu_stats")"
check_eq "duplicates are counted" 200 "$(sql "$db" "SELECT SUM(duplicates) FROM sink_sources")"
check "verify is still clean after the replay" "$SC" verify --db="$db" --expect=200

# rate control: 20 messages at 40 Hz take about half a second, not zero
start=$(date +%s%N)
"$SC" generate --source=cpu --count=20 --rate=40 --stats-interval=0 2>/dev/null >/dev/null
took=$((($(date +%s%N) - start) / 1000000))
check "--rate paces the generator (20 at 40 Hz took ${took} ms)" test "$took" -ge 400

# SIGTERM drains: a generator without --count stops cleanly on SIGTERM
"$SC" generate --source=cpu --rate=50 --stats-interval=0 >"$WORK/drain.bin" 2>"$WORK/drain.err" &
pid=$!
sleep 1
kill -TERM "$pid"
wait "$pid"
check_eq "generate exits 0 on SIGTERM" 0 "$?"
db="$WORK/drain.db"
"$SC" process --stats-interval=0 <"$WORK/drain.bin" 2>/dev/null | "$SC" sink --db="$db" --stats-interval=0 2>/dev/null
n=$(sql "$db" "SELECT COUNT(*) FROM cpu_stats")
check "every drained message is complete (${n} rows, verify clean)" "$SC" verify --db="$db" --expect="$n"
finish
