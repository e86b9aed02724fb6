/*
 * The pure parts of token routing (no I/O): where a session's token is,
 * what a token's target says, and the fingerprint logs show instead of it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include <openssl/evp.h>

#include "http.h"
#include "target.h"
#include "token.h"

/* websockify's prefix for a Unix socket target (token_plugins.py). */
#define TOKEN_UNIX_PREFIX "unix_socket:"

static int token_from_host(const struct http_request *, char *, size_t);
static int token_from_query(const struct http_request *, char *, size_t);
static int token_unquote_plus(const char *, size_t, char *, size_t);
static int token_hex(int);

/* Value of a hex digit, or -1. */
static int
token_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decode src[0..len) as Python's unquote_plus: '+' is a space, "%XX" a
 * byte, and a '%' without two hex digits stays as it is.  Into out
 * (outlen bytes, NUL-terminated).  Returns the length, or -1 when it does
 * not fit or holds a NUL.
 */
static int
token_unquote_plus(const char *src, size_t len, char *out, size_t outlen)
{
	size_t i, o = 0;
	int    c, hi, lo;

	for (i = 0; i < len; i++) {
		c = (unsigned char)src[i];
		if (c == '+')
			c = ' ';
		else if (c == '%' && i + 2 < len &&
		    (hi = token_hex(src[i + 1])) >= 0 &&
		    (lo = token_hex(src[i + 2])) >= 0) {
			c = hi << 4 | lo;
			i += 2;
		}
		if (c == '\0' || o + 1 >= outlen)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return (int)o;
}

/*
 * The query's token as websockify finds it (parse_qs): pairs split on
 * '&', names and values decoded with unquote_plus, pairs without '=' or
 * with an empty value skipped, the first `token` taken.
 */
static int
token_from_query(const struct http_request *req, char *out, size_t outlen)
{
	const char *p = req->path, *end = req->path + req->path_len, *item,
		   *eq;
	char name[8];
	int  n;

	while (p < end && *p != '?' && *p != '#')
		p++;
	if (p == end || *p == '#')
		return 0;
	for (p++; p < end && *p != '#'; p++) {
		item = p;
		while (p < end && *p != '&' && *p != '#')
			p++;
		eq = memchr(item, '=', (size_t)(p - item));
		if (eq == NULL || eq + 1 == p ||
		    token_unquote_plus(item, (size_t)(eq - item), name,
			sizeof(name)) != 5 ||
		    memcmp(name, "token", 5) != 0) {
			if (p < end && *p == '#')
				break;
			continue;
		}
		if ((n = token_unquote_plus(eq + 1, (size_t)(p - eq - 1), out,
			 outlen)) < 0)
			return -1;
		/* websockify: args['token'][0].rstrip('\n') */
		while (n > 0 && out[n - 1] == '\n')
			out[--n] = '\0';
		return n;
	}
	return 0;
}

/* The token: the query's `token`, or the Host header (--host-token). */
int
token_from_request(const struct http_request *req, int host_token, char *out,
    size_t outlen)
{
	if (outlen == 0)
		return -1;
	out[0] = '\0';
	return host_token ? token_from_host(req, out, outlen) :
			    token_from_query(req, out, outlen);
}

/* The Host header without its port: "h:80" -> "h", "[::1]:80" -> "::1". */
static int
token_from_host(const struct http_request *req, char *out, size_t outlen)
{
	const char *h, *end, *close;
	size_t	    len;

	if ((h = http_header_get(req, "Host", &len)) == NULL || len == 0)
		return 0;
	end = h + len;
	if (h[0] == '[') {
		if ((close = memchr(h, ']', len)) == NULL)
			return -1;
		h++;
		end = close;
	} else if ((close = memchr(h, ':', len)) != NULL)
		end = close; /* websockify: token.partition(':')[0] */
	len = (size_t)(end - h);
	if (len >= outlen || memchr(h, '\0', len) != NULL)
		return -1;
	memcpy(out, h, len);
	out[len] = '\0';
	return (int)len;
}

/* A token's target into spec, the strings in buf. */
int
token_target_parse(const char *target, struct target_spec *spec, char *buf,
    size_t buflen)
{
	size_t plen = strlen(TOKEN_UNIX_PREFIX), hlen;
	char  *host, *port, err[128];

	spec->host = spec->port = spec->unix_path = NULL;
	if (strncmp(target, TOKEN_UNIX_PREFIX, plen) == 0) {
		if (target[plen] == '\0' ||
		    snprintf(buf, buflen, "%s", target + plen) >= (int)buflen)
			return -1;
		spec->unix_path = buf;
		return 0;
	}
	if (http_split_authority(target, &host, &port, 0, err, sizeof(err)) ==
	    -1)
		return -1;
	hlen = strlen(host);
	/* A name or address: letters, digits, '.', '-', '_', and ':' and
	 * '%' (an IPv6 literal and its zone); no brackets left over. */
	if (strspn(host,
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		"0123456789.-_:%") != hlen ||
	    hlen + 1 + strlen(port) + 1 > buflen) {
		free(host);
		free(port);
		return -1;
	}
	memcpy(buf, host, hlen + 1);
	memcpy(buf + hlen + 1, port, strlen(port) + 1);
	spec->host = buf;
	spec->port = buf + hlen + 1;
	free(host);
	free(port);
	return 0;
}

/* SHA-256, fetched once: OpenSSL 3's one-shot SHA256() looks the
 * algorithm up on every call (5,900 instructions a session). */
static EVP_MD	     *token_sha256;
static pthread_once_t token_sha256_once = PTHREAD_ONCE_INIT;

/* Fetch SHA-256 for token_fingerprint(). */
static void
token_sha256_fetch(void)
{
	token_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* The first 8 hex digits of the token's SHA-256. */
const char *
token_fingerprint(const char *token, size_t len, char *out)
{
	unsigned char	  md[EVP_MAX_MD_SIZE];
	static const char hex[] = "0123456789abcdef";
	int		  i;

	pthread_once(&token_sha256_once, token_sha256_fetch);
	if (token_sha256 == NULL ||
	    EVP_Digest(token, len, md, NULL, token_sha256, NULL) != 1) {
		memcpy(out, "????????", 9);
		return out;
	}
	for (i = 0; i < 4; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[8] = '\0';
	return out;
}
