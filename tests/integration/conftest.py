"""Fixtures: free ports, the echo backend, and wsbridge processes that are
always torn down (even when the test fails), with their logs kept in the
test's tmp dir and shown when a test fails."""

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import wsutil  # noqa: E402
from wsutil import (free_port, spawn_logged, stop_process,  # noqa: E402
                    wait_accepting, wait_for)

SRCDIR = os.environ.get("SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))


def wsbridge_argv0():
    """$WSBRIDGE may carry arguments (e.g. `valgrind -q ./wsbridge`)."""
    exe = os.environ.get("WSBRIDGE") or os.path.join(SRCDIR, "wsbridge")
    return shlex.split(exe)


SANITIZER_RE = re.compile(
    rb"(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
    rb"ThreadSanitizer|Segmentation fault|double free)")


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


class Bridge:
    """One wsbridge process."""

    def __init__(self, argv, log_path, host, port, expect_exit=False):
        self.argv = argv
        self.log_path = log_path
        self.host = host
        self.port = port
        self.expect_exit = expect_exit
        self.proc = wsutil.spawn_logged(argv, log_path)

    @property
    def pid(self):
        return self.proc.pid

    @property
    def url(self):
        h = "[%s]" % self.host if ":" in self.host else self.host
        return "ws://%s:%d/" % (h, self.port)

    def wait_ready(self, timeout=10.0):
        try:
            wait_accepting(self.host, self.port, self.proc, timeout)
        except Exception as e:
            raise AssertionError("wsbridge %s did not start: %s\n--- log:\n%s"
                                 % (self.argv, e, self.log())) from None
        return self

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def rss_kib(self):
        return wsutil.rss_kib(self.proc.pid)

    def raw(self, timeout=10.0):
        return wsutil.RawClient(self.host, self.port, timeout=timeout)


@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("session")


@pytest.fixture(scope="session")
def echo_backend(session_tmp):
    """(host, port) of an echo backend shared by the whole run."""
    proc, port = wsutil.start_echo_backend(
        log_path=str(session_tmp / "echo_backend.log"))
    yield "127.0.0.1", port
    stop_process(proc)
    proc.stdout.close()


@pytest.fixture
def start_bridge(request, tmp_path):
    """start_bridge(target_port | target=str | None, *opts, ...) -> Bridge.

    Every bridge started here is stopped at teardown; one that died on its
    own without expect_exit=True fails the test, as does a sanitizer report
    in its log."""
    bridges = []
    counter = [0]

    def start(target_port=None, *opts, target=None, listen_host="127.0.0.1",
              port=None, expect_exit=False, wait=True, listen_spec=None):
        counter[0] += 1
        if port is None:
            fam = wsutil.socket.AF_INET6 if ":" in listen_host else \
                wsutil.socket.AF_INET
            port = free_port(fam, listen_host)
        if listen_spec is None:
            lh = "[%s]" % listen_host if ":" in listen_host else listen_host
            listen_spec = "%s:%d" % (lh, port)
        argv = wsbridge_argv0() + list(opts) + [listen_spec]
        if target is None and target_port is not None:
            target = "127.0.0.1:%d" % target_port
        if target is not None:
            argv.append(target)
        log_path = str(tmp_path / ("wsbridge-%d.log" % counter[0]))
        b = Bridge(argv, log_path, listen_host, port, expect_exit)
        bridges.append(b)
        if wait:
            b.wait_ready()
        return b

    yield start

    problems = []
    for b in bridges:
        died = b.proc.poll()
        if died is not None and not b.expect_exit:
            problems.append("wsbridge %s exited by itself with %r"
                            % (b.argv, died))
        stop_process(b.proc)
        log = b.log().encode()
        m = SANITIZER_RE.search(log)
        if m:
            problems.append("wsbridge %s log has %r" % (b.argv, m.group(0)))
        rep = getattr(request.node, "rep_call", None)
        if problems or (rep is not None and rep.failed):
            tail = log[-6000:].decode("utf-8", "replace")
            sys.stdout.write("\n--- wsbridge log %s (argv %s) ---\n%s\n"
                             % (b.log_path, b.argv, tail))
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
def bridge(start_bridge, echo_backend):
    """A default wsbridge in front of the shared echo backend."""
    return start_bridge(echo_backend[1])


@pytest.fixture
def backend():
    """backend(handler, rcvbuf=None, **kw) -> a ThreadedServer (on
    127.0.0.1 unless kw gives its host or unix_path) whose handler(conn,
    server) runs per connection, closed at teardown; a handler's exception
    fails the test."""
    from backends import ThreadedServer
    servers = []

    def make(handler, rcvbuf=None, **kw):
        s = ThreadedServer(handler, **kw)
        if rcvbuf is not None:
            # Accepted sockets inherit it; no connection has arrived yet.
            s.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()
    errors = [e for s in servers for e in s.errors]
    assert not errors, errors


@pytest.fixture
def named_backend(backend):
    """named_backend(name, quiet=False, **kw) -> a backend (as backend
    makes them) that says who it is, then echoes: wsutil.named_handler."""
    def make(name, quiet=False, **kw):
        return backend(wsutil.named_handler(name, quiet), **kw)
    return make


class RedisServer:
    """A real redis-server on 127.0.0.1 (or ::1) and a free port, no
    persistence; stop() and start() again keep the port; pause() is
    SIGSTOP."""

    def __init__(self, tmp_path, password=None, host="127.0.0.1"):
        if shutil.which("redis-server") is None or \
                shutil.which("redis-cli") is None:
            pytest.skip("needs redis-server (apt-get install redis-server)")
        self.dir = tmp_path
        self.host = host
        self.password = password
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.port = free_port(fam, host)
        self.proc = None
        self.paused = False
        self.start()

    def start(self):
        argv = ["redis-server", "--port", str(self.port), "--bind",
                self.host, "--save", "", "--appendonly", "no", "--dir",
                str(self.dir)]
        if self.password is not None:
            argv += ["--requirepass", self.password]
        self.proc = spawn_logged(argv, str(self.dir / "redis.log"))
        ok = wait_for(lambda: self.cli("PING", check=False) == "PONG", 10)
        assert ok, "redis-server did not answer PING"

    def cli(self, *args, db=0, check=True):
        argv = ["redis-cli", "-h", self.host, "-p", str(self.port), "-n",
                str(db)]
        if self.password is not None:
            argv += ["-a", self.password, "--no-auth-warning"]
        r = subprocess.run(argv + list(args), capture_output=True,
                           text=True, timeout=10, stdin=subprocess.DEVNULL)
        out = r.stdout.strip()
        if check:
            assert r.returncode == 0 and not out.startswith("ERR"), \
                (args, r.stdout, r.stderr)
        return out

    def pause(self):
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self):
        if self.paused:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.paused = False

    def stop(self):
        self.resume()
        stop_process(self.proc)

    def source(self, port=None, db="", password=None, ns=None):
        """--token-source for this server."""
        h = "[%s]" % self.host if ":" in self.host else self.host
        parts = [h, str(port or self.port), str(db),
                 password if password is not None else
                 (self.password or ""), ns or ""]
        while parts[-1] == "":
            parts.pop()
        return ":".join(parts)


@pytest.fixture
def redis(tmp_path):
    """make(**kw) -> a RedisServer (kw: password, host), stopped at the
    end (resumed first if it was left SIGSTOPped)."""
    servers = []

    def make(**kw):
        d = tmp_path / ("redis-%d" % len(servers))
        d.mkdir()
        r = RedisServer(d, **kw)
        servers.append(r)
        return r
    yield make
    for r in servers:
        r.stop()


@pytest.fixture
def metrics_bridge(start_bridge, echo_backend):
    """metrics_bridge(*opts, target_port=None, expect_exit=False) ->
    (bridge, metrics port): a bridge to the echo backend (or target_port)
    with --metrics 127.0.0.1:PORT, its metrics port accepting."""
    def make(*opts, target_port=None, expect_exit=False):
        port = free_port()
        b = start_bridge(target_port or echo_backend[1], "--metrics",
                         "127.0.0.1:%d" % port, *opts,
                         expect_exit=expect_exit)
        wait_accepting("127.0.0.1", port, b.proc)
        return b, port
    return make
