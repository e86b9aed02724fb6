"""Issue 10 attacked: PROXY headers that lie, spoofed Forwarded and
X-Forwarded-For, limits at the edge and released exactly once, and the
metrics listener abused (slowloris, floods, pipelining, huge heads), all
against the real binary with raw sockets, curl and its own /metrics.
Each case names what it tries; the bugs it found are fixed and stay so."""

import os
import re
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

import wsutil
from test_limits import SourceClient
from test_metrics import get, parse, promtool_check, scrape, value, \
    wait_value
from wsutil import OP_BINARY, OP_CLOSE, close_payload, free_port, wait_for

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
# The line every upgrade logs, its prefix the client's address.
CONN_RE = re.compile(r"session (\d+): (\S+): WebSocket \(ws://\) connection")


def v2(cmd, fam_tr, body):
    """A v2 header: signature, command byte, family byte, body."""
    return V2_SIG + bytes([cmd, fam_tr]) + struct.pack("!H", len(body)) + body


def v2_inet(src="203.0.113.9", dst="127.0.0.1", sport=4242, dport=80,
            tlvs=b""):
    body = socket.inet_aton(src) + socket.inet_aton(dst) + \
        struct.pack("!HH", sport, dport) + tlvs
    return v2(0x21, 0x11, body)


def raw(port, timeout=5.0):
    return wsutil.RawClient("127.0.0.1", port, timeout=timeout)


def closed_within(c, seconds):
    """True if the bridge closes c (EOF or reset) within seconds and sent
    nothing."""
    c.settimeout(seconds)
    try:
        data = c.sock.recv(4096)
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True
    return data == b""


def logged_clients(b):
    return [m[1] for m in CONN_RE.findall(b.log())]


def echo_once(c, data=b"hi"):
    c.send_frame(OP_BINARY, data)
    assert c.recv_data(len(data)) == data


def bye(c):
    c.send_frame(OP_CLOSE, close_payload(1000))
    c.recv_close()
    c.close()


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


# --- PROXY protocol --------------------------------------------------------

# (description, bytes, how long the bridge may take to close)
LYING_HEADERS = [
    ("v2 length 65535 then silence", V2_SIG + b"\x21\x11\xff\xff", 1.0),
    ("v2 length 2033 (just past the max) then silence",
     V2_SIG + b"\x21\x11\x07\xf1", 1.0),
    ("v1 line that never ends", b"PROXY TCP4 " + b"1" * 200, 1.0),
    ("v1 at 107 bytes without CRLF", b"PROXY UNKNOWN " + b"x" * 93, 1.0),
    ("v2 INET6 family with an INET-sized block",
     v2(0x21, 0x21, b"\x00" * 12), 1.0),
    ("v2 UNIX family with a short block", v2(0x21, 0x31, b"/x\x00"), 1.0),
    ("v2 TLV overflowing the header",
     v2_inet(tlvs=b"\x01\x00\x40abc"), 1.0),
    ("v2 TLV length header cut", v2_inet(tlvs=b"\x01\x00"), 1.0),
    ("v2 version 3", V2_SIG + b"\x31\x11\x00\x0c" + b"\x00" * 12, 1.0),
    ("v2 command 0xF", V2_SIG + b"\x2f\x11\x00\x0c" + b"\x00" * 12, 1.0),
    ("v2 family 4", V2_SIG + b"\x21\x41\x00\x00", 1.0),
    ("v1 TCP4 with an IPv6 address",
     b"PROXY TCP4 ::1 ::1 1 2\r\n", 1.0),
    ("v1 port 65536", b"PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n", 1.0),
    ("HTTP without a header", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1.0),
]


def test_lying_headers_closed_at_once(start_bridge, echo_backend):
    """Each lying header is refused as soon as it is known to lie (not at
    the 3 s deadline), without an HTTP answer, one log line each; then an
    honest client is still served."""
    b = start_bridge(echo_backend[1], "--proxy-protocol")
    for desc, data, limit in LYING_HEADERS:
        with raw(b.port) as c:
            c.send(data)
            t0 = time.monotonic()
            assert closed_within(c, limit + 1), desc
            assert time.monotonic() - t0 < limit, desc
    assert b.log().count("bad PROXY protocol header") >= \
        len(LYING_HEADERS), b.log()[-3000:]
    with raw(b.port) as c:
        c.send(v2_inet())
        c.handshake()
        echo_once(c)
    assert logged_clients(b)[-1].startswith("203.0.113.9")


@pytest.mark.parametrize("line", [
    b"PROXY TCP4 1.2.3.4\x00junk 127.0.0.1 1 2\r\n",
    b"PROXY TCP4 1.2.3.4 127.0.0.1 1\x00junk 2\r\n",
])
def test_v1_nul_inside_a_field_refused(start_bridge, echo_backend, line):
    """A v1 line with a NUL byte inside a field is malformed (proxy-
    protocol.txt 2.1: printable US-ASCII): closed, not believed."""
    b = start_bridge(echo_backend[1], "--proxy-protocol")
    with raw(b.port) as c:
        c.send(line)
        assert closed_within(c, 1.5), "NUL field accepted"


def test_v2_unix_paths_unterminated(start_bridge, backend):
    """v2 PROXY over AF_UNIX with 108-byte paths and no NUL: taken, the
    session works, and the target's PROXY header (v1 and v2) says UNKNOWN
    / LOCAL rather than leaking the bytes; no sanitizer report."""
    got = []

    def handler(conn, srv):
        conn.settimeout(5)
        data = conn.recv(1)
        if data == b"P":                    # v1: up to its CRLF
            while not data.endswith(b"\r\n"):
                data += conn.recv(1)
        else:                               # v2 LOCAL: 16 bytes
            data += conn.recv(15, socket.MSG_WAITALL)
        got.append(data)
        wsutil.echo_until_eof(conn, peer_gone=(ConnectionResetError,))
    be = backend(handler)
    for ver in ("v1", "v2"):
        b = start_bridge(be.port, "--proxy-protocol",
                         "--target-proxy-protocol", ver,
                         "--max-connections-per-ip", "1")
        with raw(b.port) as c, raw(b.port) as c2:
            c.send(v2(0x21, 0x31, b"A" * 108 + b"B" * 108))
            c.handshake()
            # Two Unix "addresses" are no address: no per-IP count, so
            # the second is not refused as the same address.
            c2.send(v2(0x21, 0x31, b"A" * 108 + b"B" * 108))
            c2.handshake()
            echo_once(c)
            echo_once(c2)
        assert wait_for(lambda: len(got) >= 2)
        hdr = got[-1]
        if ver == "v1":
            assert hdr.startswith(b"PROXY UNKNOWN\r\n"), hdr
        else:
            assert hdr[:12] == V2_SIG and hdr[12] == 0x20, hdr
        del got[:]
        assert b"AAAA" not in b.log().encode()


def test_double_proxy_header_is_not_believed(start_bridge, echo_backend):
    """A client behind a proxy that sends PROXY sends its own PROXY
    header after it, claiming another address: the second is the bad
    request it is (400), and the address stays the proxy's claim."""
    b = start_bridge(echo_backend[1], "--proxy-protocol")
    with raw(b.port) as c:
        c.send(v2_inet(src="198.51.100.1") +
               b"PROXY TCP4 6.6.6.6 127.0.0.1 1 2\r\n" +
               wsutil.handshake_request("127.0.0.1", b.port))
        assert c.read_response().status == 400
    with raw(b.port) as c:
        c.send(b"PROXY TCP4 198.51.100.2 127.0.0.1 1 2\r\n" +
               v2_inet(src="6.6.6.6"))
        c.send(wsutil.handshake_request("127.0.0.1", b.port))
        assert c.read_response().status == 400
    log = b.log()
    assert not re.search(r"session \d+: 6\.6\.6\.6", log), log[-2000:]


def test_proxy_header_on_a_plain_port_never_believed(start_bridge,
                                                     echo_backend):
    """Without --proxy-protocol a PROXY line claiming 6.6.6.6, v1 or v2,
    alone or glued to a valid upgrade: 400, and no log line is prefixed
    with the claimed address."""
    b = start_bridge(echo_backend[1])
    for hdr in (b"PROXY TCP4 6.6.6.6 127.0.0.1 1 2\r\n",
                v2_inet(src="6.6.6.6")):
        with raw(b.port) as c:
            c.send(hdr + wsutil.handshake_request("127.0.0.1", b.port))
            assert c.read_response().status == 400
    log = b.log()
    assert not re.search(r"session \d+: 6\.6\.6\.6", log), log[-2000:]
    assert "--proxy-protocol?" in log


def test_many_half_headers_bounded(start_bridge, echo_backend):
    """300 connections each send half a v2 header and stall: an honest
    client is served meanwhile, all 300 are closed by the 3 s deadline,
    and the descriptors come back."""
    b = start_bridge(echo_backend[1], "--proxy-protocol", "--workers", "2")
    time.sleep(0.2)
    base = open_fds(b.pid)
    half = []
    for i in range(300):
        s = socket.create_connection(("127.0.0.1", b.port), 5)
        s.sendall(v2_inet()[:20])
        half.append(s)
    t0 = time.monotonic()
    with raw(b.port) as c:
        c.send(v2_inet(src="203.0.113.77"))
        c.handshake()
        echo_once(c)
        bye(c)
    assert time.monotonic() - t0 < 2
    deadline = time.monotonic() + 5
    for s in half:
        s.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            assert s.recv(16) == b""
        except ConnectionResetError:
            pass
        s.close()
    assert time.monotonic() - t0 < 4.5, "deadline not held"
    assert wait_for(lambda: open_fds(b.pid) <= base + 2, 3), \
        (open_fds(b.pid), base)


# --- Forwarded / X-Forwarded-For ------------------------------------------

SPOOFS = [
    ["X-FORWARDED-FOR: 6.6.6.6"],
    ["x-forwarded-for: 6.6.6.6"],
    ["X-Forwarded-For: 6.6.6.6", "X-Forwarded-For: 6.6.6.7"],
    ["X-Forwarded-For: 127.0.0.1,", " 6.6.6.6"],   # obs-fold
    ["FORWARDED: for=6.6.6.6"],
    ['Forwarded: for="[::ffff:6.6.6.6]"'],
    ["X-Real-IP: 6.6.6.6"],
    ["x-real-ip: 6.6.6.6", "X-Forwarded-For: 6.6.6.6",
     "Forwarded: for=6.6.6.6"],
]


def test_spoofs_from_an_untrusted_peer(start_bridge, echo_backend):
    """The trusted proxy is 127.0.0.1; a client from 127.0.0.2 sends every
    spelling of the headers: never believed (or refused outright)."""
    b = start_bridge(echo_backend[1], "--trusted-proxy", "127.0.0.1/32")
    for extra in SPOOFS:
        with SourceClient("127.0.0.1", b.port, "127.0.0.2") as c:
            c.send(wsutil.handshake_request("127.0.0.1", b.port,
                                            extra=extra))
            st = c.read_response().status
            assert st in (101, 400), (extra, st)
    for peer in logged_clients(b):
        assert peer.startswith("127.0.0.2:"), (peer, b.log()[-3000:])
    assert "6.6.6" not in "".join(logged_clients(b))


def test_trusted_enormous_and_odd_lists(start_bridge, echo_backend):
    """From a trusted peer: a 7 KB X-Forwarded-For list, 100 headers,
    IPv6 zone ids, garbage: no crash, and the address is an address from
    the list or the peer."""
    b = start_bridge(echo_backend[1], "--trusted-proxy", "127.0.0.1")
    long_list = ", ".join("10.%d.%d.%d" % (i // 65536, i // 256 % 256,
                                           i % 256) for i in range(600))
    cases = [
        (["X-Forwarded-For: " + long_list], "10.0.2.87"),
        (["X-Forwarded-For: 10.0.0.%d" % i for i in range(100)],
         "10.0.0.99"),
        (["X-Forwarded-For: fe80::1%eth0"], None),
        (['Forwarded: for="[fe80::1%25eth0]:80"'], None),
        (["X-Forwarded-For: " + "9" * 4000], None),
        (["Forwarded: " + "for=1.2.3.4;" * 300], None),
        (["X-Forwarded-For: ,,,,, , ,"], None),
        (["X-Real-IP: 1.2.3.4:80"], None),
    ]
    for extra, want in cases:
        with raw(b.port) as c:
            c.send(wsutil.handshake_request("127.0.0.1", b.port,
                                            extra=extra))
            st = c.read_response().status
        assert st in (101, 400, 431), (extra[0][:60], st)
        if st != 101:
            continue
        assert wait_for(lambda: len(logged_clients(b)) > 0)
        peer = logged_clients(b)[-1]
        if want is not None:
            assert peer == want, (extra[0][:60], peer)
        else:
            assert "%" not in peer and "eth0" not in peer, peer
    assert b.proc.poll() is None


def test_trust_everything_corner(start_bridge, echo_backend):
    """--trusted-proxy 0.0.0.0/0 (and ::/0): every hop is trusted, so the
    left-most address is the client, as nginx's realip does."""
    b = start_bridge(echo_backend[1], "--trusted-proxy", "0.0.0.0/0",
                     "--trusted-proxy", "::/0")
    with raw(b.port) as c:
        c.send(wsutil.handshake_request(
            "127.0.0.1", b.port,
            extra=["X-Forwarded-For: 203.0.113.1, 2001:db8::5, 10.0.0.1"]))
        assert c.read_response().status == 101
    assert wait_for(lambda: logged_clients(b))
    assert logged_clients(b)[-1] == "203.0.113.1", logged_clients(b)


def test_keep_alive_address_change_counts_right(start_bridge, echo_backend,
                                                tmp_path):
    """Per-IP limit 1 via a trusted proxy: a keep-alive connection's web
    request says A, its upgrade says B: B is counted (A's slot, held by
    another session, does not refuse it); a second B is refused; all
    counts return to 0."""
    (tmp_path / "index.html").write_text("hi\n")
    mport = free_port()
    b = start_bridge(echo_backend[1], "--trusted-proxy", "127.0.0.1",
                     "--web", str(tmp_path), "--max-connections-per-ip",
                     "1", "--metrics", "127.0.0.1:%d" % mport)
    a = raw(b.port)
    a.handshake(extra=["X-Forwarded-For: 198.51.100.1"])
    k = raw(b.port)
    k.send(b"GET /index.html HTTP/1.1\r\nHost: x\r\n"
           b"X-Forwarded-For: 198.51.100.1\r\n\r\n")
    r = k.read_response()
    assert r.status == 200, r
    k._take(3)
    k.response = None
    k.send(wsutil.handshake_request("127.0.0.1", b.port,
                                    extra=["X-Forwarded-For: 198.51.100.2"]))
    assert k.read_response().status == 101
    with raw(b.port) as c:
        c.send(wsutil.handshake_request(
            "127.0.0.1", b.port, extra=["X-Forwarded-For: 198.51.100.2"]))
        assert c.read_response().status == 503
    assert value(scrape(mport), "wsbridge_limited_addresses") == 2
    echo_once(k)
    bye(k)
    bye(a)
    wait_value(mport, "wsbridge_limited_addresses", 0)


# --- limits ----------------------------------------------------------------

def test_every_ending_releases_once(start_bridge, echo_backend, tmp_path):
    """--max-connections 1: a session ending by client reset, by a
    refused target, by a refused token, by a client gone during the
    upgrade, and by a clean Close each gives its slot back exactly once:
    the next upgrade always gets 101, and the counts end at 0."""
    dead = free_port()
    tokens = tmp_path / "tokens"
    tokens.write_text("good: 127.0.0.1:%d\nnowhere: 127.0.0.1:%d\n"
                      % (echo_backend[1], dead))
    mport = free_port()
    b = start_bridge(None, "--token-plugin", "TokenFile", "--token-source",
                     str(tokens), "--max-connections", "1",
                     "--max-connections-per-ip", "1",
                     "--metrics", "127.0.0.1:%d" % mport)

    def good():
        c = raw(b.port)
        c.handshake(path="/?token=good")
        return c

    def expect_slot_free():
        assert wait_for(lambda: value(
            scrape(mport), "wsbridge_websocket_sessions_open") == 0
            and value(scrape(mport), "wsbridge_limited_addresses") == 0, 3)
        c = good()
        echo_once(c)
        with raw(b.port) as c2:   # and the limit still holds
            c2.send(wsutil.handshake_request("127.0.0.1", b.port,
                                             path="/?token=good"))
            assert c2.read_response().status == 503
        bye(c)

    c = good()
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                      struct.pack("ii", 1, 0))
    c.close()                                     # client reset
    expect_slot_free()
    with raw(b.port) as c:                        # target refused
        c.send(wsutil.handshake_request("127.0.0.1", b.port,
                                        path="/?token=nowhere"))
        # As websockify: 101, then Close 1011 once the connect fails.
        assert c.read_response().status == 101
        assert c.recv_close(timeout=5)[0] == 1011
    expect_slot_free()
    with raw(b.port) as c:                        # token refused
        c.send(wsutil.handshake_request("127.0.0.1", b.port,
                                        path="/?token=bad"))
        assert c.read_response().status == 403
    expect_slot_free()
    c = raw(b.port)                               # gone mid-upgrade
    c.send(wsutil.handshake_request("127.0.0.1", b.port,
                                    path="/?token=good"))
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                      struct.pack("ii", 1, 0))
    c.close()
    expect_slot_free()
    m = scrape(mport)
    assert value(m, "wsbridge_connections_open") <= 1


def test_concurrent_upgrades_never_pass_the_limit(metrics_bridge, backend):
    """400 concurrent upgrades over 2 workers with --max-connections 10:
    never more than 10 at the target at once, 101s plus 503s add up,
    and everything returns to 0 when closed."""
    lock, state = threading.Lock(), {"now": 0, "max": 0}

    def handler(conn, srv):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        try:
            wsutil.echo_until_eof(conn, peer_gone=(ConnectionResetError,))
        finally:
            with lock:
                state["now"] -= 1
    be = backend(handler)
    b, mport = metrics_bridge("--max-connections", "10", "--workers", "2",
                       target_port=be.port)
    results, socks = [], []
    rlock = threading.Lock()

    def one():
        try:
            c = raw(b.port, timeout=10)
            c.send(wsutil.handshake_request("127.0.0.1", b.port))
            st = c.read_response().status
        except (OSError, wsutil.ConnectionGone) as e:
            st = repr(e)
        with rlock:
            results.append(st)
            if st == 101:
                socks.append(c)
            else:
                c.close()
    threads = [threading.Thread(target=one) for _ in range(400)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert results.count(101) == 10, results
    assert results.count(503) == 390, [r for r in results if r != 503]
    m = scrape(mport)
    assert value(m, "wsbridge_websocket_sessions_open") == 10
    for c in socks:
        c.close()
    wait_value(mport, "wsbridge_websocket_sessions_open", 0)
    assert state["max"] <= 10, state
    with raw(b.port) as c:
        c.handshake()
        echo_once(c)


# --- metrics ---------------------------------------------------------------

def http_raw(port, data, timeout=5.0, shut=False):
    """Send data to the metrics port; everything it answers until EOF or
    timeout."""
    s = socket.create_connection(("127.0.0.1", port), timeout)
    try:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not d:
                break
            out += d
        return out
    finally:
        s.close()


def test_metrics_http_oddities(metrics_bridge):
    """Pipelined requests each answered; HTTP/1.0
    answered then closed; a 100 KB head refused without a crash."""
    b, mport = metrics_bridge()
    out = http_raw(mport, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 3 +
                   b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                   b"Connection: close\r\n\r\n", timeout=3)
    assert out.count(b"HTTP/1.1 200") == 4, out
    out = http_raw(mport, b"GET /healthz HTTP/1.0\r\n\r\n", timeout=3)
    assert out.startswith(b"HTTP/1.") and b" 200 " in out[:20], out
    assert out.endswith(b"ok\n"), out
    t0 = time.monotonic()
    out = http_raw(mport, b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: " +
                   b"a" * 100000 + b"\r\n\r\n", timeout=3)
    assert time.monotonic() - t0 < 2.5, "huge head not refused"
    assert not out.startswith(b"HTTP/1.1 200"), out[:200]
    assert get(mport, "/healthz") == (200, "ok\n")


@pytest.mark.parametrize("path", [b"/healthz", b"/metrics"])
def test_metrics_head_has_no_body(metrics_bridge, path):
    """HEAD then GET on one keep-alive connection: the HEAD answer is a
    head only (RFC 9110 9.3.2), so the next bytes are the GET's status
    line."""
    b, mport = metrics_bridge()
    out = http_raw(mport, b"HEAD " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n"
                   b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                   b"Connection: close\r\n\r\n", timeout=3)
    first, sep, rest = out.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200"), out[:200]
    assert rest.startswith(b"HTTP/1.1 200"), rest[:200]


def test_metrics_slowloris_blocks_nothing(metrics_bridge):
    """50 metrics clients that never finish their request: WebSocket
    sessions, scrapes and SIGTERM all go on (exit 0 within 3 s)."""
    b, mport = metrics_bridge("--shutdown-timeout", "2", expect_exit=True)
    slow = []
    for _ in range(50):
        s = socket.create_connection(("127.0.0.1", mport), 5)
        s.sendall(b"GET /metr")
        slow.append(s)
    t0 = time.monotonic()
    assert get(mport, "/healthz") == (200, "ok\n")
    with raw(b.port) as c:
        c.handshake()
        echo_once(c)
        bye(c)
    assert time.monotonic() - t0 < 2
    os.kill(b.pid, signal.SIGTERM)
    assert b.wait_exit(3) == 0, b.log()[-2000:]
    for s in slow:
        s.close()


def test_healthz_while_stopping(metrics_bridge):
    """During SIGTERM's drain (a session still open), /healthz says 503;
    the session gets Close 1001."""
    b, mport = metrics_bridge("--shutdown-timeout", "3", expect_exit=True)
    c = raw(b.port)
    c.handshake()
    os.kill(b.pid, signal.SIGTERM)
    seen = []

    def check():
        try:
            seen.append(get(mport, "/healthz")[0])
        except OSError as e:
            seen.append(repr(e))
        return seen[-1] != 200
    assert wait_for(check, 2), seen
    assert seen[-1] == 503, seen
    assert c.recv_close(timeout=5)[0] == 1001
    c.close()
    assert b.wait_exit(5) == 0


def test_metrics_flood_then_fd_exhaustion(metrics_bridge):
    """The process left 40 spare descriptors; 200 connections to the
    metrics port: the bridge still serves a WebSocket once they go, and a
    scrape works again; it never dies."""
    b, mport = metrics_bridge("--workers", "1")
    time.sleep(0.2)
    base = open_fds(b.pid)
    r = subprocess.run(["prlimit", "--pid", str(b.pid),
                        "--nofile=%d:%d" % (base + 40, base + 40)],
                       capture_output=True, timeout=10)
    assert r.returncode == 0, r.stderr
    flood = []
    for _ in range(200):
        try:
            flood.append(socket.create_connection(("127.0.0.1", mport), 2))
        except OSError:
            break
    time.sleep(0.5)
    assert b.proc.poll() is None
    for s in flood:
        s.close()
    assert wait_for(lambda: open_fds(b.pid) <= base + 2, 5), \
        (open_fds(b.pid), base)
    with raw(b.port) as c:
        c.handshake()
        echo_once(c)
        bye(c)
    assert wait_for(lambda: get(mport, "/healthz") == (200, "ok\n"), 3)


def test_metrics_fd_exhaustion_log_bounded(metrics_bridge):
    """Out of descriptors with metrics clients waiting: a few log lines,
    not a busy loop writing the log."""
    b, mport = metrics_bridge("--workers", "1")
    time.sleep(0.2)
    base = open_fds(b.pid)
    subprocess.run(["prlimit", "--pid", str(b.pid), "--nofile=%d:%d"
                    % (base + 10, base + 10)], check=True, timeout=10)
    flood = [socket.create_connection(("127.0.0.1", mport), 2)
             for _ in range(30)]
    time.sleep(0.5)
    for s in flood:
        s.close()
    n = b.log().count("Error from accept")
    assert n < 100, "%d accept errors logged in 0.5 s" % n


def test_scrapes_under_load_monotonic(metrics_bridge):
    """600 scrapes from 3 threads while 30 sessions relay: every scrape
    parses, counters never go down, nothing crashes (ASan: no report)."""
    b, mport = metrics_bridge("--workers", "2")
    stop = threading.Event()
    errors = []

    def relay():
        try:
            c = raw(b.port)
            c.handshake()
            n = 0
            while not stop.is_set():
                echo_once(c, b"x" * 200)
                n += 1
            bye(c)
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
    counters = ("wsbridge_connections_total",
                "wsbridge_payload_bytes_total")

    def scraper(k):
        last = {}
        for _ in range(200):
            out = http_raw(mport, b"GET /metrics HTTP/1.0\r\n\r\n", 5)
            head, _, body = out.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.0 200") and \
                    not head.startswith(b"HTTP/1.1 200"):
                errors.append(head[:100])
                return
            m = parse(body.decode())
            for (name, labels), v in m.items():
                if name in counters:
                    key = (name, labels)
                    if v < last.get(key, 0):
                        errors.append("%s went down" % (key,))
                    last[key] = v
    relays = [threading.Thread(target=relay) for _ in range(30)]
    for t in relays:
        t.start()
    scrapers = [threading.Thread(target=scraper, args=(k,))
                for k in range(3)]
    for t in scrapers:
        t.start()
    for t in scrapers:
        t.join(60)
    stop.set()
    for t in relays:
        t.join(10)
    assert not errors, errors[:5]
    wait_value(mport, "wsbridge_websocket_sessions_open", 0)


def test_label_values_never_from_user_input(metrics_bridge, tmp_path):
    """Odd methods, paths, tokens and versions from clients: every label
    value is from a fixed vocabulary, and promtool accepts the text."""
    b, mport = metrics_bridge()
    odd = [b'FOO\\"} 1\n / HTTP/1.1\r\nHost: x\r\n\r\n',
           b'GET /?token=a"b HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n'
           b'Connection: Upgrade\r\nSec-WebSocket-Version: 99"\r\n\r\n',
           b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: \xff\xfe\r\n"
           b"Sec-WebSocket-Version: 13\r\n\r\n",
           b"\x16\x03\x01\x00\x05hello"]
    for data in odd:
        http_raw(b.port, data, timeout=1, shut=True)
    status, text = get(mport, "/metrics")
    assert status == 200
    for line in text.splitlines():
        if line.startswith("#") or "{" not in line:
            continue
        for v in re.findall(r'="([^"]*)"', line):
            assert re.fullmatch(r"[A-Za-z0-9_.+:-]*", v), line
    rc, out = promtool_check(text)
    assert rc == 0, out
