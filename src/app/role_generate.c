/*
 * role_generate.c - the generate role: paced production of raw records.
 *
 * Pacing is by intended send time: message i is due at start + i/rate, and
 * the loop sleeps until then (absolute deadlines, so no drift over long
 * runs).  The envelope carries that intended time and the actual send time;
 * a producer that falls behind does not skip, it sends late and the
 * latency it caused shows in the downstream e2e figures.  Nothing leaves
 * before its intended time: a record sent early would make every latency
 * measured from the intended time read low (wait_due()).
 *
 * With --rate=0 (as fast as possible) the sensor simulator still advances
 * its event clock by one nominal push interval (1 s) per batch, so batches
 * hold realistic amounts of data; cpu samples use the real clock.
 *
 * --source=http is not paced here: http_ingest.c publishes what the Sensor
 * Logger app pushes.
 */
#include "codec.h"
#include "config.h"
#include "error.h"
#include "gen.h"
#include "http_ingest.h"
#include "runtime.h"
#include "transport.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define FLUSH_TIMEOUT_MS 30000

struct gen_run {
	const struct sc_config *cfg;
	struct transport *t;
	struct gen *g;
	struct run_stats *stats;
	enum sc_codec codec;
	char source_id[SC_ID_MAX];
	struct sc_record rec;
	struct sc_buf buf;
};

/*
 * Below this much time to a deadline, wait_due() spins instead of sleeping,
 * and at most a 50th of the period: the spin buys a send within a microsecond
 * or two of its due time instead of a wake-up's 5-50 us, but at 10,000
 * records/s a 20 us spin per record burnt a fifth of a core.
 */
#define SPIN_NS		20000
#define SPIN_PERIOD_DIV 50
/*
 * When the period is shorter than --tick (1 ms), the loop wakes at most once
 * per tick and then sends every record already due (each still carries its
 * own intended time, and none leaves before it; the wait until the tick
 * counts in its latency): a wake-up per record cost the generator, the
 * broker and every stage after it a context switch per record, and at 10,000
 * records/s over MQTT the pipeline needed more than the machine's two cores
 * (bench/results/mqtt-cpu.csv).  --tick=0: a wake-up per record.
 */

/* Sleep until the monotonic deadline, waking early on a stop request. */
static void sleep_until(int64_t deadline)
{
	struct timespec ts = {.tv_sec = deadline / 1000000000LL,
			      .tv_nsec = deadline % 1000000000LL};

	while (!sc_stop_requested()) {
		int rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		if (rc != EINTR)
			return;
	}
}

/*
 * Wait until a record is due: sleep to spin_ns before the monotonic
 * deadline, then spin to it.  The last check is on the wall clock the
 * envelope's times are read from (intended is in it), so a record never
 * leaves before its intended time even if the two clocks drift apart.
 */
static void wait_due(int64_t due_mono, int64_t intended_real, int64_t spin_ns)
{
	if (due_mono - sc_mono_ns() > spin_ns)
		sleep_until(due_mono - spin_ns);
	while (!sc_stop_requested() && sc_mono_ns() < due_mono)
		;
	while (!sc_stop_requested() && sc_now_ns() < intended_real)
		;
}

static int send_one(struct gen_run *r, uint64_t seq, int64_t intended_ns, int64_t window_end,
		    struct sc_error *err)
{
	struct sc_msg m;
	int rc;

	rc = gen_next(r->g, &r->rec, window_end, err);
	if (rc)
		return rc;
	sc_strlcpy(r->rec.env.source, r->source_id, sizeof(r->rec.env.source));
	r->rec.env.seq = seq;
	r->rec.env.intended_ns = intended_ns;
	r->rec.env.sent_ns = sc_now_ns();
	rc = codec_encode(r->codec, &r->rec, &r->buf, err);
	if (rc)
		return sc_error_prefix(err, "generate: cannot encode record %llu",
				       (unsigned long long)seq);
	memset(&m, 0, sizeof(m));
	m.stream = sc_kind_stream(r->rec.kind);
	m.payload = r->buf.data;
	m.len = r->buf.len;
	m.key = r->rec.env.key;
	m.timestamp_ns = r->rec.env.event_ns;
	rc = transport_publish(r->t, &m, err);
	if (rc)
		return rc;
	r->stats->out++;
	r->stats->bytes_out += m.len;
	return 0;
}

static int run(struct gen_run *r, struct sc_error *err)
{
	const struct sc_config *cfg = r->cfg;
	bool sensor = !strcmp(cfg->source, "sensor");
	double rate = cfg->rate >= 0 ? cfg->rate : (sensor ? 1.0 : 2.0);
	int64_t period = rate > 0 ? (int64_t)(1e9 / rate) : 0;
	int64_t spin_ns = period / SPIN_PERIOD_DIV < SPIN_NS ? period / SPIN_PERIOD_DIV : SPIN_NS;
	int64_t tick = cfg->tick_ms > 0 ? (int64_t)(cfg->tick_ms * 1e6) : 0;
	int64_t nominal = sensor ? 1000000000LL : 500000000LL;
	int64_t start_mono = sc_mono_ns(), start_real = sc_now_ns();
	int64_t end_mono = cfg->duration > 0 ? start_mono + (int64_t)(cfg->duration * 1e9) : 0;
	uint64_t seq;
	int rc;

	for (seq = 0; cfg->count < 0 || seq < (uint64_t)cfg->count; seq++) {
		int64_t due = start_mono + (int64_t)seq * period, intended, window_end;

		if (sc_stop_requested())
			break;
		if (period) {
			intended = start_real + (int64_t)seq * period;
			/* about to sleep: nothing may wait in a buffer meanwhile */
			if (due > sc_mono_ns() + spin_ns) {
				int64_t wake = due;
				if (tick > period) /* the tick boundary at or after due */
					wake = start_mono +
					       (due - start_mono + tick - 1) / tick * tick;
				rc = transport_flush(r->t, 0, err);
				if (rc && rc != -SC_ETIMEDOUT)
					return rc;
				wait_due(wake, intended, wake > due ? 0 : spin_ns);
			} else {
				wait_due(due, intended, spin_ns);
			}
			if (sc_stop_requested())
				break;
		} else {
			intended = sc_now_ns();
		}
		if (end_mono && sc_mono_ns() >= end_mono)
			break;
		if (sensor)
			window_end = start_real + (int64_t)seq * (period ? period : nominal);
		else if (period)
			window_end = sc_now_ns();
		else
			window_end = intended; /* read just above: one clock call less */
		rc = send_one(r, seq, intended, window_end, err);
		if (rc)
			return rc;
		run_stats_tick(r->stats);
	}
	return 0;
}

/*
 * The source id names one run of a generator: its seq starts at 0.  The
 * default, "<source>-<host>-<start time in s>", is new for every run, so a
 * restarted generator (a container restarted on the same host) does not
 * send seq numbers the sink already holds - they would be refused as
 * replays and the new records lost.  An explicit --source-id is used as
 * given: reuse it only to replay the same records on purpose.
 */
static int default_source_id(const struct sc_config *cfg, char *buf, size_t size,
			     struct sc_error *err)
{
	char host[64] = "localhost";

	if (cfg->source_id && *cfg->source_id) {
		if (sc_strlcpy(buf, cfg->source_id, size) >= size)
			return sc_error_set(err, SC_EINVAL,
					    "generate: --source-id is longer than %zu bytes",
					    size - 1);
		return 0;
	}
	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	snprintf(buf, size, "%.8s-%.36s-%lld", cfg->source, host,
		 (long long)(sc_now_ns() / 1000000000LL));
	return 0;
}

int role_generate(const struct sc_config *cfg, struct sc_error *err)
{
	struct gen_run r;
	struct gen_cfg gc;
	int rc, frc;

	if (!strcmp(cfg->source, "http"))
		return http_ingest_run(cfg, err);

	memset(&r, 0, sizeof(r));
	r.cfg = cfg;
	r.codec = codec_from_name(cfg->codec);
	sc_buf_init(&r.buf);
	sc_record_init(&r.rec, SC_KIND_NONE);
	rc = default_source_id(cfg, r.source_id, sizeof(r.source_id), err);
	if (rc)
		return rc;

	memset(&gc, 0, sizeof(gc));
	gc.source = !strcmp(cfg->source, "sensor") ? GEN_SOURCE_SENSOR : GEN_SOURCE_CPU;
	gc.device_id = cfg->device_id;
	gc.seed = (uint64_t)cfg->seed;
	r.g = gen_new(&gc, err);
	if (!r.g)
		return -err->code;

	rc = runtime_start(cfg, "generate", 0, &r.stats, &r.t, err);
	if (rc)
		goto free_gen;
	/* paced sleeps end within ~1 us of their deadline, not the default 50 */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
	rc = run(&r, err);
	frc = transport_flush(r.t, FLUSH_TIMEOUT_MS, rc ? NULL : err);
	if (!rc && frc)
		rc = frc;
	runtime_finish(r.stats, r.t);
free_gen:
	gen_free(r.g);
	sc_record_release(&r.rec);
	sc_buf_release(&r.buf);
	return rc;
}
