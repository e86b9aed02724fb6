"""Real TCP backends for the integration tests.

As a script: `backends.py echo [--host H] [--port P]` is a fallback echo
server with the command line of tests/tools/echo_backend (prints the bound
port on one line, echoes everything, exits on SIGTERM); used only when
$ECHO_BACKEND is not built.

As a module: ThreadedServer runs a handler per accepted connection in a
thread, for the special backends (sink, sender-then-close, never-reads...).
"""

import argparse
import asyncio
import os
import signal
import socket
import sys
import threading


class ThreadedServer:
    """Listen on host:0 (TCP) or a unix path; run handler(conn, server) in a
    thread per connection.  Tests read results from attributes they set."""

    def __init__(self, handler, host="127.0.0.1", unix_path=None):
        self.handler = handler
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(unix_path)
            self.port = None
        else:
            fam = socket.AF_INET6 if ":" in host else socket.AF_INET
            self.sock = socket.socket(fam, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((host, 0))
            self.port = self.sock.getsockname()[1]
        self.sock.listen(1024)
        self.lock = threading.Lock()
        self.conns = []
        self.threads = []
        self.errors = []
        self.accepted = threading.Event()
        self.closed = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(conn)
            self.accepted.set()
            t = threading.Thread(target=self._run, args=(conn,), daemon=True)
            # Started before it is listed: close() joins only started
            # threads.
            t.start()
            self.threads.append(t)

    def _run(self, conn):
        try:
            self.handler(conn, self)
        except Exception as e:  # reported by the test through .errors
            self.errors.append(e)
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def close(self):
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        for t in self.threads:
            t.join(5)
        self.thread.join(5)


async def echo_main(host, port):
    async def handle(reader, writer):
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                data = await reader.read(256 * 1024)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port, backlog=4096,
                                        limit=256 * 1024)
    bound = server.sockets[0].getsockname()[1]
    print(bound, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with server:
        await stop.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["echo"])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    asyncio.run(echo_main(a.host, a.port))


if __name__ == "__main__":
    main()
