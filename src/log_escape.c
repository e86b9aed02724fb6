/* Escaping untrusted bytes for log lines, and hiding token values in a
 * request path: pure functions, no I/O (log.h has the contracts). */
#include <string.h>
#include <strings.h>

#include "log.h"

/* Escape untrusted bytes for a log line; see log.h for the contract. */
size_t
log_escape(char *dst, size_t dstlen, const void *src, size_t len)
{
	static const char    hex[] = "0123456789abcdef";
	const unsigned char *s = src;
	char		     rep[4];
	size_t		     i, o = 0, mark = 0, n;

	if (dstlen == 0)
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] == '\\') {
			rep[0] = rep[1] = '\\';
			n = 2;
		} else if (s[i] >= 0x20 && s[i] <= 0x7e) {
			rep[0] = (char)s[i];
			n = 1;
		} else {
			rep[0] = '\\';
			rep[1] = 'x';
			rep[2] = hex[s[i] >> 4];
			rep[3] = hex[s[i] & 0xf];
			n = 4;
		}
		if (n > dstlen - 1 - o) {
			/* Cut at the last whole escape that leaves room
			 * for "..." (or as many dots as dst holds). */
			o = mark;
			n = dstlen - 1 - o < 3 ? dstlen - 1 - o : 3;
			memcpy(dst + o, "...", n);
			o += n;
			break;
		}
		memcpy(dst + o, rep, n);
		o += n;
		if (o + 3 <= dstlen - 1)
			mark = o;
	}
	dst[o] = '\0';
	return o;
}

/* Value of a hex digit, or -1. */
static int
log_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Whether p[0..n) is "token" with any letter in any case or written
 * %XX, as a query parameter's name is decoded (token_parse.c). */
static int
log_name_is_token(const char *p, size_t n)
{
	const char *want = "token";
	size_t	    i = 0;
	int	    c, hi, lo;

	for (; *want != '\0'; want++) {
		if (i < n && p[i] == '%' && i + 2 < n &&
		    (hi = log_hex(p[i + 1])) >= 0 &&
		    (lo = log_hex(p[i + 2])) >= 0) {
			c = hi << 4 | lo;
			i += 3;
		} else if (i < n)
			c = (unsigned char)p[i++];
		else
			return 0;
		if ((c | 0x20) != *want)
			return 0;
	}
	return i == n;
}

/* Where the first query pair named token (log_name_is_token) in
 * s[0..len) has its value, or NULL. */
static const char *
log_token_pair(const char *s, size_t len)
{
	const char *e = s + len, *p, *name;

	for (p = s; p < e; p++) {
		if (*p != '?' && *p != '&')
			continue;
		for (name = ++p;
		     p < e && *p != '=' && *p != '&' && *p != '#' && *p != '?';
		     p++)
			;
		if (p < e && *p == '=' &&
		    log_name_is_token(name, (size_t)(p - name)))
			return p + 1;
		p--;
	}
	return NULL;
}

/* Where the next token value in s[0..len) starts (a pair named token,
 * however encoded, or noVNC's path parameter "token%3D", whose value
 * also ends at "%26"), *vlen set; NULL if none. */
static const char *
log_token_value(const char *s, size_t len, size_t *vlen)
{
	const char *best, *v, *e = s + len;
	size_t	    i;
	int	    encoded = 0;

	best = log_token_pair(s, len);
	for (i = 0; i + 8 <= len; i++)
		if (strncasecmp(s + i, "token%3d", 8) == 0)
			break;
	if (i + 8 <= len && (best == NULL || s + i + 8 < best)) {
		best = s + i + 8;
		encoded = 1;
	}
	if (best == NULL)
		return NULL;
	for (v = best; v < e && *v != '&' && *v != '#' &&
	     !(encoded && e - v >= 3 && strncasecmp(v, "%26", 3) == 0);
	     v++)
		;
	*vlen = (size_t)(v - best);
	return best;
}

/* log_escape, with every token value shown as "***". */
size_t
log_escape_path(char *dst, size_t dstlen, const void *src, size_t len)
{
	const char *s = src, *v;
	size_t	    o = 0, vlen;

	if (dstlen == 0)
		return 0;
	dst[0] = '\0';
	while ((v = log_token_value(s, len, &vlen)) != NULL) {
		o += log_escape(dst + o, dstlen - o, s, (size_t)(v - s));
		if (dstlen - o <= 3)
			return o;
		memcpy(dst + o, "***", 4);
		o += 3;
		len -= (size_t)(v - s) + vlen;
		s = v + vlen;
	}
	return o + log_escape(dst + o, dstlen - o, s, len);
}
