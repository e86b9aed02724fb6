/* Unit tests for the auth plugins (src/auth.c): BasicHTTPAuth and
 * ExpectOrigin, as websockify names them. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, strcasestr, strndup */
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "auth.h"
#include "wsb_config.h"
#include "http.h"
#include "test_helpers.h"

/* A case leaves the fields it does not need zero: one line per case. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define NONE CONFIG_AUTH_NONE
#define BASIC CONFIG_AUTH_BASIC
#define ORIGIN CONFIG_AUTH_ORIGIN

#define CHALLENGE "WWW-Authenticate: Basic realm=\"wsbridge\""
#define USER "user:secret"
#define ORIGINS "http://a.example https://b.example"

/* hdr: one header line (no CRLF) added to an upgrade request, or NULL. */
struct auth_case {
	const char *desc;
	int	    plugin;
	const char *source;
	const char *hdr;
	int	    status;
};

static const struct auth_case auth_cases[] = {
	/* BasicHTTPAuth. */
	{ "no Authorization: challenge", BASIC, USER, NULL, 401 },
	{ "right user:password", BASIC, USER,
	    "Authorization: Basic dXNlcjpzZWNyZXQ=", 0 },
	{ "scheme in lower case", BASIC, USER,
	    "Authorization: basic dXNlcjpzZWNyZXQ=", 0 },
	{ "scheme in upper case", BASIC, USER,
	    "Authorization: BASIC dXNlcjpzZWNyZXQ=", 0 },
	{ "tab after the scheme", BASIC, USER,
	    "Authorization: Basic\tdXNlcjpzZWNyZXQ=", 0 },
	{ "wrong password", BASIC, USER,
	    "Authorization: Basic dXNlcjp3cm9uZw==", 401 },
	{ "password a prefix of the right one", BASIC, USER,
	    "Authorization: Basic dXNlcjpzZWNyZQ==", 401 },
	{ "password with a trailing blank", BASIC, USER,
	    "Authorization: Basic dXNlcjpzZWNyZXQg", 401 },
	{ "password with a trailing NUL", BASIC, USER,
	    "Authorization: Basic dXNlcjpzZWNyZXQA", 401 },
	{ "wrong user", BASIC, USER, "Authorization: Basic b3RoZXI6c2VjcmV0",
	    401 },
	{ "user names are case-sensitive", BASIC, USER,
	    "Authorization: Basic VXNlcjpzZWNyZXQ=", 401 },
	{ "empty user name", BASIC, ":secret",
	    "Authorization: Basic OnNlY3JldA==", 0 },
	{ "password holding ':'", BASIC, "user:se:cret",
	    "Authorization: Basic dXNlcjpzZTpjcmV0", 0 },
	{ "password holding ':', wrong split", BASIC, "user:se:cret",
	    "Authorization: Basic dXNlcjpzZWNyZXQ=", 401 },
	{ "Bearer scheme", BASIC, USER, "Authorization: Bearer x", 403 },
	{ "Digest scheme", BASIC, USER, "Authorization: Digest username=u",
	    403 },
	{ "scheme with a suffix", BASIC, USER,
	    "Authorization: Basicx dXNlcjpzZWNyZXQ=", 403 },
	{ "Basic without credentials", BASIC, USER, "Authorization: Basic",
	    400 },
	{ "Basic and a blank", BASIC, USER, "Authorization: Basic ", 400 },
	{ "not base64", BASIC, USER, "Authorization: Basic !!!!", 400 },
	{ "length not a multiple of 4", BASIC, USER,
	    "Authorization: Basic abc", 400 },
	{ "padding missing", BASIC, USER,
	    "Authorization: Basic dXNlcjpzZWNyZXQ", 400 },
	{ "padding first", BASIC, USER, "Authorization: Basic =abc", 400 },
	{ "padding in the middle", BASIC, USER, "Authorization: Basic ab=c",
	    400 },
	{ "padding only", BASIC, USER, "Authorization: Basic ====", 400 },
	{ "padding inside, more groups after", BASIC, USER,
	    "Authorization: Basic dXNlcjpzZWNyZXQ=dXNl", 400 },
	{ "three '=' of padding", BASIC, USER,
	    "Authorization: Basic dXNlcjpzZWNy====", 400 },
	{ "base64url '-' and '_'", BASIC, USER,
	    "Authorization: Basic dXNlcjpz-_-_", 400 },
	{ "bits left in the padding ignored", BASIC, USER,
	    "Authorization: Basic dXNlcjpzZWNyZXR=", 0 },
	{ "two tokens", BASIC, USER,
	    "Authorization: Basic dXNlcjpzZWNyZXQ= abcd", 400 },
	{ "base64 without ':'", BASIC, USER,
	    "Authorization: Basic dXNlcnNlY3JldA==", 400 },
	{ "one byte without ':'", BASIC, USER,
	    "Authorization: Basic YQ==", 400 },
	{ "empty header", BASIC, USER, "Authorization:", 403 },

	/* ExpectOrigin. */
	{ "first origin", ORIGIN, ORIGINS, "Origin: http://a.example", 0 },
	{ "second origin", ORIGIN, ORIGINS, "Origin: https://b.example", 0 },
	{ "comma-separated source", ORIGIN,
	    "http://a.example,https://b.example", "Origin: https://b.example",
	    0 },
	{ "other origin", ORIGIN, ORIGINS, "Origin: http://c.example", 403 },
	{ "listed host, other scheme", ORIGIN, ORIGINS,
	    "Origin: https://a.example", 403 },
	{ "listed origin as a prefix", ORIGIN, ORIGINS,
	    "Origin: http://a.example.evil", 403 },
	{ "prefix of a listed origin", ORIGIN, ORIGINS,
	    "Origin: http://a.exampl", 403 },
	{ "listed origin with a port", ORIGIN, ORIGINS,
	    "Origin: http://a.example:8080", 403 },
	{ "the whole list as Origin", ORIGIN, ORIGINS,
	    "Origin: http://a.example https://b.example", 403 },
	{ "null origin", ORIGIN, ORIGINS, "Origin: null", 403 },
	{ "empty Origin", ORIGIN, ORIGINS, "Origin:", 403 },
	{ "missing Origin", ORIGIN, ORIGINS, NULL, 403 },
	{ "Sec-WebSocket-Origin is not Origin", ORIGIN, ORIGINS,
	    "Sec-WebSocket-Origin: http://a.example", 403 },
	{ "empty source allows nothing", ORIGIN, "",
	    "Origin: http://a.example", 403 },
	{ "Basic credentials do not help", ORIGIN, ORIGINS,
	    "Authorization: Basic dXNlcjpzZWNyZXQ=", 403 },

	/* No plugin. */
	{ "none: no headers", NONE, NULL, NULL, 0 },
	{ "none: Bearer", NONE, NULL, "Authorization: Bearer x", 0 },
	{ "none: bad Basic", NONE, NULL, "Authorization: Basic !!!!", 0 },
	{ "none: foreign Origin", NONE, NULL, "Origin: http://evil.example",
	    0 },
};

/* Run auth_check on an upgrade request carrying hdr. */
static int
auth_run(int plugin, const char *source, const char *hdr,
    struct auth_result *res)
{
	struct config	    cfg = { 0 };
	struct http_request req;
	char		   *text;
	int		    n, ret;

	n = asprintf(&text,
	    "GET /websockify HTTP/1.1\r\nHost: h\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n%s%s\r\n",
	    hdr != NULL ? hdr : "", hdr != NULL ? "\r\n" : "");
	cr_assert(n > 0);
	cr_assert_eq(http_parse_request(text, (size_t)n, &req), n,
	    "request does not parse: %s", text);
	cfg.auth_plugin = plugin;
	cfg.auth_source = source != NULL ? strdup(source) : NULL;
	memset(res, 0x5a, sizeof(*res));
	ret = auth_check(&cfg, &req, NULL, res);
	free(cfg.auth_source);
	free(text);
	return ret;
}

Test(auth_check, table)
{
	const struct auth_case *c;
	struct auth_result	res;
	size_t			i;
	int			ret;

	for (i = 0; i < NELEM(auth_cases); i++) {
		c = &auth_cases[i];
		ret = auth_run(c->plugin, c->source, c->hdr, &res);
		cr_expect_eq(ret, c->status, "%s: '%s' returned %d, want %d",
		    c->desc, c->hdr ? c->hdr : "(none)", ret, c->status);
		cr_expect_eq(res.status, ret, "%s: res.status %d, returned %d",
		    c->desc, res.status, ret);
		if (ret == 0)
			continue;
		cr_expect(res.reason != NULL && res.reason[0] != '\0' &&
			strpbrk(res.reason, "\r\n") == NULL,
		    "%s: reason not one line", c->desc);
		if (ret == 401)
			cr_expect(res.extra_headers != NULL &&
				strstr(res.extra_headers, CHALLENGE "\r\n") !=
				    NULL,
			    "%s: 401 without '%s'", c->desc, CHALLENGE);
		else
			cr_expect(res.extra_headers == NULL ||
				strstr(res.extra_headers,
				    "WWW-Authenticate") == NULL,
			    "%s: %d with a challenge", c->desc, ret);
	}
}

/* Standard base64 of in[0..n) into out, NUL-terminated. */
static void
b64(char *out, const char *in, size_t n)
{
	static const char    tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				     "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)in;
	unsigned long	     v;
	size_t		     i;

	for (i = 0; i + 2 < n; i += 3) {
		v = (unsigned long)p[i] << 16 | p[i + 1] << 8 | p[i + 2];
		*out++ = tab[v >> 18 & 63];
		*out++ = tab[v >> 12 & 63];
		*out++ = tab[v >> 6 & 63];
		*out++ = tab[v & 63];
	}
	if (i < n) {
		v = (unsigned long)p[i] << 16 |
		    (i + 1 < n ? p[i + 1] << 8 : 0);
		*out++ = tab[v >> 18 & 63];
		*out++ = tab[v >> 12 & 63];
		*out++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
		*out++ = '=';
	}
	*out = '\0';
}

/* Long credentials: user:password of n bytes, sent as base64.  The
 * limit is 1024 bytes of base64. */
struct long_case {
	const char *desc;
	size_t	    n;	    /* length of user:password */
	int	    status; /* source and header agree */
};

static const struct long_case long_cases[] = {
	{ "short", 12, 0 },
	{ "100 bytes", 100, 0 },
	{ "768 bytes: 1024 of base64", 768, 0 },
};

Test(auth_check, long_credentials)
{
	struct auth_result res;
	char		  *cred, *hdr, *b;
	size_t		   i, j, n;
	int		   ret;

	for (i = 0; i < NELEM(long_cases); i++) {
		n = long_cases[i].n;
		cred = malloc(n + 1);
		cr_assert(cred != NULL);
		memcpy(cred, "user:", 5);
		for (j = 5; j < n; j++)
			cred[j] = (char)('a' + j % 26);
		cred[n] = '\0';
		hdr = malloc(32 + 4 * ((n + 2) / 3) + 1);
		cr_assert(hdr != NULL);
		b = hdr + sprintf(hdr, "Authorization: Basic ");
		b64(b, cred, n);
		ret = auth_run(BASIC, cred, hdr, &res);
		cr_expect_eq(ret, long_cases[i].status, "%s: returned %d",
		    long_cases[i].desc, ret);
		free(hdr);
		free(cred);
	}
}

/* More base64 than any password needs: refused, never a buffer run. */
Test(auth_check, overlong_base64)
{
	static const size_t lens[] = { 1028, 4096, 8192 };
	struct auth_result  res;
	char		   *hdr;
	size_t		    i;
	int		    ret;

	for (i = 0; i < NELEM(lens); i++) {
		hdr = malloc(32 + lens[i]);
		cr_assert(hdr != NULL);
		strcpy(hdr, "Authorization: Basic ");
		memset(hdr + strlen(hdr), 'A', lens[i]);
		hdr[21 + lens[i]] = '\0';
		ret = auth_run(BASIC, USER, hdr, &res);
		cr_expect(ret == 400 || ret == 401,
		    "%zu bytes of base64: "
		    "returned %d",
		    lens[i], ret);
		free(hdr);
	}
}
