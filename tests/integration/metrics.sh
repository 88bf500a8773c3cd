#!/usr/bin/env bash
# --metrics: Prometheus /metrics with counters that move, /healthz, /readyz,
# and clear errors for a bad or busy address.
. "$(dirname "$0")/lib.sh"

port=$((20000 + RANDOM % 20000))
db="$WORK/m.db"
"$SC" generate --source=cpu --rate=100 --duration=6 --stats-interval=0 2>/dev/null |
	"$SC" process --stats-interval=0 2>/dev/null |
	"$SC" sink --db="$db" --metrics=127.0.0.1:$port --stats-interval=0 2>"$WORK/sink.err" &
pipeline=$!
scrape() { curl -s --max-time 2 "http://127.0.0.1:$port/metrics"; }
stored() { scrape | sed -n 's/^streamctl_stored_total{role="sink"} \([0-9]*\)$/\1/p'; }
wait_for 10 curl -sf --max-time 1 "http://127.0.0.1:$port/healthz"
check "/healthz answers 200" curl -sf --max-time 2 "http://127.0.0.1:$port/healthz"
check "/readyz answers 200 while the sink works" curl -sf --max-time 2 "http://127.0.0.1:$port/readyz"
scrape >"$WORK/m1.txt"
a=$(stored)
sleep 1.5
b=$(stored)
check "/metrics counts stored rows and the counter moves (${a:-?} -> ${b:-?})" test "${b:-0}" -gt "${a:-0}"
check_grep "/metrics has Prometheus type lines" "^# TYPE streamctl_stored_total counter$" "$WORK/m1.txt"
check_grep "/metrics has latency quantiles" 'streamctl_latency_seconds\{role="sink",kind="e2e",quantile="0.99"\}' "$WORK/m1.txt"
check_grep "/metrics has the consumer lag gauge" '^streamctl_consumer_lag\{role="sink"\}' "$WORK/m1.txt"
check_eq "an unknown path is 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/nope")"
check_eq "POST is 405" 405 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/metrics")"
check_exit 74 "a busy metrics port is refused" "$SC" sink --db="$WORK/other.db" --metrics=127.0.0.1:$port
check_grep "the busy port is named" "metrics: cannot listen on 127.0.0.1:$port: address in use" "$WORK/last.out"
check_exit 65 "a malformed metrics address is refused" "$SC" sink --db="$WORK/other.db" --metrics=nonsense
check_grep "the malformed address is named" "metrics: invalid listen address 'nonsense'" "$WORK/last.out"
wait "$pipeline"
check_eq "the pipeline ends cleanly" 0 "$?"
check "the stored rows verify clean" "$SC" verify --db="$db"
finish
