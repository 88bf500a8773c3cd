/*
 * fuzz_pipe_frames.c - libFuzzer target for the pipe transport's reader.
 *
 * Input: one control byte, then the byte stream the reader sees.  The
 * control byte picks how the stream is written into a pipe(2) (chunk size,
 * so frames and headers straddle reads at different places) and, with its
 * high bit, a small frame size limit (64 bytes) instead of streamctl's
 * default --max-msg-bytes (1 MiB).
 *
 * The stream is written in non-blocking chunks; after each chunk the reader
 * is polled (timeout 0) until it has nothing more; then the write end is
 * closed and the reader is polled until -SC_EOF.  Checked on every poll:
 *  - the result is 1, 0 or -SC_EOF (never an error, never EOF early);
 *  - a frame has a known stream and a length within the limit, and a
 *    malformed message is flagged, non-empty and says why;
 *  - every input byte comes out exactly once and in order: each frame's
 *    header and payload, and each malformed message's bytes, match the
 *    input at the current offset, and at EOF the offset is the input size;
 *  - the reader makes progress (bounded number of empty polls).
 * Seeds: tests/fuzz/corpus/pipe_frames/.
 */
#include "error.h"
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HDR 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct feed {
	const uint8_t *data;
	size_t size;
	size_t off;   /* input bytes accounted for by polled messages */
	size_t limit; /* frame size limit in force */
};

static void fail(const char *what, const struct feed *f, const char *detail)
{
	fprintf(stderr, "fuzz_pipe_frames: %s at offset %zu of %zu: %s\n", what, f->off, f->size,
		detail ? detail : "");
	abort();
}

/* Check one polled message against the input and advance the offset. */
static void check_msg(struct feed *f, const struct sc_msg *m)
{
	unsigned char hdr[HDR];

	if (m->flags & SC_MSG_MALFORMED) {
		if (!m->error || !m->error[0])
			fail("malformed message without a reason", f, NULL);
		if (m->len == 0 || m->len > f->size - f->off)
			fail("malformed message of impossible length", f, m->error);
		if (memcmp(m->payload, f->data + f->off, m->len))
			fail("malformed message is not the input bytes", f, m->error);
		f->off += m->len;
		return;
	}
	if (m->flags)
		fail("unexpected flags on a frame", f, NULL);
	if ((unsigned int)m->stream >= SC_STREAM__COUNT)
		fail("frame on an unknown stream", f, NULL);
	if (m->len > f->limit)
		fail("frame over the limit handed out unflagged", f, NULL);
	if (HDR + m->len > f->size - f->off)
		fail("frame longer than the input left", f, NULL);
	hdr[0] = 'S';
	hdr[1] = 'C';
	hdr[2] = (unsigned char)m->stream;
	hdr[3] = 0;
	hdr[4] = (unsigned char)(m->len >> 24);
	hdr[5] = (unsigned char)(m->len >> 16);
	hdr[6] = (unsigned char)(m->len >> 8);
	hdr[7] = (unsigned char)m->len;
	if (memcmp(hdr, f->data + f->off, HDR))
		fail("frame header is not the input's", f, NULL);
	if (m->len && memcmp(m->payload, f->data + f->off + HDR, m->len))
		fail("frame payload is not the input's", f, NULL);
	f->off += HDR + m->len;
}

/* Poll until the reader has nothing (0) or the input ended (-SC_EOF). */
static int drain(struct transport *t, struct feed *f, bool writer_open)
{
	struct sc_error err = {0};
	struct sc_msg m;
	int rc;

	for (size_t polls = 0;; polls++) {
		if (polls > f->size + 16)
			fail("reader makes no progress", f, NULL);
		rc = transport_poll(t, &m, 0, &err);
		if (rc == 1) {
			check_msg(f, &m);
			transport_msg_release(t, &m);
			continue;
		}
		if (rc == 0 || rc == -SC_EOF)
			break;
		fail("poll returned an error", f, err.msg);
	}
	if (rc == -SC_EOF && writer_open)
		fail("end of input while the writer is still open", f, NULL);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t chunks[8] = {1, 2, 3, 7, 8, 9, 4096, 65536};
	struct transport_cfg cfg = {.ns = "fuzz", .role = "process"};
	/* -X in.fd is set below, once the pipe exists */
	static char in_fd[16];
	struct sc_kv fds_kv[] = {{"in.fd", in_fd}, {"out.fd", "-1"}};
	struct sc_error err = {0};
	struct transport *t = NULL;
	struct feed f;
	size_t chunk, pos = 0;
	int fds[2], rc, zeros = 0, stuck = 0;

	if (size < 1)
		return 0;
	f.data = data + 1;
	f.size = size - 1;
	f.off = 0;
	chunk = chunks[data[0] & 7];
	if (chunk < f.size / 64)
		chunk = f.size / 64; /* at most ~64 writes per input: syscalls are the cost */
	cfg.max_msg_bytes = (data[0] & 0x80) ? 64 : 1024 * 1024; /* or streamctl's default */
	f.limit = cfg.max_msg_bytes;

	if (pipe2(fds, O_CLOEXEC))
		abort();
	if (fcntl(fds[1], F_SETFL, O_NONBLOCK))
		abort();
	cfg.inputs = SC_STREAM_BIT(SC_STREAM_RAW_CPU) | SC_STREAM_BIT(SC_STREAM_RAW_SENSOR);
	snprintf(in_fd, sizeof(in_fd), "%d", fds[0]);
	cfg.props = fds_kv;
	cfg.nprops = 2;
	if (transport_open("pipe", &cfg, &t, &err))
		fail("cannot open the pipe transport", &f, err.msg);

	while (pos < f.size) {
		size_t n = f.size - pos < chunk ? f.size - pos : chunk;
		size_t before = f.off;
		ssize_t w = write(fds[1], f.data + pos, n);
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			abort();
		if (w > 0)
			pos += (size_t)w;
		drain(t, &f, true);
		stuck = (w <= 0 && f.off == before) ? stuck + 1 : 0;
		if (stuck > 16)
			fail("the pipe is full and the reader does not read it", &f, NULL);
	}
	close(fds[1]);
	for (;;) {
		rc = drain(t, &f, false);
		if (rc == -SC_EOF)
			break;
		if (++zeros > 16)
			fail("no end of input after the writer closed", &f, NULL);
	}
	if (f.off != f.size)
		fail("end of input before every byte came out", &f, NULL);
	if (drain(t, &f, false) != -SC_EOF)
		fail("poll after end of input is not -SC_EOF", &f, NULL);
	transport_close(t);
	close(fds[0]);
	return 0;
}
