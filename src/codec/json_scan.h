/*
 * json_scan.h - a small single-pass JSON tokenizer over a caller's buffer,
 * used by the JSON codec's schema decoder (codec_json.c).
 *
 * No DOM and no allocation on the common path: values are scanned in place,
 * strings are kept as spans of the input (decoded on demand with
 * js_str_copy), numbers are converted while scanned (integers exact to 64
 * bits, doubles correctly rounded: an exact fast path for short decimals,
 * strtod on a bounded copy otherwise).  Everything RFC 8259 refuses is
 * refused, plus what jansson refused for us: duplicate object keys, "\u0000"
 * in strings, numbers that overflow.  Nesting is limited to JS_MAX_DEPTH.
 *
 * Errors: a syntax problem is "fatal": the first one is written to the
 * scanner's err as one line ("<prefix>truncated input: ... at offset N",
 * "<prefix>malformed json: ... at line L column C"), s->fatal is set and
 * every call returns -SC_EINVAL from then on.
 *
 * Ownership: the scanner points into the caller's buffer, which must outlive
 * it; js_keyset_free releases what a large object's key set allocated.
 */
#ifndef SC_JSON_SCAN_H
#define SC_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sc_error;

#define JS_MAX_DEPTH 64

struct jscan {
	const unsigned char *start, *p, *end;
	int depth;
	bool fatal;
	const char *prefix; /* "json: " or "" */
	struct sc_error *err;
};

enum jtype {
	JT_NONE = 0, /* absent */
	JT_NULL,
	JT_FALSE,
	JT_TRUE,
	JT_INT,
	JT_REAL,
	JT_STR,
	JT_OBJ, /* not consumed: the scanner stands on '{' */
	JT_ARR, /* not consumed: the scanner stands on '[' */
};

struct jval {
	enum jtype type;
	bool neg;		 /* JT_INT: negative */
	bool esc;		 /* JT_STR: has backslash escapes */
	uint64_t mag;		 /* JT_INT: magnitude (<= 2^63 when neg) */
	double d;		 /* JT_REAL */
	const char *s;		 /* JT_STR: raw bytes between the quotes */
	size_t n;		 /* JT_STR: raw length */
	const unsigned char *at; /* where the value starts (JT_OBJ/JT_ARR: its opener) */
};

/* An object key: decoded into buf when it fits, else only its raw span. */
#define JS_KEY_BUF 64
struct jkey {
	const char *raw; /* bytes between the quotes */
	size_t rawn;
	bool esc;      /* raw has backslash escapes */
	bool long_esc; /* escaped and too long for buf: s/n are not usable */
	const char *s; /* the decoded key (raw itself when not escaped) */
	size_t n;
	char buf[JS_KEY_BUF];
};

/* Keys seen in one object, to refuse duplicates. */
#define JS_KEYSET_INLINE 16
struct jkeyent {
	const char *s;
	size_t n;
	bool esc;
	uint32_t hash;
};
struct jkeyset {
	uint32_t seed; /* per process, so colliding keys cannot be prepared (as jansson's) */
	size_t n, cap;
	struct jkeyent *ent; /* points at inl until it grows */
	uint32_t *tab;	     /* hash index once n > JS_KEYSET_INLINE; tabcap slots */
	size_t tabcap;
	struct jkeyent inl[JS_KEYSET_INLINE];
};

void js_init(struct jscan *s, const void *data, size_t len, const char *prefix,
	     struct sc_error *err);

/* Fatal errors: set err once, return -SC_EINVAL. */
int js_truncated(struct jscan *s, const char *what);
int js_malformed(struct jscan *s, const unsigned char *at, const char *what);

/* Skip whitespace; the next byte or -1 at the end. */
static inline int js_peek(struct jscan *s)
{
	while (s->p < s->end) {
		unsigned char c = *s->p;
		if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
			return c;
		s->p++;
	}
	return -1;
}

/* Scan the next value: scalars are consumed, containers are not.  0 or fatal. */
int js_value(struct jscan *s, struct jval *v);
/* Consume the next value whatever it is, validating it.  0 or fatal. */
int js_skip(struct jscan *s);

/* Consume '{' / '[' (caller checked it is there); counts depth. */
int js_open(struct jscan *s);
/*
 * Next member of an object: 1 with the key read and ':' consumed, 0 when
 * the object closed (consumes '}'), or fatal.  *first starts true.
 */
int js_next_key(struct jscan *s, bool *first, struct jkey *k);
/* Next element of an array: 1 when one follows, 0 when closed (consumes ']'), or fatal. */
int js_next_elem(struct jscan *s, bool *first);

static inline bool js_key_is(const struct jkey *k, const char *lit, size_t n)
{
	return k->n == n && !k->long_esc && __builtin_memcmp(k->s, lit, n) == 0;
}

void js_keyset_init(struct jkeyset *ks);
/* Add k; fatal "duplicate object key" when already there, -SC_ENOMEM on allocation failure. */
int js_keyset_add(struct jscan *s, struct jkeyset *ks, const struct jkey *k);
void js_keyset_free(struct jkeyset *ks);

/*
 * Decode the string v into dst (size > 0, always terminated, truncated to
 * fit); returns the full decoded length, like strlcpy.
 */
size_t js_str_copy(const struct jval *v, char *dst, size_t size);

#endif /* SC_JSON_SCAN_H */
