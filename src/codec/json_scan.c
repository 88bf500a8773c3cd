/*
 * json_scan.c - the single-pass JSON tokenizer behind the JSON codec's
 * decoder (see json_scan.h).
 *
 * Map:  errors - strings - numbers - literals and values - containers -
 *       key sets - string decoding
 */
#include "json_scan.h"

#include "error.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- errors --------------------------------------------------------------- */

void js_init(struct jscan *s, const void *data, size_t len, const char *prefix,
	     struct sc_error *err)
{
	s->start = s->p = data;
	s->end = s->start + len;
	s->depth = 0;
	s->fatal = false;
	s->prefix = prefix;
	s->err = err;
}

int js_truncated(struct jscan *s, const char *what)
{
	if (s->fatal)
		return -SC_EINVAL;
	s->fatal = true;
	return sc_error_set(s->err, SC_EINVAL, "%struncated input: %s at offset %zu", s->prefix,
			    what, (size_t)(s->end - s->start));
}

int js_malformed(struct jscan *s, const unsigned char *at, const char *what)
{
	const unsigned char *q, *bol = s->start;
	unsigned line = 1;

	if (s->fatal)
		return -SC_EINVAL;
	s->fatal = true;
	for (q = s->start; q < at; q++) {
		if (*q == '\n') {
			line++;
			bol = q + 1;
		}
	}
	return sc_error_set(s->err, SC_EINVAL, "%smalformed json: %s at line %u column %zu",
			    s->prefix, what, line, (size_t)(at - bol) + 1);
}

/* ---- strings ---------------------------------------------------------------- */

/* 1 for bytes a string cannot hold as they are: quote, backslash, controls, non-ASCII. */
static const unsigned char str_special[256] = {
	[0x00 ... 0x1f] = 1,
	['"'] = 1,
	['\\'] = 1,
	[0x80 ... 0xff] = 1,
};

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Four hex digits at q (bounds checked by the caller); -1 when not hex. */
static long hex4(const unsigned char *q)
{
	long v = 0;

	for (int i = 0; i < 4; i++) {
		int h = hexval(q[i]);
		if (h < 0)
			return -1;
		v = v << 4 | h;
	}
	return v;
}

/* One escape after the backslash at q; returns the byte after it or NULL (fatal). */
static const unsigned char *scan_escape(struct jscan *s, const unsigned char *q)
{
	long cp, lo;

	if (q + 1 >= s->end)
		return js_truncated(s, "unterminated string"), NULL;
	switch (q[1]) {
	case '"':
	case '\\':
	case '/':
	case 'b':
	case 'f':
	case 'n':
	case 'r':
	case 't': return q + 2;
	case 'u': break;
	default: return js_malformed(s, q, "invalid escape in string"), NULL;
	}
	if (s->end - q < 6)
		return js_truncated(s, "unterminated string"), NULL;
	if ((cp = hex4(q + 2)) < 0)
		return js_malformed(s, q, "invalid \\u escape in string"), NULL;
	if (cp == 0)
		return js_malformed(s, q, "\\u0000 is not allowed in a string"), NULL;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return js_malformed(s, q, "lone low surrogate in string"), NULL;
	if (cp < 0xd800 || cp > 0xdbff)
		return q + 6;
	/* a high surrogate must be followed by "\\u" and a low one */
	for (int i = 6; i < 8; i++) {
		if (q + i >= s->end)
			return js_truncated(s, "unterminated string"), NULL;
		if (q[i] != "\\u"[i - 6])
			return js_malformed(s, q, "lone high surrogate in string"), NULL;
	}
	if (s->end - q < 12)
		return js_truncated(s, "unterminated string"), NULL;
	if ((lo = hex4(q + 8)) < 0xdc00 || lo > 0xdfff)
		return js_malformed(s, q, "lone high surrogate in string"), NULL;
	return q + 12;
}

/* One UTF-8 sequence starting with a byte >= 0x80 at q; the byte after it or NULL. */
static const unsigned char *scan_utf8(struct jscan *s, const unsigned char *q)
{
	unsigned char c = q[0];
	size_t n;
	uint32_t cp, min;

	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
		min = 0x10000;
	} else {
		return js_malformed(s, q, "invalid utf-8 in string"), NULL;
	}
	if ((size_t)(s->end - q) < n)
		return js_truncated(s, "unterminated string"), NULL;
	for (size_t i = 1; i < n; i++) {
		if ((q[i] & 0xc0) != 0x80)
			return js_malformed(s, q, "invalid utf-8 in string"), NULL;
		cp = cp << 6 | (q[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return js_malformed(s, q, "invalid utf-8 in string"), NULL;
	return q + n;
}

/* The string at s->p (on its quote) into raw span + escape flag. */
static int scan_string(struct jscan *s, const char **raw, size_t *n, bool *esc)
{
	const unsigned char *q = s->p + 1, *begin = q;

	*esc = false;
	for (;;) {
		while (q < s->end && !str_special[*q])
			q++;
		if (q >= s->end)
			return js_truncated(s, "unterminated string");
		if (*q == '"')
			break;
		if (*q == '\\') {
			*esc = true;
			q = scan_escape(s, q);
		} else if (*q < 0x20) {
			return js_malformed(s, q, "control character in string");
		} else {
			q = scan_utf8(s, q);
		}
		if (!q)
			return -SC_EINVAL;
	}
	*raw = (const char *)begin;
	*n = (size_t)(q - begin);
	s->p = q + 1;
	return 0;
}

/* ---- numbers ------------------------------------------------------------------ */

static const double pow10_exact[] = {1e0,  1e1,	 1e2,  1e3,  1e4,  1e5,	 1e6,  1e7,
				     1e8,  1e9,	 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
				     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static bool isdig(const unsigned char *q, const unsigned char *end)
{
	return q < end && *q >= '0' && *q <= '9';
}

/* strtod on a NUL-terminated copy of [a, b). */
static int slow_double(struct jscan *s, const unsigned char *a, const unsigned char *b, double *out)
{
	char stack[128], *tmp = stack;
	size_t n = (size_t)(b - a);

	if (n >= sizeof(stack) && !(tmp = malloc(n + 1))) {
		s->fatal = true;
		return sc_error_set(s->err, SC_ENOMEM, "%sout of memory", s->prefix);
	}
	memcpy(tmp, a, n);
	tmp[n] = '\0';
	*out = strtod(tmp, NULL);
	if (tmp != stack)
		free(tmp);
	if (isinf(*out))
		return js_malformed(s, a, "real number overflow");
	return 0;
}

/*
 * RFC 8259 number at s->p.  Integers (no fraction, no exponent) are kept
 * exact as sign + 64-bit magnitude.  Reals with at most 19 significant
 * digits, a mantissa <= 2^53 and a decimal exponent within +-22 are one
 * correctly rounded IEEE multiplication or division of two exact values
 * (Clinger's fast path); all others go through strtod.
 */
static int scan_number(struct jscan *s, struct jval *v)
{
	const unsigned char *q = s->p, *a = s->p, *end = s->end;
	uint64_t mag = 0, m = 0;
	int sig = 0, scale = 0;
	long e = 0;
	bool neg = false, ovf = false, real = false;

	if (*q == '-') {
		neg = true;
		q++;
	}
	if (q >= end)
		return js_truncated(s, "unterminated number");
	if (*q == '0') {
		q++;
	} else if (*q >= '1' && *q <= '9') {
		for (; isdig(q, end); q++) {
			unsigned d = (unsigned)(*q - '0');
			if (mag > (UINT64_MAX - d) / 10)
				ovf = true;
			else
				mag = mag * 10 + d;
			if (sig < 19)
				m = m * 10 + d;
			else
				scale++;
			sig++;
		}
	} else {
		return js_malformed(s, a, "invalid number");
	}
	if (q < end && *q == '.') {
		real = true;
		if (++q >= end)
			return js_truncated(s, "unterminated number");
		if (!isdig(q, end))
			return js_malformed(s, a, "invalid number");
		for (; isdig(q, end); q++) {
			unsigned d = (unsigned)(*q - '0');
			if (sig == 0 && d == 0) {
				scale--;
				continue;
			}
			if (sig < 19) {
				m = m * 10 + d;
				scale--;
			}
			sig++;
		}
	}
	if (q < end && (*q == 'e' || *q == 'E')) {
		bool eneg = false;
		real = true;
		if (++q < end && (*q == '+' || *q == '-'))
			eneg = *q++ == '-';
		if (q >= end)
			return js_truncated(s, "unterminated number");
		if (!isdig(q, end))
			return js_malformed(s, a, "invalid number");
		for (; isdig(q, end); q++)
			if (e < 100000)
				e = e * 10 + (*q - '0');
		if (eneg)
			e = -e;
	}
	s->p = q;
	v->at = a;
	if (!real) {
		if (ovf || (neg && mag > (uint64_t)INT64_MAX + 1))
			return js_malformed(s, a,
					    neg ? "too big negative integer" : "too big integer");
		v->type = JT_INT;
		v->neg = neg && mag;
		v->mag = mag;
		return 0;
	}
	v->type = JT_REAL;
	if (m == 0) {
		v->d = neg ? -0.0 : 0.0;
		return 0;
	}
	e += scale;
	if (sig <= 19 && m <= (1ull << 53) && e >= -22 && e <= 22) {
		double d = (double)m;
		d = e >= 0 ? d * pow10_exact[e] : d / pow10_exact[-e];
		v->d = neg ? -d : d;
		return 0;
	}
	return slow_double(s, a, q, &v->d);
}

/* ---- literals and values --------------------------------------------------------- */

static int scan_literal(struct jscan *s, const char *lit, size_t n, enum jtype t, struct jval *v)
{
	size_t have = (size_t)(s->end - s->p);

	if (memcmp(s->p, lit, have < n ? have : n) != 0)
		return js_malformed(s, s->p, "invalid literal");
	if (have < n)
		return js_truncated(s, "unterminated literal");
	v->type = t;
	v->at = s->p;
	s->p += n;
	return 0;
}

int js_value(struct jscan *s, struct jval *v)
{
	int c;

	if (s->fatal)
		return -SC_EINVAL;
	c = js_peek(s);
	switch (c) {
	case -1: return js_truncated(s, "value expected");
	case '"':
		v->type = JT_STR;
		v->at = s->p;
		return scan_string(s, &v->s, &v->n, &v->esc);
	case '{':
		v->type = JT_OBJ;
		v->at = s->p;
		return 0;
	case '[':
		v->type = JT_ARR;
		v->at = s->p;
		return 0;
	case 't': return scan_literal(s, "true", 4, JT_TRUE, v);
	case 'f': return scan_literal(s, "false", 5, JT_FALSE, v);
	case 'n': return scan_literal(s, "null", 4, JT_NULL, v);
	default:
		if (c == '-' || (c >= '0' && c <= '9'))
			return scan_number(s, v);
		return js_malformed(s, s->p, "invalid token");
	}
}

int js_skip(struct jscan *s)
{
	struct jval v;
	struct jkeyset ks;
	struct jkey k;
	bool first = true;
	int rc;

	if ((rc = js_value(s, &v)))
		return rc;
	if (v.type == JT_ARR) {
		if ((rc = js_open(s)))
			return rc;
		while ((rc = js_next_elem(s, &first)) == 1)
			if ((rc = js_skip(s)))
				return rc;
		return rc;
	}
	if (v.type != JT_OBJ)
		return 0;
	if ((rc = js_open(s)))
		return rc;
	js_keyset_init(&ks);
	while ((rc = js_next_key(s, &first, &k)) == 1)
		if ((rc = js_keyset_add(s, &ks, &k)) || (rc = js_skip(s)))
			break;
	js_keyset_free(&ks);
	return rc;
}

/* ---- containers ------------------------------------------------------------------- */

int js_open(struct jscan *s)
{
	s->p++;
	if (++s->depth > JS_MAX_DEPTH) {
		s->fatal = true;
		return sc_error_set(s->err, SC_EINVAL, "%snesting deeper than %d levels", s->prefix,
				    JS_MAX_DEPTH);
	}
	return 0;
}

int js_next_key(struct jscan *s, bool *first, struct jkey *k)
{
	int c = js_peek(s), rc;

	if (s->fatal)
		return -SC_EINVAL;
	if (c < 0)
		return js_truncated(s, "unterminated object");
	if (c == '}') {
		s->p++;
		s->depth--;
		return 0;
	}
	if (!*first) {
		if (c != ',')
			return js_malformed(s, s->p, "',' or '}' expected");
		s->p++;
		if ((c = js_peek(s)) < 0)
			return js_truncated(s, "unterminated object");
	}
	*first = false;
	if (c != '"')
		return js_malformed(s, s->p, "string or '}' expected");
	if ((rc = scan_string(s, &k->raw, &k->rawn, &k->esc)))
		return rc;
	k->long_esc = false;
	if (!k->esc) {
		k->s = k->raw;
		k->n = k->rawn;
	} else {
		struct jval tmp = {.type = JT_STR, .esc = true, .s = k->raw, .n = k->rawn};
		k->n = js_str_copy(&tmp, k->buf, sizeof(k->buf));
		k->s = k->buf;
		k->long_esc = k->n >= sizeof(k->buf);
	}
	if ((c = js_peek(s)) < 0)
		return js_truncated(s, "unterminated object");
	if (c != ':')
		return js_malformed(s, s->p, "':' expected");
	s->p++;
	return 1;
}

int js_next_elem(struct jscan *s, bool *first)
{
	int c = js_peek(s);

	if (s->fatal)
		return -SC_EINVAL;
	if (c < 0)
		return js_truncated(s, "unterminated array");
	if (c == ']') {
		s->p++;
		s->depth--;
		return 0;
	}
	if (!*first) {
		if (c != ',')
			return js_malformed(s, s->p, "',' or ']' expected");
		s->p++;
	}
	*first = false;
	return 1;
}

/* ---- key sets ---------------------------------------------------------------------- */

/* Decodes a valid raw string span byte by byte (for escaped keys). */
struct jcur {
	const unsigned char *p, *end;
	unsigned char pend[4];
	int np, ip;
};

static int jcur_next(struct jcur *c)
{
	unsigned char e;
	uint32_t cp;

	if (c->ip < c->np)
		return c->pend[c->ip++];
	if (c->p >= c->end)
		return -1;
	if (*c->p != '\\')
		return *c->p++;
	e = c->p[1];
	c->p += 2;
	switch (e) {
	case 'b': return '\b';
	case 'f': return '\f';
	case 'n': return '\n';
	case 'r': return '\r';
	case 't': return '\t';
	case 'u': break;
	default: return e; /* '"', '\\', '/' */
	}
	cp = (uint32_t)hex4(c->p);
	c->p += 4;
	if (cp >= 0xd800 && cp <= 0xdbff) {
		cp = 0x10000 + ((cp - 0xd800) << 10) + ((uint32_t)hex4(c->p + 2) - 0xdc00);
		c->p += 6;
	}
	c->ip = 1;
	if (cp < 0x80) {
		c->np = 0;
		return (int)cp;
	}
	if (cp < 0x800) {
		c->np = 2;
		c->pend[0] = (unsigned char)(0xc0 | cp >> 6);
		c->pend[1] = (unsigned char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		c->np = 3;
		c->pend[0] = (unsigned char)(0xe0 | cp >> 12);
		c->pend[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		c->pend[2] = (unsigned char)(0x80 | (cp & 0x3f));
	} else {
		c->np = 4;
		c->pend[0] = (unsigned char)(0xf0 | cp >> 18);
		c->pend[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		c->pend[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		c->pend[3] = (unsigned char)(0x80 | (cp & 0x3f));
	}
	return c->pend[0];
}

static void jcur_init(struct jcur *c, const char *raw, size_t n)
{
	c->p = (const unsigned char *)raw;
	c->end = c->p + n;
	c->np = c->ip = 0;
}

static uint32_t key_hash(uint32_t seed, const char *raw, size_t n, bool esc)
{
	uint32_t h = 2166136261u ^ seed;
	struct jcur c;
	int b;

	if (!esc) {
		for (size_t i = 0; i < n; i++)
			h = (h ^ (unsigned char)raw[i]) * 16777619u;
		return h;
	}
	jcur_init(&c, raw, n);
	while ((b = jcur_next(&c)) >= 0)
		h = (h ^ (unsigned)b) * 16777619u;
	return h;
}

static bool key_eq(const struct jkeyent *a, const struct jkeyent *b)
{
	struct jcur ca, cb;
	int x, y;

	if (!a->esc && !b->esc)
		return a->n == b->n && memcmp(a->s, b->s, a->n) == 0;
	jcur_init(&ca, a->s, a->n);
	jcur_init(&cb, b->s, b->n);
	do {
		x = jcur_next(&ca);
		y = jcur_next(&cb);
	} while (x == y && x >= 0);
	return x == y;
}

/* The hash seed: chosen once per process from the clock, the pid and ASLR. */
static _Atomic uint32_t hash_seed;

static uint32_t seed_get(void)
{
	uint32_t s = atomic_load_explicit(&hash_seed, memory_order_relaxed);
	struct timespec ts;

	if (s)
		return s;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	s = (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec * 2654435761u ^ (uint32_t)getpid() << 16 ^
	    (uint32_t)(uintptr_t)&ts;
	s |= 1;
	atomic_store_explicit(&hash_seed, s, memory_order_relaxed);
	return s;
}

void js_keyset_init(struct jkeyset *ks)
{
	ks->seed = seed_get();
	ks->n = 0;
	ks->cap = JS_KEYSET_INLINE;
	ks->ent = ks->inl;
	ks->tab = NULL;
	ks->tabcap = 0;
}

void js_keyset_free(struct jkeyset *ks)
{
	if (ks->ent != ks->inl)
		free(ks->ent);
	free(ks->tab);
	js_keyset_init(ks);
}

static void tab_insert(struct jkeyset *ks, size_t idx)
{
	size_t mask = ks->tabcap - 1, i = ks->ent[idx].hash & mask;

	while (ks->tab[i])
		i = (i + 1) & mask;
	ks->tab[i] = (uint32_t)idx + 1;
}

static int keyset_grow(struct jscan *s, struct jkeyset *ks)
{
	if (ks->n == ks->cap) {
		size_t cap = ks->cap * 2;
		struct jkeyent *e = malloc(cap * sizeof(*e));
		if (!e)
			goto nomem;
		memcpy(e, ks->ent, ks->n * sizeof(*e));
		if (ks->ent != ks->inl)
			free(ks->ent);
		ks->ent = e;
		ks->cap = cap;
	}
	if (ks->n + 1 > JS_KEYSET_INLINE && (ks->n + 1) * 2 > ks->tabcap) {
		size_t cap = ks->tabcap ? ks->tabcap * 2 : 4 * JS_KEYSET_INLINE;
		uint32_t *t = calloc(cap, sizeof(*t));
		if (!t)
			goto nomem;
		free(ks->tab);
		ks->tab = t;
		ks->tabcap = cap;
		for (size_t i = 0; i < ks->n; i++)
			tab_insert(ks, i);
	}
	return 0;
nomem:
	s->fatal = true;
	return sc_error_set(s->err, SC_ENOMEM, "%sout of memory", s->prefix);
}

int js_keyset_add(struct jscan *s, struct jkeyset *ks, const struct jkey *k)
{
	struct jkeyent ne = {.s = k->raw, .n = k->rawn, .esc = k->esc};
	int rc;

	ne.hash = k->esc ? key_hash(ks->seed, k->raw, k->rawn, true)
			 : key_hash(ks->seed, k->s, k->n, false);
	if (!ks->tab) {
		for (size_t i = 0; i < ks->n; i++)
			if (ks->ent[i].hash == ne.hash && key_eq(&ks->ent[i], &ne))
				goto dup;
	} else {
		size_t mask = ks->tabcap - 1;
		for (size_t i = ne.hash & mask; ks->tab[i]; i = (i + 1) & mask) {
			const struct jkeyent *o = &ks->ent[ks->tab[i] - 1];
			if (o->hash == ne.hash && key_eq(o, &ne))
				goto dup;
		}
	}
	if ((rc = keyset_grow(s, ks)))
		return rc;
	ks->ent[ks->n] = ne;
	if (ks->tab)
		tab_insert(ks, ks->n);
	ks->n++;
	return 0;
dup:
	return js_malformed(s, (const unsigned char *)k->raw - 1, "duplicate object key");
}

/* ---- string decoding ------------------------------------------------------------------ */

size_t js_str_copy(const struct jval *v, char *dst, size_t size)
{
	struct jcur c;
	size_t n = 0;
	int b;

	if (!v->esc) {
		size_t k = v->n < size - 1 ? v->n : size - 1;
		memcpy(dst, v->s, k);
		dst[k] = '\0';
		return v->n;
	}
	jcur_init(&c, v->s, v->n);
	while ((b = jcur_next(&c)) >= 0) {
		if (n < size - 1)
			dst[n] = (char)b;
		n++;
	}
	dst[n < size - 1 ? n : size - 1] = '\0';
	return n;
}
