/*
 * codec_internal.h - helpers shared by codec.c, codec_json.c and
 * codec_msgpack.c.  Do not include this outside the codec files.
 */
#ifndef SC_CODEC_INTERNAL_H
#define SC_CODEC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

struct sc_error;

/*
 * Where a field sits, kept as parts and formatted only when there is an
 * error to report: "<base><arr>[<idx>].<sub>.<field>", e.g.
 * "body.payload[2].values.x".  Any of arr, sub and field may be NULL.
 */
struct codec_path {
	const char *codec; /* "json: ", "msgpack: " or "" */
	const char *base;  /* "body." or "" */
	const char *arr;   /* "payload", "features", "cores" or NULL */
	long idx;
	const char *sub; /* "values" or NULL */
};

/* Set err to "<codec>field '<path>': <why>"; returns -SC_EINVAL. */
int codec_field_error(struct sc_error *err, const struct codec_path *p, const char *field,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* True when s[0..n) is valid UTF-8 without NUL bytes. */
bool codec_utf8_valid(const char *s, size_t n);

#endif /* SC_CODEC_INTERNAL_H */
