#!/usr/bin/env bash
# bench/results/raw/amqp-pause/run.sh - reproduce the 1 kHz pause after an
# 8 kHz run (issue 17): PAIRS times { 8000/s for DUR s ; 1000/s for DUR s },
# the same commands as scripts/bench/amqp-pipeline.sh's pipeline(), but the
# sink DBs are kept (per-record intended/sent/processed/stored timestamps),
# with `vmstat 1` and the broker's CPU (utime+stime of beam.smp) once a
# second, all timestamped (epoch ns), into OUT.
# usage: run.sh OUT_DIR   env: AMQP_URI, PAIRS (5), DUR (30), SC (build/streamctl),
#        RATES ("8000 1000": the sequence of one pair), EXTRA (extra args for all three roles),
#        DBDIR (where the sink DBs are written, default OUT), KEEP (rates whose DBs are kept: 1000)
set -u
OUT=${1:?out dir}; mkdir -p "$OUT"
ROOT=$(cd "$(dirname "$0")/../../../.." && pwd)
: "${SC:=$ROOT/build/streamctl}" "${AMQP_URI:=amqp://guest:guest@127.0.0.1:5672/}"
: "${PAIRS:=5}" "${DUR:=30}" "${RATES:=8000 1000}" "${EXTRA:=}" "${KEEP:=1000}" "${DBDIR:=$OUT}" "${P:=2000}" "${B:=500}" "${W:=1000}"
port=$(printf '%s' "$AMQP_URI" | sed -n 's|.*:\([0-9][0-9]*\)/\?.*|\1|p')
BPID=$(ss -ltnpH "sport = :$port" | sed -n 's/.*"beam.smp",pid=\([0-9]*\).*/\1/p' | head -n1)
{ echo "date $(date -u +%FT%TZ) rev $(git -C "$ROOT" rev-parse --short HEAD) uri $AMQP_URI broker_pid $BPID"
  echo "load $(cat /proc/loadavg)"; echo "PAIRS=$PAIRS DUR=$DUR RATES=$RATES EXTRA=$EXTRA"; } >>"$OUT/meta.txt"
# 1 Hz monitors: vmstat -t (the runs recorded here had an epoch column instead), broker cpu ticks, dirty/writeback pages
vmstat -n -t 1 >>"$OUT/vmstat.txt" &
M1=$!
( while :; do
	s=$(awk '{ print $14, $15 }' "/proc/$BPID/stat" 2>/dev/null)
	d=$(awk '/^nr_dirty |^nr_writeback /{ printf "%s ", $2 }' /proc/vmstat)
	echo "$(date +%s.%N) $s $d"; sleep 1; done ) >>"$OUT/broker-cpu.txt" &
M2=$!
python3 "$(dirname "$0")/probe.py" "$DBDIR" >>"$OUT/probe.txt" &
M3=$!
trap 'kill $M1 $M2 $M3 2>/dev/null' EXIT
i=0
for ((k = 1; k <= PAIRS; k++)); do
	for rate in $RATES; do
		i=$((i + 1))
		ns=amqp-pause-$(date +%s%N | tail -c 10)-$$
		db=$DBDIR/run$(printf %02d $i)-$rate.db
		common=(--transport=amqp --broker="$AMQP_URI" --namespace="$ns" --stats-interval=0
			--progress=never --stats=/dev/null $EXTRA)
		"$SC" sink "${common[@]}" --db="$db" --idle-exit=3 --prefetch="$P" --batch="$B" 2>>"$OUT/sink.log" &
		sp=$!
		"$SC" process "${common[@]}" --idle-exit=3 --prefetch="$P" --batch="$B" 2>>"$OUT/proc.log" &
		pp=$!
		sleep 2
		echo "$(date +%s.%N) start run $i rate $rate ns $ns load $(cut -d' ' -f1 /proc/loadavg)" >>"$OUT/events.txt"
		"$SC" generate "${common[@]}" --source=cpu --inflight="$W" --rate="$rate" --duration="$DUR" 2>>"$OUT/gen.log"
		wait "$sp" "$pp"
		echo "$(date +%s.%N) end run $i rate $rate" >>"$OUT/events.txt"
		python3 "$(dirname "$0")/stages.py" "$db" "$rate" --gaps | tee -a "$OUT/summary.txt"
		# like the benchmark, delete the DBs of the rates not in KEEP (the benchmark deletes all)
		case " $KEEP " in *" $rate "*) [ "$DBDIR" = "$OUT" ] || mv "$db" "$OUT/" ;; *) rm -f "$db" "$db-wal" "$db-shm" ;; esac
	done
done
