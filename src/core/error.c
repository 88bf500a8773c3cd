/* error.c - see error.h */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

void sc_error_clear(struct sc_error *err)
{
	if (!err)
		return;
	err->code = 0;
	err->msg[0] = '\0';
}

/* Error messages are one line: control characters (a newline quoted from
 * malformed input, say) become spaces. */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

int sc_error_set(struct sc_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (code < 0)
		code = -code;
	if (err) {
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		one_line(err->msg);
	}
	return -code;
}

int sc_error_prefix(struct sc_error *err, const char *fmt, ...)
{
	char old[SC_ERRMSG_MAX];
	size_t n;
	va_list ap;

	if (!err)
		return -SC_EIO;
	memcpy(old, err->msg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	n = strlen(err->msg);
	if (n + 2 < sizeof(err->msg)) {
		memcpy(err->msg + n, ": ", 3);
		strncat(err->msg, old, sizeof(err->msg) - n - 3);
	}
	one_line(err->msg);
	return -(err->code ? err->code : SC_EIO);
}

const char *sc_strerror(int code)
{
	switch (code < 0 ? -code : code) {
	case SC_OK: return "success";
	case SC_EINVAL: return "invalid input";
	case SC_EIO: return "i/o error";
	case SC_ETIMEDOUT: return "timed out";
	case SC_EAGAIN: return "try again";
	case SC_ENOMEM: return "out of memory";
	case SC_ENOTSUP: return "not supported";
	case SC_EOF: return "end of input";
	case SC_ETOOBIG: return "message too large";
	case SC_EAUTH: return "authentication failed";
	case SC_ECONN: return "connection failed";
	case SC_EINTR: return "interrupted";
	case SC_ENOENT: return "not found";
	}
	return "unknown error";
}

int sc_exit_code(int code)
{
	switch (code < 0 ? -code : code) {
	case SC_OK:
	case SC_EOF:
	case SC_EINTR: return 0;
	case SC_EINVAL: return EX_DATAERR;
	case SC_ENOTSUP: return EX_UNAVAILABLE;
	case SC_ECONN: return EX_UNAVAILABLE;
	case SC_EAUTH: return EX_NOPERM;
	case SC_ETIMEDOUT:
	case SC_EAGAIN: return EX_TEMPFAIL;
	case SC_ENOMEM: return EX_OSERR;
	case SC_ETOOBIG: return EX_DATAERR;
	case SC_EIO: return EX_IOERR;
	case SC_ENOENT: return EX_NOINPUT;
	}
	return EX_SOFTWARE;
}
