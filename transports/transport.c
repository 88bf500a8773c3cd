/*
 * transport.c - registry lookup, the wrappers roles call, and helpers
 * shared by backends (names, -X properties, broker URIs).
 */
#include "transport.h"
#include "error.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const char *const transport_known_names[];

const struct transport_ops *transport_find(const char *name, struct sc_error *err)
{
	if (!name || !*name) {
		sc_error_set(err, SC_EINVAL, "no transport given");
		return NULL;
	}
	for (size_t i = 0; transport_backends[i]; i++)
		if (strcmp(transport_backends[i]->name, name) == 0)
			return transport_backends[i];
	for (size_t i = 0; transport_known_names[i]; i++)
		if (strcmp(transport_known_names[i], name) == 0) {
			sc_error_set(err, SC_ENOTSUP, "transport '%s' is not built in", name);
			return NULL;
		}
	{
		char known[256] = "";
		size_t n = 0;

		/* the names from registry.c, so a new backend is listed here too */
		for (size_t i = 0; transport_known_names[i] && n < sizeof(known); i++)
			n += (size_t)snprintf(known + n, sizeof(known) - n, "%s%s", i ? ", " : "",
					      transport_known_names[i]);
		sc_error_set(err, SC_EINVAL, "unknown transport '%s' (known: %s)", name, known);
	}
	return NULL;
}

static int check_one(const struct transport_ops *o, struct sc_error *err)
{
	struct {
		unsigned int cap;
		bool present;
		const char *what;
	} rules[] = {
		{TRANSPORT_CAP_PUBLISH, o->publish != NULL, "publish"},
		{TRANSPORT_CAP_PUBLISH, o->flush != NULL, "flush"},
		{TRANSPORT_CAP_CONSUME, o->poll != NULL, "poll"},
		{TRANSPORT_CAP_CONSUME, o->release != NULL, "release"},
		{TRANSPORT_CAP_COMMIT, o->commit != NULL, "commit"},
		{TRANSPORT_CAP_LAG, o->lag != NULL, "lag"},
	};

	if (!o->name || !o->open || !o->close)
		return sc_error_set(err, SC_EINVAL, "transport %s: open and close are required",
				    o->name ? o->name : "(unnamed)");
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		bool has_cap = (o->caps & rules[i].cap) != 0;
		if (has_cap != rules[i].present)
			return sc_error_set(
				err, SC_EINVAL,
				"transport %s: method %s is %s but its capability is %s", o->name,
				rules[i].what, rules[i].present ? "set" : "missing",
				has_cap ? "declared" : "absent");
	}
	return 0;
}

int transport_registry_check(struct sc_error *err)
{
	for (size_t i = 0; transport_backends[i]; i++) {
		int rc = check_one(transport_backends[i], err);
		if (rc)
			return rc;
	}
	return 0;
}

/* Callers may pass err == NULL; backends and this file write through err
 * unconditionally (return -err->code), so the wrappers give them a scratch. */
#define ERR_OR_SCRATCH(err, scratch) ((err) ? (err) : (sc_error_clear(&(scratch)), &(scratch)))

int transport_open(const char *name, const struct transport_cfg *cfg, struct transport **out,
		   struct sc_error *err_in)
{
	struct sc_error scratch, *err = ERR_OR_SCRATCH(err_in, scratch);
	const struct transport_ops *ops;
	struct transport *t;
	int rc;

	*out = NULL;
	ops = transport_find(name, err);
	if (!ops)
		return -err->code;
	if (cfg->inputs && !(ops->caps & TRANSPORT_CAP_CONSUME))
		return sc_error_set(err, SC_ENOTSUP, "%s: cannot consume", ops->name);
	t = calloc(1, sizeof(*t));
	if (!t)
		return sc_error_set(err, SC_ENOMEM, "%s: out of memory", ops->name);
	t->ops = ops;
	t->caps = ops->caps;
	t->cfg = *cfg;
	if (ops->priv_size) {
		t->priv = calloc(1, ops->priv_size);
		if (!t->priv) {
			free(t);
			return sc_error_set(err, SC_ENOMEM, "%s: out of memory", ops->name);
		}
	}
	rc = ops->open(t, &t->cfg, err);
	t->caps &= ops->caps;
	if (rc) {
		ops->close(t);
		free(t->priv);
		free(t);
		return rc;
	}
	*out = t;
	return 0;
}

int transport_publish(struct transport *t, const struct sc_msg *m, struct sc_error *err_in)
{
	struct sc_error scratch, *err = ERR_OR_SCRATCH(err_in, scratch);
	int rc;

	if (!(t->caps & TRANSPORT_CAP_PUBLISH))
		return sc_error_set(err, SC_ENOTSUP, "%s: cannot publish", t->ops->name);
	if (t->cfg.max_msg_bytes && m->len > t->cfg.max_msg_bytes)
		return sc_error_set(err, SC_ETOOBIG,
				    "%s: message of %zu bytes exceeds the limit of %zu bytes",
				    t->ops->name, m->len, t->cfg.max_msg_bytes);
	rc = t->ops->publish(t, m, err);
	if (rc)
		t->counters.publish_errors++;
	else
		t->counters.published++;
	return rc;
}

int transport_poll(struct transport *t, struct sc_msg *out, int timeout_ms, struct sc_error *err_in)
{
	struct sc_error scratch, *err = ERR_OR_SCRATCH(err_in, scratch);
	int rc;

	memset(out, 0, sizeof(*out));
	if (!(t->caps & TRANSPORT_CAP_CONSUME))
		return sc_error_set(err, SC_ENOTSUP, "%s: cannot consume", t->ops->name);
	rc = t->ops->poll(t, out, timeout_ms, err);
	if (rc > 0) {
		t->counters.polled++;
		if (t->cfg.max_msg_bytes && out->len > t->cfg.max_msg_bytes &&
		    !(out->flags & SC_MSG_MALFORMED)) {
			out->flags |= SC_MSG_MALFORMED;
			out->error = "message exceeds the size limit";
		}
	}
	return rc;
}

int transport_commit(struct transport *t, const struct sc_msg *m, struct sc_error *err_in)
{
	struct sc_error scratch, *err = ERR_OR_SCRATCH(err_in, scratch);
	int rc;

	if (!(t->caps & TRANSPORT_CAP_COMMIT))
		return 0;
	rc = t->ops->commit(t, m, err);
	if (!rc)
		t->counters.committed++;
	return rc;
}

int transport_flush(struct transport *t, int timeout_ms, struct sc_error *err_in)
{
	struct sc_error scratch, *err = ERR_OR_SCRATCH(err_in, scratch);

	if (!(t->caps & TRANSPORT_CAP_PUBLISH))
		return 0;
	return t->ops->flush(t, timeout_ms, err);
}

void transport_msg_release(struct transport *t, struct sc_msg *m)
{
	if (t && t->ops->release)
		t->ops->release(t, m);
	memset(m, 0, sizeof(*m));
}

int64_t transport_lag(struct transport *t)
{
	return t->ops->lag && (t->caps & TRANSPORT_CAP_LAG) ? t->ops->lag(t) : -1;
}

bool transport_healthy(struct transport *t)
{
	return t->ops->healthy ? t->ops->healthy(t) : true;
}

bool transport_has(const struct transport *t, unsigned int caps)
{
	return (t->caps & caps) == caps;
}

void transport_close(struct transport *t)
{
	if (!t)
		return;
	t->ops->close(t);
	free(t->priv);
	free(t);
}

int transport_stream_name(char *buf, size_t size, const char *ns, enum sc_stream s, char sep)
{
	const char *name = sc_stream_name(s);
	char tmp[64];
	size_t i;

	sc_strlcpy(tmp, name ? name : "unknown", sizeof(tmp));
	for (i = 0; tmp[i]; i++)
		if (tmp[i] == '.')
			tmp[i] = sep;
	return snprintf(buf, size, "%s%c%s", ns && *ns ? ns : "streamctl", sep, tmp);
}

const char *transport_prop(const struct transport_cfg *cfg, const char *key)
{
	const char *v = NULL;

	for (size_t i = 0; i < cfg->nprops; i++)
		if (strcmp(cfg->props[i].key, key) == 0)
			v = cfg->props[i].value; /* the last one wins */
	return v;
}

static int sc_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode s in place; a '%' not followed by two hex digits stays. */
static void sc_uri_unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '%' && sc_hex(s[1]) >= 0 && sc_hex(s[2]) >= 0) {
			*w++ = (char)(sc_hex(s[1]) * 16 + sc_hex(s[2]));
			s += 2;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

int sc_uri_parse(const char *uri, struct sc_uri *u, struct sc_error *err)
{
	char red[512];
	char *p, *at, *slash, *colon, *q, *hostend;

	memset(u, 0, sizeof(*u));
	sc_uri_redact(uri ? uri : "", red, sizeof(red));
	if (!uri || !*uri)
		return sc_error_set(err, SC_EINVAL, "empty broker uri");
	if (strlen(uri) >= sizeof(u->storage))
		return sc_error_set(err, SC_EINVAL, "broker uri too long");
	memcpy(u->storage, uri, strlen(uri) + 1);
	p = strstr(u->storage, "://");
	if (!p || p == u->storage)
		return sc_error_set(err, SC_EINVAL,
				    "broker uri '%s': expected scheme://host[:port]", red);
	*p = '\0';
	u->scheme = u->storage;
	p += 3;
	slash = strpbrk(p, "/?");
	q = NULL;
	if (slash) {
		char c = *slash;
		*slash = '\0';
		if (c == '/') {
			u->path = slash + 1;
			q = strchr(u->path, '?');
			if (q) {
				*q = '\0';
				u->query = q + 1;
			}
		} else {
			u->query = slash + 1;
		}
	}
	at = strrchr(p, '@');
	if (at) {
		*at = '\0';
		u->user = p;
		colon = strchr(p, ':');
		if (colon) {
			*colon = '\0';
			u->password = colon + 1;
		}
		p = at + 1;
	}
	u->host = p;
	u->port = 0;
	if (*p == '[') { /* [v6]:port */
		hostend = strchr(p, ']');
		if (!hostend)
			return sc_error_set(err, SC_EINVAL, "broker uri '%s': unclosed '['", red);
		u->host = p + 1;
		*hostend = '\0';
		colon = hostend[1] == ':' ? hostend + 1 : NULL;
	} else {
		colon = strrchr(p, ':');
	}
	if (colon) {
		char *end;
		long port;
		*colon = '\0';
		port = strtol(colon + 1, &end, 10);
		if (*end || end == colon + 1 || port <= 0 || port > 65535)
			return sc_error_set(err, SC_EINVAL, "broker uri '%s': bad port '%s'", red,
					    colon + 1);
		u->port = (int)port;
	}
	if (!*u->host)
		return sc_error_set(err, SC_EINVAL, "broker uri '%s': no host", red);
	if (u->user)
		sc_uri_unescape(u->user);
	if (u->password)
		sc_uri_unescape(u->password);
	return 0;
}

/* Append n bytes of s to buf (size), truncating; *len counts what fits. */
static void sc_append(char *buf, size_t size, size_t *len, const char *s, size_t n)
{
	if (*len + 1 >= size)
		return;
	if (n > size - 1 - *len)
		n = size - 1 - *len;
	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = '\0';
}

/*
 * Every "user:password@" of the authority is redacted, also in a
 * comma-separated host list (kafka://u:p@h1,h2); the last '@' of an item
 * ends its user information, as in sc_uri_parse().
 */
void sc_uri_redact(const char *uri, char *buf, size_t size)
{
	const char *s = strstr(uri, "://"), *seg, *end;
	size_t len = 0;

	if (!size)
		return;
	buf[0] = '\0';
	if (!s) {
		sc_strlcpy(buf, uri, size);
		return;
	}
	seg = s + 3;
	end = seg + strcspn(seg, "/?");
	sc_append(buf, size, &len, uri, (size_t)(seg - uri));
	while (seg <= end) {
		const char *segend = memchr(seg, ',', (size_t)(end - seg)), *at, *colon = NULL;

		if (!segend)
			segend = end;
		at = memrchr(seg, '@', (size_t)(segend - seg));
		if (at)
			colon = memchr(seg, ':', (size_t)(at - seg));
		if (colon) {
			sc_append(buf, size, &len, seg, (size_t)(colon + 1 - seg));
			sc_append(buf, size, &len, "***", 3);
			sc_append(buf, size, &len, at, (size_t)(segend - at));
		} else {
			sc_append(buf, size, &len, seg, (size_t)(segend - seg));
		}
		if (segend == end)
			break;
		sc_append(buf, size, &len, ",", 1);
		seg = segend + 1;
	}
	sc_append(buf, size, &len, end, strlen(end));
}

/* ---- credentials and TLS ------------------------------------------------ */

int transport_password(const struct transport_cfg *cfg, const char *backend,
		       const char *uri_password, char *buf, size_t size, struct sc_error *err)
{
	const char *path = cfg->password_file;
	FILE *f;
	size_t n;

	if (path && *path) {
		f = fopen(path, "r");
		if (!f)
			return sc_error_set(err, errno == ENOENT ? SC_ENOENT : SC_EINVAL,
					    "%s: password file '%s': %s", backend, path,
					    strerror(errno));
		if (!fgets(buf, (int)size, f))
			buf[0] = '\0';
		n = strcspn(buf, "\r\n");
		if (!buf[n] && !feof(f) && n + 1 >= size) {
			fclose(f);
			memset(buf, 0, size);
			return sc_error_set(err, SC_EINVAL,
					    "%s: password file '%s': the first line is longer than "
					    "%zu bytes",
					    backend, path, size - 1);
		}
		fclose(f);
		buf[n] = '\0';
		if (!n)
			return sc_error_set(err, SC_EINVAL,
					    "%s: password file '%s': the first line is empty",
					    backend, path);
		return 1;
	}
	if (cfg->password && *cfg->password)
		uri_password = cfg->password;
	if (!uri_password || !*uri_password) {
		buf[0] = '\0';
		return 0;
	}
	if (uri_password == buf) /* the caller's buffer already holds the URI's */
		return strlen(buf) < size
			       ? 1
			       : sc_error_set(err, SC_EINVAL, "%s: bad password", backend);
	if (sc_strlcpy(buf, uri_password, size) >= size) {
		memset(buf, 0, size);
		return sc_error_set(err, SC_EINVAL, "%s: the password is longer than %zu bytes",
				    backend, size - 1);
	}
	return 1;
}

/* ---- -X integers and booleans ------------------------------------------ */

int transport_parse_long(const char *backend, const char *key, const char *v, long min, long max,
			 long *out, struct sc_error *err)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < min || n > max)
		return sc_error_set(err, SC_EINVAL,
				    "%s: -X %s=%s: expected an integer from %ld to %ld", backend,
				    key, v, min, max);
	*out = n;
	return 0;
}

int transport_parse_bool(const char *backend, const char *key, const char *v, bool *out,
			 struct sc_error *err)
{
	if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
		*out = true;
	else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
		*out = false;
	else
		return sc_error_set(err, SC_EINVAL, "%s: -X %s=%s: expected true or false", backend,
				    key, v);
	return 0;
}

int transport_prop_long(const struct transport_cfg *cfg, const char *backend, const char *key,
			long min, long max, long *out, struct sc_error *err)
{
	const char *v = transport_prop(cfg, key);
	int rc;

	if (!v)
		return 0;
	rc = transport_parse_long(backend, key, v, min, max, out, err);
	return rc ? rc : 1;
}

int transport_prop_bool(const struct transport_cfg *cfg, const char *backend, const char *key,
			bool *out, struct sc_error *err)
{
	const char *v = transport_prop(cfg, key);
	int rc;

	if (!v)
		return 0;
	rc = transport_parse_bool(backend, key, v, out, err);
	return rc ? rc : 1;
}

/* ---- backend option tables ---------------------------------------------- */

int transport_check_props(const struct transport_ops *ops, const struct sc_kv *props, size_t nprops,
			  struct sc_error *err)
{
	for (size_t i = 0; i < nprops; i++) {
		const char *k = props[i].key, *v = props[i].value ? props[i].value : "";
		const struct transport_opt *o = NULL;
		bool open = false, b;
		long n;
		int rc = 0;

		for (const struct transport_opt *e = ops->opts; e && e->key; e++) {
			if (strcmp(e->key, "*") == 0)
				open = true;
			else if (strcmp(e->key, k) == 0)
				o = e;
		}
		if (!o) {
			if (!open && !transport_tls_key(k))
				return sc_error_set(err, SC_EINVAL,
						    "%s: unknown -X key '%s' (see streamctl <role> "
						    "--help)",
						    ops->name, k);
			continue;
		}
		if (o->type == TRANSPORT_OPT_LONG)
			rc = transport_parse_long(ops->name, k, v, o->min, o->max, &n, err);
		else if (o->type == TRANSPORT_OPT_BOOL)
			rc = transport_parse_bool(ops->name, k, v, &b, err);
		if (rc)
			return rc;
	}
	return 0;
}

static const struct transport_opt *
transport_opt_entry(const struct transport_ops *ops, const char *key, enum transport_opt_type type)
{
	for (const struct transport_opt *o = ops->opts; o && o->key; o++)
		if (strcmp(o->key, key) == 0) {
			assert(o->type == type);
			return o;
		}
	assert(!"transport option not in the backend's table");
	return NULL;
}

int transport_opt_long(const struct transport_ops *ops, const struct transport_cfg *cfg,
		       const char *key, long *out, struct sc_error *err)
{
	const struct transport_opt *o = transport_opt_entry(ops, key, TRANSPORT_OPT_LONG);
	const char *v = transport_prop(cfg, key);

	if (!v && o)
		v = o->def;
	if (!v || !o)
		return 0;
	return transport_parse_long(ops->name, key, v, o->min, o->max, out, err);
}

int transport_opt_bool(const struct transport_ops *ops, const struct transport_cfg *cfg,
		       const char *key, bool *out, struct sc_error *err)
{
	const struct transport_opt *o = transport_opt_entry(ops, key, TRANSPORT_OPT_BOOL);
	const char *v = transport_prop(cfg, key);

	if (!v && o)
		v = o->def;
	if (!v || !o)
		return 0;
	return transport_parse_bool(ops->name, key, v, out, err);
}

void transport_opt_env(const struct transport_ops *ops, const struct transport_opt *o, char *buf,
		       size_t size)
{
	size_t i = (size_t)snprintf(buf, size, "STREAMCTL_"), nl = strlen(ops->name);
	/* "fault.inner" of fault is STREAMCTL_FAULT_INNER, not ..._FAULT_FAULT_INNER */
	const char *key =
		strncmp(o->key, ops->name, nl) == 0 && o->key[nl] == '.' ? o->key + nl + 1 : o->key;

	for (int pass = 0; pass < 2; pass++) {
		const char *p = pass ? key : ops->name;

		for (; *p && i + 2 < size; p++)
			buf[i++] =
				isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
		if (!pass && i + 2 < size)
			buf[i++] = '_';
	}
	buf[i < size ? i : size - 1] = '\0';
}

static const char *const transport_tls_keys[] = {"tls.ca", "tls.cert", "tls.key", "tls.insecure",
						 NULL};

bool transport_tls_key(const char *key)
{
	for (size_t i = 0; transport_tls_keys[i]; i++)
		if (strcmp(key, transport_tls_keys[i]) == 0)
			return true;
	return false;
}

int transport_tls_opts(const struct transport_cfg *cfg, const char *backend,
		       struct transport_tls *out, struct sc_error *err)
{
	const char *v = transport_prop(cfg, "tls.insecure");

	memset(out, 0, sizeof(*out));
	if (v && transport_parse_bool(backend, "tls.insecure", v, &out->insecure, err))
		return -err->code;
	out->ca = transport_prop(cfg, "tls.ca");
	out->cert = transport_prop(cfg, "tls.cert");
	out->key = transport_prop(cfg, "tls.key");
	if (out->ca && !*out->ca)
		out->ca = NULL;
	if (out->cert && !*out->cert)
		out->cert = NULL;
	if (out->key && !*out->key)
		out->key = NULL;
	if (!out->cert != !out->key)
		return sc_error_set(err, SC_EINVAL,
				    "%s: -X tls.cert and -X tls.key go together (a client "
				    "certificate and its key)",
				    backend);
	for (size_t i = 0; i < 3; i++) {
		const char *key = transport_tls_keys[i];
		const char *path = transport_prop(cfg, key);
		if (path && *path && access(path, R_OK) != 0)
			return sc_error_set(err, errno == ENOENT ? SC_ENOENT : SC_EINVAL,
					    "%s: -X %s=%s: %s", backend, key, path,
					    strerror(errno));
	}
	return 0;
}
