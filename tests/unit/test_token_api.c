/* Unit tests for BaseTokenAPI and JSONTokenApi (src/token_api.c): the
 * source URL (checked, and the token put in percent-encoded), the two
 * body forms, what each HTTP status means, and the plugin driven by a
 * real libevent loop against real sockets on 127.0.0.1. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <event2/event.h>

#include "token.h"
#include "token_api.h"
#include "wsb_limits.h"
#include "test_helpers.h"

/* --- token_api_url_check ------------------------------------------------- */

/* err_has: a phrase the one-line reason holds, or NULL when accepted. */
struct check_case {
	const char *desc;
	const char *tmpl;
	const char *err_has;
};

static const struct check_case check_cases[] = {
	{ "%s in the query", "http://127.0.0.1:8080/lookup?token=%s", NULL },
	{ "%s in the path", "https://api.example/tokens/%s/target", NULL },
	{ "scheme in upper case", "HTTP://api.example/%s", NULL },
	{ "https in mixed case", "HttpS://api.example/%s", NULL },
	{ "IPv6 host", "http://[::1]:8080/t?x=%s", NULL },
	{ "an encoded '/' beside %s", "http://h/a%2Fb/%s", NULL },
	{ "no %s", "http://api.example/lookup", "exactly once" },
	{ "%s twice", "http://h/%s?t=%s", "has 2" },
	{ "%%s and %s", "http://h/%%s/%s", "has 2" },
	{ "%S is not %s", "http://h/%S", "has 0" },
	{ "ftp scheme", "ftp://h/%s", "http:// or https://" },
	{ "file scheme", "file:///tmp/%s", "http:// or https://" },
	{ "no scheme", "api.example/%s", "http:// or https://" },
	{ "scheme without //", "http:h/%s", "http:// or https://" },
	{ "empty", "", "http:// or https://" },
	{ "no host", "http://:80/%s", "malformed" },
	{ "unclosed IPv6 bracket", "http://[::1/%s", "malformed" },
	{ "port not a number", "http://h:port/%s", "malformed" },
	{ "blank in the path", "http://h/a b/%s", "malformed" },
	{ "blank in the host", "http://a b/%s", "malformed" },
	{ "bad port", "http://h:99999/%s", "malformed" },
};

Test(token_api, url_check)
{
	const struct check_case *c;
	char			 err[256];
	size_t			 i;
	int			 r;

	for (i = 0; i < NELEM(check_cases); i++) {
		c = &check_cases[i];
		err[0] = '\0';
		r = token_api_url_check(c->tmpl, err, sizeof(err));
		if (c->err_has == NULL) {
			cr_assert_eq(r, 0, "%s: refused: %s", c->desc, err);
			continue;
		}
		cr_assert_eq(r, -1, "%s: accepted", c->desc);
		cr_assert(strstr(err, c->err_has) != NULL, "%s: err \"%s\"",
		    c->desc, err);
		cr_assert(strchr(err, '\n') == NULL, "%s: not one line",
		    c->desc);
	}
}

/* --- token_api_url_build ------------------------------------------------- */

struct build_case {
	const char *desc;
	const char *tmpl;
	const char *token; /* NUL-terminated here */
	const char *url;   /* NULL: -1 */
};

static const struct build_case build_cases[] = {
	{ "%s in the query", "http://h/l?token=%s", "abc",
	    "http://h/l?token=abc" },
	{ "%s in the path", "http://h/t/%s/x", "abc", "http://h/t/abc/x" },
	{ "%s at the end of the path", "http://h/%s", "a-b.c_d~e",
	    "http://h/a-b.c_d~e" },
	{ "unreserved kept", "http://h/?t=%s", "ABCXYZabcxyz0189-._~",
	    "http://h/?t=ABCXYZabcxyz0189-._~" },
	{ "space", "http://h/?t=%s", "a b", "http://h/?t=a%20b" },
	{ "slash cannot change the path", "http://h/t/%s", "../../admin",
	    "http://h/t/..%2F..%2Fadmin" },
	{ "query separators", "http://h/?t=%s&x=1", "a&b=c;d",
	    "http://h/?t=a%26b%3Dc%3Bd&x=1" },
	{ "'?' and '#'", "http://h/t/%s", "a?b#c", "http://h/t/a%3Fb%23c" },
	{ "'%' itself", "http://h/?t=%s", "100%", "http://h/?t=100%25" },
	{ "'+' is not a space", "http://h/?t=%s", "a+b", "http://h/?t=a%2Bb" },
	{ "sub-delims", "http://h/?t=%s", "!$'()*,",
	    "http://h/?t=%21%24%27%28%29%2A%2C" },
	{ "gen-delims", "http://h/?t=%s", ":/?#[]@",
	    "http://h/?t=%3A%2F%3F%23%5B%5D%40" },
	{ "quote, angle brackets, backslash", "http://h/?t=%s", "\"<>\\^`{|}",
	    "http://h/?t=%22%3C%3E%5C%5E%60%7B%7C%7D" },
	{ "CR LF cannot split the request", "http://h/?t=%s", "a\r\nHost: x",
	    "http://h/?t=a%0D%0AHost%3A%20x" },
	{ "UTF-8 bytes, upper-case hex", "http://h/?t=%s", "\xc3\xa9\xff",
	    "http://h/?t=%C3%A9%FF" },
	{ "other '%' kept as written", "http://h/a%2Fb?t=%s", "x",
	    "http://h/a%2Fb?t=x" },
	{ "%%s: a '%' then the token", "http://h/?t=%%s", "x",
	    "http://h/?t=%x" },
	{ "empty token", "http://h/?t=%s", "", "http://h/?t=" },
	{ "no %s", "http://h/", "x", NULL },
};

Test(token_api, url_build)
{
	const struct build_case *c;
	char			 out[512];
	size_t			 i;
	int			 n;

	for (i = 0; i < NELEM(build_cases); i++) {
		c = &build_cases[i];
		n = token_api_url_build(c->tmpl, c->token, strlen(c->token),
		    out, sizeof(out));
		if (c->url == NULL) {
			cr_assert_eq(n, -1, "%s: built something", c->desc);
			continue;
		}
		cr_assert_eq(n, (int)strlen(c->url), "%s: returned %d",
		    c->desc, n);
		cr_assert_str_eq(out, c->url, "%s", c->desc);
	}
}

/* Every byte value, alone: kept when unreserved, else %XX upper-case. */
Test(token_api, url_build_every_byte)
{
	static const char unreserved[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					 "abcdefghijklmnopqrstuvwxyz"
					 "0123456789-._~";
	char		  out[32], want[32], tok[1];
	int		  b, n;

	for (b = 0; b < 256; b++) {
		tok[0] = (char)b;
		if (b != 0 && strchr(unreserved, b) != NULL)
			snprintf(want, sizeof(want), "/%c/", b);
		else
			snprintf(want, sizeof(want), "/%%%02X/", b);
		n = token_api_url_build("/%s/", tok, 1, out, sizeof(out));
		cr_assert_eq(n, (int)strlen(want), "byte 0x%02x", b);
		cr_assert_str_eq(out, want, "byte 0x%02x", b);
	}
}

/* The output bound: strlen(tmpl) + 3 * len - 1 is enough, one less is
 * refused, and nothing is written past it (a guard page follows). */
Test(token_api, url_build_bound)
{
	const char *tmpl = "http://h/?t=%s", *tok = "a/b";
	size_t	    need = strlen(tmpl) - 2 + 1 + 3 + 1 + 1;
	char	   *end = test_guard_end(need);

	cr_assert_eq(token_api_url_build(tmpl, tok, 3, end - need, need),
	    (int)need - 1);
	cr_assert_str_eq(end - need, "http://h/?t=a%2Fb");
	cr_assert_eq(
	    token_api_url_build(tmpl, tok, 3, end - (need - 1), need - 1), -1);
	cr_assert_eq(token_api_url_build(tmpl, tok, 3, end, 0), -1);
	test_guard_free(end, need);
}

/* --- token_api_parse_plain ----------------------------------------------- */

struct body_case {
	const char *desc;
	const char *body;
	size_t	    len;    /* 0: strlen(body) */
	const char *target; /* NULL: malformed */
};

#define A50 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define H253 A50 A50 A50 A50 A50 "aaa"

static const struct body_case plain_cases[] = {
	{ "IPv4 and port", "127.0.0.1:5900", 0, "127.0.0.1:5900" },
	{ "name and port", "vnc-3.example:5901", 0, "vnc-3.example:5901" },
	{ "underscore in a name", "desk_1:1", 0, "desk_1:1" },
	{ "trailing newline", "h:80\n", 0, "h:80" },
	{ "blanks and CRLF around", " \t h:80 \r\n", 0, "h:80" },
	{ "IPv6 in brackets", "[::1]:5900", 0, "[::1]:5900" },
	{ "full IPv6", "[2001:db8::a:b]:1", 0, "[2001:db8::a:b]:1" },
	{ "IPv4-mapped IPv6", "[::ffff:1.2.3.4]:1", 0, "[::ffff:1.2.3.4]:1" },
	{ "highest port", "h:65535", 0, "h:65535" },
	{ "leading zeros dropped", "h:0080", 0, "h:80" },
	{ "Unix socket", "unix_socket:/run/vnc/1.sock", 0,
	    "unix_socket:/run/vnc/1.sock" },
	{ "Unix socket path with ':' and ' '", "unix_socket:/r/a:b c", 0,
	    "unix_socket:/r/a:b c" },
	{ "longest name", H253 ":1", 0, H253 ":1" },
	{ "name one too long", "a" H253 ":1", 0, NULL },
	{ "empty", "", 0, NULL },
	{ "only blanks", " \r\n", 0, NULL },
	{ "no port", "h", 0, NULL },
	{ "empty port", "h:", 0, NULL },
	{ "empty host", ":80", 0, NULL },
	{ "port 0", "h:0", 0, NULL },
	{ "port 65536", "h:65536", 0, NULL },
	{ "port of six digits", "h:000080", 0, NULL },
	{ "signed port", "h:+80", 0, NULL },
	{ "negative port", "h:-1", 0, NULL },
	{ "blank before the port", "h: 80", 0, NULL },
	{ "letters in the port", "h:80x", 0, NULL },
	{ "two colons", "h:80:81", 0, NULL },
	{ "IPv6 without brackets", "::1:5900", 0, NULL },
	{ "IPv6 without a port", "[::1]", 0, NULL },
	{ "IPv6, colon and no port", "[::1]:", 0, NULL },
	{ "IPv6, no colon", "[::1]5900", 0, NULL },
	{ "empty brackets", "[]:1", 0, NULL },
	{ "a name in brackets", "[h]:1", 0, NULL },
	{ "not an IPv6 address", "[::g]:1", 0, NULL },
	{ "IPv6 zone", "[fe80::1%eth0]:1", 0, NULL },
	{ "unclosed bracket", "[::1:1", 0, NULL },
	{ "blank in the host", "a b:1", 0, NULL },
	{ "'/' in the host", "h/x:1", 0, NULL },
	{ "'@' in the host", "u@h:1", 0, NULL },
	{ "a second line", "h:80\nx:81", 0, NULL },
	{ "NUL inside", "h\0x:80", sizeof("h\0x:80") - 1, NULL },
	{ "NUL at the end", "h:80\0", sizeof("h:80\0") - 1, NULL },
	{ "empty Unix path", "unix_socket:", 0, NULL },
	{ "control byte in the Unix path", "unix_socket:/a\x01", 0, NULL },
	{ "JSON is not BaseTokenAPI's", "{\"host\":\"h\",\"port\":1}", 0,
	    NULL },
};

/* Each body ends at a guard page: a parser reading past it faults. */
Test(token_api, parse_plain)
{
	const struct body_case *c;
	char			target[512], *end;
	size_t			i, len;
	int			r;

	cr_assert_eq(strlen(H253), 253);
	for (i = 0; i < NELEM(plain_cases); i++) {
		c = &plain_cases[i];
		len = c->len ? c->len : strlen(c->body);
		end = test_guard_end(len + 1);
		memcpy(end - len, c->body, len);
		target[0] = '\0';
		r = token_api_parse_plain(end - len, len, target,
		    sizeof(target));
		if (c->target == NULL)
			cr_assert_eq(r, -1, "%s: accepted as \"%s\"", c->desc,
			    target);
		else {
			cr_assert_eq(r, 0, "%s: refused", c->desc);
			cr_assert_str_eq(target, c->target, "%s", c->desc);
		}
		test_guard_free(end, len + 1);
	}
}

/* A target that does not fit is refused, never cut. */
Test(token_api, parse_plain_target_bound)
{
	char t[16];

	cr_assert_eq(token_api_parse_plain("abcdefghij:5900", 15, t, 16), 0);
	cr_assert_str_eq(t, "abcdefghij:5900");
	cr_assert_eq(token_api_parse_plain("abcdefghij:5900", 15, t, 15), -1);
}

/* --- token_api_parse_json ------------------------------------------------ */

static const struct body_case json_cases[] = {
	{ "port a number", "{\"host\": \"127.0.0.1\", \"port\": 5900}", 0,
	    "127.0.0.1:5900" },
	{ "port a string", "{\"host\": \"vnc.example\", \"port\": \"5901\"}",
	    0, "vnc.example:5901" },
	{ "blanks around", " \n{\"host\":\"h\",\"port\":1}\n ", 0, "h:1" },
	{ "other members ignored",
	    "{\"id\": 7, \"host\": \"h\", \"extra\": [1], \"port\": 2}", 0,
	    "h:2" },
	{ "IPv6 host", "{\"host\": \"::1\", \"port\": 5900}", 0,
	    "[::1]:5900" },
	{ "IPv6 host in brackets",
	    "{\"host\": \"[2001:db8::1]\", \"port\": 1}", 0,
	    "[2001:db8::1]:1" },
	{ "highest port", "{\"host\": \"h\", \"port\": 65535}", 0, "h:65535" },
	{ "Unix socket", "{\"host\": \"unix_socket\", \"port\": \"/run/s\"}",
	    0, "unix_socket:/run/s" },
	{ "missing host", "{\"port\": 1}", 0, NULL },
	{ "missing port", "{\"host\": \"h\"}", 0, NULL },
	{ "empty object", "{}", 0, NULL },
	{ "host a number", "{\"host\": 1, \"port\": 1}", 0, NULL },
	{ "host null", "{\"host\": null, \"port\": 1}", 0, NULL },
	{ "host an object", "{\"host\": {}, \"port\": 1}", 0, NULL },
	{ "host empty", "{\"host\": \"\", \"port\": 1}", 0, NULL },
	{ "host with a blank", "{\"host\": \"a b\", \"port\": 1}", 0, NULL },
	{ "host holding the port", "{\"host\": \"h:1\", \"port\": 1}", 0,
	    NULL },
	{ "a name in brackets", "{\"host\": \"[h]\", \"port\": 1}", 0, NULL },
	{ "host with NUL", "{\"host\": \"h\\u0000x\", \"port\": 1}", 0, NULL },
	{ "port true", "{\"host\": \"h\", \"port\": true}", 0, NULL },
	{ "port null", "{\"host\": \"h\", \"port\": null}", 0, NULL },
	{ "port a fraction", "{\"host\": \"h\", \"port\": 5900.5}", 0, NULL },
	{ "port a real", "{\"host\": \"h\", \"port\": 5900.0}", 0, NULL },
	{ "port an array", "{\"host\": \"h\", \"port\": [1]}", 0, NULL },
	{ "port 0", "{\"host\": \"h\", \"port\": 0}", 0, NULL },
	{ "port -1", "{\"host\": \"h\", \"port\": -1}", 0, NULL },
	{ "port 65536", "{\"host\": \"h\", \"port\": 65536}", 0, NULL },
	{ "port 2^32 + 80", "{\"host\": \"h\", \"port\": 4294967376}", 0,
	    NULL },
	{ "port string empty", "{\"host\": \"h\", \"port\": \"\"}", 0, NULL },
	{ "port string with letters", "{\"host\": \"h\", \"port\": \"80a\"}",
	    0, NULL },
	{ "port string signed", "{\"host\": \"h\", \"port\": \"-80\"}", 0,
	    NULL },
	{ "port string 65536", "{\"host\": \"h\", \"port\": \"65536\"}", 0,
	    NULL },
	{ "Unix socket with a number",
	    "{\"host\": \"unix_socket\", \"port\": 5}", 0, NULL },
	{ "Unix socket, empty path",
	    "{\"host\": \"unix_socket\", \"port\": \"\"}", 0, NULL },
	{ "duplicate host", "{\"host\": \"a\", \"host\": \"b\", \"port\": 1}",
	    0, NULL },
	{ "not JSON", "h:80", 0, NULL },
	{ "cut short", "{\"host\": \"h\", \"port\": 1", 0, NULL },
	{ "garbage after", "{\"host\": \"h\", \"port\": 1} x", 0, NULL },
	{ "two objects", "{\"host\":\"h\",\"port\":1}{}", 0, NULL },
	{ "an array", "[\"h\", 1]", 0, NULL },
	{ "a string", "\"h:1\"", 0, NULL },
	{ "empty", "", 0, NULL },
	{ "bad UTF-8", "{\"host\": \"\xff\", \"port\": 1}", 0, NULL },
	{ "raw NUL after the object", "{\"host\":\"h\",\"port\":1}\0",
	    sizeof("{\"host\":\"h\",\"port\":1}\0") - 1, NULL },
};

/* Each body ends at a guard page: a parser reading past it faults. */
Test(token_api, parse_json)
{
	const struct body_case *c;
	char			target[512], *end;
	size_t			i, len;
	int			r;

	for (i = 0; i < NELEM(json_cases); i++) {
		c = &json_cases[i];
		len = c->len ? c->len : strlen(c->body);
		end = test_guard_end(len + 1);
		memcpy(end - len, c->body, len);
		target[0] = '\0';
		r = token_api_parse_json(end - len, len, target,
		    sizeof(target));
		if (c->target == NULL)
			cr_assert_eq(r, -1, "%s: accepted as \"%s\"", c->desc,
			    target);
		else {
			cr_assert_eq(r, 0, "%s: refused", c->desc);
			cr_assert_str_eq(target, c->target, "%s", c->desc);
		}
		test_guard_free(end, len + 1);
	}
}

/* --- token_api_answer ---------------------------------------------------- */

struct answer_case {
	const char	 *desc;
	int		  json;
	long		  status;
	const char	 *body;
	int		  too_large;
	enum token_result result;
	const char	 *target_or_why; /* target when found, else why */
};

static const struct answer_case answer_cases[] = {
	{ "200, BaseTokenAPI body", 0, 200, "h:1\n", 0, TOKEN_FOUND, "h:1" },
	{ "203, BaseTokenAPI body", 0, 203, "h:1", 0, TOKEN_FOUND, "h:1" },
	{ "200, JSONTokenApi body", 1, 200, "{\"host\":\"h\",\"port\":2}", 0,
	    TOKEN_FOUND, "h:2" },
	{ "200, plain body to JSONTokenApi", 1, 200, "h:1", 0, TOKEN_NOT_FOUND,
	    "token API: malformed body" },
	{ "200, JSON body to BaseTokenAPI", 0, 200,
	    "{\"host\":\"h\",\"port\":2}", 0, TOKEN_NOT_FOUND,
	    "token API: malformed body" },
	{ "204, empty", 0, 204, "", 0, TOKEN_NOT_FOUND,
	    "token API: malformed body" },
	{ "200, cut at the limit", 0, 200, "h:1", 1, TOKEN_NOT_FOUND,
	    "token API: body too large" },
	{ "404", 0, 404, "h:1", 0, TOKEN_NOT_FOUND, "token API: HTTP 404" },
	{ "403", 1, 403, "", 0, TOKEN_NOT_FOUND, "token API: HTTP 403" },
	{ "400", 0, 400, "", 0, TOKEN_NOT_FOUND, "token API: HTTP 400" },
	{ "410, too large", 0, 410, "", 1, TOKEN_NOT_FOUND,
	    "token API: HTTP 410" },
	{ "302: not followed", 0, 302, "h:1", 0, TOKEN_NOT_FOUND,
	    "token API: HTTP 302" },
	{ "101", 0, 101, "", 0, TOKEN_NOT_FOUND, "token API: HTTP 101" },
	{ "408: the service is slow", 0, 408, "", 0, TOKEN_UNAVAILABLE,
	    "token API: HTTP 408" },
	{ "429: the service is busy", 0, 429, "", 0, TOKEN_UNAVAILABLE,
	    "token API: HTTP 429" },
	{ "500", 0, 500, "h:1", 0, TOKEN_UNAVAILABLE, "token API: HTTP 500" },
	{ "503", 1, 503, "", 0, TOKEN_UNAVAILABLE, "token API: HTTP 503" },
	{ "599", 0, 599, "", 0, TOKEN_UNAVAILABLE, "token API: HTTP 599" },
	{ "600: not HTTP", 0, 600, "h:1", 0, TOKEN_UNAVAILABLE,
	    "token API: HTTP 600" },
	{ "0: no status", 0, 0, "h:1", 0, TOKEN_UNAVAILABLE,
	    "token API: HTTP 0" },
};

Test(token_api, answer)
{
	const struct answer_case *c;
	char			  target[64], why[64];
	enum token_result	  r;
	size_t			  i;

	for (i = 0; i < NELEM(answer_cases); i++) {
		c = &answer_cases[i];
		target[0] = '\0';
		strcpy(why, "x");
		r = token_api_answer(c->json, c->status, c->body,
		    strlen(c->body), c->too_large, target, sizeof(target), why,
		    sizeof(why));
		cr_assert_eq(r, c->result, "%s: result %d", c->desc, (int)r);
		if (r == TOKEN_FOUND) {
			cr_assert_str_eq(target, c->target_or_why, "%s",
			    c->desc);
			cr_assert_str_empty(why, "%s", c->desc);
		} else
			cr_assert_str_eq(why, c->target_or_why, "%s", c->desc);
	}
}

/* --- the plugin on a real event loop ------------------------------------- */

/* What done() was told; calls counts them. */
struct answer {
	int		  calls;
	enum token_result r;
	char		  target[128];
	char		  why[256];
};

/* done(): record, and stop the loop. */
static void
test_done(enum token_result r, const char *target, const char *why, void *arg)
{
	struct answer *a = arg;

	a->calls++;
	a->r = r;
	snprintf(a->target, sizeof(a->target), "%s", target ? target : "");
	snprintf(a->why, sizeof(a->why), "%s", why ? why : "");
}

/* A TCP port on 127.0.0.1: listening (backlog, never accepted) or, with
 * listen_too 0, bound and closed, so connecting is refused. */
static int
test_port(int listen_too, int *fd)
{
	struct sockaddr_in sin;
	socklen_t	   len = sizeof(sin);
	int		   s = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert(s != -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(bind(s, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	cr_assert(getsockname(s, (struct sockaddr *)&sin, &len) == 0);
	if (listen_too)
		cr_assert(listen(s, 8) == 0);
	else {
		close(s);
		s = -1;
	}
	*fd = s;
	return ntohs(sin.sin_port);
}

/* create() refuses bad sources with one line; the names are websockify's. */
Test(token_api, create_and_names)
{
	char  err[256] = "";
	void *st;

	cr_assert_str_eq(token_api_ops.name, "BaseTokenAPI");
	cr_assert_str_eq(token_json_api_ops.name, "JSONTokenApi");
	cr_assert_eq(token_plugin_find("JSONTokenApi"), &token_json_api_ops);
	cr_assert_eq(
	    token_plugin_find("websockify.token_plugins.BaseTokenAPI"),
	    &token_api_ops);
	cr_assert_null(token_api_ops.create("http://h/", err, sizeof(err)));
	cr_assert(strstr(err, "%s") != NULL, "err \"%s\"", err);
	cr_assert_null(token_json_api_ops.create("gopher://h/%s", err,
	    sizeof(err)));
	cr_assert(strstr(err, "http://") != NULL, "err \"%s\"", err);
	st = token_json_api_ops.create("http://127.0.0.1:1/%s", err,
	    sizeof(err));
	cr_assert_not_null(st, "refused: %s", err);
	token_json_api_ops.destroy(st);
}

/* A refused connection answers TOKEN_UNAVAILABLE from the loop (never
 * from lookup() itself), once, with curl's reason and no token in it. */
Test(token_api, refused_is_unavailable)
{
	char		   src[128], err[256];
	const char	  *tok = "s3cr3t-tok";
	struct answer	   a = { 0 };
	struct event_base *base = event_base_new();
	void		  *st, *ws;
	int		   fd, port = test_port(0, &fd);

	snprintf(src, sizeof(src), "http://127.0.0.1:%d/t/%%s", port);
	cr_assert_not_null(st = token_api_ops.create(src, err, sizeof(err)));
	cr_assert_not_null(ws = token_api_ops.worker_create(st, NULL, base));
	cr_assert_not_null(token_api_ops.lookup(ws, tok, strlen(tok),
	    test_done, &a));
	cr_assert_eq(a.calls, 0, "answered inside lookup()");
	while (a.calls == 0)
		cr_assert_eq(event_base_loop(base, EVLOOP_ONCE), 0);
	cr_assert_eq(a.calls, 1);
	cr_assert_eq(a.r, TOKEN_UNAVAILABLE);
	cr_assert_str_empty(a.target);
	cr_assert(strncmp(a.why, "token API: ", 11) == 0, "why \"%s\"", a.why);
	cr_assert_null(strstr(a.why, tok), "why \"%s\"", a.why);
	cr_assert_null(strstr(a.why, "/t/"), "why \"%s\"", a.why);
	token_api_ops.worker_destroy(ws);
	token_api_ops.destroy(st);
	event_base_free(base);
}

/* Accept a connection on lfd and read its request head; its token
 * (the one character after "?t=") in *which.  Returns the socket. */
static int
test_accept_request(int lfd, char *which)
{
	struct pollfd pfd = { lfd, POLLIN, 0 };
	char	      buf[2048], *t;
	size_t	      len = 0;
	ssize_t	      n;
	int	      c;

	cr_assert_eq(poll(&pfd, 1, 5000), 1, "no connection came");
	cr_assert((c = accept(lfd, NULL, NULL)) != -1);
	while (memmem(buf, len, "\r\n\r\n", 4) == NULL) {
		pfd.fd = c;
		cr_assert_eq(poll(&pfd, 1, 5000), 1, "no request came");
		n = recv(c, buf + len, sizeof(buf) - 1 - len, 0);
		cr_assert(n > 0, "closed before its request");
		len += (size_t)n;
	}
	buf[len] = '\0';
	cr_assert_not_null(t = strstr(buf, "GET /?t="), "request: %s", buf);
	*which = t[8];
	return c;
}

/* 1 if the peer of c closed within ms milliseconds, else 0. */
static int
test_closed(int c, int ms)
{
	struct pollfd pfd = { c, POLLIN, 0 };
	char	      byte;

	if (poll(&pfd, 1, ms) != 1)
		return 0;
	return recv(c, &byte, 1, MSG_DONTWAIT) == 0;
}

/* Cancelled lookups (one before it connects, one waiting on a service
 * that never answers) are never answered, and the waiting one's
 * connection is closed at once; worker_destroy with one still running
 * answers nothing, closes it and frees it all (ASan would see a leak or a
 * use after free). */
Test(token_api, cancel_and_destroy)
{
	char		     src[128], err[256], w1, w2;
	struct answer	     a = { 0 }, b = { 0 }, c = { 0 };
	struct event_base   *base = event_base_new();
	struct timeval	     tv = { 0, 100000 };
	struct token_lookup *la, *lb;
	void		    *st, *ws;
	int		     fd, port = test_port(1, &fd), c1, c2, cb, cc;

	snprintf(src, sizeof(src), "http://127.0.0.1:%d/?t=%%s", port);
	cr_assert_not_null(st = token_json_api_ops.create(src, err,
			       sizeof(err)));
	cr_assert_not_null(ws = token_json_api_ops.worker_create(st, NULL,
			       base));
	cr_assert_not_null(la = token_json_api_ops.lookup(ws, "a", 1,
			       test_done, &a));
	cr_assert_not_null(lb = token_json_api_ops.lookup(ws, "b", 1,
			       test_done, &b));
	cr_assert_not_null(token_json_api_ops.lookup(ws, "c", 1, test_done,
	    &c));
	token_json_api_ops.cancel(la);
	/* b and c connect and send their requests, which wait unanswered. */
	event_base_loopexit(base, &tv);
	cr_assert_eq(event_base_dispatch(base), 0);
	c1 = test_accept_request(fd, &w1);
	c2 = test_accept_request(fd, &w2);
	cr_assert((w1 == 'b' && w2 == 'c') || (w1 == 'c' && w2 == 'b'),
	    "requests for %c and %c", w1, w2);
	cb = w1 == 'b' ? c1 : c2;
	cc = w1 == 'b' ? c2 : c1;
	token_json_api_ops.cancel(lb);
	cr_assert(test_closed(cb, 1000), "cancel left b's request open");
	cr_assert(!test_closed(cc, 0), "c's request closed too");
	event_base_loopexit(base, &tv);
	cr_assert_eq(event_base_dispatch(base), 0);
	cr_assert_eq(a.calls + b.calls + c.calls, 0);
	token_json_api_ops.worker_destroy(ws);
	cr_assert_eq(c.calls, 0, "worker_destroy answered a lookup");
	cr_assert(test_closed(cc, 1000), "worker_destroy left c's open");
	token_json_api_ops.destroy(st);
	event_base_free(base);
	close(c1);
	close(c2);
	close(fd);
}
