"""The PROXY protocol (haproxy's doc/proxy-protocol.txt): --proxy-protocol
behind a real haproxy 2.6 (send-proxy, send-proxy-v2, and their health
checks), hand-made headers (split into single bytes, malformed at every
split point, too slow), the hint on a port without the option, and
--target-proxy-protocol v1/v2 read by a backend that parses the header
(plain, --ssl-target, Unix socket)."""

import os
import re
import socket
import ssl
import struct
import threading
import time

import pytest

from conftest import SANITIZER_RE
from test_tls import certs  # noqa: F401  (the fixture)
from wsutil import (OP_BINARY, ConnectionGone, RawClient, free_port,
                    have_ipv6, spawn_logged, stop_process, wait_accepting,
                    wait_for)

HAPROXY = "/usr/sbin/haproxy"
SIG = b"\r\n\r\n\x00\r\nQUIT\n"


# --- building and reading headers -------------------------------------------

def v1(src, sport, dst, dport):
    fam = "TCP6" if ":" in src else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n" % (fam, src, dst, sport, dport)).encode()


def v2(src, sport, dst, dport, cmd=0x21, tlvs=b""):
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    addrs = (socket.inet_pton(fam, src) + socket.inet_pton(fam, dst) +
             struct.pack("!HH", sport, dport))
    body = addrs + tlvs
    return SIG + bytes([cmd, 0x21 if fam == socket.AF_INET6 else 0x11]) + \
        struct.pack("!H", len(body)) + body


def recv_exact(conn, n):
    out = b""
    while len(out) < n:
        d = conn.recv(n - len(out))
        if not d:
            raise ConnectionGone("eof in the PROXY header")
        out += d
    return out


def read_proxy_header(conn):
    """A PROXY header read off conn, parsed independently of wsbridge:
    ("v1", line) or ("v2", cmd, fam, (src, sport), (dst, dport))."""
    first = recv_exact(conn, 5)
    if first == b"PROXY":
        line = first
        while not line.endswith(b"\r\n"):
            line += recv_exact(conn, 1)
            assert len(line) <= 107, line
        return ("v1", line.decode())
    head = first + recv_exact(conn, 7)
    assert head[:12] == SIG, head
    ver_cmd, fam, n = struct.unpack("!BBH", recv_exact(conn, 4))
    body = recv_exact(conn, n)
    if fam == 0x11:
        return ("v2", ver_cmd, fam,
                (socket.inet_ntop(socket.AF_INET, body[0:4]),
                 struct.unpack("!H", body[8:10])[0]),
                (socket.inet_ntop(socket.AF_INET, body[4:8]),
                 struct.unpack("!H", body[10:12])[0]))
    if fam == 0x21:
        return ("v2", ver_cmd, fam,
                (socket.inet_ntop(socket.AF_INET6, body[0:16]),
                 struct.unpack("!H", body[32:34])[0]),
                (socket.inet_ntop(socket.AF_INET6, body[16:32]),
                 struct.unpack("!H", body[34:36])[0]))
    return ("v2", ver_cmd, fam, None, None)


# --- clients ---------------------------------------------------------------

class BoundClient(RawClient):
    """RawClient from a chosen local address (127.0.0.2, ::1), so the
    client is told apart from a proxy on 127.0.0.1."""

    def __init__(self, host, port, src, timeout=10.0):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.host, self.port = host, port
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.bind((src, 0))
        self.sock.connect((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False
        self.response = None

    @property
    def local_port(self):
        return self.sock.getsockname()[1]


def echo_session(cl, data=b"through the proxy"):
    cl.handshake()
    cl.send_frame(OP_BINARY, data)
    assert cl.recv_data(len(data)) == data


def bytewise(cl, data):
    """Send data one byte per TCP segment."""
    for i in range(len(data)):
        cl.send(data[i:i + 1])
        time.sleep(0.002)


def closed_without_answer(cl, timeout=5.0):
    """The bridge closes the connection (EOF or reset) and sends nothing."""
    cl.settimeout(timeout)
    try:
        d = cl.sock.recv(4096)
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    assert d == b"", "the bridge answered %r" % d
    return True


def session_lines(b, peer):
    return [ln for ln in b.log().splitlines()
            if re.search(r"session \d+: %s: " % re.escape(peer), ln)]


# --- haproxy in front ------------------------------------------------------

@pytest.fixture
def haproxy(tmp_path):
    """haproxy(server_opts, bridge_port) -> (port, port6 or None): a real
    haproxy 2.6 in mode tcp on 127.0.0.1 (and [::1]) in front of the
    bridge, its server line ending in server_opts.  Stopped at teardown."""
    if not os.access(HAPROXY, os.X_OK):
        pytest.skip("haproxy not installed")
    procs = []

    def start(server_opts, bridge_port):
        port = free_port()
        binds = "    bind 127.0.0.1:%d\n" % port
        port6 = None
        if have_ipv6():
            port6 = free_port(socket.AF_INET6, "::1")
            binds += "    bind [::1]:%d\n" % port6
        cfg = tmp_path / ("haproxy-%d.cfg" % len(procs))
        cfg.write_text(
            "global\n    maxconn 200\n"
            "defaults\n    mode tcp\n    timeout connect 5s\n"
            "    timeout client 30s\n    timeout server 30s\n"
            "frontend fe\n" + binds + "    default_backend be\n"
            "backend be\n"
            "    server s1 127.0.0.1:%d %s\n" % (bridge_port, server_opts))
        log = str(tmp_path / ("haproxy-%d.log" % len(procs)))
        p = spawn_logged([HAPROXY, "-db", "-f", str(cfg)], log)
        procs.append(p)
        wait_accepting("127.0.0.1", port, p)
        return port, port6

    yield start
    for p in procs:
        stop_process(p)


@pytest.mark.parametrize("send,check,check_re", [
    # haproxy's v1 checks name its own ends (the spec's advice); v2's are
    # LOCAL.
    ("send-proxy", "check inter 100 check-send-proxy",
     r"session \d+: (\S+): client address from PROXY v1, via \1$"),
    ("send-proxy-v2", "check inter 100 check-send-proxy",
     r"PROXY v2 LOCAL: the connection's own address kept$"),
], ids=["v1", "v2"])
def test_haproxy_send_proxy(start_bridge, echo_backend, haproxy, send, check,
                            check_re):
    """Sessions through haproxy echo, and the bridge names the client as
    haproxy saw it (127.0.0.2, ::1), not haproxy's 127.0.0.1; haproxy's
    health checks (v1 UNKNOWN, v2 LOCAL) are taken, not refused."""
    b = start_bridge(echo_backend[1], "--proxy-protocol", "-v")
    port, port6 = haproxy("%s %s" % (send, check), b.port)
    with BoundClient("127.0.0.1", port, "127.0.0.2") as cl:
        echo_session(cl)
        peer = "127.0.0.2:%d" % cl.local_port
    if port6 is not None:
        with BoundClient("::1", port6, "::1") as cl:
            echo_session(cl)
            peer6 = "[::1]:%d" % cl.local_port
        assert wait_for(lambda: any("WebSocket" in ln
                                    for ln in session_lines(b, peer6))), \
            b.log()
    assert wait_for(lambda: any("WebSocket" in ln
                                for ln in session_lines(b, peer))), b.log()
    assert wait_for(lambda: len(re.findall(check_re, b.log(), re.M)) >= 2), \
        b.log()
    assert "bad PROXY" not in b.log()
    assert "HTTP 400" not in b.log()


# --- hand-made headers -----------------------------------------------------

@pytest.fixture
def pp_bridge(start_bridge, echo_backend):
    return start_bridge(echo_backend[1], "--proxy-protocol", "-v")


@pytest.mark.parametrize("make,peer", [
    (lambda: v1("203.0.113.7", 4242, "127.0.0.1", 80), "203.0.113.7:4242"),
    (lambda: v1("2001:db8::7", 1, "::1", 80), "[2001:db8::7]:1"),
    (lambda: v2("203.0.113.8", 4343, "127.0.0.1", 80,
                tlvs=b"\x04\x00\x03abc"), "203.0.113.8:4343"),
    (lambda: v2("2001:db8::8", 65535, "::1", 80), "[2001:db8::8]:65535"),
], ids=["v1-tcp4", "v1-tcp6", "v2-tcp4-tlv", "v2-tcp6"])
def test_header_one_byte_at_a_time(pp_bridge, make, peer):
    """A header arriving a byte per segment, then the upgrade: the session
    is the header's client."""
    with RawClient("127.0.0.1", pp_bridge.port) as cl:
        bytewise(cl, make())
        echo_session(cl)
    assert wait_for(lambda: any("WebSocket" in ln for ln in
                                session_lines(pp_bridge, peer))), \
        pp_bridge.log()


def test_header_with_the_request_in_one_segment(pp_bridge):
    """Header and upgrade request in one write: nothing after the header
    is lost."""
    with RawClient("127.0.0.1", pp_bridge.port) as cl:
        from wsutil import handshake_request, client_key, accept_key
        key = client_key()
        cl.send(v2("198.51.100.1", 9, "127.0.0.1", 80) +
                handshake_request("127.0.0.1", pp_bridge.port, key=key))
        r = cl.read_response()
        assert r.status == 101 and \
            r.header("sec-websocket-accept") == accept_key(key)
        cl.send_frame(OP_BINARY, b"x" * 1000)
        assert cl.recv_data(1000) == b"x" * 1000


@pytest.mark.parametrize("make", [
    lambda: v1("203.0.113.7", 4242, "127.0.0.1", 80),
    lambda: v2("203.0.113.7", 4242, "127.0.0.1", 80),
], ids=["v1", "v2"])
def test_header_then_tls(start_bridge, echo_backend, certs, make):
    """With --cert, the TLS sniff looks at the first byte after the
    header: wss:// behind a PROXY header works."""
    b = start_bridge(echo_backend[1], "--proxy-protocol", "-v", "--cert",
                     certs["server.pem"], "--key", certs["server.key"])
    ctx = ssl.create_default_context(cafile=certs["ca.pem"])
    with RawClient("127.0.0.1", b.port) as cl:
        cl.send(make())
        cl.sock = ctx.wrap_socket(cl.sock, server_hostname="127.0.0.1")
        echo_session(cl)
    assert wait_for(lambda: any("wss://" in ln for ln in session_lines(
        b, "203.0.113.7:4242"))), b.log()


BAD = [
    ("bad signature", b"\r\n\r\n\x00\r\nQUIX\n\x21\x11\x00\x0c" + b"\0" * 12,
     "not a PROXY protocol header"),
    ("an HTTP request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
     "not a PROXY protocol header"),
    ("v1 without CRLF", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
     "v1 line ends in a bare LF"),
    ("v1 over 107 bytes", b"PROXY UNKNOWN " + b"f" * 93 + b"\r\n",
     "no CRLF in the first 107 bytes"),
    ("v1 leading zero", b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
     "v1 port not 0 to 65535"),
    ("v2 length past the end",
     v2("1.2.3.4", 1, "5.6.7.8", 2)[:14] + b"\x00\x1c" +
     v2("1.2.3.4", 1, "5.6.7.8", 2)[16:] + b"GET / HTTP/1.1\r\n",
     "v2 TLV past the end"),
    ("v2 wrong family length",
     SIG + b"\x21\x21\x00\x0c" + b"\0" * 12, "v2 address block shorter"),
    ("v2 version 1", SIG + b"\x11\x11\x00\x0c" + b"\0" * 12,
     "v2 header of another version"),
]


@pytest.mark.parametrize("data,why", [(d, w) for _, d, w in BAD],
                         ids=[n for n, _, _ in BAD])
def test_malformed_header_at_every_split(pp_bridge, data, why):
    """Sent in two segments split at every byte: closed with no answer,
    and one log line saying why with the bytes escaped."""
    for k in range(1, len(data)):
        with RawClient("127.0.0.1", pp_bridge.port) as cl:
            try:
                cl.send(data[:k])
                time.sleep(0.003)
                cl.send(data[k:])
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused as soon as the first part was wrong
            assert closed_without_answer(cl), "split at %d: still open" % k
    pat = "bad PROXY protocol header: %s" % why
    assert wait_for(lambda: pp_bridge.log().count(pat) == len(data) - 1), \
        (pat, pp_bridge.log()[-3000:])
    assert "HTTP 400" not in pp_bridge.log()
    if data[:1] == b"\r":  # binary, escaped in the log
        assert all('got "\\x0d\\x0a\\x0d\\x0a\\x00\\x0d\\x0aQUI' in ln
                   for ln in pp_bridge.log().splitlines() if pat in ln)


def test_slowloris_header_closed_at_the_deadline(pp_bridge):
    """A header that trickles in (a byte every 0.25 s) or never comes is
    closed at the 3 s deadline counted from the accept; a well-behaved
    session meanwhile is not disturbed."""
    header = v1("203.0.113.9", 9, "127.0.0.1", 80)
    result = {}

    def slow():
        with RawClient("127.0.0.1", pp_bridge.port) as cl:
            t0 = time.monotonic()
            try:
                for i in range(len(header) - 2):
                    cl.send(header[i:i + 1])
                    time.sleep(0.25)
            except (BrokenPipeError, ConnectionResetError):
                pass
            closed_without_answer(cl, 10)
            result["slow"] = time.monotonic() - t0

    def silent():
        with RawClient("127.0.0.1", pp_bridge.port) as cl:
            t0 = time.monotonic()
            assert closed_without_answer(cl, 10)
            result["silent"] = time.monotonic() - t0

    ts = [threading.Thread(target=f) for f in (slow, silent)]
    for t in ts:
        t.start()
    time.sleep(0.5)
    with RawClient("127.0.0.1", pp_bridge.port) as cl:
        cl.send(v2("198.51.100.2", 7, "127.0.0.1", 80))
        echo_session(cl, os.urandom(50000))
    for t in ts:
        t.join(15)
    assert 2.5 <= result["slow"] <= 4.5, result
    assert 2.5 <= result["silent"] <= 4.5, result
    assert pp_bridge.log().count(
        "no complete PROXY protocol header in time") == 2, pp_bridge.log()


def test_eof_before_the_header(pp_bridge):
    with RawClient("127.0.0.1", pp_bridge.port) as cl:
        cl.send(b"PROXY TCP4 1.2")
        cl.sock.shutdown(socket.SHUT_WR)
        assert closed_without_answer(cl)
    assert wait_for(lambda: "connection closed before a complete PROXY "
                    'protocol header, got "PROXY TCP4 1.2"' in
                    pp_bridge.log()), pp_bridge.log()


# --- without --proxy-protocol: 400 and a hint --------------------------------

@pytest.mark.parametrize("data", [
    v1("203.0.113.7", 4242, "127.0.0.1", 80) + b"GET / HTTP/1.1\r\n\r\n",
    v2("203.0.113.7", 4242, "127.0.0.1", 80) + b"GET / HTTP/1.1\r\n\r\n",
], ids=["v1", "v2"])
def test_without_the_option_400_and_hint(bridge, data):
    with RawClient("127.0.0.1", bridge.port) as cl:
        cl.send(data)
        assert cl.read_response().status == 400
    hint = ("HTTP 400 Bad Request: malformed request head (a PROXY "
            "protocol header: start wsbridge with --proxy-protocol?), "
            "request \"")
    assert wait_for(lambda: hint in bridge.log()), bridge.log()
    line = [ln for ln in bridge.log().splitlines() if hint in ln][0]
    assert re.search(r"session \d+: 127\.0\.0\.1:\d+: HTTP 400", line), line


# --- --target-proxy-protocol -----------------------------------------------

class HeaderEcho:
    """A backend (TCP or Unix, optionally TLS after the header) that reads
    the PROXY header, keeps it, then echoes."""

    def __init__(self, backend, tls_ctx=None, **kw):
        self.headers = []
        self.tls_ctx = tls_ctx
        self.srv = backend(self._handle, **kw)

    def _handle(self, conn, srv):
        conn.settimeout(20)
        self.headers.append(read_proxy_header(conn))
        if self.tls_ctx is not None:
            conn = self.tls_ctx.wrap_socket(conn, server_side=True)
        while True:
            try:
                d = conn.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                return
            if not d:
                return
            conn.sendall(d)


def expected(version, src, sport, dst, dport):
    if version == "v1":
        fam = "TCP6" if ":" in src else "TCP4"
        return ("v1", "PROXY %s %s %s %d %d\r\n" % (fam, src, dst, sport,
                                                    dport))
    return ("v2", 0x21, 0x21 if ":" in src else 0x11, (src, sport),
            (dst, dport))


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("target", ["tcp", "tls", "unix"])
def test_target_proxy_protocol(start_bridge, backend, certs, tmp_path,
                               version, target):
    """The target gets a header with the client (127.0.0.2 here) as source
    and the bridge's listening address as destination, before TLS
    (--ssl-target) and before any payload; a Unix-socket target too."""
    opts = ["--target-proxy-protocol", version]
    kw = {}
    tls_ctx = None
    if target == "tls":
        tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls_ctx.load_cert_chain(certs["server.pem"], certs["server.key"])
        opts += ["--ssl-target", "--ssl-target-cafile", certs["ca.pem"]]
    if target == "unix":
        kw["unix_path"] = str(tmp_path / "target.sock")
    be = HeaderEcho(backend, tls_ctx, **kw)
    if target == "unix":
        b = start_bridge(None, "--unix-target", kw["unix_path"], *opts)
    else:
        b = start_bridge(be.srv.port, *opts)
    with BoundClient("127.0.0.1", b.port, "127.0.0.2") as cl:
        echo_session(cl, os.urandom(20000))
        sport = cl.local_port
    assert be.headers == [expected(version, "127.0.0.2", sport, "127.0.0.1",
                                   b.port)], be.headers


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_proxy_protocol_in_and_out(start_bridge, backend, version):
    """Behind a proxy and in front of a server that wants the header: the
    client the incoming header names is the one passed on (IPv6 here)."""
    be = HeaderEcho(backend)
    b = start_bridge(be.srv.port, "--proxy-protocol",
                     "--target-proxy-protocol", version)
    with RawClient("127.0.0.1", b.port) as cl:
        cl.send(v2("2001:db8::9", 5555, "2001:db8::1", 443))
        echo_session(cl)
    # The destination is the bridge's own address of this connection,
    # IPv4, so the client's IPv6 family wins and it is IPv4-mapped.
    assert be.headers == [expected(version, "2001:db8::9", 5555,
                                   "::ffff:127.0.0.1", b.port)], be.headers


def test_no_sanitizer_reports(pp_bridge):
    """(The fixtures check every bridge log; this one just exercises the
    free of a header reader at shutdown.)"""
    cl = RawClient("127.0.0.1", pp_bridge.port)
    cl.send(b"PROXY TCP4 1.2.3.4 ")
    time.sleep(0.2)
    pp_bridge.expect_exit = True
    stop_process(pp_bridge.proc)
    cl.close()
    assert not SANITIZER_RE.search(pp_bridge.log().encode())
