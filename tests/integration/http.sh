#!/usr/bin/env bash
# The Sensor Logger HTTP ingest: curl POSTs pushes to
#   generate --source=http | process | sink
# checks the HTTP codes, drains on SIGTERM and verifies the rows.
. "$(dirname "$0")/lib.sh"
DATA=$(cd "$(dirname "$0")/../data" && pwd)
SAMPLE=$DATA/sensorlogger-push.json

# start_ingest ERRFILE ARGS...: start `generate --source=http` on a free port in
# the background (stdout as the caller redirected it), set INGEST (pid) and PORT.
start_ingest() {
	local errf=$1
	shift
	"$SC" generate --source=http --listen=127.0.0.1:0 --transport=pipe --stats-interval=0 \
		--progress=never "$@" 2>"$errf" &
	INGEST=$!
	PORT=
	wait_for 10 grep -q 'listening on http://127.0.0.1:[0-9]*/' "$errf" || return 1
	PORT=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$errf" | head -n 1)
	[ -n "$PORT" ]
}

# post FILE [PATH]: POST FILE as the app does; prints the HTTP status, the reply goes to $WORK/reply.
post() {
	curl -s -o "$WORK/reply" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		--data-binary "@$1" "http://127.0.0.1:$PORT${2:-/}"
}

# push_file N: the sample with messageId N
push_file() {
	sed "s/\"messageId\": 1,/\"messageId\": $1,/" "$SAMPLE" >"$WORK/push-$1.json"
	echo "$WORK/push-$1.json"
}

# ---- the pipeline: ingest | process | sink ----------------------------------------
db="$WORK/http.db"
mkfifo "$WORK/raw"
"$SC" process --transport=pipe --stats-interval=0 --progress=never <"$WORK/raw" 2>"$WORK/proc.err" |
	"$SC" sink --transport=pipe --db="$db" --stats-interval=0 --progress=never 2>"$WORK/sink.err" &
DOWNSTREAM=$!
if ! start_ingest "$WORK/gen.err" --max-msg-bytes=8192 >"$WORK/raw"; then
	not_ok "ingest starts and prints its address" "$(cat "$WORK/gen.err")"
	kill "$INGEST" 2>/dev/null
	wait
	finish
	exit
fi
ok "ingest listens on 127.0.0.1:$PORT"

check_eq "GET /healthz answers 200" 200 \
	"$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")"

good=0
for i in 1 2 3 4; do
	path=/
	[ "$i" -eq 3 ] && path=/data
	code=$(post "$(push_file "$i")" "$path")
	check_eq "push $i to $path answered 200" 200 "$code"
	check_eq "push $i got seq $good" "{\"ok\":true,\"seq\":$good}" "$(cat "$WORK/reply")"
	good=$((good + 1))
done

printf '{"messageId": 9, "sessionId": "s",' >"$WORK/trunc.json"
check_eq "truncated JSON answered 400" 400 "$(post "$WORK/trunc.json")"
check_grep "400 reply is a JSON error" '^\{"error":"' "$WORK/reply"

grep -v '"deviceId"' "$SAMPLE" >"$WORK/nodev.json"
check_eq "push without deviceId answered 400" 400 "$(post "$WORK/nodev.json")"
check_grep "the reply names deviceId" "field 'deviceId': missing" "$WORK/reply"

sed 's/"time": 1698422422200000000/"time": "yesterday"/' "$SAMPLE" >"$WORK/badtype.json"
check_eq "push with a string time answered 400" 400 "$(post "$WORK/badtype.json")"
check_grep "the reply names the field" "payload\[7\]\.time': expected integer" "$WORK/reply"

{ printf '{"messageId":1,"sessionId":"s","deviceId":"d","payload":[],"pad":"'
  head -c 9000 /dev/zero | tr '\0' x
  printf '"}'; } >"$WORK/big.json"
check_eq "push over --max-msg-bytes answered 413" 413 "$(post "$WORK/big.json")"

check_eq "GET / answered 405" 405 \
	"$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/")"

printf '{"messageId": 5, "sessionId": "c3b5a0d2-7f0e-4d55-9a51-2f6c0c8e7b11", "deviceId": "a7e4c0f2-19b3-4a7c-8f0d-5e2b9c1d3f4a", "payload": []}' >"$WORK/empty.json"
check_eq "push with an empty payload answered 200" 200 "$(post "$WORK/empty.json")"
check_eq "the empty push got seq $good" "{\"ok\":true,\"seq\":$good}" "$(cat "$WORK/reply")"
good=$((good + 1))

code=$(post "$(push_file 6)")
check_eq "a push after the refused ones answered 200" 200 "$code"
check_eq "refused pushes used no seq" "{\"ok\":true,\"seq\":$good}" "$(cat "$WORK/reply")"
good=$((good + 1))

"$SC" generate --source=http --listen=127.0.0.1:"$PORT" --transport=pipe --stats-interval=0 \
	>/dev/null 2>"$WORK/busy.err"
check_eq "a second ingest on the same port fails" 1 "$([ $? -ne 0 ] && echo 1 || echo 0)"
check_grep "it names the busy address" "http: cannot listen on 127.0.0.1:$PORT: address in use" \
	"$WORK/busy.err"

kill -TERM "$INGEST"
wait "$INGEST"
check_eq "ingest exits 0 on SIGTERM" 0 "$?"
check_grep "ingest reports its pushes" "http: $good pushes accepted, 4 refused, 0 failed" \
	"$WORK/gen.err"
wait "$DOWNSTREAM"
check_eq "process | sink end with the ingest" 0 "$?"
check_eq "every accepted push is a sensor_features row" "$good" \
	"$(sql "$db" "SELECT COUNT(*) FROM sensor_features")"
check_eq "rows carry the deviceId as source" "a7e4c0f2-19b3-4a7c-8f0d-5e2b9c1d3f4a" \
	"$(sql "$db" "SELECT DISTINCT source FROM sensor_features")"
check "verify --expect=$good is clean" "$SC" verify --db="$db" --expect="$good"

# ---- --count: the ingest stops by itself once N pushes are safe -----------------------
if start_ingest "$WORK/count.err" --count=2 >"$WORK/count.bin"; then
	check_eq "count: first push answered 200" 200 "$(post "$(push_file 1)")"
	check_eq "count: second push answered 200" 200 "$(post "$(push_file 2)")"
	# a watchdog so a missed stop fails the check instead of hanging the suite
	(sleep 15 && kill -KILL "$INGEST" 2>/dev/null) &
	watchdog=$!
	wait "$INGEST"
	check_eq "count: ingest exits 0 by itself after --count=2 pushes" 0 "$?"
	kill "$watchdog" 2>/dev/null
	wait "$watchdog" 2>/dev/null
	db="$WORK/count.db"
	"$SC" process --stats-interval=0 <"$WORK/count.bin" 2>/dev/null |
		"$SC" sink --db="$db" --stats-interval=0 2>/dev/null
	check "count: both pushes stored, verify clean" "$SC" verify --db="$db" --expect=2
else
	not_ok "count: ingest starts" "$(cat "$WORK/count.err")"
fi

# ---- msgpack envelopes -------------------------------------------------------------
if start_ingest "$WORK/mp.err" --codec=msgpack >"$WORK/mp.bin"; then
	check_eq "msgpack: push answered 200" 200 "$(post "$(push_file 1)")"
	kill -TERM "$INGEST"
	wait "$INGEST"
	od -An -tx1 -j8 -N1 "$WORK/mp.bin" >"$WORK/mp.first"
	check_grep "msgpack: the frame is a MessagePack map" '^ *(8[0-9a-f]|de|df)$' "$WORK/mp.first"
	db="$WORK/mp.db"
	"$SC" process --stats-interval=0 <"$WORK/mp.bin" 2>/dev/null |
		"$SC" sink --db="$db" --stats-interval=0 2>/dev/null
	check "msgpack: stored and verify clean" "$SC" verify --db="$db" --expect=1
else
	not_ok "msgpack: ingest starts" "$(cat "$WORK/mp.err")"
fi
finish
