/* test_sink.c - the SQLite sink: rows, replays, rollback, dead letters, CSV. */
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
	strcpy(dir, "/tmp/test_sink-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(db_path, sizeof(db_path), "%s/sink.db", dir);
}

static void teardown(void)
{
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(sink, .init = setup, .fini = teardown);

static struct sink *open_sink(const char *csv_dir)
{
	struct sink_cfg cfg = {.db_path = db_path, .csv_dir = csv_dir};
	struct sc_error err = {0};
	struct sink *s = sink_open(&cfg, &err);

	cr_assert_not_null(s, "sink_open: %s", err.msg);
	return s;
}

static void make_cpu(struct sc_record *r, const char *source, uint64_t seq)
{
	sc_record_init(r, SC_KIND_CPU_STATS);
	snprintf(r->env.source, sizeof(r->env.source), "%s", source);
	snprintf(r->env.key, sizeof(r->env.key), "host-a");
	r->env.seq = seq;
	r->env.event_ns = 1000 + (int64_t)seq;
	r->env.intended_ns = 2000 + (int64_t)seq;
	r->env.sent_ns = 3000 + (int64_t)seq;
	r->env.processed_ns = 4000 + (int64_t)seq;
	r->u.cpu_stats.ncores = 8;
	r->u.cpu_stats.total = 12.5;
	r->u.cpu_stats.mean_cores = 11.25;
	r->u.cpu_stats.rolling_mean = 10.0;
	r->u.cpu_stats.rolling_std = 1.5;
	r->u.cpu_stats.zscore = 0.75;
	r->u.cpu_stats.anomaly = seq == 1;
	r->u.cpu_stats.window = 30;
}

static void make_features(struct sc_record *r, const char *source, uint64_t seq)
{
	struct sc_feature *f;

	sc_record_init(r, SC_KIND_SENSOR_FEATURES);
	snprintf(r->env.source, sizeof(r->env.source), "%s", source);
	snprintf(r->env.key, sizeof(r->env.key), "phone-1");
	r->env.seq = seq;
	r->env.event_ns = 5000;
	r->u.features.message_id = 42;
	snprintf(r->u.features.session_id, SC_ID_MAX, "sess, \"one\"");
	snprintf(r->u.features.device_id, SC_ID_MAX, "phone-1");
	r->u.features.window_start_ns = 100;
	r->u.features.window_end_ns = 900;
	r->u.features.nreadings = 40;
	snprintf(r->u.features.activity, sizeof(r->u.features.activity), "walking");
	r->u.features.activity_score = 2.5;
	f = sc_features_add(&r->u.features);
	cr_assert_not_null(f);
	snprintf(f->sensor, SC_NAME_MAX, "accelerometer");
	snprintf(f->field, SC_NAME_MAX, "magnitude");
	f->count = 20;
	f->mean = 9.81;
	f->std = 0.5;
	f->min = 8.0;
	f->max = 11.0;
	f = sc_features_add(&r->u.features);
	cr_assert_not_null(f);
	snprintf(f->sensor, SC_NAME_MAX, "barometer");
	snprintf(f->field, SC_NAME_MAX, "pressure");
	f->count = 20;
	f->mean = 1013.25;
}

static void put_ok(struct sink *s, const struct sc_record *r, int expect_stored)
{
	struct sc_error err = {0};
	int stored = -1;

	cr_assert_eq(sink_put(s, r, &stored, &err), 0, "sink_put: %s", err.msg);
	cr_assert_eq(stored, expect_stored);
}

static void begin_ok(struct sink *s)
{
	struct sc_error err = {0};

	cr_assert_eq(sink_begin(s, &err), 0, "sink_begin: %s", err.msg);
}

static void commit_ok(struct sink *s)
{
	struct sc_error err = {0};

	cr_assert_eq(sink_commit(s, &err), 0, "sink_commit: %s", err.msg);
}

/* Runs `sql` on a separate connection and returns the first column of its first row. */
static long long query_int(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long long v = -1;

	cr_assert_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
		     sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 65536);

	cr_assert_not_null(f, "cannot open %s", path);
	fread(buf, 1, 65535, f);
	fclose(f);
	return buf;
}

Test(sink, stores_cpu_stats_rows_with_envelope_and_values)
{
	struct sink *s = open_sink(NULL);
	struct sc_record r;
	sqlite3 *db;
	sqlite3_stmt *st;

	begin_ok(s);
	for (uint64_t seq = 0; seq < 3; seq++) {
		make_cpu(&r, "cpu-1", seq);
		put_ok(s, &r, 1);
	}
	commit_ok(s);
	sink_close(s);

	cr_assert_eq(query_int("SELECT count(*) FROM cpu_stats"), 3);
	cr_assert_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db,
					"SELECT source, key, event_ns, intended_ns, sent_ns,"
					" processed_ns, stored_ns, ncores, total, mean_cores,"
					" rolling_mean, rolling_std, zscore, anomaly, \"window\""
					" FROM cpu_stats WHERE seq = 1",
					-1, &st, NULL),
		     SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "cpu-1");
	cr_assert_str_eq((const char *)sqlite3_column_text(st, 1), "host-a");
	cr_assert_eq(sqlite3_column_int64(st, 2), 1001);
	cr_assert_eq(sqlite3_column_int64(st, 3), 2001);
	cr_assert_eq(sqlite3_column_int64(st, 4), 3001);
	cr_assert_eq(sqlite3_column_int64(st, 5), 4001);
	cr_assert_gt(sqlite3_column_int64(st, 6), 4001); /* stored now, epoch ns */
	cr_assert_eq(sqlite3_column_int(st, 7), 8);
	cr_assert_float_eq(sqlite3_column_double(st, 8), 12.5, 1e-12);
	cr_assert_float_eq(sqlite3_column_double(st, 9), 11.25, 1e-12);
	cr_assert_float_eq(sqlite3_column_double(st, 10), 10.0, 1e-12);
	cr_assert_float_eq(sqlite3_column_double(st, 11), 1.5, 1e-12);
	cr_assert_float_eq(sqlite3_column_double(st, 12), 0.75, 1e-12);
	cr_assert_eq(sqlite3_column_int(st, 13), 1);
	cr_assert_eq(sqlite3_column_int(st, 14), 30);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

Test(sink, uses_wal_journal)
{
	struct sink *s = open_sink(NULL);
	sqlite3 *db;
	sqlite3_stmt *st;

	sink_close(s);
	cr_assert_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

Test(sink, stores_sensor_features_with_their_feature_values)
{
	struct sink *s = open_sink(NULL);
	struct sc_record r;

	make_features(&r, "sensor-1", 7);
	begin_ok(s);
	put_ok(s, &r, 1);
	commit_ok(s);
	sink_close(s);
	sc_record_release(&r);

	cr_assert_eq(query_int("SELECT count(*) FROM sensor_features WHERE source = 'sensor-1'"
			       " AND seq = 7 AND device_id = 'phone-1' AND message_id = 42"
			       " AND activity = 'walking' AND nreadings = 40"
			       " AND window_start_ns = 100 AND window_end_ns = 900"
			       " AND session_id = 'sess, \"one\"' AND activity_score = 2.5"),
		     1);
	cr_assert_eq(query_int("SELECT count(*) FROM sensor_feature_values"
			       " WHERE source = 'sensor-1' AND seq = 7"),
		     2);
	cr_assert_eq(query_int("SELECT count FROM sensor_feature_values WHERE sensor ="
			       " 'accelerometer' AND field = 'magnitude' AND mean = 9.81"
			       " AND std = 0.5 AND min = 8.0 AND max = 11.0"),
		     20);
}

Test(sink, refuses_a_replay_and_counts_it_per_source)
{
	struct sink *s = open_sink(NULL);
	struct sc_record r, f;

	begin_ok(s);
	make_cpu(&r, "cpu-1", 0);
	put_ok(s, &r, 1);
	put_ok(s, &r, 0); /* replay inside the same transaction */
	commit_ok(s);

	begin_ok(s);
	r.u.cpu_stats.total = 99.0; /* a replay never overwrites either */
	put_ok(s, &r, 0);
	make_features(&f, "sensor-1", 0);
	put_ok(s, &f, 1);
	put_ok(s, &f, 0);
	commit_ok(s);
	sink_close(s);
	sc_record_release(&f);

	cr_assert_eq(query_int("SELECT count(*) FROM cpu_stats"), 1);
	cr_assert_eq(query_int("SELECT count(*) FROM cpu_stats WHERE total = 12.5"), 1);
	cr_assert_eq(query_int("SELECT count(*) FROM sensor_features"), 1);
	cr_assert_eq(query_int("SELECT count(*) FROM sensor_feature_values"), 2);
	cr_assert_eq(query_int("SELECT duplicates FROM sink_sources WHERE source = 'cpu-1'"), 2);
	cr_assert_eq(query_int("SELECT duplicates FROM sink_sources WHERE source = 'sensor-1'"), 1);
}

Test(sink, rollback_leaves_no_rows_and_no_duplicate_counts)
{
	struct sink *s = open_sink(NULL);
	struct sc_record r;

	begin_ok(s);
	make_cpu(&r, "cpu-1", 0);
	put_ok(s, &r, 1);
	commit_ok(s);

	begin_ok(s);
	put_ok(s, &r, 0);
	make_cpu(&r, "cpu-1", 1);
	put_ok(s, &r, 1);
	sink_rollback(s);
	sink_rollback(s); /* none open: accepted */

	begin_ok(s);
	commit_ok(s);
	sink_close(s);
	cr_assert_eq(query_int("SELECT count(*) FROM cpu_stats"), 1);
	cr_assert_eq(query_int("SELECT count(*) FROM cpu_stats WHERE seq = 1"), 0);
	cr_assert_eq(query_int("SELECT count(*) FROM sink_sources"), 0);
}

Test(sink, close_rolls_back_an_open_transaction)
{
	struct sink *s = open_sink(NULL);
	struct sc_record r;

	begin_ok(s);
	make_cpu(&r, "cpu-1", 0);
	put_ok(s, &r, 1);
	sink_close(s);
	sink_close(NULL);
	cr_assert_eq(query_int("SELECT count(*) FROM cpu_stats"), 0);
}

Test(sink, stores_a_dead_letter_with_reason_and_exact_payload)
{
	static const unsigned char payload[] = {'{', 0x00, 0xff, '"', '\n', 0x80, 'x'};
	struct sink *s = open_sink(NULL);
	struct sc_record r;
	sqlite3 *db;
	sqlite3_stmt *st;

	sc_record_init(&r, SC_KIND_DEADLETTER);
	cr_assert_eq(sc_deadletter_fill(&r, "sink", "processed.cpu", "json: truncated input",
					payload, sizeof(payload)),
		     0);
	begin_ok(s);
	put_ok(s, &r, 1);
	put_ok(s, &r, 1); /* dead letters have no identity: each one is kept */
	commit_ok(s);
	sink_close(s);
	sc_record_release(&r);

	cr_assert_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db,
					"SELECT stage, origin, reason, payload, source, seq,"
					" stored_ns FROM deadletters ORDER BY id",
					-1, &st, NULL),
		     SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "sink");
	cr_assert_str_eq((const char *)sqlite3_column_text(st, 1), "processed.cpu");
	cr_assert_str_eq((const char *)sqlite3_column_text(st, 2), "json: truncated input");
	cr_assert_eq(sqlite3_column_type(st, 3), SQLITE_BLOB);
	cr_assert_eq(sqlite3_column_bytes(st, 3), (int)sizeof(payload));
	cr_assert_arr_eq(sqlite3_column_blob(st, 3), payload, sizeof(payload));
	cr_assert_eq(sqlite3_column_type(st, 4), SQLITE_NULL);
	cr_assert_eq(sqlite3_column_type(st, 5), SQLITE_NULL);
	cr_assert_gt(sqlite3_column_int64(st, 6), 0);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_assert_eq(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

Test(sink, refuses_raw_records_and_puts_outside_a_transaction)
{
	struct sink *s = open_sink(NULL);
	struct sc_error err = {0};
	struct sc_record r;
	int stored = -1;

	sc_record_init(&r, SC_KIND_CPU);
	snprintf(r.env.source, sizeof(r.env.source), "cpu-1");
	begin_ok(s);
	cr_assert_eq(sink_put(s, &r, &stored, &err), -SC_EINVAL);
	cr_assert_eq(stored, 0);
	cr_assert_str_eq(err.msg, "sink: cannot store a cpu record");
	make_cpu(&r, "cpu-1", 0);
	put_ok(s, &r, 1); /* the refusal left the transaction usable */
	commit_ok(s);

	make_cpu(&r, "cpu-1", 1);
	cr_assert_eq(sink_put(s, &r, &stored, &err), -SC_EINVAL);
	cr_assert_str_eq(err.msg, "sink: put outside a transaction");
	sink_close(s);
	cr_assert_eq(query_int("SELECT count(*) FROM cpu_stats"), 1);
}

Test(sink, writes_csv_lines_only_for_committed_new_rows)
{
	char csv_dir[128], path[192];
	struct sink *s;
	struct sc_record r, f;
	char *text;

	snprintf(csv_dir, sizeof(csv_dir), "%s/out/csv", dir);
	s = open_sink(csv_dir);
	snprintf(path, sizeof(path), "%s/cpu_stats.csv", csv_dir);

	begin_ok(s);
	make_cpu(&r, "cpu-1", 0);
	put_ok(s, &r, 1);
	text = read_file(path);
	cr_assert_eq(strchr(text, '\n'), strrchr(text, '\n'), "only the header before commit");
	free(text);
	commit_ok(s);

	begin_ok(s);
	put_ok(s, &r, 0); /* duplicate: no line */
	make_cpu(&r, "cpu-1", 1);
	put_ok(s, &r, 1);
	commit_ok(s);

	begin_ok(s);
	make_cpu(&r, "cpu-1", 2);
	put_ok(s, &r, 1);
	sink_rollback(s); /* rolled back: no line */

	begin_ok(s);
	make_features(&f, "sensor-1", 0);
	put_ok(s, &f, 1);
	commit_ok(s);
	sink_close(s);
	sc_record_release(&f);

	text = read_file(path);
	cr_assert(strncmp(text, "source,seq,key,event_ns,", 24) == 0, "header: %s", text);
	{
		int lines = 0;
		for (char *p = text; *p; p++)
			lines += *p == '\n';
		cr_assert_eq(lines, 3, "header + 2 rows, got:\n%s", text);
	}
	cr_assert_not_null(strstr(text, "\ncpu-1,0,host-a,1000,2000,3000,4000,"));
	cr_assert_not_null(strstr(text, "\ncpu-1,1,host-a,1001,2001,3001,4001,"));
	cr_assert_not_null(strstr(text, ",8,12.5,11.25,10,1.5,0.75,1,30\n"));
	cr_assert_null(strstr(text, "\ncpu-1,2,"));
	free(text);

	snprintf(path, sizeof(path), "%s/sensor_features.csv", csv_dir);
	text = read_file(path);
	cr_assert_not_null(strstr(text, "\nsensor-1,0,phone-1,5000,"), "%s", text);
	cr_assert_not_null(
		strstr(text, ",phone-1,\"sess, \"\"one\"\"\",42,100,900,40,walking,2.5\n"), "%s",
		text);
	free(text);

	/* reopening appends without a second header */
	s = open_sink(csv_dir);
	sink_close(s);
	snprintf(path, sizeof(path), "%s/cpu_stats.csv", csv_dir);
	text = read_file(path);
	cr_assert_null(strstr(text + 1, "source,seq"), "one header only");
	free(text);
}

Test(sink, gives_a_clear_error_for_an_unwritable_path)
{
	struct sink_cfg cfg = {.db_path = "/nonexistent-dir/sub/x.db"};
	struct sc_error err = {0};

	cr_assert_null(sink_open(&cfg, &err));
	cr_assert_eq(err.code, SC_EIO);
	cr_assert_str_eq(err.msg, "sink: cannot open database '/nonexistent-dir/sub/x.db': "
				  "unable to open database file");
}

Test(sink, gives_a_clear_error_for_an_unusable_csv_dir)
{
	char file[128];
	struct sink_cfg cfg = {.db_path = db_path, .csv_dir = file};
	struct sc_error err = {0};
	FILE *f;

	snprintf(file, sizeof(file), "%s/plain-file", dir);
	f = fopen(file, "w");
	cr_assert_not_null(f);
	fclose(f);
	cr_assert_null(sink_open(&cfg, &err));
	cr_assert_eq(err.code, SC_EIO);
	cr_assert(strstr(err.msg, "sink: cannot open csv file '") == err.msg, "%s", err.msg);
}

Test(sink, reports_writable_until_the_database_file_disappears)
{
	struct sink *s = open_sink(NULL);

	cr_assert(sink_writable(s));
	cr_assert_not(sink_writable(NULL));
	unlink(db_path);
	cr_assert_not(sink_writable(s));
	sink_close(s);
}
