/* Unit tests for log lines: escaping untrusted bytes (src/log.c) and
 * syslog framing (src/log_syslog.c). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "log.h"
#include "log_syslog.h"
#include "test_helpers.h"

/* A byte string literal and its length, NULs included. */
#define B(s) (s), (sizeof(s) - 1)

/* log_escape with room for everything: what each kind of byte becomes. */
struct esc_case {
	const char *desc;
	const char *src;
	size_t	    len;
	const char *want;
};

static const struct esc_case esc_cases[] = {
	{ "empty", B(""), "" },
	{ "printable ASCII kept", B("GET /vnc.html?a=b&c=~ HTTP/1.1"),
	    "GET /vnc.html?a=b&c=~ HTTP/1.1" },
	{ "space and tilde, the ends of 0x20..0x7e", B(" ~"), " ~" },
	{ "quote kept", B("\"x'"), "\"x'" },
	{ "backslash doubled", B("a\\b"), "a\\\\b" },
	{ "a sent escape cannot pass for one", B("\\x41"), "\\\\x41" },
	{ "NUL", B("\0"), "\\x00" },
	{ "NUL inside does not end the input", B("a\0b"), "a\\x00b" },
	{ "newline", B("\n"), "\\x0a" },
	{ "CR LF: no forged log line", B("x\r\nfake: line"),
	    "x\\x0d\\x0afake: line" },
	{ "tab", B("\t"), "\\x09" },
	{ "control bytes 0x01 and 0x1f", B("\x01\x1f"), "\\x01\\x1f" },
	{ "ESC [ 2 J (clear screen)", B("\x1b[2J"), "\\x1b[2J" },
	{ "DEL 0x7f", B("\x7f"), "\\x7f" },
	{ "0x80", B("\x80"), "\\x80" },
	{ "0x9b, C1 CSI as a byte", B("\x9b"), "\\x9b" },
	{ "0xff", B("\xff"), "\\xff" },
	{ "hex in lower case", B("\xab\xcd\xef"), "\\xab\\xcd\\xef" },
	{ "C1 CSI in UTF-8 (c2 9b)",
	    B("\xc2\x9b"
	      "31m"),
	    "\\xc2\\x9b31m" },
	{ "UTF-8 e-acute", B("caf\xc3\xa9"), "caf\\xc3\\xa9" },
};

Test(log_escape, table)
{
	const struct esc_case *c;
	char		       out[256];
	size_t		       i, n;

	for (i = 0; i < NELEM(esc_cases); i++) {
		c = &esc_cases[i];
		memset(out, 'Z', sizeof(out));
		n = log_escape(out, sizeof(out), c->src, c->len);
		cr_expect_str_eq(out, c->want, "%s: got '%s', want '%s'",
		    c->desc, out, c->want);
		cr_expect_eq(n, strlen(out), "%s: returned %zu, strlen %zu",
		    c->desc, n, strlen(out));
	}
}

/*
 * Truncation: dst of each size from 0 up.  src "ab\x01c" escapes to
 * "a" "b" "\x01" "c" (7 characters); a cut keeps whole escapes and
 * ends in "...", or in as many dots as fit.  want NULL: nothing written.
 */
struct cut_case {
	const char *desc;
	const char *src;
	size_t	    len;
	size_t	    dstlen;
	const char *want;
};

static const struct cut_case cut_cases[] = {
	{ "dstlen 0: nothing written",
	    B("ab\x01"
	      "c"),
	    0, NULL },
	{ "dstlen 1: only the NUL",
	    B("ab\x01"
	      "c"),
	    1, "" },
	{ "dstlen 2: one dot",
	    B("ab\x01"
	      "c"),
	    2, "." },
	{ "dstlen 3: two dots",
	    B("ab\x01"
	      "c"),
	    3, ".." },
	{ "dstlen 4: dots alone",
	    B("ab\x01"
	      "c"),
	    4, "..." },
	{ "dstlen 5: one byte and dots",
	    B("ab\x01"
	      "c"),
	    5, "a..." },
	{ "dstlen 6: two bytes and dots",
	    B("ab\x01"
	      "c"),
	    6, "ab..." },
	{ "dstlen 7: escape not cut in half",
	    B("ab\x01"
	      "c"),
	    7, "ab..." },
	{ "dstlen 8: everything fits exactly",
	    B("ab\x01"
	      "c"),
	    8, "ab\\x01c" },
	{ "dstlen 9: room to spare",
	    B("ab\x01"
	      "c"),
	    9, "ab\\x01c" },
	{ "empty src, dstlen 1", B(""), 1, "" },
	{ "plain text one short", B("abcdef"), 6, "ab..." },
	{ "plain text exactly", B("abcdef"), 7, "abcdef" },
	{ "escape then dots fill dst", B("\xff\xff"), 8, "\\xff..." },
	{ "two escapes exactly", B("\xff\xff"), 9, "\\xff\\xff" },
	{ "escape does not fit before dots", B("\xff\xff"), 7, "..." },
	{ "backslash pair not cut", B("a\\\\"), 5, "a..." },
	{ "backslash pair fits exactly", B("a\\\\"), 6, "a\\\\\\\\" },
};

Test(log_escape, truncation)
{
	const struct cut_case *c;
	char		      *end;
	size_t		       i, n;

	end = test_guard_end(64);
	for (i = 0; i < NELEM(cut_cases); i++) {
		c = &cut_cases[i];
		/* dst ends at the page edge: a byte written past dstlen
		 * faults; with dstlen 0 any write does. */
		n = log_escape(end - c->dstlen, c->dstlen, c->src, c->len);
		if (c->want == NULL) {
			cr_expect_eq(n, 0, "%s: returned %zu", c->desc, n);
			continue;
		}
		cr_expect_str_eq(end - c->dstlen, c->want,
		    "%s: got '%s', "
		    "want '%s'",
		    c->desc, end - c->dstlen, c->want);
		cr_expect_eq(n, strlen(c->want), "%s: returned %zu", c->desc,
		    n);
	}
	test_guard_free(end, 64);
}

/* The escape of one byte, as the contract in log.h spells it. */
static size_t
ref_escape_byte(unsigned char b, char *rep)
{
	if (b == '\\')
		return (size_t)snprintf(rep, 5, "\\\\");
	if (b >= 0x20 && b <= 0x7e)
		return (size_t)snprintf(rep, 5, "%c", b);
	return (size_t)snprintf(rep, 5, "\\x%02x", b);
}

/*
 * Every byte value, cut at every dst size, against a reference built
 * another way: the longest run of whole escapes that fits (or that
 * leaves room for "..."), src and dst both at page edges.
 */
Test(log_escape, every_byte_every_size)
{
	unsigned char *src;
	char	       full[4 * 256 + 1], want[4 * 256 + 1], rep[5], *dend;
	size_t	       b, cap, dstlen, n, o, r;

	src = (unsigned char *)test_guard_end(256) - 256;
	dend = test_guard_end(sizeof(full));
	for (b = 0; b < 256; b++)
		src[b] = (unsigned char)b;
	for (b = 0, o = 0; b < 256; b++)
		o += ref_escape_byte(src[b], full + o);
	cr_assert_eq(log_escape(full, sizeof(full), src, 256), o);
	for (dstlen = 1; dstlen <= sizeof(full); dstlen++) {
		cap = dstlen - 1;
		if (o <= cap)
			memcpy(want, full, o + 1);
		else {
			for (b = 0, n = 0; b < 256; b++) {
				r = ref_escape_byte(src[b], rep);
				if (n + r + 3 > cap)
					break;
				n += r;
			}
			memcpy(want, full, n);
			r = cap - n < 3 ? cap - n : 3;
			memcpy(want + n, "...", r);
			want[n + r] = '\0';
		}
		n = log_escape(dend - dstlen, dstlen, src, 256);
		cr_assert_str_eq(dend - dstlen, want, "dstlen %zu", dstlen);
		cr_assert_eq(n, strlen(want), "dstlen %zu", dstlen);
	}
	for (n = 0; n < o; n++)
		cr_assert(full[n] >= 0x20 && full[n] <= 0x7e,
		    "byte %zu of the escape is 0x%02x", n,
		    (unsigned char)full[n]);
	test_guard_free(src + 256, 256);
	test_guard_free(dend, sizeof(full));
}

/* Syslog framing (src/log_syslog.c): websockify's two forms, byte for
 * byte, and where RFC 5424 asks more of it. */
struct sys_case {
	const char *desc;
	int	    facility;
	const char *hostname;
	int	    legacy;
	int	    severity;
	time_t	    now;
	const char *msg;
	size_t	    msglen;
	const char *want;
};

/* clang-format off */
static const struct sys_case sys_cases[] = {
	{ "user.info, RFC 5424", LOG_SYSLOG_USER, "box", 0, LOG_SYSLOG_INFO, 0,
	    B("info: hi"), "<14>1 1970-01-01T00:00:00Z box wsbridge 4242 - - info: hi" },
	{ "user.warning", LOG_SYSLOG_USER, "box", 0, LOG_SYSLOG_WARNING, 0,
	    B("x"), "<12>1 1970-01-01T00:00:00Z box wsbridge 4242 - - x" },
	{ "user.crit (fatal)", LOG_SYSLOG_USER, "box", 0, LOG_SYSLOG_CRIT, 0,
	    B("x"), "<10>1 1970-01-01T00:00:00Z box wsbridge 4242 - - x" },
	{ "user.debug", LOG_SYSLOG_USER, "box", 0, LOG_SYSLOG_DEBUG, 0,
	    B("x"), "<15>1 1970-01-01T00:00:00Z box wsbridge 4242 - - x" },
	{ "daemon.info (-D)", LOG_SYSLOG_DAEMON, "box", 0, LOG_SYSLOG_INFO, 0,
	    B("x"), "<30>1 1970-01-01T00:00:00Z box wsbridge 4242 - - x" },
	{ "daemon.crit", LOG_SYSLOG_DAEMON, "box", 0, LOG_SYSLOG_CRIT, 0,
	    B("x"), "<26>1 1970-01-01T00:00:00Z box wsbridge 4242 - - x" },
	{ "severity above 7 clamped", LOG_SYSLOG_USER, "box", 0, 9, 0,
	    B("x"), "<15>1 1970-01-01T00:00:00Z box wsbridge 4242 - - x" },
	{ "negative severity clamped", LOG_SYSLOG_USER, "box", 0, -1, 0,
	    B("x"), "<8>1 1970-01-01T00:00:00Z box wsbridge 4242 - - x" },
	{ "timestamp in UTC, seconds, Z", LOG_SYSLOG_USER, "box", 0, 6,
	    1700000000, B("x"), "<14>1 2023-11-14T22:13:20Z box wsbridge 4242 - - x" },
	{ "empty message", LOG_SYSLOG_USER, "box", 0, 6, 0,
	    B(""), "<14>1 1970-01-01T00:00:00Z box wsbridge 4242 - - " },
	{ "LF in MSG sent as a space", LOG_SYSLOG_USER, "box", 0, 6, 0,
	    B("a\nb\n"), "<14>1 1970-01-01T00:00:00Z box wsbridge 4242 - - a b " },
	{ "CR in MSG sent as a space", LOG_SYSLOG_USER, "box", 0, 6, 0,
	    B("a\r\nb"), "<14>1 1970-01-01T00:00:00Z box wsbridge 4242 - - a  b" },
	{ "NUL in MSG kept (MSG-ANY is any octet)", LOG_SYSLOG_USER, "box", 0,
	    6, 0, B("a\0b"), "<14>1 1970-01-01T00:00:00Z box wsbridge 4242 - - a\0b" },
	{ "empty hostname is the NILVALUE", LOG_SYSLOG_USER, "", 0, 6, 0,
	    B("x"), "<14>1 1970-01-01T00:00:00Z - wsbridge 4242 - - x" },
	{ "NULL hostname is the NILVALUE", LOG_SYSLOG_USER, NULL, 0, 6, 0,
	    B("x"), "<14>1 1970-01-01T00:00:00Z - wsbridge 4242 - - x" },
	{ "hostname bytes outside PRINTUSASCII", LOG_SYSLOG_USER, "a b\xc3\xa9", 0,
	    6, 0, B("x"), "<14>1 1970-01-01T00:00:00Z a_b__ wsbridge 4242 - - x" },
	{ "UTF-8 MSG gets a BOM (MSG-UTF8)", LOG_SYSLOG_USER, "box", 0, 6, 0,
	    B("caf\xc3\xa9"),
	    "<14>1 1970-01-01T00:00:00Z box wsbridge 4242 - - \xef\xbb\xbf" "caf\xc3\xa9" },
	{ "not UTF-8: no BOM (MSG-ANY)", LOG_SYSLOG_USER, "box", 0, 6, 0,
	    B("caf\xe9"), "<14>1 1970-01-01T00:00:00Z box wsbridge 4242 - - caf\xe9" },
	{ "legacy user.info", LOG_SYSLOG_USER, "box", 1, LOG_SYSLOG_INFO, 0,
	    B("info: hi"), "<14>wsbridge[4242]: info: hi" },
	{ "legacy daemon.warning", LOG_SYSLOG_DAEMON, "box", 1,
	    LOG_SYSLOG_WARNING, 0, B("x"), "<28>wsbridge[4242]: x" },
	{ "legacy: LF as a space", LOG_SYSLOG_USER, "box", 1, 6, 0,
	    B("a\nb"), "<14>wsbridge[4242]: a b" },
	{ "legacy: no BOM for UTF-8", LOG_SYSLOG_USER, "box", 1, 6, 0,
	    B("\xc3\xa9"), "<14>wsbridge[4242]: \xc3\xa9" },
};
/* clang-format on */

Test(log_syslog, table)
{
	const struct sys_case *c;
	struct log_syslog_id   id;
	char		       out[512];
	size_t		       i, n, wlen;

	for (i = 0; i < NELEM(sys_cases); i++) {
		c = &sys_cases[i];
		id = (struct log_syslog_id){ c->facility, c->hostname,
			"wsbridge", 4242, c->legacy };
		n = log_syslog_format(out, sizeof(out), &id, c->severity,
		    c->now, c->msg, c->msglen);
		wlen = strlen(c->want);
		if (c->msglen > 0 && memchr(c->msg, '\0', c->msglen) != NULL)
			wlen += 2; /* the "\0b" after the NUL */
		cr_expect(n == wlen && memcmp(out, c->want, n) == 0,
		    "%s: got '%.*s' (%zu), want '%s' (%zu)", c->desc, (int)n,
		    out, n, c->want, wlen);
	}
}

/* A hostname longer than RFC 5424's 255 is cut there. */
Test(log_syslog, long_hostname)
{
	struct log_syslog_id id = { LOG_SYSLOG_USER, NULL, "wsbridge", 1, 0 };
	char		     host[400], out[1024], want[1024];
	size_t		     n;

	memset(host, 'h', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	id.hostname = host;
	n = log_syslog_format(out, sizeof(out), &id, 6, 0, B("m"));
	snprintf(want, sizeof(want),
	    "<14>1 1970-01-01T00:00:00Z %.255s wsbridge 1 - - m", host);
	cr_assert_eq(n, strlen(want));
	cr_assert(memcmp(out, want, n) == 0, "got '%.*s'", (int)n, out);
}

/*
 * Every dstlen from 0 up, dst ending at a page edge: nothing written past
 * dstlen; 0 while the header does not fit; then the longest prefix of
 * the message that fits, never cut inside a UTF-8 sequence.
 */
Test(log_syslog, truncation)
{
	struct log_syslog_id id = { LOG_SYSLOG_USER, "box", "wsbridge", 7, 0 };
	static const char head[] = "<14>1 1970-01-01T00:00:00Z box wsbridge "
				   "7 - - ";
	static const char ascii[] = "0123456789";
	static const char utf8[] = "a\xc3\xa9z";
	size_t		  h = sizeof(head) - 1, dstlen, n, want;
	char		 *end;

	end = test_guard_end(256);
	for (dstlen = 0; dstlen < h + 16; dstlen++) {
		n = log_syslog_format(end - dstlen, dstlen, &id, 6, 0, ascii,
		    10);
		/* snprintf needs room for its NUL: header fits at h + 1. */
		want = dstlen <= h ? 0 : dstlen - h < 10 ? dstlen : h + 10;
		cr_assert_eq(n, want, "ascii dstlen %zu: %zu, want %zu",
		    dstlen, n, want);
		if (n > 0)
			cr_assert(memcmp(end - dstlen + h, ascii, n - h) == 0);
	}
	for (dstlen = h + 1; dstlen < h + 16; dstlen++) {
		n = log_syslog_format(end - dstlen, dstlen, &id, 6, 0, utf8,
		    4);
		/* BOM (3) + "a" (1) + "\xc3\xa9" (2) + "z" (1): until
		 * the BOM and the e-acute fit, only "a" (no BOM). */
		if (dstlen - h < 6)
			want = h + 1;
		else if (dstlen - h < 7)
			want = h + 6;
		else
			want = h + 7;
		cr_assert_eq(n, want, "utf8 dstlen %zu: %zu, want %zu", dstlen,
		    n, want);
		if (want == h + 1)
			cr_assert(memcmp(end - dstlen + h, "a", 1) == 0);
		else
			cr_assert(memcmp(end - dstlen + h,
				      "\xef\xbb\xbf"
				      "a\xc3\xa9z",
				      want - h) == 0,
			    "utf8 dstlen %zu: not BOM and the prefix", dstlen);
	}
	test_guard_free(end, 256);
}

/* RFC 3629 well-formedness. */
Test(log_syslog, utf8_valid)
{
	/* clang-format off */
	static const struct {
		const char *desc, *s;
		size_t len;
		int want;
	} cases[] = {
		{ "empty", B(""), 1 },
		{ "ASCII", B("abc"), 1 },
		{ "2 bytes", B("\xc3\xa9"), 1 },
		{ "3 bytes", B("\xe2\x82\xac"), 1 },
		{ "4 bytes", B("\xf0\x9f\x98\x80"), 1 },
		{ "U+10FFFF", B("\xf4\x8f\xbf\xbf"), 1 },
		{ "above U+10FFFF", B("\xf4\x90\x80\x80"), 0 },
		{ "overlong 2 bytes", B("\xc0\xaf"), 0 },
		{ "overlong 3 bytes", B("\xe0\x80\xaf"), 0 },
		{ "overlong 4 bytes", B("\xf0\x80\x80\xaf"), 0 },
		{ "surrogate", B("\xed\xa0\x80"), 0 },
		{ "lone continuation", B("\x80"), 0 },
		{ "cut short", B("\xe2\x82"), 0 },
		{ "0xff", B("\xff"), 0 },
	};
	/* clang-format on */
	size_t i;

	for (i = 0; i < NELEM(cases); i++)
		cr_expect_eq(log_syslog_utf8_valid(cases[i].s, cases[i].len),
		    cases[i].want, "%s", cases[i].desc);
}

/* --syslog SERVER: a path, or host:port as websockify splits it. */
Test(log_syslog, parse_server)
{
	/* clang-format off */
	static const struct {
		const char *desc, *server;
		int want;
		const char *host, *port;
	} cases[] = {
		{ "absolute path", "/dev/log", LOG_SYSLOG_PATH, NULL, NULL },
		{ "relative path", "syslog.sock", LOG_SYSLOG_PATH, NULL, NULL },
		{ "path with a colon", "/run/a:b", LOG_SYSLOG_PATH, NULL, NULL },
		{ "name and port", "localhost:514", LOG_SYSLOG_INET, "localhost", "514" },
		{ "IPv4", "127.0.0.1:5514", LOG_SYSLOG_INET, "127.0.0.1", "5514" },
		{ "IPv6 in brackets", "[::1]:514", LOG_SYSLOG_INET, "::1", "514" },
		{ "bare IPv6, last colon", "::1:514", LOG_SYSLOG_INET, "::1", "514" },
		{ "top port", "h:65535", LOG_SYSLOG_INET, "h", "65535" },
		{ "no port", "host:", -1, NULL, NULL },
		{ "port 0", "host:0", -1, NULL, NULL },
		{ "port too big", "host:65536", -1, NULL, NULL },
		{ "port not a number", "host:syslog", -1, NULL, NULL },
		{ "signed port", "host:+514", -1, NULL, NULL },
		{ "no host", ":514", -1, NULL, NULL },
		{ "empty brackets", "[]:514", -1, NULL, NULL },
	};
	/* clang-format on */
	char   host[64], port[8];
	size_t i;
	int    r;

	for (i = 0; i < NELEM(cases); i++) {
		r = log_syslog_parse_server(cases[i].server, host,
		    sizeof(host), port, sizeof(port));
		cr_expect_eq(r, cases[i].want, "%s: %d", cases[i].desc, r);
		if (r != LOG_SYSLOG_INET || cases[i].host == NULL)
			continue;
		cr_expect_str_eq(host, cases[i].host, "%s", cases[i].desc);
		cr_expect_str_eq(port, cases[i].port, "%s", cases[i].desc);
	}
}

/* JOURNAL_STREAM ("DEV:INODE") against stderr's device and inode. */
Test(log_syslog, journal_names)
{
	/* clang-format off */
	static const struct {
		const char *desc, *env;
		int want;
	} cases[] = {
		{ "unset", NULL, 0 },
		{ "empty", "", 0 },
		{ "the same file", "2049:1234", 1 },
		{ "another inode", "2049:1235", 0 },
		{ "another device", "2050:1234", 0 },
		{ "inode missing", "2049", 0 },
		{ "trailing junk", "2049:1234x", 0 },
		{ "not numbers", "a:b", 0 },
	};
	/* clang-format on */
	size_t i;

	for (i = 0; i < NELEM(cases); i++)
		cr_expect_eq(log_syslog_journal_names(cases[i].env, 2049,
				 1234),
		    cases[i].want, "%s", cases[i].desc);
}
