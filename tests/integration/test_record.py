"""--record FILE: each WebSocket session in FILE.N, websockify's format.

The same session (same backend, same client messages both ways) is run
through Debian's websockify --record and wsbridge --record: both files
must have the same first and last line, the same line shapes, and carry
the same bytes each way once decoded (chunk boundaries and times may
differ).  Each file is also run as a script by node and read the way
noVNC's playback page (tests/playback.js) reads VNC_frame_data.  Then: a
transfer of several MB recorded exactly, a full disk (recording ends
with a log line, the session relays everything), and a directory that
cannot be written (a warning, the session works).
"""

import asyncio
import glob
import json
import os
import re
import signal
import subprocess

import pytest
import websockets

from wsutil import (free_port, spawn_logged, stop_process, wait_accepting,
                    wait_for)

WEBSOCKIFY = "/usr/bin/websockify"
HEAD = "var VNC_frame_data = ["
TAIL = "'EOF'];"
LINE_RE = re.compile(r"^'([{}])(\d+)\1(.*)',$")

# What the backend sends first: every byte, quotes and backslashes.
GREETING = b"RFB 003.008\n" + bytes(range(256)) + b"it's \\' \\\\ ''\r\n"
# What the client sends, one message each (all echoed back).
MESSAGES = [b"\x00\x01\x02", b"'", b"\\", bytes(range(255, -1, -1)),
            b"quote ' backslash \\ newline \n tab \t", b"\xff" * 1000,
            bytes(range(256)) * 40]

# Runs a recording as a browser runs it (a script), then reads each
# frame as noVNC's tests/playback.js does: '{' frames are what the
# server sent, the data after the second marker, one byte per UTF-16
# unit (charCodeAt).
NODE_PLAYBACK = r"""
const fs = require('fs'), vm = require('vm');
const ctx = {};
vm.runInNewContext(fs.readFileSync(process.argv[1], 'latin1'), ctx);
const frames = ctx.VNC_frame_data;
const out = {'{': [], '}': []};
let eof = false, last = -1, sorted = true;
for (const f of frames) {
    if (f === 'EOF') { eof = true; break; }
    const dir = f[0], start = f.indexOf(dir, 1);
    const ms = parseInt(f.slice(1, start), 10);
    if (ms < last) sorted = false;
    last = ms;
    for (let i = start + 1; i < f.length; i++) {
        const c = f.charCodeAt(i);
        if (c > 255) throw new Error('not a byte: ' + c);
        out[dir].push(c);
    }
}
process.stdout.write(JSON.stringify({
    frames: frames.length, eof: eof, sorted: sorted,
    to_client: Buffer.from(out['{']).toString('hex'),
    from_client: Buffer.from(out['}']).toString('hex')}));
"""


def parse_record(path):
    """A recording as websockify writes it: (first line, last line, list of
    (dir, ms, bytes)).  Every line between must be one chunk."""
    with open(path, "rb") as f:
        text = f.read().decode("ascii")
    assert text.endswith("\n"), "no newline at the end of %s" % path
    lines = text[:-1].split("\n")
    chunks = []
    for line in lines[1:-1]:
        m = LINE_RE.match(line)
        assert m, "bad line in %s: %r" % (path, line[:200])
        data = m.group(3).encode("ascii").decode("unicode_escape")
        chunks.append((m.group(1), int(m.group(2)), data.encode("latin-1")))
    return lines[0], lines[-1], chunks


def per_direction(chunks):
    """(bytes sent to the client, bytes received from it)."""
    return (b"".join(d for k, _, d in chunks if k == "{"),
            b"".join(d for k, _, d in chunks if k == "}"))


def node_playback(path):
    r = subprocess.run(["node", "-e", NODE_PLAYBACK, path],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, "node could not run %s: %s" % (
        path, r.stderr.decode("utf-8", "replace")[-2000:])
    out = json.loads(r.stdout)
    return (out, bytes.fromhex(out["to_client"]),
            bytes.fromhex(out["from_client"]))


def greeting_echo(conn, srv):
    """Backend: the greeting, then an echo until EOF."""
    conn.settimeout(20)
    conn.sendall(GREETING)
    while True:
        try:
            d = conn.recv(65536)
        except (ConnectionResetError, TimeoutError):
            return
        if not d:
            return
        conn.sendall(d)


async def talk(url, messages, expect_first=b""):
    """Send each message, read until everything sent came back after
    expect_first, close.  What the client received."""
    got = bytearray()
    want = len(expect_first) + sum(len(m) for m in messages)
    async with websockets.connect(url, subprotocols=["binary"],
                                  max_size=None, compression=None,
                                  open_timeout=10, close_timeout=5) as ws:
        async def reader():
            while len(got) < want:
                got.extend(await ws.recv())

        task = asyncio.ensure_future(reader())
        for m in messages:
            await ws.send(m)
        await asyncio.wait_for(task, 60)
    return bytes(got)


def recording(pattern, timeout=10.0):
    """The one file matching pattern, once it ends with the last line."""
    def done():
        files = glob.glob(pattern)
        if len(files) != 1:
            return None
        with open(files[0], "rb") as f:
            return files[0] if f.read().endswith(b"'EOF'];\n") else None
    path = wait_for(done, timeout)
    assert path, "no finished recording %s: %s" % (pattern,
                                                   glob.glob(pattern))
    return path


def session_id(log, path):
    m = re.search(r"session (\d+): [^:]+:\d+: recording to %s"
                  % re.escape(path), log)
    assert m, "no 'recording to' line in the log:\n" + log
    return int(m.group(1))


@pytest.fixture
def websockify(tmp_path):
    """websockify(target_port, *opts) -> port of Debian's websockify."""
    procs = []

    def start(target_port, *opts):
        if not os.access(WEBSOCKIFY, os.X_OK):
            pytest.skip("Debian's websockify is not installed")
        port = free_port()
        log = str(tmp_path / "websockify.log")
        p = spawn_logged([WEBSOCKIFY, *opts, "127.0.0.1:%d" % port,
                          "127.0.0.1:%d" % target_port], log)
        procs.append(p)
        wait_accepting("127.0.0.1", port, p, 10)
        return port

    yield start
    for p in procs:
        stop_process(p)


def test_same_recording_as_websockify(start_bridge, websockify, backend,
                                      tmp_path):
    """The same session through both bridges: same first and last lines,
    same line shapes, same bytes each way (node, as noVNC's playback,
    reads the same), numbered alike (a handler id per connection)."""
    be = backend(greeting_echo)
    os.mkdir(tmp_path / "ws")
    os.mkdir(tmp_path / "wb")
    ws_port = websockify(be.port, "--record", str(tmp_path / "ws" / "rec"))
    b = start_bridge(be.port, "--record", str(tmp_path / "wb" / "rec"))

    for url in ("ws://127.0.0.1:%d/" % ws_port, b.url):
        got = asyncio.run(talk(url, MESSAGES, GREETING))
        assert got == GREETING + b"".join(MESSAGES)

    files = {}
    for kind in ("ws", "wb"):
        files[kind] = recording(str(tmp_path / kind / "rec.*"))
    # Both count the connection the harness made to see them listen.
    assert files["ws"].rsplit(".", 1)[1] == files["wb"].rsplit(".", 1)[1]
    assert session_id(b.log(), files["wb"]) == \
        int(files["wb"].rsplit(".", 1)[1])

    want = (GREETING + b"".join(MESSAGES), b"".join(MESSAGES))
    for kind, path in files.items():
        first, last, chunks = parse_record(path)
        assert (first, last) == (HEAD, TAIL), kind
        assert chunks, kind
        assert per_direction(chunks) == want, kind
        ms = [t for _, t, _ in chunks]
        assert ms == sorted(ms) and ms[-1] < 10000, (kind, ms)
        out, to_client, from_client = node_playback(path)
        assert out["eof"] and out["sorted"], (kind, out)
        assert (to_client, from_client) == want, kind


def test_big_binary_recorded_exactly(start_bridge, echo_backend, tmp_path):
    """Several MB of random bytes each way, recorded byte for byte."""
    data = os.urandom(6 * 1024 * 1024)
    msgs = [data[i:i + 65536] for i in range(0, len(data), 65536)]
    b = start_bridge(echo_backend[1], "--record", str(tmp_path / "rec"))
    assert asyncio.run(talk(b.url, msgs)) == data
    path = recording(str(tmp_path / "rec.*"), timeout=30)
    first, last, chunks = parse_record(path)
    assert (first, last) == (HEAD, TAIL)
    assert per_direction(chunks) == (data, data)
    assert "ended" not in b.log()


def try_mount_tmpfs(path, opts):
    """Mount a tmpfs on path; False when this machine does not allow it."""
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs",
                        str(path)], capture_output=True)
    return r.returncode == 0


@pytest.fixture
def mounts():
    """mount(path, opts) -> True if a tmpfs is mounted there (unmounted at
    teardown)."""
    done = []

    def mount(path, opts):
        ok = try_mount_tmpfs(path, opts)
        if ok:
            done.append(path)
        return ok

    yield mount
    for p in done:
        subprocess.run(["umount", "-l", str(p)], capture_output=True)


def test_full_disk_ends_recording_not_session(start_bridge, echo_backend,
                                              tmp_path, mounts):
    """A 64 KiB tmpfs (or, where mounting is not allowed, FILE.N as a
    link to /dev/full): the recording ends with one log line, the session
    relays all its data, and the next session works too."""
    d = tmp_path / "small"
    small = mounts(d, "size=64k")
    if not small:
        os.makedirs(d, exist_ok=True)
        for n in range(1, 20):
            os.symlink("/dev/full", d / ("rec.%d" % n))
    b = start_bridge(echo_backend[1], "--record", str(d / "rec"))
    data = os.urandom(1024 * 1024)
    msgs = [data[i:i + 32768] for i in range(0, len(data), 32768)]
    assert asyncio.run(talk(b.url, msgs)) == data
    assert wait_for(lambda: "No space left on device" in b.log(), 5), \
        b.log()
    ended = [ln for ln in b.log().splitlines() if "recording to" in ln and
             "ended" in ln]
    assert len(ended) == 1, ended
    assert "the session goes on" in ended[0]
    # The bridge goes on: another session, recorded or not, works.
    assert asyncio.run(talk(b.url, [b"after"])) == b"after"
    if small:
        # Kept, cut back to whole lines and ended, so playback reads it.
        path = re.search(r"recording to (\S+) ended", ended[0]).group(1)
        with open(path, "rb") as f:
            text = f.read()
        assert text.startswith(b"var VNC_frame_data = [\n")
        if "ended with" in ended[0]:
            first, last, chunks = parse_record(path)
            assert (first, last) == (HEAD, TAIL)
            got = per_direction(chunks)
            assert data.startswith(got[1]) and data.startswith(got[0])
            node_playback(path)


def test_hung_disk_never_stalls_relay(start_bridge, echo_backend, tmp_path):
    """FILE.N is a FIFO nobody reads: the writer thread hangs in open().
    The relay goes on; past WSB_RECORD_QUEUE (16 MiB) queued the
    recording ends with one line (memory stays bounded); SIGTERM still
    ends the bridge, exit 0, saying recordings were left unfinished."""
    for n in range(1, 20):
        os.mkfifo(tmp_path / ("rec.%d" % n))
    b = start_bridge(echo_backend[1], "--record", str(tmp_path / "rec"),
                     expect_exit=True)
    data = os.urandom(20 * 1024 * 1024)
    msgs = [data[i:i + 65536] for i in range(0, len(data), 65536)]
    assert asyncio.run(talk(b.url, msgs)) == data
    behind = [ln for ln in b.log().splitlines() if "bytes behind" in ln]
    assert len(behind) == 1 and "the session goes on" in behind[0], behind
    b.proc.send_signal(signal.SIGTERM)
    assert b.wait_exit(15) == 0, b.log()
    assert "recordings left unfinished" in b.log()


@pytest.mark.parametrize("how", ["missing directory", "read-only mount"])
def test_unwritable_directory_warns(start_bridge, echo_backend, tmp_path,
                                    mounts, how):
    """FILE.N cannot be created: one warning naming it, and the session
    works as without --record."""
    if how == "missing directory":
        base = tmp_path / "no" / "such" / "dir" / "rec"
    else:
        if not mounts(tmp_path / "ro", "ro,size=64k"):
            pytest.skip("cannot mount a tmpfs here")
        base = tmp_path / "ro" / "rec"
    b = start_bridge(echo_backend[1], "--record", str(base))
    msgs = [b"hello", bytes(range(256))]
    assert asyncio.run(talk(b.url, msgs)) == b"".join(msgs)
    assert wait_for(lambda: "cannot open record file" in b.log(), 5), \
        b.log()
    warn = [ln for ln in b.log().splitlines() if "record file" in ln]
    assert len(warn) == 1 and str(base) + "." in warn[0], warn
    assert "not recorded" in warn[0]
    assert re.search(r"closed by client, code 1000", b.log())
