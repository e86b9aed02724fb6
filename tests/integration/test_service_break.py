"""Breaking the service features of issue 9 as an attacker and a careless
operator would: signal storms while sessions relay, a --log-file that
turns into a FIFO, a directory or /dev/full, hostile bytes in logged
requests, a --syslog server that stops reading or goes away, -D start-up
errors, wrap mode with odd commands, --unix-listen on odd paths.

Each bug these tests found is fixed; the tests keep it fixed."""

import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import wsbridge_argv0
from wsutil import (OP_BINARY, OP_CLOSE, RawClient, close_payload,
                    free_port, spawn_logged, stop_process, wait_accepting,
                    wait_for)


def ws(port, timeout=10):
    cl = RawClient("127.0.0.1", port, timeout=timeout)
    cl.handshake()
    return cl


def echo_once(cl, data=b"ping"):
    cl.send_frame(OP_BINARY, data)
    assert cl.recv_data(len(data)) == data


def nfds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def run_wsbridge(args, timeout=15, **kw):
    """Run wsbridge to completion (a start-up error): CompletedProcess."""
    return subprocess.run(wsbridge_argv0() + list(args), timeout=timeout,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, **kw)


def pids_with_arg(marker):
    """Processes whose command line holds marker (a unique tmp path)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                if marker.encode() in f.read():
                    out.append(int(d))
        except OSError:
            pass
    return out


# --- signal storms -----------------------------------------------------------

class Relayer(threading.Thread):
    """One session sending numbered chunks and checking the echo."""

    def __init__(self, port, rounds):
        super().__init__(daemon=True)
        self.port, self.rounds = port, rounds
        self.error = None
        self.done = 0

    def run(self):
        try:
            cl = ws(self.port, timeout=20)
            for i in range(self.rounds):
                data = (b"%d:" % i) + os.urandom(2000 + i)
                cl.send_frame(OP_BINARY, data)
                assert cl.recv_data(len(data)) == data
                self.done += 1
            cl.close()
        except Exception as e:  # noqa: BLE001 (reported by the test)
            self.error = repr(e)


def test_signal_storm_while_sessions_relay(start_bridge, echo_backend,
                                           tmp_path):
    """Hundreds of SIGUSR1 (log reopen), SIGHUP, SIGALRM, SIGWINCH and
    SIGCHLD while 40 sessions relay: every byte comes back, the process
    lives, and its descriptors are back to where they were."""
    log = tmp_path / "storm.log"
    b = start_bridge(echo_backend[1], "--log-file", str(log))
    echo_once(ws(b.port))
    assert wait_for(lambda: nfds(b.pid) <= 20, 3)
    before = nfds(b.pid)
    relayers = [Relayer(b.port, 40) for _ in range(40)]
    for r in relayers:
        r.start()
    sigs = [signal.SIGUSR1, signal.SIGHUP, signal.SIGALRM, signal.SIGWINCH,
            signal.SIGCHLD, signal.SIGURG]
    for i in range(600):
        os.kill(b.pid, sigs[i % len(sigs)])
        if i % 50 == 0:
            time.sleep(0.01)
    for r in relayers:
        r.join(30)
    errors = [r.error for r in relayers if r.error]
    assert not errors, errors[:3]
    assert all(r.done == 40 for r in relayers)
    assert b.proc.poll() is None
    echo_once(ws(b.port))
    # Sessions ended: the descriptors come back (no leak per reopen).
    assert wait_for(lambda: nfds(b.pid) <= before, 5), \
        (before, nfds(b.pid), os.listdir("/proc/%d/fd" % b.pid))
    text = log.read_text(errors="replace")
    assert "got SIGUSR1: reopened" in text
    assert "got SIGALRM: ignored" in text


def test_drain_survives_other_signals_then_sigterm(start_bridge,
                                                   echo_backend):
    """SIGUSR2 twice, then SIGHUP/SIGUSR1/SIGALRM during the drain: the
    session keeps relaying and new ones are refused; SIGTERM then closes
    it with 1001 and the process exits 0."""
    b = start_bridge(echo_backend[1], expect_exit=True)
    cl = ws(b.port)
    os.kill(b.pid, signal.SIGUSR2)
    assert wait_for(lambda: "draining" in b.log(), 3), b.log()
    # (Signals of one kind sent back to back coalesce: one line.)
    os.kill(b.pid, signal.SIGUSR2)
    for s in (signal.SIGHUP, signal.SIGUSR1, signal.SIGALRM) * 20:
        os.kill(b.pid, s)
    assert wait_for(lambda: "already draining" in b.log(), 3), b.log()
    echo_once(cl, b"during drain")
    # The main thread logs the drain; each worker closes its listener
    # when it next runs: refused once all have.
    assert wait_for(lambda: refused(b.port), 3), "still accepting"
    assert b.proc.poll() is None
    os.kill(b.pid, signal.SIGTERM)
    code, _ = cl.recv_close(skip_data=False, timeout=5)
    assert code == 1001
    cl.send_frame(OP_CLOSE, close_payload(1001))
    assert b.wait_exit(5) == 0, b.log()


def refused(port):
    """Whether a TCP connect to 127.0.0.1:port is refused."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_sigterm_storm_is_one_stop(start_bridge, echo_backend):
    """Fifty SIGTERM/SIGINT/SIGQUIT at once: one Close 1001 per client,
    exit 0 (a second stop does not crash or double-free)."""
    b = start_bridge(echo_backend[1], expect_exit=True)
    cls = [ws(b.port) for _ in range(5)]
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT) * 17:
        try:
            os.kill(b.pid, s)
        except ProcessLookupError:
            break
    for cl in cls:
        code, _ = cl.recv_close(skip_data=False, timeout=5)
        assert code == 1001
        cl.send_frame(OP_CLOSE, close_payload(1001))
    assert b.wait_exit(8) == 0, b.log()


def test_signal_during_start_up(tmp_path):
    """A SIGUSR1 (logrotate's postrotate hitting a restart) while start-up
    loads a big token file, after main() has logged its first line: it
    must not kill the process, which ends up listening."""
    tokens = tmp_path / "tokens"
    with open(tokens, "w") as f:
        for i in range(200000):
            f.write("tok%d: 127.0.0.1:%d\n" % (i, 1000 + i % 5000))
    port = free_port()
    logp = str(tmp_path / "w.log")
    proc = spawn_logged(wsbridge_argv0() + [
        "--token-plugin", "TokenFile", "--token-source", str(tokens),
        "127.0.0.1:%d" % port], logp)
    try:
        # "open files" comes before the token file is read (~100 ms).
        assert wait_for(lambda: "open files" in open(logp).read(), 10,
                        0.001)
        os.kill(proc.pid, signal.SIGUSR1)
        wait_accepting("127.0.0.1", port, proc)
    finally:
        stop_process(proc)


# --- --log-file abuse --------------------------------------------------------

def test_log_file_replaced_by_fifo_then_sigusr1(start_bridge, echo_backend,
                                                tmp_path):
    """logrotate-like mistake: the log path is now a FIFO nobody reads.
    SIGUSR1 must not hang the process: SIGTERM still stops it."""
    log = tmp_path / "w.log"
    b = start_bridge(echo_backend[1], "--log-file", str(log),
                     expect_exit=True)
    log.unlink()
    os.mkfifo(log)
    os.kill(b.pid, signal.SIGUSR1)
    time.sleep(0.3)
    cl = ws(b.port)
    echo_once(cl)
    cl.close()
    os.kill(b.pid, signal.SIGTERM)
    assert b.wait_exit(3) == 0


def test_log_file_fifo_at_start_up(echo_backend, tmp_path):
    """--log-file FIFO with no reader: start-up must not hang (either an
    error exit or serving)."""
    fifo = tmp_path / "fifo.log"
    os.mkfifo(fifo)
    port = free_port()
    logp = str(tmp_path / "stderr.log")
    proc = spawn_logged(wsbridge_argv0() + [
        "--log-file", str(fifo), "127.0.0.1:%d" % port,
        "127.0.0.1:%d" % echo_backend[1]], logp)
    try:
        ok = wait_for(lambda: proc.poll() is not None or
                      accepting(port), 3)
        assert ok, "neither exited nor listening after 3 s"
    finally:
        stop_process(proc)


def accepting(port):
    try:
        with socket.create_connection(("127.0.0.1", port), 0.2):
            return True
    except OSError:
        return False


def test_log_file_replaced_by_directory(start_bridge, echo_backend,
                                        tmp_path):
    """The log path becomes a directory: SIGUSR1 warns and keeps writing
    to the old file; once the path is a file again, SIGUSR1 recovers."""
    log = tmp_path / "w.log"
    b = start_bridge(echo_backend[1], "--log-file", str(log))
    old = tmp_path / "w.log.1"
    log.rename(old)
    log.mkdir()
    os.kill(b.pid, signal.SIGUSR1)
    assert wait_for(lambda: "cannot reopen" in old.read_text(), 3), \
        old.read_text()
    echo_once(ws(b.port))
    log.rmdir()
    os.kill(b.pid, signal.SIGUSR1)
    assert wait_for(lambda: log.exists() and "reopened" in log.read_text(),
                    3)
    echo_once(ws(b.port))
    assert wait_for(lambda: "session" in log.read_text(), 3)


def test_log_file_dev_full(start_bridge, echo_backend):
    """--log-file /dev/full: every write fails with ENOSPC; the bridge
    goes on relaying, stderr still gets the lines, SIGUSR1 works."""
    b = start_bridge(echo_backend[1], "--log-file", "/dev/full")
    for _ in range(20):
        cl = ws(b.port)
        echo_once(cl)
        cl.close()
    os.kill(b.pid, signal.SIGUSR1)
    assert wait_for(lambda: "reopened /dev/full" in b.log(), 3), b.log()
    assert b.proc.poll() is None


def test_sigusr1_loop_while_sessions_log(start_bridge, echo_backend,
                                         tmp_path):
    """1000 SIGUSR1 while short sessions come and go, with the file moved
    away now and then: no line is split or interleaved, every file line is
    one whole log line, and no descriptor leaks."""
    log = tmp_path / "w.log"
    b = start_bridge(echo_backend[1], "--log-file", str(log))
    before = nfds(b.pid)
    stop = threading.Event()
    errors = []

    def sessions():
        try:
            while not stop.is_set():
                cl = ws(b.port)
                echo_once(cl)
                cl.close()
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    ts = [threading.Thread(target=sessions, daemon=True) for _ in range(4)]
    for t in ts:
        t.start()
    for i in range(1000):
        if i % 200 == 100 and log.exists():
            log.rename(tmp_path / ("w.log.%d" % i))
        os.kill(b.pid, signal.SIGUSR1)
    time.sleep(0.5)
    stop.set()
    for t in ts:
        t.join(10)
    assert not errors, errors[:3]
    assert b.proc.poll() is None
    time.sleep(0.3)
    lines = []
    for p in tmp_path.glob("w.log*"):
        lines += p.read_bytes().split(b"\n")
    lines = [ln for ln in lines if ln]
    bad = [ln for ln in lines
           if not (ln[:4].isdigit() and b"Z " in ln[:30])]
    assert not bad, bad[:3]
    assert wait_for(lambda: nfds(b.pid) <= before, 5), (before, nfds(b.pid))


HOSTILE_PATH = b"/a\x1b[2J\x07b\xff\xfe\xc0\xafc\rd\x7f%0a%0d?token=s\x1bcret"


def send_hostile(port):
    with socket.create_connection(("127.0.0.1", port), 5) as s:
        s.sendall(b"GET " + HOSTILE_PATH + b" HTTP/1.1\r\nHost: x\r\n"
                  b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  b"Sec-WebSocket-Version: 13\r\n\r\n")
        s.settimeout(5)
        try:
            s.recv(4096)
        except OSError:
            pass


def clean_line(ln):
    """No control byte, no byte >= 0x80 (escaped), no secret."""
    return not any(c < 0x20 or c >= 0x7f for c in ln) and b"cret" not in ln


def test_hostile_request_bytes_escaped_in_file_and_syslog(
        start_bridge, echo_backend, tmp_path):
    """A request line with ESC, BEL, CR, DEL and invalid UTF-8 is logged
    as one escaped line in --log-file and in each syslog datagram (no raw
    control byte, no invalid UTF-8, the token hidden)."""
    path = str(tmp_path / "log.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(path)
    srv.settimeout(1)
    log = tmp_path / "w.log"
    b = start_bridge(echo_backend[1], "--log-file", str(log), "--syslog",
                     path)
    for _ in range(3):
        send_hostile(b.port)
    assert wait_for(lambda: log.read_bytes().count(b"request") >= 3, 3)
    for ln in log.read_bytes().splitlines():
        assert clean_line(ln), ln
    got = []
    try:
        while True:
            got.append(srv.recv(65536))
    except socket.timeout:
        pass
    srv.close()
    hits = [d for d in got if b"request" in d]
    assert len(hits) >= 3, got
    for d in got:
        assert b"\n" not in d.rstrip(b"\n"), d
        body = d.rstrip(b"\n")
        assert clean_line(body), d
        d.decode("utf-8")


# --- --syslog abuse ----------------------------------------------------------

def test_syslog_server_stops_reading_disappears_reappears(
        start_bridge, echo_backend, tmp_path):
    """A Unix datagram syslog server that never reads (its queue fills),
    then is removed, then comes back at the same path: the bridge never
    blocks (sessions relay at full speed) and lines reach the new server."""
    path = str(tmp_path / "dev-log")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(path)
    b = start_bridge(echo_backend[1], "--syslog", path, "-v")
    t0 = time.monotonic()
    for i in range(150):
        cl = ws(b.port)
        echo_once(cl)
        cl.close()
    assert time.monotonic() - t0 < 8, "sessions slowed by a full syslog"
    srv.close()
    os.unlink(path)
    for i in range(20):
        cl = ws(b.port)
        echo_once(cl)
        cl.close()
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(path)
    srv.settimeout(1)
    try:
        cl = ws(b.port)
        echo_once(cl)
        cl.close()
        got = srv.recv(65536)
        assert b"wsbridge" in got
    finally:
        srv.close()
    assert "syslog " + path in b.log()
    assert b.log().count("at most one warning a minute") == 1, b.log()


def test_syslog_udp_port_closed(start_bridge, echo_backend):
    """--syslog to a UDP port nobody listens on (ICMP port unreachable
    comes back as ECONNREFUSED on some sends): relaying is unaffected."""
    port = free_port(socket.AF_INET)
    b = start_bridge(echo_backend[1], "--syslog", "127.0.0.1:%d" % port,
                     "-v")
    for _ in range(50):
        cl = ws(b.port)
        echo_once(cl)
        cl.close()
    assert b.proc.poll() is None


def test_syslog_name_that_does_not_resolve():
    r = run_wsbridge(["--syslog", "no-such-host.invalid:514",
                      "127.0.0.1:%d" % free_port(), "127.0.0.1:9"])
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert b"no-such-host.invalid" in r.stderr


def test_syslog_enormous_message_is_cut(start_bridge, echo_backend,
                                        tmp_path):
    """A 7000-byte request line becomes one datagram no longer than 2048
    bytes (WSB_SYSLOG_MAX), still well formed."""
    path = str(tmp_path / "log.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(path)
    srv.settimeout(1)
    b = start_bridge(echo_backend[1], "--syslog", path)
    with socket.create_connection(("127.0.0.1", b.port), 5) as s:
        s.sendall(b"GET /" + b"\x1b" * 7000 + b" HTTP/1.1\r\n\r\n")
        s.settimeout(5)
        try:
            s.recv(4096)
        except OSError:
            pass
    got = []
    try:
        while True:
            got.append(srv.recv(65536))
    except socket.timeout:
        pass
    srv.close()
    assert got and all(len(d) <= 2048 for d in got), [len(d) for d in got]
    assert all(d.startswith(b"<") for d in got)
    for d in got:
        d.decode("utf-8")
    assert b.proc.poll() is None


# --- -D start-up errors ------------------------------------------------------

def no_daemon_left(marker):
    time.sleep(0.3)
    left = pids_with_arg(marker)
    for p in left:
        os.kill(p, signal.SIGKILL)
    return not left


@pytest.mark.parametrize("case", ["bad cert", "pid file in missing dir",
                                  "unwritable pid file", "bad option",
                                  "unresolvable listen host"])
def test_daemon_start_up_errors(tmp_path, case):
    """Every -D start-up error reaches the terminal's stderr with a
    non-zero status, and no daemon stays behind."""
    marker = str(tmp_path / "marker")
    args = ["-D", "--pid-file", marker + ".pid"]
    if case == "bad cert":
        cert = tmp_path / "bad.pem"
        cert.write_text("not a certificate\n")
        args += ["--cert", str(cert)]
    elif case == "pid file in missing dir":
        args = ["-D", "--pid-file", marker + "/no/such/dir/p.pid"]
    elif case == "unwritable pid file":
        args = ["-D", "--pid-file", "/proc/" + marker.strip("/") + ".pid"]
        args += ["--log-file", marker + ".log"]
    elif case == "bad option":
        args += ["--no-such-option"]
    host = "no-such-host.invalid" if "unresolvable" in case else "127.0.0.1"
    r = run_wsbridge(args + ["%s:%d" % (host, free_port()), "127.0.0.1:9"])
    assert r.returncode in (1, 2), (r.returncode, r.stderr)
    assert r.stderr.strip(), "no message on the terminal"
    assert no_daemon_left(marker), "a daemon stayed behind"
    assert not os.path.exists(marker + ".pid")


def test_daemon_stale_pid_file_and_second_daemon(tmp_path, echo_backend):
    """A stale pid file (a dead process's pid) is overwritten; a second
    -D on the same port fails with status 1 and leaves the first one's pid
    file alone; SIGTERM to the first removes it."""
    pidf = tmp_path / "w.pid"
    dead = subprocess.Popen(["true"])
    dead.wait()
    pidf.write_text("%d\n" % dead.pid)
    port = free_port()
    argv = ["-D", "--pid-file", str(pidf), "127.0.0.1:%d" % port,
            "127.0.0.1:%d" % echo_backend[1]]
    r = run_wsbridge(argv)
    assert r.returncode == 0, r.stderr
    pid = int(pidf.read_text())
    try:
        assert pid != dead.pid
        wait_accepting("127.0.0.1", port)
        r2 = run_wsbridge(argv)
        assert r2.returncode == 1, (r2.returncode, r2.stderr)
        assert b"in use" in r2.stderr.lower(), r2.stderr
        assert int(pidf.read_text()) == pid
        cl = ws(port)
        echo_once(cl)
        cl.close()
    finally:
        os.kill(pid, signal.SIGTERM)
    assert wait_for(lambda: not os.path.exists("/proc/%d" % pid) or
                    open("/proc/%d/stat" % pid).read().split()[2] == "Z",
                    5)
    assert not pidf.exists()


@pytest.mark.parametrize("closed", ["0<&-", "0<&- 1>&- 2>&-"])
def test_daemon_with_closed_stdio(tmp_path, echo_backend, closed):
    """-D started with standard input (or all of stdio) closed, as some
    init scripts do: the daemon serves, its pid file is there."""
    pidf = tmp_path / "w.pid"
    port = free_port()
    logf = tmp_path / "w.log"
    cmd = "exec %s; exec %s -D --pid-file %s --log-file %s 127.0.0.1:%d " \
        "127.0.0.1:%d" % (closed, " ".join(wsbridge_argv0()), pidf, logf,
                          port, echo_backend[1])
    r = subprocess.run(["sh", "-c", cmd], timeout=15)
    assert r.returncode == 0
    try:
        time.sleep(0.5)
        assert pidf.exists(), logf.read_text()
        cl = ws(port)
        echo_once(cl)
        cl.close()
    finally:
        if pidf.exists():
            os.kill(int(pidf.read_text()), signal.SIGTERM)


# --- wrap mode ---------------------------------------------------------------

def wrap_argv(port, *cmd, opts=()):
    return wsbridge_argv0() + list(opts) + ["127.0.0.1:%d" % port, "--"] + \
        list(cmd)


def test_wrap_options_after_dashdash_go_to_the_command(tmp_path):
    """`-- CMD -v --help --daemon 1` : those words are the command's
    arguments, not wsbridge's options (no help printed, no detaching)."""
    out = tmp_path / "args"
    port = free_port()
    script = 'printf "%%s\\n" "$@" > %s; exit 3' % out
    proc = spawn_logged(wrap_argv(port, "sh", "-c", script, "sh", "-v",
                                  "--help", "--daemon", "--record", "x"),
                        str(tmp_path / "w.log"))
    try:
        code = proc.wait(10)
    finally:
        stop_process(proc)
    log = open(tmp_path / "w.log", errors="replace").read()
    assert "usage:" not in log, log
    assert out.read_text().split() == ["-v", "--help", "--daemon",
                                       "--record", "x"]
    assert code == 3, (code, log)


def test_wrap_command_that_daemonizes_itself(tmp_path):
    """A command that forks a server and exits at once (a self-daemonizing
    server) in ignore mode: wsbridge keeps serving the port the grandchild
    bound, and stopping wsbridge leaves no orphan behind."""
    marker = str(tmp_path / "srvmark")
    port = free_port()
    srv = ("import socket,os,sys\n"
           "if os.fork(): sys.exit(0)\n"
           "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,"
           "socket.SO_REUSEADDR,1)\n"
           "s.bind(('127.0.0.1',%d)); s.listen(5)\n"
           "while True:\n"
           "  c,_=s.accept()\n"
           "  d=c.recv(100); c.sendall(d); c.close()\n" % port)
    proc = spawn_logged(wrap_argv(port, "/usr/bin/python3", "-c", srv,
                                  marker, opts=["--wrap-mode", "ignore"]),
                        str(tmp_path / "w.log"))
    try:
        wait_accepting("127.0.0.1", port, proc)
        assert wait_for(lambda: "exited" in open(tmp_path / "w.log").read(),
                        5)
        assert wait_for(lambda: wrap_echo(port, b"via the grandchild"), 5)
    finally:
        stop_process(proc)
    left = wait_for(lambda: not pids_with_arg(marker), 3)
    for pid in pids_with_arg(marker):
        os.kill(pid, signal.SIGKILL)
    assert left, "the forked server outlived wsbridge"


def test_wrap_command_floods_stdout(tmp_path):
    """A command that writes megabytes to stdout (shared with wsbridge's)
    and binds: wsbridge does not stall."""
    port = free_port()
    srv = ("import socket,sys,threading\n"
           "s=socket.socket(); s.bind(('127.0.0.1',%d)); s.listen(5)\n"
           "def flood():\n"
           "  while True: sys.stdout.write('x'*65536+'\\n')\n"
           "threading.Thread(target=flood,daemon=True).start()\n"
           "while True:\n"
           "  c,_=s.accept(); d=c.recv(100); c.sendall(d); c.close()\n"
           % port)
    proc = subprocess.Popen(wrap_argv(port, "/usr/bin/python3", "-c", srv),
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_accepting("127.0.0.1", port, proc)
        assert wait_for(lambda: wrap_echo(port), 5)
        t0 = time.monotonic()
        for _ in range(20):
            assert wrap_echo(port)
        assert time.monotonic() - t0 < 5
        assert proc.poll() is None
    finally:
        stop_process(proc)


def wrap_echo(port, data=b"ping"):
    """One echo through wsbridge to the wrapped server; False if the
    target refused (the command has not bound yet)."""
    with ws(port) as cl:
        cl.send_frame(OP_BINARY, data)
        try:
            return cl.recv_data(len(data)) == data
        except AssertionError as e:
            if "refused" in str(e):
                return False
            raise


def test_wrap_command_binds_another_port(tmp_path):
    """A command that never binds source_port: wsbridge keeps listening;
    a client gets a clean failure (no crash, no hang)."""
    port = free_port()
    other = free_port()
    srv = ("import socket,time\n"
           "s=socket.socket(); s.bind(('127.0.0.1',%d)); s.listen(5)\n"
           "time.sleep(60)\n" % other)
    logp = str(tmp_path / "w.log")
    proc = spawn_logged(wrap_argv(port, "/usr/bin/python3", "-c", srv),
                        logp)
    try:
        wait_accepting("127.0.0.1", port, proc)
        cl = RawClient("127.0.0.1", port, timeout=5)
        try:
            cl.handshake()
            code, _ = cl.recv_close(skip_data=False, timeout=5)
            assert code in (1011, 1006, 1001, None), code
        except Exception:
            pass  # refused before or at the handshake is fine too
        finally:
            cl.close()
        assert proc.poll() is None, open(logp).read()
    finally:
        stop_process(proc)


def test_wrap_respawn_crash_loop_no_cpu_burn(tmp_path):
    """respawn with a command that crashes at once, for 4 s: throttled
    (few starts) and wsbridge uses little CPU."""
    port = free_port()
    logp = str(tmp_path / "w.log")
    proc = spawn_logged(wrap_argv(port, "sh", "-c", "exit 7",
                                  opts=["--wrap-mode", "respawn"]), logp)
    try:
        wait_accepting("127.0.0.1", port, proc)
        time.sleep(4)
        with open("/proc/%d/stat" % proc.pid) as f:
            st = f.read().rsplit(")", 1)[1].split()
        cpu = (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")
        assert proc.poll() is None
    finally:
        stop_process(proc)
    log = open(logp, errors="replace").read()
    starts = log.count("exited")
    assert cpu < 1.0, (cpu, starts)
    assert starts < 20, log[-2000:]


def test_wsbridge_killed_leaves_no_orphan(tmp_path):
    """kill -9 of wsbridge (not of its group): the wrapped command dies
    too."""
    marker = str(tmp_path / "orphan")
    port = free_port()
    srv = ("import socket,time\n"
           "s=socket.socket(); s.bind(('127.0.0.1',%d)); s.listen(5)\n"
           "time.sleep(60)\n" % port)
    proc = spawn_logged(wrap_argv(port, "/usr/bin/python3", "-c", srv,
                                  marker), str(tmp_path / "w.log"))
    try:
        wait_accepting("127.0.0.1", port, proc)
        assert wait_for(lambda: pids_with_arg(marker), 5)
        proc.kill()
        proc.wait(5)
        assert wait_for(lambda: not pids_with_arg(marker), 5), \
            pids_with_arg(marker)
    finally:
        stop_process(proc)


# --- --unix-listen, --inetd, socket activation -------------------------------

@pytest.mark.parametrize("kind", ["directory", "regular file",
                                  "dangling symlink", "too long"])
def test_unix_listen_refuses_odd_paths(tmp_path, kind):
    """--unix-listen on something that is not an old socket: exit 1 with
    a message, and the thing is left as it was."""
    p = tmp_path / "sock"
    if kind == "directory":
        p.mkdir()
    elif kind == "regular file":
        p.write_text("keep me\n")
    elif kind == "dangling symlink":
        p.symlink_to(tmp_path / "nowhere")
    else:
        p = tmp_path / ("x" * 120)
    r = run_wsbridge(["--unix-listen", str(p), "127.0.0.1:9"])
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert b"--unix-listen" in r.stderr, r.stderr
    if kind == "directory":
        assert p.is_dir()
    elif kind == "regular file":
        assert p.read_text() == "keep me\n"
    elif kind == "dangling symlink":
        assert p.is_symlink() and not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("kind", ["file", "udp", "not listening",
                                  "connected"])
def test_inetd_refuses_odd_stdin(tmp_path, kind):
    """--inetd with stdin a file, a UDP socket, a TCP socket that does
    not listen, or a connected stream socket: exit 1 with a message, no
    hang."""
    keep = []
    if kind == "file":
        f = open(tmp_path / "f", "w+")
        keep.append(f)
        stdin = f.fileno()
    elif kind == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        keep.append(s)
        stdin = s.fileno()
    elif kind == "not listening":
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        keep.append(s)
        stdin = s.fileno()
    else:
        a, b = socket.socketpair()
        keep += [a, b]
        stdin = a.fileno()
    try:
        r = subprocess.run(wsbridge_argv0() + ["--inetd", "127.0.0.1:9"],
                           stdin=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=10)
    finally:
        for k in keep:
            k.close()
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert b"--inetd" in r.stderr, r.stderr


def activated(tmp_path, listen_fds, listen_pid="", timeout=15):
    """wsbridge run with one listening socket at fd 3 and LISTEN_FDS /
    LISTEN_PID as given (default: wsbridge's own pid): (status
    or None if still running after timeout, output, port)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(5)
    port = s.getsockname()[1]
    logp = tmp_path / ("act-%s.log" % listen_fds)
    n = s.fileno()
    # A tiny exec helper: fd n becomes 3, then LISTEN_PID (its own pid,
    # which wsbridge keeps across exec, unless listen_pid is given).
    helper = ("import os,sys\n"
              "n=int(sys.argv[1])\n"
              "if n != 3: os.dup2(n, 3); os.close(n)\n"
              "os.environ['LISTEN_PID']=sys.argv[2] or str(os.getpid())\n"
              "os.environ['LISTEN_FDS']=sys.argv[3]\n"
              "os.execv(sys.argv[4], sys.argv[4:])\n")
    argv = ["/usr/bin/python3", "-c", helper, str(n), listen_pid,
            str(listen_fds)] + wsbridge_argv0() + ["127.0.0.1:9"]
    try:
        with open(logp, "wb") as log:
            p = subprocess.Popen(argv, pass_fds=(n,),
                                 stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=log, start_new_session=True)
    finally:
        s.close()
    try:
        code = p.wait(timeout)
    except subprocess.TimeoutExpired:
        code = None
    stop_process(p)
    return code, logp.read_text(errors="replace"), port


def test_listen_fds_more_than_passed(tmp_path):
    """LISTEN_FDS=3 with only fd 3 passed: a start-up error (exit 1), not
    a bridge serving on whatever fds 4 and 5 happen to be."""
    code, out, _ = activated(tmp_path, 3)
    assert code == 1, (code, out)
    assert "socket activation" in out, out


def test_listen_pid_of_another_process(tmp_path):
    """LISTEN_PID of another process: the passed sockets are not ours;
    the words are read as usual (here: a missing target)."""
    code, out, _ = activated(tmp_path, 1, listen_pid="1")
    assert code == 2, (code, out)
    assert "missing the target" in out, out


def test_sighup_storm_during_tls_handshakes(start_bridge, echo_backend,
                                           tmp_path):
    """300 SIGHUP (certificate reload) while 4 threads open wss://
    sessions and echo: every handshake and echo works (the old context is
    not freed under a handshake), the process lives."""
    import ssl
    pem = tmp_path / "self.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", str(pem), "-out", str(pem),
                    "-days", "2", "-subj", "/CN=localhost"], check=True,
                   capture_output=True, timeout=30)
    with open(pem) as f:
        text = f.read()
    # -keyout and -out to the same file: the key first, then the cert.
    assert "PRIVATE KEY" in text and "CERTIFICATE" in text
    b = start_bridge(echo_backend[1], "--cert", str(pem))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    stop = threading.Event()
    errors, counts = [], [0]

    def loop():
        try:
            while not stop.is_set():
                raw = socket.create_connection(("127.0.0.1", b.port), 10)
                s = ctx.wrap_socket(raw, server_hostname="localhost")
                cl = RawClient.__new__(RawClient)
                cl.host, cl.port, cl.sock = "127.0.0.1", b.port, s
                cl.buf, cl.eof, cl.response = bytearray(), False, None
                cl.handshake()
                echo_once(cl, b"tls %d" % counts[0])
                counts[0] += 1
                cl.close()
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    ts = [threading.Thread(target=loop, daemon=True) for _ in range(4)]
    for t in ts:
        t.start()
    for i in range(300):
        os.kill(b.pid, signal.SIGHUP)
        time.sleep(0.005)
    stop.set()
    for t in ts:
        t.join(15)
    assert not errors, errors[:3]
    assert counts[0] > 10
    assert b.proc.poll() is None
    assert "certificate, key and CA files reloaded" in b.log()


# --- --record ----------------------------------------------------------------

def test_sigterm_with_many_recorded_sessions(start_bridge, echo_backend,
                                             tmp_path):
    """120 concurrent recorded sessions, each 64 KiB echoed, then SIGTERM
    while all are open: every client gets 1001, the process exits 0 and
    every recording is complete (ends with 'EOF'];)."""
    base = tmp_path / "rec"
    b = start_bridge(echo_backend[1], "--record", str(base),
                     expect_exit=True)
    cls = []
    for i in range(120):
        cl = ws(b.port)
        cl.send_frame(OP_BINARY, bytes([i % 256]) * 65536)
        cls.append(cl)
    for cl in cls:
        assert len(cl.recv_data(65536)) == 65536
    os.kill(b.pid, signal.SIGTERM)
    for cl in cls:
        code, _ = cl.recv_close(skip_data=False, timeout=10)
        assert code == 1001
        cl.send_frame(OP_CLOSE, close_payload(1001))
    assert b.wait_exit(10) == 0, b.log()[-2000:]
    files = sorted(tmp_path.glob("rec.*"))
    assert len(files) == 120, len(files)
    for f in files:
        data = f.read_bytes()
        assert data.startswith(b"var VNC_frame_data = [")
        assert data.rstrip().endswith(b"'EOF'];"), (f, data[-100:])


# --- sd_notify ordering ------------------------------------------------------

@pytest.mark.parametrize("stop_sig", [signal.SIGUSR2, signal.SIGTERM],
                         ids=["SIGUSR2", "SIGTERM"])
def test_no_ready_after_stopping(tmp_path, echo_backend, stop_sig):
    """SIGHUP while draining or stopping (a reload racing a restart):
    once STOPPING=1 is sent, no READY=1 follows."""
    nsock = str(tmp_path / "notify")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(nsock)
    srv.settimeout(0.5)
    port = free_port()
    env = dict(os.environ, NOTIFY_SOCKET=nsock)
    logp = str(tmp_path / "w.log")
    proc = spawn_logged(wsbridge_argv0() + [
        "127.0.0.1:%d" % port, "127.0.0.1:%d" % echo_backend[1]], logp,
        env=env)
    try:
        wait_accepting("127.0.0.1", port, proc)
        cl = ws(port)  # keeps the drain / stop from ending at once
        echo_once(cl)
        os.kill(proc.pid, stop_sig)
        assert wait_for(lambda: "got " in open(logp).read(), 3)
        time.sleep(0.2)
        os.kill(proc.pid, signal.SIGHUP)
        assert wait_for(lambda: "got SIGHUP" in open(logp).read(), 3)
        msgs = []
        try:
            while True:
                msgs.append(srv.recv(4096).decode())
        except socket.timeout:
            pass
        cl.close()
    finally:
        stop_process(proc)
        srv.close()
    states = [m.split("\n")[0] for m in msgs]
    assert "STOPPING=1" in states, msgs
    after = states[states.index("STOPPING=1"):]
    assert "READY=1" not in after, msgs
