/*
 * The pure parts of BaseTokenAPI and JSONTokenApi (no I/O, no state):
 * checking the source URL template, putting a token into it, and reading
 * the answer's body (plain "host:port" or JSON) as a target.  The plugin's
 * event-driven libcurl part is in token_api.c.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "token.h"
#include "token_api.h"

/* websockify's host for a Unix socket target: "unix_socket:PATH". */
#define TOKEN_API_UNIX "unix_socket"
/* The longest host name passed on (RFC 1035 2.3.4). */
#define TOKEN_API_MAX_HOST 253

/* The pure parts' helpers. */
static int  token_api_unreserved(unsigned char);
static int  token_api_host_ok(const char *, size_t);
static int  token_api_v6_ok(const char *, size_t);
static long token_api_port(const char *, size_t);
static int  token_api_path_ok(const char *, size_t);
static int  token_api_is_unix(const char *, size_t);
static int token_api_target(const char *, size_t, const char *, size_t, char *,
    size_t);

/* 1 for RFC 3986 2.3's unreserved characters, in any locale. */
static int
token_api_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

/* Check the source: scheme, one "%s", and a URL libcurl can parse. */
int
token_api_url_check(const char *tmpl, char *err, size_t errlen)
{
	const char *p;
	char	   *url = NULL;
	size_t	    len = strlen(tmpl) + 1;
	CURLU	   *u = NULL;
	int	    n = 0, ret = -1;

	for (p = tmpl; (p = strstr(p, "%s")) != NULL; p += 2)
		n++;
	if (strncasecmp(tmpl, "http://", 7) != 0 &&
	    strncasecmp(tmpl, "https://", 8) != 0)
		snprintf(err, errlen,
		    "token API URL must begin with http:// "
		    "or https://");
	else if (n != 1)
		snprintf(err, errlen,
		    "token API URL must hold %%s exactly "
		    "once, where the token goes (it has %d)",
		    n);
	else if ((url = malloc(len)) == NULL || (u = curl_url()) == NULL)
		snprintf(err, errlen, "out of memory");
	else if (token_api_url_build(tmpl, "x", 1, url, len) == -1 ||
	    curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		snprintf(err, errlen, "token API URL is malformed");
	else
		ret = 0;
	curl_url_cleanup(u);
	free(url);
	return ret;
}

/* Put the token, percent-encoded, where the template's "%s" is. */
int
token_api_url_build(const char *tmpl, const char *token, size_t len, char *out,
    size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	const char	 *p = strstr(tmpl, "%s");
	size_t		  pre, post, need, i, o;
	unsigned char	  c;

	if (p == NULL)
		return -1;
	pre = (size_t)(p - tmpl);
	post = strlen(p + 2);
	need = pre + post;
	for (i = 0; i < len; i++)
		need += token_api_unreserved((unsigned char)token[i]) ? 1 : 3;
	if (need >= outlen || need > 0x7fffffff)
		return -1;
	memcpy(out, tmpl, pre);
	o = pre;
	for (i = 0; i < len; i++) {
		c = (unsigned char)token[i];
		if (token_api_unreserved(c))
			out[o++] = (char)c;
		else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0xf];
		}
	}
	memcpy(out + o, p + 2, post);
	o += post;
	out[o] = '\0';
	return (int)o;
}

/* 1 if s[0..len) is a host name or IPv4 address we pass on. */
static int
token_api_host_ok(const char *s, size_t len)
{
	size_t i;
	char   c;

	if (len == 0 || len > TOKEN_API_MAX_HOST)
		return 0;
	for (i = 0; i < len; i++) {
		c = s[i];
		if (!token_api_unreserved((unsigned char)c) || c == '~')
			return 0;
	}
	return 1;
}

/* 1 if s[0..len) is an IPv6 address (RFC 4291 2.2), zone-less. */
static int
token_api_v6_ok(const char *s, size_t len)
{
	char		buf[INET6_ADDRSTRLEN];
	struct in6_addr a;

	if (len == 0 || len >= sizeof(buf))
		return 0;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return inet_pton(AF_INET6, buf, &a) == 1;
}

/* The port in s[0..len): decimal 1-65535 with no sign; else -1. */
static long
token_api_port(const char *s, size_t len)
{
	long   v = 0;
	size_t i;

	if (len == 0 || len > 5)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v >= 1 && v <= 65535 ? v : -1;
}

/* 1 if s[0..len) may be a Unix socket path: no control bytes. */
static int
token_api_path_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* 1 if host s[0..len) is websockify's "unix_socket". */
static int
token_api_is_unix(const char *s, size_t len)
{
	return len == strlen(TOKEN_API_UNIX) &&
	    memcmp(s, TOKEN_API_UNIX, len) == 0;
}

/* The target for host and port (or path), both checked, into target. */
static int
token_api_target(const char *host, size_t hlen, const char *port, size_t plen,
    char *target, size_t tlen)
{
	long v;
	int  n;

	if (token_api_is_unix(host, hlen)) {
		if (!token_api_path_ok(port, plen))
			return -1;
		n = snprintf(target, tlen, "%s:%.*s", TOKEN_API_UNIX,
		    (int)plen, port);
	} else if ((v = token_api_port(port, plen)) == -1)
		return -1;
	else if (memchr(host, ':', hlen) != NULL) {
		if (!token_api_v6_ok(host, hlen))
			return -1;
		n = snprintf(target, tlen, "[%.*s]:%ld", (int)hlen, host, v);
	} else {
		if (!token_api_host_ok(host, hlen))
			return -1;
		n = snprintf(target, tlen, "%.*s:%ld", (int)hlen, host, v);
	}
	return n >= 0 && (size_t)n < tlen ? 0 : -1;
}

/* BaseTokenAPI's body: "host:port", "[v6]:port", "unix_socket:PATH". */
int
token_api_parse_plain(const char *body, size_t len, char *target,
    size_t targetlen)
{
	const char	 *s = body, *e = body + len, *c;
	static const char blanks[] = " \t\r\n\v\f";

	while (s < e && *s != '\0' && strchr(blanks, *s) != NULL)
		s++;
	while (e > s && e[-1] != '\0' && strchr(blanks, e[-1]) != NULL)
		e--;
	if (s < e && *s == '[') {
		/* "[v6]:port": the brackets must hold an IPv6 address. */
		c = memchr(s, ']', (size_t)(e - s));
		if (c == NULL || e - c < 2 || c[1] != ':' ||
		    memchr(s + 1, ':', (size_t)(c - s - 1)) == NULL)
			return -1;
		return token_api_target(s + 1, (size_t)(c - s - 1), c + 2,
		    (size_t)(e - c - 2), target, targetlen);
	}
	if ((c = memchr(s, ':', (size_t)(e - s))) == NULL)
		return -1;
	/* As websockify's split(':'): one colon, but a path may hold more. */
	if (!token_api_is_unix(s, (size_t)(c - s)) &&
	    memchr(c + 1, ':', (size_t)(e - c - 1)) != NULL)
		return -1;
	return token_api_target(s, (size_t)(c - s), c + 1, (size_t)(e - c - 1),
	    target, targetlen);
}

/* JSONTokenApi's body: {"host": "...", "port": N or "N"}. */
int
token_api_parse_json(const char *body, size_t len, char *target,
    size_t targetlen)
{
	json_t	    *root, *h, *p;
	json_error_t jerr;
	const char  *host, *port;
	size_t	     hlen, plen;
	char	     num[8];
	json_int_t   v;
	int	     ret = -1;

	if ((root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL)
		return -1;
	if (!json_is_object(root) ||
	    !json_is_string(h = json_object_get(root, "host")) ||
	    (p = json_object_get(root, "port")) == NULL)
		goto done;
	host = json_string_value(h);
	hlen = json_string_length(h);
	if (hlen > 2 && host[0] == '[' && host[hlen - 1] == ']') {
		host++;
		hlen -= 2;
		if (memchr(host, ':', hlen) == NULL)
			goto done;
	}
	if (json_is_string(p)) {
		port = json_string_value(p);
		plen = json_string_length(p);
	} else if (json_is_integer(p) && !token_api_is_unix(host, hlen)) {
		v = json_integer_value(p);
		if (v < 1 || v > 65535)
			goto done;
		plen = (size_t)snprintf(num, sizeof(num), "%d", (int)v);
		port = num;
	} else
		goto done;
	ret = token_api_target(host, hlen, port, plen, target, targetlen);
done:
	json_decref(root);
	return ret;
}

/* What an answer with an HTTP status means for the session. */
enum token_result
token_api_answer(int json, long status, const char *body, size_t len,
    int too_large, char *target, size_t targetlen, char *why, size_t whylen)
{
	int r;

	if (status >= 200 && status <= 299) {
		if (too_large) {
			snprintf(why, whylen, "token API: body too large");
			return TOKEN_NOT_FOUND;
		}
		r = json ? token_api_parse_json(body, len, target, targetlen) :
			   token_api_parse_plain(body, len, target, targetlen);
		if (r == 0) {
			snprintf(why, whylen, "%s", "");
			return TOKEN_FOUND;
		}
		snprintf(why, whylen, "token API: malformed body");
		return TOKEN_NOT_FOUND;
	}
	snprintf(why, whylen, "token API: HTTP %ld", status);
	if (status < 100 || status > 599 || status >= 500 || status == 408 ||
	    status == 429)
		return TOKEN_UNAVAILABLE;
	return TOKEN_NOT_FOUND;
}
