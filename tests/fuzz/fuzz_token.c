/*
 * libFuzzer harness for the pure parts of token routing
 * (src/token_parse.c) and log_escape_path (src/log_escape.c).  Byte 0 chooses
 * --host-token; the rest, up to the first '\n', is the request target or
 * Host value; what follows is a token's target.  Checks: the token is
 * NUL-free, its length is what is returned and fits, it comes from a
 * query pair (or the Host, without its port);
 * a parsed target re-formats and parses again to the same parts; a
 * logged path never shows the value of a `?token=` or `&token=` pair.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http.h"
#include "log.h"
#include "target.h"
#include "token.h"

/* Room for a token: small, so "too long" is reached too. */
#define FUZZ_TOKEN_OUT 64

static void fuzz_token_from(const char *, size_t, int);
static void fuzz_token_target(const char *, size_t);
static void fuzz_token_log(const char *, size_t);

/* token_from_request on a request built around s. */
static void
fuzz_token_from(const char *s, size_t len, int host_token)
{
	struct http_request req;
	char		    out[FUZZ_TOKEN_OUT], *head;
	int		    n, hlen;

	if (memchr(s, '\r', len) != NULL || memchr(s, '\0', len) != NULL)
		return;
	if (host_token)
		hlen = asprintf(&head, "GET / HTTP/1.1\r\nHost: %.*s\r\n\r\n",
		    (int)len, s);
	else
		hlen =
		    asprintf(&head, "GET /%.*s HTTP/1.1\r\n\r\n", (int)len, s);
	if (hlen < 0)
		abort();
	if (http_parse_request(head, (size_t)hlen, &req) != hlen) {
		free(head);
		return;
	}
	n = token_from_request(&req, host_token, out, sizeof(out));
	FUZZ_CHECK(n >= -1 && n < FUZZ_TOKEN_OUT, "length in range");
	if (n >= 0)
		FUZZ_CHECK(strlen(out) == (size_t)n, "NUL-free, length right");
	if (n > 0 && !host_token)
		FUZZ_CHECK(memchr(req.path, '?', req.path_len) != NULL &&
			memchr(req.path, '=', req.path_len) != NULL,
		    "a token comes from a query pair");
	if (n > 0 && host_token)
		FUZZ_CHECK(strchr(out, ':') == NULL ||
			req.headers[0].value[0] == '[',
		    "no port left");
	free(head);
}

/* A target that parses re-formats and parses again the same. */
static void
fuzz_token_target(const char *s, size_t len)
{
	struct target_spec a, b;
	char		  *t = fuzz_strndup(s, len), buf[128], buf2[128];
	char		   again[160];

	memset(&a, 0, sizeof(a));
	if (token_target_parse(t, &a, buf, sizeof(buf)) == 0) {
		if (a.unix_path != NULL) {
			FUZZ_CHECK(a.host == NULL && a.unix_path[0] != '\0',
			    "a Unix path, nothing else");
			snprintf(again, sizeof(again), "unix_socket:%s",
			    a.unix_path);
		} else {
			FUZZ_CHECK(a.host != NULL && a.host[0] != '\0' &&
				atoi(a.port) >= 1 && atoi(a.port) <= 65535,
			    "host and port 1-65535");
			http_format_authority(again, sizeof(again), a.host,
			    a.port);
		}
		memset(&b, 0, sizeof(b));
		FUZZ_CHECK(token_target_parse(again, &b, buf2, sizeof(buf2)) ==
			0,
		    "re-formatted parses");
		FUZZ_CHECK((a.unix_path != NULL) == (b.unix_path != NULL),
		    "same kind");
		if (a.unix_path != NULL)
			FUZZ_CHECK(strcmp(a.unix_path, b.unix_path) == 0,
			    "same path");
		else
			FUZZ_CHECK(strcmp(a.host, b.host) == 0 &&
				strcmp(a.port, b.port) == 0,
			    "same host and port");
	}
	free(t);
}

/* No byte of a token value follows "token=" in a logged path. */
static void
fuzz_token_log(const char *s, size_t len)
{
	char  out[1024], *p;
	char *copy = fuzz_strndup(s, len);

	log_escape_path(out, sizeof(out), copy, len);
	for (p = out; (p = strcasestr(p, "token=")) != NULL; p += 6)
		FUZZ_CHECK(p == out || (p[-1] != '?' && p[-1] != '&') ||
			strncmp(p + 6, "***", 3) == 0 || p[6] == '\0',
		    "token values hidden");
	free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data + 1, *nl;
	size_t	    len, first;

	if (size < 1)
		return 0;
	len = size - 1;
	nl = memchr(s, '\n', len);
	first = nl != NULL ? (size_t)(nl - s) : len;
	fuzz_token_from(s, first, data[0] & 1);
	fuzz_token_log(s, first);
	if (nl != NULL)
		fuzz_token_target(nl + 1, len - first - 1);
	return 0;
}
