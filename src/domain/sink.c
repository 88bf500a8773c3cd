/*
 * sink.c - the SQLite sink (and its optional CSV copy); see sink.h.
 *
 * One connection, WAL journal, every statement prepared once at open and
 * reset/rebound per row.  A row is new when INSERT OR IGNORE changed one row;
 * otherwise it is a replay, counted per source in memory and added to
 * sink_sources.duplicates just before COMMIT, so the count is durable exactly
 * when the transaction is.  CSV lines for new rows are buffered during the
 * transaction and written (and flushed) only after COMMIT succeeded.
 *
 * Failure model: any failing SQL step leaves the transaction for the caller
 * to roll back (sink_rollback); a failing sink_commit rolls back by itself,
 * so nothing of the batch is stored and the caller replays it.  A record
 * refused with -SC_EINVAL before any SQL ran (bad kind, no source) leaves the
 * transaction usable.  A CSV write failure after a successful COMMIT is
 * returned as -SC_EIO although the rows are durable: a replay is harmless
 * (refused as duplicates) but those CSV lines are lost.
 *
 * Threads: the connection is opened without SQLite's mutex, so one thread
 * drives a sink.  sink_writable() touches neither the connection nor the
 * transaction (an atomic flag set by failed writes, cleared by a commit, and
 * access(2) on the file), so the HTTP thread may call it for /readyz.
 *
 * Map:  schema - errors - open/close - csv - transactions - put
 */
#include "sink.h"
#include "error.h"
#include "record.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- schema ------------------------------------------------------------- */

static const char sink_schema[] =
	"CREATE TABLE IF NOT EXISTS cpu_stats("
	" source TEXT NOT NULL, seq INTEGER NOT NULL, key TEXT,"
	" event_ns INTEGER, intended_ns INTEGER, sent_ns INTEGER,"
	" processed_ns INTEGER, stored_ns INTEGER,"
	" ncores INTEGER, total REAL, mean_cores REAL, rolling_mean REAL,"
	" rolling_std REAL, zscore REAL, anomaly INTEGER, \"window\" INTEGER,"
	" PRIMARY KEY(source, seq)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS sensor_features("
	" source TEXT NOT NULL, seq INTEGER NOT NULL, key TEXT,"
	" event_ns INTEGER, intended_ns INTEGER, sent_ns INTEGER,"
	" processed_ns INTEGER, stored_ns INTEGER,"
	" device_id TEXT, session_id TEXT, message_id INTEGER,"
	" window_start_ns INTEGER, window_end_ns INTEGER, nreadings INTEGER,"
	" activity TEXT, activity_score REAL,"
	" PRIMARY KEY(source, seq)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS sensor_feature_values("
	" source TEXT NOT NULL, seq INTEGER NOT NULL, sensor TEXT NOT NULL,"
	" field TEXT NOT NULL, count INTEGER, mean REAL, std REAL, min REAL,"
	" max REAL, PRIMARY KEY(source, seq, sensor, field)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS deadletters("
	" id INTEGER PRIMARY KEY, stored_ns INTEGER, stage TEXT, origin TEXT,"
	" reason TEXT, payload BLOB, source TEXT, seq INTEGER);"
	"CREATE INDEX IF NOT EXISTS deadletters_reason ON deadletters(reason);"
	"CREATE TABLE IF NOT EXISTS sink_sources("
	" source TEXT PRIMARY KEY, duplicates INTEGER NOT NULL DEFAULT 0);";

static const char sql_cpu[] =
	"INSERT OR IGNORE INTO cpu_stats(source, seq, key, event_ns, intended_ns,"
	" sent_ns, processed_ns, stored_ns, ncores, total, mean_cores, rolling_mean,"
	" rolling_std, zscore, anomaly, \"window\")"
	" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";
static const char sql_feat[] =
	"INSERT OR IGNORE INTO sensor_features(source, seq, key, event_ns,"
	" intended_ns, sent_ns, processed_ns, stored_ns, device_id, session_id,"
	" message_id, window_start_ns, window_end_ns, nreadings, activity,"
	" activity_score)"
	" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";
static const char sql_fval[] =
	"INSERT OR IGNORE INTO sensor_feature_values(source, seq, sensor, field,"
	" count, mean, std, min, max) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
static const char sql_dead[] =
	"INSERT INTO deadletters(stored_ns, stage, origin, reason, payload, source,"
	" seq) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char sql_dup[] =
	"INSERT INTO sink_sources(source, duplicates) VALUES(?1, ?2)"
	" ON CONFLICT(source) DO UPDATE SET duplicates = duplicates + excluded.duplicates";

static const char csv_cpu_header[] =
	"source,seq,key,event_ns,intended_ns,sent_ns,processed_ns,stored_ns,"
	"ncores,total,mean_cores,rolling_mean,rolling_std,zscore,anomaly,window\n";
static const char csv_feat_header[] =
	"source,seq,key,event_ns,intended_ns,sent_ns,processed_ns,stored_ns,"
	"device_id,session_id,message_id,window_start_ns,window_end_ns,nreadings,"
	"activity,activity_score\n";

struct sink_dup {
	char source[SC_ID_MAX];
	int64_t n;
};

struct sink_csv {
	FILE *f;
	struct sc_buf pending; /* lines of the open transaction */
};

struct sink {
	sqlite3 *db;
	char *db_path;
	sqlite3_stmt *ins_cpu, *ins_feat, *ins_fval, *ins_dead, *add_dup;
	sqlite3_stmt *begin, *commit, *rollback;
	struct sink_dup *dups; /* replays refused in the open transaction */
	size_t ndups, capdups;
	bool csv;
	struct sink_csv csv_cpu, csv_feat;
	atomic_bool failed; /* last write failed for a non-retryable reason */
};

/* ---- errors ------------------------------------------------------------- */

static int sink_code(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED: return SC_EAGAIN;
	case SQLITE_NOMEM: return SC_ENOMEM;
	case SQLITE_TOOBIG: return SC_ETOOBIG;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE: return SC_EINVAL;
	default: return SC_EIO;
	}
}

/* "sink: <what>: <sqlite text>"; remembers non-retryable failures for sink_writable. */
static int sink_fail(struct sink *s, struct sc_error *err, int rc, const char *what)
{
	int code = sink_code(rc);

	if (code != SC_EAGAIN && code != SC_EINVAL)
		atomic_store(&s->failed, true);
	return sc_error_set(err, code, "sink: %s: %s", what, sqlite3_errmsg(s->db));
}

/* Run a statement that returns no rows we need; reset it either way. */
static int sink_step(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* ---- csv ---------------------------------------------------------------- */

static int csv_mkdirs(const char *dir, struct sc_error *err)
{
	char path[4096];
	size_t len = sc_strlcpy(path, dir, sizeof(path));

	if (len == 0 || len >= sizeof(path))
		return sc_error_set(err, SC_EINVAL, "sink: bad csv directory '%s'", dir);
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(path, 0777) != 0 && errno != EEXIST)
			return sc_error_set(err, SC_EIO,
					    "sink: cannot create csv directory '%s': %s", path,
					    strerror(errno));
		*p = c;
		if (c == '\0')
			break;
	}
	return 0;
}

static int csv_open(struct sink_csv *c, const char *dir, const char *name, const char *header,
		    struct sc_error *err)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	c->f = fopen(path, "ae");
	if (!c->f)
		return sc_error_set(err, SC_EIO, "sink: cannot open csv file '%s': %s", path,
				    strerror(errno));
	if (fstat(fileno(c->f), &st) == 0 && st.st_size == 0) {
		if (fputs(header, c->f) == EOF || fflush(c->f) != 0)
			return sc_error_set(err, SC_EIO, "sink: cannot write csv file '%s': %s",
					    path, strerror(errno));
	}
	return 0;
}

static int csv_printf(struct sc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int csv_printf(struct sc_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		n = vsnprintf((char *)b->data + b->len, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			return -SC_EINVAL;
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return 0;
		}
		if (sc_buf_reserve(b, (size_t)n + 1) != 0)
			return -SC_ENOMEM;
	}
}

/* A text field, quoted (RFC 4180) when it holds a comma, quote or line break. */
static int csv_str(struct sc_buf *b, const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	int rc = 0;

	if (strcspn(s, ",\"\r\n") >= n)
		return sc_buf_append(b, s, n);
	rc |= sc_buf_append(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		rc |= sc_buf_append(b, &s[i], 1);
		if (s[i] == '"')
			rc |= sc_buf_append(b, "\"", 1);
	}
	rc |= sc_buf_append(b, "\"", 1);
	return rc ? -SC_ENOMEM : 0;
}

static int csv_envelope(struct sc_buf *b, const struct sc_envelope *e, int64_t stored_ns)
{
	int rc = 0;

	rc |= csv_str(b, e->source, sizeof(e->source));
	rc |= csv_printf(b, ",%" PRIu64 ",", e->seq);
	rc |= csv_str(b, e->key, sizeof(e->key));
	rc |= csv_printf(b, ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64,
			 e->event_ns, e->intended_ns, e->sent_ns, e->processed_ns, stored_ns);
	return rc ? -SC_ENOMEM : 0;
}

static int csv_add(struct sink *s, const struct sc_record *r, int64_t stored_ns)
{
	struct sc_buf *b;
	int rc = 0;

	if (r->kind == SC_KIND_CPU_STATS) {
		const struct sc_cpu_stats *c = &r->u.cpu_stats;
		b = &s->csv_cpu.pending;
		rc |= csv_envelope(b, &r->env, stored_ns);
		rc |= csv_printf(b, ",%" PRIu32 ",%.15g,%.15g,%.15g,%.15g,%.15g,%d,%" PRIu32 "\n",
				 c->ncores, c->total, c->mean_cores, c->rolling_mean,
				 c->rolling_std, c->zscore, c->anomaly ? 1 : 0, c->window);
	} else {
		const struct sc_sensor_features *f = &r->u.features;
		b = &s->csv_feat.pending;
		rc |= csv_envelope(b, &r->env, stored_ns);
		rc |= csv_printf(b, ",");
		rc |= csv_str(b, f->device_id, sizeof(f->device_id));
		rc |= csv_printf(b, ",");
		rc |= csv_str(b, f->session_id, sizeof(f->session_id));
		rc |= csv_printf(b, ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRIu32 ",",
				 f->message_id, f->window_start_ns, f->window_end_ns, f->nreadings);
		rc |= csv_str(b, f->activity, sizeof(f->activity));
		rc |= csv_printf(b, ",%.15g\n", f->activity_score);
	}
	return rc ? -SC_ENOMEM : 0;
}

static int csv_write(struct sink_csv *c, const char *name, struct sc_error *err)
{
	if (c->pending.len && fwrite(c->pending.data, 1, c->pending.len, c->f) != c->pending.len)
		goto fail;
	c->pending.len = 0;
	if (fflush(c->f) != 0)
		goto fail;
	return 0;
fail:
	c->pending.len = 0;
	clearerr(c->f);
	return sc_error_set(err, SC_EIO, "sink: cannot write csv file %s: %s", name,
			    strerror(errno));
}

/* ---- open/close --------------------------------------------------------- */

static int sink_prepare(struct sink *s, sqlite3_stmt **st, const char *sql, struct sc_error *err)
{
	int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);

	if (rc != SQLITE_OK)
		return sc_error_set(err, sink_code(rc), "sink: cannot prepare statement: %s",
				    sqlite3_errmsg(s->db));
	return 0;
}

static int sink_setup(struct sink *s, const struct sink_cfg *cfg, struct sc_error *err)
{
	char pragmas[160];
	sqlite3_stmt *st = NULL;
	const char *mode;
	int rc;

	if (sqlite3_db_readonly(s->db, "main") == 1)
		return sc_error_set(err, SC_EIO, "sink: database '%s' is read-only", cfg->db_path);
	sqlite3_busy_timeout(s->db, cfg->busy_timeout_ms > 0 ? cfg->busy_timeout_ms : 5000);

	rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sc_error_set(err, sink_code(rc), "sink: cannot set WAL mode on '%s': %s",
			     cfg->db_path, sqlite3_errmsg(s->db));
		sqlite3_finalize(st);
		return -err->code;
	}
	mode = (const char *)sqlite3_column_text(st, 0);
	if (!mode || (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0)) {
		sc_error_set(err, SC_EIO, "sink: database '%s' refuses WAL mode (journal mode %s)",
			     cfg->db_path, mode ? mode : "unknown");
		sqlite3_finalize(st);
		return -SC_EIO;
	}
	sqlite3_finalize(st);

	snprintf(pragmas, sizeof(pragmas),
		 "PRAGMA synchronous=%s; PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY;",
		 cfg->synchronous_full ? "FULL" : "NORMAL");
	rc = sqlite3_exec(s->db, pragmas, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->db, sink_schema, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return sc_error_set(err, sink_code(rc), "sink: cannot create tables in '%s': %s",
				    cfg->db_path, sqlite3_errmsg(s->db));

	if (sink_prepare(s, &s->ins_cpu, sql_cpu, err) ||
	    sink_prepare(s, &s->ins_feat, sql_feat, err) ||
	    sink_prepare(s, &s->ins_fval, sql_fval, err) ||
	    sink_prepare(s, &s->ins_dead, sql_dead, err) ||
	    sink_prepare(s, &s->add_dup, sql_dup, err) ||
	    sink_prepare(s, &s->begin, "BEGIN IMMEDIATE", err) ||
	    sink_prepare(s, &s->commit, "COMMIT", err) ||
	    sink_prepare(s, &s->rollback, "ROLLBACK", err))
		return -err->code;
	return 0;
}

struct sink *sink_open(const struct sink_cfg *cfg, struct sc_error *err)
{
	struct sink *s;
	int rc;

	if (!cfg || !cfg->db_path || !cfg->db_path[0]) {
		sc_error_set(err, SC_EINVAL, "sink: no database path given");
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		goto nomem;
	atomic_init(&s->failed, false);
	sc_buf_init(&s->csv_cpu.pending);
	sc_buf_init(&s->csv_feat.pending);
	s->db_path = strdup(cfg->db_path);
	if (!s->db_path)
		goto nomem_free;

	rc = sqlite3_open_v2(cfg->db_path, &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		sc_error_set(err, sink_code(rc), "sink: cannot open database '%s': %s",
			     cfg->db_path, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	if (sink_setup(s, cfg, err) != 0)
		goto fail;

	if (cfg->csv_dir) {
		s->csv = true;
		if (csv_mkdirs(cfg->csv_dir, err) ||
		    csv_open(&s->csv_cpu, cfg->csv_dir, "cpu_stats.csv", csv_cpu_header, err) ||
		    csv_open(&s->csv_feat, cfg->csv_dir, "sensor_features.csv", csv_feat_header,
			     err))
			goto fail;
	}
	return s;

nomem_free:
	free(s);
nomem:
	sc_error_set(err, SC_ENOMEM, "sink: out of memory");
	return NULL;
fail:
	sink_close(s);
	return NULL;
}

void sink_close(struct sink *s)
{
	if (!s)
		return;
	if (s->db)
		sink_rollback(s);
	sqlite3_finalize(s->ins_cpu);
	sqlite3_finalize(s->ins_feat);
	sqlite3_finalize(s->ins_fval);
	sqlite3_finalize(s->ins_dead);
	sqlite3_finalize(s->add_dup);
	sqlite3_finalize(s->begin);
	sqlite3_finalize(s->commit);
	sqlite3_finalize(s->rollback);
	sqlite3_close(s->db);
	if (s->csv_cpu.f)
		fclose(s->csv_cpu.f);
	if (s->csv_feat.f)
		fclose(s->csv_feat.f);
	sc_buf_release(&s->csv_cpu.pending);
	sc_buf_release(&s->csv_feat.pending);
	free(s->dups);
	free(s->db_path);
	free(s);
}

/* ---- transactions ------------------------------------------------------- */

static void sink_forget_batch(struct sink *s)
{
	s->ndups = 0;
	s->csv_cpu.pending.len = 0;
	s->csv_feat.pending.len = 0;
}

int sink_begin(struct sink *s, struct sc_error *err)
{
	int rc;

	if (!sqlite3_get_autocommit(s->db))
		return sc_error_set(err, SC_EINVAL, "sink: a transaction is already open");
	sink_forget_batch(s);
	rc = sink_step(s->begin);
	if (rc != SQLITE_OK)
		return sink_fail(s, err, rc, "cannot begin transaction");
	return 0;
}

static int sink_add_dups(struct sink *s, struct sc_error *err)
{
	for (size_t i = 0; i < s->ndups; i++) {
		int rc;
		sqlite3_bind_text(s->add_dup, 1, s->dups[i].source, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s->add_dup, 2, s->dups[i].n);
		rc = sink_step(s->add_dup);
		if (rc != SQLITE_OK)
			return sink_fail(s, err, rc, "cannot count duplicates");
	}
	return 0;
}

int sink_commit(struct sink *s, struct sc_error *err)
{
	int rc, ret;

	if (sqlite3_get_autocommit(s->db)) {
		sink_forget_batch(s);
		return sc_error_set(err, SC_EIO,
				    "sink: no transaction to commit (rolled back after an error)");
	}
	ret = sink_add_dups(s, err);
	if (ret != 0)
		goto rollback;
	rc = sink_step(s->commit);
	if (rc != SQLITE_OK) {
		ret = sink_fail(s, err, rc, "cannot commit");
		goto rollback;
	}
	atomic_store(&s->failed, false);
	s->ndups = 0;
	if (s->csv) {
		ret = csv_write(&s->csv_cpu, "cpu_stats.csv", err);
		rc = csv_write(&s->csv_feat, "sensor_features.csv", ret ? NULL : err);
		if (ret == 0)
			ret = rc;
	}
	return ret;
rollback:
	sink_rollback(s);
	return ret;
}

void sink_rollback(struct sink *s)
{
	if (!s)
		return;
	if (!sqlite3_get_autocommit(s->db))
		sink_step(s->rollback);
	sink_forget_batch(s);
}

bool sink_writable(struct sink *s)
{
	if (!s || atomic_load(&s->failed))
		return false;
	return strcmp(s->db_path, ":memory:") == 0 || access(s->db_path, W_OK) == 0;
}

/* ---- put ---------------------------------------------------------------- */

static int sink_count_dup(struct sink *s, const char *source)
{
	for (size_t i = 0; i < s->ndups; i++) {
		if (strcmp(s->dups[i].source, source) == 0) {
			s->dups[i].n++;
			return 0;
		}
	}
	if (s->ndups == s->capdups) {
		size_t cap = s->capdups ? s->capdups * 2 : 8;
		struct sink_dup *nd = realloc(s->dups, cap * sizeof(*nd));
		if (!nd)
			return -SC_ENOMEM;
		s->dups = nd;
		s->capdups = cap;
	}
	sc_strlcpy(s->dups[s->ndups].source, source, SC_ID_MAX);
	s->dups[s->ndups++].n = 1;
	return 0;
}

static void bind_str(sqlite3_stmt *st, int i, const char *v, size_t max)
{
	sqlite3_bind_text(st, i, v, (int)strnlen(v, max), SQLITE_STATIC);
}

static void bind_envelope(sqlite3_stmt *st, const struct sc_envelope *e, int64_t stored_ns)
{
	bind_str(st, 1, e->source, sizeof(e->source));
	sqlite3_bind_int64(st, 2, (sqlite3_int64)e->seq);
	bind_str(st, 3, e->key, sizeof(e->key));
	sqlite3_bind_int64(st, 4, e->event_ns);
	sqlite3_bind_int64(st, 5, e->intended_ns);
	sqlite3_bind_int64(st, 6, e->sent_ns);
	sqlite3_bind_int64(st, 7, e->processed_ns);
	sqlite3_bind_int64(st, 8, stored_ns);
}

static int put_values(struct sink *s, const struct sc_record *r, struct sc_error *err)
{
	const struct sc_sensor_features *f = &r->u.features;
	sqlite3_stmt *st = s->ins_fval;

	for (size_t i = 0; i < f->n; i++) {
		const struct sc_feature *v = &f->features[i];
		int rc;
		bind_str(st, 1, r->env.source, sizeof(r->env.source));
		sqlite3_bind_int64(st, 2, (sqlite3_int64)r->env.seq);
		bind_str(st, 3, v->sensor, sizeof(v->sensor));
		bind_str(st, 4, v->field, sizeof(v->field));
		sqlite3_bind_int64(st, 5, v->count);
		sqlite3_bind_double(st, 6, v->mean);
		sqlite3_bind_double(st, 7, v->std);
		sqlite3_bind_double(st, 8, v->min);
		sqlite3_bind_double(st, 9, v->max);
		rc = sink_step(st);
		if (rc != SQLITE_OK)
			return sink_fail(s, err, rc, "cannot insert sensor_feature_values row");
	}
	return 0;
}

static int put_processed(struct sink *s, const struct sc_record *r, int64_t now, int *stored,
			 struct sc_error *err)
{
	sqlite3_stmt *st;
	int rc;

	if (r->kind == SC_KIND_CPU_STATS) {
		const struct sc_cpu_stats *c = &r->u.cpu_stats;
		st = s->ins_cpu;
		bind_envelope(st, &r->env, now);
		sqlite3_bind_int64(st, 9, c->ncores);
		sqlite3_bind_double(st, 10, c->total);
		sqlite3_bind_double(st, 11, c->mean_cores);
		sqlite3_bind_double(st, 12, c->rolling_mean);
		sqlite3_bind_double(st, 13, c->rolling_std);
		sqlite3_bind_double(st, 14, c->zscore);
		sqlite3_bind_int(st, 15, c->anomaly ? 1 : 0);
		sqlite3_bind_int64(st, 16, c->window);
	} else {
		const struct sc_sensor_features *f = &r->u.features;
		st = s->ins_feat;
		bind_envelope(st, &r->env, now);
		bind_str(st, 9, f->device_id, sizeof(f->device_id));
		bind_str(st, 10, f->session_id, sizeof(f->session_id));
		sqlite3_bind_int64(st, 11, f->message_id);
		sqlite3_bind_int64(st, 12, f->window_start_ns);
		sqlite3_bind_int64(st, 13, f->window_end_ns);
		sqlite3_bind_int64(st, 14, f->nreadings);
		bind_str(st, 15, f->activity, sizeof(f->activity));
		sqlite3_bind_double(st, 16, f->activity_score);
	}
	rc = sink_step(st);
	if (rc != SQLITE_OK)
		return sink_fail(s, err, rc,
				 r->kind == SC_KIND_CPU_STATS
					 ? "cannot insert cpu_stats row"
					 : "cannot insert sensor_features row");
	if (sqlite3_changes(s->db) == 0) {
		if (sink_count_dup(s, r->env.source) != 0)
			return sc_error_set(err, SC_ENOMEM, "sink: out of memory");
		return 0;
	}
	if (r->kind == SC_KIND_SENSOR_FEATURES) {
		rc = put_values(s, r, err);
		if (rc != 0)
			return rc;
	}
	if (s->csv && csv_add(s, r, now) != 0)
		return sc_error_set(err, SC_ENOMEM, "sink: out of memory");
	*stored = 1;
	return 0;
}

static int put_deadletter(struct sink *s, const struct sc_record *r, int64_t now,
			  struct sc_error *err)
{
	const struct sc_deadletter *d = &r->u.dead;
	sqlite3_stmt *st = s->ins_dead;
	int rc;

	if (d->len > (size_t)INT32_MAX)
		return sc_error_set(err, SC_ETOOBIG, "sink: dead-letter payload too large");
	sqlite3_bind_int64(st, 1, now);
	bind_str(st, 2, d->stage, sizeof(d->stage));
	bind_str(st, 3, d->origin, sizeof(d->origin));
	bind_str(st, 4, d->reason, sizeof(d->reason));
	if (d->len)
		sqlite3_bind_blob(st, 5, d->payload, (int)d->len, SQLITE_STATIC);
	else
		sqlite3_bind_zeroblob(st, 5, 0);
	if (r->env.source[0]) {
		bind_str(st, 6, r->env.source, sizeof(r->env.source));
		sqlite3_bind_int64(st, 7, (sqlite3_int64)r->env.seq);
	} else {
		sqlite3_bind_null(st, 6);
		sqlite3_bind_null(st, 7);
	}
	rc = sink_step(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_OK)
		return sink_fail(s, err, rc, "cannot insert dead letter");
	return 0;
}

int sink_put(struct sink *s, const struct sc_record *r, int *stored, struct sc_error *err)
{
	int64_t now = sc_now_ns();
	int dummy, rc;

	if (!stored)
		stored = &dummy;
	*stored = 0;
	if (r->kind != SC_KIND_CPU_STATS && r->kind != SC_KIND_SENSOR_FEATURES &&
	    r->kind != SC_KIND_DEADLETTER) {
		const char *name = sc_kind_name(r->kind);
		return sc_error_set(err, SC_EINVAL, "sink: cannot store a %s record",
				    name ? name : "bad");
	}
	if (sqlite3_get_autocommit(s->db))
		return sc_error_set(err, SC_EINVAL, "sink: put outside a transaction");
	if (r->kind == SC_KIND_DEADLETTER) {
		rc = put_deadletter(s, r, now, err);
		if (rc == 0)
			*stored = 1;
		return rc;
	}
	if (!r->env.source[0])
		return sc_error_set(err, SC_EINVAL, "sink: %s record without a source",
				    sc_kind_name(r->kind));
	if (r->env.seq > (uint64_t)INT64_MAX)
		return sc_error_set(err, SC_EINVAL, "sink: %s record seq %" PRIu64 " out of range",
				    sc_kind_name(r->kind), r->env.seq);
	return put_processed(s, r, now, stored, err);
}
