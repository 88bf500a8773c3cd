#!/usr/bin/env bash
# scripts/bench/mqtt-cpu.sh - the CPU time that generate -> process -> sink
# over MQTT QoS 1 costs per record, per role and for the broker (issue 16:
# can this machine carry 10,000 records/s at all?).
#
#   scripts/bench/mqtt-cpu.sh [RATE [SECONDS [RUNS]]]     (5000 10 3)
#
# Each run: sink and processor started, then `generate --rate=RATE
# --duration=SECONDS` (cpu source, JSON, QoS 1); CPU seconds of each role
# (user + system, /usr/bin/time) and of the Mosquitto process listening on
# MQTT_PORT (/proc/PID/stat, over the run) divided by the records stored.
# At a rate the pipeline sustains this is the cost per record; the sum over
# the four processes times the rate is the cores the pipeline needs.
#
# Environment: STREAMCTL (binary; a space-separated list runs them
# interleaved, A B A B ..., for a before/after comparison), MQTT_PORT (1883),
# MQTT_CPU_CSV (bench/results/mqtt-cpu.csv).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RATE=${1:-5000} DUR=${2:-10} RUNS=${3:-3}
BINS=${STREAMCTL:-$ROOT/build/streamctl}
PORT=${MQTT_PORT:-1883}
CSV=${MQTT_CPU_CSV:-$ROOT/bench/results/mqtt-cpu.csv}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mqtt-cpu.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$(dirname "$CSV")"
[ -s "$CSV" ] || echo "date,binary,rev,rate,seconds,run,load,rows,e2e_p50_ms,e2e_p99_ms,gen_us,proc_us,sink_us,broker_us,total_us,cores_needed" >"$CSV"
BPID=$(ss -ltnpH "sport = :$PORT" | sed -n 's/.*"mosquitto",pid=\([0-9]*\).*/\1/p' | head -n 1)
[ -n "$BPID" ] || { echo "mqtt-cpu: no mosquitto listening on port $PORT" >&2; exit 1; }
ticks() { awk '{ print $14 + $15 }' "/proc/$BPID/stat"; }
HZ=$(getconf CLK_TCK)

run_one() { # BIN RUN
	local sc=$1 i=$2 ns d load b0 b1 rev
	ns=mqcpu-$(date +%s%N | tail -c 10)-$$
	d=$WORK/$ns
	mkdir -p "$d"
	load=$(cut -d' ' -f1 /proc/loadavg)
	rev=$(basename "$sc" | sed "s/^sc-//")  # binaries named sc-<rev> in before/after runs
	export STREAMCTL_STATE_DIR=$d/state
	local common=(--transport=mqtt --broker="mqtt://127.0.0.1:$PORT" --namespace="$ns"
		--progress=never --stats=/dev/null)
	b0=$(ticks)
	/usr/bin/time -f "%U %S" -o "$d/sink.cpu" "$sc" sink "${common[@]}" --client-id="$ns-sink" \
		--db="$d/s.db" --idle-exit=3 2>"$d/sink.err" &
	local sp=$!
	/usr/bin/time -f "%U %S" -o "$d/proc.cpu" "$sc" process "${common[@]}" \
		--client-id="$ns-proc" --idle-exit=3 2>"$d/proc.err" &
	local pp=$!
	sleep 1.5
	/usr/bin/time -f "%U %S" -o "$d/gen.cpu" "$sc" generate "${common[@]}" --client-id="$ns-gen" \
		--source=cpu --rate="$RATE" --duration="$DUR" 2>"$d/gen.err"
	wait "$pp" "$sp"
	b1=$(ticks)
	python3 - "$d" "$sc" "$rev" "$RATE" "$DUR" "$i" "$load" "$(((b1 - b0)))" "$HZ" >>"$CSV" <<'PY'
import datetime, sqlite3, sys
d, sc, rev, rate, dur, run, load, bt, hz = sys.argv[1:]
rows = sqlite3.connect(d + "/s.db").execute(
    "SELECT stored_ns - intended_ns FROM cpu_stats ORDER BY 1").fetchall()
n = len(rows)
e2e = [r[0] / 1e6 for r in rows]
def pct(f):
    return e2e[min(n - 1, int(f * n))] if n else 0.0
def cpu(role):
    u, s = open("%s/%s.cpu" % (d, role)).read().split()[-2:]
    return float(u) + float(s)
per = [cpu(r) * 1e6 / n if n else 0 for r in ("gen", "proc", "sink")]
per.append(int(bt) / int(hz) * 1e6 / n if n else 0)
total = sum(per)
print(",".join([datetime.datetime.utcnow().isoformat(timespec="seconds"), sc, rev, rate, dur, run,
                load, str(n), "%.2f" % pct(.5), "%.2f" % pct(.99)] +
               ["%.1f" % v for v in per] + ["%.1f" % total, "%.2f" % (total * float(rate) / 1e6)]))
PY
	tail -n 1 "$CSV"
}

for i in $(seq 1 "$RUNS"); do
	for sc in $BINS; do
		run_one "$sc" "$i"
	done
done
