#!/usr/bin/env bash
# scripts/bench/bottleneck-json-encode.sh [PAIRS] - before/after figures for
# the JSON encoder fix "shortest round-trip doubles with Grisu3" (src/codec/dtoa.c
# replaces put_dbl's snprintf("%.15g/16g/17g") + strtod() loop).
#
# Builds the commit before src/codec/dtoa.c was added and the newest commit that
# changed src/codec/dtoa.c in temporary worktrees, then runs `streamctl generate
# --source=sensor --codec=json --rate=0 --count=N --transport=pipe` into
# /dev/null alternately with each build (A B A B ..., after one warm-up
# pair) and records wall, user and system time per run in
# bench/results/bottleneck-json-encode.csv (records/s = N / wall, CPU
# us/record = (user + sys) / N).  With valgrind it also counts the
# instructions of one run of each build (N=CG_N records, whole process)
# and the bytes written, into bottleneck-json-encode-callgrind.csv.
# Prints medians with ranges; CPU time and instructions are the figures to
# trust on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
pairs=${1:-7}
n=${N:-10000}
cg_n=${CG_N:-200}
first=$(git log --follow --diff-filter=A --format=%H -- src/codec/dtoa.c | tail -n 1)
[ -n "$first" ] || { echo "bottleneck-json-encode: src/codec/dtoa.c is not in this history" >&2; exit 1; }
before=$(git rev-parse "$first^")
after=$(git log -1 --format=%H -- src/codec/dtoa.c)
tmp=$(mktemp -d)
. scripts/bench/revs.sh
bench_revs "$tmp" "$before" "$after"
gen_args=(generate --source=sensor --codec=json --rate=0 --transport=pipe --stats-interval=0
	--seed=1 --source-id=bench --device-id=bench)
csv=bench/results/bottleneck-json-encode.csv
# load1: the 1-minute load average when the row was written (issue 20);
# files from before the column get it, empty, on their old rows
[ -f "$csv" ] && ! head -n 1 "$csv" | grep -q ',load1$' && sed -i '1s/$/,load1/; 2,$s/$/,/' "$csv"
[ -f "$csv" ] || echo "date,host,commit,version,run,count,wall_s,user_s,sys_s,records_per_s,cpu_us_per_record,load1" >"$csv"
host=$(hostname)
run_one() { # version run -> "wall cpu_us_per_record"
	local bin="$tmp/$1/build/streamctl"
	/usr/bin/time -o "$tmp/time" -f '%e %U %S' "$bin" "${gen_args[@]}" --count="$n" >/dev/null 2>/dev/null
	read -r wall user sys <"$tmp/time"
	local rps cpu
	rps=$(awk -v n="$n" -v w="$wall" 'BEGIN{printf "%.0f", n/(w>0?w:0.001)}')
	cpu=$(awk -v n="$n" -v u="$user" -v s="$sys" 'BEGIN{printf "%.1f", (u+s)*1e6/n}')
	echo "$(date -u +%FT%TZ),$host,${!1:0:12},$1,$2,$n,$wall,$user,$sys,$rps,$cpu,$(cut -d" " -f1 /proc/loadavg)" >>"$csv"
	echo "$wall $cpu"
}
run_one before warmup >/dev/null
run_one after warmup >/dev/null
: >"$tmp/pairs"
for i in $(seq 1 "$pairs"); do
	read -r bw bc < <(run_one before "$i")
	read -r aw ac < <(run_one after "$i")
	echo "$bw $bc $aw $ac" >>"$tmp/pairs"
done
awk -v n="$n" '
function med(a, k,  i, j, t) { for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t } return a[int((k+1)/2)] }
{ k++; bw[k] = $1; bc[k] = $2; aw[k] = $3; ac[k] = $4; rw[k] = $1/($3>0?$3:0.001); rc[k] = $2/($4>0?$4:0.001)
  if (k == 1 || rc[k] < rcmin) rcmin = rc[k]; if (k == 1 || rc[k] > rcmax) rcmax = rc[k]
  if (k == 1 || rw[k] < rwmin) rwmin = rw[k]; if (k == 1 || rw[k] > rwmax) rwmax = rw[k] }
END {
  printf "bottleneck-json-encode: %d sensor records, %d interleaved pairs\n", n, k
  printf "  records/s     before %8.0f  after %8.0f  (medians)\n", n/med(bw, k), n/med(aw, k)
  printf "  CPU us/record before %8.1f  after %8.1f  (medians)\n", med(bc, k), med(ac, k)
  printf "  after is %.1fx faster in CPU time (median of pair ratios, range %.1f-%.1f), %.1fx in wall time (range %.1f-%.1f)\n", med(rc, k), rcmin, rcmax, med(rw, k), rwmin, rwmax
}' "$tmp/pairs"
if command -v valgrind >/dev/null; then
	cg=bench/results/bottleneck-json-encode-callgrind.csv
	[ -f "$cg" ] || echo "date,host,commit,version,count,instructions,instructions_per_record,bytes_per_record" >"$cg"
	for v in before after; do
		f=$tmp/cg.$v
		bytes=$(valgrind --tool=callgrind --callgrind-out-file="$f" "$tmp/$v/build/streamctl" \
			"${gen_args[@]}" --count="$cg_n" 2>/dev/null | wc -c)
		ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$f")
		echo "$(date -u +%FT%TZ),$host,${!v:0:12},$v,$cg_n,$ir,$((ir / cg_n)),$((bytes / cg_n))" >>"$cg"
		printf '  callgrind %-6s %12d instructions/record, %d bytes/record (pipe frames)\n' "$v" "$((ir / cg_n))" "$((bytes / cg_n))"
	done
fi
