#!/usr/bin/env bash
# scripts/bench/profile.sh - where `streamctl process` spends its time
# (issue 8).  Input: a file of pipe frames made once by `streamctl generate
# --rate=0` (sensor and cpu, JSON), so only the processor runs under the
# profilers:
#
#   gperftools  LD_PRELOAD=libprofiler.so CPUPROFILE=... streamctl process < frames
#               google-pprof --text (top functions by time)
#               google-pprof --svg / --png (call graph, needs graphviz)
#               google-pprof --collapsed + flamegraph.py (flame graph)
#   callgrind   exact call counts and instructions (callgrind_annotate)
#
# Outputs: bench/results/profile-<source>-pprof.txt, profile-<source>-callgrind.txt,
# docs/img/profile-<source>-callgraph.svg/.png, docs/img/profile-<source>-flame.png/.svg
# Debian's libjansson has no debug symbols here, so its internal (static)
# functions show up under the nearest exported name (json_object_seed...).
# Needs Debian google-perftools libgoogle-perftools-dev graphviz valgrind.
. "$(dirname "$0")/lib.sh"
bench_init profile
bench_venv
LIBPROF=${LIBPROF:-/usr/lib/x86_64-linux-gnu/libprofiler.so}
[ -e "$LIBPROF" ] || bench_die "no $LIBPROF (apt-get install libgoogle-perftools-dev google-perftools)"
command -v google-pprof >/dev/null || bench_die "no google-pprof (apt-get install google-perftools)"

if [ "$BENCH_QUICK" = 1 ]; then NS=300 NC=20000 CGS=50 CGC=2000 REP=1; else NS=3000 NC=300000 CGS=300 CGC=20000 REP=10; fi
# The processor reads the frames REP times over (cat | process): once the
# decoders got fast, one pass took 0.3 s, under 100 samples.  Repeated seqs
# are fine here: the processor does not de-duplicate, the sink does.
REP=${PROFILE_REPEAT:-$REP}

# functions whose exact call counts are listed (known suspects of issue 8)
CALLS_RE='put_dbl|snprintf|strtod|json_loadb|codec_json_encode|codec_json_decode|codec_msgpack_decode|transport_publish|transport_flush|proc_[a-z_]*'

for src in sensor cpu; do
	n=$NS cg=$CGS
	[ "$src" = cpu ] && n=$NC cg=$CGC
	frames=$BENCH_TMP/$src.frames
	"$SC" generate --source="$src" --rate=0 --count="$n" --stats=/dev/null --progress=never >"$frames" 2>/dev/null ||
		bench_die "generate failed"
	head -c "$(stat -c %s "$frames")" "$frames" >/dev/null # page cache
	prof=$BENCH_TMP/$src.prof
	bench_log "$src: gperftools over $n records x $REP ($(stat -c %s "$frames") bytes each)"
	LD_PRELOAD=$LIBPROF CPUPROFILE=$prof CPUPROFILE_FREQUENCY=${CPUPROFILE_FREQUENCY:-1000} \
		"$SC" process --stats="$BENCH_TMP/$src.stats" --stats-interval=0 --progress=never \
		< <(for ((i = 0; i < REP; i++)); do cat "$frames"; done) >/dev/null 2>"$BENCH_TMP/prof.err" ||
		bench_die "process failed under the profiler"
	out=$BENCH_RESULTS/profile-$src-pprof.txt
	{
		echo "# streamctl process < $n $src records (json) x $REP, gperftools $(date -u +%FT%TZ) rev $BENCH_REV"
		echo "# $(grep '"final":true' "$BENCH_TMP/$src.stats" | sed 's/"stage_ms".*//')"
		google-pprof --text --nodecount=40 "$SC" "$prof" 2>/dev/null
		echo
		echo "# cumulative (inclusive) top"
		google-pprof --text --cum --nodecount=30 "$SC" "$prof" 2>/dev/null
	} >"$out"
	head -n 20 "$out"
	google-pprof --svg --nodefraction=0.01 "$SC" "$prof" >"$BENCH_IMG/profile-$src-callgraph.svg" 2>/dev/null ||
		bench_log "pprof --svg failed (graphviz?)"
	# this pprof has no --png: render its dot output
	google-pprof --dot --nodefraction=0.01 "$SC" "$prof" 2>/dev/null |
		dot -Tpng -o "$BENCH_IMG/profile-$src-callgraph.png" || bench_log "dot -Tpng failed (graphviz?)"
	google-pprof --collapsed "$SC" "$prof" >"$BENCH_TMP/$src.collapsed" 2>/dev/null
	if bench_have_plot && [ -s "$BENCH_TMP/$src.collapsed" ]; then
		"$PY" "$BENCH_DIR/flamegraph.py" "$BENCH_TMP/$src.collapsed" "$BENCH_IMG/profile-$src-flame" \
			"streamctl process < $n $src records (json) x $REP: gperftools samples"
	fi
	if command -v valgrind >/dev/null; then
		bench_log "$src: callgrind over $cg records"
		head_frames=$BENCH_TMP/$src.cg.frames
		"$SC" generate --source="$src" --rate=0 --count="$cg" --stats=/dev/null --progress=never >"$head_frames" 2>/dev/null
		valgrind --tool=callgrind --callgrind-out-file="$BENCH_TMP/$src.cg" \
			"$SC" process --stats=/dev/null --progress=never <"$head_frames" >/dev/null 2>&1 ||
			bench_die "callgrind failed"
		{
			echo "# callgrind: streamctl process < $cg $src records (json), rev $BENCH_REV"
			echo "# instructions per record: $(($(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$BENCH_TMP/$src.cg") / cg))"
			callgrind_annotate --inclusive=yes "$BENCH_TMP/$src.cg" 2>/dev/null | head -n 60
			echo
			echo "# exact call counts (callers of the hot functions, from --tree=caller)"
			callgrind_annotate --tree=caller "$BENCH_TMP/$src.cg" 2>/dev/null |
				awk -v RS= -v re="$CALLS_RE" '$0 ~ "\\*  [^\n]*(" re ")( |\\[)" { print; print "" }' | head -n 80
			echo
			echo "# exclusive"
			callgrind_annotate "$BENCH_TMP/$src.cg" 2>/dev/null | head -n 50
		} >"$BENCH_RESULTS/profile-$src-callgrind.txt"
		sed -n 2p "$BENCH_RESULTS/profile-$src-callgrind.txt"
	fi
done
