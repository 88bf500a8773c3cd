#!/usr/bin/env bash
# scripts/bench/bottleneck-decode.sh CODEC [PAIRS] - before/after figures for
# a decoder fix, measured on `streamctl process --transport=pipe`:
#   json     "single-pass hand-written decoder (json_scan) replaces jansson
#            DOM + lookups" (bottleneck-json-decode.sh);
#   msgpack  "one pass over the bytes in place" replaces msgpack-c's
#            msgpack_unpack into an object tree (bottleneck-msgpack-decode.sh).
#
# Builds the commit before the fix ("before") and the commit that completed
# it ("after"; json: its duplicate-key handling, before any encoder change,
# so the figures are the decoder's alone - the encoder's doubles are
# bottleneck-json-encode.sh; msgpack: the newest commit that changed
# src/codec/codec_msgpack.c; AFTER=<rev> measures another revision) in temporary
# worktrees, generates N cpu and NS sensor records in CODEC once, then runs
# `streamctl process --transport=pipe --codec=CODEC` over them alternately
# with each build (A B A B ..., after one warm-up pair, per source) and
# records wall, user and system time per run in
# bench/results/bottleneck-CODEC-decode.csv.  CPU time per record
# (user+sys) is the robust figure on a shared machine.  Prints, per source,
# the medians with ranges and the median per-pair ratio.
#   N=300000 NS=3000 scripts/bench/bottleneck-decode.sh msgpack 7
set -euo pipefail
cd "$(dirname "$0")/../.."
codec=${1:?usage: bottleneck-decode.sh json|msgpack [PAIRS]}
pairs=${2:-5}
n_cpu=${N:-200000}
n_sensor=${NS:-2000}
case $codec in
json)
	fix='single-pass hand-written decoder (json_scan)'
	last=$(git log --format=%H --grep='known keys are refused as duplicates by their slot' | tail -n 1)
	;;
msgpack)
	fix='msgpack decode: one pass over the bytes in place'
	last=$(git log -1 --format=%H -- src/codec/codec_msgpack.c)
	;;
*) echo "bottleneck-decode: unknown codec '$codec' (known: json, msgpack)" >&2; exit 2 ;;
esac
first=$(git log --format=%H --grep="$fix" | tail -n 1)
[ -n "$first" ] || { echo "bottleneck-decode: the $codec decoder commit is not in this history" >&2; exit 1; }
before=$(git rev-parse "$first^")
after=$(git rev-parse "${AFTER:-$last}")
tmp=$(mktemp -d)
. scripts/bench/revs.sh
bench_revs "$tmp" "$before" "$after"
for src in cpu sensor; do
	n=$n_cpu
	[ "$src" = sensor ] && n=$n_sensor
	"$tmp/after/build/streamctl" generate --source="$src" --rate=0 --count="$n" --codec="$codec" \
		--stats=/dev/null --progress=never >"$tmp/$src.frames" 2>/dev/null
	cat "$tmp/$src.frames" >/dev/null # page cache
done
csv=bench/results/bottleneck-$codec-decode.csv
# load1: the 1-minute load average when the row was written (issue 20);
# files from before the column get it, empty, on their old rows
[ -f "$csv" ] && ! head -n 1 "$csv" | grep -q ',load1$' && sed -i '1s/$/,load1/; 2,$s/$/,/' "$csv"
[ -f "$csv" ] || echo "date,host,run_id,commit,version,source,run,count,bytes,wall_s,user_s,sys_s,msgs_per_s,cpu_us_per_msg,load1" >"$csv"
host=$(hostname)
run_id=$(date -u +%Y%m%dT%H%M%SZ)
run_one() { # version source run -> "wall cpu_us_per_msg"
	local bin="$tmp/$1/build/streamctl" n=$n_cpu wall user sys
	[ "$2" = sensor ] && n=$n_sensor
	/usr/bin/time -o "$tmp/time" -f '%e %U %S' "$bin" process --transport=pipe --codec="$codec" \
		--stats=/dev/null --stats-interval=0 --progress=never \
		<"$tmp/$2.frames" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
	read -r wall user sys <"$tmp/time"
	local cpu_us rate
	cpu_us=$(awk -v n="$n" -v u="$user" -v s="$sys" 'BEGIN{printf "%.3f", (u+s)*1e6/n}')
	rate=$(awk -v n="$n" -v w="$wall" 'BEGIN{printf "%.0f", n/(w>0?w:0.001)}')
	echo "$(date -u +%FT%TZ),$host,$run_id,${!1:0:12},$1,$2,$3,$n,$(stat -c %s "$tmp/$2.frames"),$wall,$user,$sys,$rate,$cpu_us,$(cut -d" " -f1 /proc/loadavg)" >>"$csv"
	echo "$rate $cpu_us"
}
# median and range of a list of numbers: "median (min-max)"
stats() { sort -g | awk '{v[NR]=$1} END{m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%g (%g-%g)", m, v[1], v[NR]}'; }
for src in cpu sensor; do
	run_one before "$src" warmup >/dev/null
	run_one after "$src" warmup >/dev/null
	: >"$tmp/$src.pairs"
	for i in $(seq 1 "$pairs"); do
		read -r br bc <<<"$(run_one before "$src" "$i")"
		read -r ar ac <<<"$(run_one after "$src" "$i")"
		echo "$br $bc $ar $ac" >>"$tmp/$src.pairs"
	done
	p=$tmp/$src.pairs
	echo "bottleneck-$codec-decode: $src ($([ "$src" = cpu ] && echo "$n_cpu" || echo "$n_sensor") records, $pairs pairs):"
	echo "  records/s     before $(awk '{print $1}' "$p" | stats)  after $(awk '{print $3}' "$p" | stats)"
	echo "  cpu us/record before $(awk '{print $2}' "$p" | stats)  after $(awk '{print $4}' "$p" | stats)"
	echo "  after uses $(awk '{printf "%.2f\n", $2/($4>0?$4:0.001)}' "$p" | stats)x less cpu per record (median of per-pair ratios, range)"
done
