/*
 * gen_cpu.c - real cpu utilisation from /proc/stat.
 *
 * Each call reads the "cpu" (all cores) and "cpuN" lines and turns the
 * deltas against the previous read into percentages:
 *     busy% = 100 * (1 - (idle + iowait)_delta / total_delta)
 * where total is user+nice+system+idle+iowait+irq+softirq+steal (guest time
 * is already inside user and nice, so it is not added again).  Kernels that
 * print fewer than 8 columns are read with what they print (at least 4).
 *
 * Cores are matched by their number between two reads, so a core going
 * offline or online does not shift the others; the sample lists the online
 * cores in file order (at most SC_CPU_MAX_CORES, cores numbered beyond that
 * only count in the total).  When a counter did not advance (two calls too
 * close together, or a core that just came online) the previous value is
 * repeated, 0 before there is one.
 */
#include "gen.h"
#include "gen_internal.h"
#include "error.h"
#include "record.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CPU_NCOLS 8 /* user nice system idle iowait irq softirq steal */

struct cpu_times {
	uint64_t total, idle;
	bool present;
};

struct cpu_snap {
	struct cpu_times all;
	struct cpu_times core[SC_CPU_MAX_CORES]; /* by cpu number */
	uint32_t order[SC_CPU_MAX_CORES];	 /* cpu numbers in file order */
	uint32_t n;
};

struct gen_cpu {
	char path[PATH_MAX];
	char key[SC_KEY_MAX];
	struct cpu_snap snap[2]; /* snap[cur] is the latest read */
	int cur;
	double last_total;
	double last_core[SC_CPU_MAX_CORES];
	char *line;
	size_t linecap;
};

/*
 * Parse one "cpu..." line: *cpu is -1 for the aggregate line.  Returns 0,
 * or -1 when the line is malformed.
 */
static int cpu_parse_line(const char *line, long *cpu, struct cpu_times *t)
{
	const char *p = line + 3;
	uint64_t v[CPU_NCOLS + 2];
	char *end;
	int n = 0;

	if (*p == ' ' || *p == '\t') {
		*cpu = -1;
	} else if (isdigit((unsigned char)*p)) {
		errno = 0;
		*cpu = strtol(p, &end, 10);
		if (errno || (*end != ' ' && *end != '\t'))
			return -1;
		p = end;
	} else {
		return -1;
	}
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == '\n')
			break;
		if (!isdigit((unsigned char)*p))
			return -1;
		errno = 0;
		uint64_t x = strtoull(p, &end, 10);
		if (errno)
			return -1;
		if (n < (int)(sizeof(v) / sizeof(v[0])))
			v[n] = x;
		n++;
		p = end;
	}
	if (n < 4)
		return -1;
	t->total = 0;
	for (int i = 0; i < n && i < CPU_NCOLS; i++)
		t->total += v[i];
	t->idle = v[3] + (n > 4 ? v[4] : 0);
	t->present = true;
	return 0;
}

static int cpu_read(struct gen_cpu *c, struct cpu_snap *s, struct sc_error *err)
{
	FILE *f;
	ssize_t len;
	unsigned lineno = 0;
	bool seen_cpu = false;
	int ret = 0;

	f = fopen(c->path, "re");
	if (!f)
		return sc_error_set(err, SC_EIO, "cpu: cannot read %s: %s", c->path,
				    strerror(errno));
	memset(&s->all, 0, sizeof(s->all));
	for (uint32_t i = 0; i < s->n; i++)
		s->core[s->order[i]].present = false;
	s->n = 0;
	errno = 0;
	while ((len = getline(&c->line, &c->linecap, f)) >= 0) {
		struct cpu_times t;
		long cpu;

		lineno++;
		if (strncmp(c->line, "cpu", 3) != 0) {
			if (seen_cpu)
				break; /* the cpu lines come first; skip the long rest */
			continue;
		}
		seen_cpu = true;
		if (cpu_parse_line(c->line, &cpu, &t) < 0) {
			ret = sc_error_set(err, SC_EINVAL, "cpu: malformed %s line %u", c->path,
					   lineno);
			goto out;
		}
		if (cpu < 0) {
			s->all = t;
		} else if (cpu < SC_CPU_MAX_CORES && !s->core[cpu].present) {
			s->core[cpu] = t;
			s->order[s->n++] = (uint32_t)cpu;
		}
	}
	if (ferror(f)) {
		ret = sc_error_set(err, SC_EIO, "cpu: cannot read %s: %s", c->path,
				   strerror(errno ? errno : EIO));
		goto out;
	}
	if (!s->all.present)
		ret = sc_error_set(err, SC_EINVAL, "cpu: malformed %s: no aggregate cpu line",
				   c->path);
out:
	fclose(f);
	return ret;
}

static double cpu_util(const struct cpu_times *a, const struct cpu_times *b, double prev)
{
	double td, id, u;

	if (!a->present || !b->present || b->total <= a->total)
		return prev;
	td = (double)(b->total - a->total);
	id = b->idle > a->idle ? (double)(b->idle - a->idle) : 0.0;
	u = 100.0 * (1.0 - id / td);
	if (u < 0.0)
		u = 0.0;
	if (u > 100.0)
		u = 100.0;
	return u;
}

static int cpu_open(struct gen *g, const struct gen_cfg *cfg, struct sc_error *err)
{
	struct gen_cpu *c = g->priv;
	const char *path = cfg->proc_stat ? cfg->proc_stat : "/proc/stat";

	if (sc_strlcpy(c->path, path, sizeof(c->path)) >= sizeof(c->path))
		return sc_error_set(err, SC_EINVAL, "cpu: path too long: %s", path);
	if (cfg->device_id) {
		if (sc_strlcpy(c->key, cfg->device_id, sizeof(c->key)) >= sizeof(c->key))
			return sc_error_set(err, SC_EINVAL, "cpu: key too long (max %d bytes)",
					    SC_KEY_MAX - 1);
	} else {
		if (gethostname(c->key, sizeof(c->key)) < 0 || !c->key[0])
			sc_strlcpy(c->key, "localhost", sizeof(c->key));
		c->key[sizeof(c->key) - 1] = '\0';
	}
	c->cur = 0;
	return cpu_read(c, &c->snap[0], err);
}

static int cpu_next(struct gen *g, struct sc_record *r, int64_t window_end_ns, struct sc_error *err)
{
	struct gen_cpu *c = g->priv;
	const struct cpu_snap *prev = &c->snap[c->cur];
	struct cpu_snap *now = &c->snap[!c->cur];
	struct sc_cpu_sample *s;
	int ret;

	ret = cpu_read(c, now, err);
	if (ret < 0)
		return ret;
	sc_record_reset(r, SC_KIND_CPU);
	sc_strlcpy(r->env.key, c->key, sizeof(r->env.key));
	r->env.event_ns = window_end_ns;
	s = &r->u.cpu;
	c->last_total = cpu_util(&prev->all, &now->all, c->last_total);
	s->total = c->last_total;
	s->ncores = now->n;
	for (uint32_t i = 0; i < now->n; i++) {
		uint32_t n = now->order[i];
		c->last_core[n] = cpu_util(&prev->core[n], &now->core[n], c->last_core[n]);
		s->cores[i] = c->last_core[n];
	}
	c->cur = !c->cur;
	return 0;
}

static void cpu_close(struct gen *g)
{
	struct gen_cpu *c = g->priv;

	free(c->line);
	c->line = NULL;
}

const struct gen_ops gen_cpu_ops = {
	.name = "cpu",
	.priv_size = sizeof(struct gen_cpu),
	.open = cpu_open,
	.next = cpu_next,
	.close = cpu_close,
};
