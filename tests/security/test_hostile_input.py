"""Hostile input at the trust boundary gets a 4xx in the error envelope and changes nothing;
the desk's files are private.

The HTTP cases go through the real app (TestClient), and the worst of them once more through
a real `gladdesk serve` process.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from cli.main import main
from core.contacts import InvalidContact, normalize_email, normalize_name, normalize_phone
from core.engine import Engine, InvalidInput
from core.identity import Keyring
from core.identity.api_users import add_api_user
from core.store import Desk
from core.web import sse
from tests.e2e.server import free_port, start_server
from tests.helpers import seed_desk
from tests.web_helpers import DeskAt, last_event, records, rows

JULIE = "julie.martin@example.org"
#: Tables a refused request must leave exactly as they were.
TABLES = (
    "items",
    "conversations",
    "profiles",
    "profile_emails",
    "profile_phones",
    "widget_sessions",
    "token_audit",
)
#: Far past 2**63 - 1: int() of it overflowed SQLite and killed the event stream.
HUGE_EVENT_ID = "9223372036854775808"
BIG_TOKEN = "eyJ" + "a" * 20_000  # over the 8 KiB token limit, under the 32 KiB body limit


def desk_rows(db: DeskAt, tables: tuple[str, ...] = TABLES) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of `tables`, by their first column (a key, or the id a row was added by)."""
    with Desk.open(db, create=False) as desk:
        return {
            table: sorted(
                (tuple(row) for row in desk.query(f"SELECT * FROM {table}")),
                key=lambda row: (row[0], repr(row)),
            )
            for table in tables
        }


def error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"errors"}, body
    assert body["errors"] and set(body["errors"][0]) == {"attr", "code", "detail"}
    return body["errors"][0]  # type: ignore[no-any-return]


def start(client: TestClient | httpx.Client) -> dict[str, str]:
    response = client.post("/widget/v1/sessions", json={"appId": "retale"})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def identified(client: TestClient | httpx.Client) -> dict[str, str]:
    """A session that may send messages (a claimed identity)."""
    auth = start(client)
    answer = client.put(
        "/widget/v1/user", json={"name": "Julie Martin", "email": JULIE}, headers=auth
    )
    assert answer.status_code == 200, answer.text
    return auth


def raw_json(text: str, auth: dict[str, str] | None = None) -> dict[str, Any]:
    """Request arguments sending `text` as is, so `\\ud800` reaches the server as JSON escapes."""
    return {
        "content": text.encode("ascii"),
        "headers": (auth or {}) | {"content-type": "application/json"},
    }


def assert_refused(
    response: Any, status: int, code: str, attr: str | None, db: DeskAt, before: Any
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    problem = error(response)
    assert (problem["code"], problem["attr"]) == (code, attr), problem
    assert (desk_rows(db), last_event(db)) == before
    return problem


# -- lone surrogates ------------------------------------------------------------------------

SURROGATE = "\\ud800"  # as the JSON escape a hostile client sends


@pytest.mark.parametrize(
    ("method", "path", "body", "code", "attr"),
    [
        ("POST", "/widget/v1/messages", f'{{"body": "where is my order {SURROGATE}?"}}', "invalid", "body"),
        ("POST", "/widget/v1/messages", f'{{"body": "{SURROGATE}"}}', "invalid", "body"),
        ("POST", "/widget/v1/messages", '{"body": "a \\udfff b"}', "invalid", "body"),
        ("PUT", "/widget/v1/user", f'{{"name": "Ju{SURROGATE}lie", "email": "{JULIE}"}}', "invalid", "name"),
        ("PUT", "/widget/v1/user", f'{{"name": "Julie", "email": "ju{SURROGATE}@example.org"}}', "invalid", "email"),
        ("PUT", "/widget/v1/user", f'{{"name": "Julie", "phone": "+1415555{SURROGATE}"}}', "invalid", "phone"),
        ("POST", "/widget/v1/onboarding", f'{{"name": "{SURROGATE}", "email": "{JULIE}"}}', "invalid", "name"),
        ("POST", "/widget/v1/sessions", f'{{"appId": "retale{SURROGATE}"}}', "invalid", "appId"),
    ],
)  # fmt: skip
def test_a_lone_surrogate_in_any_widget_field_is_a_400(
    client: TestClient, demo_db: DeskAt, method: str, path: str, body: str, code: str, attr: str
) -> None:
    auth = identified(client)
    before = desk_rows(demo_db), last_event(demo_db)
    response = client.request(method, path, **raw_json(body, auth))
    problem = assert_refused(response, 400, code, attr, demo_db, before)
    assert "\ud800" not in problem["detail"]


def test_a_lone_surrogate_in_a_jwt_is_rejected_and_audited(
    client: TestClient, demo_db: DeskAt
) -> None:
    auth = identified(client)
    before = desk_rows(demo_db, TABLES[:-1])
    audit_before = desk_rows(demo_db, ("token_audit",))["token_audit"]
    token = f"eyJhbGciOiJIUzI1NiJ9{SURROGATE}.e30.c2ln"
    response = client.put("/widget/v1/user", **raw_json(f'{{"jwt": "{token}"}}', auth))
    assert response.status_code == 400, response.text
    assert (error(response)["code"], error(response)["attr"]) == ("malformed", "jwt")
    assert desk_rows(demo_db, TABLES[:-1]) == before
    assert_audited(demo_db, audit_before, "malformed", "eyJhbGciOiJIUzI1NiJ9")


@pytest.mark.parametrize(
    "body",
    [
        '{"identityType": "EMAIL", "identity": "ju\\ud800@example.org"}',
        '{"identityType": "MOBILE_PHONE_NUMBER", "identity": "+1415555\\ud800"}',
        '{"identityType": "EMAIL", "identity": "julie.martin@example.org", "appId": "r\\ud800"}',
    ],
)
def test_a_lone_surrogate_in_an_admin_field_is_a_400(
    client: TestClient, demo_db: DeskAt, body: str
) -> None:
    with Desk.open(demo_db, create=False) as desk:
        api_token = add_api_user(desk, "ops@example.org")
    before = desk_rows(demo_db), last_event(demo_db)
    response = client.post(
        "/api/v1/user-identity-jwt",
        auth=("ops@example.org", api_token),
        **raw_json(body),
    )
    assert response.status_code == 400, response.text
    assert error(response)["code"] == "invalid"
    assert (desk_rows(demo_db), last_event(demo_db)) == before


# -- message bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("hello\x00world", "U+0000"),
        ("red \x1b[31malert\x1b[0m", "U+001B"),
        ("back\x08space", "U+0008"),
        ("vertical\x0btab", "U+000B"),
        ("unit\x1fseparator", "U+001F"),
    ],
)
def test_control_characters_in_a_message_are_refused_naming_the_field(
    client: TestClient, demo_db: DeskAt, body: str, named: str
) -> None:
    auth = identified(client)
    before = desk_rows(demo_db), last_event(demo_db)
    response = client.post("/widget/v1/messages", json={"body": body}, headers=auth)
    problem = assert_refused(response, 400, "invalid", "body", demo_db, before)
    assert problem["detail"].startswith("message:") and named in problem["detail"]


def test_tabs_newlines_and_other_unicode_in_a_message_are_kept(
    client: TestClient, demo_db: DeskAt
) -> None:
    auth = identified(client)
    body = "שלום, the order\tnumber is\r\n٣٤٥ \u202eright-to-left\u202c — zoë 😀"
    sent = client.post("/widget/v1/messages", json={"body": body}, headers=auth)
    assert sent.status_code == 201, sent.text
    assert rows(demo_db, "SELECT body FROM items WHERE id = ?", (sent.json()["id"],)) == [(body,)]


def test_an_agent_message_with_a_control_character_is_refused(
    client: TestClient, demo_db: DeskAt
) -> None:
    auth = identified(client)
    sent = client.post("/widget/v1/messages", json={"body": "help"}, headers=auth).json()
    with Desk.open(demo_db, create=False) as desk:
        engine = Engine(desk)
        agent = desk.query("SELECT handle FROM agents ORDER BY id")[0][0]
        before = desk_rows(demo_db), last_event(demo_db)
        with pytest.raises(InvalidInput, match=r"^message: .*U\+0000"):
            engine.reply(sent["conversationId"], agent, "on it\x00")
        assert (desk_rows(demo_db), last_event(demo_db)) == before


# -- names, emails and phones -----------------------------------------------------------------

HOSTILE_NAME_CHARS = [
    "\x00",
    "\x07",
    "\t",
    "\x1b",
    "\x7f",
    "\x85",
    "\x9b",
    "\u202a",
    "\u202e",
    "\u2066",
    "\u2069",
    "\u200e",
    "\u200f",
    "\u061c",
]


@pytest.mark.parametrize("char", HOSTILE_NAME_CHARS)
def test_a_name_with_a_control_or_bidi_character_is_refused_over_http(
    client: TestClient, demo_db: DeskAt, char: str
) -> None:
    auth = start(client)
    before = desk_rows(demo_db), last_event(demo_db)
    for path, method in (("/widget/v1/user", "PUT"), ("/widget/v1/onboarding", "POST")):
        response = client.request(
            method, path, json={"name": f"Julie{char}Martin", "email": JULIE}, headers=auth
        )
        problem = assert_refused(response, 400, "bad_identity", "name", demo_db, before)
        assert problem["detail"].startswith("name:")
        assert f"U+{ord(char):04X}" in problem["detail"]
    assert client.get("/widget/v1/session", headers=auth).json()["greeting"] is None


@pytest.mark.parametrize("char", HOSTILE_NAME_CHARS + ["\ud800"])
def test_normalize_name_refuses_controls_bidi_and_surrogates(char: str) -> None:
    with pytest.raises(InvalidContact, match=rf"^name: .*U\+{ord(char):04X}"):
        normalize_name(f"Julie {char}Martin")


@pytest.mark.parametrize("char", HOSTILE_NAME_CHARS + ["\ud800", "\x1c"])
def test_normalize_email_refuses_controls_bidi_and_surrogates(char: str) -> None:
    for email in (f"ju{char}lie@example.org", f"julie@example.org{char}", f"{char}julie@ex.org"):
        with pytest.raises(InvalidContact, match=rf"^email: .*U\+{ord(char):04X}"):
            normalize_email(email)


@pytest.mark.parametrize(
    "name", ["Zoë Ñúñez-O'Brien", "محمد علي", "李小龙", "  Julie   Martin  ", "Jean‑Luc"]
)
def test_ordinary_names_are_still_accepted(name: str) -> None:
    assert normalize_name(name) == " ".join(name.split())


@pytest.mark.parametrize("char", ["\x00", "\u202e", "\ud800"])
def test_normalize_phone_refuses_controls_bidi_and_surrogates(char: str) -> None:
    for strict in (True, False):
        with pytest.raises(InvalidContact, match=rf"^phone: .*U\+{ord(char):04X}"):
            normalize_phone(f"+1415555{char}0123", strict=strict)


EXTENSIONS = [
    "+1 415 555 0123 ext. 99",
    "+1 415 555 0123 ext 99",
    "+14155550123;ext=9",
    "+14155550123 x99",
    "+14155550123x99",
    "+1 415 555 0123 #99",
    "+14155550123,99",
    "+14155550123 extension 5",
]


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("phone", EXTENSIONS)
def test_a_phone_with_an_extension_is_refused_not_truncated(phone: str, strict: bool) -> None:
    with pytest.raises(InvalidContact, match="extension"):
        normalize_phone(phone, strict=strict)


def test_a_phone_with_an_extension_is_refused_over_http(
    client: TestClient, demo_db: DeskAt
) -> None:
    auth = start(client)
    before = desk_rows(demo_db), last_event(demo_db)
    response = client.put(
        "/widget/v1/user", json={"name": "Julie", "phone": "+1 415 555 0123 ext. 99"}, headers=auth
    )
    problem = assert_refused(response, 400, "bad_identity", "phone", demo_db, before)
    assert "extension" in problem["detail"]


def test_a_possible_but_unallocated_number_needs_strict_false() -> None:
    # +1 200 ...: right length for the NANP, but area code 200 is not in service.
    with pytest.raises(InvalidContact, match="not a valid number"):
        normalize_phone("+1 200 555 0123")
    assert normalize_phone("+1 200 555 0123", strict=False) == "+12005550123"
    assert normalize_phone("+1 415 555 0123", strict=False) == "+14155550123"
    for impossible in ("+1 415 555 012", "+44 7911 1234567"):  # too short, too long
        for strict in (True, False):
            with pytest.raises(InvalidContact):
                normalize_phone(impossible, strict=strict)


# -- the event stream -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        HUGE_EVENT_ID.encode(),
        str(2**62 + 1).encode(),
        "١٢".encode(),  # Arabic-Indic digits: str.isdigit() says yes
        b"\xb2",  # "²" once decoded as latin-1: isdigit() yes, int() no
        b"-1",
        b"+5",
        b"1e3",
        b"0x10",
        b"",
    ],
)
def test_a_bad_last_event_id_is_a_400(
    client: TestClient, demo_db: DeskAt, value: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = identified(client)
    before = desk_rows(demo_db), last_event(demo_db)
    with stream_ends_soon(demo_db, auth, monkeypatch):
        response = client.get("/widget/v1/events", headers=auth | {"Last-Event-ID": value})  # type: ignore[dict-item]
    assert_refused(response, 400, "invalid", "Last-Event-ID", demo_db, before)


@contextmanager
def stream_ends_soon(
    db: DeskAt, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Should the server start streaming (the bug), end the session so the stream, and the
    test, finish with a 200 instead of hanging; the refusal this expects comes first."""
    monkeypatch.setattr(sse, "KEEPALIVE_S", 0.1)
    with Desk.open(db, create=False) as desk:
        session_id = Engine(desk).session_for_token(auth["Authorization"].split()[1])

    def end_session() -> None:
        with Desk.open(db, create=False) as desk:
            Engine(desk).end_session(session_id)

    timer = threading.Timer(3.0, end_session)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        timer.join()


@pytest.mark.parametrize("after", [str(2**62 + 1), HUGE_EVENT_ID, "9" * 40, "-1"])
def test_an_out_of_range_after_is_a_400(client: TestClient, demo_db: DeskAt, after: str) -> None:
    auth = identified(client)
    before = desk_rows(demo_db), last_event(demo_db)
    response = client.get("/widget/v1/events", params={"after": after}, headers=auth)
    assert_refused(response, 400, "invalid", "after", demo_db, before)


# -- over-long identity tokens ----------------------------------------------------------------


def test_an_over_long_jwt_reaches_the_verifier_and_is_audited(
    client: TestClient, demo_db: DeskAt
) -> None:
    auth = identified(client)
    before = desk_rows(demo_db, TABLES[:-1])
    audit_before = desk_rows(demo_db, ("token_audit",))["token_audit"]
    response = client.put("/widget/v1/user", json={"jwt": BIG_TOKEN}, headers=auth)
    assert response.status_code == 400, response.text
    assert (error(response)["code"], error(response)["attr"]) == ("too_large", "jwt")
    assert desk_rows(demo_db, TABLES[:-1]) == before
    assert_too_large_audited(demo_db, audit_before)


def assert_too_large_audited(db: DeskAt, audit_before: list[tuple[Any, ...]]) -> None:
    assert_audited(db, audit_before, "too_large", BIG_TOKEN[:40])


def assert_audited(db: DeskAt, audit_before: list[tuple[Any, ...]], code: str, token: str) -> None:
    """One new token_audit row, with `code`, holding no part of the token."""
    new = records(db, "SELECT * FROM token_audit ORDER BY id")[len(audit_before) :]
    assert len(new) == 1, new
    row = new[0]
    assert row["code"] == code
    assert all(token not in str(value) for value in row.values()), row


# -- the same, through a real server process --------------------------------------------------


@pytest.mark.e2e
def test_a_real_server_refuses_surrogates_bad_event_ids_and_big_tokens(
    demo_db: DeskAt, tmp_path: Path
) -> None:
    port = free_port()
    server = start_server(demo_db, port, tmp_path / "server.log")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            auth = identified(http)
            before = desk_rows(demo_db), last_event(demo_db)

            response = http.post(
                "/widget/v1/messages", **raw_json(f'{{"body": "hi {SURROGATE}"}}', auth)
            )
            assert_refused(response, 400, "invalid", "body", demo_db, before)

            response = http.get(
                "/widget/v1/events", headers=auth | {"Last-Event-ID": HUGE_EVENT_ID}
            )
            assert_refused(response, 400, "invalid", "Last-Event-ID", demo_db, before)

            response = http.put("/widget/v1/user", json={"jwt": BIG_TOKEN}, headers=auth)
            assert response.status_code == 400, response.text
            assert (error(response)["code"], error(response)["attr"]) == ("too_large", "jwt")
            unaudited = {table: before[0][table] for table in TABLES[:-1]}
            assert desk_rows(demo_db, TABLES[:-1]) == unaudited
            assert_too_large_audited(demo_db, before[0]["token_audit"])

            assert http.get("/healthz").status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert "Traceback" not in (tmp_path / "server.log").read_text()


# -- files at rest ----------------------------------------------------------------------------


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)  # the usual umask, under which files come out 0644
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_desk_its_wal_and_keystore_are_private(tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "desk.db"
    desk = Desk.open(path)
    try:
        seed_desk(desk)
        Keyring(desk).mint(email=JULIE)  # creates the desk signing key and the keystore
        wal = Path(f"{path}-wal")
        assert wal.exists()
        assert mode(path) == 0o600
        assert mode(wal) == 0o600
        assert mode(Path(f"{path}-shm")) == 0o600
        assert mode(desk.keystore_path) == 0o600
    finally:
        desk.close()


def test_the_cli_creates_a_private_desk(tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "new.db"
    result = CliRunner().invoke(main, ["--db", str(path), "init"])
    assert result.exit_code == 0, result.output
    assert mode(path) == 0o600 and mode(Path(f"{path}.keys")) == 0o600
    assert "warning" not in result.stderr


def test_an_existing_readable_desk_keeps_its_mode_and_the_cli_warns_once(
    tmp_path: Path, umask_022: None
) -> None:
    path = tmp_path / "shared.db"
    with Desk.open(path) as desk:
        seed_desk(desk)
    path.chmod(0o644)
    with Desk.open(path) as desk:  # library code leaves the mode alone, and says nothing
        desk.query("SELECT 1")
    assert mode(path) == 0o644
    result = CliRunner().invoke(main, ["--db", str(path), "report", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert mode(path) == 0o644
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1, result.stderr
    assert str(path) in warnings[0] and f"chmod 600 {path}" in warnings[0]
    json.loads(result.stdout)  # stdout stays clean for scripts

    path.chmod(0o600)
    quiet = CliRunner().invoke(main, ["--db", str(path), "report", "--format", "json"])
    assert quiet.exit_code == 0 and quiet.stderr == "", quiet.stderr
