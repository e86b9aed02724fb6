"""Command line, lifecycle options, unix/IPv6 targets, workers, logging."""

import asyncio
import os
import re
import socket
import subprocess
import threading
import time

import pytest
import websockets

from backends import ThreadedServer
from conftest import wsbridge_argv0
from wsutil import (OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, ConnectionGone,
                    close_payload, free_port, have_ipv6, start_echo_backend,
                    stop_process, wait_for)


def run_cli(*args, timeout=10):
    return subprocess.run(wsbridge_argv0() + list(args), capture_output=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


async def ws_echo(url, data=b"hello", **kw):
    async with websockets.connect(url, subprotocols=["binary"], max_size=None,
                                  **kw) as ws:
        await ws.send(data)
        out = bytearray()
        while len(out) < len(data):
            out += await asyncio.wait_for(ws.recv(), 10)
        assert bytes(out) == data


def echo(url, data=b"hello"):
    asyncio.run(ws_echo(url, data))


# --- argument errors -------------------------------------------------------

BAD_ARGS = {
    "no-args": [],
    "only-source": ["PORTX"],
    "bad-source-port": ["abc", "127.0.0.1:5900"],
    "source-port-too-big": ["65536", "127.0.0.1:5900"],
    "bad-target-port": ["PORT", "127.0.0.1:abc"],
    "target-port-too-big": ["PORT", "127.0.0.1:70000"],
    "target-without-port": ["PORT", "127.0.0.1"],
    "heartbeat-x": ["--heartbeat", "x", "PORT", "127.0.0.1:5900"],
    "idle-timeout-x": ["--idle-timeout", "x", "PORT", "127.0.0.1:5900"],
    "unknown-option": ["--no-such-option", "PORT", "127.0.0.1:5900"],
    "too-many-args": ["PORT", "127.0.0.1:5900", "extra"],
}


@pytest.mark.parametrize("name", sorted(BAD_ARGS))
def test_bad_arguments_exit_2_with_usage(name):
    port = str(free_port())
    args = [a.replace("PORTX", port).replace("PORT", port)
            for a in BAD_ARGS[name]]
    r = run_cli(*args)
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 2, (r.returncode, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, "nothing on stderr"
    assert any("usage" in line.lower() for line in lines), err
    assert any("usage" not in line.lower() for line in lines), \
        "no message saying what was wrong: %r" % err
    assert len(lines) <= 4, "expected a one-line message and a usage " \
        "line, got:\n" + err


def test_help_exit_0():
    r = run_cli("--help")
    assert r.returncode == 0
    out = (r.stdout + r.stderr).decode()
    assert "usage" in out.lower()
    assert "--heartbeat" in out and "--run-once" in out


def test_version():
    r = run_cli("--version")
    assert r.returncode == 0
    out = (r.stdout + r.stderr).decode()
    assert re.search(r"\d+\.\d+", out), out


def test_unresolvable_target_is_not_fatal(start_bridge):
    b = start_bridge(target="no-such-host.invalid:5900")
    with b.raw(20) as cl:
        cl.handshake()
        code, reason = cl.recv_close(skip_data=False)
        assert code == 1011, (code, reason)
    assert b.proc.poll() is None


def test_bare_source_port(start_bridge, echo_backend):
    port = free_port()
    b = start_bridge(echo_backend[1], port=port, listen_spec=str(port))
    echo(b.url)


def test_port_in_use_is_refused(start_bridge, echo_backend):
    """One instance per port, as websockify and nginx: a second wsbridge
    on a port in use exits 1 saying so; the first goes on serving."""
    first = start_bridge(echo_backend[1])
    second = start_bridge(echo_backend[1], port=first.port, wait=False,
                          expect_exit=True)
    assert second.wait_exit(10) == 1, second.log()
    assert "Address already in use" in second.log(), second.log()
    assert "--reuse-port" in second.log(), second.log()
    echo(first.url)
    assert first.proc.poll() is None


def test_port_in_use_bare_port_is_refused(start_bridge, echo_backend):
    """The same for a bare port (every IPv4 and IPv6 address)."""
    port = free_port()
    first = start_bridge(echo_backend[1], port=port, listen_spec=str(port))
    second = start_bridge(echo_backend[1], port=port, listen_spec=str(port),
                          wait=False, expect_exit=True)
    assert second.wait_exit(10) == 1, second.log()
    assert "Address already in use" in second.log(), second.log()
    echo(first.url)


def test_reuse_port_joins_a_held_port(start_bridge, echo_backend):
    """--reuse-port: a new instance joins the port (a handover); both
    serve, and the first can go away without the port going down."""
    first = start_bridge(echo_backend[1], expect_exit=True)
    second = start_bridge(echo_backend[1], "--reuse-port", port=first.port)
    echo(second.url)
    # The port accepted already (the first instance): wait for the line.
    assert wait_for(lambda: "another process listens there too "
                    "(--reuse-port)" in second.log(), 5), second.log()
    alone = start_bridge(echo_backend[1], "--reuse-port")
    assert wait_for(lambda: "listening on" in alone.log(), 5)
    assert "another process listens" not in alone.log(), alone.log()
    first.proc.terminate()
    assert first.wait_exit(10) == 0
    for _ in range(5):
        echo(second.url)


# --- lifecycle ---------------------------------------------------------------

def test_run_once_exits_after_first_session(start_bridge, echo_backend):
    b = start_bridge(echo_backend[1], "--run-once", expect_exit=True)
    echo(b.url, os.urandom(1000))
    rc = b.wait_exit(5)
    assert rc == 0, "wsbridge --run-once: exit %r after the session" % rc


def test_run_once_ignores_failed_handshakes(start_bridge, echo_backend):
    """Only a WebSocket session counts: a bad request does not end it."""
    b = start_bridge(echo_backend[1], "--run-once", expect_exit=True)
    with b.raw() as cl:
        cl.send(b"POST / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert cl.read_response().status == 405
    time.sleep(0.3)
    assert b.proc.poll() is None, "exited after a failed handshake"
    echo(b.url)
    assert b.wait_exit(5) == 0


def test_idle_timeout_exits_without_sessions(start_bridge, echo_backend):
    t0 = time.monotonic()
    b = start_bridge(echo_backend[1], "--idle-timeout", "1", expect_exit=True)
    rc = b.wait_exit(5)
    dt = time.monotonic() - t0
    assert rc == 0, "exit %r" % rc
    assert 0.8 <= dt <= 4.0, "exited after %.1fs" % dt


def test_idle_timeout_waits_for_open_session(start_bridge, echo_backend):
    b = start_bridge(echo_backend[1], "--idle-timeout", "1", expect_exit=True)
    with b.raw() as cl:
        cl.handshake()
        for _ in range(4):  # 2 s of an open, active session
            time.sleep(0.5)
            cl.send_frame(OP_BINARY, b"tick")
            assert cl.recv_data(4) == b"tick"
        assert b.proc.poll() is None, "exited with a session open"
        cl.send_frame(OP_CLOSE, close_payload(1000))
        cl.recv_close()
    t0 = time.monotonic()
    rc = b.wait_exit(5)
    assert rc == 0 and time.monotonic() - t0 <= 4.0


def test_timeout_exits_when_nobody_connects(start_bridge, echo_backend):
    t0 = time.monotonic()
    b = start_bridge(echo_backend[1], "--timeout", "1", expect_exit=True)
    rc = b.wait_exit(6)
    dt = time.monotonic() - t0
    assert rc == 0, "exit %r" % rc
    assert 0.8 <= dt <= 5.0, "exited after %.1fs" % dt


def test_heartbeat_pings_and_answering_client_stays(start_bridge,
                                                    echo_backend):
    b = start_bridge(echo_backend[1], "--heartbeat", "1")
    with b.raw() as cl:
        cl.handshake()
        cl.settimeout(3)
        pings = 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3.5:
            try:
                fin, rsv, op, payload = cl.recv_frame()
            except Exception:
                break
            if op == OP_PING:
                pings += 1
                cl.send_frame(OP_PONG, payload)
            else:
                raise AssertionError("unexpected op %d %r" % (op, payload))
        assert pings >= 2, "%d pings in 3.5 s with --heartbeat 1" % pings
        cl.send_frame(OP_BINARY, b"still here")
        assert cl.recv_data(10) == b"still here"


def test_heartbeat_drops_client_that_ignores_pings(start_bridge,
                                                   echo_backend):
    b = start_bridge(echo_backend[1], "--heartbeat", "1")
    with b.raw() as cl:
        cl.handshake()
        t0 = time.monotonic()
        cl.settimeout(6)
        saw_ping = False
        try:
            while time.monotonic() - t0 < 6:
                fin, rsv, op, payload = cl.recv_frame()  # never answered
                if op == OP_PING:
                    saw_ping = True
            raise socket.timeout()
        except ConnectionGone:
            pass
        except socket.timeout:
            raise AssertionError("client ignoring pings still connected "
                                 "after %.1fs" % (time.monotonic() - t0))
        dt = time.monotonic() - t0
        assert saw_ping
        assert dt <= 4.5, "dropped only after %.1fs" % dt


def test_heartbeat_websockets_client_stays(start_bridge, echo_backend):
    b = start_bridge(echo_backend[1], "--heartbeat", "1")

    async def go():
        async with websockets.connect(b.url, subprotocols=["binary"],
                                      ping_interval=None) as ws:
            await asyncio.sleep(3.2)  # the library answers the pings
            await ws.send(b"abc")
            assert await asyncio.wait_for(ws.recv(), 5) == b"abc"

    asyncio.run(go())


# --- other targets -----------------------------------------------------------

def test_unix_target(start_bridge, tmp_path):
    path = str(tmp_path / "echo.sock")

    def handler(conn, server):
        while True:
            data = conn.recv(65536)
            if not data:
                return
            conn.sendall(data)

    srv = ThreadedServer(handler, unix_path=path)
    try:
        b = start_bridge(None, "--unix-target", path)
        data = os.urandom(300000)
        echo(b.url, data)
    finally:
        srv.close()


@pytest.mark.skipif(not have_ipv6(), reason="no ::1 on this host")
@pytest.mark.parametrize("opts", [["-6"], []], ids=["-6", "explicit-v6"])
def test_ipv6_listen_and_target(start_bridge, tmp_path, opts):
    proc, tport = start_echo_backend(host="::1",
                                     log_path=str(tmp_path / "echo6.log"))
    try:
        b = start_bridge(None, *opts, target="[::1]:%d" % tport,
                         listen_host="::1")
        echo(b.url, os.urandom(100000))
    finally:
        stop_process(proc)
        proc.stdout.close()


def test_workers_2(start_bridge, echo_backend):
    b = start_bridge(echo_backend[1], "--workers", "2")

    async def go():
        await asyncio.gather(*(ws_echo(b.url, os.urandom(20000))
                               for _ in range(60)))

    asyncio.run(go())


# --- logging -------------------------------------------------------------------

def test_log_lines_for_connect_and_close(start_bridge, echo_backend):
    tport = echo_backend[1]
    b = start_bridge(tport, "-v")
    data = os.urandom(12345)
    with b.raw() as cl:
        cl.handshake()
        cl.send_frame(OP_BINARY, data)
        assert cl.recv_data(len(data)) == data
        cl.send_frame(OP_CLOSE, close_payload(1000))
        cl.recv_close()
        cl.expect_eof(5)
    time.sleep(0.3)
    log = b.log()
    target = "127.0.0.1:%d" % tport
    lines = log.splitlines()
    connect = [l for l in lines if target in l and "127.0.0.1" in
               l.replace(target, "")]
    assert connect, "no line with the client address and target %s:\n%s" % (
        target, log)
    closes = [l for l in lines if "close" in l.lower() and "1000" in l]
    assert closes, "no close line with the code:\n" + log
    assert any("12345" in l for l in closes), \
        "close line has no byte count (12345 each way):\n" + log


def test_log_lines_without_verbose(start_bridge, echo_backend):
    """Connection and close lines are worth logging at the default level."""
    tport = echo_backend[1]
    b = start_bridge(tport)
    echo(b.url)
    time.sleep(0.3)
    log = b.log()
    assert "127.0.0.1:%d" % tport in log, log
    assert "close" in log.lower(), log
