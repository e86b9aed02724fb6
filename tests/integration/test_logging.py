"""websockify's logging options (issue 9): --log-file and SIGUSR1 under a
real logrotate run, --syslog to a Unix datagram socket and to UDP (IPv4 and
IPv6) checked against RFC 5424's ABNF and against what Debian's websockify
sends, --legacy-syslog, a syslog server that is down or never reads, and
JOURNAL_STREAM's "<N>" prefixes."""

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import SANITIZER_RE, SRCDIR, wsbridge_argv0
from wsutil import (OP_BINARY, OP_CLOSE, RawClient, close_payload, free_port,
                    have_ipv6, spawn_logged, stop_process, wait_accepting,
                    wait_for)

# One stderr or --log-file line: our timestamp, a level, the text.
LINE_RE = re.compile(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
                     r"(info|warning|debug|fatal): [^\n]*\Z")
STAMP_LEN = len("2024-01-31T12:00:00.000Z ")

# RFC 5424 6: SYSLOG-MSG = HEADER SP STRUCTURED-DATA [SP MSG], with
# HEADER = PRI VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP
# MSGID; every field but MSG is PRINTUSASCII (%d33-126), NILVALUE "-".
P = rb"[\x21-\x7e]"
RFC5424_RE = re.compile(
    rb"<(?P<pri>0|[1-9][0-9]{0,2})>(?P<version>[1-9][0-9]{0,2}) "
    rb"(?P<timestamp>-|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
    rb"[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})) "
    rb"(?P<hostname>" + P + rb"{1,255}) (?P<app>" + P + rb"{1,48}) "
    rb"(?P<procid>" + P + rb"{1,128}) (?P<msgid>" + P + rb"{1,32}) "
    rb"(?P<sd>-|(?:\[[^\]]*\])+)(?: (?P<msg>.*))?\Z", re.S)
# The local syslogd form websockify sends with --legacy-syslog.
LEGACY_RE = re.compile(
    rb"<(?P<pri>0|[1-9][0-9]{0,2})>(?P<app>[^\[\]: ]+)\[(?P<procid>\d+)\]: "
    rb"(?P<msg>.*)\Z", re.S)
# What websockify (and so wsbridge) puts in TIMESTAMP.
WEBSOCKIFY_STAMP_RE = re.compile(rb"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")
BOM = b"\xef\xbb\xbf"

SEVERITY = {"fatal": 2, "warning": 4, "info": 6, "debug": 7}
FAC_USER, FAC_DAEMON = 1, 3


def parse_rfc5424(dgram):
    """The fields of one RFC 5424 datagram; fails on any ABNF violation."""
    m = RFC5424_RE.match(dgram)
    assert m, "not RFC 5424: %r" % dgram
    f = {k: v for k, v in m.groupdict().items()}
    assert int(f["pri"]) <= 191, dgram
    assert f["version"] == b"1", dgram
    msg = f["msg"] or b""
    if msg.startswith(BOM):
        msg[3:].decode("utf-8")  # MSG-UTF8 must be UTF-8
    f["text"] = msg[3:] if msg.startswith(BOM) else msg
    return f


def parse_legacy(dgram):
    m = LEGACY_RE.match(dgram)
    assert m, "not the legacy form: %r" % dgram
    f = dict(m.groupdict())
    f["text"] = f["msg"]
    return f


class SyslogServer:
    """A datagram socket the test reads syslog messages from: a Unix
    path, or UDP on 127.0.0.1 or ::1."""

    def __init__(self, kind, tmp_path):
        self.kind = kind
        if kind == "unix":
            self.path = str(tmp_path / "syslog.sock")
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.sock.bind(self.path)
            self.arg = self.path
        else:
            fam, host = ((socket.AF_INET6, "::1") if kind == "udp6"
                         else (socket.AF_INET, "127.0.0.1"))
            self.sock = socket.socket(fam, socket.SOCK_DGRAM)
            self.sock.bind((host, 0))
            port = self.sock.getsockname()[1]
            self.arg = ("[%s]:%d" if fam == socket.AF_INET6 else "%s:%d") % (
                host, port)
        self.got = []

    def collect(self, pred, timeout=5.0):
        """Read datagrams until pred(all so far) holds or timeout; all."""
        deadline = time.monotonic() + timeout
        while not pred(self.got) and time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                self.got.append(self.sock.recv(65536))
            except socket.timeout:
                break
        return self.got

    def close(self):
        self.sock.close()


@pytest.fixture
def syslog_server(tmp_path):
    servers = []

    def make(kind="unix"):
        s = SyslogServer(kind, tmp_path)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.close()


def session(port, data=b"hello", host="127.0.0.1"):
    """One WebSocket session through the bridge: echo, Close, EOF."""
    with RawClient(host, port, timeout=10) as cl:
        cl.handshake()
        cl.send_frame(OP_BINARY, data)
        assert cl.recv_data(len(data)) == data
        cl.send_frame(OP_CLOSE, close_payload(1000))
        cl.recv_close()
        cl.expect_eof()


def closed_lines(text):
    return text.count("closed by client, code 1000")


def log_lines(text):
    """Our log lines in a stderr capture (other output left out)."""
    return [ln for ln in text.splitlines() if LINE_RE.match(ln)]


def file_lines(path):
    """Every line of a --log-file; each one whole (no split, no torn)."""
    with open(path, "rb") as f:
        data = f.read().decode()
    assert data == "" or data.endswith("\n"), "last line cut: %r" % data[-80:]
    lines = data.splitlines()
    for ln in lines:
        assert LINE_RE.match(ln), "not one whole line: %r" % ln
    return lines


# --- --log-file ------------------------------------------------------------

def test_log_file_gets_every_line(start_bridge, echo_backend, tmp_path):
    """--log-file: the start-up line and a session's lines, the same lines
    as stderr; the file is created 0640 (umask 022)."""
    path = tmp_path / "wsbridge.log"
    b = start_bridge(echo_backend[1], "--log-file", str(path))
    session(b.port)
    assert wait_for(lambda: closed_lines(path.read_text()) == 1, 5)
    lines = file_lines(path)
    assert any("listening on" in ln for ln in lines), lines
    assert any("WebSocket (ws://) connection" in ln for ln in lines), lines
    assert lines == log_lines(b.log())
    assert path.stat().st_mode & 0o777 == 0o640


def test_log_file_unwritable_is_a_start_up_error(tmp_path):
    """A --log-file that cannot be opened stops start-up with exit 1
    (cannot start, as a port in use or a pid file that cannot be made)."""
    r = subprocess.run(wsbridge_argv0() + [
        "--log-file", str(tmp_path / "no" / "such" / "dir.log"),
        "127.0.0.1:%d" % free_port(), "127.0.0.1:9"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=15)
    assert r.returncode == 1, r.stderr
    assert b"--log-file" in r.stderr and b"No such file" in r.stderr


def test_logrotate_with_sigusr1(start_bridge, echo_backend, tmp_path):
    """A real logrotate run with deploy/logrotate/wsbridge (paths moved to
    tmp): the rotated file holds the lines from before, a session after
    the rotation logs to the new file, and sessions running meanwhile
    lose no line and split none: both files together hold exactly the
    lines stderr got."""
    logdir = tmp_path / "var" / "log" / "wsbridge"
    rundir = tmp_path / "run" / "wsbridge"
    logdir.mkdir(parents=True)
    rundir.mkdir(parents=True)
    with open(os.path.join(SRCDIR, "deploy", "logrotate", "wsbridge")) as f:
        conf = f.read()
    assert "/var/log/wsbridge/" in conf and "/run/wsbridge/" in conf
    conf = conf.replace("/var/log/wsbridge", str(logdir)).replace(
        "/run/wsbridge", str(rundir))
    (tmp_path / "logrotate.conf").write_text(conf)
    logf = logdir / "6080.log"
    pidf = rundir / "6080.pid"
    b = start_bridge(echo_backend[1], "--log-file", str(logf),
                     "--pid-file", str(pidf), expect_exit=True)
    assert wait_for(pidf.exists, 5)
    for i in range(3):
        session(b.port)

    stop = threading.Event()
    errors = []

    def busy():
        try:
            while not stop.is_set():
                session(b.port, b"during the rotation")
        except Exception as e:  # reported by the test, not lost
            errors.append(e)
    t = threading.Thread(target=busy)
    t.start()
    try:
        time.sleep(0.2)
        r = subprocess.run(["/usr/sbin/logrotate", "-f", "-s",
                            str(tmp_path / "logrotate.state"),
                            str(tmp_path / "logrotate.conf")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=30)
        assert r.returncode == 0, r.stdout
        assert wait_for(lambda: "got SIGUSR1: reopened %s" % logf in b.log(),
                        5), b.log()
        time.sleep(0.3)
    finally:
        stop.set()
        t.join(30)
    assert not errors, errors
    session(b.port, b"after the rotation")
    n = closed_lines(b.log())
    assert wait_for(lambda: closed_lines(logf.read_text()) >= 1, 5)
    os.kill(b.pid, signal.SIGTERM)
    assert b.wait_exit(15) == 0, b.log()

    old = file_lines(str(logf) + ".1")
    new = file_lines(logf)
    assert any("listening on" in ln for ln in old), old
    assert not any("reopened" in ln for ln in old)
    assert "got SIGUSR1: reopened %s" % logf in new[0], new[:3]
    assert any("got SIGTERM" in ln for ln in new), new
    assert closed_lines("\n".join(old)) >= 3
    assert closed_lines("\n".join(new)) >= 1
    # Workers write stderr and the file one line at a time each: the
    # order across threads may differ between the two, the lines not.
    assert sorted(old + new) == sorted(log_lines(b.log()))
    assert closed_lines("\n".join(old + new)) == n


def test_sigusr1_recreates_a_deleted_file(start_bridge, echo_backend,
                                          tmp_path):
    """SIGUSR1 after the file was deleted: a new one (0640) is created and
    the next lines go there; a path that cannot be opened any more gets a
    warning and the old file stays in use."""
    path = tmp_path / "wsbridge.log"
    b = start_bridge(echo_backend[1], "--log-file", str(path))
    path.unlink()
    os.kill(b.pid, signal.SIGUSR1)
    assert wait_for(lambda: path.exists() and
                    "got SIGUSR1: reopened" in path.read_text(), 5), b.log()
    assert path.stat().st_mode & 0o777 == 0o640
    session(b.port)
    assert wait_for(lambda: closed_lines(path.read_text()) == 1, 5)

    path.unlink()
    path.mkdir()  # open() now fails with EISDIR
    os.kill(b.pid, signal.SIGUSR1)
    assert wait_for(lambda: "got SIGUSR1: cannot reopen %s, still writing "
                    "to the old file: Is a directory" % path in b.log(),
                    5), b.log()
    session(b.port)
    assert wait_for(lambda: closed_lines(b.log()) == 2, 5)
    fd_targets = [os.readlink("/proc/%d/fd/%s" % (b.pid, fd))
                  for fd in os.listdir("/proc/%d/fd" % b.pid)]
    assert "%s (deleted)" % path in fd_targets, fd_targets


# --- --syslog --------------------------------------------------------------

def check_rfc5424(dgrams, pid, facility, lines):
    """Every datagram is RFC 5424 as websockify frames it, sent by pid, and
    its MSG is one of our stderr lines without the timestamp, with the
    severity of that line's level."""
    texts = {ln[STAMP_LEN:] for ln in lines}
    host = socket.gethostname().encode()
    for d in dgrams:
        f = parse_rfc5424(d)
        text = f["text"].decode()
        level = text.split(":", 1)[0]
        assert int(f["pri"]) == facility * 8 + SEVERITY[level], d
        assert WEBSOCKIFY_STAMP_RE.match(f["timestamp"]), d
        assert f["hostname"] == host, d
        assert f["app"] == b"wsbridge", d
        assert f["procid"] == str(pid).encode(), d
        assert f["msgid"] == b"-" and f["sd"] == b"-", d
        assert not d.endswith(b"\n"), d
        assert text in texts, (text, texts)


@pytest.mark.parametrize("kind", ["unix", "udp4", "udp6"])
def test_syslog_rfc5424(kind, start_bridge, echo_backend, syslog_server):
    """--syslog to a Unix datagram socket, to UDP on 127.0.0.1 and on
    [::1]: one datagram per line, RFC 5424, facility user without -D."""
    if kind == "udp6" and not have_ipv6():
        pytest.skip("no IPv6 loopback")
    srv = syslog_server(kind)
    b = start_bridge(echo_backend[1], "--syslog", srv.arg)
    session(b.port)
    got = srv.collect(lambda g: sum(b"closed by client" in d for d in g), 5)
    # A line goes to syslog first, then to stderr.
    assert wait_for(lambda: closed_lines(b.log()) == 1, 5)
    assert any(b"listening on" in d for d in got), got
    assert any(b"WebSocket (ws://) connection" in d for d in got), got
    check_rfc5424(got, b.pid, FAC_USER, log_lines(b.log()))
    assert len(got) == len(log_lines(b.log()))


def test_syslog_legacy(start_bridge, echo_backend, syslog_server):
    """--legacy-syslog: <PRI>wsbridge[PID]: MSG, facility user."""
    srv = syslog_server("unix")
    b = start_bridge(echo_backend[1], "--syslog", srv.arg, "--legacy-syslog")
    session(b.port)
    got = srv.collect(lambda g: sum(b"closed by client" in d for d in g), 5)
    assert wait_for(lambda: closed_lines(b.log()) == 1, 5)
    texts = {ln[STAMP_LEN:] for ln in log_lines(b.log())}
    assert len(got) == len(texts) >= 4, got
    for d in got:
        f = parse_legacy(d)
        text = f["text"].decode()
        assert int(f["pri"]) == FAC_USER * 8 + SEVERITY[text.split(":")[0]]
        assert f["app"] == b"wsbridge" and f["procid"] == b"%d" % b.pid, d
        assert text in texts, text


def test_syslog_daemon_facility(tmp_path, echo_backend, syslog_server):
    """-D: facility daemon, and PROCID is the daemon's pid (it forked)."""
    srv = syslog_server("unix")
    port = free_port()
    pidf = tmp_path / "wsbridge.pid"
    r = subprocess.run(wsbridge_argv0() + [
        "-D", "--pid-file", str(pidf), "--syslog", srv.arg,
        "127.0.0.1:%d" % port, "127.0.0.1:%d" % echo_backend[1]],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=15)
    assert r.returncode == 0, r.stderr
    pid = int(pidf.read_text())
    try:
        session(port)
        got = srv.collect(lambda g: any(b"closed by client" in d for d in g))
    finally:
        os.kill(pid, signal.SIGTERM)
    assert wait_for(lambda: not pidf.exists(), 10)
    assert not SANITIZER_RE.search(r.stderr), r.stderr
    assert any(b"listening on" in d for d in got), got
    for d in got:
        f = parse_rfc5424(d)
        level = f["text"].split(b":")[0].decode()
        assert int(f["pri"]) == FAC_DAEMON * 8 + SEVERITY[level], d
        assert f["procid"] == str(pid).encode(), d


def test_legacy_syslog_needs_syslog():
    r = subprocess.run(wsbridge_argv0() + [
        "--legacy-syslog", "127.0.0.1:%d" % free_port(), "127.0.0.1:9"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=15)
    assert r.returncode == 2, r.stderr
    assert b"--legacy-syslog needs --syslog" in r.stderr


def test_syslog_bad_server_is_a_start_up_error():
    """A --syslog host:port that does not parse or resolve: exit 1, the
    bridge cannot start."""
    for server, want in (("localhost:notaport", b"not a path or host:port"),
                         ("no-such-host.invalid:514", b"no-such-host")):
        r = subprocess.run(wsbridge_argv0() + [
            "--syslog", server, "127.0.0.1:%d" % free_port(),
            "127.0.0.1:9"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            timeout=30)
        assert r.returncode == 1, (server, r.stderr)
        assert want in r.stderr, r.stderr


def syslog_warnings(text):
    return [ln for ln in log_lines(text)
            if re.search(r"warning: syslog .*not sent", ln)]


@pytest.mark.parametrize("kind", ["full", "missing", "udp-closed"])
def test_syslog_down_never_stops_the_bridge(kind, start_bridge, echo_backend,
                                            syslog_server, tmp_path):
    """A syslog server that never reads (its queue full), a socket path
    that does not exist, a UDP port nobody listens on: sessions are
    relayed as ever, and the lost lines are said once (not per line)."""
    if kind == "full":
        srv = syslog_server("unix")  # bound, never read
        arg = srv.arg
    elif kind == "missing":
        arg = str(tmp_path / "no-such.sock")
    else:
        arg = "127.0.0.1:%d" % free_port(socket.AF_INET)
    b = start_bridge(echo_backend[1], "--syslog", arg, "-v")
    t0 = time.monotonic()
    for i in range(15):
        session(b.port)
    assert time.monotonic() - t0 < 10
    assert wait_for(lambda: closed_lines(b.log()) == 15, 5)
    warned = syslog_warnings(b.log())
    if kind == "udp-closed":
        assert warned == []  # UDP says nothing; the lines are just lost
    else:
        assert len(warned) == 1, warned
        assert ("No such file" in warned[0]) == (kind == "missing")
        assert ("Resource temporarily unavailable" in warned[0]) == (
            kind == "full")


# --- against websockify ----------------------------------------------------

def run_for_syslog(argv, port, srv, n_min, proc_log):
    """Start argv (listening on port), make one session, then stop it;
    the datagrams srv got and the process's pid."""
    p = spawn_logged(argv, proc_log)
    try:
        wait_accepting("127.0.0.1", port, p, 15)
        with RawClient("127.0.0.1", port, timeout=10) as cl:
            cl.handshake()
            cl.send_frame(OP_BINARY, b"hi")
            assert cl.recv_data(2) == b"hi"
        srv.collect(lambda g: len(g) >= n_min, 5)
    finally:
        stop_process(p)
    # What it sends while stopping belongs to it too.
    srv.collect(lambda g: False, 0.5)
    with open(proc_log, "rb") as f:
        assert not SANITIZER_RE.search(f.read()), proc_log
    got, srv.got = srv.got, []
    return got, p.pid


@pytest.mark.skipif(shutil.which("websockify") is None,
                    reason="Debian's websockify is not installed")
@pytest.mark.parametrize("kind,legacy", [("unix", False), ("udp4", False),
                                         ("unix", True)])
def test_syslog_same_shape_as_websockify(kind, legacy, echo_backend,
                                         syslog_server, tmp_path):
    """The same options and events (start-up, one connection) for
    websockify and wsbridge: the header fields agree one by one (texts,
    times, names and pids aside)."""
    srv = syslog_server(kind)
    opts = ["--syslog", srv.arg] + (["--legacy-syslog"] if legacy else [])
    target = "127.0.0.1:%d" % echo_backend[1]
    port = free_port()
    # websockify: 4 start-up lines, 2 for the connection.
    theirs, their_pid = run_for_syslog(
        ["websockify"] + opts + ["127.0.0.1:%d" % port, target], port, srv,
        6, str(tmp_path / "websockify.log"))
    port = free_port()
    ours, our_pid = run_for_syslog(
        wsbridge_argv0() + opts + ["127.0.0.1:%d" % port, target], port, srv,
        3, str(tmp_path / "wsbridge.log"))
    assert len(theirs) >= 5 and len(ours) >= 3, (theirs, ours)
    parse = parse_legacy if legacy else parse_rfc5424
    tf = [parse(d) for d in theirs]
    of = [parse(d) for d in ours]
    # Info lines from both, facility user: the same PRI.
    assert {f["pri"] for f in tf} == {b"14"}, theirs
    assert b"14" in {f["pri"] for f in of}, ours
    assert {f["app"] for f in tf} == {b"websockify"}
    assert {f["app"] for f in of} == {b"wsbridge"}
    # websockify logs a connection from its forked child: another pid.
    assert str(their_pid).encode() in {f["procid"] for f in tf}
    assert {f["procid"] for f in of} == {str(our_pid).encode()}
    for f in tf + of:
        assert f["procid"].isdigit()
    for d in theirs + ours:
        assert not d.endswith(b"\n"), d
    if legacy:
        return
    for f in tf + of:
        assert f["version"] == b"1"
        assert WEBSOCKIFY_STAMP_RE.match(f["timestamp"]), f
        assert f["msgid"] == b"-" and f["sd"] == b"-", f
    assert {f["hostname"] for f in tf} == {f["hostname"] for f in of}


# --- JOURNAL_STREAM --------------------------------------------------------

def start_with_stderr(tmp_path, echo_backend, env_stream, *opts):
    """wsbridge with stderr to a file and JOURNAL_STREAM set by
    env_stream(stat of that file); returns (proc, port, path)."""
    path = tmp_path / "stderr.log"
    path.touch()
    env = dict(os.environ)
    env["JOURNAL_STREAM"] = env_stream(path.stat())
    port = free_port()
    p = spawn_logged(wsbridge_argv0() + list(opts) + [
        "--libserver", "127.0.0.1:%d" % port,
        "127.0.0.1:%d" % echo_backend[1]], str(path), env=env)
    wait_accepting("127.0.0.1", port, p, 15)
    return p, port, path


def test_journal_stream_prefixes(tmp_path, echo_backend):
    """JOURNAL_STREAM names stderr: lines are "<6>info: ...", "<4>warning:
    ..." with no timestamp; the --log-file keeps its timestamps."""
    logf = tmp_path / "wsbridge.log"
    p, port, path = start_with_stderr(
        tmp_path, echo_backend, lambda st: "%d:%d" % (st.st_dev, st.st_ino),
        "--log-file", str(logf))
    try:
        session(port)
        assert wait_for(lambda: "closed by client" in path.read_text(), 5)
    finally:
        stop_process(p)
    assert not SANITIZER_RE.search(path.read_bytes()), path.read_text()
    lines = path.read_text().splitlines()
    ours = [ln for ln in lines if re.match(r"<\d>", ln)]
    assert ours and len(ours) == len(lines), lines
    assert any(ln.startswith("<4>warning: --libserver is ignored")
               for ln in ours), ours
    assert any(ln.startswith("<6>info: ") and "listening on" in ln
               for ln in ours), ours
    for ln in ours:
        assert re.match(r"<([0-7])>(\w+): ", ln), ln
        level = re.match(r"<([0-7])>(\w+): ", ln).groups()
        assert int(level[0]) == SEVERITY[level[1]], ln
    # Threads may write the two in another order; the lines are the same.
    assert sorted(ln[STAMP_LEN:] for ln in file_lines(logf)) == sorted(
        re.sub(r"^<\d>", "", ln) for ln in ours)


def test_journal_stream_elsewhere(tmp_path, echo_backend):
    """JOURNAL_STREAM naming another file (stderr is not the journal):
    plain timestamped lines."""
    p, port, path = start_with_stderr(
        tmp_path, echo_backend,
        lambda st: "%d:%d" % (st.st_dev, st.st_ino + 1))
    try:
        assert wait_for(lambda: "listening on" in path.read_text(), 5)
    finally:
        stop_process(p)
    assert not SANITIZER_RE.search(path.read_bytes()), path.read_text()
    lines = log_lines(path.read_text())
    assert any("warning: --libserver is ignored" in ln for ln in lines)
    assert not any(ln.startswith("<") for ln in path.read_text().splitlines())
