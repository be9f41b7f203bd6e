"""`gladdesk keys add|list|retire`, `token`, `verify` through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli.main import main
from core.store import Desk
from tests.helpers import seed_desk
from tests.identity_helpers import claims, ec_key, jwk_of, priv_pem, pub_pem, sign

SECRET = b"cli-secret-0123456789-abcdefghijklmnopqrstuvwxyz"


def _now_claims(**overrides: object) -> dict[str, object]:
    import time

    now = int(time.time())
    return claims(iat=now, exp=now + 300, **overrides)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A desk with one app (desk-minted tokens name their app)."""
    path = tmp_path / "cli.db"
    desk = Desk.open(path)
    seed_desk(desk, agents=())
    desk.close()
    return path


def run(db: Path, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, ["--db", str(db), *args], input=stdin)


def _secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "site.secret"
    path.write_bytes(SECRET + b"\n")
    return path


def test_token_then_verify_prints_the_identity(db: Path) -> None:
    minted = run(db, "token", "--email", "Julie@Example.com", "--name", "Julie", "--ttl", "120")
    assert minted.exit_code == 0, minted.output
    token = minted.output.strip()
    result = run(db, "verify", token)
    assert result.exit_code == 0
    out = json.loads(result.output)
    assert out["ok"] is True
    assert set(out["identity"]) == {"email", "phone", "name", "kid", "expires_at"}
    assert (out["identity"]["email"], out["identity"]["phone"], out["identity"]["name"]) == (
        "julie@example.com",
        None,
        "Julie",
    )
    assert out["identity"]["kid"].startswith("desk-")
    assert isinstance(out["identity"]["expires_at"], int)


def test_verify_reads_stdin_with_dash(db: Path) -> None:
    token = run(db, "token", "--phone", "+14155550123").output.strip()
    result = run(db, "verify", "-", stdin=token + "\n")
    assert result.exit_code == 0
    assert json.loads(result.output)["identity"]["phone"] == "+14155550123"


def test_verify_rejection_is_json_and_exit_1(db: Path) -> None:
    result = run(db, "verify", "not.a.token")
    assert result.exit_code == 1
    out = json.loads(result.output)
    assert out == {"ok": False, "code": "malformed", "detail": out["detail"]}
    huge = run(db, "verify", "a" * 9000)
    assert (huge.exit_code, json.loads(huge.output)["code"]) == (1, "too_large")
    empty = run(db, "verify", "-", stdin="")
    assert (empty.exit_code, json.loads(empty.output)["code"]) == (1, "malformed")


def test_verify_session_binds_the_jti(db: Path) -> None:
    token = run(db, "token", "--email", "a@example.com", "--jti", "once").output.strip()
    assert run(db, "verify", token, "--session", "s-1").exit_code == 0
    assert run(db, "verify", token, "--session", "s-1").exit_code == 0
    replay = run(db, "verify", token, "--session", "s-2")
    assert (replay.exit_code, json.loads(replay.output)["code"]) == (1, "replayed")


def test_keys_add_secret_list_verify_retire(db: Path, tmp_path: Path) -> None:
    added = run(
        db, "keys", "add", "--kid", "site-1", "--alg", "HS256", "--secret-file", str(_secret_file(tmp_path)),
        "--issuer", "https://shop.example", "--audience", "widget",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    token = sign(_now_claims(iss="https://shop.example", aud="widget"), kid="site-1", key=SECRET)
    assert run(db, "verify", token).exit_code == 0
    for args in (("keys", "list"), ("keys", "list", "--json")):
        listing = run(db, *args)
        assert listing.exit_code == 0
        assert "site-1" in listing.output
        assert SECRET.decode() not in listing.output
        assert SECRET.decode()[:12] not in listing.output
    info = json.loads(run(db, "keys", "list", "--json").output)
    assert [
        (k["kid"], k["alg"], k["source"], k["status"], k["issuer"], k["audience"]) for k in info
    ] == [("site-1", "HS256", "secret", "active", "https://shop.example", "widget")]
    retired = run(db, "keys", "retire", "site-1")
    assert retired.exit_code == 0
    rejected = run(db, "verify", token)
    assert (rejected.exit_code, json.loads(rejected.output)["code"]) == (1, "key_retired")
    assert SECRET not in db.read_bytes()


def test_keys_add_public_key_and_jwks_file(db: Path, tmp_path: Path) -> None:
    pem = tmp_path / "site.pem"
    pem.write_bytes(pub_pem(ec_key("cli-es")))
    assert (
        run(
            db, "keys", "add", "--kid", "es", "--alg", "ES256", "--public-key-file", str(pem)
        ).exit_code
        == 0
    )
    assert (
        run(
            db, "verify", sign(_now_claims(), kid="es", alg="ES256", key=ec_key("cli-es"))
        ).exit_code
        == 0
    )
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk_of(ec_key("cli-j"), "cli-j", "ES256")]}))
    assert run(db, "keys", "add", "--jwks-file", str(jwks)).exit_code == 0
    assert (
        run(
            db, "verify", sign(_now_claims(), kid="cli-j", alg="ES256", key=ec_key("cli-j"))
        ).exit_code
        == 0
    )


@pytest.mark.parametrize(
    "args",
    [
        ("token", "--email", "a@example.com", "--phone", "+14155550123"),
        ("token",),
        ("token", "--email", "a@example.com", "--ttl", "0"),
        ("token", "--email", "a@example.com", "--ttl", "3601"),
        ("token", "--email", "a@example.com", "--ttl", "ten"),
        ("keys", "add", "--kid", "k", "--alg", "HS256"),
        ("keys", "add", "--kid", "k", "--alg", "HS256", "--secret-file", "/nonexistent/secret"),
        ("keys", "add", "--kid", "k"),
        ("keys", "add", "--kid", "k", "--alg", "none"),
        (
            "keys",
            "add",
            "--kid",
            "k",
            "--jwks-url",
            "https://a.test/j",
            "--jwks-file",
            "SECRETFILE",
        ),
        ("keys", "add", "--alg", "HS256", "--secret-file", "SECRETFILE"),
        ("keys", "add", "--kid", "k", "--alg", "ES256", "--secret-file", "SECRETFILE"),
        ("keys", "retire"),
        ("verify",),
    ],
)
def test_usage_errors_exit_2_and_change_nothing(
    db: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    secret_file = str(_secret_file(tmp_path))
    result = run(db, *(secret_file if a == "SECRETFILE" else a for a in args))
    assert result.exit_code == 2, result.output
    assert not db.exists() or json.loads(run(db, "keys", "list", "--json").output) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("keys", "retire", "nope"), "no key with kid"),
        (("token", "--email", "not an email"), "not valid"),
        (("token", "--phone", "555-0123"), "E.164"),
        (
            (
                "keys",
                "add",
                "--kid",
                "bad kid\x1b[31m",
                "--alg",
                "HS256",
                "--secret-file",
                "SECRETFILE",
            ),
            "kid",
        ),
        (("keys", "add", "--kid", "short", "--secret-file", "SHORTFILE"), "at least 32 bytes"),
        (("keys", "add", "--kid", "priv", "--public-key-file", "PRIVFILE"), "private key"),
    ],
)
def test_desk_errors_exit_1_with_one_line(
    db: Path, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    files = {
        "SECRETFILE": _secret_file(tmp_path),
        "SHORTFILE": tmp_path / "short",
        "PRIVFILE": tmp_path / "priv.pem",
    }
    files["SHORTFILE"].write_bytes(b"short\n")
    files["PRIVFILE"].write_bytes(priv_pem(ec_key("cli-priv")))
    result = run(db, *(str(files[a]) if a in files else a for a in args))
    assert result.exit_code == 1
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert b"PRIVATE" not in (db.read_bytes() if db.exists() else b"")


def test_not_a_desk_file_is_exit_1(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.db"
    bogus.write_text("hello")
    result = run(bogus, "verify", "a.b.c")
    assert result.exit_code == 1
    assert "not an SQLite database" in result.output
    assert bogus.read_text() == "hello"
