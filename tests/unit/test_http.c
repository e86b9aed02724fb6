/* Unit tests for the HTTP/1.1 request-head parser and helpers (src/http.c). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* memmem, strcasestr, strndup */
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "http.h"
#include "wsb_limits.h"

/* A case leaves the fields it does not need zero: one line per case. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A browser's upgrade request head, and the same head's length. */
#define CHROME_HEAD                                                   \
	"GET /websockify?token=abc HTTP/1.1\r\n"                        \
	"Host: localhost:6080\r\n"                                      \
	"Connection: Upgrade\r\n"                                       \
	"Pragma: no-cache\r\n"                                          \
	"Cache-Control: no-cache\r\n"                                   \
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0\r\n"  \
	"Upgrade: websocket\r\n"                                        \
	"Origin: http://localhost:6080\r\n"                             \
	"Sec-WebSocket-Version: 13\r\n"                                 \
	"Accept-Encoding: gzip, deflate, br\r\n"                        \
	"Accept-Language: en-US,en;q=0.9\r\n"                           \
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"               \
	"Sec-WebSocket-Extensions: permessage-deflate; "                \
	"client_max_window_bits\r\n"                                    \
	"Sec-WebSocket-Protocol: binary\r\n"                            \
	"\r\n"

/*
 * http_parse_request on whole inputs.  ret: -1, -2, or 0 meaning "the
 * whole input is the head" (its length is then expected).
 */
struct parse_case {
	const char *desc;
	const char *buf;
	int ret;
	const char *method;
	const char *path;
	int minor;
	size_t nhdr;
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
	{ "TLS ClientHello start", "\x16\x03\x01\x02\x05\x01\x05\x01\xfc\r\n"
	    "\r\n", -1 },
	{ "empty lines before the request line (RFC 9112 2.2)",
	    "\r\n\r\nGET / HTTP/1.1\r\n\r\n", 0, "GET", "/", 1, 0 },
	{ "empty lines only: still waiting", "\r\n\r\n", -2 },
	{ "leading space", " GET / HTTP/1.1\r\n\r\n", -1 },
	{ "header without colon", "GET / HTTP/1.1\r\nHost x\r\n\r\n", -1 },
	{ "header with empty name", "GET / HTTP/1.1\r\n: x\r\n\r\n", -1 },
	{ "space before colon (RFC 9112 5.1)",
	    "GET / HTTP/1.1\r\nHost : x\r\n\r\n", -1 },
	{ "control byte in header value", "GET / HTTP/1.1\r\nX-A: a\x01b\r\n"
	    "\r\n", -1 },
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
	    req->path < buf + len, "%s (%s): pointers not into buf", c->desc,
	    how);
	cr_expect_eq(req->minor_version, c->minor, "%s (%s): minor %d",
	    c->desc, how, req->minor_version);
	cr_expect_eq(req->num_headers, c->nhdr, "%s (%s): %zu headers, want "
	    "%zu", c->desc, how, req->num_headers, c->nhdr);
}

Test(http_parse_request, table)
{
	const struct parse_case *c;
	struct http_request req;
	size_t i, len;
	int ret;

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
	struct http_request req;
	const struct http_header *h;
	size_t i;

	cr_assert_eq(http_parse_request(CHROME_HEAD, strlen(CHROME_HEAD),
	    &req), (int)strlen(CHROME_HEAD));
	cr_assert_eq(req.num_headers, NELEM(want));
	for (i = 0; i < NELEM(want); i++) {
		h = &req.headers[i];
		cr_expect(h->name_len == strlen(want[i][0]) &&
		    memcmp(h->name, want[i][0], h->name_len) == 0,
		    "header %zu name '%.*s', want '%s'", i, (int)h->name_len,
		    h->name, want[i][0]);
		cr_expect(h->value_len == strlen(want[i][1]) &&
		    memcmp(h->value, want[i][1], h->value_len) == 0,
		    "header %zu value '%.*s', want '%s'", i,
		    (int)h->value_len, h->value, want[i][1]);
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
	char buf[256];
	size_t i;
	int len, ret;

	for (i = 0; i < NELEM(trim_cases); i++) {
		len = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n%s\r\n\r\n",
		    trim_cases[i].line);
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
	struct http_request req;
	size_t i, k, len;
	int ret;

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
	static const char *tails[] = { "\x82\x85\x37\xfa\x21\x3d\x7f\x9f",
		"GET /second HTTP/1.1\r\n\r\n", "\r\n", "x" };
	struct http_request req;
	char buf[2048];
	size_t i, head = strlen(CHROME_HEAD);
	int ret;

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
	char *buf;
	size_t n, i, off, cap = 64 + (WSB_MAX_HEADERS + 2) * 32;
	int ret;

	buf = malloc(cap);
	cr_assert(buf != NULL);
	for (n = WSB_MAX_HEADERS - 1; n <= WSB_MAX_HEADERS + 1; n++) {
		off = snprintf(buf, cap, "GET / HTTP/1.1\r\n");
		for (i = 0; i < n; i++)
			off += snprintf(buf + off, cap - off, "X-H%zu: %zu\r\n",
			    i, i);
		off += snprintf(buf + off, cap - off, "\r\n");
		ret = http_parse_request(buf, off, &req);
		if (n <= WSB_MAX_HEADERS) {
			cr_expect_eq(ret, (int)off, "%zu headers: ret %d", n,
			    ret);
			cr_expect_eq(req.num_headers, n, "%zu headers: got %zu",
			    n, req.num_headers);
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
	size_t i, len;
	int ret;

	for (i = 0; i < NELEM(heads); i++) {
		len = strlen(heads[i]);
		ret = http_parse_request(heads[i], len, &req);
		cr_log_info("bare LF head %zu: http_parse_request returned %d "
		    "(length %zu)", i, ret, len);
		cr_expect(ret == -1 || ret == (int)len,
		    "bare LF head %zu: ret %d, want -1 or %zu", i, ret, len);
		if (ret == (int)len)
			cr_expect(req.num_headers == 1 &&
			    req.headers[0].value_len == 1 &&
			    req.headers[0].value[0] == 'x',
			    "bare LF head %zu: header value keeps a CR", i);
	}
}

/* A page whose end is followed by an inaccessible page. */
static char *
guard_page_end(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *p;

	p = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert(p != MAP_FAILED, "mmap failed");
	cr_assert(mprotect(p + pg, pg, PROT_NONE) == 0, "mprotect failed");
	return p + pg;
}

/* Every prefix of every case placed so its last byte is the page's last
 * byte: the parser may not read a byte past len. */
Test(http_parse_request, page_edge)
{
	const struct parse_case *c;
	struct http_request req;
	char *end = guard_page_end();
	size_t i, k, len;
	int ret;

	for (i = 0; i < NELEM(parse_cases); i++) {
		c = &parse_cases[i];
		len = strlen(c->buf);
		for (k = 0; k <= len; k++) {
			memcpy(end - k, c->buf, k);
			ret = http_parse_request(end - k, k, &req);
			if (k == len)
				check_parse(c, end - k, k, ret, &req,
				    "page edge");
			else if (c->ret != -1)
				cr_expect_eq(ret, -2, "%s: page-edge prefix "
				    "%zu returned %d", c->desc, k, ret);
		}
	}
}

/* http_header_get: names match whatever their case. */
struct get_case {
	const char *name;
	const char *value;	/* NULL: absent */
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
	const char *v;
	size_t i, len;

	cr_assert_eq(http_parse_request(CHROME_HEAD, strlen(CHROME_HEAD),
	    &req), (int)strlen(CHROME_HEAD));
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
	int len;	/* -1: strlen */
	const char *token;
	int want;
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
	{ "keep-alive , Upgrade , close", -1, "upgrade", 1, "middle of three" },
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
	size_t i, len;
	int got;

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
	char *end = guard_page_end();
	size_t i, len;
	int got;

	for (i = 0; i < NELEM(token_cases); i++) {
		c = &token_cases[i];
		len = c->len < 0 ? strlen(c->list) : (size_t)c->len;
		memcpy(end - len, c->list, len);
		got = http_list_has_token(end - len, len, c->token);
		cr_expect_eq(!!got, c->want, "%s at page edge: got %d",
		    c->desc, got);
	}
}

/* http_status_text: the statuses the bridge sends. */
struct status_case {
	int status;
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
	size_t i;

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
	size_t i;

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
	int status;
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
	char out[1024], want_cl[64], *body, *hdrend;
	size_t i, bodylen;
	int n;

	for (i = 0; i < NELEM(error_cases); i++) {
		c = &error_cases[i];
		memset(out, 0, sizeof(out));
		n = http_format_error(out, sizeof(out), c->status, c->extra,
		    c->reason);
		cr_expect(n > 0 && (size_t)n < sizeof(out), "%s: returned %d",
		    c->desc, n);
		if (n <= 0 || (size_t)n >= sizeof(out))
			continue;
		cr_expect(strncmp(out, c->status_line, strlen(c->status_line))
		    == 0, "%s: status line in '%.*s'", c->desc, n, out);
		hdrend = memmem(out, n, "\r\n\r\n", 4);
		cr_expect(hdrend != NULL, "%s: no blank line", c->desc);
		if (hdrend == NULL)
			continue;
		body = hdrend + 4;
		bodylen = out + n - body;
		cr_expect(bodylen == strlen(c->reason) + 1 &&
		    memcmp(body, c->reason, bodylen - 1) == 0 &&
		    body[bodylen - 1] == '\n', "%s: body '%.*s'", c->desc,
		    (int)bodylen, body);
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
	char out[512];
	int full, n;
	size_t sz;

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
	int path_len;	/* -1: strlen */
	const char *name;
	size_t outlen;
	int ret;
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
};

Test(http_query_param, table)
{
	const struct query_case *c;
	char out[128];
	size_t i, len;
	int ret;

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
