/* HTTP/1.1 request-head parser and response helpers (pure, no I/O).
 * Contract as picohttpparser: bytes consumed, -2 need more, -1 bad. */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"

static int	   http_is_tchar(unsigned char);
static const char *http_line_end(const char *, const char *, size_t *);
static int	   http_hexval(int);
static int	   http_base64_val(unsigned char);

/* RFC 9110 5.6.2 token characters. */
static int
http_is_tchar(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return 1;
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
		return 1;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Find the end of the line starting at p: returns the address of its
 * CR or LF and sets *eol_len (1 for LF, 2 for CRLF); NULL if the line is
 * not complete yet. A CR not followed by LF is returned with eol_len 0. */
static const char *
http_line_end(const char *p, const char *end, size_t *eol_len)
{
	const char *q;

	for (q = p; q < end; q++) {
		if (*q == '\n') {
			*eol_len = 1;
			return q;
		}
		if (*q == '\r') {
			if (q + 1 == end)
				return NULL;
			*eol_len = q[1] == '\n' ? 2 : 0;
			return q;
		}
	}
	return NULL;
}

/* Parse a request head; see http.h for the return values. */
int
http_parse_request(const char *buf, size_t len, struct http_request *req)
{
	const char *p = buf, *end = buf + len, *eol, *q, *colon;
	const char *v, *ve;
	size_t	    eol_len;

	memset(req, 0, sizeof(*req));

	/* Tolerate empty lines before the request line (RFC 9112 2.2). */
	while (p < end && (*p == '\r' || *p == '\n')) {
		if (*p == '\r' && (p + 1 == end || p[1] != '\n'))
			return p + 1 == end ? -2 : -1;
		p += *p == '\r' ? 2 : 1;
	}

	/* Request line: method SP target SP HTTP/1.x */
	if ((eol = http_line_end(p, end, &eol_len)) == NULL)
		goto incomplete;
	if (eol_len == 0)
		return -1;
	for (q = p; q < eol && http_is_tchar((unsigned char)*q); q++)
		;
	if (q == p || q == eol || *q != ' ')
		return -1;
	req->method = p;
	req->method_len = (size_t)(q - p);
	p = q + 1;
	for (q = p; q < eol && (unsigned char)*q > 0x20 && *q != 0x7f; q++)
		;
	if (q == p || q == eol || *q != ' ')
		return -1;
	req->path = p;
	req->path_len = (size_t)(q - p);
	p = q + 1;
	if (eol - p != 8 || memcmp(p, "HTTP/1.", 7) != 0 || p[7] < '0' ||
	    p[7] > '9')
		return -1;
	req->minor_version = p[7] - '0';
	p = eol + eol_len;

	/* Header lines until an empty line. */
	for (;;) {
		if ((eol = http_line_end(p, end, &eol_len)) == NULL)
			goto incomplete;
		if (eol_len == 0)
			return -1;
		if (eol == p)
			return (int)(eol + eol_len - buf);
		/* obs-fold (a line starting with blank) is refused. */
		if (*p == ' ' || *p == '\t')
			return -1;
		if (req->num_headers == WSB_MAX_HEADERS)
			return -1;
		for (colon = p;
		     colon < eol && http_is_tchar((unsigned char)*colon);
		     colon++)
			;
		if (colon == p || colon == eol || *colon != ':')
			return -1;
		v = colon + 1;
		ve = eol;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		for (q = v; q < ve; q++) {
			unsigned char c = (unsigned char)*q;
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return -1;
		}
		req->headers[req->num_headers].name = p;
		req->headers[req->num_headers].name_len = (size_t)(colon - p);
		req->headers[req->num_headers].value = v;
		req->headers[req->num_headers].value_len = (size_t)(ve - v);
		req->num_headers++;
		p = eol + eol_len;
	}

incomplete:
	return -2;
}

/* Whether the method is exactly method (case-sensitive). */
int
http_method_is(const struct http_request *req, const char *method)
{
	size_t n = strlen(method);

	return req->method_len == n && memcmp(req->method, method, n) == 0;
}

/* The next header named name at or after index *i, case-insensitively. */
const char *
http_header_next(const struct http_request *req, const char *name, size_t *i,
    size_t *len)
{
	const struct http_header *h;
	size_t			  n = strlen(name);

	for (; *i < req->num_headers; (*i)++) {
		h = &req->headers[*i];
		if (h->name_len == n && strncasecmp(h->name, name, n) == 0) {
			(*i)++;
			*len = h->value_len;
			return h->value;
		}
	}
	*len = 0;
	return NULL;
}

/* Look up a header by name, case-insensitively; first one wins. */
const char *
http_header_get(const struct http_request *req, const char *name, size_t *len)
{
	size_t i = 0;

	return http_header_next(req, name, &i, len);
}

/* The next item of a comma-separated header list, blanks trimmed: 1 with
 * *item and *len set and *p advanced, or 0 at the end of the list. */
int
http_list_next(const char **p, const char *end, const char **item, size_t *len)
{
	const char *q = *p, *start, *stop;

	for (;;) {
		while (q < end && (*q == ' ' || *q == '\t' || *q == ','))
			q++;
		if (q == end) {
			*p = q;
			return 0;
		}
		start = q;
		while (q < end && *q != ',')
			q++;
		stop = q;
		while (stop > start && (stop[-1] == ' ' || stop[-1] == '\t'))
			stop--;
		if (stop > start)
			break;
	}
	*p = q;
	*item = start;
	*len = (size_t)(stop - start);
	return 1;
}

/* Whether a comma-separated header list holds token (any case). */
int
http_list_has_token(const char *list, size_t len, const char *token)
{
	size_t	    tlen = strlen(token), ilen;
	const char *p = list, *item;

	while (http_list_next(&p, list + len, &item, &ilen))
		if (ilen == tlen && strncasecmp(item, token, tlen) == 0)
			return 1;
	return 0;
}

/* Whether the request carries a body (RFC 9112 6.3): one this server
 * never reads, so the connection cannot be reused after it. */
int
http_request_has_body(const struct http_request *req)
{
	const char *v;
	size_t	    len;

	if (http_header_get(req, "Transfer-Encoding", &len) != NULL)
		return 1;
	if ((v = http_header_get(req, "Content-Length", &len)) == NULL)
		return 0;
	return !(len == 1 && v[0] == '0');
}

/* The reason phrase for the statuses this server sends. */
const char *
http_status_text(int status)
{
	/* clang-format off */
	switch (status) {
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 301: return "Moved Permanently";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 426: return "Upgrade Required";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
	/* clang-format on */
}

/* Format a complete response with a one-line text body ("reason\n");
 * with head the body is left out, its length still given. */
int
http_format_status(char *out, size_t outlen, int status,
    const char *extra_headers, const char *reason, int keep_alive, int head)
{
	int n;

	n = snprintf(out, outlen,
	    "HTTP/1.1 %d %s\r\n"
	    "Server: wsbridge\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: %zu\r\n"
	    "Connection: %s\r\n"
	    "%s"
	    "\r\n"
	    "%s%s",
	    status, http_status_text(status), strlen(reason) + 1,
	    keep_alive ? "keep-alive" : "close",
	    extra_headers != NULL ? extra_headers : "", head ? "" : reason,
	    head ? "" : "\n");
	if (n < 0 || (size_t)n >= outlen)
		return -1;
	return n;
}

/* An error response that closes the connection. */
int
http_format_error(char *out, size_t outlen, int status,
    const char *extra_headers, const char *reason)
{
	return http_format_status(out, outlen, status, extra_headers, reason,
	    0, 0);
}

/* Value of a hex digit, or -1. */
static int
http_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Percent-decode into a C string; see http.h for the return values. */
int
http_percent_decode(const char *src, size_t len, char *dst, size_t dstlen,
    int flags)
{
	size_t i, o = 0;
	int    c, hi, lo, ret;

	if (dstlen == 0)
		return -2;
	for (i = 0; i < len; i++) {
		c = (unsigned char)src[i];
		if (c == '%') {
			if (len - i < 3 ||
			    (hi = http_hexval(src[i + 1])) < 0 ||
			    (lo = http_hexval(src[i + 2])) < 0) {
				ret = -1;
				goto fail;
			}
			c = hi << 4 | lo;
			i += 2;
		} else if (c == '+' && (flags & HTTP_PCT_PLUS))
			c = ' ';
		if (c == 0) {
			ret = -3;
			goto fail;
		}
		if (o + 1 >= dstlen || o >= INT_MAX) {
			ret = -2;
			goto fail;
		}
		dst[o++] = (char)c;
	}
	dst[o] = '\0';
	return (int)o;

fail:
	dst[o] = '\0';
	return ret;
}

/* Find name=value in the query string of path, undecoded. */
const char *
http_query_param_raw(const char *path, size_t path_len, const char *name,
    size_t *len)
{
	const char *p, *end = path + path_len, *item, *eq;
	size_t	    nlen = strlen(name);

	for (p = path; p < end && *p != '?' && *p != '#'; p++)
		;
	if (p == end || *p == '#')
		return NULL;
	p++;
	while (p < end) {
		item = p;
		while (p < end && *p != '&' && *p != '#')
			p++;
		eq = memchr(item, '=', (size_t)(p - item));
		if (eq != NULL && (size_t)(eq - item) == nlen &&
		    memcmp(item, name, nlen) == 0) {
			*len = (size_t)(p - eq - 1);
			return eq + 1;
		}
		if (p < end && *p == '#')
			break;
		if (p < end)
			p++;
	}
	return NULL;
}

/* Find name=value in the query string of path and percent-decode it
 * ('+' is a space, as in forms). */
int
http_query_param(const char *path, size_t path_len, const char *name,
    char *out, size_t outlen)
{
	const char *v;
	size_t	    vlen;

	if (outlen == 0 ||
	    (v = http_query_param_raw(path, path_len, name, &vlen)) == NULL)
		return -1;
	return http_percent_decode(v, vlen, out, outlen, HTTP_PCT_PLUS) < 0 ?
	    -1 :
	    0;
}

/* Value of a base64 digit (RFC 4648 table 1), or -1. */
static int
http_base64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decode strict base64; see http.h.  Written here, not with
 * EVP_DecodeBlock, which takes '=' anywhere, skips blanks and needs a
 * NUL-terminated copy. */
int
http_base64_decode(const char *src, size_t len, unsigned char *dst,
    size_t dstlen)
{
	size_t	      i, j, o = 0, pad = 0, total;
	unsigned long acc;
	int	      v;

	if (len % 4 != 0 || len / 4 > INT_MAX / 3)
		return -1;
	if (len > 0 && src[len - 1] == '=')
		pad = src[len - 2] == '=' ? 2 : 1;
	total = len / 4 * 3 - pad;
	if (total > dstlen)
		return -1;
	for (i = 0; i < len; i += 4) {
		acc = 0;
		for (j = 0; j < 4; j++) {
			/* The padding, known to be '=', counts as zero. */
			if (i + j >= len - pad)
				v = 0;
			else if ((v = http_base64_val(
				      (unsigned char)src[i + j])) < 0)
				return -1;
			acc = acc << 6 | (unsigned long)v;
		}
		for (j = 0; j < 3 && o < total; j++)
			dst[o++] = (unsigned char)(acc >> (16 - 8 * j));
	}
	return (int)total;
}

/* host:port, bracketing an IPv6 literal. */
int
http_format_authority(char *buf, size_t len, const char *host,
    const char *port)
{
	int v6 = strchr(host, ':') != NULL;

	return snprintf(buf, len, "%s%s%s:%s", v6 ? "[" : "", host,
	    v6 ? "]" : "", port);
}

/* Append the decimal digits of v (at most 65535) at p; the end. */
static char *
http_put_uint(char *p, unsigned v)
{
	char   tmp[8];
	size_t n = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

/* "a.b.c.d:port" (":port" left out for port 0) of the host-order
 * address addr, into buf as snprintf would put it. */
static int
http_format_ipv4(char *buf, size_t len, uint32_t addr, unsigned port)
{
	char   tmp[sizeof("255.255.255.255:65535")], *p = tmp;
	size_t n;
	int    i;

	for (i = 3; i >= 0; i--) {
		p = http_put_uint(p, (addr >> (8 * i)) & 0xff);
		if (i > 0)
			*p++ = '.';
	}
	if (port != 0) {
		*p++ = ':';
		p = http_put_uint(p, port);
	}
	n = (size_t)(p - tmp);
	if (len > 0) {
		memcpy(buf, tmp, n < len ? n : len - 1);
		buf[n < len ? n : len - 1] = '\0';
	}
	return (int)n;
}

/* A socket address as numeric text; see http.h. */
int
http_format_sockaddr(char *buf, size_t len, const struct sockaddr *sa)
{
	const struct sockaddr_in  *sin;
	const struct sockaddr_in6 *sin6;
	char			   addr[INET6_ADDRSTRLEN], port[8];

	switch (sa->sa_family) {
	case AF_INET:
		/* Every session formats its client once or twice: by hand,
		 * a tenth of inet_ntop's and snprintf's instructions. */
		sin = (const struct sockaddr_in *)(const void *)sa;
		return http_format_ipv4(buf, len, ntohl(sin->sin_addr.s_addr),
		    ntohs(sin->sin_port));
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (inet_ntop(AF_INET6, &sin6->sin6_addr, addr,
			sizeof(addr)) == NULL)
			break;
		if (sin6->sin6_port == 0)
			return snprintf(buf, len, "[%s]", addr);
		snprintf(port, sizeof(port), "%u", ntohs(sin6->sin6_port));
		return http_format_authority(buf, len, addr, port);
	}
	return snprintf(buf, len, "unix");
}

/* A port is a decimal number from 1 to 65535. */
static int
http_port_valid(const char *s)
{
	char *end;
	long  v;

	if (*s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtol(s, &end, 10);
	return *end == '\0' && errno == 0 && v >= 1 && v <= 65535;
}

/* Format an error for http_split_authority(): -1 always. */
static int
http_split_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Split "host:port", "[v6]:port" or (port_only_ok) a bare "port" into
 * malloc'd strings; *host is NULL for a bare port.  An unbracketed
 * address with several colons splits at the last one, as websockify's
 * rsplit does.  0 or -1 with err set.
 */
int
http_split_authority(const char *s, char **host, char **port, int port_only_ok,
    char *err, size_t errlen)
{
	const char *arg = s, *colon, *close;
	size_t	    hlen;

	*host = *port = NULL;
	if (s[0] == '[') {
		if ((close = strchr(s, ']')) == NULL)
			return http_split_error(err, errlen,
			    "'%s': missing ']' after IPv6 address", s);
		if (close[1] != ':')
			return http_split_error(err, errlen,
			    "'%s': expected ':port' after ']'", s);
		if (close == s + 1)
			return http_split_error(err, errlen,
			    "'%s': empty address", s);
		colon = close + 1;
		hlen = (size_t)(close - s - 1);
		s++;
	} else if ((colon = strrchr(s, ':')) == NULL) {
		if (!port_only_ok)
			return http_split_error(err, errlen,
			    "'%s': expected host:port", s);
		if (!http_port_valid(s))
			return http_split_error(err, errlen,
			    "'%s': not a port from 1 to 65535", s);
		*port = strdup(s);
		return *port == NULL ?
		    http_split_error(err, errlen, "out of memory") :
		    0;
	} else {
		hlen = (size_t)(colon - s);
		if (hlen == 0 && !port_only_ok)
			return http_split_error(err, errlen,
			    "'%s': missing host before ':'", s);
	}
	if (!http_port_valid(colon + 1))
		return http_split_error(err, errlen,
		    "'%s': '%s' is not a port from 1 to 65535", arg,
		    colon + 1);
	if (hlen > 0 && (*host = strndup(s, hlen)) == NULL)
		return http_split_error(err, errlen, "out of memory");
	if ((*port = strdup(colon + 1)) == NULL) {
		free(*host);
		*host = NULL;
		return http_split_error(err, errlen, "out of memory");
	}
	return 0;
}
