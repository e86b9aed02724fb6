/* Shared helpers of the libFuzzer harnesses; see fuzz.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static const char fuzz_b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int fuzz_b64_value(char);
static int fuzz_lower(int);

/* Report a broken property and stop with a crash libFuzzer records. */
void
fuzz_fail(const char *file, int line, const char *cond, const char *what)
{
	fprintf(stderr, "\n%s:%d: property failed: %s\n    check: %s\n", file,
	    line, what, cond);
	fflush(stderr);
	abort();
}

/* An exact-size heap copy, so ASan sees any read past the end. */
uint8_t *
fuzz_dup(const void *data, size_t len)
{
	uint8_t *p;

	if ((p = malloc(len > 0 ? len : 1)) == NULL)
		abort();
	if (len > 0)
		memcpy(p, data, len);
	return p;
}

/* An exact-size heap buffer of junk. */
uint8_t *
fuzz_alloc(size_t len)
{
	uint8_t *p;

	if ((p = malloc(len > 0 ? len : 1)) == NULL)
		abort();
	memset(p, 0xa5, len > 0 ? len : 1);
	return p;
}

/* An exact-size NUL-terminated heap copy. */
char *
fuzz_strndup(const void *data, size_t len)
{
	char *p;

	if ((p = malloc(len + 1)) == NULL)
		abort();
	if (len > 0)
		memcpy(p, data, len);
	p[len] = '\0';
	return p;
}

/* tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
 * "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
int
fuzz_is_tchar(unsigned char c)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";
	size_t		  i;

	if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
	    (c >= 'a' && c <= 'z'))
		return 1;
	for (i = 0; i < sizeof(extra) - 1; i++)
		if (c == (unsigned char)extra[i])
			return 1;
	return 0;
}

/* ASCII lower case, any other byte unchanged (no locale). */
static int
fuzz_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* Equal ignoring ASCII case. */
int
fuzz_case_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i;

	if (alen != blen)
		return 0;
	for (i = 0; i < alen; i++)
		if (fuzz_lower((unsigned char)a[i]) !=
		    fuzz_lower((unsigned char)b[i]))
			return 0;
	return 1;
}

/* Walk the list element by element, trimming blanks on both sides. */
int
fuzz_list_has(const char *list, size_t len, const char *token, int nocase)
{
	size_t start = 0, end, a, b, tlen = strlen(token);

	while (start <= len) {
		for (end = start; end < len && list[end] != ','; end++)
			;
		a = start;
		b = end;
		while (a < b && (list[a] == ' ' || list[a] == '\t'))
			a++;
		while (b > a && (list[b - 1] == ' ' || list[b - 1] == '\t'))
			b--;
		if (b - a == tlen && tlen > 0 &&
		    (nocase ? fuzz_case_equal(list + a, b - a, token, tlen) :
			      memcmp(list + a, token, tlen) == 0))
			return 1;
		start = end + 1;
	}
	return 0;
}

/* Three bytes to four characters, '=' padding the last group. */
size_t
fuzz_b64_encode(const uint8_t *in, size_t len, char *out)
{
	size_t	 i, o = 0;
	uint32_t v;

	for (i = 0; i < len; i += 3) {
		v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[o++] = fuzz_b64_alphabet[v >> 18 & 63];
		out[o++] = fuzz_b64_alphabet[v >> 12 & 63];
		out[o++] = i + 1 < len ? fuzz_b64_alphabet[v >> 6 & 63] : '=';
		out[o++] = i + 2 < len ? fuzz_b64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return o;
}

/* The 6-bit value of a base64 character, or -1. */
static int
fuzz_b64_value(char c)
{
	const char *p;

	if (c == '\0' || (p = strchr(fuzz_b64_alphabet, c)) == NULL)
		return -1;
	return (int)(p - fuzz_b64_alphabet);
}

/* Strict layout, lenient about the unused low bits of the last group. */
long
fuzz_b64_decode(const char *in, size_t len, uint8_t *out)
{
	size_t	 i, k, o = 0, pad = 0;
	uint32_t v;
	int	 d;

	if (len % 4 != 0)
		return -1;
	if (len > 0 && in[len - 1] == '=')
		pad = len > 1 && in[len - 2] == '=' ? 2 : 1;
	for (i = 0; i < len; i += 4) {
		v = 0;
		for (k = 0; k < 4; k++) {
			if (i + k >= len - pad) {
				v <<= 6;
				continue;
			}
			if ((d = fuzz_b64_value(in[i + k])) < 0)
				return -1;
			v = v << 6 | (uint32_t)d;
		}
		out[o++] = (uint8_t)(v >> 16);
		out[o++] = (uint8_t)(v >> 8);
		out[o++] = (uint8_t)v;
	}
	return (long)(o - pad);
}
