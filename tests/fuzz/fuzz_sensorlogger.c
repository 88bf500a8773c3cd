/*
 * fuzz_sensorlogger.c - libFuzzer target for the Sensor Logger body parser.
 *
 * Each input is parsed with codec_sensorlogger_parse() into one reused
 * batch, as the HTTP and MQTT ingest do.  A failure must be -SC_EINVAL with
 * a reason; an accepted batch, wrapped in a raw sensor record, must survive
 * encode/decode with both codecs unchanged (fuzz_common.h).
 * Seeds: tests/fuzz/corpus/sensorlogger/.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sc_record rec;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sc_error err = {0};
	int rc;

	if (rec.kind != SC_KIND_SENSOR)
		sc_record_init(&rec, SC_KIND_SENSOR);
	rc = codec_sensorlogger_parse(data, size, &rec.u.sensor, &err);
	fuzz_check_decode(rc, &err);
	if (rc)
		return 0;
	if (rec.u.sensor.n > rec.u.sensor.cap)
		fuzz_fail("batch holds more readings than it has room for", NULL);
	sc_strlcpy(rec.env.source, "fuzz", sizeof(rec.env.source));
	sc_strlcpy(rec.env.key, rec.u.sensor.device_id, sizeof(rec.env.key));
	rec.env.seq = (uint64_t)size;
	fuzz_round_trip(&rec);
	return 0;
}
