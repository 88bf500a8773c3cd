/*
 * http_ingest.h - receive the Sensor Logger app's HTTP push
 * (`streamctl generate --source=http --listen=ADDR:PORT`).
 *
 * The app POSTs one JSON body per push interval:
 *   {"messageId": int, "sessionId": str, "deviceId": str,
 *    "payload": [{"name": str, "time": int ns, "values": {...}, "accuracy"?: int}]}
 * Any path is accepted ("/", "/data", "/push" ... all mean the same), any
 * Content-Type.  Each body is validated with codec_sensorlogger_parse(),
 * wrapped in a SC_KIND_SENSOR envelope and published on SC_STREAM_RAW_SENSOR:
 *
 *   source      = deviceId
 *   key         = deviceId "/" sessionId
 *   seq         = per source, contiguous from 0, kept in memory
 *   event_ns    = the latest reading time (the receive time if the payload is empty)
 *   intended_ns = sent_ns = the receive time
 *
 * The reply is sent only when the push is safe: 200 {"ok":true,"seq":N}
 * after transport_flush() returned 0.  Otherwise:
 *   400 {"error":"<parser's reason>"}  malformed JSON, missing field, wrong type
 *   413 {"error":...}                  body over --max-msg-bytes (a declared
 *                                      Content-Length is refused before the
 *                                      body is read; a chunked body is
 *                                      discarded past the limit, never buffered)
 *   405 {"error":...}                  any method but POST (GET/HEAD /healthz: 200 "ok")
 *   503 {"error":"<reason>"}           publish or flush failed, or the ingest is
 *                                      stopping; the push was not confirmed
 *
 * Sequence numbers: a seq is used up once publish() took the message, even
 * if the flush then failed (the message may still have reached the broker;
 * reusing its seq could make the sink refuse a later, different push as a
 * duplicate).  A refused push therefore shows in `streamctl verify` as a
 * gap, which is what it is.  Restart caveat: the counters live in memory,
 * so a restarted ingest starts every device at seq 0 again and the sink
 * refuses those pushes as duplicates of the previous run's rows.  Keep one
 * database per ingest run (or per deviceId session) until the counters are
 * persisted.
 *
 * Threading: libmicrohttpd runs one internal polling thread, so requests are
 * handled one at a time; the transport, the counters and the stats are also
 * guarded by a mutex so http_ingest_push() may be called from any thread.
 *
 * Ownership: the ingest borrows the transport and the stats (both must
 * outlive it); replies go into caller-owned buffers.
 */
#ifndef SC_HTTP_INGEST_H
#define SC_HTTP_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"

struct run_stats;
struct sc_buf;
struct sc_config;
struct sc_error;
struct transport;

struct http_ingest_cfg {
	enum sc_codec codec;  /* envelope encoding */
	size_t max_body;      /* larger bodies get 413; 0: 1 MiB */
	long long count;      /* accept at most this many pushes, < 0: unbounded */
	int flush_timeout_ms; /* per push; <= 0: 10 s */
};

struct http_ingest;

/* New ingest publishing on t; NULL with err set. */
struct http_ingest *http_ingest_new(const struct http_ingest_cfg *cfg, struct transport *t,
				    struct run_stats *stats, struct sc_error *err);
/* Stops the server if it still runs.  Accepts NULL. */
void http_ingest_free(struct http_ingest *h);

/*
 * Handle one push body: validate, wrap, publish, flush.  Returns the HTTP
 * status (200, 400, 413, 503) and writes the JSON reply into `reply`
 * (replacing its content).  Counts the push in the stats.
 */
int http_ingest_push(struct http_ingest *h, const void *body, size_t len, struct sc_buf *reply);

/*
 * Listen on "ADDR:PORT" ("127.0.0.1:8080", "[::1]:8080", "localhost:0";
 * port 0 picks a free one) and serve in libmicrohttpd's thread.
 * 0 or -SC_EINVAL (bad address) / -SC_EIO ("http: cannot listen on
 * 127.0.0.1:8080: address in use").
 */
int http_ingest_listen(struct http_ingest *h, const char *addr, struct sc_error *err);
/* The bound port (after http_ingest_listen), 0 if not listening. */
int http_ingest_port(const struct http_ingest *h);
/*
 * Stop: refuse new pushes with 503, stop accepting connections, wait up to
 * the flush timeout for requests in progress to be answered, then shut the
 * server down.  Idempotent.
 */
void http_ingest_stop(struct http_ingest *h);
/* Pushes accepted (published and flushed) so far. */
uint64_t http_ingest_accepted(struct http_ingest *h);

/*
 * The whole `generate --source=http` run: open the transport and the stats
 * from cfg, listen on cfg->listen, serve until SIGINT/SIGTERM, --duration,
 * or --count accepted pushes, then drain and flush.  0 or negative SC_E*.
 */
int http_ingest_run(const struct sc_config *cfg, struct sc_error *err);

#endif /* SC_HTTP_INGEST_H */
