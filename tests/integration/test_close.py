"""Close paths, with special real TCP backends written here."""

import asyncio
import hashlib
import os
import socket
import struct
import threading
import time

import pytest
import websockets

from wsutil import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG,
                    ConnectionGone, close_payload, encode_frame, free_port)

MiB = 1024 * 1024


class Sink:
    """Backend that records everything it receives until EOF."""

    def __init__(self, delay=0.0):
        self.delay = delay
        self.data = bytearray()
        self.done = threading.Event()
        self.how = None

    def __call__(self, conn, server):
        if self.delay:
            time.sleep(self.delay)
        try:
            while True:
                chunk = conn.recv(1 << 20)
                if not chunk:
                    self.how = "eof"
                    break
                self.data += chunk
        except ConnectionResetError:
            self.how = "reset"
        finally:
            self.done.set()


def test_client_close_flushes_data_then_closes(start_bridge, backend):
    sink = Sink()
    srv = backend(sink)
    b = start_bridge(srv.port)
    data = os.urandom(4 * MiB + 13)
    with b.raw() as cl:
        cl.handshake()
        frames = [encode_frame(OP_BINARY, data[i:i + 300000])
                  for i in range(0, len(data), 300000)]
        # The last data frame and the Close go out in one write.
        cl.send(b"".join(frames[:-1]))
        cl.send(frames[-1] + encode_frame(OP_CLOSE, close_payload(1000, "bye")))
        code, _ = cl.recv_close()
        assert code == 1000
        cl.expect_eof(5)
    assert sink.done.wait(10), "backend never saw the end of the stream"
    assert sink.how == "eof"
    assert len(sink.data) == len(data)
    assert bytes(sink.data) == data


def test_client_close_flushes_to_slow_target(start_bridge, backend):
    """The target reads nothing for 1.5 s; bytes pending in the bridge when
    the client's Close arrives must still reach it, then EOF."""
    sink = Sink(delay=1.5)
    srv = backend(sink)
    b = start_bridge(srv.port)
    data = os.urandom(3 * MiB)
    with b.raw() as cl:
        cl.handshake()
        sender = threading.Thread(target=cl.send, args=(
            encode_frame(OP_BINARY, data)
            + encode_frame(OP_CLOSE, close_payload(3000)),))
        sender.start()
        cl.settimeout(15)
        code, _ = cl.recv_close()
        assert code == 3000
        sender.join(10)
        cl.expect_eof(10)
    assert sink.done.wait(15)
    assert sink.how == "eof"
    assert len(sink.data) == len(data)
    assert hashlib.sha256(sink.data).digest() == hashlib.sha256(data).digest()


def sender_then_close(payload, shutdown_only=False):
    def handler(conn, server):
        conn.sendall(payload)
        if shutdown_only:
            conn.shutdown(socket.SHUT_WR)
            conn.settimeout(5)
            try:  # keep reading until the bridge closes its side
                while conn.recv(65536):
                    pass
            except OSError:
                pass
    return handler


@pytest.mark.parametrize("n", [1, 1000, 5 * MiB + 7])
def test_target_eof_delivers_all_then_close_1000(start_bridge, backend, n):
    payload = os.urandom(n)
    srv = backend(sender_then_close(payload))
    b = start_bridge(srv.port)
    with b.raw() as cl:
        cl.handshake()
        got = cl.recv_data(n)
        assert got == payload
        fin, rsv, op, p = cl.recv_frame()
        assert op == OP_CLOSE, (op, p[:50])
        code = struct.unpack("!H", p[:2])[0]
        assert code == 1000
        assert p[2:].lower() == b"target closed", p
        cl.send_frame(OP_CLOSE, close_payload(1000))
        cl.expect_eof(5)


def test_target_half_close_is_target_eof(start_bridge, backend):
    payload = os.urandom(50000)
    srv = backend(sender_then_close(payload, shutdown_only=True))
    b = start_bridge(srv.port)
    with b.raw() as cl:
        cl.handshake()
        assert cl.recv_data(len(payload)) == payload
        code, reason = cl.recv_close(skip_data=False)
        assert code == 1000


def test_target_eof_client_never_answers_close(start_bridge, backend):
    """After Close(1000) the bridge waits only briefly for the answer."""
    srv = backend(sender_then_close(b"bye"))
    b = start_bridge(srv.port)
    with b.raw() as cl:
        cl.handshake()
        assert cl.recv_data(3) == b"bye"
        code, _ = cl.recv_close(skip_data=False)
        assert code == 1000
        t0 = time.monotonic()
        cl.expect_eof(8)
        assert time.monotonic() - t0 < 8


def test_target_eof_seen_by_websockets_as_clean_close(start_bridge, backend):
    payload = os.urandom(70000)
    srv = backend(sender_then_close(payload))
    b = start_bridge(srv.port)

    async def go():
        async with websockets.connect(b.url, subprotocols=["binary"],
                                      max_size=None) as ws:
            got = bytearray()
            with pytest.raises(websockets.exceptions.ConnectionClosedOK):
                while True:
                    got += await asyncio.wait_for(ws.recv(), 10)
            assert bytes(got) == payload
            assert ws.close_code == 1000

    asyncio.run(go())


def test_target_down_101_then_close_1011(start_bridge):
    port = free_port()  # nobody listens here
    b = start_bridge(port)
    with b.raw() as cl:
        cl.handshake()  # asserts 101
        code, reason = cl.recv_close(skip_data=False)
        assert code == 1011
        r = reason.decode("utf-8", "replace").lower()
        assert "refused" in r or str(port) in r or "target" in r, reason
        cl.send_frame(OP_CLOSE, close_payload(1011))
        cl.expect_eof(5)
    # Logged too.
    assert str(port) in b.log() or "refused" in b.log().lower()


@pytest.mark.parametrize("rst", [False, True], ids=["fin", "rst"])
def test_client_vanishes_backend_sees_eof(start_bridge, backend, rst):
    sink = Sink()
    srv = backend(sink)
    b = start_bridge(srv.port)
    cl = b.raw()
    cl.handshake()
    cl.send_frame(OP_BINARY, b"x" * 1000)
    time.sleep(0.2)
    if rst:
        cl.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                           struct.pack("ii", 1, 0))
    cl.close()
    assert sink.done.wait(5), "backend never saw EOF after the client left"
    assert bytes(sink.data) == b"x" * 1000


def test_client_vanishes_mid_frame(start_bridge, backend):
    sink = Sink()
    srv = backend(sink)
    b = start_bridge(srv.port)
    cl = b.raw()
    cl.handshake()
    frame = encode_frame(OP_BINARY, os.urandom(100000))
    cl.send(frame[:50000])
    time.sleep(0.2)
    cl.close()
    assert sink.done.wait(5), "backend never saw EOF after the client left"
    assert len(sink.data) <= 100000


@pytest.mark.parametrize("rst", [False, True], ids=["fin", "rst"])
def test_target_closes_mid_stream_while_client_sends(start_bridge, backend,
                                                     rst):
    count = [0]

    def handler(conn, server):
        count[0] += 1
        if count[0] == 1:
            got = 0
            while got < 100000:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                got += len(chunk)
            if rst:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                struct.pack("ii", 1, 0))
            conn.close()
            return
        while True:  # later connections: echo
            chunk = conn.recv(65536)
            if not chunk:
                return
            conn.sendall(chunk)

    srv = backend(handler)
    b = start_bridge(srv.port)
    cl = b.raw(15)
    stop = threading.Event()

    def pump():
        block = encode_frame(OP_BINARY, os.urandom(65536))
        try:
            while not stop.is_set():
                cl.send(block)
        except OSError:
            pass

    try:
        cl.handshake()
        t = threading.Thread(target=pump)
        t.start()
        code, reason = cl.recv_close()
        assert code in (1000, 1011), (code, reason)
        stop.set()
        try:
            cl.send_frame(OP_CLOSE, close_payload(code))
        except OSError:
            pass
        cl.expect_eof(8)
        t.join(10)
    finally:
        stop.set()
        cl.close()
    # The bridge is still serving.
    with b.raw() as c2:
        c2.handshake()
        c2.send_frame(OP_BINARY, b"again")
        assert c2.recv_data(5) == b"again"


def test_target_never_reads_memory_bounded(start_bridge, backend):
    """A target that never reads: the client pushes until every buffer on
    the way is full; the bridge stops reading instead of buffering."""
    release = threading.Event()

    def handler(conn, server):
        release.wait(30)

    srv = backend(handler)
    b = start_bridge(srv.port)
    time.sleep(0.2)
    rss0 = b.rss_kib()
    cl = b.raw(15)
    try:
        cl.handshake()
        sent = [0]
        block = encode_frame(OP_BINARY, os.urandom(65536))

        def fill():
            cl.sock.settimeout(2)
            try:
                while sent[0] < 4096:  # at most 256 MiB
                    cl.send(block)
                    sent[0] += 1
            except (socket.timeout, OSError):
                pass

        fill()  # returns once every buffer on the way is full
        growth = b.rss_kib() - rss0
        assert sent[0] < 4096, "256 MiB went into a target that never reads"
        # Backpressure: the bridge stops reading the client instead of
        # buffering what the target does not take.
        assert growth < 20 * 1024, \
            "wsbridge RSS grew %d KiB (client pushed %d KiB)" % (
                growth, sent[0] * 64)
    finally:
        release.set()
        cl.close()


def test_client_close_while_target_streams(start_bridge, backend):
    """The target pushes without end; the client sends Close.  Data frames
    may precede the echoed Close, nothing may follow it, and the target
    connection is closed."""
    ended = threading.Event()

    def firehose(conn, server):
        block = os.urandom(65536)
        conn.settimeout(10)
        try:
            while True:
                conn.sendall(block)
        except OSError:
            pass
        finally:
            ended.set()

    srv = backend(firehose)
    b = start_bridge(srv.port)
    with b.raw() as cl:
        cl.handshake()
        cl.recv_data(1)  # the stream is flowing
        cl.send_frame(OP_CLOSE, close_payload(1000, "enough"))
        code, reason = cl.recv_close()  # skips data frames before it
        assert code == 1000
        cl.expect_eof(5)  # strict: no frame after the Close
    assert ended.wait(5), "the target connection stayed open"
