"""The token-file plugins end to end: TokenFile, ReadOnlyTokenFile,
--target-config, TokenFileName and UnixDomainSocketDirectory, with real
files in the test's tmp dir and real backends that say who they are.

What a session answers: 101 and a relay to the token's backend; 403 for a
token the source does not hold (or one that is no plain file name); 400
with no token.  TokenFile takes an edit in on the very next connection
(inotify; no sleeps), keeps its last table when the file is deleted, and
does not read a file half-written (a write is taken in at its close);
ReadOnlyTokenFile waits for SIGHUP.  Tokens are
secrets: the bridge's log never holds one."""

import hashlib
import os
import signal
import threading
import time
import urllib.parse

import pytest

from wsutil import (OP_BINARY, RawClient, handshake_request, wait_for)

NAME_LEN = len(b"I am A\n")


@pytest.fixture
def named(named_backend):
    """Backends A and B on 127.0.0.1: {name: "127.0.0.1:PORT"}."""
    return {n: "127.0.0.1:%d" % named_backend(n).port for n in ("A", "B")}


@pytest.fixture
def unix_backends(named_backend):
    """make(path, name): a backend on the Unix socket path; all closed at
    the end."""
    return lambda path, name: named_backend(name, unix_path=str(path))


def route(bridge, token, raw_query=None):
    """(HTTP status, backend name or None) for one session with token.
    On 101 the backend's greeting is read and one message is echoed
    through the bridge."""
    q = raw_query if raw_query is not None else \
        "token=" + urllib.parse.quote(token, safe="")
    with RawClient(bridge.host, bridge.port) as c:
        c.send(handshake_request(bridge.host, bridge.port, path="/?" + q))
        resp = c.read_response()
        if resp.status != 101:
            return resp.status, None
        hello = c.recv_data(NAME_LEN)
        assert hello.startswith(b"I am ") and hello.endswith(b"\n"), hello
        c.send_frame(OP_BINARY, b"ping " + token.encode())
        assert c.recv_data(5 + len(token.encode())) == \
            b"ping " + token.encode()
        return 101, hello[5:-1].decode()


def write_in_place(path, text):
    """Rewrite path in place: truncate, write, close (IN_CLOSE_WRITE)."""
    with open(path, "w") as f:
        f.write(text)


def write_atomic(path, text):
    """Write a new file beside path and rename it over path."""
    tmp = str(path) + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def lines(**targets):
    """A token file: one "token: target" line per keyword."""
    return "".join("%s: %s\n" % kv for kv in targets.items())


def assert_no_secrets(bridge, *tokens, allowed=()):
    """The bridge's log holds none of the tokens (outside the strings in
    allowed)."""
    log = bridge.log()
    for a in allowed:
        log = log.replace(a, "")
    for t in tokens:
        assert t not in log, "token %r in the log" % t


def token_bridge(start_bridge, plugin, source, *extra, **kw):
    """A bridge with no fixed target: plugin on source."""
    return start_bridge(None, "--token-plugin", plugin, "--token-source",
                        str(source), *extra, **kw)


def test_two_tokens_two_backends(start_bridge, named, tmp_path):
    src = tmp_path / "tokens"
    src.write_text("# desktops\nsecret-a: %s\nsecret-b:\t%s\n"
                   % (named["A"], named["B"]))
    b = token_bridge(start_bridge, "TokenFile", src)
    assert route(b, "secret-a") == (101, "A")
    assert route(b, "secret-b") == (101, "B")
    assert route(b, "secret-nope") == (403, None)
    assert route(b, "", raw_query="x=1") == (400, None)
    assert_no_secrets(b, "secret-a", "secret-b", "secret-nope")


def test_edit_applies_to_next_connection(start_bridge, named, tmp_path):
    src = tmp_path / "tokens"
    src.write_text(lines(**{"tok-1": named["A"]}))
    b = token_bridge(start_bridge, "TokenFile", src)
    assert route(b, "tok-1") == (101, "A")
    write_in_place(src, lines(**{"tok-1": named["B"]}))
    assert route(b, "tok-1") == (101, "B")
    write_atomic(src, lines(**{"tok-1": named["A"], "tok-2": named["B"]}))
    assert route(b, "tok-1") == (101, "A")
    assert route(b, "tok-2") == (101, "B")
    write_in_place(src, lines(**{"tok-2": named["A"]}))
    assert route(b, "tok-1") == (403, None)
    assert route(b, "tok-2") == (101, "A")
    assert_no_secrets(b, "tok-1", "tok-2")


def test_deleted_file_keeps_last_table(start_bridge, named, tmp_path):
    src = tmp_path / "tokens"
    src.write_text(lines(**{"keep-me": named["A"]}))
    b = token_bridge(start_bridge, "TokenFile", src)
    assert route(b, "keep-me") == (101, "A")
    os.unlink(src)
    assert route(b, "keep-me") == (101, "A")
    assert wait_for(lambda: "keeping the last 1 token\n" in b.log())
    assert route(b, "keep-me") == (101, "A")
    write_atomic(src, lines(**{"keep-me": named["B"]}))
    assert route(b, "keep-me") == (101, "B")
    assert_no_secrets(b, "keep-me")


def test_directory_swapped_as_kubernetes_does(start_bridge, named,
                                               tmp_path):
    """A ConfigMap volume: d/tokens -> ..data/tokens, and an update swaps
    the ..data symlink by rename.  The next session sees the new file."""
    d = tmp_path / "cm"
    d.mkdir()
    for ver, who in (("..v1", "A"), ("..v2", "B")):
        (d / ver).mkdir()
        (d / ver / "tokens").write_text(lines(**{"kube": named[who]}))
    os.symlink("..v1", str(d / "..data"))
    os.symlink("..data/tokens", str(d / "tokens"))
    b = token_bridge(start_bridge, "TokenFile", d)
    assert route(b, "kube") == (101, "A")
    os.symlink("..v2", str(d / "..data_tmp"))
    os.rename(str(d / "..data_tmp"), str(d / "..data"))
    assert route(b, "kube") == (101, "B")


def test_directory_source(start_bridge, named, tmp_path):
    d = tmp_path / "tokens.d"
    d.mkdir()
    (d / "10-first").write_text(lines(**{"dir-a": named["A"],
                                         "dir-dup": named["A"]}))
    b = token_bridge(start_bridge, "TokenFile", d)
    assert route(b, "dir-a") == (101, "A")
    assert route(b, "dir-b") == (403, None)
    # A file added: its tokens at once; a later name wins a duplicate.
    write_in_place(d / "20-second", lines(**{"dir-b": named["B"],
                                             "dir-dup": named["B"]}))
    assert route(b, "dir-b") == (101, "B")
    assert route(b, "dir-dup") == (101, "B")
    os.unlink(d / "20-second")
    assert route(b, "dir-b") == (403, None)
    assert route(b, "dir-dup") == (101, "A")
    # A hidden file (an editor's swap file, held open and written) is
    # neither loaded nor a write that holds reloads back.
    with open(d / ".10-first.swp", "w") as swap:
        swap.write(lines(**{"dir-hidden": named["B"]}))
        swap.flush()
        write_atomic(d / "30-third", lines(**{"dir-c": named["B"]}))
        assert route(b, "dir-c") == (101, "B")
        assert route(b, "dir-hidden") == (403, None)
    assert_no_secrets(b, "dir-a", "dir-b", "dir-c", "dir-dup",
                      "dir-hidden")


def test_malformed_lines_logged_without_their_text(start_bridge, named,
                                                   tmp_path):
    src = tmp_path / "tokens"
    src.write_text("good-tok: %s\n"
                   "hidden-one:%s\n"             # no blank after ':'
                   "# a comment\n"
                   "hidden-two: 127.0.0.1:0\n"   # port 0
                   "hidden-three: a: b\n"        # two separators
                   % (named["A"], named["B"]))
    b = token_bridge(start_bridge, "TokenFile", src)
    assert route(b, "good-tok") == (101, "A")
    assert route(b, "hidden-one") == (403, None)
    log = b.log()
    for n in (2, 4, 5):
        assert "token file %s line %d: syntax error, skipped" % (src, n) \
            in log, log
    assert "line 1:" not in log and "line 3:" not in log
    assert_no_secrets(b, "good-tok", "hidden-one", "hidden-two",
                      "hidden-three")


def test_read_only_waits_for_sighup(start_bridge, named, tmp_path):
    src = tmp_path / "tokens"
    src.write_text(lines(**{"ro-tok": named["A"]}))
    b = token_bridge(start_bridge, "ReadOnlyTokenFile", src)
    assert route(b, "ro-tok") == (101, "A")
    write_in_place(src, lines(**{"ro-tok": named["B"]}))
    assert route(b, "ro-tok") == (101, "A")
    b.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "reloaded: 1 token\n" in b.log())
    assert route(b, "ro-tok") == (101, "B")
    # A SIGHUP that cannot read the file keeps the table.
    os.unlink(src)
    b.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "keeping the last 1 token\n" in b.log())
    assert route(b, "ro-tok") == (101, "B")
    assert_no_secrets(b, "ro-tok")


def test_target_config_is_token_file(start_bridge, named, tmp_path):
    src = tmp_path / "targets"
    src.write_text(lines(**{"tc-tok": named["A"]}))
    b = start_bridge(None, "--target-config", str(src))
    assert route(b, "tc-tok") == (101, "A")
    write_in_place(src, lines(**{"tc-tok": named["B"]}))
    assert route(b, "tc-tok") == (101, "B")
    assert_no_secrets(b, "tc-tok")


def test_plugin_name_with_module(start_bridge, named, tmp_path):
    src = tmp_path / "tokens"
    src.write_text(lines(**{"mod-tok": named["B"]}))
    b = token_bridge(start_bridge, "websockify.token_plugins.TokenFile", src)
    assert route(b, "mod-tok") == (101, "B")


@pytest.mark.parametrize("plugin", ["TokenFile", "ReadOnlyTokenFile",
                                    "TokenFileName",
                                    "UnixDomainSocketDirectory"])
def test_missing_source_refused_at_start(start_bridge, tmp_path, plugin):
    b = token_bridge(start_bridge, plugin, tmp_path / "nowhere",
                     expect_exit=True, wait=False)
    assert b.wait_exit(10) == 2
    log = b.log()
    assert str(tmp_path / "nowhere") in log, log


def test_token_file_name(start_bridge, named, tmp_path):
    d = tmp_path / "by-name"
    d.mkdir()
    (d / "desk-a").write_text("  %s\n" % named["A"])
    (d / "desk-b").write_text(named["B"])
    (d / "broken").write_text("not a target\n")
    (d / ".hidden").write_text(named["A"])
    (tmp_path / "outside").write_text(named["B"])
    b = token_bridge(start_bridge, "TokenFileName", d)
    assert route(b, "desk-a") == (101, "A")
    assert route(b, "desk-b") == (101, "B")
    # A file's new contents apply at once (it is read per connection).
    write_in_place(d / "desk-a", named["B"])
    assert route(b, "desk-a") == (101, "B")
    assert route(b, "missing") == (403, None)
    assert route(b, "broken") == (403, None)
    assert "malformed target in token file" in b.log()
    for bad in ("../outside", "..", ".", ".hidden", "by-name/desk-a",
                "desk-a/"):
        assert route(b, bad) == (403, None), bad
    assert_no_secrets(b, "desk-a", "desk-b", "missing", "broken",
                      "outside")


def test_unix_socket_directory(start_bridge, unix_backends, tmp_path):
    d = tmp_path / "sockets"
    d.mkdir()
    unix_backends(d / "vnc-a", "A")
    unix_backends(tmp_path / "outside", "B")
    (d / "plain").write_text("not a socket\n")
    b = token_bridge(start_bridge, "UnixDomainSocketDirectory", d)
    assert route(b, "vnc-a") == (101, "A")
    assert route(b, "plain") == (403, None)
    assert route(b, "gone") == (403, None)
    for bad in ("../outside", "..", ".", "x" * 200):
        assert route(b, bad) == (403, None), bad
    assert "socket path too long" in b.log()
    # The target is DIR/TOKEN: the log names it DIR/<token FINGERPRINT>.
    assert_no_secrets(b, "vnc-a", "plain", "gone", "outside")
    fp = hashlib.sha256(b"vnc-a").hexdigest()[:8]
    assert "target unix:%s/<token %s>" % (d, fp) in b.log(), b.log()


def test_parallel_sessions_while_rewriting(start_bridge, named, tmp_path):
    """Sessions in parallel while the file is rewritten in a loop (by
    rename, A and B swapped): every session gets A or B, never a refusal,
    and the bridge stays up.  (An edit in place is never read half-written
    once its first write is seen, but a reload that falls between the
    kernel's truncation and its IN_MODIFY, microseconds, could read it
    empty: a rename is the atomic edit.)"""
    src = tmp_path / "tokens"
    pad = "".join("pad-%d: 10.0.%d.%d:5900\n" % (i, i // 250, i % 250)
                  for i in range(2000))  # a file that takes a while
    versions = [pad + lines(**{"par-tok": named[n]}) for n in ("A", "B")]
    src.write_text(versions[0])
    b = token_bridge(start_bridge, "TokenFile", src)
    stop = threading.Event()
    results, errors = [], []

    def writer():
        i = 0
        while not stop.is_set():
            i += 1
            write_atomic(src, versions[i % 2])

    def client():
        try:
            for _ in range(25):
                results.append(route(b, "par-tok"))
        except Exception as e:  # reported below
            errors.append(repr(e))

    w = threading.Thread(target=writer)
    w.start()
    clients = [threading.Thread(target=client) for _ in range(6)]
    for t in clients:
        t.start()
    for t in clients:
        t.join(120)
    stop.set()
    w.join(10)
    assert not errors, errors[:5]
    assert len(results) == 150
    bad = [r for r in results if r not in ((101, "A"), (101, "B"))]
    assert not bad, bad[:5]
    assert b.proc.poll() is None
    # After the churn the last version written is what sessions get.
    final = (101, "A") if src.read_text() == versions[0] else (101, "B")
    assert route(b, "par-tok") == final
    assert_no_secrets(b, "par-tok")


def test_edit_in_place_never_half_read(start_bridge, named, tmp_path):
    """A slow edit in place (the first half written, a pause, the rest,
    then close) while sessions come in parallel: the half-written file is
    never read (the IN_MODIFY without its IN_CLOSE_WRITE holds the
    reload back), so every session gets the old or the new target, and
    after the close the new one."""
    src = tmp_path / "tokens"
    pad = "".join("pad-%d: 10.0.%d.%d:5900\n" % (i, i // 250, i % 250)
                  for i in range(2000))
    versions = [pad + lines(**{"slow-tok": named[n]}) for n in ("A", "B")]
    src.write_text(versions[0])
    b = token_bridge(start_bridge, "TokenFile", src)
    stop = threading.Event()
    results, errors = [], []

    def client():
        try:
            while not stop.is_set():
                results.append(route(b, "slow-tok"))
        except Exception as e:  # reported below
            errors.append(repr(e))

    clients = [threading.Thread(target=client) for _ in range(3)]
    for t in clients:
        t.start()
    try:
        for i in range(1, 7):
            text = versions[i % 2]
            with open(src, "w") as f:
                f.write(text[:len(text) // 2])
                f.flush()
                time.sleep(0.1)  # sessions arrive while it is half done
                f.write(text[len(text) // 2:])
            time.sleep(0.05)
            assert route(b, "slow-tok") == (101, "AB"[i % 2])
    finally:
        stop.set()
        for t in clients:
            t.join(30)
    assert not errors, errors[:5]
    assert len(results) > 20
    bad = [r for r in results if r not in ((101, "A"), (101, "B"))]
    assert not bad, bad[:5]
    assert_no_secrets(b, "slow-tok")


def test_edit_in_place_survives_an_event_queue_overflow(start_bridge, named,
                                                        tmp_path):
    """The file truncated (its writer still has it open), then more events
    in its directory than the kernel queues: IN_Q_OVERFLOW, and the
    truncation's IN_MODIFY is lost with the rest.  The half-written file
    is still not read (the old target stays) until it has been written
    and closed."""
    src = tmp_path / "tokens"
    versions = [lines(tok=named[n]) for n in ("A", "B")]
    src.write_text(versions[0])
    b = token_bridge(start_bridge, "TokenFile", src)
    assert route(b, "tok") == (101, "A")
    with open("/proc/sys/fs/inotify/max_queued_events") as f:
        limit = int(f.read())
    with open(src, "w") as f:  # truncated, not closed
        # Two files in turn: the kernel merges an event that repeats the
        # last one queued.
        fds = [os.open(tmp_path / n, os.O_WRONLY | os.O_CREAT)
               for n in ("a", "b")]
        try:
            for i in range(limit + 100):
                os.write(fds[i % 2], b"x")
        finally:
            for fd in fds:
                os.close(fd)
        assert route(b, "tok") == (101, "A")
        f.write(versions[1])
    assert wait_for(lambda: route(b, "tok") == (101, "B"), 10), b.log()


def test_emptied_file_applies_after_the_write_grace(start_bridge, named,
                                                   tmp_path):
    """An empty file may be an in-place rewrite caught between its
    truncation and its write (whose IN_MODIFY the kernel queues after it
    stamps the file), so it is believed once it has stayed empty for the
    write grace (1 s): then its tokens are gone."""
    src = tmp_path / "tokens"
    src.write_text(lines(tok=named["A"]))
    b = token_bridge(start_bridge, "TokenFile", src)
    assert route(b, "tok") == (101, "A")
    t0 = time.monotonic()
    src.write_text("")
    first = route(b, "tok")
    if time.monotonic() - t0 < 0.9:
        assert first == (101, "A")
    assert wait_for(lambda: route(b, "tok")[0] == 403, 10), b.log()
    assert time.monotonic() - t0 >= 0.9
    assert "edited: 0 tokens" in b.log()
