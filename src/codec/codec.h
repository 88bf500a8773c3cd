/*
 * codec.h - JSON and MessagePack encodings of a struct sc_record.
 *
 * Both codecs carry the same logical content and round-trip to an equal
 * record (sc_record_equal).  The wire shape is one map/object:
 *
 *   {"v":1, "kind":"sensor", "source":..., "key":..., "seq":...,
 *    "event_ns":..., "intended_ns":..., "sent_ns":..., "processed_ns":...,
 *    "body":{...}}
 *
 * where "body" for kind "sensor" is exactly a Sensor Logger push
 * ({"messageId","sessionId","deviceId","payload":[{"name","time","values",
 * "accuracy"?}]}).  Input is auto-detected: JSON starts with '{' (after
 * optional whitespace), MessagePack with a map header (0x80-0x8f, 0xde,
 * 0xdf).  Decoding validates types and ranges and names the first problem in
 * err ("json: field 'seq': expected unsigned integer").
 *
 * Ownership: encode writes into a caller-owned sc_buf (replacing its
 * content, keeping its allocation); decode fills a caller-owned record,
 * reusing its allocations (sc_record_reset) - neither keeps a reference.
 */
#ifndef SC_CODEC_H
#define SC_CODEC_H

#include <stddef.h>

struct sc_buf;
struct sc_error;
struct sc_record;
struct sc_sensor_batch;

enum sc_codec {
	SC_CODEC_NONE = 0,
	SC_CODEC_JSON,
	SC_CODEC_MSGPACK,
};

/* "json" / "msgpack" -> codec; SC_CODEC_NONE when unknown. */
enum sc_codec codec_from_name(const char *name);
const char *codec_name(enum sc_codec c);

/* Which codec the bytes look like; SC_CODEC_NONE when neither. */
enum sc_codec codec_detect(const void *data, size_t len);

/* Encode r into out (out->len is reset first).  0 or -SC_EINVAL/-SC_ENOMEM. */
int codec_encode(enum sc_codec c, const struct sc_record *r, struct sc_buf *out,
		 struct sc_error *err);

/* Decode with auto-detection.  0, or -SC_EINVAL with the reason in err. */
int codec_decode(const void *data, size_t len, struct sc_record *r, struct sc_error *err);

/* Per codec (used by codec_encode/codec_decode, exposed for tests and benches). */
int codec_json_encode(const struct sc_record *r, struct sc_buf *out, struct sc_error *err);
int codec_json_decode(const void *data, size_t len, struct sc_record *r, struct sc_error *err);
int codec_msgpack_encode(const struct sc_record *r, struct sc_buf *out, struct sc_error *err);
int codec_msgpack_decode(const void *data, size_t len, struct sc_record *r, struct sc_error *err);

/*
 * Parse a bare Sensor Logger push body (no envelope), as the phone app sends
 * it over HTTP or MQTT, into b (reusing its allocation).  0 or -SC_EINVAL
 * with a reason fit for an HTTP 400 reply ("field 'payload[3].time':
 * expected integer").
 */
int codec_sensorlogger_parse(const void *data, size_t len, struct sc_sensor_batch *b,
			     struct sc_error *err);

#endif /* SC_CODEC_H */
