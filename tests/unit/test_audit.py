"""The token audit read back: `gladdesk audit`, its filters and pages, CLI checks kept apart,
the profile pane's rejections, and migration 4 on a desk written before it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from core.clock import ManualClock, parse_iso
from core.engine import Engine
from core.identity import TokenRejected
from core.report import authentication_report
from core.report.audit import (
    MAX_AUDIT_PAGE,
    AuditEntry,
    AuditError,
    ClaimedIdentity,
    audit_entry_dict,
    audit_filter,
    audit_page,
    audit_table,
    parse_since,
)
from core.store import Desk
from core.store.schema import MIGRATIONS, SCHEMA_VERSION
from tests.helpers import one_row, seed_desk


def reject(engine: Engine, session_id: str, token: str) -> str:
    """Present `token` in the widget session; the code it was rejected with."""
    with pytest.raises(TokenRejected) as caught:
        engine.set_user(session_id, jwt=token)
    return caught.value.code


def everything(desk: Desk, **filters: object) -> list:
    return list(audit_page(desk, audit_filter(desk, **filters), limit=MAX_AUDIT_PAGE).entries)


def test_a_rejection_names_key_app_session_and_the_claimed_customer_never_the_token(
    engine: Engine, clock: ManualClock
) -> None:
    session = engine.init_session("shop").session_id
    engine.set_user(session, name="Julie Martin", email="julie@example.com")
    expired = engine.keyring.mint(email="julie@example.com", ttl_s=60)
    clock.advance(3600)
    assert reject(engine, session, expired) == "expired"
    anonymous = engine.init_session("shop").session_id
    assert reject(engine, anonymous, "not.a.token") == "malformed"

    newest, oldest = everything(engine.desk)
    assert (newest.code, newest.session_id, newest.claimed) == ("malformed", anonymous, None)
    assert (oldest.code, oldest.app_id, oldest.session_id, oldest.origin) == (
        "expired",
        "shop",
        session,
        "widget",
    )
    assert oldest.kid is not None and oldest.kid.startswith("desk-")
    assert oldest.claimed is not None
    assert (oldest.claimed.state, oldest.claimed.name, oldest.claimed.email) == (
        "CLAIMED",
        "Julie Martin",
        "julie@example.com",
    )
    out = json.dumps([audit_entry_dict(e) for e in (newest, oldest)])
    assert json.loads(out)[1]["claimed"]["email"] == "julie@example.com"
    assert expired not in out and expired.split(".")[2] not in out
    stored = [dict(row) for row in engine.desk.query("SELECT * FROM token_audit")]
    assert not any(expired.split(".")[1] in str(value) for row in stored for value in row.values())


def test_pages_walk_newest_first_without_gaps_or_repeats(
    engine: Engine, clock: ManualClock
) -> None:
    session = engine.init_session("shop").session_id
    for step in range(7):
        reject(engine, session, f"bad{step}")
        if step % 3 != 0:  # some rejections share a millisecond: the id breaks the tie
            clock.advance(1)
    wanted = audit_filter(engine.desk)
    seen: list[AuditEntry] = []
    cursor, pages = None, 0
    while True:
        page = audit_page(engine.desk, wanted, cursor=cursor, limit=3)
        seen += page.entries
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 7
    assert [e.key for e in seen] == sorted((e.key for e in seen), reverse=True)
    assert len({e.id for e in seen}) == 7
    assert audit_page(engine.desk, wanted, limit=10**9).next_cursor is None


def test_filters_by_since_code_session_and_app(engine: Engine, clock: ManualClock) -> None:
    first = engine.init_session("shop").session_id
    reject(engine, first, "x.y.z")
    clock.advance(2 * 3600)
    second = engine.init_session("shop").session_id
    reject(engine, second, "x" * 9000)
    now = clock.now_ms()
    assert [e.code for e in everything(engine.desk, since="1h")] == ["too_large"]
    assert len(everything(engine.desk, since="3h")) == 2
    assert parse_since("90m", now) == now - 90 * 60_000
    assert parse_since("2026-11-18", now) == parse_iso("2026-11-18T00:00:00Z")
    assert parse_since("2026-11-18T10:00+01:00", now) == parse_iso("2026-11-18T09:00:00Z")
    assert [e.session_id for e in everything(engine.desk, code="malformed")] == [first]
    assert [e.code for e in everything(engine.desk, session=second)] == ["too_large"]
    assert everything(engine.desk, session="ws_nobody") == []
    assert len(everything(engine.desk, app="shop")) == 2


@pytest.mark.parametrize(
    ("filters", "attr"),
    [
        ({"since": "yesterday"}, "since"),
        ({"since": ""}, "since"),
        ({"since": "999999999d"}, "since"),
        ({"since": "2026-13-01"}, "since"),
        ({"code": "nope"}, "code"),
        ({"code": "EXPIRED"}, "code"),
        ({"session": "ws_\x1b[2J"}, "session"),
        ({"session": "s" * 101}, "session"),
        ({"app": "nope"}, "app"),
    ],
)
def test_bad_filters_are_named(engine: Engine, filters: dict, attr: str) -> None:
    with pytest.raises(AuditError) as caught:
        audit_filter(engine.desk, **filters)
    assert caught.value.attr == attr and str(caught.value).startswith(f"{attr}: ")


@pytest.mark.parametrize("cursor", ["", "abc", "1.2.3", "-1.5", "1." + "9" * 19, "1e3.4"])
def test_a_cursor_the_audit_did_not_give_is_refused(engine: Engine, cursor: str) -> None:
    with pytest.raises(AuditError) as caught:
        audit_page(engine.desk, audit_filter(engine.desk), cursor=cursor)
    assert caught.value.attr == "cursor"


def test_the_table_shows_outside_text_inert() -> None:
    hostile = AuditEntry(
        id=1,
        at=parse_iso("2026-11-18T10:26:40Z"),
        code="unknown_kid",
        kid="\u202ekid\x1b[31m",
        app_id="shop",
        session_id="ws_1",
        origin="widget",
        detail="no such key",
        client_address=None,
        claimed=ClaimedIdentity("CLAIMED", 7, "[green]Eve\x07", "eve@example.com", None),
    )
    lines = audit_table([hostile]).splitlines()
    assert lines[0].split() == [
        "TIME",
        "(UTC)",
        "CODE",
        "KEY",
        "APP",
        "SESSION",
        "CLAIMED",
        "ORIGIN",
    ]
    assert lines[1].startswith("2026-11-18 10:26:40  unknown_kid  ?kid?[31m  shop  ws_1  ")
    assert "[green]Eve? <eve@example.com> (claimed)" in lines[1]
    assert all(ch.isprintable() for ch in lines[1])


def test_cli_checks_are_audited_as_such_and_left_out_of_the_report(
    tmp_path: Path, clock: ManualClock
) -> None:
    db = tmp_path / "desk.db"
    with Desk.open(db, clock=clock) as desk:
        seed_desk(desk)
        engine = Engine(desk)
        session = engine.init_session("shop").session_id
        reject(engine, session, "a.b.c")
    runner = CliRunner()
    checked = runner.invoke(main, ["--db", str(db), "verify", "--session", session, "x.y.z"])
    assert checked.exit_code == 1 and json.loads(checked.stdout)["code"] == "malformed"
    with Desk.open(db, create=False) as desk:
        report = authentication_report(desk)
        assert [(r.code, r.count) for r in report.rejections] == [("malformed", 1)]
        view = Engine(desk).session(session)
        assert view.identity_state == "ANONYMOUS"
    listed = runner.invoke(main, ["--db", str(db), "audit", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(r["origin"], r["sessionId"]) for r in rows] == [("cli", session), ("widget", session)]
    table = runner.invoke(main, ["--db", str(db), "audit", "--session", session])
    assert [line.split()[-1] for line in table.stdout.splitlines()[1:]] == ["cli", "widget"]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--since", "last tuesday"], "--since"),
        (["--code", "nope"], "--code"),
        (["--app", "nope"], "--app"),
        (["--limit", "0"], "--limit"),
    ],
)
def test_gladdesk_audit_refuses_bad_options_with_one_message(
    tmp_path: Path, clock: ManualClock, args: list[str], named: str
) -> None:
    db = tmp_path / "desk.db"
    with Desk.open(db, clock=clock) as desk:
        seed_desk(desk)
    before = db.read_bytes()
    result = CliRunner().invoke(main, ["--db", str(db), "audit", *args])
    assert result.exit_code == 2
    assert named in result.stderr and "Traceback" not in result.output
    assert db.read_bytes() == before


def test_gladdesk_audit_on_a_quiet_desk(tmp_path: Path, clock: ManualClock) -> None:
    db = tmp_path / "desk.db"
    with Desk.open(db, clock=clock) as desk:
        seed_desk(desk)
    result = CliRunner().invoke(main, ["--db", str(db), "audit"])
    assert (result.exit_code, result.stdout) == (0, "no rejected tokens match\n")
    result = CliRunner().invoke(main, ["--db", str(db), "audit", "--json"])
    assert json.loads(result.stdout) == []


def test_a_conversation_view_carries_its_live_sessions_rejections(
    engine: Engine, clock: ManualClock
) -> None:
    session = engine.init_session("shop").session_id
    engine.set_user(session, name="Julie", email="julie@example.com")
    conversation = engine.send_message(session, "where is my order?").conversation_id
    assert conversation is not None
    assert engine.conversation(conversation).rejections == ()
    expired = engine.keyring.mint(email="julie@example.com", ttl_s=60)
    clock.advance(600)
    reject(engine, session, expired)
    clock.advance(1)
    reject(engine, session, "a.b.c")
    other = engine.init_session("shop").session_id  # another customer's rejection
    reject(engine, other, "a.b.c")
    engine.keyring.audit(TokenRejected("bad_signature", "x"), session, None, origin="cli")
    notes = engine.conversation(conversation).rejections
    assert [(n.code, n.kid is not None) for n in notes] == [("malformed", False), ("expired", True)]
    engine.end_session(session)
    assert engine.conversation(conversation).rejections == ()


def test_a_rejection_wakes_consoles_showing_that_customer(engine: Engine) -> None:
    anonymous = engine.init_session("shop").session_id
    last = engine.desk.last_event_id()
    reject(engine, anonymous, "a.b.c")
    [event] = engine.desk.events_after(last)
    assert (event.kind, event.session_id, event.profile_id, event.conversation_id) == (
        "token.rejected",
        anonymous,
        None,
        None,
    )
    session = engine.init_session("shop").session_id
    engine.set_user(session, name="Julie", email="julie@example.com")
    conversation = engine.send_message(session, "hello").conversation_id
    profile = one_row(
        engine.desk, "SELECT profile_id FROM widget_sessions WHERE id = ?", (session,)
    )
    last = engine.desk.last_event_id()
    reject(engine, session, "a.b.c")
    [event] = engine.desk.events_after(last)
    assert (event.kind, event.profile_id, event.conversation_id) == (
        "token.rejected",
        profile[0],
        conversation,
    )
    assert engine.widget_events(session, after=last) == []  # nothing for the widget to show


def test_migration_4_fills_in_the_app_and_marks_rows_without_a_session_as_cli(
    tmp_path: Path,
) -> None:
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db, isolation_level=None)
    for version, migration in enumerate(MIGRATIONS[:3], start=1):
        conn.execute("BEGIN")
        migration(conn)
        conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("COMMIT")
    conn.execute(
        "INSERT INTO apps (app_id, store_name, login_url, signup_url, first_message, greeting)"
        " VALUES ('shop', 'Shop', 'l', 's', 'f', 'g')"
    )
    conn.execute(
        "INSERT INTO widget_sessions (id, app_id, created_at) VALUES ('ws_real', 'shop', 1)"
    )
    conn.executemany(
        "INSERT INTO token_audit (at, code, session_id) VALUES (?, ?, ?)",
        [(1, "expired", "ws_real"), (2, "malformed", None), (3, "malformed", "made-up")],
    )
    conn.close()
    with Desk.open(db, create=False) as desk:
        rows = desk.query("SELECT code, session_id, app_id, origin FROM token_audit ORDER BY id")
        assert [tuple(r) for r in rows] == [
            ("expired", "ws_real", "shop", "widget"),
            ("malformed", None, None, "cli"),
            ("malformed", "made-up", None, "cli"),
        ]
        assert one_row(desk, "PRAGMA user_version")[0] == SCHEMA_VERSION
        assert [(r.code, r.count) for r in authentication_report(desk).rejections] == [
            ("expired", 1)
        ]
