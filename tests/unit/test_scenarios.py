"""Scenario scripts: the shipped ones load and yield the orders of
docs/authentication-orders.md; bad ones name file, line, reason."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from core.clock import ManualClock, parse_iso
from core.engine import Engine
from core.errors import NotFound
from core.store import Desk
from sim.demo_desk import build_demo
from sim.scenarios import (
    ORDERS,
    ScenarioError,
    find_scenario,
    load_scenario,
    load_scenarios,
)
from sim.script_run import ScriptRun
from tests.helpers import file_digest

JULIE = "julie.romero@example.com"  # fixture customer 8: three closed conversations
OMAR = "omar.nguyen@mail.example.net"


@pytest.fixture(scope="module")
def built_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo(tmp_path_factory.mktemp("built") / "demo.db")


@pytest.fixture
def demo_db(built_demo: Path, tmp_path: Path) -> Path:
    """A fresh copy of the demo desk (and its keystore) in tmp_path."""
    target = tmp_path / "demo.db"
    shutil.copy(built_demo, target)
    shutil.copy(f"{built_demo}.keys", f"{target}.keys")
    return target


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def export(db: Path, customer: str | None = None) -> list[dict]:
    args = ["--db", str(db), "export", "conversations"]
    if customer:
        args += ["--customer", customer]
    code, out, err = cli(*args)
    assert code == 0, err
    return json.loads(out)


def feed_scenario(db: Path, name: str) -> list[dict]:
    """Run `feed --scenario NAME`; return the conversations it created."""
    before = {c["id"] for c in export(db)}
    code, out, err = cli("--db", str(db), "feed", "--scenario", name, "--pace", "fast")
    assert code == 0, out + err
    return [c for c in export(db) if c["id"] not in before]


def customer_messages(conversation: dict) -> list[dict]:
    return [
        i for i in conversation["items"] if i["type"] == "message" and i["sender"] == "customer"
    ]


def events(conversation: dict) -> list[str]:
    return [i["event"] for i in conversation["items"] if i["type"] == "event"]


# -- the shipped scripts ----------------------------------------------------------------------


def test_shipped_scripts_load_with_the_five_orders_first_in_order() -> None:
    scripts = load_scenarios()
    assert list(scripts)[:5] == list(ORDERS)
    assert [scripts[name].order for name in ORDERS] == [1, 2, 3, 4, 5]
    variations = {"phone-identity", "trust-lapse", "logout-switch", "rejected-token"}
    assert variations | {"returning-customer"} <= set(scripts)
    for script in scripts.values():
        assert script.steps[0].action == "open"


def test_most_ideal_every_message_trusted_before_routing(demo_db: Path) -> None:
    [conversation] = feed_scenario(demo_db, "most-ideal")
    messages = customer_messages(conversation)
    assert len(messages) == 2
    assert all(m["trusted"] is True and m["glyph"] == "green" for m in messages)
    assert conversation["identity"] == {
        "state": "TRUSTED",
        "source": "jwt",
        "trust_path": "before_routing",
    }
    assert conversation["customer"]["emails"] == [JULIE]
    assert conversation["assignee"] is not None


def test_most_ideal_opens_logged_in_greeted_by_first_name(demo_db: Path) -> None:
    clock = ManualClock(parse_iso("2026-11-20T09:00:00Z"))
    with Desk.open(demo_db, clock=clock) as desk:
        run = ScriptRun(Engine(desk), find_scenario("most-ideal"))
        opened = run.step()  # the site passes the token at init: one step, no form
        assert opened.step.action == "open" and opened.error is None
        assert "signed token" in opened.summary
        assert isinstance(run.engine, Engine) and run.session_id is not None
        view = run.engine.session(run.session_id)
        assert view.identity_state == "TRUSTED" and view.onboarding_required is False
        # Julie has three earlier chats on the demo desk, and her identity is proven.
        assert view.greeting == "Hi Julie, welcome back to Retalé! How can we help today?"


def test_ideal_logs_in_before_routing(demo_db: Path) -> None:
    [conversation] = feed_scenario(demo_db, "ideal")
    assert all(m["trusted"] for m in customer_messages(conversation))
    assert conversation["identity"]["trust_path"] == "before_routing"
    assert conversation["identity"]["source"] == "jwt"


def test_standard_untrusted_with_existing_profile_and_login_prompt(demo_db: Path) -> None:
    [conversation] = feed_scenario(demo_db, "standard")
    messages = customer_messages(conversation)
    assert messages and all(m["trusted"] is False and m["glyph"] is None for m in messages)
    assert conversation["identity"]["source"] == "onboarding_form"
    assert conversation["customer"]["id"] == 8  # the existing profile, found by email
    assert len(export(demo_db, JULIE)) == 4  # three past conversations are visible
    assert "login_prompt_sent" in events(conversation)
    assert conversation["assignee"] is not None  # routed


def test_undesired_same_conversation_and_agent_trusted_from_login_on(demo_db: Path) -> None:
    [conversation] = feed_scenario(demo_db, "undesired")
    items = conversation["items"]
    assert [m["trusted"] for m in customer_messages(conversation)] == [False, True]
    authenticated = next(n for n, i in enumerate(items) if i["event"] == "authenticated")
    first, second = (n for n, i in enumerate(items) if i in customer_messages(conversation))
    assert first < authenticated < second
    assert conversation["customer"]["id"] == 8
    assert conversation["identity"]["trust_path"] == "after_routing"
    assigned = [i for i in items if i["event"] == "assigned"]
    assert len(assigned) == 1 and conversation["assignee"] in assigned[0]["body"]


def test_most_undesired_new_conversation_for_b_on_another_agent(demo_db: Path) -> None:
    first, second = feed_scenario(demo_db, "most-undesired")
    assert first["customer"]["emails"] == [JULIE]
    assert second["customer"]["emails"] == [OMAR]
    assert [m["trusted"] for m in customer_messages(first)] == [False]
    assert all(m["trusted"] for m in customer_messages(second))
    assert first["assignee"] != second["assignee"]
    assert "authenticated" not in events(first)
    bodies_a = {i["body"] for i in first["items"]}
    assert not bodies_a & {m["body"] for m in customer_messages(second)}
    assert second["identity"]["trust_path"] == "different_identity"


def test_trust_lapse_then_renewal(demo_db: Path) -> None:
    [conversation] = feed_scenario(demo_db, "trust-lapse")
    assert [m["trusted"] for m in customer_messages(conversation)] == [True, False, True]
    assert "trust_expired" in events(conversation)


def test_logout_then_another_person_on_the_same_browser(demo_db: Path) -> None:
    first, second = feed_scenario(demo_db, "logout-switch")
    assert first["customer"]["id"] != second["customer"]["id"]
    assert "identity_cleared" in events(first)
    assert len(customer_messages(first)) == 1


def test_phone_identity_matches_the_profile_by_phone(demo_db: Path) -> None:
    [conversation] = feed_scenario(demo_db, "phone-identity")
    assert "+14155550005" in conversation["customer"]["phones"]
    assert [m["trusted"] for m in customer_messages(conversation)] == [False, True]


def test_rejected_token_changes_nothing_then_login_works(demo_db: Path) -> None:
    clock = ManualClock(parse_iso("2026-11-20T09:00:00Z"))
    with Desk.open(demo_db, clock=clock) as desk:
        run = ScriptRun(Engine(desk), find_scenario("rejected-token"))
        run.step()
        tampered = run.step()
        assert tampered.rejected == "bad_signature" and tampered.mismatch is None
        assert isinstance(run.engine, Engine) and run.session_id is not None
        assert run.engine.session(run.session_id).identity_state == "ANONYMOUS"
        assert run.step().rejected == "alg_not_allowed"
        rest = run.run_all()
        assert [o.trusted for o in rest if o.step.action == "say"] == [True]


def test_a_failed_expectation_is_reported_and_exits_1(demo_db: Path, tmp_path: Path) -> None:
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "wrong.toml").write_text(
        '[customers.a]\nname = "Ann Lee"\nemail = "ann.lee@example.net"\n'
        '[[steps]]\ndo = "open"\n[[steps]]\ndo = "onboarding"\nas = "a"\n'
        '[[steps]]\ndo = "say"\ntext = "hello"\nexpect_trusted = true\n'
    )
    code, out, _ = cli(
        "--db", str(demo_db), "feed", "--scripts", str(scripts), "--scenario", "wrong"
    )
    assert code == 1
    assert "expected the message to be trusted" in out


# -- bad scripts ---------------------------------------------------------------------------------

GOOD_HEAD = '[customers.a]\nname = "Ann Lee"\nemail = "ann.lee@example.net"\n\n'

BAD_SCRIPTS = [
    ("syntax", GOOD_HEAD + '[[steps]]\ndo = "open"\ntext = "unclosed\n', 7, "Illegal character"),
    (
        "unknown action",
        GOOD_HEAD + '[[steps]]\ndo = "open"\n\n[[steps]]\ndo = "dance"\n',
        9,
        "dance",
    ),
    ("unknown key", GOOD_HEAD + '[[steps]]\ndo = "open"\ncolour = "red"\n', 7, "colour"),
    (
        "missing text",
        GOOD_HEAD + '[[steps]]\ndo = "open"\n[[steps]]\ndo = "say"\n',
        7,
        "text is required",
    ),
    (
        "no such person",
        GOOD_HEAD + '[[steps]]\ndo = "open"\n[[steps]]\ndo = "login"\nas = "zed"\n',
        9,
        "zed",
    ),
    ("open first", GOOD_HEAD + '[[steps]]\ndo = "logout"\n', 5, "first step"),
    (
        "open logged in as nobody",
        GOOD_HEAD + '[[steps]]\ndo = "open"\nlogin_as = "zed"\n',
        7,
        "zed",
    ),
    ("open logged in as a number", GOOD_HEAD + '[[steps]]\ndo = "open"\nlogin_as = 7\n', 7, "text"),
    (
        "bad email",
        '[customers.a]\nname = "Ann"\nemail = "not-an-email"\n[[steps]]\ndo = "open"\n',
        1,
        "email",
    ),
    (
        "two contacts",
        '[customers.a]\nname = "Ann"\nemail = "a@example.net"\nphone = "+14155550123"\n[[steps]]\ndo = "open"\n',
        1,
        "exactly one",
    ),
    (
        "negative wait",
        GOOD_HEAD + '[[steps]]\ndo = "open"\n[[steps]]\ndo = "wait"\nseconds = -5\n',
        9,
        "seconds",
    ),
    (
        "wrong type",
        GOOD_HEAD + '[[steps]]\ndo = "open"\n[[steps]]\ndo = "say"\ntext = 42\n',
        9,
        "must be text",
    ),
    (
        "placeholder",
        GOOD_HEAD + '[[steps]]\ndo = "open"\n[[steps]]\ndo = "say"\ntext = "{password}"\n',
        9,
        "placeholder",
    ),
    (
        "bad token kind",
        GOOD_HEAD + '[[steps]]\ndo = "open"\n[[steps]]\ndo = "bad_token"\nkind = "evil"\n',
        9,
        "kind",
    ),
    ("name mismatch", 'name = "other"\n' + GOOD_HEAD + '[[steps]]\ndo = "open"\n', 1, "file name"),
    ("top-level key", 'colour = "red"\n' + GOOD_HEAD + '[[steps]]\ndo = "open"\n', 1, "colour"),
    ("no steps", GOOD_HEAD, None, "no steps"),
    (
        "end not last",
        GOOD_HEAD + '[[steps]]\ndo = "open"\n[[steps]]\ndo = "end"\n[[steps]]\ndo = "logout"\n',
        7,
        "last step",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [case[1:] for case in BAD_SCRIPTS],
    ids=[case[0] for case in BAD_SCRIPTS],
)
def test_bad_script_names_file_line_and_reason(
    tmp_path: Path, text: str, line: int | None, reason: str
) -> None:
    path = tmp_path / "script.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.line == line
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{path}:{line}:" if line else f"{path}:")


def test_not_utf8_and_oversized_scripts_are_refused(tmp_path: Path) -> None:
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'title = "ok"\ntitle2 = "caf\xe9"\n')
    with pytest.raises(ScenarioError, match=r"latin.toml:2: not UTF-8"):
        load_scenario(latin)
    huge = tmp_path / "huge.toml"
    huge.write_text("# " + "x" * 300_000)
    with pytest.raises(ScenarioError, match="larger than"):
        load_scenario(huge)


def test_cli_reports_a_bad_script_and_changes_nothing(demo_db: Path, tmp_path: Path) -> None:
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "broken.toml").write_text(GOOD_HEAD + '[[steps]]\ndo = "fly"\n')
    digest = file_digest(demo_db)
    code, _, err = cli(
        "--db", str(demo_db), "feed", "--scripts", str(scripts), "--scenario", "broken"
    )
    assert code == 1
    assert f"{scripts / 'broken.toml'}:6:" in err and "fly" in err
    assert file_digest(demo_db) == digest


@pytest.mark.parametrize("name", ["../etc/passwd", "nope", "", "A" * 500, "most ideal"])
def test_unknown_or_hostile_scenario_names_are_refused(name: str) -> None:
    with pytest.raises(NotFound):
        find_scenario(name)


def test_cli_unknown_scenario_lists_the_known_ones(demo_db: Path) -> None:
    code, _, err = cli("--db", str(demo_db), "feed", "--scenario", "nope")
    assert code == 1
    assert "most-ideal" in err and "most-undesired" in err


def test_cli_list_shows_the_scripts() -> None:
    code, out, _ = cli("feed", "--list")
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines[:5]] == list(ORDERS)
