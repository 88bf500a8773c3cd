/*
 * gen_internal.h - the generator backend vtable.  Do not include this
 * outside src/gen*.c.
 *
 * gen.c allocates struct gen and `priv_size` zeroed bytes of backend state,
 * then calls open(); next() fills a record; close() releases what open()
 * acquired (called once, also after a failed open, never with priv NULL).
 */
#ifndef SC_GEN_INTERNAL_H
#define SC_GEN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

struct gen;
struct gen_cfg;
struct sc_error;
struct sc_record;

struct gen_ops {
	const char *name;
	size_t priv_size;
	int (*open)(struct gen *g, const struct gen_cfg *cfg, struct sc_error *err);
	int (*next)(struct gen *g, struct sc_record *r, int64_t window_end_ns,
		    struct sc_error *err);
	void (*close)(struct gen *g);
};

struct gen {
	const struct gen_ops *ops;
	void *priv; /* priv_size zeroed bytes owned by gen.c */
};

extern const struct gen_ops gen_cpu_ops;
extern const struct gen_ops gen_sensor_ops;

#endif /* SC_GEN_INTERNAL_H */
