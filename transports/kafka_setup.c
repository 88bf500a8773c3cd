/*
 * kafka_setup.c - what the kafka backend does before it moves messages:
 * broker list, client configuration, callbacks, topic names and creation.
 *
 * Map:  options - broker list - topic names - callbacks - configuration - topics
 */
#include "kafka_int.h"

#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- options ----------------------------------------------------------- */

/*
 * partitions, replication.factor and inflight are streamctl's own (topic
 * creation and queue.buffering.max.messages) and never reach librdkafka,
 * which would refuse them; group.instance.id is set by kafka_instance_id()
 * (the --client-id given, which this key overrides).  0 stands
 * for the default in the first three because the shared flags they come
 * from (--partitions, --replication-factor, --inflight) documented it so.
 */
const struct transport_opt kafka_opts[] = {
	{"partitions", TRANSPORT_OPT_LONG, "3", 0, 100000,
	 "partitions of the topics it creates (0: the default)", "partitions"},
	{"replication.factor", TRANSPORT_OPT_LONG, "1", 0, 100,
	 "replication factor of the topics it creates (0: the default)", "replication-factor"},
	/* librdkafka 2.0.2 takes queue.buffering.max.messages in 1..10000000 (rdkafka_conf.c) */
	{"inflight", TRANSPORT_OPT_LONG, "0", 0, 10000000,
	 "messages the producer queues unconfirmed, as queue.buffering.max.messages "
	 "(0: librdkafka's default)",
	 "inflight"},
	{"group.instance.id", TRANSPORT_OPT_STR, NULL, 0, 0,
	 "static group membership (KIP-345): the member id; default: --client-id when given, "
	 "empty: off"},
	{"*", TRANSPORT_OPT_STR, NULL, 0, 0, "any librdkafka property, e.g. -X linger.ms=5"},
	{NULL},
};

/*
 * Static membership: the --client-id the user gave, so a restart with the same
 * id takes its partitions back at once (a made-up default id is the same for
 * every instance on a host, which as static members would fence each other).
 * -X group.instance.id gives another id, or none when empty.
 */
const char *kafka_instance_id(const struct transport_cfg *cfg)
{
	const char *v = transport_prop(cfg, "group.instance.id");

	if (v)
		return *v ? v : NULL;
	return cfg->client_id_given && cfg->client_id && *cfg->client_id ? cfg->client_id : NULL;
}

static bool kafka_own_key(const char *key)
{
	return !strcmp(key, "partitions") || !strcmp(key, "replication.factor") ||
	       !strcmp(key, "inflight") || !strcmp(key, "group.instance.id");
}

/* The value of -X key, where 0 means the table's default. */
static int kafka_opt_nonzero(struct kafka_priv *k, const char *key, long *out, struct sc_error *err)
{
	const struct transport_cfg none = {0};
	int rc = transport_opt_long(k->t->ops, k->cfg, key, out, err);

	if (!rc && *out == 0)
		rc = transport_opt_long(k->t->ops, &none, key, out, err);
	return rc;
}

int kafka_topic_opts(struct kafka_priv *k, struct sc_error *err)
{
	long partitions = 0, replication = 0;
	int rc = kafka_opt_nonzero(k, "partitions", &partitions, err);

	if (!rc)
		rc = kafka_opt_nonzero(k, "replication.factor", &replication, err);
	if (rc)
		return rc;
	k->partitions = (int)partitions;
	k->replication = (int)replication;
	return 0;
}

/* ---- broker list ------------------------------------------------------- */

static int kafka_add_broker(struct kafka_priv *k, const char *item, const char *shown,
			    struct sc_error *err)
{
	char tmp[512];
	struct sc_uri u;
	size_t used = strlen(k->brokers);
	int n;

	if (!*item)
		return sc_error_set(err, SC_EINVAL, "kafka: broker uri '%s': empty host in list",
				    shown);
	if (snprintf(tmp, sizeof(tmp), "kafka://%s", item) >= (int)sizeof(tmp))
		return sc_error_set(err, SC_EINVAL, "kafka: broker uri '%s': too long", shown);
	if (sc_uri_parse(tmp, &u, err))
		return sc_error_prefix(err, "kafka");
	if (u.user)
		return sc_error_set(err, SC_EINVAL,
				    "kafka: broker uri '%s': credentials go once, before the list: "
				    "kafka[s]://user:password@host:port,host:port",
				    shown);
	if (u.path || u.query)
		return sc_error_set(
			err, SC_EINVAL,
			"kafka: broker uri '%s': expected kafka://host:port[,host:port...]", shown);
	n = snprintf(k->brokers + used, sizeof(k->brokers) - used,
		     strchr(u.host, ':') ? "%s[%s]:%d" : "%s%s:%d", used ? "," : "", u.host,
		     u.port ? u.port : 9092);
	if (n < 0 || (size_t)n >= sizeof(k->brokers) - used)
		return sc_error_set(err, SC_EINVAL, "kafka: broker uri '%s': too long", shown);
	return 0;
}

/*
 * Take "user[:password]@" off the front of list (in place) into k->user and
 * k->password, percent-decoded like any URI's.  (A ',' in a password must
 * be written %2C.)
 */
static int kafka_credentials(struct kafka_priv *k, char *list, const char *shown,
			     struct sc_error *err)
{
	char *comma = strchr(list, ','), *at, tmp[512];
	struct sc_uri u;
	int rc = 0;

	/* the last '@' of the first item: a password may hold an '@' */
	at = memrchr(list, '@', comma ? (size_t)(comma - list) : strlen(list));
	if (!at)
		return 0;
	*at = '\0';
	if (!*list || *list == ':')
		rc = sc_error_set(err, SC_EINVAL, "kafka: broker uri '%s': empty user", shown);
	else if (snprintf(tmp, sizeof(tmp), "kafka://%s@h", list) >= (int)sizeof(tmp))
		rc = sc_error_set(err, SC_EINVAL, "kafka: broker uri '%s': too long", shown);
	else if (sc_uri_parse(tmp, &u, err))
		rc = sc_error_set(err, SC_EINVAL, "kafka: broker uri '%s': bad user or password",
				  shown);
	else if (sc_strlcpy(k->user, u.user, sizeof(k->user)) >= sizeof(k->user) ||
		 sc_strlcpy(k->password, u.password ? u.password : "", sizeof(k->password)) >=
			 sizeof(k->password))
		rc = sc_error_set(err, SC_EINVAL,
				  "kafka: broker uri '%s': user or password too long", shown);
	memset(tmp, 0, sizeof(tmp));
	memset(&u, 0, sizeof(u));
	memmove(list, at + 1, strlen(at + 1) + 1);
	return rc;
}

int kafka_parse_brokers(struct kafka_priv *k, const char *uri, struct sc_error *err)
{
	char shown[512], list[1024];
	const char *p;
	char *item, *save = NULL;
	int rc;

	k->brokers[0] = '\0';
	if (!uri || !*uri)
		uri = KAFKA_DEFAULT_BROKERS;
	sc_uri_redact(uri, shown, sizeof(shown));
	k->tls = false;
	k->user[0] = k->password[0] = '\0';
	p = strstr(uri, "://");
	if (p) {
		size_t n = (size_t)(p - uri);
		if (n == 6 && strncmp(uri, "kafkas", 6) == 0)
			k->tls = true;
		else if (n != 5 || strncmp(uri, "kafka", 5) != 0)
			return sc_error_set(
				err, SC_EINVAL,
				"kafka: broker uri '%s': expected kafka://host:port[,host:port...] "
				"or kafkas://... (TLS), each with an optional user:password@",
				shown);
		p += 3;
	} else {
		p = uri;
	}
	if (strlen(p) >= sizeof(list))
		return sc_error_set(err, SC_EINVAL, "kafka: broker uri '%s': too long", shown);
	memcpy(list, p, strlen(p) + 1);
	rc = kafka_credentials(k, list, shown, err);
	if (rc)
		return rc;
	if (!*list || list[strlen(list) - 1] == ',')
		return sc_error_set(err, SC_EINVAL, "kafka: broker uri '%s': empty host in list",
				    shown);
	for (item = list; item; item = save) {
		save = strchr(item, ',');
		if (save)
			*save++ = '\0';
		rc = kafka_add_broker(k, item, shown, err);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- topic names ------------------------------------------------------- */

int kafka_topic_names(struct kafka_priv *k, struct sc_error *err)
{
	const struct transport_cfg *cfg = k->cfg;

	for (int s = 0; s < SC_STREAM__COUNT; s++) {
		char *buf = k->topics[s];
		int n;

		if (s == SC_STREAM_EXTERNAL)
			n = snprintf(buf, KAFKA_TOPIC_MAX, "%s",
				     cfg->external_topic ? cfg->external_topic : "");
		else
			n = transport_stream_name(buf, KAFKA_TOPIC_MAX, cfg->ns, (enum sc_stream)s,
						  '.');
		if (n < 0 || n >= KAFKA_TOPIC_MAX)
			return sc_error_set(err, SC_EINVAL,
					    "kafka: topic name for stream %s is longer than %d "
					    "characters",
					    sc_stream_name((enum sc_stream)s), KAFKA_TOPIC_MAX - 1);
	}
	return 0;
}

/* ---- callbacks --------------------------------------------------------- */

/*
 * Keep the first authentication or TLS failure.  Before any broker answered
 * it becomes the error of the call that waited (kafka_conn_error); after
 * that it is printed once.
 */
static void kafka_conn_failed(struct kafka_priv *k, int code, const char *reason)
{
	const char *r = reason, *colon, *tail;
	int zero = 0;

	if (!k || !atomic_compare_exchange_strong(&k->conn_claim, &zero, 1))
		return;
	/*
	 * Drop librdkafka's prefixes ("[thrd:...]: ", "<proto>://<host>:<port>/<id>: ")
	 * and its " (after N ms in state X)": our message names the brokers.
	 */
	while ((colon = strstr(r, ": ")) &&
	       (r[0] == '[' || memmem(r, (size_t)(colon - r), "://", 3)))
		r = colon + 2;
	tail = strstr(r, " (after ");
	snprintf(k->conn_reason, sizeof(k->conn_reason), "%.*s",
		 (int)(tail ? (size_t)(tail - r) : strlen(r)), r);
	atomic_store(&k->conn_fail, code);
	if (atomic_load(&k->opened))
		fprintf(stderr, "kafka: %s: %s\n",
			code == SC_EAUTH ? "authentication failed" : "tls handshake failed",
			k->conn_reason);
}

/*
 * librdkafka's own log, warnings and worse only.  The same -X list is given
 * to the producer and the consumer of one transport, so "X is a consumer
 * property and will be ignored by this producer instance" is expected and
 * not shown.  librdkafka never logs secrets such as sasl.password.
 */
static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	const struct kafka_priv *k = rd_kafka_opaque(rk);

	if (level > 4 && !(k && k->debug))
		return;
	if (strcmp(fac, "CONFWARN") == 0 && strstr(buf, "will be ignored by this"))
		return;
	/* fenced static member: the one-line error of kafka_fatal() says it */
	if (strcmp(fac, "FATAL") == 0 && strstr(buf, "fenced"))
		return;
	/*
	 * A refused login or TLS handshake: error_cb would only hear of it from
	 * rd_kafka_poll(), which nobody calls while we wait for metadata.
	 */
	if (strcmp(fac, "FAIL") == 0) {
		if (strstr(buf, "SASL authentication error")) {
			kafka_conn_failed(rd_kafka_opaque(rk), SC_EAUTH, buf);
			return;
		}
		if (strstr(buf, "SSL handshake failed") || strstr(buf, "state SSL_HANDSHAKE")) {
			kafka_conn_failed(rd_kafka_opaque(rk), SC_ECONN, buf);
			return;
		}
	}
	fprintf(stderr, "kafka: %s: %s\n", fac, buf);
}

int kafka_conn_error(struct kafka_priv *k, struct sc_error *err)
{
	int code = atomic_load(&k->conn_fail);

	if (code == SC_EAUTH)
		return sc_error_set(err, SC_EAUTH,
				    "kafka: authentication refused for user '%s' at %s: %s",
				    k->user[0] ? k->user : "(none)", k->brokers, k->conn_reason);
	if (code)
		return sc_error_set(err, code, "kafka: tls handshake with %s failed: %s%s",
				    k->brokers, k->conn_reason,
				    transport_prop(k->cfg, "tls.ca") ||
						    transport_prop(k->cfg, "ssl.ca.location")
					    ? ""
					    : " (no -X tls.ca given)");
	return 0;
}

/*
 * Errors librdkafka cannot retry away come here (it retries the others on
 * its own).  Only state is kept: callers see fatal errors as return codes,
 * healthy() reports the brokers being down.  Connection failures are also
 * logged by kafka_log_cb, so they are not printed twice.
 */
static void kafka_error_cb(rd_kafka_t *rk, int e, const char *reason, void *opaque)
{
	struct kafka_priv *k = opaque;

	if (e != RD_KAFKA_RESP_ERR__FATAL)
		atomic_store(&k->trouble_ns, sc_mono_ns()); /* kafka_rejoin asks */
	switch (e) {
	case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
		/* after a refused login or handshake that error says it all */
		if (!atomic_exchange(&k->brokers_down, true) && !atomic_load(&k->conn_fail))
			fprintf(stderr, "kafka: all brokers are down: %s\n", reason);
		break;
	case RD_KAFKA_RESP_ERR__FATAL:
		atomic_store(&k->fatal, true);
		/* fenced: the caller's one-line error says it all (kafka_fatal) */
		if (rd_kafka_fatal_error(rk, NULL, 0) != RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID)
			fprintf(stderr, "kafka: fatal error: %s\n", reason);
		break;
	case RD_KAFKA_RESP_ERR__AUTHENTICATION: kafka_conn_failed(k, SC_EAUTH, reason); break;
	case RD_KAFKA_RESP_ERR__SSL: kafka_conn_failed(k, SC_ECONN, reason); break;
	default: break;
	}
}

/* ---- configuration ----------------------------------------------------- */

static bool kafka_secret_key(const char *key)
{
	return strstr(key, "password") || strstr(key, "secret") || strstr(key, ".key") ||
	       strstr(key, "token");
}

static int kafka_set(rd_kafka_conf_t *conf, const char *key, const char *value, bool from_user,
		     struct sc_error *err)
{
	char errstr[512];

	if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) == RD_KAFKA_CONF_OK)
		return 0;
	if (from_user)
		return sc_error_set(err, SC_EINVAL, "kafka: -X %s=%s: %s", key,
				    kafka_secret_key(key) ? "***" : value, errstr);
	return sc_error_set(err, SC_EINVAL, "kafka: cannot set %s=%s: %s", key, value, errstr);
}

/*
 * What the URI and the common options say about security, before -X (which
 * wins): kafkas:// is security.protocol SSL, SASL_SSL with a user (kafka://
 * with a user: SASL_PLAINTEXT); a user means sasl.mechanism PLAIN with
 * sasl.username and sasl.password (the password from transport_password(),
 * also used with -X sasl.username alone); -X tls.ca, tls.cert, tls.key and
 * tls.insecure become ssl.ca.location, ssl.certificate.location,
 * ssl.key.location and no certificate or host name verification.
 */
static int kafka_conf_security(struct kafka_priv *k, rd_kafka_conf_t *conf, struct sc_error *err)
{
	const struct transport_cfg *cfg = k->cfg;
	struct transport_tls tls;
	const char *user = k->user[0] ? k->user : transport_prop(cfg, "sasl.username");
	int rc;

	rc = transport_tls_opts(cfg, "kafka", &tls, err);
	if (rc)
		return rc;
	rc = transport_password(cfg, "kafka", k->password, k->password, sizeof(k->password), err);
	if (rc < 0)
		return rc;
	if (rc > 0 && (!user || !*user))
		return sc_error_set(err, SC_EINVAL,
				    "kafka: a password but no user: give kafka[s]://USER@host:port "
				    "or -X sasl.username=USER");
	rc = 0;
	if (k->tls || k->user[0])
		rc = kafka_set(conf, "security.protocol",
			       k->tls ? (k->user[0] ? "SASL_SSL" : "SSL") : "SASL_PLAINTEXT", false,
			       err);
	if (!rc && k->user[0])
		rc = kafka_set(conf, "sasl.mechanism", "PLAIN", false, err);
	if (!rc && k->user[0])
		rc = kafka_set(conf, "sasl.username", k->user, false, err);
	if (!rc && k->password[0])
		rc = kafka_set(conf, "sasl.password", k->password, false, err);
	if (!rc && tls.ca)
		rc = kafka_set(conf, "ssl.ca.location", tls.ca, true, err);
	if (!rc && tls.cert)
		rc = kafka_set(conf, "ssl.certificate.location", tls.cert, true, err);
	if (!rc && tls.key)
		rc = kafka_set(conf, "ssl.key.location", tls.key, true, err);
	if (!rc)
		rc = kafka_set(conf, "enable.ssl.certificate.verification",
			       tls.insecure ? "false" : "true", false, err);
	if (!rc)
		rc = kafka_set(conf, "ssl.endpoint.identification.algorithm",
			       tls.insecure ? "none" : "https", false, err);
	return rc;
}

int kafka_conf_new(struct kafka_priv *k, bool consumer, rd_kafka_conf_t **out, struct sc_error *err)
{
	const struct transport_cfg *cfg = k->cfg;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char group[512], num[32];
	int rc;

	*out = NULL;
	rd_kafka_conf_set_opaque(conf, k);
	rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
	rd_kafka_conf_set_error_cb(conf, kafka_error_cb);
	rc = kafka_set(conf, "bootstrap.servers", k->brokers, false, err);
	/* small produce and fetch requests must not wait for Nagle (and a delayed ACK) */
	if (!rc)
		rc = kafka_set(conf, "socket.nagle.disable", "true", false, err);
	if (!rc && cfg->client_id && *cfg->client_id)
		rc = kafka_set(conf, "client.id", cfg->client_id, false, err);
	if (rc)
		goto destroy;
	if (consumer) {
		snprintf(group, sizeof(group), "%s.%s", cfg->ns && *cfg->ns ? cfg->ns : "streamctl",
			 cfg->role && *cfg->role ? cfg->role : "consumer");
		const struct sc_kv defaults[] = {
			{"group.id", cfg->group && *cfg->group ? cfg->group : group},
			{"enable.auto.commit", "true"},
			{"enable.auto.offset.store", "false"},
			{"auto.offset.reset", "earliest"},
			{"partition.assignment.strategy", "roundrobin"},
			{"session.timeout.ms", KAFKA_SESSION_TIMEOUT_MS},
			{"heartbeat.interval.ms", KAFKA_HEARTBEAT_MS},
		};
		for (size_t i = 0; !rc && i < sizeof(defaults) / sizeof(defaults[0]); i++)
			rc = kafka_set(conf, defaults[i].key, defaults[i].value, false, err);
		/* static membership (KIP-345): --client-id, or -X group.instance.id */
		if (!rc && kafka_instance_id(cfg))
			rc = kafka_set(conf, "group.instance.id", kafka_instance_id(cfg), false,
				       err);
	} else {
		const struct sc_kv defaults[] = {
			{"enable.idempotence", "true"},
			{"acks", "all"},
			{"linger.ms", KAFKA_LINGER_MS},
		};
		for (size_t i = 0; !rc && i < sizeof(defaults) / sizeof(defaults[0]); i++)
			rc = kafka_set(conf, defaults[i].key, defaults[i].value, false, err);
		long inflight = 0;

		if (!rc)
			rc = transport_opt_long(k->t->ops, cfg, "inflight", &inflight, err);
		if (!rc && inflight > 0) {
			snprintf(num, sizeof(num), "%ld", inflight);
			rc = kafka_set(conf, "queue.buffering.max.messages", num, false, err);
		}
	}
	if (!rc)
		rc = kafka_conf_security(k, conf, err);
	for (size_t i = 0; !rc && i < cfg->nprops; i++)
		if (!transport_tls_key(cfg->props[i].key) && !kafka_own_key(cfg->props[i].key)) {
			const char *v = cfg->props[i].value ? cfg->props[i].value : "";

			rc = kafka_set(conf, cfg->props[i].key, v, true, err);
			if (!strcmp(cfg->props[i].key, "debug"))
				k->debug = *v != '\0';
		}
	if (rc)
		goto destroy;
	*out = conf;
	return 0;
destroy:
	rd_kafka_conf_destroy(conf);
	return rc;
}

/* ---- topics ------------------------------------------------------------ */

int kafka_errcode(rd_kafka_resp_err_t e)
{
	switch (e) {
	case RD_KAFKA_RESP_ERR_NO_ERROR: return SC_OK;
	case RD_KAFKA_RESP_ERR__TIMED_OUT:
	case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
	case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT: return SC_ETIMEDOUT;
	case RD_KAFKA_RESP_ERR__TRANSPORT:
	case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
	case RD_KAFKA_RESP_ERR__RESOLVE: return SC_ECONN;
	case RD_KAFKA_RESP_ERR__AUTHENTICATION:
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED: return SC_EAUTH;
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE: return SC_ETOOBIG;
	case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
	case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
	case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
	case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
	case RD_KAFKA_RESP_ERR__INVALID_ARG: return SC_EINVAL;
	default: return SC_EIO;
	}
}

/*
 * Which of names[] the cluster metadata lists with partitions; 1 in
 * present[i] when so.  Asks for all topics: a request naming the topics
 * could make a broker with auto.create.topics.enable create them with its
 * own partition count.
 */
static rd_kafka_resp_err_t kafka_present(struct kafka_priv *k, rd_kafka_t *rk,
					 const char *const *names, int n, bool *present,
					 int timeout_ms)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t e;

	/* in slices: a refused login or TLS handshake ends the wait at once */
	for (;;) {
		int slice = timeout_ms < 500 ? timeout_ms : 500;
		e = rd_kafka_metadata(rk, 1, NULL, &md, slice);
		timeout_ms -= slice;
		if (e != RD_KAFKA_RESP_ERR__TIMED_OUT && e != RD_KAFKA_RESP_ERR__TRANSPORT)
			break;
		if (timeout_ms <= 0 || atomic_load(&k->conn_fail) || sc_stop_requested())
			break;
	}
	if (e)
		return e;
	for (int i = 0; i < n; i++) {
		present[i] = false;
		for (int j = 0; j < md->topic_cnt; j++)
			if (strcmp(md->topics[j].topic, names[i]) == 0 && !md->topics[j].err &&
			    md->topics[j].partition_cnt > 0)
				present[i] = true;
	}
	rd_kafka_metadata_destroy(md);
	return RD_KAFKA_RESP_ERR_NO_ERROR;
}

static int kafka_create(struct kafka_priv *k, rd_kafka_t *rk, const char *const *names,
			const bool *present, int n, struct sc_error *err)
{
	rd_kafka_NewTopic_t *nts[SC_STREAM__COUNT];
	rd_kafka_AdminOptions_t *opts = NULL;
	rd_kafka_queue_t *q = NULL;
	rd_kafka_event_t *ev = NULL;
	const rd_kafka_CreateTopics_result_t *res;
	const rd_kafka_topic_result_t **tr;
	char errstr[512];
	size_t ntr = 0;
	int nnew = 0, rc = 0;

	for (int i = 0; i < n && nnew < SC_STREAM__COUNT; i++) {
		if (present[i])
			continue;
		nts[nnew] = rd_kafka_NewTopic_new(names[i], k->partitions, k->replication, errstr,
						  sizeof(errstr));
		if (!nts[nnew]) {
			rc = sc_error_set(err, SC_EINVAL, "kafka: cannot create topic %s: %s",
					  names[i], errstr);
			goto destroy_topics;
		}
		nnew++;
	}
	q = rd_kafka_queue_new(rk);
	opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	rd_kafka_AdminOptions_set_request_timeout(opts, 10000, errstr, sizeof(errstr));
	rd_kafka_AdminOptions_set_operation_timeout(opts, 8000, errstr, sizeof(errstr));
	rd_kafka_CreateTopics(rk, nts, (size_t)nnew, opts, q);
	ev = rd_kafka_queue_poll(q, 15000);
	if (!ev) {
		rc = sc_error_set(err, SC_ETIMEDOUT,
				  "kafka: cannot create topics at %s: no answer in 15 s",
				  k->brokers);
		goto destroy_admin;
	}
	if (rd_kafka_event_error(ev)) {
		rc = sc_error_set(err, kafka_errcode(rd_kafka_event_error(ev)),
				  "kafka: cannot create topics at %s: %s", k->brokers,
				  rd_kafka_event_error_string(ev));
		goto destroy_admin;
	}
	res = rd_kafka_event_CreateTopics_result(ev);
	tr = res ? rd_kafka_CreateTopics_result_topics(res, &ntr) : NULL;
	for (size_t i = 0; tr && i < ntr; i++) {
		rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
		const char *why = rd_kafka_topic_result_error_string(tr[i]);

		if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
			continue;
		rc = sc_error_set(
			err, kafka_errcode(e),
			"kafka: cannot create topic %s (%d partitions, replication %d): %s",
			rd_kafka_topic_result_name(tr[i]), k->partitions, k->replication,
			why && *why ? why : rd_kafka_err2str(e));
		break;
	}
destroy_admin:
	if (ev)
		rd_kafka_event_destroy(ev);
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_queue_destroy(q);
destroy_topics:
	rd_kafka_NewTopic_destroy_array(nts, (size_t)nnew);
	return rc;
}

int kafka_ensure_topics(struct kafka_priv *k, rd_kafka_t *rk, const char *const *names, int n,
			struct sc_error *err)
{
	bool present[SC_STREAM__COUNT];
	rd_kafka_resp_err_t e;
	int missing = 0, rc;

	if (n <= 0)
		return 0;
	if (n > SC_STREAM__COUNT)
		n = SC_STREAM__COUNT;
	e = kafka_present(k, rk, names, n, present, 10000);
	if (e && kafka_conn_error(k, err))
		return -err->code;
	if (e)
		return sc_error_set(err, kafka_errcode(e) == SC_EIO ? SC_ECONN : kafka_errcode(e),
				    "kafka: cannot reach a broker at %s: %s", k->brokers,
				    rd_kafka_err2str(e));
	atomic_store(&k->opened, true);
	for (int i = 0; i < n; i++)
		missing += !present[i];
	if (!missing)
		return 0;
	rc = kafka_create(k, rk, names, present, n, err);
	if (rc)
		return rc;
	/* the controller has them; wait until the brokers' metadata does too */
	for (int tries = 0; tries < 50; tries++) {
		struct timespec ts = {0, 200 * 1000000L};

		e = kafka_present(k, rk, names, n, present, 2000);
		missing = 0;
		for (int i = 0; !e && i < n; i++)
			missing += !present[i];
		if (!e && !missing)
			return 0;
		nanosleep(&ts, NULL);
	}
	return sc_error_set(err, SC_ETIMEDOUT,
			    "kafka: topics were created but the metadata of %s does not show them",
			    k->brokers);
}
