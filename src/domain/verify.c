/*
 * verify.c - `streamctl verify`: completeness report of a sink database.
 *
 * Opens the database read-only (a missing file is an error, never created)
 * and reads everything inside one read transaction, so a sink writing at the
 * same time (WAL) does not skew the numbers.  Per (source, table) it finds
 * the row count and seq range with one GROUP BY pass; only a source with
 * fewer rows than its seq span is then scanned for its gaps, with LAG() over
 * its primary-key range (no sort), and with --expect the rows beyond it are
 * counted over an index range.  A source's first missing range
 * can start at 0: seq is contiguous from 0 per source.
 *
 * Map:  collecting - queries - printing - verify_run
 */
#include "error.h"
#include "sink.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define VERIFY_RANGES  5 /* missing ranges listed per source */
#define VERIFY_REASONS 5

struct vsrc {
	char *source;
	const char *table;
	long long rows, min, max;
	long long dups;
	long long ngaps;      /* missing ranges below max */
	long long unexpected; /* rows with seq >= expect */
	long long tail;	      /* missing seqs after max, below expect */
	int nranges;
	long long ranges[VERIFY_RANGES][2];
};

struct vstate {
	const struct verify_cfg *cfg;
	sqlite3 *db;
	struct vsrc *src;
	size_t n, cap;
};

/* ---- collecting --------------------------------------------------------- */

static int vfail(struct vstate *v, struct sc_error *err, int rc)
{
	return sc_error_set(err, rc == SQLITE_NOMEM ? SC_ENOMEM : SC_EIO,
			    "verify: cannot read database '%s': %s", v->cfg->db_path,
			    sqlite3_errmsg(v->db));
}

static struct vsrc *vsrc_add(struct vstate *v, const char *source, const char *table)
{
	struct vsrc *e;

	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;
		struct vsrc *ns = realloc(v->src, cap * sizeof(*ns));
		if (!ns)
			return NULL;
		v->src = ns;
		v->cap = cap;
	}
	e = &v->src[v->n];
	memset(e, 0, sizeof(*e));
	e->source = strdup(source ? source : "");
	if (!e->source)
		return NULL;
	e->table = table;
	v->n++;
	return e;
}

static void vsrc_range(struct vsrc *e, long long lo, long long hi)
{
	if (e->nranges < VERIFY_RANGES) {
		e->ranges[e->nranges][0] = lo;
		e->ranges[e->nranges][1] = hi;
		e->nranges++;
	}
	e->ngaps++;
}

/* ---- queries ------------------------------------------------------------ */

static int vprepare(struct vstate *v, sqlite3_stmt **st, const char *fmt, const char *table)
{
	char sql[512];

	snprintf(sql, sizeof(sql), fmt, table, table);
	return sqlite3_prepare_v2(v->db, sql, -1, st, NULL);
}

static int vtable_exists(struct vstate *v, const char *name, bool *exists)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(
		v->db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1, &st,
		NULL);

	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*exists = rc == SQLITE_ROW;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int vscan_table(struct vstate *v, const char *table, struct sc_error *err)
{
	static const char q_sum[] = "SELECT source, count(*), min(seq), max(seq) FROM %s"
				    " GROUP BY source ORDER BY source";
	static const char q_gap[] =
		"SELECT prev + 1, seq - 1 FROM (SELECT seq,"
		" lag(seq) OVER (ORDER BY seq) AS prev FROM %s WHERE source = ?1)"
		" WHERE seq > prev + 1";
	static const char q_beyond[] = "SELECT count(*) FROM %s WHERE source = ?1 AND seq >= ?2";
	size_t first = v->n;
	sqlite3_stmt *st = NULL;
	int rc;

	rc = vprepare(v, &st, q_sum, table);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct vsrc *e = vsrc_add(v, (const char *)sqlite3_column_text(st, 0), table);
		if (!e) {
			sqlite3_finalize(st);
			return sc_error_set(err, SC_ENOMEM, "verify: out of memory");
		}
		e->rows = sqlite3_column_int64(st, 1);
		e->min = sqlite3_column_int64(st, 2);
		e->max = sqlite3_column_int64(st, 3);
		if (e->min > 0)
			vsrc_range(e, 0, e->min - 1);
		if (v->cfg->expect >= 0 && e->max < v->cfg->expect - 1)
			e->tail = v->cfg->expect - 1 - e->max;
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc != SQLITE_DONE)
		return vfail(v, err, rc);

	/* only a source with fewer rows than its seq span has gaps to list */
	for (size_t i = first; i < v->n; i++) {
		struct vsrc *e = &v->src[i];
		if (e->max - e->min + 1 == e->rows)
			continue;
		rc = vprepare(v, &st, q_gap, table);
		if (rc == SQLITE_OK)
			sqlite3_bind_text(st, 1, e->source, -1, SQLITE_STATIC);
		while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			vsrc_range(e, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1));
			rc = SQLITE_OK;
		}
		sqlite3_finalize(st);
		st = NULL;
		if (rc != SQLITE_DONE)
			return vfail(v, err, rc);
	}

	for (size_t i = first; v->cfg->expect >= 0 && i < v->n; i++) {
		struct vsrc *e = &v->src[i];
		if (e->max < v->cfg->expect)
			continue;
		rc = vprepare(v, &st, q_beyond, table);
		if (rc == SQLITE_OK) {
			sqlite3_bind_text(st, 1, e->source, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, v->cfg->expect);
			rc = sqlite3_step(st);
		}
		if (rc == SQLITE_ROW)
			e->unexpected = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		st = NULL;
		if (rc != SQLITE_ROW)
			return vfail(v, err, rc);
	}
	return 0;
}

static int vscan_dups(struct vstate *v, struct sc_error *err)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(v->db, "SELECT source, duplicates FROM sink_sources", -1, &st,
				    NULL);

	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *source = (const char *)sqlite3_column_text(st, 0);
		for (size_t i = 0; source && i < v->n; i++) {
			if (strcmp(v->src[i].source, source) == 0) {
				v->src[i].dups += sqlite3_column_int64(st, 1);
				break;
			}
		}
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : vfail(v, err, rc);
}

/* ---- printing ----------------------------------------------------------- */

static void print_range(FILE *out, long long lo, long long hi)
{
	if (lo == hi)
		fprintf(out, "%lld", lo);
	else
		fprintf(out, "%lld-%lld", lo, hi);
}

static void print_source(const struct vstate *v, const struct vsrc *e)
{
	FILE *out = v->cfg->out;
	long long missing = e->max + 1 - e->rows;

	fprintf(out, "%s (%s): %lld rows, seq %lld..%lld; ", e->source, e->table, e->rows, e->min,
		e->max);
	if (e->ngaps == 0) {
		fputs("no gaps", out);
	} else {
		fprintf(out, "%lld gap%s (%lld missing): missing ", e->ngaps,
			e->ngaps == 1 ? "" : "s", missing);
		for (int i = 0; i < e->nranges; i++) {
			if (i)
				fputs(", ", out);
			print_range(out, e->ranges[i][0], e->ranges[i][1]);
		}
		if (e->ngaps > e->nranges)
			fprintf(out, ", ... (+%lld more)", e->ngaps - e->nranges);
	}
	if (e->tail > 0) {
		fputs("; missing tail ", out);
		print_range(out, e->max + 1, v->cfg->expect - 1);
		fprintf(out, " (%lld)", e->tail);
	}
	if (e->unexpected > 0)
		fprintf(out, "; %lld unexpected (seq >= %lld)", e->unexpected, v->cfg->expect);
	fprintf(out, "; %lld duplicates refused\n", e->dups);
}

static int print_deadletters(struct vstate *v, struct sc_error *err)
{
	static const char q[] = "SELECT reason, count(*) AS n FROM deadletters"
				" GROUP BY reason ORDER BY n DESC, reason";
	FILE *out = v->cfg->out;
	long long total = 0, others = 0, nreasons = 0;
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(v->db, q, -1, &st, NULL);

	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		long long n = sqlite3_column_int64(st, 1);
		const char *reason = (const char *)sqlite3_column_text(st, 0);
		if (nreasons == 0)
			fputs("dead letters by reason:\n", out);
		if (nreasons++ < VERIFY_REASONS)
			fprintf(out, "  %8lld  %s\n", n, reason ? reason : "(none)");
		else
			others += n;
		total += n;
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return vfail(v, err, rc);
	if (others)
		fprintf(out, "  %8lld  (%lld other reasons)\n", others, nreasons - VERIFY_REASONS);
	fprintf(out, "dead letters: %lld\n", total);
	return 0;
}

static int vsrc_cmp(const void *a, const void *b)
{
	const struct vsrc *x = a, *y = b;
	int c = strcmp(x->source, y->source);

	return c ? c : strcmp(x->table, y->table);
}

struct vtotals {
	long long rows, gaps, missing, unexpected, dups;
};

static void print_sources(struct vstate *v, struct vtotals *t)
{
	if (v->n > 1)
		qsort(v->src, v->n, sizeof(*v->src), vsrc_cmp);
	for (size_t i = 0; i < v->n; i++) {
		const struct vsrc *e = &v->src[i];
		print_source(v, e);
		t->rows += e->rows;
		t->gaps += e->ngaps;
		t->missing += e->max + 1 - e->rows + e->tail;
		t->unexpected += e->unexpected;
		t->dups += e->dups;
	}
	if (t->dups)
		fprintf(v->cfg->out, "duplicates refused: %lld\n", t->dups);
}

/* The verdict, always the last line; returns 0 clean, 1 not. */
static int print_verdict(const struct vstate *v, const struct vtotals *t)
{
	FILE *out = v->cfg->out;

	if (v->cfg->expect >= 0 && v->n == 0) {
		fputs("verify: NOT clean: no rows\n", out);
		return 1;
	}
	if (v->cfg->sources > 0 && v->n != (size_t)v->cfg->sources) {
		fprintf(out,
			"verify: NOT clean: %lld rows from %zu sources, expected %ld sources\n",
			t->rows, v->n, v->cfg->sources);
		return 1;
	}
	if (t->gaps || t->missing || t->unexpected) {
		fprintf(out,
			"verify: NOT clean: %lld gaps, %lld missing, %lld unexpected"
			" (%lld rows from %zu sources)\n",
			t->gaps, t->missing, t->unexpected, t->rows, v->n);
		return 1;
	}
	fprintf(out, "verify: clean (%lld rows from %zu sources)\n", t->rows, v->n);
	return 0;
}

/* ---- verify_run --------------------------------------------------------- */

static int verify_open(struct vstate *v, struct sc_error *err)
{
	const char *path = v->cfg->db_path;
	struct stat st;
	int rc;

	if (stat(path, &st) != 0)
		return sc_error_set(err, errno == ENOENT ? SC_EINVAL : SC_EIO,
				    "verify: cannot open database '%s': %s", path,
				    errno == ENOENT ? "no such file" : strerror(errno));
	rc = sqlite3_open_v2(path, &v->db, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK)
		return sc_error_set(err, SC_EIO, "verify: cannot open database '%s': %s", path,
				    v->db ? sqlite3_errmsg(v->db) : sqlite3_errstr(rc));
	sqlite3_busy_timeout(v->db, 5000);
	return 0;
}

int verify_run(const struct verify_cfg *cfg, struct sc_error *err)
{
	static const char *const tables[] = {"cpu_stats", "sensor_features"};
	struct vstate v = {.cfg = cfg};
	struct vtotals totals = {0};
	bool have_dups = false, have_dead = false;
	int rc, ret;

	if (!cfg || !cfg->db_path || !cfg->out)
		return sc_error_set(err, SC_EINVAL, "verify: no database path given");
	ret = verify_open(&v, err);
	if (ret != 0)
		goto out;
	rc = sqlite3_exec(v.db, "BEGIN", NULL, NULL, NULL);
	for (size_t i = 0; rc == SQLITE_OK && i < 2; i++) {
		bool exists;
		rc = vtable_exists(&v, tables[i], &exists);
		if (rc == SQLITE_OK && !exists) {
			ret = sc_error_set(err, SC_EINVAL,
					   "verify: '%s' is not a sink database (no table %s)",
					   cfg->db_path, tables[i]);
			goto out;
		}
	}
	if (rc == SQLITE_OK)
		rc = vtable_exists(&v, "sink_sources", &have_dups);
	if (rc == SQLITE_OK)
		rc = vtable_exists(&v, "deadletters", &have_dead);
	if (rc != SQLITE_OK) {
		ret = vfail(&v, err, rc);
		goto out;
	}

	fprintf(cfg->out, "verify: %s", cfg->db_path);
	if (cfg->expect >= 0)
		fprintf(cfg->out, ", expecting seq 0..%lld per source", cfg->expect - 1);
	if (cfg->sources > 0)
		fprintf(cfg->out, ", %ld sources", cfg->sources);
	fputc('\n', cfg->out);
	for (size_t i = 0; i < 2; i++) {
		ret = vscan_table(&v, tables[i], err);
		if (ret != 0)
			goto out;
	}
	if (have_dups && (ret = vscan_dups(&v, err)) != 0)
		goto out;
	print_sources(&v, &totals);
	if (have_dead && (ret = print_deadletters(&v, err)) != 0)
		goto out;
	ret = print_verdict(&v, &totals);
out:
	if (v.db) {
		sqlite3_exec(v.db, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_close(v.db);
	}
	for (size_t i = 0; i < v.n; i++)
		free(v.src[i].source);
	free(v.src);
	fflush(cfg->out);
	return ret;
}
