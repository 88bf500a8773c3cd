/*
 * pipe.c - the `pipe` transport: length-prefixed frames on stdin/stdout.
 *
 * Pipes and filters with no broker:
 *   streamctl generate | streamctl process | streamctl sink --db=out.db
 *
 * Frame: 'S' 'C' <stream:u8> <flags:u8 = 0> <length:u32 big-endian> <payload>.
 * A reader that meets bytes that are not a valid header (bad magic, unknown
 * stream, length over the limit) hands them out as one SC_MSG_MALFORMED
 * message naming the problem, then scans forward to the next valid header,
 * so one corrupt frame costs one dead letter, not the stream.  EOF ends the
 * input cleanly (a truncated last frame is reported as malformed first).
 *
 * Writes are buffered (64 KiB) and leave on flush() or when the buffer is
 * full; flush() means "written to the pipe", not "stored": the pipe has no
 * delivery confirmation, no commit and no replay, which is what its caps say.
 *
 * The descriptors are options (-X in.fd, -X out.fd; -1: none) rather than
 * shared settings, because no other backend has them; tests and a shell
 * (`3>file -X out.fd=3`) point them elsewhere.
 */
#include "transport.h"
#include "error.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PIPE_HDR	 8
#define PIPE_WBUF	 (64 * 1024)
#define PIPE_RBUF	 (256 * 1024)
#define PIPE_DEFAULT_MAX (16u * 1024 * 1024)

struct pipe_priv {
	int in_fd, out_fd;
	size_t max;
	/* writer */
	unsigned char *wbuf;
	size_t wlen;
	/* reader: bytes [rpos, rlen) of rbuf are unread */
	unsigned char *rbuf;
	size_t rcap, rpos, rlen;
	bool eof;
	char errmsg[160];
};

static int pipe_open(struct transport *t, const struct transport_cfg *cfg, struct sc_error *err)
{
	struct pipe_priv *p = t->priv;
	long in_fd = -1, out_fd = -1;
	int rc = transport_opt_long(t->ops, cfg, "in.fd", &in_fd, err);

	if (!rc)
		rc = transport_opt_long(t->ops, cfg, "out.fd", &out_fd, err);
	if (rc)
		return rc;
	p->in_fd = (int)in_fd;
	p->out_fd = (int)out_fd;
	p->max = cfg->max_msg_bytes ? cfg->max_msg_bytes : PIPE_DEFAULT_MAX;
	if (cfg->broker && *cfg->broker && strncmp(cfg->broker, "pipe:", 5) != 0)
		return sc_error_set(err, SC_EINVAL, "pipe: takes no broker (got '%s')",
				    cfg->broker);
	if (cfg->inputs) {
		p->rcap = PIPE_RBUF;
		p->rbuf = malloc(p->rcap);
		if (!p->rbuf)
			return sc_error_set(err, SC_ENOMEM, "pipe: out of memory");
	}
	if (!cfg->inputs || p->out_fd >= 0) {
		if (p->out_fd >= 0 && isatty(p->out_fd) && !cfg->inputs)
			return sc_error_set(err, SC_EINVAL,
					    "pipe: refusing to write binary frames to a terminal; "
					    "pipe the output into another streamctl role");
		p->wbuf = malloc(PIPE_WBUF);
		if (!p->wbuf)
			return sc_error_set(err, SC_ENOMEM, "pipe: out of memory");
	}
	return 0;
}

static int write_all(struct pipe_priv *p, const unsigned char *buf, size_t len,
		     struct sc_error *err)
{
	while (len) {
		ssize_t n = write(p->out_fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE)
				return sc_error_set(err, SC_EIO,
						    "pipe: downstream closed the pipe");
			return sc_error_set(err, SC_EIO, "pipe: write failed: %s", strerror(errno));
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int pipe_flush(struct transport *t, int timeout_ms, struct sc_error *err)
{
	struct pipe_priv *p = t->priv;
	int rc;

	(void)timeout_ms;
	if (!p->wlen)
		return 0;
	rc = write_all(p, p->wbuf, p->wlen, err);
	p->wlen = 0;
	return rc;
}

static int pipe_publish(struct transport *t, const struct sc_msg *m, struct sc_error *err)
{
	struct pipe_priv *p = t->priv;
	unsigned char hdr[PIPE_HDR];
	int rc;

	if (!p->wbuf)
		return sc_error_set(err, SC_EINVAL, "pipe: no output");
	if (m->len > p->max || m->len > UINT32_MAX)
		return sc_error_set(err, SC_ETOOBIG, "pipe: frame of %zu bytes exceeds %zu", m->len,
				    p->max);
	hdr[0] = 'S';
	hdr[1] = 'C';
	hdr[2] = (unsigned char)m->stream;
	hdr[3] = 0;
	hdr[4] = (unsigned char)(m->len >> 24);
	hdr[5] = (unsigned char)(m->len >> 16);
	hdr[6] = (unsigned char)(m->len >> 8);
	hdr[7] = (unsigned char)m->len;
	if (p->wlen + PIPE_HDR + m->len > PIPE_WBUF) {
		rc = pipe_flush(t, 0, err);
		if (rc)
			return rc;
	}
	if (PIPE_HDR + m->len > PIPE_WBUF) {
		rc = write_all(p, hdr, PIPE_HDR, err);
		return rc ? rc : write_all(p, m->payload, m->len, err);
	}
	memcpy(p->wbuf + p->wlen, hdr, PIPE_HDR);
	memcpy(p->wbuf + p->wlen + PIPE_HDR, m->payload, m->len);
	p->wlen += PIPE_HDR + m->len;
	return 0;
}

static size_t frame_len(const unsigned char *h)
{
	return ((size_t)h[4] << 24) | ((size_t)h[5] << 16) | ((size_t)h[6] << 8) | h[7];
}

/* Is there a plausible header at h (with at least PIPE_HDR bytes)? */
static bool header_ok(const struct pipe_priv *p, const unsigned char *h)
{
	return h[0] == 'S' && h[1] == 'C' && h[2] < SC_STREAM__COUNT && h[3] == 0 &&
	       frame_len(h) <= p->max;
}

/* Read more input into rbuf, waiting at most timeout_ms; 1 got bytes, 0 timeout, <0 error. */
static int fill(struct pipe_priv *p, size_t need, int timeout_ms, struct sc_error *err)
{
	struct pollfd pfd = {.fd = p->in_fd, .events = POLLIN};
	ssize_t n;
	int rc;

	if (p->rpos > 0 && (p->rcap - p->rlen < need || p->rpos == p->rlen)) {
		memmove(p->rbuf, p->rbuf + p->rpos, p->rlen - p->rpos);
		p->rlen -= p->rpos;
		p->rpos = 0;
	}
	if (p->rcap - p->rpos < need) {
		size_t ncap = p->rcap;
		unsigned char *nb;
		while (ncap - p->rpos < need)
			ncap *= 2;
		nb = realloc(p->rbuf, ncap);
		if (!nb)
			return sc_error_set(err, SC_ENOMEM, "pipe: out of memory");
		p->rbuf = nb;
		p->rcap = ncap;
	}
	rc = poll(&pfd, 1, timeout_ms);
	if (rc < 0)
		return errno == EINTR
			       ? 0
			       : sc_error_set(err, SC_EIO, "pipe: poll: %s", strerror(errno));
	if (rc == 0)
		return 0;
	n = read(p->in_fd, p->rbuf + p->rlen, p->rcap - p->rlen);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN
			       ? 0
			       : sc_error_set(err, SC_EIO, "pipe: read failed: %s",
					      strerror(errno));
	if (n == 0)
		p->eof = true;
	p->rlen += (size_t)n;
	return 1;
}

static void malformed(struct pipe_priv *p, struct sc_msg *out, size_t skip, const char *why)
{
	snprintf(p->errmsg, sizeof(p->errmsg), "pipe: %s (%zu bytes skipped)", why, skip);
	out->stream = SC_STREAM_EXTERNAL;
	out->payload = p->rbuf + p->rpos;
	out->len = skip;
	out->flags = SC_MSG_MALFORMED;
	out->error = p->errmsg;
	p->rpos += skip;
}

/* Bytes from rpos to the next plausible header (or all but a possible partial one). */
static size_t resync_distance(const struct pipe_priv *p)
{
	size_t avail = p->rlen - p->rpos;

	for (size_t i = 1; i + PIPE_HDR <= avail; i++)
		if (header_ok(p, p->rbuf + p->rpos + i))
			return i;
	if (p->eof)
		return avail;
	return avail > PIPE_HDR ? avail - PIPE_HDR + 1 : 0;
}

static int pipe_poll(struct transport *t, struct sc_msg *out, int timeout_ms, struct sc_error *err)
{
	struct pipe_priv *p = t->priv;
	int64_t deadline = sc_mono_ns() + (int64_t)timeout_ms * 1000000;

	for (;;) {
		size_t avail = p->rlen - p->rpos;
		int wait, rc;

		if (avail >= PIPE_HDR) {
			const unsigned char *h = p->rbuf + p->rpos;
			if (!header_ok(p, h)) {
				size_t skip = resync_distance(p);
				if (skip) {
					const char *why = (h[0] == 'S' && h[1] == 'C' &&
							   frame_len(h) > p->max)
								  ? "frame length over the limit"
								  : "bad frame header";
					malformed(p, out, skip, why);
					return 1;
				}
			} else if (avail >= PIPE_HDR + frame_len(h)) {
				out->stream = (enum sc_stream)h[2];
				out->payload = h + PIPE_HDR;
				out->len = frame_len(h);
				p->rpos += PIPE_HDR + out->len;
				return 1;
			}
		}
		if (p->eof) {
			if (avail) {
				malformed(p, out, avail, "truncated frame at end of input");
				return 1;
			}
			return -SC_EOF;
		}
		if (sc_stop_requested())
			return -SC_EINTR;
		wait = (int)((deadline - sc_mono_ns()) / 1000000);
		if (wait < 0)
			wait = 0;
		rc = fill(p,
			  avail >= PIPE_HDR && header_ok(p, p->rbuf + p->rpos)
				  ? PIPE_HDR + frame_len(p->rbuf + p->rpos)
				  : 4096,
			  wait, err);
		if (rc < 0)
			return rc;
		if (rc == 0 && wait == 0)
			return 0;
	}
}

static void pipe_release(struct transport *t, struct sc_msg *m)
{
	(void)t;
	(void)m; /* payload points into the read buffer, valid until the next poll */
}

static void pipe_close(struct transport *t)
{
	struct pipe_priv *p = t->priv;

	if (!p)
		return;
	if (p->wbuf && p->wlen)
		pipe_flush(t, 0, NULL);
	free(p->wbuf);
	free(p->rbuf);
	p->wbuf = NULL;
	p->rbuf = NULL;
}

static const struct transport_opt pipe_opts[] = {
	{"in.fd", TRANSPORT_OPT_LONG, "0", -1, INT_MAX,
	 "descriptor frames are read from (-1: none)"},
	{"out.fd", TRANSPORT_OPT_LONG, "1", -1, INT_MAX,
	 "descriptor frames are written to (-1: none)"},
	{NULL},
};

const struct transport_ops transport_pipe = {
	.name = "pipe",
	.summary = "length-prefixed frames on stdin/stdout, no broker (pipes and filters)",
	.caps = TRANSPORT_CAP_PUBLISH | TRANSPORT_CAP_CONSUME,
	.priv_size = sizeof(struct pipe_priv),
	.opts = pipe_opts,
	.open = pipe_open,
	.publish = pipe_publish,
	.poll = pipe_poll,
	.flush = pipe_flush,
	.release = pipe_release,
	.close = pipe_close,
};
