"""Wrap mode (issue 9): `wsbridge [options] PORT -- COMMAND ARGS...`.

Real programs bind the source port (python3 -m http.server, socat, a
small Python server with an IPv4 and an IPv6 socket); rebind.so moves
that bind to 127.0.0.1 on a free port, which the bridge targets.  Each
--wrap-mode, the respawn throttle, and stopping: the command's whole
process group goes with wsbridge.  Debian's websockify ships no rebind.so,
so there is no side-by-side run with it here."""

import os
import re
import signal
import struct
import sys
import time

import pytest

from conftest import SANITIZER_RE, Bridge, wsbridge_argv0
from wsutil import (OP_BINARY, OP_CLOSE, PY, ConnectionGone, RawClient,
                    free_port, have_ipv6, wait_for)

STARTED_RE = re.compile(r"wrapped command started, pid (\d+)")
TARGET_RE = re.compile(r"proxying to 127\.0\.0\.1:(\d+)")


def need(prog):
    path = "/usr/bin/" + prog
    if not os.access(path, os.X_OK):
        pytest.skip("needs %s" % prog)
    return path


@pytest.fixture
def wrapped(request, tmp_path):
    """wrapped(cmd, *opts, wait=True, expect_exit=False, listen=None)
    -> Bridge running `wsbridge opts 127.0.0.1:PORT -- cmd`, where "{port}"
    in cmd is the source port.  Stopped at teardown (the command with
    it); a sanitizer report or an unexpected exit fails the test."""
    bridges = []

    def start(cmd, *opts, wait=True, expect_exit=False, listen=None):
        port = free_port()
        spec = listen.format(port=port) if listen else "127.0.0.1:%d" % port
        cmd = [c.format(port=port) for c in cmd]
        argv = wsbridge_argv0() + list(opts) + [spec, "--"] + cmd
        log = str(tmp_path / ("wsbridge-%d.log" % len(bridges)))
        b = Bridge(argv, log, "127.0.0.1", port, expect_exit)
        bridges.append(b)
        if wait:
            b.wait_ready()
        return b

    yield start
    problems = []
    for b in bridges:
        if b.proc.poll() is not None and not b.expect_exit:
            problems.append("wsbridge exited by itself with %r"
                            % b.proc.returncode)
        pids = child_pids(b)
        if b.proc.poll() is None:
            b.proc.send_signal(signal.SIGTERM)
            if b.wait_exit(15) is None:
                b.proc.kill()
                b.proc.wait(5)
        for pid in pids:
            if not wait_for(lambda: gone(pid), 3):
                problems.append("wrapped command %d outlived wsbridge" % pid)
                os.kill(pid, signal.SIGKILL)
        m = SANITIZER_RE.search(b.log().encode())
        if m:
            problems.append("log has %r" % m.group(0))
        rep = getattr(request.node, "rep_call", None)
        if problems or (rep is not None and rep.failed):
            sys.stdout.write("\n--- %s ---\n%s\n" % (b.argv, b.log()[-6000:]))
    if problems:
        pytest.fail("; ".join(problems))


def child_pids(b):
    return [int(p) for p in STARTED_RE.findall(b.log())]


def gone(pid):
    """The process has exited (a zombie that no reaper took counts)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def target_port(b):
    m = wait_for(lambda: TARGET_RE.search(b.log()), 5)
    assert m, b.log()
    return int(m.group(1))


def wait_log(b, pattern, timeout=10, count=1):
    ok = wait_for(lambda: len(re.findall(pattern, b.log())) >= count,
                  timeout)
    assert ok, "no %r (x%d) in the log:\n%s" % (pattern, count, b.log())


def exchange(port, data, want=None, timeout=15):
    """Send data through the bridge as one binary message and read what
    comes back: until want bytes, or until the target closes (Close 1000).
    A session refused because the command has not bound yet (Close 1011
    before any byte) is retried until timeout."""
    deadline = time.monotonic() + timeout
    while True:
        got, code = bytearray(), None
        try:
            with RawClient("127.0.0.1", port, timeout=5) as cl:
                cl.handshake()
                cl.send_frame(OP_BINARY, data)
                while want is None or len(got) < want:
                    fin, rsv, op, payload = cl.recv_frame()
                    if op == OP_CLOSE:
                        code = struct.unpack("!H", payload[:2])[0]
                        cl.send_frame(OP_CLOSE, payload[:2])
                        break
                    got += payload
        except ConnectionGone:
            pass
        if got or time.monotonic() > deadline:
            return bytes(got), code
        assert code in (None, 1011), code
        time.sleep(0.1)


def http_get(port, path):
    out, code = exchange(port, b"GET %s HTTP/1.0\r\n\r\n" % path.encode())
    assert code == 1000, (code, out[:200])
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200"), out[:200]
    return body


@pytest.fixture
def www(tmp_path):
    d = tmp_path / "www"
    d.mkdir()
    (d / "hello.txt").write_bytes(b"hello from the wrapped server\n")
    return str(d)


# --- the command is reached ------------------------------------------------

def test_http_server_reached_through_rebind(wrapped, www):
    b = wrapped([PY, "-m", "http.server", "{port}", "--bind", "127.0.0.1",
                 "--directory", www])
    assert http_get(b.port, "/hello.txt") == \
        b"hello from the wrapped server\n"
    new = target_port(b)
    # The command serves on the new port of the loopback, not the old.
    assert re.search(r"Serving HTTP on 127\.0\.0\.1 port %d " % new,
                     b.log()), b.log()
    [pid] = child_pids(b)
    assert os.getpgid(pid) == pid, "the command has its own process group"
    with open("/proc/%d/environ" % pid, "rb") as f:
        env = dict(v.split(b"=", 1) for v in f.read().split(b"\0") if v)
    assert env[b"REBIND_OLD_PORT"] == str(b.port).encode()
    assert env[b"REBIND_NEW_PORT"] == str(new).encode()
    assert env[b"LD_PRELOAD"].endswith(b"/rebind.so")
    assert os.path.isabs(env[b"LD_PRELOAD"])


def test_existing_ld_preload_kept_and_systemd_variables_dropped(
        wrapped, monkeypatch):
    # An ASan wsbridge refuses a preload before its runtime unless told.
    monkeypatch.setenv("ASAN_OPTIONS", os.environ.get("ASAN_OPTIONS", "")
                       + ":verify_asan_link_order=0")
    monkeypatch.setenv("LD_PRELOAD", "libm.so.6")
    monkeypatch.setenv("LISTEN_FDNAMES", "x")
    b = wrapped(["/bin/sleep", "300"])
    wait_log(b, STARTED_RE.pattern)
    [pid] = child_pids(b)
    with open("/proc/%d/environ" % pid, "rb") as f:
        env = dict(v.split(b"=", 1) for v in f.read().split(b"\0") if v)
    first, _, rebind = env[b"LD_PRELOAD"].partition(b":")
    assert first == b"libm.so.6" and rebind.endswith(b"/rebind.so"), env
    assert b"LISTEN_FDNAMES" not in env


def echo_cases():
    cases = [
        ("socat-tcp4", ["socat", "TCP4-LISTEN:{port},reuseaddr,fork",
                        "EXEC:cat"]),
        ("socat-tcp6", ["socat", "TCP6-LISTEN:{port},reuseaddr,fork",
                        "EXEC:cat"]),
        ("socat-tcp6-ipv6only", ["socat",
                                 "TCP6-LISTEN:{port},reuseaddr,fork,"
                                 "ipv6only=1", "EXEC:cat"]),
        ("python-v4-then-v6", [PY, "-c", DUAL, "{port}", "46"]),
        ("python-v6-then-v4", [PY, "-c", DUAL, "{port}", "64"]),
    ]
    return [pytest.param(c, id=i) for i, c in cases]


# A server that listens on 0.0.0.0:PORT and [::]:PORT (IPV6_V6ONLY), in
# the order given, as nginx and TigerVNC do, and echoes on both.
DUAL = r"""
import selectors, socket, sys
port, order = int(sys.argv[1]), sys.argv[2]
sel = selectors.DefaultSelector()
for f in order:
    if f == "4":
        s = socket.socket(socket.AF_INET)
        s.bind(("0.0.0.0", port))
    else:
        s = socket.socket(socket.AF_INET6)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind(("::", port))
    s.listen()
    print("listening", s.getsockname(), flush=True)
    sel.register(s, selectors.EVENT_READ, "listen")
while True:
    for key, _ in sel.select():
        if key.data == "listen":
            c, _ = key.fileobj.accept()
            sel.register(c, selectors.EVENT_READ, "conn")
        else:
            d = key.fileobj.recv(65536)
            if d:
                key.fileobj.sendall(d)
            else:
                sel.unregister(key.fileobj)
                key.fileobj.close()
"""


@pytest.mark.parametrize("cmd", echo_cases())
def test_echo_servers_ipv4_and_ipv6(wrapped, cmd):
    if any("6" in c for c in cmd[1:]) and not have_ipv6():
        pytest.skip("no IPv6")
    if cmd[0] == "socat":
        cmd = [need("socat")] + cmd[1:]
    b = wrapped(cmd)
    out, code = exchange(b.port, b"ping through rebind\n", want=20)
    assert out == b"ping through rebind\n", (out, code)


def test_http_server_bound_to_ipv6_any(wrapped, www):
    if not have_ipv6():
        pytest.skip("no IPv6")
    b = wrapped([PY, "-m", "http.server", "{port}", "--bind", "::",
                 "--directory", www], listen="{port}")
    assert http_get(b.port, "/hello.txt") == \
        b"hello from the wrapped server\n"
    # The dual-stack socket took the IPv4 loopback (v4-mapped).
    assert re.search(r"Serving HTTP on ::ffff:127\.0\.0\.1 port %d "
                     % target_port(b),
                     b.log()), b.log()


# --- --wrap-mode -----------------------------------------------------------

@pytest.mark.parametrize("opts,script,status,how", [
    ((), "sleep 0.3; exit 7", 7, "exited with status 7"),
    (("--wrap-mode", "exit"), "sleep 0.3; kill -KILL $$", 137,
     "was killed by SIGKILL"),
    (("--wrap-mode", "exit"), "exit 0", 0, "exited with status 0"),
], ids=["default-status-7", "killed-137", "status-0"])
def test_exit_mode_exits_with_the_command_status(wrapped, opts, script,
                                                 status, how):
    b = wrapped(["/bin/sh", "-c", script], *opts, wait=False,
                expect_exit=True)
    assert b.wait_exit(15) == status, b.log()
    assert re.search(r"wrapped command \(pid \d+\) %s; --wrap-mode exit: "
                     r"exiting with status %d" % (how, status),
                     b.log()), b.log()


def test_ignore_mode_keeps_serving(wrapped):
    b = wrapped(["/bin/sh", "-c", "exit 3"], "--wrap-mode", "ignore")
    wait_log(b, r"exited with status 3; --wrap-mode ignore")
    time.sleep(0.3)
    assert b.proc.poll() is None
    # Still accepting; the target is gone, so the session is refused.
    out, code = exchange(b.port, b"x", timeout=0)
    assert (out, code) == (b"", 1011)
    assert len(child_pids(b)) == 1, "ignore must not restart it"


def test_respawn_restarts_a_killed_server(wrapped, www):
    b = wrapped([PY, "-m", "http.server", "{port}", "--bind", "127.0.0.1",
                 "--directory", www], "--wrap-mode", "respawn")
    assert http_get(b.port, "/hello.txt").startswith(b"hello")
    [first] = child_pids(b)
    os.kill(first, signal.SIGKILL)
    wait_log(b, STARTED_RE.pattern, count=2)
    second = child_pids(b)[1]
    assert second != first
    assert "was killed by SIGKILL; --wrap-mode respawn" in b.log()
    assert http_get(b.port, "/hello.txt").startswith(b"hello")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_respawn_throttled_after_three_quick_deaths(wrapped):
    b = wrapped(["/bin/sh", "-c", "exit 1"], "--wrap-mode", "respawn")
    wait_log(b, r"respawning too fast \(3 starts within 10 s\): "
             r"starting it again in \d+\.\d s")
    cpu = cpu_seconds(b.pid)
    time.sleep(2)
    # Three starts, then a wait (websockify: 3 within 10 s), no busy loop.
    assert len(child_pids(b)) == 3, b.log()
    assert b.log().count("respawning too fast") == 1, b.log()
    assert cpu_seconds(b.pid) - cpu < 0.2
    assert b.proc.poll() is None


# --- stopping --------------------------------------------------------------

def test_sigterm_stops_the_command_and_its_children(wrapped, tmp_path):
    pidfile = tmp_path / "sleep.pid"
    b = wrapped(["/bin/sh", "-c", "sleep 300 & echo $! > %s; wait"
                 % pidfile])
    assert wait_for(lambda: pidfile.exists() and pidfile.read_text(), 5)
    [sh] = child_pids(b)
    sleeper = int(pidfile.read_text())
    b.expect_exit = True
    b.proc.send_signal(signal.SIGTERM)
    assert b.wait_exit(10) == 0, b.log()
    assert gone(sh) and wait_for(lambda: gone(sleeper), 2)
    assert "stopping the wrapped command (pid %d)" % sh in b.log()
    assert "SIGKILL" not in b.log(), "SIGTERM was enough"


def test_a_command_ignoring_sigterm_gets_sigkill(wrapped, tmp_path):
    pidfile = tmp_path / "sleep.pid"
    b = wrapped(["/bin/sh", "-c", "trap '' TERM; sleep 300 & echo $! > %s;"
                 " wait" % pidfile])
    assert wait_for(lambda: pidfile.exists() and pidfile.read_text(), 5)
    sleeper = int(pidfile.read_text())
    b.expect_exit = True
    t0 = time.monotonic()
    b.proc.send_signal(signal.SIGTERM)
    assert b.wait_exit(15) == 0, b.log()
    assert 4.5 < time.monotonic() - t0 < 10
    assert "still running 5000 ms after SIGTERM: SIGKILL" in b.log()
    assert wait_for(lambda: gone(sleeper), 2)


def test_command_dies_when_wsbridge_is_killed(wrapped, www):
    b = wrapped([PY, "-m", "http.server", "{port}", "--bind", "127.0.0.1",
                 "--directory", www], expect_exit=True)
    wait_log(b, STARTED_RE.pattern)
    [pid] = child_pids(b)
    b.proc.kill()
    b.proc.wait(5)
    assert wait_for(lambda: gone(pid), 5), "orphan left behind"


def test_daemon_detaches_and_the_command_follows(wrapped, www, tmp_path):
    pidfile = tmp_path / "wsbridge.pid"
    b = wrapped([PY, "-m", "http.server", "{port}", "--bind", "127.0.0.1",
                 "--directory", www], "-D", "--pid-file", str(pidfile),
                "--log-file", str(tmp_path / "d.log"), wait=False,
                expect_exit=True)
    # The -D parent exits once serving: the command holds no pipe of its.
    assert b.wait_exit(10) == 0, b.log()
    daemon = int(pidfile.read_text())
    try:
        assert http_get(b.port, "/hello.txt").startswith(b"hello")
        log = (tmp_path / "d.log").read_text()
        [pid] = [int(p) for p in STARTED_RE.findall(log)]
        os.kill(daemon, signal.SIGTERM)
        assert wait_for(lambda: gone(daemon) and gone(pid), 10), log
    finally:
        if not gone(daemon):
            os.kill(daemon, signal.SIGKILL)


# --- start-up errors -------------------------------------------------------

@pytest.mark.parametrize("cmd,mode,env,msg", [
    (["no-such-command-wsb"], None, {},
     "cannot run no-such-command-wsb: command not found"),
    (["{tmp}/prog"], 0o644, {}, "cannot run {tmp}/prog: Permission denied"),
    # Found and executable, refused by execve: told by the child.
    (["{tmp}/prog"], 0o755, {}, "cannot run {tmp}/prog: Exec format error"),
    (["/bin/true"], None, {"WSBRIDGE_REBIND": "/nonexistent/rebind.so"},
     "cannot use /nonexistent/rebind.so: No such file or directory "
     "(WSBRIDGE_REBIND)"),
], ids=["not-on-path", "not-executable", "not-a-program", "no-rebind"])
def test_start_errors(wrapped, monkeypatch, tmp_path, cmd, mode, env, msg):
    prog = tmp_path / "prog"
    prog.write_bytes(b"\x7fELF garbage\n")
    if mode is not None:
        prog.chmod(mode)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    cmd = [c.replace("{tmp}", str(tmp_path)) for c in cmd]
    b = wrapped(cmd, wait=False, expect_exit=True)
    assert b.wait_exit(10) == 1, b.log()
    assert msg.replace("{tmp}", str(tmp_path)) in b.log(), b.log()
