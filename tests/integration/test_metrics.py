"""--metrics end to end: /metrics scraped during and after real sessions
(a relay through the echo backend, a 400, a 405, a token refused with
403, a Close code each way) and compared with what the test did; the text
checked by Prometheus' own `promtool check metrics`; /healthz 200 while
accepting and 503 once SIGUSR2 drains; the listener bound as told."""

import os
import re
import shutil
import signal
import socket
import subprocess
import urllib.error
import urllib.request

import pytest

import wsutil
from wsutil import OP_BINARY, OP_CLOSE, close_payload, free_port, wait_for

SERIES_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def get(port, path, host="127.0.0.1"):
    """(status, body text) of GET http://host:port/path."""
    h = "[%s]" % host if ":" in host else host
    try:
        with urllib.request.urlopen("http://%s:%d%s" % (h, port, path),
                                    timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def parse(text):
    """{(name, frozenset of (label, value)): float} of exposition text."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SERIES_RE.match(line)
        assert m, "not a series line: %r" % line
        labels = frozenset(LABEL_RE.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def scrape(port):
    """The metrics of the bridge whose --metrics port is port."""
    status, text = get(port, "/metrics")
    assert status == 200, text
    return parse(text)


def value(metrics, name, **labels):
    """One series' value; 0 when absent (a labelled counter not yet
    counted)."""
    return metrics.get((name, frozenset(labels.items())), 0.0)


def promtool_check(text):
    """promtool's verdict on text: (returncode, its output)."""
    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    return p.returncode, (p.stdout + p.stderr).decode()


def wait_value(port, name, want, timeout=5.0, **labels):
    """Wait until a series has the value want; return the metrics."""
    got = {}

    def ok():
        got["m"] = scrape(port)
        return value(got["m"], name, **labels) == want
    if not wait_for(ok, timeout):
        raise AssertionError("%s%r is %r, not %r" % (
            name, labels, value(got["m"], name, **labels), want))
    return got["m"]


def probe_counted(port, timeout=5.0):
    """The metrics once start_bridge's readiness probe (one connection)
    is counted and has ended.  connections_open == 0 alone does not say
    so: the probe may still wait in a worker's listen queue, to be counted
    after the scrape."""
    got = {}

    def ok():
        got["m"] = scrape(port)
        return value(got["m"], "wsbridge_connections_total") >= 1 and \
            value(got["m"], "wsbridge_connections_open") == 0
    if not wait_for(ok, timeout):
        raise AssertionError("readiness probe not counted and ended: %r"
                             % {k: v for k, v in got["m"].items()
                                if k[0].startswith("wsbridge_conn")})
    return got["m"]


def test_values_follow_real_sessions(metrics_bridge):
    b, mport = metrics_bridge()
    # The readiness probe of start_bridge was a connection: count from
    # here.
    m0 = probe_counted(mport)
    assert value(m0, "wsbridge_accepting") == 1
    with b.raw() as c:
        c.handshake()
        c.send_frame(OP_BINARY, b"x" * 1000)
        assert c.recv_data(1000) == b"x" * 1000
        c.send_frame(OP_BINARY, b"y" * 234)
        assert c.recv_data(234) == b"y" * 234
        # During the session: it is open, its bytes are counted.
        m = scrape(mport)
        assert value(m, "wsbridge_websocket_sessions_open") == 1
        assert value(m, "wsbridge_connections_open") == 1
        assert value(m, "wsbridge_payload_bytes_total",
                     direction="client_to_target") == 1234
        assert value(m, "wsbridge_payload_bytes_total",
                     direction="target_to_client") == 1234
        c.send_frame(OP_CLOSE, close_payload(4001, b"bye"))
        assert c.recv_close()[0] == 4001
        c.expect_eof()
    # A malformed head (400) and a plain GET without --web (405).
    with b.raw() as c:
        c.send(b"\x01garbage\r\n\r\n")
        assert c.read_response().status == 400
    with b.raw() as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response().status == 405
    m = wait_value(mport, "wsbridge_connections_open", 0)
    assert value(m, "wsbridge_websocket_sessions_open") == 0
    assert value(m, "wsbridge_connections_total") == \
        value(m0, "wsbridge_connections_total") + 3
    assert value(m, "wsbridge_sessions_total", outcome="dropped") == \
        value(m0, "wsbridge_sessions_total", outcome="dropped")
    assert value(m, "wsbridge_sessions_total", outcome="websocket") == 1
    assert value(m, "wsbridge_sessions_total", outcome="refused") == 2
    assert value(m, "wsbridge_refusals_total", status="400",
                 reason="malformed_request") == 1
    assert value(m, "wsbridge_refusals_total", status="405",
                 reason="not_websocket") == 1
    # 4001 is an application's code: counted as "other", each way.
    assert value(m, "wsbridge_close_frames_total", direction="received",
                 code="other") == 1
    assert value(m, "wsbridge_close_frames_total", direction="sent",
                 code="other") == 1
    assert value(m, "wsbridge_close_frames_total", direction="sent",
                 code="1000") == 0
    assert value(m, "wsbridge_payload_bytes_total",
                 direction="client_to_target") == 1234
    # Each worker's loop measures its lag (every 250 ms); files are
    # counted.
    assert wait_for(lambda: value(
        scrape(mport), "wsbridge_event_loop_lag_seconds_count",
        worker="0") > 0, 3)
    assert 0 < value(m, "process_open_fds") < value(m, "process_max_fds")
    assert value(m, "process_start_time_seconds") > 1.6e9


def test_promtool_accepts_the_text(metrics_bridge):
    b, mport = metrics_bridge()
    with b.raw() as c:
        c.handshake()
        c.send_frame(OP_CLOSE, close_payload(1000))
        assert c.recv_close()[0] == 1000
    with b.raw() as c:
        c.send(wsutil.handshake_request("127.0.0.1", b.port, version="12"))
        assert c.read_response().status == 426
    status, text = get(mport, "/metrics")
    assert status == 200
    rc, out = promtool_check(text)
    assert rc == 0, out + text
    assert "wsbridge_refusals_total{status=\"426\",reason=\"handshake\"} 1" \
        in text


def test_target_to_client_close_code(metrics_bridge, backend):
    """The target closes: the bridge sends Close 1000, counted as sent."""
    def greet_then_close(conn, srv):
        conn.sendall(b"hello")
        conn.close()
    be = backend(greet_then_close)
    b, mport = metrics_bridge(target_port=be.port)
    with b.raw() as c:
        c.handshake()
        assert c.recv_data(5) == b"hello"
        assert c.recv_close()[0] == 1000
        c.send_frame(OP_CLOSE, close_payload(1000))
        c.expect_eof()
    m = wait_value(mport, "wsbridge_sessions_total", 1, outcome="websocket")
    assert value(m, "wsbridge_close_frames_total", direction="sent",
                 code="1000") == 1
    assert value(m, "wsbridge_close_frames_total", direction="received",
                 code="1000") == 1
    assert value(m, "wsbridge_payload_bytes_total",
                 direction="target_to_client") == 5


def test_token_lookups(start_bridge, echo_backend, tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("good: 127.0.0.1:%d\n" % echo_backend[1])
    mport = free_port()
    b = start_bridge(None, "--token-plugin", "TokenFile", "--token-source",
                     str(tokens), "--metrics", "127.0.0.1:%d" % mport)
    with b.raw() as c:
        c.handshake(path="/?token=good")
        c.send_frame(OP_BINARY, b"abc")
        assert c.recv_data(3) == b"abc"
    with b.raw() as c:
        c.send(wsutil.handshake_request("127.0.0.1", b.port,
                                        path="/?token=bad"))
        assert c.read_response().status == 403
    with b.raw() as c:
        c.send(wsutil.handshake_request("127.0.0.1", b.port, path="/"))
        assert c.read_response().status == 400
    m = wait_value(mport, "wsbridge_connections_open", 0)
    lbl = {"plugin": "TokenFile"}
    assert value(m, "wsbridge_token_lookups_total", result="found",
                 **lbl) == 1
    assert value(m, "wsbridge_token_lookups_total", result="not_found",
                 **lbl) == 1
    assert value(m, "wsbridge_token_lookup_duration_seconds_count",
                 **lbl) == 2
    assert value(m, "wsbridge_token_lookup_duration_seconds_bucket",
                 le="+Inf", **lbl) == 2
    assert value(m, "wsbridge_refusals_total", status="403",
                 reason="token") == 1
    assert value(m, "wsbridge_refusals_total", status="400",
                 reason="token") == 1
    rc, out = promtool_check(get(mport, "/metrics")[1])
    assert rc == 0, out


def test_healthz_then_draining(metrics_bridge):
    b, mport = metrics_bridge(expect_exit=True)
    assert get(mport, "/healthz") == (200, "ok\n")
    assert get(mport, "/nope")[0] == 404
    post = urllib.request.Request("http://127.0.0.1:%d/metrics" % mport,
                                  method="DELETE")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(post, timeout=5)
    assert e.value.code == 405 and e.value.headers["Allow"] == "GET, HEAD"
    c = b.raw()
    c.handshake()
    os.kill(b.pid, signal.SIGUSR2)
    # Draining: the session goes on, /healthz says 503 for the balancer.
    assert wait_for(lambda: get(mport, "/healthz")[0] == 503, 5)
    assert get(mport, "/healthz") == (503, "draining\n")
    assert value(scrape(mport), "wsbridge_accepting") == 0
    c.send_frame(OP_BINARY, b"still here")
    assert c.recv_data(10) == b"still here"
    c.send_frame(OP_CLOSE, close_payload(1000))
    c.recv_close()
    c.close()
    assert b.wait_exit(10) == 0


def test_bare_port_listens_on_every_address(start_bridge, echo_backend):
    mport = free_port()
    b = start_bridge(echo_backend[1], "--metrics", str(mport))
    wsutil.wait_accepting("127.0.0.1", mport, b.proc)
    assert get(mport, "/healthz")[0] == 200
    if wsutil.have_ipv6():
        assert get(mport, "/healthz", host="::1")[0] == 200


def test_address_is_bound_exactly(start_bridge, echo_backend):
    mport = free_port()
    b = start_bridge(echo_backend[1], "--metrics", "127.0.0.1:%d" % mport)
    wsutil.wait_accepting("127.0.0.1", mport, b.proc)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.2", mport), timeout=2).close()


def test_port_in_use_is_refused(start_bridge, echo_backend):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        mport = held.getsockname()[1]
        b = start_bridge(echo_backend[1], "--metrics",
                         "127.0.0.1:%d" % mport, wait=False,
                         expect_exit=True)
        assert b.wait_exit(10) not in (None, 0)
        assert "--metrics: cannot listen on 127.0.0.1:%d" % mport in b.log()


@pytest.mark.skipif(shutil.which("curl") is None, reason="no curl")
def test_curl_scrape_has_the_content_type(metrics_bridge):
    b, mport = metrics_bridge()
    out = subprocess.run(["curl", "-sS", "-D", "-", "-o", "/dev/null",
                          "http://127.0.0.1:%d/metrics" % mport],
                         capture_output=True, timeout=10).stdout.decode()
    assert "Content-Type: text/plain; version=0.0.4" in out


def test_tls_handshakes_and_failures(start_bridge, echo_backend, tmp_path):
    import ssl
    key, cert = str(tmp_path / "k.pem"), str(tmp_path / "c.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                    "-out", cert, "-subj", "/CN=localhost", "-days", "1"],
                   check=True, capture_output=True, timeout=30)
    mport = free_port()
    b = start_bridge(echo_backend[1], "--cert", cert, "--key", key,
                     "--metrics", "127.0.0.1:%d" % mport)
    m0 = wait_value(mport, "wsbridge_connections_open", 0)
    ctx = ssl.create_default_context(cafile=cert)
    ctx.check_hostname = False
    with socket.create_connection(("127.0.0.1", b.port), 5) as raw, \
            ctx.wrap_socket(raw) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 405")
    # A TLS record header and then nonsense: the handshake fails.
    with socket.create_connection(("127.0.0.1", b.port), 5) as bad:
        bad.sendall(b"\x16\x03\x01\x00\x05hello" + b"\x00" * 64)
        bad.settimeout(5)
        try:
            while bad.recv(4096):
                pass
        except OSError:
            pass
    m = wait_value(mport, "wsbridge_connections_open", 0)
    ok = value(m, "wsbridge_tls_handshakes_total", result="ok") - \
        value(m0, "wsbridge_tls_handshakes_total", result="ok")
    failed = value(m, "wsbridge_tls_handshakes_total", result="failed") - \
        value(m0, "wsbridge_tls_handshakes_total", result="failed")
    assert (ok, failed) == (1, 1)
