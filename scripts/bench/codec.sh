#!/usr/bin/env bash
# scripts/bench/codec.sh - JSON vs MessagePack (issue 8; goal for the sensor
# record: msgpack decode >= 3x faster and >= 30% smaller than JSON).
#
# 1. tests/bench/bench_codec.c: bytes per message, encode and decode ns per
#    message (mean of R runs, 95% CI) -> bench/results/codec.csv
# 2. callgrind instruction counts per operation (repeatable whatever the
#    machine does): one bench_loop_* of L operations each, Ir / L
#    -> bench/results/codec-callgrind.csv
# 3. end-to-end: the pipe pipeline with each codec is in pipe.sh
#    (bench/results/pipe.csv); plot docs/img/codec.png from 1 and 2.
#
# usage: scripts/bench/codec.sh
. "$(dirname "$0")/lib.sh"
bench_init codec
bench_venv
BC=$(bench_bin bench_codec)

if [ "$BENCH_QUICK" = 1 ]; then
	ARGS=(--runs=5 --cpu-iters=2000 --sensor-iters=30)
	CG_ITERS=50
else
	ARGS=(--runs=30 --cpu-iters=20000 --sensor-iters=300)
	CG_ITERS=500
fi
bench_log "bench_codec ${ARGS[*]}"
"$BC" "${ARGS[@]}" --csv >"$BENCH_TMP/codec.csv" || bench_die "bench_codec failed"
bench_append_csv "$BENCH_RESULTS/codec.csv" <"$BENCH_TMP/codec.csv"
"$PY" - "$BENCH_TMP/codec.csv" <<'PY' | tee "$BENCH_RESULTS/codec-last.txt"
import csv, sys
rows = {(r["kind"], r["codec"]): r for r in csv.DictReader(open(sys.argv[1]))}
print("%-7s %-8s %9s %18s %18s" % ("kind", "codec", "bytes", "encode ns (ci95)", "decode ns (ci95)"))
for kind in ("cpu", "sensor"):
    for c in ("json", "msgpack"):
        r = rows[(kind, c)]
        print("%-7s %-8s %9.1f %10.0f +-%6.0f %10.0f +-%6.0f" % (kind, c, float(r["bytes"]),
              float(r["encode_ns"]), float(r["encode_ci95_ns"]), float(r["decode_ns"]), float(r["decode_ci95_ns"])))
    j, m = rows[(kind, "json")], rows[(kind, "msgpack")]
    print("%-7s msgpack vs json: %.0f%% smaller, encode %.2fx, decode %.2fx faster (R=%s, L=%s)" % (
        kind, 100 * (1 - float(m["bytes"]) / float(j["bytes"])),
        float(j["encode_ns"]) / float(m["encode_ns"]), float(j["decode_ns"]) / float(m["decode_ns"]),
        j["runs"], j["iters"]))
PY

if command -v valgrind >/dev/null; then
	out=$BENCH_TMP/cg.csv
	echo "kind,codec,op,iters,instructions,instructions_per_op" >"$out"
	for kind in cpu sensor; do
		for codec in json msgpack; do
			for op in encode decode; do
				f=$BENCH_TMP/cg.$kind.$codec.$op
				valgrind --tool=callgrind --callgrind-out-file="$f" \
					--toggle-collect="bench_loop_$op" "$BC" --only="$kind:$codec:$op" \
					--iters="$CG_ITERS" >/dev/null 2>&1 || bench_die "callgrind failed"
				ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$f")
				echo "$kind,$codec,$op,$CG_ITERS,$ir,$((ir / CG_ITERS))" >>"$out"
				bench_log "callgrind $kind $codec $op: $((ir / CG_ITERS)) instructions/op"
			done
		done
	done
	bench_append_csv "$BENCH_RESULTS/codec-callgrind.csv" <"$out"
	"$PY" - "$out" <<'PY' | tee -a "$BENCH_RESULTS/codec-last.txt"
import csv, sys
rows = {(r["kind"], r["codec"], r["op"]): int(r["instructions_per_op"]) for r in csv.DictReader(open(sys.argv[1]))}
print("callgrind instructions per operation (json / msgpack):")
for kind in ("cpu", "sensor"):
    for op in ("encode", "decode"):
        j, m = rows[(kind, "json", op)], rows[(kind, "msgpack", op)]
        print("  %-7s %-7s json %10d  msgpack %10d  ratio %.2f" % (kind, op, j, m, j / m))
PY
else
	bench_log "no valgrind: instruction counts skipped"
fi
bench_plot one codec.csv
