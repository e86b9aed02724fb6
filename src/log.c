/* Thread-safe logging: each line is formatted on the stack and written
 * with one write(2), so lines from workers never interleave. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX 1024

static int log_level = LOG_LEVEL_INFO;

static void log_vwrite(const char *, const char *, int, const char *, va_list)
    __attribute__((format(printf, 4, 0)));

/* Set the level: verbose > 0 turns on debug lines. */
void
log_init(int verbose)
{
	log_level = verbose > 0 ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;
}

/* Whether debug lines are on (callers skip costly formatting). */
int
log_verbose(void)
{
	return log_level >= LOG_LEVEL_DEBUG;
}

/* Format "time level: message[: strerror]\n" and write it at once. */
static void
log_vwrite(const char *level, const char *errstr, int with_err,
    const char *fmt, va_list ap)
{
	char		line[LOG_LINE_MAX];
	struct timespec ts;
	struct tm	tm;
	size_t		n;
	int		r;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n,
	    ".%03ldZ %s: ", ts.tv_nsec / 1000000, level);
	if (r > 0)
		n += (size_t)r < sizeof(line) - n ? (size_t)r : 0;
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (r > 0)
		n = n + (size_t)r < sizeof(line) ? n + (size_t)r :
						   sizeof(line) - 1;
	if (with_err && n < sizeof(line) - 1) {
		r = snprintf(line + n, sizeof(line) - n, ": %s", errstr);
		if (r > 0)
			n = n + (size_t)r < sizeof(line) ? n + (size_t)r :
							   sizeof(line) - 1;
	}
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
}

/* A warning with the current errno's text appended. */
void
log_warn(const char *fmt, ...)
{
	va_list ap;
	char	buf[128];
	int	saved = errno;

	va_start(ap, fmt);
	log_vwrite("warning", strerror_r(saved, buf, sizeof(buf)), 1, fmt, ap);
	va_end(ap);
	errno = saved;
}

/* A warning without errno. */
void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite("warning", NULL, 0, fmt, ap);
	va_end(ap);
}

/* An informational line: connects, closes, start-up. */
void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite("info", NULL, 0, fmt, ap);
	va_end(ap);
}

/* A debug line, shown with -v. */
void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (log_level < LOG_LEVEL_DEBUG)
		return;
	va_start(ap, fmt);
	log_vwrite("debug", NULL, 0, fmt, ap);
	va_end(ap);
}

/* One character per frame for --traffic, as websockify prints them. */
void
log_traffic(char c)
{
	(void)!write(STDERR_FILENO, &c, 1);
}

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

/* Start-up failure or broken invariant, with errno: exit 1. */
void
fatal(const char *fmt, ...)
{
	va_list ap;
	char	buf[128];
	int	saved = errno;

	va_start(ap, fmt);
	log_vwrite("fatal", strerror_r(saved, buf, sizeof(buf)), 1, fmt, ap);
	va_end(ap);
	exit(1);
}

/* Start-up failure or broken invariant, without errno: exit 1. */
void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite("fatal", NULL, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
