"""Rules on authentication status (docs/rules.md): conditions, actions, order, broken files."""

from __future__ import annotations

import os
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from core.engine import RuleAction, RuleFacts
from core.rules import (
    MAX_RULES_BYTES,
    RuleBook,
    RulesError,
    load_rules,
    parse_rules,
    rules_for_desk,
    rules_path_for,
)
from core.store import Desk

PROJECT = Path(__file__).resolve().parents[2]
DEMO_INBOXES = frozenset(
    inbox["name"]
    for inbox in tomllib.loads((PROJECT / "fixtures" / "desk.toml").read_text())["inboxes"]
)

FACTS = RuleFacts(
    trigger="routing",
    app_id="shop",
    identity_state="TRUSTED",
    identity_source="jwt",
    trust_timing="before_routing",
    first_message="I'd like to return my boots",
    message="I'd like to return my boots",
    inbox="Chat",
    name="Julie Martin",
    first_name="Julie",
    conversation_id=1,
)


def rules(text: str) -> list[RuleAction]:
    """Evaluate `text` (one or more rules) against FACTS."""
    return parse_rules(text).evaluate(FACTS)


def one_rule(when: str, then: str = 'tag = "hit"') -> str:
    return f"[[rules]]\n[rules.when]\n{when}\n[rules.then]\n{then}\n"


def hits(when: str, facts: RuleFacts) -> bool:
    result = parse_rules(one_rule(when)).evaluate(facts)
    assert result in ([], [RuleAction("tag", "hit")])
    return bool(result)


# -- conditions ---------------------------------------------------------------------------


def test_trigger_defaults_to_routing_and_takes_a_list() -> None:
    assert hits("", FACTS)
    assert not hits("", replace(FACTS, trigger="message"))
    assert hits('trigger = ["message", "identity"]', replace(FACTS, trigger="identity"))
    assert not hits('trigger = ["message", "identity"]', FACTS)


@pytest.mark.parametrize(
    ("when", "state", "expected"),
    [
        ('identity_state = "TRUSTED"', "TRUSTED", True),
        ('identity_state = "TRUSTED"', "CLAIMED", False),
        ('identity_state = ["ANONYMOUS", "CLAIMED"]', "ANONYMOUS", True),
        ('identity_state = ["ANONYMOUS", "CLAIMED"]', "TRUSTED", False),
    ],
)
def test_identity_state(when: str, state: str, expected: bool) -> None:
    assert hits(when, replace(FACTS, identity_state=state)) is expected


def test_identity_source() -> None:
    when = 'identity_source = ["set_user", "onboarding_form"]'
    assert hits(when, replace(FACTS, identity_source="set_user"))
    assert hits(when, replace(FACTS, identity_source="onboarding_form"))
    assert not hits(when, FACTS)  # jwt


@pytest.mark.parametrize(
    ("timing", "expected"),
    [("before_routing", False), ("after_routing", True), (None, True)],
)
def test_trust_timing_before_after_or_untrusted(timing: str | None, expected: bool) -> None:
    when = 'trust_timing = ["after_routing", "untrusted"]'
    assert hits(when, replace(FACTS, trust_timing=timing)) is expected


@pytest.mark.parametrize(
    ("first_message", "expected"),
    [
        ("Can I RETURN these?", True),
        ("Returns policy please", True),  # at the start of a word
        ("I returned them last week", True),
        ("ＲＥＴＵＲＮ", True),  # full-width letters fold too
        ("this is unreturnable", False),  # not in the middle of a word
        ("where can I send it back?", True),  # a phrase
        ("send\nit back", False),
        ("Where is my parcel?", False),
    ],
)
def test_keywords_in_the_first_message(first_message: str, expected: bool) -> None:
    when = 'keywords = ["return", "send it back"]'
    facts = replace(FACTS, first_message=first_message, message="return")
    assert hits(when, facts) is expected


def test_message_keywords_look_at_the_latest_message_not_the_first() -> None:
    when = 'trigger = "message"\nmessage_keywords = ["invoice"]'
    later = replace(FACTS, trigger="message", first_message="hello", message="My invoice is wrong")
    assert hits(when, later)
    assert not hits(when, replace(later, first_message="invoice", message="thanks"))


def test_keyword_metacharacters_are_literal() -> None:
    when = 'keywords = ["c++", "a.b"]'
    assert hits(when, replace(FACTS, first_message="my c++ order"))
    assert not hits(when, replace(FACTS, first_message="my cc order and axb"))


def test_inbox_and_app() -> None:
    assert hits('inbox = "Chat"', FACTS)
    assert not hits('inbox = "Returns"', FACTS)
    assert hits('app = ["other", "shop"]', FACTS)
    assert not hits('app = "other"', FACTS)


def test_all_conditions_must_hold() -> None:
    when = 'identity_state = "TRUSTED"\nkeywords = ["return"]'
    assert hits(when, FACTS)
    assert not hits(when, replace(FACTS, identity_state="CLAIMED"))
    assert not hits(when, replace(FACTS, first_message="hello"))


# -- actions --------------------------------------------------------------------------------


def test_every_action_in_a_fixed_order() -> None:
    text = one_rule(
        "",
        'require_login = true\nroute = "Returns"\ntag = ["a", "b"]\nlogin_prompt = true\n'
        'bot_message = "Hi {first_name} ({name})"',
    )
    assert rules(text) == [
        RuleAction("bot_message", "Hi Julie (Julie Martin)"),
        RuleAction("login_prompt"),
        RuleAction("tag", "a"),
        RuleAction("tag", "b"),
        RuleAction("route", "Returns"),
        RuleAction("require_login"),
    ]


def test_false_flags_add_nothing() -> None:
    assert rules(one_rule("", "login_prompt = false\nrequire_login = false")) == []


def test_bot_message_without_a_name_greets_there() -> None:
    text = one_rule("", 'bot_message = "Hi {first_name}! {name}"')
    assert parse_rules(text).evaluate(replace(FACTS, name=None, first_name="")) == [
        RuleAction("bot_message", "Hi there! there")
    ]


def test_a_hostile_name_is_inserted_verbatim_never_expanded() -> None:
    text = one_rule("", 'bot_message = "Hi {first_name}, {{literal}}"')
    hostile = replace(FACTS, name="{name} [green]✔[/]", first_name="{name}")
    assert parse_rules(text).evaluate(hostile) == [
        RuleAction("bot_message", "Hi {name}, {literal}")
    ]


def test_route_and_require_login_only_at_routing() -> None:
    text = one_rule(
        'trigger = ["routing", "message"]',
        'route = "Returns"\nrequire_login = true\ntag = "t"',
    )
    assert parse_rules(text).evaluate(replace(FACTS, trigger="message")) == [RuleAction("tag", "t")]


# -- order --------------------------------------------------------------------------------


def test_every_matching_rule_applies_in_file_order() -> None:
    text = one_rule("", 'bot_message = "one"') + one_rule(
        'identity_state = "CLAIMED"', 'bot_message = "never"'
    )
    text += one_rule("", 'bot_message = "two"')
    assert [a.value for a in rules(text)] == ["one", "two"]


def test_later_rules_see_the_inbox_an_earlier_rule_chose() -> None:
    text = one_rule("", 'route = "Returns"') + one_rule('inbox = "Returns"', 'tag = "r"')
    text += one_rule('inbox = "Chat"', 'tag = "c"')
    assert rules(text) == [RuleAction("route", "Returns"), RuleAction("tag", "r")]


def test_wants_names_the_triggers_some_rule_listens_to() -> None:
    ruleset = parse_rules(one_rule("") + one_rule("trigger = 'identity'"))
    assert ruleset.triggers == {"routing", "identity"}
    assert ruleset.wants("routing") and not ruleset.wants("message")
    off = one_rule("trigger = 'message'").replace("[rules.when]", "enabled = false\n[rules.when]")
    assert not parse_rules(off).wants("message")


def test_the_first_matching_route_wins() -> None:
    text = one_rule('identity_state = "CLAIMED"', 'route = "Billing"')
    text += one_rule("", 'route = "Returns"') + one_rule("", 'route = "Chat"')
    assert rules(text) == [RuleAction("route", "Returns")]


def test_stop_ends_the_evaluation_only_when_its_rule_matches() -> None:
    text = one_rule('identity_state = "CLAIMED"', 'tag = "a"').replace(
        "[rules.when]", "stop = true\n[rules.when]"
    )
    text += one_rule("", 'tag = "b"').replace("[rules.when]", "stop = true\n[rules.when]")
    text += one_rule("", 'tag = "c"')
    assert rules(text) == [RuleAction("tag", "b")]


def test_disabled_rules_are_skipped() -> None:
    text = one_rule("", 'tag = "off"').replace("[rules.when]", "enabled = false\n[rules.when]")
    assert rules(text + one_rule("", 'tag = "on"')) == [RuleAction("tag", "on")]


def test_login_prompt_and_tags_at_most_once_per_evaluation() -> None:
    text = one_rule("", 'login_prompt = true\ntag = "x"') * 2
    assert rules(text) == [RuleAction("login_prompt"), RuleAction("tag", "x")]


def test_no_rules_no_actions() -> None:
    assert rules("") == []
    assert rules("# only a comment\n") == []


# -- broken files -------------------------------------------------------------------------

BAD_FILES = [
    ("[[rules]]\nname = \n", 2, "not valid TOML"),
    ("[[rules]]\n[rules.then]\ntag = 'a'\ntag = 'b'\n", 4, "not valid TOML"),
    ("[[rules]]\nname = 'x'\n", 1, "no actions"),
    (one_rule("", 'tag = "a"') + one_rule("colour = 'red'"), 8, "unknown condition 'colour'"),
    (one_rule("", 'send_email = "x"'), 5, "unknown action 'send_email'"),
    (one_rule("identity_state = 'trusted'"), 3, "unknown value 'trusted'"),
    (one_rule("identity_source = 'magic'"), 3, "unknown value 'magic'"),
    (one_rule("trigger = 'session'"), 3, "unknown value 'session'"),
    (one_rule("trust_timing = 'later'"), 3, "unknown value 'later'"),
    (one_rule("keywords = []"), 3, "non-empty list"),
    (one_rule("keywords = ['ok', 3]"), 3, "non-empty strings"),
    (one_rule("inbox = 7"), 3, "when.inbox"),
    (one_rule("", "bot_message = 'Hi {email}'"), 5, "unknown placeholder {email}"),
    (one_rule("", "bot_message = 'Hi {name.__class__}'"), 5, "unknown placeholder"),
    (one_rule("", "bot_message = 'Hi {first_name!r}'"), 5, "unknown placeholder"),
    (one_rule("", "bot_message = 'Hi {'"), 5, "literal brace"),
    (one_rule("", "bot_message = ''"), 5, "non-empty text"),
    (one_rule("", f"bot_message = '{'{name}' * 20}'"), 5, "could reach 4120 characters"),
    (one_rule("", f"bot_message = '{'x' * 2001}'"), 5, "longer than 2000"),
    (one_rule("", "login_prompt = 'yes'"), 5, "true or false"),
    (one_rule("", "tag = '[red]x[/]'"), 5, "is not a tag"),
    (one_rule("", "route = ''"), 5, "inbox name"),
    (one_rule("trigger = 'message'", "route = 'Returns'"), 5, 'add "routing"'),
    (one_rule("trigger = 'identity'", "require_login = true"), 5, 'add "routing"'),
    ("[[rules]]\nstop = 'yes'\n[rules.then]\ntag = 'a'\n", 2, "stop: expected true or false"),
    ("[[rules]]\npriority = 1\n[rules.then]\ntag = 'a'\n", 2, "unknown key 'priority'"),
    ("[[rules]]\nwhen = 3\n[rules.then]\ntag = 'a'\n", 2, "when: expected a table"),
    ("\n[settings]\nx = 1\n", 2, "unknown top-level key 'settings'"),
    ("rules = 3\n", None, "expected [[rules]] tables"),
]


@pytest.mark.parametrize(("text", "line", "reason"), BAD_FILES, ids=[r for _, _, r in BAD_FILES])
def test_a_broken_file_names_file_line_and_reason(
    tmp_path: Path, text: str, line: int | None, reason: str
) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RulesError) as raised:
        load_rules(path)
    error = raised.value
    assert error.code == "bad_rules"
    assert (error.path, error.line) == (str(path), line)
    assert reason in error.reason
    assert str(error).startswith(f"{path}:{line}: " if line else f"{path}: ")


def test_route_to_an_inbox_the_desk_lacks(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(one_rule("", "tag = 'x'") + one_rule("", "route = 'Retruns'"))
    assert len(load_rules(path)) == 2  # without a desk, any name is accepted
    with pytest.raises(RulesError, match=r":10: .*no inbox 'Retruns' on this desk \(known: Chat,"):
        load_rules(path, inboxes=frozenset({"Chat", "Returns"}))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"# ok\n\xff\xfe\n", r":2: not UTF-8"),
        (b"#" * (MAX_RULES_BYTES + 1), "over the limit"),
    ],
)
def test_hostile_files_are_refused(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_bytes(content)
    with pytest.raises(RulesError, match=reason):
        load_rules(path)


def test_missing_file_or_a_directory(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="no such rules file"):
        load_rules(tmp_path / "nope.toml")
    with pytest.raises(RulesError, match="is a directory"):
        load_rules(tmp_path)


# -- reloading ------------------------------------------------------------------------------


def write(path: Path, text: str, *, tick: int) -> None:
    """Write and give the file a distinct mtime, as a later edit would have."""
    path.write_text(text, encoding="utf-8")
    stamp = 1_700_000_000 + tick
    os.utime(path, (stamp, stamp))


def test_rulebook_reloads_on_change_and_keeps_the_old_rules_when_the_new_file_is_bad(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rules.toml"
    write(path, one_rule("", "tag = 'first'"), tick=1)
    book = RuleBook(path, check_interval_s=0)
    assert book.evaluate(FACTS) == [RuleAction("tag", "first")]

    write(path, one_rule("", "tag = 'second'"), tick=2)
    assert book.evaluate(FACTS) == [RuleAction("tag", "second")]
    assert book.error is None

    write(path, one_rule("", "tag = 'third'\nsend = 1"), tick=3)
    assert book.evaluate(FACTS) == [RuleAction("tag", "second")]
    assert book.error is not None and book.error.line == 6
    assert "unknown action 'send'" in str(book.error)

    write(path, one_rule("", "tag = 'fixed'"), tick=4)
    assert book.evaluate(FACTS) == [RuleAction("tag", "fixed")]
    assert book.error is None

    path.unlink()
    assert book.evaluate(FACTS) == []


def test_rulebook_looks_at_the_file_at_most_once_per_interval(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    write(path, one_rule("", "tag = 'a'"), tick=1)
    now = [100.0]
    book = RuleBook(path, check_interval_s=1.0, monotonic=lambda: now[0])
    write(path, one_rule("", "tag = 'bb'"), tick=2)
    now[0] += 0.5
    assert book.evaluate(FACTS) == [RuleAction("tag", "a")]
    now[0] += 0.5
    assert book.evaluate(FACTS) == [RuleAction("tag", "bb")]


def test_rulebook_refuses_a_bad_file_at_start(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text("[[rules]\n")
    with pytest.raises(RulesError, match=r"rules.toml:1: not valid TOML"):
        RuleBook(path)


def test_explicit_reload_reports_whether_new_rules_took_effect(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    write(path, one_rule("", "tag = 'a'"), tick=1)
    book = RuleBook(path)
    path.write_text("oops")
    assert book.reload() is False
    path.write_text(one_rule("", "tag = 'b'"))
    assert book.reload() is True and book.evaluate(FACTS) == [RuleAction("tag", "b")]


# -- where a desk's rules live --------------------------------------------------------------


def test_rules_for_desk_beside_the_database(desk: Desk) -> None:
    assert rules_for_desk(desk) is None
    path = rules_path_for(desk)
    assert path == desk.path.with_name(desk.path.name + ".rules.toml")  # beside the file or
    # the PostgreSQL desk's local base path
    path.write_text(one_rule("", "route = 'Returns'"))
    book = rules_for_desk(desk)
    assert book is not None and book.evaluate(FACTS) == [RuleAction("route", "Returns")]
    path.write_text(one_rule("", "route = 'Nowhere'"))
    with pytest.raises(RulesError, match="no inbox 'Nowhere'"):
        rules_for_desk(desk)


def test_rules_for_desk_from_the_setting(desk: Desk) -> None:
    tmp_path = desk.path.parent  # the setting is relative to the folder of the desk's files
    desk.set_setting("rules_path", "conf/my-rules.toml")
    with pytest.raises(RulesError, match="no such rules file"):
        rules_for_desk(desk)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "my-rules.toml").write_text(one_rule("", "tag = 'configured'"))
    book = rules_for_desk(desk)
    assert book is not None and book.evaluate(FACTS) == [RuleAction("tag", "configured")]


def test_the_demo_rules_load_against_the_demo_inboxes() -> None:
    demo = load_rules(PROJECT / "fixtures" / "rules.toml", inboxes=DEMO_INBOXES)
    assert len(demo) >= 4
    trusted_return = demo.evaluate(FACTS)
    assert RuleAction("route", "Returns") in trusted_return
    assert (
        RuleAction(
            "bot_message",
            "Hi Julie, I can see your recent orders."
            " A returns specialist will pick this up in a moment.",
        )
        in trusted_return
    )
    account = replace(
        FACTS,
        identity_state="CLAIMED",
        identity_source="onboarding_form",
        trust_timing=None,
        first_message="I can't get into my account",
    )
    actions = demo.evaluate(account)
    assert RuleAction("login_prompt") in actions and RuleAction("require_login") in actions
    assert not any(a.kind == "route" for a in actions)
    assert (
        demo.evaluate(replace(account, identity_state="TRUSTED", trust_timing="before_routing"))
        == []
    )
