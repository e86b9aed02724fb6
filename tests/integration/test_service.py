"""Running as a service (issue 9): signals an operator sends (SIGUSR2
drain, SIGQUIT, SIGUSR1 without a log file, signals that would kill by
default), -D with --pid-file, the open-files limit, --libserver, and the
systemd units of deploy/systemd checked with systemd-analyze and run as
written under systemd-socket-activate with a NOTIFY_SOCKET."""

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import SRCDIR, wsbridge_argv0
from wsutil import (OP_BINARY, OP_CLOSE, ConnectionGone, RawClient,
                    close_payload, encode_frame, free_port, stop_process,
                    wait_accepting, wait_for)


def ws(b, timeout=5):
    cl = RawClient("127.0.0.1", b.port, timeout=timeout)
    cl.handshake()
    return cl


def echo_once(cl, data=b"ping"):
    cl.send_frame(OP_BINARY, data)
    assert cl.recv_data(len(data)) == data


def refused(port):
    """Whether a TCP connect to 127.0.0.1:port is refused."""
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
    except ConnectionRefusedError:
        return True
    finally:
        s.close()
    return False


def test_sigusr2_drains(start_bridge, echo_backend):
    """SIGUSR2 with a live session: it goes on relaying, new connections
    are refused, and the process exits 0 once it has ended."""
    b = start_bridge(echo_backend[1], expect_exit=True)
    cl = ws(b)
    echo_once(cl)
    os.kill(b.pid, signal.SIGUSR2)
    assert wait_for(lambda: "got SIGUSR2: draining" in b.log(), 3), b.log()
    assert wait_for(lambda: refused(b.port), 3), "still accepting"
    for i in range(5):
        echo_once(cl, b"still here %d" % i)
    time.sleep(0.5)
    assert b.proc.poll() is None, "exited with a session open"
    os.kill(b.pid, signal.SIGUSR2)
    assert wait_for(lambda: "got SIGUSR2: already draining" in b.log(), 3)
    cl.send(close_frame())
    code = b.wait_exit(5)
    assert code == 0, (code, b.log())
    assert "no sessions left, exiting" in b.log()


def close_frame():
    return encode_frame(OP_CLOSE, close_payload(1000))


def test_sigusr2_then_sigterm_sends_1001(start_bridge, echo_backend):
    """A drain interrupted by SIGTERM: the remaining client gets Close
    1001 and the process exits 0."""
    b = start_bridge(echo_backend[1], expect_exit=True)
    cl = ws(b)
    os.kill(b.pid, signal.SIGUSR2)
    assert wait_for(lambda: "draining" in b.log(), 3)
    os.kill(b.pid, signal.SIGTERM)
    code, _ = cl.recv_close(skip_data=False, timeout=3)
    assert code == 1001
    assert b.wait_exit(5) == 0


def test_sigquit_stops_gracefully(start_bridge, echo_backend):
    """SIGQUIT (nginx's graceful stop) is logged by name and closes the
    session with 1001, exit 0: never a silent core-dumping death."""
    b = start_bridge(echo_backend[1], expect_exit=True)
    cl = ws(b)
    echo_once(cl)
    os.kill(b.pid, signal.SIGQUIT)
    code, _ = cl.recv_close(skip_data=False, timeout=3)
    assert code == 1001
    assert b.wait_exit(5) == 0
    assert "got SIGQUIT" in b.log()


@pytest.mark.parametrize("sig", [signal.SIGALRM, signal.SIGVTALRM,
                                 signal.SIGPROF, signal.SIGIO, signal.SIGPWR,
                                 signal.SIGXCPU, signal.SIGXFSZ])
def test_default_deadly_signals_are_logged_and_ignored(start_bridge,
                                                      echo_backend, sig):
    """Signals whose default action kills leave a log line and nothing
    else: the session keeps relaying."""
    b = start_bridge(echo_backend[1])
    cl = ws(b)
    os.kill(b.pid, sig)
    name = signal.Signals(sig).name
    if name == "SIGIO":
        name = "SIGPOLL"  # glibc's abbreviation for the same number
    assert wait_for(lambda: "got %s: ignored" % name in b.log() or
                    "got SIGIO: ignored" in b.log(), 3), b.log()
    echo_once(cl)
    assert b.proc.poll() is None


def test_sigusr1_without_log_file(start_bridge, echo_backend):
    b = start_bridge(echo_backend[1])
    os.kill(b.pid, signal.SIGUSR1)
    assert wait_for(lambda: "got SIGUSR1: no --log-file" in b.log(), 3)
    echo_once(ws(b))


def test_sighup_is_logged(start_bridge, echo_backend):
    b = start_bridge(echo_backend[1])
    os.kill(b.pid, signal.SIGHUP)
    assert wait_for(lambda: "got SIGHUP" in b.log(), 3), b.log()
    echo_once(ws(b))


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_daemon_with_pid_file(tmp_path, echo_backend):
    """-D: the command returns 0 once the port accepts; the daemon is
    another process, a session leader in /, its pid in --pid-file,
    relaying; SIGTERM stops it and removes the pid file.  Relative
    file names still work after the chdir."""
    port = free_port()
    pid_file = tmp_path / "run" / "wsbridge.pid"
    pid_file.parent.mkdir()
    argv = wsbridge_argv0() + [
        "-D", "--pid-file", "run/wsbridge.pid", "--log-file", "ws.log",
        "127.0.0.1:%d" % port, "127.0.0.1:%d" % echo_backend[1]]
    r = subprocess.run(argv, cwd=str(tmp_path), timeout=15,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 0, r.stderr
    pid = int(pid_file.read_text())
    try:
        assert pid_alive(pid)
        # Listening before the parent returned: no wait needed.
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.close()
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        assert int(fields[3]) == pid, "not a session leader (setsid)"
        assert os.readlink("/proc/%d/cwd" % pid) == "/"
        cl = RawClient("127.0.0.1", port, timeout=5)
        cl.handshake()
        echo_once(cl)
        cl.close()
        with open("/proc/%d/fd/0" % pid) as _:
            pass
        assert os.readlink("/proc/%d/fd/2" % pid) == "/dev/null"
    finally:
        os.kill(pid, signal.SIGTERM)
    assert wait_for(lambda: not pid_alive(pid), 5), "daemon did not exit"
    assert not pid_file.exists(), "pid file left behind"
    log = (tmp_path / "ws.log").read_text()
    assert "listening on" in log and "got SIGTERM" in log, log


def test_daemon_start_up_error_reaches_terminal(tmp_path):
    """-D with the port taken: the message is on the terminal's stderr and
    the exit status is 1, as without -D; no daemon is left."""
    hold = socket.socket()
    hold.bind(("127.0.0.1", 0))
    hold.listen(1)
    port = hold.getsockname()[1]
    try:
        r = subprocess.run(wsbridge_argv0() + [
            "-D", "--pid-file", str(tmp_path / "p"),
            "127.0.0.1:%d" % port, "127.0.0.1:9"], timeout=15,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    finally:
        hold.close()
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert b"already in use" in r.stderr.lower() or \
        b"address in use" in r.stderr.lower(), r.stderr
    assert not (tmp_path / "p").exists()


def test_open_files_limit_raised(tmp_path, echo_backend):
    """The soft RLIMIT_NOFILE is raised to the hard one at start-up and
    the sessions it allows are logged."""
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        pytest.skip("prlimit (util-linux) not installed")
    port = free_port()
    log = tmp_path / "w.log"
    argv = [prlimit, "--nofile=1024:4096"] + wsbridge_argv0() + [
        "127.0.0.1:%d" % port, "127.0.0.1:%d" % echo_backend[1]]
    with open(log, "wb") as f:
        p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT)
    try:
        wait_accepting("127.0.0.1", port, p)
        with open("/proc/%d/limits" % p.pid) as f:
            line = [x for x in f if x.startswith("Max open files")][0]
        assert line.split()[3:5] == ["4096", "4096"], line
        # The port accepts as soon as it listens, a moment before the
        # line is written.
        want = r"open files: up to 4096, room for about 2016 sessions"
        assert wait_for(lambda: re.search(want, log.read_text()), 10), \
            log.read_text()
    finally:
        stop_process(p)


def test_libserver_is_ignored_with_a_warning(start_bridge, echo_backend):
    b = start_bridge(echo_backend[1], "--libserver")
    echo_once(ws(b))
    lines = [x for x in b.log().splitlines() if "--libserver" in x]
    assert len(lines) == 1 and "warning" in lines[0], b.log()


# --- the systemd units, as installed ------------------------------------

UNIT_DIR = os.path.join(SRCDIR, "deploy", "systemd")


def unit_text(name):
    with open(os.path.join(UNIT_DIR, name)) as f:
        return f.read()


def exe_path():
    return os.path.abspath(wsbridge_argv0()[0])


def installed_service(tmp_path):
    """wsbridge@.service as `make install` writes it, bindir being the
    directory of the binary under test."""
    text = unit_text("wsbridge@.service.in").replace(
        "@bindir@", os.path.dirname(exe_path()))
    # The binary under test may have another name (never installed).
    text = text.replace(os.path.dirname(exe_path()) + "/wsbridge ",
                        exe_path() + " ")
    path = tmp_path / "wsbridge@.service"
    path.write_text(text)
    return path, text


def test_units_verify(tmp_path):
    """systemd-analyze verify accepts both units (as installed)."""
    sa = shutil.which("systemd-analyze")
    if sa is None:
        pytest.skip("systemd-analyze not installed")
    svc, _ = installed_service(tmp_path)
    shutil.copy(os.path.join(UNIT_DIR, "wsbridge@.socket"), tmp_path)
    for unit in ("wsbridge@6080.service", "wsbridge@6080.socket"):
        # An instance of a template is verified through a link to it.
        link = tmp_path / unit
        link.symlink_to(unit.replace("6080", ""))
        r = subprocess.run([sa, "verify", "--man=no", str(link)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60, cwd=str(tmp_path))
        err = r.stderr.decode()
        # Only problems with our units count (not the host's own ones).
        ours = [x for x in err.splitlines() if "wsbridge" in x]
        assert r.returncode == 0 and not ours, err


def exec_start(text, port, env):
    """The service's ExecStart, expanded as systemd would: %i is the
    instance (the port), $VAR words from the environment file."""
    line = [x for x in text.splitlines() if x.startswith("ExecStart=")][0]
    words = []
    for w in shlex.split(line[len("ExecStart="):]):
        w = w.replace("%i", str(port))
        if w.startswith("$"):
            words += shlex.split(env.get(w[1:], ""))
        else:
            words.append(w)
    return words


def read_env_file(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                k, v = line.split("=", 1)
                env[k] = v
    return env


def test_service_under_socket_activation(tmp_path, echo_backend):
    """The unit's ExecStart with the example environment file (its target
    pointed at the test's echo backend), started by systemd-socket-activate
    on the port as wsbridge@PORT.socket would: it serves the passed socket,
    says READY=1 on the NOTIFY_SOCKET, RELOADING=1 then READY=1 on SIGHUP,
    STOPPING=1 on SIGTERM."""
    ssa = shutil.which("systemd-socket-activate")
    if ssa is None:
        pytest.skip("systemd-socket-activate not installed")
    _, text = installed_service(tmp_path)
    env = read_env_file(os.path.join(UNIT_DIR, "wsbridge.env.example"))
    env["WSBRIDGE_TARGET"] = "127.0.0.1:%d" % echo_backend[1]
    if not os.path.isdir("/usr/share/novnc"):
        env["WSBRIDGE_OPTS"] = env["WSBRIDGE_OPTS"].replace(
            "--web /usr/share/novnc", "")
    port = free_port()
    argv = exec_start(text, port, env)
    assert argv[0] == exe_path() and str(port) in argv
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    npath = str(tmp_path / "notify")
    notify.bind(npath)
    notify.settimeout(10)
    log = tmp_path / "svc.log"
    penv = dict(os.environ, NOTIFY_SOCKET=npath)
    with open(log, "wb") as f:
        # systemd-socket-activate passes on only the variables -E names.
        keep = ["-E", "NOTIFY_SOCKET"]
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                keep += ["-E", k]
        p = subprocess.Popen([ssa, "-l", "127.0.0.1:%d" % port] + keep +
                             argv, stdout=f, stderr=subprocess.STDOUT,
                             env=penv)
    try:
        msgs = []

        def until(word):
            while True:
                m = notify.recv(4096).decode()
                msgs.append(m)
                if word in m.split("\n"):
                    return m
        # systemd-socket-activate starts the program at the first
        # connection; that connection is then served by it.
        wait_accepting("127.0.0.1", port, p)
        cl = RawClient("127.0.0.1", port, timeout=10)
        cl.handshake()
        echo_once(cl)
        until("READY=1")
        os.kill(p.pid, signal.SIGHUP)
        m = until("RELOADING=1")
        assert re.search(r"MONOTONIC_USEC=\d+", m), m
        until("READY=1")
        os.kill(p.pid, signal.SIGTERM)
        until("STOPPING=1")
        try:
            code, _ = cl.recv_close(skip_data=False, timeout=3)
            assert code == 1001
        except ConnectionGone:
            raise AssertionError("no Close 1001")
        assert p.wait(10) == 0
    finally:
        stop_process(p)
        notify.close()
    text = log.read_text()
    assert "got SIGTERM" in text, text
