/*
 * libFuzzer harness for src/frame.c (RFC 6455 section 5): the header
 * decoder against a reference and on every prefix, encode -> decode round
 * trips, unmasking in pieces at any split and alignment, Close payloads,
 * UTF-8 validation against a decoder of code points, and the fragment
 * sequence rules.  Every input feeds every check, each reading the bytes
 * its own way.
 */
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "wsb_limits.h"
#include "fuzz.h"

/* Largest Close reason handed to frame_encode_close: past the 123 bytes
 * that fit, so cutting is exercised. */
#define FUZZ_FRAME_REASON_MAX 200

static const unsigned fuzz_frame_ops[] = { FRAME_OP_CONT, FRAME_OP_TEXT,
	FRAME_OP_BINARY, FRAME_OP_CLOSE, FRAME_OP_PING, FRAME_OP_PONG };

static int	fuzz_frame_decode_ref(const uint8_t *, size_t, int);
static int	fuzz_frame_same(int, const struct frame_header *,
	 const struct frame_error *, int, const struct frame_header *,
	 const struct frame_error *);
static void	fuzz_frame_check_header(const uint8_t *, int,
	const struct frame_header *);
static void	fuzz_frame_decode(const uint8_t *, size_t, int);
static void	fuzz_frame_roundtrip(const uint8_t *, size_t);
static void	fuzz_frame_unmask(const uint8_t *, size_t);
static int	fuzz_frame_code_ref(int);
static int	fuzz_frame_utf8_ref(const uint8_t *, size_t);
static void	fuzz_frame_close(const uint8_t *, size_t);
static void	fuzz_frame_close_encode(const uint8_t *, size_t);
static void	fuzz_frame_sequence(const uint8_t *, size_t);
static uint64_t fuzz_frame_u64(const uint8_t *);

/* Big-endian 64-bit number from 8 bytes. */
static uint64_t
fuzz_frame_u64(const uint8_t *p)
{
	uint64_t v = 0;
	int	 i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* What frame_decode_header must answer, from RFC 6455 5.2 alone. */
static int
fuzz_frame_decode_ref(const uint8_t *b, size_t len, int require_mask)
{
	unsigned op, plen, masked;
	size_t	 need;

	if (len < 2)
		return -2;
	op = b[0] & 0x0f;
	plen = b[1] & 0x7f;
	masked = b[1] >> 7;
	if ((b[0] & 0x70) != 0)
		return -1;
	if (op >= 0x8 && (op > 0xa || !(b[0] & 0x80) || plen > 125))
		return -1;
	if (op >= 0x3 && op <= 0x7)
		return -1;
	if (require_mask && !masked)
		return -1;
	need = 2 + (plen == 126 ? 2 : plen == 127 ? 8 : 0) + 4 * masked;
	if (len < need)
		return -2;
	if (plen == 127 && (b[2] & 0x80))
		return -1;
	return (int)need;
}

/* Whether two decoder answers are the same answer. */
static int
fuzz_frame_same(int ra, const struct frame_header *a,
    const struct frame_error *ea, int rb, const struct frame_header *b,
    const struct frame_error *eb)
{
	if (ra != rb)
		return 0;
	if (ra == -1)
		return ea->code == eb->code && ea->reason == eb->reason;
	if (ra > 0)
		return a->fin == b->fin && a->rsv == b->rsv &&
		    a->opcode == b->opcode && a->masked == b->masked &&
		    a->length == b->length && memcmp(a->mask, b->mask, 4) == 0;
	return 1;
}

/* The fields of a decoded header against the bytes they came from. */
static void
fuzz_frame_check_header(const uint8_t *b, int n, const struct frame_header *fh)
{
	unsigned plen = b[1] & 0x7f;
	uint8_t	 out[WSB_MAX_FRAME_HEADER];
	size_t	 m;

	FUZZ_CHECK(n >= 2 && n <= WSB_MAX_FRAME_HEADER, "header length");
	FUZZ_CHECK(fh->fin == (unsigned)(b[0] >> 7) && fh->rsv == 0 &&
		fh->opcode == (b[0] & 0x0fu) && fh->masked == (b[1] >> 7u),
	    "first two bytes decoded");
	FUZZ_CHECK(fh->length >> 63 == 0, "length below 2^63");
	if (plen < 126)
		FUZZ_CHECK(fh->length == plen, "7-bit length");
	else if (plen == 126)
		FUZZ_CHECK(fh->length == ((uint64_t)b[2] << 8 | b[3]),
		    "16-bit length");
	else
		FUZZ_CHECK(fh->length == fuzz_frame_u64(b + 2),
		    "64-bit length");
	if (fh->opcode >= 0x8)
		FUZZ_CHECK(fh->fin && fh->length <= WSB_MAX_CONTROL_PAYLOAD,
		    "control frame: whole and at most 125 bytes");
	if (fh->masked)
		FUZZ_CHECK(memcmp(fh->mask, b + n - 4, 4) == 0, "masking key");
	else
		FUZZ_CHECK(memcmp(fh->mask, "\0\0\0\0", 4) == 0,
		    "no key: zero mask");
	/* Re-encoding gives the shortest form: the same bytes when the
	 * peer used the shortest form too (the decoder accepts longer
	 * length forms; RFC 6455 5.2 asks senders, not receivers). */
	m = frame_encode_header(out, (int)fh->fin, fh->opcode, fh->length,
	    fh->masked ? fh->mask : NULL);
	FUZZ_CHECK(m <= (size_t)n, "re-encoded header no longer");
	if ((plen < 126) || (plen == 126 && fh->length >= 126) ||
	    (plen == 127 && fh->length > 0xffff))
		FUZZ_CHECK(m == (size_t)n && memcmp(out, b, m) == 0,
		    "shortest form re-encodes to the same bytes");
}

/* Decode every prefix (exact-size copies): "need more" until the answer
 * settles, then always that answer; masked frames decode the same
 * whether or not a mask is required. */
static void
fuzz_frame_decode(const uint8_t *data, size_t size, int require_mask)
{
	struct frame_header fh, fin_fh, other;
	struct frame_error  err, fin_err, oerr;
	size_t		    m, lim = size < 16 ? size : 16;
	int		    r, fin_r, settled = 0, ro;
	uint8_t		   *p;

	memset(&fin_fh, 0, sizeof(fin_fh));
	memset(&fin_err, 0, sizeof(fin_err));
	fin_r =
	    frame_decode_header(data, size, require_mask, &fin_fh, &fin_err);
	FUZZ_CHECK(fin_r == fuzz_frame_decode_ref(data, size, require_mask),
	    "decoder agrees with RFC 6455 5.2");
	if (fin_r == -1)
		FUZZ_CHECK(fin_err.code == CLOSE_PROTOCOL_ERROR &&
			fin_err.reason != NULL,
		    "refusal is 1002 with a reason");
	if (fin_r > 0)
		fuzz_frame_check_header(data, fin_r, &fin_fh);
	for (m = 0; m <= lim; m++) {
		p = fuzz_dup(data, m);
		memset(&fh, 0, sizeof(fh));
		memset(&err, 0, sizeof(err));
		r = frame_decode_header(p, m, require_mask, &fh, &err);
		free(p);
		if (!settled && r != -2)
			settled = 1;
		if (settled)
			FUZZ_CHECK(fuzz_frame_same(r, &fh, &err, fin_r,
				       &fin_fh, &fin_err),
			    "settled answer never changes");
		else
			FUZZ_CHECK(r == -2 && (fin_r < 0 || (size_t)fin_r > m),
			    "a strict prefix of a header needs more");
		if (r > 0 && fh.masked && require_mask) {
			ro = frame_decode_header(data, m, 0, &other, &oerr);
			FUZZ_CHECK(fuzz_frame_same(r, &fh, &err, ro, &other,
				       &oerr),
			    "a masked frame is the same either way");
		}
	}
}

/* frame_encode_header then frame_decode_header gives the fields back,
 * and no strict prefix of the encoding decodes. */
static void
fuzz_frame_roundtrip(const uint8_t *data, size_t size)
{
	uint8_t		    p[14] = { 0 }, out[WSB_MAX_FRAME_HEADER];
	uint8_t		   *q;
	struct frame_header fh;
	struct frame_error  err;
	unsigned	    op;
	uint64_t	    len;
	size_t		    n, want, m;
	int		    fin, masked, r;

	memcpy(p, data, size < sizeof(p) ? size : sizeof(p));
	op = fuzz_frame_ops[p[0] % FUZZ_NELEM(fuzz_frame_ops)];
	fin = op >= 0x8 || (p[0] & 0x10);
	masked = (p[0] & 0x20) != 0;
	len = fuzz_frame_u64(p + 1) >> 1; /* below 2^63 */
	switch (p[13] % 4) {
	case 0:
		len %= 126;
		break;
	case 1:
		len = 126 + len % (0x10000 - 126);
		break;
	case 2:
		len = 0xfffe + len % 4;
		break; /* the 16/64-bit edge */
	default:
		break;
	}
	if (op >= 0x8)
		len %= WSB_MAX_CONTROL_PAYLOAD + 1;
	n = frame_encode_header(out, fin, op, len, masked ? p + 9 : NULL);
	want = (len < 126 ? 2 : len <= 0xffff ? 4 : 10) + (masked ? 4 : 0);
	FUZZ_CHECK(n == want, "shortest length form");
	q = fuzz_dup(out, n);
	r = frame_decode_header(q, n, masked, &fh, &err);
	FUZZ_CHECK(r == (int)n && fh.fin == (unsigned)fin && fh.rsv == 0 &&
		fh.opcode == op && fh.masked == (unsigned)masked &&
		fh.length == len,
	    "decode(encode(h)) == h");
	FUZZ_CHECK(!masked || memcmp(fh.mask, p + 9, 4) == 0,
	    "masking key round trip");
	if (!masked)
		FUZZ_CHECK(frame_decode_header(q, n, 1, &fh, &err) == -1 &&
			err.code == CLOSE_PROTOCOL_ERROR,
		    "unmasked frame refused where a mask is required");
	for (m = 0; m < n; m++)
		FUZZ_CHECK(frame_decode_header(q, m, masked, &fh, &err) == -2,
		    "strict prefix of an encoded header needs more");
	free(q);
}

/* frame_unmask in one call, in two calls at any split, and at any
 * alignment equals the byte-by-byte definition (RFC 6455 5.3), and
 * unmasking twice gives the input back. */
static void
fuzz_frame_unmask(const uint8_t *data, size_t size)
{
	const uint8_t *mask = data, *payload = data + 14;
	uint64_t       off;
	size_t	       len, split, align, i;
	uint8_t	      *ref, *buf, *a;

	if (size < 14)
		return;
	off = fuzz_frame_u64(data + 4);
	len = size - 14;
	split = ((size_t)data[12] << 8 | data[13]) % (len + 1);
	align = data[13] & 7;
	ref = fuzz_dup(payload, len);
	for (i = 0; i < len; i++)
		ref[i] ^= mask[(off + i) % 4];
	buf = malloc(len + 8);
	if (buf == NULL)
		abort();
	a = buf + align;
	memcpy(a, payload, len);
	frame_unmask(a, len, mask, off);
	FUZZ_CHECK(memcmp(a, ref, len) == 0, "unmask in one piece");
	frame_unmask(a, len, mask, off);
	FUZZ_CHECK(memcmp(a, payload, len) == 0, "unmask twice is identity");
	frame_unmask(a, split, mask, off);
	frame_unmask(a + split, len - split, mask, off + split);
	FUZZ_CHECK(memcmp(a, ref, len) == 0, "unmask in two pieces");
	free(buf);
	free(ref);
}

/* RFC 6455 7.4.1/7.4.2 and the IANA registry: the codes an endpoint may
 * put in a Close frame. */
static int
fuzz_frame_code_ref(int code)
{
	switch (code) {
	case 1000:
	case 1001:
	case 1002:
	case 1003:
	case 1007:
	case 1008:
	case 1009:
	case 1010:
	case 1011:
	case 1012:
	case 1013:
	case 1014:
		return 1;
	default:
		return code >= 3000 && code <= 4999;
	}
}

/* RFC 3629 by decoding code points: shortest form only, no surrogates,
 * nothing past U+10FFFF. */
static int
fuzz_frame_utf8_ref(const uint8_t *s, size_t len)
{
	static const uint32_t min[4] = { 0, 0x80, 0x800, 0x10000 };
	size_t		      i = 0, n, k;
	uint32_t	      cp;

	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0)
			n = 1, cp = s[i] & 0x1f;
		else if ((s[i] & 0xf0) == 0xe0)
			n = 2, cp = s[i] & 0x0f;
		else if ((s[i] & 0xf8) == 0xf0)
			n = 3, cp = s[i] & 0x07;
		else
			return 0;
		if (len - i <= n)
			return 0;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min[n] || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

/* A Close payload: the code and reason it holds, or the right refusal. */
static void
fuzz_frame_close(const uint8_t *payload, size_t len)
{
	const uint8_t	  *reason = (const uint8_t *)"x";
	struct frame_error err = { 0, NULL };
	size_t		   rlen = 99;
	int		   code = -1, r, want_code;
	uint8_t		  *p = fuzz_dup(payload, len);

	r = frame_parse_close(p, len, &code, &reason, &rlen, &err);
	if (len == 0) {
		FUZZ_CHECK(r == 0 && code == CLOSE_NO_STATUS &&
			reason == NULL && rlen == 0,
		    "empty Close is 1005");
	} else if (len == 1) {
		FUZZ_CHECK(r == -1 && err.code == CLOSE_PROTOCOL_ERROR,
		    "1-byte Close payload is 1002");
	} else {
		want_code = payload[0] << 8 | payload[1];
		if (!fuzz_frame_code_ref(want_code))
			FUZZ_CHECK(r == -1 && err.code == CLOSE_PROTOCOL_ERROR,
			    "Close code not allowed on the wire is 1002");
		else if (!fuzz_frame_utf8_ref(payload + 2, len - 2))
			FUZZ_CHECK(r == -1 &&
				err.code == CLOSE_INVALID_PAYLOAD,
			    "Close reason not UTF-8 is 1007");
		else
			FUZZ_CHECK(r == 0 && code == want_code &&
				reason == p + 2 && rlen == len - 2,
			    "valid Close: code and reason in the payload");
	}
	if (r == 0)
		FUZZ_CHECK(code == CLOSE_NO_STATUS ||
			frame_close_code_valid(code),
		    "decoded code is valid");
	else
		FUZZ_CHECK(err.reason != NULL, "refusal has a reason");
	free(p);
}

/* frame_encode_close: a whole unmasked Close frame that decodes back to
 * the code and to the reason, cut to 123 bytes at a character edge. */
static void
fuzz_frame_close_encode(const uint8_t *data, size_t size)
{
	static const int    codes[] = { CLOSE_NORMAL, CLOSE_GOING_AWAY,
		   CLOSE_PROTOCOL_ERROR, CLOSE_UNSUPPORTED_DATA, CLOSE_NO_STATUS,
		   CLOSE_INVALID_PAYLOAD, CLOSE_POLICY, CLOSE_TOO_BIG,
		   CLOSE_INTERNAL_ERROR, 3000, 4999 };
	struct frame_header fh;
	struct frame_error  err;
	const uint8_t	   *reason;
	size_t		    rin, rlen, n;
	char		   *in;
	uint8_t		   *out;
	int		    code, r, valid;

	if (size < 1)
		return;
	code = codes[data[0] % FUZZ_NELEM(codes)];
	rin = size - 1 > FUZZ_FRAME_REASON_MAX ? FUZZ_FRAME_REASON_MAX :
						 size - 1;
	in = fuzz_strndup(data + 1, rin);
	rin = strlen(in);
	valid = fuzz_frame_utf8_ref((const uint8_t *)in, rin);
	out = fuzz_alloc(2 + WSB_MAX_CONTROL_PAYLOAD);
	n = frame_encode_close(out, code, in);
	FUZZ_CHECK(n >= 2 && n <= 2 + WSB_MAX_CONTROL_PAYLOAD,
	    "Close frame fits a control frame");
	r = frame_decode_header(out, n, 0, &fh, &err);
	FUZZ_CHECK(r == 2 && fh.fin && fh.opcode == FRAME_OP_CLOSE &&
		!fh.masked && fh.length == n - 2,
	    "a whole unmasked Close frame");
	if (code == CLOSE_NO_STATUS) {
		FUZZ_CHECK(n == 2, "1005 is sent as an empty Close");
		goto done;
	}
	FUZZ_CHECK(n >= 4 && (out[2] << 8 | out[3]) == code, "code sent");
	rlen = n - 4;
	FUZZ_CHECK(memcmp(out + 4, in, rlen) == 0, "reason is a prefix");
	if (rin <= WSB_MAX_CLOSE_REASON)
		FUZZ_CHECK(rlen == rin, "a reason that fits is whole");
	else
		FUZZ_CHECK(rlen <= WSB_MAX_CLOSE_REASON &&
			(!valid || rlen + 3 >= WSB_MAX_CLOSE_REASON),
		    "a long reason is cut at most one character short");
	if (valid) {
		r = frame_parse_close(out + 2, n - 2, &code, &reason, &rlen,
		    &err);
		FUZZ_CHECK(r == 0 && reason == out + 4,
		    "a UTF-8 reason stays UTF-8 when cut");
	}
done:
	free(out);
	free(in);
}

/* Frames one after another (client rules): frame_check_sequence against
 * the RFC 6455 5.4 fragmentation rules and websockify's no-text rule. */
static void
fuzz_frame_sequence(const uint8_t *data, size_t size)
{
	struct frame_msg_state st = { 0 };
	struct frame_header    fh;
	struct frame_error     err;
	size_t		       off = 0;
	int		       n, r, open = 0, want, want_code = 0;

	while (off < size) {
		n = frame_decode_header(data + off, size - off, 1, &fh, &err);
		if (n <= 0)
			break;
		want = 0;
		if (fh.opcode == FRAME_OP_TEXT)
			want = -1, want_code = CLOSE_UNSUPPORTED_DATA;
		else if (fh.opcode == FRAME_OP_CONT && !open)
			want = -1, want_code = CLOSE_PROTOCOL_ERROR;
		else if (fh.opcode == FRAME_OP_BINARY && open)
			want = -1, want_code = CLOSE_PROTOCOL_ERROR;
		r = frame_check_sequence(&st, &fh, &err);
		FUZZ_CHECK(r == want && (r == 0 || err.code == want_code),
		    "fragmentation rules");
		if (r == -1)
			break; /* the session closes here */
		if (fh.opcode < 0x8)
			open = !fh.fin;
		FUZZ_CHECK(st.in_message == open, "message state");
		off += (size_t)n;
		/* The payload, or what is left of the input. */
		off += fh.length < size - off ? (size_t)fh.length : size - off;
	}
}

/* Every check on every input. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_frame_decode(data, size, 0);
	fuzz_frame_decode(data, size, 1);
	fuzz_frame_roundtrip(data, size);
	fuzz_frame_unmask(data, size);
	fuzz_frame_close(data, size);
	if (size > 2)
		fuzz_frame_close(data + 2, size - 2 > 125 ? 125 : size - 2);
	FUZZ_CHECK(frame_utf8_valid(data, size) ==
		fuzz_frame_utf8_ref(data, size),
	    "UTF-8 validator agrees");
	fuzz_frame_close_encode(data, size);
	fuzz_frame_sequence(data, size);
	return 0;
}
