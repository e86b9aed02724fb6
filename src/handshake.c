/* RFC 6455 section 4.2 server handshake: checks and the 101 (pure). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "handshake.h"

#define HANDSHAKE_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define HANDSHAKE_KEY_B64_LEN 24	/* base64 of 16 bytes */

static int handshake_any_has_token(const struct http_request *,
    const char *, const char *);
static int handshake_key_valid(const char *, size_t);
static int handshake_fail(struct handshake_result *, int, const char *);
static int handshake_has_header(const struct http_request *, const char *);

/* Whether any header named name lists token (headers may repeat). */
static int
handshake_any_has_token(const struct http_request *req, const char *name,
    const char *token)
{
	size_t	 i, n = strlen(name);

	for (i = 0; i < req->num_headers; i++) {
		const struct http_header *h = &req->headers[i];
		if (h->name_len == n && strncasecmp(h->name, name, n) == 0 &&
		    http_list_has_token(h->value, h->value_len, token))
			return 1;
	}
	return 0;
}

/* Whether any header named name is present. */
static int
handshake_has_header(const struct http_request *req, const char *name)
{
	size_t	 len;

	return http_header_get(req, name, &len) != NULL;
}

/* A key must be base64 that decodes to exactly 16 bytes (4.2.1 item 5). */
static int
handshake_key_valid(const char *key, size_t len)
{
	unsigned char	 in[HANDSHAKE_KEY_B64_LEN + 1];
	unsigned char	 out[HANDSHAKE_KEY_B64_LEN];
	int		 n;

	if (len != HANDSHAKE_KEY_B64_LEN || key[22] != '=' || key[23] != '=')
		return 0;
	/* EVP_DecodeBlock takes '=' anywhere; only the last two may be. */
	if (strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+/") < 22)
		return 0;
	memcpy(in, key, len);
	in[len] = '\0';
	/* EVP_DecodeBlock refuses bad characters and counts padding as
	 * zero bytes: 24 characters give 18, two of them padding. */
	n = EVP_DecodeBlock(out, in, (int)len);
	return n == 18;
}

/* Record a failure. */
static int
handshake_fail(struct handshake_result *res, int status, const char *reason)
{
	res->status = status;
	res->reason = reason;
	return status;
}

/* Whether this is a request to upgrade to WebSocket at all. */
int
handshake_is_upgrade(const struct http_request *req)
{
	return handshake_any_has_token(req, "Upgrade", "websocket");
}

/* Validate an upgrade request; see handshake.h. */
int
handshake_check(const struct http_request *req, struct handshake_result *res)
{
	const char	*key, *ver;
	size_t		 key_len, ver_len, i;
	int		 offered = 0;

	memset(res, 0, sizeof(*res));
	if (req->method_len != 3 || memcmp(req->method, "GET", 3) != 0) {
		res->extra_headers = "Allow: GET\r\n";
		return handshake_fail(res, 405,
		    "WebSocket handshake must use GET");
	}
	if (req->minor_version < 1)
		return handshake_fail(res, 400,
		    "WebSocket handshake needs HTTP/1.1");
	if (!handshake_has_header(req, "Host"))
		return handshake_fail(res, 400, "missing Host header");
	if (!handshake_is_upgrade(req))
		return handshake_fail(res, 400,
		    "missing or bad Upgrade header (need websocket)");
	if (!handshake_any_has_token(req, "Connection", "upgrade"))
		return handshake_fail(res, 400,
		    "Connection header does not list upgrade");
	ver = http_header_get(req, "Sec-WebSocket-Version", &ver_len);
	if (ver == NULL) {
		res->extra_headers = "Sec-WebSocket-Version: 13\r\n";
		return handshake_fail(res, 400,
		    "missing Sec-WebSocket-Version header");
	}
	if (ver_len != 2 || memcmp(ver, "13", 2) != 0) {
		res->extra_headers = "Sec-WebSocket-Version: 13\r\n";
		return handshake_fail(res, 426,
		    "unsupported WebSocket version (need 13)");
	}
	key = http_header_get(req, "Sec-WebSocket-Key", &key_len);
	if (key == NULL)
		return handshake_fail(res, 400,
		    "missing Sec-WebSocket-Key header");
	if (!handshake_key_valid(key, key_len))
		return handshake_fail(res, 400,
		    "Sec-WebSocket-Key is not base64 of 16 bytes");

	for (i = 0; i < req->num_headers; i++) {
		const struct http_header *h = &req->headers[i];
		if (h->name_len == 22 &&
		    strncasecmp(h->name, "Sec-WebSocket-Protocol", 22) == 0)
			offered = 1;
	}
	if (offered) {
		if (!handshake_any_has_token(req, "Sec-WebSocket-Protocol",
		    "binary"))
			return handshake_fail(res, 400,
			    "unsupported subprotocol: only 'binary' is "
			    "supported");
		res->protocol = "binary";
	}
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
	unsigned char	 digest[EVP_MAX_MD_SIZE];
	unsigned int	 dlen = 0;
	EVP_MD_CTX	*ctx;
	int		 ok;

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
	int	 n;

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
