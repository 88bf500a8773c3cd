/*
 * gen_sensor.c - a simulated smartphone in the Sensor Logger push schema.
 *
 * Map:  prng - phases - world tick - readings - batch - vtable
 *
 * Time.  The phone is simulated on a 20 ms grid of absolute event time
 * (50 Hz, the fastest rate; every other period is a multiple of it), and a
 * sensor with period P reports at the grid instants that are multiples of
 * P.  A batch holds the readings of the instants in (previous window end,
 * window end], in time order (sensors interleaved, so each sensor's own
 * readings are sorted too); the first batch covers the second before its
 * window end.  A window of S whole seconds therefore holds exactly S*rate
 * readings of each sensor.  All random draws happen per instant in time
 * order, so the readings depend on the seed and on the first window end
 * only, not on how later windows cut the stream.
 *
 * Long pauses.  A window longer than SENSOR_MAX_SPAN_S seconds (740 s, i.e.
 * 740 * 135 = 99,900 readings <= SC_SENSOR_MAX_READINGS) keeps only its
 * newest 740 s: the oldest simulated time is dropped.  During the dropped
 * time the phone is frozen (position and orientation resume where they
 * were); the phase schedule, which runs on event time, does advance (and
 * restarts when more than a day was skipped).  A window end not after the
 * previous one gives an empty batch.
 *
 * Model.  Phases still / walking / running last 20-120 s of event time
 * (seeded) and change still <-> walking <-> running; the gait parameters of
 * the new phase are blended in over 2 s.
 *  - accelerometer: user acceleration without gravity (m/s^2): a vertical
 *    step oscillation of semi-amplitude A (walking 1.5-2.5 at ~1.8 Hz,
 *    running 5-8 at ~2.7 Hz) with a heel-strike impact, forward and lateral
 *    sway, Gaussian noise (still: 0.02).  The magnitude's std is about
 *    0.75*A, which proc.h's activity thresholds (0.5 and 3.0) separate.
 *  - orientation: roll/pitch/yaw (ZYX Euler, rad) from a phase dependent
 *    posture, gait sway and the walking heading, with the matching unit
 *    quaternion (qw,qx,qy,qz).
 *  - gyroscope: body rates from the attitude change over one tick, plus
 *    noise.  gravity and magnetometer: the world vectors (9.80665 m/s^2 up;
 *    a 48 uT field, 20 north 44 down) rotated into the device frame, the
 *    magnetometer with a hard-iron offset and noise.
 *  - location (1 Hz): integrates speed (still ~0, walking ~1.4, running
 *    ~3.0 m/s) along the heading (bearing, degrees clockwise from north),
 *    reported with a slowly wandering error of about 0.3 * accuracy;
 *    altitude follows a gently sloped terrain; barometer (1 Hz) follows
 *    altitude (~0.12 hPa/m) plus a slow weather drift around ~1013 hPa.
 *  - light (1 Hz): indoor lux when still, outdoor when moving; microphone
 *    (2 Hz): dBFS louder when moving.
 *  - accuracy is set (0-3, Android style) on magnetometer and location
 *    readings only, like the app.
 */
#include "gen.h"
#include "gen_internal.h"
#include "error.h"
#include "record.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define NS_PER_S	  1000000000LL
#define TICK_NS		  (20 * 1000000LL)
#define TICK_S		  0.02
#define SENSOR_MAX_SPAN_S 740
#define SENSOR_RESTART_NS (86400LL * NS_PER_S)
#define BLEND_S		  2.0
#define GRAVITY		  9.80665
#define EARTH_R		  6371008.8
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#define DEG (180.0 / M_PI)
/* GPS error: AR(1) at 1 Hz with a 20 s time constant, std 0.3 * accuracy */
#define GPS_KEEP 0.951229424500714 /* exp(-1/20) */
#define GPS_STEP 0.308484330065132 /* sqrt(1 - exp(-2/20)) */

/* ---- prng: xoshiro256** seeded by splitmix64 -------------------------- */

struct rng {
	uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

/* Uniform in [0,1). */
static double rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static double rng_uniform(struct rng *r, double lo, double hi)
{
	return lo + (hi - lo) * rng_unit(r);
}

/* Standard normal (Box-Muller, one value per call). */
static double rng_gauss(struct rng *r)
{
	double u = 1.0 - rng_unit(r), v = rng_unit(r);

	return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* ---- state ------------------------------------------------------------ */

enum phase { PHASE_STILL, PHASE_WALKING, PHASE_RUNNING };

/* What a phase looks like; blended between two phases at a change. */
struct gait {
	double freq;   /* steps per second */
	double amp;    /* vertical semi-amplitude, m/s^2 */
	double noise;  /* accelerometer noise std, m/s^2 */
	double speed;  /* m/s */
	double sway;   /* attitude sway, rad */
	double roll0;  /* posture, rad */
	double pitch0; /* posture, rad */
	double lux;
	double mic; /* dBFS */
};

struct gen_sensor {
	struct rng rng;	 /* per-instant noise and kinematics */
	struct rng prng; /* phase schedule */
	char session_id[SC_ID_MAX];
	char device_id[SC_ID_MAX];
	int64_t message_id;
	bool started;
	int64_t last_end; /* previous window end */
	int64_t origin_ns;

	enum phase phase;
	int64_t seg_start, seg_end;
	struct gait from, to; /* blending from -> to over BLEND_S */

	double step;	/* gait oscillator, rad, in [0, 4 pi) */
	double heading; /* rad clockwise from north */
	double turn;	/* rad/s */
	double slope;	/* terrain rise per metre */
	double lat, lon, alt0, rel_alt;
	double yaw_off, p0, wx_phase, roll_phase, pitch_phase;
	double mag_off[3];
	double gps_err[3]; /* north, east, up metres: GPS error wanders slowly */
	bool have_att;
	double att[3]; /* roll, pitch, yaw of the previous instant */
};

/* ---- phases ----------------------------------------------------------- */

static void gait_draw(struct rng *r, enum phase ph, struct gait *g)
{
	memset(g, 0, sizeof(*g));
	switch (ph) {
	case PHASE_STILL:
		g->noise = 0.02;
		g->roll0 = rng_uniform(r, -0.05, 0.05);
		g->pitch0 = rng_uniform(r, -0.05, 0.05);
		g->lux = rng_uniform(r, 150, 500);
		g->mic = rng_uniform(r, -55, -48);
		break;
	case PHASE_WALKING:
		g->freq = 1.8 * rng_uniform(r, 0.92, 1.08);
		g->amp = rng_uniform(r, 1.5, 2.5);
		g->noise = 0.1;
		g->speed = 1.4 * rng_uniform(r, 0.85, 1.15);
		g->sway = 0.08;
		g->roll0 = rng_uniform(r, -0.15, 0.15);
		g->pitch0 = rng_uniform(r, 0.6, 0.9);
		g->lux = rng_uniform(r, 2000, 15000);
		g->mic = rng_uniform(r, -40, -33);
		break;
	case PHASE_RUNNING:
		g->freq = 2.7 * rng_uniform(r, 0.92, 1.08);
		g->amp = rng_uniform(r, 5.0, 8.0);
		g->noise = 0.3;
		g->speed = 3.0 * rng_uniform(r, 0.85, 1.15);
		g->sway = 0.2;
		g->roll0 = rng_uniform(r, -0.2, 0.2);
		g->pitch0 = rng_uniform(r, 0.9, 1.2);
		g->lux = rng_uniform(r, 2000, 15000);
		g->mic = rng_uniform(r, -32, -25);
		break;
	}
}

static int64_t phase_duration(struct rng *r)
{
	return (int64_t)(rng_uniform(r, 20.0, 120.0) * NS_PER_S);
}

/* Start the segment after the current one at `start`. */
static void phase_advance(struct gen_sensor *s, int64_t start)
{
	enum phase next;

	switch (s->phase) {
	case PHASE_STILL: next = PHASE_WALKING; break;
	case PHASE_RUNNING: next = PHASE_WALKING; break;
	default: next = rng_unit(&s->prng) < 0.5 ? PHASE_STILL : PHASE_RUNNING; break;
	}
	s->phase = next;
	s->from = s->to;
	gait_draw(&s->prng, next, &s->to);
	s->seg_start = start;
	s->seg_end = start + phase_duration(&s->prng);
}

static void phase_init(struct gen_sensor *s, int64_t start)
{
	double u = rng_unit(&s->prng);

	s->phase = u < 0.5 ? PHASE_STILL : u < 0.8 ? PHASE_WALKING : PHASE_RUNNING;
	gait_draw(&s->prng, s->phase, &s->to);
	s->from = s->to;
	s->seg_start = start;
	s->seg_end = start + phase_duration(&s->prng);
}

static double lerp(double a, double b, double w)
{
	return a + (b - a) * w;
}

static void gait_now(const struct gen_sensor *s, int64_t t, struct gait *g)
{
	double w = (double)(t - s->seg_start) / (BLEND_S * NS_PER_S);

	if (w > 1.0)
		w = 1.0;
	g->freq = lerp(s->from.freq, s->to.freq, w);
	g->amp = lerp(s->from.amp, s->to.amp, w);
	g->noise = lerp(s->from.noise, s->to.noise, w);
	g->speed = lerp(s->from.speed, s->to.speed, w);
	g->sway = lerp(s->from.sway, s->to.sway, w);
	g->roll0 = lerp(s->from.roll0, s->to.roll0, w);
	g->pitch0 = lerp(s->from.pitch0, s->to.pitch0, w);
	g->lux = lerp(s->from.lux, s->to.lux, w);
	g->mic = lerp(s->from.mic, s->to.mic, w);
}

/* ---- world tick ------------------------------------------------------- */

static double wrap_pi(double a)
{
	a = fmod(a, 2.0 * M_PI);
	if (a > M_PI)
		a -= 2.0 * M_PI;
	else if (a <= -M_PI)
		a += 2.0 * M_PI;
	return a;
}

static double clamp(double x, double lo, double hi)
{
	return x < lo ? lo : x > hi ? hi : x;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static bool due(int64_t t, int64_t period)
{
	return t - floor_div(t, period) * period == 0;
}

/* Instantaneous state of one instant, what the readings are made of. */
struct instant {
	struct gait g;
	double att[3];	/* roll, pitch, yaw */
	double rate[3]; /* body angular rates */
	double rot[3][3];
};

static void rotation(const double att[3], double m[3][3])
{
	double cr = cos(att[0]), sr = sin(att[0]);
	double cp = cos(att[1]), sp = sin(att[1]);
	double cy = cos(att[2]), sy = sin(att[2]);

	m[0][0] = cy * cp;
	m[0][1] = cy * sp * sr - sy * cr;
	m[0][2] = cy * sp * cr + sy * sr;
	m[1][0] = sy * cp;
	m[1][1] = sy * sp * sr + cy * cr;
	m[1][2] = sy * sp * cr - cy * sr;
	m[2][0] = -sp;
	m[2][1] = cp * sr;
	m[2][2] = cp * cr;
}

/* World vector (x north, y west, z up) into the device frame: R^T v. */
static void to_body(double m[3][3], const double v[3], double out[3])
{
	for (int i = 0; i < 3; i++)
		out[i] = m[0][i] * v[0] + m[1][i] * v[1] + m[2][i] * v[2];
}

/* Advance the world by one tick ending at t and describe that instant. */
static void world_tick(struct gen_sensor *s, int64_t t, struct instant *in)
{
	struct gait *g = &in->g;
	double ts = (double)(t - s->origin_ns) / NS_PER_S, mob, d, dr, dp, dy;

	while (t > s->seg_end)
		phase_advance(s, s->seg_end);
	gait_now(s, t, g);

	s->step = fmod(s->step + 2.0 * M_PI * g->freq * TICK_S, 4.0 * M_PI);
	mob = clamp(g->speed / 1.4, 0.0, 1.0);
	s->turn += -s->turn / 8.0 * TICK_S + 0.02 * sqrt(TICK_S) * rng_gauss(&s->rng);
	s->heading = fmod(s->heading + s->turn * mob * TICK_S + 2.0 * M_PI, 2.0 * M_PI);
	s->slope += -s->slope / 60.0 * TICK_S + 0.004 * sqrt(TICK_S) * rng_gauss(&s->rng);
	s->slope = clamp(s->slope, -0.08, 0.08);
	d = g->speed * TICK_S;
	s->rel_alt += d * s->slope;
	s->lat += d * cos(s->heading) / EARTH_R * DEG;
	s->lon += d * sin(s->heading) / (EARTH_R * cos(s->lat / DEG)) * DEG;

	in->att[0] = wrap_pi(g->roll0 + g->sway * sin(s->step / 2.0 + 0.3) +
			     0.02 * sin(2.0 * M_PI * ts / 41.0 + s->roll_phase));
	in->att[1] = clamp(g->pitch0 + 0.5 * g->sway * sin(s->step + 0.9) +
				   0.02 * sin(2.0 * M_PI * ts / 59.0 + s->pitch_phase),
			   -1.45, 1.45);
	in->att[2] = wrap_pi(s->yaw_off - s->heading + 0.6 * g->sway * sin(s->step / 2.0));
	rotation(in->att, in->rot);

	if (!s->have_att)
		memcpy(s->att, in->att, sizeof(s->att));
	dp = wrap_pi(in->att[1] - s->att[1]) / TICK_S;
	dy = wrap_pi(in->att[2] - s->att[2]) / TICK_S;
	dr = wrap_pi(in->att[0] - s->att[0]) / TICK_S;
	/* Euler angle rates to body rates (ZYX) */
	in->rate[0] = dr - dy * sin(in->att[1]);
	in->rate[1] = dp * cos(in->att[0]) + dy * cos(in->att[1]) * sin(in->att[0]);
	in->rate[2] = -dp * sin(in->att[0]) + dy * cos(in->att[1]) * cos(in->att[0]);
	memcpy(s->att, in->att, sizeof(s->att));
	s->have_att = true;
}

/* ---- readings --------------------------------------------------------- */

static struct sc_sensor_reading *reading(struct sc_sensor_batch *b, const char *name, int64_t t)
{
	struct sc_sensor_reading *rd = sc_batch_add(b);

	if (!rd)
		return NULL;
	sc_strlcpy(rd->name, name, sizeof(rd->name));
	rd->time_ns = t;
	return rd;
}

static void set3(struct sc_sensor_reading *rd, const double v[3])
{
	sc_reading_set(rd, "x", v[0]);
	sc_reading_set(rd, "y", v[1]);
	sc_reading_set(rd, "z", v[2]);
}

/* Heel strike: a narrow bump once per step, minus its mean so the axis stays zero-mean. */
static double impact(double step)
{
	const double w = 0.3;
	double p = fmod(step, 2.0 * M_PI) - 1.2;

	return exp(-p * p / (2.0 * w * w)) - w / sqrt(2.0 * M_PI);
}

static int emit_fast(struct gen_sensor *s, struct sc_sensor_batch *b, int64_t t,
		     const struct instant *in)
{
	const struct gait *g = &in->g;
	struct sc_sensor_reading *rd;
	double a = g->amp, th = s->step, v[3];

	v[0] = a * 0.3 * sin(th / 2.0 + 0.4);
	v[1] = a * (sin(th) + 2.5 * impact(th));
	v[2] = a * (0.4 * sin(th + 0.3) + 0.75 * impact(th));
	for (int i = 0; i < 3; i++)
		v[i] += g->noise * rng_gauss(&s->rng);
	if (!(rd = reading(b, "accelerometer", t)))
		return -1;
	set3(rd, v);

	for (int i = 0; i < 3; i++)
		v[i] = in->rate[i] + (0.003 + 0.02 * g->sway) * rng_gauss(&s->rng);
	if (!(rd = reading(b, "gyroscope", t)))
		return -1;
	set3(rd, v);
	return 0;
}

static void quat(const double att[3], double q[4])
{
	double cr = cos(att[0] / 2), sr = sin(att[0] / 2);
	double cp = cos(att[1] / 2), sp = sin(att[1] / 2);
	double cy = cos(att[2] / 2), sy = sin(att[2] / 2);

	q[0] = cr * cp * cy + sr * sp * sy;
	q[1] = sr * cp * cy - cr * sp * sy;
	q[2] = cr * sp * cy + sr * cp * sy;
	q[3] = cr * cp * sy - sr * sp * cy;
}

static int emit_10hz(struct gen_sensor *s, struct sc_sensor_batch *b, int64_t t, struct instant *in)
{
	static const double up[3] = {0, 0, GRAVITY}, field[3] = {20.0, 0.0, -44.0};
	struct sc_sensor_reading *rd;
	double v[3], q[4];

	to_body(in->rot, up, v);
	if (!(rd = reading(b, "gravity", t)))
		return -1;
	set3(rd, v);

	to_body(in->rot, field, v);
	for (int i = 0; i < 3; i++)
		v[i] += s->mag_off[i] + 0.4 * rng_gauss(&s->rng);
	if (!(rd = reading(b, "magnetometer", t)))
		return -1;
	set3(rd, v);
	rd->has_accuracy = true;
	rd->accuracy = in->g.amp > 4.0 ? 2 : 3;

	quat(in->att, q);
	if (!(rd = reading(b, "orientation", t)))
		return -1;
	sc_reading_set(rd, "qw", q[0]);
	sc_reading_set(rd, "qx", q[1]);
	sc_reading_set(rd, "qy", q[2]);
	sc_reading_set(rd, "qz", q[3]);
	sc_reading_set(rd, "roll", in->att[0]);
	sc_reading_set(rd, "pitch", in->att[1]);
	sc_reading_set(rd, "yaw", in->att[2]);
	return 0;
}

static int emit_slow(struct gen_sensor *s, struct sc_sensor_batch *b, int64_t t, struct instant *in)
{
	const struct gait *g = &in->g;
	double ts = (double)(t - s->origin_ns) / NS_PER_S, hacc, vacc, x;
	struct sc_sensor_reading *rd;

	if (!(rd = reading(b, "barometer", t)))
		return -1;
	x = s->p0 + 0.6 * sin(2.0 * M_PI * ts / 5400.0 + s->wx_phase) - 0.12 * s->rel_alt;
	sc_reading_set(rd, "pressure", x + 0.01 * rng_gauss(&s->rng));
	sc_reading_set(rd, "relativeAltitude", s->rel_alt + 0.05 * rng_gauss(&s->rng));

	if (!(rd = reading(b, "light", t)))
		return -1;
	x = g->lux * (0.75 + 0.25 * cos(in->att[1])) * (1.0 + 0.05 * rng_gauss(&s->rng));
	sc_reading_set(rd, "lux", x > 0 ? x : 0);

	if (!(rd = reading(b, "location", t)))
		return -1;
	hacc = clamp(4.0 + rng_gauss(&s->rng), 2.0, 12.0);
	vacc = clamp(6.0 + 1.5 * rng_gauss(&s->rng), 2.0, 20.0);
	for (int i = 0; i < 3; i++)
		s->gps_err[i] = GPS_KEEP * s->gps_err[i] +
				GPS_STEP * (i < 2 ? hacc : vacc) * 0.3 * rng_gauss(&s->rng);
	sc_reading_set(rd, "latitude", s->lat + s->gps_err[0] / EARTH_R * DEG);
	sc_reading_set(rd, "longitude",
		       s->lon + s->gps_err[1] / (EARTH_R * cos(s->lat / DEG)) * DEG);
	sc_reading_set(rd, "altitude", s->alt0 + s->rel_alt + s->gps_err[2]);
	sc_reading_set(rd, "speed", fabs(g->speed + 0.1 * rng_gauss(&s->rng)));
	sc_reading_set(rd, "bearing", s->heading * DEG);
	sc_reading_set(rd, "horizontalAccuracy", hacc);
	sc_reading_set(rd, "verticalAccuracy", vacc);
	rd->has_accuracy = true;
	rd->accuracy = hacc <= 5.0 ? 3 : 2;
	return 0;
}

static int emit_mic(struct gen_sensor *s, struct sc_sensor_batch *b, int64_t t,
		    const struct instant *in)
{
	struct sc_sensor_reading *rd = reading(b, "microphone", t);

	if (!rd)
		return -1;
	sc_reading_set(rd, "dBFS", clamp(in->g.mic + 3.0 * rng_gauss(&s->rng), -120.0, 0.0));
	return 0;
}

/* ---- batch ------------------------------------------------------------ */

static int sensor_open(struct gen *g, const struct gen_cfg *cfg, struct sc_error *err)
{
	struct gen_sensor *s = g->priv;
	uint64_t x = cfg->seed;

	if (cfg->device_id) {
		if (sc_strlcpy(s->device_id, cfg->device_id, SC_ID_MAX) >= SC_ID_MAX)
			return sc_error_set(err, SC_EINVAL,
					    "sensor: device id too long (max %d bytes)",
					    SC_ID_MAX - 1);
	} else {
		snprintf(s->device_id, SC_ID_MAX, "sim-phone-%" PRIu64, cfg->seed);
	}
	if (cfg->session_id) {
		if (sc_strlcpy(s->session_id, cfg->session_id, SC_ID_MAX) >= SC_ID_MAX)
			return sc_error_set(err, SC_EINVAL,
					    "sensor: session id too long (max %d bytes)",
					    SC_ID_MAX - 1);
	} else {
		uint64_t h = cfg->seed ^ 0x5e55105e55105e55ULL;
		snprintf(s->session_id, SC_ID_MAX, "sim-%016" PRIx64, splitmix64(&h));
	}
	rng_seed(&s->rng, splitmix64(&x));
	rng_seed(&s->prng, splitmix64(&x));
	s->heading = rng_uniform(&s->rng, 0, 2.0 * M_PI);
	s->lat = 48.8566 + rng_uniform(&s->rng, -0.05, 0.05);
	s->lon = 2.3522 + rng_uniform(&s->rng, -0.05, 0.05);
	s->alt0 = rng_uniform(&s->rng, 30, 80);
	s->p0 = 1013.25 + rng_uniform(&s->rng, -8, 8);
	s->yaw_off = rng_uniform(&s->rng, -M_PI, M_PI);
	s->wx_phase = rng_uniform(&s->rng, 0, 2.0 * M_PI);
	s->roll_phase = rng_uniform(&s->rng, 0, 2.0 * M_PI);
	s->pitch_phase = rng_uniform(&s->rng, 0, 2.0 * M_PI);
	for (int i = 0; i < 3; i++)
		s->mag_off[i] = rng_uniform(&s->rng, -5, 5);
	return 0;
}

static int sensor_next(struct gen *g, struct sc_record *r, int64_t window_end_ns,
		       struct sc_error *err)
{
	struct gen_sensor *s = g->priv;
	struct sc_sensor_batch *b;
	int64_t start, t, last;

	if (window_end_ns < NS_PER_S)
		return sc_error_set(err, SC_EINVAL, "sensor: window end %" PRId64 " before 1970",
				    window_end_ns);
	if (!s->started) {
		s->started = true;
		s->last_end = window_end_ns - NS_PER_S;
		s->origin_ns = s->last_end;
		phase_init(s, s->last_end);
	}
	start = s->last_end;
	if (window_end_ns > start && window_end_ns - start > SENSOR_MAX_SPAN_S * NS_PER_S) {
		start = window_end_ns - SENSOR_MAX_SPAN_S * NS_PER_S;
		s->have_att = false;
		if (start - s->seg_end > SENSOR_RESTART_NS)
			phase_advance(s, start);
	}

	sc_record_reset(r, SC_KIND_SENSOR);
	b = &r->u.sensor;
	b->message_id = s->message_id++;
	sc_strlcpy(b->session_id, s->session_id, sizeof(b->session_id));
	sc_strlcpy(b->device_id, s->device_id, sizeof(b->device_id));
	sc_strlcpy(r->env.key, s->device_id, sizeof(r->env.key));
	r->env.event_ns = window_end_ns;
	if (window_end_ns <= s->last_end)
		return 0;

	last = floor_div(window_end_ns, TICK_NS) * TICK_NS;
	for (t = (floor_div(start, TICK_NS) + 1) * TICK_NS; t <= last; t += TICK_NS) {
		struct instant in;

		world_tick(s, t, &in);
		if (emit_fast(s, b, t, &in) < 0)
			goto nomem;
		if (due(t, 100 * 1000000LL) && emit_10hz(s, b, t, &in) < 0)
			goto nomem;
		if (due(t, 500 * 1000000LL) && emit_mic(s, b, t, &in) < 0)
			goto nomem;
		if (due(t, NS_PER_S) && emit_slow(s, b, t, &in) < 0)
			goto nomem;
	}
	s->last_end = window_end_ns;
	return 0;

nomem:
	s->last_end = window_end_ns;
	return sc_error_set(err, SC_ENOMEM, "sensor: out of memory for a batch of %zu readings",
			    b->n);
}

static void sensor_close(struct gen *g)
{
	(void)g;
}

const struct gen_ops gen_sensor_ops = {
	.name = "sensor",
	.priv_size = sizeof(struct gen_sensor),
	.open = sensor_open,
	.next = sensor_next,
	.close = sensor_close,
};
