/* RFC 6455 section 5 frame codec (pure, no I/O). */
#include <string.h>

#include "frame.h"
#include "wsb_limits.h"

static int frame_fail(struct frame_error *, int, const char *);

/* Record why a frame was refused. */
static int
frame_fail(struct frame_error *err, int code, const char *reason)
{
	err->code = code;
	err->reason = reason;
	return -1;
}

/* Decode one frame header; see frame.h for the return values. */
int
frame_decode_header(const uint8_t *buf, size_t len, int require_mask,
    struct frame_header *fh, struct frame_error *err)
{
	size_t	 need = 2, i;
	uint64_t plen;

	if (len < 2)
		return -2;
	fh->fin = buf[0] >> 7;
	fh->rsv = (buf[0] >> 4) & 0x7;
	fh->opcode = buf[0] & 0xf;
	fh->masked = buf[1] >> 7;
	plen = buf[1] & 0x7f;

	/* Stateless checks first: they need only the first two bytes. */
	if (fh->rsv != 0)
		return frame_fail(err, CLOSE_PROTOCOL_ERROR,
		    "reserved bits set without an extension");
	switch (fh->opcode) {
	case FRAME_OP_CONT:
	case FRAME_OP_TEXT:
	case FRAME_OP_BINARY:
		break;
	case FRAME_OP_CLOSE:
	case FRAME_OP_PING:
	case FRAME_OP_PONG:
		if (!fh->fin)
			return frame_fail(err, CLOSE_PROTOCOL_ERROR,
			    "fragmented control frame");
		if (plen > WSB_MAX_CONTROL_PAYLOAD)
			return frame_fail(err, CLOSE_PROTOCOL_ERROR,
			    "control frame payload over 125 bytes");
		break;
	default:
		return frame_fail(err, CLOSE_PROTOCOL_ERROR,
		    "reserved opcode");
	}
	if (require_mask && !fh->masked)
		return frame_fail(err, CLOSE_PROTOCOL_ERROR,
		    "client frame is not masked");

	if (plen == 126)
		need += 2;
	else if (plen == 127)
		need += 8;
	if (fh->masked)
		need += 4;
	if (len < need)
		return -2;

	i = 2;
	if (plen == 126) {
		plen = (uint64_t)buf[2] << 8 | buf[3];
		i = 4;
	} else if (plen == 127) {
		plen = 0;
		for (i = 2; i < 10; i++)
			plen = plen << 8 | buf[i];
		if (plen >> 63)
			return frame_fail(err, CLOSE_PROTOCOL_ERROR,
			    "payload length has the top bit set");
	}
	fh->length = plen;
	if (fh->masked)
		memcpy(fh->mask, buf + i, 4);
	else
		memset(fh->mask, 0, 4);
	return (int)need;
}

/* Check a frame against the open message and advance the state. */
int
frame_check_sequence(struct frame_msg_state *st, const struct frame_header *fh,
    struct frame_error *err)
{
	switch (fh->opcode) {
	case FRAME_OP_CONT:
		if (!st->in_message)
			return frame_fail(err, CLOSE_PROTOCOL_ERROR,
			    "continuation frame with no message open");
		break;
	case FRAME_OP_TEXT:
		return frame_fail(err, CLOSE_UNSUPPORTED_DATA,
		    "text frames are not supported");
	case FRAME_OP_BINARY:
		if (st->in_message)
			return frame_fail(err, CLOSE_PROTOCOL_ERROR,
			    "new message inside a fragmented message");
		break;
	default:
		return 0; /* control frames do not touch the sequence */
	}
	st->in_message = !fh->fin;
	return 0;
}

/* XOR with the mask, a word at a time where the data allows. */
void
frame_unmask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset)
{
	uint8_t	 rot[8];
	uint64_t m64, w;
	size_t	 i = 0, k;

	for (k = 0; k < 8; k++)
		rot[k] = mask[(offset + k) & 3];
	/* Bytes up to an 8-byte boundary of the data pointer. */
	while (i < len && ((uintptr_t)(data + i) & 7) != 0) {
		data[i] ^= rot[i & 3];
		i++;
	}
	/* The mask as seen from byte i onward, repeated to 8 bytes. */
	for (k = 0; k < 8; k++)
		rot[k] = mask[(offset + i + k) & 3];
	memcpy(&m64, rot, 8);
	for (; i + 8 <= len; i += 8) {
		memcpy(&w, data + i, 8);
		w ^= m64;
		memcpy(data + i, &w, 8);
	}
	for (k = 0; i < len; i++, k++)
		data[i] ^= rot[k];
}

/* Encode a frame header (server frames are unmasked: mask NULL). */
size_t
frame_encode_header(uint8_t *out, int fin, unsigned opcode, uint64_t length,
    const uint8_t *mask)
{
	size_t n = 2;
	int    i;

	out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0xf));
	if (length < 126) {
		out[1] = (uint8_t)length;
	} else if (length <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(length >> 8);
		out[3] = (uint8_t)length;
		n = 4;
	} else {
		out[1] = 127;
		for (i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)(length >> (56 - 8 * i));
		n = 10;
	}
	if (mask != NULL) {
		out[1] |= 0x80;
		memcpy(out + n, mask, 4);
		n += 4;
	}
	return n;
}

/* Codes an endpoint may send (RFC 6455 7.4.1, 7.4.2, IANA registry). */
int
frame_close_code_valid(int code)
{
	if (code >= 1000 && code <= 1003)
		return 1;
	if (code >= 1007 && code <= 1014)
		return 1;
	return code >= 3000 && code <= 4999;
}

/* Well-formed UTF-8 per RFC 3629 (Unicode table 3-7). */
int
frame_utf8_valid(const uint8_t *s, size_t len)
{
	size_t	i = 0, n, k;
	uint8_t c, lo, hi;

	while (i < len) {
		c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		lo = 0x80;
		hi = 0xbf;
		if (c >= 0xc2 && c <= 0xdf)
			n = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0)
				lo = 0xa0; /* overlong */
			else if (c == 0xed)
				hi = 0x9f; /* surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0)
				lo = 0x90; /* overlong */
			else if (c == 0xf4)
				hi = 0x8f; /* past U+10FFFF */
		} else
			return 0;
		if (len - i - 1 < n)
			return 0;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return 0;
		for (k = 2; k <= n; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
		i += n + 1;
	}
	return 1;
}

/* Check a received Close payload; see frame.h. */
int
frame_parse_close(const uint8_t *payload, size_t len, int *code,
    const uint8_t **reason, size_t *reason_len, struct frame_error *err)
{
	*reason = NULL;
	*reason_len = 0;
	if (len == 0) {
		*code = CLOSE_NO_STATUS;
		return 0;
	}
	if (len == 1)
		return frame_fail(err, CLOSE_PROTOCOL_ERROR,
		    "close frame payload of 1 byte");
	*code = payload[0] << 8 | payload[1];
	if (!frame_close_code_valid(*code))
		return frame_fail(err, CLOSE_PROTOCOL_ERROR,
		    "invalid close code");
	if (!frame_utf8_valid(payload + 2, len - 2))
		return frame_fail(err, CLOSE_INVALID_PAYLOAD,
		    "close reason is not valid UTF-8");
	*reason = payload + 2;
	*reason_len = len - 2;
	return 0;
}

/* A whole unmasked Close frame with code and reason (cut to fit, at a
 * character boundary so the reason stays UTF-8). */
size_t
frame_encode_close(uint8_t *out, int code, const char *reason)
{
	size_t rlen = 0, n;

	if (code == CLOSE_NO_STATUS)
		return frame_encode_header(out, 1, FRAME_OP_CLOSE, 0, NULL);
	if (reason != NULL) {
		rlen = strlen(reason);
		if (rlen > WSB_MAX_CLOSE_REASON) {
			rlen = WSB_MAX_CLOSE_REASON;
			while (rlen > 0 &&
			    ((uint8_t)reason[rlen] & 0xc0) == 0x80)
				rlen--;
		}
	}
	n = frame_encode_header(out, 1, FRAME_OP_CLOSE, 2 + rlen, NULL);
	out[n++] = (uint8_t)(code >> 8);
	out[n++] = (uint8_t)code;
	if (rlen > 0)
		memcpy(out + n, reason, rlen);
	return n + rlen;
}
