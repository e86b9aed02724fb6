"""Differential: Debian's websockify (0.10, /usr/bin/websockify) and
wsbridge given the same token sources must route each token the same way.

Every backend says who it is first ("I am A\\n") and then echoes, so a
session's outcome is "routed to A" (its name, then an echo through the
bridge) or "refused".  How a bridge refuses differs and is not compared:
websockify drops the connection or sends Close 1011 after the 101, wsbridge
answers 400/403/503.

Each source is a table, one line per case with what websockify 0.10's code
does (websocketproxy.py get_target, token_plugins.py); both bridges are
run against the same table, so the test shows they choose alike.  Where
wsbridge departs from websockify on purpose (a "[v6]:port" target or an
IPv6 Host, which websockify cannot use; a plain host:port Redis value; a
non-ASCII blank after the colon), the line says "departure" and gives
each bridge's outcome.  QUERY_CORNERS holds the odd queries (an encoded
parameter name, a blank value first, malformed escapes) both read alike.
"""

import os
import subprocess

import pytest

from wsutil import (client_key, free_port, have_ipv6, routed_to,
                    spawn_logged, stop_process, wait_accepting)

WEBSOCKIFY = "/usr/bin/websockify"
PY = "/usr/bin/python3"
REFUSED = None


# --- backends that say who they are ----------------------------------------

@pytest.fixture
def named(named_backend, tmp_path):
    """Backends A, B, C on 127.0.0.1, U on a Unix socket, and V6 on ::1
    (when there is IPv6): {name: ThreadedServer}, .target(name) gives the
    token file's target for it.  A peer that leaves (a refused session,
    the end of the test) is no error."""
    servers = {}
    for n in "ABC":
        servers[n] = named_backend(n, quiet=True)
    # Short: a Unix socket path has room for 107 bytes.
    upath = os.path.join(str(tmp_path), "u.sock")
    servers["U"] = named_backend("U", quiet=True, unix_path=upath)
    if have_ipv6():
        servers["V6"] = named_backend("V6", quiet=True, host="::1")

    class Named(dict):
        def target(self, n):
            if n == "U":
                return "unix_socket:" + upath
            if n == "V6":
                return "[::1]:%d" % self[n].port
            return "127.0.0.1:%d" % self[n].port
    return Named(servers)


# --- the bridges -----------------------------------------------------------

@pytest.fixture
def run_bridge(start_bridge, tmp_path):
    """run_bridge(kind, *opts) -> (host, port) of a started websockify or
    wsbridge with these options and no target; stopped at teardown."""
    procs = []

    def start(kind, *opts):
        if kind == "wsbridge":
            b = start_bridge(None, *opts)
            return b.host, b.port
        if not os.access(WEBSOCKIFY, os.X_OK):
            pytest.skip("Debian's websockify is not installed "
                        "(apt-get install websockify)")
        port = free_port()
        log = str(tmp_path / ("websockify-%d.log" % len(procs)))
        # websockify reads the token file as text: UTF-8 whatever the
        # test's locale.
        env = dict(os.environ, LC_ALL="C.UTF-8", PYTHONIOENCODING="utf-8")
        p = spawn_logged([WEBSOCKIFY, *opts, "127.0.0.1:%d" % port], log,
                         env=env)
        procs.append((p, log))
        try:
            wait_accepting("127.0.0.1", port, p, 10)
        except Exception as e:
            with open(log, "rb") as f:
                raise AssertionError("websockify %s did not start: %s\n%s"
                                     % (opts, e, f.read().decode(
                                         "utf-8", "replace")))
        return "127.0.0.1", port

    yield start
    for p, log in procs:
        stop_process(p)


def upgrade_request(path, host):
    """An upgrade request for path with Host host (None: no Host)."""
    lines = ["GET %s HTTP/1.1" % path]
    if host is not None:
        lines.append("Host: %s" % host)
    lines += ["Upgrade: websocket", "Connection: Upgrade",
              "Sec-WebSocket-Key: %s" % client_key(),
              "Sec-WebSocket-Version: 13",
              "Sec-WebSocket-Protocol: binary"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def outcome(addr, path="/", host="__default__"):
    """Where a session for path lands: the backend's name (after an echo
    through the bridge worked), or REFUSED.  A stall fails."""
    h, port = addr
    if host == "__default__":
        host = "%s:%d" % (h, port)
    return routed_to(h, port, upgrade_request(path, host))


def expected(want, kind):
    """A case's outcome for kind: want, or want[kind] for a departure."""
    return want[kind] if isinstance(want, dict) else want


def check_table(addr, kind, cases, **kw):
    """Run every case (desc, request, want); fail listing every case whose
    outcome is not the table's, with what was seen."""
    bad = []
    for desc, req, want in cases:
        if isinstance(want, dict) and want.get("needs") == "ipv6" and \
                not have_ipv6():
            continue
        if kw.get("host_token"):
            got = outcome(addr, "/websockify", host=req)
        else:
            got = outcome(addr, req)
        exp = expected(want, kind)
        if got != exp:
            bad.append("%s: %r -> %s, expected %s" % (
                desc, req, got or "refused", exp or "refused"))
    assert not bad, "%s chose differently:\n  %s" % (kind, "\n  ".join(bad))


# --- TokenFile, one file -----------------------------------------------------

def token_file_text(named):
    t = named.target
    lines = [
        "# the backends of this test",
        "   # an indented comment",
        "",
        "alpha: %s" % t("A"),
        "bravo:\t%s" % t("B"),
        "   charlie:    %s   " % t("C"),
        "a:b:c: %s" % t("A"),
        "sp ace: %s" % t("B"),
        "t\u00f6k\u00e9n: %s" % t("C"),
        "k=v: %s" % t("A"),
        "pct%%: %s" % t("B"),
        "a+b: %s" % t("C"),
        ":lead: %s" % t("B"),
        "dup: %s" % t("A"),
        "dup: %s" % t("B"),              # a later line wins (a dict)
        "no separator %s" % t("A"),      # malformed
        "two: %s: %s" % (t("A"), t("B")),  # three parts: malformed
        "noport: 127.0.0.1",             # websockify: cannot unpack
        "badport: 127.0.0.1:http",       # websockify: connect fails
        "emptytarget:",
        "after-bad: %s" % t("C"),
        "sock: %s" % t("U"),
        "unknown-host: no-such-host.invalid:%d" % named["A"].port,
        "a%%zz: %s" % t("C"),
        "nbsp:\u00a0%s" % t("A"),         # U+00A0 after the colon
    ]
    if "V6" in named:
        lines.append("v6: %s" % t("V6"))
    return "\n".join(lines) + "\n"


TOKEN_FILE_CASES = [
    ("plain token", "/websockify?token=alpha", "A"),
    ("tab separator", "/websockify?token=bravo", "B"),
    ("blanks around the line and after the colon", "/?token=charlie", "C"),
    ("colons inside the token", "/?token=a:b:c", "A"),
    ("colons percent-encoded", "/?token=a%3Ab%3Ac", "A"),
    ("space, percent-encoded", "/?token=sp%20ace", "B"),
    ("space as '+'", "/?token=sp+ace", "B"),
    ("UTF-8, percent-encoded", "/?token=t%C3%B6k%C3%A9n", "C"),
    ("'=' inside the value", "/?token=k=v", "A"),
    ("'%' percent-encoded", "/?token=pct%25", "B"),
    ("'+' percent-encoded", "/?token=a%2Bb", "C"),
    ("'+' is a space, not in the file", "/?token=a+b", REFUSED),
    ("token starting with ':'", "/?token=:lead", "B"),
    ("letters percent-encoded", "/?token=%61%6c%70%68%61", "A"),
    ("trailing newline removed", "/?token=alpha%0A", "A"),
    ("trailing newlines removed", "/?token=alpha%0A%0A", "A"),
    ("first of two tokens", "/?token=alpha&token=bravo", "A"),
    ("after another parameter", "/?x=1&token=bravo&y=2", "B"),
    ("fragment ignored", "/?token=charlie#frag", "C"),
    ("duplicate: the later line", "/?token=dup", "B"),
    ("case matters", "/?token=ALPHA", REFUSED),
    ("unknown token", "/?token=nobody", REFUSED),
    ("prefix of a token", "/?token=alph", REFUSED),
    ("no token", "/websockify", REFUSED),
    ("empty token", "/?token=", REFUSED),
    ("only a newline", "/?token=%0A", REFUSED),
    ("malformed line: no separator", "/?token=no%20separator", REFUSED),
    ("malformed line: two separators", "/?token=two", REFUSED),
    ("target without port", "/?token=noport", REFUSED),
    ("target with a bad port", "/?token=badport", REFUSED),
    ("empty target", "/?token=emptytarget", REFUSED),
    ("line after malformed ones", "/?token=after-bad", "C"),
    ("unix_socket:PATH target", "/?token=sock", "U"),
    ("target host that does not resolve", "/?token=unknown-host", REFUSED),
    # websockify connects to the host "[::1]" (brackets kept: getaddrinfo
    # fails); wsbridge takes "[v6]:port" as the issue asks.
    ("[v6]:port target (departure)", "/?token=v6",
     {"websockify": REFUSED, "wsbridge": "V6", "needs": "ipv6"}),
    # Python's regex `\s` is any Unicode blank; wsbridge's separator is a
    # colon and an ASCII blank (token_file.h says so).
    ("U+00A0 after the colon (departure)", "/?token=nbsp",
     {"websockify": "A", "wsbridge": REFUSED}),
]

# Query corners where wsbridge reads the query as websockify does
# (urllib.parse.parse_qs and unquote_plus); websockify's side is checked
# in test_token_file.
QUERY_CORNERS = [
    ("parameter name percent-encoded", "/?%74oken=alpha", "A"),
    ("empty token, then a token", "/?token=&token=bravo", "B"),
    ("a lone '%' kept as it is", "/?token=pct%", "B"),
    ("a malformed escape kept as it is", "/?token=a%zz", "C"),
]


@pytest.mark.parametrize("path,want", [
    pytest.param(path, want, id=desc)
    for desc, path, want in QUERY_CORNERS])
def test_query_corners(path, want, named, run_bridge, tmp_path):
    """wsbridge's side; websockify's is checked in test_token_file."""
    src = tmp_path / "tokens"
    src.write_text(token_file_text(named), encoding="utf-8")
    addr = run_bridge("wsbridge", "--token-plugin", "TokenFile",
                      "--token-source", str(src))
    assert outcome(addr, path) == want


@pytest.mark.parametrize("kind", ["websockify", "wsbridge"])
def test_token_file(kind, named, run_bridge, tmp_path):
    src = tmp_path / "tokens"
    src.write_text(token_file_text(named), encoding="utf-8")
    addr = run_bridge(kind, "--token-plugin", "TokenFile",
                      "--token-source", str(src))
    # Both bridges read the query corners alike.
    check_table(addr, kind, TOKEN_FILE_CASES + QUERY_CORNERS)


@pytest.mark.parametrize("kind", ["websockify", "wsbridge"])
def test_target_config(kind, named, run_bridge, tmp_path):
    """--target-config FILE is TokenFile by its old name."""
    src = tmp_path / "tokens"
    src.write_text(token_file_text(named), encoding="utf-8")
    addr = run_bridge(kind, "--target-config", str(src))
    check_table(addr, kind, [c for c in TOKEN_FILE_CASES if c[1] in (
        "/websockify?token=alpha", "/websockify?token=bravo",
        "/?token=sp%20ace", "/?token=dup", "/?token=two", "/?token=sock",
        "/?token=nobody", "/websockify")])


# --- TokenFile, a directory of two files -----------------------------------

DIR_CASES = [
    ("token of the first file", "/?token=one-a", "A"),
    ("second token of the first file", "/?token=one-b", "B"),
    ("token of the second file", "/?token=two-c", "C"),
    ("unix target in the second file", "/?token=two-u", "U"),
    ("malformed line in the first file", "/?token=one-bad", REFUSED),
    ("comment is no token", "/?token=%23%20one-a", REFUSED),
    ("unknown token", "/?token=three", REFUSED),
]


@pytest.mark.parametrize("kind", ["websockify", "wsbridge"])
@pytest.mark.parametrize("plugin", ["TokenFile", "ReadOnlyTokenFile"])
def test_token_directory(kind, plugin, named, run_bridge, tmp_path):
    d = tmp_path / "tokens.d"
    d.mkdir()
    (d / "one").write_text("# first file\none-a: %s\none-bad %s\n"
                           "one-b:  %s\n" % (named.target("A"),
                                             named.target("A"),
                                             named.target("B")))
    (d / "two.conf").write_text("\n\ntwo-c: %s\r\ntwo-u: %s\n"
                                % (named.target("C"), named.target("U")))
    addr = run_bridge(kind, "--token-plugin", plugin, "--token-source",
                      str(d))
    check_table(addr, kind, DIR_CASES)


@pytest.mark.parametrize("kind", ["websockify", "wsbridge"])
def test_plugin_module_path(kind, named, run_bridge, tmp_path):
    """websockify.token_plugins.TokenFile: the name as websockify's users
    write it."""
    src = tmp_path / "tokens"
    src.write_text("alpha: %s\n" % named.target("A"))
    addr = run_bridge(kind, "--token-plugin",
                      "websockify.token_plugins.TokenFile",
                      "--token-source", str(src))
    check_table(addr, kind, [("module path", "/?token=alpha", "A"),
                             ("unknown", "/?token=bravo", REFUSED)])


# --- --host-token ----------------------------------------------------------

HOST_CASES = [
    ("Host with port", "alpha.example:8080", "A"),
    ("Host without port", "bravo.example", "B"),
    ("Host with port 80", "charlie.example:80", "C"),
    ("unknown Host", "nobody.example:8080", REFUSED),
    ("case matters", "ALPHA.example", REFUSED),
    ("no Host header", None, REFUSED),
    ("empty Host header", "", REFUSED),
    # websockify takes Host up to its first ':' ("["); wsbridge takes the
    # IPv6 literal without brackets and port, as the issue asks.
    ("IPv6 literal Host (departure)", "[fd00::1]:8080",
     {"websockify": REFUSED, "wsbridge": "A"}),
    ("IPv6 literal Host without port (departure)", "[fd00::1]",
     {"websockify": REFUSED, "wsbridge": "A"}),
]


@pytest.mark.parametrize("kind", ["websockify", "wsbridge"])
def test_host_token(kind, named, run_bridge, tmp_path):
    src = tmp_path / "hosts"
    src.write_text("alpha.example: %s\nbravo.example: %s\n"
                   "charlie.example: %s\nfd00::1: %s\n"
                   % (named.target("A"), named.target("B"),
                      named.target("C"), named.target("A")))
    addr = run_bridge(kind, "--token-plugin", "TokenFile", "--token-source",
                      str(src), "--host-token")
    check_table(addr, kind, HOST_CASES, host_token=True)
    # The query's token is not looked at with --host-token.
    assert outcome(addr, "/?token=alpha.example", host="nobody") is REFUSED


# --- TokenRedis, websockify 0.10's source and value ------------------------

@pytest.fixture
def redis(redis):
    """One RedisServer (conftest.py's redis) for the table."""
    return redis()


def have_websockify_redis():
    """websockify 0.10's TokenRedis imports redis and simplejson; None or
    what is missing."""
    missing = []
    for mod, pkg in (("redis", "python3-redis"),
                     ("simplejson", "python3-simplejson")):
        r = subprocess.run([PY, "-c", "import " + mod], capture_output=True)
        if r.returncode != 0:
            missing.append(pkg)
    return missing


REDIS_CASES = [
    ("JSON value", "/?token=alpha", "A"),
    ("JSON value, spaces", "/?token=bravo", "B"),
    ("JSON value, a different key order and fields", "/?token=charlie", "C"),
    ("unknown key", "/?token=nobody", REFUSED),
    ("no token", "/", REFUSED),
    ("JSON without host", "/?token=nohost", REFUSED),
    ("not JSON, not host:port", "/?token=garbage", REFUSED),
    # websockify 0.10 takes JSON only (simplejson.loads fails on the plain
    # form); wsbridge also takes the plain host:port of later websockify
    # versions, as the issue asks.
    ("plain host:port value (departure)", "/?token=plain",
     {"websockify": REFUSED, "wsbridge": "A"}),
]


@pytest.mark.parametrize("kind", ["websockify", "wsbridge"])
def test_token_redis(kind, named, redis, run_bridge):
    if kind == "websockify":
        missing = have_websockify_redis()
        if missing:
            pytest.skip("websockify 0.10's TokenRedis needs %s, not "
                        "installed (Debian: apt-get install %s); wsbridge "
                        "is checked against the same table"
                        % (", ".join(missing), " ".join(missing)))
    hp = lambda n: "127.0.0.1:%d" % named[n].port  # noqa: E731
    redis.cli("SET", "alpha", '{"host": "%s"}' % hp("A"))
    redis.cli("SET", "bravo", '{ "host" : "%s" }' % hp("B"))
    redis.cli("SET", "charlie", '{"x": 1, "host": "%s", "y": [2]}' % hp("C"))
    redis.cli("SET", "nohost", '{"port": 1}')
    redis.cli("SET", "garbage", "{not json")
    redis.cli("SET", "plain", hp("A"))
    addr = run_bridge(kind, "--token-plugin", "TokenRedis", "--token-source",
                      "127.0.0.1:%d" % redis.port)
    check_table(addr, kind, REDIS_CASES)
