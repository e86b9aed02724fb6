"""Many instances behind a load balancer, sharing one Redis (issue 10):
the recipes in deploy/haproxy and deploy/nginx, used as written (only
their ports moved to free ones), in front of real wsbridge instances that
route by one TokenRedis source on a real redis-server.

haproxy (mode tcp, send-proxy-v2, health checks on /healthz): sessions
spread over the instances; a token added in Redis works through every
instance at once; an instance killed ends its own sessions (1006 on the
client: the connection drops without a Close) and disturbs nothing else;
a rolling restart (a new instance joins with --reuse-port, the old one
drains with SIGUSR2) drops no session and refuses no connection attempt.
nginx (X-Forwarded-For, --trusted-proxy): routed by token, and the
instances log the client's address, not nginx's."""

import os
import re
import shutil
import signal
import socket
import threading
import time
import urllib.request

import pytest

from conftest import SRCDIR
from wsutil import (OP_BINARY, OP_CLOSE, ConnectionGone, RawClient,
                    free_port, handshake_request, spawn_logged,
                    stop_process, wait_for)

DEPLOY = os.path.join(SRCDIR, "deploy")
CLIENT_ADDR = "127.0.0.2"  # the clients' own address, not the proxy's


def need(prog):
    path = shutil.which(prog) or shutil.which("/usr/sbin/" + prog)
    if path is None:
        pytest.skip("needs %s (apt-get install %s)" % (prog, prog))
    return path


def moved(text, ports):
    """The recipe with each of its port numbers replaced by a free one."""
    for old, new in ports.items():
        text = re.sub(r"\b%d\b" % old, str(new), text)
    return text


def client(port, timeout=10):
    """A RawClient connected from CLIENT_ADDR."""
    cl = RawClient.__new__(RawClient)
    cl.host, cl.port = "127.0.0.1", port
    cl.sock = socket.socket()
    cl.sock.settimeout(timeout)
    cl.sock.bind((CLIENT_ADDR, 0))
    cl.sock.connect(("127.0.0.1", port))
    cl.buf, cl.eof, cl.response = bytearray(), False, None
    return cl


def open_session(port, token):
    """A relaying session for token through the balancer on port: the
    client and the backend name it reached, or (None, None)."""
    cl = client(port)
    cl.send(handshake_request("127.0.0.1", port,
                              path="/websockify?token=%s" % token))
    try:
        if cl.read_response().status != 101:
            cl.close()
            return None, None
        got = b""
        while b"\n" not in got:
            fin, rsv, op, payload = cl.recv_frame()
            if op == OP_CLOSE:
                cl.close()
                return None, None
            got += payload
    except ConnectionGone:
        cl.close()
        return None, None
    return cl, got[5:got.index(b"\n")].decode()


def routed(port):
    """The backend a desk1 session reaches through port (closed at
    once), or None, also while nothing listens there yet."""
    try:
        cl, name = open_session(port, "desk1")
    except OSError:
        return None
    if cl is not None:
        cl.close()
    return name


def echo(cl, data):
    cl.send_frame(OP_BINARY, data)
    assert cl.recv_data(len(data), timeout=10) == data


def scrape(port):
    """The metrics of the instance whose --metrics port is port, as
    {name{labels}: value}."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def sessions_open(port):
    m = scrape(port)
    return sum(v for k, v in m.items()
               if k.split("{")[0] == "wsbridge_websocket_sessions_open")


class Instance:
    def __init__(self, start_bridge, port, mport, opts, redis, **kw):
        self.port, self.mport = port, mport
        self.bridge = start_bridge(
            None, "--metrics", "127.0.0.1:%d" % mport, "--token-plugin",
            "TokenRedis", "--token-source", "127.0.0.1:%d" % redis.port,
            *opts, port=port, wait=False, **kw)
        assert wait_for(lambda: self.healthy(), 10), self.bridge.log()

    def healthy(self):
        try:
            with urllib.request.urlopen(
                    "http://127.0.0.1:%d/healthz" % self.mport,
                    timeout=2) as r:
                return r.status == 200
        except OSError:
            return False


@pytest.fixture
def farm(start_bridge, redis, named_backend, tmp_path):
    """farm(kind) -> (front port, [Instance], {token: backend name},
    start(i) to start instance i again): kind "haproxy" (three instances
    with --proxy-protocol) or "nginx" (two with --trusted-proxy)."""
    procs = []

    def make(kind):
        r = redis()
        names = {}
        for tok in ("desk1", "desk2"):
            srv = named_backend(tok.replace("desk", "vnc"))
            r.cli("SET", tok, "127.0.0.1:%d" % srv.port)
            names[tok] = tok.replace("desk", "vnc")
        if kind == "haproxy":
            prog, n = need("haproxy"), 3
            recipe = os.path.join(DEPLOY, "haproxy", "haproxy.cfg")
            ports = {6080: free_port()}
            opts = ["--proxy-protocol"]
        else:
            prog, n = need("nginx"), 2
            recipe = os.path.join(DEPLOY, "nginx", "wsbridge.conf")
            ports = {8080: free_port()}
            opts = ["--trusted-proxy", "127.0.0.1"]
        for i in range(n):
            ports[6081 + i] = free_port()
            ports[9101 + i] = free_port()

        def start(i, *extra, **kw):
            return Instance(start_bridge, ports[6081 + i], ports[9101 + i],
                            opts + list(extra), r, **kw)
        insts = [start(i, expect_exit=True) for i in range(n)]
        with open(recipe) as f:
            text = moved(f.read(), ports)
        if kind == "haproxy":
            cfg = tmp_path / "haproxy.cfg"
            cfg.write_text(text)
            argv = [prog, "-db", "-f", str(cfg)]
            front = ports[6080]
        else:
            (tmp_path / "wsbridge.conf").write_text(text)
            cfg = tmp_path / "nginx.conf"
            cfg.write_text(
                "error_log %s/nginx-error.log info;\nevents {}\n"
                "http {\n\taccess_log off;\n\tinclude %s/wsbridge.conf;\n}\n"
                % (tmp_path, tmp_path))
            argv = [prog, "-c", str(cfg), "-p", str(tmp_path), "-g",
                    "daemon off; pid %s/nginx.pid;" % tmp_path]
            front = ports[8080]
        procs.append(spawn_logged(argv, str(tmp_path / (kind + ".log"))))
        assert wait_for(lambda: routed(front) == "vnc1", 15), \
            "no session through %s" % kind
        return front, insts, names, start, r

    yield make
    for p in procs:
        stop_process(p)


def instance_counts(insts, total=None):
    """WebSocket sessions open on each instance; with total, once they
    add up to it (a probe session's end may still be on its way)."""
    if total is not None:
        assert wait_for(lambda: sum(instance_counts(insts)) == total, 5), \
            (instance_counts(insts), total)
    return [sessions_open(x.mport) for x in insts]


def test_haproxy_spreads_sessions_and_passes_the_client(farm):
    front, insts, names, _, _ = farm("haproxy")
    instance_counts(insts, 0)
    clients = []
    for i in range(6):
        cl, name = open_session(front, "desk1" if i % 2 else "desk2")
        assert name == ("vnc1" if i % 2 else "vnc2"), name
        clients.append(cl)
    counts = instance_counts(insts, 6)
    assert min(counts) >= 1, counts
    for x in insts:
        # The client's address from PROXY v2, not haproxy's.
        assert re.search(r"session \d+: %s:\d+" % re.escape(CLIENT_ADDR),
                         x.bridge.log()), x.bridge.log()[-2000:]
    for cl in clients:
        echo(cl, b"still there")
        cl.close()


def test_token_added_in_redis_works_through_every_instance(farm,
                                                           named_backend):
    front, insts, names, _, r = farm("haproxy")
    srv = named_backend("vnc9")
    r.cli("SET", "desk9", "127.0.0.1:%d" % srv.port)
    instance_counts(insts, 0)
    held = []
    for _ in range(len(insts)):
        cl, name = open_session(front, "desk9")
        assert name == "vnc9"
        held.append(cl)
    # leastconn with every session held open: one on each instance.
    assert instance_counts(insts, len(insts)) == [1] * len(insts)
    for cl in held:
        cl.close()


def test_instance_killed(farm):
    """SIGKILL one instance: its clients see the connection drop without
    a Close (1006), the others relay on, new sessions go elsewhere."""
    front, insts, names, _, _ = farm("haproxy")
    instance_counts(insts, 0)
    clients = [open_session(front, "desk1")[0] for _ in range(6)]
    counts = instance_counts(insts, 6)
    assert min(counts) >= 1, counts
    victim = insts[0]
    os.kill(victim.bridge.pid, signal.SIGKILL)
    victim.bridge.wait_exit(5)
    dropped = kept = 0
    for cl in clients:
        try:
            echo(cl, b"are you there")
            kept += 1
        except (ConnectionGone, OSError):
            # No Close frame, the connection just ends: 1006 to a
            # browser (a Close frame would fail recv_data instead).
            dropped += 1
    assert dropped == counts[0] and kept == 6 - counts[0], (dropped, kept)
    for _ in range(10):
        cl, name = open_session(front, "desk2")
        assert name == "vnc2", "a new session failed after the kill"
        cl.close()


def test_rolling_restart_loses_nothing(farm):
    """Rolling restart of instance 0 under a steady stream of new
    sessions: a new instance joins its port with --reuse-port, the old one
    drains (SIGUSR2) and exits when its last session ends.  Every attempt
    succeeds and every live session keeps relaying."""
    front, insts, names, start, _ = farm("haproxy")
    live = [open_session(front, "desk1")[0] for _ in range(6)]
    failures, attempts, stop = [], [0], threading.Event()

    def stream():
        while not stop.is_set():
            attempts[0] += 1
            cl, name = open_session(front, "desk2")
            if name != "vnc2":
                failures.append(attempts[0])
            else:
                cl.close()
    t = threading.Thread(target=stream)
    t.start()
    try:
        time.sleep(0.5)
        old = insts[0]
        new = start(0, "--reuse-port")
        assert wait_for(lambda: "another process listens there too" in
                        new.bridge.log(), 5), new.bridge.log()
        os.kill(old.bridge.pid, signal.SIGUSR2)
        assert wait_for(lambda: "draining" in old.bridge.log(), 3)
        # The successor answers the health checks from now on: the old
        # one's 503 does not flap the server in haproxy.
        assert wait_for(lambda: "its /metrics and /healthz answer from now "
                        "on" in old.bridge.log(), 3), old.bridge.log()
        assert all(new.healthy() for _ in range(10))
        time.sleep(2.0)  # the stream goes on meanwhile
        for cl in live:
            echo(cl, b"during the drain")
        for cl in live:
            cl.close()
        assert old.bridge.wait_exit(10) == 0, old.bridge.log()[-2000:]
        time.sleep(1.0)
    finally:
        stop.set()
        t.join(30)
    assert attempts[0] > 10, attempts
    assert not failures, "%d of %d attempts failed" % (len(failures),
                                                       attempts[0])
    assert new.healthy()


def test_nginx_forwards_the_client_address(farm):
    front, insts, names, _, _ = farm("nginx")
    clients = []
    for i in range(4):
        cl, name = open_session(front, "desk1")
        assert name == "vnc1"
        clients.append(cl)
    for x in insts:
        log = x.bridge.log()
        assert re.search(r"session \d+: %s\b" % re.escape(CLIENT_ADDR),
                         log), log[-2000:]
    for cl in clients:
        echo(cl, b"through nginx")
        cl.close()
