#!/usr/bin/env bash
# Regenerate the seed corpus in tests/fuzz/corpus/ with the real encoders.
# Usage: tests/fuzz/make-corpus.sh path/to/streamctl
# The committed corpus was made with this script; rerun it only when the wire
# format changes (the fuzzers never write into tests/fuzz/corpus/).
set -eu
sc=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
out=$(cd "$(dirname "$0")" && pwd)/corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

# Split a pipe stream (8-byte frame headers) into DIR/PREFIX-N payload files.
split_frames() {
	python3 - "$@" <<'PY'
import struct, sys
src, dst, prefix, limit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
data, off, n = open(src, 'rb').read(), 0, 0
while off + 8 <= len(data) and n < limit:
    assert data[off:off + 2] == b'SC', 'not a frame'
    (ln,) = struct.unpack('>I', data[off + 4:off + 8])
    open('%s/%s-%d' % (dst, prefix, n), 'wb').write(data[off + 8:off + 8 + ln])
    off, n = off + 8 + ln, n + 1
PY
}

gen() { "$sc" generate --stats-interval=0 --rate=0 --seed=7 --source-id=fuzz "$@" 2>/dev/null; }
proc() { "$sc" process --stats-interval=0 "$@" 2>/dev/null; }

# keep the bug-* seeds (inputs that once found a bug), regenerate the rest
find "$out" -type f ! -name 'bug-*' -delete 2>/dev/null || true
mkdir -p "$out"/codec_json "$out"/codec_msgpack "$out"/sensorlogger "$out"/pipe_frames
for c in json msgpack; do
	d=$out/codec_$c
	gen --source=cpu --codec=$c --count=2 --device-id=host-1 >cpu.$c
	gen --source=sensor --codec=$c --count=1 --device-id=phone-1 >sensor.$c
	proc --codec=$c <cpu.$c >cpu_stats.$c
	proc --codec=$c <sensor.$c >features.$c
	# garbage frame and a cut message: process dead-letters both
	{ printf 'SC\000\000\000\000\000\014{"v":1,"kind"'; printf 'not a frame';
	  head -c 40 cpu.$c; } | proc --codec=$c >dead.$c
	split_frames cpu.$c "$d" cpu 1
	split_frames sensor.$c "$d" sensor 1
	split_frames cpu_stats.$c "$d" cpu_stats 1
	split_frames features.$c "$d" features 1
	split_frames dead.$c "$d" deadletter 3
done

# Sensor Logger push bodies: the app's shape, and the simulator's (cut to 6 readings).
cat >"$out"/sensorlogger/app-body.json <<'JSON'
{"messageId": 17, "sessionId": "c3b5a0d2-7f0e-4d55-9a51-2f6c0c8e7b11",
 "deviceId": "a7e4c0f2-19b3-4a7c-8f0d-5e2b9c1d3f4a", "payload": [
  {"name": "accelerometer", "time": 1698422422123456789, "accuracy": 3,
   "values": {"z": -0.0127, "y": 0.0371, "x": -0.00352}},
  {"name": "orientation", "time": 1698422422133456789, "values": {"qz": 0.0102, "qy": -0.0172, "qx": 0.5765, "qw": 0.8167, "roll": -0.0374, "pitch": -1.2290, "yaw": 0.0029}},
  {"name": "barometer", "time": 1698422422200000000, "values": {"relativeAltitude": 0, "pressure": 1008.4}},
  {"name": "location", "time": 1698422423000000000, "values": {"bearingAccuracy": 0, "speedAccuracy": 0.5, "verticalAccuracy": 3.5, "horizontalAccuracy": 4.7, "speed": 0, "bearing": -1, "altitude": 36.1, "longitude": 13.4049, "latitude": 52.52}},
  {"name": "microphone", "time": 1698422423100000000, "values": {"dBFS": -47.3}}
 ]}
JSON
printf '{"messageId":1,"sessionId":"s","deviceId":"d","payload":[]}' \
	>"$out"/sensorlogger/empty-batch.json
jq -c '.body | .payload |= .[:6]' "$out"/codec_json/sensor-0 >"$out"/sensorlogger/simulator.json

# Pipe streams: one control byte (chunking, limit), then frames as written.
{ printf '\000'; cat cpu.json; } >"$out"/pipe_frames/cpu-json
{ printf '\006'; cat cpu_stats.msgpack; } >"$out"/pipe_frames/cpu-stats-msgpack
{ printf '\003'; cat cpu.msgpack; printf 'garbage'; head -c 30 cpu.json; } \
	>"$out"/pipe_frames/garbage-and-cut
{ printf '\205SC\000\000\000\000\001\000'; head -c 300 cpu.json; } >"$out"/pipe_frames/over-limit
du -sh "$out"
