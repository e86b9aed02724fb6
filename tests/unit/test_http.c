/* Unit tests for the HTTP/1.1 request-head parser and helpers (src/http.c). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, strcasestr, strndup */
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "http.h"
#include "wsb_limits.h"
#include "test_helpers.h"

/* A case leaves the fields it does not need zero: one line per case. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* A browser's upgrade request head, and the same head's length. */
#define CHROME_HEAD                                                    \
	"GET /websockify?token=abc HTTP/1.1\r\n"                       \
	"Host: localhost:6080\r\n"                                     \
	"Connection: Upgrade\r\n"                                      \
	"Pragma: no-cache\r\n"                                         \
	"Cache-Control: no-cache\r\n"                                  \
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0\r\n" \
	"Upgrade: websocket\r\n"                                       \
	"Origin: http://localhost:6080\r\n"                            \
	"Sec-WebSocket-Version: 13\r\n"                                \
	"Accept-Encoding: gzip, deflate, br\r\n"                       \
	"Accept-Language: en-US,en;q=0.9\r\n"                          \
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"              \
	"Sec-WebSocket-Extensions: permessage-deflate; "               \
	"client_max_window_bits\r\n"                                   \
	"Sec-WebSocket-Protocol: binary\r\n"                           \
	"\r\n"

/*
 * http_parse_request on whole inputs.  ret: -1, -2, or 0 meaning "the
 * whole input is the head" (its length is then expected).
 */
struct parse_case {
	const char *desc;
	const char *buf;
	int	    ret;
	const char *method;
	const char *path;
	int	    minor;
	size_t	    nhdr;
};

static const struct parse_case parse_cases[] = {
	{ "minimal GET", "GET / HTTP/1.1\r\n\r\n", 0, "GET", "/", 1, 0 },
	{ "GET with one header", "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", 0,
	    "GET", "/a", 1, 1 },
	{ "HTTP/1.0", "GET / HTTP/1.0\r\nHost: x\r\n\r\n", 0, "GET", "/", 0,
	    1 },
	{ "POST parses (handshake refuses it)", "POST /p HTTP/1.1\r\n\r\n", 0,
	    "POST", "/p", 1, 0 },
	{ "query in target", "GET /websockify?token=a%20b HTTP/1.1\r\n\r\n", 0,
	    "GET", "/websockify?token=a%20b", 1, 0 },
	{ "absolute-form target", "GET http://h:1/x HTTP/1.1\r\n\r\n", 0,
	    "GET", "http://h:1/x", 1, 0 },
	{ "browser upgrade request", CHROME_HEAD, 0, "GET",
	    "/websockify?token=abc", 1, 13 },
	{ "empty header value", "GET / HTTP/1.1\r\nX-Empty:\r\n\r\n", 0, "GET",
	    "/", 1, 1 },
	{ "empty input", "", -2 },
	{ "request line only, no CRLF", "GET / HTTP/1.1", -2 },
	{ "head without final blank line", "GET / HTTP/1.1\r\nHost: x\r\n",
	    -2 },
	{ "missing version", "GET /\r\n\r\n", -1 },
	{ "missing target and version", "GET\r\n\r\n", -1 },
	{ "missing target", "GET HTTP/1.1\r\n\r\n", -1 },
	{ "HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", -1 },
	{ "HTTP/1.", "GET / HTTP/1.\r\n\r\n", -1 },
	{ "HTTP/1.11", "GET / HTTP/1.11\r\n\r\n", -1 },
	{ "HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", -1 },
	{ "lower-case http/1.1", "GET / http/1.1\r\n\r\n", -1 },
	{ "junk after version", "GET / HTTP/1.1x\r\n\r\n", -1 },
	{ "garbage bytes", "\x01\x02\x03\r\n\r\n", -1 },
	{ "TLS ClientHello start",
	    "\x16\x03\x01\x02\x05\x01\x05\x01\xfc\r\n"
	    "\r\n",
	    -1 },
	{ "empty lines before the request line (RFC 9112 2.2)",
	    "\r\n\r\nGET / HTTP/1.1\r\n\r\n", 0, "GET", "/", 1, 0 },
	{ "empty lines only: still waiting", "\r\n\r\n", -2 },
	{ "leading space", " GET / HTTP/1.1\r\n\r\n", -1 },
	{ "header without colon", "GET / HTTP/1.1\r\nHost x\r\n\r\n", -1 },
	{ "header with empty name", "GET / HTTP/1.1\r\n: x\r\n\r\n", -1 },
	{ "space before colon (RFC 9112 5.1)",
	    "GET / HTTP/1.1\r\nHost : x\r\n\r\n", -1 },
	{ "control byte in header value",
	    "GET / HTTP/1.1\r\nX-A: a\x01b\r\n"
	    "\r\n",
	    -1 },
	{ "separator in header name", "GET / HTTP/1.1\r\nX(A): b\r\n\r\n",
	    -1 },
	{ "obs-fold line (RFC 9112 5.2 allows refusing)",
	    "GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", -1 },
	{ "CR without LF in header", "GET / HTTP/1.1\r\nHost: x\ry\r\n\r\n",
	    -1 },
};

/* Check one parse result. */
static void
check_parse(const struct parse_case *c, const char *buf, size_t len, int ret,
    const struct http_request *req, const char *how)
{
	int want = c->ret == 0 ? (int)len : c->ret;

	cr_expect_eq(ret, want, "%s (%s): ret %d, want %d", c->desc, how, ret,
	    want);
	if (ret != want || c->ret != 0)
		return;
	cr_expect(req->method_len == strlen(c->method) &&
		memcmp(req->method, c->method, req->method_len) == 0,
	    "%s (%s): method '%.*s'", c->desc, how, (int)req->method_len,
	    req->method);
	cr_expect(req->path_len == strlen(c->path) &&
		memcmp(req->path, c->path, req->path_len) == 0,
	    "%s (%s): path '%.*s'", c->desc, how, (int)req->path_len,
	    req->path);
	cr_expect(req->method >= buf && req->path >= buf &&
		req->path < buf + len,
	    "%s (%s): pointers not into buf", c->desc, how);
	cr_expect_eq(req->minor_version, c->minor, "%s (%s): minor %d",
	    c->desc, how, req->minor_version);
	cr_expect_eq(req->num_headers, c->nhdr,
	    "%s (%s): %zu headers, want "
	    "%zu",
	    c->desc, how, req->num_headers, c->nhdr);
}

Test(http_parse_request, table)
{
	const struct parse_case *c;
	struct http_request	 req;
	size_t			 i, len;
	int			 ret;

	for (i = 0; i < NELEM(parse_cases); i++) {
		c = &parse_cases[i];
		len = strlen(c->buf);
		memset(&req, 0, sizeof(req));
		ret = http_parse_request(c->buf, len, &req);
		check_parse(c, c->buf, len, ret, &req, "whole");
	}
}

/* The headers of the browser request, in order, values trimmed. */
Test(http_parse_request, browser_headers)
{
	static const char *want[][2] = {
		{ "Host", "localhost:6080" },
		{ "Connection", "Upgrade" },
		{ "Pragma", "no-cache" },
		{ "Cache-Control", "no-cache" },
		{ "User-Agent",
		    "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0" },
		{ "Upgrade", "websocket" },
		{ "Origin", "http://localhost:6080" },
		{ "Sec-WebSocket-Version", "13" },
		{ "Accept-Encoding", "gzip, deflate, br" },
		{ "Accept-Language", "en-US,en;q=0.9" },
		{ "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==" },
		{ "Sec-WebSocket-Extensions",
		    "permessage-deflate; client_max_window_bits" },
		{ "Sec-WebSocket-Protocol", "binary" },
	};
	struct http_request	  req;
	const struct http_header *h;
	size_t			  i;

	cr_assert_eq(http_parse_request(CHROME_HEAD, strlen(CHROME_HEAD),
			 &req),
	    (int)strlen(CHROME_HEAD));
	cr_assert_eq(req.num_headers, NELEM(want));
	for (i = 0; i < NELEM(want); i++) {
		h = &req.headers[i];
		cr_expect(h->name_len == strlen(want[i][0]) &&
			memcmp(h->name, want[i][0], h->name_len) == 0,
		    "header %zu name '%.*s', want '%s'", i, (int)h->name_len,
		    h->name, want[i][0]);
		cr_expect(h->value_len == strlen(want[i][1]) &&
			memcmp(h->value, want[i][1], h->value_len) == 0,
		    "header %zu value '%.*s', want '%s'", i, (int)h->value_len,
		    h->value, want[i][1]);
	}
}

/* Leading and trailing blanks (SP and HTAB) leave the value. */
struct trim_case {
	const char *desc;
	const char *line;
	const char *value;
};

static const struct trim_case trim_cases[] = {
	{ "no blanks", "X-A:v", "v" },
	{ "one space", "X-A: v", "v" },
	{ "many spaces both sides", "X-A:    v w    ", "v w" },
	{ "tabs both sides", "X-A:\t\tv\t", "v" },
	{ "mixed blanks", "X-A: \t v \t ", "v" },
	{ "inner blanks kept", "X-A:  a  b  ", "a  b" },
	{ "empty", "X-A:", "" },
	{ "blanks only", "X-A:   \t ", "" },
};

Test(http_parse_request, value_trimming)
{
	struct http_request req;
	char		    buf[256];
	size_t		    i;
	int		    len, ret;

	for (i = 0; i < NELEM(trim_cases); i++) {
		len = snprintf(buf, sizeof(buf),
		    "GET / HTTP/1.1\r\n%s\r\n\r\n", trim_cases[i].line);
		ret = http_parse_request(buf, len, &req);
		cr_expect_eq(ret, len, "%s: ret %d, want %d",
		    trim_cases[i].desc, ret, len);
		if (ret != len)
			continue;
		cr_expect_eq(req.num_headers, 1, "%s: %zu headers",
		    trim_cases[i].desc, req.num_headers);
		cr_expect(req.headers[0].name_len == 3 &&
			memcmp(req.headers[0].name, "X-A", 3) == 0,
		    "%s: name '%.*s'", trim_cases[i].desc,
		    (int)req.headers[0].name_len, req.headers[0].name);
		cr_expect(req.headers[0].value_len ==
			    strlen(trim_cases[i].value) &&
			memcmp(req.headers[0].value, trim_cases[i].value,
			    req.headers[0].value_len) == 0,
		    "%s: value '%.*s', want '%s'", trim_cases[i].desc,
		    (int)req.headers[0].value_len, req.headers[0].value,
		    trim_cases[i].value);
	}
}

/* Every prefix of every good head needs more; bad heads never succeed
 * early. */
Test(http_parse_request, every_split_point)
{
	const struct parse_case *c;
	struct http_request	 req;
	size_t			 i, k, len;
	int			 ret;

	for (i = 0; i < NELEM(parse_cases); i++) {
		c = &parse_cases[i];
		len = strlen(c->buf);
		for (k = 0; k < len; k++) {
			ret = http_parse_request(c->buf, k, &req);
			if (c->ret == -1)
				cr_expect(ret == -2 || ret == -1,
				    "%s: prefix %zu returned %d", c->desc, k,
				    ret);
			else
				cr_expect_eq(ret, -2,
				    "%s: prefix %zu of %zu returned %d",
				    c->desc, k, len, ret);
		}
	}
}

/* Bytes after the head (the first frame, a pipelined request) stay. */
Test(http_parse_request, bytes_after_head_not_consumed)
{
	static const char  *tails[] = { "\x82\x85\x37\xfa\x21\x3d\x7f\x9f",
		 "GET /second HTTP/1.1\r\n\r\n", "\r\n", "x" };
	struct http_request req;
	char		    buf[2048];
	size_t		    i, head = strlen(CHROME_HEAD);
	int		    ret;

	for (i = 0; i < NELEM(tails); i++) {
		snprintf(buf, sizeof(buf), "%s%s", CHROME_HEAD, tails[i]);
		ret = http_parse_request(buf, strlen(buf), &req);
		cr_expect_eq(ret, (int)head, "tail %zu: consumed %d, want %zu",
		    i, ret, head);
	}
}

/* WSB_MAX_HEADERS headers fit; one more is malformed. */
Test(http_parse_request, header_count_limit)
{
	struct http_request req;
	char		   *buf;
	size_t		    n, i, off, cap = 64 + (WSB_MAX_HEADERS + 2) * 32;
	int		    ret;

	buf = malloc(cap);
	cr_assert(buf != NULL);
	for (n = WSB_MAX_HEADERS - 1; n <= WSB_MAX_HEADERS + 1; n++) {
		off = snprintf(buf, cap, "GET / HTTP/1.1\r\n");
		for (i = 0; i < n; i++)
			off += snprintf(buf + off, cap - off,
			    "X-H%zu: %zu\r\n", i, i);
		off += snprintf(buf + off, cap - off, "\r\n");
		ret = http_parse_request(buf, off, &req);
		if (n <= WSB_MAX_HEADERS) {
			cr_expect_eq(ret, (int)off, "%zu headers: ret %d", n,
			    ret);
			cr_expect_eq(req.num_headers, n,
			    "%zu headers: got %zu", n, req.num_headers);
		} else
			cr_expect_eq(ret, -1, "%zu headers (> %d): ret %d", n,
			    WSB_MAX_HEADERS, ret);
	}
	free(buf);
}

/*
 * Bare LF line ends: RFC 9112 2.2 lets a server accept them; refusing is
 * fine too.  What must not happen is waiting for more bytes forever or a
 * consumed count that is not the whole head.
 */
Test(http_parse_request, bare_lf)
{
	static const char *heads[] = {
		"GET / HTTP/1.1\nHost: x\n\n",
		"GET / HTTP/1.1\r\nHost: x\n\r\n",
		"GET / HTTP/1.1\nHost: x\r\n\r\n",
	};
	struct http_request req;
	size_t		    i, len;
	int		    ret;

	for (i = 0; i < NELEM(heads); i++) {
		len = strlen(heads[i]);
		ret = http_parse_request(heads[i], len, &req);
		cr_log_info("bare LF head %zu: http_parse_request returned %d "
			    "(length %zu)",
		    i, ret, len);
		cr_expect(ret == -1 || ret == (int)len,
		    "bare LF head %zu: ret %d, want -1 or %zu", i, ret, len);
		if (ret == (int)len)
			cr_expect(req.num_headers == 1 &&
				req.headers[0].value_len == 1 &&
				req.headers[0].value[0] == 'x',
			    "bare LF head %zu: header value keeps a CR", i);
	}
}

/* Every prefix of every case placed so its last byte is the page's last
 * byte: the parser may not read a byte past len. */
Test(http_parse_request, page_edge)
{
	const struct parse_case *c;
	struct http_request	 req;
	char			*end = test_guard_end(WSB_MAX_REQUEST_HEAD);
	size_t			 i, k, len;
	int			 ret;

	for (i = 0; i < NELEM(parse_cases); i++) {
		c = &parse_cases[i];
		len = strlen(c->buf);
		cr_assert(len <= WSB_MAX_REQUEST_HEAD, "%s: too long",
		    c->desc);
		for (k = 0; k <= len; k++) {
			memcpy(end - k, c->buf, k);
			ret = http_parse_request(end - k, k, &req);
			if (k == len)
				check_parse(c, end - k, k, ret, &req,
				    "page edge");
			else if (c->ret != -1)
				cr_expect_eq(ret, -2,
				    "%s: page-edge prefix "
				    "%zu returned %d",
				    c->desc, k, ret);
		}
	}
	test_guard_free(end, WSB_MAX_REQUEST_HEAD);
}

/* http_header_get: names match whatever their case. */
struct get_case {
	const char *name;
	const char *value; /* NULL: absent */
};

static const struct get_case get_cases[] = {
	{ "Host", "localhost:6080" },
	{ "host", "localhost:6080" },
	{ "HOST", "localhost:6080" },
	{ "sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==" },
	{ "SEC-WEBSOCKET-VERSION", "13" },
	{ "upgrade", "websocket" },
	{ "Hos", NULL },
	{ "Hostx", NULL },
	{ "Sec-WebSocket", NULL },
	{ "X-Missing", NULL },
	{ "", NULL },
};

Test(http_header_get, case_insensitive)
{
	struct http_request req;
	const char	   *v;
	size_t		    i, len;

	cr_assert_eq(http_parse_request(CHROME_HEAD, strlen(CHROME_HEAD),
			 &req),
	    (int)strlen(CHROME_HEAD));
	for (i = 0; i < NELEM(get_cases); i++) {
		len = 12345;
		v = http_header_get(&req, get_cases[i].name, &len);
		if (get_cases[i].value == NULL) {
			cr_expect(v == NULL, "'%s': found '%.*s'",
			    get_cases[i].name, v ? (int)len : 0, v ? v : "");
			continue;
		}
		cr_expect(v != NULL && len == strlen(get_cases[i].value) &&
			memcmp(v, get_cases[i].value, len) == 0,
		    "'%s': got '%.*s', want '%s'", get_cases[i].name,
		    v ? (int)len : 6, v ? v : "(null)", get_cases[i].value);
	}
}

/* http_list_has_token on comma-separated lists. */
struct token_case {
	const char *list;
	int	    len; /* -1: strlen */
	const char *token;
	int	    want;
	const char *desc;
};

static const struct token_case token_cases[] = {
	{ "Upgrade", -1, "upgrade", 1, "single item, other case" },
	{ "upgrade", -1, "Upgrade", 1, "token case ignored" },
	{ "keep-alive, Upgrade", -1, "upgrade", 1, "Firefox's Connection" },
	{ "keep-alive,upgrade", -1, "upgrade", 1, "no blank after comma" },
	{ " upgrade ", -1, "upgrade", 1, "blanks around the item" },
	{ "\tupgrade\t", -1, "upgrade", 1, "tabs around the item" },
	{ "Upgrade, keep-alive", -1, "upgrade", 1, "first of two" },
	{ "keep-alive , Upgrade , close", -1, "upgrade", 1,
	    "middle of three" },
	{ "keep-alive, , upgrade", -1, "upgrade", 1, "after an empty item" },
	{ "upgrade,", -1, "upgrade", 1, "trailing comma" },
	{ ",upgrade", -1, "upgrade", 1, "leading comma" },
	{ "upgrades", -1, "upgrade", 0, "longer word" },
	{ "xupgrade", -1, "upgrade", 0, "word with prefix" },
	{ "upgrad", -1, "upgrade", 0, "shorter word" },
	{ "up grade", -1, "upgrade", 0, "split word" },
	{ "keep-alive", -1, "upgrade", 0, "other word" },
	{ "keep-alive, upgrades", -1, "upgrade", 0, "longer word second" },
	{ "", -1, "upgrade", 0, "empty list" },
	{ ",", -1, "upgrade", 0, "comma only" },
	{ "   ", -1, "upgrade", 0, "blanks only" },
	{ "keep-alive, Upgrade", 10, "upgrade", 0, "len stops before it" },
	{ "keep-alive, Upgrade", 17, "upgrade", 0, "len cuts it short" },
	{ "upgradeX", 7, "upgrade", 1, "len ends right after it" },
	{ "base64, binary", -1, "binary", 1, "subprotocol list" },
	{ " chat , binary ", -1, "binary", 1, "subprotocol with blanks" },
};

Test(http_list_has_token, table)
{
	const struct token_case *c;
	size_t			 i, len;
	int			 got;

	for (i = 0; i < NELEM(token_cases); i++) {
		c = &token_cases[i];
		len = c->len < 0 ? strlen(c->list) : (size_t)c->len;
		got = http_list_has_token(c->list, len, c->token);
		cr_expect_eq(!!got, c->want, "%s: '%.*s' has '%s': got %d",
		    c->desc, (int)len, c->list, c->token, got);
	}
}

/* The list given by length only, ending at a page edge. */
Test(http_list_has_token, page_edge)
{
	const struct token_case *c;
	char			*end = test_guard_end(WSB_MAX_REQUEST_HEAD);
	size_t			 i, len;
	int			 got;

	for (i = 0; i < NELEM(token_cases); i++) {
		c = &token_cases[i];
		len = c->len < 0 ? strlen(c->list) : (size_t)c->len;
		cr_assert(len <= WSB_MAX_REQUEST_HEAD, "%s: too long",
		    c->desc);
		memcpy(end - len, c->list, len);
		got = http_list_has_token(end - len, len, c->token);
		cr_expect_eq(!!got, c->want, "%s at page edge: got %d",
		    c->desc, got);
	}
	test_guard_free(end, WSB_MAX_REQUEST_HEAD);
}

/* http_status_text: the statuses the bridge sends. */
struct status_case {
	int	    status;
	const char *text;
};

static const struct status_case status_cases[] = {
	{ 101, "Switching Protocols" },
	{ 200, "OK" },
	{ 400, "Bad Request" },
	{ 401, "Unauthorized" },
	{ 403, "Forbidden" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 426, "Upgrade Required" },
	{ 431, "Request Header Fields Too Large" },
	{ 500, "Internal Server Error" },
	{ 502, "Bad Gateway" },
	{ 503, "Service Unavailable" },
};

Test(http_status_text, table)
{
	const char *t;
	size_t	    i;

	for (i = 0; i < NELEM(status_cases); i++) {
		t = http_status_text(status_cases[i].status);
		cr_expect(t != NULL && strcmp(t, status_cases[i].text) == 0,
		    "%d: got '%s', want '%s'", status_cases[i].status,
		    t ? t : "(null)", status_cases[i].text);
	}
}

/* An unknown status still yields a printable string. */
Test(http_status_text, unknown_not_null)
{
	static const int unknown[] = { 0, 299, 418, 599, 999, -1 };
	size_t		 i;

	for (i = 0; i < NELEM(unknown); i++)
		cr_expect(http_status_text(unknown[i]) != NULL,
		    "%d: NULL reason phrase", unknown[i]);
}

/* Find needle in out[0..len), case-insensitively. */
static const char *
find_ci(const char *out, size_t len, const char *needle)
{
	size_t n = strlen(needle), i;

	for (i = 0; i + n <= len; i++)
		if (strncasecmp(out + i, needle, n) == 0)
			return out + i;
	return NULL;
}

/* http_format_error: the response a refused client gets. */
struct error_case {
	const char *desc;
	int	    status;
	const char *extra;
	const char *reason;
	const char *status_line;
};

static const struct error_case error_cases[] = {
	{ "400 plain", 400, NULL, "missing Sec-WebSocket-Key",
	    "HTTP/1.1 400 Bad Request\r\n" },
	{ "426 with version header", 426, "Sec-WebSocket-Version: 13\r\n",
	    "unsupported WebSocket version",
	    "HTTP/1.1 426 Upgrade Required\r\n" },
	{ "401 with two headers", 401,
	    "WWW-Authenticate: Basic realm=\"wsbridge\"\r\nX-Two: 2\r\n",
	    "authentication required", "HTTP/1.1 401 Unauthorized\r\n" },
	{ "405 empty reason", 405, NULL, "",
	    "HTTP/1.1 405 Method Not Allowed\r\n" },
	{ "503", 503, NULL, "too busy",
	    "HTTP/1.1 503 Service Unavailable\r\n" },
};

Test(http_format_error, table)
{
	const struct error_case *c;
	char			 out[1024], want_cl[64], *body, *hdrend;
	size_t			 i, bodylen;
	int			 n;

	for (i = 0; i < NELEM(error_cases); i++) {
		c = &error_cases[i];
		memset(out, 0, sizeof(out));
		n = http_format_error(out, sizeof(out), c->status, c->extra,
		    c->reason);
		cr_expect(n > 0 && (size_t)n < sizeof(out), "%s: returned %d",
		    c->desc, n);
		if (n <= 0 || (size_t)n >= sizeof(out))
			continue;
		cr_expect(strncmp(out, c->status_line,
			      strlen(c->status_line)) == 0,
		    "%s: status line in '%.*s'", c->desc, n, out);
		hdrend = memmem(out, n, "\r\n\r\n", 4);
		cr_expect(hdrend != NULL, "%s: no blank line", c->desc);
		if (hdrend == NULL)
			continue;
		body = hdrend + 4;
		bodylen = out + n - body;
		cr_expect(bodylen == strlen(c->reason) + 1 &&
			memcmp(body, c->reason, bodylen - 1) == 0 &&
			body[bodylen - 1] == '\n',
		    "%s: body '%.*s'", c->desc, (int)bodylen, body);
		snprintf(want_cl, sizeof(want_cl),
		    "\r\nContent-Length: %zu\r\n", bodylen);
		cr_expect(find_ci(out, hdrend + 2 - out, want_cl) != NULL,
		    "%s: no '%s' in head", c->desc, want_cl + 2);
		cr_expect(find_ci(out, hdrend + 2 - out,
			      "\r\nConnection: close\r\n") != NULL,
		    "%s: no Connection: close", c->desc);
		cr_expect(find_ci(out, hdrend + 2 - out,
			      "\r\nContent-Type: text/plain") != NULL,
		    "%s: no Content-Type: text/plain", c->desc);
		if (c->extra != NULL)
			cr_expect(memmem(out, hdrend + 2 - out, c->extra,
				      strlen(c->extra)) != NULL,
			    "%s: extra headers missing from head", c->desc);
	}
}

/* Every buffer too small gives -1 and writes nothing past its size. */
Test(http_format_error, too_small)
{
	const struct error_case *c = &error_cases[1];
	char			 out[512];
	int			 full, n;
	size_t			 sz;

	full = http_format_error(out, sizeof(out), c->status, c->extra,
	    c->reason);
	cr_assert(full > 0);
	for (sz = 0; sz < (size_t)full; sz++) {
		memset(out, 0x5a, sizeof(out));
		n = http_format_error(out, sz, c->status, c->extra, c->reason);
		cr_expect_eq(n, -1, "outlen %zu (< %d): returned %d", sz, full,
		    n);
		cr_expect(out[sz] == 0x5a, "outlen %zu: wrote past it", sz);
	}
	memset(out, 0x5a, sizeof(out));
	n = http_format_error(out, full + 1, c->status, c->extra, c->reason);
	cr_expect_eq(n, full, "outlen %d: returned %d", full + 1, n);
}

/* http_query_param: tokens from the request target. */
struct query_case {
	const char *desc;
	const char *path;
	int	    path_len; /* -1: strlen */
	const char *name;
	size_t	    outlen;
	int	    ret;
	const char *value;
};

static const struct query_case query_cases[] = {
	{ "websockify token", "/websockify?token=abc", -1, "token", 64, 0,
	    "abc" },
	{ "second parameter, percent-encoded", "/?a=1&token=x%20y", -1,
	    "token", 64, 0, "x y" },
	{ "first of three", "/?token=t1&a=1&b=2", -1, "token", 64, 0, "t1" },
	{ "middle of three", "/?a=1&token=t2&b=2", -1, "token", 64, 0, "t2" },
	{ "hex upper and lower", "/?token=%41%6a%2F", -1, "token", 64, 0,
	    "Aj/" },
	{ "empty value", "/?token=", -1, "token", 64, 0, "" },
	{ "empty value then more", "/?token=&a=1", -1, "token", 64, 0, "" },
	{ "absent", "/websockify?a=1", -1, "token", 64, -1 },
	{ "no query", "/websockify", -1, "token", 64, -1 },
	{ "name is a prefix of another", "/?tokenx=1", -1, "token", 64, -1 },
	{ "name is a suffix of another", "/?xtoken=1", -1, "token", 64, -1 },
	{ "prefix one, then the real one", "/?tokenx=1&token=2", -1, "token",
	    64, 0, "2" },
	{ "name only in the path", "/token=abc", -1, "token", 64, -1 },
	{ "value in a value", "/?a=token=1", -1, "token", 64, -1 },
	{ "path_len stops inside the value", "/?token=abcdef", 11, "token", 64,
	    0, "abc" },
	{ "path_len stops before the query", "/x?token=abc", 2, "token", 64,
	    -1 },
	{ "value fits with its NUL", "/?token=abc", -1, "token", 4, 0, "abc" },
	{ "value too long", "/?token=abcdef", -1, "token", 4, -1 },
	{ "value one byte too long", "/?token=abcd", -1, "token", 4, -1 },
	{ "decoded length counts", "/?token=%41%42%43", -1, "token", 4, 0,
	    "ABC" },
	{ "no room even for the NUL", "/?token=", -1, "token", 0, -1 },
	{ "truncated escape", "/?token=ab%4", -1, "token", 64, -1 },
	{ "escape of a NUL refused", "/?token=a%00b", -1, "token", 64, -1 },
	{ "'+' is a space in a query", "/?token=a+b", -1, "token", 64, 0,
	    "a b" },
	{ "'%2B' is a '+'", "/?token=a%2Bb", -1, "token", 64, 0, "a+b" },
	{ "bad escape refused", "/?token=a%zzb", -1, "token", 64, -1 },
};

Test(http_query_param, table)
{
	const struct query_case *c;
	char			 out[128];
	size_t			 i, len;
	int			 ret;

	for (i = 0; i < NELEM(query_cases); i++) {
		c = &query_cases[i];
		len = c->path_len < 0 ? strlen(c->path) : (size_t)c->path_len;
		memset(out, 0x5a, sizeof(out));
		ret = http_query_param(c->path, len, c->name, out, c->outlen);
		cr_expect_eq(ret, c->ret, "%s: '%.*s' returned %d, want %d",
		    c->desc, (int)len, c->path, ret, c->ret);
		if (ret == 0 && c->ret == 0)
			cr_expect(strcmp(out, c->value) == 0,
			    "%s: got '%.*s', want '%s'", c->desc,
			    (int)strnlen(out, c->outlen), out, c->value);
		cr_expect((unsigned char)out[c->outlen] == 0x5a,
		    "%s: wrote past outlen %zu", c->desc, c->outlen);
	}
}

/* http_method_is: methods compare exactly (RFC 9110 9.1). */
struct method_case {
	const char *desc;
	const char *sent;
	const char *method;
	int	    want;
};

static const struct method_case method_cases[] = {
	{ "GET is GET", "GET", "GET", 1 },
	{ "HEAD is HEAD", "HEAD", "HEAD", 1 },
	{ "POST is POST", "POST", "POST", 1 },
	{ "get is not GET", "get", "GET", 0 },
	{ "Get is not GET", "Get", "GET", 0 },
	{ "gET is not GET", "gET", "GET", 0 },
	{ "head is not HEAD", "head", "HEAD", 0 },
	{ "GETS is not GET", "GETS", "GET", 0 },
	{ "GE is not GET", "GE", "GET", 0 },
	{ "GET is not HEAD", "GET", "HEAD", 0 },
	{ "OPTIONS is not OPTION", "OPTIONS", "OPTION", 0 },
};

Test(http_method_is, table)
{
	const struct method_case *c;
	struct http_request	  req;
	char			  head[128];
	size_t			  i;
	int			  n, got;

	for (i = 0; i < NELEM(method_cases); i++) {
		c = &method_cases[i];
		n = snprintf(head, sizeof(head), "%s / HTTP/1.1\r\n\r\n",
		    c->sent);
		cr_assert_eq(http_parse_request(head, (size_t)n, &req), n,
		    "%s: did not parse", c->desc);
		got = http_method_is(&req, c->method);
		cr_expect_eq(got, c->want, "%s: got %d", c->desc, got);
	}
}

/* method_len, not a NUL or a blank, ends the method. */
Test(http_method_is, uses_method_len)
{
	struct http_request req;

	memset(&req, 0, sizeof(req));
	req.method = "GETX";
	req.method_len = 3;
	cr_expect_eq(http_method_is(&req, "GET"), 1);
	cr_expect_eq(http_method_is(&req, "GETX"), 0);
}

/* http_header_next: every line of a repeated header, in order, any case. */
Test(http_header_next, walks_repeats)
{
	static const char   head[] = "GET / HTTP/1.1\r\n"
				     "Connection: keep-alive\r\n"
				     "Host: x\r\n"
				     "connection: Upgrade\r\n"
				     "Connections: no\r\n"
				     "CONNECTION:\r\n"
				     "\r\n";
	static const char  *want[] = { "keep-alive", "Upgrade", "" };
	struct http_request req;
	const char	   *v;
	size_t		    i = 0, k, len;

	cr_assert_eq(http_parse_request(head, sizeof(head) - 1, &req),
	    (int)sizeof(head) - 1);
	for (k = 0; k < NELEM(want); k++) {
		v = http_header_next(&req, "Connection", &i, &len);
		cr_assert(v != NULL, "line %zu missing", k);
		cr_expect(len == strlen(want[k]) &&
			memcmp(v, want[k], len) == 0,
		    "line %zu: '%.*s', want "
		    "'%s'",
		    k, (int)len, v, want[k]);
	}
	cr_expect(http_header_next(&req, "Connection", &i, &len) == NULL,
	    "a fourth Connection line");
	cr_expect(http_header_next(&req, "Connection", &i, &len) == NULL,
	    "the end is not sticky");
	i = 0;
	cr_expect(http_header_next(&req, "Missing", &i, &len) == NULL &&
		len == 0,
	    "an absent header found");
}

/*
 * http_percent_decode.  len -1: strlen.  dstlen 0 means 0.  With ret >= 0
 * dst must equal want (ret bytes).  dst and src sit at page edges.
 */
struct pct_case {
	const char *desc;
	const char *src;
	int	    len;
	int	    flags;
	size_t	    dstlen;
	int	    ret;
	const char *want;
};

#define PLUS HTTP_PCT_PLUS

static const struct pct_case pct_cases[] = {
	{ "plain text copied", "abc", -1, 0, 64, 3, "abc" },
	{ "empty", "", -1, 0, 64, 0, "" },
	{ "hex upper and lower", "%41%6a%2F", -1, 0, 64, 3, "Aj/" },
	{ "encoded slash decoded (callers split first)", "a%2fb", -1, 0, 64, 3,
	    "a/b" },
	{ "%20 is a space", "a%20b", -1, 0, 64, 3, "a b" },
	{ "%25 is a percent sign", "%25", -1, 0, 64, 1, "%" },
	{ "decoded once, not twice", "%2541", -1, 0, 64, 3, "%41" },
	{ "high byte", "%ff%C3%A9", -1, 0, 64, 3, "\xff\xc3\xa9" },
	{ "'+' kept in a path", "a+b", -1, 0, 64, 3, "a+b" },
	{ "'+' is a space with HTTP_PCT_PLUS", "a+b+", -1, PLUS, 64, 4,
	    "a b " },
	{ "%2B stays '+' with HTTP_PCT_PLUS", "a%2Bb", -1, PLUS, 64, 3,
	    "a+b" },
	{ "other bytes copied as is", "a b\x01\xff", -1, 0, 64, 5,
	    "a b\x01\xff" },
	{ "len ends the input, not a NUL", "abc%41", 3, 0, 64, 3, "abc" },
	{ "lone '%'", "%", -1, 0, 64, -1 },
	{ "'%' at the end", "ab%", -1, 0, 64, -1 },
	{ "'%' and one hex digit", "ab%4", -1, 0, 64, -1 },
	{ "len cuts an escape", "ab%41", 4, 0, 64, -1 },
	{ "first digit not hex", "%g1", -1, 0, 64, -1 },
	{ "second digit not hex", "%1g", -1, 0, 64, -1 },
	{ "blank inside an escape", "% 20", -1, 0, 64, -1 },
	{ "sign inside an escape", "%+1", -1, 0, 64, -1 },
	{ "%00 refused", "a%00b", -1, 0, 64, -3 },
	{ "raw NUL refused", "a\0b", 3, 0, 64, -3 },
	{ "fits with its NUL", "abc", -1, 0, 4, 3, "abc" },
	{ "one byte too long", "abcd", -1, 0, 4, -2 },
	{ "decoded length counts, not encoded", "%41%42%43", -1, 0, 4, 3,
	    "ABC" },
	{ "dstlen 0", "", -1, 0, 0, -2 },
	{ "dstlen 1 holds the empty string", "", -1, 0, 1, 0, "" },
	{ "bad escape before running out", "%zzabcdef", -1, 0, 2, -1 },
	{ "running out before a bad escape", "abc%zz", -1, 0, 2, -2 },
	{ "%00 before a bad escape", "%00%zz", -1, 0, 64, -3 },
};

Test(http_percent_decode, table)
{
	const struct pct_case *c;
	char		      *sin, *dend, *dst;
	size_t		       i, len;
	int		       ret;

	sin = test_guard_end(64);
	dend = test_guard_end(64);
	for (i = 0; i < NELEM(pct_cases); i++) {
		c = &pct_cases[i];
		len = c->len < 0 ? strlen(c->src) : (size_t)c->len;
		cr_assert(len <= 64 && c->dstlen <= 64);
		memcpy(sin - len, c->src, len);
		dst = dend - c->dstlen;
		memset(dst, 0x5a, c->dstlen);
		ret = http_percent_decode(sin - len, len, dst, c->dstlen,
		    c->flags);
		cr_expect_eq(ret, c->ret, "%s: returned %d, want %d", c->desc,
		    ret, c->ret);
		if (c->dstlen > 0)
			cr_expect(memchr(dst, '\0', c->dstlen) != NULL,
			    "%s: dst not NUL-terminated", c->desc);
		if (ret < 0 || ret != c->ret)
			continue;
		cr_expect(memcmp(dst, c->want, (size_t)ret + 1) == 0,
		    "%s: got '%.*s', want '%s'", c->desc, ret, dst, c->want);
	}
	test_guard_free(sin, 64);
	test_guard_free(dend, 64);
}

/*
 * http_base64_decode: RFC 4648 section 10's vectors, the key of RFC 6455
 * 1.3, and the ways base64 goes wrong.  len -1: strlen.  With ret >= 0
 * the ret bytes must equal want.
 */
struct b64_case {
	const char *desc;
	const char *src;
	int	    len;
	size_t	    dstlen;
	int	    ret;
	const char *want;
};

static const struct b64_case b64_cases[] = {
	{ "empty", "", -1, 16, 0, "" },
	{ "RFC 4648: f", "Zg==", -1, 16, 1, "f" },
	{ "RFC 4648: fo", "Zm8=", -1, 16, 2, "fo" },
	{ "RFC 4648: foo", "Zm9v", -1, 16, 3, "foo" },
	{ "RFC 4648: foob", "Zm9vYg==", -1, 16, 4, "foob" },
	{ "RFC 4648: fooba", "Zm9vYmE=", -1, 16, 5, "fooba" },
	{ "RFC 4648: foobar", "Zm9vYmFy", -1, 16, 6, "foobar" },
	{ "RFC 6455 key: 16 bytes", "dGhlIHNhbXBsZSBub25jZQ==", -1, 16, 16,
	    "the sample nonce" },
	{ "every digit once",
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuv"
	    "wxyz0123456789+/",
	    -1, 48, 48,
	    "\x00\x10\x83\x10\x51\x87\x20\x92\x8b\x30\xd3\x8f"
	    "\x41\x14\x93\x51\x55\x97\x61\x96\x9b\x71\xd7\x9f"
	    "\x82\x18\xa3\x92\x59\xa7\xa2\x9a\xab\xb2\xdb\xaf"
	    "\xc3\x1c\xb3\xd3\x5d\xb7\xe3\x9e\xbb\xf3\xdf\xbf" },
	{ "'+' and '/'", "//4+", -1, 16, 3, "\xff\xfe\x3e" },
	{ "NUL bytes decoded", "AAA=", -1, 16, 2, "\0\0" },
	{ "bits left in the pad ignored", "Zh==", -1, 16, 1, "f" },
	{ "padding in the middle", "Zg==Zm8=", -1, 16, -1 },
	{ "padding inside a group", "Z=g=", -1, 16, -1 },
	{ "'=' before a digit", "Zm=v", -1, 16, -1 },
	{ "three '='", "Z===", -1, 16, -1 },
	{ "four '='", "====", -1, 16, -1 },
	{ "length 1", "Z", -1, 16, -1 },
	{ "length 2, padding left out", "Zg", -1, 16, -1 },
	{ "length 3, padding left out", "Zm8", -1, 16, -1 },
	{ "length 5", "Zm9vY", -1, 16, -1 },
	{ "len cuts the padding", "Zg==", 3, 16, -1 },
	{ "base64url '-'", "Zm9-", -1, 16, -1 },
	{ "base64url '_'", "Zm9_", -1, 16, -1 },
	{ "blank", "Zm9 ", -1, 16, -1 },
	{ "line break", "Zm9v\r\nYm", -1, 16, -1 },
	{ "NUL inside", "Zm\0v", 4, 16, -1 },
	{ "byte above 0x7f", "Zm9\xc3", -1, 16, -1 },
	{ "dst exactly big enough", "Zm9vYg==", -1, 4, 4, "foob" },
	{ "dst one byte short", "Zm9vYg==", -1, 3, -1 },
	{ "padding not counted against dst", "Zg==", -1, 1, 1, "f" },
	{ "dstlen 0, empty src", "", -1, 0, 0, "" },
	{ "dstlen 0", "Zg==", -1, 0, -1 },
};

Test(http_base64_decode, table)
{
	const struct b64_case *c;
	char		      *sin;
	unsigned char	      *dend;
	size_t		       i, len;
	int		       ret;

	sin = test_guard_end(64);
	dend = test_guard_end(64);
	for (i = 0; i < NELEM(b64_cases); i++) {
		c = &b64_cases[i];
		len = c->len < 0 ? strlen(c->src) : (size_t)c->len;
		cr_assert(len <= 64 && c->dstlen <= 64);
		memcpy(sin - len, c->src, len);
		ret = http_base64_decode(sin - len, len, dend - c->dstlen,
		    c->dstlen);
		cr_expect_eq(ret, c->ret, "%s: returned %d, want %d", c->desc,
		    ret, c->ret);
		if (ret >= 0 && ret == c->ret)
			cr_expect(memcmp(dend - c->dstlen, c->want,
				      (size_t)ret) == 0,
			    "%s: wrong bytes", c->desc);
	}
	test_guard_free(sin, 64);
	test_guard_free(dend, 64);
}

/* http_format_authority: IPv6 literals bracketed, snprintf's return. */
struct authority_case {
	const char *desc;
	const char *host;
	const char *port;
	size_t	    buflen;
	const char *want;
	int	    ret;
};

static const struct authority_case authority_cases[] = {
	{ "name", "localhost", "5900", 64, "localhost:5900", 14 },
	{ "IPv4", "127.0.0.1", "80", 64, "127.0.0.1:80", 12 },
	{ "IPv6 loopback", "::1", "5900", 64, "[::1]:5900", 10 },
	{ "IPv6", "2001:db8::1", "443", 64, "[2001:db8::1]:443", 17 },
	{ "IPv4-mapped IPv6", "::ffff:10.0.0.1", "1", 64,
	    "[::ffff:10.0.0.1]:1", 19 },
	{ "service name as port", "example.org", "vnc", 64, "example.org:vnc",
	    15 },
	{ "empty host", "", "80", 64, ":80", 3 },
	{ "exact fit", "::1", "5900", 11, "[::1]:5900", 10 },
	{ "cut as snprintf cuts", "::1", "5900", 5, "[::1", 10 },
	{ "buflen 1", "a", "1", 1, "", 3 },
};

Test(http_format_authority, table)
{
	const struct authority_case *c;
	char			    *end, *buf;
	size_t			     i;
	int			     ret;

	end = test_guard_end(64);
	for (i = 0; i < NELEM(authority_cases); i++) {
		c = &authority_cases[i];
		buf = end - c->buflen;
		ret = http_format_authority(buf, c->buflen, c->host, c->port);
		cr_expect_eq(ret, c->ret, "%s: returned %d, want %d", c->desc,
		    ret, c->ret);
		cr_expect_str_eq(buf, c->want, "%s: got '%s', want '%s'",
		    c->desc, buf, c->want);
	}
	/* buflen 0: nothing written (the guard page faults), length told. */
	cr_expect_eq(http_format_authority(end, 0, "::1", "1"), 7);
	test_guard_free(end, 64);
}

/* http_format_sockaddr: numeric text for each family. */
struct sockaddr_case {
	const char *desc;
	int	    family;
	const char *addr; /* for inet_pton */
	unsigned    port;
	size_t	    buflen;
	const char *want;
	int	    ret;
};

static const struct sockaddr_case sockaddr_cases[] = {
	{ "IPv4", AF_INET, "1.2.3.4", 5, 64, "1.2.3.4:5", 9 },
	{ "IPv4 highest port", AF_INET, "127.0.0.1", 65535, 64,
	    "127.0.0.1:65535", 15 },
	{ "IPv4, port 0: no port (a proxy header's address)", AF_INET,
	    "203.0.113.7", 0, 64, "203.0.113.7", 11 },
	{ "IPv6, port 0: no port", AF_INET6, "2001:db8::7", 0, 64,
	    "[2001:db8::7]", 13 },
	{ "IPv6 loopback", AF_INET6, "::1", 5, 64, "[::1]:5", 7 },
	{ "IPv6", AF_INET6, "2001:db8::1", 443, 64, "[2001:db8::1]:443", 17 },
	{ "IPv4-mapped IPv6", AF_INET6, "::ffff:1.2.3.4", 80, 64,
	    "[::ffff:1.2.3.4]:80", 19 },
	{ "IPv6 longest", AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    65535, 64, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", 47 },
	{ "unix socket", AF_UNIX, NULL, 0, 64, "unix", 4 },
	{ "unknown family", AF_UNSPEC, NULL, 0, 64, "unix", 4 },
	{ "cut as snprintf cuts", AF_INET6, "::1", 5900, 4, "[::", 10 },
	{ "IPv4 cut as snprintf cuts", AF_INET, "10.20.30.40", 5900, 6,
	    "10.20", 16 },
	{ "IPv4 every octet width", AF_INET, "0.9.99.255", 1, 64,
	    "0.9.99.255:1", 12 },
};

Test(http_format_sockaddr, table)
{
	const struct sockaddr_case *c;
	struct sockaddr_storage	    ss;
	struct sockaddr_in	   *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	   *sin6 = (struct sockaddr_in6 *)&ss;
	struct sockaddr_un	   *sun = (struct sockaddr_un *)&ss;
	char			   *end, *buf;
	size_t			    i;
	int			    ret;

	end = test_guard_end(64);
	for (i = 0; i < NELEM(sockaddr_cases); i++) {
		c = &sockaddr_cases[i];
		memset(&ss, 0, sizeof(ss));
		ss.ss_family = (sa_family_t)c->family;
		if (c->family == AF_INET) {
			cr_assert(inet_pton(AF_INET, c->addr,
				      &sin->sin_addr) == 1);
			sin->sin_port = htons((uint16_t)c->port);
		} else if (c->family == AF_INET6) {
			cr_assert(inet_pton(AF_INET6, c->addr,
				      &sin6->sin6_addr) == 1);
			sin6->sin6_port = htons((uint16_t)c->port);
		} else if (c->family == AF_UNIX)
			strcpy(sun->sun_path, "/run/vnc.sock");
		buf = end - c->buflen;
		ret = http_format_sockaddr(buf, c->buflen,
		    (struct sockaddr *)&ss);
		cr_expect_eq(ret, c->ret, "%s: returned %d, want %d", c->desc,
		    ret, c->ret);
		cr_expect_str_eq(buf, c->want, "%s: got '%s', want '%s'",
		    c->desc, buf, c->want);
	}
	test_guard_free(end, 64);
}
