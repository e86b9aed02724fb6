"""TLS: wss:// and ws:// on one port, certificates and keys, --ssl-only,
--ssl-version, --ssl-ciphers, client certificates, --ssl-target, SIGHUP
reload, close_notify, and hostile TLS input.

The PKI comes from gen_certs.sh, run once per session into a tmp dir.
Clients are real: Python ssl + websockets, curl, openssl s_client, and a raw
RFC 6455 client over an ssl socket for byte-exact cases."""

import asyncio
import os
import shlex
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time

import pytest
import websockets

from backends import ThreadedServer
from conftest import wsbridge_argv0
from wsutil import (ws_collect, OP_BINARY, OP_CLOSE, ConnectionGone, RawClient,
                    close_payload, free_port, handshake_request, have_ipv6,
                    wait_for)

HERE = os.path.dirname(os.path.abspath(__file__))
GEN_CERTS = os.path.join(HERE, "gen_certs.sh")
KiB, MiB = 1024, 1024 * 1024


# --- fixtures --------------------------------------------------------------

class Certs:
    """certs["server.pem"] -> absolute path of a file from gen_certs.sh."""

    def __init__(self, d):
        self.dir = str(d)

    def __getitem__(self, name):
        p = os.path.join(self.dir, name)
        assert os.path.exists(p), p
        return p


@pytest.fixture(scope="session")
def certs(session_tmp):
    d = session_tmp / "certs"
    r = subprocess.run(["sh", GEN_CERTS, str(d)], capture_output=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr.decode()
    return Certs(d)


@pytest.fixture(autouse=True)
def absolute_tool_paths(monkeypatch):
    """$WSBRIDGE and $ECHO_BACKEND may be relative to the source root; some
    tests run the bridge from another working directory (self.pem)."""
    monkeypatch.delenv("WSBRIDGE_KEY_PASSWORD", raising=False)
    for var in ("WSBRIDGE", "ECHO_BACKEND"):
        v = os.environ.get(var)
        if not v:
            continue
        words = [os.path.abspath(w) if not os.path.isabs(w) and
                 os.path.exists(w) else w for w in shlex.split(v)]
        monkeypatch.setenv(var, shlex.join(words))


@pytest.fixture
def tmp_cwd(tmp_path, monkeypatch):
    """Run the bridge in an empty directory (no self.pem unless a test puts
    one there)."""
    d = tmp_path / "cwd"
    d.mkdir()
    monkeypatch.chdir(d)
    return d


def tls_opts(certs, cert="server.pem", key="server.key"):
    return ["--cert", certs[cert], "--key", certs[key]]


@pytest.fixture
def tls_bridge(start_bridge, echo_backend, certs):
    """A bridge with the test server certificate in front of the echo
    backend; extra options may be given."""
    def start(*opts, **kw):
        return start_bridge(echo_backend[1], *tls_opts(certs), *opts, **kw)
    return start


# --- clients ---------------------------------------------------------------

def client_ctx(certs, cafile="ca.pem", cert=None, minv=None, maxv=None,
               ciphers=None):
    """A verifying client context (host name checked, CA = test CA)."""
    ctx = ssl.create_default_context(cafile=certs[cafile] if cafile else None)
    if cert:
        ctx.load_cert_chain(certs[cert + ".pem"], certs[cert + ".key"])
    if minv:
        ctx.minimum_version = minv
    if maxv:
        ctx.maximum_version = maxv
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


class TLSRaw(RawClient):
    """RawClient over TLS.  clean_eof tells, once the server closed, whether
    it sent close_notify (True) or just dropped TCP (False)."""

    def __init__(self, port, ctx, host="127.0.0.1", timeout=10.0,
                 server_hostname=None):
        super().__init__(host, port, timeout=timeout)
        self.clean_eof = None
        try:
            self.sock = ctx.wrap_socket(
                self.sock, server_hostname=server_hostname or host,
                suppress_ragged_eofs=False)
        except BaseException:
            self.sock.close()
            raise

    def _fill(self, want=65536):
        if self.eof:
            raise ConnectionGone("eof")
        try:
            chunk = self.sock.recv(max(want, 65536))
        except ssl.SSLEOFError:
            self.eof, self.clean_eof = True, False
            raise ConnectionGone("eof without close_notify")
        except ConnectionResetError:
            self.eof, self.clean_eof = True, False
            raise ConnectionGone("reset")
        if not chunk:
            self.eof, self.clean_eof = True, True
            raise ConnectionGone("eof")
        self.buf += chunk

    def peer_cn(self):
        return peer_cn(self.sock)

    def echo(self, data):
        return raw_echo(self, data)


def raw_echo(cl, data):
    cl.send_frame(OP_BINARY, data)
    got = cl.recv_data(len(data))
    assert got == data
    return got


def peer_cn(sslsock):
    cert = sslsock.getpeercert()
    for rdn in cert["subject"]:
        for k, v in rdn:
            if k == "commonName":
                return v
    return None


def tls_refused(port, ctx, timeout=5.0):
    """Assert a wss handshake with ctx fails: in the TLS handshake, or (TLS
    1.3 client authentication) at the first read.  A stall fails the test.
    Returns the error seen."""
    try:
        cl = TLSRaw(port, ctx, timeout=timeout)
    except TimeoutError:
        raise AssertionError("TLS handshake stalled instead of failing")
    except (ssl.SSLError, OSError) as e:
        return repr(e)
    try:
        try:
            cl.send(handshake_request("127.0.0.1", port))
            resp = cl.read_response()
        except TimeoutError:
            raise AssertionError("no answer and no close: stalled")
        except (ssl.SSLError, OSError, ConnectionGone) as e:
            return repr(e)
        raise AssertionError("the session was accepted: %r" % (resp,))
    finally:
        cl.close()


async def ws_echo(url, data=b"hello", ssl_ctx=None, **kw):
    """Open, echo data (collected as a stream), close; the close code."""
    if ssl_ctx is not None:
        kw["ssl"] = ssl_ctx
    async with websockets.connect(url, subprotocols=["binary"], max_size=None,
                                  open_timeout=10, close_timeout=5,
                                  **kw) as ws:
        assert ws.subprotocol == "binary"
        task = asyncio.ensure_future(ws_collect(ws, len(data)))
        try:
            await ws.send(data)
            got = await asyncio.wait_for(task, 60)
        finally:
            task.cancel()
        assert len(got) == len(data)
        assert got == data
        await ws.close()
        return ws.close_code


def wss_echo(port, ctx, data=b"hello over tls"):
    code = asyncio.run(ws_echo("wss://127.0.0.1:%d/" % port, data, ctx))
    assert code == 1000, code


def ws_plain_echo(port, data=b"hello in clear"):
    code = asyncio.run(ws_echo("ws://127.0.0.1:%d/" % port, data))
    assert code == 1000, code


def still_serving(b, certs):
    """The bridge process is alive and a normal wss session works."""
    assert b.proc.poll() is None, "wsbridge died"
    wss_echo(b.port, client_ctx(certs))


def client_hello():
    """The bytes of a real TLS ClientHello."""
    ctx = ssl.create_default_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    hello = out.read()
    assert hello[0] == 0x16 and len(hello) > 100
    return hello


def run_tool(argv, timeout=20, input=None):
    return subprocess.run(argv, capture_output=True, timeout=timeout,
                          input=input if input is not None else b"")


# --- wss echo, one port for ws and wss, other clients ----------------------

@pytest.mark.parametrize("size", [KiB, MiB, 16 * MiB],
                         ids=["1KiB", "1MiB", "16MiB"])
def test_wss_echo_sizes(tls_bridge, certs, size):
    b = tls_bridge()
    wss_echo(b.port, client_ctx(certs), os.urandom(size))


def test_ws_and_wss_share_one_port(tls_bridge, certs):
    b = tls_bridge()
    ws_plain_echo(b.port)
    wss_echo(b.port, client_ctx(certs))
    # A default client negotiates TLS 1.3 and sees the test certificate.
    with TLSRaw(b.port, client_ctx(certs)) as cl:
        assert cl.sock.version() == "TLSv1.3"
        assert cl.peer_cn() == "127.0.0.1"
        cl.handshake()
        cl.echo(os.urandom(5000))
    ws_plain_echo(b.port)


def test_raw_wss_interleaved_with_plain(tls_bridge, certs):
    """Several TLS and plain sessions open at once on the same port."""
    b = tls_bridge("--workers", "2")
    tls = [TLSRaw(b.port, client_ctx(certs)) for _ in range(4)]
    plain = [b.raw() for _ in range(4)]
    try:
        for cl in tls + plain:
            cl.handshake()
        for i, cl in enumerate(tls + plain):
            raw_echo(cl, bytes([i]) * (1000 + i))
    finally:
        for cl in tls + plain:
            cl.close()


def test_curl_https_gets_405(tls_bridge, certs):
    b = tls_bridge()
    url = "https://127.0.0.1:%d/" % b.port
    r = run_tool(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                  "--max-time", "10", "--cacert", certs["ca.pem"], url])
    assert r.stdout == b"405", (r.stdout, r.stderr)
    r = run_tool(["curl", "-sS", "-k", "-o", "/dev/null", "-w",
                  "%{http_code}", "--max-time", "10", url])
    assert r.stdout == b"405", (r.stdout, r.stderr)
    # ws:// on the same port answers plain HTTP too.
    r = run_tool(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                  "--max-time", "10", "http://127.0.0.1:%d/" % b.port])
    assert r.stdout == b"405", (r.stdout, r.stderr)


def test_openssl_s_client_handshake(tls_bridge, certs):
    b = tls_bridge()
    r = run_tool(["openssl", "s_client", "-connect", "127.0.0.1:%d" % b.port,
                  "-CAfile", certs["ca.pem"], "-verify_return_error",
                  "-verify_ip", "127.0.0.1", "-brief"])
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    assert r.returncode == 0, out
    assert "Verification: OK" in out, out
    assert "TLSv1.3" in out, out
    still_serving(b, certs)


def test_cert_file_holding_the_key(start_bridge, echo_backend, certs):
    b = start_bridge(echo_backend[1], "--cert", certs["combined.pem"])
    wss_echo(b.port, client_ctx(certs))
    ws_plain_echo(b.port)


@pytest.mark.parametrize("how", ["arg", "file", "file-no-newline",
                                 "file-crlf", "env"])
def test_encrypted_key(start_bridge, echo_backend, certs, tmp_path,
                       monkeypatch, how):
    opts = ["--cert", certs["server.pem"], "--key", certs["server-enc.key"]]
    if how == "arg":
        opts += ["--key-password", "testpass"]
    elif how.startswith("file"):
        pw = tmp_path / "pw"
        pw.write_bytes({"file-no-newline": b"testpass",
                        "file-crlf": b"testpass\r\nnot this line\r\n"}.get(
                            how, b"testpass\nnot this line\n"))
        opts += ["--key-password-file", str(pw)]
    else:
        monkeypatch.setenv("WSBRIDGE_KEY_PASSWORD", "testpass")
    b = start_bridge(echo_backend[1], *opts)
    wss_echo(b.port, client_ctx(certs))
    assert "testpass" not in b.log()


def test_default_self_pem(start_bridge, echo_backend, certs, tmp_cwd):
    shutil.copy(certs["combined.pem"], str(tmp_cwd / "self.pem"))
    b = start_bridge(echo_backend[1])
    wss_echo(b.port, client_ctx(certs))
    ws_plain_echo(b.port)


def test_no_cert_serves_plain_only(start_bridge, echo_backend, certs,
                                   tmp_cwd):
    b = start_bridge(echo_backend[1])
    ws_plain_echo(b.port)
    tls_refused(b.port, client_ctx(certs))
    assert b.proc.poll() is None
    ws_plain_echo(b.port)


# --- --ssl-only ------------------------------------------------------------

@pytest.mark.parametrize("upgrade", [False, True], ids=["http", "upgrade"])
def test_ssl_only_refuses_plain(tls_bridge, certs, upgrade):
    b = tls_bridge("--ssl-only")
    with b.raw(5) as cl:
        cl.send(handshake_request("127.0.0.1", b.port, upgrade=upgrade))
        resp = cl.read_response()
        assert resp.status == 400, resp
        # The body follows the head; read it to the close.
        body = bytes(cl.buf)
        try:
            while True:
                cl._fill()
                body = bytes(cl.buf)
        except ConnectionGone:
            pass
        except TimeoutError:
            raise AssertionError("connection not closed after the 400; "
                                 "body so far %r" % body)
        low = body.lower()
        assert b"https" in low or b"wss" in low, body
    still_serving(b, certs)


# --- versions and ciphers --------------------------------------------------

def test_ssl_version_tlsv1_3(tls_bridge, certs):
    b = tls_bridge("--ssl-version", "tlsv1_3")
    tls_refused(b.port, client_ctx(certs, maxv=ssl.TLSVersion.TLSv1_2))
    with TLSRaw(b.port, client_ctx(certs)) as cl:
        assert cl.sock.version() == "TLSv1.3"
        cl.handshake()
        cl.echo(b"tls13")
    connect = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % b.port,
               "-CAfile", certs["ca.pem"], "-brief"]
    r = run_tool(connect + ["-tls1_2"])
    assert r.returncode != 0, r
    r = run_tool(connect + ["-tls1_3"])
    assert r.returncode == 0, r
    still_serving(b, certs)


def test_default_minimum_is_tls1_2(tls_bridge, certs):
    b = tls_bridge()
    ctx = client_ctx(certs, maxv=ssl.TLSVersion.TLSv1_2)
    with TLSRaw(b.port, ctx) as cl:
        assert cl.sock.version() == "TLSv1.2"
        cl.handshake()
        cl.echo(b"tls12")
    b2 = tls_bridge("--ssl-version", "default")
    wss_echo(b2.port, ctx)


@pytest.mark.parametrize("v", ["tlsv1_1", "tlsv1_2"])
def test_ssl_version_accepted(tls_bridge, certs, v):
    b = tls_bridge("--ssl-version", v)
    wss_echo(b.port, client_ctx(certs, maxv=ssl.TLSVersion.TLSv1_2))
    wss_echo(b.port, client_ctx(certs))


def test_ssl_ciphers(tls_bridge, certs):
    b = tls_bridge("--ssl-ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256")
    ctx = client_ctx(certs, maxv=ssl.TLSVersion.TLSv1_2,
                     ciphers="ECDHE-ECDSA-AES256-GCM-SHA384")
    tls_refused(b.port, ctx)
    ctx = client_ctx(certs, maxv=ssl.TLSVersion.TLSv1_2,
                     ciphers="ECDHE-ECDSA-AES256-GCM-SHA384:"
                     "ECDHE-ECDSA-AES128-GCM-SHA256")
    with TLSRaw(b.port, ctx) as cl:
        assert cl.sock.cipher()[0] == "ECDHE-ECDSA-AES128-GCM-SHA256"
        cl.handshake()
        cl.echo(b"cipher")
    # TLS 1.3 suites are not governed by --ssl-ciphers.
    wss_echo(b.port, client_ctx(certs))


# --- client certificates ---------------------------------------------------

def test_verify_client(tls_bridge, certs):
    b = tls_bridge("--verify-client", "--cafile", certs["ca.pem"])
    # No certificate: refused, with TLS 1.3 and with TLS 1.2.
    tls_refused(b.port, client_ctx(certs))
    tls_refused(b.port, client_ctx(certs, maxv=ssl.TLSVersion.TLSv1_2))
    # A certificate from a CA the bridge does not trust: refused.
    tls_refused(b.port, client_ctx(certs, cert="rogue-client"))
    tls_refused(b.port, client_ctx(certs, cert="rogue-client",
                                   maxv=ssl.TLSVersion.TLSv1_2))
    # alice: accepted, and her subject is on the session's log line.
    wss_echo(b.port, client_ctx(certs, cert="client"), os.urandom(3000))
    with TLSRaw(b.port, client_ctx(certs, cert="client",
                                   maxv=ssl.TLSVersion.TLSv1_2)) as cl:
        cl.handshake()
        cl.echo(b"alice over 1.2")
    assert wait_for(lambda: "alice" in b.log(), 3), b.log()
    assert b.proc.poll() is None


def test_verify_client_system_cas(start_bridge, echo_backend, certs,
                                  tmp_path, monkeypatch):
    """--verify-client without --cafile trusts the system's CAs, as
    websockify does.  OpenSSL's default store is SSL_CERT_FILE and
    SSL_CERT_DIR when set: first the real store (the test CA is not in it),
    then a store holding only the test CA."""
    b = start_bridge(echo_backend[1], *tls_opts(certs), "--verify-client")
    tls_refused(b.port, client_ctx(certs, cert="client"))
    tls_refused(b.port, client_ctx(certs))
    empty = tmp_path / "no-cas"
    empty.mkdir()
    monkeypatch.setenv("SSL_CERT_FILE", certs["ca.pem"])
    monkeypatch.setenv("SSL_CERT_DIR", str(empty))
    b = start_bridge(echo_backend[1], *tls_opts(certs), "--verify-client")
    tls_refused(b.port, client_ctx(certs))
    tls_refused(b.port, client_ctx(certs, cert="rogue-client"))
    wss_echo(b.port, client_ctx(certs, cert="client"), os.urandom(3000))
    assert wait_for(lambda: "alice" in b.log(), 3), b.log()


# --- --ssl-target ----------------------------------------------------------

class TLSEcho:
    """A TLS echo backend (thread per connection) with the given server
    certificate; records the SNI names clients sent and handshake errors."""

    def __init__(self, certs, name="server", host="127.0.0.1"):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(certs[name + ".pem"], certs[name + ".key"])
        self.sni = []
        self.handshake_errors = []
        self.socks = []
        self.ctx.sni_callback = self._sni
        self.srv = ThreadedServer(self._handle, host=host)
        self.port = self.srv.port

    def _sni(self, sslobj, name, ctx):
        self.sni.append(name)

    def _handle(self, conn, srv):
        conn.settimeout(20)
        try:
            s = self.ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.handshake_errors.append(e)
            return
        self.socks.append(s)
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                s.sendall(d)
            s.unwrap()
        except (ssl.SSLError, OSError):
            pass
        finally:
            s.close()

    def close(self):
        for s in list(self.socks):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.srv.close()


@pytest.fixture
def tls_echo(certs):
    made = []

    def make(name="server", host="127.0.0.1"):
        e = TLSEcho(certs, name, host)
        made.append(e)
        return e
    yield make
    for e in made:
        e.close()


def expect_1011(b, timeout=15):
    """A session through b gets the 101, then Close 1011; the reason."""
    with b.raw(timeout) as cl:
        cl.handshake()
        code, reason = cl.recv_close(skip_data=False)
        assert code == 1011, (code, reason)
        try:
            cl.send_frame(OP_CLOSE, close_payload(1011))
        except OSError:
            pass
        cl.expect_eof(5)
    return reason.decode("utf-8", "replace")


@pytest.mark.parametrize("backend_cert,opts", [
    ("server", ["--ssl-target-cafile", "ca.pem"]),
    ("server", ["--ssl-target", "--ssl-target-cafile", "ca.pem"]),
    ("server", ["--ssl-target-insecure"]),
    ("wronghost", ["--ssl-target-insecure"]),
    ("expired", ["--ssl-target-insecure"]),
], ids=["cafile", "ssl-target+cafile", "insecure", "insecure-wronghost",
        "insecure-expired"])
def test_ssl_target_works(start_bridge, certs, tls_echo, backend_cert, opts):
    be = tls_echo(backend_cert)
    opts = [certs[o] if o.endswith(".pem") else o for o in opts]
    b = start_bridge(be.port, *opts)
    ws_plain_echo(b.port, os.urandom(100000))
    ws_plain_echo(b.port, b"again")
    assert not be.handshake_errors, be.handshake_errors


@pytest.mark.parametrize("backend_cert,opts", [
    ("server", ["--ssl-target"]),
    ("wronghost", ["--ssl-target-cafile", "ca.pem"]),
    ("expired", ["--ssl-target-cafile", "ca.pem"]),
    ("server", ["--ssl-target-cafile", "rogue-ca.pem"]),
], ids=["unknown-ca", "wrong-host", "expired", "other-ca"])
def test_ssl_target_verification_fails_1011(start_bridge, certs, tls_echo,
                                            backend_cert, opts):
    be = tls_echo(backend_cert)
    opts = [certs[o] if o.endswith(".pem") else o for o in opts]
    b = start_bridge(be.port, *opts)
    reason = expect_1011(b).lower()
    assert "target" in reason, reason
    assert "certificate" in reason or "verif" in reason, reason
    log = b.log().lower()
    assert "certificate" in log or "verif" in log, b.log()
    # Still serving: a second attempt gets the same answer promptly.
    expect_1011(b)
    assert b.proc.poll() is None


def test_ssl_target_sni_and_dns_name(start_bridge, certs, tls_echo):
    """By name: SNI carries the name and the DNS SAN matches."""
    if not have_ipv6():
        pytest.skip("needs a dual-stack listener for 'localhost'")
    be = tls_echo("server", host="::")
    b = start_bridge(None, "--ssl-target-cafile", certs["ca.pem"],
                     target="localhost:%d" % be.port)
    ws_plain_echo(b.port)
    assert be.sni and all(n == "localhost" for n in be.sni), be.sni


def test_ssl_target_no_sni_for_ip_literal(start_bridge, certs, tls_echo):
    """RFC 6066 3: an IP address is not sent as server_name."""
    be = tls_echo("server")
    b = start_bridge(be.port, "--ssl-target-cafile", certs["ca.pem"])
    ws_plain_echo(b.port)
    assert be.sni == [None], be.sni


def test_ssl_target_wss_in_wss_out(start_bridge, certs, tls_echo):
    be = tls_echo("server")
    b = start_bridge(be.port, *tls_opts(certs), "--ssl-target-cafile",
                     certs["ca.pem"])
    wss_echo(b.port, client_ctx(certs), os.urandom(MiB))


def test_ssl_target_plain_backend_1011(start_bridge, echo_backend, certs):
    """TLS towards a target that speaks plain TCP (here: echoes our
    ClientHello back) fails the session with 1011, not a stall."""
    b = start_bridge(echo_backend[1], *tls_opts(certs),
                     "--ssl-target-insecure")
    expect_1011(b)
    expect_1011(b)
    assert b.proc.poll() is None


# --- SIGHUP reload ---------------------------------------------------------

def replace_file(src, dst):
    tmp = dst + ".new"
    shutil.copy(src, tmp)
    os.replace(tmp, dst)


def test_sighup_reloads_certificate(start_bridge, echo_backend, certs,
                                    tmp_path):
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    shutil.copy(certs["server.pem"], cert)
    shutil.copy(certs["server.key"], key)
    b = start_bridge(echo_backend[1], "--cert", cert, "--key", key)
    ctx = client_ctx(certs)
    old = TLSRaw(b.port, ctx)
    try:
        assert old.peer_cn() == "127.0.0.1"
        old.handshake()
        old.echo(b"before reload")

        replace_file(certs["server2.pem"], cert)
        replace_file(certs["server2.key"], key)
        os.kill(b.pid, signal.SIGHUP)

        def new_cn():
            with TLSRaw(b.port, ctx) as cl:
                return cl.peer_cn() == "wsbridge-test-2"
        assert wait_for(new_cn, 5, 0.1), "new connections still see the " \
            "old certificate after SIGHUP:\n" + b.log()
        old.echo(b"the open session survives the reload")
        wss_echo(b.port, ctx)

        # A broken reload keeps the context in use and says why.
        for bad in ("garbage", "mismatch"):
            before = len(b.log())
            if bad == "garbage":
                with open(cert, "w") as f:
                    f.write("this is not a certificate\n")
            else:
                replace_file(certs["server.pem"], cert)  # key is server2's
            os.kill(b.pid, signal.SIGHUP)
            assert wait_for(lambda: len(b.log()) > before, 3), \
                "nothing logged for a failed reload (%s)" % bad
            time.sleep(0.3)
            said = b.log()[before:]
            low = said.lower()
            assert "cert" in low or "key" in low or cert in said, said
            assert b.proc.poll() is None
            with TLSRaw(b.port, ctx) as cl:
                assert cl.peer_cn() == "wsbridge-test-2", bad
                cl.handshake()
                cl.echo(b"after a failed reload")
            old.echo(b"old session after a failed reload")
    finally:
        old.close()


def test_sighup_reloads_client_ca(start_bridge, echo_backend, certs,
                                  tmp_path):
    cafile = str(tmp_path / "clients.pem")
    shutil.copy(certs["rogue-ca.pem"], cafile)
    b = start_bridge(echo_backend[1], *tls_opts(certs), "--verify-client",
                     "--cafile", cafile)
    alice = client_ctx(certs, cert="client")
    tls_refused(b.port, alice)
    replace_file(certs["ca.pem"], cafile)
    os.kill(b.pid, signal.SIGHUP)

    def accepted():
        try:
            wss_echo(b.port, alice)
            return True
        except Exception:
            return False
    assert wait_for(accepted, 5, 0.2), "client CA not reloaded:\n" + b.log()
    tls_refused(b.port, client_ctx(certs, cert="rogue-client"))


def test_sighup_on_plain_only_bridge(start_bridge, echo_backend, tmp_cwd):
    b = start_bridge(echo_backend[1])
    os.kill(b.pid, signal.SIGHUP)
    time.sleep(0.3)
    assert b.proc.poll() is None
    ws_plain_echo(b.port)


# --- TLS shutdown ----------------------------------------------------------

def test_close_notify_after_client_close(tls_bridge, certs):
    b = tls_bridge()
    with TLSRaw(b.port, client_ctx(certs), timeout=5) as cl:
        cl.handshake()
        cl.echo(os.urandom(10000))
        cl.send_frame(OP_CLOSE, close_payload(1000, "bye"))
        code, reason = cl.recv_close()
        assert code == 1000, (code, reason)
        cl.expect_eof(5)
        assert cl.clean_eof is True, "TCP closed without close_notify"


def test_close_notify_after_target_close(start_bridge, certs):
    def hello_bye(conn, srv):
        conn.sendall(b"bye from target")
    srv = ThreadedServer(hello_bye)
    try:
        b = start_bridge(srv.port, *tls_opts(certs))
        with TLSRaw(b.port, client_ctx(certs), timeout=5) as cl:
            cl.handshake()
            assert cl.recv_data(15) == b"bye from target"
            code, reason = cl.recv_close()
            assert code == 1000, (code, reason)
            cl.send_frame(OP_CLOSE, close_payload(1000))
            cl.expect_eof(5)
            assert cl.clean_eof is True, "TCP closed without close_notify"
    finally:
        srv.close()


def test_client_close_notify_answered(tls_bridge, certs):
    """A client that ends TLS (close_notify) without a WebSocket Close gets
    close_notify back and the session ends."""
    b = tls_bridge()
    cl = TLSRaw(b.port, client_ctx(certs), timeout=5)
    try:
        port = cl.sock.getsockname()[1]
        cl.handshake()
        cl.echo(b"before close_notify")
        plain = cl.sock.unwrap()   # sends ours, waits for the bridge's
        assert plain.recv(100) == b""
        plain.close()
    finally:
        cl.close()
    assert wait_for(lambda: len(session_lines(b, port, 0)) >= 2, 3), b.log()
    still_serving(b, certs)


def test_many_concurrent_wss_sessions(tls_bridge, certs):
    b = tls_bridge()
    ctx = client_ctx(certs)
    url = "wss://127.0.0.1:%d/" % b.port

    async def go():
        datas = [os.urandom(100 + 997 * i) for i in range(100)]
        codes = await asyncio.gather(*[ws_echo(url, d, ctx) for d in datas])
        assert codes == [1000] * len(datas)
    asyncio.run(asyncio.wait_for(go(), 60))
    still_serving(b, certs)


@pytest.mark.parametrize("rst", [False, True], ids=["fin", "rst"])
@pytest.mark.parametrize("when", ["open", "handshake"])
def test_client_drops_tcp_without_close_notify(tls_bridge, certs, rst, when):
    b = tls_bridge()
    cl = TLSRaw(b.port, client_ctx(certs))
    myport = cl.sock.getsockname()[1]
    if when == "open":
        cl.handshake()
        cl.echo(os.urandom(2000))
    if rst:
        cl.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                           struct.pack("ii", 1, 0))
    # Closing the socket without unwrap() sends no close_notify.
    cl.sock.close()
    if when == "open":
        assert wait_for(lambda: ":%d" % myport in b.log(), 3), \
            "the dropped session is not in the log:\n" + b.log()
    time.sleep(0.2)
    still_serving(b, certs)


# --- hostile input ---------------------------------------------------------

def expect_dropped(sock, timeout):
    """Read until the bridge closes sock; fail after timeout seconds."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return
    except (ConnectionResetError, BrokenPipeError):
        return
    except TimeoutError:
        pass
    raise AssertionError("connection not dropped within %.1fs" % timeout)


def test_garbage_after_0x16(tls_bridge, certs):
    b = tls_bridge()
    for junk in (b"\x16" + os.urandom(500),
                 b"\x16\x03\x01\x00\x05" + b"\x02\x00\x00\x01\x00",
                 b"\x16\x03\x03\xff\xff" + os.urandom(2000),
                 b"\x16" * 20000):
        s = socket.create_connection(("127.0.0.1", b.port))
        try:
            try:
                s.sendall(junk)
            except (ConnectionResetError, BrokenPipeError):
                pass
            expect_dropped(s, 5)
        finally:
            s.close()
        still_serving(b, certs)


def test_truncated_client_hello(tls_bridge, certs):
    b = tls_bridge()
    hello = client_hello()
    for cut in (1, 5, 6, len(hello) // 2, len(hello) - 1):
        for rst in (False, True):
            s = socket.create_connection(("127.0.0.1", b.port))
            s.sendall(hello[:cut])
            if rst:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack("ii", 1, 0))
            s.close()
    # A TLS client that gives up after its first flight.
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", b.port))
        s.settimeout(5)
        s.sendall(hello)
        assert s.recv(1) == b"\x16", "no ServerHello"
        s.close()
    time.sleep(0.2)
    still_serving(b, certs)


def test_stalled_tls_clients_dropped_by_deadline(tls_bridge, certs):
    """Clients that stop mid-handshake are dropped by the deadline (about
    10 s), and meanwhile everyone else is served."""
    b = tls_bridge("--workers", "1")
    hello = client_hello()
    stalled = []
    s = socket.create_connection(("127.0.0.1", b.port))
    s.sendall(b"\x16\x03\x01")                 # record header, then nothing
    stalled.append(("3 bytes", s))
    s = socket.create_connection(("127.0.0.1", b.port))
    s.sendall(hello)                            # never answers ServerHello
    stalled.append(("ClientHello", s))
    tls_done = TLSRaw(b.port, client_ctx(certs))  # TLS up, no HTTP request
    stalled.append(("TLS, no request", tls_done.sock))
    t0 = time.monotonic()

    # One worker: the stalled handshakes must not block it.
    for _ in range(3):
        still_serving(b, certs)
    ws_plain_echo(b.port)

    results = {}

    def watch(name, sock):
        try:
            expect_dropped(sock, 14 - (time.monotonic() - t0))
            results[name] = time.monotonic() - t0
        except AssertionError as e:
            results[name] = e
        except (ssl.SSLError, OSError):  # EOF without close_notify, alert
            results[name] = time.monotonic() - t0
    threads = [threading.Thread(target=watch, args=x) for x in stalled]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    for _, sock in stalled:
        sock.close()
    for name, _ in stalled:
        r = results.get(name)
        assert isinstance(r, float), "%s: %r" % (name, r)
        assert r > 3, "%s dropped after %.1fs, before the deadline" % (name, r)
    still_serving(b, certs)


def test_tls_hello_to_bridge_without_cert(start_bridge, echo_backend, certs,
                                         tmp_cwd):
    """TLS hello to a bridge without a certificate is dropped quickly."""
    b = start_bridge(echo_backend[1])
    s = socket.create_connection(("127.0.0.1", b.port))
    try:
        s.sendall(client_hello())
        expect_dropped(s, 5)
    finally:
        s.close()
    ws_plain_echo(b.port)


# --- start-up errors -------------------------------------------------------

STARTUP_ERRORS = {
    "missing-cert": ["--cert", "{tmp}/no-such.pem"],
    "cert-is-directory": ["--cert", "{tmp}"],
    "cert-garbage": ["--cert", "{tmp}/garbage.pem"],
    "missing-key": ["--cert", "{server.pem}", "--key", "{tmp}/no-such.key"],
    "key-mismatch": ["--cert", "{server.pem}", "--key", "{server2.key}"],
    "cert-without-key": ["--cert", "{server.pem}"],
    "wrong-password": ["--cert", "{server.pem}", "--key", "{server-enc.key}",
                       "--key-password", "wrong"],
    "no-password": ["--cert", "{server.pem}", "--key", "{server-enc.key}"],
    "missing-password-file": ["--cert", "{server.pem}", "--key",
                              "{server-enc.key}", "--key-password-file",
                              "{tmp}/no-such-pw"],
    "bad-ssl-version": ["--cert", "{combined.pem}", "--ssl-version",
                        "tlsv9"],
    "ssl-version-sslv3": ["--cert", "{combined.pem}", "--ssl-version",
                          "sslv3"],
    "bad-ciphers": ["--cert", "{combined.pem}", "--ssl-ciphers",
                    "NO-SUCH-CIPHER"],
    "ssl-only-without-cert": ["--ssl-only"],
    "missing-cafile": ["--cert", "{combined.pem}", "--verify-client",
                       "--cafile", "{tmp}/no-such-ca.pem"],
    "cafile-without-certs": ["--cert", "{combined.pem}", "--verify-client",
                             "--cafile", "{server.key}"],
    "missing-target-cafile": ["--ssl-target-cafile", "{tmp}/no-such-ca.pem"],
    "target-cafile-garbage": ["--ssl-target-cafile", "{tmp}/garbage.pem"],
}


@pytest.mark.parametrize("name", sorted(STARTUP_ERRORS))
def test_startup_error_exit_2(name, certs, tmp_cwd, tmp_path):
    (tmp_path / "garbage.pem").write_text("-----BEGIN CERTIFICATE-----\n"
                                          "bm90IGEgY2VydA==\n"
                                          "-----END CERTIFICATE-----\n")
    args = []
    for a in STARTUP_ERRORS[name]:
        if a.startswith("{") and a.endswith("}") and a != "{tmp}" and \
                "/" not in a:
            a = certs[a[1:-1]]
        args.append(a.replace("{tmp}", str(tmp_path)))
    port = free_port()
    argv = wsbridge_argv0() + args + ["127.0.0.1:%d" % port,
                                      "127.0.0.1:%d" % free_port()]
    try:
        r = subprocess.run(argv, capture_output=True, timeout=5,
                           stdin=subprocess.DEVNULL, start_new_session=True)
    except subprocess.TimeoutExpired:
        raise AssertionError("%s: the bridge started (or hung) instead of "
                             "failing: %s" % (name, argv)) from None
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 2, (r.returncode, err)
    # One line says what is wrong; argument errors may add the usage lines
    # (as every other bad argument does), nothing else.
    lines = [l for l in err.splitlines() if l.strip()]
    assert lines, "nothing on stderr"
    extra = [l for l in lines[1:] if not l.lstrip().startswith(
        ("usage:", "wsbridge [options]"))]
    assert not extra and "usage" not in lines[0].lower(), \
        "expected one line on stderr, got %r" % err
    assert "testpass" not in err


@pytest.mark.parametrize("content", ["garbage", "cert-only", "directory"])
def test_startup_error_bad_default_self_pem(certs, tmp_cwd, content):
    """self.pem present but unusable is an error, not a silent ws:// only."""
    if content == "directory":
        (tmp_cwd / "self.pem").mkdir()
    elif content == "garbage":
        (tmp_cwd / "self.pem").write_text("not a certificate\n")
    else:
        shutil.copy(certs["server.pem"], str(tmp_cwd / "self.pem"))
    argv = wsbridge_argv0() + ["127.0.0.1:%d" % free_port(),
                               "127.0.0.1:%d" % free_port()]
    try:
        r = subprocess.run(argv, capture_output=True, timeout=5,
                           stdin=subprocess.DEVNULL, start_new_session=True)
    except subprocess.TimeoutExpired:
        raise AssertionError("the bridge started with a broken self.pem")
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 2, (r.returncode, err)
    assert len([l for l in err.splitlines() if l.strip()]) == 1, err
    assert "self.pem" in err, err


# --- what the log says about TLS failures ----------------------------------

def failed_tls_attempt(port, ctx=None, raw=None):
    """One failing TLS attempt; returns the client's local port."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    myport = s.getsockname()[1]
    try:
        if raw is not None:
            s.sendall(raw)
            expect_dropped(s, 5)
            return myport
        t = ctx.wrap_socket(s, server_hostname="127.0.0.1")
        t.sendall(handshake_request("127.0.0.1", port))
        t.recv(1000)
        t.close()
    except (ssl.SSLError, ConnectionError):
        pass
    finally:
        s.close()
    return myport


def session_lines(b, port, timeout=3):
    tag = "127.0.0.1:%d:" % port
    wait_for(lambda: tag in b.log(), timeout)
    return [l for l in b.log().splitlines() if tag in l]


TLS12 = ssl.TLSVersion.TLSv1_2
LOGGED_FAILURES = {
    # case: (bridge options, client, words one of which the line must hold)
    "no-client-cert": (["--verify-client", "--cafile", "ca.pem"],
                       dict(maxv=TLS12), ("certificate",)),
    "untrusted-client-cert": (["--verify-client", "--cafile", "ca.pem"],
                              dict(cert="rogue-client", maxv=TLS12),
                              ("certificate", "verify", "issuer")),
    "version": (["--ssl-version", "tlsv1_3"], dict(maxv=TLS12),
                ("version", "protocol")),
    "cipher": (["--ssl-ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256"],
               dict(maxv=TLS12, ciphers="ECDHE-ECDSA-AES256-GCM-SHA384"),
               ("cipher",)),
    "garbage": ([], b"\x16\x03\x01\x00\x05" + b"\x02\x00\x00\x01\x00",
                ("unexpected", "message", "record", "version", "packet",
                 "length")),
}


@pytest.mark.parametrize("case", sorted(LOGGED_FAILURES))
def test_tls_handshake_failure_logged_with_reason(tls_bridge, certs, case):
    """The log says why a handshake failed in OpenSSL's words, not an
    error code that decodes to nothing ("lib(0)::reason(1)")."""
    opts, client, words = LOGGED_FAILURES[case]
    b = tls_bridge(*[certs[o] if o.endswith(".pem") else o for o in opts])
    if isinstance(client, bytes):
        port = failed_tls_attempt(b.port, raw=client)
    else:
        port = failed_tls_attempt(b.port, client_ctx(certs, **client))
    lines = session_lines(b, port)
    assert lines, "the failed handshake is not logged:\n" + b.log()
    text = "\n".join(lines)
    assert "lib(0)" not in text and "reason(" not in text, text
    assert any(w in text.lower() for w in words), text


def test_tls_connection_lost_logged_with_reason(tls_bridge, certs):
    b = tls_bridge()
    cl = TLSRaw(b.port, client_ctx(certs))
    port = cl.sock.getsockname()[1]
    cl.handshake()
    cl.echo(b"x" * 100)
    cl.sock.close()  # no close_notify
    assert wait_for(lambda: len(session_lines(b, port, 0)) >= 3, 3), b.log()
    text = "\n".join(session_lines(b, port))
    assert "lib(0)" not in text and "reason(" not in text, text


def test_ssl_target_failure_logged_with_reason(start_bridge, echo_backend,
                                               certs):
    """A target that does not speak TLS: the warning says so in words."""
    b = start_bridge(echo_backend[1], "--ssl-target-insecure")
    reason = expect_1011(b)
    assert "target" in reason, reason
    assert "lib(0)" not in reason and "reason(" not in reason, reason
    assert wait_for(lambda: "TLS" in b.log(), 3)
    lines = [l for l in b.log().splitlines() if "TLS" in l]
    text = "\n".join(lines)
    assert "lib(0)" not in text and "reason(" not in text, text
