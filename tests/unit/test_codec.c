/*
 * test_codec.c - JSON and MessagePack codecs, detection and the Sensor Logger
 * body parser.
 *
 * Map:  fixtures - round trips - detection - malformed input - field errors -
 *       limits - Sensor Logger parse
 */
#include "codec.h"
#include "codec_internal.h"
#include "error.h"
#include "record.h"

#include <criterion/criterion.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- fixtures ----------------------------------------------------------- */

static void fill_env(struct sc_record *r)
{
	sc_strlcpy(r->env.source, "gen-\"quoted\"\\back\nslash\x01-\xc3\xa9t\xc3\xa9", SC_ID_MAX);
	sc_strlcpy(r->env.key, "3f2a9c1e-8b7d-4e6f-a5c4-1d2e3f4a5b6c", SC_KEY_MAX);
	r->env.seq = 1ull << 40;
	r->env.event_ns = 1717000000123456789LL;
	r->env.intended_ns = -5;
	r->env.sent_ns = 1717000000123459999LL;
	r->env.processed_ns = 0;
}

static struct sc_sensor_reading *add_reading(struct sc_sensor_batch *b, const char *name, int64_t t)
{
	struct sc_sensor_reading *rd = sc_batch_add(b);

	cr_assert_not_null(rd);
	sc_strlcpy(rd->name, name, SC_NAME_MAX);
	rd->time_ns = t;
	return rd;
}

static void make_sensor(struct sc_record *r)
{
	struct sc_sensor_batch *b = &r->u.sensor;
	struct sc_sensor_reading *rd;
	static const char *const orient[] = {"qw", "qx", "qy", "qz", "roll", "pitch", "yaw"};

	sc_record_init(r, SC_KIND_SENSOR);
	fill_env(r);
	b->message_id = 42;
	sc_strlcpy(b->session_id, "9a8b7c6d-1234-4567-89ab-cdef01234567", SC_ID_MAX);
	sc_strlcpy(b->device_id, "3f2a9c1e-8b7d-4e6f-a5c4-1d2e3f4a5b6c", SC_ID_MAX);
	rd = add_reading(b, "accelerometer", 1717000000000000001LL);
	sc_reading_set(rd, "z", 9.80665);
	sc_reading_set(rd, "y", -0.1);
	sc_reading_set(rd, "x", 1.0 / 3.0);
	rd->has_accuracy = true;
	rd->accuracy = 3;
	rd = add_reading(b, "orientation", 1717000000010000000LL);
	for (int i = 0; i < 7; i++)
		sc_reading_set(rd, orient[i], sin(i + 0.5) * 3.14159);
	rd = add_reading(b, "barometer", 1717000000020000000LL);
	sc_reading_set(rd, "pressure", 1013.25);
	sc_reading_set(rd, "relativeAltitude", -0.0000123456789);
	rd = add_reading(b, "location", 1717000000030000000LL);
	sc_reading_set(rd, "latitude", 52.520008);
	sc_reading_set(rd, "longitude", 13.404954);
	sc_reading_set(rd, "altitude", 34.0);
	sc_reading_set(rd, "speed", 5e-324);
	sc_reading_set(rd, "bearing", DBL_MAX);
	sc_reading_set(rd, "big", 9007199254740993.0);
	sc_reading_set(rd, "horizontalAccuracy", 1e22);
	rd->has_accuracy = true;
	rd->accuracy = -1;
}

static void make_cpu(struct sc_record *r)
{
	sc_record_init(r, SC_KIND_CPU);
	fill_env(r);
	r->u.cpu.ncores = 8;
	r->u.cpu.total = 37.5;
	for (int i = 0; i < 8; i++)
		r->u.cpu.cores[i] = i * 12.345678901234567;
}

static void make_cpu_stats(struct sc_record *r)
{
	struct sc_cpu_stats *s = &r->u.cpu_stats;

	sc_record_init(r, SC_KIND_CPU_STATS);
	fill_env(r);
	r->env.processed_ns = 1717000000200000000LL;
	s->ncores = 8;
	s->total = 99.9;
	s->mean_cores = 42.42424242424242;
	s->rolling_mean = 40.1;
	s->rolling_std = 0.3333333333333333;
	s->zscore = -7.25;
	s->anomaly = true;
	s->window = 60;
}

static void make_features(struct sc_record *r)
{
	struct sc_sensor_features *f = &r->u.features;

	sc_record_init(r, SC_KIND_SENSOR_FEATURES);
	fill_env(r);
	f->message_id = 7;
	sc_strlcpy(f->session_id, "sess", SC_ID_MAX);
	sc_strlcpy(f->device_id, "dev", SC_ID_MAX);
	f->window_start_ns = 1717000000000000000LL;
	f->window_end_ns = 1717000000990000000LL;
	f->nreadings = 150;
	sc_strlcpy(f->activity, "walking", sizeof(f->activity));
	f->activity_score = 1.2345;
	for (int i = 0; i < 3; i++) {
		struct sc_feature *ft = sc_features_add(f);
		cr_assert_not_null(ft);
		sc_strlcpy(ft->sensor, "accelerometer", SC_NAME_MAX);
		sc_strlcpy(ft->field, i == 0 ? "magnitude" : i == 1 ? "x" : "y", SC_NAME_MAX);
		ft->count = 50u + (uint32_t)i;
		ft->mean = 0.1 * i;
		ft->std = 0.7;
		ft->min = -3.5;
		ft->max = 12.0;
	}
}

static void make_dead(struct sc_record *r, size_t len)
{
	unsigned char payload[300];

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (unsigned char)(i * 7);
	payload[0] = 0;
	sc_record_init(r, SC_KIND_NONE);
	cr_assert_eq(sc_deadletter_fill(r, "process", "raw.sensor",
					"json: field 'seq': expected unsigned integer", payload,
					len),
		     0);
	fill_env(r);
}

static void make_kind(struct sc_record *r, enum sc_kind k)
{
	switch (k) {
	case SC_KIND_CPU: make_cpu(r); break;
	case SC_KIND_SENSOR: make_sensor(r); break;
	case SC_KIND_CPU_STATS: make_cpu_stats(r); break;
	case SC_KIND_SENSOR_FEATURES: make_features(r); break;
	default: make_dead(r, 10); break;
	}
}

static const enum sc_codec codecs[] = {SC_CODEC_JSON, SC_CODEC_MSGPACK};

/* Encode with c, decode into a record that held another kind, compare. */
static void assert_round_trip(enum sc_codec c, const struct sc_record *r)
{
	struct sc_record d;
	struct sc_error err = {0};
	struct sc_buf buf;
	int rc;

	sc_buf_init(&buf);
	make_cpu(&d);
	if (r->kind == SC_KIND_CPU)
		make_dead(&d, 3);
	rc = codec_encode(c, r, &buf, &err);
	cr_assert_eq(rc, 0, "%s encode: %s", codec_name(c), err.msg);
	cr_assert_eq(codec_detect(buf.data, buf.len), c);
	rc = codec_decode(buf.data, buf.len, &d, &err);
	cr_assert_eq(rc, 0, "%s decode: %s", codec_name(c), err.msg);
	cr_assert(sc_record_equal(r, &d), "%s: round trip of %s differs", codec_name(c),
		  sc_kind_name(r->kind));
	/* and again into the now same-kind record, reusing its allocations */
	rc = codec_decode(buf.data, buf.len, &d, &err);
	cr_assert_eq(rc, 0, "%s decode again: %s", codec_name(c), err.msg);
	cr_assert(sc_record_equal(r, &d));
	sc_record_release(&d);
	sc_buf_release(&buf);
}

/* ---- round trips -------------------------------------------------------- */

Test(codec, round_trips_a_sensor_batch_through_both_codecs)
{
	struct sc_record r;

	make_sensor(&r);
	for (size_t i = 0; i < 2; i++)
		assert_round_trip(codecs[i], &r);
	sc_record_release(&r);
}

Test(codec, keeps_the_order_of_a_readings_values)
{
	struct sc_record r, d;
	struct sc_error err = {0};
	struct sc_buf buf;

	make_sensor(&r);
	sc_record_init(&d, SC_KIND_NONE);
	sc_buf_init(&buf);
	for (size_t i = 0; i < 2; i++) {
		cr_assert_eq(codec_encode(codecs[i], &r, &buf, &err), 0);
		cr_assert_eq(codec_decode(buf.data, buf.len, &d, &err), 0, "%s", err.msg);
		cr_assert_str_eq(d.u.sensor.readings[0].values[0].name, "z");
		cr_assert_str_eq(d.u.sensor.readings[0].values[2].name, "x");
		cr_assert_str_eq(d.u.sensor.readings[1].values[6].name, "yaw");
		cr_assert_eq(d.u.sensor.readings[1].has_accuracy, false);
		cr_assert_eq(d.u.sensor.readings[3].accuracy, -1);
	}
	sc_buf_release(&buf);
	sc_record_release(&d);
	sc_record_release(&r);
}

Test(codec, round_trips_a_cpu_sample_with_8_cores_through_both_codecs)
{
	struct sc_record r;

	make_cpu(&r);
	for (size_t i = 0; i < 2; i++)
		assert_round_trip(codecs[i], &r);
}

Test(codec, round_trips_cpu_stats_through_both_codecs)
{
	struct sc_record r;

	make_cpu_stats(&r);
	for (size_t i = 0; i < 2; i++)
		assert_round_trip(codecs[i], &r);
	r.u.cpu_stats.anomaly = false;
	for (size_t i = 0; i < 2; i++)
		assert_round_trip(codecs[i], &r);
}

Test(codec, round_trips_sensor_features_through_both_codecs)
{
	struct sc_record r;

	make_features(&r);
	for (size_t i = 0; i < 2; i++)
		assert_round_trip(codecs[i], &r);
	sc_record_release(&r);
}

Test(codec, round_trips_a_deadletter_with_binary_payload_through_both_codecs)
{
	struct sc_record r;

	/* lengths covering every base64 padding, and an empty payload */
	static const size_t lens[] = {0, 1, 2, 3, 4, 5, 299, 300};
	for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		make_dead(&r, lens[l]);
		for (size_t i = 0; i < 2; i++)
			assert_round_trip(codecs[i], &r);
		sc_record_release(&r);
	}
}

Test(codec, round_trips_an_empty_sensor_batch)
{
	struct sc_record r;

	sc_record_init(&r, SC_KIND_SENSOR);
	fill_env(&r);
	for (size_t i = 0; i < 2; i++)
		assert_round_trip(codecs[i], &r);
}

Test(codec, writes_integers_as_integers_and_doubles_exactly_in_json)
{
	struct sc_record r;
	struct sc_error err = {0};
	struct sc_buf buf;
	char *s;

	make_cpu(&r);
	r.u.cpu.total = 100.0;
	r.u.cpu.cores[1] = 0.1;
	sc_buf_init(&buf);
	cr_assert_eq(codec_json_encode(&r, &buf, &err), 0);
	s = strndup((const char *)buf.data, buf.len);
	cr_assert(strstr(s, "\"v\":1,\"kind\":\"cpu\""), "%s", s);
	cr_assert(strstr(s, "\"seq\":1099511627776,"), "%s", s);
	cr_assert(strstr(s, "\"intended_ns\":-5,"), "%s", s);
	cr_assert(strstr(s, "\"total\":100,"), "%s", s);
	cr_assert(strstr(s, "\"cores\":[0,0.1,"), "%s", s);
	cr_assert(strstr(s, ",24.691357802469135,"), "%s", s);
	free(s);
	sc_buf_release(&buf);
}

/* Found by fuzzing: -0.0 was written as "-0", which reads back as the integer 0. */
Test(codec_json, keeps_the_sign_of_negative_zero)
{
	struct sc_record r, d;
	struct sc_error err = {0};
	struct sc_buf buf;
	char *s;

	make_cpu(&r);
	r.u.cpu.total = -0.0;
	r.u.cpu.cores[0] = -0.0;
	r.u.cpu.cores[1] = 0.0;
	sc_record_init(&d, SC_KIND_NONE);
	sc_buf_init(&buf);
	cr_assert_eq(codec_json_encode(&r, &buf, &err), 0, "%s", err.msg);
	s = strndup((const char *)buf.data, buf.len);
	cr_assert(strstr(s, "\"total\":-0.0,\"cores\":[-0.0,0,"), "%s", s);
	cr_assert_eq(codec_json_decode(buf.data, buf.len, &d, &err), 0, "%s", err.msg);
	cr_assert(signbit(d.u.cpu.total));
	cr_assert(signbit(d.u.cpu.cores[0]));
	cr_assert_not(signbit(d.u.cpu.cores[1]));
	free(s);
	sc_buf_release(&buf);
	sc_record_release(&d);
}

Test(codec, refuses_to_encode_non_finite_numbers)
{
	struct sc_record r;
	struct sc_error err = {0};
	struct sc_buf buf;

	sc_buf_init(&buf);
	for (size_t i = 0; i < 2; i++) {
		make_cpu(&r);
		r.u.cpu.cores[3] = NAN;
		cr_assert_eq(codec_encode(codecs[i], &r, &buf, &err), -SC_EINVAL);
		cr_assert(strstr(err.msg, "non-finite"), "%s", err.msg);
		cr_assert_eq(buf.len, 0);
		make_sensor(&r);
		r.u.sensor.readings[2].values[0].v = INFINITY;
		cr_assert_eq(codec_encode(codecs[i], &r, &buf, &err), -SC_EINVAL);
		cr_assert(strstr(err.msg, "'pressure': cannot encode non-finite number"), "%s",
			  err.msg);
		sc_record_release(&r);
	}
	sc_buf_release(&buf);
}

Test(codec, refuses_to_encode_kind_none_or_bad_core_counts)
{
	struct sc_record r;
	struct sc_error err = {0};
	struct sc_buf buf;

	sc_buf_init(&buf);
	for (size_t i = 0; i < 2; i++) {
		sc_record_init(&r, SC_KIND_NONE);
		cr_assert_eq(codec_encode(codecs[i], &r, &buf, &err), -SC_EINVAL);
		make_cpu(&r);
		r.u.cpu.ncores = 0;
		cr_assert_eq(codec_encode(codecs[i], &r, &buf, &err), -SC_EINVAL);
		r.u.cpu.ncores = SC_CPU_MAX_CORES + 1;
		cr_assert_eq(codec_encode(codecs[i], &r, &buf, &err), -SC_EINVAL);
	}
	cr_assert_eq(codec_encode(SC_CODEC_NONE, &r, &buf, &err), -SC_EINVAL);
	sc_buf_release(&buf);
}

/* ---- detection ---------------------------------------------------------- */

Test(codec, maps_names_to_codecs_and_back)
{
	cr_assert_eq(codec_from_name("json"), SC_CODEC_JSON);
	cr_assert_eq(codec_from_name("msgpack"), SC_CODEC_MSGPACK);
	cr_assert_eq(codec_from_name("xml"), SC_CODEC_NONE);
	cr_assert_eq(codec_from_name(NULL), SC_CODEC_NONE);
	cr_assert_str_eq(codec_name(SC_CODEC_JSON), "json");
	cr_assert_str_eq(codec_name(SC_CODEC_MSGPACK), "msgpack");
}

Test(codec, detects_json_and_msgpack_by_their_first_byte)
{
	cr_assert_eq(codec_detect("{}", 2), SC_CODEC_JSON);
	cr_assert_eq(codec_detect(" \t\r\n{", 5), SC_CODEC_JSON);
	cr_assert_eq(codec_detect("\x80", 1), SC_CODEC_MSGPACK);
	cr_assert_eq(codec_detect("\x8f", 1), SC_CODEC_MSGPACK);
	cr_assert_eq(codec_detect("\xde\x00\x10", 3), SC_CODEC_MSGPACK);
	cr_assert_eq(codec_detect("\xdf\x00\x00\x00\x10", 5), SC_CODEC_MSGPACK);
	cr_assert_eq(codec_detect("[1]", 3), SC_CODEC_NONE);
	cr_assert_eq(codec_detect("\x90", 1), SC_CODEC_NONE);
	cr_assert_eq(codec_detect("   ", 3), SC_CODEC_NONE);
	cr_assert_eq(codec_detect("", 0), SC_CODEC_NONE);
}

Test(codec, refuses_input_that_is_neither_codec)
{
	struct sc_record r;
	struct sc_error err = {0};

	sc_record_init(&r, SC_KIND_NONE);
	cr_assert_eq(codec_decode("hello", 5, &r, &err), -SC_EINVAL);
	cr_assert_str_eq(err.msg, "codec: neither json nor msgpack (first byte 0x68)");
	cr_assert_eq(codec_decode("", 0, &r, &err), -SC_EINVAL);
	cr_assert_str_eq(err.msg, "codec: empty message");
}

/* ---- malformed input ---------------------------------------------------- */

static int decode_with(enum sc_codec c, const void *p, size_t n, struct sc_record *r,
		       struct sc_error *err)
{
	return c == SC_CODEC_JSON ? codec_json_decode(p, n, r, err)
				  : codec_msgpack_decode(p, n, r, err);
}

Test(codec, rejects_every_truncation_of_every_kind)
{
	static const enum sc_kind kinds[] = {SC_KIND_CPU, SC_KIND_SENSOR, SC_KIND_CPU_STATS,
					     SC_KIND_SENSOR_FEATURES, SC_KIND_DEADLETTER};
	struct sc_record r, d;
	struct sc_error err;
	struct sc_buf buf;

	sc_buf_init(&buf);
	sc_record_init(&d, SC_KIND_NONE);
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		make_kind(&r, kinds[k]);
		for (size_t c = 0; c < 2; c++) {
			const char *prefix = codecs[c] == SC_CODEC_JSON ? "json: " : "msgpack: ";
			cr_assert_eq(codec_encode(codecs[c], &r, &buf, &err), 0);
			for (size_t n = 0; n < buf.len; n++) {
				sc_error_clear(&err);
				cr_assert_eq(decode_with(codecs[c], buf.data, n, &d, &err),
					     -SC_EINVAL, "%s %s: prefix %zu of %zu accepted",
					     codec_name(codecs[c]), sc_kind_name(kinds[k]), n,
					     buf.len);
				cr_assert_eq(strncmp(err.msg, prefix, strlen(prefix)), 0, "%s",
					     err.msg);
			}
			cr_assert_eq(decode_with(codecs[c], buf.data, buf.len, &d, &err), 0);
		}
		sc_record_release(&r);
	}
	sc_record_release(&d);
	sc_buf_release(&buf);
}

Test(codec_json, says_truncated_input_for_a_cut_message)
{
	struct sc_record r;
	struct sc_error err = {0};
	const char *s = "{\"v\":1,\"kind\":\"cpu\",\"sou";

	sc_record_init(&r, SC_KIND_NONE);
	cr_assert_eq(codec_json_decode(s, strlen(s), &r, &err), -SC_EINVAL);
	cr_assert(strncmp(err.msg, "json: truncated input", 21) == 0, "%s", err.msg);
}

Test(codec_msgpack, says_truncated_input_for_a_cut_message)
{
	struct sc_record r, d;
	struct sc_error err = {0};
	struct sc_buf buf;

	sc_buf_init(&buf);
	make_cpu(&r);
	sc_record_init(&d, SC_KIND_NONE);
	cr_assert_eq(codec_msgpack_encode(&r, &buf, &err), 0);
	cr_assert_eq(codec_msgpack_decode(buf.data, buf.len - 1, &d, &err), -SC_EINVAL);
	cr_assert(strncmp(err.msg, "msgpack: truncated input", 24) == 0, "%s", err.msg);
	sc_buf_release(&buf);
}

/*
 * Found by fuzzing: msgpack-c reserved 24 bytes per element as soon as it read
 * an array or map header, so a 10-byte message claiming 2^32 elements asked
 * for 100 GB and failed as out of memory (or reserved it).  The decoder now
 * refuses counts the remaining bytes cannot hold before unpacking.
 */
Test(codec_msgpack, refuses_forged_element_counts_as_truncated_input)
{
	static const struct {
		const char *bytes;
		size_t len;
	} forged[] = {
		{"\x81\xa1v\xdd\xff\xff\xff\xff", 8},		   /* array32 of 2^32-1 */
		{"\x81\xa1v\xdf\xff\xff\xff\xff\x01\x02", 10},	   /* map32 of 2^32-1 */
		{"\xdf\x7f\xff\xff\xff", 5},			   /* the root map itself */
		{"\x81\xa1v\x93\x01\xdc\xff\xff\x01", 9},	   /* nested array16 */
		{"\x82\xa1v\x01\xa4kind\xc6\x7f\xff\xff\xff", 13}, /* bin32 longer than input */
		{"\x81\xa1v\x9f\x01\x01\x01\x01\x01\x01\x01\x01\x01", 13}, /* 15 of 9 left */
	};
	struct sc_record r;
	struct sc_error err = {0};

	sc_record_init(&r, SC_KIND_NONE);
	for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
		sc_error_clear(&err);
		cr_assert_eq(codec_msgpack_decode(forged[i].bytes, forged[i].len, &r, &err),
			     -SC_EINVAL, "case %zu: %s", i, err.msg);
		cr_assert(strncmp(err.msg, "msgpack: truncated input", 24) == 0, "case %zu: %s", i,
			  err.msg);
	}
	sc_record_release(&r);
}

/* Found by fuzzing: msgpack-c reports nesting deeper than 32 levels as out of memory. */
Test(codec_msgpack, refuses_deep_nesting_as_invalid_input_not_out_of_memory)
{
	unsigned char buf[64];
	struct sc_record r;
	struct sc_error err = {0};
	size_t n = 0;

	sc_record_init(&r, SC_KIND_NONE);
	buf[n++] = 0x81;
	buf[n++] = 0xa1;
	buf[n++] = 'v';
	for (int i = 0; i < 40; i++)
		buf[n++] = 0x91; /* array of one */
	buf[n++] = 0x01;
	cr_assert_eq(codec_msgpack_decode(buf, n, &r, &err), -SC_EINVAL, "%s", err.msg);
	cr_assert_str_eq(err.msg, "msgpack: nesting deeper than 16 levels");
	/* 10 levels is still read, and refused for what it is */
	buf[3 + 10] = 0x01;
	cr_assert_eq(codec_msgpack_decode(buf, 3 + 11, &r, &err), -SC_EINVAL);
	cr_assert_str_eq(err.msg, "msgpack: field 'v': expected integer");
	sc_record_release(&r);
}

Test(codec, rejects_trailing_garbage)
{
	struct sc_record r, d;
	struct sc_error err = {0};
	struct sc_buf buf;

	sc_buf_init(&buf);
	make_cpu(&r);
	sc_record_init(&d, SC_KIND_NONE);
	cr_assert_eq(codec_json_encode(&r, &buf, &err), 0);
	cr_assert_eq(sc_buf_append(&buf, " x", 2), 0);
	cr_assert_eq(codec_json_decode(buf.data, buf.len, &d, &err), -SC_EINVAL);
	cr_assert(strncmp(err.msg, "json: trailing garbage", 22) == 0, "%s", err.msg);
	cr_assert_eq(codec_msgpack_encode(&r, &buf, &err), 0);
	cr_assert_eq(sc_buf_append(&buf, "\xc0", 1), 0);
	cr_assert_eq(codec_msgpack_decode(buf.data, buf.len, &d, &err), -SC_EINVAL);
	cr_assert(strncmp(err.msg, "msgpack: trailing garbage", 25) == 0, "%s", err.msg);
	sc_buf_release(&buf);
}

Test(codec, rejects_a_top_level_value_that_is_not_a_map)
{
	struct sc_record r;
	struct sc_error err = {0};

	sc_record_init(&r, SC_KIND_NONE);
	cr_assert_eq(codec_json_decode("[1,2]", 5, &r, &err), -SC_EINVAL);
	cr_assert_str_eq(err.msg, "json: not an object");
	cr_assert_eq(codec_msgpack_decode("\x92\x01\x02", 3, &r, &err), -SC_EINVAL);
	cr_assert_str_eq(err.msg, "msgpack: not a map");
	cr_assert_eq(codec_msgpack_decode("\xc1", 1, &r, &err), -SC_EINVAL);
	cr_assert_str_eq(err.msg, "msgpack: malformed input");
}

/* ---- field errors, checked on both codecs from one JSON text ----------- */

/* Pack a jansson value as msgpack, keeping key order and number types. */
static void pack_json(msgpack_packer *pk, json_t *v)
{
	const char *key;
	json_t *x;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		msgpack_pack_map(pk, json_object_size(v));
		json_object_foreach(v, key, x)
		{
			msgpack_pack_str_with_body(pk, key, strlen(key));
			pack_json(pk, x);
		}
		break;
	case JSON_ARRAY:
		msgpack_pack_array(pk, json_array_size(v));
		json_array_foreach(v, i, x) pack_json(pk, x);
		break;
	case JSON_STRING:
		msgpack_pack_str_with_body(pk, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER: msgpack_pack_int64(pk, json_integer_value(v)); break;
	case JSON_REAL: msgpack_pack_double(pk, json_real_value(v)); break;
	case JSON_TRUE: msgpack_pack_true(pk); break;
	case JSON_FALSE: msgpack_pack_false(pk); break;
	default: msgpack_pack_nil(pk); break;
	}
}

static int buf_write(void *data, const char *p, size_t n)
{
	return n ? sc_buf_append(data, p, n) : 0;
}

static void json_to_msgpack(const char *text, struct sc_buf *out)
{
	json_error_t je;
	json_t *v = json_loads(text, 0, &je);
	msgpack_packer pk;

	cr_assert_not_null(v, "bad test json: %s: %s", je.text, text);
	out->len = 0;
	msgpack_packer_init(&pk, out, buf_write);
	pack_json(&pk, v);
	json_decref(v);
}

#define ENV(kind, body)                                                            \
	"{\"v\":1,\"kind\":\"" kind "\",\"source\":\"s\",\"key\":\"k\",\"seq\":3," \
	"\"event_ns\":1,\"intended_ns\":2,\"sent_ns\":3,\"processed_ns\":0,\"body\":" body "}"
#define SENSOR_BODY(reading)                                                            \
	"{\"messageId\":1,\"sessionId\":\"a\",\"deviceId\":\"b\",\"payload\":["         \
	"{\"name\":\"accelerometer\",\"time\":5,\"values\":{\"x\":1,\"y\":2,\"z\":3}}," \
	"{\"name\":\"gyroscope\",\"time\":6,\"values\":{\"x\":1,\"y\":2,\"z\":3}}," reading "]}"
#define CPU_BODY "{\"ncores\":2,\"total\":5.5,\"cores\":[1,2]}"

/*
 * Decode text as JSON and, converted, as msgpack: both must fail with
 * exactly "<codec>: <want>".
 */
static void expect_both(const char *text, const char *want)
{
	struct sc_record r;
	struct sc_error err = {0};
	struct sc_buf buf;
	char full[SC_ERRMSG_MAX];

	sc_record_init(&r, SC_KIND_NONE);
	sc_buf_init(&buf);
	cr_assert_eq(codec_json_decode(text, strlen(text), &r, &err), -SC_EINVAL,
		     "json accepted %s", text);
	snprintf(full, sizeof(full), "json: %s", want);
	cr_assert_str_eq(err.msg, full);
	json_to_msgpack(text, &buf);
	cr_assert_eq(codec_msgpack_decode(buf.data, buf.len, &r, &err), -SC_EINVAL,
		     "msgpack accepted %s", text);
	snprintf(full, sizeof(full), "msgpack: %s", want);
	cr_assert_str_eq(err.msg, full);
	sc_record_release(&r);
	sc_buf_release(&buf);
}

/* The same text must decode with both codecs. */
static void expect_ok_both(const char *text, struct sc_record *r)
{
	struct sc_error err = {0};
	struct sc_buf buf;

	sc_buf_init(&buf);
	cr_assert_eq(codec_json_decode(text, strlen(text), r, &err), 0, "json: %s", err.msg);
	json_to_msgpack(text, &buf);
	cr_assert_eq(codec_msgpack_decode(buf.data, buf.len, r, &err), 0, "msgpack: %s", err.msg);
	sc_buf_release(&buf);
}

Test(codec, accepts_the_test_envelopes_used_below)
{
	struct sc_record r;

	sc_record_init(&r, SC_KIND_NONE);
	expect_ok_both(ENV("cpu", CPU_BODY), &r);
	cr_assert_eq(r.u.cpu.ncores, 2);
	cr_assert_eq(r.u.cpu.total, 5.5);
	expect_ok_both(ENV("sensor", SENSOR_BODY("{\"name\":\"light\",\"time\":7,\"values\":"
						 "{\"lux\":10.5},\"accuracy\":2}")),
		       &r);
	cr_assert_eq(r.u.sensor.n, 3);
	cr_assert_eq(r.u.sensor.readings[2].accuracy, 2);
	sc_record_release(&r);
}

Test(codec, rejects_wrong_typed_fields_naming_the_field)
{
	expect_both("{\"v\":1,\"kind\":\"cpu\",\"source\":\"s\",\"key\":\"k\",\"seq\":\"3\"}",
		    "field 'seq': expected unsigned integer");
	expect_both("{\"v\":1,\"kind\":\"cpu\",\"source\":\"s\",\"key\":\"k\",\"seq\":-3}",
		    "field 'seq': expected unsigned integer");
	expect_both("{\"v\":1,\"kind\":\"cpu\",\"source\":7}", "field 'source': expected string");
	expect_both("{\"v\":1,\"kind\":3}", "field 'kind': expected string");
	expect_both("{\"v\":\"1\"}", "field 'v': expected integer");
	expect_both(ENV("cpu", "{\"ncores\":2,\"total\":\"x\",\"cores\":[1,2]}"),
		    "field 'body.total': expected number");
	expect_both(ENV("cpu", "{\"ncores\":2,\"total\":1,\"cores\":[1,null]}"),
		    "field 'body.cores[1]': expected number");
	expect_both(ENV("cpu", "{\"ncores\":2.5,\"total\":1,\"cores\":[1,2]}"),
		    "field 'body.ncores': expected unsigned integer");
	expect_both(ENV("sensor", SENSOR_BODY("{\"name\":\"a\",\"time\":1.5,\"values\":{}}")),
		    "field 'body.payload[2].time': expected integer");
	expect_both(ENV("sensor", SENSOR_BODY("{\"name\":\"a\",\"time\":1,\"values\":{\"x\":1,"
					      "\"y\":\"2\"}}")),
		    "field 'body.payload[2].values.y': expected number");
	expect_both(ENV("sensor", SENSOR_BODY("{\"name\":\"a\",\"time\":1,\"values\":{},"
					      "\"accuracy\":true}")),
		    "field 'body.payload[2].accuracy': expected integer");
	expect_both(ENV("sensor", "{\"messageId\":1,\"sessionId\":\"a\",\"deviceId\":\"b\","
				  "\"payload\":{}}"),
		    "field 'body.payload': expected array");
	expect_both(ENV("cpu_stats", "{\"ncores\":2,\"total\":1,\"mean_cores\":1,"
				     "\"rolling_mean\":1,\"rolling_std\":1,\"zscore\":1,"
				     "\"anomaly\":1,\"window\":3}"),
		    "field 'body.anomaly': expected boolean");
	expect_both(ENV("sensor_features",
			"{\"messageId\":1,\"sessionId\":\"a\",\"deviceId\":\"b\","
			"\"window_start_ns\":1,\"window_end_ns\":2,\"nreadings\":3,"
			"\"activity\":\"still\",\"activity_score\":0.5,\"features\":[{\"sensor\":"
			"\"a\",\"field\":\"x\",\"count\":1,\"mean\":1,\"std\":1,\"min\":1,\"max\":"
			"[]}]}"),
		    "field 'body.features[0].max': expected number");
	expect_both(ENV("deadletter", "{\"reason\":\"r\",\"origin\":\"o\",\"stage\":4}"),
		    "field 'body.stage': expected string");
}

Test(codec, rejects_missing_fields_naming_them)
{
	expect_both("{\"kind\":\"cpu\"}", "field 'v': missing");
	expect_both("{\"v\":1}", "field 'kind': missing");
	expect_both("{\"v\":1,\"kind\":\"cpu\",\"source\":\"s\",\"key\":\"k\",\"event_ns\":1}",
		    "field 'seq': missing");
	expect_both("{\"v\":1,\"kind\":\"cpu\",\"source\":\"s\",\"key\":\"k\",\"seq\":3,"
		    "\"event_ns\":1,\"intended_ns\":2,\"sent_ns\":3,\"processed_ns\":0}",
		    "field 'body': missing");
	expect_both(ENV("cpu", "{\"ncores\":2,\"cores\":[1,2]}"), "field 'body.total': missing");
	expect_both(ENV("sensor", SENSOR_BODY("{\"name\":\"a\",\"values\":{}}")),
		    "field 'body.payload[2].time': missing");
	expect_both(ENV("sensor", "{\"messageId\":1,\"sessionId\":\"a\",\"payload\":[]}"),
		    "field 'body.deviceId': missing");
}

Test(codec, rejects_unknown_kinds_and_versions)
{
	expect_both("{\"v\":2,\"kind\":\"cpu\"}", "field 'v': unsupported version 2");
	expect_both("{\"v\":1,\"kind\":\"toaster\"}", "field 'kind': unknown kind");
	expect_both("{\"v\":1,\"kind\":\"none\"}", "field 'kind': unknown kind");
	expect_both("{\"v\":1,\"kind\":\"cpu_stats_but_much_longer_than_any_kind_name\"}",
		    "field 'kind': unknown kind");
}

Test(codec, rejects_bad_core_counts)
{
	expect_both(ENV("cpu", "{\"ncores\":0,\"total\":1,\"cores\":[]}"),
		    "field 'body.ncores': 0 out of range 1..256");
	expect_both(ENV("cpu", "{\"ncores\":257,\"total\":1,\"cores\":[]}"),
		    "field 'body.ncores': 257 out of range 1..256");
	expect_both(ENV("cpu", "{\"ncores\":3,\"total\":1,\"cores\":[1,2]}"),
		    "field 'body.cores': 2 entries but ncores is 3");
}

Test(codec, ignores_unknown_extra_fields)
{
	struct sc_record r;

	sc_record_init(&r, SC_KIND_NONE);
	expect_ok_both("{\"future\":[1,{\"a\":null}],\"v\":1,\"kind\":\"cpu\",\"source\":\"s\","
		       "\"key\":\"k\",\"seq\":3,\"event_ns\":1,\"intended_ns\":2,\"sent_ns\":3,"
		       "\"processed_ns\":0,\"body\":{\"ncores\":1,\"total\":2,\"cores\":[2],"
		       "\"extra\":\"x\"},\"zz\":true}",
		       &r);
	cr_assert_eq(r.kind, SC_KIND_CPU);
	cr_assert_eq(r.env.seq, 3);
	cr_assert_eq(r.u.cpu.cores[0], 2.0);
}

Test(codec, decodes_a_body_that_comes_before_its_kind)
{
	struct sc_record r;

	/* the decoders read a body in place when "kind" came first; here it did not */
	sc_record_init(&r, SC_KIND_NONE);
	expect_ok_both(
		"{\"body\":{\"messageId\":4,\"sessionId\":\"a\",\"deviceId\":\"b\","
		"\"payload\":[{\"name\":\"gyroscope\",\"time\":6,\"values\":{\"x\":1.5,"
		"\"y\":-2}}]},\"v\":1,\"kind\":\"sensor\",\"source\":\"s\",\"key\":\"k\","
		"\"seq\":9,\"event_ns\":1,\"intended_ns\":2,\"sent_ns\":3,\"processed_ns\":0}",
		&r);
	cr_assert_eq(r.kind, SC_KIND_SENSOR);
	cr_assert_eq(r.env.seq, 9);
	cr_assert_str_eq(r.env.source, "s");
	cr_assert_eq(r.u.sensor.message_id, 4);
	cr_assert_eq(r.u.sensor.n, 1);
	cr_assert_str_eq(r.u.sensor.readings[0].values[1].name, "y");
	cr_assert_eq(r.u.sensor.readings[0].values[1].v, -2.0);
	sc_record_release(&r);
}

/* msgpack writers pick other widths than ours: every integer and float width decodes. */
Test(codec_msgpack, decodes_every_integer_and_float_width)
{
	struct sc_record r;
	struct sc_error err = {0};
	struct sc_buf buf;
	msgpack_packer pk;
	static const char *const ik[] = {"event_ns", "intended_ns", "sent_ns", "processed_ns"};

	sc_record_init(&r, SC_KIND_NONE);
	sc_buf_init(&buf);
	msgpack_packer_init(&pk, &buf, buf_write);
	msgpack_pack_map(&pk, 10);
	msgpack_pack_str_with_body(&pk, "v", 1);
	msgpack_pack_int64(&pk, 1); /* fixint */
	msgpack_pack_str_with_body(&pk, "kind", 4);
	msgpack_pack_str_with_body(&pk, "cpu", 3);
	msgpack_pack_str_with_body(&pk, "source", 6);
	msgpack_pack_str_with_body(&pk, "s", 1);
	msgpack_pack_str_with_body(&pk, "key", 3);
	msgpack_pack_str_with_body(&pk, "k", 1);
	msgpack_pack_str_with_body(&pk, "seq", 3);
	msgpack_pack_uint64(&pk, 1ull << 40); /* uint64 */
	for (int i = 0; i < 4; i++) {
		msgpack_pack_str_with_body(&pk, ik[i], strlen(ik[i]));
		msgpack_pack_int64(&pk, i == 0 ? -5 : i == 1 ? -300 : i == 2 ? -70000 : INT64_MIN);
	}
	msgpack_pack_str_with_body(&pk, "body", 4);
	msgpack_pack_map(&pk, 3);
	msgpack_pack_str_with_body(&pk, "ncores", 6);
	msgpack_pack_uint16(&pk, 4);
	msgpack_pack_str_with_body(&pk, "total", 5);
	msgpack_pack_float(&pk, 2.5f); /* float32 */
	msgpack_pack_str_with_body(&pk, "cores", 5);
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint8(&pk, 200);
	msgpack_pack_int8(&pk, -100);
	msgpack_pack_uint32(&pk, 70000);
	msgpack_pack_double(&pk, 0.25);
	cr_assert_eq(codec_msgpack_decode(buf.data, buf.len, &r, &err), 0, "%s", err.msg);
	cr_assert_eq(r.env.seq, 1ull << 40);
	cr_assert_eq(r.env.event_ns, -5);
	cr_assert_eq(r.env.intended_ns, -300);
	cr_assert_eq(r.env.sent_ns, -70000);
	cr_assert_eq(r.env.processed_ns, INT64_MIN);
	cr_assert_eq(r.u.cpu.ncores, 4);
	cr_assert_eq(r.u.cpu.total, 2.5);
	cr_assert_eq(r.u.cpu.cores[0], 200.0);
	cr_assert_eq(r.u.cpu.cores[1], -100.0);
	cr_assert_eq(r.u.cpu.cores[2], 70000.0);
	cr_assert_eq(r.u.cpu.cores[3], 0.25);
	sc_buf_release(&buf);
	sc_record_release(&r);
}

/* ---- limits ------------------------------------------------------------- */

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	cr_assert_not_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

Test(codec, rejects_strings_longer_than_their_field)
{
	char text[1024], want[128];
	char *id63 = repeat('a', SC_ID_MAX - 1), *id64 = repeat('a', SC_ID_MAX);
	char *key = repeat('k', SC_KEY_MAX), *name = repeat('n', SC_NAME_MAX);
	struct sc_record r;

	sc_record_init(&r, SC_KIND_NONE);
	snprintf(text, sizeof(text),
		 "{\"v\":1,\"kind\":\"cpu\",\"source\":\"%s\",\"key\":\"k\",\"seq\":3,"
		 "\"event_ns\":1,\"intended_ns\":2,\"sent_ns\":3,\"processed_ns\":0,\"body\":%s}",
		 id63, CPU_BODY);
	expect_ok_both(text, &r);
	cr_assert_str_eq(r.env.source, id63);
	snprintf(text, sizeof(text), "{\"v\":1,\"kind\":\"cpu\",\"source\":\"%s\"}", id64);
	snprintf(want, sizeof(want), "field 'source': string longer than %d bytes", SC_ID_MAX - 1);
	expect_both(text, want);
	snprintf(text, sizeof(text), "{\"v\":1,\"kind\":\"cpu\",\"source\":\"s\",\"key\":\"%s\"}",
		 key);
	snprintf(want, sizeof(want), "field 'key': string longer than %d bytes", SC_KEY_MAX - 1);
	expect_both(text, want);
	snprintf(text, sizeof(text),
		 ENV("sensor", SENSOR_BODY("{\"name\":\"%s\",\"time\":1,\"values\":{}}")), name);
	snprintf(want, sizeof(want), "field 'body.payload[2].name': string longer than %d bytes",
		 SC_NAME_MAX - 1);
	expect_both(text, want);
	snprintf(text, sizeof(text),
		 ENV("sensor", SENSOR_BODY("{\"name\":\"a\",\"time\":1,\"values\":{\"%s\":1}}")),
		 name);
	snprintf(want, sizeof(want),
		 "field 'body.payload[2].values': value name longer than %d bytes",
		 SC_NAME_MAX - 1);
	expect_both(text, want);
	expect_both(ENV("sensor_features",
			"{\"messageId\":1,\"sessionId\":\"a\",\"deviceId\":\"b\","
			"\"window_start_ns\":1,\"window_end_ns\":2,\"nreadings\":3,"
			"\"activity\":\"sixteen_chars_xx\"}"),
		    "field 'body.activity': string longer than 15 bytes");
	free(id63);
	free(id64);
	free(key);
	free(name);
}

Test(codec, rejects_more_than_16_values_in_a_reading)
{
	char values[512];
	size_t n = 0;

	for (int i = 0; i <= SC_SENSOR_MAX_VALUES; i++)
		n += (size_t)snprintf(values + n, sizeof(values) - n, "%s\"v%d\":%d", i ? "," : "",
				      i, i);
	char text[1024];
	snprintf(text, sizeof(text),
		 ENV("sensor", SENSOR_BODY("{\"name\":\"a\",\"time\":1,\"values\":{%s}}")), values);
	expect_both(text, "field 'body.payload[2].values': more than 16 values");
}

Test(codec, rejects_more_than_the_maximum_number_of_readings)
{
	const char *head = "{\"v\":1,\"kind\":\"sensor\",\"source\":\"s\",\"key\":\"k\",\"seq\":3,"
			   "\"event_ns\":1,\"intended_ns\":2,\"sent_ns\":3,\"processed_ns\":0,"
			   "\"body\":{\"messageId\":1,\"sessionId\":\"a\",\"deviceId\":\"b\","
			   "\"payload\":[";
	size_t n = SC_SENSOR_MAX_READINGS + 1, hl = strlen(head), len = hl + 2 * n + 3;
	char *text = malloc(len + 1);

	cr_assert_not_null(text);
	memcpy(text, head, hl);
	for (size_t i = 0; i < n; i++) {
		text[hl + 2 * i] = '0';
		text[hl + 2 * i + 1] = ',';
	}
	memcpy(text + hl + 2 * n - 1, "]}}", 4);
	expect_both(text, "field 'body.payload': more than 100000 readings");
	free(text);
}

Test(codec_msgpack, rejects_non_finite_numbers)
{
	struct sc_record r;
	struct sc_error err = {0};
	struct sc_buf buf;
	msgpack_packer pk;

	/* a cpu record with an infinite core, packed by hand */
	sc_record_init(&r, SC_KIND_NONE);
	sc_buf_init(&buf);
	msgpack_packer_init(&pk, &buf, buf_write);
	msgpack_pack_map(&pk, 10);
	static const char *const ik[] = {"seq", "event_ns", "intended_ns", "sent_ns",
					 "processed_ns"};
	msgpack_pack_str_with_body(&pk, "v", 1);
	msgpack_pack_int(&pk, 1);
	msgpack_pack_str_with_body(&pk, "kind", 4);
	msgpack_pack_str_with_body(&pk, "cpu", 3);
	msgpack_pack_str_with_body(&pk, "source", 6);
	msgpack_pack_str_with_body(&pk, "s", 1);
	msgpack_pack_str_with_body(&pk, "key", 3);
	msgpack_pack_str_with_body(&pk, "k", 1);
	for (int i = 0; i < 5; i++) {
		msgpack_pack_str_with_body(&pk, ik[i], strlen(ik[i]));
		msgpack_pack_int(&pk, 1);
	}
	msgpack_pack_str_with_body(&pk, "body", 4);
	msgpack_pack_map(&pk, 3);
	msgpack_pack_str_with_body(&pk, "ncores", 6);
	msgpack_pack_int(&pk, 1);
	msgpack_pack_str_with_body(&pk, "total", 5);
	msgpack_pack_double(&pk, 1.0);
	msgpack_pack_str_with_body(&pk, "cores", 5);
	msgpack_pack_array(&pk, 1);
	msgpack_pack_float(&pk, -INFINITY);
	cr_assert_eq(codec_msgpack_decode(buf.data, buf.len, &r, &err), -SC_EINVAL);
	cr_assert_str_eq(err.msg, "msgpack: field 'body.cores[0]': non-finite number");
	/* same message with a finite float32 core decodes */
	buf.data[buf.len - 4] = 0x3f;
	buf.data[buf.len - 3] = 0x80;
	buf.data[buf.len - 2] = 0;
	buf.data[buf.len - 1] = 0;
	cr_assert_eq(codec_msgpack_decode(buf.data, buf.len, &r, &err), 0, "%s", err.msg);
	cr_assert_eq(r.u.cpu.cores[0], 1.0);
	sc_buf_release(&buf);
}

Test(codec_json, rejects_numbers_too_large_for_a_double)
{
	struct sc_record r;
	struct sc_error err = {0};
	const char *s = ENV("cpu", "{\"ncores\":1,\"total\":1e999,\"cores\":[1]}");

	sc_record_init(&r, SC_KIND_NONE);
	cr_assert_eq(codec_json_decode(s, strlen(s), &r, &err), -SC_EINVAL);
	cr_assert(strncmp(err.msg, "json: malformed json: real number overflow", 42) == 0, "%s",
		  err.msg);
}

Test(codec, rejects_duplicate_keys)
{
	struct sc_record r;
	struct sc_error err = {0};
	struct sc_buf buf;
	const char *s = ENV("sensor", SENSOR_BODY("{\"name\":\"a\",\"time\":1,\"values\":{\"x\":1,"
						  "\"x\":2}}"));

	sc_record_init(&r, SC_KIND_NONE);
	sc_buf_init(&buf);
	cr_assert_eq(codec_json_decode(s, strlen(s), &r, &err), -SC_EINVAL);
	cr_assert(strstr(err.msg, "duplicate object key"), "%s", err.msg);
	/* jansson refuses the text itself, so build the msgpack by hand */
	json_to_msgpack(ENV("sensor", SENSOR_BODY("{\"name\":\"a\",\"time\":1,\"values\":{\"x\":1,"
						  "\"w\":2}}")),
			&buf);
	unsigned char *w = memmem(buf.data, buf.len, "\xa1w", 2);
	cr_assert_not_null(w);
	w[1] = 'x';
	cr_assert_eq(codec_msgpack_decode(buf.data, buf.len, &r, &err), -SC_EINVAL);
	cr_assert_str_eq(err.msg, "msgpack: field 'body.payload[2].values.x': duplicate key");
	sc_record_release(&r);
	sc_buf_release(&buf);
}

Test(codec_json, rejects_invalid_base64_in_a_deadletter)
{
	struct sc_record r;
	struct sc_error err = {0};
	const char *bad[] = {
		ENV("deadletter",
		    "{\"reason\":\"r\",\"origin\":\"o\",\"stage\":\"s\",\"payload\":\"abc\"}"),
		ENV("deadletter",
		    "{\"reason\":\"r\",\"origin\":\"o\",\"stage\":\"s\",\"payload\":\"ab=c\"}"),
		ENV("deadletter",
		    "{\"reason\":\"r\",\"origin\":\"o\",\"stage\":\"s\",\"payload\":\"a!cd\"}"),
		ENV("deadletter",
		    "{\"reason\":\"r\",\"origin\":\"o\",\"stage\":\"s\",\"payload\":3}"),
	};

	sc_record_init(&r, SC_KIND_NONE);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(codec_json_decode(bad[i], strlen(bad[i]), &r, &err), -SC_EINVAL,
			     "accepted %s", bad[i]);
		cr_assert(strncmp(err.msg, "json: field 'body.payload': ", 28) == 0, "%s", err.msg);
	}
	sc_record_release(&r);
}

Test(codec_msgpack, rejects_nul_bytes_and_bad_utf8_in_strings)
{
	struct sc_record r;
	struct sc_error err = {0};
	struct sc_buf buf;
	unsigned char *p;

	sc_record_init(&r, SC_KIND_NONE);
	sc_buf_init(&buf);
	json_to_msgpack(ENV("cpu", CPU_BODY), &buf);
	p = memmem(buf.data, buf.len, "\xa6source\xa1s", 9);
	cr_assert_not_null(p);
	p[8] = 0;
	cr_assert_eq(codec_msgpack_decode(buf.data, buf.len, &r, &err), -SC_EINVAL);
	cr_assert_str_eq(err.msg, "msgpack: field 'source': invalid utf-8 or nul byte in string");
	p[8] = 0xff;
	cr_assert_eq(codec_msgpack_decode(buf.data, buf.len, &r, &err), -SC_EINVAL);
	sc_buf_release(&buf);
}

/* ---- Sensor Logger parse ------------------------------------------------ */

/* A push body as the Sensor Logger app sends it (values in its own key order). */
static const char app_body[] =
	"{\"messageId\": 17, \"sessionId\": \"c3b5a0d2-7f0e-4d55-9a51-2f6c0c8e7b11\",\n"
	" \"deviceId\": \"a7e4c0f2-19b3-4a7c-8f0d-5e2b9c1d3f4a\", \"payload\": [\n"
	"  {\"name\": \"accelerometer\", \"time\": 1698422422123456789, \"accuracy\": 3,\n"
	"   \"values\": {\"z\": -0.0127, \"y\": 0.0371, \"x\": -0.00352}},\n"
	"  {\"name\": \"orientation\", \"time\": 1698422422133456789, \"values\": {\"qz\": "
	"0.0102, \"qy\": -0.0172, \"qx\": 0.5765, \"qw\": 0.8167, \"roll\": -0.0374, "
	"\"pitch\": -1.2290, \"yaw\": 0.0029}},\n"
	"  {\"name\": \"barometer\", \"time\": 1698422422200000000, \"values\": "
	"{\"relativeAltitude\": 0, \"pressure\": 1008.4}},\n"
	"  {\"name\": \"location\", \"time\": 1698422423000000000, \"values\": "
	"{\"bearingAccuracy\": "
	"0, \"speedAccuracy\": 0.5, \"verticalAccuracy\": 3.5, \"horizontalAccuracy\": 4.7, "
	"\"speed\": 0, \"bearing\": -1, \"altitude\": 36.1, \"longitude\": 13.4049, "
	"\"latitude\": 52.52}},\n"
	"  {\"name\": \"microphone\", \"time\": 1698422423100000000, \"values\": {\"dBFS\": "
	"-47.3}}\n"
	" ]}\n";

Test(codec_sensorlogger, parses_a_realistic_app_body)
{
	struct sc_sensor_batch b;
	struct sc_error err = {0};
	const struct sc_sensor_reading *rd;

	memset(&b, 0, sizeof(b));
	cr_assert_eq(codec_sensorlogger_parse(app_body, strlen(app_body), &b, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(b.message_id, 17);
	cr_assert_str_eq(b.device_id, "a7e4c0f2-19b3-4a7c-8f0d-5e2b9c1d3f4a");
	cr_assert_eq(b.n, 5);
	rd = &b.readings[0];
	cr_assert_str_eq(rd->name, "accelerometer");
	cr_assert_eq(rd->time_ns, 1698422422123456789LL);
	cr_assert(rd->has_accuracy);
	cr_assert_eq(rd->accuracy, 3);
	cr_assert_eq(rd->nvalues, 3);
	cr_assert_str_eq(rd->values[0].name, "z");
	cr_assert_eq(sc_reading_get(rd, "x")->v, -0.00352);
	cr_assert_eq(b.readings[1].nvalues, 7);
	cr_assert_not(b.readings[1].has_accuracy);
	cr_assert_eq(sc_reading_get(&b.readings[2], "pressure")->v, 1008.4);
	cr_assert_eq(sc_reading_get(&b.readings[3], "latitude")->v, 52.52);
	cr_assert_eq(b.readings[3].nvalues, 9);
	cr_assert_eq(sc_reading_get(&b.readings[4], "dBFS")->v, -47.3);

	/* parsing again reuses the allocation and replaces the content */
	struct sc_sensor_reading *keep = b.readings;
	const char *small =
		"{\"messageId\":1,\"sessionId\":\"s\",\"deviceId\":\"d\",\"payload\":[]}";
	cr_assert_eq(codec_sensorlogger_parse(small, strlen(small), &b, &err), 0, "%s", err.msg);
	cr_assert_eq(b.n, 0);
	cr_assert_eq(b.readings, keep);
	cr_assert_str_eq(b.device_id, "d");
	free(b.readings);
}

static void expect_sl_error(const char *text, const char *want)
{
	struct sc_sensor_batch b;
	struct sc_error err = {0};

	memset(&b, 0, sizeof(b));
	cr_assert_eq(codec_sensorlogger_parse(text, strlen(text), &b, &err), -SC_EINVAL,
		     "accepted %s", text);
	cr_assert_eq(strncmp(err.msg, want, strlen(want)), 0, "got '%s', want '%s'", err.msg, want);
	free(b.readings);
}

Test(codec_sensorlogger, rejects_malformed_json)
{
	expect_sl_error("{\"messageId\": 1, \"sessionId\": ", "truncated input");
	expect_sl_error("{\"messageId\": 1,, }", "malformed json: ");
	expect_sl_error("{\"messageId\": 1} {}", "trailing garbage");
	expect_sl_error("[1, 2]", "body is not a json object");
	expect_sl_error("", "truncated input");
}

Test(codec_sensorlogger, rejects_missing_fields_naming_them)
{
	expect_sl_error("{\"messageId\":1,\"sessionId\":\"s\",\"payload\":[]}",
			"field 'deviceId': missing");
	expect_sl_error("{\"messageId\":1,\"sessionId\":\"s\",\"deviceId\":\"d\"}",
			"field 'payload': missing");
	expect_sl_error("{\"messageId\":1,\"sessionId\":\"s\",\"deviceId\":\"d\",\"payload\":["
			"{\"name\":\"a\",\"time\":1,\"values\":{}},{\"name\":\"b\",\"time\":2}]}",
			"field 'payload[1].values': missing");
}

Test(codec_sensorlogger, rejects_wrong_types_naming_the_field)
{
	const char *head = "{\"messageId\":1,\"sessionId\":\"s\",\"deviceId\":\"d\",\"payload\":["
			   "{\"name\":\"a\",\"time\":1,\"values\":{}},"
			   "{\"name\":\"a\",\"time\":1,\"values\":{}},";
	char text[512];

	expect_sl_error("{\"messageId\":\"1\"}", "field 'messageId': expected integer");
	snprintf(text, sizeof(text), "%s{\"name\":\"a\",\"time\":\"now\",\"values\":{}}]}", head);
	expect_sl_error(text, "field 'payload[2].time': expected integer");
	snprintf(text, sizeof(text), "%s{\"name\":\"a\",\"time\":1,\"values\":{\"x\":\"1\"}}]}",
		 head);
	expect_sl_error(text, "field 'payload[2].values.x': expected number");
	snprintf(text, sizeof(text), "%s{\"name\":\"a\",\"time\":1,\"values\":{\"x\":null}}]}",
		 head);
	expect_sl_error(text, "field 'payload[2].values.x': expected number");
	snprintf(text, sizeof(text), "%s7]}", head);
	expect_sl_error(text, "field 'payload[2]': expected object");
}

/* ---- corruption ------------------------------------------------------------ */

Test(codec, decodes_or_cleanly_rejects_every_single_byte_corruption)
{
	static const unsigned char masks[] = {0x01, 0x20, 0x80, 0xff};
	struct sc_record r, d;
	struct sc_error err;
	struct sc_buf buf;
	int rc;

	sc_buf_init(&buf);
	sc_record_init(&d, SC_KIND_NONE);
	make_sensor(&r);
	for (size_t c = 0; c < 2; c++) {
		cr_assert_eq(codec_encode(codecs[c], &r, &buf, &err), 0);
		for (size_t i = 0; i < buf.len; i++) {
			for (size_t m = 0; m < sizeof(masks); m++) {
				buf.data[i] ^= masks[m];
				sc_error_clear(&err);
				rc = codec_decode(buf.data, buf.len, &d, &err);
				cr_assert(rc == 0 || ((rc == -SC_EINVAL || rc == -SC_ENOMEM) &&
						      err.msg[0]),
					  "%s: byte %zu ^ 0x%02x: rc %d '%s'",
					  codec_name(codecs[c]), i, masks[m], rc, err.msg);
				buf.data[i] ^= masks[m];
			}
		}
	}
	sc_record_release(&r);
	sc_record_release(&d);
	sc_buf_release(&buf);
}

/* Found by fuzz_sensorlogger: jansson quotes the input around a syntax
 * error, newline included; the reason must stay one line. */
Test(codec_sensorlogger, reports_malformed_input_on_one_line)
{
	static const char body[] =
		"{\"messageId\": -7, \"sessionId\": \"c3b5a0\\\\7d\\\\\\\\\\\\\\\n ]}\n";
	struct sc_sensor_batch b;
	struct sc_error err = {0};

	memset(&b, 0, sizeof(b));
	cr_assert_eq(codec_sensorlogger_parse(body, sizeof(body) - 1, &b, &err), -SC_EINVAL);
	cr_assert_null(strchr(err.msg, '\n'), "reason has a newline: %s", err.msg);
	cr_assert(strstr(err.msg, "json"), "%s", err.msg);
	free(b.readings);
}

/* The schema's field tables and the decoders' key tables agree: each field
 * names the key of its slot, its JSON key is that name, and a map's fields
 * use distinct slots. */
Test(codec_schema, field_tables_name_the_keys_of_their_slots)
{
	const struct {
		const struct codec_fields *fs;
		const struct codec_key *keys;
		int nkeys;
	} maps[] = {
		{&codec_env_fields, codec_env_keys, E__N},
		{&codec_sensor_fields, codec_sensor_keys, S__N},
		{&codec_stats_fields, codec_stats_keys, T__N},
		{&codec_features_fields, codec_features_keys, X__N},
		{&codec_feature_fields, codec_feature_keys, F__N},
		{&codec_dead_fields, codec_dead_keys, D__N},
	};

	for (size_t m = 0; m < sizeof(maps) / sizeof(maps[0]); m++) {
		unsigned int used = 0;

		cr_assert_gt(maps[m].fs->n, 0);
		for (unsigned int i = 0; i < maps[m].fs->n; i++) {
			const struct codec_field *f = &maps[m].fs->f[i];
			char json[CODEC_JSON_KEY_MAX];

			cr_assert_lt(f->slot, maps[m].nkeys);
			cr_assert_str_eq(f->name, maps[m].keys[f->slot].name);
			cr_assert_eq(f->nlen, maps[m].keys[f->slot].len);
			snprintf(json, sizeof(json), ",\"%s\":", f->name);
			cr_assert_str_eq(f->json, json);
			cr_assert_eq(f->jlen, strlen(json));
			cr_assert_eq(used & (1u << f->slot), 0, "slot %u twice", f->slot);
			used |= 1u << f->slot;
		}
	}
}
