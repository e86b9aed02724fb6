"""What an attacker and a slow-but-honest user do to the bridge: floods of
control frames from a client that never reads, peers that read slowly,
pause or vanish while their side is paused, bytes meant for a terminal in
log lines, and what a client is told when the target fails.

Raw sockets throughout, so each test decides when bytes are read: SO_RCVBUF
is set before connect (the window is negotiated in the TCP handshake), a
reset is SO_LINGER 0 + close, and senders that may block send without
blocking.  Open sessions are counted from the bridge's descriptors
(/proc/PID/fd): a session holds one for the client and one for the
target."""

import hashlib
import os
import re
import select
import socket
import ssl
import struct
import subprocess
import threading
import time

import pytest

from test_tls import TLSEcho, Certs, certs, client_ctx, tls_opts  # noqa: F401
from wsutil import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG,
                    ConnectionGone, RawClient, close_payload, client_key,
                    encode_frame, free_port, handshake_request,
                    wait_for)

KiB, MiB = 1024, 1024 * 1024
SANITIZED = os.environ.get("WSB_SANITIZED") == "1"
# ASan's shadow memory and its (small, see scripts/test) quarantine of
# freed chunks count in RSS too.
RSS_LIMIT_KIB = (32 if SANITIZED else 16) * 1024
# A masked Ping (key 0, so the payload reads as sent) with 125 bytes 'P'.
PING = b"\x89\xfd\x00\x00\x00\x00" + b"\x50" * 125
HEARTBEAT_DROP_RE = re.compile(r"no pong|heartbeat timeout", re.I)


# --- helpers ---------------------------------------------------------------

def fd_count(b):
    """Descriptors the bridge process holds open."""
    return len(os.listdir("/proc/%d/fd" % b.pid))


def settled_fds(b, quiet=0.3, timeout=5.0):
    """The bridge's descriptor count once it stayed put for `quiet` s
    (the readiness probe's connection is closed by then)."""
    deadline = time.monotonic() + timeout
    n, since = fd_count(b), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        m = fd_count(b)
        if m != n:
            n, since = m, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return n


def tcp_connect(port, rcvbuf=None, timeout=10.0):
    """A TCP connection to 127.0.0.1:port with SO_RCVBUF set before
    connect, so the small window is what the handshake advertises."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def reset(sock):
    """Close with an RST instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    struct.pack("ii", 1, 0))
    sock.close()


class Client(RawClient):
    """A RawClient over a socket the test made (small buffers, TLS); with
    `rate` set (bytes/s), reads are paced like a slow link's."""

    def __init__(self, sock, port, rate=None):
        self.host, self.port = "127.0.0.1", port
        self.sock = sock
        self.buf = bytearray()
        self.eof = False
        self.response = None
        self.rate = rate
        self.got = 0
        self.t0 = None

    @property
    def local_port(self):
        return self.sock.getsockname()[1]

    def _fill(self, want=65536):
        if self.rate is None:
            return super()._fill(want)
        if self.eof:
            raise ConnectionGone("eof")
        if self.t0 is None:
            self.t0 = time.monotonic()
        ahead = self.got / self.rate - (time.monotonic() - self.t0)
        if ahead > 0:
            time.sleep(ahead)
        try:
            chunk = self.sock.recv(16 * KiB)
        except ConnectionResetError:
            self.eof = True
            raise ConnectionGone("reset")
        if not chunk:
            self.eof = True
            raise ConnectionGone("eof")
        self.got += len(chunk)
        self.buf += chunk


def ws_client(b, rcvbuf=None, timeout=10.0):
    """An upgraded Client of bridge b."""
    cl = Client(tcp_connect(b.port, rcvbuf, timeout), b.port)
    cl.handshake()
    return cl


def send_until_blocked(sock, block, quiet=1.0, limit=512 * MiB,
                       timeout=20.0):
    """Send `block` over and over without blocking until the socket takes
    nothing for `quiet` seconds (EAGAIN is the expected end, not a
    failure); the number of bytes sent.  Fails if it never blocks."""
    sock.setblocking(False)
    view, off, sent = memoryview(block), 0, 0
    last = time.monotonic()
    deadline = last + timeout
    while time.monotonic() - last < quiet:
        assert time.monotonic() < deadline and sent < limit, \
            "sent %d MiB in %.0f s and the socket never blocked" % (
                sent // MiB, timeout)
        try:
            n = sock.send(view[off:])
        except (BlockingIOError, ssl.SSLWantWriteError,
                ssl.SSLWantReadError):
            select.select([], [sock], [], 0.05)
            continue
        sent += n
        off = (off + n) % len(block)
        last = time.monotonic()
    sock.settimeout(10)
    return sent


def log_bytes(b):
    with open(b.log_path, "rb") as f:
        return f.read()


def session_lines(b, port):
    """The bridge's log lines about the client whose local port is port."""
    tag = "127.0.0.1:%d" % port
    return [l for l in b.log().splitlines()
            if re.search(re.escape(tag) + r"\b", l)]


def close_line(b, port, timeout=0.0):
    """The session's close line ("closed by ..., code N, ... bytes to
    client, ..."), waiting up to timeout seconds; None if absent."""
    def find():
        for l in session_lines(b, port):
            if re.search(r"\bclosed\b.*\bcode -?\d+", l):
                return l
        return None
    return wait_for(find, timeout)


def close_code_of(line):
    return int(re.search(r"\bcode (-?\d+)", line).group(1))


def backend_wait(conn, server, timeout=30.0):
    """Hold a backend connection open, reading nothing, until the test's
    servers close or timeout."""
    deadline = time.monotonic() + timeout
    while not server.closed and time.monotonic() < deadline:
        time.sleep(0.05)


def read_until_eof(conn, timeout=30.0):
    """Read and discard until the bridge closes the target connection."""
    conn.settimeout(timeout)
    try:
        while conn.recv(65536):
            pass
    except OSError:
        pass


# --- 1. a Pong flood from a client that never reads ------------------------

@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
def test_ping_flood_from_non_reader_bounded_memory(start_bridge,
                                                   echo_backend, certs, tls):
    """Pings for 4 s from a client that reads nothing: the Pongs owed to it
    count as output, so the bridge stops reading it instead of queueing
    Pongs (RSS grows < 16 MiB); when it goes, the session ends."""
    opts = tls_opts(certs) if tls else []
    b = start_bridge(echo_backend[1], *opts)
    fd0 = settled_fds(b)
    rss0 = b.rss_kib()
    sock = tcp_connect(b.port, rcvbuf=4096)
    if tls:
        sock = client_ctx(certs).wrap_socket(sock,
                                             server_hostname="127.0.0.1")
    cl = Client(sock, b.port)
    cl.handshake()
    block = memoryview(PING * 512)
    sock.setblocking(False)
    off = sent = blocked = 0
    peak, t0 = rss0, time.monotonic()
    next_sample = t0
    while time.monotonic() - t0 < 4.0:
        try:
            n = sock.send(block[off:])
            sent += n
            off = (off + n) % len(block)
        except (BlockingIOError, ssl.SSLWantWriteError,
                ssl.SSLWantReadError):
            blocked += 1
            select.select([], [sock], [], 0.05)
        if time.monotonic() >= next_sample:
            peak = max(peak, b.rss_kib())
            next_sample = time.monotonic() + 0.05
            if peak - rss0 > RSS_LIMIT_KIB:
                break  # failed already; spare the machine
    peak = max(peak, b.rss_kib())
    print("%s: %d MiB of Pings sent, %d EAGAINs, RSS growth %d KiB"
          % ("wss" if tls else "ws", sent // MiB, blocked, peak - rss0))
    assert peak - rss0 < RSS_LIMIT_KIB, \
        "wsbridge RSS grew %d KiB (from %d KiB) queueing Pongs for a " \
        "client that reads nothing (%d MiB of Pings sent)" % (
            peak - rss0, rss0, sent // MiB)
    sock.close()  # unread Pongs in its buffer: the kernel sends an RST
    assert wait_for(lambda: fd_count(b) <= fd0, 5), \
        "the session did not end after the client left: %d descriptors " \
        "open, %d before" % (fd_count(b), fd0)


# --- 2. slow but alive -----------------------------------------------------

def test_slow_reader_answering_pings_survives_heartbeat(start_bridge,
                                                        backend):
    """--heartbeat 1: the target writes 4 MiB at once; the client reads at
    0.5 MB/s and answers every Ping.  It is alive, just slow: it gets all
    4 MiB and the bridge never calls it a heartbeat timeout."""
    payload = os.urandom(4 * MiB)

    def burst(conn, server):
        conn.settimeout(30)
        try:
            conn.sendall(payload)
        except OSError:
            return
        read_until_eof(conn)

    srv = backend(burst)
    b = start_bridge(srv.port, "--heartbeat", "1")
    cl = ws_client(b, timeout=10)
    port = cl.local_port
    with cl:
        cl.rate = 500 * 1000
        got, pings = bytearray(), 0
        try:
            while len(got) < len(payload):
                fin, rsv, op, p = cl.recv_frame()
                if op in (OP_BINARY, OP_CONT):
                    got += p
                elif op == OP_PING:
                    pings += 1
                    cl.send_frame(OP_PONG, p)
                else:
                    raise AssertionError("op %d %r after %d bytes"
                                         % (op, p[:100], len(got)))
        except ConnectionGone as e:
            raise AssertionError("dropped (%s) after %d of %d bytes, %d "
                                 "pings answered" % (e, len(got),
                                                     len(payload), pings))
        assert bytes(got) == payload
        # Pings are not required: a bridge may count bytes the client
        # takes as proof of life and ping only an idle client.
        print("%d pings answered" % pings)
        cl.rate = None
        cl.send_frame(OP_CLOSE, close_payload(1000))
        code, _ = cl.recv_close()
        assert code == 1000
    m = HEARTBEAT_DROP_RE.search("\n".join(session_lines(b, port)))
    assert m is None, "heartbeat timeout logged for a client that " \
        "answered every ping: %r" % m.group(0)


def test_paused_reader_gets_everything_then_close_1000(start_bridge,
                                                       backend):
    """The target sends 4 MiB and closes; the client reads 1 MiB, pauses
    8 s (longer than any close or linger wait), then reads on: it still
    gets every byte, then Close 1000, and the close line says 1000."""
    payload = os.urandom(4 * MiB)

    def send_then_close(conn, server):
        conn.settimeout(30)
        try:
            conn.sendall(payload)
        except OSError:
            pass

    srv = backend(send_then_close)
    b = start_bridge(srv.port)
    cl = ws_client(b, rcvbuf=64 * KiB, timeout=10)
    port = cl.local_port
    with cl:
        head = cl.recv_data(MiB)
        time.sleep(8)
        try:
            rest = cl.recv_data(len(payload) - len(head), timeout=20)
        except ConnectionGone as e:
            raise AssertionError("connection dropped (%s) during the "
                                 "8 s pause" % e)
        got = head + rest
        assert hashlib.sha256(got).digest() == \
            hashlib.sha256(payload).digest(), "data differs"
        code, reason = cl.recv_close(skip_data=False)
        assert code == 1000, (code, reason)
        cl.send_frame(OP_CLOSE, close_payload(1000))
        cl.expect_eof(5)
    line = close_line(b, port, 3)
    assert line is not None, "no close line:\n" + b.log()
    assert close_code_of(line) == 1000, line


def test_web_keepalive_slow_download_completes(start_bridge, echo_backend,
                                               tmp_path):
    """Slow (about 24 s; kept on purpose): a 20 MiB file over a keep-alive
    connection read at about 1 MiB/s takes longer than the 15 s
    keep-alive idle timeout; a download in progress is not idle, so the
    whole body arrives.  (0.85 MiB/s, not 1: the bridge's socket buffer
    grows to 4 MiB on loopback, and its own buffer must still hold bytes
    when 15 s have passed.)"""
    www = tmp_path / "www"
    www.mkdir()
    body = os.urandom(20 * MiB)
    (www / "big.bin").write_bytes(body)
    b = start_bridge(echo_backend[1], "--web", str(www))
    cl = Client(tcp_connect(b.port, rcvbuf=64 * KiB, timeout=10), b.port)
    with cl:
        cl.send(b"GET /big.bin HTTP/1.1\r\nHost: a\r\n"
                b"Connection: keep-alive\r\n\r\n")
        resp = cl.read_response()
        assert resp.status == 200, resp
        assert int(resp.header("content-length")) == len(body), resp
        cl.rate = 0.85 * MiB
        t0 = time.monotonic()
        try:
            while len(cl.buf) < len(body):
                assert time.monotonic() - t0 < 40, "download stalled"
                cl._fill()
        except ConnectionGone as e:
            raise AssertionError("connection closed (%s) after %d of %d "
                                 "bytes, %.1f s" % (e, len(cl.buf),
                                                    len(body),
                                                    time.monotonic() - t0))
        took = time.monotonic() - t0
        assert bytes(cl.buf) == body, "body differs"
        assert took > 15, "took %.1f s: the keep-alive timeout was not " \
            "exercised" % took


def test_silent_client_heartbeat_timeout_close_1011(start_bridge,
                                                    echo_backend):
    """--heartbeat 1, a client that neither reads nor answers: within
    about 4 s the bridge logs a heartbeat timeout and says so with Close
    1011, behind the Pings it sent; then it closes TCP."""
    b = start_bridge(echo_backend[1], "--heartbeat", "1")
    cl = ws_client(b, timeout=10)
    port = cl.local_port
    t0 = time.monotonic()
    with cl:
        ok = wait_for(lambda: HEARTBEAT_DROP_RE.search(
            "\n".join(session_lines(b, port))), 5)
        took = time.monotonic() - t0
        assert ok, "no heartbeat timeout logged within 5 s:\n" + b.log()
        assert took < 4.5, "heartbeat timeout after %.1f s" % took
        pings = 0
        try:
            while True:
                fin, rsv, op, p = cl.recv_frame()
                if op != OP_PING:
                    break
                pings += 1
        except ConnectionGone as e:
            raise AssertionError("%s after %d pings, no Close frame"
                                 % (e, pings))
        assert pings >= 1, "no Ping before the Close"
        assert op == OP_CLOSE, "op %d %r after %d pings" % (op, p[:60],
                                                            pings)
        code = struct.unpack("!H", p[:2])[0] if len(p) >= 2 else None
        assert code == 1011, (code, p)
        cl.expect_eof(5)


def test_send_timeout_drops_client_that_never_reads(start_bridge, backend):
    """--send-timeout 2: the target sends 16 MiB, the client never reads.
    After 2 s without progress the session ends, and the close line counts
    bytes written to the client's socket, not bytes queued for it."""
    def flood(conn, server):
        conn.settimeout(15)
        try:
            conn.sendall(os.urandom(16 * MiB))
        except OSError:
            return
        read_until_eof(conn, 15)

    srv = backend(flood)
    b = start_bridge(srv.port, "--send-timeout", "2")
    fd0 = settled_fds(b)
    cl = ws_client(b, rcvbuf=4096)
    port = cl.local_port
    t0 = time.monotonic()
    with cl:
        line = close_line(b, port, 6)
        took = time.monotonic() - t0
        assert line is not None, "session still open after 6 s:\n" + \
            b.log()
        assert took >= 1.8, "dropped after %.1f s, before the 2 s " \
            "send timeout" % took
        assert wait_for(lambda: fd_count(b) <= fd0, 2), \
            "%d descriptors open, %d before" % (fd_count(b), fd0)
        m = re.search(r"(\d+) bytes to client", line)
        assert m, line
        assert 0 < int(m.group(1)) < 8 * MiB, line


# --- 3. a peer that is gone while its side is paused -----------------------

def test_client_reset_while_paused_ends_session(start_bridge, backend):
    """The target never reads; the client fills every buffer (the bridge
    pauses it), then resets.  A paused side is still watched: both
    descriptors close and the close line is logged within 2 s."""
    srv = backend(backend_wait, rcvbuf=4096)
    b = start_bridge(srv.port)
    fd0 = settled_fds(b)
    cl = ws_client(b)
    port = cl.local_port
    sent = send_until_blocked(cl.sock, encode_frame(OP_BINARY,
                                                    os.urandom(64 * KiB)))
    assert sent < 64 * MiB, "%d MiB went into a target that never " \
        "reads" % (sent // MiB)
    assert fd_count(b) >= fd0 + 2
    reset(cl.sock)
    ok = wait_for(lambda: fd_count(b) <= fd0, 2)
    assert ok, "2 s after the reset the bridge holds %d descriptors, %d " \
        "before the session" % (fd_count(b), fd0)
    assert close_line(b, port, 0.5) is not None, \
        "no close line for the reset session:\n" + b.log()


def test_target_reset_while_paused_closes_target(start_bridge, backend):
    """The client never reads, so the bridge stops reading the target; the
    target, blocked, resets.  The paused target is still watched: its
    descriptor is closed within 2 s."""
    blocked, go = threading.Event(), threading.Event()
    result = {}

    def push_then_reset(conn, server):
        try:
            result["sent"] = send_until_blocked(
                conn, os.urandom(64 * KiB), limit=256 * MiB)
        except AssertionError as e:
            result["error"] = e
            return
        finally:
            blocked.set()
        go.wait(20)
        reset(conn)

    srv = backend(push_then_reset)
    b = start_bridge(srv.port)
    fd0 = settled_fds(b)
    cl = ws_client(b, rcvbuf=4096)
    with cl:
        assert blocked.wait(25), "the target's sends never blocked"
        assert "error" not in result, result["error"]
        fd_open = fd_count(b)
        assert fd_open >= fd0 + 2
        go.set()
        ok = wait_for(lambda: fd_count(b) <= fd_open - 1, 2)
        assert ok, "2 s after the target's reset the bridge still holds " \
            "%d descriptors (%d with the session open, %d before)" % (
                fd_count(b), fd_open, fd0)


def test_client_gone_behind_unsent_bytes_ends_by_heartbeat(start_bridge,
                                                           backend):
    """--heartbeat 1; the target never reads, the client fills every
    buffer, then close()s: its FIN waits behind bytes the bridge will
    never read.  The next Ping to the gone client brings an RST, and the
    session ends within about 4 s."""
    srv = backend(backend_wait, rcvbuf=4096)
    b = start_bridge(srv.port, "--heartbeat", "1")
    fd0 = settled_fds(b)
    cl = ws_client(b)
    send_until_blocked(cl.sock, encode_frame(OP_BINARY, os.urandom(
        64 * KiB)))
    assert fd_count(b) >= fd0 + 2
    # Read what arrived (Pings), so close() sends a FIN, not an RST.
    cl.sock.setblocking(False)
    try:
        while cl.sock.recv(65536):
            pass
    except (BlockingIOError, OSError):
        pass
    cl.sock.close()
    t0 = time.monotonic()
    ok = wait_for(lambda: fd_count(b) <= fd0, 4.5)
    assert ok, "%.1f s after the client left the bridge holds %d " \
        "descriptors, %d before the session" % (time.monotonic() - t0,
                                                fd_count(b), fd0)


# --- 4. attacker bytes in log lines ----------------------------------------

ATTACK_GET = b"GET /X\xc2\x9b31m\xff HTTP/1.1\r\nHost: a\r\n\r\n"
CLOSE_REASON = "bye \u009b31m \x1b[0m".encode("utf-8")


def attack_http(b, request):
    """Send one raw request; read the answer's head if there is one."""
    with Client(tcp_connect(b.port, timeout=5), b.port) as cl:
        cl.send(request)
        try:
            cl.read_response()
        except (ConnectionGone, OSError):
            pass


def attack_upgrade_path(b, path):
    """An upgrade request for path (raw bytes).  A control character in
    the path may well be refused (400); accepted, the session is closed
    normally.  Either way the log must show the path escaped."""
    req = handshake_request("127.0.0.1", b.port, key=client_key(),
                            path="/PATH")
    req = req.replace(b"/PATH", path, 1)
    with Client(tcp_connect(b.port, timeout=5), b.port) as cl:
        cl.send(req)
        if cl.read_response().status != 101:
            return
        cl.send_frame(OP_CLOSE, close_payload(1000))
        code, _ = cl.recv_close()
        assert code == 1000
        cl.expect_eof(5)


def attack_close_reason(b):
    cl = ws_client(b, timeout=5)
    with cl:
        cl.send_frame(OP_CLOSE, close_payload(1000, CLOSE_REASON))
        code, _ = cl.recv_close()
        assert code == 1000
        cl.expect_eof(5)


def attack_origin(b):
    """Bytes a header value may hold (obs-text: a C1 CSI, invalid UTF-8),
    so the request reaches ExpectOrigin and is refused there."""
    req = handshake_request("127.0.0.1", b.port,
                            extra=["Origin: http://ORIGIN"])
    req = req.replace(b"ORIGIN", b"evil\xc2\x9b31m\xff", 1)
    attack_http(b, req)


LOG_ATTACKS = {
    # case: (bridge options, attack, escaped forms the log must hold)
    "web-path": (["--web", "{www}"], lambda b: attack_http(b, ATTACK_GET),
                 [b"\\xc2\\x9b", b"\\xff"]),
    "no-web-path": ([], lambda b: attack_http(b, ATTACK_GET),
                    [b"\\xc2\\x9b", b"\\xff"]),
    "upgrade-path": ([], lambda b: attack_upgrade_path(
        b, b"/\x1b[31m?x=\xff"), [b"\\x1b", b"\\xff"]),
    # Without a control character the upgrade is accepted: the session's
    # own lines carry the path.
    "upgrade-path-obs-text": ([], lambda b: attack_upgrade_path(
        b, b"/X\xc2\x9b31m?x=\xff"), [b"\\xc2\\x9b", b"\\xff"]),
    "close-reason": ([], attack_close_reason, [b"\\xc2\\x9b", b"\\x1b"]),
    "origin": (["--auth-plugin", "ExpectOrigin", "--auth-source",
                "http://ok"], attack_origin, [b"\\xc2\\x9b", b"\\xff"]),
}


@pytest.mark.parametrize("case", sorted(LOG_ATTACKS))
def test_attacker_bytes_escaped_in_log(start_bridge, echo_backend, tmp_path,
                                       case):
    """Bytes from the network reach the log only escaped: every byte of it
    is printable ASCII or a newline (no terminal escapes, no C1 controls,
    no invalid UTF-8), and the escaped form is there for the reader."""
    opts, attack, escaped = LOG_ATTACKS[case]
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("hello\n")
    b = start_bridge(echo_backend[1], *[o.replace("{www}", str(www))
                                        for o in opts])
    attack(b)
    wait_for(lambda: all(e in log_bytes(b).lower() for e in escaped), 3)
    time.sleep(0.2)  # any further line about the same request
    log = log_bytes(b)
    bad = [i for i, c in enumerate(log) if not (0x20 <= c <= 0x7e or
                                                c == 0x0a)]
    assert not bad, "%d unprintable bytes in the log, first in %r" % (
        len(bad), log[max(0, bad[0] - 80):bad[0] + 20])
    for e in escaped:
        assert e in log.lower(), "%r not in the log:\n%s" % (
            e, log.decode("ascii", "replace"))


# --- 5. what a client is told ----------------------------------------------

def close_after_101(b, timeout=15):
    """A session's 101, then the bridge's Close: (code, reason)."""
    cl = ws_client(b, timeout=timeout)
    with cl:
        code, reason = cl.recv_close(skip_data=False, timeout=timeout)
        try:
            cl.send_frame(OP_CLOSE, close_payload(code or 1000))
        except OSError:
            pass
        cl.expect_eof(5)
    return code, reason


def test_target_refused_reason_names_no_address(start_bridge):
    """The client learns what failed, not where: the address and port of
    the target are for the log only."""
    port = free_port()  # nobody listens here
    b = start_bridge(port)
    code, reason = close_after_101(b)
    assert code == 1011, (code, reason)
    assert reason == b"target refused the connection", reason
    assert b"127.0.0.1" not in reason and str(port).encode() not in reason
    where = "127.0.0.1:%d" % port

    def logged():
        return [l for l in b.log().splitlines()
                if "refused" in l.lower() and where in l]
    assert wait_for(logged, 3), "no log line names %s and the refusal:\n%s" \
        % (where, b.log())


def test_target_name_not_resolving_reason(start_bridge):
    b = start_bridge(None, target="nonexistent.invalid:5900")
    code, reason = close_after_101(b, timeout=20)
    assert code == 1011, (code, reason)
    assert reason == b"target unreachable", reason


def test_ssl_target_self_signed_reason(start_bridge, tmp_path):
    """--ssl-target, and the target's certificate is self-signed: the
    client is told the TLS verification failed."""
    r = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(tmp_path / "self.key"),
         "-out", str(tmp_path / "self.pem")],
        capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr.decode()
    be = TLSEcho(Certs(tmp_path), "self")
    try:
        b = start_bridge(be.port, "--ssl-target")
        code, reason = close_after_101(b)
        assert code == 1011, (code, reason)
        assert reason.startswith(
            b"TLS to target failed: certificate verify failed"), reason
    finally:
        be.close()


def test_target_burst_split_into_frames_of_64kib(start_bridge, backend):
    """1 MiB from the target in one burst reaches the client as frames of
    at most 64 KiB of payload (a browser's or a proxy's buffer), adding
    up to the same bytes."""
    payload = os.urandom(MiB)

    def burst(conn, server):
        conn.settimeout(15)
        try:
            conn.sendall(payload)
        except OSError:
            return
        read_until_eof(conn, 15)

    srv = backend(burst)
    b = start_bridge(srv.port)
    cl = ws_client(b)
    with cl:
        time.sleep(0.3)  # let the bridge read the whole burst at once
        got, sizes = bytearray(), []
        while len(got) < len(payload):
            fin, rsv, op, p = cl.recv_frame()
            assert op in (OP_BINARY, OP_CONT, OP_PING), (op, p[:60])
            if op == OP_PING:
                continue
            sizes.append(len(p))
            got += p
        assert max(sizes) <= 64 * KiB, \
            "frames of %d bytes (largest %d)" % (len(sizes), max(sizes))
        assert bytes(got) == payload
