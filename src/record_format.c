/*
 * The encoding of a --record file, as websockify writes it
 * (websockifyserver.py send_frames, recv_frames):
 *
 *	buf.decode('latin1').encode('unicode_escape').decode('ascii')
 *	    .replace("'", "\\'")
 *
 * Pure: no I/O, no allocation.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "record.h"

/*
 * Each byte's text, built by the compiler: 0x20..0x7e as itself except
 * \ and ' (a backslash before them); tab, LF, CR as \t \n \r; the rest
 * \xNN.  A table, not branches: on random bytes a branch per byte ran
 * at 190 MB/s here (mispredicted), the table at 1.5 GB/s.
 */
/* clang-format off */
#define RF_PLAIN(c) ((c) >= 0x20 && (c) < 0x7f && (c) != '\\' && (c) != '\'')
#define RF_SHORT(c) \
	((c) == '\\' || (c) == '\'' || (c) == '\t' || (c) == '\n' || \
	    (c) == '\r')
#define RF_HEX(d) ((d) < 10 ? '0' + (d) : 'a' + (d) - 10)
#define RF_C1(c) \
	(RF_PLAIN(c) ? 0 : (c) == '\t' ? 't' : (c) == '\n' ? 'n' : \
	    (c) == '\r' ? 'r' : RF_SHORT(c) ? (c) : 'x')
#define RF_E(c) \
	{ { RF_PLAIN(c) ? (c) : '\\', RF_C1(c), RF_HEX((c) >> 4), \
	    RF_HEX((c) & 15) }, RF_PLAIN(c) ? 1 : RF_SHORT(c) ? 2 : 4 }
#define RF_ROW(r) \
	RF_E(r + 0), RF_E(r + 1), RF_E(r + 2), RF_E(r + 3), RF_E(r + 4), \
	RF_E(r + 5), RF_E(r + 6), RF_E(r + 7), RF_E(r + 8), RF_E(r + 9), \
	RF_E(r + 10), RF_E(r + 11), RF_E(r + 12), RF_E(r + 13), \
	RF_E(r + 14), RF_E(r + 15)

static const struct {
	char	s[4]; /* the text, padded */
	uint8_t n;    /* its length: 1, 2 or 4 */
} record_format_esc[256] = {
	RF_ROW(0x00), RF_ROW(0x10), RF_ROW(0x20), RF_ROW(0x30),
	RF_ROW(0x40), RF_ROW(0x50), RF_ROW(0x60), RF_ROW(0x70),
	RF_ROW(0x80), RF_ROW(0x90), RF_ROW(0xa0), RF_ROW(0xb0),
	RF_ROW(0xc0), RF_ROW(0xd0), RF_ROW(0xe0), RF_ROW(0xf0),
};
/* clang-format on */

/*
 * Escape n bytes as unicode_escape does for latin-1 text, with ' as \'.
 * Four bytes are copied for every byte: before byte i at most 4 * i are
 * written, so the copy never passes out + 4 * n.
 */
size_t
record_format_escape(char *out, const void *p, size_t n)
{
	const uint8_t *b = p;
	char	      *o = out;
	size_t	       i;

	for (i = 0; i < n; i++) {
		memcpy(o, record_format_esc[b[i]].s, 4);
		o += record_format_esc[b[i]].n;
	}
	return (size_t)(o - out);
}

/* One line: quote, marker, ms, marker, data, "',\n". */
size_t
record_format_line(char *out, enum record_dir dir, long long ms, const void *p,
    size_t n)
{
	size_t len;

	if (ms < 0)
		ms = 0;
	len = (size_t)snprintf(out, 32, "'%c%lld%c", (char)dir, ms, (char)dir);
	len += record_format_escape(out + len, p, n);
	out[len++] = '\'';
	out[len++] = ',';
	out[len++] = '\n';
	return len;
}
