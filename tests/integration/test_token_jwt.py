"""JWTTokenApi: tokens made here with Debian's python3-jwcrypto (the library
websockify itself uses) route a bridge with no fixed target to the backend
their claims name; invalid, expired, early, forged or unsigned tokens get
403; a key file that cannot be read stops the bridge with one line; no
token ever reaches the log.  The differential test gives the same key files
and tokens to Debian's websockify (0.10) and compares where each session
lands.

Every backend says who it is first ("I am A\\n") and then echoes, so an
outcome is "routed to A" (its name, then an echo through the bridge) or
refused.  websockify refuses after the 101 by closing the connection;
wsbridge answers 403 before it.
"""

import json
import os
import subprocess
import time

import pytest

from conftest import wsbridge_argv0
from wsutil import (RawClient, client_key, free_port, routed_to,
                    spawn_logged, stop_process, wait_accepting)

jwk = pytest.importorskip("jwcrypto.jwk")
jwt = pytest.importorskip("jwcrypto.jwt")
from jwcrypto.common import base64url_encode  # noqa: E402

WEBSOCKIFY = "/usr/bin/websockify"
REFUSED = None


# --- keys, tokens and backends ---------------------------------------------

@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Key files and their jwcrypto keys: rsa (private PEM), rsa_pub,
    ec (private), ec_pub, oct (base64url k, no newline: websockify keeps
    it), other (another RSA key), cert (an X.509 certificate, with its
    private key as the JWK).  {name: (path, JWK)}."""
    d = tmp_path_factory.mktemp("jwt-keys")
    out = {}

    def put(name, key, text):
        p = d / name
        p.write_bytes(text)
        out[name] = (str(p), key)

    rsa = jwk.JWK.generate(kty="RSA", size=2048)
    put("rsa", rsa, rsa.export_to_pem(private_key=True, password=None))
    put("rsa_pub", rsa, rsa.export_to_pem())
    ec = jwk.JWK.generate(kty="EC", crv="P-256")
    put("ec", ec, ec.export_to_pem(private_key=True, password=None))
    put("ec_pub", ec, ec.export_to_pem())
    sym = jwk.JWK.generate(kty="oct", size=256)
    put("oct", sym, json.loads(sym.export())["k"].encode())
    other = jwk.JWK.generate(kty="RSA", size=2048)
    put("other", other, other.export_to_pem(private_key=True, password=None))
    kp, cp = d / "cert-key", d / "cert"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(kp),
                    "-out", str(cp), "-subj", "/CN=jwt", "-days", "1"],
                   check=True, capture_output=True)
    out["cert"] = (str(cp), jwk.JWK.from_pem(kp.read_bytes()))
    return out


def signed(key, alg, claims):
    """A compact JWS of claims (a dict) made by jwcrypto."""
    t = jwt.JWT(header={"alg": alg}, claims=claims)
    t.make_signed_token(key)
    return t.serialize()


def encrypted(key, alg, enc, inner):
    """A compact JWE of inner (a token, or claims) made by jwcrypto."""
    t = jwt.JWT(header={"alg": alg, "enc": enc}, claims=inner)
    t.make_encrypted_token(key)
    return t.serialize()


def unsigned(claims):
    """alg none: what jwcrypto will not make, made by hand."""
    return "%s.%s." % (base64url_encode(json.dumps({"alg": "none"})),
                       base64url_encode(json.dumps(claims)))


@pytest.fixture
def named(named_backend):
    """Backends A and B on 127.0.0.1: {name: ThreadedServer}."""
    return {n: named_backend(n) for n in "AB"}


def upgrade(token):
    """An upgrade request carrying token in its query (None: no token)."""
    path = "/websockify" if token is None else "/websockify?token=" + token
    return ("GET %s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: binary"
            "\r\n\r\n" % (path, client_key())).encode()


def outcome(addr, token):
    """Where a session with token lands: the backend's name (after an echo
    through the bridge worked), or REFUSED.  A stall fails."""
    return routed_to(addr[0], addr[1], upgrade(token))


def status(addr, token):
    """The HTTP status wsbridge answers an upgrade with token."""
    with RawClient(addr[0], addr[1], timeout=8) as cl:
        cl.send(upgrade(token))
        return cl.read_response().status


def to(named, n, port_as_string=False):
    """Claims naming backend n."""
    port = named[n].port
    return {"host": "127.0.0.1",
            "port": str(port) if port_as_string else port}


def jwt_bridge(start_bridge, path, **kw):
    b = start_bridge(None, "--token-plugin", "JWTTokenApi", "--token-source",
                     path, **kw)
    return b


# --- wsbridge ----------------------------------------------------------------

@pytest.mark.parametrize("alg,keyfile", [
    ("RS256", "rsa"), ("RS512", "rsa_pub"), ("PS256", "rsa_pub"),
    ("PS384", "rsa"), ("ES256", "ec_pub"), ("ES256", "ec"),
    ("HS256", "oct"), ("HS512", "oct"), ("ES256", "cert"),
])
def test_jws_routes(start_bridge, keys, named, alg, keyfile):
    path, key = keys[keyfile]
    b = jwt_bridge(start_bridge, path)
    addr = (b.host, b.port)
    ta, tb = signed(key, alg, to(named, "A")), \
        signed(key, alg, to(named, "B", True))
    assert outcome(addr, ta) == "A"
    assert outcome(addr, tb) == "B", "port as a string"
    log = b.log()
    assert ta not in log and tb not in log, "a token is in the log"


@pytest.mark.parametrize("enc", ["A256GCM", "A128CBC-HS256"])
def test_jwe_rsa_oaep_routes(start_bridge, keys, named, enc):
    path, key = keys["rsa"]
    b = jwt_bridge(start_bridge, path)
    inner = signed(key, "RS256", to(named, "B"))
    assert outcome((b.host, b.port),
                   encrypted(key, "RSA-OAEP", enc, inner)) == "B"


def test_refusals_get_403(start_bridge, keys, named):
    path, key = keys["rsa"]
    b = jwt_bridge(start_bridge, path)
    addr = (b.host, b.port)
    now = int(time.time())
    good = to(named, "A")
    other = keys["other"][1]
    sym = jwk.JWK(kty="oct", k=base64url_encode(keys["rsa_pub"][1]
                                                .export_to_pem()))
    cases = [
        ("expired", signed(key, "RS256", dict(good, exp=now - 5))),
        ("not yet valid", signed(key, "RS256", dict(good, nbf=now + 300))),
        ("another key", signed(other, "RS256", good)),
        ("alg none", unsigned(good)),
        ("garbage", "not-a-token"),
        ("garbage in three parts", "aaaa.bbbb.cccc"),
        ("HS256 keyed with the public PEM", signed(sym, "HS256", good)),
        ("no host", signed(key, "RS256", {"port": named["A"].port})),
        ("port a float", signed(key, "RS256", dict(good, port=1.5))),
        ("JWE of bare claims",
         encrypted(key, "RSA-OAEP", "A256GCM", json.dumps(good))),
        ("JWE of a token signed by another key",
         encrypted(key, "RSA-OAEP", "A256GCM",
                   signed(other, "RS256", good))),
    ]
    bad = ["%s: %d" % (d, s) for d, s in
           ((d, status(addr, t)) for d, t in cases) if s != 403]
    assert not bad, bad
    assert status(addr, None) == 400, "no token"
    assert outcome(addr, signed(key, "RS256",
                                dict(good, nbf=now - 5, exp=now + 300))) \
        == "A", "a valid nbf/exp window routes"
    log = b.log()
    for d, t in cases:
        assert t not in log, "%s: the token is in the log" % d
    assert "JWT: expired" in log and "JWT: alg none refused" in log, log


def test_jwe_needs_the_private_key(start_bridge, keys, named):
    path, key = keys["rsa_pub"]
    b = jwt_bridge(start_bridge, path)
    tok = encrypted(key, "RSA-OAEP", "A256GCM",
                    signed(keys["rsa"][1], "RS256", to(named, "A")))
    assert status((b.host, b.port), tok) == 403


def test_symmetric_key_file_with_blanks(start_bridge, keys, named,
                                        tmp_path):
    """The k in the file may have a newline around it (websockify's own
    jwcrypto read refuses that; wsbridge strips it)."""
    path, key = keys["oct"]
    p = tmp_path / "k-newline"
    p.write_bytes(b"\n" + open(path, "rb").read() + b"\n")
    b = jwt_bridge(start_bridge, str(p))
    assert outcome((b.host, b.port), signed(key, "HS256",
                                            to(named, "A"))) == "A"


@pytest.mark.parametrize("content", [None, b"", b"not a key!\n",
                                     b"-----BEGIN PUBLIC KEY-----\nAAAA\n"
                                     b"-----END PUBLIC KEY-----\n"])
def test_bad_key_file_exits_2_with_one_line(tmp_path, content):
    path = tmp_path / "key"
    if content is not None:
        path.write_bytes(content)
    argv = wsbridge_argv0() + ["--token-plugin", "JWTTokenApi",
                               "--token-source", str(path),
                               "127.0.0.1:%d" % free_port()]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=10)
    err = r.stderr.decode("utf-8", "replace")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert r.returncode == 2, (r.returncode, err)
    assert len(lines) == 1 and str(path) in lines[0], err


def test_sighup_reloads_the_key(start_bridge, keys, named, tmp_path):
    """A new key file takes effect at SIGHUP; one that does not load keeps
    the old key."""
    p = tmp_path / "key"
    p.write_bytes(open(keys["rsa_pub"][0], "rb").read())
    b = jwt_bridge(start_bridge, str(p))
    addr = (b.host, b.port)
    old = signed(keys["rsa"][1], "RS256", to(named, "A"))
    new = signed(keys["other"][1], "RS256", to(named, "B"))
    assert (outcome(addr, old), outcome(addr, new)) == ("A", REFUSED)
    p.write_bytes(b"garbage\x01")
    b.proc.send_signal(1)
    deadline = time.monotonic() + 5
    while "keeping the key" not in b.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert outcome(addr, old) == "A", b.log()
    p.write_bytes(open(keys["other"][0], "rb").read())
    b.proc.send_signal(1)
    deadline = time.monotonic() + 5
    while "reloaded" not in b.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (outcome(addr, old), outcome(addr, new)) == (REFUSED, "B")


# --- differential against websockify -----------------------------------------

@pytest.fixture
def websockify(tmp_path):
    """websockify(key_path) -> (host, port) of Debian's websockify with
    JWTTokenApi; stopped at teardown."""
    if not os.access(WEBSOCKIFY, os.X_OK):
        pytest.skip("Debian's websockify is not installed")
    procs = []

    def start(path):
        port = free_port()
        log = str(tmp_path / ("websockify-%d.log" % len(procs)))
        p = spawn_logged([WEBSOCKIFY, "--token-plugin", "JWTTokenApi",
                          "--token-source", path, "127.0.0.1:%d" % port],
                         log, env=dict(os.environ, LC_ALL="C.UTF-8"))
        procs.append(p)
        wait_accepting("127.0.0.1", port, p, 10)
        return "127.0.0.1", port

    yield start
    for p in procs:
        stop_process(p)


def diff_cases(keys, named):
    """(key file, description, token, expected outcome): a name, REFUSED,
    or {"websockify": ..., "wsbridge": ...} where wsbridge departs on
    purpose."""
    now = int(time.time())
    rsa, ec, sym = keys["rsa"][1], keys["ec"][1], keys["oct"][1]
    a, b = to(named, "A"), to(named, "B", True)
    inner = signed(rsa, "RS256", a)
    return [
        ("rsa", "RS256", signed(rsa, "RS256", a), "A"),
        ("rsa", "PS256", signed(rsa, "PS256", b), "B"),
        ("rsa", "RS384, port string", signed(rsa, "RS384", b), "B"),
        ("ec", "ES256", signed(ec, "ES256", a), "A"),
        ("oct", "HS256", signed(sym, "HS256", b), "B"),
        ("cert", "ES256, key from a certificate",
         signed(keys["cert"][1], "ES256", a), "A"),
        ("rsa", "JWE RSA-OAEP A256GCM",
         encrypted(rsa, "RSA-OAEP", "A256GCM", inner), "A"),
        ("rsa", "JWE RSA-OAEP A128CBC-HS256",
         encrypted(rsa, "RSA-OAEP", "A128CBC-HS256", inner), "A"),
        ("rsa", "expired", signed(rsa, "RS256", dict(a, exp=now - 5)),
         REFUSED),
        ("rsa", "not yet valid", signed(rsa, "RS256", dict(a, nbf=now + 300)),
         REFUSED),
        ("rsa", "valid window",
         signed(rsa, "RS256", dict(a, nbf=now - 5, exp=now + 300)), "A"),
        ("rsa", "another key", signed(keys["other"][1], "RS256", a),
         REFUSED),
        ("ec", "another key (ES256)",
         signed(jwk.JWK.generate(kty="EC", crv="P-256"), "ES256", a),
         REFUSED),
        ("oct", "another key (HS256)",
         signed(jwk.JWK.generate(kty="oct", size=256), "HS256", a), REFUSED),
        ("rsa", "alg none", unsigned(a), REFUSED),
        ("oct", "alg none", unsigned(a), REFUSED),
        ("rsa", "garbage", "garbage", REFUSED),
        ("rsa", "JWE of bare claims",
         encrypted(rsa, "RSA-OAEP", "A256GCM", json.dumps(a)), REFUSED),
        # jwcrypto has RSA-OAEP-256, cjose 0.6.2 has not.
        ("rsa", "JWE RSA-OAEP-256",
         encrypted(rsa, "RSA-OAEP-256", "A256GCM", inner),
         {"websockify": "A", "wsbridge": REFUSED}),
        # websockify decrypts twice and takes the claims unsigned: anyone
        # with the public key can make this; wsbridge wants a signature.
        ("rsa", "JWE inside a JWE, unsigned",
         encrypted(rsa, "RSA-OAEP", "A256GCM",
                   encrypted(rsa, "RSA-OAEP", "A256GCM", json.dumps(a))),
         {"websockify": "A", "wsbridge": REFUSED}),
    ]


def test_differential_with_websockify(start_bridge, websockify, keys,
                                      named):
    cases = diff_cases(keys, named)
    addrs = {}
    for kf in sorted({c[0] for c in cases}):
        b = jwt_bridge(start_bridge, keys[kf][0])
        addrs[kf] = {"wsbridge": (b.host, b.port),
                     "websockify": websockify(keys[kf][0])}
    bad = []
    for kf, desc, token, want in cases:
        for kind in ("websockify", "wsbridge"):
            exp = want[kind] if isinstance(want, dict) else want
            got = outcome(addrs[kf][kind], token)
            if got != exp:
                bad.append("%s, %s: %s, expected %s" % (
                    kind, desc, got or "refused", exp or "refused"))
    assert not bad, "\n  ".join(bad)
