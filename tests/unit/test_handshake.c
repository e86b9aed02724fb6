/* Unit tests for the RFC 6455 section 4 server handshake (src/handshake.c). */
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

#include "handshake.h"
#include "http.h"

/* A case leaves the fields it does not need zero: one line per case. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

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
	char out[HANDSHAKE_ACCEPT_LEN + 1];
	size_t i;

	for (i = 0; i < NELEM(cases); i++) {
		memset(out, 'Z', sizeof(out));
		cr_expect_eq(handshake_accept_key(cases[i][0],
		    strlen(cases[i][0]), out), 0, "%s: failed", cases[i][2]);
		cr_expect(memchr(out, '\0', sizeof(out)) != NULL &&
		    strcmp(out, cases[i][1]) == 0, "%s: got '%.*s', want '%s'",
		    cases[i][2], HANDSHAKE_ACCEPT_LEN, out, cases[i][1]);
	}
}

/* key_len, not a NUL, ends the key. */
Test(handshake_accept_key, uses_key_len)
{
	char out[HANDSHAKE_ACCEPT_LEN + 1];

	cr_assert_eq(handshake_accept_key(KEY "trailing junk", strlen(KEY),
	    out), 0);
	cr_expect_str_eq(out, ACCEPT);
}

/*
 * handshake_check on requests parsed by http_parse_request.  proto: the
 * protocol expected with 101 (NULL: no header).  extra: a string the
 * extra headers must hold (NULL: not checked).
 */
struct check_case {
	const char *desc;
	const char *req;
	int status;
	const char *proto;
	const char *extra;
};

static const struct check_case check_cases[] = {
	{ "valid request", VALID END, 101, NULL },
	{ "headers in another order", RL SKEY VER CONN UPG HOST END, 101,
	    NULL },
	{ "protocol binary", VALID "Sec-WebSocket-Protocol: binary\r\n" END,
	    101, "binary" },
	{ "protocols base64, binary",
	    VALID "Sec-WebSocket-Protocol: base64, binary\r\n" END, 101,
	    "binary" },
	{ "protocols ' chat , binary '",
	    VALID "Sec-WebSocket-Protocol:  chat , binary \r\n" END, 101,
	    "binary" },
	{ "protocols binary, base64",
	    VALID "Sec-WebSocket-Protocol: binary, base64\r\n" END, 101,
	    "binary" },
	{ "protocol base64 only",
	    VALID "Sec-WebSocket-Protocol: base64\r\n" END, 400 },
	{ "method POST (RFC 9110 15.5.6: Allow)",
	    "POST /websockify HTTP/1.1\r\n" HOST UPG CONN SKEY VER END, 405,
	    NULL, "Allow: GET" },
	{ "method HEAD", "HEAD /websockify HTTP/1.1\r\n" HOST UPG CONN SKEY VER
	    END, 405 },
	{ "HTTP/1.0", "GET /websockify HTTP/1.0\r\n" HOST UPG CONN SKEY VER
	    END, 400 },
	{ "Host missing", RL UPG CONN SKEY VER END, 400 },
	{ "Upgrade missing", RL HOST CONN SKEY VER END, 400 },
	{ "Upgrade: h2c", RL HOST "Upgrade: h2c\r\n" CONN SKEY VER END, 400 },
	{ "Upgrade: WebSocket", RL HOST "Upgrade: WebSocket\r\n" CONN SKEY VER
	    END, 101 },
	{ "Upgrade: WEBSOCKET", RL HOST "Upgrade: WEBSOCKET\r\n" CONN SKEY VER
	    END, 101 },
	{ "Connection: keep-alive, Upgrade (Firefox)",
	    RL HOST UPG "Connection: keep-alive, Upgrade\r\n" SKEY VER END,
	    101 },
	{ "Connection: upgrade lower case",
	    RL HOST UPG "Connection: upgrade\r\n" SKEY VER END, 101 },
	{ "Connection split over two lines", RL HOST UPG
	    "Connection: keep-alive\r\nConnection: Upgrade\r\n" SKEY VER END,
	    101 },
	{ "Connection: keep-alive", RL HOST UPG "Connection: keep-alive\r\n"
	    SKEY VER END, 400 },
	{ "Connection: Upgrades", RL HOST UPG "Connection: Upgrades\r\n"
	    SKEY VER END, 400 },
	{ "Connection missing", RL HOST UPG SKEY VER END, 400 },
	{ "key missing", RL HOST UPG CONN VER END, 400 },
	{ "key empty", RL HOST UPG CONN "Sec-WebSocket-Key:\r\n" VER END,
	    400 },
	{ "key of 15 bytes", RL HOST UPG CONN
	    "Sec-WebSocket-Key: QUFBQUFBQUFBQUFBQUFB\r\n" VER END, 400 },
	{ "key of 17 bytes", RL HOST UPG CONN
	    "Sec-WebSocket-Key: QUFBQUFBQUFBQUFBQUFBQUE=\r\n" VER END, 400 },
	{ "key of 16 bytes, other bytes", RL HOST UPG CONN
	    "Sec-WebSocket-Key: QUFBQUFBQUFBQUFBQUFBQQ==\r\n" VER END, 101 },
	{ "key not base64", RL HOST UPG CONN
	    "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==\r\n" VER END, 400 },
	{ "key 24 chars without padding", RL HOST UPG CONN
	    "Sec-WebSocket-Key: QUFBQUFBQUFBQUFBQUFBQUFB\r\n" VER END, 400 },
	{ "key with padding in the middle", RL HOST UPG CONN
	    "Sec-WebSocket-Key: QUFBQUFBQUFB==FBQUFBQQ==\r\n" VER END, 400 },
	{ "version 8", RL HOST UPG CONN SKEY "Sec-WebSocket-Version: 8\r\n" END,
	    426, NULL, "Sec-WebSocket-Version: 13" },
	{ "version 14", RL HOST UPG CONN SKEY
	    "Sec-WebSocket-Version: 14\r\n" END, 426, NULL,
	    "Sec-WebSocket-Version: 13" },
	{ "version 130", RL HOST UPG CONN SKEY
	    "Sec-WebSocket-Version: 130\r\n" END, 426, NULL,
	    "Sec-WebSocket-Version: 13" },
};

/* Parse text (which must be a whole head) and run handshake_check. */
static int
run_check(const char *text, struct http_request *req,
    struct handshake_result *res)
{
	int n;

	n = http_parse_request(text, strlen(text), req);
	cr_assert_eq(n, (int)strlen(text), "request did not parse (%d): %s",
	    n, text);
	memset(res, 0, sizeof(*res));
	return handshake_check(req, res);
}

Test(handshake_check, table)
{
	const struct check_case *c;
	struct http_request req;
	struct handshake_result res;
	size_t i;
	int st;

	for (i = 0; i < NELEM(check_cases); i++) {
		c = &check_cases[i];
		st = run_check(c->req, &req, &res);
		cr_expect_eq(st, c->status, "%s: status %d, want %d (%s)",
		    c->desc, st, c->status, res.reason ? res.reason : "");
		cr_expect_eq(res.status, st, "%s: res.status %d != return %d",
		    c->desc, res.status, st);
		if (st != c->status)
			continue;
		if (st != 101) {
			cr_expect(res.reason != NULL && res.reason[0] != '\0',
			    "%s: %d without a reason", c->desc, st);
			if (c->extra != NULL)
				cr_expect(res.extra_headers != NULL &&
				    strstr(res.extra_headers, c->extra) !=
				    NULL, "%s: extra headers '%s' lack '%s'",
				    c->desc, res.extra_headers ?
				    res.extra_headers : "(null)", c->extra);
			continue;
		}
		if (c->proto == NULL)
			cr_expect(res.protocol == NULL, "%s: protocol '%s'",
			    c->desc, res.protocol);
		else
			cr_expect(res.protocol != NULL &&
			    strcmp(res.protocol, c->proto) == 0,
			    "%s: protocol '%s', want '%s'", c->desc,
			    res.protocol ? res.protocol : "(null)", c->proto);
	}
}

/* The accept value of the RFC's key, from a full check. */
Test(handshake_check, accept_value)
{
	struct http_request req;
	struct handshake_result res;

	cr_assert_eq(run_check(VALID END, &req, &res), 101);
	cr_expect_str_eq(res.accept, ACCEPT);
}

/* 426 extra headers are whole header lines ending in CRLF. */
Test(handshake_check, version_extra_headers_are_lines)
{
	struct http_request req;
	struct handshake_result res;
	size_t n;

	cr_assert_eq(run_check(RL HOST UPG CONN SKEY
	    "Sec-WebSocket-Version: 8\r\n" END, &req, &res), 426);
	cr_assert(res.extra_headers != NULL);
	n = strlen(res.extra_headers);
	cr_expect(n >= 2 && strcmp(res.extra_headers + n - 2, "\r\n") == 0,
	    "extra headers '%s' do not end in CRLF", res.extra_headers);
	cr_expect(strncasecmp(res.extra_headers, "Sec-WebSocket-Version:", 22)
	    == 0, "extra headers '%s'", res.extra_headers);
}

/*
 * Version missing: RFC 6455 4.2.1 calls the request invalid (400 is the
 * example); 4.2.2 asks for 426 with Sec-WebSocket-Version on a version
 * the server does not speak.  Either is right; the result is logged.
 */
Test(handshake_check, version_missing)
{
	struct http_request req;
	struct handshake_result res;
	int st;

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
	int want;
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
	size_t i;
	int n, got;

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
	static const int want[] = { 101, 400, 400, 101, 400, 101 };
	struct http_request req;
	struct handshake_result res;
	char text[512], *end = guard_page_end();
	size_t i;
	int len, st;

	for (i = 0; i < NELEM(tails); i++) {
		/* the tail header replaces the one it names */
		if (i < 3)
			len = snprintf(text, sizeof(text), RL HOST UPG CONN VER
			    "%s\r\n\r\n", tails[i]);
		else if (i < 5)
			len = snprintf(text, sizeof(text), VALID "%s\r\n\r\n",
			    tails[i]);
		else
			len = snprintf(text, sizeof(text), RL HOST UPG CONN SKEY
			    "%s\r\n\r\n", tails[i]);
		memcpy(end - len, text, len);
		cr_assert_eq(http_parse_request(end - len, len, &req), len);
		memset(&res, 0, sizeof(res));
		st = handshake_check(&req, &res);
		cr_expect_eq(st, want[i], "'%s' at page edge: %d, want %d",
		    tails[i], st, want[i]);
	}
}

/* handshake_format_101: the response that opens the connection. */
Test(handshake_format_101, without_protocol)
{
	struct http_request req;
	struct handshake_result res;
	char out[512];
	int n;

	cr_assert_eq(run_check(VALID END, &req, &res), 101);
	memset(out, 0, sizeof(out));
	n = handshake_format_101(out, sizeof(out), &res);
	cr_assert(n > 0 && (size_t)n < sizeof(out), "returned %d", n);
	cr_expect(strncmp(out, "HTTP/1.1 101 Switching Protocols\r\n", 34) == 0,
	    "status line: '%.*s'", n, out);
	cr_expect(strcasestr(out, "\r\nUpgrade: websocket\r\n") != NULL,
	    "no Upgrade: websocket in '%s'", out);
	cr_expect(strcasestr(out, "\r\nConnection: Upgrade\r\n") != NULL,
	    "no Connection: Upgrade in '%s'", out);
	cr_expect(strstr(out, "\r\nSec-WebSocket-Accept: " ACCEPT "\r\n") !=
	    NULL, "no Sec-WebSocket-Accept in '%s'", out);
	cr_expect(strcasestr(out, "Sec-WebSocket-Protocol") == NULL,
	    "protocol line without a protocol: '%s'", out);
	cr_expect(n >= 4 && memcmp(out + n - 4, "\r\n\r\n", 4) == 0,
	    "does not end with a blank line: '%s'", out);
	cr_expect(memmem(out, n, "\r\n\r\n", 4) == out + n - 4,
	    "blank line before the end: '%s'", out);
}

Test(handshake_format_101, with_protocol)
{
	struct http_request req;
	struct handshake_result res;
	char out[512];
	int n;

	cr_assert_eq(run_check(VALID "Sec-WebSocket-Protocol: base64, binary"
	    "\r\n" END, &req, &res), 101);
	memset(out, 0, sizeof(out));
	n = handshake_format_101(out, sizeof(out), &res);
	cr_assert(n > 0 && (size_t)n < sizeof(out), "returned %d", n);
	cr_expect(strncmp(out, "HTTP/1.1 101 Switching Protocols\r\n", 34) == 0,
	    "status line: '%.*s'", n, out);
	cr_expect(strstr(out, "\r\nSec-WebSocket-Protocol: binary\r\n") != NULL,
	    "no Sec-WebSocket-Protocol: binary in '%s'", out);
	cr_expect(strstr(out, "\r\nSec-WebSocket-Accept: " ACCEPT "\r\n") !=
	    NULL, "no Sec-WebSocket-Accept in '%s'", out);
	cr_expect(n >= 4 && memcmp(out + n - 4, "\r\n\r\n", 4) == 0,
	    "does not end with a blank line: '%s'", out);
	cr_expect(memmem(out, n, "\r\n\r\n", 4) == out + n - 4,
	    "blank line before the end: '%s'", out);
}

/* Too small a buffer: -1, and nothing written past it. */
Test(handshake_format_101, too_small)
{
	struct http_request req;
	struct handshake_result res;
	char out[512];
	int full, n;
	size_t sz;

	cr_assert_eq(run_check(VALID "Sec-WebSocket-Protocol: binary\r\n" END,
	    &req, &res), 101);
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
