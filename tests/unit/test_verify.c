/* test_verify.c - the completeness report over a sink database. */
#include "error.h"
#include "record.h"
#include "sink.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];
static char db_path[128];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void setup(void)
{
	strcpy(dir, "/tmp/test_verify-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(db_path, sizeof(db_path), "%s/sink.db", dir);
}

static void teardown(void)
{
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(verify, .init = setup, .fini = teardown);

/* Stores seq 0..n-1 of `source` (cpu_stats), plus `dups` replays of seq 0. */
static void fill(const char *source, uint64_t n, int dups)
{
	struct sink_cfg cfg = {.db_path = db_path};
	struct sc_error err = {0};
	struct sink *s = sink_open(&cfg, &err);
	struct sc_record r;

	cr_assert_not_null(s, "%s", err.msg);
	cr_assert_eq(sink_begin(s, &err), 0, "%s", err.msg);
	sc_record_init(&r, SC_KIND_CPU_STATS);
	snprintf(r.env.source, sizeof(r.env.source), "%s", source);
	for (uint64_t seq = 0; seq < n; seq++) {
		r.env.seq = seq;
		cr_assert_eq(sink_put(s, &r, NULL, &err), 0, "%s", err.msg);
	}
	r.env.seq = 0;
	for (int i = 0; i < dups; i++)
		cr_assert_eq(sink_put(s, &r, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(sink_commit(s, &err), 0, "%s", err.msg);
	sink_close(s);
}

static void add_deadletter(const char *reason)
{
	struct sink_cfg cfg = {.db_path = db_path};
	struct sc_error err = {0};
	struct sink *s = sink_open(&cfg, &err);
	struct sc_record r;

	cr_assert_not_null(s, "%s", err.msg);
	sc_record_init(&r, SC_KIND_DEADLETTER);
	cr_assert_eq(sc_deadletter_fill(&r, "process", "raw.cpu", reason, "x", 1), 0);
	cr_assert_eq(sink_begin(s, &err), 0, "%s", err.msg);
	cr_assert_eq(sink_put(s, &r, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(sink_commit(s, &err), 0, "%s", err.msg);
	sink_close(s);
	sc_record_release(&r);
}

static void exec_sql(const char *sql)
{
	sqlite3 *db;

	cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* Runs verify; returns its result and leaves its output in *text (caller frees). */
static int run_sources(const char *path, long long expect, long sources, char **text,
		       struct sc_error *err)
{
	size_t len;
	FILE *out = open_memstream(text, &len);
	struct verify_cfg cfg = {.db_path = path, .expect = expect, .sources = sources, .out = out};
	int rc;

	cr_assert_not_null(out);
	rc = verify_run(&cfg, err);
	fclose(out);
	return rc;
}

static int run(const char *path, long long expect, char **text, struct sc_error *err)
{
	return run_sources(path, expect, 0, text, err);
}

static const char *last_line(const char *text)
{
	size_t n = strlen(text);
	const char *p;

	cr_assert(n > 0 && text[n - 1] == '\n', "output: %s", text);
	for (p = text + n - 1; p > text && p[-1] != '\n'; p--)
		;
	return p;
}

Test(verify, reports_a_complete_database_as_clean)
{
	struct sc_error err = {0};
	char *text;

	fill("cpu-a", 100, 0);
	fill("cpu-b", 50, 0);
	cr_assert_eq(run(db_path, -1, &text, &err), 0, "%s%s", err.msg, text);
	free(text);
	fill("cpu-b", 100, 0);
	cr_assert_eq(run(db_path, 100, &text, &err), 0, "%s%s", err.msg, text);
	cr_assert_str_eq(last_line(text), "verify: clean (200 rows from 2 sources)\n");
	cr_assert_not_null(strstr(text, "cpu-a (cpu_stats): 100 rows, seq 0..99; no gaps"), "%s",
			   text);
	free(text);
}

Test(verify, names_the_missing_seqs_of_deleted_rows)
{
	struct sc_error err = {0};
	char *text;

	fill("cpu-a", 500, 0);
	exec_sql("DELETE FROM cpu_stats WHERE seq IN (17, 18, 19, 402)");
	cr_assert_eq(run(db_path, -1, &text, &err), 1, "%s%s", err.msg, text);
	cr_assert_not_null(strstr(text, "2 gaps (4 missing): missing 17-19, 402"), "%s", text);
	cr_assert_str_eq(last_line(text), "verify: NOT clean: 2 gaps, 4 missing, 0 unexpected"
					  " (496 rows from 1 sources)\n");
	free(text);
}

Test(verify, counts_a_missing_start_as_a_gap)
{
	struct sc_error err = {0};
	char *text;

	fill("cpu-a", 10, 0);
	exec_sql("DELETE FROM cpu_stats WHERE seq < 3");
	cr_assert_eq(run(db_path, -1, &text, &err), 1, "%s%s", err.msg, text);
	cr_assert_not_null(strstr(text, "seq 3..9; 1 gap (3 missing): missing 0-2"), "%s", text);
	free(text);
}

Test(verify, lists_the_first_gaps_and_counts_the_rest)
{
	struct sc_error err = {0};
	char *text;

	fill("cpu-a", 100, 0);
	exec_sql("DELETE FROM cpu_stats WHERE seq % 10 = 5");
	cr_assert_eq(run(db_path, -1, &text, &err), 1, "%s%s", err.msg, text);
	cr_assert_not_null(strstr(text, "10 gaps (10 missing): missing 5, 15, 25, 35, 45, ..."
					" (+5 more)"),
			   "%s", text);
	free(text);
}

Test(verify, reports_a_missing_tail_with_expect)
{
	struct sc_error err = {0};
	char *text;

	fill("cpu-a", 90, 0);
	cr_assert_eq(run(db_path, -1, &text, &err), 0, "without expect the tail is unknown");
	free(text);
	cr_assert_eq(run(db_path, 100, &text, &err), 1, "%s%s", err.msg, text);
	cr_assert_not_null(strstr(text, "missing tail 90-99 (10)"), "%s", text);
	cr_assert_str_eq(last_line(text), "verify: NOT clean: 0 gaps, 10 missing, 0 unexpected"
					  " (90 rows from 1 sources)\n");
	free(text);
}

Test(verify, reports_seq_beyond_expect_as_unexpected)
{
	struct sc_error err = {0};
	char *text;

	fill("cpu-a", 105, 0);
	cr_assert_eq(run(db_path, 100, &text, &err), 1, "%s%s", err.msg, text);
	cr_assert_not_null(strstr(text, "5 unexpected (seq >= 100)"), "%s", text);
	free(text);
}

Test(verify, reports_duplicates_refused_without_making_it_dirty)
{
	struct sc_error err = {0};
	char *text;

	fill("cpu-a", 10, 3);
	fill("cpu-a", 10, 0); /* replays all 10 */
	cr_assert_eq(run(db_path, 10, &text, &err), 0, "%s%s", err.msg, text);
	cr_assert_not_null(strstr(text, "cpu-a (cpu_stats): 10 rows, seq 0..9; no gaps;"
					" 13 duplicates refused\n"),
			   "%s", text);
	free(text);
}

Test(verify, summarises_dead_letters_by_reason)
{
	struct sc_error err = {0};
	char *text;

	fill("cpu-a", 5, 0);
	add_deadletter("json: truncated input");
	add_deadletter("json: truncated input");
	add_deadletter("missing seq");
	cr_assert_eq(run(db_path, 5, &text, &err), 0, "%s%s", err.msg, text);
	cr_assert_not_null(strstr(text, "         2  json: truncated input\n"
					"         1  missing seq\n"
					"dead letters: 3\n"),
			   "%s", text);
	free(text);
}

Test(verify, finds_an_empty_database_not_clean_with_expect)
{
	struct sc_error err = {0};
	struct sink_cfg cfg = {.db_path = db_path};
	char *text;

	sink_close(sink_open(&cfg, &err));
	cr_assert_eq(run(db_path, 10, &text, &err), 1, "%s%s", err.msg, text);
	cr_assert_str_eq(last_line(text), "verify: NOT clean: no rows\n");
	free(text);
	cr_assert_eq(run(db_path, -1, &text, &err), 0, "%s%s", err.msg, text);
	cr_assert_str_eq(last_line(text), "verify: clean (0 rows from 0 sources)\n");
	free(text);
}

Test(verify, fails_on_a_missing_file_without_creating_it)
{
	struct sc_error err = {0};
	char path[160];
	char *text;

	snprintf(path, sizeof(path), "%s/x.db", dir);
	cr_assert_lt(run(path, -1, &text, &err), 0);
	free(text);
	cr_assert_neq(err.code, 0);
	cr_assert(strstr(err.msg, "verify: cannot open database '") == err.msg, "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "/x.db': "), "%s", err.msg);
	cr_assert_neq(access(path, F_OK), 0, "verify created the file");
}

Test(verify, fails_on_a_file_that_is_not_a_sink_database)
{
	struct sc_error err = {0};
	char *text;

	exec_sql("CREATE TABLE other(x)");
	cr_assert_lt(run(db_path, -1, &text, &err), 0);
	free(text);
	cr_assert_not_null(strstr(err.msg, "is not a sink database"), "%s", err.msg);
}

Test(verify, sees_sources_of_both_tables_in_order)
{
	struct sink_cfg cfg = {.db_path = db_path};
	struct sc_error err = {0};
	struct sc_record r;
	struct sink *s;
	char *text, *a, *b;

	fill("z-cpu", 3, 0);
	s = sink_open(&cfg, &err);
	cr_assert_not_null(s, "%s", err.msg);
	sc_record_init(&r, SC_KIND_SENSOR_FEATURES);
	snprintf(r.env.source, sizeof(r.env.source), "a-sensor");
	cr_assert_eq(sink_begin(s, &err), 0);
	for (uint64_t seq = 0; seq < 4; seq++) {
		r.env.seq = seq;
		if (seq != 2)
			cr_assert_eq(sink_put(s, &r, NULL, &err), 0, "%s", err.msg);
	}
	cr_assert_eq(sink_commit(s, &err), 0);
	sink_close(s);

	cr_assert_eq(run(db_path, -1, &text, &err), 1, "%s%s", err.msg, text);
	a = strstr(text,
		   "a-sensor (sensor_features): 3 rows, seq 0..3; 1 gap (1 missing): missing 2");
	b = strstr(text, "z-cpu (cpu_stats): 3 rows");
	cr_assert(a && b && a < b, "%s", text);
	free(text);
}

Test(verify, sees_only_committed_rows_while_a_sink_is_writing)
{
	struct sink_cfg cfg = {.db_path = db_path};
	struct sc_error err = {0};
	struct sc_record r;
	struct sink *s;
	char *text;

	fill("cpu-a", 10, 0);
	s = sink_open(&cfg, &err);
	cr_assert_not_null(s, "%s", err.msg);
	sc_record_init(&r, SC_KIND_CPU_STATS);
	snprintf(r.env.source, sizeof(r.env.source), "cpu-a");
	cr_assert_eq(sink_begin(s, &err), 0, "%s", err.msg);
	for (uint64_t seq = 10; seq < 20; seq++) {
		r.env.seq = seq;
		cr_assert_eq(sink_put(s, &r, NULL, &err), 0, "%s", err.msg);
	}
	cr_assert_eq(run(db_path, 10, &text, &err), 0, "%s%s", err.msg, text);
	cr_assert_str_eq(last_line(text), "verify: clean (10 rows from 1 sources)\n");
	free(text);
	cr_assert_eq(sink_commit(s, &err), 0, "%s", err.msg);
	cr_assert_eq(run(db_path, 20, &text, &err), 0, "%s%s", err.msg, text);
	free(text);
	sink_close(s);
}

/* A source that stored nothing is not in the database: only --sources sees it missing. */
Test(verify, counts_the_sources_with_sources)
{
	struct sc_error err = {0};
	char *text;

	fill("cpu-a", 10, 0);
	cr_assert_eq(run_sources(db_path, 10, 0, &text, &err), 0, "%s%s", err.msg, text);
	free(text);
	cr_assert_eq(run_sources(db_path, 10, 2, &text, &err), 1, "%s%s", err.msg, text);
	cr_assert_str_eq(last_line(text),
			 "verify: NOT clean: 10 rows from 1 sources, expected 2 sources\n");
	free(text);
	fill("cpu-b", 10, 0);
	cr_assert_eq(run_sources(db_path, 10, 2, &text, &err), 0, "%s%s", err.msg, text);
	cr_assert_str_eq(last_line(text), "verify: clean (20 rows from 2 sources)\n");
	free(text);
	cr_assert_eq(run_sources(db_path, 10, 1, &text, &err), 1, "%s%s", err.msg, text);
	free(text);
}
