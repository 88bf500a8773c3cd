/*
 * test_opts.h - backend options (-X keys such as qos or in.fd) for the
 * struct transport_cfg a test builds by hand.
 *
 * A transport borrows cfg->props for as long as it lives (Kafka builds its
 * producer on the first publish and reads them then), so each call copies
 * the list into a fresh slot of a static ring rather than the caller's
 * stack.  256 slots outlast every transport one test holds open.
 */
#ifndef SC_TEST_OPTS_H
#define SC_TEST_OPTS_H

#include <stdio.h>
#include <string.h>

#include "transport.h"

#define TEST_OPTS_RING 256
#define TEST_OPTS_MAX  16

struct test_opts {
	struct sc_kv kv[TEST_OPTS_MAX];
	char val[24];
};

/* Append -X key=v to c's list, keeping the entries it had (the last one wins). */
static inline void test_opt(struct transport_cfg *c, const char *key, long v)
{
	static struct test_opts ring[TEST_OPTS_RING];
	static unsigned int next;
	struct test_opts *o = &ring[next++ % TEST_OPTS_RING];
	size_t n = c->nprops < TEST_OPTS_MAX - 1 ? c->nprops : TEST_OPTS_MAX - 1;

	if (n)
		memcpy(o->kv, c->props, n * sizeof(o->kv[0]));
	snprintf(o->val, sizeof(o->val), "%ld", v);
	o->kv[n] = (struct sc_kv){key, o->val};
	c->props = o->kv;
	c->nprops = n + 1;
}

#endif /* SC_TEST_OPTS_H */
