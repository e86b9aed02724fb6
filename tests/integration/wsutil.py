"""Helpers for the wsbridge integration tests: processes, ports, and a raw
RFC 6455 client (frame encoder/decoder over a plain TCP socket) for the
protocol-error cases that a well-behaved client library refuses to produce.
"""

import base64
import hashlib
import os
import signal
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA


async def ws_collect(ws, n):
    """Receive messages on a websockets connection until n bytes arrived (a
    stream: the bridge does not keep the TCP side's message boundaries);
    every message must be binary."""
    out = bytearray()
    while len(out) < n:
        msg = await ws.recv()
        assert isinstance(msg, bytes), "bridge sent a text frame"
        out += msg
    return bytes(out)


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A TCP port nobody listens on right now."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def have_ipv6():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def wait_accepting(host, port, proc=None, timeout=10.0, family=None):
    """Poll until host:port accepts a TCP connection."""
    deadline = time.monotonic() + timeout
    fam = family or (socket.AF_INET6 if ":" in host else socket.AF_INET)
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %r before accepting"
                               % proc.returncode)
        try:
            with socket.socket(fam, socket.SOCK_STREAM) as s:
                s.settimeout(0.5)
                s.connect((host, port))
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError("%s:%d never accepted" % (host, port))


def rss_kib(pid):
    """Resident set size of a process in KiB (VmRSS)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for %d" % pid)


def stop_process(proc, timeout=3.0):
    """SIGTERM, then SIGKILL; also reap the process group we created."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# ---------------------------------------------------------------------------
# Raw frames

def mask_bytes(data, key):
    """XOR data with a 4-byte key (fast: one big-int operation)."""
    n = len(data)
    if n == 0:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little")
            ^ int.from_bytes(k, "little")).to_bytes(n, "little")


def encode_frame(opcode, payload=b"", fin=True, rsv=0, mask=True, key=None,
                 length=None, len_form=None):
    """One frame.  `length` overrides the advertised payload length (for
    frames whose payload is streamed separately); `len_form` forces the 7,
    16 or 64-bit length encoding; rsv is the 3-bit RSV1..3 field."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    mbit = 0x80 if mask else 0
    if len_form is None:
        len_form = 7 if n < 126 else (16 if n < 65536 else 64)
    if len_form == 7:
        head = struct.pack("!BB", b0, mbit | n)
    elif len_form == 16:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        if key is None:
            key = os.urandom(4)
        return head + key + mask_bytes(payload, key)
    return head + payload


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


def client_key():
    return base64.b64encode(os.urandom(16)).decode()


def accept_key(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def handshake_request(host, port, key=None, version="13", protocols="binary",
                      path="/", extra=(), method="GET", upgrade=True):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s:%d" % (host, port)]
    if upgrade:
        lines += ["Upgrade: websocket", "Connection: Upgrade"]
        if key is not False:
            lines.append("Sec-WebSocket-Key: %s" % (key or client_key()))
        if version is not None:
            lines.append("Sec-WebSocket-Version: %s" % version)
        if protocols:
            lines.append("Sec-WebSocket-Protocol: %s" % protocols)
    lines += list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Response:
    def __init__(self, status, reason, headers, raw):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (lower-name, value)
        self.raw = raw

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def __repr__(self):
        return "Response(%r)" % self.raw


def parse_response_head(raw):
    text = raw.decode("latin-1")
    lines = text.split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1])
    reason = parts[2] if len(parts) > 2 else ""
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        k, _, v = line.partition(":")
        headers.append((k.strip().lower(), v.strip()))
    return Response(status, reason, headers, raw)


class ConnectionGone(Exception):
    """The peer closed the TCP connection (EOF or reset)."""


class RawClient:
    """A WebSocket client over a plain socket: we write exactly the bytes we
    choose and read frames without any library policy in between."""

    def __init__(self, host, port, timeout=10.0, family=None):
        fam = family or (socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.host, self.port = host, port
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False
        self.response = None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def settimeout(self, t):
        self.sock.settimeout(t)

    def send(self, data):
        self.sock.sendall(data)

    def send_frame(self, *args, **kw):
        self.sock.sendall(encode_frame(*args, **kw))

    def _fill(self, want=65536):
        if self.eof:
            raise ConnectionGone("eof")
        try:
            chunk = self.sock.recv(max(want, 65536))
        except ConnectionResetError:
            self.eof = True
            raise ConnectionGone("reset")
        if not chunk:
            self.eof = True
            raise ConnectionGone("eof")
        self.buf += chunk

    def _take(self, n):
        while len(self.buf) < n:
            self._fill(n - len(self.buf))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_response(self, limit=65536):
        """Read one HTTP response head; bytes after it stay in self.buf."""
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > limit:
                raise AssertionError("response head too large")
            self._fill()
        i = self.buf.index(b"\r\n\r\n") + 4
        raw = bytes(self.buf[:i])
        del self.buf[:i]
        self.response = parse_response_head(raw)
        return self.response

    def handshake(self, **kw):
        key = client_key()
        self.send(handshake_request(self.host, self.port, key=key, **kw))
        resp = self.read_response()
        assert resp.status == 101, resp
        assert resp.header("sec-websocket-accept") == accept_key(key), resp
        return resp

    def recv_frame(self):
        """(fin, rsv, opcode, payload) of the next frame."""
        b0, b1 = self._take(2)
        fin, rsv, opcode = bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF
        masked, n = bool(b1 & 0x80), b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._take(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._take(8))[0]
        assert not masked, "server frames must not be masked"
        assert rsv == 0, "server frame with RSV bits %d" % rsv
        return fin, rsv, opcode, self._take(n)

    def recv_data(self, nbytes, allow_ping=True, timeout=30.0):
        """Collect nbytes of binary payload (message boundaries ignored),
        answering pings; fail if that takes longer than timeout."""
        out = bytearray()
        deadline = time.monotonic() + timeout
        while len(out) < nbytes:
            if time.monotonic() > deadline:
                raise AssertionError("only %d of %d bytes within %.0fs"
                                     % (len(out), nbytes, timeout))
            fin, rsv, op, payload = self.recv_frame()
            if op in (OP_BINARY, OP_CONT):
                out += payload
            elif op == OP_PING and allow_ping:
                self.send_frame(OP_PONG, payload)
            elif op == OP_PONG:
                pass
            else:
                raise AssertionError("unexpected frame op=%d payload=%r "
                                     "after %d bytes" % (op, payload[:200],
                                                         len(out)))
        return bytes(out)

    def recv_close(self, skip_data=True, timeout=30.0):
        """Read until a Close frame; return (code, reason bytes)."""
        deadline = time.monotonic() + timeout
        while True:
            if time.monotonic() > deadline:
                raise AssertionError("no Close frame within %.0fs" % timeout)
            fin, rsv, op, payload = self.recv_frame()
            if op == OP_CLOSE:
                assert fin, "close frame must not be fragmented"
                if len(payload) == 0:
                    return None, b""
                assert len(payload) >= 2, payload
                return struct.unpack("!H", payload[:2])[0], payload[2:]
            if op in (OP_BINARY, OP_CONT, OP_PING, OP_PONG) and skip_data:
                continue
            raise AssertionError("expected close, got op=%d %r"
                                 % (op, payload[:100]))

    def expect_eof(self, timeout=5.0, allow_data=False):
        """Assert the server closes TCP within timeout.  After a Close
        frame nothing may follow (RFC 6455 5.5.1), so any byte is an error
        unless allow_data."""
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.buf and not allow_data:
                    raise AssertionError(
                        "%d bytes after the Close frame: %r"
                        % (len(self.buf), bytes(self.buf[:60])))
                self.buf.clear()
                self._fill()
        except ConnectionGone:
            if self.buf and not allow_data:
                raise AssertionError("%d bytes after the Close frame: %r"
                                     % (len(self.buf), bytes(self.buf[:60])))
            self.buf.clear()
            return
        except socket.timeout:
            pass
        raise AssertionError("server did not close TCP within %.1fs" % timeout)

    def expect_close_then_eof(self, code, timeout=5.0, reply=True):
        """The failure path: a Close with `code`, then the TCP close."""
        self.sock.settimeout(timeout)
        got, reason = self.recv_close()
        assert got == code, "close code %r (reason %r), expected %r" % (
            got, reason, code)
        if reply:
            try:
                self.send_frame(OP_CLOSE, close_payload(code))
            except OSError:
                pass
        self.expect_eof(timeout)
        return reason


try:
    import ctypes
    _libc = ctypes.CDLL(None, use_errno=True)
except OSError:
    _libc = None


def die_with_parent():
    """preexec_fn: the child gets SIGKILL if the test runner dies, so a
    killed pytest never leaves a bridge or backend behind."""
    if _libc is not None:
        _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def spawn_logged(argv, log_path, **kw):
    """Start a process in its own group with stdout+stderr to a file."""
    log = open(log_path, "ab")
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=log, start_new_session=True,
                                preexec_fn=die_with_parent, **kw)
    finally:
        log.close()


def start_echo_backend(host="127.0.0.1", threads=None, log_path=None):
    """The C echo backend from $ECHO_BACKEND, else the Python fallback.
    Returns (proc, port)."""
    exe = os.environ.get("ECHO_BACKEND")
    if exe and os.access(exe, os.X_OK):
        argv = [exe, "--host", host, "--port", "0"]
        if threads:
            argv += ["--threads", str(threads)]
    else:
        argv = [PY, os.path.join(HERE, "backends.py"), "echo",
                "--host", host, "--port", "0"]
    err = open(log_path, "ab") if log_path else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=err,
                                start_new_session=True,
                                preexec_fn=die_with_parent)
    finally:
        if log_path:
            err.close()
    line = proc.stdout.readline()
    if not line.strip().isdigit():
        stop_process(proc)
        raise RuntimeError("echo backend %r printed %r" % (argv, line))
    port = int(line)
    wait_accepting(host, port, proc)
    return proc, port


def wait_for(pred, timeout=5.0, step=0.05):
    """Poll pred until it is true or timeout seconds passed; its value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


# --- backends that say who they are (token routing) ------------------------

def echo_until_eof(conn, peer_gone=()):
    """Send back everything conn receives until its peer's EOF.  A read
    that raises one of peer_gone (exception classes) ends it too; any other
    error propagates to the caller."""
    while True:
        try:
            d = conn.recv(65536)
        except peer_gone:
            return
        if not d:
            return
        conn.sendall(d)


def named_handler(name, quiet=False):
    """A ThreadedServer handler: "I am NAME\\n" first, then an echo until
    EOF; a read reset or timed out is no error.  quiet: no OSError is (for
    a bridge such as websockify that may drop the connection anywhere)."""
    def handle(conn, srv):
        conn.settimeout(20)
        try:
            conn.sendall(b"I am %s\n" % name.encode())
            echo_until_eof(conn, (ConnectionResetError, socket.timeout))
        except OSError:
            if not quiet:
                raise
    return handle


def routed_to(host, port, request, timeout=8):
    """Where a session opened with request (the raw upgrade) lands on a
    bridge in front of named_handler backends: the backend's name, after
    an echo through the bridge worked, or None (refused: no 101, a Close,
    or the connection dropped before the name).  A stall fails."""
    with RawClient(host, port, timeout=timeout) as cl:
        cl.send(request)
        try:
            if cl.read_response().status != 101:
                return None
            got = b""
            while b"\n" not in got:
                fin, rsv, op, payload = cl.recv_frame()
                if op == OP_CLOSE:
                    return None
                got += payload
        except ConnectionGone:
            return None
        assert got.startswith(b"I am "), got
        name = got[5:got.index(b"\n")].decode()
        cl.send_frame(OP_BINARY, b"echo " + name.encode())
        assert cl.recv_data(5 + len(name), timeout=timeout) == \
            b"echo " + name.encode(), "routed to %s but no echo" % name
        return name
