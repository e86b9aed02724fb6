"""Token routing as the session sees it, with TokenFile unless said: the
HTTP answers (no token 400, unknown 403), --host-token, percent-encoded
tokens, Unix socket and TLS targets, what the log shows (a fingerprint,
never the token), clients that pipeline frames or half-close before the
101, ClientCertCNAuth, and the start-up errors.

Real parts: the C echo backend, Unix and TLS echo servers in threads, the
test PKI from gen_certs.sh (plus CNs made here with the openssl CLI)."""

import hashlib
import os
import socket
import subprocess

import pytest

from backends import ThreadedServer
from conftest import wsbridge_argv0
from test_tls import (Certs, GEN_CERTS, TLSEcho, TLSRaw, client_ctx,
                      tls_refused)
from wsutil import (OP_BINARY, OP_CLOSE, ConnectionGone,
                    close_payload, echo_until_eof, encode_frame, free_port,
                    handshake_request, have_ipv6, wait_for)

KNOWN = "s3cr3t-known-7f1c"
UNKNOWN = "s3cr3t-unknown-9a2e"


def fp(token):
    """The fingerprint the log shows: first 8 hex digits of SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()[:8]


# --- fixtures and helpers ----------------------------------------------------

@pytest.fixture
def token_file(tmp_path, echo_backend):
    """write(text) -> path of a token file; default: KNOWN -> the echo
    backend."""
    def write(text=None, name="tokens"):
        p = tmp_path / name
        p.write_text(text if text is not None else
                     "# test tokens\n%s: 127.0.0.1:%d\n"
                     % (KNOWN, echo_backend[1]))
        return str(p)
    return write


@pytest.fixture
def token_bridge(start_bridge, token_file):
    """A bridge with TokenFile over token_file() (or the given file) and
    extra options."""
    def start(*opts, src=None, **kw):
        return start_bridge(None, "--token-plugin", "TokenFile",
                            "--token-source", src or token_file(), *opts,
                            **kw)
    return start


def upgrade(b, path="/", host=None, extra=()):
    """Send an upgrade request for path; the response (the client is
    closed)."""
    with b.raw() as cl:
        cl.send(request(b, path, host, extra))
        return cl.read_response()


def request(b, path="/", host=None, extra=()):
    """An upgrade request; host replaces the Host header."""
    req = handshake_request(b.host, b.port, path=path, extra=extra)
    if host is not None:
        req = req.replace(b"Host: %s:%d" % (b.host.encode(), b.port),
                          b"Host: " + host.encode())
    return req


def echo_session(cl, data=b"through the token"):
    """On a client past its 101: data goes to the target and comes back."""
    cl.send_frame(OP_BINARY, data)
    assert cl.recv_data(len(data)) == data
    cl.send_frame(OP_CLOSE, close_payload(1000))
    code, _ = cl.recv_close()
    assert code == 1000
    cl.expect_eof()


def routes(b, path="/?token=" + KNOWN, host=None):
    """A session for path reaches the echo target."""
    with b.raw() as cl:
        cl.send(request(b, path, host))
        resp = cl.read_response()
        assert resp.status == 101, (path, host, resp)
        echo_session(cl)


def echo(conn, srv):
    """A ThreadedServer handler: echo until EOF; a peer that leaves is no
    error."""
    try:
        echo_until_eof(conn)
    except OSError:
        return


def log_lines(b, needle):
    return [l for l in b.log().splitlines() if needle in l]


# --- the answers -----------------------------------------------------------

@pytest.mark.parametrize("path,why", [
    ("/", "no token"),
    ("/websockify", "no token"),
    ("/?token=", "no token"),
    ("/?tok=abc", "no token"),
    ("/?token=%00x", "malformed"),
    ("/?token=" + "x" * 5000, "overlong"),
], ids=["root", "path", "empty", "other-param", "nul", "too-long"])
def test_no_or_bad_token_400(token_bridge, path, why):
    b = token_bridge()
    resp = upgrade(b, path)
    assert resp.status == 400, resp
    assert wait_for(lambda: [l for l in log_lines(b, "HTTP 400")
                             if why in l], 3), b.log()
    routes(b)


def test_unknown_token_403(token_bridge):
    b = token_bridge()
    resp = upgrade(b, "/?token=" + UNKNOWN)
    assert resp.status == 403, resp
    assert wait_for(lambda: [l for l in log_lines(b, "HTTP 403")
                             if fp(UNKNOWN) in l], 3), b.log()
    assert b.proc.poll() is None


def test_percent_encoded_token(token_bridge, token_file, echo_backend):
    tok = "caf\u00e9 & co/=?#%+"
    b = token_bridge(src=token_file("%s: 127.0.0.1:%d\n"
                                    % (tok, echo_backend[1])))
    enc = "".join("%%%02X" % c for c in tok.encode())
    routes(b, "/?token=" + enc)
    # Not fully encoded: the characters a query allows as they are.
    routes(b, "/websockify?x=1&token=caf%C3%A9+%26+co/=?%23%25%2B&y=2")
    assert upgrade(b, "/?token=caf%C3%A9").status == 403


def test_host_token(token_bridge, token_file, echo_backend):
    port = echo_backend[1]
    b = token_bridge("--host-token", src=token_file(
        "desk.example: 127.0.0.1:%d\n"
        "fd00::1: 127.0.0.1:%d\n"
        "::1: 127.0.0.1:%d\n" % (port, port, port)))
    routes(b, "/", host="desk.example:8080")
    routes(b, "/", host="desk.example")
    routes(b, "/", host="[fd00::1]:8080")
    routes(b, "/", host="[fd00::1]")
    routes(b, "/", host="[::1]:%d" % b.port)
    # The query is not the token with --host-token.
    assert upgrade(b, "/?token=desk.example", host="other.example").status \
        == 403
    assert upgrade(b, "/", host="").status == 400
    assert upgrade(b, "/", host="[fd00::1").status == 400


def test_unix_socket_target(token_bridge, token_file, tmp_path):
    path = str(tmp_path / "vnc.sock")
    srv = ThreadedServer(echo, unix_path=path)
    try:
        b = token_bridge(src=token_file("%s: unix_socket:%s\n"
                                        % (KNOWN, path)))
        routes(b)
        assert srv.accepted.is_set()
        assert wait_for(lambda: log_lines(b, path), 3), b.log()
    finally:
        srv.close()
    assert not srv.errors, srv.errors


@pytest.mark.skipif(not have_ipv6(), reason="no IPv6 loopback")
def test_ipv6_target(token_bridge, token_file, tmp_path):
    srv = ThreadedServer(echo, host="::1")
    try:
        b = token_bridge(src=token_file("%s: [::1]:%d\n"
                                        % (KNOWN, srv.port)))
        routes(b)
        assert srv.accepted.is_set()
    finally:
        srv.close()


# --- TLS: --ssl-target, ClientCertCNAuth -----------------------------------

@pytest.fixture(scope="session")
def token_certs(session_tmp):
    """The test PKI, plus client certificates for bob and mallory signed
    by the trusted CA."""
    d = session_tmp / "token-certs"
    r = subprocess.run(["sh", GEN_CERTS, str(d)], capture_output=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr.decode()
    for cn in ("bob", "mallory"):
        ext = d / (cn + ".ext")
        ext.write_text("basicConstraints = critical, CA:false\n"
                       "keyUsage = critical, digitalSignature\n"
                       "extendedKeyUsage = clientAuth\n")
        for argv in (
                ["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                 "ec_paramgen_curve:P-256", "-out", cn + ".key"],
                ["openssl", "req", "-new", "-key", cn + ".key", "-subj",
                 "/CN=%s/O=wsbridge tests" % cn, "-out", cn + ".csr"],
                ["openssl", "x509", "-req", "-in", cn + ".csr", "-CA",
                 "ca.pem", "-CAkey", "ca.key", "-days", "30", "-sha256",
                 "-extfile", cn + ".ext", "-out", cn + ".pem"]):
            r = subprocess.run(argv, cwd=str(d), capture_output=True,
                               timeout=30, stdin=subprocess.DEVNULL)
            assert r.returncode == 0, (argv, r.stderr.decode())
    return Certs(d)


def test_ssl_target_applies_to_token_targets(token_bridge, token_file,
                                             token_certs, echo_backend):
    tls = TLSEcho(token_certs)
    try:
        b = token_bridge("--ssl-target", "--ssl-target-cafile",
                         token_certs["ca.pem"], src=token_file(
                             "tls: 127.0.0.1:%d\nplain: 127.0.0.1:%d\n"
                             % (tls.port, echo_backend[1])))
        routes(b, "/?token=tls")
        assert len(tls.socks) == 1 and not tls.handshake_errors
        # A plain target gets TLS too, and so fails: 101, then Close 1011.
        with b.raw() as cl:
            cl.handshake(path="/?token=plain")
            code, reason = cl.recv_close(skip_data=False)
            assert code == 1011, (code, reason)
    finally:
        tls.close()


@pytest.fixture
def cn_bridge(token_bridge, token_certs):
    def start(plugin="ClientCertCNAuth"):
        return token_bridge("--cert", token_certs["server.pem"], "--key",
                            token_certs["server.key"], "--verify-client",
                            "--cafile", token_certs["ca.pem"],
                            "--auth-plugin", plugin,
                            "--auth-source", "alice bob")
    return start


def wss_status(b, certs, cert, path="/?token=" + KNOWN, extra=()):
    """The HTTP status a wss upgrade with client certificate cert gets
    (101 sessions are echoed through and closed)."""
    with TLSRaw(b.port, client_ctx(certs, cert=cert)) as cl:
        cl.send(handshake_request("127.0.0.1", b.port, path=path,
                                  extra=extra))
        resp = cl.read_response()
        if resp.status == 101:
            echo_session(cl)
        return resp.status


@pytest.mark.parametrize("plugin", [
    "ClientCertCNAuth", "websockify.auth_plugins.ClientCertCNAuth"])
def test_client_cert_cn_auth(cn_bridge, token_certs, plugin):
    b = cn_bridge(plugin)
    certs = token_certs
    assert wss_status(b, certs, "client") == 101          # CN alice
    assert wss_status(b, certs, "bob") == 101
    assert wss_status(b, certs, "mallory") == 403
    # A listed CN with a bad token is still refused by the token.
    assert wss_status(b, certs, "client", "/?token=" + UNKNOWN) == 403
    assert wss_status(b, certs, "client", "/") == 400
    # mallory claiming alice's CN in a header: the CN comes from the
    # certificate only.
    assert wss_status(b, certs, "mallory", extra=(
        "SSL_CLIENT_S_DN_CN: alice",)) == 403
    # No certificate: the TLS handshake is refused.
    tls_refused(b.port, client_ctx(certs))
    # Plain ws:// on the same port, with the header and no certificate.
    resp = upgrade(b, "/?token=" + KNOWN,
                   extra=("SSL_CLIENT_S_DN_CN: alice",))
    assert resp.status == 403, resp
    assert upgrade(b, "/?token=" + KNOWN).status == 403
    assert b.proc.poll() is None


# --- what the log shows ----------------------------------------------------

def test_log_shows_fingerprint_never_token(token_bridge, token_file,
                                          echo_backend, tmp_path):
    """Known, unknown and malformed tokens, in the query, in noVNC's
    path parameter of a --web GET, in requests refused for other reasons:
    the whole log (with --verbose) never holds one; the fingerprint of a
    looked-up token is on its line."""
    web = tmp_path / "web"
    web.mkdir()
    (web / "vnc.html").write_text("<html>noVNC</html>\n")
    secrets = [KNOWN, UNKNOWN, "s3cr3t-web-path-5b0d", "s3cr3t-bad-%zz",
               "s3cr3t-nul-", "s3cr3t-head-4d4d", "s3cr3t-426-c0de",
               "s3cr3t-404-e1e1"]
    b = token_bridge("--verbose", "--web", str(web))
    routes(b, "/websockify?token=" + KNOWN)
    routes(b, "/websockify?a=b&token=%s&c=d" % "".join(
        "%%%02x" % c for c in KNOWN.encode()))
    assert upgrade(b, "/websockify?token=" + UNKNOWN).status == 403
    # (A malformed escape: 400 today; websockify would look it up as it
    # is, see test_token_diff.py.)
    assert upgrade(b, "/?token=s3cr3t-bad-%zz").status in (400, 403)
    assert upgrade(b, "/?token=s3cr3t-nul-%00").status == 400
    # A refused handshake (version 8) and a malformed head.
    with b.raw() as cl:
        cl.send(handshake_request(b.host, b.port, version="8",
                                  path="/?token=s3cr3t-426-c0de"))
        assert cl.read_response().status == 426
    with b.raw() as cl:
        cl.send(b"GET /?token=s3cr3t-head-4d4d HTTP/1.1\r\nno colon\r\n\r\n")
        assert cl.read_response().status == 400
    # --web: noVNC's own URL, and a missing file.
    for path, status in (
            ("/vnc.html?path=websockify%3Ftoken%3Ds3cr3t-web-path-5b0d"
             "&autoconnect=1", 200),
            ("/missing.html?token=s3cr3t-404-e1e1", 404)):
        with b.raw() as cl:
            cl.send(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     "\r\n" % path).encode())
            assert cl.read_response().status == status, path
    assert wait_for(lambda: len(log_lines(b, "HTTP 4")) >= 5 and
                    log_lines(b, "missing.html"), 3), b.log()
    log = b.log()
    for s in secrets:
        assert s not in log, "token %r in the log:\n%s" % (s, log)
    known = [l for l in log.splitlines() if "token " + fp(KNOWN) in l]
    assert len(known) >= 2, log
    assert any("HTTP 403" in l for l in log.splitlines()
               if fp(UNKNOWN) in l), log


def test_log_token_with_encoded_ampersand(token_bridge):
    b = token_bridge()
    assert upgrade(b, "/?token=s3cr3t%26tail-6c6c").status == 403
    assert wait_for(lambda: log_lines(b, "HTTP 403"), 3), b.log()
    assert "tail-6c6c" not in b.log(), b.log()


def test_log_host_token_never_shown(token_bridge, token_file, echo_backend):
    secret = "s3cr3t-host-a1b2.example"
    b = token_bridge("--verbose", "--host-token", src=token_file(
        "%s: 127.0.0.1:%d\n" % (secret, echo_backend[1])))
    routes(b, "/", host=secret + ":443")
    assert upgrade(b, "/", host="s3cr3t-host-unknown.example").status == 403
    log = b.log()
    assert "s3cr3t-host" not in log, log
    assert log_lines(b, "token " + fp(secret)), log
    assert log_lines(b, fp("s3cr3t-host-unknown.example")), log


# --- clients in a hurry ----------------------------------------------------

def test_frames_before_the_101_are_relayed(token_bridge):
    """A client that sends its first frames with the upgrade request,
    before the lookup answered: they reach the target."""
    b = token_bridge()
    data = [os.urandom(n) for n in (1, 100, 70000)]
    with b.raw() as cl:
        cl.send(request(b, "/?token=" + KNOWN) +
                b"".join(encode_frame(OP_BINARY, d) for d in data))
        assert cl.read_response().status == 101
        assert cl.recv_data(sum(map(len, data))) == b"".join(data)
        echo_session(cl, b"and after")


def test_half_close_after_the_request(token_bridge):
    """A client that sends the request and a frame, then shuts down its
    sending side: it still gets its 101 and the echo."""
    b = token_bridge()
    data = b"sent before FIN"
    with b.raw() as cl:
        cl.send(request(b, "/?token=" + KNOWN) + encode_frame(OP_BINARY, data))
        cl.sock.shutdown(socket.SHUT_WR)
        resp = cl.read_response()
        assert resp.status == 101, resp
        assert cl.recv_data(len(data)) == data
        # Then the bridge closes: a Close or the TCP end, nothing else.
        try:
            code, _ = cl.recv_close(skip_data=False, timeout=10)
        except ConnectionGone:
            pass
    assert b.proc.poll() is None
    routes(b)
    # The same with an unknown token: the 403 still comes.
    with b.raw() as cl:
        cl.send(request(b, "/?token=" + UNKNOWN) +
                encode_frame(OP_BINARY, data))
        cl.sock.shutdown(socket.SHUT_WR)
        assert cl.read_response().status == 403


# --- start-up errors -------------------------------------------------------

def startup(args, tmp_path):
    """Run the bridge with args; (exit status, stderr lines)."""
    argv = wsbridge_argv0() + [a.replace("{tmp}", str(tmp_path))
                               for a in args]
    try:
        r = subprocess.run(argv, capture_output=True, timeout=5,
                           stdin=subprocess.DEVNULL, start_new_session=True)
    except subprocess.TimeoutExpired:
        raise AssertionError("the bridge started (or hung) instead of "
                             "failing: %s" % argv) from None
    err = r.stderr.decode("utf-8", "replace")
    return r.returncode, [l for l in err.splitlines() if l.strip()]


STARTUP_ERRORS = {
    "unknown-plugin": (["--token-plugin", "NoSuchPlugin", "--token-source",
                        "{tmp}/tokens", "127.0.0.1:{port}"], "NoSuchPlugin"),
    "unknown-module-path": (["--token-plugin", "websockify.token_plugins."
                             "Nope", "--token-source", "{tmp}/tokens",
                             "127.0.0.1:{port}"], "Nope"),
    "source-without-plugin": (["--token-source", "{tmp}/tokens",
                               "127.0.0.1:{port}", "127.0.0.1:{port2}"],
                              "--token-plugin"),
    "host-token-without-plugin": (["--host-token", "127.0.0.1:{port}",
                                   "127.0.0.1:{port2}"], "--token-plugin"),
    "plugin-without-source": (["--token-plugin", "TokenFile",
                               "127.0.0.1:{port}"], "--token-source"),
    "missing-token-file": (["--token-plugin", "TokenFile", "--token-source",
                            "{tmp}/no-such-file", "127.0.0.1:{port}"],
                           "no-such-file"),
    "missing-target-config": (["--target-config", "{tmp}/no-such-dir/",
                               "127.0.0.1:{port}"], "no-such-dir"),
    "plugin-and-target": (["--token-plugin", "TokenFile", "--token-source",
                           "{tmp}/tokens", "127.0.0.1:{port}",
                           "127.0.0.1:{port2}"], None),
}


@pytest.mark.parametrize("name", sorted(STARTUP_ERRORS))
def test_startup_error_exit_2(name, tmp_path):
    (tmp_path / "tokens").write_text("a: 127.0.0.1:1\n")
    args, names = STARTUP_ERRORS[name]
    port, port2 = free_port(), free_port()
    args = [a.replace("{port}", str(port)).replace("{port2}", str(port2))
            for a in args]
    status, lines = startup(args, tmp_path)
    assert status == 2, (status, lines)
    assert lines, "nothing on stderr"
    # One line says what is wrong; argument errors may add the usage (a
    # "usage:" line and its indented continuations), nothing else.
    rest = lines[1:]
    if rest:
        assert rest[0].startswith("usage:") and \
            all(l[:1].isspace() for l in rest[1:]), lines
    assert "usage" not in lines[0].lower(), lines
    if names is not None:
        assert names in lines[0], lines
