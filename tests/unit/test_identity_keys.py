"""The keyring: rotation, retirement, JWKS file and URL, keystore, audit, secrets never in the DB."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.clock import ManualClock
from core.errors import Conflict, DeskError, NotFound
from core.identity import Keyring, KeyringError, TokenRejected, install_desk_key
from core.store import Desk
from tests.helpers import seed_desk
from tests.identity_helpers import (
    ALL_SECRETS,
    SECRET_HS1,
    T0_MS,
    Site,
    audit_rows,
    claims,
    db_bytes,
    ec_key,
    jwk_of,
    open_site,
    priv_pem,
    pub_pem,
    rsa_key,
    sign,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    yield from open_site(tmp_path)


def _code(keyring: Keyring, token: str, **kwargs: Any) -> str:
    with pytest.raises(TokenRejected) as caught:
        keyring.verify(token, **kwargs)
    return caught.value.code


# -- rotation and retirement ------------------------------------------------------------------


def test_rotation_two_active_keys_then_retire_one(site: Site) -> None:
    new_secret = b"new-secret-for-rotation-0123456789-abcdefghij"
    site.keyring.add_key(kid="hs1-next", secret=new_secret)
    old_token = sign(claims(name="Old"), kid="hs1", key=SECRET_HS1)
    new_token = sign(claims(name="New"), kid="hs1-next", key=new_secret)
    assert site.keyring.verify(old_token).name == "Old"
    assert site.keyring.verify(new_token).name == "New"
    site.keyring.retire("hs1")
    assert _code(site.keyring, old_token) == "key_retired"
    assert site.keyring.verify(new_token).name == "New"
    assert {k.kid: k.status for k in site.keyring.list_keys()}["hs1"] == "retired"
    assert SECRET_HS1 not in site.desk.keystore_path.read_bytes()
    assert base64.urlsafe_b64encode(SECRET_HS1) not in site.desk.keystore_path.read_bytes()


def test_retire_is_seen_by_another_keyring_on_another_connection(site: Site) -> None:
    token = sign(claims())
    other_desk = Desk.open(site.desk.location, clock=site.clock)
    try:
        watcher = Keyring(other_desk, check_interval_ms=0)
        assert watcher.verify(token).kid == "hs1"
        Keyring(site.desk).retire("hs1")
        assert _code(watcher, token) == "key_retired"
    finally:
        other_desk.close()


def test_retire_by_another_process_reaches_a_running_keyring(site: Site) -> None:
    token = sign(claims())
    assert site.keyring.verify(token).kid == "hs1"
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from cli.main import main; main()",
            "--db",
            site.desk.location,
            "keys",
            "retire",
            "hs1",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    assert _code(site.keyring, token) == "key_retired"
    events = [e.kind for e in site.desk.events_after(0)]
    assert events.count("keys.changed") >= 7


def test_throttled_keyring_reads_the_version_at_most_every_interval(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    throttled = Keyring(site.desk, check_interval_ms=60_000)
    token = sign(claims())
    throttled.verify(token)
    reads: list[int] = []
    import core.identity.verifier as identity_module

    real = identity_module.keyring_version

    def counted(desk: Desk) -> str | None:
        reads.append(1)
        return real(desk)

    monkeypatch.setattr(identity_module, "keyring_version", counted)
    for _ in range(50):
        throttled.verify(token)
    assert reads == []


def test_retire_errors(site: Site) -> None:
    with pytest.raises(NotFound):
        site.keyring.retire("nope")
    with pytest.raises(Conflict):
        site.keyring.retire("hs-old")


def test_kids_are_never_reused(site: Site) -> None:
    with pytest.raises(Conflict):
        site.keyring.add_key(kid="hs-old", secret=b"z" * 40)
    with pytest.raises(Conflict):
        site.keyring.add_key(kid="hs1", public_key_pem=pub_pem(ec_key("other")))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kid": "short", "secret": b"too short"}, "at least 32 bytes"),
        ({"kid": "pemsecret", "secret": pub_pem(ec_key("es1"))}, "not an HS256 secret"),
        ({"kid": "priv", "public_key_pem": priv_pem(ec_key("es1"))}, "private key"),
        (
            {
                "kid": "junk",
                "public_key_pem": b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            },
            "not a PEM",
        ),
        (
            {"kid": "mismatch", "alg": "RS256", "public_key_pem": pub_pem(ec_key("es1"))},
            "RS256 needs an RSA",
        ),
        ({"kid": "bad kid\n", "secret": b"s" * 40}, "kid"),
        (
            {"kid": "two", "secret": b"s" * 40, "public_key_pem": pub_pem(ec_key("es1"))},
            "exactly one",
        ),
        ({"kid": "none"}, "exactly one"),
        ({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "o"}]}}, "private or symmetric"),
        (
            {"jwks": {"keys": [{**jwk_of(ec_key("x"), "x", "ES256"), "d": "AAAA"}]}},
            "private or symmetric",
        ),
        ({"jwks": b"not json"}, "not valid JSON"),
        ({"jwks": {"keys": []}}, "no keys"),
        ({"jwks_url": "file:///etc/passwd"}, "http"),
        ({"kid": "x", "secret": b"s" * 40, "issuer": ""}, "issuer"),
    ],
)
def test_add_key_refuses_bad_input_and_changes_nothing(
    site: Site, kwargs: dict, message: str
) -> None:
    before = site.keyring.list_keys()
    keystore = site.desk.keystore_path.read_bytes()
    with pytest.raises(DeskError) as caught:
        site.keyring.add_key(**kwargs)
    assert message in str(caught.value)
    assert site.keyring.list_keys() == before
    assert site.desk.keystore_path.read_bytes() == keystore


# -- JWKS file and URL ---------------------------------------------------------------------------


def test_jwks_file_adds_every_key_or_only_the_named_one(site: Site) -> None:
    document = {"keys": [jwk_of(ec_key("j1"), "j1", "ES256"), jwk_of(rsa_key("j2"), "j2", "RS256")]}
    added = site.keyring.add_key(jwks=json.dumps(document).encode(), issuer="https://shop.example")
    assert [(k.kid, k.alg, k.source) for k in added] == [
        ("j1", "ES256", "jwks_file"),
        ("j2", "RS256", "jwks_file"),
    ]
    token = sign(claims(iss="https://shop.example"), kid="j2", alg="RS256", key=rsa_key("j2"))
    assert site.keyring.verify(token).kid == "j2"
    only = site.keyring.add_key(
        jwks={"keys": [jwk_of(ec_key("j3"), "j3", "ES256"), jwk_of(ec_key("j4"), "j4", "ES256")]},
        kid="j4",
    )
    assert [k.kid for k in only] == ["j4"]
    assert (
        _code(site.keyring, sign(claims(), kid="j3", alg="ES256", key=ec_key("j3")))
        == "unknown_kid"
    )


class JwksServer:
    """An httpx.MockTransport serving a mutable JWKS and counting requests."""

    def __init__(self) -> None:
        self.keys = [jwk_of(ec_key("u1"), "u1", "ES256")]
        self.requests = 0
        self.fail = False

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert request.url.host == "keys.shop.test"
        self.requests += 1
        if self.fail:
            return httpx.Response(503)
        return httpx.Response(200, json={"keys": self.keys})


@pytest.fixture
def jwks_server() -> JwksServer:
    return JwksServer()


def test_jwks_url_unknown_kid_refreshes_at_most_once_a_minute(
    site: Site, jwks_server: JwksServer
) -> None:
    client = httpx.Client(transport=httpx.MockTransport(jwks_server.handler))
    keyring = Keyring(site.desk, http_client=client, check_interval_ms=0)
    added = keyring.add_key(kid="shop-jwks", jwks_url="https://keys.shop.test/jwks.json")
    assert [(k.kid, k.source, k.jwks_url) for k in added] == [
        ("shop-jwks", "jwks_url", "https://keys.shop.test/jwks.json")
    ]
    assert jwks_server.requests == 1
    u1 = sign(claims(), kid="u1", alg="ES256", key=ec_key("u1"))
    # First use: the add-time snapshot is stale; the known key serves while one fetch runs.
    assert keyring.verify(u1).kid == "u1"
    keyring.wait_for_jwks_fetches()
    assert jwks_server.requests == 2
    keyring.verify(u1)
    assert jwks_server.requests == 2  # cached

    jwks_server.keys.append(jwk_of(ec_key("u2"), "u2", "ES256"))
    u2 = sign(claims(), kid="u2", alg="ES256", key=ec_key("u2"))
    assert _code(keyring, u2) == "unknown_kid"  # refreshed under a minute ago: no fetch
    assert _code(keyring, sign(claims(), kid="zzz", alg="ES256", key=ec_key("u2"))) == "unknown_kid"
    assert jwks_server.requests == 2
    site.clock.advance(60)
    assert keyring.verify(u2).kid == "u2"  # one refresh, finds the new key
    assert jwks_server.requests == 3
    for _ in range(5):
        assert (
            _code(keyring, sign(claims(), kid="zzz", alg="ES256", key=ec_key("u2")))
            == "unknown_kid"
        )
    assert jwks_server.requests == 3

    jwks_server.fail = True
    site.clock.advance(61)
    assert _code(keyring, sign(claims(), kid="zzz", alg="ES256", key=ec_key("u2"))) == "unknown_kid"
    assert jwks_server.requests == 4
    assert keyring.verify(u1).kid == "u1"  # a failed refresh keeps the keys it had

    keyring.retire("shop-jwks")
    assert _code(keyring, u1) == "key_retired"


def test_jwks_url_unreachable_at_add_changes_nothing(site: Site, jwks_server: JwksServer) -> None:
    jwks_server.fail = True
    client = httpx.Client(transport=httpx.MockTransport(jwks_server.handler))
    keyring = Keyring(site.desk, http_client=client)
    with pytest.raises(KeyringError, match="HTTP 503"):
        keyring.add_key(jwks_url="https://keys.shop.test/jwks.json")
    assert "jwks_url" not in {k.source for k in keyring.list_keys()}


def test_jwks_url_against_a_loopback_server(site: Site, tmp_path: Path) -> None:
    import http.server
    import threading

    body = json.dumps({"keys": [jwk_of(ec_key("lo"), "lo", "ES256")]}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        keyring = Keyring(site.desk)
        keyring.add_key(kid="loopback", jwks_url=f"http://127.0.0.1:{server.server_port}/jwks")
        assert keyring.verify(sign(claims(), kid="lo", alg="ES256", key=ec_key("lo"))).kid == "lo"
        keyring.close()
    finally:
        server.shutdown()
        server.server_close()


# -- the keystore, the database bytes, the audit table ------------------------------------------


def test_secrets_and_tokens_never_reach_the_database_file(site: Site) -> None:
    minted = site.keyring.mint(email="julie@example.com", jti="jti-1")
    good = sign(claims(jti="jti-2"))
    bad = sign(claims(), key=b"x" * 40)
    site.keyring.verify(minted, session_id="s1")
    site.keyring.verify(good, session_id="s1")
    for token in (bad, good + "x", minted[:-5]):
        with pytest.raises(TokenRejected):
            site.keyring.verify(token, session_id="s2")
    with pytest.raises(TokenRejected):
        site.keyring.verify(good, session_id="s2")
    keystore = json.loads(site.desk.keystore_path.read_text())
    private_pems = list(keystore["private_keys"].values())
    assert len(private_pems) == 1
    data = db_bytes(site.desk)
    site.desk.conn.execute("PRAGMA wal_checkpoint(FULL)")
    data += db_bytes(site.desk)
    for secret in ALL_SECRETS:
        assert secret not in data
        assert base64.urlsafe_b64encode(secret).rstrip(b"=") not in data
        assert base64.b64encode(secret).rstrip(b"=") not in data
    for pem in private_pems:
        body = "".join(pem.strip().splitlines()[1:-1]).encode()
        assert body[:40] not in data and body[-40:] not in data
    for token in (minted, good, bad):
        assert token.encode() not in data
        assert token.split(".")[2].encode() not in data
        assert token.rsplit(".", 1)[0].encode() not in data
    assert len(audit_rows(site.desk)) == 4


def test_keystore_file_is_private_and_replaced_atomically(site: Site) -> None:
    path = site.desk.keystore_path
    assert path == site.desk.path.with_name(site.desk.path.name + ".keys")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    inode = os.stat(path).st_ino
    site.keyring.add_key(kid="another", secret=b"q" * 40)
    assert os.stat(path).st_ino != inode
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir() if ".tmp" in p.name] == []
    doc = json.loads(path.read_text())
    assert set(doc["secrets"]) == {"hs1", "hs2", "another"}


def test_signing_keys_rows_hold_public_material_only(site: Site) -> None:
    rows = {r["kid"]: dict(r) for r in site.desk.query("SELECT * FROM signing_keys")}
    assert rows["hs1"]["public_material"] is None and rows["hs1"]["fingerprint"] is None
    assert rows["es1"]["public_material"].startswith("-----BEGIN PUBLIC KEY-----")
    assert rows["es1"]["fingerprint"].startswith("sha256:")
    for row in rows.values():
        assert "PRIVATE" not in (row["public_material"] or "")


def test_audit_rows_record_code_kid_session_time_and_never_the_token(site: Site) -> None:
    site.clock.set(T0_MS + 5_000)
    token = sign(claims(), kid="hs-old", key=ALL_SECRETS[2])
    with pytest.raises(TokenRejected):
        site.keyring.verify(token, session_id="sess-9", client_address="198.51.100.4")
    with pytest.raises(TokenRejected):
        site.keyring.verify("garbage")
    rows = audit_rows(site.desk)
    assert [(r["at"], r["code"], r["kid"], r["session_id"], r["client_address"]) for r in rows] == [
        (T0_MS + 5_000, "key_retired", "hs-old", "sess-9", "198.51.100.4"),
        (T0_MS + 5_000, "malformed", None, None, None),
    ]
    assert all(token not in r["detail"] for r in rows)
    assert [e.kind for e in site.desk.events_after(0)].count("token.rejected") == 2


def test_missing_desk_private_key_is_a_clear_error(site: Site) -> None:
    site.keyring.mint(email="a@example.com")
    doc = json.loads(site.desk.keystore_path.read_text())
    doc["private_keys"] = {}
    site.desk.keystore_path.write_text(json.dumps(doc))
    with pytest.raises(KeyringError, match="no private key"):
        Keyring(site.desk).mint(email="a@example.com")


def test_corrupt_keystore_is_a_clear_error(site: Site) -> None:
    site.desk.keystore_path.write_text("{not json")
    with pytest.raises(KeyringError, match="not a valid gladdesk keystore"):
        Keyring(site.desk).add_key(kid="k", secret=b"k" * 40)


def test_mint_refuses_bad_input(site: Site) -> None:
    with pytest.raises(DeskError):
        site.keyring.mint(email="a@example.com", phone="+14155550123")
    with pytest.raises(DeskError):
        site.keyring.mint()
    with pytest.raises(DeskError):
        site.keyring.mint(email="a@example.com", ttl_s=3601)
    with pytest.raises(DeskError):
        site.keyring.mint(email="not an email")


def test_desk_key_is_created_once_then_reused(site: Site) -> None:
    first = site.keyring.mint(email="a@example.com")
    second = Keyring(site.desk).mint(email="b@example.com")
    desk_rows = site.desk.query("SELECT kid FROM signing_keys WHERE source = 'desk'")
    assert len(desk_rows) == 1
    assert site.keyring.verify(first).kid == site.keyring.verify(second).kid == desk_rows[0][0]


def test_install_desk_key_is_deterministic(tmp_path: Path) -> None:
    pem = priv_pem(ec_key("demo"))
    images = []
    for name in ("a", "b"):
        desk = Desk.open(tmp_path / f"{name}.db", clock=ManualClock(T0_MS))
        seed_desk(desk, agents=())
        install_desk_key(desk, pem, kid="demo-key", demo_only=True, at_ms=T0_MS - 1000)
        install_desk_key(desk, pem, kid="demo-key", demo_only=True, at_ms=T0_MS - 1000)
        token = Keyring(desk).mint(email="demo@example.com")
        identity = Keyring(desk).verify(token)
        assert (identity.kid, identity.source) == ("demo-key", "desk")
        row = desk.query_one(
            "SELECT demo_only, created_at FROM signing_keys WHERE kid = 'demo-key'"
        )
        assert row is not None and tuple(row) == (1, T0_MS - 1000)
        desk.close()
        images.append((tmp_path / f"{name}.db").read_bytes())
        assert b"PRIVATE" not in images[-1]
    assert images[0] == images[1]


def test_install_desk_key_replaces_the_previous_desk_key(site: Site) -> None:
    old = site.keyring.mint(email="a@example.com")
    install_desk_key(
        site.desk, priv_pem(ec_key("next")), kid="desk-next", demo_only=False, at_ms=T0_MS
    )
    assert _code(site.keyring, old) == "key_retired"
    assert site.keyring.verify(site.keyring.mint(email="a@example.com")).kid == "desk-next"
    with pytest.raises(Conflict):
        install_desk_key(
            site.desk, priv_pem(ec_key("other")), kid="desk-next", demo_only=False, at_ms=T0_MS
        )
