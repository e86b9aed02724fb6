/* RFC 6455 section 5 frame codec: pure, no I/O. */
#ifndef WSB_FRAME_H
#define WSB_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_OP_CONT 0x0
#define FRAME_OP_TEXT 0x1
#define FRAME_OP_BINARY 0x2
#define FRAME_OP_CLOSE 0x8
#define FRAME_OP_PING 0x9
#define FRAME_OP_PONG 0xa

/* Close codes used here (RFC 6455 7.4.1). */
#define CLOSE_NORMAL 1000
#define CLOSE_GOING_AWAY 1001
#define CLOSE_PROTOCOL_ERROR 1002
#define CLOSE_UNSUPPORTED_DATA 1003
#define CLOSE_NO_STATUS 1005 /* never sent: "Close had no code" */
#define CLOSE_INVALID_PAYLOAD 1007
#define CLOSE_POLICY 1008
#define CLOSE_TOO_BIG 1009
#define CLOSE_INTERNAL_ERROR 1011

struct frame_header {
	unsigned fin;
	unsigned rsv; /* the three RSV bits, 0..7 */
	unsigned opcode;
	unsigned masked;
	uint64_t length; /* payload length */
	uint8_t	 mask[4];
};

/* Why a frame was refused: the Close code and a one-line reason. */
struct frame_error {
	int	    code;
	const char *reason;
};

/*
 * Decode the frame header at buf[0..len).  With require_mask, an
 * unmasked frame is an error (client-to-server rule).
 * Returns:
 *   >0  header length (2..14); *fh filled
 *   -2  need more bytes
 *   -1  protocol error; *err filled (1002)
 */
int frame_decode_header(const uint8_t *buf, size_t len, int require_mask,
    struct frame_header *fh, struct frame_error *err);

/* Whether a fragmented data message is open. */
struct frame_msg_state {
	int in_message;
};

/* Check a data frame (opcode 0, 1 or 2) against the message sequence and
 * advance st.  Text is refused (1003, websockify's rule).  Control frames
 * pass untouched.  0 ok, -1 with *err filled. */
int frame_check_sequence(struct frame_msg_state *st,
    const struct frame_header *fh, struct frame_error *err);

/* XOR data with mask; offset is how many bytes of this frame's payload
 * came before data, so a payload can be unmasked in pieces. */
void frame_unmask(uint8_t *data, size_t len, const uint8_t mask[4],
    uint64_t offset);

/* Encode a header; mask NULL for server frames.  out needs 14 bytes.
 * Returns the header length. */
size_t frame_encode_header(uint8_t *out, int fin, unsigned opcode,
    uint64_t length, const uint8_t *mask);

/* 1 if code may appear in a Close frame on the wire, else 0. */
int frame_close_code_valid(int code);

/* 1 if s[0..len) is well-formed UTF-8 (no overlongs, surrogates, or
 * code points past U+10FFFF), else 0. */
int frame_utf8_valid(const uint8_t *s, size_t len);

/* Check a received Close payload.  0 ok: *code (CLOSE_NO_STATUS when
 * empty), *reason and *reason_len point into payload.  -1: *err says why
 * (1002 bad length or code, 1007 reason not UTF-8). */
int frame_parse_close(const uint8_t *payload, size_t len, int *code,
    const uint8_t **reason, size_t *reason_len, struct frame_error *err);

/* Write a whole unmasked Close frame (code, reason cut to fit) into out,
 * which needs 2 + 125 bytes.  code CLOSE_NO_STATUS: empty payload.
 * Returns the frame length. */
size_t frame_encode_close(uint8_t *out, int code, const char *reason);

#endif
