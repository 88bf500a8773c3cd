/*
 * fuzz_common.h - checks shared by the codec fuzz targets (libFuzzer).
 *
 * fuzz_check_decode() checks the codec contract for a failed decode (0, or
 * -SC_EINVAL with a reason); fuzz_round_trip() takes a record a decoder or
 * the Sensor Logger parser accepted, encodes it with both codecs, decodes
 * each encoding into a second reused record and requires sc_record_equal,
 * then requires that encoding the copy gives the same bytes again.  Any
 * violation prints what went wrong and abort()s, which libFuzzer reports as
 * a crash and saves the input.
 *
 * Records and buffers are static and reused across inputs, like the hot
 * path of `process` and `sink` (decode into one reused record).
 */
#ifndef SC_FUZZ_COMMON_H
#define SC_FUZZ_COMMON_H

#include "codec.h"
#include "error.h"
#include "record.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct sc_record fuzz_copy;
static struct sc_buf fuzz_enc, fuzz_enc2;

static void fuzz_fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz: %s: %s\n", what, detail ? detail : "");
	abort();
}

/* A decoder's result: 0 or -SC_EINVAL with a one-line reason. */
static void fuzz_check_decode(int rc, const struct sc_error *err)
{
	if (rc == 0)
		return;
	if (rc != -SC_EINVAL || err->code != SC_EINVAL)
		fuzz_fail("decode returned something other than 0 or -SC_EINVAL", err->msg);
	if (!err->msg[0] || strchr(err->msg, '\n'))
		fuzz_fail("decode failed without a one-line reason", err->msg);
}

static void fuzz_round_trip_with(enum sc_codec c, const struct sc_record *r)
{
	struct sc_error err = {0};
	int rc;

	rc = codec_encode(c, r, &fuzz_enc, &err);
	if (rc)
		fuzz_fail("cannot encode a record that was accepted", err.msg);
	if (codec_detect(fuzz_enc.data, fuzz_enc.len) != c)
		fuzz_fail("encoding is not detected as its codec", codec_name(c));
	rc = codec_decode(fuzz_enc.data, fuzz_enc.len, &fuzz_copy, &err);
	if (rc) {
		fprintf(stderr, "fuzz: %s encoding: %.*s\n", codec_name(c), (int)fuzz_enc.len,
			(const char *)fuzz_enc.data);
		fuzz_fail("cannot decode our own encoding", err.msg);
	}
	if (!sc_record_equal(r, &fuzz_copy))
		fuzz_fail("round trip changed the record", codec_name(c));
	rc = codec_encode(c, &fuzz_copy, &fuzz_enc2, &err);
	if (rc)
		fuzz_fail("cannot re-encode the decoded copy", err.msg);
	if (fuzz_enc2.len != fuzz_enc.len || memcmp(fuzz_enc2.data, fuzz_enc.data, fuzz_enc.len)) {
		size_t i = 0, from;
		while (i < fuzz_enc.len && i < fuzz_enc2.len &&
		       fuzz_enc.data[i] == fuzz_enc2.data[i])
			i++;
		from = i > 40 ? i - 40 : 0;
		fprintf(stderr, "fuzz: first difference at byte %zu:\n  %.*s\n  %.*s\n", i,
			(int)(fuzz_enc.len - from < 80 ? fuzz_enc.len - from : 80),
			(const char *)fuzz_enc.data + from,
			(int)(fuzz_enc2.len - from < 80 ? fuzz_enc2.len - from : 80),
			(const char *)fuzz_enc2.data + from);
		fuzz_fail("encoding the decoded copy gives different bytes", codec_name(c));
	}
}

static void fuzz_round_trip(const struct sc_record *r)
{
	fuzz_round_trip_with(SC_CODEC_JSON, r);
	fuzz_round_trip_with(SC_CODEC_MSGPACK, r);
}

#endif /* SC_FUZZ_COMMON_H */
