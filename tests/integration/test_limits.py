"""--max-connections and --max-connections-per-ip at their edges, with
real sockets: N WebSocket sessions allowed, the next gets 503 before any
target is contacted, one closing lets a new one in; per address with two
loopback source addresses; a flood of 200 connects never lets more than N
through; the counts (seen through --metrics) return to zero."""

import socket
import threading

import pytest

import wsutil
from test_metrics import scrape, value, wait_value
from wsutil import OP_BINARY, OP_CLOSE, close_payload, free_port, wait_for


class SourceClient(wsutil.RawClient):
    """A RawClient whose socket is bound to a source address first."""

    def __init__(self, host, port, source, timeout=10.0):
        self.host, self.port = host, port
        self.sock = socket.create_connection((host, port), timeout,
                                             source_address=(source, 0))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False
        self.response = None


def upgrade(c):
    """Send an upgrade request; the response status."""
    c.send(wsutil.handshake_request(c.host, c.port))
    return c.read_response().status


def close(c):
    """End a session cleanly."""
    c.send_frame(OP_CLOSE, close_payload(1000))
    c.recv_close()
    c.close()


@pytest.fixture
def counting_backend(backend):
    """A backend that counts its connections and echoes."""
    def echo(conn, srv):
        with lock:
            count[0] += 1
        wsutil.echo_until_eof(conn, peer_gone=(ConnectionResetError,))
    count, lock = [0], threading.Lock()
    be = backend(echo)
    be.count = count
    return be


def start(start_bridge, target_port, *opts):
    """A bridge with opts and --metrics; (bridge, metrics port)."""
    mport = free_port()
    b = start_bridge(target_port, "--metrics", "127.0.0.1:%d" % mport,
                     *opts)
    wsutil.wait_accepting("127.0.0.1", mport, b.proc)
    return b, mport


def test_max_connections_edge(start_bridge, counting_backend):
    b, mport = start(start_bridge, counting_backend.port,
                     "--max-connections", "3")
    held = []
    for _ in range(3):
        c = b.raw()
        c.handshake()
        held.append(c)
    assert wait_for(lambda: counting_backend.count[0] == 3, 5)
    extra = b.raw()
    assert upgrade(extra) == 503
    extra.expect_eof(allow_data=True)
    # Refused before any target was contacted.
    assert counting_backend.count[0] == 3
    m = scrape(mport)
    assert value(m, "wsbridge_refusals_total", status="503",
                 reason="max_connections") == 1
    assert value(m, "wsbridge_websocket_sessions_open") == 3
    assert "too many WebSocket sessions (--max-connections)" in b.log()
    # One closes: a new one is allowed, and relays.
    close(held.pop())
    wait_value(mport, "wsbridge_websocket_sessions_open", 2)
    c = b.raw()
    c.handshake()
    c.send_frame(OP_BINARY, b"ping")
    assert c.recv_data(4) == b"ping"
    held.append(c)
    for c in held:
        close(c)
    m = wait_value(mport, "wsbridge_websocket_sessions_open", 0)
    assert value(m, "wsbridge_refusals_total", status="503",
                 reason="max_connections") == 1


def test_per_ip_edge_two_sources(start_bridge, counting_backend):
    b, mport = start(start_bridge, counting_backend.port,
                     "--max-connections-per-ip", "2")
    a = [SourceClient("127.0.0.1", b.port, "127.0.0.2") for _ in range(2)]
    for c in a:
        c.handshake()
    # 127.0.0.2 is at its 2; 127.0.0.3 is not.
    over = SourceClient("127.0.0.1", b.port, "127.0.0.2")
    assert upgrade(over) == 503
    over.close()
    other = [SourceClient("127.0.0.1", b.port, "127.0.0.3")
             for _ in range(2)]
    for c in other:
        c.handshake()
    m = scrape(mport)
    assert value(m, "wsbridge_limited_addresses") == 2
    assert value(m, "wsbridge_refusals_total", status="503",
                 reason="max_connections_per_ip") == 1
    assert "from this address (--max-connections-per-ip)" in b.log()
    # Plain HTTP is not a WebSocket session: not limited.
    with SourceClient("127.0.0.1", b.port, "127.0.0.2") as h:
        h.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert h.read_response().status == 405
    close(a.pop())
    wait_value(mport, "wsbridge_websocket_sessions_open", 3)
    again = SourceClient("127.0.0.1", b.port, "127.0.0.2")
    again.handshake()
    for c in a + other + [again]:
        close(c)
    m = wait_value(mport, "wsbridge_websocket_sessions_open", 0)
    assert value(m, "wsbridge_limited_addresses") == 0
    assert wait_for(lambda: counting_backend.count[0] == 5, 5)


def test_flood_never_passes_the_limit(start_bridge, counting_backend):
    n = 5
    b, mport = start(start_bridge, counting_backend.port,
                     "--max-connections", str(n),
                     "--max-connections-per-ip", "200")
    results, lock, clients = [], threading.Lock(), []
    go = threading.Event()

    def one():
        try:
            c = b.raw(timeout=20)
        except OSError as e:
            with lock:
                results.append(("connect", repr(e)))
            return
        go.wait()
        try:
            st = upgrade(c)
        except Exception as e:  # noqa: BLE001: a reset is a result too
            st = repr(e)
        with lock:
            results.append(st)
            clients.append(c)

    threads = [threading.Thread(target=one) for _ in range(200)]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join(60)
    ok = results.count(101)
    assert ok == n, results
    assert results.count(503) == 200 - n, results
    m = scrape(mport)
    assert value(m, "wsbridge_websocket_sessions_open") == n
    assert value(m, "wsbridge_refusals_total", status="503",
                 reason="max_connections") == 200 - n
    # The backend's handler threads may still be starting.
    assert wait_for(lambda: counting_backend.count[0] == n, 5)
    assert counting_backend.count[0] == n
    for c in clients:
        c.close()
    m = wait_value(mport, "wsbridge_websocket_sessions_open", 0, timeout=10)
    assert value(m, "wsbridge_limited_addresses") == 0
    wait_value(mport, "wsbridge_connections_open", 0, timeout=10)
