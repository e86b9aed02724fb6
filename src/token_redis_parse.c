/*
 * TokenRedis' pure parsers (no I/O, no state): the --token-source string
 * "host[:port[:db[:password[:namespace]]]]" and a token's Redis value
 * (plain or JSON) as a target.  The plugin's hiredis client, on the
 * workers' event loops, is in token_redis.c.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "target.h"
#include "token.h"
#include "token_redis.h"
#include "wsb_limits.h"

#define TOKEN_REDIS_FORMAT "host[:port[:db[:password[:namespace]]]]"

static int  token_redis_fail(char *, size_t, const char *);
static int  token_redis_field(const char **, char *, size_t *, int, char *,
     size_t);
static long token_redis_number(const char *, long);
static int  token_redis_json(const char *, size_t, char *, size_t);

/* A malformed source: the reason, which never holds the password. */
static int
token_redis_fail(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen,
	    "malformed source: %s (expected " TOKEN_REDIS_FORMAT ")", what);
	return -1;
}

/* Copy the field at *pp (to the next ':' or the end) into buf at *o,
 * without its quotes (or, for the host, its brackets). */
static int
token_redis_field(const char **pp, char *buf, size_t *o, int host, char *err,
    size_t errlen)
{
	const char *p = *pp, *end;
	char	    close = 0;

	if (*p == '"')
		close = '"';
	else if (host && *p == '[')
		close = ']';
	if (close != 0) {
		if ((end = strchr(p + 1, close)) == NULL)
			return token_redis_fail(err, errlen,
			    close == '"' ? "unterminated quote" :
					   "unterminated '[' around the host");
		if (end[1] != ':' && end[1] != '\0')
			return token_redis_fail(err, errlen,
			    "text after a closing quote or bracket");
		p++;
		*pp = end + 1;
	} else {
		end = p + strcspn(p, ":");
		*pp = end;
	}
	memcpy(buf + *o, p, (size_t)(end - p));
	*o += (size_t)(end - p);
	buf[(*o)++] = '\0';
	return 0;
}

/* A decimal number of at most max, or -1 (empty, not digits, too big). */
static long
token_redis_number(const char *s, long max)
{
	long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > max)
			return -1;
	}
	return v;
}

/* The source's five fields; see token_redis.h. */
int
token_redis_source_parse(const char *src, struct token_redis_source *rs,
    char *buf, size_t buflen, char *err, size_t errlen)
{
	const char *f[5] = { "", "", "", "", "" }, *p = src;
	size_t	    o = 0;
	long	    v;
	int	    n;

	memset(rs, 0, sizeof(*rs));
	if (strlen(src) >= buflen)
		return token_redis_fail(err, errlen, "too long");
	for (n = 0;; n++) {
		if (n == 5)
			return token_redis_fail(err, errlen,
			    "more than five fields");
		f[n] = buf + o;
		if (token_redis_field(&p, buf, &o, n == 0, err, errlen) == -1)
			return -1;
		if (*p++ == '\0')
			break;
	}
	if (*f[0] == '\0')
		return token_redis_fail(err, errlen, "empty host");
	rs->host = f[0];
	rs->port = TOKEN_REDIS_DEFAULT_PORT;
	if (*f[1] != '\0') {
		if ((v = token_redis_number(f[1], 65535)) < 1)
			return token_redis_fail(err, errlen,
			    "port is not a number from 1 to 65535");
		rs->port = (int)v;
	}
	if (*f[2] != '\0') {
		if ((v = token_redis_number(f[2], INT_MAX)) < 0)
			return token_redis_fail(err, errlen,
			    "db is not a non-negative integer");
		rs->db = (int)v;
	}
	rs->password = *f[3] != '\0' ? f[3] : NULL;
	rs->ns = *f[4] != '\0' ? f[4] : NULL;
	return 0;
}

/* A JSON value: {"host": "h:p"} or {"host": "h", "port": p}. */
static int
token_redis_json(const char *val, size_t len, char *target, size_t targetlen)
{
	json_t	  *root, *jh, *jp;
	char	   host[NI_MAXHOST + 2], v6[sizeof(struct in6_addr)];
	json_int_t pv = -1;
	size_t	   hlen;
	int	   n = -1, v6ok;

	if ((root = json_loadb(val, len, JSON_REJECT_DUPLICATES, NULL)) ==
		NULL ||
	    !json_is_object(root) ||
	    !json_is_string(jh = json_object_get(root, "host")))
		goto done;
	n = snprintf(host, sizeof(host), "%s", json_string_value(jh));
	hlen = strlen(host);
	if (hlen > 2 && host[0] == '[' && host[hlen - 1] == ']') {
		memmove(host, host + 1, hlen - 2);
		host[hlen - 2] = '\0';
		v6ok = inet_pton(AF_INET6, host, v6) == 1 ? 1 : -1;
	} else
		v6ok = inet_pton(AF_INET6, host, v6) == 1;
	/* No "port", or a host that holds its own (websockify reads only
	 * "host"): the host is the target. */
	if ((jp = json_object_get(root, "port")) == NULL ||
	    (v6ok == 0 && strchr(host, ':') != NULL)) {
		n = snprintf(target, targetlen, "%s", json_string_value(jh));
		goto done;
	}
	if (json_is_integer(jp))
		pv = json_integer_value(jp);
	else if (json_is_string(jp))
		pv = token_redis_number(json_string_value(jp), 65535);
	if (pv < 1 || pv > 65535 || (size_t)n >= sizeof(host) || hlen == 0 ||
	    v6ok == -1)
		n = -1;
	else
		n = snprintf(target, targetlen, v6ok ? "[%s]:%d" : "%s:%d",
		    host, (int)pv);
done:
	json_decref(root);
	return n;
}

/* A token's value as a target; see token_redis.h. */
int
token_redis_value_parse(const char *val, size_t len, char *target,
    size_t targetlen)
{
	static const char  blanks[] = " \t\n\v\f\r";
	struct target_spec spec;
	char		   buf[WSB_TOKEN_REDIS_MAX_VALUE + 2];
	size_t		   i;
	int		   n;

	if (targetlen == 0 || len > WSB_TOKEN_REDIS_MAX_VALUE ||
	    memchr(val, '\0', len) != NULL)
		return -1;
	target[0] = '\0';
	while (len > 0 && strchr(blanks, val[len - 1]) != NULL)
		len--;
	while (len > 0 && strchr(blanks, val[0]) != NULL) {
		val++;
		len--;
	}
	if (len > 0 && val[0] == '{')
		n = token_redis_json(val, len, target, targetlen);
	else
		n = snprintf(target, targetlen, "%.*s", (int)len, val);
	if (n < 0 || (size_t)n >= targetlen)
		goto bad;
	for (i = 0; i < (size_t)n; i++)
		if ((unsigned char)target[i] <= ' ' ||
		    (unsigned char)target[i] == 0x7f)
			goto bad;
	if (token_target_parse(target, &spec, buf, sizeof(buf)) == 0)
		return n;
bad:
	target[0] = '\0';
	return -1;
}
