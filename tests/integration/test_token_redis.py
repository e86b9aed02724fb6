"""TokenRedis end to end: a real redis-server started here on a free port
(no persistence), values set with redis-cli, the C echo backend as every
token's target, and the bridge looking tokens up over its per-worker
hiredis connections without blocking.

What the session answers: 101 and a relay for a plain `host:port` or a
JSON value; 403 for a missing key or a malformed value; 503 while Redis
is down, refuses our AUTH, or does not answer within
WSB_TOKEN_LOOKUP_TIMEOUT_MSEC (2 s); and lookups work again once Redis
is back, without restarting the bridge.  The password and the tokens
never reach the log; a malformed source exits 2 with one line."""

import os
import signal
import socket
import struct
import subprocess
import time

import pytest

from conftest import wsbridge_argv0
from wsutil import (OP_BINARY, OP_CLOSE, RawClient, close_payload, free_port,
                    handshake_request, have_ipv6, wait_for)

LOOKUP_TIMEOUT = 2.0  # WSB_TOKEN_LOOKUP_TIMEOUT_MSEC
PASSWORD = "pw-s3cr3t-5b1d"
TOKEN = "tok-s3cr3t-a1"


@pytest.fixture
def redis_bridge(start_bridge):
    def start(src, *opts, **kw):
        return start_bridge(None, "--token-plugin", "TokenRedis",
                            "--token-source", src, *opts, **kw)
    return start


def status(b, token, timeout=10.0):
    """The HTTP status the bridge answers an upgrade with token."""
    with RawClient(b.host, b.port, timeout=timeout) as cl:
        cl.send(handshake_request(b.host, b.port, path="/?token=" + token))
        return cl.read_response().status


def routes(b, token):
    """A session with token reaches the echo backend and back."""
    with RawClient(b.host, b.port) as cl:
        cl.send(handshake_request(b.host, b.port, path="/?token=" + token))
        resp = cl.read_response()
        assert resp.status == 101, (token, resp)
        data = os.urandom(64)
        cl.send_frame(OP_BINARY, data)
        assert cl.recv_data(len(data)) == data
        cl.send_frame(OP_CLOSE, close_payload(1000))
        assert cl.recv_close()[0] == 1000


def all_route(b, token, n=6):
    """n sessions in a row route (every worker's connection is up)."""
    return all(status(b, token) == 101 for _ in range(n))


def echo_target(echo_backend):
    return "127.0.0.1:%d" % echo_backend[1]


def assert_clean_log(b, *secrets):
    log = b.log()
    for s in secrets:
        assert s not in log, "%r in the log:\n%s" % (s, log)


# --- values ------------------------------------------------------------------

def test_plain_and_json_values_route(redis, redis_bridge, echo_backend):
    r = redis()
    t = echo_target(echo_backend)
    port = echo_backend[1]
    values = {
        "plain-" + TOKEN: t,
        "padded-" + TOKEN: "  %s\r\n" % t,
        "json-" + TOKEN: '{"host": "%s"}' % t,
        "json-port-" + TOKEN: '{"host": "127.0.0.1", "port": %d}' % port,
        "json-port-str-" + TOKEN: '{"host":"127.0.0.1","port":"%d"}' % port,
    }
    for k, v in values.items():
        r.cli("SET", k, v)
    b = redis_bridge(r.source())
    for k in values:
        routes(b, k)
    assert_clean_log(b, TOKEN)


MALFORMED = {
    "word": "nonsense",
    "no-port": "127.0.0.1",
    "port-0": "127.0.0.1:0",
    "blank": "127.0.0.1:59 00",
    "json-host-number": '{"host": 5900}',
    "json-no-host": '{"port": 5900}',
    "json-no-port": '{"host": "127.0.0.1"}',
    "json-unclosed": '{"host": "h:1"',
    "json-array": '["127.0.0.1:5900"]',
    "empty": "",
}


def test_malformed_values_403(redis, redis_bridge, echo_backend):
    r = redis()
    for k, v in MALFORMED.items():
        r.cli("SET", k, v)
    r.cli("SET", "good", echo_target(echo_backend))
    b = redis_bridge(r.source())
    for k in MALFORMED:
        assert status(b, k) == 403, k
    # An empty value reads as a missing key: the lookup is a GETRANGE,
    # which answers "" for both.
    assert wait_for(lambda: b.log().count("malformed value") ==
                    len(MALFORMED) - 1 and
                    b.log().count("not in redis") == 1, 3), b.log()
    routes(b, "good")


def test_unknown_token_and_wrong_type_403(redis, redis_bridge,
                                          echo_backend):
    r = redis()
    r.cli("RPUSH", "a-list", echo_target(echo_backend))
    b = redis_bridge(r.source())
    assert status(b, "no-such-" + TOKEN) == 403
    assert wait_for(lambda: "not in redis" in b.log(), 3), b.log()
    assert status(b, "a-list") == 403  # WRONGTYPE: not a string value
    assert_clean_log(b, TOKEN)


def test_many_lookups_pipelined(redis, redis_bridge, echo_backend):
    """Lookups in flight together share each worker's one connection."""
    r = redis()
    pairs = []
    for i in range(40):
        pairs += ["t%d" % i, echo_target(echo_backend)]
    r.cli("MSET", *pairs)
    b = redis_bridge(r.source())
    clients = [RawClient(b.host, b.port) for _ in range(40)]
    try:
        for i, cl in enumerate(clients):
            cl.send(handshake_request(b.host, b.port,
                                      path="/?token=t%d" % i))
        got = [cl.read_response().status for cl in clients]
    finally:
        for cl in clients:
            cl.close()
    assert got == [101] * 40, got
    clients_info = r.cli("INFO", "clients")
    n = int([l for l in clients_info.splitlines()
             if l.startswith("connected_clients:")][0].split(":")[1])
    assert n <= 4, "one connection per worker, not per lookup: %d" % n


# --- namespace, db, password -------------------------------------------------

def test_namespace(redis, redis_bridge, echo_backend):
    r = redis()
    r.cli("SET", "app:v1:" + TOKEN, echo_target(echo_backend))
    r.cli("SET", "bare-" + TOKEN, echo_target(echo_backend))
    b = redis_bridge("%s:%d:::\"app:v1\"" % (r.host, r.port))
    routes(b, TOKEN)
    assert status(b, "bare-" + TOKEN) == 403  # outside the namespace
    b2 = redis_bridge(r.source(ns="app"))
    assert status(b2, "v1:" + TOKEN) == 101
    assert status(b2, TOKEN) == 403


def test_db_and_password(redis, redis_bridge, echo_backend):
    r = redis(password=PASSWORD)
    r.cli("SET", TOKEN, echo_target(echo_backend), db=3)
    r.cli("SET", "db0-" + TOKEN, echo_target(echo_backend), db=0)
    b = redis_bridge(r.source(db=3))
    routes(b, TOKEN)
    assert status(b, "db0-" + TOKEN) == 403  # in db 0, not 3
    assert_clean_log(b, PASSWORD, TOKEN)


def test_wrong_or_missing_password_503(redis, redis_bridge, echo_backend):
    r = redis(password=PASSWORD)
    r.cli("SET", TOKEN, echo_target(echo_backend))
    wrong = "wrong-" + PASSWORD
    b = redis_bridge(r.source(password=wrong))
    assert status(b, TOKEN) == 503
    assert wait_for(lambda: "AUTH refused" in b.log(), 3), b.log()
    assert status(b, TOKEN) == 503
    assert b.proc.poll() is None
    assert_clean_log(b, PASSWORD, wrong, TOKEN)
    b2 = redis_bridge("%s:%d" % (r.host, r.port))  # no AUTH at all
    assert status(b2, TOKEN) == 503
    assert wait_for(lambda: "redis: error NOAUTH" in b2.log(), 3), b2.log()


def test_ipv6_redis(redis, redis_bridge, echo_backend):
    if not have_ipv6():
        pytest.skip("no IPv6 loopback")
    r = redis(host="::1")
    r.cli("SET", TOKEN, echo_target(echo_backend))
    b = redis_bridge(r.source())
    routes(b, TOKEN)


# --- Redis going away ------------------------------------------------------

def test_redis_stopped_then_restarted(redis, redis_bridge, echo_backend):
    r = redis()
    r.cli("SET", TOKEN, echo_target(echo_backend))
    b = redis_bridge(r.source())
    routes(b, TOKEN)
    r.stop()
    for _ in range(4):
        assert status(b, TOKEN) == 503
    assert b.proc.poll() is None, "the bridge died with Redis"
    assert wait_for(lambda: "lookups answer 503" in b.log(), 3), b.log()
    r.start()  # same port, empty: the value is set again
    r.cli("SET", TOKEN, echo_target(echo_backend))
    # Reconnects back off from 100 ms up to 5 s: within a few seconds.
    assert wait_for(lambda: all_route(b, TOKEN), 8, 0.2), b.log()
    routes(b, TOKEN)
    assert "answers again" in b.log()


def test_redis_idle_timeout_no_503(redis, redis_bridge, echo_backend):
    """Redis closing idle clients (its `timeout`) costs no lookup: a
    connection that answered is made again at once."""
    r = redis()
    r.cli("SET", TOKEN, echo_target(echo_backend))
    r.cli("CONFIG", "SET", "timeout", "1")
    b = redis_bridge(r.source())
    assert all_route(b, TOKEN)
    assert wait_for(lambda: b.log().count("closed the connection") >= 2, 6,
                    0.1), b.log()
    assert all_route(b, TOKEN, 4), b.log()
    assert "lookups answer 503" not in b.log(), b.log()


def test_redis_stopped_at_start(redis, redis_bridge, echo_backend):
    """A bridge whose Redis is not up yet answers 503, then routes."""
    r = redis()
    r.stop()
    b = redis_bridge(r.source())
    assert status(b, TOKEN) == 503
    r.start()
    r.cli("SET", TOKEN, echo_target(echo_backend))
    assert wait_for(lambda: all_route(b, TOKEN), 10, 0.2), b.log()


def test_redis_paused_503_after_timeout(redis, redis_bridge, echo_backend):
    r = redis()
    r.cli("SET", TOKEN, echo_target(echo_backend))
    b = redis_bridge(r.source())
    assert all_route(b, TOKEN)
    r.pause()
    t0 = time.monotonic()
    assert status(b, TOKEN) == 503
    dt = time.monotonic() - t0
    assert LOOKUP_TIMEOUT - 0.3 <= dt <= LOOKUP_TIMEOUT + 1.5, dt
    assert wait_for(lambda: "redis: timed out" in b.log(), 3), b.log()
    r.resume()
    # The stuck connection was dropped and a new one made.
    assert wait_for(lambda: all_route(b, TOKEN), 8, 0.2), b.log()


def leave(b, reset, n):
    """n clients send their upgrade and go: a FIN (a half-close, which
    still gets its answer) or a reset (the session ends at once)."""
    for _ in range(n):
        cl = RawClient(b.host, b.port)
        cl.send(handshake_request(b.host, b.port, path="/?token=" + TOKEN))
        if reset:
            cl.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                               struct.pack("ii", 1, 0))
        cl.close()


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "reset"])
def test_client_leaves_during_slow_lookup(redis, redis_bridge, echo_backend,
                                          reset):
    """Clients that go while their lookup waits on a stopped Redis: a
    cancelled lookup's record is freed by its late reply, or when the
    stuck connection is dropped; no crash, no leak (the ASan build's log
    is checked by the fixture), and the bridge routes once Redis answers
    again."""
    r = redis()
    r.cli("SET", TOKEN, echo_target(echo_backend))
    b = redis_bridge(r.source())
    assert all_route(b, TOKEN)
    r.pause()
    leave(b, reset, 10)
    time.sleep(0.3)
    r.resume()  # the replies to the waiting lookups arrive now
    assert wait_for(lambda: all_route(b, TOKEN), 8, 0.2), b.log()
    r.pause()
    leave(b, reset, 5)
    time.sleep(LOOKUP_TIMEOUT + 0.5)  # waiting ones time out or were
    r.resume()                        # cancelled, and the connection goes
    assert wait_for(lambda: all_route(b, TOKEN), 8, 0.2), b.log()
    assert b.proc.poll() is None


def test_shutdown_with_lookups_in_flight(redis, redis_bridge, echo_backend):
    """SIGTERM while sessions wait on a stopped Redis: a clean exit."""
    r = redis()
    r.cli("SET", TOKEN, echo_target(echo_backend))
    b = redis_bridge(r.source(), expect_exit=True)
    assert all_route(b, TOKEN)
    r.pause()
    clients = [RawClient(b.host, b.port) for _ in range(4)]
    for cl in clients:
        cl.send(handshake_request(b.host, b.port, path="/?token=" + TOKEN))
    time.sleep(0.3)
    b.proc.send_signal(signal.SIGTERM)
    rc = b.wait_exit(10)
    for cl in clients:
        cl.close()
    r.resume()
    assert rc == 0, "exit %r\n%s" % (rc, b.log())


# --- the source --------------------------------------------------------------

def run_cli(*args, timeout=20):
    return subprocess.run(wsbridge_argv0() + list(args), capture_output=True,
                          text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("src", [
    "h:notaport", "h:0", "h:65536", "h:1:x", "h:1:-1", "h:1:2:pw:ns:more",
    "h::::\"ns", "h::::\"ns\"x", ":6379", "[::1:6379",
    "no-such-host.invalid",
], ids=["port-word", "port-0", "port-big", "db-word", "db-negative",
        "six-fields", "unterminated-quote", "after-quote", "empty-host",
        "unterminated-bracket", "unresolvable"])
def test_bad_source_exits_2(src):
    r = run_cli("--token-plugin", "TokenRedis", "--token-source", src,
                "127.0.0.1:%d" % free_port())
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    assert "TokenRedis" in lines[0], lines


def test_bad_source_hides_password():
    for src in ("127.0.0.1:0:0:" + PASSWORD, "h:1:x:" + PASSWORD,
                "h:1:2:\"" + PASSWORD):
        r = run_cli("--token-plugin", "websockify.token_plugins.TokenRedis",
                    "--token-source", src, "127.0.0.1:%d" % free_port())
        assert r.returncode == 2, (src, r.stderr)
        assert PASSWORD not in r.stderr + r.stdout, r.stderr
