"""Opening handshake: subprotocols and HTTP errors, over raw TCP."""

import base64
import os
import socket
import threading
import time

import pytest

from wsutil import (OP_BINARY, OP_CLOSE, RawClient, accept_key, client_key,
                    encode_frame, handshake_request)


def request(bridge, data, timeout=5.0):
    """Send raw bytes, return the parsed response head."""
    with bridge.raw(timeout) as cl:
        cl.send(data)
        return cl.read_response()


def req(bridge, **kw):
    return handshake_request(bridge.host, bridge.port, **kw)


# --- subprotocols ----------------------------------------------------------

@pytest.mark.parametrize("offer", ["binary", "base64, binary", "binary, base64",
                                   "foo, binary"])
def test_subprotocol_binary_chosen(bridge, offer):
    key = client_key()
    r = request(bridge, req(bridge, key=key, protocols=offer))
    assert r.status == 101, r
    assert r.header("sec-websocket-protocol") == "binary"
    assert r.header("sec-websocket-accept") == accept_key(key)
    assert r.header("upgrade").lower() == "websocket"
    assert "upgrade" in r.header("connection").lower()


def test_no_subprotocol_offered_no_header(bridge):
    r = request(bridge, req(bridge, protocols=None))
    assert r.status == 101, r
    assert r.header("sec-websocket-protocol") is None


def test_subprotocol_headers_on_two_lines(bridge):
    r = request(bridge, req(bridge, protocols="base64",
                            extra=["Sec-WebSocket-Protocol: binary"]))
    assert r.status == 101, r
    assert r.header("sec-websocket-protocol") == "binary"


def test_only_base64_offered_is_400(bridge):
    r = request(bridge, req(bridge, protocols="base64"))
    assert r.status == 400, r


def test_python_websockets_without_subprotocol_echoes(bridge):
    import asyncio
    import websockets

    async def go():
        async with websockets.connect(bridge.url, max_size=None) as ws:
            assert ws.subprotocol is None
            await ws.send(b"abc")
            assert await asyncio.wait_for(ws.recv(), 5) == b"abc"

    asyncio.run(go())


# --- handshake errors --------------------------------------------------------

def test_missing_key_is_400(bridge):
    assert request(bridge, req(bridge, key=False)).status == 400


@pytest.mark.parametrize("key", [
    base64.b64encode(os.urandom(15)).decode(),
    base64.b64encode(os.urandom(17)).decode(),
    "not base64 at all!!",
    "",
], ids=["15-bytes", "17-bytes", "garbage", "empty"])
def test_bad_key_is_400(bridge, key):
    data = req(bridge, key="PLACEHOLDER").replace(
        b"Sec-WebSocket-Key: PLACEHOLDER", b"Sec-WebSocket-Key: " + key.encode())
    assert request(bridge, data).status == 400


def test_version_8_is_426_with_version_13(bridge):
    r = request(bridge, req(bridge, version="8"))
    assert r.status == 426, r
    assert r.header("sec-websocket-version") == "13", r


def test_missing_version_is_rejected(bridge):
    r = request(bridge, req(bridge, version=None))
    assert r.status in (400, 426), r


def test_post_is_405(bridge):
    assert request(bridge, req(bridge, method="POST")).status == 405


def test_plain_get_is_405(bridge):
    r = request(bridge, req(bridge, upgrade=False))
    assert r.status == 405, r


def test_garbage_request_is_400(bridge):
    r = request(bridge, b"\x01\x02 this is not http\r\n\r\n")
    assert r.status == 400, r


def test_head_over_16k_is_431(bridge):
    extra = ["X-Filler-%d: %s" % (i, "a" * 1000) for i in range(17)]
    r = request(bridge, req(bridge, extra=extra))
    assert r.status == 431, r


def test_head_just_under_16k_is_accepted(bridge):
    base = len(req(bridge))
    pad = 16 * 1024 - base - len("X-Pad: \r\n") - 64
    r = request(bridge, req(bridge, extra=["X-Pad: " + "b" * pad]))
    assert r.status == 101, r


def test_head_over_16k_without_end_is_431(bridge):
    """A head that never ends must be cut off at the limit, not buffered."""
    with bridge.raw(10) as cl:
        cl.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"c" * 20000)
        r = cl.read_response()
        assert r.status == 431, r


def test_handshake_deadline_drops_silent_clients(bridge):
    """The one slow test (~10 s): a client that sends nothing, and one that
    sends half a request head, are both dropped at the 10 s deadline."""
    silent = bridge.raw(15)
    partial = bridge.raw(15)
    try:
        partial.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        results = {}

        def wait(name, cl):
            try:
                cl.expect_eof(13.0, allow_data=True)
                results[name] = time.monotonic() - t0
            except AssertionError as e:
                results[name] = e

        ts = [threading.Thread(target=wait, args=(n, c))
              for n, c in (("silent", silent), ("partial", partial))]
        for t in ts:
            t.start()
        # Meanwhile a real client is served normally.
        with bridge.raw() as cl:
            cl.handshake()
            cl.send_frame(OP_BINARY, b"meanwhile")
            assert cl.recv_data(9) == b"meanwhile"
        for t in ts:
            t.join(20)
        for name in ("silent", "partial"):
            v = results.get(name)
            assert isinstance(v, float), "%s client: %r" % (name, v)
            assert 5.0 <= v <= 13.0, "%s client dropped after %.1fs" % (name, v)
    finally:
        silent.close()
        partial.close()


def test_frame_in_same_write_as_handshake(bridge):
    key = client_key()
    payload = os.urandom(1000)
    with bridge.raw() as cl:
        cl.send(req(bridge, key=key) + encode_frame(OP_BINARY, payload))
        r = cl.read_response()
        assert r.status == 101 and r.header("sec-websocket-accept") == \
            accept_key(key)
        assert cl.recv_data(len(payload)) == payload


def test_handshake_in_small_pieces(bridge):
    data = req(bridge) + encode_frame(OP_BINARY, b"pieces")
    with bridge.raw() as cl:
        for i in range(0, len(data), 7):
            cl.send(data[i:i + 7])
            time.sleep(0.001)
        assert cl.read_response().status == 101
        assert cl.recv_data(6) == b"pieces"


def test_header_names_case_insensitive(bridge):
    key = client_key()
    data = ("GET / HTTP/1.1\r\nhost: x\r\nupgrade: WebSocket\r\n"
            "connection: keep-alive, Upgrade\r\nsec-websocket-key: %s\r\n"
            "sec-websocket-version: 13\r\nsec-websocket-protocol: binary\r\n"
            "\r\n" % key).encode()
    r = request(bridge, data)
    assert r.status == 101, r
    assert r.header("sec-websocket-accept") == accept_key(key)
