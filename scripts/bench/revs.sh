# scripts/bench/revs.sh - sourced by the bottleneck-*.sh scripts: build two
# revisions of streamctl side by side for a before/after comparison.
#
# bench_revs TMP BEFORE AFTER [MAKE_TARGET]: check BEFORE and AFTER (commit
# ids) out as detached worktrees TMP/before and TMP/after and build each
# (MAKE_TARGET, default build/streamctl, with BUILD=build).  An EXIT trap
# removes both worktrees and TMP again, whatever way the script ends (and
# still runs lib.sh's bench_cleanup when the script has one).
bench_revs() {
	BENCH_REVS_TMP=$1
	trap 'git worktree remove --force "$BENCH_REVS_TMP/before" >/dev/null 2>&1
	      git worktree remove --force "$BENCH_REVS_TMP/after" >/dev/null 2>&1
	      rm -rf "$BENCH_REVS_TMP"
	      if declare -F bench_cleanup >/dev/null; then bench_cleanup; fi' EXIT
	git worktree add -q --detach "$1/before" "$2"
	git worktree add -q --detach "$1/after" "$3"
	for v in before after; do
		make -s -C "$1/$v" BUILD=build ${4:-build/streamctl} >/dev/null
	done
}

# bench_revs_env: with REVS="BEFORE AFTER" (commits) set, build both
# (bench_revs, in a temporary directory) and set builds=(the two binaries)
# and revs=(their short ids), for scripts that run them alternately;
# returns 1 and changes nothing without REVS.
bench_revs_env() {
	local before after
	[ -n "${REVS:-}" ] || return 1
	read -r before after <<<"$REVS"
	bench_revs "$(mktemp -d)" "$before" "$after"
	builds=("$BENCH_REVS_TMP/before/build/streamctl" "$BENCH_REVS_TMP/after/build/streamctl")
	revs=("$(git -C "$BENCH_ROOT" rev-parse --short "$before")"
		"$(git -C "$BENCH_ROOT" rev-parse --short "$after")")
}
