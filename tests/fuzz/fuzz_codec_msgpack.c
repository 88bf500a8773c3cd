/*
 * fuzz_codec_msgpack.c - libFuzzer target for the MessagePack decoder.
 *
 * Each input is decoded with codec_msgpack_decode() into one reused record.
 * A failure must be -SC_EINVAL with a reason; an accepted record must
 * survive encode/decode with both codecs unchanged (fuzz_common.h).
 * Seeds: tests/fuzz/corpus/codec_msgpack/.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sc_record rec;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sc_error err = {0};
	int rc;

	rc = codec_msgpack_decode(data, size, &rec, &err);
	fuzz_check_decode(rc, &err);
	if (rc == 0)
		fuzz_round_trip(&rec);
	return 0;
}
