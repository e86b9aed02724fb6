"""The client's real address behind proxies: --trusted-proxy (issue 10).

Only a TCP peer inside a --trusted-proxy CIDR is believed about the
client: Forwarded (RFC 7239 for=), else X-Forwarded-For (the right-most
address that is not itself trusted), else X-Real-IP, walked as nginx's
realip module with real_ip_recursive on. The address shows in every log
line of the session (its prefix). From anyone else the headers are
ignored: a spoof never changes the address. A real nginx in front, as
an operator runs it; direct clients from 127.0.0.1 and ::1; a keep-alive
connection judged per request; bad CIDRs refused at start-up."""

import os
import re
import shutil
import socket
import subprocess

import pytest

from conftest import wsbridge_argv0
from wsutil import (RawClient, free_port, handshake_request, have_ipv6,
                    spawn_logged, stop_process, wait_accepting, wait_for)

# The line every upgrade logs, its prefix the client's address.
CONN_RE = re.compile(r"session (\d+): (\S+): WebSocket \(ws://\) connection")
CLIENT_ADDR = "127.0.0.2"  # a client that is not nginx (127.0.0.1)
SPOOF = "6.6.6.6"


def host_of(peer):
    """The address of a logged peer: "1.2.3.4:5" / "[::1]:5" / "1.2.3.4"."""
    if peer.startswith("["):
        return peer[1:peer.index("]")]
    if peer.count(":") == 1:
        return peer.split(":")[0]
    return peer


def connect(host, port, src=None):
    """A RawClient to host:port, from the address src if given."""
    if src is None:
        return RawClient(host, port)
    cl = RawClient.__new__(RawClient)
    cl.host, cl.port = host, port
    cl.sock = socket.socket()
    cl.sock.settimeout(10)
    cl.sock.bind((src, 0))
    cl.sock.connect((host, port))
    cl.buf, cl.eof, cl.response = bytearray(), False, None
    return cl


def upgrade_peer(bridge, extra=(), host=None, port=None, src=None):
    """Upgrade (through host:port, default the bridge itself) with extra
    header lines; the client address the bridge logged for it."""
    host, port = host or bridge.host, port or bridge.port
    before = len(CONN_RE.findall(bridge.log()))
    with connect(host, port, src) as cl:
        cl.send(handshake_request(host, port, extra=list(extra)))
        resp = cl.read_response()
        assert resp.status == 101, resp
    assert wait_for(lambda: len(CONN_RE.findall(bridge.log())) > before), \
        bridge.log()[-2000:]
    return CONN_RE.findall(bridge.log())[before][1]


# (description, header lines, the client's address or None: the peer's)
TRUSTED_CASES = [
    ("X-Forwarded-For one", ["X-Forwarded-For: 203.0.113.7"], "203.0.113.7"),
    ("X-Forwarded-For chain: right-most untrusted",
     ["X-Forwarded-For: 6.6.6.6, 203.0.113.7, 127.0.0.9"], "203.0.113.7"),
    ("X-Forwarded-For headers joined",
     ["X-Forwarded-For: 6.6.6.6", "X-Forwarded-For: 203.0.113.8, ::1"],
     "203.0.113.8"),
    ("X-Forwarded-For all trusted: left-most",
     ["X-Forwarded-For: 127.0.0.5, 127.0.0.6"], "127.0.0.5"),
    ("X-Forwarded-For unknown right-most: the peer",
     ["X-Forwarded-For: 203.0.113.7, unknown"], None),
    ("X-Forwarded-For a name: the peer",
     ["X-Forwarded-For: client.example"], None),
    ("Forwarded IPv6 with port",
     ['Forwarded: for="[2001:db8:cafe::17]:4711";proto=http'],
     "2001:db8:cafe::17"),
    ("Forwarded walked from the right",
     ["Forwarded: for=198.51.100.4, for=127.0.0.3;by=x"], "198.51.100.4"),
    ("Forwarded obfuscated: the peer", ['Forwarded: for="_hidden"'], None),
    ("Forwarded malformed: the peer, X-Forwarded-For not used",
     ['Forwarded: for="198.51.100.4', "X-Forwarded-For: 203.0.113.7"],
     None),
    ("Forwarded wins over X-Forwarded-For",
     ["X-Forwarded-For: 203.0.113.7", "Forwarded: for=198.51.100.4"],
     "198.51.100.4"),
    ("X-Real-IP", ["X-Real-IP: 198.51.100.9"], "198.51.100.9"),
    ("X-Forwarded-For wins over X-Real-IP",
     ["X-Real-IP: 198.51.100.9", "X-Forwarded-For: 203.0.113.7"],
     "203.0.113.7"),
    ("no header: the peer", [], None),
]


def test_trusted_peer_names_the_client(start_bridge, echo_backend):
    """From a trusted peer (127.0.0.0/8) each header table case gives its
    client, or keeps the peer; also in the close line."""
    b = start_bridge(echo_backend[1], "--trusted-proxy", "127.0.0.0/8",
                     "--trusted-proxy", "::1/128")
    for desc, extra, want in TRUSTED_CASES:
        peer = upgrade_peer(b, extra)
        assert host_of(peer) == (want or "127.0.0.1"), (desc, peer)
    assert wait_for(lambda: re.search(
        r"session \d+: 203\.0\.113\.7(:0)?: closed by", b.log())), \
        b.log()[-3000:]


# Spoofs a direct client sends; none may change the address.
SPOOFS = [
    ["X-Forwarded-For: %s" % SPOOF],
    ["Forwarded: for=%s" % SPOOF],
    ["Forwarded: for=\"[2001:db8::66]\""],
    ["X-Real-IP: %s" % SPOOF],
    ["X-Forwarded-For: %s" % SPOOF, "Forwarded: for=%s" % SPOOF,
     "X-Real-IP: %s" % SPOOF],
]


@pytest.mark.parametrize("opts", [
    [],
    ["--trusted-proxy", "10.0.0.0/8"],
    ["--trusted-proxy", "127.0.0.2", "--trusted-proxy", "::1"],
], ids=["no-trusted-proxy", "other-network", "neighbour-address"])
def test_untrusted_peer_headers_ignored(start_bridge, echo_backend, opts):
    """A client that is not a trusted proxy spoofs every header: the log
    names its own address, never the spoofed one."""
    b = start_bridge(echo_backend[1], *opts)
    for extra in SPOOFS:
        peer = upgrade_peer(b, extra)
        assert host_of(peer) == "127.0.0.1", (extra, peer)
    assert SPOOF not in b.log() and "2001:db8::66" not in b.log()


@pytest.mark.skipif(not have_ipv6(), reason="no IPv6 loopback")
def test_ipv6_proxy(start_bridge, echo_backend):
    """A proxy on ::1: trusted by ::1/128, not by 127.0.0.1; an IPv6
    client address from X-Forwarded-For."""
    b = start_bridge(echo_backend[1], "--trusted-proxy", "::1/128",
                     listen_host="::1")
    assert host_of(upgrade_peer(b, ["X-Forwarded-For: 2001:db8::5"])) == \
        "2001:db8::5"
    assert host_of(upgrade_peer(b, ["X-Real-IP: 203.0.113.1"])) == \
        "203.0.113.1"
    b = start_bridge(echo_backend[1], "--trusted-proxy", "127.0.0.1",
                     listen_host="::1")
    assert host_of(upgrade_peer(b, ["X-Forwarded-For: 2001:db8::5"])) == \
        "::1"


class LogOnly:
    """What upgrade_peer needs of a bridge: its log."""

    def __init__(self, path):
        self.path = path

    def log(self):
        with open(self.path, "rb") as f:
            return f.read().decode("utf-8", "replace")


@pytest.mark.skipif(not have_ipv6(), reason="no IPv6 loopback")
def test_ipv4_mapped_peer_matches_ipv4_cidr(echo_backend, tmp_path):
    """On a dual-stack socket (handed in with --inetd, as a supervisor
    may) an IPv4 proxy is ::ffff:127.0.0.1: an IPv4 CIDR trusts it."""
    lsock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    lsock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    lsock.bind(("::", 0))
    lsock.listen(16)
    port = lsock.getsockname()[1]
    log = str(tmp_path / "inetd.log")
    with open(log, "ab") as f:
        proc = subprocess.Popen(
            wsbridge_argv0() + ["--trusted-proxy", "127.0.0.0/8", "--inetd",
                                "127.0.0.1:%d" % echo_backend[1]],
            stdin=lsock.fileno(), stdout=f, stderr=f, start_new_session=True)
    lsock.close()
    try:
        wait_accepting("127.0.0.1", port, proc)
        peer = upgrade_peer(LogOnly(log), ["X-Forwarded-For: 203.0.113.3"],
                            host="127.0.0.1", port=port)
        assert host_of(peer) == "203.0.113.3", peer
        peer = upgrade_peer(LogOnly(log), ["X-Forwarded-For: 203.0.113.3"],
                            host="::1", port=port)
        assert host_of(peer) == "::1", peer
    finally:
        stop_process(proc)


def test_keep_alive_per_request(start_bridge, echo_backend, tmp_path):
    """--web keep-alive from a proxy: each request's client is its own;
    a request without the headers is the proxy's again."""
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "f.txt").write_text("x")
    b = start_bridge(echo_backend[1], "--trusted-proxy", "127.0.0.1",
                     "--web", str(tmp_path / "www"))
    reqs = [["X-Forwarded-For: 203.0.113.1"], [],
            ["Forwarded: for=198.51.100.2"], ["X-Real-IP: 203.0.113.1"]]
    with connect(b.host, b.port) as cl:
        for extra in reqs:
            cl.send(("GET /f.txt HTTP/1.1\r\nHost: x\r\n%s\r\n"
                     % "".join(h + "\r\n" for h in extra)).encode())
            resp = cl.read_response()
            assert resp.status == 200, resp
            cl._take(int(resp.header("content-length")))
        assert wait_for(lambda: len(re.findall(
            r"session \d+: (\S+): GET /f\.txt 200", b.log())) == 4)
    lines = re.findall(r"session \d+: (\S+): GET /f\.txt 200", b.log())
    assert [host_of(x) for x in lines] == \
        ["203.0.113.1", "127.0.0.1", "198.51.100.2", "203.0.113.1"], lines


@pytest.mark.parametrize("cidr", ["10.0.0.0/33", "::/129", "localhost",
                                  "10.0.0.0/", "fe80::1%lo", "[::1]",
                                  "10.0.0.1,10.0.0.2"])
def test_bad_cidr_refused_at_start(cidr, echo_backend):
    """A bad --trusted-proxy stops the start: exit 2 and a line naming
    it; nothing listens."""
    port = free_port()
    argv = wsbridge_argv0() + ["--trusted-proxy", "127.0.0.1",
                               "--trusted-proxy", cidr,
                               "127.0.0.1:%d" % port,
                               "127.0.0.1:%d" % echo_backend[1]]
    p = subprocess.run(argv, capture_output=True, timeout=5, text=True)
    assert p.returncode == 2, (p.returncode, p.stderr)
    first = p.stderr.splitlines()[0]
    assert "--trusted-proxy" in first and cidr in first, p.stderr
    assert "listening" not in p.stderr


@pytest.mark.parametrize("cidr", ["127.0.0.0/8", "::1/128", "0.0.0.0/0",
                                  "::ffff:127.0.0.0/104"])
def test_good_cidrs_start(start_bridge, echo_backend, cidr):
    """Addresses and networks of both families start the bridge."""
    b = start_bridge(echo_backend[1], "--trusted-proxy", cidr)
    want = "203.0.113.7" if cidr != "::1/128" else "127.0.0.1"
    assert host_of(upgrade_peer(b, ["X-Forwarded-For: 203.0.113.7"])) == \
        want


# --- behind a real nginx ---------------------------------------------------

NGINX_CONF = """\
error_log {dir}/nginx-error.log info;
events {{}}
http {{
	access_log off;
	map $http_upgrade $connection_upgrade {{
		default upgrade;
		''      close;
	}}
	server {{
		listen 127.0.0.1:{port};
		location / {{
			proxy_pass http://127.0.0.1:{bport};
			proxy_http_version 1.1;
			proxy_set_header Upgrade $http_upgrade;
			proxy_set_header Connection $connection_upgrade;
			proxy_set_header Host $host;
			proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
			proxy_set_header X-Real-IP $remote_addr;
			proxy_set_header Forwarded "";
		}}
	}}
}}
"""


@pytest.fixture
def nginx(tmp_path):
    """nginx(bridge) -> the port of a real nginx in front of bridge."""
    prog = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(prog, os.X_OK):
        pytest.skip("needs nginx (apt-get install nginx)")
    procs = []

    def start(bridge):
        port = free_port()
        d = tmp_path / ("nginx%d" % len(procs))
        d.mkdir()
        (d / "nginx.conf").write_text(NGINX_CONF.format(
            dir=d, port=port, bport=bridge.port))
        p = spawn_logged([prog, "-c", str(d / "nginx.conf"), "-p", str(d),
                          "-g", "daemon off; pid %s/nginx.pid;" % d],
                         str(d / "nginx.log"))
        procs.append(p)
        wait_accepting("127.0.0.1", port, p)
        return port

    yield start
    for p in procs:
        stop_process(p)


def test_nginx_trusted(start_bridge, echo_backend, nginx):
    """nginx on 127.0.0.1 trusted: the client's own address (127.0.0.2)
    is logged; a client's spoofed X-Forwarded-For or X-Real-IP through
    nginx loses to what nginx appends (the right-most untrusted)."""
    b = start_bridge(echo_backend[1], "--trusted-proxy", "127.0.0.1")
    port = nginx(b)
    peer = upgrade_peer(b, host="127.0.0.1", port=port, src=CLIENT_ADDR)
    assert host_of(peer) == CLIENT_ADDR, peer
    for extra in (["X-Forwarded-For: %s" % SPOOF],
                  ["X-Forwarded-For: 127.0.0.1"],
                  ["X-Real-IP: %s" % SPOOF]):
        peer = upgrade_peer(b, extra, host="127.0.0.1", port=port,
                            src=CLIENT_ADDR)
        assert host_of(peer) == CLIENT_ADDR, (extra, peer)
    assert SPOOF not in b.log()


def test_nginx_trusted_chain(start_bridge, echo_backend, nginx):
    """Two proxies: a front one (127.0.0.2) that the client reaches
    first sent X-Forwarded-For naming the client; nginx appends the front
    proxy; both trusted: the client is the right-most untrusted."""
    b = start_bridge(echo_backend[1], "--trusted-proxy", "127.0.0.0/8")
    port = nginx(b)
    peer = upgrade_peer(b, ["X-Forwarded-For: %s, 203.0.113.20" % SPOOF],
                        host="127.0.0.1", port=port, src=CLIENT_ADDR)
    assert host_of(peer) == "203.0.113.20", peer


def test_nginx_not_trusted(start_bridge, echo_backend, nginx):
    """Without --trusted-proxy, or with a CIDR that leaves nginx out, the
    headers nginx sends are ignored: the log names nginx."""
    for opts in ([], ["--trusted-proxy", "127.0.0.2/32"]):
        b = start_bridge(echo_backend[1], *opts)
        port = nginx(b)
        peer = upgrade_peer(b, ["X-Forwarded-For: %s" % SPOOF],
                            host="127.0.0.1", port=port, src=CLIENT_ADDR)
        assert host_of(peer) == "127.0.0.1", (opts, peer)
        assert SPOOF not in b.log() and CLIENT_ADDR not in b.log()


def test_nginx_forwarded_spoof(start_bridge, echo_backend, nginx):
    """A client sends its own Forwarded through nginx: it is cleared
    there (proxy_set_header Forwarded "", as deploy/nginx does; nginx
    passes a client's own Forwarded on otherwise, and wsbridge reads
    Forwarded first), so the spoof is never believed."""
    b = start_bridge(echo_backend[1], "--trusted-proxy", "127.0.0.1")
    port = nginx(b)
    peer = upgrade_peer(b, ["Forwarded: for=%s" % SPOOF], host="127.0.0.1",
                        port=port, src=CLIENT_ADDR)
    assert host_of(peer) == CLIENT_ADDR, peer


@pytest.mark.parametrize("named, want", [
    # A TCP-mode proxy (haproxy send-proxy) names a client that is not a
    # trusted proxy: the HTTP headers are that client's own, a spoof.
    ("203.0.113.9", "203.0.113.9"),
    # It names a trusted proxy (nginx behind haproxy): its headers count.
    ("127.0.0.1", SPOOF),
])
def test_trust_judges_the_proxy_protocol_client(start_bridge, echo_backend,
                                                 named, want):
    """With --proxy-protocol, the trust decision is about who wrote the
    headers, the client the PROXY header named, never the TCP peer (the
    proxy in TCP mode, which is trusted here)."""
    b = start_bridge(echo_backend[1], "--proxy-protocol",
                     "--trusted-proxy", "127.0.0.1")
    before = len(CONN_RE.findall(b.log()))
    with connect("127.0.0.1", b.port) as cl:
        cl.send(b"PROXY TCP4 %s 127.0.0.1 5555 %d\r\n"
                % (named.encode(), b.port))
        cl.send(handshake_request("127.0.0.1", b.port, extra=[
            "X-Forwarded-For: %s" % SPOOF]))
        assert cl.read_response().status == 101
    assert wait_for(lambda: len(CONN_RE.findall(b.log())) > before)
    assert host_of(CONN_RE.findall(b.log())[before][1]) == want, \
        b.log()[-1500:]
