/*
 * libFuzzer harness for src/proxy_proto.c (haproxy's proxy-protocol.txt):
 * the parser on every prefix (exact-size copies: "need more" until the
 * answer settles, then always that answer; a peek of proxy_proto_want()
 * bytes reaches the header's end once its length is known), what it
 * accepts rebuilt and parsed back the same, and build -> parse round
 * trips of addresses taken from the input.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>

#include "proxy_proto.h"
#include "wsb_limits.h"
#include "fuzz.h"

/* Prefixes tried one by one: every one for a header's worth of bytes. */
#define FUZZ_PP_PREFIXES 300

static int  fuzz_pp_same(const struct proxy_header *,
     const struct proxy_header *);
static void fuzz_pp_prefixes(const uint8_t *, size_t);
static void fuzz_pp_rebuild(const struct proxy_header *);
static void fuzz_pp_build(const uint8_t *, size_t);
static void fuzz_pp_addr(struct sockaddr_storage *, const uint8_t *, int);

/* Two parse results say the same thing. */
static int
fuzz_pp_same(const struct proxy_header *a, const struct proxy_header *b)
{
	if (a->version != b->version || a->relayed != b->relayed ||
	    a->local != b->local)
		return 0;
	if (!a->relayed)
		return 1;
	return a->src_len == b->src_len && a->dst_len == b->dst_len &&
	    memcmp(&a->src, &b->src, a->src_len) == 0 &&
	    memcmp(&a->dst, &b->dst, a->dst_len) == 0;
}

/* The whole input against each of its prefixes. */
static void
fuzz_pp_prefixes(const uint8_t *data, size_t size)
{
	struct proxy_header fin, h;
	size_t	 m, lim = size < FUZZ_PP_PREFIXES ? size : FUZZ_PP_PREFIXES;
	uint8_t *p;
	int	 fin_r, r;

	p = fuzz_dup(data, size);
	fin_r = proxy_proto_parse(p, size, &fin);
	free(p);
	FUZZ_CHECK(fin_r == -1 || fin_r == -2 || fin_r > 0, "return values");
	FUZZ_CHECK(fin_r != -1 || (fin.error != NULL && fin.error[0] != '\0'),
	    "a refusal has a reason");
	if (fin_r > 0) {
		FUZZ_CHECK((size_t)fin_r <= size, "no longer than the input");
		FUZZ_CHECK(fin_r <= WSB_PROXY_HEADER_MAX, "bounded");
		FUZZ_CHECK(fin.version == 2 || fin_r <= PROXY_PROTO_V1_MAX,
		    "v1 at most 107 bytes");
		FUZZ_CHECK(!fin.relayed || fin.src.ss_family == AF_INET ||
			fin.src.ss_family == AF_INET6 ||
			(fin.version == 2 && fin.src.ss_family == AF_UNIX),
		    "a relayed client has an address family");
		FUZZ_CHECK(!fin.local || fin.version == 2, "LOCAL is v2's");
		FUZZ_CHECK(proxy_proto_detect(data, size),
		    "detect knows what the parser accepts");
	}
	for (m = 0; m <= lim; m++) {
		p = fuzz_dup(data, m);
		r = proxy_proto_parse(p, m, &h);
		if (r == -2) {
			FUZZ_CHECK(fin_r == -2 || fin_r == -1 ||
				(size_t)fin_r > m,
			    "a whole header never needs more");
			FUZZ_CHECK(proxy_proto_want(p, m) >= 1,
			    "want at least one byte");
			/* v1 within its 107 bytes, v2 once its length
			 * is in: one peek of want() bytes can reach the
			 * end (the reader takes only what parse says). */
			if (fin_r > 0 &&
			    (fin.version == 1 || m >= PROXY_PROTO_V2_FIXED))
				FUZZ_CHECK(m + proxy_proto_want(p, m) >=
					(size_t)fin_r,
				    "peeking want() bytes reaches the end");
		} else if (r == -1) {
			FUZZ_CHECK(fin_r == -1, "refused stays refused");
		} else {
			FUZZ_CHECK(r == fin_r && fuzz_pp_same(&h, &fin),
			    "a settled header never changes");
		}
		free(p);
	}
	if (fin_r > 0 && fin.relayed)
		fuzz_pp_rebuild(&fin);
}

/* An accepted TCP header built again from what it said parses back to
 * the same addresses, in either version. */
static void
fuzz_pp_rebuild(const struct proxy_header *h)
{
	struct proxy_header back;
	uint8_t		    out[PROXY_PROTO_BUILD_MAX], *p;
	int		    v, n, r;

	if (h->src.ss_family != AF_INET && h->src.ss_family != AF_INET6)
		return;
	for (v = 1; v <= 2; v++) {
		n = proxy_proto_build(v, (const struct sockaddr *)&h->src,
		    (const struct sockaddr *)&h->dst, out, sizeof(out));
		FUZZ_CHECK(n > 0, "a parsed header can be built");
		p = fuzz_dup(out, (size_t)n);
		r = proxy_proto_parse(p, (size_t)n, &back);
		free(p);
		FUZZ_CHECK(r == n && back.relayed, "built header parses");
		/* Both IPv4-mapped IPv6 come back as IPv4: compare those
		 * as built, the rest exactly. */
		back.version = h->version;
		if (back.src.ss_family == h->src.ss_family)
			FUZZ_CHECK(fuzz_pp_same(&back, h), "round trip");
	}
}

/* An address of family fam (AF_INET, AF_INET6 or AF_UNIX) from 18
 * bytes of b: 16 of address, 2 of port. */
static void
fuzz_pp_addr(struct sockaddr_storage *ss, const uint8_t *b, int fam)
{
	struct sockaddr_in  *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	ss->ss_family = (sa_family_t)fam;
	if (fam == AF_INET) {
		memcpy(&s4->sin_addr, b, 4);
		memcpy(&s4->sin_port, b + 16, 2);
	} else if (fam == AF_INET6) {
		memcpy(&s6->sin6_addr, b, 16);
		memcpy(&s6->sin6_port, b + 16, 2);
	}
}

/* Addresses from the input: build both versions, parse them back. */
static void
fuzz_pp_build(const uint8_t *data, size_t size)
{
	static const int	fams[] = { AF_INET, AF_INET6, AF_UNIX };
	struct sockaddr_storage src, dst;
	struct proxy_header	h;
	uint8_t			out[PROXY_PROTO_BUILD_MAX], *p;
	int			v, n, r;

	if (size < 37)
		return;
	fuzz_pp_addr(&src, data + 1, fams[data[0] % 3]);
	fuzz_pp_addr(&dst, data + 19, fams[(data[0] / 3) % 3]);
	for (v = 1; v <= 2; v++) {
		n = proxy_proto_build(v, (struct sockaddr *)&src,
		    (struct sockaddr *)&dst, out, sizeof(out));
		FUZZ_CHECK(n > 0 && n <= PROXY_PROTO_BUILD_MAX, "builds");
		p = fuzz_dup(out, (size_t)n);
		r = proxy_proto_parse(p, (size_t)n, &h);
		free(p);
		FUZZ_CHECK(r == n, "what is built parses whole");
		FUZZ_CHECK(h.version == v, "its version");
		FUZZ_CHECK(h.relayed == (src.ss_family != AF_UNIX),
		    "relayed unless a Unix client");
		FUZZ_CHECK(h.local == (v == 2 && src.ss_family == AF_UNIX),
		    "a Unix client is LOCAL in v2");
		p = fuzz_dup(out, (size_t)n - 1);
		FUZZ_CHECK(proxy_proto_parse(p, (size_t)n - 1, &h) == -2,
		    "one byte short needs more");
		free(p);
	}
}

/* Every check on every input. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_pp_prefixes(data, size);
	fuzz_pp_build(data, size);
	return 0;
}
