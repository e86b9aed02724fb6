"""Backpressure, streaming of huge frames, and many concurrent sessions.
Memory is read from /proc/PID/status (VmRSS) of the bridge."""

import asyncio
import os
import random
import socket
import struct
import threading
import time

import pytest
import websockets

from backends import ThreadedServer
from wsutil import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, mask_bytes

MiB = 1024 * 1024
RSS_GROWTH_LIMIT_KIB = 20 * 1024


class PatternStream:
    """A long byte stream of fixed-size blocks, each starting with its index,
    so drops, duplicates and reordering are all detected."""

    def __init__(self, block, seed=1):
        self.block = block
        self.base = random.Random(seed).randbytes(block)
        self.tail = self.base[8:]

    def make(self, i):
        return struct.pack(">Q", i) + self.tail


class PatternChecker:
    def __init__(self, stream):
        self.s = stream
        self.pending = bytearray()
        self.index = 0
        self.total = 0

    def feed(self, data):
        self.pending += data
        self.total += len(data)
        bs = self.s.block
        while len(self.pending) >= bs:
            head = bytes(self.pending[:8])
            got = struct.unpack(">Q", head)[0]
            assert got == self.index, "block %d arrived where %d was due " \
                "(offset %d)" % (got, self.index, self.index * bs)
            assert self.pending[8:bs] == self.s.tail, \
                "block %d content corrupted" % got
            del self.pending[:bs]
            self.index += 1


def read_stream(cl, checker, nbytes):
    """Read data frames into checker until nbytes arrived; answer pings."""
    while checker.total < nbytes:
        fin, rsv, op, payload = cl.recv_frame()
        if op in (OP_BINARY, OP_CONT):
            checker.feed(payload)
        elif op == OP_PING:
            cl.send_frame(OP_PONG, payload)
        elif op == OP_PONG:
            continue
        else:
            raise AssertionError("op %d %r after %d bytes"
                                 % (op, payload[:100], checker.total))


def test_slow_client_bounded_memory_then_all_bytes(start_bridge):
    """Target pushes 200 MiB; the client reads nothing for 3 s.  The bridge
    must stop reading the target (RSS grows < 20 MiB) and later deliver
    every byte in order."""
    total_blocks = 3200  # 3200 x 64 KiB = 200 MiB
    stream = PatternStream(64 * 1024)
    sent = [0]

    def push(conn, server):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(total_blocks):
            conn.sendall(stream.make(i))
            sent[0] += stream.block
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(20)
        try:
            conn.recv(1)
        except OSError:
            pass

    srv = ThreadedServer(push)
    try:
        b = start_bridge(srv.port)
        time.sleep(0.2)
        rss0 = b.rss_kib()
        cl = b.raw(30)
        with cl:
            cl.handshake()
            peak = rss0
            for _ in range(30):  # 3 s without reading a byte
                time.sleep(0.1)
                peak = max(peak, b.rss_kib())
            growth = peak - rss0
            assert sent[0] < 120 * MiB, \
                "target wrote %d MiB while the client read nothing: no " \
                "backpressure" % (sent[0] // MiB)
            assert growth < RSS_GROWTH_LIMIT_KIB, \
                "wsbridge RSS grew %d KiB (from %d) with a stalled client" \
                % (growth, rss0)
            checker = PatternChecker(stream)
            t0 = time.monotonic()
            read_stream(cl, checker, total_blocks * stream.block)
            assert checker.total == total_blocks * stream.block
            assert checker.index == total_blocks
            code, reason = cl.recv_close(skip_data=False)
            assert code == 1000
            print("200 MiB drained in %.2fs, RSS growth %d KiB"
                  % (time.monotonic() - t0, growth))
    finally:
        srv.close()


def test_256mib_single_frame_streams(start_bridge, echo_backend):
    """One 256 MiB frame through the echo backend: the payload must be
    streamed (RSS grows < 20 MiB), and comes back byte for byte."""
    nblocks = 256
    stream = PatternStream(MiB, seed=2)
    key = os.urandom(4)
    masked_tail = mask_bytes(b"\0" * 8 + stream.tail, key)[8:]
    b = start_bridge(echo_backend[1])
    cl = b.raw(30)
    errors = []
    peak = [0]

    def send():
        try:
            total = nblocks * MiB
            cl.send(struct.pack("!BBQ", 0x82, 0xFF, total) + key)
            for i in range(nblocks):
                cl.send(mask_bytes(struct.pack(">Q", i), key) + masked_tail)
        except Exception as e:
            errors.append(e)

    with cl:
        cl.handshake()
        time.sleep(0.1)
        rss0 = b.rss_kib()
        checker = PatternChecker(stream)
        done = threading.Event()

        def receive():
            try:
                read_stream(cl, checker, nblocks * MiB)
            except Exception as e:
                errors.append(e)
            finally:
                done.set()

        ts = [threading.Thread(target=send), threading.Thread(target=receive)]
        t0 = time.monotonic()
        for t in ts:
            t.start()
        while not done.wait(0.02):
            try:
                peak[0] = max(peak[0], b.rss_kib())
            except (OSError, RuntimeError):
                break
            if time.monotonic() - t0 > 90:
                break
        for t in ts:
            t.join(30)
        assert not errors, errors
        assert checker.total == nblocks * MiB
        growth = peak[0] - rss0
        print("256 MiB frame echoed in %.2fs, RSS growth %d KiB"
              % (time.monotonic() - t0, growth))
        assert growth < RSS_GROWTH_LIMIT_KIB, \
            "wsbridge RSS grew %d KiB streaming one 256 MiB frame" % growth


def test_500_concurrent_sessions(start_bridge, echo_backend):
    n = 500
    b = start_bridge(echo_backend[1])
    rng = random.Random(500)

    async def one(i, all_open, opened):
        data = rng.randbytes(rng.randint(2048, 100 * 1024))
        cut = sorted(rng.sample(range(1, len(data)), 2))
        parts = [data[:cut[0]], data[cut[0]:cut[1]], data[cut[1]:]]
        try:
            ws = await websockets.connect(b.url, subprotocols=["binary"],
                                          max_size=None, compression=None,
                                          open_timeout=30)
        finally:
            opened[0] += 1  # success or not, nobody waits for this one
            if opened[0] == n:
                all_open.set()
        try:
            await all_open.wait()  # all sessions are open at the same time

            async def rx():
                out = bytearray()
                while len(out) < len(data):
                    out += await ws.recv()
                return bytes(out)

            task = asyncio.ensure_future(rx())
            for p in parts:
                await ws.send(p)
            got = await asyncio.wait_for(task, 60)
            assert got == data, "session %d: echo differs" % i
        finally:
            await ws.close()
        return len(data)

    async def main():
        all_open = asyncio.Event()
        opened = [0]
        res = await asyncio.wait_for(asyncio.gather(
            *(one(i, all_open, opened) for i in range(n)),
            return_exceptions=True), 120)
        bad = [r for r in res if isinstance(r, BaseException)]
        assert not bad, "%d of %d sessions failed, first: %r" % (
            len(bad), n, bad[0])
        return sum(res)

    total = asyncio.run(main())
    assert total > 0
