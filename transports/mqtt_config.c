/*
 * mqtt_config.c - options of the mqtt backend (-X keys, broker URI, client
 * id, group), topic names and subscription filters.  See mqtt.c.
 */
#include "mqtt_internal.h"
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- configuration ------------------------------------------------------- */

/*
 * The -X keys of this backend (transport.h: help, env and checks come from
 * here; the defaults are the MQTT_DEFAULT_* of mqtt_internal.h).  qos,
 * inflight and prefetch also answer to the flags they had when they were
 * shared settings; 0 stands for the default where those flags documented it.
 */
const struct transport_opt mqtt_opts[] = {
	{"qos", TRANSPORT_OPT_LONG, "1", 0, 2, "quality of service of publishes and subscriptions",
	 "qos"},
	{"inflight", TRANSPORT_OPT_LONG, "100", 0, 65535,
	 "unacknowledged publishes (0: the default)", "inflight"},
	{"prefetch", TRANSPORT_OPT_LONG, "100", 0, 65535,
	 "unacknowledged deliveries a consumer holds, MQTT 5 Receive Maximum (0: the default)",
	 "prefetch"},
	{"keepalive", TRANSPORT_OPT_LONG, "30", 0, 65535, "keep-alive seconds"},
	{"session.expiry", TRANSPORT_OPT_LONG, "86400", 0, 4294967295L,
	 "session expiry seconds (a producer without a client id: 300)"},
	{"clean", TRANSPORT_OPT_BOOL, "false", 0, 0, "start a clean session"},
	{"client.id", TRANSPORT_OPT_STR, NULL, 0, 0, "MQTT client id (default --client-id)"},
	{"shared", TRANSPORT_OPT_BOOL, "true", 0, 0, "consumers share a subscription"},
	{"journal", TRANSPORT_OPT_STR, NULL, 0, 0, "consumer journal directory, or off"},
	{"journal.sync", TRANSPORT_OPT_BOOL, "false", 0, 0, "fdatasync every journal append"},
	{NULL},
};

static int mqtt_parse_int(const char *key, const char *v, long lo, long hi, long *out,
			  struct sc_error *err)
{
	return transport_parse_long("mqtt", key, v, lo, hi, out, err);
}

static int mqtt_parse_bool(const char *key, const char *v, bool *out, struct sc_error *err)
{
	return transport_parse_bool("mqtt", key, v, out, err);
}

static int mqtt_parse_props(struct mqtt_priv *p, const struct transport_cfg *cfg,
			    struct sc_error *err)
{
	for (size_t i = 0; i < cfg->nprops; i++) {
		const char *k = cfg->props[i].key,
			   *v = cfg->props[i].value ? cfg->props[i].value : "";
		long n;
		int rc = 0;

		if (strcmp(k, "qos") == 0) {
			rc = mqtt_parse_int(k, v, 0, 2, &n, err);
			p->qos = (int)n;
		} else if (strcmp(k, "inflight") == 0) {
			rc = mqtt_parse_int(k, v, 0, 65535, &n, err);
			p->inflight = n ? (int)n : MQTT_DEFAULT_INFLIGHT;
		} else if (strcmp(k, "prefetch") == 0) {
			rc = mqtt_parse_int(k, v, 0, 65535, &n, err);
			p->prefetch = n ? (int)n : MQTT_DEFAULT_PREFETCH;
		} else if (strcmp(k, "keepalive") == 0) {
			rc = mqtt_parse_int(k, v, 0, 65535, &n, err);
			p->keepalive = (int)n;
		} else if (strcmp(k, "session.expiry") == 0) {
			rc = mqtt_parse_int(k, v, 0, 4294967295L, &n, err);
			p->expiry = n;
		} else if (strcmp(k, "clean") == 0) {
			bool b;

			rc = mqtt_parse_bool(k, v, &b, err);
			p->clean = b;
		} else if (strcmp(k, "client.id") == 0) {
			if (!*v || strlen(v) >= sizeof(p->client_id))
				return sc_error_set(err, SC_EINVAL,
						    "mqtt: -X client.id: empty or too long");
			sc_strlcpy(p->client_id, v, sizeof(p->client_id));
		} else if (strcmp(k, "shared") == 0) {
			rc = mqtt_parse_bool(k, v, &p->shared, err);
		} else if (strcmp(k, "journal.sync") == 0) {
			rc = mqtt_parse_bool(k, v, &p->journal_sync, err);
		} else if (strcmp(k, "journal") == 0) {
			p->journal_off = strcmp(v, "off") == 0;
			if (!*v || strlen(v) >= sizeof(p->journal_path) - 300)
				return sc_error_set(
					err, SC_EINVAL,
					"mqtt: -X journal: expected a directory or off");
			if (!p->journal_off)
				sc_strlcpy(p->journal_path, v, sizeof(p->journal_path));
		} else if (!transport_tls_key(k)) {
			return transport_check_props(&transport_mqtt, &cfg->props[i], 1, err);
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* Replace characters that are special in topic levels / share names. */
void mqtt_sanitise(char *s, bool dots)
{
	for (; *s; s++)
		if (*s == '+' || *s == '#' || *s == '/' || (dots && *s == '.'))
			*s = '_';
}

/*
 * The journal's file: "<dir>/<client id>.journal", dir from -X journal, else
 * $STREAMCTL_STATE_DIR/mqtt, $XDG_STATE_HOME/streamctl/mqtt or
 * $HOME/.local/state/streamctl/mqtt.
 */
static int mqtt_journal_path(struct mqtt_priv *p, struct sc_error *err)
{
	char dir[sizeof(p->journal_path)], id[sizeof(p->client_id)];
	const char *e;
	int n;

	if (p->journal_path[0])
		sc_strlcpy(dir, p->journal_path, sizeof(dir));
	else if ((e = getenv("STREAMCTL_STATE_DIR")) && *e)
		snprintf(dir, sizeof(dir), "%.700s/mqtt", e);
	else if ((e = getenv("XDG_STATE_HOME")) && *e)
		snprintf(dir, sizeof(dir), "%.700s/streamctl/mqtt", e);
	else if ((e = getenv("HOME")) && *e)
		snprintf(dir, sizeof(dir), "%.700s/.local/state/streamctl/mqtt", e);
	else
		return sc_error_set(err, SC_EINVAL,
				    "mqtt: no directory for the consumer journal (no HOME): give "
				    "-X journal=DIR (or -X journal=off)");
	sc_strlcpy(id, p->client_id, sizeof(id));
	mqtt_sanitise(id, false);
	if (id[0] == '.')
		id[0] = '_';
	n = snprintf(p->journal_path, sizeof(p->journal_path), "%s/%s.journal", dir, id);
	if (n < 0 || (size_t)n >= sizeof(p->journal_path))
		return sc_error_set(err, SC_EINVAL, "mqtt: -X journal: path too long");
	return 0;
}

int mqtt_configure(struct mqtt_priv *p, const struct transport_cfg *cfg, struct sc_error *err)
{
	char red[512];
	int rc;

	rc = sc_uri_parse(cfg->broker && *cfg->broker ? cfg->broker : MQTT_DEFAULT_URI, &p->uri,
			  err);
	if (rc)
		return sc_error_prefix(err, "mqtt");
	sc_uri_redact(cfg->broker && *cfg->broker ? cfg->broker : MQTT_DEFAULT_URI, red,
		      sizeof(red));
	p->tls = strcmp(p->uri.scheme, "mqtts") == 0 || strcmp(p->uri.scheme, "ssl") == 0;
	if (!p->tls && strcmp(p->uri.scheme, "mqtt") != 0 && strcmp(p->uri.scheme, "tcp") != 0)
		return sc_error_set(err, SC_EINVAL,
				    "mqtt: broker uri '%s': scheme must be mqtt:// or mqtts:// (or "
				    "tcp://, ssl://)",
				    red);
	if ((p->uri.path && *p->uri.path) || p->uri.query)
		return sc_error_set(err, SC_EINVAL,
				    "mqtt: broker uri '%s': no path or query expected", red);
	if (!p->uri.port)
		p->uri.port = p->tls ? MQTT_DEFAULT_TLS_PORT : MQTT_DEFAULT_PORT;
	snprintf(p->server, sizeof(p->server),
		 strchr(p->uri.host, ':') ? "%s://[%s]:%d" : "%s://%s:%d", p->tls ? "ssl" : "tcp",
		 p->uri.host, p->uri.port);
	snprintf(p->where, sizeof(p->where), strchr(p->uri.host, ':') ? "[%s]:%d" : "%s:%d",
		 p->uri.host, p->uri.port);
	rc = transport_password(cfg, "mqtt", p->uri.password, p->password, sizeof(p->password),
				err);
	if (rc < 0)
		return rc;
	rc = transport_tls_opts(cfg, "mqtt", &p->tlsopt, err);
	if (rc)
		return rc;

	p->ns = cfg->ns && *cfg->ns ? cfg->ns : "streamctl";
	if (strpbrk(p->ns, "+#"))
		return sc_error_set(err, SC_EINVAL, "mqtt: namespace '%s' contains '+' or '#'",
				    p->ns);
	p->qos = 1;
	p->inflight = MQTT_DEFAULT_INFLIGHT;
	p->prefetch = MQTT_DEFAULT_PREFETCH;
	p->keepalive = MQTT_DEFAULT_KEEPALIVE;
	p->clean = -1;
	p->expiry = -1;
	if (cfg->client_id && *cfg->client_id)
		sc_strlcpy(p->client_id, cfg->client_id, sizeof(p->client_id));
	p->shared = true;
	rc = mqtt_parse_props(p, cfg, err);
	if (rc)
		return rc;
	if (p->qos == 0) /* nothing is acknowledged: flush() cannot mean "at the broker" */
		p->t->caps &= ~(unsigned int)TRANSPORT_CAP_CONFIRM;
	if (p->inflight > 65535)
		p->inflight = 65535;
	if (!p->client_id[0]) {
		if (cfg->inputs && p->clean != 1)
			return sc_error_set(
				err, SC_EINVAL,
				"mqtt: a consumer needs a stable client id for its persistent "
				"session (--client-id or -X client.id)");
		/* no two producers may share an id: the broker drops a client whose
		 * id connects again, and the two then take the session from each
		 * other, re-sending at every reconnect.  The host name tells apart
		 * containers (where every process may be pid 1), the pid processes
		 * on a host, the counter a second handle of the process. */
		static unsigned int handles;
		unsigned int n = __atomic_fetch_add(&handles, 1, __ATOMIC_RELAXED);
		char host[64] = "localhost";
		gethostname(host, sizeof(host) - 1);
		host[sizeof(host) - 1] = '\0';
		mqtt_sanitise(host, false);
		int len = snprintf(p->client_id, sizeof(p->client_id), "%s-%s-%s-%ld", p->ns,
				   cfg->role && *cfg->role ? cfg->role : "client", host,
				   (long)getpid());
		if (n > 0 && len > 0 && (size_t)len < sizeof(p->client_id))
			snprintf(p->client_id + len, sizeof(p->client_id) - (size_t)len, "-%u", n);
		if (p->expiry < 0)
			p->expiry = MQTT_PRODUCER_EXPIRY;
	}
	if (p->clean < 0)
		p->clean = 0;
	if (p->expiry < 0)
		p->expiry = MQTT_DEFAULT_EXPIRY;
	p->window = p->inflight;

	if (cfg->group && *cfg->group)
		snprintf(p->group, sizeof(p->group), "%s", cfg->group);
	else
		snprintf(p->group, sizeof(p->group), "%s.%s", p->ns,
			 cfg->role && *cfg->role ? cfg->role : "client");
	mqtt_sanitise(p->group, true);
	if (cfg->inputs && !p->journal_off)
		return mqtt_journal_path(p, err);
	return 0;
}

/* "<ns>/<stream path>" into buf. */
int mqtt_stream_topic(const struct mqtt_priv *p, enum sc_stream s, char *buf, size_t n)
{
	int len;

	if ((int)s >= 0 && s < SC_STREAM__COUNT && p->stopic_len[s] != 0) {
		len = p->stopic_len[s];
		if (len < 0 || (size_t)len >= n)
			return -1;
		memcpy(buf, p->stopic[s], (size_t)len + 1);
		return len;
	}
	len = transport_stream_name(buf, n, p->ns, s, '/');
	return len < 0 || (size_t)len >= n ? -1 : len;
}

/* Every stream's topic once (a snprintf per message was 2-3% of a processor's CPU). */
static void mqtt_cache_topics(struct mqtt_priv *p)
{
	for (int s = 0; s < SC_STREAM__COUNT; s++) {
		int len = transport_stream_name(p->stopic[s], sizeof(p->stopic[s]), p->ns,
						(enum sc_stream)s, '/');
		p->stopic_len[s] = len <= 0 || (size_t)len >= sizeof(p->stopic[s]) ? -1 : len;
	}
}

int mqtt_build_filters(struct mqtt_priv *p, const struct transport_cfg *cfg, struct sc_error *err)
{
	char topic[MQTT_TOPIC_MAX], filter[MQTT_TOPIC_MAX + 160];

	mqtt_cache_topics(p);
	for (int s = 0; s < SC_STREAM__COUNT; s++) {
		if (!(cfg->inputs & SC_STREAM_BIT(s)))
			continue;
		if (s == SC_STREAM_EXTERNAL) {
			if (!cfg->external_topic || !*cfg->external_topic)
				return sc_error_set(err, SC_EINVAL,
						    "mqtt: the external stream needs a topic");
			if (p->shared)
				snprintf(filter, sizeof(filter), "$share/%s/%s", p->group,
					 cfg->external_topic);
			else
				snprintf(filter, sizeof(filter), "%s", cfg->external_topic);
		} else {
			if (mqtt_stream_topic(p, (enum sc_stream)s, topic, sizeof(topic)) < 0)
				return sc_error_set(err, SC_EINVAL, "mqtt: namespace too long");
			if (p->shared)
				snprintf(filter, sizeof(filter), "$share/%s/%s/#", p->group, topic);
			else
				snprintf(filter, sizeof(filter), "%s/#", topic);
		}
		p->filters[p->nfilters] = strdup(filter);
		if (!p->filters[p->nfilters])
			return sc_error_set(err, SC_ENOMEM, "mqtt: out of memory");
		p->filter_qos[p->nfilters++] = p->qos;
	}
	return 0;
}

int mqtt_set_props(struct mqtt_priv *p, struct sc_error *err)
{
	MQTTProperty prop = {0};

	prop.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL;
	prop.value.integer4 = (unsigned int)p->expiry;
	if (MQTTProperties_add(&p->connect_props, &prop))
		return sc_error_set(err, SC_ENOMEM, "mqtt: cannot set connect properties");
	prop.identifier = MQTTPROPERTY_CODE_RECEIVE_MAXIMUM;
	prop.value.integer2 = (unsigned short)p->prefetch;
	if (MQTTProperties_add(&p->connect_props, &prop))
		return sc_error_set(err, SC_ENOMEM, "mqtt: cannot set connect properties");
	return 0;
}
