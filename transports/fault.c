/*
 * fault.c - the `fault` transport: wraps another backend and injects
 * failures, so tests reach the roles' error paths that real brokers rarely
 * take (git's refs/debug.c idea: a backend that wraps a backend).
 *
 *   streamctl process --transport=fault -X fault.inner=kafka \
 *       -X fault.publish=5 -X fault.commit=3:delay=2000 ...
 *
 * Keys (every other -X key goes to the inner backend unchanged):
 *   fault.inner=NAME        the wrapped backend (required; not "fault")
 *   fault.publish=N[:ACT]   the N-th publish() (1-based) ...
 *   fault.poll=N[:ACT]      the N-th poll() that returns a message ...
 *   fault.commit=N[:ACT]    the N-th commit() ...
 *   fault.flush=N[:ACT]     the N-th flush() ...
 *     ACT is "fail" (default: return -SC_EIO, nothing reaches the inner
 *     backend) or "delay=MS" (sleep, then go on).  A polled message that
 *     "fails" is released uncommitted first, as if the connection broke.
 *   fault.drop=N            after N calls in all, the connection is gone:
 *                           every later call returns -SC_ECONN and
 *                           healthy() is false.
 * Errors read "fault: injected <what> failure (call N)".
 *
 * The instance reports the inner backend's capabilities: its ops are a copy
 * kept in the private state, with the inner caps and only the methods those
 * caps allow.
 */
#include "transport.h"
#include "error.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum fault_op { FAULT_PUBLISH, FAULT_POLL, FAULT_COMMIT, FAULT_FLUSH, FAULT__N };

static const char *const fault_keys[FAULT__N] = {"fault.publish", "fault.poll", "fault.commit",
						 "fault.flush"};

struct fault_rule {
	unsigned long nth;   /* 0: none */
	long delay_ms;	     /* < 0: fail */
	unsigned long calls; /* calls of this op so far */
};

struct fault_priv {
	struct transport_ops ops; /* this instance's: the inner caps */
	struct transport *inner;
	struct sc_kv *props; /* cfg->props without the fault.* keys */
	struct fault_rule rule[FAULT__N];
	unsigned long drop_after, calls;
};

static int fault_parse_rule(const char *key, const char *v, struct fault_rule *r,
			    struct sc_error *err)
{
	char *end;

	r->nth = strtoul(v, &end, 10);
	r->delay_ms = -1;
	if (end == v || r->nth == 0)
		return sc_error_set(err, SC_EINVAL, "fault: %s=%s: expected N[:fail|:delay=MS]",
				    key, v);
	if (*end == '\0' || strcmp(end, ":fail") == 0)
		return 0;
	if (strncmp(end, ":delay=", 7) == 0) {
		char *e2;

		r->delay_ms = strtol(end + 7, &e2, 10);
		if (e2 != end + 7 && *e2 == '\0' && r->delay_ms >= 0)
			return 0;
	}
	return sc_error_set(err, SC_EINVAL, "fault: %s=%s: expected N[:fail|:delay=MS]", key, v);
}

static void fault_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* 0: go on; < 0: the injected error.  Counts the call. */
static int fault_hit(struct fault_priv *f, enum fault_op op, struct sc_error *err)
{
	static const char *const what[FAULT__N] = {"publish", "poll", "commit", "flush"};
	struct fault_rule *r = &f->rule[op];

	f->calls++;
	if (f->drop_after && f->calls > f->drop_after)
		return sc_error_set(err, SC_ECONN,
				    "fault: injected connection loss (after %lu calls)",
				    f->drop_after);
	r->calls++;
	if (!r->nth || r->calls != r->nth)
		return 0;
	if (r->delay_ms >= 0) {
		fault_sleep_ms(r->delay_ms);
		return 0;
	}
	return sc_error_set(err, SC_EIO, "fault: injected %s failure (call %lu)", what[op],
			    r->calls);
}

static int fault_publish(struct transport *t, const struct sc_msg *m, struct sc_error *err)
{
	struct fault_priv *f = t->priv;
	int rc = fault_hit(f, FAULT_PUBLISH, err);

	return rc ? rc : transport_publish(f->inner, m, err);
}

static int fault_poll(struct transport *t, struct sc_msg *out, int timeout_ms, struct sc_error *err)
{
	struct fault_priv *f = t->priv;
	int rc;

	if (f->drop_after && f->calls >= f->drop_after)
		return fault_hit(f, FAULT_POLL, err);
	rc = transport_poll(f->inner, out, timeout_ms, err);
	if (rc <= 0)
		return rc;
	rc = fault_hit(f, FAULT_POLL, err);
	if (rc) {
		transport_msg_release(f->inner, out);
		return rc;
	}
	return 1;
}

static int fault_commit(struct transport *t, const struct sc_msg *m, struct sc_error *err)
{
	struct fault_priv *f = t->priv;
	int rc = fault_hit(f, FAULT_COMMIT, err);

	return rc ? rc : transport_commit(f->inner, m, err);
}

static int fault_flush(struct transport *t, int timeout_ms, struct sc_error *err)
{
	struct fault_priv *f = t->priv;
	int rc = fault_hit(f, FAULT_FLUSH, err);

	return rc ? rc : transport_flush(f->inner, timeout_ms, err);
}

static void fault_release(struct transport *t, struct sc_msg *m)
{
	struct fault_priv *f = t->priv;

	transport_msg_release(f->inner, m);
}

static int64_t fault_lag(struct transport *t)
{
	struct fault_priv *f = t->priv;

	return transport_lag(f->inner);
}

static bool fault_healthy(struct transport *t)
{
	struct fault_priv *f = t->priv;

	if (f->drop_after && f->calls >= f->drop_after)
		return false;
	return transport_healthy(f->inner);
}

static void fault_close(struct transport *t)
{
	struct fault_priv *f = t->priv;

	if (!f)
		return;
	transport_close(f->inner);
	f->inner = NULL;
	free(f->props);
	f->props = NULL;
}

static int fault_open(struct transport *t, const struct transport_cfg *cfg, struct sc_error *err)
{
	struct fault_priv *f = t->priv;
	struct transport_cfg inner = *cfg;
	const char *name = transport_prop(cfg, "fault.inner"), *v;
	unsigned int caps;
	long drop;
	int rc;

	if (!name || !*name)
		return sc_error_set(err, SC_EINVAL, "fault: -X fault.inner=NAME is required");
	if (strcmp(name, "fault") == 0)
		return sc_error_set(err, SC_EINVAL, "fault: cannot wrap itself");
	for (int op = 0; op < FAULT__N; op++)
		if ((v = transport_prop(cfg, fault_keys[op])) &&
		    (rc = fault_parse_rule(fault_keys[op], v, &f->rule[op], err)))
			return rc;
	if ((rc = transport_prop_long(cfg, "fault", "fault.drop", 1, LONG_MAX, &drop, err)) < 0)
		return rc;
	if (rc)
		f->drop_after = (unsigned long)drop;
	f->props = calloc(cfg->nprops + 1, sizeof(*f->props));
	if (!f->props)
		return sc_error_set(err, SC_ENOMEM, "fault: out of memory");
	inner.props = f->props;
	inner.nprops = 0;
	for (size_t i = 0; i < cfg->nprops; i++)
		if (strncmp(cfg->props[i].key, "fault.", 6) != 0)
			f->props[inner.nprops++] = cfg->props[i];
	for (size_t i = 0; i < cfg->nprops; i++) {
		const char *k = cfg->props[i].key;
		bool known = !strcmp(k, "fault.inner") || !strcmp(k, "fault.drop");

		for (int op = 0; op < FAULT__N; op++)
			known = known || !strcmp(k, fault_keys[op]);
		if (!strncmp(k, "fault.", 6) && !known)
			return sc_error_set(err, SC_EINVAL, "fault: unknown key '%s'", k);
	}
	rc = transport_open(name, &inner, &f->inner, err);
	if (rc)
		return sc_error_prefix(err, "fault(%s)", name);
	caps = f->inner->caps;
	t->caps = caps;
	f->ops = *t->ops;
	f->ops.caps = caps;
	f->ops.publish = caps & TRANSPORT_CAP_PUBLISH ? fault_publish : NULL;
	f->ops.flush = caps & TRANSPORT_CAP_PUBLISH ? fault_flush : NULL;
	f->ops.poll = caps & TRANSPORT_CAP_CONSUME ? fault_poll : NULL;
	f->ops.release = caps & TRANSPORT_CAP_CONSUME ? fault_release : NULL;
	f->ops.commit = caps & TRANSPORT_CAP_COMMIT ? fault_commit : NULL;
	f->ops.lag = caps & TRANSPORT_CAP_LAG ? fault_lag : NULL;
	t->ops = &f->ops;
	return 0;
}

/* The -X keys of this backend (transport.h); the others go to the wrapped one. */
static const struct transport_opt fault_opts[] = {
	{"fault.inner", TRANSPORT_OPT_STR, NULL, 0, 0, "the wrapped transport (required)"},
	{"fault.publish", TRANSPORT_OPT_STR, NULL, 0, 0, "N[:fail|:delay=MS]: the N-th publish"},
	{"fault.poll", TRANSPORT_OPT_STR, NULL, 0, 0, "N[:fail|:delay=MS]: the N-th poll"},
	{"fault.commit", TRANSPORT_OPT_STR, NULL, 0, 0, "N[:fail|:delay=MS]: the N-th commit"},
	{"fault.flush", TRANSPORT_OPT_STR, NULL, 0, 0, "N[:fail|:delay=MS]: the N-th flush"},
	{"fault.drop", TRANSPORT_OPT_LONG, NULL, 1, LONG_MAX, "drop the connection after N calls"},
	{"*", TRANSPORT_OPT_STR, NULL, 0, 0, "passed to the wrapped transport"},
	{NULL},
};

const struct transport_ops transport_fault = {
	.name = "fault",
	.summary = "wraps another transport (-X fault.inner=NAME) and injects failures (testing)",
	.caps = TRANSPORT_CAP_PUBLISH | TRANSPORT_CAP_CONSUME | TRANSPORT_CAP_COMMIT |
		TRANSPORT_CAP_LAG,
	.priv_size = sizeof(struct fault_priv),
	.opts = fault_opts,
	.open = fault_open,
	.publish = fault_publish,
	.poll = fault_poll,
	.commit = fault_commit,
	.flush = fault_flush,
	.release = fault_release,
	.lag = fault_lag,
	.healthy = fault_healthy,
	.close = fault_close,
};
