/*
 * fuzz_codec_json.c - libFuzzer target for the JSON decoder.
 *
 * Each input is decoded with codec_json_decode() into one reused record.
 * A failure must be -SC_EINVAL with a reason; an accepted record must
 * survive encode/decode with both codecs unchanged (fuzz_common.h).
 * Seeds: tests/fuzz/corpus/codec_json/.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sc_record rec;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sc_error err = {0};
	int rc;

	rc = codec_json_decode(data, size, &rec, &err);
	fuzz_check_decode(rc, &err);
	if (rc == 0)
		fuzz_round_trip(&rec);
	return 0;
}
