/* Unit tests for escaping untrusted bytes for log lines (src/log.c). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "log.h"
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
