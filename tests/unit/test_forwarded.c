/*
 * Unit tests for the client's address behind trusted proxies
 * (src/forwarded.c): --trusted-proxy's CIDRs, the node syntax of RFC 7239
 * 6 and X-Forwarded-For, and the walk over Forwarded, X-Forwarded-For
 * and X-Real-IP (nginx's realip module with real_ip_recursive on).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <criterion/criterion.h>

#include "forwarded.h"
#include "http.h"
#include "test_helpers.h"

/* A case leaves the fields it does not need zero: one line per case. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* a as text: "1.2.3.4", "2001:db8::1", with ":port" when it has one and
 * "[v6]" then. */
static const char *
test_fwd_text(const struct forwarded_addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	inet_ntop(a->family, a->addr, ip, sizeof(ip));
	if (a->port == 0)
		snprintf(buf, len, "%s", ip);
	else if (a->family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", ip, a->port);
	else
		snprintf(buf, len, "%s:%u", ip, a->port);
	return buf;
}

/* The address in text, as a forwarded_addr (via a socket address). */
static void
test_fwd_addr(const char *text, struct forwarded_addr *a)
{
	struct sockaddr_in6 sin6;
	struct sockaddr_in  sin;

	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	if (inet_pton(AF_INET, text, &sin.sin_addr) == 1) {
		sin.sin_family = AF_INET;
		cr_assert_eq(
		    forwarded_addr_from_sockaddr((struct sockaddr *)&sin, a),
		    0);
		return;
	}
	cr_assert_eq(inet_pton(AF_INET6, text, &sin6.sin6_addr), 1, "%s",
	    text);
	sin6.sin6_family = AF_INET6;
	cr_assert_eq(forwarded_addr_from_sockaddr((struct sockaddr *)&sin6, a),
	    0);
}

struct cidr_case {
	const char *desc;
	const char *list;
	int	    ok; /* 1 parses, 0 refused */
	size_t	    n;
};

static const struct cidr_case cidr_cases[] = {
	{ "one IPv4 address", "127.0.0.1", 1, 1 },
	{ "IPv4 network", "127.0.0.0/8", 1, 1 },
	{ "IPv6 address", "::1", 1, 1 },
	{ "IPv6 network", "::1/128", 1, 1 },
	{ "IPv6 /0", "::/0", 1, 1 },
	{ "IPv4 /0", "0.0.0.0/0", 1, 1 },
	{ "several, blanks", "  10.0.0.0/8\t192.168.0.0/16  fd00::/8 ", 1, 3 },
	{ "host bits set are cleared", "10.1.2.3/8", 1, 1 },
	{ "IPv4-mapped network", "::ffff:10.0.0.0/104", 1, 1 },
	{ "IPv4-mapped address", "::ffff:127.0.0.1", 1, 1 },
	{ "empty list", "", 1, 0 },
	{ "blanks only", "   ", 1, 0 },
	{ "a name", "localhost", 0 },
	{ "IPv4 prefix too long", "10.0.0.0/33", 0 },
	{ "IPv6 prefix too long", "::/129", 0 },
	{ "empty prefix", "10.0.0.0/", 0 },
	{ "sign in prefix", "10.0.0.0/+8", 0 },
	{ "negative prefix", "10.0.0.0/-1", 0 },
	{ "four-digit prefix", "::/0128", 0 },
	{ "two slashes", "10.0.0.0/8/8", 0 },
	{ "short IPv4", "10.0.0/8", 0 },
	{ "leading zero octet", "010.0.0.1", 0 },
	{ "octet over 255", "10.0.0.256", 0 },
	{ "bracketed IPv6", "[::1]", 0 },
	{ "IPv6 zone", "fe80::1%eth0", 0 },
	{ "comma list", "10.0.0.1,10.0.0.2", 0 },
	{ "IPv4-mapped prefix under 96", "::ffff:10.0.0.0/8", 0 },
	{ "port", "127.0.0.1:80", 0 },
	{ "good then bad", "127.0.0.1 nonsense", 0 },
};

/* Each list parses to its count of networks, or is refused with a
 * message naming the CIDR. */
Test(forwarded_trust, parse_table)
{
	struct forwarded_trust t;
	char		       err[256];
	size_t		       i;
	int		       r;

	for (i = 0; i < NELEM(cidr_cases); i++) {
		const struct cidr_case *c = &cidr_cases[i];

		err[0] = '\0';
		r = forwarded_trust_parse(c->list, &t, err, sizeof(err));
		cr_expect_eq(r, c->ok ? 0 : -1, "%s: '%s' gave %d", c->desc,
		    c->list, r);
		cr_expect_eq(forwarded_check(c->list, NULL, 0), r, "%s",
		    c->desc);
		if (c->ok)
			cr_expect_eq(t.n, c->n, "%s: %zu networks", c->desc,
			    t.n);
		else
			cr_expect(strstr(err, "--trusted-proxy: '") != NULL &&
				strchr(err, '\n') == NULL,
			    "%s: message '%s'", c->desc, err);
	}
	cr_expect_eq(forwarded_trust_parse(NULL, &t, NULL, 0), 0);
	cr_expect_eq(t.n, 0);
}

/* WSB_MAX_TRUSTED_PROXIES networks fit; one more is refused. */
Test(forwarded_trust, at_most_max)
{
	struct forwarded_trust t;
	char   list[32 * (WSB_MAX_TRUSTED_PROXIES + 1)], err[128];
	size_t o = 0;
	int    i;

	for (i = 0; i < WSB_MAX_TRUSTED_PROXIES; i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o,
		    "10.0.%d.0/24 ", i);
	cr_assert_eq(forwarded_trust_parse(list, &t, err, sizeof(err)), 0);
	cr_assert_eq(t.n, WSB_MAX_TRUSTED_PROXIES);
	snprintf(list + o, sizeof(list) - o, "10.1.0.0/16");
	cr_assert_eq(forwarded_trust_parse(list, &t, err, sizeof(err)), -1);
	cr_assert(strstr(err, "more than") != NULL, "%s", err);
}

struct match_case {
	const char *desc;
	const char *list;
	const char *addr;
	int	    trusted;
};

static const struct match_case match_cases[] = {
	{ "exact IPv4", "127.0.0.1", "127.0.0.1", 1 },
	{ "other IPv4", "127.0.0.1", "127.0.0.2", 0 },
	{ "in /8", "127.0.0.0/8", "127.255.1.2", 1 },
	{ "outside /8", "127.0.0.0/8", "128.0.0.1", 0 },
	{ "odd prefix in", "192.168.0.0/23", "192.168.1.255", 1 },
	{ "odd prefix out", "192.168.0.0/23", "192.168.2.0", 0 },
	{ "/31 in", "10.0.0.6/31", "10.0.0.7", 1 },
	{ "/31 out", "10.0.0.6/31", "10.0.0.8", 0 },
	{ "cleared host bits", "10.1.2.3/8", "10.200.0.1", 1 },
	{ "IPv4 /0 takes every IPv4", "0.0.0.0/0", "203.0.113.9", 1 },
	{ "IPv4 /0 not IPv6", "0.0.0.0/0", "2001:db8::1", 0 },
	{ "exact IPv6", "::1/128", "::1", 1 },
	{ "other IPv6", "::1", "::2", 0 },
	{ "IPv6 /32", "2001:db8::/32", "2001:db8:ffff::1", 1 },
	{ "IPv6 /32 out", "2001:db8::/32", "2001:db9::1", 0 },
	{ "IPv6 /127", "2001:db8::/127", "2001:db8::1", 1 },
	{ "IPv6 /0 not IPv4", "::/0", "127.0.0.1", 0 },
	{ "mapped peer, IPv4 CIDR", "127.0.0.1", "::ffff:127.0.0.1", 1 },
	{ "mapped peer, IPv4 /8", "127.0.0.0/8", "::ffff:127.3.2.1", 1 },
	{ "mapped CIDR, IPv4 peer", "::ffff:10.0.0.0/104", "10.9.9.9", 1 },
	{ "mapped CIDR, outside", "::ffff:10.0.0.0/104", "11.0.0.1", 0 },
	{ "second of several", "10.0.0.0/8 ::1", "::1", 1 },
	{ "empty list", "", "127.0.0.1", 0 },
};

/* Each address is inside the list's networks or not. */
Test(forwarded_trust, match_table)
{
	struct forwarded_trust t;
	struct forwarded_addr  a;
	size_t		       i;

	for (i = 0; i < NELEM(match_cases); i++) {
		const struct match_case *c = &match_cases[i];

		cr_assert_eq(forwarded_trust_parse(c->list, &t, NULL, 0), 0,
		    "%s", c->desc);
		test_fwd_addr(c->addr, &a);
		cr_expect_eq(forwarded_trusts(&t, &a), c->trusted,
		    "%s: %s in '%s'", c->desc, c->addr, c->list);
	}
}

struct node_case {
	const char *desc;
	const char *in;
	const char *want; /* test_fwd_text of the result; NULL: not one */
};

static const struct node_case node_cases[] = {
	{ "IPv4", "192.0.2.43", "192.0.2.43" },
	{ "IPv4 and port", "192.0.2.43:4711", "192.0.2.43:4711" },
	{ "IPv6 bare", "2001:db8:cafe::17", "2001:db8:cafe::17" },
	{ "IPv6 in brackets", "[2001:db8:cafe::17]", "2001:db8:cafe::17" },
	{ "IPv6 and port", "[2001:db8:cafe::17]:4711",
	    "[2001:db8:cafe::17]:4711" },
	{ "loopback v6", "[::1]:1", "[::1]:1" },
	{ "IPv4-mapped is IPv4", "::ffff:192.0.2.1", "192.0.2.1" },
	{ "IPv4-mapped bracketed", "[::ffff:192.0.2.1]:80", "192.0.2.1:80" },
	{ "obfuscated port dropped", "192.0.2.43:_abc-1", "192.0.2.43" },
	{ "obfuscated port v6", "[::1]:_x.y", "::1" },
	{ "port 65535", "1.2.3.4:65535", "1.2.3.4:65535" },
	{ "port 0 is none", "1.2.3.4:0", "1.2.3.4" },
	{ "unknown", "unknown", NULL },
	{ "obfuscated node", "_hidden", NULL },
	{ "obfuscated node and port", "_SEVKISEK:_abc", NULL },
	{ "a name", "example.com", NULL },
	{ "a name and port", "example.com:80", NULL },
	{ "empty", "", NULL },
	{ "port 65536", "1.2.3.4:65536", NULL },
	{ "empty port", "1.2.3.4:", NULL },
	{ "six-digit port", "1.2.3.4:000080", NULL },
	{ "signed port", "1.2.3.4:+80", NULL },
	{ "bare underscore port", "1.2.3.4:_", NULL },
	{ "bad obfuscated port", "1.2.3.4:_a b", NULL },
	{ "bracketed IPv4", "[192.0.2.1]", NULL },
	{ "bracketed IPv4 and port", "[192.0.2.1]:80", NULL },
	{ "empty brackets", "[]", NULL },
	{ "unclosed bracket", "[::1", NULL },
	{ "junk after bracket", "[::1]x", NULL },
	{ "colon, no port", "[::1]:", NULL },
	{ "IPv6 zone", "fe80::1%eth0", NULL },
	{ "IPv6 zone bracketed", "[fe80::1%25eth0]", NULL },
	{ "quotes left in", "\"1.2.3.4\"", NULL },
	{ "blank inside", "1.2.3.4 ", NULL },
	{ "IPv4 with extra octet", "1.2.3.4.5", NULL },
	{ "huge",
	    "1111111111111111111111111111111111111111111111111111111111"
	    "111111111111111",
	    NULL },
};

/* Each node is an address (with its port) or is not one. */
Test(forwarded_node, table)
{
	struct forwarded_addr a;
	char		      buf[80];
	size_t		      i;
	int		      r;

	for (i = 0; i < NELEM(node_cases); i++) {
		const struct node_case *c = &node_cases[i];

		r = forwarded_parse_node(c->in, strlen(c->in), &a);
		cr_expect_eq(r, c->want != NULL, "%s: '%s' gave %d", c->desc,
		    c->in, r);
		if (r == 1 && c->want != NULL)
			cr_expect_str_eq(test_fwd_text(&a, buf, sizeof(buf)),
			    c->want, "%s", c->desc);
	}
}

/* A node ending right at a guard page is read within its length. */
Test(forwarded_node, page_edge)
{
	static const char *const ins[] = { "[::1]:80", "1.2.3.4:8", "[::1",
		"1.2.3.4:_a", "unknown", "1.2.3.4" };
	struct forwarded_addr	 a;
	size_t			 i, n;
	char			*end;

	for (i = 0; i < NELEM(ins); i++) {
		n = strlen(ins[i]);
		end = test_guard_end(n);
		memcpy(end - n, ins[i], n);
		(void)forwarded_parse_node(end - n, n, &a);
		test_guard_free(end, n);
	}
}

/* A socket address goes in and out unchanged (IPv4-mapped made IPv4). */
Test(forwarded_node, sockaddr_round_trip)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6	sin6;
	struct forwarded_addr	a, b;
	socklen_t		len;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(4711);
	inet_pton(AF_INET6, "::ffff:198.51.100.7", &sin6.sin6_addr);
	cr_assert_eq(
	    forwarded_addr_from_sockaddr((struct sockaddr *)&sin6, &a), 0);
	cr_assert_eq(a.family, AF_INET);
	cr_assert_eq(a.port, 4711);
	len = forwarded_addr_to_sockaddr(&a, &ss);
	cr_assert_eq(len, sizeof(struct sockaddr_in));
	cr_assert_eq(forwarded_addr_from_sockaddr((struct sockaddr *)&ss, &b),
	    0);
	cr_assert(memcmp(&a, &b, sizeof(a)) == 0);
	cr_assert_eq(forwarded_parse_node("[2001:db8::2]:9", 15, &a), 1);
	len = forwarded_addr_to_sockaddr(&a, &ss);
	cr_assert_eq(len, sizeof(struct sockaddr_in6));
	cr_assert_eq(forwarded_addr_from_sockaddr((struct sockaddr *)&ss, &b),
	    0);
	cr_assert(memcmp(&a, &b, sizeof(a)) == 0);
	ss.ss_family = AF_UNIX;
	cr_assert_eq(forwarded_addr_from_sockaddr((struct sockaddr *)&ss, &b),
	    -1);
}

struct client_case {
	const char *desc;
	const char *headers; /* header lines, each ending in CRLF */
	const char *trust;
	int	    r;	  /* forwarded_client's answer */
	const char *want; /* the client as test_fwd_text; NULL when r != 1 */
	const char *how;  /* the header named; NULL when r == 0 */
};

#define T_LO "127.0.0.1"
#define T_NET "10.0.0.0/8 ::1"

static const struct client_case client_cases[] = {
	/* No headers at all. */
	{ "none", "", T_LO, 0 },
	{ "empty X-Forwarded-For", "X-Forwarded-For: \r\n", T_LO, 0 },
	{ "empty Forwarded", "Forwarded:\r\n", T_LO, 0 },
	{ "commas only", "X-Forwarded-For: , ,\r\n", T_LO, 0 },

	/* RFC 7239 section 4 and 7.1's examples. */
	{ "RFC 7239 4: obfuscated identifier",
	    "Forwarded: for=\"_gazonk\"\r\n", T_LO, -1, NULL, "Forwarded" },
	{ "RFC 7239 4: v6 with port",
	    "Forwarded: For=\"[2001:db8:cafe::17]:4711\"\r\n", T_LO, 1,
	    "[2001:db8:cafe::17]:4711", "Forwarded" },
	{ "RFC 7239 4: for, proto, by",
	    "Forwarded: for=192.0.2.60;proto=http;by=203.0.113.43\r\n", T_LO,
	    1, "192.0.2.60", "Forwarded" },
	{ "RFC 7239 4: two elements",
	    "Forwarded: for=192.0.2.43, for=198.51.100.17\r\n", T_LO, 1,
	    "198.51.100.17", "Forwarded" },
	{ "RFC 7239 7.1: three hops, none trusted",
	    "Forwarded: for=192.0.2.43,for=\"[2001:db8:cafe::17]\","
	    "for=unknown\r\n",
	    T_LO, -1, NULL, "Forwarded" },
	{ "RFC 7239 7.4: obfuscated right-most",
	    "Forwarded: for=192.0.2.43, for=_hidden\r\n", T_LO, -1, NULL,
	    "Forwarded" },

	/* The walk from the right. */
	{ "Forwarded: trusted skipped",
	    "Forwarded: for=198.51.100.1, for=10.1.1.1;by=x, for=\"[::1]\"\r\n",
	    T_NET, 1, "198.51.100.1", "Forwarded" },
	{ "Forwarded: all trusted, left-most",
	    "Forwarded: for=10.0.0.1, for=10.0.0.2\r\n", T_NET, 1, "10.0.0.1",
	    "Forwarded" },
	{ "Forwarded: unknown left of the client is fine",
	    "Forwarded: for=unknown, for=198.51.100.1, for=10.0.0.1\r\n",
	    T_NET, 1, "198.51.100.1", "Forwarded" },
	{ "Forwarded: unknown right of the client stops",
	    "Forwarded: for=198.51.100.1, for=unknown, for=10.0.0.1\r\n",
	    T_NET, -1, NULL, "Forwarded" },
	{ "Forwarded: element without for= stops",
	    "Forwarded: for=198.51.100.1, proto=https;by=10.0.0.1\r\n", T_NET,
	    -1, NULL, "Forwarded" },
	{ "Forwarded: a name stops",
	    "Forwarded: for=\"client.example:80\"\r\n", T_LO, -1, NULL,
	    "Forwarded" },
	{ "Forwarded: two headers one list",
	    "Forwarded: for=198.51.100.1\r\nX-Other: a\r\n"
	    "Forwarded: for=10.0.0.9\r\n",
	    T_NET, 1, "198.51.100.1", "Forwarded" },
	{ "Forwarded: header order counts",
	    "Forwarded: for=198.51.100.1\r\nForwarded: for=198.51.100.2\r\n",
	    T_NET, 1, "198.51.100.2", "Forwarded" },
	{ "Forwarded wins over X-Forwarded-For",
	    "X-Forwarded-For: 198.51.100.9\r\nForwarded: for=198.51.100.1\r\n",
	    T_LO, 1, "198.51.100.1", "Forwarded" },
	{ "Forwarded wins over X-Real-IP",
	    "X-Real-IP: 198.51.100.9\r\nForwarded: for=198.51.100.1\r\n", T_LO,
	    1, "198.51.100.1", "Forwarded" },

	/* Forwarded syntax. */
	{ "case of FOR", "Forwarded: FOR=198.51.100.1\r\n", T_LO, 1,
	    "198.51.100.1", "Forwarded" },
	{ "quoted IPv4", "Forwarded: for=\"198.51.100.1\"\r\n", T_LO, 1,
	    "198.51.100.1", "Forwarded" },
	{ "quoted-pair", "Forwarded: for=\"198.51\\.100.1\"\r\n", T_LO, 1,
	    "198.51.100.1", "Forwarded" },
	{ "unquoted v6 with port (lenient)",
	    "Forwarded: for=[2001:db8::1]:80\r\n", T_LO, 1, "[2001:db8::1]:80",
	    "Forwarded" },
	{ "unquoted IPv4 with port (lenient)",
	    "Forwarded: for=192.0.2.1:8080\r\n", T_LO, 1, "192.0.2.1:8080",
	    "Forwarded" },
	{ "blanks around ; and ,",
	    "Forwarded: proto=https ; for=192.0.2.1 ;by=x ,  for=10.0.0.1\r\n",
	    T_NET, 1, "192.0.2.1", "Forwarded" },
	{ "empty pairs and elements",
	    "Forwarded: ;;for=192.0.2.1;;, ,for=10.0.0.1,\r\n", T_NET, 1,
	    "192.0.2.1", "Forwarded" },
	{ "comma and ; inside quotes",
	    "Forwarded: ext=\"a,b;c=d\";for=192.0.2.1\r\n", T_LO, 1,
	    "192.0.2.1", "Forwarded" },
	{ "for= twice in an element",
	    "Forwarded: for=192.0.2.1;for=192.0.2.2\r\n", T_LO, -1, NULL,
	    "Forwarded" },
	{ "unterminated quote", "Forwarded: for=\"192.0.2.1\r\n", T_LO, -1,
	    NULL, "Forwarded" },
	{ "backslash at the end", "Forwarded: for=\"192.0.2.1\\\r\n", T_LO, -1,
	    NULL, "Forwarded" },
	{ "no value", "Forwarded: for=\r\n", T_LO, -1, NULL, "Forwarded" },
	{ "no =", "Forwarded: for\r\n", T_LO, -1, NULL, "Forwarded" },
	{ "no name", "Forwarded: =192.0.2.1\r\n", T_LO, -1, NULL,
	    "Forwarded" },
	{ "blank before =", "Forwarded: for =192.0.2.1\r\n", T_LO, -1, NULL,
	    "Forwarded" },
	{ "junk after a quoted value", "Forwarded: for=\"192.0.2.1\"x\r\n",
	    T_LO, -1, NULL, "Forwarded" },
	{ "two values", "Forwarded: for=192.0.2.1 192.0.2.2\r\n", T_LO, -1,
	    NULL, "Forwarded" },
	{ "malformed hides X-Forwarded-For",
	    "Forwarded: for=\"x\r\nX-Forwarded-For: 192.0.2.9\r\n", T_LO, -1,
	    NULL, "Forwarded" },
	{ "malformed second header spoils all",
	    "Forwarded: for=192.0.2.1\r\nForwarded: for\r\n", T_LO, -1, NULL,
	    "Forwarded" },
	{ "quoted value too long",
	    "Forwarded: for=\"[2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff]:65535"
	    "xxxxxxxxxxxxxxx\"\r\n",
	    T_LO, -1, NULL, "Forwarded" },
	{ "tab inside quotes", "Forwarded: for=\"1.2.3.4\t\"\r\n", T_LO, -1,
	    NULL, "Forwarded" },

	/* X-Forwarded-For. */
	{ "XFF one", "X-Forwarded-For: 203.0.113.5\r\n", T_LO, 1,
	    "203.0.113.5", "X-Forwarded-For" },
	{ "XFF spoof left of the client",
	    "X-Forwarded-For: 6.6.6.6, 203.0.113.5\r\n", T_LO, 1,
	    "203.0.113.5", "X-Forwarded-For" },
	{ "XFF proxies skipped",
	    "X-Forwarded-For: 6.6.6.6, 203.0.113.5, 10.0.0.2, 10.0.0.3\r\n",
	    T_NET, 1, "203.0.113.5", "X-Forwarded-For" },
	{ "XFF all trusted: left-most",
	    "X-Forwarded-For: 10.0.0.1, 10.0.0.2\r\n", T_NET, 1, "10.0.0.1",
	    "X-Forwarded-For" },
	{ "XFF headers joined",
	    "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 203.0.113.5, "
	    "10.0.0.1\r\n",
	    T_NET, 1, "203.0.113.5", "X-Forwarded-For" },
	{ "XFF: client in the first header",
	    "X-Forwarded-For: 203.0.113.5\r\nx-forwarded-for: 10.0.0.1\r\n",
	    T_NET, 1, "203.0.113.5", "X-Forwarded-For" },
	{ "XFF unknown right-most stops",
	    "X-Forwarded-For: 203.0.113.5, unknown\r\n", T_LO, -1, NULL,
	    "X-Forwarded-For" },
	{ "XFF name stops", "X-Forwarded-For: client.example\r\n", T_LO, -1,
	    NULL, "X-Forwarded-For" },
	{ "XFF garbage left of client ok",
	    "X-Forwarded-For: <script>, 203.0.113.5\r\n", T_LO, 1,
	    "203.0.113.5", "X-Forwarded-For" },
	{ "XFF v6", "X-Forwarded-For: 2001:db8::7\r\n", T_LO, 1, "2001:db8::7",
	    "X-Forwarded-For" },
	{ "XFF v6 bracketed with port",
	    "X-Forwarded-For: [2001:db8::7]:5555\r\n", T_LO, 1,
	    "[2001:db8::7]:5555", "X-Forwarded-For" },
	{ "XFF v4 with port", "X-Forwarded-For: 203.0.113.5:5555\r\n", T_LO, 1,
	    "203.0.113.5:5555", "X-Forwarded-For" },
	{ "XFF mapped v6 matched as v4",
	    "X-Forwarded-For: 203.0.113.5, ::ffff:10.0.0.1\r\n", T_NET, 1,
	    "203.0.113.5", "X-Forwarded-For" },
	{ "XFF no blanks, empty items",
	    "X-Forwarded-For: ,203.0.113.5,,10.0.0.1,\r\n", T_NET, 1,
	    "203.0.113.5", "X-Forwarded-For" },
	{ "XFF tabs", "X-Forwarded-For:\t203.0.113.5\t,\t10.0.0.1\r\n", T_NET,
	    1, "203.0.113.5", "X-Forwarded-For" },
	{ "XFF wins over X-Real-IP",
	    "X-Real-IP: 198.51.100.9\r\nX-Forwarded-For: 203.0.113.5\r\n",
	    T_LO, 1, "203.0.113.5", "X-Forwarded-For" },
	{ "XFF empty, Forwarded empty: X-Real-IP",
	    "Forwarded: \r\nX-Forwarded-For:\r\nX-Real-IP: 198.51.100.9\r\n",
	    T_LO, 1, "198.51.100.9", "X-Real-IP" },

	/* X-Real-IP. */
	{ "X-Real-IP", "X-Real-IP: 198.51.100.9\r\n", T_LO, 1, "198.51.100.9",
	    "X-Real-IP" },
	{ "X-Real-IP trusted is still taken", "X-Real-IP: 10.0.0.1\r\n", T_NET,
	    1, "10.0.0.1", "X-Real-IP" },
	{ "X-Real-IP v6", "X-Real-IP: ::1\r\n", T_LO, 1, "::1", "X-Real-IP" },
	{ "X-Real-IP last wins",
	    "X-Real-IP: 6.6.6.6\r\nX-Real-IP: 198.51.100.9\r\n", T_LO, 1,
	    "198.51.100.9", "X-Real-IP" },
	{ "X-Real-IP a list is not an address",
	    "X-Real-IP: 1.2.3.4, 5.6.7.8\r\n", T_LO, -1, NULL, "X-Real-IP" },
	{ "X-Real-IP unknown", "X-Real-IP: unknown\r\n", T_LO, -1, NULL,
	    "X-Real-IP" },
	{ "X-Real-IP empty", "X-Real-IP:\r\n", T_LO, 0 },
};

/* Each request's headers name the client, none, or an unknown one. */
Test(forwarded_client, table)
{
	struct forwarded_trust t;
	struct forwarded_addr  a;
	struct http_request    req;
	const char	      *how;
	char		       head[4096], buf[80];
	size_t		       i;
	int		       n, r;

	for (i = 0; i < NELEM(client_cases); i++) {
		const struct client_case *c = &client_cases[i];

		n = snprintf(head, sizeof(head),
		    "GET / HTTP/1.1\r\nHost: x\r\n%s\r\n", c->headers);
		cr_assert(http_parse_request(head, (size_t)n, &req) == n,
		    "%s: the head parses", c->desc);
		cr_assert_eq(forwarded_trust_parse(c->trust, &t, NULL, 0), 0);
		how = NULL;
		memset(&a, 0, sizeof(a));
		r = forwarded_client(&req, &t, &a, &how);
		cr_expect_eq(r, c->r, "%s: gave %d, want %d", c->desc, r,
		    c->r);
		if (r == 1 && c->want != NULL)
			cr_expect_str_eq(test_fwd_text(&a, buf, sizeof(buf)),
			    c->want, "%s", c->desc);
		if (c->how != NULL)
			cr_expect(how != NULL && strcmp(how, c->how) == 0,
			    "%s: how '%s', want '%s'", c->desc,
			    how != NULL ? how : "(null)", c->how);
	}
}

/* A list as long as a request head allows: thousands of hops walked,
 * the right-most untrusted one taken; a trusted run to the left-most. */
Test(forwarded_client, huge_lists)
{
	static char	       head[WSB_MAX_REQUEST_HEAD];
	struct forwarded_trust t;
	struct forwarded_addr  a;
	struct http_request    req;
	const char	      *how;
	char		       buf[80];
	size_t		       o;
	int		       i, r;

	cr_assert_eq(forwarded_trust_parse("10.0.0.0/8", &t, NULL, 0), 0);
	o = (size_t)snprintf(head, sizeof(head),
	    "GET / HTTP/1.1\r\nX-Forwarded-For: 203.0.113.1");
	for (i = 0; o < sizeof(head) - 64; i++)
		o += (size_t)snprintf(head + o, sizeof(head) - o,
		    ",10.%d.%d.%d", i >> 16 & 255, i >> 8 & 255, i & 255);
	o += (size_t)snprintf(head + o, sizeof(head) - o, "\r\n\r\n");
	r = http_parse_request(head, o, &req);
	cr_assert_eq(r, (int)o);
	cr_assert_eq(forwarded_client(&req, &t, &a, &how), 1);
	cr_expect_str_eq(test_fwd_text(&a, buf, sizeof(buf)), "203.0.113.1");

	/* The same as Forwarded, all trusted: the left-most. */
	o = (size_t)snprintf(head, sizeof(head),
	    "GET / HTTP/1.1\r\nForwarded: for=10.255.255.255");
	for (i = 0; o < sizeof(head) - 64; i++)
		o += (size_t)snprintf(head + o, sizeof(head) - o,
		    ",for=\"10.%d.%d.%d\";proto=http", i >> 16 & 255,
		    i >> 8 & 255, i & 255);
	o += (size_t)snprintf(head + o, sizeof(head) - o, "\r\n\r\n");
	cr_assert_eq(http_parse_request(head, o, &req), (int)o);
	cr_assert_eq(forwarded_client(&req, &t, &a, &how), 1);
	cr_expect_str_eq(test_fwd_text(&a, buf, sizeof(buf)),
	    "10.255.255.255");
}

/* A Forwarded value ending at a guard page (the header value is the
 * last bytes mapped) is read within its length. */
Test(forwarded_client, page_edge)
{
	static const char *const values[] = { "for=\"1.2.3.4", "for=\"a\\",
		"for=1.2.3.4", "for", "for=", "a=b;", "for=\"[::1]:80\"" };
	struct forwarded_trust	 t;
	struct forwarded_addr	 a;
	struct http_request	 req;
	const char		*how;
	size_t			 i, n;
	char			*end;

	cr_assert_eq(forwarded_trust_parse("127.0.0.1", &t, NULL, 0), 0);
	for (i = 0; i < NELEM(values); i++) {
		n = strlen(values[i]);
		end = test_guard_end(n);
		memcpy(end - n, values[i], n);
		memset(&req, 0, sizeof(req));
		req.num_headers = 1;
		req.headers[0].name = "Forwarded";
		req.headers[0].name_len = 9;
		req.headers[0].value = end - n;
		req.headers[0].value_len = n;
		(void)forwarded_client(&req, &t, &a, &how);
		test_guard_free(end, n);
	}
}

/* Bytes the request parser would refuse still never make an address: a
 * control byte in a quoted value is malformed, in an X-Forwarded-For
 * item not an address. */
Test(forwarded_client, control_bytes)
{
	struct forwarded_trust t;
	struct forwarded_addr  a;
	struct http_request    req;
	const char	      *how;

	cr_assert_eq(forwarded_trust_parse("127.0.0.1", &t, NULL, 0), 0);
	memset(&req, 0, sizeof(req));
	req.num_headers = 1;
	req.headers[0].name = "Forwarded";
	req.headers[0].name_len = 9;
	req.headers[0].value = "for=\"1.2.3.4\x01\"";
	req.headers[0].value_len = 14;
	cr_expect_eq(forwarded_client(&req, &t, &a, &how), -1);
	req.headers[0].value = "for=1.2.3.4\x01";
	req.headers[0].value_len = 12;
	cr_expect_eq(forwarded_client(&req, &t, &a, &how), -1);
	req.headers[0].name = "X-Forwarded-For";
	req.headers[0].name_len = 15;
	req.headers[0].value = "1.2.3.4\x00";
	req.headers[0].value_len = 8;
	cr_expect_eq(forwarded_client(&req, &t, &a, &how), -1);
}
