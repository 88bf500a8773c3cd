#!/usr/bin/env bash
# scripts/bench/mqtt-stalls.sh - generate -> process -> sink over MQTT QoS 1
# at a fixed rate, RUNS times, per-stage latency and stalls from the sink
# database (issue 16: the one-second stalls).
#
#   scripts/bench/mqtt-stalls.sh [RATE [SECONDS [RUNS]]]     (1000 60 5)
#
# Environment: STREAMCTL (binary, default build/streamctl; a space-separated
# list runs them interleaved, A B A B ..., for a before/after comparison),
# MQTT_PORT (1883: use a private broker when the machine is shared),
# MQTT_STALLS_CSV (bench/results/mqtt-stalls.csv).  One CSV row per run:
# e2e (stored - intended), gen->proc (processed - sent), proc->sink
# (stored - processed) p50/p99/max in ms, stalls = gaps > 50 / 100 ms
# between consecutive stored rows, gaps of 0.9-1.1 s (the paho send
# thread's one-second sleep), the load average before the run.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RATE=${1:-1000} DUR=${2:-60} RUNS=${3:-5}
BINS=${STREAMCTL:-$ROOT/build/streamctl}
PORT=${MQTT_PORT:-1883}
CSV=${MQTT_STALLS_CSV:-$ROOT/bench/results/mqtt-stalls.csv}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mqtt-stalls.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$(dirname "$CSV")"
[ -s "$CSV" ] || echo "date,binary,rate,seconds,run,load,rows,e2e_p50,e2e_p99,e2e_max,genproc_p50,genproc_p99,genproc_max,procsink_p50,procsink_p99,procsink_max,stalls50,stalls100,gaps_1s,max_gap" >"$CSV"

run_one() { # BIN RUN
	local sc=$1 i=$2 ns d load sp pp
	ns=stalls-$(date +%s%N | tail -c 10)-$$
	d=$WORK/$ns
	mkdir -p "$d"
	load=$(cut -d' ' -f1 /proc/loadavg)
	export STREAMCTL_STATE_DIR=$d/state
	"$sc" sink --transport=mqtt --broker="mqtt://127.0.0.1:$PORT" --namespace="$ns" \
		--client-id="$ns-sink" --db="$d/s.db" --idle-exit=4 --progress=never \
		--stats=/dev/null 2>"$d/sink.err" &
	sp=$!
	"$sc" process --transport=mqtt --broker="mqtt://127.0.0.1:$PORT" --namespace="$ns" \
		--client-id="$ns-proc" --idle-exit=4 --progress=never --stats=/dev/null \
		2>"$d/proc.err" &
	pp=$!
	sleep 1.5
	"$sc" generate --transport=mqtt --broker="mqtt://127.0.0.1:$PORT" --namespace="$ns" \
		--client-id="$ns-gen" --source=cpu --rate="$RATE" --duration="$DUR" \
		--progress=never --stats=/dev/null 2>"$d/gen.err"
	wait "$pp" "$sp"
	python3 - "$d/s.db" "$sc" "$RATE" "$DUR" "$i" "$load" >>"$CSV" <<'PY'
import datetime, sqlite3, sys
db, sc, rate, dur, run, load = sys.argv[1:]
rows = sqlite3.connect(db).execute(
    "SELECT intended_ns, sent_ns, processed_ns, stored_ns FROM cpu_stats ORDER BY stored_ns").fetchall()
def pct(v, f):
    v = sorted(v)
    return v[min(len(v) - 1, int(f * len(v)))] if v else 0.0
def three(v):
    return ["%.2f" % pct(v, .5), "%.2f" % pct(v, .99), "%.2f" % (max(v) if v else 0)]
gaps = [(b[3] - a[3]) / 1e6 for a, b in zip(rows, rows[1:])]
out = [datetime.datetime.utcnow().isoformat(timespec="seconds"), sc, rate, dur, run, load, str(len(rows))]
out += three([(r[3] - r[0]) / 1e6 for r in rows])
out += three([(r[2] - r[1]) / 1e6 for r in rows])
out += three([(r[3] - r[2]) / 1e6 for r in rows])
out += [str(sum(g > 50 for g in gaps)), str(sum(g > 100 for g in gaps)),
        str(sum(900 <= g <= 1100 for g in gaps)), "%.1f" % (max(gaps) if gaps else 0)]
print(",".join(out))
PY
	tail -n 1 "$CSV"
}

for i in $(seq 1 "$RUNS"); do
	for sc in $BINS; do
		run_one "$sc" "$i"
	done
done
