/*
 * Unit tests for the PROXY protocol codec (src/proxy_proto.c) against
 * haproxy's doc/proxy-protocol.txt: tables of valid and invalid headers,
 * each parsed whole, on every prefix (at the edge of a guard page) and
 * with bytes after it; build then parse round trips.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <criterion/criterion.h>

#include "proxy_proto.h"
#include "wsb_limits.h"
#include "test_helpers.h"

/* A case leaves the fields it does not need zero: one line per case. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* A byte string literal and its length, NULs included. */
#define B(s) (s), (sizeof(s) - 1)
/* The v2 signature (proxy-protocol.txt 2.2). */
#define SIG "\r\n\r\n\0\r\nQUIT\n"
/* v2 address blocks: 127.0.0.2:12345 -> 127.0.0.1:8080, and
 * 2001:db8::7:443 -> ::1:80. */
#define A4 "\x7f\x00\x00\x02\x7f\x00\x00\x01\x30\x39\x1f\x90"
#define A6                                           \
	"\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x07" \
	"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\x01\xbb\x00\x50"
/* proxy-protocol.txt 2.1: the longest v1 line, 107 bytes. */
#define V1_WORST                                                 \
	"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff " \
	"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"

struct valid_case {
	const char *desc;
	const char *in;
	size_t	    len;
	int	    version, relayed, local;
	const char *src; /* "addr port" when relayed */
	const char *dst;
};

static const struct valid_case valid[] = {
	{ "v1 TCP4", B("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"), 1,
	    1, 0, "192.0.2.1 56324", "198.51.100.2 443" },
	{ "v1 TCP4 ports 0, widest addresses",
	    B("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n"), 1, 1, 0,
	    "0.0.0.0 0", "255.255.255.255 65535" },
	{ "v1 TCP6", B("PROXY TCP6 2001:db8::1 ::1 1 65535\r\n"), 1, 1, 0,
	    "2001:db8::1 1", "::1 65535" },
	{ "v1 TCP6 of 104 bytes",
	    B("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe 65535 65535\r\n"),
	    1, 1, 0, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535",
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe 65535" },
	{ "v1 UNKNOWN, short form", B("PROXY UNKNOWN\r\n"), 1, 0, 0 },
	{ "v1 UNKNOWN, 107 bytes (the longest)", B(V1_WORST), 1, 0, 0 },
	{ "v1 UNKNOWN, anything after it ignored",
	    B("PROXY UNKNOWN whatever \x01 it says\r\n"), 1, 0, 0 },
	{ "v2 PROXY TCP over IPv4", B(SIG "\x21\x11\x00\x0c" A4), 2, 1, 0,
	    "127.0.0.2 12345", "127.0.0.1 8080" },
	{ "v2 PROXY TCP over IPv6", B(SIG "\x21\x21\x00\x24" A6), 2, 1, 0,
	    "2001:db8::7 443", "::1 80" },
	{ "v2 PROXY IPv4 with TLVs skipped (NOOP, ALPN)",
	    B(SIG "\x21\x11\x00\x17" A4 "\x04\x00\x03"
		  "abc\x01\x00\x02h2"),
	    2, 1, 0, "127.0.0.2 12345", "127.0.0.1 8080" },
	{ "v2 PROXY IPv4 with an empty TLV",
	    B(SIG "\x21\x11\x00\x0f" A4 "\x04\x00\x00"), 2, 1, 0,
	    "127.0.0.2 12345", "127.0.0.1 8080" },
	{ "v2 LOCAL UNSPEC (a health check)", B(SIG "\x20\x00\x00\x00"), 2, 0,
	    1 },
	{ "v2 LOCAL with addresses: ignored", B(SIG "\x20\x11\x00\x0c" A4), 2,
	    0, 1 },
	{ "v2 LOCAL with a short block: ignored", B(SIG "\x20\x21\x00\x02xx"),
	    2, 0, 1 },
	{ "v2 PROXY UNSPEC: the real endpoints", B(SIG "\x21\x00\x00\x00"), 2,
	    0, 0 },
	{ "v2 PROXY UDP over IPv4: falls back to UNSPEC",
	    B(SIG "\x21\x12\x00\x0c" A4), 2, 0, 0 },
	{ "v2 PROXY IPv4, UNSPEC transport: falls back",
	    B(SIG "\x21\x10\x00\x00"), 2, 0, 0 },
};

struct invalid_case {
	const char *desc;
	const char *in;
	size_t	    len;
	size_t	    fail_at; /* shortest prefix refused; 0: the whole */
};

static const struct invalid_case invalid[] = {
	{ "an HTTP request", B("GET / HTTP/1.1\r\n\r\n"), 1 },
	{ "a TLS ClientHello", B("\x16\x03\x01\x02\x00"), 1 },
	{ "PROXX", B("PROXX TCP4"), 5 },
	{ "PROXY without its space", B("PROXYTCP4 1.2.3.4"), 6 },
	{ "lower case", B("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), 1 },
	{ "v1 ended by a bare LF", B("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), 0 },
	{ "v1 with a bare CR", B("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX"), 0 },
	{ "v1 without CRLF in 107 bytes",
	    B("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 655355xx"),
	    107 },
	{ "v1 of 108 bytes with CRLF",
	    B("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 655355\r\n"),
	    107 },
	{ "v1 empty protocol", B("PROXY \r\n"), 0 },
	{ "v1 UNKNOWNX", B("PROXY UNKNOWNX\r\n"), 0 },
	{ "v1 UDP4", B("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"), 0 },
	{ "v1 TCP4 and nothing", B("PROXY TCP4\r\n"), 0 },
	{ "v1 a field missing", B("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), 0 },
	{ "v1 a field too many", B("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"),
	    0 },
	{ "v1 two spaces", B("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"), 0 },
	{ "v1 trailing space", B("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n"), 0 },
	{ "v1 address with a leading zero",
	    B("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n"), 0 },
	{ "v1 address octet past 255",
	    B("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n"), 0 },
	{ "v1 IPv4 address in TCP6", B("PROXY TCP6 1.2.3.4 ::1 1 2\r\n"), 0 },
	{ "v1 IPv6 address in TCP4", B("PROXY TCP4 ::1 ::1 1 2\r\n"), 0 },
	{ "v1 port with a leading zero",
	    B("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"), 0 },
	{ "v1 port 65536", B("PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n"), 0 },
	{ "v1 port not a number", B("PROXY TCP4 1.2.3.4 5.6.7.8 1 +2\r\n"),
	    0 },
	{ "v1 port of 6 digits", B("PROXY TCP4 1.2.3.4 5.6.7.8 1 100000\r\n"),
	    0 },
	{ "v2 signature broken at byte 12",
	    B("\r\n\r\n\0\r\nQUIT\r\x21\x11\x00\x0c" A4), 12 },
	{ "v2 signature broken at byte 5", B("\r\n\r\nX"), 5 },
	{ "v2 version 1", B(SIG "\x11\x11\x00\x0c" A4), 13 },
	{ "v2 version 3", B(SIG "\x31\x11\x00\x0c" A4), 13 },
	{ "v2 command 2", B(SIG "\x22\x11\x00\x0c" A4), 13 },
	{ "v2 family 4", B(SIG "\x21\x41\x00\x0c" A4), 14 },
	{ "v2 transport 3", B(SIG "\x21\x13\x00\x0c" A4), 14 },
	{ "v2 IPv4 block of 11 bytes",
	    B(SIG "\x21\x11\x00\x0b"
		  "\x7f\x00\x00\x02\x7f\x00\x00\x01\x30\x39\x1f"),
	    16 },
	{ "v2 IPv6 block of 12 bytes", B(SIG "\x21\x21\x00\x0c" A4), 16 },
	{ "v2 Unix block of 36 bytes", B(SIG "\x21\x31\x00\x24" A6), 16 },
	{ "v2 TLV value past the end",
	    B(SIG "\x21\x11\x00\x10" A4 "\x04\x00\x02x"), 0 },
	{ "v2 TLV header cut", B(SIG "\x21\x11\x00\x0e" A4 "\x04\x00"), 0 },
	{ "v2 longer than WSB_PROXY_HEADER_MAX", B(SIG "\x21\x11\xff\xff"),
	    16 },
};

/* "addr port" of an AF_INET or AF_INET6 address. */
static void
addr_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	const struct sockaddr_in  *s4 = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
	char			   a[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET)
		snprintf(buf, len, "%s %u",
		    inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a)),
		    ntohs(s4->sin_port));
	else if (ss->ss_family == AF_INET6)
		snprintf(buf, len, "%s %u",
		    inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a)),
		    ntohs(s6->sin6_port));
	else
		snprintf(buf, len, "family %d", ss->ss_family);
}

/* Parse in[0..len) placed just before a guard page. */
static int
parse_guarded(const char *in, size_t len, struct proxy_header *h)
{
	char *end = test_guard_end(len);
	int   r;

	memcpy(end - len, in, len);
	r = proxy_proto_parse(end - len, len, h);
	test_guard_free(end, len);
	return r;
}

/* Every valid header: its length and fields whole, with bytes after it,
 * and "need more" on every strict prefix. */
Test(proxy_proto, valid_headers)
{
	struct proxy_header h;
	char		    buf[1024], got[128];
	size_t		    i, m;
	int		    r;

	for (i = 0; i < NELEM(valid); i++) {
		const struct valid_case *c = &valid[i];

		r = parse_guarded(c->in, c->len, &h);
		cr_assert_eq(r, (int)c->len, "%s: got %d (%s), want %zu",
		    c->desc, r, h.error ? h.error : "", c->len);
		cr_assert_eq(h.version, c->version, "%s: version", c->desc);
		cr_assert_eq(h.relayed, c->relayed, "%s: relayed", c->desc);
		cr_assert_eq(h.local, c->local, "%s: local", c->desc);
		if (c->relayed) {
			addr_text(&h.src, got, sizeof(got));
			cr_assert_str_eq(got, c->src, "%s: source", c->desc);
			addr_text(&h.dst, got, sizeof(got));
			cr_assert_str_eq(got, c->dst, "%s: destination",
			    c->desc);
			cr_assert_eq(h.src_len,
			    h.src.ss_family == AF_INET ?
				sizeof(struct sockaddr_in) :
				sizeof(struct sockaddr_in6),
			    "%s: address length", c->desc);
		}
		memcpy(buf, c->in, c->len);
		memcpy(buf + c->len, "GET / HTTP/1.1\r\n", 16);
		r = proxy_proto_parse(buf, c->len + 16, &h);
		cr_assert_eq(r, (int)c->len, "%s: with bytes after it",
		    c->desc);
		for (m = 0; m < c->len; m++) {
			r = parse_guarded(c->in, m, &h);
			cr_assert_eq(r, -2, "%s: prefix of %zu bytes gave %d",
			    c->desc, m, r);
			/* A peek of want() bytes reaches the end once the
			 * length is known (v1: always, 107 at most). */
			cr_assert(proxy_proto_want(c->in, m) >= 1 &&
				(m + proxy_proto_want(c->in, m) >= c->len ||
				    (c->version == 2 && m < 16)),
			    "%s: want() too small at %zu", c->desc, m);
		}
	}
}

/* Every invalid header: refused with a reason, from its first wrong
 * byte on (and never "need more" once refused). */
Test(proxy_proto, invalid_headers)
{
	struct proxy_header h;
	size_t		    i, m, at;
	int		    r;

	for (i = 0; i < NELEM(invalid); i++) {
		const struct invalid_case *c = &invalid[i];

		r = parse_guarded(c->in, c->len, &h);
		cr_assert_eq(r, -1, "%s: got %d", c->desc, r);
		cr_assert(h.error != NULL && h.error[0] != '\0',
		    "%s: no reason", c->desc);
		at = c->fail_at != 0 ? c->fail_at : c->len;
		for (m = 0; m <= c->len; m++) {
			r = parse_guarded(c->in, m, &h);
			cr_assert_eq(r, m < at ? -2 : -1,
			    "%s: prefix of %zu bytes gave %d (%s)", c->desc, m,
			    r, h.error ? h.error : "");
		}
	}
}

/* v2 over AF_UNIX: 108-byte paths each, the source as the client. */
Test(proxy_proto, v2_unix)
{
	unsigned char	    in[16 + 216 + 4];
	struct proxy_header h;
	struct sockaddr_un *su = (struct sockaddr_un *)&h.src;
	struct sockaddr_un *du = (struct sockaddr_un *)&h.dst;

	memset(in, 0, sizeof(in));
	memcpy(in, SIG "\x21\x31\x00\xdc", 16); /* 216 + a 4-byte TLV */
	strcpy((char *)in + 16, "/run/client.sock");
	strcpy((char *)in + 16 + 108, "/run/haproxy.sock");
	memcpy(in + 232, "\x04\x00\x01z", 4);
	cr_assert_eq(proxy_proto_parse(in, sizeof(in), &h), (int)sizeof(in));
	cr_assert(h.relayed && h.src.ss_family == AF_UNIX &&
	    h.dst.ss_family == AF_UNIX);
	cr_assert_str_eq(su->sun_path, "/run/client.sock");
	cr_assert_str_eq(du->sun_path, "/run/haproxy.sock");
	cr_assert_eq(h.src_len, sizeof(struct sockaddr_un));
	cr_assert_eq(proxy_proto_parse(in, sizeof(in) - 1, &h), -2);
}

/* The longest v2 header taken, and one byte more. */
Test(proxy_proto, v2_length_limit)
{
	static unsigned char in[WSB_PROXY_HEADER_MAX + 1];
	struct proxy_header  h;
	size_t alen = WSB_PROXY_HEADER_MAX - 16, tl = alen - 12 - 3;

	memset(in, 'x', sizeof(in));
	memcpy(in, SIG "\x21\x11", 14);
	in[14] = (unsigned char)(alen >> 8);
	in[15] = (unsigned char)alen;
	memcpy(in + 16, A4, 12);
	in[28] = 0x04; /* one NOOP TLV filling the rest */
	in[29] = (unsigned char)(tl >> 8);
	in[30] = (unsigned char)tl;
	cr_assert_eq(proxy_proto_parse(in, WSB_PROXY_HEADER_MAX, &h),
	    WSB_PROXY_HEADER_MAX);
	cr_assert_eq(proxy_proto_want(in, 16), WSB_PROXY_HEADER_MAX - 16);
	alen++;
	in[14] = (unsigned char)(alen >> 8);
	in[15] = (unsigned char)alen;
	cr_assert_eq(proxy_proto_parse(in, 16, &h), -1);
}

/* How much a reader may peek: the rest of 107 for v1 (and before a v2
 * length is known), the rest of a v2 header once it is. */
Test(proxy_proto, want)
{
	cr_assert_eq(proxy_proto_want("", 0), 107);
	cr_assert_eq(proxy_proto_want("PROXY ", 6), 101);
	cr_assert_eq(proxy_proto_want(SIG, 12), 95);
	cr_assert_eq(proxy_proto_want(SIG "\x21\x11\x00\x0c", 16), 12);
	cr_assert_eq(proxy_proto_want(SIG "\x21\x11\x00\x0c" A4, 28), 1);
}

/* What a port without --proxy-protocol recognises for its hint. */
Test(proxy_proto, detect)
{
	cr_assert(proxy_proto_detect(B("PROXY TCP4 1.2.3.4")));
	cr_assert(proxy_proto_detect(B("PROXY ")));
	cr_assert(proxy_proto_detect(B(SIG "\x21\x11")));
	cr_assert(proxy_proto_detect(B("\r\n\r\n\0")));
	cr_assert(!proxy_proto_detect(B("\r\n\r\n")));
	cr_assert(!proxy_proto_detect(B("PROXY")));
	cr_assert(!proxy_proto_detect(B("PROXYX ")));
	cr_assert(!proxy_proto_detect(B("GET / HTTP/1.1\r\n")));
	cr_assert(!proxy_proto_detect(B("\r\n\r\nX\r\nQUIT\n")));
}

/* An address from text ("1.2.3.4", "::1") and port. */
static void
mkaddr(struct sockaddr_storage *ss, const char *a, unsigned port)
{
	struct sockaddr_in  *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, a, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
	} else {
		cr_assert(inet_pton(AF_INET6, a, &s6->sin6_addr) == 1);
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
	}
}

struct build_case {
	const char *desc;
	const char *src; /* NULL: a Unix socket */
	unsigned    sport;
	const char *dst; /* NULL: a Unix socket */
	unsigned    dport;
	const char *v1;	      /* the exact line */
	const char *want_src; /* parsed back, "addr port"; NULL: none */
	const char *want_dst;
};

static const struct build_case builds[] = {
	{ "IPv4", "192.0.2.1", 5000, "10.0.0.1", 443,
	    "PROXY TCP4 192.0.2.1 10.0.0.1 5000 443\r\n", "192.0.2.1 5000",
	    "10.0.0.1 443" },
	{ "IPv6", "2001:db8::1", 1, "::1", 65535,
	    "PROXY TCP6 2001:db8::1 ::1 1 65535\r\n", "2001:db8::1 1",
	    "::1 65535" },
	{ "IPv4 client, IPv6 listener: mapped", "192.0.2.1", 5000, "::1", 80,
	    "PROXY TCP6 ::ffff:192.0.2.1 ::1 5000 80\r\n",
	    "::ffff:192.0.2.1 5000", "::1 80" },
	{ "both IPv4-mapped: TCP4", "::ffff:192.0.2.1", 5000,
	    "::ffff:10.0.0.1", 80, "PROXY TCP4 192.0.2.1 10.0.0.1 5000 80\r\n",
	    "192.0.2.1 5000", "10.0.0.1 80" },
	{ "IPv4 client on a Unix listener", "192.0.2.1", 5000, NULL, 0,
	    "PROXY TCP4 192.0.2.1 0.0.0.0 5000 0\r\n", "192.0.2.1 5000",
	    "0.0.0.0 0" },
	{ "IPv6 client on a Unix listener", "2001:db8::1", 5000, NULL, 0,
	    "PROXY TCP6 2001:db8::1 :: 5000 0\r\n", "2001:db8::1 5000",
	    ":: 0" },
	{ "a Unix client: UNKNOWN / LOCAL", NULL, 0, "10.0.0.1", 80,
	    "PROXY UNKNOWN\r\n" },
};

/* build then parse, both versions: the same addresses back; v1's exact
 * line; v2 a whole header of 16 + 12 or 36 bytes, or LOCAL. */
Test(proxy_proto, build_round_trip)
{
	struct sockaddr_storage src, dst;
	struct sockaddr_un	un = { .sun_family = AF_UNIX };
	struct proxy_header	h;
	unsigned char		out[PROXY_PROTO_BUILD_MAX];
	char			got[128];
	size_t			i;
	int			v, n;

	for (i = 0; i < NELEM(builds); i++) {
		const struct build_case *c = &builds[i];

		if (c->src != NULL)
			mkaddr(&src, c->src, c->sport);
		else
			memcpy(&src, &un, sizeof(un));
		if (c->dst != NULL)
			mkaddr(&dst, c->dst, c->dport);
		else
			memcpy(&dst, &un, sizeof(un));
		for (v = 1; v <= 2; v++) {
			n = proxy_proto_build(v, (struct sockaddr *)&src,
			    (struct sockaddr *)&dst, out, sizeof(out));
			cr_assert(n > 0, "%s v%d: build failed", c->desc, v);
			if (v == 1)
				cr_assert(n == (int)strlen(c->v1) &&
					memcmp(out, c->v1, (size_t)n) == 0,
				    "%s: got %.*s", c->desc, n, out);
			cr_assert_eq(proxy_proto_parse(out, (size_t)n, &h), n,
			    "%s v%d: does not parse back", c->desc, v);
			cr_assert_eq(h.version, v);
			cr_assert_eq(h.relayed, c->want_src != NULL,
			    "%s v%d: relayed", c->desc, v);
			cr_assert_eq(h.local, v == 2 && c->want_src == NULL,
			    "%s v%d: LOCAL", c->desc, v);
			if (c->want_src == NULL)
				continue;
			addr_text(&h.src, got, sizeof(got));
			cr_assert_str_eq(got, c->want_src, "%s v%d", c->desc,
			    v);
			addr_text(&h.dst, got, sizeof(got));
			cr_assert_str_eq(got, c->want_dst, "%s v%d", c->desc,
			    v);
		}
	}
}

/* v2's exact bytes for IPv4 and for LOCAL (haproxy's make_proxy_line_v2
 * layout). */
Test(proxy_proto, build_v2_bytes)
{
	static const char	want4[] = SIG "\x21\x11\x00\x0c" A4;
	static const char	want_local[] = SIG "\x20\x00\x00\x00";
	struct sockaddr_storage src, dst;
	struct sockaddr_un	un = { .sun_family = AF_UNIX };
	unsigned char		out[PROXY_PROTO_BUILD_MAX];
	int			n;

	mkaddr(&src, "127.0.0.2", 12345);
	mkaddr(&dst, "127.0.0.1", 8080);
	n = proxy_proto_build(2, (struct sockaddr *)&src,
	    (struct sockaddr *)&dst, out, sizeof(out));
	cr_assert(n == (int)sizeof(want4) - 1 &&
	    memcmp(out, want4, (size_t)n) == 0);
	n = proxy_proto_build(2, (struct sockaddr *)&un,
	    (struct sockaddr *)&dst, out, sizeof(out));
	cr_assert(n == (int)sizeof(want_local) - 1 &&
	    memcmp(out, want_local, (size_t)n) == 0);
}

/* A buffer too small, or an unknown version: -1. */
Test(proxy_proto, build_refusals)
{
	struct sockaddr_storage src, dst;
	unsigned char		out[PROXY_PROTO_BUILD_MAX];

	mkaddr(&src, "2001:db8::1", 1);
	mkaddr(&dst, "2001:db8::2", 2);
	cr_assert_eq(proxy_proto_build(3, (struct sockaddr *)&src,
			 (struct sockaddr *)&dst, out, sizeof(out)),
	    -1);
	cr_assert_eq(proxy_proto_build(1, (struct sockaddr *)&src,
			 (struct sockaddr *)&dst, out, 20),
	    -1);
	cr_assert_eq(proxy_proto_build(2, (struct sockaddr *)&src,
			 (struct sockaddr *)&dst, out, 51),
	    -1);
	cr_assert_eq(proxy_proto_build(2, (struct sockaddr *)&src,
			 (struct sockaddr *)&dst, out, 52),
	    52);
}
