"""BaseTokenAPI and JSONTokenApi end to end: a real HTTP token service
(Python http.server, HTTP/1.1 keep-alive, plain or behind TLS) started here
on a free port, a real echo backend, and the bridge asking the service for
each session's target without ever blocking its worker.

What the session answers: 101 and a relay when the service names a target;
403 for 4xx, a malformed or oversized 2xx body, or a redirect (never
followed); 503 for 5xx, a service that is down, that never answers
(WSB_TOKEN_LOOKUP_TIMEOUT_MSEC, 2 s) or whose certificate is not trusted.
Tokens are secrets: the log shows their fingerprint, never them."""

import hashlib
import json
import os
import select
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from wsutil import (OP_BINARY, RawClient, echo_until_eof, free_port,
                    handshake_request, have_ipv6, wait_for)

HERE = os.path.dirname(os.path.abspath(__file__))
GEN_CERTS = os.path.join(HERE, "gen_certs.sh")
LOOKUP_TIMEOUT = 2.0  # WSB_TOKEN_LOOKUP_TIMEOUT_MSEC
SLOW = "slow"


class TokenService:
    """A token service: GET /t/TOKEN or /q?id=TOKEN answers routes[TOKEN],
    a (status, body[, headers]) tuple, or SLOW: hold the request unanswered
    until the bridge gives up (its socket closes: recorded in .gone) or the
    service stops.  .tokens lists the decoded tokens asked for, .paths the
    request targets as sent, .connections the TCP connections accepted."""

    def __init__(self, routes, tls=None):
        self.routes = routes
        self.tokens, self.paths, self.gone, self.errors = [], [], [], []
        self.connections = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        svc = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: reuse is visible

            def log_message(self, *args):
                pass

            def do_GET(self):
                svc.answer(self)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                conn, addr = self.socket.accept()
                with svc.lock:
                    svc.connections += 1
                if tls is not None:
                    # The handshake runs in the handler's thread.
                    conn = tls.wrap_socket(conn, server_side=True,
                                           do_handshake_on_connect=False)
                return conn, addr

            def handle_error(self, request, client_address):
                svc.errors.append(repr(sys.exc_info()[1]))

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def answer(self, h):
        path = h.path
        if path.startswith("/t/"):
            token = urllib.parse.unquote(path[3:])
        else:
            q = urllib.parse.urlsplit(path).query
            token = urllib.parse.parse_qs(q).get("id", [""])[0]
        with self.lock:
            self.paths.append(path)
            self.tokens.append(token)
        r = self.routes.get(token, (404, b"no such token\n"))
        if r == SLOW:
            self.hold(h, token)
            return
        status, body = r[0], r[1]
        h.send_response(status)
        for k, v in (r[2] if len(r) > 2 else {}).items():
            h.send_header(k, v)
        if isinstance(body, list):  # chunked, no Content-Length
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            for chunk in body:
                h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            h.wfile.write(b"0\r\n\r\n")
            return
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def hold(self, h, token):
        """Answer nothing; note when the bridge closes the connection."""
        h.close_connection = True
        conn = h.connection
        while not self.stop.is_set():
            r, _, _ = select.select([conn], [], [], 0.02)
            if r:
                try:
                    data = conn.recv(1, socket.MSG_PEEK)
                except OSError:
                    data = b""
                if not data:
                    with self.lock:
                        self.gone.append((token, time.monotonic()))
                    return

    def url(self, scheme="http", form="/t/%s"):
        return "%s://127.0.0.1:%d%s" % (scheme, self.port, form)

    def close(self):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def service():
    """service(routes, tls=None) -> a running TokenService, stopped at
    teardown."""
    made = []

    def make(routes, tls=None):
        s = TokenService(routes, tls)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """The throw-away PKI of gen_certs.sh (test CA, server cert for
    127.0.0.1, a cert for another host name)."""
    d = tmp_path_factory.mktemp("token_api_certs")
    r = subprocess.run(["sh", GEN_CERTS, str(d)], capture_output=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr.decode()
    return lambda name: str(d / name)


def api_bridge(start_bridge, plugin, source, *opts, **kw):
    return start_bridge(None, "--token-plugin", plugin, "--token-source",
                        source, *opts, **kw)


def token_path(token):
    return "/?token=" + urllib.parse.quote(token, safe="")


def upgrade(bridge, token, timeout=10.0):
    """Send an upgrade with token; return (RawClient, response)."""
    c = RawClient(bridge.host, bridge.port, timeout=timeout)
    c.send(handshake_request(bridge.host, bridge.port,
                             path=token_path(token)))
    return c, c.read_response()


def assert_relays(c, data=b"through the token's target"):
    c.send_frame(OP_BINARY, data)
    assert c.recv_data(len(data), timeout=5) == data


def status_of(bridge, token):
    c, resp = upgrade(bridge, token)
    c.close()
    return resp.status


def fingerprint(token):
    return hashlib.sha256(token.encode()).hexdigest()[:8]


def assert_secret(bridge, tokens):
    """No token in the log, raw or percent-encoded; each has a line with
    its fingerprint."""
    log = bridge.log()
    for t in tokens:
        for form in {t, urllib.parse.quote(t, safe=""),
                     urllib.parse.quote(t)}:
            assert form not in log, "token %r in the log:\n%s" % (t, log)
        assert fingerprint(t) in log, (t, log)


# --- routing --------------------------------------------------------------

def test_base_routes_and_encodes_the_token(start_bridge, echo_backend,
                                           service):
    """BaseTokenAPI: the body "host:port" routes to the echo backend; a
    token with reserved characters reaches the service percent-encoded
    (it cannot change the path or add a query) and decodes back intact."""
    target = "127.0.0.1:%d" % echo_backend[1]
    odd = "a b/../?x=1&y#z%+\u00e9"
    svc = service({"good-Qm4x": (200, target.encode() + b"\r\n"),
                   odd: (200, target.encode())})
    b = api_bridge(start_bridge, "BaseTokenAPI", svc.url())
    for tok in ("good-Qm4x", odd):
        c, resp = upgrade(b, tok)
        with c:
            assert resp.status == 101, resp
            assert_relays(c)
    assert svc.tokens == ["good-Qm4x", odd]
    enc = svc.paths[1]
    assert enc == "/t/" + urllib.parse.quote(odd, safe="-._~"), enc
    assert "?" not in enc and enc.count("/") == 2, enc
    assert_secret(b, ["good-Qm4x", odd])


def test_json_routes_port_number_or_string(start_bridge, echo_backend,
                                           service):
    """JSONTokenApi with %s in the query: {"host", "port"} with the port a
    number or a string both route; other members are ignored."""
    port = echo_backend[1]
    svc = service({
        "num-7c1e": (200, json.dumps({"host": "127.0.0.1",
                                      "port": port}).encode()),
        "str-5d2a": (200, json.dumps({"port": str(port), "name": "x",
                                      "host": "127.0.0.1"}).encode(),
                     {"Content-Type": "application/json"}),
    })
    b = api_bridge(start_bridge, "JSONTokenApi", svc.url(form="/q?id=%s"))
    for tok in ("num-7c1e", "str-5d2a"):
        c, resp = upgrade(b, tok)
        with c:
            assert resp.status == 101, (tok, resp)
            assert_relays(c)
    assert svc.paths == ["/q?id=num-7c1e", "/q?id=str-5d2a"]
    assert_secret(b, ["num-7c1e", "str-5d2a"])


def echo(conn, srv):
    """A ThreadedServer handler: echo until EOF; any error fails the test
    (through the backend fixture)."""
    echo_until_eof(conn)


def assert_routes_to(start_bridge, service, plugin, token, body, srv):
    """A plugin bridge whose service answers body for token: the session
    gets its 101 and relays through srv, which accepted it."""
    svc = service({token: (200, body)})
    b = api_bridge(start_bridge, plugin, svc.url())
    c, resp = upgrade(b, token)
    with c:
        assert resp.status == 101, resp
        assert_relays(c)
    assert srv.accepted.is_set()


@pytest.mark.skipif(not have_ipv6(), reason="no IPv6 loopback")
def test_json_ipv6_target(start_bridge, service, backend):
    """JSONTokenApi with an IPv6 host (no brackets, as JSON gives it):
    the bridge connects to [::1]:port."""
    srv = backend(echo, host="::1")
    assert_routes_to(start_bridge, service, "JSONTokenApi", "v6-e0e0",
                     json.dumps({"host": "::1", "port": srv.port}).encode(),
                     srv)


def test_base_unix_socket_target(start_bridge, service, backend, tmp_path):
    """BaseTokenAPI's "unix_socket:PATH", as websockify reads it from any
    plugin: the bridge connects to that Unix socket."""
    path = str(tmp_path / "desk.sock")
    srv = backend(echo, unix_path=path)
    assert_routes_to(start_bridge, service, "BaseTokenAPI", "uds-b1b1",
                     b"unix_socket:" + path.encode(), srv)


def test_refusals_are_403(start_bridge, echo_backend, service):
    """404, a malformed body, a body over 4 KiB (with a Content-Length or
    chunked), a redirect (not followed) and the other plugin's body form
    are each 403, with the reason in the log."""
    target = ("127.0.0.1:%d" % echo_backend[1]).encode()
    svc = service({
        "malformed-9": (200, b"no colon here"),
        "big-cl-9": (200, b"x" * 10000),
        "big-chunked-9": (200, [b"y" * 3000, b"y" * 3000]),
        "moved-9": (302, b"", {"Location": "/t/good"}),
        "json-9": (200, b'{"host": "127.0.0.1", "port": 1}'),
        "good": (200, target),
    })
    b = api_bridge(start_bridge, "BaseTokenAPI", svc.url())
    cases = [("unknown-9", "token API: HTTP 404"),
             ("malformed-9", "token API: malformed body"),
             ("big-cl-9", "token API: body too large"),
             ("big-chunked-9", "token API: body too large"),
             ("moved-9", "token API: HTTP 302"),
             ("json-9", "token API: malformed body")]
    for tok, why in cases:
        assert status_of(b, tok) == 403, tok
        assert wait_for(lambda: why in b.log(), 2), (tok, why, b.log())
    assert "good" not in svc.tokens, "a redirect was followed"
    assert_secret(b, [t for t, _ in cases])


def test_server_errors_are_503(start_bridge, service):
    """5xx and 429 mean the back end cannot answer now: 503."""
    svc = service({"err-500x": (500, b"oops"), "err-503x": (503, b""),
                   "busy-429x": (429, b"")})
    b = api_bridge(start_bridge, "JSONTokenApi", svc.url())
    for tok, code in (("err-500x", 500), ("err-503x", 503),
                      ("busy-429x", 429)):
        assert status_of(b, tok) == 503, tok
        assert wait_for(lambda: "token API: HTTP %d" % code in b.log(), 2)
    assert_secret(b, ["err-500x", "err-503x", "busy-429x"])


def test_service_down_is_503(start_bridge, echo_backend):
    """Nothing listens at the URL: 503 at once, curl's reason logged."""
    url = "http://127.0.0.1:%d/t/%%s" % free_port()
    b = api_bridge(start_bridge, "BaseTokenAPI", url)
    t0 = time.monotonic()
    assert status_of(b, "down-4f4f") == 503
    assert time.monotonic() - t0 < LOOKUP_TIMEOUT
    assert wait_for(lambda: "lookup failed (token API: " in b.log(), 2), \
        b.log()
    assert_secret(b, ["down-4f4f"])


# --- never blocking, bounded, cancelled -----------------------------------

def test_silent_service_times_out_while_others_relay(start_bridge,
                                                     echo_backend, service):
    """One worker: while a lookup waits on a service that never answers,
    an established session keeps relaying and a new lookup is answered at
    once; the silent one gets 503 after about 2 s, and the service sees
    its connection closed."""
    target = ("127.0.0.1:%d" % echo_backend[1]).encode()
    svc = service({"stuck-31": SLOW, "fast-31": (200, target)})
    b = api_bridge(start_bridge, "BaseTokenAPI", svc.url(), "--workers", "1")
    a, resp = upgrade(b, "fast-31")
    assert resp.status == 101
    slow = RawClient(b.host, b.port, timeout=10)
    t0 = time.monotonic()
    slow.send(handshake_request(b.host, b.port, path=token_path("stuck-31")))
    assert wait_for(lambda: "stuck-31" in svc.tokens, 2)
    n = 0
    while time.monotonic() - t0 < LOOKUP_TIMEOUT - 0.5:
        t1 = time.monotonic()
        assert_relays(a, b"tick %d" % n)
        assert time.monotonic() - t1 < 0.5, "relay stalled by a lookup"
        n += 1
        time.sleep(0.05)
    assert n >= 5
    t1 = time.monotonic()
    c, resp = upgrade(b, "fast-31")
    assert resp.status == 101 and time.monotonic() - t1 < 1.0
    c.close()
    assert slow.read_response().status == 503
    waited = time.monotonic() - t0
    assert LOOKUP_TIMEOUT - 0.3 <= waited <= LOOKUP_TIMEOUT + 2.0, waited
    assert "token API: timed out" in b.log()
    assert wait_for(lambda: svc.gone, 2), "the timed-out request stayed open"
    slow.close()
    assert_relays(a, b"still here")
    a.close()
    assert_secret(b, ["stuck-31"])


def test_client_leaving_cancels_the_lookup(start_bridge, echo_backend,
                                           service):
    """Clients that leave (reset) while their lookup waits: each request
    to the service is dropped well before the 2 s timeout (the lookup was
    cancelled, not left to run), the bridge stays up (ASan-clean, checked
    by the fixture) and keeps routing."""
    toks = ["leaving-%d" % i for i in range(3)]
    routes = {t: SLOW for t in toks}
    routes["after-leave"] = (200, json.dumps(
        {"host": "127.0.0.1", "port": echo_backend[1]}).encode())
    svc = service(routes)
    b = api_bridge(start_bridge, "JSONTokenApi", svc.url(),
                   "--workers", "1")
    for t in toks:
        c = RawClient(b.host, b.port)
        c.send(handshake_request(b.host, b.port, path=token_path(t)))
        assert wait_for(lambda: t in svc.tokens, 2), t
        asked = time.monotonic()
        # A reset: a FIN alone may be a half-close, still owed an answer.
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          struct.pack("ii", 1, 0))
        c.close()
        assert wait_for(lambda: any(g[0] == t for g in svc.gone), 3), t
        left = [g[1] for g in svc.gone if g[0] == t][0]
        assert left - asked < LOOKUP_TIMEOUT - 0.5, \
            "lookup ran on after its client left (%.2fs)" % (left - asked)
    c, resp = upgrade(b, "after-leave")
    with c:
        assert resp.status == 101
        assert_relays(c)
    assert b.proc.poll() is None


def test_shutdown_with_lookups_in_flight(start_bridge, service):
    """SIGTERM while lookups wait on a silent service: the bridge exits
    at once (it does not wait for the service), closing the requests, with
    nothing leaked (the fixture checks the sanitizer report)."""
    toks = ["inflight-%d" % i for i in range(4)]
    svc = service({t: SLOW for t in toks})
    b = api_bridge(start_bridge, "BaseTokenAPI", svc.url(),
                   expect_exit=True)
    clients = []
    for t in toks:
        c = RawClient(b.host, b.port)
        c.send(handshake_request(b.host, b.port, path=token_path(t)))
        clients.append(c)
    assert wait_for(lambda: len(svc.tokens) == len(toks), 3), svc.tokens
    b.proc.send_signal(signal.SIGTERM)
    assert b.wait_exit(LOOKUP_TIMEOUT - 0.5) == 0, \
        "exit failed or waited for the lookups"
    assert wait_for(lambda: len(svc.gone) == len(toks), 2), svc.gone
    for c in clients:
        c.close()


def test_connections_are_reused(start_bridge, echo_backend, service):
    """One worker, ten lookups one after another: one TCP connection to
    the service carries them all (HTTP/1.1 keep-alive in libcurl's
    per-worker cache)."""
    target = ("127.0.0.1:%d" % echo_backend[1]).encode()
    svc = service({"reuse-%d" % i: (200, target) for i in range(10)})
    b = api_bridge(start_bridge, "BaseTokenAPI", svc.url(), "--workers", "1")
    for i in range(10):
        c, resp = upgrade(b, "reuse-%d" % i)
        assert resp.status == 101
        c.close()
    assert len(svc.tokens) == 10
    assert svc.connections == 1, svc.connections


# --- https -----------------------------------------------------------------

def tls_context(certs, name="server"):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs(name + ".pem"), certs(name + ".key"))
    return ctx


def test_https_untrusted_is_503(start_bridge, echo_backend, service, certs,
                                monkeypatch):
    """The service's certificate is from a CA the bridge does not trust
    (the system store): 503, never a target."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    target = ("127.0.0.1:%d" % echo_backend[1]).encode()
    svc = service({"tls-a1": (200, target)}, tls=tls_context(certs))
    b = api_bridge(start_bridge, "BaseTokenAPI", svc.url("https"))
    assert status_of(b, "tls-a1") == 503
    assert wait_for(lambda: "lookup failed (token API: " in b.log(), 2)
    assert svc.tokens == [], "a request went over an unverified connection"
    assert_secret(b, ["tls-a1"])


def test_https_trusted_via_ssl_cert_file(start_bridge, echo_backend,
                                         service, certs, monkeypatch):
    """SSL_CERT_FILE names the test CA: the service is verified and
    routes; a certificate for another host name is still refused."""
    monkeypatch.setenv("SSL_CERT_FILE", certs("ca.pem"))
    target = ("127.0.0.1:%d" % echo_backend[1]).encode()
    svc = service({"tls-b2": (200, target)}, tls=tls_context(certs))
    b = api_bridge(start_bridge, "BaseTokenAPI", svc.url("https"))
    c, resp = upgrade(b, "tls-b2")
    with c:
        assert resp.status == 101, (resp, b.log())
        assert_relays(c)
    assert svc.tokens == ["tls-b2"]
    other = service({"tls-c3": (200, target)},
                    tls=tls_context(certs, "wronghost"))
    b2 = api_bridge(start_bridge, "BaseTokenAPI", other.url("https"))
    assert status_of(b2, "tls-c3") == 503
    assert other.tokens == []
    assert_secret(b, ["tls-b2"])
    assert_secret(b2, ["tls-c3"])


# --- start-up --------------------------------------------------------------

@pytest.mark.parametrize("source,phrase", [
    ("http://127.0.0.1:1/lookup", "%s exactly once"),
    ("http://127.0.0.1:1/%s/%s", "%s exactly once"),
    ("ftp://127.0.0.1:1/%s", "http:// or https://"),
])
def test_bad_source_exits_2(start_bridge, source, phrase):
    """A source that is not an http(s) URL with one %s: one line, exit 2."""
    b = start_bridge(None, "--token-plugin", "BaseTokenAPI",
                     "--token-source", source, expect_exit=True, wait=False)
    assert b.wait_exit(10) == 2
    log = b.log()
    assert phrase in log and "BaseTokenAPI" in log, log
