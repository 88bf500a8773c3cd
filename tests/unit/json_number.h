/*
 * json_number.h - is_json_number(), shared by tests/unit/test_dtoa.c and
 * tests/fuzz/fuzz_dtoa.c: what dtoa_shortest() prints must be a JSON
 * number.
 */
#ifndef SC_TEST_JSON_NUMBER_H
#define SC_TEST_JSON_NUMBER_H

/* True when s is a JSON number (RFC 8259 section 6) and nothing else. */
static inline int is_json_number(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (*s >= '0' && *s <= '9')
			s++;
	else
		return 0;
	if (*s == '.') {
		if (!(*++s >= '0' && *s <= '9'))
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

#endif /* SC_TEST_JSON_NUMBER_H */
