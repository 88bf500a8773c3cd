# tests/integration/lib.sh - sourced by every integration suite.
#
# Provides: SC (the streamctl binary), WORK (a scratch dir removed at exit),
# check DESC CMD... (passes when CMD exits 0), check_exit CODE DESC CMD...,
# check_grep DESC PATTERN FILE, pass/fail counters and finish (prints
# "<suite>: N passed, N failed" and returns non-zero on failures).
set -u
SC=${STREAMCTL:?set STREAMCTL to the streamctl binary}
SUITE=${SUITE:-$(basename "$0" .sh)}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sc-$SUITE.XXXXXX")
PASSED=0
FAILED=0
trap 'rm -rf "$WORK"' EXIT

ok() {
	PASSED=$((PASSED + 1))
	printf '  ok    %s\n' "$1"
}

not_ok() {
	FAILED=$((FAILED + 1))
	printf '  FAIL  %s\n' "$1"
	[ -n "${2:-}" ] && printf '%s\n' "$2" | tail -n 25 | sed 's/^/        /'
	return 0
}

# check DESC CMD...: CMD must exit 0.
check() {
	local desc=$1
	shift
	if "$@" >"$WORK/last.out" 2>&1; then ok "$desc"; else not_ok "$desc" "$(cat "$WORK/last.out")"; fi
}

# check_exit CODE DESC CMD...: CMD must exit with CODE.
check_exit() {
	local want=$1 desc=$2 rc
	shift 2
	"$@" >"$WORK/last.out" 2>&1
	rc=$?
	if [ "$rc" -eq "$want" ]; then ok "$desc"; else not_ok "$desc (exit $rc, want $want)" "$(cat "$WORK/last.out")"; fi
}

# check_grep DESC PATTERN FILE: FILE must contain the extended regex PATTERN.
check_grep() {
	if grep -Eq -- "$2" "$3"; then ok "$1"; else not_ok "$1 (no /$2/)" "$(cat "$3")"; fi
}

# check_eq DESC WANT GOT
check_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (want '$2', got '$3')"; fi
}

# sql DB QUERY: one value from the sink database.
sql() {
	sqlite3 -batch -noheader "$1" "$2"
}

# wait_for SECONDS CMD...: poll CMD every 0.2 s until it succeeds; 1 on timeout.
wait_for() {
	local end=$((SECONDS + $1))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.2
	done
}

finish() {
	printf '%s: %d passed, %d failed\n' "$SUITE" "$PASSED" "$FAILED"
	[ "$FAILED" -eq 0 ]
}
