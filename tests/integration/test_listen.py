"""Listening sockets handed in (issue 9): --inetd (a listening socket on
standard input), --unix-listen FILE with its mode, socket activation under
the real systemd-socket-activate, and the Type=notify messages read from a
NOTIFY_SOCKET the test opens."""

import asyncio
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import time

import pytest
import websockets

from conftest import SANITIZER_RE, wsbridge_argv0
from wsutil import (OP_BINARY, RawClient, die_with_parent, stop_process,
                    wait_accepting, wait_for)

SANITIZER_ENV = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")


class Proc:
    """A wsbridge (or websockify, or systemd-socket-activate) process with
    its output in a file."""

    def __init__(self, argv, log_path, **kw):
        self.argv = argv
        self.log_path = log_path
        with open(log_path, "ab") as log:
            kw.setdefault("stdin", subprocess.DEVNULL)
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log,
                                         start_new_session=True,
                                         preexec_fn=die_with_parent, **kw)

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_exit(self, timeout=10):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None


@pytest.fixture
def spawn(tmp_path, request):
    """spawn(argv, **popen_kw) -> Proc, stopped at teardown; a sanitizer
    report in its output fails the test."""
    procs = []

    def start(argv, **kw):
        p = Proc(argv, str(tmp_path / ("proc-%d.log" % len(procs))), **kw)
        procs.append(p)
        return p

    yield start
    problems = []
    for p in procs:
        stop_process(p.proc)
        log = p.log()
        m = SANITIZER_RE.search(log.encode())
        if m:
            problems.append("%s: %r" % (p.argv, m.group(0)))
        rep = getattr(request.node, "rep_call", None)
        if m or (rep is not None and rep.failed):
            print("--- %s ---\n%s" % (p.argv, log[-4000:]))
    if problems:
        pytest.fail("; ".join(problems))


def error_lines(text):
    """The lines that say what went wrong (not the usage lines, not the
    start-up info lines)."""
    return [x for x in text.splitlines()
            if x.startswith("wsbridge: ") or " fatal" in x]


def run_refused(argv, **kw):
    """Run a bridge that must refuse to start: (exit status, output)."""
    r = subprocess.run(argv, capture_output=True, timeout=20, **kw)
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    assert not SANITIZER_RE.search(out.encode()), out
    return r.returncode, out


# --- clients ---------------------------------------------------------------

def connect_ws(url, path=None):
    kw = dict(subprotocols=["binary"], open_timeout=10, close_timeout=5)
    if path is not None:
        return websockets.unix_connect(path, url, **kw)
    return websockets.connect(url, **kw)


def ws_echo(url, data=b"hello through the bridge", path=None):
    """One WebSocket session with python websockets: what came back."""
    async def go():
        async with connect_ws(url, path) as ws:
            await ws.send(data)
            got = b""
            while len(got) < len(data):
                got += await asyncio.wait_for(ws.recv(), 10)
            await ws.close()
            assert ws.close_code == 1000
            return got
    return asyncio.run(asyncio.wait_for(go(), 30))


def unix_raw(path, timeout=10.0):
    """A RawClient over a Unix socket (RawClient connects TCP itself)."""
    cl = RawClient.__new__(RawClient)
    cl.host, cl.port = "localhost", 80
    cl.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    cl.sock.settimeout(timeout)
    cl.sock.connect(path)
    cl.buf, cl.eof, cl.response = bytearray(), False, None
    return cl


def raw_echo(cl, data=b"raw bytes \x00\xff"):
    with cl:
        cl.handshake()
        cl.send_frame(OP_BINARY, data)
        assert cl.recv_data(len(data)) == data


def wait_unix(path, proc, timeout=10.0):
    """Poll until the Unix socket at path accepts."""
    def ok():
        if proc.poll() is not None:
            raise AssertionError("exited with %r" % proc.returncode)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return True
        except OSError:
            return False
        finally:
            s.close()
    assert wait_for(ok, timeout, 0.02), "%s never accepted" % path


def listening_socket(host="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((host, 0))
    s.listen(64)
    return s


# --- --inetd ---------------------------------------------------------------

def test_inetd_echo(spawn, echo_backend):
    """The listening socket on standard input, as inetd (or a supervisor)
    passes it: sessions through it echo, with websockets and raw frames;
    the start-up line names the socket's address."""
    lsock = listening_socket()
    port = lsock.getsockname()[1]
    b = spawn(wsbridge_argv0() + ["--inetd", "127.0.0.1:%d" %
                                  echo_backend[1]], stdin=lsock.fileno())
    wait_accepting("127.0.0.1", port, b.proc)
    url = "ws://127.0.0.1:%d/" % port
    assert ws_echo(url) == b"hello through the bridge"
    raw_echo(RawClient("127.0.0.1", port))
    assert wait_for(lambda: "listening on 127.0.0.1:%d" % port in b.log())
    lsock.close()


def test_inetd_compared_with_websockify(spawn, echo_backend):
    """Debian's websockify --inetd serves the same socket the same way
    (the reference for the option's meaning)."""
    if shutil.which("websockify") is None:
        pytest.skip("websockify not installed")
    lsock = listening_socket()
    port = lsock.getsockname()[1]
    spawn(["websockify", "--inetd", "127.0.0.1:%d" % echo_backend[1]],
          stdin=lsock.fileno())
    lsock.close()
    wait_accepting("127.0.0.1", port, None)
    assert ws_echo("ws://127.0.0.1:%d/" % port) == \
        b"hello through the bridge"


def inetd_stdin_cases():
    def devnull():
        return open(os.devnull, "rb")

    def unlistened():
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        return s

    def udp():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        return s

    return [("not a socket", devnull, "is not a socket"),
            ("bound, not listening", unlistened, "does not listen"),
            ("a datagram socket", udp, "is not a stream socket")]


@pytest.mark.parametrize("desc,make,words", inetd_stdin_cases(),
                         ids=[c[0] for c in inetd_stdin_cases()])
def test_inetd_bad_stdin(echo_backend, desc, make, words):
    """Standard input that is no listening stream socket: exit 1 and one
    line that says what is wrong with it."""
    f = make()
    try:
        code, out = run_refused(wsbridge_argv0() + [
            "--inetd", "127.0.0.1:%d" % echo_backend[1]], stdin=f.fileno())
    finally:
        f.close()
    assert code == 1, out
    errs = error_lines(out)
    assert len(errs) == 1, out
    assert "--inetd: standard input " in errs[0] and words in errs[0], out


# --- --unix-listen ---------------------------------------------------------

def unix_bridge(spawn, path, target_port, *opts):
    b = spawn(wsbridge_argv0() + list(opts) + [
        "--unix-listen", path, "127.0.0.1:%d" % target_port])
    wait_unix(path, b.proc)
    return b


def test_unix_listen_echo_and_default_mode(spawn, echo_backend, tmp_path):
    """Sessions over the Unix socket (python websockets' unix_connect and
    a raw client) echo; the file is a socket with mode 0600; the session's
    peer is logged as "unix"."""
    path = str(tmp_path / "ws.sock")
    b = unix_bridge(spawn, path, echo_backend[1], "-v")
    st = os.lstat(path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert ws_echo("ws://localhost/", path=path) == \
        b"hello through the bridge"
    raw_echo(unix_raw(path))
    assert wait_for(lambda: re.search(
        r"session \d+: unix: WebSocket \(ws://\) connection", b.log())), \
        b.log()


@pytest.mark.parametrize("mode", [0o660, 0o666, 0o700])
def test_unix_listen_mode(spawn, echo_backend, tmp_path, mode):
    """--unix-listen-mode gives the file exactly that mode, whatever the
    umask of the process (0022 here would take group/other write away)."""
    path = str(tmp_path / "ws.sock")
    old = os.umask(0o022)
    try:
        unix_bridge(spawn, path, echo_backend[1], "--unix-listen-mode",
                    "%o" % mode)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.lstat(path).st_mode) == mode
    assert ws_echo("ws://localhost/", path=path) == \
        b"hello through the bridge"


def test_unix_listen_mode_from_the_start(spawn, echo_backend, tmp_path):
    """The socket file never exists with wider permissions than the mode:
    a watcher polling for it from before the start sees 0600 the first
    time it sees the file at all."""
    path = str(tmp_path / "ws.sock")
    seen = []
    b = spawn(wsbridge_argv0() + ["--unix-listen", path,
                                  "127.0.0.1:%d" % echo_backend[1]])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            seen.append(stat.S_IMODE(os.lstat(path).st_mode))
            break
        except FileNotFoundError:
            pass
    wait_unix(path, b.proc)
    assert seen == [0o600]


def test_unix_listen_replaces_stale_socket(spawn, echo_backend, tmp_path):
    """A socket file nobody listens on (left by an instance that died) is
    replaced."""
    path = str(tmp_path / "ws.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()
    os.chmod(path, 0o777)
    unix_bridge(spawn, path, echo_backend[1])
    # (Inode numbers are reused at once: the mode tells the files apart.)
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600
    assert ws_echo("ws://localhost/", path=path) == \
        b"hello through the bridge"


def test_unix_listen_refuses_regular_file(echo_backend, tmp_path):
    """Any other file at the path: exit 1, one line, the file untouched."""
    path = tmp_path / "ws.sock"
    path.write_bytes(b"precious data\n")
    os.chmod(path, 0o640)
    before = os.lstat(path)
    code, out = run_refused(wsbridge_argv0() + [
        "--unix-listen", str(path), "127.0.0.1:%d" % echo_backend[1]])
    assert code == 1, out
    errs = error_lines(out)
    assert len(errs) == 1 and "exists and is not a socket" in errs[0], out
    after = os.lstat(path)
    assert path.read_bytes() == b"precious data\n"
    assert (after.st_ino, after.st_mode, after.st_mtime_ns) == \
        (before.st_ino, before.st_mode, before.st_mtime_ns)


def test_unix_listen_live_socket(spawn, echo_backend, tmp_path):
    """A socket another instance serves is not taken from it (one instance
    per address, as for a TCP port): exit 1, the first one unaffected;
    --reuse-port takes it over on purpose (a new instance replacing one
    that drains)."""
    path = str(tmp_path / "ws.sock")
    first = unix_bridge(spawn, path, echo_backend[1])
    code, out = run_refused(wsbridge_argv0() + [
        "--unix-listen", path, "127.0.0.1:%d" % echo_backend[1]])
    assert code == 1, out
    errs = error_lines(out)
    assert len(errs) == 1 and "Address already in use" in errs[0], out
    assert ws_echo("ws://localhost/", path=path) == \
        b"hello through the bridge"
    n = first.log().count("WebSocket (ws://) connection")
    second = spawn(wsbridge_argv0() + [
        "--reuse-port", "--unix-listen", path, "--unix-listen-mode", "660",
        "127.0.0.1:%d" % echo_backend[1]])
    # The old file answers until the new one is in its place.
    assert wait_for(lambda: stat.S_IMODE(os.lstat(path).st_mode) == 0o660,
                    10), second.log()
    ws_echo("ws://localhost/", path=path)
    assert wait_for(lambda: "WebSocket (ws://) connection" in second.log())
    assert first.log().count("WebSocket (ws://) connection") == n
    assert first.proc.poll() is None


def test_unix_listen_socket_closes_on_stop(spawn, echo_backend, tmp_path):
    """SIGUSR2 (drain): the socket stops accepting at once (connections
    are refused, not queued), and the file is left, as websockify leaves
    it."""
    path = str(tmp_path / "ws.sock")
    b = unix_bridge(spawn, path, echo_backend[1])
    os.kill(b.pid, signal.SIGUSR2)
    assert b.wait_exit(10) == 0, b.log()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with pytest.raises(ConnectionRefusedError):
        s.connect(path)
    s.close()
    assert stat.S_ISSOCK(os.lstat(path).st_mode)


# --- socket activation -----------------------------------------------------

def activate_argv(ports, *extra):
    """systemd-socket-activate listening on 127.0.0.1:PORT for each port.
    It starts its child with an environment of its own: the sanitizers'
    options must be passed with -E."""
    ssa = shutil.which("systemd-socket-activate")
    if ssa is None:
        pytest.skip("needs systemd-socket-activate (apt-get install systemd)")
    argv = [ssa]
    for p in ports:
        argv += ["-l", "127.0.0.1:%d" % p]
    for k in SANITIZER_ENV:
        if k in os.environ:
            argv += ["-E", k]
    return argv + list(extra)


def free_ports(n):
    socks = [listening_socket() for _ in range(n)]
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.parametrize("nsock", [1, 2])
def test_socket_activation(spawn, echo_backend, nsock):
    """wsbridge started by systemd-socket-activate (the program is started
    at the first connection, which it then serves) serves every passed
    socket; no source address is needed."""
    ports = free_ports(nsock)
    b = spawn(activate_argv(ports) + wsbridge_argv0() + [
        "127.0.0.1:%d" % echo_backend[1]])
    wait_accepting("127.0.0.1", ports[0], b.proc)
    for p in ports:
        assert ws_echo("ws://127.0.0.1:%d/" % p) == \
            b"hello through the bridge"
        raw_echo(RawClient("127.0.0.1", p))
    want = " ".join("127.0.0.1:%d" % p for p in ports)
    assert wait_for(lambda: "listening on %s " % want in b.log()), b.log()


def test_socket_activation_source_given(spawn, echo_backend):
    """A source address given anyway is parsed, not bound: the passed
    socket is served and the log says so."""
    port, unused = free_ports(2)
    b = spawn(activate_argv([port]) + wsbridge_argv0() + [
        "127.0.0.1:%d" % unused, "127.0.0.1:%d" % echo_backend[1]])
    wait_accepting("127.0.0.1", port, b.proc)
    assert ws_echo("ws://127.0.0.1:%d/" % port) == \
        b"hello through the bridge"
    assert "serving the 1 socket passed, not the listen address" in b.log()
    s = socket.socket()
    with pytest.raises(ConnectionRefusedError):
        s.connect(("127.0.0.1", unused))
    s.close()


def test_socket_activation_env(spawn, echo_backend, tmp_path):
    """-E passes the environment a unit would set: here NOTIFY_SOCKET, so
    READY=1 comes from the activated process itself (LISTEN_PID is its
    pid: systemd-socket-activate execs it)."""
    port, = free_ports(1)
    notify, npath = notify_socket(tmp_path)
    b = spawn(activate_argv([port], "-E", "NOTIFY_SOCKET=" + npath) +
              wsbridge_argv0() + ["127.0.0.1:%d" % echo_backend[1]])
    wait_accepting("127.0.0.1", port, b.proc)
    msg, pid = recv_notify(notify, "READY=1")
    assert pid == b.pid
    assert ws_echo("ws://127.0.0.1:%d/" % port) == \
        b"hello through the bridge"


def test_socket_activation_datagram_refused(echo_backend):
    """A passed socket that is not a stream socket: exit 1, one line."""
    port, = free_ports(1)
    argv = activate_argv([port], "--datagram") + wsbridge_argv0() + [
        "127.0.0.1:%d" % echo_backend[1]]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         preexec_fn=die_with_parent)
    try:
        # A datagram to the socket starts the program.
        wait_for(lambda: (socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                          .sendto(b"x", ("127.0.0.1", port)) and False) or
                 p.poll() is not None, 10, 0.1)
        code = p.wait(10)
    finally:
        stop_process(p)
    out = p.stdout.read().decode()
    p.stdout.close()
    assert code == 1, out
    errs = error_lines(out)
    assert len(errs) == 1 and "descriptor 3 is not a stream socket" in \
        errs[0], out


# --- Type=notify -----------------------------------------------------------

def notify_socket(tmp_path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    s.bind(path)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    s.settimeout(10)
    return s, path


def recv_notify(s, word):
    """The next datagram (its fields, the sender's pid), which must hold
    word."""
    msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = None
    for level, typ, data in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
            pid = int.from_bytes(data[0:4], "little")
    fields = dict(x.split("=", 1) for x in msg.decode().split("\n") if x)
    assert word in msg.decode().split("\n"), msg
    return fields, pid


def accepts(port):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def test_notify_lifecycle(spawn, echo_backend, tmp_path):
    """READY=1 only once the port accepts; SIGHUP: RELOADING=1 with the
    monotonic time, then READY=1; SIGTERM: STOPPING=1."""
    notify, npath = notify_socket(tmp_path)
    port, = free_ports(1)
    b = spawn(wsbridge_argv0() + ["127.0.0.1:%d" % port,
                                  "127.0.0.1:%d" % echo_backend[1]],
              env=dict(os.environ, NOTIFY_SOCKET=npath))
    fields, pid = recv_notify(notify, "READY=1")
    assert accepts(port), "READY=1 before the port accepts"
    assert pid == b.pid
    assert ws_echo("ws://127.0.0.1:%d/" % port) == \
        b"hello through the bridge"

    before = time.clock_gettime(time.CLOCK_MONOTONIC)
    os.kill(b.pid, signal.SIGHUP)
    fields, _ = recv_notify(notify, "RELOADING=1")
    after = time.clock_gettime(time.CLOCK_MONOTONIC)
    usec = int(fields["MONOTONIC_USEC"])
    assert before * 1e6 <= usec <= after * 1e6
    recv_notify(notify, "READY=1")

    os.kill(b.pid, signal.SIGTERM)
    recv_notify(notify, "STOPPING=1")
    assert b.wait_exit(10) == 0


def test_notify_stopping_on_drain(spawn, echo_backend, tmp_path):
    """SIGUSR2 (drain) is a stop for systemd too: STOPPING=1."""
    notify, npath = notify_socket(tmp_path)
    path = str(tmp_path / "ws.sock")
    b = spawn(wsbridge_argv0() + ["--unix-listen", path,
                                  "127.0.0.1:%d" % echo_backend[1]],
              env=dict(os.environ, NOTIFY_SOCKET=npath))
    recv_notify(notify, "READY=1")
    wait_unix(path, b.proc)
    os.kill(b.pid, signal.SIGUSR2)
    recv_notify(notify, "STOPPING=1")
    assert b.wait_exit(10) == 0
