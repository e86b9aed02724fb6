/*
 * libFuzzer harness for auth_check (src/auth.c): websockify's
 * BasicHTTPAuth and ExpectOrigin on a request whose Authorization or
 * Origin value is any bytes, against references written from RFC 7617
 * and websockify's rules; right credentials built from the secret always
 * pass, wrong ones never; and the strict base64 decoder under Basic
 * (http_base64_decode) against RFC 4648.
 *
 * Input: byte 0 picks the case; then the --auth-source up to the first
 * '\n' (or "user:secret" when there is none), then the header value.
 */
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "http.h"
#include "wsb_limits.h"
#include "fuzz.h"

#define FUZZ_AUTH_CHALLENGE "WWW-Authenticate: Basic realm="

/* What byte 0 says. */
#define FUZZ_AUTH_MODE(b) ((b)&3) /* none, Basic, Origin, built */
#define FUZZ_AUTH_NO_HEADER 0x04  /* leave the header out */
#define FUZZ_AUTH_WRONG 0x08	  /* built credentials are wrong */

static void  fuzz_auth_request(struct http_request *, const char *,
     const char *, size_t);
static int   fuzz_auth_basic_ref(const char *, const char *, size_t);
static int   fuzz_auth_origin_ref(const char *, const char *, size_t);
static void  fuzz_auth_check_res(int, const struct auth_result *);
static char *fuzz_auth_built(const uint8_t, const char *, size_t *);
static void  fuzz_auth_b64(const uint8_t *, size_t);

/* A GET with a Host and, if value is not NULL, header name: value. */
static void
fuzz_auth_request(struct http_request *req, const char *name,
    const char *value, size_t len)
{
	memset(req, 0, sizeof(*req));
	req->method = "GET";
	req->method_len = 3;
	req->path = "/websockify";
	req->path_len = 11;
	req->minor_version = 1;
	req->headers[0].name = "Host";
	req->headers[0].name_len = 4;
	req->headers[0].value = "localhost:6080";
	req->headers[0].value_len = 14;
	req->num_headers = 1;
	if (value == NULL)
		return;
	req->headers[1].name = name;
	req->headers[1].name_len = strlen(name);
	req->headers[1].value = value;
	req->headers[1].value_len = len;
	req->num_headers = 2;
}

/* RFC 7617: "Basic" (any case, RFC 9110 11.1), blanks, then base64 of
 * user:password equal to secret.  401 for no header or wrong
 * credentials, 403 another scheme, 400 anything malformed. */
static int
fuzz_auth_basic_ref(const char *secret, const char *v, size_t len)
{
	uint8_t *dec;
	size_t	 s = 0, b;
	long	 n;
	int	 st;

	if (v == NULL)
		return 401;
	while (s < len && v[s] != ' ' && v[s] != '\t')
		s++;
	if (!fuzz_case_equal(v, s, "basic", 5))
		return 403;
	for (b = s; b < len && (v[b] == ' ' || v[b] == '\t'); b++)
		;
	if (b == len || len - b > WSB_MAX_BASIC_B64)
		return 400;
	dec = fuzz_alloc((len - b) / 4 * 3 + 1);
	if ((n = fuzz_b64_decode(v + b, len - b, dec)) < 0)
		st = 400;
	else if (memchr(dec, ':', (size_t)n) == NULL)
		st = 400;
	else if ((size_t)n == strlen(secret) &&
	    memcmp(dec, secret, (size_t)n) == 0)
		st = 0;
	else
		st = 401;
	free(dec);
	return st;
}

/* websockify's ExpectOrigin: the Origin value equals (any case) one of
 * the origins listed in secret, split on blanks and commas. */
static int
fuzz_auth_origin_ref(const char *list, const char *v, size_t len)
{
	size_t a = 0, b, n = strlen(list);

	if (v == NULL)
		return 403;
	while (a < n) {
		for (b = a; b < n && list[b] != ' ' && list[b] != ','; b++)
			;
		if (b > a && len > 0 &&
		    fuzz_case_equal(list + a, b - a, v, len))
			return 0;
		a = b + 1;
	}
	return 403;
}

/* The result's fields agree with its status. */
static void
fuzz_auth_check_res(int st, const struct auth_result *res)
{
	FUZZ_CHECK(st == res->status, "returns res->status");
	if (st == 0) {
		FUZZ_CHECK(res->reason == NULL && res->extra_headers == NULL,
		    "nothing to say when allowed");
		return;
	}
	FUZZ_CHECK(res->reason != NULL && res->reason[0] != '\0' &&
		strpbrk(res->reason, "\r\n") == NULL,
	    "one-line reason");
	if (st == 401)
		FUZZ_CHECK(res->extra_headers != NULL &&
			strncmp(res->extra_headers, FUZZ_AUTH_CHALLENGE,
			    strlen(FUZZ_AUTH_CHALLENGE)) == 0 &&
			strcmp(res->extra_headers +
				strlen(res->extra_headers) - 2,
			    "\r\n") == 0,
		    "401 challenges for Basic (RFC 7617 2)");
	else
		FUZZ_CHECK(res->extra_headers == NULL, "no challenge");
}

/* An Authorization value a browser would send for secret: the scheme
 * in some case, some blanks, base64 of secret (plus a byte if wrong). */
static char *
fuzz_auth_built(const uint8_t flags, const char *secret, size_t *len)
{
	static const char *schemes[] = { "Basic ", "basic\t", "BASIC  ",
		"bAsIc \t" };
	const char	  *sch = schemes[(flags >> 4) & 3];
	size_t		   n = strlen(secret), s = strlen(sch);
	uint8_t		  *creds;
	char		  *v;

	creds = fuzz_alloc(n + 1);
	memcpy(creds, secret, n);
	if (flags & FUZZ_AUTH_WRONG)
		creds[n++] = (uint8_t)(flags ^ 0x5a);
	v = (char *)fuzz_alloc(s + (n + 2) / 3 * 4 + 1);
	memcpy(v, sch, s);
	*len = s + fuzz_b64_encode(creds, n, v + s);
	free(creds);
	return v;
}

/* http_base64_decode against the reference, with a room byte 0 picks;
 * then the input itself encoded and decoded back. */
static void
fuzz_auth_b64(const uint8_t *data, size_t size)
{
	const char *src = (const char *)data + 1;
	size_t	    len, room, n;
	uint8_t	   *ref, *dst;
	char	   *enc;
	long	    want;
	int	    r;

	if (size < 1)
		return;
	len = size - 1;
	ref = fuzz_alloc(len / 4 * 3 + 1);
	want = fuzz_b64_decode(src, len, ref);
	room = data[0] & 1 ? len / 4 * 3 : (size_t)(data[0] >> 1);
	dst = fuzz_alloc(room);
	r = http_base64_decode(src, len, dst, room);
	if (want < 0 || (size_t)want > room)
		FUZZ_CHECK(r == -1, "not base64, or no room: -1");
	else
		FUZZ_CHECK(r == want && memcmp(dst, ref, (size_t)r) == 0,
		    "decoded as RFC 4648 4 says");
	free(dst);
	free(ref);

	enc = (char *)fuzz_alloc((size + 2) / 3 * 4 + 1);
	n = fuzz_b64_encode(data, size, enc);
	dst = fuzz_alloc(size);
	r = http_base64_decode(enc, n, dst, size);
	FUZZ_CHECK(r == (int)size && memcmp(dst, data, size) == 0,
	    "encode, decode round trip");
	if (size > 0)
		FUZZ_CHECK(http_base64_decode(enc, n, dst, size - 1) == -1,
		    "one byte short of room: -1");
	free(dst);
	free(enc);
}

/* One request through the plugin byte 0 picks, against the reference. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_request req;
	struct config		   cfg;
	struct auth_result	   res;
	const uint8_t		  *nl, *rest = data + 1;
	const char		  *hv;
	char			  *secret, *value;
	size_t			   vlen, slen;
	int			   mode, st, want, wrong;

	if (size < 1)
		return 0;
	mode = FUZZ_AUTH_MODE(data[0]);
	wrong = (data[0] & FUZZ_AUTH_WRONG) != 0;
	if ((nl = memchr(data + 1, '\n', size - 1)) != NULL) {
		secret = fuzz_strndup(data + 1, (size_t)(nl - data - 1));
		rest = nl + 1;
	} else
		secret = fuzz_strndup("user:secret", 11);
	if (mode == 3)
		value = fuzz_auth_built(data[0], secret, &vlen);
	else {
		vlen = size - (size_t)(rest - data);
		value = (char *)fuzz_dup(rest, vlen);
	}
	hv = data[0] & FUZZ_AUTH_NO_HEADER ? NULL : value;
	memset(&cfg, 0, sizeof(cfg));
	cfg.auth_plugin = mode == 0 ? CONFIG_AUTH_NONE :
	    mode == 2		    ? CONFIG_AUTH_ORIGIN :
				      CONFIG_AUTH_BASIC;
	cfg.auth_source = secret;
	fuzz_auth_request(&req, mode == 2 ? "origin" : "authorization", hv,
	    vlen);
	memset(&res, 0xa5, sizeof(res));
	st = auth_check(&cfg, &req, NULL, &res);
	if (mode == 0)
		want = 0;
	else if (mode == 2)
		want = fuzz_auth_origin_ref(secret, hv, vlen);
	else
		want = fuzz_auth_basic_ref(secret, hv, vlen);
	FUZZ_CHECK(st == want, "status as the reference says");
	slen = strlen(secret) + (size_t)wrong;
	if (mode == 3 && hv != NULL && strchr(secret, ':') != NULL &&
	    (slen + 2) / 3 * 4 <= WSB_MAX_BASIC_B64)
		FUZZ_CHECK(st == (wrong ? 401 : 0),
		    "right credentials pass, wrong ones get 401");
	fuzz_auth_check_res(st, &res);
	fuzz_auth_b64(data, size);
	free(value);
	free(secret);
	return 0;
}
