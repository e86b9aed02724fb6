/* Unit tests for the RFC 6455 section 5 frame codec (src/frame.c). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, strcasestr, strndup */
#endif

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "frame.h"
#include "wsb_limits.h"
#include "test_helpers.h"

/* A case leaves the fields it does not need zero: one line per case. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* A byte string literal and its length, NULs included. */
#define B(s) (const uint8_t *)(s), (sizeof(s) - 1)

/* The mask used by most cases: RFC 6455 5.7's example mask. */
#define M "\x37\xfa\x21\x3d"

/*
 * frame_decode_header on whole headers.  ret is the header length or -1;
 * code is the Close code expected with -1.
 */
struct decode_case {
	const char    *desc;
	const uint8_t *buf;
	size_t	       len;
	int	       require_mask;
	int	       ret;
	int	       code;
	unsigned       fin, rsv, opcode, masked;
	uint64_t       length;
};

static const struct decode_case decode_cases[] = {
	/* desc, bytes, require_mask, ret, code, fin, rsv, op, masked, length */
	{ "RFC 5.7 unmasked Hello", B("\x81\x05"), 0, 2, 0, 1, 0, 1, 0, 5 },
	{ "RFC 5.7 masked Hello", B("\x81\x85" M), 1, 6, 0, 1, 0, 1, 1, 5 },
	{ "7-bit length 0", B("\x82\x00"), 0, 2, 0, 1, 0, 2, 0, 0 },
	{ "7-bit length 125", B("\x82\x7d"), 0, 2, 0, 1, 0, 2, 0, 125 },
	{ "7-bit 125 masked", B("\x82\xfd" M), 1, 6, 0, 1, 0, 2, 1, 125 },
	{ "16-bit 126", B("\x82\x7e\x00\x7e"), 0, 4, 0, 1, 0, 2, 0, 126 },
	{ "16-bit length 256 (RFC 5.7)", B("\x82\x7e\x01\x00"), 0, 4, 0, 1, 0,
	    2, 0, 256 },
	{ "16-bit length 65535", B("\x82\x7e\xff\xff"), 0, 4, 0, 1, 0, 2, 0,
	    65535 },
	{ "16-bit length 65535 masked", B("\x82\xfe\xff\xff" M), 1, 8, 0, 1, 0,
	    2, 1, 65535 },
	{ "64-bit length 65536 (RFC 5.7)",
	    B("\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"), 0, 10, 0, 1, 0, 2,
	    0, 65536 },
	{ "64-bit length 2^32 masked",
	    B("\x82\xff\x00\x00\x00\x01\x00\x00\x00\x00" M), 1, 14, 0, 1, 0, 2,
	    1, 4294967296ULL },
	{ "64-bit length 2^63-1",
	    B("\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff"), 0, 10, 0, 1, 0, 2,
	    0, 0x7fffffffffffffffULL },
	{ "masked frame without require_mask", B("\x82\x85" M), 0, 6, 0, 1, 0,
	    2, 1, 5 },
	{ "binary fin=0", B("\x02\x80" M), 1, 6, 0, 0, 0, 2, 1, 0 },
	{ "continuation fin=0", B("\x00\x83" M), 1, 6, 0, 0, 0, 0, 1, 3 },
	{ "continuation fin=1", B("\x80\x83" M), 1, 6, 0, 1, 0, 0, 1, 3 },
	{ "text fin=1 (decoded; refused later)", B("\x81\x80" M), 1, 6, 0, 1,
	    0, 1, 1, 0 },
	{ "close empty", B("\x88\x80" M), 1, 6, 0, 1, 0, 8, 1, 0 },
	{ "ping 125 bytes", B("\x89\xfd" M), 1, 6, 0, 1, 0, 9, 1, 125 },
	{ "pong 0 bytes", B("\x8a\x80" M), 1, 6, 0, 1, 0, 0xa, 1, 0 },
	{ "RSV1 set", B("\xc2\x80" M), 1, -1, 1002 },
	{ "RSV2 set", B("\xa2\x80" M), 1, -1, 1002 },
	{ "RSV3 set", B("\x92\x80" M), 1, -1, 1002 },
	{ "all RSV bits set", B("\xf2\x80" M), 1, -1, 1002 },
	{ "RSV1 on a ping", B("\xc9\x80" M), 1, -1, 1002 },
	{ "reserved opcode 0x3", B("\x83\x80" M), 1, -1, 1002 },
	{ "reserved opcode 0x4", B("\x84\x80" M), 1, -1, 1002 },
	{ "reserved opcode 0x5", B("\x85\x80" M), 1, -1, 1002 },
	{ "reserved opcode 0x6", B("\x86\x80" M), 1, -1, 1002 },
	{ "reserved opcode 0x7", B("\x87\x80" M), 1, -1, 1002 },
	{ "reserved opcode 0xb", B("\x8b\x80" M), 1, -1, 1002 },
	{ "reserved opcode 0xc", B("\x8c\x80" M), 1, -1, 1002 },
	{ "reserved opcode 0xd", B("\x8d\x80" M), 1, -1, 1002 },
	{ "reserved opcode 0xe", B("\x8e\x80" M), 1, -1, 1002 },
	{ "reserved opcode 0xf", B("\x8f\x80" M), 1, -1, 1002 },
	{ "reserved opcode 0x3 without require_mask", B("\x83\x00"), 0, -1,
	    1002 },
	{ "ping 126 bytes (16-bit form)", B("\x89\xfe\x00\x7e" M), 1, -1,
	    1002 },
	{ "close 126 bytes (16-bit form)", B("\x88\xfe\x00\x7e" M), 1, -1,
	    1002 },
	{ "pong 65536 bytes (64-bit form)",
	    B("\x8a\xff\x00\x00\x00\x00\x00\x01\x00\x00" M), 1, -1, 1002 },
	{ "ping 126 bytes unmasked, no require_mask", B("\x89\x7e\x00\x7e"), 0,
	    -1, 1002 },
	{ "fragmented ping (fin=0)", B("\x09\x80" M), 1, -1, 1002 },
	{ "fragmented close (fin=0)", B("\x08\x80" M), 1, -1, 1002 },
	{ "fragmented pong (fin=0)", B("\x0a\x80" M), 1, -1, 1002 },
	{ "64-bit length with top bit set",
	    B("\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00" M), 1, -1, 1002 },
	{ "64-bit length all ones",
	    B("\x82\xff\xff\xff\xff\xff\xff\xff\xff"
	      "\xff" M),
	    1, -1, 1002 },
	{ "unmasked client binary", B("\x82\x05"), 1, -1, 1002 },
	{ "unmasked client close", B("\x88\x00"), 1, -1, 1002 },
	{ "unmasked client 16-bit length", B("\x82\x7e\x01\x00"), 1, -1,
	    1002 },
};

/* Check one decode result against its case. */
static void
check_decode(const struct decode_case *c, int ret,
    const struct frame_header *fh, const struct frame_error *err,
    const char *how)
{
	cr_expect_eq(ret, c->ret, "%s (%s): ret %d, want %d", c->desc, how,
	    ret, c->ret);
	if (ret != c->ret)
		return;
	if (c->ret == -1) {
		cr_expect_eq(err->code, c->code, "%s (%s): code %d, want %d",
		    c->desc, how, err->code, c->code);
		cr_expect(err->reason != NULL && err->reason[0] != '\0',
		    "%s (%s): error without a reason", c->desc, how);
		return;
	}
	cr_expect_eq(fh->fin, c->fin, "%s (%s): fin %u", c->desc, how,
	    fh->fin);
	cr_expect_eq(fh->rsv, c->rsv, "%s (%s): rsv %u", c->desc, how,
	    fh->rsv);
	cr_expect_eq(fh->opcode, c->opcode, "%s (%s): opcode %u", c->desc, how,
	    fh->opcode);
	cr_expect_eq(fh->masked, c->masked, "%s (%s): masked %u", c->desc, how,
	    fh->masked);
	cr_expect_eq(fh->length, c->length, "%s (%s): length %llu", c->desc,
	    how, (unsigned long long)fh->length);
	if (c->masked)
		cr_expect(memcmp(fh->mask, c->buf + c->ret - 4, 4) == 0,
		    "%s (%s): wrong mask", c->desc, how);
}

Test(frame_decode_header, table)
{
	const struct decode_case *c;
	struct frame_header	  fh;
	struct frame_error	  err;
	size_t			  i;
	int			  ret;

	for (i = 0; i < NELEM(decode_cases); i++) {
		c = &decode_cases[i];
		memset(&fh, 0xa5, sizeof(fh));
		memset(&err, 0, sizeof(err));
		ret = frame_decode_header(c->buf, c->len, c->require_mask, &fh,
		    &err);
		check_decode(c, ret, &fh, &err, "whole");
	}
}

/* Payload bytes after the header are not part of it. */
Test(frame_decode_header, trailing_payload_not_consumed)
{
	const struct decode_case *c;
	struct frame_header	  fh;
	struct frame_error	  err;
	uint8_t			  buf[64];
	size_t			  i;
	int			  ret;

	for (i = 0; i < NELEM(decode_cases); i++) {
		c = &decode_cases[i];
		if (c->ret < 0)
			continue;
		memcpy(buf, c->buf, c->len);
		memset(buf + c->len, 0x81, sizeof(buf) - c->len);
		ret = frame_decode_header(buf, sizeof(buf), c->require_mask,
		    &fh, &err);
		check_decode(c, ret, &fh, &err, "with payload after");
	}
}

/*
 * Every split point: the first k bytes of a valid header need more; of an
 * invalid header they need more or fail, never succeed.
 */
Test(frame_decode_header, every_split_point)
{
	const struct decode_case *c;
	struct frame_header	  fh;
	struct frame_error	  err;
	size_t			  i, k;
	int			  ret;

	for (i = 0; i < NELEM(decode_cases); i++) {
		c = &decode_cases[i];
		for (k = 0; k < c->len; k++) {
			memset(&err, 0, sizeof(err));
			ret = frame_decode_header(c->buf, k, c->require_mask,
			    &fh, &err);
			if (c->ret > 0)
				cr_expect_eq(ret, -2,
				    "%s: prefix %zu of %zu gave %d, want -2",
				    c->desc, k, c->len, ret);
			else
				cr_expect(ret == -2 ||
					(ret == -1 && err.code == c->code),
				    "%s: prefix %zu of %zu returned %d code %d",
				    c->desc, k, c->len, ret, err.code);
		}
	}
}

/* Each prefix of each header placed so it ends at the page edge. */
Test(frame_decode_header, page_edge)
{
	const struct decode_case *c;
	struct frame_header	  fh;
	struct frame_error	  err;
	uint8_t			 *end;
	size_t			  i, k, room = 0;
	int			  ret;

	for (i = 0; i < NELEM(decode_cases); i++)
		if (decode_cases[i].len > room)
			room = decode_cases[i].len;
	end = test_guard_end(room);
	for (i = 0; i < NELEM(decode_cases); i++) {
		c = &decode_cases[i];
		for (k = 0; k <= c->len; k++) {
			memcpy(end - k, c->buf, k);
			ret = frame_decode_header(end - k, k, c->require_mask,
			    &fh, &err);
			if (k == c->len)
				check_decode(c, ret, &fh, &err, "page edge");
			else if (c->ret > 0)
				cr_expect_eq(ret, -2,
				    "%s: page-edge prefix %zu", c->desc, k);
		}
	}
	test_guard_free(end, room);
}

/*
 * frame_check_sequence: a run of frames and what each must give.  in is
 * st.in_message expected after an accepted frame.
 */
struct seq_step {
	unsigned fin, opcode;
	int	 ret, code, in;
};

struct seq_case {
	const char     *desc;
	size_t		n;
	struct seq_step step[6];
};

static const struct seq_case seq_cases[] = {
	{ "single binary frame", 1, { { 1, 2, 0, 0, 0 } } },
	{ "two whole binary messages", 2,
	    { { 1, 2, 0, 0, 0 }, { 1, 2, 0, 0, 0 } } },
	{ "continuation with no message", 1, { { 1, 0, -1, 1002, 0 } } },
	{ "continuation fin=0 with no message", 1, { { 0, 0, -1, 1002, 0 } } },
	{ "fragmented binary closed by fin continuation", 4,
	    { { 0, 2, 0, 0, 1 }, { 0, 0, 0, 0, 1 }, { 1, 0, 0, 0, 0 },
		{ 1, 2, 0, 0, 0 } } },
	{ "two fragments", 2, { { 0, 2, 0, 0, 1 }, { 1, 0, 0, 0, 0 } } },
	{ "new binary frame inside open message", 2,
	    { { 0, 2, 0, 0, 1 }, { 1, 2, -1, 1002, 0 } } },
	{ "new binary fin=0 inside open message", 2,
	    { { 0, 2, 0, 0, 1 }, { 0, 2, -1, 1002, 0 } } },
	{ "continuation after message ended", 3,
	    { { 0, 2, 0, 0, 1 }, { 1, 0, 0, 0, 0 }, { 1, 0, -1, 1002, 0 } } },
	{ "text frame refused", 1, { { 1, 1, -1, 1003, 0 } } },
	{ "text first fragment refused", 1, { { 0, 1, -1, 1003, 0 } } },
	{ "ping, pong, close outside a message", 3,
	    { { 1, 9, 0, 0, 0 }, { 1, 0xa, 0, 0, 0 }, { 1, 8, 0, 0, 0 } } },
	{ "control frames mid-message leave it open", 5,
	    { { 0, 2, 0, 0, 1 }, { 1, 9, 0, 0, 1 }, { 0, 0, 0, 0, 1 },
		{ 1, 0xa, 0, 0, 1 }, { 1, 0, 0, 0, 0 } } },
	{ "close mid-message passes", 2,
	    { { 0, 2, 0, 0, 1 }, { 1, 8, 0, 0, 1 } } },
};

Test(frame_check_sequence, table)
{
	const struct seq_case *c;
	const struct seq_step *s;
	struct frame_msg_state st;
	struct frame_header    fh;
	struct frame_error     err;
	size_t		       i, j;
	int		       ret;

	for (i = 0; i < NELEM(seq_cases); i++) {
		c = &seq_cases[i];
		memset(&st, 0, sizeof(st));
		for (j = 0; j < c->n; j++) {
			s = &c->step[j];
			memset(&fh, 0, sizeof(fh));
			memset(&err, 0, sizeof(err));
			fh.fin = s->fin;
			fh.opcode = s->opcode;
			fh.masked = 1;
			fh.length = 3;
			ret = frame_check_sequence(&st, &fh, &err);
			cr_expect_eq(ret, s->ret, "%s: step %zu returned %d",
			    c->desc, j, ret);
			if (ret != s->ret)
				break;
			if (ret == -1) {
				cr_expect_eq(err.code, s->code,
				    "%s: step %zu code %d, want %d", c->desc,
				    j, err.code, s->code);
				cr_expect(err.reason != NULL,
				    "%s: step %zu no reason", c->desc, j);
				break;
			}
			cr_expect_eq(!!st.in_message, s->in,
			    "%s: step %zu in_message %d, want %d", c->desc, j,
			    st.in_message, s->in);
		}
	}
}

Test(frame_check_sequence, text_reason)
{
	struct frame_msg_state st = { 0 };
	struct frame_header    fh = { .fin = 1, .opcode = FRAME_OP_TEXT };
	struct frame_error     err = { 0, NULL };

	cr_assert_eq(frame_check_sequence(&st, &fh, &err), -1);
	cr_expect_eq(err.code, CLOSE_UNSUPPORTED_DATA);
	cr_assert(err.reason != NULL);
	cr_expect_str_eq(err.reason, "text frames are not supported");
}

/* Deterministic bytes for the unmask tests. */
static void
fill(uint8_t *p, size_t len, uint32_t seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		seed = seed * 1103515245 + 12345;
		p[i] = seed >> 16;
	}
}

/* The reference: byte-wise XOR. */
static void
ref_unmask(uint8_t *p, size_t len, const uint8_t mask[4], uint64_t offset)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] ^= mask[(offset + i) & 3];
}

static const uint8_t test_mask[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* Every offset 0..7, length 0..40, and start alignment 0..7. */
Test(frame_unmask, matches_reference_small)
{
	uint8_t	 in[64], want[64], got[64];
	size_t	 len, align;
	uint64_t off;

	for (align = 0; align < 8; align++)
		for (off = 0; off < 8; off++)
			for (len = 0; len <= 40; len++) {
				fill(in, sizeof(in), len * 64 + off);
				memcpy(want, in, sizeof(in));
				memcpy(got, in, sizeof(in));
				ref_unmask(want + align, len, test_mask, off);
				frame_unmask(got + align, len, test_mask, off);
				cr_expect(memcmp(got, want, sizeof(got)) == 0,
				    "unmask differs: align %zu offset %llu "
				    "len %zu",
				    align, (unsigned long long)off, len);
			}
}

/* A large unaligned buffer at small and huge offsets. */
Test(frame_unmask, matches_reference_large)
{
	static const uint64_t offs[] = { 0, 1, 2, 3, 5, 4294967295ULL,
		(1ULL << 40) + 3, UINT64_MAX };
	size_t		      len = (1 << 20) + 13, i;
	uint8_t		     *in, *want, *got;

	in = malloc(len + 1);
	want = malloc(len + 1);
	got = malloc(len + 1);
	cr_assert(in && want && got);
	for (i = 0; i < NELEM(offs); i++) {
		fill(in, len + 1, i);
		memcpy(want, in, len + 1);
		memcpy(got, in, len + 1);
		ref_unmask(want + 1, len, test_mask, offs[i]);
		frame_unmask(got + 1, len, test_mask, offs[i]);
		cr_expect(memcmp(got, want, len + 1) == 0,
		    "large unmask differs at offset %llu",
		    (unsigned long long)offs[i]);
	}
	free(in);
	free(want);
	free(got);
}

/* Unmasking in two pieces at every split, and in three, equals whole. */
Test(frame_unmask, pieces_equal_whole)
{
	uint8_t whole[67], pieces[67];
	size_t	n = sizeof(whole), k, l;

	fill(whole, n, 7);
	memcpy(pieces, whole, n);
	frame_unmask(whole, n, test_mask, 0);
	for (k = 0; k <= n; k++) {
		fill(pieces, n, 7);
		frame_unmask(pieces, k, test_mask, 0);
		frame_unmask(pieces + k, n - k, test_mask, k);
		cr_expect(memcmp(pieces, whole, n) == 0,
		    "two pieces split at %zu differ", k);
	}
	for (k = 0; k <= n; k++)
		for (l = k; l <= n; l++) {
			fill(pieces, n, 7);
			frame_unmask(pieces, k, test_mask, 0);
			frame_unmask(pieces + k, l - k, test_mask, k);
			frame_unmask(pieces + l, n - l, test_mask, l);
			cr_expect(memcmp(pieces, whole, n) == 0,
			    "three pieces split at %zu,%zu differ", k, l);
		}
}

/* RFC 6455 5.7: masked "Hello". */
Test(frame_unmask, rfc_example)
{
	uint8_t p[] = { 0x7f, 0x9f, 0x4d, 0x51, 0x58 };

	frame_unmask(p, sizeof(p), test_mask, 0);
	cr_expect(memcmp(p, "Hello", 5) == 0, "RFC 5.7 Hello not recovered");
}

/* frame_encode_header: exact bytes for the RFC 5.7 examples. */
struct encode_case {
	const char    *desc;
	int	       fin;
	unsigned       opcode;
	uint64_t       length;
	int	       masked;
	const uint8_t *want;
	size_t	       want_len;
};

static const struct encode_case encode_cases[] = {
	{ "RFC 5.7 unmasked Hello", 1, 1, 5, 0, B("\x81\x05") },
	{ "RFC 5.7 masked Hello", 1, 1, 5, 1, B("\x81\x85" M) },
	{ "RFC 5.7 256 bytes binary", 1, 2, 256, 0, B("\x82\x7e\x01\x00") },
	{ "RFC 5.7 64 KiB binary", 1, 2, 65536, 0,
	    B("\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00") },
	{ "close empty", 1, 8, 0, 0, B("\x88\x00") },
	{ "fragment fin=0 binary 125", 0, 2, 125, 0, B("\x02\x7d") },
	{ "continuation 126 masked", 1, 0, 126, 1, B("\x80\xfe\x00\x7e" M) },
	{ "pong 0 masked", 1, 0xa, 0, 1, B("\x8a\x80" M) },
};

Test(frame_encode_header, exact_bytes)
{
	const struct encode_case *c;
	uint8_t			  out[WSB_MAX_FRAME_HEADER + 2];
	size_t			  i, n;

	for (i = 0; i < NELEM(encode_cases); i++) {
		c = &encode_cases[i];
		memset(out, 0xee, sizeof(out));
		n = frame_encode_header(out, c->fin, c->opcode, c->length,
		    c->masked ? test_mask : NULL);
		cr_expect_eq(n, c->want_len, "%s: length %zu, want %zu",
		    c->desc, n, c->want_len);
		cr_expect(memcmp(out, c->want, c->want_len) == 0,
		    "%s: wrong bytes", c->desc);
		cr_expect(out[n] == 0xee, "%s: wrote past the header",
		    c->desc);
	}
}

/* Encode then decode: lengths on either side of each length form. */
Test(frame_encode_header, round_trip)
{
	static const uint64_t lens[] = { 0, 1, 125, 126, 127, 65535, 65536,
		4294967295ULL, 4294967296ULL, 0x7fffffffffffffffULL };
	static const unsigned ops[] = { 0, 2, 8, 9, 0xa };
	struct frame_header   fh;
	struct frame_error    err;
	uint8_t		      out[WSB_MAX_FRAME_HEADER];
	size_t		      i, j, n, want;
	int		      m, fin, ret;

	for (i = 0; i < NELEM(lens); i++)
		for (j = 0; j < NELEM(ops); j++)
			for (m = 0; m < 2; m++)
				for (fin = 0; fin < 2; fin++) {
					if (ops[j] >= 8 &&
					    (lens[i] > 125 || !fin))
						continue;
					n = frame_encode_header(out, fin,
					    ops[j], lens[i],
					    m ? test_mask : NULL);
					want = 2 + (m ? 4 : 0) +
					    (lens[i] > 65535	  ? 8 :
						    lens[i] > 125 ? 2 :
								    0);
					cr_expect_eq(n, want,
					    "len %llu op %u "
					    "mask %d: header %zu, want %zu",
					    (unsigned long long)lens[i],
					    ops[j], m, n, want);
					memset(&fh, 0, sizeof(fh));
					ret = frame_decode_header(out, n, m,
					    &fh, &err);
					cr_expect_eq(ret, (int)n,
					    "len %llu op "
					    "%u mask %d: decode %d",
					    (unsigned long long)lens[i],
					    ops[j], m, ret);
					if (ret != (int)n)
						continue;
					cr_expect(fh.fin == (unsigned)fin &&
						fh.opcode == ops[j] &&
						fh.masked == (unsigned)m &&
						fh.rsv == 0 &&
						fh.length == lens[i] &&
						(!m ||
						    !memcmp(fh.mask, test_mask,
							4)),
					    "len %llu op %u mask %d fin %d: "
					    "round trip differs",
					    (unsigned long long)lens[i],
					    ops[j], m, fin);
				}
}

/* frame_close_code_valid: RFC 6455 7.4 and the IANA registry. */
struct code_case {
	int	    code;
	int	    valid;
	const char *desc;
};

static const struct code_case code_cases[] = {
	{ -1, 0, "negative" },
	{ 0, 0, "zero" },
	{ 999, 0, "below 1000, unused" },
	{ 1000, 1, "normal closure" },
	{ 1001, 1, "going away" },
	{ 1002, 1, "protocol error" },
	{ 1003, 1, "unsupported data" },
	{ 1004, 0, "reserved" },
	{ 1005, 0, "no status: never on the wire" },
	{ 1006, 0, "abnormal: never on the wire" },
	{ 1007, 1, "invalid payload data" },
	{ 1008, 1, "policy violation" },
	{ 1009, 1, "message too big" },
	{ 1010, 1, "mandatory extension" },
	{ 1011, 1, "internal error" },
	{ 1012, 1, "service restart (IANA)" },
	{ 1013, 1, "try again later (IANA)" },
	{ 1014, 1, "bad gateway (IANA)" },
	{ 1015, 0, "TLS failure: never on the wire" },
	{ 1016, 0, "reserved for the protocol" },
	{ 2000, 0, "reserved for the protocol" },
	{ 2999, 0, "last reserved for the protocol" },
	{ 3000, 1, "first registered for libraries" },
	{ 3999, 1, "last registered for libraries" },
	{ 4000, 1, "first private use" },
	{ 4999, 1, "last private use" },
	{ 5000, 0, "past private use" },
	{ 65535, 0, "largest 16-bit value" },
	{ 65536, 0, "not a 16-bit value" },
};

Test(frame_close_code_valid, table)
{
	size_t i;
	int    got;

	for (i = 0; i < NELEM(code_cases); i++) {
		got = frame_close_code_valid(code_cases[i].code);
		cr_expect_eq(!!got, code_cases[i].valid, "%d (%s): got %d",
		    code_cases[i].code, code_cases[i].desc, got);
	}
}

/* frame_utf8_valid: Markus Kuhn's stress test and Autobahn case 6. */
struct utf8_case {
	const char    *desc;
	const uint8_t *s;
	size_t	       len;
	int	       valid;
};

static const struct utf8_case utf8_cases[] = {
	{ "empty", B(""), 1 },
	{ "ASCII", B("Hello-\x7f"), 1 },
	{ "NUL inside", B("a\0b"), 1 },
	{ "2-byte U+0080", B("\xc2\x80"), 1 },
	{ "2-byte U+07FF", B("\xdf\xbf"), 1 },
	{ "Greek kosme (Autobahn 6.2.1)",
	    B("\xce\xba\xe1\xbd\xb9\xcf\x83"
	      "\xce\xbc\xce\xb5"),
	    1 },
	{ "3-byte U+0800", B("\xe0\xa0\x80"), 1 },
	{ "3-byte euro sign", B("\xe2\x82\xac"), 1 },
	{ "3-byte U+D7FF (before surrogates)", B("\xed\x9f\xbf"), 1 },
	{ "3-byte U+E000 (after surrogates)", B("\xee\x80\x80"), 1 },
	{ "3-byte U+FFFD", B("\xef\xbf\xbd"), 1 },
	{ "3-byte U+FFFE noncharacter is valid", B("\xef\xbf\xbe"), 1 },
	{ "3-byte U+FFFF noncharacter is valid", B("\xef\xbf\xbf"), 1 },
	{ "3-byte U+FDD0 noncharacter is valid", B("\xef\xb7\x90"), 1 },
	{ "4-byte U+10000", B("\xf0\x90\x80\x80"), 1 },
	{ "4-byte emoji U+1F600", B("\xf0\x9f\x98\x80"), 1 },
	{ "4-byte U+10FFFF (last)", B("\xf4\x8f\xbf\xbf"), 1 },
	{ "mixed widths", B("a\xc2\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"), 1 },
	{ "overlong NUL C0 80", B("\xc0\x80"), 0 },
	{ "overlong slash C0 AF", B("\xc0\xaf"), 0 },
	{ "overlong C1 BF", B("\xc1\xbf"), 0 },
	{ "overlong E0 80 80", B("\xe0\x80\x80"), 0 },
	{ "overlong slash E0 80 AF", B("\xe0\x80\xaf"), 0 },
	{ "overlong E0 9F BF (U+07FF in 3)", B("\xe0\x9f\xbf"), 0 },
	{ "overlong F0 80 80 80", B("\xf0\x80\x80\x80"), 0 },
	{ "overlong F0 8F BF BF (U+FFFF in 4)", B("\xf0\x8f\xbf\xbf"), 0 },
	{ "overlong 5-byte slash", B("\xf8\x80\x80\x80\xaf"), 0 },
	{ "surrogate U+D800 ED A0 80", B("\xed\xa0\x80"), 0 },
	{ "surrogate U+DB7F", B("\xed\xad\xbf"), 0 },
	{ "surrogate U+DC00", B("\xed\xb0\x80"), 0 },
	{ "surrogate U+DFFF", B("\xed\xbf\xbf"), 0 },
	{ "surrogate pair U+D800 U+DC00", B("\xed\xa0\x80\xed\xb0\x80"), 0 },
	{ "Autobahn 6.3.1 kosme with surrogate",
	    B("\xce\xba\xe1\xbd\xb9\xcf"
	      "\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64"),
	    0 },
	{ "past U+10FFFF F4 90 80 80", B("\xf4\x90\x80\x80"), 0 },
	{ "past U+10FFFF F5 80 80 80", B("\xf5\x80\x80\x80"), 0 },
	{ "past U+10FFFF F7 BF BF BF", B("\xf7\xbf\xbf\xbf"), 0 },
	{ "5-byte form F8 88 80 80 80", B("\xf8\x88\x80\x80\x80"), 0 },
	{ "6-byte form FC 84 80 80 80 80", B("\xfc\x84\x80\x80\x80\x80"), 0 },
	{ "byte FE", B("\xfe"), 0 },
	{ "byte FF", B("\xff"), 0 },
	{ "FE FE FF FF", B("\xfe\xfe\xff\xff"), 0 },
	{ "truncated 2-byte C2", B("\xc2"), 0 },
	{ "truncated 3-byte E0 A0", B("\xe0\xa0"), 0 },
	{ "truncated 3-byte E2 82 after ASCII", B("abc\xe2\x82"), 0 },
	{ "truncated 4-byte F0 90 80", B("\xf0\x90\x80"), 0 },
	{ "truncated 4-byte F4 8F BF", B("\xf4\x8f\xbf"), 0 },
	{ "truncated 4-byte F0", B("\xf0"), 0 },
	{ "start byte then ASCII C2 41", B("\xc2\x41"), 0 },
	{ "3-byte start then ASCII E2 82 41", B("\xe2\x82\x41"), 0 },
	{ "4-byte start then ASCII F0 9F 98 41", B("\xf0\x9f\x98\x41"), 0 },
	{ "start byte then start byte C2 C2 80", B("\xc2\xc2\x80"), 0 },
	{ "stray continuation 80", B("\x80"), 0 },
	{ "stray continuation BF", B("\xbf"), 0 },
	{ "stray continuation mid-ASCII",
	    B("a\x80"
	      "b"),
	    0 },
	{ "two stray continuations", B("\x80\x80"), 0 },
	{ "continuation after a whole 2-byte", B("\xc2\x80\x80"), 0 },
	{ "extra continuation after 4-byte", B("\xf0\x9f\x98\x80\x80"), 0 },
	{ "2-byte starts each before a space", B("\xc0 \xc1 \xc2 \xdf "), 0 },
	{ "invalid after a long ASCII run",
	    B("0123456789abcdef0123456789"
	      "abcdef\xff"),
	    0 },
	{ "long ASCII run", B("0123456789abcdef0123456789abcdef0123456789"),
	    1 },
};

Test(frame_utf8_valid, table)
{
	size_t i;
	int    got;

	for (i = 0; i < NELEM(utf8_cases); i++) {
		got = frame_utf8_valid(utf8_cases[i].s, utf8_cases[i].len);
		cr_expect_eq(!!got, utf8_cases[i].valid, "%s: got %d",
		    utf8_cases[i].desc, got);
	}
}

/* The same cases ending at a page edge: truncated sequences must not be
 * read past their end. */
Test(frame_utf8_valid, page_edge)
{
	uint8_t *end;
	size_t	 i, room = 0;
	int	 got;

	for (i = 0; i < NELEM(utf8_cases); i++)
		if (utf8_cases[i].len > room)
			room = utf8_cases[i].len;
	end = test_guard_end(room);
	for (i = 0; i < NELEM(utf8_cases); i++) {
		memcpy(end - utf8_cases[i].len, utf8_cases[i].s,
		    utf8_cases[i].len);
		got = frame_utf8_valid(end - utf8_cases[i].len,
		    utf8_cases[i].len);
		cr_expect_eq(!!got, utf8_cases[i].valid,
		    "%s at page edge: got %d", utf8_cases[i].desc, got);
	}
	test_guard_free(end, room);
}

/* A bad byte at every position of an ASCII buffer, and a 4-byte
 * character at every alignment: catches word-at-a-time fast paths. */
Test(frame_utf8_valid, every_position)
{
	uint8_t buf[80];
	size_t	i;

	for (i = 0; i < sizeof(buf); i++) {
		memset(buf, 'a', sizeof(buf));
		buf[i] = 0x80;
		cr_expect_eq(frame_utf8_valid(buf, sizeof(buf)), 0,
		    "stray 0x80 at %zu accepted", i);
		buf[i] = 0xff;
		cr_expect_eq(frame_utf8_valid(buf, sizeof(buf)), 0,
		    "0xff at %zu accepted", i);
	}
	for (i = 0; i + 4 <= sizeof(buf); i++) {
		memset(buf, 'a', sizeof(buf));
		memcpy(buf + i, "\xf0\x9f\x98\x80", 4);
		cr_expect_eq(frame_utf8_valid(buf, sizeof(buf)), 1,
		    "U+1F600 at %zu refused", i);
		memcpy(buf + i, "\xed\xa0\x80", 3);
		cr_expect_eq(frame_utf8_valid(buf, sizeof(buf)), 0,
		    "surrogate at %zu accepted", i);
	}
}

/* frame_parse_close on received payloads. */
struct close_case {
	const char    *desc;
	const uint8_t *p;
	size_t	       len;
	int	       ret;
	int	       code; /* the parsed code, or the error code */
	size_t	       reason_len;
};

static const struct close_case close_cases[] = {
	{ "empty: no status", B(""), 0, CLOSE_NO_STATUS, 0 },
	{ "one byte", B("\x03"), -1, 1002 },
	{ "1000 without reason", B("\x03\xe8"), 0, 1000, 0 },
	{ "1001 with reason",
	    B("\x03\xe9"
	      "bye"),
	    0, 1001, 3 },
	{ "3000 with UTF-8 reason",
	    B("\x0b\xb8\xce\xba\xe1\xbd\xb9\xcf\x83"
	      "\xce\xbc\xce\xb5"),
	    0, 3000, 11 },
	{ "4999 private use", B("\x13\x87"), 0, 4999, 0 },
	{ "code 0", B("\x00\x00"), -1, 1002 },
	{ "code 999", B("\x03\xe7"), -1, 1002 },
	{ "code 1004 reserved", B("\x03\xec"), -1, 1002 },
	{ "code 1005 on the wire", B("\x03\xed"), -1, 1002 },
	{ "code 1006 on the wire", B("\x03\xee"), -1, 1002 },
	{ "code 1015 on the wire", B("\x03\xf7"), -1, 1002 },
	{ "code 2999", B("\x0b\xb7"), -1, 1002 },
	{ "code 5000", B("\x13\x88"), -1, 1002 },
	{ "code 65535", B("\xff\xff"), -1, 1002 },
	{ "invalid code and bad UTF-8", B("\x03\xe7\xff"), -1, 1002 },
	{ "reason FF", B("\x03\xe8\xff"), -1, 1007 },
	{ "reason overlong C0 80",
	    B("\x03\xe8"
	      "ab\xc0\x80"),
	    -1, 1007 },
	{ "reason surrogate", B("\x03\xe8\xed\xa0\x80"), -1, 1007 },
	{ "reason truncated 2-byte",
	    B("\x03\xe8"
	      "ok\xc2"),
	    -1, 1007 },
};

Test(frame_parse_close, table)
{
	const struct close_case *c;
	struct frame_error	 err;
	const uint8_t		*reason;
	size_t			 reason_len, i;
	int			 code, ret;

	for (i = 0; i < NELEM(close_cases); i++) {
		c = &close_cases[i];
		code = -42;
		reason = NULL;
		reason_len = 9999;
		memset(&err, 0, sizeof(err));
		ret = frame_parse_close(c->p, c->len, &code, &reason,
		    &reason_len, &err);
		cr_expect_eq(ret, c->ret, "%s: ret %d, want %d", c->desc, ret,
		    c->ret);
		if (ret != c->ret)
			continue;
		if (ret == -1) {
			cr_expect_eq(err.code, c->code, "%s: code %d, want %d",
			    c->desc, err.code, c->code);
			continue;
		}
		cr_expect_eq(code, c->code, "%s: code %d, want %d", c->desc,
		    code, c->code);
		cr_expect_eq(reason_len, c->reason_len, "%s: reason_len %zu",
		    c->desc, reason_len);
		if (c->reason_len > 0)
			cr_expect(reason == c->p + 2,
			    "%s: reason does not point into payload", c->desc);
	}
}

/* A 125-byte payload: code and 123 bytes of reason, the largest. */
Test(frame_parse_close, largest_payload)
{
	uint8_t		   p[125];
	const uint8_t	  *reason;
	struct frame_error err;
	size_t		   reason_len;
	int		   code;

	p[0] = 0x03;
	p[1] = 0xe8;
	memset(p + 2, 'r', sizeof(p) - 2);
	cr_assert_eq(frame_parse_close(p, sizeof(p), &code, &reason,
			 &reason_len, &err),
	    0);
	cr_expect_eq(code, 1000);
	cr_expect_eq(reason_len, 123);
	cr_expect(reason == p + 2);
}

/* frame_encode_close: exact frames. */
struct enc_close_case {
	const char    *desc;
	int	       code;
	const char    *reason;
	const uint8_t *want;
	size_t	       want_len;
};

static const struct enc_close_case enc_close_cases[] = {
	{ "1000 with reason", 1000, "bye",
	    B("\x88\x05\x03\xe8"
	      "bye") },
	{ "1000 empty reason", 1000, "", B("\x88\x02\x03\xe8") },
	{ "1011 with reason", 1011, "connect failed",
	    B("\x88\x10\x03\xf3"
	      "connect failed") },
	{ "4000 private", 4000, "x",
	    B("\x88\x03\x0f\xa0"
	      "x") },
	{ "no status: empty payload", CLOSE_NO_STATUS, "ignored",
	    B("\x88\x00") },
	{ "no status, empty reason", CLOSE_NO_STATUS, "", B("\x88\x00") },
};

Test(frame_encode_close, table)
{
	const struct enc_close_case *c;
	uint8_t			     out[2 + WSB_MAX_CONTROL_PAYLOAD + 1];
	size_t			     i, n;

	for (i = 0; i < NELEM(enc_close_cases); i++) {
		c = &enc_close_cases[i];
		memset(out, 0xee, sizeof(out));
		n = frame_encode_close(out, c->code, c->reason);
		cr_expect_eq(n, c->want_len, "%s: length %zu, want %zu",
		    c->desc, n, c->want_len);
		cr_expect(memcmp(out, c->want, c->want_len) == 0,
		    "%s: wrong bytes", c->desc);
	}
}

/* Reasons of 122..200 bytes: the payload never passes 125 bytes, a
 * reason that fits is kept whole, and what goes out parses back. */
Test(frame_encode_close, reason_cut_to_fit)
{
	uint8_t		    out[2 + WSB_MAX_CONTROL_PAYLOAD + 16];
	char		    reason[256];
	struct frame_header fh;
	struct frame_error  err;
	const uint8_t	   *r;
	size_t		    rlen, n, want, got;
	int		    code, hl;

	for (rlen = 120; rlen <= 200; rlen++) {
		memset(reason, 'x', rlen);
		reason[rlen] = '\0';
		memset(out, 0xee, sizeof(out));
		n = frame_encode_close(out, 1008, reason);
		want = rlen > 123 ? 123 : rlen;
		cr_expect_eq(n, 2 + 2 + want,
		    "reason %zu: frame %zu, want %zu", rlen, n, 2 + 2 + want);
		cr_expect_eq(out[1], 2 + want, "reason %zu: length byte %u",
		    rlen, out[1]);
		cr_expect(out[2 + WSB_MAX_CONTROL_PAYLOAD] == 0xee,
		    "reason %zu: wrote past 127 bytes", rlen);
		hl = frame_decode_header(out, n, 0, &fh, &err);
		cr_expect_eq(hl, 2, "reason %zu: header decode %d", rlen, hl);
		if (hl != 2)
			continue;
		cr_expect(fh.fin == 1 && fh.opcode == FRAME_OP_CLOSE &&
			!fh.masked && fh.length == n - 2,
		    "reason %zu: bad header", rlen);
		code = 0;
		cr_expect_eq(frame_parse_close(out + 2, n - 2, &code, &r, &got,
				 &err),
		    0, "reason %zu: own Close does not parse", rlen);
		cr_expect_eq(code, 1008, "reason %zu: code %d", rlen, code);
		cr_expect_eq(got, want, "reason %zu: parsed reason %zu", rlen,
		    got);
	}
}

/* A reason cut inside a multi-byte character would be invalid UTF-8, and
 * the peer would answer 1007: the cut must fall on a character edge. */
Test(frame_encode_close, cut_keeps_utf8_valid)
{
	uint8_t		   out[2 + WSB_MAX_CONTROL_PAYLOAD + 16];
	char		   reason[256];
	struct frame_error err;
	const uint8_t	  *r;
	size_t		   rl, pad, n;
	int		   code, ret;

	for (pad = 118; pad <= 124; pad++) {
		memset(reason, 'a', pad);
		/* U+1F600 then a euro sign straddling the 123-byte cut */
		strcpy(reason + pad, "\xf0\x9f\x98\x80\xe2\x82\xac");
		n = frame_encode_close(out, 1000, reason);
		cr_expect(n <= 2 + WSB_MAX_CONTROL_PAYLOAD,
		    "pad %zu: frame %zu too long", pad, n);
		ret = frame_parse_close(out + 2, n - 2, &code, &r, &rl, &err);
		cr_expect_eq(ret, 0,
		    "pad %zu: cut reason refused by "
		    "frame_parse_close (code %d): not valid UTF-8",
		    pad, err.code);
		cr_expect(frame_utf8_valid(out + 4, n - 4),
		    "pad %zu: cut reason is not UTF-8", pad);
	}
}
