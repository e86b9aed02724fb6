/*
 * The PROXY protocol, versions 1 and 2 (haproxy's doc/proxy-protocol.txt):
 * parse a header a proxy sent, build one for a target.  Pure.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "proxy_proto.h"
#include "wsb_limits.h"

/* proxy-protocol.txt 2.2: the v2 signature, then version 2 in the high
 * nibble of byte 13 with the command (0 LOCAL, 1 PROXY) below it. */
static const unsigned char proxy_proto_sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a,
	0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };
#define PROXY_PROTO_V2_LOCAL 0x20
#define PROXY_PROTO_V2_PROXY 0x21
/* Family (high nibble) and transport (low nibble) of byte 14. */
#define PROXY_PROTO_FAM_UNSPEC 0x0
#define PROXY_PROTO_FAM_INET 0x1
#define PROXY_PROTO_FAM_INET6 0x2
#define PROXY_PROTO_FAM_UNIX 0x3
#define PROXY_PROTO_TR_STREAM 0x1
#define PROXY_PROTO_TR_DGRAM 0x2
/* Address block of each family with its ports (2.2). */
#define PROXY_PROTO_LEN_INET 12
#define PROXY_PROTO_LEN_INET6 36
#define PROXY_PROTO_LEN_UNIX 216
#define PROXY_PROTO_UNIX_PATH 108

/* Longest v1 field: an IPv6 address in text, IPv4-mapped included. */
#define PROXY_PROTO_V1_FIELD INET6_ADDRSTRLEN

static int  proxy_proto_fail(struct proxy_header *, const char *);
static int  proxy_proto_v1(const unsigned char *, size_t,
     struct proxy_header *);
static int  proxy_proto_v1_line(const char *, size_t, struct proxy_header *);
static int  proxy_proto_v1_field(const char **, const char *, char *, size_t);
static int  proxy_proto_v1_port(const char *, uint16_t *);
static int  proxy_proto_v2(const unsigned char *, size_t,
     struct proxy_header *);
static void proxy_proto_v2_addrs(const unsigned char *, int,
    struct proxy_header *);
static int  proxy_proto_pair(const struct sockaddr *, const struct sockaddr *,
     struct sockaddr_storage *, struct sockaddr_storage *);

/* Set the reason and return -1. */
static int
proxy_proto_fail(struct proxy_header *h, const char *why)
{
	h->error = why;
	return -1;
}

/* See proxy_proto.h. */
int
proxy_proto_parse(const void *buf, size_t len, struct proxy_header *h)
{
	const unsigned char *p = buf;

	memset(h, 0, sizeof(*h));
	if (len == 0)
		return -2;
	if (p[0] == 'P')
		return proxy_proto_v1(p, len, h);
	if (p[0] == proxy_proto_sig[0])
		return proxy_proto_v2(p, len, h);
	return proxy_proto_fail(h, "not a PROXY protocol header");
}

/*
 * Version 1 (proxy-protocol.txt 2.1): "PROXY ", then one line ended by
 * CRLF within 107 bytes; a bare CR or LF is refused.
 */
static int
proxy_proto_v1(const unsigned char *p, size_t len, struct proxy_header *h)
{
	static const char prefix[] = "PROXY ";
	size_t		  i;

	h->version = 1;
	for (i = 0; i < len && i < sizeof(prefix) - 1; i++)
		if (p[i] != (unsigned char)prefix[i])
			return proxy_proto_fail(h,
			    "not a PROXY protocol header");
	for (i = 0; i < len && i < PROXY_PROTO_V1_MAX; i++) {
		if (p[i] == '\n')
			return proxy_proto_fail(h,
			    "v1 line ends in a bare LF");
		if (p[i] != '\r')
			continue;
		if (i + 2 > PROXY_PROTO_V1_MAX)
			break;
		if (i + 1 == len)
			return -2;
		if (p[i + 1] != '\n')
			return proxy_proto_fail(h, "v1 line has a bare CR");
		if (proxy_proto_v1_line((const char *)p, i, h) == -1)
			return -1;
		return (int)i + 2;
	}
	if (len >= PROXY_PROTO_V1_MAX)
		return proxy_proto_fail(h, "no CRLF in the first 107 bytes");
	return -2;
}

/* The next field of a v1 line at *s (before end) into f (flen bytes),
 * *s then past it and its one space.  -1 if empty, too long, or not
 * visible ASCII. */
static int
proxy_proto_v1_field(const char **s, const char *end, char *f, size_t flen)
{
	const char *sp = memchr(*s, ' ', (size_t)(end - *s));
	size_t	    n = (size_t)((sp != NULL ? sp : end) - *s), i;

	if (n == 0 || n >= flen)
		return -1;
	/* Visible ASCII only: a NUL (or any control) would end the field
	 * early for inet_pton and strlen. */
	for (i = 0; i < n; i++)
		if ((unsigned char)(*s)[i] < 0x21 ||
		    (unsigned char)(*s)[i] > 0x7e)
			return -1;
	memcpy(f, *s, n);
	f[n] = '\0';
	*s += n + (sp != NULL);
	return 0;
}

/* A v1 port: 0 to 65535 in decimal without leading zeroes. */
static int
proxy_proto_v1_port(const char *f, uint16_t *port)
{
	unsigned long v = 0;
	size_t	      i, n = strlen(f);

	if (n == 0 || n > 5 || (f[0] == '0' && n > 1))
		return -1;
	for (i = 0; i < n; i++) {
		if (f[i] < '0' || f[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(f[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port = htons((uint16_t)v);
	return 0;
}

/*
 * The v1 line without "PROXY " and CRLF: "UNKNOWN" and anything (ignored),
 * or TCP4/TCP6, source and destination address, source and destination
 * port, separated by single spaces.  Dotted quads without leading zeroes
 * (inet_pton's rule).  -1 if malformed.
 */
static int
proxy_proto_v1_line(const char *line, size_t len, struct proxy_header *h)
{
	struct sockaddr_in  *s4, *d4;
	struct sockaddr_in6 *s6, *d6;
	const char	    *s = line + 6, *end = line + len;
	char proto[16], src[PROXY_PROTO_V1_FIELD], dst[PROXY_PROTO_V1_FIELD],
	    sp[8], dp[8];
	uint16_t sport, dport;
	int	 fam;

	if (proxy_proto_v1_field(&s, end, proto, sizeof(proto)) == -1)
		return proxy_proto_fail(h, "v1 line without a protocol");
	if (strcmp(proto, "UNKNOWN") == 0)
		return 0; /* the rest of the line is ignored */
	if (strcmp(proto, "TCP4") == 0)
		fam = AF_INET;
	else if (strcmp(proto, "TCP6") == 0)
		fam = AF_INET6;
	else
		return proxy_proto_fail(h,
		    "v1 protocol not TCP4, TCP6 "
		    "or UNKNOWN");
	if (s == end || s[-1] != ' ' ||
	    proxy_proto_v1_field(&s, end, src, sizeof(src)) == -1 ||
	    proxy_proto_v1_field(&s, end, dst, sizeof(dst)) == -1 ||
	    proxy_proto_v1_field(&s, end, sp, sizeof(sp)) == -1 ||
	    proxy_proto_v1_field(&s, end, dp, sizeof(dp)) == -1 || s != end ||
	    end[-1] == ' ')
		return proxy_proto_fail(h,
		    "v1 line is not PROTO SRC DST "
		    "SPORT DPORT");
	if (proxy_proto_v1_port(sp, &sport) == -1 ||
	    proxy_proto_v1_port(dp, &dport) == -1)
		return proxy_proto_fail(h, "v1 port not 0 to 65535");
	if (fam == AF_INET) {
		s4 = (struct sockaddr_in *)&h->src;
		d4 = (struct sockaddr_in *)&h->dst;
		if (inet_pton(AF_INET, src, &s4->sin_addr) != 1 ||
		    inet_pton(AF_INET, dst, &d4->sin_addr) != 1)
			return proxy_proto_fail(h, "v1 address not IPv4");
		s4->sin_family = d4->sin_family = AF_INET;
		s4->sin_port = sport;
		d4->sin_port = dport;
		h->src_len = h->dst_len = sizeof(*s4);
	} else {
		s6 = (struct sockaddr_in6 *)&h->src;
		d6 = (struct sockaddr_in6 *)&h->dst;
		if (inet_pton(AF_INET6, src, &s6->sin6_addr) != 1 ||
		    inet_pton(AF_INET6, dst, &d6->sin6_addr) != 1)
			return proxy_proto_fail(h, "v1 address not IPv6");
		s6->sin6_family = d6->sin6_family = AF_INET6;
		s6->sin6_port = sport;
		d6->sin6_port = dport;
		h->src_len = h->dst_len = sizeof(*s6);
	}
	h->relayed = 1;
	return 0;
}

/*
 * Version 2 (proxy-protocol.txt 2.2): each field is judged as soon as
 * it has arrived, so a wrong one is refused without waiting for more.
 */
static int
proxy_proto_v2(const unsigned char *p, size_t len, struct proxy_header *h)
{
	static const size_t need_by_fam[] = { 0, PROXY_PROTO_LEN_INET,
		PROXY_PROTO_LEN_INET6, PROXY_PROTO_LEN_UNIX };
	size_t		    n = len < sizeof(proxy_proto_sig) ? len : 12;
	size_t		    total, need = 0, off, tl;
	int		    fam, tr;

	h->version = 2;
	if (memcmp(p, proxy_proto_sig, n) != 0)
		return proxy_proto_fail(h, "not a PROXY protocol header");
	if (len < 13)
		return -2;
	if (p[12] != PROXY_PROTO_V2_LOCAL && p[12] != PROXY_PROTO_V2_PROXY)
		return proxy_proto_fail(h,
		    (p[12] >> 4) != 2 ? "v2 header of another version" :
					"v2 command neither LOCAL nor PROXY");
	if (len < 14)
		return -2;
	fam = p[13] >> 4;
	tr = p[13] & 0x0f;
	if (fam > PROXY_PROTO_FAM_UNIX || tr > PROXY_PROTO_TR_DGRAM)
		return proxy_proto_fail(h, "v2 family or transport unknown");
	if (len < PROXY_PROTO_V2_FIXED)
		return -2;
	total = PROXY_PROTO_V2_FIXED + ((size_t)p[14] << 8 | p[15]);
	if (total > WSB_PROXY_HEADER_MAX)
		return proxy_proto_fail(h, "v2 header too long");
	/* Addresses are read for PROXY over a stream; otherwise skipped
	 * (LOCAL: ignored; UNSPEC and datagrams: the real endpoints). */
	h->local = p[12] == PROXY_PROTO_V2_LOCAL;
	if (!h->local && tr == PROXY_PROTO_TR_STREAM)
		need = need_by_fam[fam];
	if (total - PROXY_PROTO_V2_FIXED < need)
		return proxy_proto_fail(h,
		    "v2 address block shorter than "
		    "its family");
	if (len < total)
		return -2;
	/* TLVs after known addresses: type, 16-bit length, value. */
	for (off = PROXY_PROTO_V2_FIXED + need; need > 0 && off < total;
	     off += 3 + tl) {
		if (total - off < 3 ||
		    (tl = (size_t)p[off + 1] << 8 | p[off + 2]) >
			total - off - 3)
			return proxy_proto_fail(h, "v2 TLV past the end");
	}
	if (need > 0)
		proxy_proto_v2_addrs(p + PROXY_PROTO_V2_FIXED, fam, h);
	return (int)total;
}

/* The addresses of a v2 PROXY header over a stream of family fam. */
static void
proxy_proto_v2_addrs(const unsigned char *a, int fam, struct proxy_header *h)
{
	struct sockaddr_in  *s4 = (struct sockaddr_in *)&h->src;
	struct sockaddr_in  *d4 = (struct sockaddr_in *)&h->dst;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&h->src;
	struct sockaddr_in6 *d6 = (struct sockaddr_in6 *)&h->dst;
	struct sockaddr_un  *su = (struct sockaddr_un *)&h->src;
	struct sockaddr_un  *du = (struct sockaddr_un *)&h->dst;

	h->relayed = 1;
	switch (fam) {
	case PROXY_PROTO_FAM_INET:
		s4->sin_family = d4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, a, 4);
		memcpy(&d4->sin_addr, a + 4, 4);
		memcpy(&s4->sin_port, a + 8, 2);
		memcpy(&d4->sin_port, a + 10, 2);
		h->src_len = h->dst_len = sizeof(*s4);
		break;
	case PROXY_PROTO_FAM_INET6:
		s6->sin6_family = d6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, a, 16);
		memcpy(&d6->sin6_addr, a + 16, 16);
		memcpy(&s6->sin6_port, a + 32, 2);
		memcpy(&d6->sin6_port, a + 34, 2);
		h->src_len = h->dst_len = sizeof(*s6);
		break;
	default: /* PROXY_PROTO_FAM_UNIX: 108 bytes each, as sun_path */
		su->sun_family = du->sun_family = AF_UNIX;
		memcpy(su->sun_path, a, PROXY_PROTO_UNIX_PATH);
		memcpy(du->sun_path, a + PROXY_PROTO_UNIX_PATH,
		    PROXY_PROTO_UNIX_PATH);
		h->src_len = h->dst_len = sizeof(*su);
		break;
	}
}

/* See proxy_proto.h. */
size_t
proxy_proto_want(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t		     total;

	if (len >= PROXY_PROTO_V2_FIXED && p[0] == proxy_proto_sig[0]) {
		total = PROXY_PROTO_V2_FIXED + ((size_t)p[14] << 8 | p[15]);
		return total > len ? total - len : 1;
	}
	return len < PROXY_PROTO_V1_MAX ? PROXY_PROTO_V1_MAX - len : 1;
}

/* See proxy_proto.h. */
int
proxy_proto_detect(const void *buf, size_t len)
{
	if (len >= 6 && memcmp(buf, "PROXY ", 6) == 0)
		return 1;
	return len >= 5 &&
	    memcmp(buf, proxy_proto_sig,
		len < sizeof(proxy_proto_sig) ? len :
						sizeof(proxy_proto_sig)) == 0;
}

/*
 * src and dst as a pair of one family in *s and *d: AF_INET or AF_INET6
 * (see proxy_proto_build for the mixing rules), or AF_UNSPEC when src is
 * neither.
 */
static int
proxy_proto_pair(const struct sockaddr *src, const struct sockaddr *dst,
    struct sockaddr_storage *s, struct sockaddr_storage *d)
{
	struct sockaddr_storage *both[2] = { s, d };
	struct sockaddr_in	*a4, v4;
	struct sockaddr_in6	*a6, v6;
	int			 i, fam;

	if (src->sa_family != AF_INET && src->sa_family != AF_INET6)
		return AF_UNSPEC;
	memset(s, 0, sizeof(*s));
	memset(d, 0, sizeof(*d));
	memcpy(s, src, src->sa_family == AF_INET ? sizeof(v4) : sizeof(v6));
	if (dst->sa_family == AF_INET || dst->sa_family == AF_INET6)
		memcpy(d, dst,
		    dst->sa_family == AF_INET ? sizeof(v4) : sizeof(v6));
	else
		d->ss_family = src->sa_family; /* any address, port 0 */
	if (s->ss_family != d->ss_family) {
		for (i = 0; i < 2; i++) {
			if (both[i]->ss_family != AF_INET)
				continue;
			memcpy(&v4, both[i], sizeof(v4));
			memset(&v6, 0, sizeof(v6));
			v6.sin6_family = AF_INET6;
			v6.sin6_port = v4.sin_port;
			v6.sin6_addr.s6_addr[10] = v6.sin6_addr.s6_addr[11] =
			    0xff;
			memcpy(&v6.sin6_addr.s6_addr[12], &v4.sin_addr, 4);
			memcpy(both[i], &v6, sizeof(v6));
		}
	}
	fam = s->ss_family;
	a6 = (struct sockaddr_in6 *)s;
	if (fam == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr) &&
	    IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)d)->sin6_addr)) {
		for (i = 0; i < 2; i++) {
			memcpy(&v6, both[i], sizeof(v6));
			a4 = (struct sockaddr_in *)both[i];
			memset(a4, 0, sizeof(*both[i]));
			a4->sin_family = AF_INET;
			a4->sin_port = v6.sin6_port;
			memcpy(&a4->sin_addr, &v6.sin6_addr.s6_addr[12], 4);
		}
		fam = AF_INET;
	}
	return fam;
}

/* See proxy_proto.h. */
int
proxy_proto_build(int version, const struct sockaddr *src,
    const struct sockaddr *dst, void *out, size_t outlen)
{
	struct sockaddr_storage s, d;
	struct sockaddr_in     *s4 = (struct sockaddr_in *)&s;
	struct sockaddr_in     *d4 = (struct sockaddr_in *)&d;
	struct sockaddr_in6    *s6 = (struct sockaddr_in6 *)&s;
	struct sockaddr_in6    *d6 = (struct sockaddr_in6 *)&d;
	unsigned char	       *o = out;
	char			sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN];
	int			fam = proxy_proto_pair(src, dst, &s, &d), n;
	size_t			alen;

	if (version == 1) {
		if (fam == AF_UNSPEC)
			n = snprintf(out, outlen, "PROXY UNKNOWN\r\n");
		else
			n = snprintf(out, outlen, "PROXY %s %s %s %u %u\r\n",
			    fam == AF_INET ? "TCP4" : "TCP6",
			    inet_ntop(fam,
				fam == AF_INET ? (void *)&s4->sin_addr :
						 (void *)&s6->sin6_addr,
				sa, sizeof(sa)),
			    inet_ntop(fam,
				fam == AF_INET ? (void *)&d4->sin_addr :
						 (void *)&d6->sin6_addr,
				da, sizeof(da)),
			    ntohs(fam == AF_INET ? s4->sin_port :
						   s6->sin6_port),
			    ntohs(fam == AF_INET ? d4->sin_port :
						   d6->sin6_port));
		return n < 0 || (size_t)n >= outlen ? -1 : n;
	}
	if (version != 2)
		return -1;
	alen = fam == AF_INET ? PROXY_PROTO_LEN_INET :
	    fam == AF_INET6   ? PROXY_PROTO_LEN_INET6 :
				0;
	if (outlen < PROXY_PROTO_V2_FIXED + alen)
		return -1;
	memcpy(o, proxy_proto_sig, sizeof(proxy_proto_sig));
	o[12] = fam == AF_UNSPEC ? PROXY_PROTO_V2_LOCAL : PROXY_PROTO_V2_PROXY;
	o[13] = fam == AF_INET ? 0x11 : fam == AF_INET6 ? 0x21 : 0x00;
	o[14] = 0;
	o[15] = (unsigned char)alen;
	if (fam == AF_INET) {
		memcpy(o + 16, &s4->sin_addr, 4);
		memcpy(o + 20, &d4->sin_addr, 4);
		memcpy(o + 24, &s4->sin_port, 2);
		memcpy(o + 26, &d4->sin_port, 2);
	} else if (fam == AF_INET6) {
		memcpy(o + 16, &s6->sin6_addr, 16);
		memcpy(o + 32, &d6->sin6_addr, 16);
		memcpy(o + 48, &s6->sin6_port, 2);
		memcpy(o + 50, &d6->sin6_port, 2);
	}
	return (int)(PROXY_PROTO_V2_FIXED + alen);
}
