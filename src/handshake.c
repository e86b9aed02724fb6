/* RFC 6455 section 4.2 server handshake: checks and the 101 (pure). */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "handshake.h"

#define HANDSHAKE_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define HANDSHAKE_KEY_BYTES 16	    /* a key is base64 of 16 bytes */
#define HANDSHAKE_PROTOCOL "binary" /* the one subprotocol spoken */

static size_t handshake_count(const struct http_request *, const char *);
static int handshake_any_has_token(const struct http_request *, const char *,
    const char *);
static int handshake_offers(const struct http_request *, const char *);
static int handshake_key_valid(const char *, size_t);
static int handshake_fail(struct handshake_result *, int, const char *);
static int handshake_check_version(const struct http_request *,
    struct handshake_result *);
static int handshake_check_protocol(const struct http_request *,
    struct handshake_result *);

/* How many header lines are named name (any case, RFC 9110 5.1). */
static size_t
handshake_count(const struct http_request *req, const char *name)
{
	size_t i = 0, n = 0, len;

	while (http_header_next(req, name, &i, &len) != NULL)
		n++;
	return n;
}

/* Whether any header named name lists token, in any case: Upgrade and
 * Connection tokens are ASCII case-insensitive (RFC 6455 4.2.1 items 3
 * and 4, RFC 9110 7.6.1 and 7.8).  Headers may repeat. */
static int
handshake_any_has_token(const struct http_request *req, const char *name,
    const char *token)
{
	const char *v;
	size_t	    i = 0, len;

	while ((v = http_header_next(req, name, &i, &len)) != NULL)
		if (http_list_has_token(v, len, token))
			return 1;
	return 0;
}

/* Whether the Sec-WebSocket-Protocol lines, taken as one comma list
 * (RFC 9110 5.3), offer protocol byte for byte: subprotocol names are
 * case-sensitive (RFC 6455 4.1, 11.3.4; RFC 7936). */
static int
handshake_offers(const struct http_request *req, const char *protocol)
{
	const char *v, *p, *item;
	size_t	    i = 0, len, ilen, plen = strlen(protocol);

	while ((v = http_header_next(req, "Sec-WebSocket-Protocol", &i,
		    &len)) != NULL) {
		p = v;
		while (http_list_next(&p, v + len, &item, &ilen))
			if (ilen == plen && memcmp(item, protocol, plen) == 0)
				return 1;
	}
	return 0;
}

/* A key, as sent (the parser trimmed the blanks around it), must be
 * base64 of exactly 16 bytes (RFC 6455 4.2.1 item 5, 11.3.1). */
static int
handshake_key_valid(const char *key, size_t len)
{
	unsigned char out[HANDSHAKE_KEY_BYTES];

	return http_base64_decode(key, len, out, sizeof(out)) ==
	    HANDSHAKE_KEY_BYTES;
}

/* Record a failure. */
static int
handshake_fail(struct handshake_result *res, int status, const char *reason)
{
	res->status = status;
	res->reason = reason;
	return status;
}

/* Sec-WebSocket-Version: one line, exactly "13" (RFC 6455 4.2.1 item 6,
 * 11.3.5); another value gets 426 naming the version spoken (4.2.2). */
/* The formatter would align the parameters as declarations. */
/* clang-format off */
static int
handshake_check_version(const struct http_request *req,
    struct handshake_result *res)
/* clang-format on */
{
	const char *ver;
	size_t	    len;

	res->extra_headers = "Sec-WebSocket-Version: 13\r\n";
	if ((ver = http_header_get(req, "Sec-WebSocket-Version", &len)) ==
	    NULL)
		return handshake_fail(res, 400,
		    "missing Sec-WebSocket-Version header");
	if (handshake_count(req, "Sec-WebSocket-Version") > 1)
		return handshake_fail(res, 400,
		    "more than one Sec-WebSocket-Version header");
	if (len != 2 || memcmp(ver, "13", 2) != 0)
		return handshake_fail(res, 426,
		    "unsupported WebSocket version (need 13)");
	res->extra_headers = NULL;
	return 0;
}

/* Sec-WebSocket-Protocol: absent, or offering "binary" exactly, which is
 * echoed as offered (4.2.2 step 5.4).  websockify refuses a request
 * that offers only others, and so does this bridge. */
/* The formatter would align the parameters as declarations. */
/* clang-format off */
static int
handshake_check_protocol(const struct http_request *req,
    struct handshake_result *res)
/* clang-format on */
{
	if (handshake_count(req, "Sec-WebSocket-Protocol") == 0)
		return 0;
	if (!handshake_offers(req, HANDSHAKE_PROTOCOL))
		return handshake_fail(res, 400,
		    "unsupported subprotocol: only 'binary' is supported");
	res->protocol = HANDSHAKE_PROTOCOL;
	return 0;
}

/* Whether this is a request to upgrade to WebSocket at all. */
int
handshake_is_upgrade(const struct http_request *req)
{
	return handshake_any_has_token(req, "Upgrade", "websocket");
}

/* Validate an upgrade request; see handshake.h for the rules. */
int
handshake_check(const struct http_request *req, struct handshake_result *res)
{
	const char *key;
	size_t	    key_len, hosts;

	memset(res, 0, sizeof(*res));
	if (!http_method_is(req, "GET")) {
		res->extra_headers = "Allow: GET\r\n";
		return handshake_fail(res, 405,
		    "WebSocket handshake must use GET");
	}
	if (req->minor_version < 1)
		return handshake_fail(res, 400,
		    "WebSocket handshake needs HTTP/1.1");
	if ((hosts = handshake_count(req, "Host")) != 1)
		return handshake_fail(res, 400,
		    hosts == 0 ? "missing Host header" :
				 "more than one Host header");
	if (!handshake_is_upgrade(req))
		return handshake_fail(res, 400,
		    "missing or bad Upgrade header (need websocket)");
	if (!handshake_any_has_token(req, "Connection", "upgrade"))
		return handshake_fail(res, 400,
		    "Connection header does not list upgrade");
	if (handshake_check_version(req, res) != 0)
		return res->status;
	if ((key = http_header_get(req, "Sec-WebSocket-Key", &key_len)) ==
	    NULL)
		return handshake_fail(res, 400,
		    "missing Sec-WebSocket-Key header");
	if (handshake_count(req, "Sec-WebSocket-Key") > 1)
		return handshake_fail(res, 400,
		    "more than one Sec-WebSocket-Key header");
	if (!handshake_key_valid(key, key_len))
		return handshake_fail(res, 400,
		    "Sec-WebSocket-Key is not base64 of 16 bytes");
	if (handshake_check_protocol(req, res) != 0)
		return res->status;
	if (handshake_accept_key(key, key_len, res->accept) == -1)
		return handshake_fail(res, 500, "cannot compute accept key");
	res->status = 101;
	return 101;
}

/* Sec-WebSocket-Accept: base64(SHA-1(key + GUID)). */
int
handshake_accept_key(const char *key, size_t key_len,
    char out[HANDSHAKE_ACCEPT_LEN + 1])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int  dlen = 0;
	EVP_MD_CTX   *ctx;
	int	      ok;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	ok = EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, key, key_len) == 1 &&
	    EVP_DigestUpdate(ctx, HANDSHAKE_GUID,
		sizeof(HANDSHAKE_GUID) - 1) == 1 &&
	    EVP_DigestFinal_ex(ctx, digest, &dlen) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok || dlen != SHA_DIGEST_LENGTH)
		return -1;
	if (EVP_EncodeBlock((unsigned char *)out, digest, (int)dlen) !=
	    HANDSHAKE_ACCEPT_LEN)
		return -1;
	return 0;
}

/* The 101 response for a checked request. */
int
handshake_format_101(char *out, size_t outlen,
    const struct handshake_result *res)
{
	int n;

	n = snprintf(out, outlen,
	    "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n"
	    "%s%s%s"
	    "\r\n",
	    res->accept,
	    res->protocol != NULL ? "Sec-WebSocket-Protocol: " : "",
	    res->protocol != NULL ? res->protocol : "",
	    res->protocol != NULL ? "\r\n" : "");
	if (n < 0 || (size_t)n >= outlen)
		return -1;
	return n;
}
