/*
 * The client's address behind trusted proxies: --trusted-proxy's CIDRs
 * and the headers a proxy adds (RFC 7239 Forwarded, X-Forwarded-For,
 * X-Real-IP), walked as nginx's realip module with real_ip_recursive on.
 * Pure: no I/O, no allocation.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "forwarded.h"
#include "http.h"

/* Longest node text looked at (an IPv6 literal in brackets with a port
 * is at most 54 bytes); a longer one is not an address. */
#define FORWARDED_NODE_MAX 64

/* The right-to-left walk over a list of hops, done left to right: the
 * answer is the right-most hop that is not a trusted address (an
 * untrusted address: the client; not an address: unknown), else the
 * left-most hop. */
struct forwarded_walk {
	const struct forwarded_trust *t;
	struct forwarded_addr	      first; /* the left-most hop */
	struct forwarded_addr	      last;  /* right-most untrusted address */
	size_t			      hops;
	int last_kind; /* 0 none, 1 an untrusted address, -1 not an address */
};

static const unsigned char forwarded_v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0xff, 0xff };

/* Parse an IPv4 or IPv6 literal s[0..len) (no brackets, no port):
 * 1 with *a set (port 0, IPv4-mapped made IPv4), else 0. */
static int
forwarded_parse_ip(const char *s, size_t len, struct forwarded_addr *a)
{
	char buf[FORWARDED_NODE_MAX];

	if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len) != NULL)
		return 0;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, buf, a->addr) == 1) {
		a->family = AF_INET;
		return 1;
	}
	if (inet_pton(AF_INET6, buf, a->addr) != 1)
		return 0;
	a->family = AF_INET6;
	if (memcmp(a->addr, forwarded_v4mapped, 12) == 0) {
		memmove(a->addr, a->addr + 12, 4);
		memset(a->addr + 4, 0, 12);
		a->family = AF_INET;
	}
	return 1;
}

/* A node port s[0..len) (RFC 7239 6.1): 1 to 5 digits up to 65535 into
 * *port, or an obfuscated port ("_" then ALPHA / DIGIT / "." / "_" /
 * "-"), given as 0.  1 good, 0 not a port. */
static int
forwarded_parse_port(const char *s, size_t len, unsigned short *port)
{
	unsigned long v = 0;
	size_t	      i;

	if (len > 1 && s[0] == '_') {
		for (i = 1; i < len; i++)
			if (strchr("abcdefghijklmnopqrstuvwxyz"
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
				s[i]) == NULL ||
			    s[i] == '\0')
				return 0;
		*port = 0;
		return 1;
	}
	if (len == 0 || len > 5)
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return 0;
	*port = (unsigned short)v;
	return 1;
}

/* One node: an address, "[v6]", either with ":port"; see forwarded.h. */
int
forwarded_parse_node(const char *s, size_t len, struct forwarded_addr *a)
{
	const char    *colon, *close;
	unsigned short port = 0;

	if (len == 0 || len > FORWARDED_NODE_MAX)
		return 0;
	if (s[0] == '[') {
		/* Brackets hold IPv6 only (RFC 3986 3.2.2). */
		if ((close = memchr(s, ']', len)) == NULL ||
		    memchr(s, ':', (size_t)(close - s)) == NULL ||
		    !forwarded_parse_ip(s + 1, (size_t)(close - s) - 1, a))
			return 0;
		if ((size_t)(close - s) + 1 < len &&
		    (close[1] != ':' ||
			!forwarded_parse_port(close + 2,
			    len - (size_t)(close - s) - 2, &port)))
			return 0;
		a->port = port;
		return 1;
	}
	colon = memchr(s, ':', len);
	if (colon != NULL &&
	    memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)) == NULL) {
		/* One colon: an IPv4 address and a port. */
		if (!forwarded_parse_ip(s, (size_t)(colon - s), a) ||
		    a->family != AF_INET ||
		    !forwarded_parse_port(colon + 1,
			len - (size_t)(colon + 1 - s), &port))
			return 0;
		a->port = port;
		return 1;
	}
	return forwarded_parse_ip(s, len, a);
}

/* One CIDR s[0..len) into *c; 0, or -1 with the reason in err. */
static int
forwarded_cidr_parse(const char *s, size_t len, struct forwarded_cidr *c,
    char *err, size_t errlen)
{
	const char *slash = memchr(s, '/', len);
	size_t	    alen = slash != NULL ? (size_t)(slash - s) : len, i;
	unsigned    bits = 0, max;

	memset(c, 0, sizeof(*c));
	if (!forwarded_parse_ip(s, alen, &c->net))
		goto bad;
	max = c->net.family == AF_INET ? 32 : 128;
	if (slash == NULL)
		bits = max;
	else {
		if (len - alen < 2 || len - alen > 4)
			goto bad;
		for (i = alen + 1; i < len; i++) {
			if (s[i] < '0' || s[i] > '9')
				goto bad;
			bits = bits * 10 + (unsigned)(s[i] - '0');
		}
		/* An IPv4-mapped network is held as IPv4 (as its
		 * addresses are). */
		if (c->net.family == AF_INET && memchr(s, ':', alen) != NULL) {
			if (bits < 96 || bits > 128)
				goto bad;
			bits -= 96;
		}
		if (bits > max)
			goto bad;
	}
	c->bits = bits;
	for (i = 0; i < sizeof(c->net.addr); i++) {
		if (bits >= 8)
			bits -= 8;
		else {
			c->net.addr[i] &= (unsigned char)(0xff00 >> bits);
			bits = 0;
		}
	}
	return 0;
bad:
	if (err != NULL)
		snprintf(err, errlen,
		    "--trusted-proxy: '%.*s' is not an IPv4 or IPv6 address "
		    "or network (address/bits)",
		    (int)(len > 64 ? 64 : len), s);
	return -1;
}

/* --trusted-proxy's list; see forwarded.h. */
int
forwarded_trust_parse(const char *list, struct forwarded_trust *t, char *err,
    size_t errlen)
{
	const char *p = list, *q;

	t->n = 0;
	if (list == NULL)
		return 0;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			return 0;
		for (q = p; *q != '\0' && *q != ' ' && *q != '\t'; q++)
			;
		if (t->n == WSB_MAX_TRUSTED_PROXIES) {
			if (err != NULL)
				snprintf(err, errlen,
				    "--trusted-proxy: more than %d networks",
				    WSB_MAX_TRUSTED_PROXIES);
			return -1;
		}
		if (forwarded_cidr_parse(p, (size_t)(q - p), &t->cidr[t->n],
			err, errlen) == -1)
			return -1;
		t->n++;
		p = q;
	}
}

/* The start-up check of the list; see forwarded.h. */
int
forwarded_check(const char *list, char *err, size_t errlen)
{
	struct forwarded_trust t;

	return forwarded_trust_parse(list, &t, err, errlen);
}

/* 1 if a is inside c, else 0. */
static int
forwarded_cidr_match(const struct forwarded_cidr *c,
    const struct forwarded_addr			 *a)
{
	unsigned bits = c->bits, i;

	if (c->net.family != a->family)
		return 0;
	for (i = 0; bits >= 8; i++, bits -= 8)
		if (a->addr[i] != c->net.addr[i])
			return 0;
	if (bits == 0)
		return 1;
	return (a->addr[i] & (unsigned char)(0xff00 >> bits)) ==
	    c->net.addr[i];
}

/* Is a a trusted proxy; see forwarded.h. */
int
forwarded_trusts(const struct forwarded_trust *t,
    const struct forwarded_addr		      *a)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (forwarded_cidr_match(&t->cidr[i], a))
			return 1;
	return 0;
}

/* A socket address as a forwarded_addr; see forwarded.h. */
int
forwarded_addr_from_sockaddr(const struct sockaddr *sa,
    struct forwarded_addr			   *a)
{
	const struct sockaddr_in  *sin;
	const struct sockaddr_in6 *sin6;

	memset(a, 0, sizeof(*a));
	switch (sa->sa_family) {
	case AF_INET:
		sin = (const struct sockaddr_in *)(const void *)sa;
		a->family = AF_INET;
		memcpy(a->addr, &sin->sin_addr, 4);
		a->port = ntohs(sin->sin_port);
		return 0;
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		a->family = AF_INET6;
		memcpy(a->addr, &sin6->sin6_addr, 16);
		a->port = ntohs(sin6->sin6_port);
		if (memcmp(a->addr, forwarded_v4mapped, 12) == 0) {
			memmove(a->addr, a->addr + 12, 4);
			memset(a->addr + 4, 0, 12);
			a->family = AF_INET;
		}
		return 0;
	}
	return -1;
}

/* A forwarded_addr as a socket address; see forwarded.h. */
socklen_t
forwarded_addr_to_sockaddr(const struct forwarded_addr *a,
    struct sockaddr_storage			       *ss)
{
	struct sockaddr_in  *sin = (struct sockaddr_in *)(void *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)ss;

	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, a->addr, 4);
		sin->sin_port = htons(a->port);
		return sizeof(*sin);
	}
	sin6->sin6_family = AF_INET6;
	memcpy(&sin6->sin6_addr, a->addr, 16);
	sin6->sin6_port = htons(a->port);
	return sizeof(*sin6);
}

/* One hop, left to right: a is its address, or NULL when it names none. */
static void
forwarded_walk_hop(struct forwarded_walk *w, const struct forwarded_addr *a)
{
	if (a == NULL) {
		w->hops++;
		w->last_kind = -1;
		return;
	}
	if (w->hops++ == 0)
		w->first = *a;
	if (!forwarded_trusts(w->t, a)) {
		w->last = *a;
		w->last_kind = 1;
	}
}

/* The walk's answer, as forwarded_client() returns it. */
static int
forwarded_walk_end(const struct forwarded_walk *w,
    struct forwarded_addr		       *client)
{
	if (w->hops == 0)
		return 0;
	if (w->last_kind == -1)
		return -1;
	*client = w->last_kind == 1 ? w->last : w->first;
	return 1;
}

/* 1 if c is an RFC 9110 5.6.2 token character. */
static int
forwarded_tchar(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/*
 * One value at *p (RFC 7239 4: token / quoted-string; a token taken
 * leniently as any visible run without ';' ',' '"', so that an unquoted
 * "[v6]:port" or "1.2.3.4:80" passes), decoded into buf (room
 * FORWARDED_NODE_MAX; *len set, or FORWARDED_NODE_MAX + 1 when longer).
 * 0, or -1 when malformed (empty, unterminated quote, a control byte).
 */
static int
forwarded_value(const char **pp, const char *end, char *buf, size_t *len)
{
	const char *p = *pp;
	size_t	    n = 0;
	int	    c;

	if (p < end && *p == '"') {
		for (p++;; p++) {
			if (p == end)
				return -1;
			c = (unsigned char)*p;
			if (c == '"')
				break;
			if (c == '\\' && ++p == end)
				return -1;
			c = (unsigned char)*p;
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return -1;
			if (n < FORWARDED_NODE_MAX)
				buf[n] = (char)c;
			n++;
		}
		p++;
	} else {
		for (; p < end && (c = (unsigned char)*p) > 0x20 && c < 0x7f &&
		     c != ';' && c != ',' && c != '"';
		     p++) {
			if (n < FORWARDED_NODE_MAX)
				buf[n] = (char)c;
			n++;
		}
		if (n == 0)
			return -1;
	}
	*len = n > FORWARDED_NODE_MAX ? FORWARDED_NODE_MAX + 1 : n;
	*pp = p;
	return 0;
}

/* One pair at *p, "name=value" (RFC 7239 4); for a "for" pair, *is_for
 * set and the node parsed into *a (*ok 1 if an address).  0 or -1. */
static int
forwarded_pair(const char **pp, const char *end, int *is_for,
    struct forwarded_addr *a, int *ok)
{
	const char *p = *pp, *name = p;
	char	    buf[FORWARDED_NODE_MAX];
	size_t	    len;

	while (p < end && forwarded_tchar((unsigned char)*p))
		p++;
	if (p == name || p == end || *p != '=')
		return -1;
	*is_for = p - name == 3 && strncasecmp(name, "for", 3) == 0;
	p++;
	if (forwarded_value(&p, end, buf, &len) == -1)
		return -1;
	if (*is_for)
		*ok = len <= FORWARDED_NODE_MAX &&
		    forwarded_parse_node(buf, len, a);
	*pp = p;
	return 0;
}

/* One Forwarded header value [p, end): each element's for= a hop of w.
 * 0, or -1 when malformed (then nothing in it is believed). */
static int
forwarded_header(const char *p, const char *end, struct forwarded_walk *w)
{
	struct forwarded_addr a;
	int		      in_elem = 0, have_for = 0, ok = 0, is_for;

	for (;;) {
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p == end || *p == ',') {
			if (in_elem)
				forwarded_walk_hop(w,
				    have_for && ok ? &a : NULL);
			in_elem = have_for = ok = 0;
			if (p == end)
				return 0;
			p++;
			continue;
		}
		if (*p == ';') {
			p++;
			continue;
		}
		if (forwarded_pair(&p, end, &is_for, &a, &ok) == -1)
			return -1;
		in_elem = 1;
		if (is_for && have_for++)
			return -1; /* RFC 7239 4: once per element */
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p < end && *p != ';' && *p != ',')
			return -1;
	}
}

/* The Forwarded headers as one list of hops; see forwarded_client. */
static int
forwarded_from_forwarded(const struct http_request *req,
    struct forwarded_walk *w, int *present)
{
	const char *v;
	size_t	    i = 0, len;

	*present = 0;
	while ((v = http_header_next(req, "Forwarded", &i, &len)) != NULL) {
		*present = 1;
		if (forwarded_header(v, v + len, w) == -1)
			return -1;
	}
	return 0;
}

/* The X-Forwarded-For headers, joined by ',', as one list of hops. */
static void
forwarded_from_xff(const struct http_request *req, struct forwarded_walk *w)
{
	struct forwarded_addr a;
	const char	     *v, *p, *item;
	size_t		      i = 0, len, ilen;

	while ((v = http_header_next(req, "X-Forwarded-For", &i, &len)) !=
	    NULL) {
		p = v;
		while (http_list_next(&p, v + len, &item, &ilen))
			forwarded_walk_hop(w,
			    forwarded_parse_node(item, ilen, &a) ? &a : NULL);
	}
}

/* The client in a trusted proxy's headers; see forwarded.h. */
int
forwarded_client(const struct http_request *req,
    const struct forwarded_trust *t, struct forwarded_addr *client,
    const char **how)
{
	struct forwarded_walk w;
	struct forwarded_addr a;
	const char	     *v, *last = NULL;
	size_t		      i = 0, len, last_len = 0;
	int		      present, r;

	memset(&w, 0, sizeof(w));
	w.t = t;
	if (forwarded_from_forwarded(req, &w, &present) == -1) {
		*how = "Forwarded";
		return -1;
	}
	if (present && (r = forwarded_walk_end(&w, client)) != 0) {
		*how = "Forwarded";
		return r;
	}
	memset(&w, 0, sizeof(w));
	w.t = t;
	forwarded_from_xff(req, &w);
	if ((r = forwarded_walk_end(&w, client)) != 0) {
		*how = "X-Forwarded-For";
		return r;
	}
	while ((v = http_header_next(req, "X-Real-IP", &i, &len)) != NULL) {
		last = v;
		last_len = len;
	}
	if (last == NULL || last_len == 0)
		return 0;
	*how = "X-Real-IP";
	if (!forwarded_parse_node(last, last_len, &a))
		return -1;
	*client = a;
	return 1;
}
