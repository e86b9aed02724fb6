/* Syslog message framing: RFC 5424 and the legacy local form, as
 * websockify's sysloghandler.py sends them.  Pure: no I/O. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log_syslog.h"

/* RFC 5424 6.2: field lengths. */
#define LOG_SYSLOG_HOSTNAME_MAX 255
#define LOG_SYSLOG_APP_MAX 48

/* The UTF-8 byte order mark that starts a MSG-UTF8 (RFC 5424 6.4). */
static const char log_syslog_bom[] = "\xef\xbb\xbf";

static size_t log_syslog_field(char *, const char *, size_t);

/* Copy src into dst as an RFC 5424 header field: PRINTUSASCII only
 * (others become '_'), at most max characters, "-" when empty.  dst
 * holds max + 1 bytes.  Returns the length. */
static size_t
log_syslog_field(char *dst, const char *src, size_t max)
{
	size_t i;

	for (i = 0; src != NULL && src[i] != '\0' && i < max; i++) {
		if (src[i] >= 33 && src[i] <= 126)
			dst[i] = src[i];
		else
			dst[i] = '_';
	}
	if (i == 0)
		dst[i++] = '-';
	dst[i] = '\0';
	return i;
}

/* Length of the UTF-8 sequence at s[0..len) (RFC 3629 4), or 0 if
 * malformed or cut short. */
static size_t
log_syslog_utf8_seq(const unsigned char *s, size_t len)
{
	size_t	 n, i;
	unsigned lo = 0x80, hi = 0xbf;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		if (s[0] == 0xe0)
			lo = 0xa0; /* overlong */
		else if (s[0] == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		if (s[0] == 0xf0)
			lo = 0x90; /* overlong */
		else if (s[0] == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else
		return 0;
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/* Whether s[0..len) is well-formed UTF-8; see log_syslog.h. */
int
log_syslog_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t		     i, n;

	for (i = 0; i < len; i += n)
		if ((n = log_syslog_utf8_seq(p + i, len - i)) == 0)
			return 0;
	return 1;
}

/* How much of msg (msglen bytes) fits in room bytes without cutting a
 * UTF-8 sequence: a cut before a continuation byte backs up to the
 * sequence's first byte (at most 3 bytes, so malformed input is not
 * eaten). */
static size_t
log_syslog_cut(const char *msg, size_t msglen, size_t room)
{
	size_t n, k;

	if (msglen <= room)
		return msglen;
	n = room;
	for (k = 0; k < 3 && n > 0 && ((unsigned char)msg[n] & 0xc0) == 0x80;
	     k++)
		n--;
	if (n > 0 && ((unsigned char)msg[n] & 0xc0) == 0x80)
		return room; /* not a sequence we could cut cleanly */
	return n;
}

/* Write the header for id and severity into dst; its length, or 0 if
 * it does not fit. */
static size_t
log_syslog_head(char *dst, size_t dstlen, const struct log_syslog_id *id,
    int severity, time_t now)
{
	char host[LOG_SYSLOG_HOSTNAME_MAX + 1], app[LOG_SYSLOG_APP_MAX + 1];
	char ts[32];
	struct tm tm;
	int	  pri, r;

	if (severity < 0)
		severity = 0;
	if (severity > 7)
		severity = 7;
	pri = (id->facility < 0 || id->facility > 23 ? 1 : id->facility) * 8 +
	    severity;
	log_syslog_field(app, id->app, LOG_SYSLOG_APP_MAX);
	if (id->legacy)
		r = snprintf(dst, dstlen, "<%d>%s[%ld]: ", pri, app, id->pid);
	else {
		log_syslog_field(host, id->hostname, LOG_SYSLOG_HOSTNAME_MAX);
		if (gmtime_r(&now, &tm) == NULL ||
		    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
			memcpy(ts, "-", 2);
		r = snprintf(dst, dstlen, "<%d>1 %s %s %s %ld - - ", pri, ts,
		    host, app, id->pid);
	}
	if (r < 0 || (size_t)r >= dstlen)
		return 0;
	return (size_t)r;
}

/* Build one datagram; see log_syslog.h. */
size_t
log_syslog_format(char *dst, size_t dstlen, const struct log_syslog_id *id,
    int severity, time_t now, const char *msg, size_t msglen)
{
	size_t o, n, n2, f, i, room, bomlen = sizeof(log_syslog_bom) - 1;
	int    bom = 0;

	if ((o = log_syslog_head(dst, dstlen, id, severity, now)) == 0)
		return 0;
	room = dstlen - o;
	n = log_syslog_cut(msg, msglen, room);
	for (f = 0; f < n && (unsigned char)msg[f] < 0x80; f++)
		;
	if (!id->legacy && f < n) {
		/* 8-bit bytes: with a BOM if they are UTF-8 and it fits;
		 * else only the ASCII before them, or MSG-ANY. */
		n2 = room >= bomlen ?
		    log_syslog_cut(msg, msglen, room - bomlen) :
		    0;
		if (n2 > f && log_syslog_utf8_valid(msg, n2)) {
			bom = 1;
			n = n2;
		} else if (log_syslog_utf8_valid(msg, n))
			n = f;
	}
	if (bom) {
		memcpy(dst + o, log_syslog_bom, bomlen);
		o += bomlen;
	}
	for (i = 0; i < n; i++)
		dst[o++] = msg[i] == '\n' || msg[i] == '\r' ? ' ' : msg[i];
	return o;
}

/* Split --syslog SERVER into a path or host and port; see log_syslog.h. */
int
log_syslog_parse_server(const char *server, char *host, size_t hostlen,
    char *port, size_t portlen)
{
	const char *colon, *h = server, *he;
	size_t	    i, n;

	colon = strrchr(server, ':');
	if (server[0] == '/' || colon == NULL)
		return LOG_SYSLOG_PATH;
	he = colon;
	if (server[0] == '[' && colon > server && colon[-1] == ']') {
		h = server + 1;
		he = colon - 1;
	}
	n = (size_t)(he - h);
	if (n == 0 || n >= hostlen)
		return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	n = strlen(colon + 1);
	if (n == 0 || n > 5 || n >= portlen)
		return -1;
	for (i = 0; i < n; i++)
		if (colon[1 + i] < '0' || colon[1 + i] > '9')
			return -1;
	memcpy(port, colon + 1, n + 1);
	i = (size_t)strtoul(port, NULL, 10);
	return i >= 1 && i <= 65535 ? LOG_SYSLOG_INET : -1;
}

/* Whether JOURNAL_STREAM's value names dev:ino; see log_syslog.h. */
int
log_syslog_journal_names(const char *env, unsigned long long dev,
    unsigned long long ino)
{
	unsigned long long d, i;
	char		   c;

	if (env == NULL || sscanf(env, "%llu:%llu%c", &d, &i, &c) != 2)
		return 0;
	return d == dev && i == ino;
}
