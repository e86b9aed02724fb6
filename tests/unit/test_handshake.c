/* Unit tests for the RFC 6455 section 4 server handshake (src/handshake.c). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, strcasestr, strndup */
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "handshake.h"
#include "http.h"
#include "test_helpers.h"

/* A case leaves the fields it does not need zero: one line per case. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* RFC 6455 1.3's example key and its accept value. */
#define KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* Request lines and headers a case starts from. */
#define RL "GET /websockify HTTP/1.1\r\n"
#define HOST "Host: localhost:6080\r\n"
#define UPG "Upgrade: websocket\r\n"
#define CONN "Connection: Upgrade\r\n"
#define SKEY "Sec-WebSocket-Key: " KEY "\r\n"
#define VER "Sec-WebSocket-Version: 13\r\n"
#define END "\r\n"
#define VALID RL HOST UPG CONN SKEY VER

Test(handshake_accept_key, rfc_examples)
{
	static const char *cases[][3] = {
		{ KEY, ACCEPT, "RFC 6455 1.3" },
		{ "x3JJHMbDL1EzLkh9GBhXDw==", "HSmrc0sMlYUkAGmm5OPpG2HaGWk=",
		    "Wikipedia example" },
		{ "AQIDBAUGBwgJCgsMDQ4PEA==", "C/0nmHhBztSRGR1CwL6Tf4ZjwpY=",
		    "bytes 1..16" },
	};
	char   out[HANDSHAKE_ACCEPT_LEN + 1];
	size_t i;

	for (i = 0; i < NELEM(cases); i++) {
		memset(out, 'Z', sizeof(out));
		cr_expect_eq(handshake_accept_key(cases[i][0],
				 strlen(cases[i][0]), out),
		    0, "%s: failed", cases[i][2]);
		cr_expect(memchr(out, '\0', sizeof(out)) != NULL &&
			strcmp(out, cases[i][1]) == 0,
		    "%s: got '%.*s', want '%s'", cases[i][2],
		    HANDSHAKE_ACCEPT_LEN, out, cases[i][1]);
	}
}

/* key_len, not a NUL, ends the key. */
Test(handshake_accept_key, uses_key_len)
{
	char out[HANDSHAKE_ACCEPT_LEN + 1];

	cr_assert_eq(
	    handshake_accept_key(KEY "trailing junk", strlen(KEY), out), 0);
	cr_expect_str_eq(out, ACCEPT);
}

/*
 * handshake_check on requests parsed by http_parse_request, one rule of
 * RFC 6455 4.2.1 at a time, each from the accepting and the refusing
 * side.  status -1: http_parse_request already refuses the head.
 * proto: the protocol expected with 101 (NULL: no header).  extra: a
 * string the extra headers must hold (NULL: not checked).  accept: the
 * Sec-WebSocket-Accept expected with 101 (NULL: not checked).
 */
struct check_case {
	const char *desc;
	const char *req;
	int	    status;
	const char *proto;
	const char *extra;
	const char *accept;
};

#define WITH_KEY(k) RL HOST UPG CONN "Sec-WebSocket-Key: " k "\r\n" VER END
#define WITH_VER(v) RL HOST UPG CONN SKEY "Sec-WebSocket-Version:" v "\r\n" END
#define WITH_PROTO(p) VALID "Sec-WebSocket-Protocol:" p "\r\n" END

/* clang-format off */
static const struct check_case check_cases[] = {
	{ "valid request", VALID END, 101, NULL, NULL, ACCEPT },
	{ "headers in another order", RL SKEY VER CONN UPG HOST END, 101,
	    NULL, NULL, ACCEPT },
	{ "header names in any case", "GET / HTTP/1.1\r\nhost: x\r\n"
	    "UPGRADE: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: "
	    KEY "\r\nSEC-WEBSOCKET-VERSION: 13\r\n" END, 101, NULL, NULL,
	    ACCEPT },

	/* Method: exactly GET (RFC 9110 9.1; RFC 6455 4.1 item 2). */
	{ "method GET accepted", VALID END, 101 },
	{ "method get refused", "get /websockify HTTP/1.1\r\n" HOST UPG CONN
	    SKEY VER END, 405, NULL, "Allow: GET" },
	{ "method Get refused", "Get /websockify HTTP/1.1\r\n" HOST UPG CONN
	    SKEY VER END, 405, NULL, "Allow: GET" },
	{ "method POST refused (RFC 9110 15.5.6: Allow)",
	    "POST /websockify HTTP/1.1\r\n" HOST UPG CONN SKEY VER END, 405,
	    NULL, "Allow: GET" },
	{ "method HEAD refused", "HEAD /websockify HTTP/1.1\r\n" HOST UPG CONN
	    SKEY VER END, 405 },
	{ "method GETS refused", "GETS /websockify HTTP/1.1\r\n" HOST UPG CONN
	    SKEY VER END, 405 },

	/* HTTP version: 1.1 or later; "HTTP" in upper case (RFC 9112 2.3). */
	{ "HTTP/1.1 accepted", VALID END, 101 },
	{ "HTTP/1.2 accepted (a later minor version)",
	    "GET /websockify HTTP/1.2\r\n" HOST UPG CONN SKEY VER END, 101 },
	{ "HTTP/1.0 refused", "GET /websockify HTTP/1.0\r\n" HOST UPG CONN
	    SKEY VER END, 400 },
	{ "http/1.1 refused by the parser", "GET /websockify http/1.1\r\n"
	    HOST UPG CONN SKEY VER END, -1 },
	{ "Http/1.1 refused by the parser", "GET /websockify Http/1.1\r\n"
	    HOST UPG CONN SKEY VER END, -1 },
	{ "HTTP/2.0 refused by the parser", "GET /websockify HTTP/2.0\r\n"
	    HOST UPG CONN SKEY VER END, -1 },

	/* Host: exactly one (RFC 9112 3.2). */
	{ "Host present accepted", VALID END, 101 },
	{ "Host empty accepted (RFC 9112 3.2)", RL "Host:\r\n" UPG CONN SKEY
	    VER END, 101 },
	{ "Host missing refused", RL UPG CONN SKEY VER END, 400 },
	{ "Host twice refused", RL HOST UPG CONN SKEY VER "Host: evil\r\n" END,
	    400 },
	{ "Host twice, same value, refused", RL HOST HOST UPG CONN SKEY VER
	    END, 400 },

	/* Upgrade: lists "websocket", any case (4.2.1 item 3). */
	{ "upgrade token websocket accepted", VALID END, 101 },
	{ "upgrade token WebSocket accepted", RL HOST "Upgrade: WebSocket\r\n"
	    CONN SKEY VER END, 101 },
	{ "upgrade token WEBSOCKET accepted", RL HOST "Upgrade: WEBSOCKET\r\n"
	    CONN SKEY VER END, 101 },
	{ "upgrade token in a list accepted", RL HOST
	    "Upgrade: h2c, websocket\r\n" CONN SKEY VER END, 101 },
	{ "upgrade token on a second line accepted", RL HOST
	    "Upgrade: h2c\r\nUpgrade: websocket\r\n" CONN SKEY VER END, 101 },
	{ "Upgrade missing refused", RL HOST CONN SKEY VER END, 400 },
	{ "upgrade token h2c refused", RL HOST "Upgrade: h2c\r\n" CONN SKEY
	    VER END, 400 },
	{ "upgrade token websockets refused", RL HOST
	    "Upgrade: websockets\r\n" CONN SKEY VER END, 400 },
	{ "upgrade token websocket/13 refused", RL HOST
	    "Upgrade: websocket/13\r\n" CONN SKEY VER END, 400 },

	/* Connection: lists "upgrade", any case (4.2.1 item 4). */
	{ "connection token Upgrade accepted", VALID END, 101 },
	{ "connection token upgrade accepted", RL HOST UPG
	    "Connection: upgrade\r\n" SKEY VER END, 101 },
	{ "connection token UPGRADE accepted", RL HOST UPG
	    "Connection: UPGRADE\r\n" SKEY VER END, 101 },
	{ "connection keep-alive, Upgrade accepted (Firefox)", RL HOST UPG
	    "Connection: keep-alive, Upgrade\r\n" SKEY VER END, 101 },
	{ "connection keep-alive,upgrade accepted", RL HOST UPG
	    "Connection: keep-alive,upgrade\r\n" SKEY VER END, 101 },
	{ "connection split over two lines accepted", RL HOST UPG
	    "Connection: keep-alive\r\nConnection: Upgrade\r\n" SKEY VER END,
	    101 },
	{ "connection keep-alive refused", RL HOST UPG
	    "Connection: keep-alive\r\n" SKEY VER END, 400 },
	{ "connection token Upgrades refused", RL HOST UPG
	    "Connection: Upgrades\r\n" SKEY VER END, 400 },
	{ "connection token upgrade-insecure refused", RL HOST UPG
	    "Connection: upgrade-insecure\r\n" SKEY VER END, 400 },
	{ "Connection missing refused", RL HOST UPG SKEY VER END, 400 },

	/* Sec-WebSocket-Version: one line, exactly 13 (item 6; 4.2.2). */
	{ "version 13 accepted", WITH_VER(" 13"), 101 },
	{ "version 13 with spaces accepted", WITH_VER("   13  "), 101 },
	{ "version 13 with tabs accepted", WITH_VER("\t13\t"), 101 },
	{ "version 8 refused", WITH_VER(" 8"), 426, NULL,
	    "Sec-WebSocket-Version: 13" },
	{ "version 14 refused", WITH_VER(" 14"), 426, NULL,
	    "Sec-WebSocket-Version: 13" },
	{ "version 130 refused", WITH_VER(" 130"), 426, NULL,
	    "Sec-WebSocket-Version: 13" },
	{ "version 013 refused", WITH_VER(" 013"), 426, NULL,
	    "Sec-WebSocket-Version: 13" },
	{ "version 1 3 refused", WITH_VER(" 1 3"), 426, NULL,
	    "Sec-WebSocket-Version: 13" },
	{ "version 13, 8 refused", WITH_VER(" 13, 8"), 426, NULL,
	    "Sec-WebSocket-Version: 13" },
	{ "version empty refused", WITH_VER(""), 426, NULL,
	    "Sec-WebSocket-Version: 13" },
	{ "version twice refused (11.3.5)", RL HOST UPG CONN SKEY VER VER END,
	    400 },
	{ "version 13 and 8 on two lines refused", RL HOST UPG CONN SKEY VER
	    "Sec-WebSocket-Version: 8\r\n" END, 400 },

	/* Sec-WebSocket-Key: one line, base64 of 16 bytes, taken as sent
	 * (item 5; 11.3.1): its case changes the accept value. */
	{ "key accepted", WITH_KEY(KEY), 101, NULL, NULL, ACCEPT },
	{ "key with blanks around accepted, blanks not hashed",
	    RL HOST UPG CONN "Sec-WebSocket-Key: \t " KEY " \t\r\n" VER END,
	    101, NULL, NULL, ACCEPT },
	{ "key in upper case hashed as sent", WITH_KEY(
	    "DGHLIIBHBXBSZSBUB25JZQ=="), 101, NULL, NULL,
	    "ZZuxplfCS+BoiFjI06UUHpxdSx4=" },
	{ "key with bits left in the pad hashed as sent", WITH_KEY(
	    "dGhlIHNhbXBsZSBub25jZR=="), 101, NULL, NULL,
	    "Zgw8jYXtqX5qJr7MJ1Q/MqzeSRI=" },
	{ "key of 16 other bytes accepted",
	    WITH_KEY("QUFBQUFBQUFBQUFBQUFBQQ=="), 101 },
	{ "key missing refused", RL HOST UPG CONN VER END, 400 },
	{ "key empty refused", RL HOST UPG CONN "Sec-WebSocket-Key:\r\n" VER
	    END, 400 },
	{ "key twice refused", RL HOST UPG CONN SKEY SKEY VER END, 400 },
	{ "key twice, second bad, refused", RL HOST UPG CONN SKEY
	    "Sec-WebSocket-Key: x\r\n" VER END, 400 },
	{ "key of 15 bytes refused", WITH_KEY("QUFBQUFBQUFBQUFBQUFB"), 400 },
	{ "key of 17 bytes refused", WITH_KEY("QUFBQUFBQUFBQUFBQUFBQUE="),
	    400 },
	{ "key not base64 refused", WITH_KEY("!!!!!!!!!!!!!!!!!!!!!!=="), 400 },
	{ "key 24 characters without padding refused",
	    WITH_KEY("QUFBQUFBQUFBQUFBQUFBQUFB"), 400 },
	{ "key with padding in the middle refused",
	    WITH_KEY("QUFBQUFBQUFB==FBQUFBQQ=="), 400 },
	{ "key with a blank inside refused",
	    WITH_KEY("dGhlIHNhbXBs ZSBub25jZQ=="), 400 },
	{ "key in base64url refused", WITH_KEY("_-_-_-_-_-_-_-_-_-_-_w=="),
	    400 },
	{ "key without its padding refused",
	    WITH_KEY("dGhlIHNhbXBsZSBub25jZQ"), 400 },

	/* Sec-WebSocket-Protocol: names compare exactly (11.3.4, RFC
	 * 7936); repeated lines are one list; echoed as offered. */
	{ "protocol binary chosen", WITH_PROTO(" binary"), 101, "binary" },
	{ "protocol binary among others chosen",
	    WITH_PROTO(" base64, binary"), 101, "binary" },
	{ "protocol binary first chosen", WITH_PROTO(" binary, base64"), 101,
	    "binary" },
	{ "protocol list with blanks chosen", WITH_PROTO("  chat , binary "),
	    101, "binary" },
	{ "protocol list without blanks chosen", WITH_PROTO("chat,binary"),
	    101, "binary" },
	{ "protocol on a second line chosen", VALID
	    "Sec-WebSocket-Protocol: base64\r\n"
	    "Sec-WebSocket-Protocol: binary\r\n" END, 101, "binary" },
	{ "protocol header name in lower case", VALID
	    "sec-websocket-protocol: binary\r\n" END, 101, "binary" },
	{ "protocol Binary and binary: binary chosen",
	    WITH_PROTO(" Binary, binary"), 101, "binary" },
	{ "protocol Binary not chosen", WITH_PROTO(" Binary"), 400 },
	{ "protocol BINARY not chosen", WITH_PROTO(" BINARY"), 400 },
	{ "protocol binaryx not chosen", WITH_PROTO(" binaryx"), 400 },
	{ "protocol bin not chosen", WITH_PROTO(" bin"), 400 },
	{ "protocol base64 only refused", WITH_PROTO(" base64"), 400 },
	{ "protocol header empty refused", WITH_PROTO(""), 400 },
	{ "protocol absent: no header in the 101", VALID END, 101, NULL },
};
/* clang-format on */

/* Parse text (which must be a whole head) and run handshake_check. */
static int
run_check(const char *text, struct http_request *req,
    struct handshake_result *res)
{
	int n;

	n = http_parse_request(text, strlen(text), req);
	cr_assert_eq(n, (int)strlen(text), "request did not parse (%d): %s", n,
	    text);
	memset(res, 0, sizeof(*res));
	return handshake_check(req, res);
}

/* What a refused check must carry: a reason, and the extra headers. */
static void
check_refusal(const struct check_case *c, const struct handshake_result *res)
{
	cr_expect(res->reason != NULL && res->reason[0] != '\0',
	    "%s: %d without a reason", c->desc, res->status);
	if (c->extra != NULL)
		cr_expect(res->extra_headers != NULL &&
			strstr(res->extra_headers, c->extra) != NULL,
		    "%s: extra headers '%s' lack '%s'", c->desc,
		    res->extra_headers ? res->extra_headers : "(null)",
		    c->extra);
}

/* What an accepted check must carry: the protocol and the accept. */
static void
check_accepted(const struct check_case *c, const struct handshake_result *res)
{
	if (c->proto == NULL)
		cr_expect(res->protocol == NULL, "%s: protocol '%s'", c->desc,
		    res->protocol);
	else
		cr_expect(res->protocol != NULL &&
			strcmp(res->protocol, c->proto) == 0,
		    "%s: protocol '%s', want '%s'", c->desc,
		    res->protocol ? res->protocol : "(null)", c->proto);
	if (c->accept != NULL)
		cr_expect_str_eq(res->accept, c->accept,
		    "%s: accept '%s', "
		    "want '%s'",
		    c->desc, res->accept, c->accept);
}

Test(handshake_check, table)
{
	const struct check_case *c;
	struct http_request	 req;
	struct handshake_result	 res;
	size_t			 i;
	int			 n, st;

	for (i = 0; i < NELEM(check_cases); i++) {
		c = &check_cases[i];
		n = http_parse_request(c->req, strlen(c->req), &req);
		if (c->status == -1) {
			cr_expect_eq(n, -1, "%s: parser returned %d", c->desc,
			    n);
			continue;
		}
		cr_assert_eq(n, (int)strlen(c->req), "%s: did not parse (%d)",
		    c->desc, n);
		memset(&res, 0x5a, sizeof(res));
		st = handshake_check(&req, &res);
		cr_expect_eq(st, c->status, "%s: status %d, want %d (%s)",
		    c->desc, st, c->status,
		    st != 101 && res.reason ? res.reason : "");
		cr_expect_eq(res.status, st, "%s: res.status %d != return %d",
		    c->desc, res.status, st);
		if (st != c->status)
			continue;
		if (st == 101)
			check_accepted(c, &res);
		else
			check_refusal(c, &res);
	}
}

/* The accept value of the RFC's key, from a full check. */
Test(handshake_check, accept_value)
{
	struct http_request	req;
	struct handshake_result res;

	cr_assert_eq(run_check(VALID END, &req, &res), 101);
	cr_expect_str_eq(res.accept, ACCEPT);
}

/* 426 extra headers are whole header lines ending in CRLF. */
Test(handshake_check, version_extra_headers_are_lines)
{
	struct http_request	req;
	struct handshake_result res;
	size_t			n;

	cr_assert_eq(run_check(RL HOST UPG CONN SKEY
			 "Sec-WebSocket-Version: 8\r\n" END,
			 &req, &res),
	    426);
	cr_assert(res.extra_headers != NULL);
	n = strlen(res.extra_headers);
	cr_expect(n >= 2 && strcmp(res.extra_headers + n - 2, "\r\n") == 0,
	    "extra headers '%s' do not end in CRLF", res.extra_headers);
	cr_expect(strncasecmp(res.extra_headers,
		      "Sec-WebSocket-Version:", 22) == 0,
	    "extra headers '%s'", res.extra_headers);
}

/*
 * Version missing: RFC 6455 4.2.1 calls the request invalid (400 is the
 * example); 4.2.2 asks for 426 with Sec-WebSocket-Version on a version
 * the server does not speak.  Either is right; the result is logged.
 */
Test(handshake_check, version_missing)
{
	struct http_request	req;
	struct handshake_result res;
	int			st;

	st = run_check(RL HOST UPG CONN SKEY END, &req, &res);
	cr_log_info("version missing: handshake_check returned %d (%s)", st,
	    res.reason ? res.reason : "");
	cr_expect(st == 400 || st == 426, "version missing: status %d", st);
	if (st == 426)
		cr_expect(res.extra_headers != NULL &&
			strstr(res.extra_headers, "Sec-WebSocket-Version: 13"),
		    "426 without Sec-WebSocket-Version: 13");
}

/* handshake_is_upgrade: only Upgrade: websocket, any case. */
struct upgrade_case {
	const char *desc;
	const char *req;
	int	    want;
};

static const struct upgrade_case upgrade_cases[] = {
	{ "full upgrade request", VALID END, 1 },
	{ "Upgrade: websocket alone", RL HOST UPG END, 1 },
	{ "Upgrade: WebSocket", RL HOST "Upgrade: WebSocket\r\n" END, 1 },
	{ "Upgrade: WEBSOCKET", RL HOST "upgrade: WEBSOCKET\r\n" END, 1 },
	{ "plain GET for a file", "GET /vnc.html HTTP/1.1\r\n" HOST END, 0 },
	{ "Upgrade: h2c", RL HOST "Upgrade: h2c\r\n" CONN END, 0 },
	{ "Upgrade: websockets", RL HOST "Upgrade: websockets\r\n" END, 0 },
	{ "Upgrade empty", RL HOST "Upgrade:\r\n" END, 0 },
};

Test(handshake_is_upgrade, table)
{
	struct http_request req;
	size_t		    i;
	int		    n, got;

	for (i = 0; i < NELEM(upgrade_cases); i++) {
		n = http_parse_request(upgrade_cases[i].req,
		    strlen(upgrade_cases[i].req), &req);
		cr_assert_eq(n, (int)strlen(upgrade_cases[i].req),
		    "%s: did not parse", upgrade_cases[i].desc);
		got = handshake_is_upgrade(&req);
		cr_expect_eq(!!got, upgrade_cases[i].want, "%s: got %d",
		    upgrade_cases[i].desc, got);
	}
}

/* Header values handshake_check reads (key, protocols) are not NUL
 * terminated: every case again with the head ending at a page edge and
 * the key or protocol as the last header before the blank line. */
Test(handshake_check, page_edge)
{
	static const char *tails[] = {
		"Sec-WebSocket-Key: " KEY,
		"Sec-WebSocket-Key: QUFBQUFBQUFBQUFBQUFB",
		"Sec-WebSocket-Key: QUFBQUFBQUFBQUFBQUFBQUE=",
		"Sec-WebSocket-Protocol: base64, binary",
		"Sec-WebSocket-Protocol: base64",
		"Sec-WebSocket-Version: 13",
	};
	static const int	want[] = { 101, 400, 400, 101, 400, 101 };
	struct http_request	req;
	struct handshake_result res;
	char			text[512], *end = test_guard_end(sizeof(text));
	size_t			i;
	int			len, st;

	for (i = 0; i < NELEM(tails); i++) {
		/* the tail header replaces the one it names */
		if (i < 3)
			len = snprintf(text, sizeof(text),
			    RL HOST UPG CONN VER "%s\r\n\r\n", tails[i]);
		else if (i < 5)
			len = snprintf(text, sizeof(text), VALID "%s\r\n\r\n",
			    tails[i]);
		else
			len = snprintf(text, sizeof(text),
			    RL HOST UPG CONN SKEY "%s\r\n\r\n", tails[i]);
		memcpy(end - len, text, len);
		cr_assert_eq(http_parse_request(end - len, len, &req), len);
		memset(&res, 0, sizeof(res));
		st = handshake_check(&req, &res);
		cr_expect_eq(st, want[i], "'%s' at page edge: %d, want %d",
		    tails[i], st, want[i]);
	}
	test_guard_free(end, sizeof(text));
}

/* handshake_format_101: the response that opens the connection. */
Test(handshake_format_101, without_protocol)
{
	struct http_request	req;
	struct handshake_result res;
	char			out[512];
	int			n;

	cr_assert_eq(run_check(VALID END, &req, &res), 101);
	memset(out, 0, sizeof(out));
	n = handshake_format_101(out, sizeof(out), &res);
	cr_assert(n > 0 && (size_t)n < sizeof(out), "returned %d", n);
	cr_expect(strncmp(out, "HTTP/1.1 101 Switching Protocols\r\n", 34) ==
		0,
	    "status line: '%.*s'", n, out);
	cr_expect(strcasestr(out, "\r\nUpgrade: websocket\r\n") != NULL,
	    "no Upgrade: websocket in '%s'", out);
	cr_expect(strcasestr(out, "\r\nConnection: Upgrade\r\n") != NULL,
	    "no Connection: Upgrade in '%s'", out);
	cr_expect(strstr(out, "\r\nSec-WebSocket-Accept: " ACCEPT "\r\n") !=
		NULL,
	    "no Sec-WebSocket-Accept in '%s'", out);
	cr_expect(strcasestr(out, "Sec-WebSocket-Protocol") == NULL,
	    "protocol line without a protocol: '%s'", out);
	cr_expect(n >= 4 && memcmp(out + n - 4, "\r\n\r\n", 4) == 0,
	    "does not end with a blank line: '%s'", out);
	cr_expect(memmem(out, n, "\r\n\r\n", 4) == out + n - 4,
	    "blank line before the end: '%s'", out);
}

Test(handshake_format_101, with_protocol)
{
	struct http_request	req;
	struct handshake_result res;
	char			out[512];
	int			n;

	cr_assert_eq(run_check(VALID "Sec-WebSocket-Protocol: base64, binary"
				     "\r\n" END,
			 &req, &res),
	    101);
	memset(out, 0, sizeof(out));
	n = handshake_format_101(out, sizeof(out), &res);
	cr_assert(n > 0 && (size_t)n < sizeof(out), "returned %d", n);
	cr_expect(strncmp(out, "HTTP/1.1 101 Switching Protocols\r\n", 34) ==
		0,
	    "status line: '%.*s'", n, out);
	cr_expect(strstr(out, "\r\nSec-WebSocket-Protocol: binary\r\n") !=
		NULL,
	    "no Sec-WebSocket-Protocol: binary in '%s'", out);
	cr_expect(strstr(out, "\r\nSec-WebSocket-Accept: " ACCEPT "\r\n") !=
		NULL,
	    "no Sec-WebSocket-Accept in '%s'", out);
	cr_expect(n >= 4 && memcmp(out + n - 4, "\r\n\r\n", 4) == 0,
	    "does not end with a blank line: '%s'", out);
	cr_expect(memmem(out, n, "\r\n\r\n", 4) == out + n - 4,
	    "blank line before the end: '%s'", out);
}

/* Too small a buffer: -1, and nothing written past it. */
Test(handshake_format_101, too_small)
{
	struct http_request	req;
	struct handshake_result res;
	char			out[512];
	int			full, n;
	size_t			sz;

	cr_assert_eq(run_check(VALID "Sec-WebSocket-Protocol: binary\r\n" END,
			 &req, &res),
	    101);
	full = handshake_format_101(out, sizeof(out), &res);
	cr_assert(full > 0);
	for (sz = 0; sz < (size_t)full; sz++) {
		memset(out, 0x5a, sizeof(out));
		n = handshake_format_101(out, sz, &res);
		cr_expect_eq(n, -1, "outlen %zu (< %d): returned %d", sz, full,
		    n);
		cr_expect(out[sz] == 0x5a, "outlen %zu: wrote past it", sz);
	}
	n = handshake_format_101(out, full + 1, &res);
	cr_expect_eq(n, full, "outlen %d: returned %d", full + 1, n);
}
