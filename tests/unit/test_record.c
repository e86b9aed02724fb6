/*
 * Unit tests for the --record encoding (src/record_format.c).  Every
 * expected string was printed by Python 3.11 running websockify's own
 * expression (websockifyserver.py send_frames / recv_frames):
 *
 *	buf.decode('latin1').encode('unicode_escape').decode('ascii')
 *	    .replace("'", "\\'")
 *
 * and pasted here as a C literal.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "record.h"
#include "test_helpers.h"

/* A byte string literal and its length, NULs included. */
#define B(s) (s), (sizeof(s) - 1)

/* Python's output for bytes(range(256)). */
static const char all_bytes_want[] =
    "\\x00\\x01\\x02\\x03\\x04\\x05\\x06\\x07\\x08\\t\\n\\x0b\\x0c\\r\\x0e\\x"
    "0f\\x10\\x11\\x12\\x13\\x14\\x15\\x16\\x17\\x18\\x19\\x1a\\x1b\\x1c\\x"
    "1d\\x1e\\x1f !\"#$%&\\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKL"
    "MNOPQRSTUVWXYZ[\\\\]^_`abcdefghijklmnopqrstuvwxyz{|}~\\x7f\\"
    "x80\\x81\\x82\\x83\\x84\\x85\\x86\\x87\\x88\\x89\\x8a\\x8b\\x8c\\x8d\\"
    "x8e\\x8f\\x90\\x91\\x92\\x93\\x94\\x95\\x96\\x97\\x98\\x99\\x9a\\x9b\\"
    "x9c\\x9d\\x9e\\x9f\\xa0\\xa1\\xa2\\xa3\\xa4\\xa5\\xa6\\xa7\\xa8\\xa9\\"
    "xaa\\xab\\xac\\xad\\xae\\xaf\\xb0\\xb1\\xb2\\xb3\\xb4\\xb5\\xb6\\xb7\\"
    "xb8\\xb9\\xba\\xbb\\xbc\\xbd\\xbe\\xbf\\xc0\\xc1\\xc2\\xc3\\xc4\\xc5\\"
    "xc6\\xc7\\xc8\\xc9\\xca\\xcb\\xcc\\xcd\\xce\\xcf\\xd0\\xd1\\xd2\\xd3\\"
    "xd4\\xd5\\xd6\\xd7\\xd8\\xd9\\xda\\xdb\\xdc\\xdd\\xde\\xdf\\xe0\\xe1\\"
    "xe2\\xe3\\xe4\\xe5\\xe6\\xe7\\xe8\\xe9\\xea\\xeb\\xec\\xed\\xee\\xef\\"
    "xf0\\xf1\\xf2\\xf3\\xf4\\xf5\\xf6\\xf7\\xf8\\xf9\\xfa\\xfb\\xfc\\xfd\\"
    "xfe\\xff";

/* Every byte 0..255 in one chunk, as websockify writes it. */
Test(record_format, every_byte)
{
	unsigned char in[256];
	char	      out[4 * 256];
	size_t	      i, n;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)i;
	n = record_format_escape(out, in, sizeof(in));
	cr_assert_eq(n, strlen(all_bytes_want), "length %zu, want %zu", n,
	    strlen(all_bytes_want));
	cr_assert(memcmp(out, all_bytes_want, n) == 0, "got %.*s", (int)n,
	    out);
}

/* Each byte alone gives the same text as its place in the 256-byte run
 * (no state carries from one byte to the next). */
Test(record_format, each_byte_alone)
{
	const char   *w = all_bytes_want;
	unsigned char b;
	char	      out[4];
	size_t	      n;
	int	      i;

	for (i = 0; i < 256; i++) {
		b = (unsigned char)i;
		n = record_format_escape(out, &b, 1);
		cr_assert(n >= 1 && n <= 4, "byte %d: %zu chars", i, n);
		cr_assert(memcmp(out, w, n) == 0, "byte %d: got %.*s", i,
		    (int)n, out);
		w += n;
	}
	cr_assert_eq(*w, '\0', "bytes alone are shorter than together");
}

struct esc_case {
	const char *desc;
	const char *src;
	size_t	    len;
	const char *want; /* Python's output */
};

static const struct esc_case esc_cases[] = {
	{ "empty", B(""), "" },
	{ "RFB greeting with its newline", B("RFB 003.008\n"),
	    "RFB 003.008\\n" },
	{ "quote escaped", B("it's"), "it\\'s" },
	{ "two quotes", B("''"), "\\'\\'" },
	{ "backslash then quote", B("\\'"), "\\\\\\'" },
	{ "two backslashes", B("\\\\"), "\\\\\\\\" },
	{ "a sent escape cannot pass for one", B("\\x41"), "\\\\x41" },
	{ "double quotes kept", B("\"q\""), "\"q\"" },
	{ "NUL", B("\0"), "\\x00" },
	{ "CR LF", B("a\r\nb"), "a\\r\\nb" },
	{ "DEL and 0x80", B("\x7f\x80"), "\\x7f\\x80" },
	{ "UTF-8 bytes one by one", B("caf\xc3\xa9"), "caf\\xc3\\xa9" },
	{ "ESC [ 2 J", B("\x1b[2J"), "\\x1b[2J" },
	{ "space and tilde, the printable ends", B(" ~"), " ~" },
};

/* Table: the cases above, each also written into exactly 4 * n bytes
 * that end at a guard page (the promised room, no byte more). */
Test(record_format, table)
{
	const struct esc_case *c;
	char		      *end, out[64];
	size_t		       i, n, want;

	for (i = 0; i < NELEM(esc_cases); i++) {
		c = &esc_cases[i];
		want = strlen(c->want);
		n = record_format_escape(out, c->src, c->len);
		cr_assert_eq(n, want, "%s: length %zu, want %zu", c->desc, n,
		    want);
		cr_assert(memcmp(out, c->want, n) == 0, "%s: got %.*s",
		    c->desc, (int)n, out);
		end = test_guard_end(4 * c->len);
		n = record_format_escape(end - 4 * c->len, c->src, c->len);
		cr_assert(n == want &&
			memcmp(end - 4 * c->len, c->want, n) == 0,
		    "%s at a page edge", c->desc);
		test_guard_free(end, 4 * c->len);
	}
}

/* The worst case, all bytes \xNN, fills 4 * n exactly (page edge). */
Test(record_format, worst_case_fits)
{
	size_t	       n = 5000, i, got;
	unsigned char *in = malloc(n);
	char	      *end = test_guard_end(4 * n);

	cr_assert(in != NULL);
	for (i = 0; i < n; i++)
		in[i] = (unsigned char)(0x80 + i % 0x80);
	got = record_format_escape(end - 4 * n, in, n);
	cr_assert_eq(got, 4 * n);
	/* The last byte is 0x80 + 4999 % 128. */
	cr_assert(memcmp(end - 4, "\\x87", 4) == 0);
	test_guard_free(end, 4 * n);
	free(in);
}

struct line_case {
	const char     *desc;
	enum record_dir dir;
	long long	ms;
	const char     *src;
	size_t		len;
	const char     *want; /* websockify's "'{{{0}{{{1}',\n".format() */
};

static const struct line_case line_cases[] = {
	{ "sent to the client", RECORD_TO_CLIENT, 123, B("it's\n"),
	    "'{123{it\\'s\\n',\n" },
	{ "received from the client", RECORD_FROM_CLIENT, 7, B("\x01\x02"),
	    "'}7}\\x01\\x02',\n" },
	{ "at 0 ms, empty", RECORD_TO_CLIENT, 0, B(""), "'{0{',\n" },
	{ "a clock step back is 0", RECORD_FROM_CLIENT, -5, B("a"),
	    "'}0}a',\n" },
	{ "digits in the data follow the marker", RECORD_TO_CLIENT, 1500,
	    B("99"), "'{1500{99',\n" },
	{ "the largest ms", RECORD_TO_CLIENT, 9223372036854775807LL, B("\xff"),
	    "'{9223372036854775807{\\xff',\n" },
};

/* Whole lines, each into exactly RECORD_FORMAT_LINE_MAX(n) bytes that
 * end at a guard page. */
Test(record_format, lines)
{
	const struct line_case *c;
	char		       *end;
	size_t			i, n, max;

	for (i = 0; i < NELEM(line_cases); i++) {
		c = &line_cases[i];
		max = RECORD_FORMAT_LINE_MAX(c->len);
		end = test_guard_end(max);
		n = record_format_line(end - max, c->dir, c->ms, c->src,
		    c->len);
		cr_assert_eq(n, strlen(c->want), "%s: length %zu", c->desc, n);
		cr_assert(memcmp(end - max, c->want, n) == 0, "%s: got %.*s",
		    c->desc, (int)n, end - max);
		test_guard_free(end, max);
	}
}

/* First and last lines, as websockify's handle_websocket and finish
 * write them. */
Test(record_format, head_and_tail)
{
	cr_assert_str_eq(RECORD_FORMAT_HEAD, "var VNC_frame_data = [\n");
	cr_assert_str_eq(RECORD_FORMAT_TAIL, "'EOF'];\n");
}
