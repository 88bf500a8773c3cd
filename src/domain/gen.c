/* gen.c - generator dispatch; see gen.h and gen_internal.h */
#include "gen.h"
#include "gen_internal.h"
#include "error.h"
#include "record.h"

#include <stdlib.h>

struct gen *gen_new(const struct gen_cfg *cfg, struct sc_error *err)
{
	const struct gen_ops *ops;
	struct gen *g;

	if (!cfg) {
		sc_error_set(err, SC_EINVAL, "gen: no configuration");
		return NULL;
	}
	switch (cfg->source) {
	case GEN_SOURCE_CPU: ops = &gen_cpu_ops; break;
	case GEN_SOURCE_SENSOR: ops = &gen_sensor_ops; break;
	default:
		sc_error_set(err, SC_EINVAL, "gen: unknown source %d", (int)cfg->source);
		return NULL;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		goto fail_nomem;
	g->ops = ops;
	g->priv = calloc(1, ops->priv_size);
	if (!g->priv)
		goto fail_free_gen;
	if (ops->open(g, cfg, err) < 0)
		goto fail_close;
	return g;

fail_close:
	gen_free(g);
	return NULL;
fail_free_gen:
	free(g);
fail_nomem:
	sc_error_set(err, SC_ENOMEM, "gen: out of memory");
	return NULL;
}

int gen_next(struct gen *g, struct sc_record *r, int64_t window_end_ns, struct sc_error *err)
{
	if (!g || !r)
		return sc_error_set(err, SC_EINVAL, "gen: no generator or record");
	return g->ops->next(g, r, window_end_ns, err);
}

void gen_free(struct gen *g)
{
	if (!g)
		return;
	if (g->priv)
		g->ops->close(g);
	free(g->priv);
	free(g);
}
