"""Break token routing (issue 8) as an attacker would, with real parts: a
real redis-server (SIGSTOPped to play a back end that hangs), raw HTTP
token services that answer badly on purpose, JWTs made by jwcrypto and
then mangled, token files rewritten under load or replaced by FIFOs,
directories and symlink loops.

What must hold whatever a client, a back end or a file does: the bridge
answers 400, 403 or 503 (never garbage), the bound on lookups in flight
turns a flood into 503s while sessions already relaying keep relaying,
memory and descriptors stay bounded and come back, nothing crashes or
leaks (start_bridge checks the sanitizer report of the ASan build), the
bridge routes again once its back end is back, and no token, Redis
password or token-API secret reaches the log.

Complements test_token_*.py (which cover each plugin's normal answers);
nothing here repeats them.  A bug found here is a strict xfail whose
reason holds the repro, so the fix flips it."""

import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse

import pytest

from backends import ThreadedServer
from test_abuse import fd_count, reset, settled_fds
from wsutil import (OP_BINARY, PY, ConnectionGone, RawClient,
                    echo_until_eof, encode_frame, free_port,
                    handshake_request, rss_kib, wait_for)

SANITIZED = os.environ.get("WSB_SANITIZED") == "1"
SLOW = 3 if SANITIZED else 1          # the ASan build's time factor
LOOKUP_TIMEOUT = 2.0                  # WSB_TOKEN_LOOKUP_TIMEOUT_MSEC
MAX_LOOKUPS = 1024                    # WSB_MAX_TOKEN_LOOKUPS, per worker
MAX_TOKEN = 4096                      # WSB_MAX_TOKEN
HANDSHAKE_DEADLINE = 10.0             # WSB_HANDSHAKE_TIMEOUT_SEC
KiB, MiB = 1024, 1024 * 1024


# --- helpers ---------------------------------------------------------------


def quote(token):
    """token (str or bytes) with every byte percent-encoded."""
    if isinstance(token, str):
        token = token.encode()
    return "".join("%%%02X" % c for c in token)


def request(b, token=None, path=None, host=None):
    """An upgrade request for bridge b carrying token (fully encoded) in
    its query, or the given path; host replaces the Host header."""
    if path is None:
        path = "/websockify" if token is None else \
            "/websockify?token=" + quote(token)
    req = handshake_request(b.host, b.port, path=path)
    if host is not None:
        req = req.replace(b"Host: %s:%d" % (b.host.encode(), b.port),
                          b"Host: " + host)
    return req


def status(b, token=None, path=None, host=None, timeout=10.0):
    """The HTTP status b answers an upgrade with (the client is closed)."""
    with RawClient(b.host, b.port, timeout=timeout) as cl:
        cl.send(request(b, token, path, host))
        return cl.read_response().status


def relays(cl, data=b"still relaying"):
    """cl, past its 101, echoes data through the bridge; how long it took."""
    t0 = time.monotonic()
    cl.send_frame(OP_BINARY, data)
    assert cl.recv_data(len(data), timeout=5) == data
    return time.monotonic() - t0


def routed(b, token):
    """A session with token is upgraded and echoes (the target is the echo
    backend); the client is closed."""
    with RawClient(b.host, b.port) as cl:
        cl.send(request(b, token))
        resp = cl.read_response()
        assert resp.status == 101, (token, resp)
        relays(cl)


def open_clients(b, tokens):
    """One client per token, each with its upgrade request sent."""
    out = []
    for t in tokens:
        cl = RawClient(b.host, b.port, timeout=15)
        cl.send(request(b, t))
        out.append(cl)
    return out


def statuses(clients, t0):
    """Each client's answer ("HTTP status", or "gone") and when it came
    (seconds after t0); the clients are closed."""
    out = []
    for cl in clients:
        try:
            s = cl.read_response().status
        except (ConnectionGone, OSError):
            s = "gone"
        out.append((s, time.monotonic() - t0))
        cl.close()
    return out


def vm_kib(pid, field):
    """A VmXXX field of /proc/PID/status in KiB (VmRSS, VmHWM)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError("no %s for %d" % (field, pid))


def token_bridge(start_bridge, plugin, source, *opts, **kw):
    """A bridge with no fixed target: plugin on source."""
    return start_bridge(None, "--token-plugin", plugin, "--token-source",
                        str(source), *opts, **kw)


def log_has_none(b, *secrets):
    """Bridge b's log holds none of secrets."""
    log = b.log()
    for s in secrets:
        assert s not in log, "secret %r in the log:\n%s" % (s, log[-3000:])


def resp_command(port, *args):
    """Send one command to Redis on port in RESP (any bytes, any size:
    redis-cli takes neither); its raw reply's first line."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"*%d\r\n" % len(args) + b"".join(
            b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
        reply = b""
        while b"\r\n" not in reply:
            d = s.recv(4096)
            assert d, "redis closed the connection"
            reply += d
    assert not reply.startswith(b"-"), (args[:2], reply)
    return reply


def redis_bridge(start_bridge, r, *opts, **kw):
    """A TokenRedis bridge on RedisServer r (conftest.py's redis)."""
    return token_bridge(start_bridge, "TokenRedis", r.source(), *opts, **kw)


def warm(b, token, n=6):
    """n sessions with token route: every worker's back-end connection
    is up before the test stops its back end."""
    for _ in range(n):
        routed(b, token)


RST = b"(reset)"  # in a Scripted answer: reset the connection here


class Scripted:
    """A raw HTTP token service: GET /t/TOKEN is answered by
    scripts[TOKEN] (or default: a 404), a list of byte strings sent in
    turn with `gap` seconds between them; the connection is closed after
    the last, held silent until close() where the list has None, reset
    where it has RST.  It never keeps a connection for a second
    request.  .asked lists the tokens asked for."""

    def __init__(self, scripts, gap=0.05, default=None):
        self.scripts = scripts
        self.default = default or [b"HTTP/1.1 404 Not Found\r\n"
                                   b"Content-Length: 0\r\n\r\n"]
        self.gap = gap
        self.stop = threading.Event()
        self.asked = []
        self.srv = ThreadedServer(self.handle)
        self.port = self.srv.port

    def handle(self, conn, srv):
        conn.settimeout(5)
        head = b""
        try:
            while b"\r\n\r\n" not in head:
                d = conn.recv(65536)
                if not d:
                    return
                head += d
        except OSError:
            return
        path = head.split(b" ", 2)[1].decode()
        token = urllib.parse.unquote(path.split("/t/", 1)[1].split("?")[0])
        self.asked.append(token)
        parts = self.scripts.get(token, self.default)
        try:
            for i, p in enumerate(parts):
                if p is None:  # hold the connection, say nothing
                    self.stop.wait(10)
                    return
                if p is RST:
                    reset(conn)
                    return
                if i > 0:
                    time.sleep(self.gap)
                conn.sendall(p)
        except OSError:
            return  # the bridge gave up on us: that is its right

    def url(self):
        return "http://127.0.0.1:%d/t/%%s" % self.port

    def close(self):
        self.stop.set()
        self.srv.close()


def http_answer(status, body, headers=()):
    """A whole HTTP/1.1 answer that closes its connection."""
    return (b"HTTP/1.1 %s\r\nConnection: close\r\n" % status +
            b"".join(h + b"\r\n" for h in headers) +
            b"Content-Length: %d\r\n\r\n" % len(body) + body)


# --- floods against a slow back end ----------------------------------------


def flood(b, established, n):
    """n upgrades at once on bridge b whose back end hangs; meanwhile the
    established session (past its 101) keeps echoing.  Returns
    (answers, worst echo time) once every client has its answer."""
    t0 = time.monotonic()
    clients = open_clients(b, ["flood-%d-s3cr3t" % i for i in range(n)])
    worst = 0.0
    while time.monotonic() - t0 < LOOKUP_TIMEOUT - 0.3:
        worst = max(worst, relays(established))
        time.sleep(0.05)
    return statuses(clients, t0), worst


def check_flood(b, answers, worst, n, fd0, rss0):
    """Every flooded client got 503; those past the bound got it at once
    (logged as such), the rest after the lookup timeout; the relay never
    stalled; memory and descriptors came back down."""
    assert [s for s, _ in answers] == [503] * n, answers[:5]
    fast = b.log().count("too many lookups in flight")
    assert 1 <= fast <= n - MAX_LOOKUPS, fast
    late = max(t for _, t in answers)
    assert late < LOOKUP_TIMEOUT + 2.0 * SLOW, late
    assert worst < 0.5 * SLOW, "an established session stalled %.2fs" % worst
    grew = rss_kib(b.pid) - rss0
    assert grew < (96 if SANITIZED else 48) * KiB, "RSS grew %d KiB" % grew
    assert wait_for(lambda: fd_count(b) <= fd0 + 8, 5 * SLOW), \
        (fd_count(b), fd0)


def test_flood_hung_redis(start_bridge, redis, echo_backend):
    """One worker, Redis SIGSTOPped, 1100 upgrades at once: the first
    1024 wait and get 503 at the lookup timeout, the rest 503 at once;
    a session already relaying keeps relaying; once Redis runs again
    the bridge routes."""
    r = redis()
    r.cli("SET", "good-s3cr3t", "127.0.0.1:%d" % echo_backend[1])
    b = redis_bridge(start_bridge, r, "--workers", "1")
    warm(b, "good-s3cr3t", 2)
    n = MAX_LOOKUPS + 76
    with RawClient(b.host, b.port) as est:
        est.send(request(b, "good-s3cr3t"))
        assert est.read_response().status == 101
        fd0, rss0 = settled_fds(b), rss_kib(b.pid)
        r.pause()
        try:
            answers, worst = flood(b, est, n)
        finally:
            r.resume()
        check_flood(b, answers, worst, n, fd0, rss0)
        assert wait_for(lambda: status(b, "good-s3cr3t") == 101, 8, 0.2)
        relays(est)


def test_flood_hung_token_api(start_bridge, echo_backend):
    """The same flood against a token API that reads each request and
    never answers it (each lookup holds a libcurl handle and a socket,
    1024 at most), beside a session the API did route."""
    target = b"127.0.0.1:%d" % echo_backend[1]
    svc = Scripted({"good-s3cr3t": [http_answer(b"200 OK", target)]},
                   default=[None])
    try:
        b = token_bridge(start_bridge, "BaseTokenAPI", svc.url(),
                         "--workers", "1")
        n = MAX_LOOKUPS + 76
        with RawClient(b.host, b.port) as est:
            est.send(request(b, "good-s3cr3t"))
            assert est.read_response().status == 101
            fd0, rss0 = settled_fds(b), rss_kib(b.pid)
            answers, worst = flood(b, est, n)
            check_flood(b, answers, worst, n, fd0, rss0)
            assert status(b, "good-s3cr3t") == 101
            relays(est)
    finally:
        svc.close()


# --- TokenRedis: lookups that leave, values that are not targets -----------


def test_redis_cancelled_lookups_stay_bounded(start_bridge, redis,
                                              echo_backend):
    """4000 clients leave (reset) while their lookups wait on a stopped
    Redis.  What they leave behind must stay within the bound on lookups
    in flight (1024 x 4 KiB tokens = 4 MiB), not grow with each client."""
    r = redis()
    r.cli("SET", "good-s3cr3t", "127.0.0.1:%d" % echo_backend[1])
    b = redis_bridge(start_bridge, r, "--workers", "1")
    warm(b, "good-s3cr3t", 2)
    rss0 = rss_kib(b.pid)
    r.pause()
    try:
        for batch in range(20):
            clients = []
            for i in range(200):
                cl = RawClient(b.host, b.port)
                # Plain characters: 4 KiB of "%XX" per client would
                # cost more Python time than the test.
                cl.send(request(b, path="/?token=%05d-%s" % (
                    batch * 200 + i, "x" * 3994)))
                clients.append(cl)
            time.sleep(0.03 * SLOW)  # the bridge reads them
            for cl in clients:
                reset(cl.sock)
        time.sleep(0.5)
        grew = rss_kib(b.pid) - rss0
    finally:
        r.resume()
    limit = (12 if SANITIZED else 8) * MiB // KiB
    assert grew < limit, "RSS grew %d KiB for 4000 clients that left" % grew
    assert wait_for(lambda: status(b, "good-s3cr3t") == 101, 8, 0.2)


def test_redis_client_reset_while_paused_in_lookup(start_bridge, redis,
                                                  echo_backend):
    """A client sends its upgrade and megabytes of frames during a lookup
    that hangs (it is paused at the high mark), then resets: the
    paused-side watch notices within a second, long before the lookup
    times out, and the session ends."""
    r = redis()
    r.cli("SET", "good-s3cr3t", "127.0.0.1:%d" % echo_backend[1])
    b = redis_bridge(start_bridge, r, "--workers", "1")
    warm(b, "good-s3cr3t", 2)
    r.pause()
    try:
        cl = RawClient(b.host, b.port)
        cl.send(request(b, "good-s3cr3t"))
        cl.sock.setblocking(False)
        frame, sent, t0 = encode_frame(OP_BINARY, b"x" * 65536), 0, \
            time.monotonic()
        while time.monotonic() - t0 < 0.4:
            try:
                sent += cl.sock.send(frame)
            except BlockingIOError:
                time.sleep(0.01)
        assert sent > 1 * MiB, "the bridge read everything: %d" % sent
        reset(cl.sock)
        t1 = time.monotonic()
        assert wait_for(lambda: "client closed during the lookup" in
                        b.log(), 1.5 * SLOW), b.log()[-2000:]
        assert time.monotonic() - t1 < LOOKUP_TIMEOUT - 0.3
    finally:
        r.resume()
    assert wait_for(lambda: status(b, "good-s3cr3t") == 101, 8, 0.2)


def test_redis_hostile_values(start_bridge, redis, echo_backend):
    """Values that are binary, JSON bombs, too deep, too long by a byte,
    or of the wrong type (hash, set, sorted set, stream, list) are 403;
    values at the length limit route; tokens holding every byte value
    (binary-safe keys) route, and a token one byte off does not."""
    r = redis()
    target = b"127.0.0.1:%d" % echo_backend[1]
    values = {
        b"binary": bytes(range(256)) * 4,
        b"nul-after": target + b"\x00junk",
        b"json-bomb": b'{"host": ' + b"[" * 2000 + b"]" * 2000 + b"}",
        b"json-deep": b"[" * 4000,
        b"json-dup": b'{"host": "%s", "host": "evil:1"}' % target,
        b"json-nul": b'{"host": "127.0.0.1\\u0000:%d"}' % echo_backend[1],
        b"json-longhost": b'{"host": "' + b"a" * 1100 + b'", "port": 9}',
        b"over-limit": b" " * (4097 - len(target)) + target,
    }
    for k, v in values.items():
        resp_command(r.port, b"SET", k, v)
    resp_command(r.port, b"HSET", b"a-hash", b"host", target)
    resp_command(r.port, b"SADD", b"a-set", target)
    resp_command(r.port, b"ZADD", b"a-zset", b"1", target)
    resp_command(r.port, b"XADD", b"a-stream", b"*", b"host", target)
    resp_command(r.port, b"RPUSH", b"a-list", target)
    good = {b"at-limit": b" " * (4096 - len(target)) + target}
    every = bytes(range(1, 256))
    for t in (every, every * 16 + every[:16], b"+plus", b" lead"):
        good[t] = target
    for k, v in good.items():
        resp_command(r.port, b"SET", k, v)
    b = redis_bridge(start_bridge, r, "--workers", "1")
    for k in list(values) + [b"a-hash", b"a-set", b"a-zset", b"a-stream",
                             b"a-list"]:
        assert status(b, k) == 403, k
    for k in good:
        assert len(k) <= MAX_TOKEN
        assert status(b, k) == 101, k[:40]
        assert status(b, k[:-1] + bytes([k[-1] ^ 1])) == 403, k[:40]
    # '+' in a query is a space (websockify's unquote_plus).
    assert status(b, path="/?token=+plus") == 403
    assert status(b, path="/?token=+lead") == 101
    routed(b, b"at-limit")
    log_has_none(b, "lead", "plus", "evil")


def test_redis_huge_value_bounded(start_bridge, redis, echo_backend):
    """A 24 MiB value is refused (403) without the bridge holding it: its
    peak RSS grows by far less than the value, and a lookup queued
    behind it on the same connection still routes."""
    r = redis()
    resp_command(r.port, b"SET", b"huge", b"1" * (24 * MiB))
    r.cli("SET", "good-s3cr3t", "127.0.0.1:%d" % echo_backend[1])
    b = redis_bridge(start_bridge, r, "--workers", "1")
    warm(b, "good-s3cr3t", 2)
    hwm0 = vm_kib(b.pid, "VmHWM")
    t0 = time.monotonic()
    clients = open_clients(b, ["huge", "good-s3cr3t"])
    got = [s for s, _ in statuses(clients, t0)]
    grew = vm_kib(b.pid, "VmHWM") - hwm0
    assert got == [403, 101] and grew < 8 * MiB // KiB, \
        "answers %r, peak RSS +%d KiB" % (got, grew)


# --- token APIs that answer badly ------------------------------------------


def test_token_api_hostile_answers(start_bridge, echo_backend):
    """A token service that compresses, redirects, sends huge or endless
    headers and bodies, trickles, lies about lengths, speaks HTTP/0.9 or
    switches protocols: each lookup ends in 403 or 503 within the lookup
    timeout (all asked at once, so this takes one timeout), a body that
    trickles in within it still routes, and the bridge stays up."""
    t = b"127.0.0.1:%d" % echo_backend[1]
    ok = http_answer(b"200 OK", t)
    head = b"HTTP/1.1 200 OK\r\nConnection: close\r\n"
    cases = {
        "gzip": ([http_answer(b"200 OK", gzip.compress(t),
                              [b"Content-Encoding: gzip"])], 403),
        "gzip-bomb": ([http_answer(b"200 OK", gzip.compress(b" " * 10**7),
                                   [b"Content-Encoding: gzip"])], 403),
        "redirect": ([http_answer(b"302 Found", b"",
                                  [b"Location: /t/good"])], 403),
        "huge-header-line": ([head + b"X: " + b"a" * 300000 + b"\r\n"
                              b"Content-Length: %d\r\n\r\n" % len(t) + t],
                             503),
        "endless-headers": ([head] + [b"X-More: y\r\n"] * 150, 503),
        "endless-chunks": ([head + b"Transfer-Encoding: chunked\r\n\r\n"] +
                           [b"1\r\n1\r\n"] * 150, 503),
        "huge-chunk": ([head + b"Transfer-Encoding: chunked\r\n\r\n"
                        b"ffffffffffffffff\r\n" + t], 503),
        "bad-chunk": ([head + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n" +
                       t + b"\r\n0\r\n\r\n"], 503),
        "length-lies": ([head + b"Content-Length: 100\r\n\r\n" + t], 503),
        "negative-length": ([head + b"Content-Length: -1\r\n\r\n" + t], 503),
        "http09": ([t], 503),
        "status-999": ([http_answer(b"999 Odd", t)], 503),
        "switching": ([b"HTTP/1.1 101 Switching Protocols\r\n"
                       b"Upgrade: x\r\nConnection: Upgrade\r\n\r\n" + t], 403),
        "nul-body": ([http_answer(b"200 OK", b"\x00" + t)], 403),
        "no-content": ([http_answer(b"204 No Content", b"")], 403),
        "reset": ([b"HTTP/1.1 200 OK\r\nContent-Le", RST], 503),
        "cut-head": ([b"HTTP/1.1 200 OK\r\nContent-Le"], (403, 503)),
        "silent": ([None], 503),
        "continue-then-ok": ([b"HTTP/1.1 100 Continue\r\n\r\n" + ok], 101),
        "trickle": ([head + b"Content-Length: %d\r\n\r\n" % len(t)] +
                    [t[i:i + 1] for i in range(len(t))], 101),
    }
    svc = Scripted({k: v[0] for k, v in cases.items()}, gap=0.02)
    try:
        b = token_bridge(start_bridge, "BaseTokenAPI", svc.url(),
                         "--workers", "1")
        t0 = time.monotonic()
        clients = open_clients(b, list(cases))
        got = dict(zip(cases, statuses(clients, t0)))
        bad = {k: got[k] for k, (_, want) in cases.items()
               if got[k][0] not in (want if isinstance(want, tuple) else
                                    (want,))}
        assert not bad, bad
        late = max(t for _, t in got.values())
        assert late < LOOKUP_TIMEOUT + 1.5 * SLOW, late
        assert "good" not in svc.asked, "a redirect was followed"
        routed(b, "trickle")
    finally:
        svc.close()


# --- JWTs that are not what they claim -------------------------------------


def jws(key, header, payload):
    """A compact JWS over payload (bytes) with exactly header (a dict),
    signed by jwcrypto's core (which checks nothing about the header)."""
    from jwcrypto import jws as _jws
    core = _jws.JWSCore(header["alg"], key, json.dumps(header), payload)
    sig = core.sign()
    return "%s.%s.%s" % (sig["protected"], sig["payload"].decode(),
                         sig["signature"])


def b64u(data):
    """base64url without padding, as JOSE writes it."""
    from jwcrypto.common import base64url_encode
    return base64url_encode(data)


def test_jwt_hostile_tokens(start_bridge, tmp_path, echo_backend):
    """Signed tokens whose headers are critical, compressed, nested too
    deep or not JSON, whose parts are padded, cut, empty, too many or
    too long, whose claims are not an object, duplicate a member, hide a
    NUL in the host, or name a port out of range; JWEs cut, flipped,
    compressed or nested twice: 403 each, ASan-clean; the good ones
    route."""
    jwk = pytest.importorskip("jwcrypto.jwk")
    jwt = pytest.importorskip("jwcrypto.jwt")
    key = jwk.JWK.generate(kty="RSA", size=2048)
    kf = tmp_path / "key.pem"
    kf.write_bytes(key.export_to_pem(private_key=True, password=None))
    port = echo_backend[1]
    claims = {"host": "127.0.0.1", "port": port}
    body = json.dumps(claims).encode()

    def signed(header=None, payload=body, alg="RS256"):
        return jws(key, dict({"alg": alg}, **(header or {})), payload)

    def enc(inner, header=None, e="A256GCM"):
        t = jwt.JWT(header=dict({"alg": "RSA-OAEP", "enc": e},
                                **(header or {})), claims=inner)
        t.make_encrypted_token(key)
        return t.serialize()

    good = signed()
    p0, p1, p2 = good.split(".")
    jwe = enc(good)
    e = jwe.split(".")
    hostile = {
        "crit": signed({"crit": ["exp"], "exp": 1}),
        "b64-false": signed({"b64": False, "crit": ["b64"]}),
        "alg-none": "%s.%s." % (b64u('{"alg":"none"}'), p1),
        "alg-None": "%s.%s." % (b64u('{"alg":"None"}'), p1),
        "alg-hs-with-rsa": "%s.%s.%s" % (b64u('{"alg":"HS256"}'), p1,
                                         p2),
        "alg-number": "%s.%s.%s" % (b64u('{"alg":5}'), p1, p2),
        "header-array": "%s.%s.%s" % (b64u("[1]"), p1, p2),
        "header-deep": "%s.%s.%s" % (b64u("[" * 2500), p1, p2),
        "header-empty": ".%s.%s" % (p1, p2),
        "padded": "%s=.%s.%s" % (p0, p1, p2),
        "sig-cut": "%s.%s.%s" % (p0, p1, p2[:-4]),
        "sig-empty": "%s.%s." % (p0, p1),
        "bad-length": "%s.%sa.%s" % (p0, p1, p2),
        "four-parts": good + ".x",
        "six-parts": good + ".a.b.c",
        "not-base64": good.replace(p1[:4], "!$*("),
        "too-long": (good + "A" * MAX_TOKEN)[:MAX_TOKEN],
        "claims-array": signed(payload=b"[1,2]"),
        "claims-empty": signed(payload=b""),
        "claims-deep": signed(payload=b"[" * 2500),
        "claims-dup": signed(payload=b'{"host":"127.0.0.1","port":%d,'
                             b'"host":"evil"}' % port),
        "host-nul": signed(payload=b'{"host":"127.0.0.1\\u0000x",'
                           b'"port":%d}' % port),
        "host-brackets": signed(payload=json.dumps(
            {"host": "[::1]", "port": port}).encode()),
        "host-unix": signed(payload=json.dumps(
            {"host": "unix_socket", "port": "/tmp/x"}).encode()),
        "port-huge": signed(payload=b'{"host":"h","port":%d}' % 2**70),
        "port-negative": signed(payload=b'{"host":"h","port":-1}'),
        "exp-string": signed(payload=json.dumps(
            dict(claims, exp="99999999999")).encode()),
        "jwe-cut-tag": ".".join(e[:4] + [e[4][:-2]]),
        "jwe-empty-iv": ".".join(e[:2] + [""] + e[3:]),
        "jwe-empty-ciphertext": ".".join(e[:3] + [""] + e[4:]),
        "jwe-empty-key": ".".join(e[:1] + [""] + e[2:]),
        "jwe-flipped": ".".join(e[:3] + [e[3][:-3] + (
            "B" if e[3][-3] == "A" else "A") + e[3][-2:]] + e[4:]),
        "jwe-dir": ".".join([b64u('{"alg":"dir","enc":"A256GCM"}')] +
                            e[1:]),
        "jwe-zip": enc(good, {"zip": "DEF"}),
        "jwe-of-jwe": enc(enc(good)),
        "jwe-of-claims": enc(json.dumps(claims)),
    }
    b = token_bridge(start_bridge, "JWTTokenApi", kf, "--workers", "1")
    for name, tok in hostile.items():
        assert len(tok) <= MAX_TOKEN, name
        assert status(b, tok) == 403, name
    assert status(b, "A" * (MAX_TOKEN + 1)) == 400
    for tok in (good, signed({"kid": "k" * 1000}),
                signed(payload=json.dumps(dict(
                    claims, pad="x" * 2000,
                    exp=1e308, nbf=-1e308)).encode()),
                jwe, enc(good, e="A128CBC-HS256")):
        routed(b, tok)
    log_has_none(b, good, p1, p2, e[3])


# --- token files under attack ----------------------------------------------


def rewrite(path, text, how):
    """Write text to path: "in-place" (truncate and write, as `>` does)
    or "rename" (a new file renamed over it)."""
    if how == "in-place":
        with open(path, "w") as f:
            f.write(text)
    else:
        with open(str(path) + ".new", "w") as f:
            f.write(text)
        os.replace(str(path) + ".new", path)


# rewrite() in a tight loop, in a process of its own, until its stdin
# ends (so the last write is whole).  Not a thread of the test: with 50
# client threads it could wait over a second for the GIL between an
# in-place rewrite's truncation and its write, and a file left half
# written that long is read as done (WSB_TOKEN_FILE_WRITE_GRACE_MSEC):
# an empty table, kept while the loop goes on changing the file.
REWRITER = r"""
import os, select, sys
path, how, versions = sys.argv[1], sys.argv[2], sys.argv[3:5]
i = 0
while not select.select([0], [], [], 0)[0]:
    i += 1
    if how == "in-place":
        with open(path, "w") as f:
            f.write(versions[i % 2])
    else:
        with open(path + ".new", "w") as f:
            f.write(versions[i % 2])
        os.replace(path + ".new", path)
"""


def sessions_during_rewrites(b, path, versions, how, clients=50, each=10):
    """clients threads open `each` sessions with token "tok" while path is
    rewritten in a tight loop, alternating versions.  The statuses."""
    got, errors = [], []

    def client():
        try:
            for _ in range(each):
                got.append(status(b, "tok"))
        except Exception as e:  # reported below
            errors.append(repr(e))

    w = subprocess.Popen([PY, "-c", REWRITER, str(path), how] + versions,
                         stdin=subprocess.PIPE)
    threads = [threading.Thread(target=client) for _ in range(clients)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        w.stdin.close()
        w.wait(10)
    assert w.returncode == 0, w.returncode
    assert not errors, errors[:3]
    return got


@pytest.mark.parametrize("how,source", [
    ("rename", "file"),
    ("rename", "directory"),
    ("in-place", "file"),
    ("in-place", "directory"),
], ids=["rename-file", "rename-dir", "in-place-file", "in-place-dir"])
def test_token_file_rewritten_in_a_loop(start_bridge, tmp_path, echo_backend,
                                        how, source):
    """50 clients x 10 sessions while the token's line is rewritten in a
    tight loop between two targets (the echo backend, and a port nobody
    listens on: 101 then Close 1011): every session gets its 101 (the
    old or the new target, never a refusal) and the bridge survives."""
    pad = "".join("pad-%d: 127.0.0.1:%d\n" % (i, 1 + i) for i in range(10))
    versions = [pad + "tok: 127.0.0.1:%d\n" % p
                for p in (echo_backend[1], free_port())]
    d = tmp_path / "tokens.d"
    d.mkdir()
    path = d / "tokens"
    path.write_text(versions[0])
    b = token_bridge(start_bridge, "TokenFile",
                     d if source == "directory" else path)
    got = sessions_during_rewrites(b, path, versions, how)
    assert len(got) == 500
    bad = [s for s in got if s != 101]
    assert not bad, "%d of %d sessions refused: %r" % (
        len(bad), len(got), sorted(set(bad)))
    assert status(b, "tok") == 101


def file_bridge(start_bridge, tmp_path, target):
    """A TokenFile bridge on tmp_path/src/tokens, which holds token "a" for
    target (checked to route): (bridge, the file's path)."""
    d = tmp_path / "src"
    d.mkdir()
    src = d / "tokens"
    src.write_text("a: %s\n" % target)
    b = token_bridge(start_bridge, "TokenFile", src)
    assert status(b, "a") == 101
    return b, src


def test_token_file_replaced_at_run_time(start_bridge, tmp_path,
                                         echo_backend):
    """The source file becomes a FIFO (a load must not hang), a symlink
    loop, a 300 MiB sparse file (over the size limit), a file with a NUL
    in a line, CRLF or lone-CR line ends, a UTF-8 BOM: a source that
    cannot be read keeps the last table, lines that can be read route,
    and the bridge never stalls."""
    t = "127.0.0.1:%d" % echo_backend[1]
    b, src = file_bridge(start_bridge, tmp_path, t)
    d = src.parent

    def replace(make, then):
        n = b.log().count("TokenFile")
        if os.path.lexists(src):
            os.unlink(src)
        make()
        # The next lookup sees the change (an event) and reloads (a job,
        # which logs its outcome).
        assert wait_for(lambda: status(b, "a", timeout=5) and
                        b.log().count("TokenFile") > n, 3), b.log()[-2000:]
        for tok, want in then:
            assert status(b, tok, timeout=5) == want, (tok, make)

    def sparse():
        with open(src, "w") as f:
            f.truncate(300 * MiB)

    (d / "l1").symlink_to(d / "l2")
    (d / "l2").symlink_to(d / "l1")
    for make, then in (
            (lambda: os.mkfifo(src), [("a", 101)]),
            (lambda: src.symlink_to(d / "l1"), [("a", 101)]),
            (sparse, [("a", 101)]),
            (lambda: src.write_bytes(b"a: %s\x00\nb: %s\n" % (
                t.encode(), t.encode())), [("a", 403), ("b", 101)]),
            (lambda: src.write_bytes(b"c: %s\r\nd: %s\re: %s" % (
                (t.encode(),) * 3)), [("c", 101), ("d", 101), ("e", 101),
                                      ("b", 403)]),
            (lambda: src.write_bytes(b"\xef\xbb\xbff: %s\n" % t.encode()),
             [("f", 403), (b"\xef\xbb\xbff", 101)])):
        replace(make, then)
    log = b.log()
    assert "not a regular file; keeping the last" in log
    assert "Too many levels of symbolic links; keeping the last" in log
    assert "File too large; keeping the last" in log
    assert "line 1: syntax error" in log


def test_token_file_replaced_by_a_directory(start_bridge, tmp_path,
                                            echo_backend):
    """The token file becomes a directory, then a file of tokens appears
    in it: its tokens route, as a directory source's new file would.
    Then the directory becomes a file again: its tokens route."""
    t = "127.0.0.1:%d" % echo_backend[1]
    b, src = file_bridge(start_bridge, tmp_path, t)
    os.unlink(src)
    src.mkdir()
    status(b, "a")
    (src / "x").write_text("g: %s\n" % t)
    assert wait_for(lambda: status(b, "g") == 101, 1, 0.1), b.log()[-1500:]
    assert status(b, "a") == 403
    shutil.rmtree(src)
    src.write_text("h: %s\n" % t)
    assert wait_for(lambda: status(b, "h") == 101, 1, 0.1), b.log()[-1500:]
    assert status(b, "g") == 403
    # Written again in place: the file, not the directory, is watched.
    src.write_text("i: %s\n" % t)
    assert status(b, "i") == 101


def test_token_file_100k_lines(start_bridge, tmp_path, echo_backend):
    """A 100,000-line token file: loaded at start, every token found (the
    first, the last, samples between), unknown ones refused at once; an
    edit in place of the whole file is taken in by the next connection;
    memory stays small (a hash table, not a list)."""
    port = echo_backend[1]

    def text(tag):
        return "".join("%s%06d: 127.0.0.1:%d\n" % (tag, i, port)
                       for i in range(100000))
    src = tmp_path / "tokens"
    src.write_text(text("t"))
    b = token_bridge(start_bridge, "TokenFile", src)
    assert wait_for(lambda: "100000 tokens" in b.log(), 5)
    t0 = time.monotonic()
    for i in (0, 99999, 31337, 50000, 77777):
        assert status(b, "t%06d" % i) == 101, i
    for i in range(50):
        assert status(b, "u%06d" % (i * 1999)) == 403
    per = (time.monotonic() - t0) / 55
    assert per < 0.05 * SLOW, "%.3fs per lookup" % per
    assert rss_kib(b.pid) < (160 if SANITIZED else 40) * 1024, \
        rss_kib(b.pid)
    rewrite(src, text("u"), "in-place")
    assert status(b, "u099999") == 101
    assert status(b, "t000000") == 403
    routed(b, "u000042")


# --- TokenFileName and UnixDomainSocketDirectory: what the token names -----


def test_token_file_name_special_files(start_bridge, tmp_path, echo_backend):
    """The token names a FIFO (with no writer: the blocking-work thread
    must not wait on it), a directory, a symlink loop, a dangling
    symlink, /dev/zero, a 1 GiB sparse file, a name longer than a file
    name may be: 403 each, at once, and the next lookup is answered at
    once too.  Names with any byte but '/' work; a symlink to a file
    outside the directory is followed (websockify's os.path.join and
    open() do the same)."""
    t = "127.0.0.1:%d" % echo_backend[1]
    d = tmp_path / "names"
    d.mkdir()
    (tmp_path / "outside").write_text(t)
    (d / "good").write_text(t)
    os.mkfifo(d / "fifo")
    (d / "adir").mkdir()
    (d / "loop1").symlink_to(d / "loop2")
    (d / "loop2").symlink_to(d / "loop1")
    (d / "dangling").symlink_to(d / "nowhere")
    (d / "zero").symlink_to("/dev/zero")
    (d / "out").symlink_to(tmp_path / "outside")
    with open(d / "sparse", "w") as f:
        f.truncate(1024 * MiB)
    odd = bytes(c for c in range(1, 256) if c != ord("/"))
    with open(os.path.join(os.fsencode(d), odd), "w") as f:
        f.write(t)
    b = token_bridge(start_bridge, "TokenFileName", d, "--workers", "1")
    for tok in ("fifo", "adir", "loop1", "dangling", "zero", "sparse",
                "n" * 256, "fifo", "fifo"):
        t0 = time.monotonic()
        assert status(b, tok, timeout=5) == 403, tok
        assert time.monotonic() - t0 < 0.5 * SLOW, tok
    for tok in ("good", odd, "out"):
        assert status(b, tok) == 101, tok[:20]
    routed(b, odd)
    assert status(b, odd[:-1]) == 403


def test_token_file_name_socket_is_403(start_bridge, tmp_path):
    """A Unix socket named like the token is not a token file: 403."""
    d = tmp_path / "names"
    d.mkdir()
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(d / "sock"))
    try:
        b = token_bridge(start_bridge, "TokenFileName", d)
        assert status(b, "sock") == 403
    finally:
        s.close()


def test_unix_socket_directory_special_files(start_bridge, tmp_path):
    """UnixDomainSocketDirectory: a FIFO, a directory, a symlink loop or a
    dangling symlink named like the token is 403; a socket file nobody
    listens on any more is a target that refuses (101, then Close
    1011); a symlink to a socket outside the directory is followed, as
    websockify's os.stat does."""
    d = tmp_path / "socks"
    d.mkdir()
    os.mkfifo(d / "fifo")
    (d / "adir").mkdir()
    (d / "loop1").symlink_to(d / "loop2")
    (d / "loop2").symlink_to(d / "loop1")
    (d / "dangling").symlink_to(d / "nowhere")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(d / "stale"))
    stale.close()

    def echo(conn, srv):
        echo_until_eof(conn)
    outside = ThreadedServer(echo, unix_path=str(tmp_path / "out.sock"))
    try:
        (d / "out").symlink_to(tmp_path / "out.sock")
        b = token_bridge(start_bridge, "UnixDomainSocketDirectory", d)
        for tok in ("fifo", "adir", "loop1", "dangling", "..", "."):
            assert status(b, tok, timeout=5) == 403, tok
        with RawClient(b.host, b.port) as cl:
            cl.send(request(b, "stale"))
            assert cl.read_response().status == 101
            assert cl.recv_close()[0] == 1011
        routed(b, "out")
    finally:
        outside.close()


# --- tokens: every byte, every length, every Host --------------------------


def test_token_every_byte_and_length(start_bridge, tmp_path, echo_backend):
    """TokenFile tokens holding each byte value a token file can hold
    (all but NUL and the line breaks), percent-encoded in the query: each
    routes, and the same token with its last byte changed does not.  A
    token of exactly 4096 bytes (12 KiB once encoded) is looked up; 4097
    bytes, or a NUL anywhere, is 400."""
    t = "127.0.0.1:%d" % echo_backend[1]
    toks = [b"k%02x-%s-z" % (c, bytes([c])) for c in range(1, 256)
            if c not in (0x0a, 0x0d)]
    longest = b"L" * (MAX_TOKEN - 1) + b"\xff"
    toks.append(longest)
    src = tmp_path / "tokens"
    src.write_bytes(b"".join(k + b": " + t.encode() + b"\n" for k in toks))
    b = token_bridge(start_bridge, "TokenFile", src)
    for i, k in enumerate(toks):
        assert status(b, k) == 101, k[:8]
        if i % 8 == 0 or k == longest:
            assert status(b, k[:-1] + b"y") == 403, k[:8]
    routed(b, longest)
    for bad in (longest + b"x", b"\x00" + toks[0], toks[0] + b"\x00"):
        assert status(b, bad) == 400, bad[:8]
    # Trailing newlines are stripped (websockify's rstrip('\n')); a lone
    # one is no token at all.
    assert status(b, toks[5] + b"\n\n") == 101
    assert status(b, b"\n") == 400


def test_host_token_edges(start_bridge, tmp_path, echo_backend):
    """--host-token: a 4096-byte Host routes, with or without a port; one
    byte more, or a 15 KB Host, is 400; IPv6 literals lose their brackets
    and port, a zone stays; an empty, bracketless or unclosed literal,
    two Host headers or none are 400; the Host (a token) never reaches
    the log."""
    t = "127.0.0.1:%d" % echo_backend[1]
    big = "h" * MAX_TOKEN
    src = tmp_path / "tokens"
    src.write_text("%s: %s\n::1: %s\nfe80::1%%eth0: %s\n" % (big, t, t, t))
    b = token_bridge(start_bridge, "TokenFile", src, "--host-token",
                     "--verbose")
    for host, want in ((big, 101), (big + ":80", 101), (big + "h", 400),
                       ("h" * 15000, 400), ("[::1]", 101),
                       ("[::1]:8080", 101), ("[fe80::1%eth0]:1", 101),
                       ("[]", 400), ("[]:80", 400), ("[", 400),
                       ("[::1", 400), ("::1", 400), (":80", 400),
                       ("", 400), ("unknown.example", 403)):
        assert status(b, host=host.encode()) == want, host[:20]
    no_host = request(b).replace(b"Host: %s:%d\r\n" % (b.host.encode(),
                                                       b.port), b"")
    two = request(b).replace(b"\r\n\r\n", b"\r\nHost: ::1\r\n\r\n")
    for req in (no_host, two):
        with RawClient(b.host, b.port) as cl:
            cl.send(req)
            assert cl.read_response().status == 400
    routed_host = request(b, host=big.encode())
    with RawClient(b.host, b.port) as cl:
        cl.send(routed_host)
        assert cl.read_response().status == 101
        relays(cl)
    log_has_none(b, "hhhhhhhh", "fe80", "::1", "unknown.example")


# --- resets and FINs at every point ----------------------------------------


def test_resets_at_every_point(start_bridge, redis, echo_backend):
    """800 clients, each cut at a random point: half-way through its
    request, one byte short, or after the request and a frame; then a
    FIN or a reset after a random delay, so some leave before their
    lookup starts, during it, as it answers, between the answer and the
    101, or while the target connects (one that never accepts, one that
    refuses, the echo backend).  Redis is stopped for a moment now and
    then.  The bridge survives ASan-clean, frees every session, and
    routes afterwards."""
    import random
    rnd = random.Random(8)
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(0)
    fill = []
    for _ in range(4):  # its accept queue full: connects to it hang
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(("127.0.0.1", hang.getsockname()[1]))
        fill.append(f)
    r = redis()
    r.cli("MSET", "echo", "127.0.0.1:%d" % echo_backend[1],
          "hang", "127.0.0.1:%d" % hang.getsockname()[1],
          "refused", "127.0.0.1:%d" % free_port())
    b = redis_bridge(start_bridge, r)
    warm(b, "echo", 4)
    fd0 = settled_fds(b)
    try:
        for i in range(800):
            tok = rnd.choice(["echo", "hang", "refused", "missing"])
            req = request(b, tok)
            cut = rnd.choice([len(req) // 2, len(req) - 1, None, None])
            with RawClient(b.host, b.port) as cl:
                cl.send(req[:cut] if cut else
                        req + encode_frame(OP_BINARY, b"early"))
                time.sleep(rnd.choice([0, 0, 0.0002, 0.0005, 0.001,
                                       0.003]))
                if rnd.random() < 0.5:
                    reset(cl.sock)
                else:
                    cl.sock.shutdown(socket.SHUT_WR)
            if i % 100 == 50:
                r.pause()
                time.sleep(0.02)
                r.resume()
        routed(b, "echo")
    finally:
        for f in fill:
            f.close()
        hang.close()
    # The connects to the hanging target get a reset at their next SYN
    # (1 s, then 3 s after the first); then every session is gone.
    assert wait_for(lambda: fd_count(b) <= fd0 + 2, 6 * SLOW), \
        (fd_count(b), fd0)
    routed(b, "echo")


def test_lookup_answer_races_client_reset(start_bridge, tmp_path,
                                          echo_backend):
    """TokenFileName answers from the blocking-work thread: 600 clients
    reset right after their request, so the job's answer and the reset
    race on the worker in every order.  Every session is freed (none
    answered into a freed session: ASan) and the next one routes."""
    d = tmp_path / "names"
    d.mkdir()
    (d / "desk").write_text("127.0.0.1:%d\n" % echo_backend[1])
    b = token_bridge(start_bridge, "TokenFileName", d)
    routed(b, "desk")
    fd0 = settled_fds(b)
    for i in range(6):
        clients = open_clients(b, ["desk" if j % 2 else "missing-%d" % j
                                   for j in range(100)])
        time.sleep(0.0005 * i)
        for cl in clients:
            reset(cl.sock)
    assert wait_for(lambda: fd_count(b) <= fd0 + 2, 5 * SLOW), \
        (fd_count(b), fd0)
    routed(b, "desk")


# --- signals with lookups in flight, on every plugin -----------------------


def plugin_source(plugin, tmp_path, redis, echo_backend):
    """A source for plugin under which lookups stay in flight (a stopped
    Redis, a token API that never answers) or go through the job thread
    (file plugins); and the service to stop afterwards, or None."""
    t = "127.0.0.1:%d" % echo_backend[1]
    if plugin == "TokenRedis":
        r = redis()
        return r.source(), r
    if plugin in ("BaseTokenAPI", "JSONTokenApi"):
        svc = Scripted({}, default=[None])
        return svc.url(), svc
    d = tmp_path / "src"
    d.mkdir()
    if plugin in ("TokenFile", "ReadOnlyTokenFile"):
        (d / "tokens").write_text("k: %s\n" % t)
        return str(d / "tokens"), None
    if plugin == "JWTTokenApi":
        (d / "k").write_text(b64u(b"k" * 32))
        return str(d / "k"), None
    (d / "k").write_text(t)  # TokenFileName; for UDS an unknown name
    return str(d), None


@pytest.mark.parametrize("plugin", [
    "TokenFile", "ReadOnlyTokenFile", "TokenFileName",
    "UnixDomainSocketDirectory", "TokenRedis", "BaseTokenAPI",
    "JWTTokenApi"])
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_signal_with_lookups_in_flight(start_bridge, tmp_path, redis,
                                       echo_backend, plugin, sig):
    """SIGTERM or SIGINT while 300 upgrades wait on their lookups (on a
    stopped Redis, a silent token API, the job thread with a token file
    being edited) beside relaying sessions: exit 0 without waiting for
    the lookups (the relaying clients, which never answer their Close
    1001, get --shutdown-timeout: 1 s), nothing leaked (the ASan build's
    report is checked)."""
    src, svc = plugin_source(plugin, tmp_path, redis, echo_backend)
    b = token_bridge(start_bridge, plugin, src, "--shutdown-timeout", "1",
                     expect_exit=True)
    try:
        if plugin == "TokenRedis":
            svc.cli("SET", "k", "127.0.0.1:%d" % echo_backend[1])
            warm(b, "k", 4)
            svc.pause()
        clients = open_clients(b, ["k-%d" % i for i in range(300)])
        if plugin == "TokenFile":
            with open(src, "a") as f:  # reloads run as jobs now
                f.write("".join("x%d: 127.0.0.1:1\n" % i
                                for i in range(5000)))
            clients += open_clients(b, ["k"] * 50)
        time.sleep(0.05)
        t0 = time.monotonic()
        b.proc.send_signal(getattr(signal, sig))
        rc = b.wait_exit(10)
        assert rc == 0, "exit %r after %s\n%s" % (rc, sig, b.log()[-2000:])
        assert time.monotonic() - t0 < LOOKUP_TIMEOUT * SLOW, \
            "waited for the lookups"
        for cl in clients:
            cl.close()
    finally:
        if svc is not None:
            if plugin == "TokenRedis":
                svc.resume()
            else:
                svc.close()


# --- the handshake deadline passing during a lookup ------------------------


def test_handshake_deadline_during_lookup(start_bridge, redis, echo_backend):
    """A client dribbles its request head for 8.6 s, so its lookup (on a
    stopped Redis, and on a token API that never answers) is still in
    flight when the 10 s handshake deadline passes: 503 at the deadline,
    not at the later lookup timeout, with the reason logged; the bridges
    route afterwards.  Both bridges run at once: one 10 s wait."""
    target = "127.0.0.1:%d" % echo_backend[1]
    r = redis()
    r.cli("SET", "good-s3cr3t", target)
    rb = redis_bridge(start_bridge, r, "--workers", "1")
    warm(rb, "good-s3cr3t", 2)
    svc = Scripted({"good-s3cr3t": [http_answer(b"200 OK",
                                                target.encode())]},
                   default=[None])
    try:
        ab = token_bridge(start_bridge, "BaseTokenAPI", svc.url())
        results = {}

        def dribble(b, name):
            with RawClient(b.host, b.port, timeout=20) as cl:
                t0 = time.monotonic()
                req = request(b, "slow-s3cr3t")
                cl.send(req[:-1])
                time.sleep(HANDSHAKE_DEADLINE - 1.4 - (time.monotonic() -
                                                      t0))
                cl.send(req[-1:])
                try:
                    results[name] = (cl.read_response().status,
                                     time.monotonic() - t0)
                except ConnectionGone as e:
                    results[name] = (repr(e), time.monotonic() - t0)

        r.pause()
        threads = [threading.Thread(target=dribble, args=(b, n))
                   for b, n in ((rb, "redis"), (ab, "api"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        r.resume()
        for name, b in (("redis", rb), ("api", ab)):
            st, at = results[name]
            assert st == 503, (name, results)
            assert HANDSHAKE_DEADLINE - 0.3 <= at <= \
                HANDSHAKE_DEADLINE + 0.4 * SLOW, (name, results)
            assert "before the handshake deadline" in b.log(), name
        assert wait_for(lambda: status(rb, "good-s3cr3t") == 101, 8, 0.2)
        assert status(ab, "good-s3cr3t") == 101
    finally:
        svc.close()


# --- secrets ---------------------------------------------------------------


def test_log_hides_token_behind_encoded_name(start_bridge, tmp_path,
                                             echo_backend):
    """Whatever spelling of the name `token` carries the token, the log
    never shows its value."""
    src = tmp_path / "tokens"
    src.write_text("s3cr3t-enc-name: 127.0.0.1:%d\n" % echo_backend[1])
    b = token_bridge(start_bridge, "TokenFile", src, "--verbose")
    for path in ("/?tok%65n=s3cr3t-enc-name", "/?%74oken=s3cr3t-other",
                 "/?a=1&t%6Fken=s3cr3t-third&b=2"):
        assert status(b, path=path) in (101, 403), path
    assert status(b, path="/?tok%65n=s3cr3t-enc-name") == 101
    assert wait_for(lambda: b.log().count("token ") >= 4, 3)
    log_has_none(b, "s3cr3t-enc-name", "s3cr3t-other", "s3cr3t-third")


def test_redis_password_and_tokens_never_logged(start_bridge, redis,
                                                echo_backend):
    """--verbose (debug lines too) through every Redis failure: a wrong
    password, no Redis at all, stopped mid-lookup (timeout), a WRONGTYPE
    key, a malformed value, a namespace: neither the password nor a token
    (nor its value) reaches the log."""
    pw = "pw-s3cr3t-77e1"
    r = redis(password=pw)
    target = "127.0.0.1:%d" % echo_backend[1]
    r.cli("SET", "ns:tok-s3cr3t-ok", target)
    r.cli("SET", "ns:tok-s3cr3t-bad", "val-s3cr3t-bad")
    r.cli("RPUSH", "ns:tok-s3cr3t-list", "val-s3cr3t-list")
    b1 = token_bridge(start_bridge, "TokenRedis",
                      r.source(password="wrong-" + pw), "--verbose")
    assert status(b1, "tok-s3cr3t-ok") == 503
    b = token_bridge(start_bridge, "TokenRedis", r.source(ns="ns"),
                     "--verbose", "--workers", "1")
    routed(b, "tok-s3cr3t-ok")
    assert status(b, "tok-s3cr3t-bad") == 403
    assert status(b, "tok-s3cr3t-list") == 403
    assert status(b, "tok-s3cr3t-none") == 403
    r.pause()
    assert status(b, "tok-s3cr3t-slow") == 503
    r.resume()
    down = token_bridge(start_bridge, "TokenRedis", "127.0.0.1:%d:0:%s" % (
        free_port(), pw), "--verbose")
    assert status(down, "tok-s3cr3t-down") == 503
    for x in (b, b1, down):
        log_has_none(x, pw, "s3cr3t")


def test_token_api_secrets_never_logged(start_bridge, echo_backend):
    """A token API URL carrying credentials (user:password@, an API key
    in the query) and tokens through every failure with --verbose: a
    service that is down, resets, redirects, answers 404, 500 or
    garbage, or is not HTTPS: neither the credentials nor
    any token (raw or percent-encoded) reaches the log."""
    target = b"127.0.0.1:%d" % echo_backend[1]
    svc = Scripted({
        "tok-s3cr3t-ok": [http_answer(b"200 OK", target)],
        "tok-s3cr3t-500": [http_answer(b"500 Oops", b"tok-s3cr3t-500")],
        "tok-s3cr3t-302": [http_answer(b"302 Found", b"", [
            b"Location: http://u:key-s3cr3t@127.0.0.1:1/tok-s3cr3t-302"])],
        "tok-s3cr3t-junk": [http_answer(b"200 OK", b"tok-s3cr3t-junk")],
        "tok-s3cr3t-rst": [b"HTTP/1.1 200 OK\r\nContent-Length: 9", RST],
    })

    def plain_http(conn, srv):  # what a TLS client meets: plain text
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    plain = ThreadedServer(plain_http)
    creds = "user-s3cr3t:pass-s3cr3t@127.0.0.1"
    try:
        url = "http://%s:%d/t/%%s?apikey=key-s3cr3t" % (creds, svc.port)
        b = token_bridge(start_bridge, "BaseTokenAPI", url, "--verbose")
        routed(b, "tok-s3cr3t-ok")
        for tok, want in (("tok-s3cr3t-500", 503), ("tok-s3cr3t-302", 403),
                          ("tok-s3cr3t-junk", 403), ("tok-s3cr3t-rst", 503),
                          ("tok-s3cr3t-404", 403),
                          ("tok s3cr3t/..%?#", 403)):
            assert status(b, tok) == want, tok
        down = token_bridge(start_bridge, "BaseTokenAPI",
                            "http://%s:%d/t/%%s?k=key-s3cr3t" % (
                                creds, free_port()), "--verbose")
        assert status(down, "tok-s3cr3t-down") == 503
        tls = token_bridge(start_bridge, "JSONTokenApi",
                           "https://%s:%d/t/%%s?k=key-s3cr3t" % (
                               creds, plain.port), "--verbose")
        assert status(tls, "tok-s3cr3t-tls") == 503
        for x in (b, down, tls):
            log_has_none(x, "s3cr3t")
    finally:
        svc.close()
        plain.close()
