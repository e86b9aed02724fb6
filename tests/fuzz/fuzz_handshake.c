/*
 * libFuzzer harness for handshake_check (src/handshake.c) on requests
 * parsed by http_parse_request: the status it gives is the one RFC 6455
 * 4.2.1 asks for (checked by a reference written from the RFC, in the
 * order the server documents), a 101 carries the right 28-character
 * accept value, and the 101 and error responses are well formed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "handshake.h"
#include "http.h"
#include "fuzz.h"

#define FUZZ_HS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* Longest key handed to handshake_accept_key straight from the input. */
#define FUZZ_HS_RAW_KEY 64

static const struct http_header *fuzz_hs_first(const struct http_request *,
    const char *);
static size_t fuzz_hs_count(const struct http_request *, const char *);
static int fuzz_hs_any(const struct http_request *, const char *, const char *,
    int);
static int fuzz_hs_key_ok(const struct http_header *);
static int fuzz_hs_expect(const struct http_request *, const char **,
    const char **);
static void fuzz_hs_accept_ref(const char *, size_t, char *);
static void fuzz_hs_check_101(const struct http_request *,
    const struct handshake_result *);
static void fuzz_hs_check_error(const struct handshake_result *);

/* The first header named name (any case), or NULL. */
static const struct http_header *
fuzz_hs_first(const struct http_request *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->num_headers; i++)
		if (fuzz_case_equal(req->headers[i].name,
			req->headers[i].name_len, name, strlen(name)))
			return &req->headers[i];
	return NULL;
}

/* How many header lines are named name (any case). */
static size_t
fuzz_hs_count(const struct http_request *req, const char *name)
{
	size_t i, n = 0;

	for (i = 0; i < req->num_headers; i++)
		n += fuzz_case_equal(req->headers[i].name,
		    req->headers[i].name_len, name, strlen(name));
	return n;
}

/* Whether any header named name lists token (headers may repeat,
 * RFC 9110 5.3), ignoring the token's case if nocase. */
static int
fuzz_hs_any(const struct http_request *req, const char *name,
    const char *token, int nocase)
{
	size_t i;

	for (i = 0; i < req->num_headers; i++)
		if (fuzz_case_equal(req->headers[i].name,
			req->headers[i].name_len, name, strlen(name)) &&
		    fuzz_list_has(req->headers[i].value,
			req->headers[i].value_len, token, nocase))
			return 1;
	return 0;
}

/* RFC 6455 4.2.1 item 5: base64 that decodes to exactly 16 bytes. */
static int
fuzz_hs_key_ok(const struct http_header *key)
{
	uint8_t out[24];

	if (key->value_len != 24)
		return 0;
	return fuzz_b64_decode(key->value, key->value_len, out) == 16;
}

/*
 * The status RFC 6455 4.2.1 gives req, each rule in the order
 * handshake.h lists them: method GET (case-sensitive, RFC 9110 9.1),
 * HTTP/1.1, one Host (RFC 9112 3.2), Upgrade lists websocket and
 * Connection lists upgrade (any case), one Sec-WebSocket-Version of
 * exactly 13 (426 otherwise), one Sec-WebSocket-Key of base64 of 16
 * bytes, and "binary" among the offered subprotocols (case-sensitive,
 * RFC 7936).  *proto: the subprotocol a 101 names; *extra: the header
 * line a refusal must carry, or NULL for "none required".
 */
static int
fuzz_hs_expect(const struct http_request *req, const char **proto,
    const char **extra)
{
	const struct http_header *h;

	*proto = NULL;
	*extra = NULL;
	if (req->method_len != 3 || memcmp(req->method, "GET", 3) != 0) {
		*extra = "Allow: GET\r\n";
		return 405;
	}
	if (req->minor_version < 1 || fuzz_hs_count(req, "Host") != 1 ||
	    !fuzz_hs_any(req, "Upgrade", "websocket", 1) ||
	    !fuzz_hs_any(req, "Connection", "upgrade", 1))
		return 400;
	if (fuzz_hs_count(req, "Sec-WebSocket-Version") != 1)
		return 400;
	h = fuzz_hs_first(req, "Sec-WebSocket-Version");
	if (h->value_len != 2 || memcmp(h->value, "13", 2) != 0) {
		*extra = "Sec-WebSocket-Version: 13\r\n";
		return 426;
	}
	if (fuzz_hs_count(req, "Sec-WebSocket-Key") != 1 ||
	    !fuzz_hs_key_ok(fuzz_hs_first(req, "Sec-WebSocket-Key")))
		return 400;
	if (fuzz_hs_count(req, "Sec-WebSocket-Protocol") > 0) {
		if (!fuzz_hs_any(req, "Sec-WebSocket-Protocol", "binary", 0))
			return 400;
		*proto = "binary";
	}
	return 101;
}

/* base64(SHA-1(key GUID)) by OpenSSL's one-shot SHA1() and our own
 * base64 (RFC 6455 4.2.2 item 5.4). */
static void
fuzz_hs_accept_ref(const char *key, size_t len, char *out)
{
	uint8_t	 md[SHA_DIGEST_LENGTH];
	uint8_t *buf;

	buf = fuzz_alloc(len + sizeof(FUZZ_HS_GUID) - 1);
	if (len > 0)
		memcpy(buf, key, len);
	memcpy(buf + len, FUZZ_HS_GUID, sizeof(FUZZ_HS_GUID) - 1);
	SHA1(buf, len + sizeof(FUZZ_HS_GUID) - 1, md);
	fuzz_b64_encode(md, sizeof(md), out);
	free(buf);
}

/* A 101: its accept value and the exact response bytes. */
/* The formatter would align the parameters as declarations. */
/* clang-format off */
static void
fuzz_hs_check_101(const struct http_request *req,
    const struct handshake_result *res)
/* clang-format on */
{
	const struct http_header *key;
	char			  want[HANDSHAKE_ACCEPT_LEN + 1];
	char			  resp[512];
	char			 *out;
	int			  n, len;

	key = fuzz_hs_first(req, "Sec-WebSocket-Key");
	fuzz_hs_accept_ref(key->value, key->value_len, want);
	FUZZ_CHECK(memchr(res->accept, '\0', sizeof(res->accept)) != NULL &&
		strlen(res->accept) == HANDSHAKE_ACCEPT_LEN &&
		strcmp(res->accept, want) == 0,
	    "accept value is 28 characters "
	    "of base64(SHA-1(key GUID))");
	n = snprintf(resp, sizeof(resp),
	    "HTTP/1.1 101 Switching Protocols"
	    "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n%s\r\n",
	    want, res->protocol ? "Sec-WebSocket-Protocol: binary\r\n" : "");
	out = (char *)fuzz_alloc((size_t)n + 1);
	len = handshake_format_101(out, (size_t)n + 1, res);
	FUZZ_CHECK(len == n && memcmp(out, resp, (size_t)n + 1) == 0,
	    "101 response bytes");
	FUZZ_CHECK(handshake_format_101(out, (size_t)n, res) == -1,
	    "101 refused into a buffer one byte short");
	free(out);
}

/* A refusal: a one-line reason, whole extra header lines, and an error
 * response that formats. */
static void
fuzz_hs_check_error(const struct handshake_result *res)
{
	char   out[1024], start[16];
	size_t n;

	FUZZ_CHECK(res->reason != NULL && res->reason[0] != '\0' &&
		strpbrk(res->reason, "\r\n") == NULL,
	    "one-line reason");
	if (res->extra_headers != NULL) {
		n = strlen(res->extra_headers);
		FUZZ_CHECK(n >= 2 &&
			strcmp(res->extra_headers + n - 2, "\r\n") == 0,
		    "extra headers end in CRLF");
	}
	FUZZ_CHECK(res->protocol == NULL && res->accept[0] == '\0',
	    "no accept value or protocol on a refusal");
	snprintf(start, sizeof(start), "HTTP/1.1 %d ", res->status);
	FUZZ_CHECK(http_format_error(out, sizeof(out), res->status,
		       res->extra_headers, res->reason) > 0 &&
		strncmp(out, start, strlen(start)) == 0,
	    "error response");
}

/* Parse the input; check the handshake of whatever parses. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_request req;
	struct handshake_result	   res;
	const char		  *proto, *extra;
	char			   acc[HANDSHAKE_ACCEPT_LEN + 1];
	char			   want[HANDSHAKE_ACCEPT_LEN + 1];
	size_t			   klen;
	int			   st, exp;

	klen = size < FUZZ_HS_RAW_KEY ? size : FUZZ_HS_RAW_KEY;
	FUZZ_CHECK(handshake_accept_key((const char *)data, klen, acc) == 0,
	    "accept key of any bytes");
	fuzz_hs_accept_ref((const char *)data, klen, want);
	FUZZ_CHECK(strcmp(acc, want) == 0, "accept key of any bytes agrees");

	if (http_parse_request((const char *)data, size, &req) <= 0)
		return 0;
	memset(&res, 0xa5, sizeof(res));
	st = handshake_check(&req, &res);
	exp = fuzz_hs_expect(&req, &proto, &extra);
	if (st != exp)
		fprintf(stderr, "handshake_check gave %d, expected %d\n", st,
		    exp);
	FUZZ_CHECK(st == res.status && st == exp,
	    "status RFC 6455 4.2.1 "
	    "asks for");
	FUZZ_CHECK(handshake_is_upgrade(&req) ==
		fuzz_hs_any(&req, "Upgrade", "websocket", 1),
	    "is an upgrade");
	if (st == 101) {
		FUZZ_CHECK(res.protocol == proto ||
			(res.protocol != NULL && proto != NULL &&
			    strcmp(res.protocol, proto) == 0),
		    "subprotocol chosen");
		fuzz_hs_check_101(&req, &res);
	} else {
		fuzz_hs_check_error(&res);
		FUZZ_CHECK(extra == NULL ||
			(res.extra_headers != NULL &&
			    strcmp(res.extra_headers, extra) == 0),
		    "405 names GET, 426 names version 13");
	}
	return 0;
}
