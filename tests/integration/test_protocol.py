"""RFC 6455 protocol errors, with hand-made frames on a raw socket.  Each
expects a Close frame with the given code from the server, then the TCP
close; and the bridge keeps serving other clients."""

import os
import struct

import pytest

from wsutil import (OP_BINARY, OP_CONT, OP_TEXT, OP_CLOSE, OP_PING, OP_PONG,
                    close_payload, encode_frame)


def opened(bridge):
    cl = bridge.raw(10)
    cl.handshake()
    return cl


def still_serving(bridge):
    with opened(bridge) as cl:
        cl.send_frame(OP_BINARY, b"alive")
        assert cl.recv_data(5) == b"alive"


PROTOCOL_ERRORS = {
    "unmasked": encode_frame(OP_BINARY, b"hello", mask=False),
    "unmasked-empty": encode_frame(OP_BINARY, b"", mask=False),
    "unmasked-ping": encode_frame(OP_PING, b"x", mask=False),
    "rsv1": encode_frame(OP_BINARY, b"hello", rsv=4),
    "rsv2": encode_frame(OP_BINARY, b"hello", rsv=2),
    "rsv3": encode_frame(OP_BINARY, b"hello", rsv=1),
    "rsv-on-ping": encode_frame(OP_PING, b"", rsv=4),
    "opcode-3": encode_frame(3, b"x"),
    "opcode-7": encode_frame(7, b""),
    "opcode-0xB": encode_frame(0xB, b"x"),
    "opcode-0xF": encode_frame(0xF, b""),
    "ping-126-bytes": encode_frame(OP_PING, b"p" * 126),
    "pong-126-bytes": encode_frame(OP_PONG, b"p" * 126),
    "close-126-bytes": encode_frame(OP_CLOSE, close_payload(1000, b"r" * 124)),
    "ping-126-bytes-16bit-len": encode_frame(OP_PING, b"p" * 126,
                                             len_form=16),
    "ping-fragmented": encode_frame(
        OP_PING, b"abcde", fin=False),
    "fragmented-close": encode_frame(OP_CLOSE, close_payload(1000), fin=False),
    "continuation-without-message": encode_frame(OP_CONT, b"orphan"),
    "continuation-fin0-without-message": encode_frame(OP_CONT, b"x",
                                                      fin=False),
    "binary-inside-fragmented": encode_frame(OP_BINARY, b"a", fin=False)
    + encode_frame(OP_BINARY, b"b"),
    "binary-fin0-inside-fragmented": encode_frame(OP_BINARY, b"a", fin=False)
    + encode_frame(OP_CONT, b"b", fin=False)
    + encode_frame(OP_BINARY, b"c", fin=False),
    "length-top-bit": encode_frame(OP_BINARY, b"", length=1 << 63,
                                   len_form=64)[:10] + os.urandom(4),
    "length-all-ones": encode_frame(OP_BINARY, b"", length=(1 << 64) - 1,
                                    len_form=64)[:10] + os.urandom(4),
    "close-1-byte": encode_frame(OP_CLOSE, b"\x03"),
}


@pytest.mark.parametrize("name", sorted(PROTOCOL_ERRORS))
def test_protocol_error_1002(bridge, name):
    with opened(bridge) as cl:
        cl.send(PROTOCOL_ERRORS[name])
        cl.expect_close_then_eof(1002)
    still_serving(bridge)


def test_protocol_error_after_data_flushes_nothing_wrong(bridge):
    """Data before the bad frame is echoed; the bad frame ends the session."""
    with opened(bridge) as cl:
        cl.send_frame(OP_BINARY, b"good")
        assert cl.recv_data(4) == b"good"
        cl.send_frame(OP_BINARY, b"bad", rsv=4)
        cl.expect_close_then_eof(1002)


@pytest.mark.parametrize("payload", [b"hello", b""], ids=["hello", "empty"])
def test_text_frame_1003(bridge, payload):
    with opened(bridge) as cl:
        cl.send_frame(OP_TEXT, payload)
        reason = cl.expect_close_then_eof(1003)
        assert reason == b"text frames are not supported"
    still_serving(bridge)


def test_fragmented_text_frame_1003(bridge):
    with opened(bridge) as cl:
        cl.send_frame(OP_TEXT, b"he", fin=False)
        cl.send_frame(OP_CONT, b"llo")
        reason = cl.expect_close_then_eof(1003)
        assert reason == b"text frames are not supported"


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100,
                                  2000, 2999, 5000, 65535])
def test_close_with_invalid_code_1002(bridge, code):
    with opened(bridge) as cl:
        cl.send_frame(OP_CLOSE, close_payload(code, b"bye"))
        cl.expect_close_then_eof(1002)
    still_serving(bridge)


@pytest.mark.parametrize("reason", [b"\xff", b"ok\xc3", b"\xed\xa0\x80",
                                    b"\xc0\xaf", b"\xf4\x90\x80\x80"],
                         ids=["ff", "truncated", "surrogate", "overlong",
                              "above-max"])
def test_close_with_invalid_utf8_reason_1007(bridge, reason):
    with opened(bridge) as cl:
        cl.send_frame(OP_CLOSE, close_payload(1000, reason))
        cl.expect_close_then_eof(1007)
    still_serving(bridge)


@pytest.mark.parametrize("code,reason", [
    (1000, b""), (1000, b"normal"), (1001, b"going away"), (1003, b""),
    (1007, b""), (1008, b""), (1011, b"x"),
    (3000, b"app"), (3999, b""), (4000, b""),
    (4999, "réason ✓".encode()), (4999, b"r" * 123),
])
def test_valid_close_is_echoed(bridge, code, reason):
    with opened(bridge) as cl:
        cl.send_frame(OP_CLOSE, close_payload(code, reason))
        got, _ = cl.recv_close()
        assert got == code
        cl.expect_eof(5)
    still_serving(bridge)


def test_empty_close_is_answered(bridge):
    """A Close without status code is legal; the answer is a Close (empty,
    or 1000) and then the TCP close."""
    with opened(bridge) as cl:
        cl.send_frame(OP_CLOSE, b"")
        got, _ = cl.recv_close()
        assert got in (None, 1000)
        cl.expect_eof(5)


def test_close_inside_fragmented_message_is_echoed(bridge):
    """Control frames may interleave with fragments; Close ends it."""
    with opened(bridge) as cl:
        cl.send_frame(OP_BINARY, b"partial", fin=False)
        cl.send_frame(OP_CLOSE, close_payload(3001))
        got, _ = cl.recv_close()
        assert got == 3001
        cl.expect_eof(5)


def test_frames_after_close_are_ignored(bridge):
    with opened(bridge) as cl:
        cl.send(encode_frame(OP_CLOSE, close_payload(1000))
                + encode_frame(OP_BINARY, b"late")
                + encode_frame(OP_TEXT, b"late text"))
        got, _ = cl.recv_close()
        assert got == 1000
        cl.expect_eof(5)
