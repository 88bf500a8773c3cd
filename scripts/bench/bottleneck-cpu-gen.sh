#!/usr/bin/env bash
# scripts/bench/bottleneck-cpu-gen.sh [PAIRS] - before/after figures for the
# cpu generator fix "do not re-read /proc/stat within one clock tick".
#
# Builds the commit before the fix and the fix itself in temporary
# worktrees, then runs `streamctl generate --source=cpu --rate=0
# --count=N` (pipe transport into /dev/null) alternately with each build
# (A B A B ..., after one warm-up pair) and records wall, user and system
# time per run in bench/results/bottleneck-cpu-gen.csv.  Prints the median
# of the per-pair ratios.
set -euo pipefail
cd "$(dirname "$0")/../.."
pairs=${1:-7}
n=${N:-200000}
after=$(git log --format=%H -1 --grep='do not re-read /proc/stat within one clock tick')
[ -n "$after" ] || { echo "bottleneck-cpu-gen: the fix commit is not in this history" >&2; exit 1; }
before=$(git rev-parse "$after^")
tmp=$(mktemp -d)
. scripts/bench/revs.sh
bench_revs "$tmp" "$before" "$after" all
csv=bench/results/bottleneck-cpu-gen.csv
# load1: the 1-minute load average when the row was written (issue 20);
# files from before the column get it, empty, on their old rows
[ -f "$csv" ] && ! head -n 1 "$csv" | grep -q ',load1$' && sed -i '1s/$/,load1/; 2,$s/$/,/' "$csv"
[ -f "$csv" ] || echo "date,host,commit,version,run,count,wall_s,user_s,sys_s,msgs_per_s,load1" >"$csv"
host=$(hostname)
run_one() { # version run
	local bin="$tmp/$1/build/streamctl" t
	/usr/bin/time -o "$tmp/time" -f '%e %U %S' "$bin" generate --source=cpu --rate=0 \
		--count="$n" --stats-interval=0 >/dev/null 2>/dev/null
	read -r wall user sys <"$tmp/time"
	echo "$(date -u +%FT%TZ),$host,${!1:0:12},$1,$2,$n,$wall,$user,$sys,$(awk -v n="$n" -v w="$wall" 'BEGIN{printf "%.0f", n/(w>0?w:0.001)}'),$(cut -d" " -f1 /proc/loadavg)" >>"$csv"
	echo "$wall"
}
run_one before warmup >/dev/null
run_one after warmup >/dev/null
ratios=()
for i in $(seq 1 "$pairs"); do
	b=$(run_one before "$i")
	a=$(run_one after "$i")
	ratios+=("$(awk -v b="$b" -v a="$a" 'BEGIN{printf "%.2f", b/(a>0?a:0.001)}')")
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{r[NR]=$1} END{printf "bottleneck-cpu-gen: after is %.1fx faster (median of %d pairs, range %.1f-%.1f)\n", r[int((NR+1)/2)], NR, r[1], r[NR]}'
