/*
 * libFuzzer harness for web_path_normalize (src/web.c) and the
 * percent-decoder under it (http_percent_decode, src/http.c).  A path
 * that passes is relative, has no "..", no "//", no NUL and no segment
 * starting with '.', and is what a reference decoder written from web.h
 * gives; normalising it again (re-encoded) gives it back; the room it
 * needs is exactly its length plus one.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "web.h"
#include "fuzz.h"

/* Room for the decoded path: web_respond's own (PATH_MAX). */
#define FUZZ_WEB_OUT PATH_MAX

/* Most input bytes handed to http_percent_decode directly. */
#define FUZZ_WEB_PCT_MAX 512

static int  fuzz_web_hex(int);
static int  fuzz_web_pct_ref(const char *, size_t, char *, size_t, size_t *,
     int);
static int  fuzz_web_ref(const char *, size_t, char *, size_t, int *);
static void fuzz_web_check_out(const char *, size_t);
static void fuzz_web_again(const char *, int);
static void fuzz_web_room(const char *, size_t, const char *);
static void fuzz_web_pct(const uint8_t *, size_t);

/* Value of a hex digit, or -1. */
static int
fuzz_web_hex(int c)
{
	static const char digits[] = "0123456789abcdef";
	const char	 *p;

	if (c >= 'A' && c <= 'F')
		c += 'a' - 'A';
	if (c == 0 || (p = strchr(digits, c)) == NULL)
		return -1;
	return (int)(p - digits);
}

/*
 * RFC 3986 2.1 decoding of s[0..len) appended to out at *o, as http.h
 * words it: at the first problem in s order, -1 a '%' without two hex
 * digits, -3 a NUL byte, -2 no room left for the byte and a NUL in
 * outlen; plus: '+' becomes a space.  0 when all of s went in.
 */
static int
fuzz_web_pct_ref(const char *s, size_t len, char *out, size_t outlen,
    size_t *o, int plus)
{
	size_t i;
	int    c, hi, lo;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == '%') {
			if (len - i < 3 || (hi = fuzz_web_hex(s[i + 1])) < 0 ||
			    (lo = fuzz_web_hex(s[i + 2])) < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		} else if (plus && c == '+')
			c = ' ';
		if (c == 0)
			return -3;
		if (*o + 1 >= outlen)
			return -2;
		out[(*o)++] = (char)c;
	}
	return 0;
}

/* What web.h says web_path_normalize gives: the query and fragment
 * dropped; 400 unless it starts with '/'; the segments between literal
 * '/' decoded one by one, empty ones dropped; 400 for a bad escape, 404
 * for %00, a '.' first or a '/' inside a decoded segment, or no room. */
static int
fuzz_web_ref(const char *path, size_t len, char *out, size_t outlen,
    int *dir_slash)
{
	size_t end, a, b, o = 0, seg;
	int    r;

	for (end = 0; end < len && path[end] != '?' && path[end] != '#'; end++)
		;
	*dir_slash = 0;
	if (end == 0 || path[0] != '/')
		return 400;
	if (outlen == 0)
		return 404;
	*dir_slash = path[end - 1] == '/';
	for (a = 1; a < end; a = b + 1) {
		for (b = a; b < end && path[b] != '/'; b++)
			;
		if (b == a)
			continue;
		if (o > 0) {
			if (o + 1 >= outlen)
				return 404;
			out[o++] = '/';
		}
		seg = o;
		if ((r = fuzz_web_pct_ref(path + a, b - a, out, outlen, &o,
			 0)) != 0)
			return r == -1 ? 400 : 404;
		if (out[seg] == '.' || memchr(out + seg, '/', o - seg) != NULL)
			return 404;
	}
	out[o] = '\0';
	return 0;
}

/* A path that passed: relative, no "//", no NUL before its end, no
 * segment starting with '.' (so no "." or ".." segment; "a..b" is a
 * name like any other). */
static void
fuzz_web_check_out(const char *out, size_t len)
{
	size_t i;

	FUZZ_CHECK(strlen(out) == len, "no NUL inside the path");
	if (len == 0)
		return;
	FUZZ_CHECK(out[0] != '/' && out[len - 1] != '/',
	    "relative, no trailing slash");
	FUZZ_CHECK(strstr(out, "//") == NULL, "no empty segment");
	for (i = 0; i < len; i++)
		if (i == 0 || out[i - 1] == '/')
			FUZZ_CHECK(out[i] != '.',
			    "no segment starts with '.'");
}

/* Normalising the result again, every byte but '/' percent-encoded,
 * gives it back: it was decoded once and only once. */
static void
fuzz_web_again(const char *out, int dir_slash)
{
	size_t len = strlen(out), i, n = 0;
	char  *enc, *again;
	int    ds, r;

	enc = (char *)fuzz_alloc(3 * len + 3);
	enc[n++] = '/';
	for (i = 0; i < len; i++) {
		if (out[i] == '/')
			enc[n++] = '/';
		else
			n += (size_t)snprintf(enc + n, 4, "%%%02x",
			    (unsigned char)out[i]);
	}
	if (dir_slash && len > 0)
		enc[n++] = '/';
	again = (char *)fuzz_alloc(len + 1);
	r = web_path_normalize(enc, n, again, len + 1, &ds);
	FUZZ_CHECK(r == 0 && strcmp(again, out) == 0 &&
		ds == (dir_slash || len == 0),
	    "normalising the encoded result gives it back");
	free(again);
	free(enc);
}

/* The room a path needs is its length plus the NUL: one byte less is
 * 404 (no file can have that name), never a cut path. */
static void
fuzz_web_room(const char *path, size_t len, const char *want)
{
	size_t need = strlen(want) + 1;
	char  *out;
	int    ds, r;

	out = (char *)fuzz_alloc(need);
	r = web_path_normalize(path, len, out, need, &ds);
	FUZZ_CHECK(r == 0 && strcmp(out, want) == 0, "exact room is enough");
	free(out);
	out = (char *)fuzz_alloc(need - 1);
	r = web_path_normalize(path, len, out, need - 1, &ds);
	FUZZ_CHECK(r == 404, "one byte short is 404");
	free(out);
}

/* http_percent_decode on raw bytes, with a room and a flag the first
 * byte picks: the reference's answer, dst always NUL-terminated, and a
 * decoded value encoded again decodes the same. */
static void
fuzz_web_pct(const uint8_t *data, size_t size)
{
	const char *src = (const char *)data + 1;
	size_t	    len, dstlen, o = 0, i, n = 0;
	char	   *dst, *ref, *enc;
	int	    flags, r, rr;

	if (size < 1)
		return;
	flags = data[0] & 1 ? HTTP_PCT_PLUS : 0;
	len = size - 1 < FUZZ_WEB_PCT_MAX ? size - 1 : FUZZ_WEB_PCT_MAX;
	dstlen = data[0] & 2 ? len + 1 : (size_t)(data[0] >> 2) % (len + 2);
	ref = (char *)fuzz_alloc(len + 1);
	rr = fuzz_web_pct_ref(src, len, ref, dstlen, &o, flags);
	dst = (char *)fuzz_alloc(dstlen);
	r = http_percent_decode(src, len, dst, dstlen, flags);
	if (dstlen == 0) {
		FUZZ_CHECK(r == -2, "no room at all is -2");
		goto done;
	}
	FUZZ_CHECK(memchr(dst, '\0', dstlen) != NULL,
	    "dst NUL-terminated, also on an error");
	if (rr != 0) {
		FUZZ_CHECK(r == rr, "first problem in source order");
		goto done;
	}
	FUZZ_CHECK(r == (int)o && memcmp(dst, ref, o) == 0 && dst[o] == '\0',
	    "decoded as RFC 3986 2.1 says");
	enc = (char *)fuzz_alloc(3 * o + 1);
	for (i = 0; i < o; i++)
		n += (size_t)snprintf(enc + n, 4, "%%%02X",
		    (unsigned char)dst[i]);
	r = http_percent_decode(enc, n, ref, o + 1, flags);
	FUZZ_CHECK(r == (int)o && memcmp(ref, dst, o + 1) == 0,
	    "encode, decode round trip");
	free(enc);
done:
	free(dst);
	free(ref);
}

/* Normalise the input as a request path; check the decoder on it. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = (const char *)data;
	char	   *out, *ref;
	int	    r, rr, ds = 7, rds;

	out = (char *)fuzz_alloc(FUZZ_WEB_OUT);
	ref = (char *)fuzz_alloc(FUZZ_WEB_OUT);
	r = web_path_normalize(path, size, out, FUZZ_WEB_OUT, &ds);
	rr = fuzz_web_ref(path, size, ref, FUZZ_WEB_OUT, &rds);
	FUZZ_CHECK(r == 0 || r == 400 || r == 404, "0, 400 or 404");
	FUZZ_CHECK(r == rr, "status as web.h describes");
	if (r == 0) {
		FUZZ_CHECK(strcmp(out, ref) == 0 && ds == rds,
		    "path and dir_slash as web.h describes");
		fuzz_web_check_out(out, strlen(ref));
		fuzz_web_again(out, ds);
		fuzz_web_room(path, size, out);
	}
	free(ref);
	free(out);
	fuzz_web_pct(data, size);
	return 0;
}
