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
#
# PROFILE_MODE=pipe|kafka|all (default all).  `pipe` is the above, over the
# pipe transport: no client library in the loop.  `kafka` profiles the
# processor with the real Kafka transport (librdkafka) in the loop, see
# profile_kafka below; it writes processor.prof at the repository root,
# bench/results/profile-kafka-{pprof.txt,calls.csv,callgrind.txt,build.txt}
# and docs/img/profile-kafka-{callgraph,flame}.{png,svg}.
# Debian's google-pprof (the Perl pprof) has no --top: `--text` prints the
# same table (Go's pprof spells it -top).
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

PROFILE_MODE=${PROFILE_MODE:-all}

# profile_kafka: `streamctl process --transport=kafka` against the broker at
# $KAFKA_BOOTSTRAP, over topics pre-filled by `streamctl generate` in a
# namespace of its own (deleted afterwards).  The processor is started after
# the topics are full and exits after --idle-exit seconds without input, so
# the profile holds the decoding, processing, encoding and librdkafka's
# consuming and producing, not the generators.  The binary is a dedicated
# build (build-prof, frame pointers kept) whose rebuild command is recorded.
# It is linked without PIE, so its code sits at fixed addresses: a rebuild
# from the same revision in any directory symbolizes processor.prof (with a
# PIE binary, Debian's pprof only relocates when the path matches).
PROF_OPT='-O2 -g -fno-omit-frame-pointer -fno-pie'
PROF_LDFLAGS='-no-pie'
profile_kafka() {
	local pbuild=$BENCH_ROOT/build-prof bin ns n_s n_c cg_s cg_c prof stats out bid
	if [ -z "${PROFILE_BIN:-}" ]; then
		make -C "$BENCH_ROOT" -s BUILD=build-prof OPT="$PROF_OPT" LDFLAGS="$PROF_LDFLAGS" build-prof/streamctl >&2 ||
			bench_die "profile build failed"
		bin=$pbuild/streamctl
	else
		bin=$PROFILE_BIN
	fi
	if [ "$BENCH_QUICK" = 1 ]; then n_s=300 n_c=20000 cg_s=30 cg_c=2000; else n_s=20000 n_c=600000 cg_s=300 cg_c=20000; fi
	bid=$(readelf -n "$bin" | sed -n 's/.*Build ID: *//p')
	ns=$(bench_uniq prof)
	bench_log "kafka: pre-filling $ns with $n_s sensor and $n_c cpu records"
	"$bin" generate --transport=kafka --broker="kafka://$KAFKA_BOOTSTRAP" --namespace="$ns" --source=sensor \
		--rate=0 --count="$n_s" --stats=/dev/null --progress=never 2>/dev/null || bench_die "generate sensor failed"
	"$bin" generate --transport=kafka --broker="kafka://$KAFKA_BOOTSTRAP" --namespace="$ns" --source=cpu \
		--rate=0 --count="$n_c" --stats=/dev/null --progress=never 2>/dev/null || bench_die "generate cpu failed"
	prof=$BENCH_TMP/kafka.prof stats=$BENCH_TMP/kafka.stats
	local cmd=("$bin" process --transport=kafka --broker="kafka://$KAFKA_BOOTSTRAP" --namespace="$ns"
		--idle-exit=3 --stats="$stats" --stats-interval=0 --progress=never)
	local load_before
	load_before=$(cut -d' ' -f1-3 /proc/loadavg)
	bench_log "kafka: gperftools, load $load_before"
	# env inside time: the profiler must be preloaded into streamctl only
	/usr/bin/time -f '%e %U %S' -o "$BENCH_TMP/kafka.time" env LD_PRELOAD="$LIBPROF" CPUPROFILE="$prof" \
		CPUPROFILE_FREQUENCY="${CPUPROFILE_FREQUENCY:-1000}" "${cmd[@]}" 2>"$BENCH_TMP/prof.err" ||
		bench_die "process failed under the profiler: $(tail -n 3 "$BENCH_TMP/prof.err")"
	cp "$prof" "$BENCH_ROOT/processor.prof"
	{
		echo "# processor.prof: streamctl process --transport=kafka, gperftools $(date -u +%FT%TZ)"
		echo "# git rev: $(git -C "$BENCH_ROOT" rev-parse HEAD)$(git -C "$BENCH_ROOT" diff --quiet HEAD -- src transports Makefile || echo ' (dirty)')"
		echo "# rebuild: git checkout $(git -C "$BENCH_ROOT" rev-parse --short HEAD) && make BUILD=build-prof OPT='$PROF_OPT' LDFLAGS='$PROF_LDFLAGS' build-prof/streamctl"
		echo "# binary: ${bin#"$BENCH_ROOT"/} build id $bid ($(cc --version | head -n 1); librdkafka $(pkg-config --modversion rdkafka))"
		echo "# input: $n_s sensor + $n_c cpu records (json) pre-filled in Kafka at $KAFKA_BOOTSTRAP (namespace $ns)"
		echo "# command: LD_PRELOAD=libprofiler.so CPUPROFILE=processor.prof CPUPROFILE_FREQUENCY=${CPUPROFILE_FREQUENCY:-1000} ${cmd[*]#"$BENCH_ROOT"/}" |
			sed "s|$BENCH_ROOT/||g; s|$BENCH_TMP/||g"
		echo "# sample period: $((1000000 / ${CPUPROFILE_FREQUENCY:-1000})) us of process CPU time"
		echo "# wall/user/sys s: $(cat "$BENCH_TMP/kafka.time"); load average before: $load_before"
		echo "# $(grep '"final":true' "$stats" | sed 's/"stage_ms".*//')"
		echo "# show: google-pprof --text ${bin#"$BENCH_ROOT"/} processor.prof"
		google-pprof --text --nodecount=40 "$bin" "$prof" 2>/dev/null
		echo
		echo "# cumulative (inclusive) top"
		google-pprof --text --cum --nodecount=60 "$bin" "$prof" 2>/dev/null
	} >"$BENCH_RESULTS/profile-kafka-pprof.txt"
	head -n 24 "$BENCH_RESULTS/profile-kafka-pprof.txt" >&2
	google-pprof --svg --nodefraction=0.01 "$bin" "$prof" >"$BENCH_IMG/profile-kafka-callgraph.svg" 2>/dev/null ||
		bench_log "pprof --svg failed (graphviz?)"
	google-pprof --dot --nodefraction=0.01 "$bin" "$prof" 2>/dev/null |
		dot -Tpng -o "$BENCH_IMG/profile-kafka-callgraph.png" || bench_log "dot -Tpng failed (graphviz?)"
	google-pprof --collapsed "$bin" "$prof" >"$BENCH_TMP/kafka.collapsed" 2>/dev/null
	if bench_have_plot && [ -s "$BENCH_TMP/kafka.collapsed" ]; then
		"$PY" "$BENCH_DIR/flamegraph.py" "$BENCH_TMP/kafka.collapsed" "$BENCH_IMG/profile-kafka-flame" \
			"streamctl process --transport=kafka, $n_s sensor + $n_c cpu records: gperftools samples"
	fi
	"$PY" "$BENCH_DIR/kadmin.py" "$KAFKA_BOOTSTRAP" delete "$ns.raw.sensor" "$ns.raw.cpu" \
		"$ns.processed.sensor" "$ns.processed.cpu" >/dev/null 2>&1 || true
	command -v valgrind >/dev/null || { bench_log "no valgrind: no call counts"; return 0; }
	# exact call counts: the same binary and transport under callgrind, fewer records
	ns=$(bench_uniq profcg)
	"$bin" generate --transport=kafka --broker="kafka://$KAFKA_BOOTSTRAP" --namespace="$ns" --source=sensor \
		--rate=0 --count="$cg_s" --stats=/dev/null --progress=never 2>/dev/null || bench_die "generate failed"
	"$bin" generate --transport=kafka --broker="kafka://$KAFKA_BOOTSTRAP" --namespace="$ns" --source=cpu \
		--rate=0 --count="$cg_c" --stats=/dev/null --progress=never 2>/dev/null || bench_die "generate failed"
	bench_log "kafka: callgrind over $cg_s sensor + $cg_c cpu records"
	valgrind --tool=callgrind --callgrind-out-file="$BENCH_TMP/kafka.cg" \
		"$bin" process --transport=kafka --broker="kafka://$KAFKA_BOOTSTRAP" --namespace="$ns" \
		--idle-exit=5 --stats=/dev/null --progress=never >/dev/null 2>"$BENCH_TMP/cg.err" ||
		bench_die "callgrind failed"
	{
		echo "# callgrind: streamctl process --transport=kafka over $cg_s sensor + $cg_c cpu records (json), rev $BENCH_REV, build id $bid"
		callgrind_annotate --inclusive=yes "$BENCH_TMP/kafka.cg" 2>/dev/null | head -n 60
		echo
		echo "# exclusive"
		callgrind_annotate "$BENCH_TMP/kafka.cg" 2>/dev/null | head -n 50
	} >"$BENCH_RESULTS/profile-kafka-callgrind.txt"
	{
		echo "# callgrind call counts: streamctl process --transport=kafka over $cg_s sensor + $cg_c cpu records, build id $bid"
		"$PY" "$BENCH_DIR/cgcalls.py" "$BENCH_TMP/kafka.cg"
	} >"$BENCH_RESULTS/profile-kafka-calls.csv"
	"$PY" "$BENCH_DIR/kadmin.py" "$KAFKA_BOOTSTRAP" delete "$ns.raw.sensor" "$ns.raw.cpu" \
		"$ns.processed.sensor" "$ns.processed.cpu" >/dev/null 2>&1 || true
}

if [ "$PROFILE_MODE" != pipe ]; then profile_kafka; fi
[ "$PROFILE_MODE" != kafka ] || exit 0

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
