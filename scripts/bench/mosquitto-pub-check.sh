#!/usr/bin/env bash
# scripts/bench/mosquitto-pub-check.sh - is mosquitto_pub really faster at
# QoS 1 than at QoS 0 (REPORT section 6, "two anomalies")?  Runs
# `mosquitto_pub -l` at QoS 0 and 1, interleaved, against a private
# Mosquitto that publishes its $SYS counters every second, and records per
# run: wall and CPU seconds, the PUBLISH packets the broker counted as
# received ($SYS/broker/publish/messages/received, read before and after),
# and the client's system calls (strace -c -f, in a separate run per QoS, so
# that strace's cost stays out of the timings).  Nobody subscribes, as in
# scripts/bench/mqtt-publisher.sh.
#
#   scripts/bench/mosquitto-pub-check.sh [N [RUNS]]     (100000 3)
#
# Output: bench/results/mosquitto-pub-check.csv (one row per run) and
# bench/results/raw/mosquitto-pub-strace-q{0,1}.txt.
set -u -o pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-100000} RUNS=${2:-3}
PORT=${MOSQ_CHECK_PORT:-18839}
SC=${STREAMCTL:-$ROOT/build/streamctl}
CSV=$ROOT/bench/results/mosquitto-pub-check.csv
RAW=$ROOT/bench/results/raw
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mosq-check.XXXXXX")
BPID=
cleanup() {
	[ -n "$BPID" ] && kill "$BPID" 2>/dev/null && wait "$BPID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
die() {
	echo "mosquitto-pub-check: $*" >&2
	exit 1
}
command -v strace >/dev/null || die "strace is not installed (apt-get install strace)"

cat >"$WORK/m.conf" <<EOF
listener $PORT 127.0.0.1
allow_anonymous true
persistence false
sys_interval 1
max_queued_messages 1000000
set_tcp_nodelay true
EOF
mosquitto -c "$WORK/m.conf" >"$WORK/m.log" 2>&1 &
BPID=$!
for _ in $(seq 50); do
	timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null && break
	sleep 0.1
done
kill -0 "$BPID" 2>/dev/null || die "private mosquitto did not start: $(tail -n 1 "$WORK/m.log")"

"$SC" generate --count="$N" --rate=0 --stats=/dev/null --progress=never --source=cpu |
	python3 "$ROOT/scripts/bench/deframe.py" >"$WORK/payloads" || die "could not make payloads"
S=$(awk '{ s += length($0) } END { printf "%d", NR ? s / NR + 0.5 : 0 }' "$WORK/payloads")

# The broker's count of PUBLISH packets received; $SYS is published every
# second, so wait for a value newer than the last publish.
received() {
	sleep 2.2
	mosquitto_sub -p "$PORT" -t '$SYS/broker/publish/messages/received' -C 1 -W 5 ||
		die "no \$SYS counter from the private broker"
}

[ -s "$CSV" ] || echo "date,host,git_rev,load1,tool,qos,run,n,payload_bytes,wall_s,user_s,sys_s,rate_wall,broker_received,cpu_us_per_msg" >"$CSV"
rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
for ((i = 1; i <= RUNS; i++)); do
	for q in 0 1; do
		before=$(received)
		load=$(cut -d' ' -f1 /proc/loadavg)
		/usr/bin/time -f '%e %U %S' -o "$WORK/t" \
			mosquitto_pub -p "$PORT" -t "check/q$q" -q "$q" -l <"$WORK/payloads" ||
			die "mosquitto_pub failed at QoS $q"
		after=$(received)
		read -r wall user sys <"$WORK/t"
		awk -v d="$(date -u +%FT%TZ)" -v h="$(hostname)" -v r="$rev" -v l="$load" -v q="$q" \
			-v i="$i" -v n="$N" -v s="$S" -v w="$wall" -v u="$user" -v y="$sys" \
			-v got="$((after - before))" 'BEGIN {
			printf "%s,%s,%s,%s,mosquitto_pub,%s,%s,%s,%s,%s,%s,%s,%.0f,%s,%.2f\n",
				d, h, r, l, q, i, n, s, w, u, y, n / w, got, (u + y) * 1e6 / n }' >>"$CSV"
		tail -n 1 "$CSV"
	done
done
mkdir -p "$RAW"
for q in 0 1; do
	strace -c -f -o "$RAW/mosquitto-pub-strace-q$q.txt" \
		mosquitto_pub -p "$PORT" -t "check/q$q" -q "$q" -l <"$WORK/payloads" ||
		die "mosquitto_pub under strace failed at QoS $q"
	sed -i "1i # mosquitto_pub -q $q -l, $N records of about $S bytes, private Mosquitto 2.0.11, $(date -u +%FT%TZ), rev $rev: strace -c -f" \
		"$RAW/mosquitto-pub-strace-q$q.txt"
done
