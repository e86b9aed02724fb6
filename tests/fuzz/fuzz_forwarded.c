/*
 * libFuzzer harness for src/forwarded.c: --trusted-proxy lists, nodes,
 * and the walk over Forwarded, X-Forwarded-For and X-Real-IP.  The input
 * is lines; a line's first byte picks what the rest is (a header among
 * the three or another, or a CIDR list), each value an exact-size copy
 * so ASan sees any read past it.  Properties: answers within contract; a
 * node that parses prints and parses back the same; a network holds its
 * own address; with X-Forwarded-For alone the answer is the reference
 * right-to-left walk written here from forwarded.h.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forwarded.h"
#include "http.h"
#include "fuzz.h"

static const char *const fuzz_fwd_names[] = { "Forwarded", "X-Forwarded-For",
	"X-Real-IP", "X-Other" };

/* Trust lists a first line may not replace: nobody, loopback, networks. */
static const char *const fuzz_fwd_lists[] = { "", "127.0.0.1",
	"10.0.0.0/8 ::1/128 192.168.0.0/16", "0.0.0.0/0 ::/0" };

/* A parsed node printed ("[v6]:port" or "v4:port") parses back equal. */
static void
fuzz_fwd_node_again(const struct forwarded_addr *a)
{
	struct forwarded_addr b;
	char		      ip[INET6_ADDRSTRLEN], text[80];
	int		      n;

	FUZZ_CHECK(a->family == AF_INET || a->family == AF_INET6,
	    "an IPv4 or IPv6 address");
	FUZZ_CHECK(inet_ntop(a->family, a->addr, ip, sizeof(ip)) != NULL,
	    "printable");
	if (a->family == AF_INET6)
		n = snprintf(text, sizeof(text), "[%s]:%u", ip, a->port);
	else
		n = snprintf(text, sizeof(text), "%s:%u", ip, a->port);
	FUZZ_CHECK(forwarded_parse_node(text, (size_t)n, &b) == 1 &&
		b.family == a->family && b.port == a->port &&
		memcmp(a->addr, b.addr, sizeof(a->addr)) == 0,
	    "printed node parses back the same");
}

/* A node that parses is made of the characters of an address, a port
 * and brackets only (no NUL, blank or control byte taken as its end). */
static void
fuzz_fwd_node_bytes(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		FUZZ_CHECK(s[i] != '\0' &&
			strchr("0123456789abcdefABCDEF:.[]_-"
			       "ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ",
			    s[i]) != NULL,
		    "an address's characters only");
}

/* The reference for X-Forwarded-For alone: items split on ',' (blanks
 * around trimmed, empty ones skipped) over all its headers, walked from
 * the right.  Returns as forwarded_client. */
static int
fuzz_fwd_xff_ref(const struct http_request *req,
    const struct forwarded_trust *t, struct forwarded_addr *client)
{
	struct forwarded_addr a;
	size_t		      h, b, e, k;
	const char	     *v;

	for (h = req->num_headers; h-- > 0;) {
		if (strcmp(req->headers[h].name, "X-Forwarded-For") != 0)
			continue;
		v = req->headers[h].value;
		for (e = req->headers[h].value_len; e > 0; e = b) {
			for (b = e; b > 0 && v[b - 1] != ','; b--)
				;
			k = b;
			while (k < e && (v[k] == ' ' || v[k] == '\t'))
				k++;
			while (e > k && (v[e - 1] == ' ' || v[e - 1] == '\t'))
				e--;
			if (b > 0)
				b--;
			if (e == k)
				continue;
			if (!forwarded_parse_node(v + k, e - k, &a))
				return -1;
			*client = a;
			if (!forwarded_trusts(t, &a))
				return 1;
		}
	}
	return client->family != 0 ? 1 : 0;
}

/* A CIDR list: parsed or refused; each network holds its own address. */
static void
fuzz_fwd_list(const uint8_t *data, size_t size)
{
	struct forwarded_trust t;
	char		      *list = fuzz_strndup(data, size);
	char		       err[200];
	size_t		       i;

	if (forwarded_trust_parse(list, &t, err, sizeof(err)) == 0) {
		FUZZ_CHECK(t.n <= WSB_MAX_TRUSTED_PROXIES, "bounded");
		for (i = 0; i < t.n; i++)
			FUZZ_CHECK(forwarded_trusts(&t, &t.cidr[i].net),
			    "a network holds its own address");
	} else
		FUZZ_CHECK(strchr(err, '\n') == NULL, "a one-line message");
	free(list);
}

/* Lines to headers, then the walk and its properties. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct forwarded_trust t;
	struct forwarded_addr  a, ref;
	struct http_request    req;
	uint8_t		      *copies[WSB_MAX_HEADERS];
	const uint8_t	      *p = data, *end = data + size, *nl;
	const char	      *how = NULL;
	size_t		       i, n = 0;
	int		       r, xff_only = 1;

	if (size < 1)
		return 0;
	forwarded_trust_parse(
	    fuzz_fwd_lists[*p++ % FUZZ_NELEM(fuzz_fwd_lists)], &t, NULL, 0);
	memset(&req, 0, sizeof(req));
	while (p < end && n < WSB_MAX_HEADERS) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if (nl > p && *p >= 0xf0) {
			fuzz_fwd_list(p + 1, (size_t)(nl - p - 1));
		} else if (nl > p) {
			copies[n] = fuzz_dup(p + 1, (size_t)(nl - p - 1));
			req.headers[n].name = fuzz_fwd_names[*p % 4];
			req.headers[n].name_len = strlen(req.headers[n].name);
			req.headers[n].value = (const char *)copies[n];
			req.headers[n].value_len = (size_t)(nl - p - 1);
			if (*p % 4 != 1 && *p % 4 != 3)
				xff_only = 0;
			if (forwarded_parse_node(req.headers[n].value,
				req.headers[n].value_len, &a)) {
				fuzz_fwd_node_again(&a);
				fuzz_fwd_node_bytes(req.headers[n].value,
				    req.headers[n].value_len);
			}
			n++;
		}
		p = nl + 1;
	}
	req.num_headers = n;
	memset(&a, 0, sizeof(a));
	r = forwarded_client(&req, &t, &a, &how);
	FUZZ_CHECK(r >= -1 && r <= 1, "-1, 0 or 1");
	if (r != 0)
		FUZZ_CHECK(how != NULL &&
			(strcmp(how, "Forwarded") == 0 ||
			    strcmp(how, "X-Forwarded-For") == 0 ||
			    strcmp(how, "X-Real-IP") == 0),
		    "names its header");
	if (r == 1)
		fuzz_fwd_node_again(&a);
	if (xff_only) {
		memset(&ref, 0, sizeof(ref));
		FUZZ_CHECK(fuzz_fwd_xff_ref(&req, &t, &ref) == r,
		    "X-Forwarded-For walked as the reference");
		if (r == 1)
			FUZZ_CHECK(memcmp(&ref, &a, sizeof(a)) == 0,
			    "the reference's address");
	}
	for (i = 0; i < n; i++)
		free(copies[i]);
	return 0;
}
