/*
 * error.h - error codes and the caller-owned error detail.
 *
 * Every action returns 0 on success or a negative SC_E* code; the human
 * detail goes into a struct sc_error the caller passes in (like librdkafka's
 * errstr).  Messages name what failed and why, lowercase, no full stop:
 * "kafka: cannot create producer: <library text>".
 */
#ifndef SC_ERROR_H
#define SC_ERROR_H

#include <stddef.h>

enum sc_errcode {
	SC_OK = 0,
	SC_EINVAL = 1,	  /* bad argument or malformed input */
	SC_EIO = 2,	  /* I/O or broker failure */
	SC_ETIMEDOUT = 3, /* an operation did not finish in its bound */
	SC_EAGAIN = 4,	  /* retryable: try again later */
	SC_ENOMEM = 5,	  /* allocation failed */
	SC_ENOTSUP = 6,	  /* not built in or not supported by this backend */
	SC_EOF = 7,	  /* end of input (pipe closed) */
	SC_ETOOBIG = 8,	  /* message larger than the configured limit */
	SC_EAUTH = 9,	  /* authentication or authorisation refused */
	SC_ECONN = 10,	  /* cannot connect to / lost the broker */
	SC_EINTR = 11,	  /* interrupted by a stop request */
	SC_ENOENT = 12,	  /* no such file or object */
};

#define SC_ERRMSG_MAX 512

struct sc_error {
	int code;		 /* positive SC_E* of the last failure, 0 if none */
	char msg[SC_ERRMSG_MAX]; /* one line, no trailing newline */
};

/* Reset err (accepts NULL). */
void sc_error_clear(struct sc_error *err);

/*
 * Record a failure in err (which may be NULL) and return -code, so a
 * caller can write: return sc_error_set(err, SC_EINVAL, "bad %s", what);
 */
int sc_error_set(struct sc_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix the current message: "<prefix>: <old message>"; returns -err->code. */
int sc_error_prefix(struct sc_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Short name of a code, e.g. "invalid input". */
const char *sc_strerror(int code);

/* Map an SC_E* code (positive or negative) to a sysexits(3) exit status. */
int sc_exit_code(int code);

#endif /* SC_ERROR_H */
