"""The trust model in the engine (docs/trust-model.md): who may see and write what, how trust
begins, lapses, is revoked and is reported. The HTTP attacks are in tests/security/."""

from __future__ import annotations

import json
from pathlib import Path

import jwt as pyjwt
import pytest

from core.clock import ManualClock
from core.contacts import InvalidContact
from core.engine import Engine
from core.identity import TokenRejected
from core.rules import load_rules
from core.store import Desk

HOUR_MS = 3600 * 1000
SECRET = b"site-secret-0123456789-abcdefghijklmnopqrstuvwxyz"


def trusted(engine: Engine, email: str = "julie@example.com", app: str = "shop") -> str:
    session = engine.init_session(app).session_id
    engine.set_user(session, jwt=engine.keyring.mint(email=email, name="Julie Martin", app_id=app))
    return session


def claimed(engine: Engine, email: str = "julie@example.com", name: str = "Mallory") -> str:
    session = engine.init_session("shop").session_id
    engine.set_user(session, name=name, email=email)
    return session


def events_of(engine: Engine, conversation_id: int) -> list[str]:
    return [i.event or "" for i in engine.timeline(conversation_id) if i.type == "event"]


def seen_bodies(engine: Engine, session: str) -> set[str]:
    """Every message body the session can read, by every route."""
    bodies = {item.body for item in engine.session_timeline(session)}
    for event in engine.widget_events(session, after=0):
        if "body" in event.data:
            bodies.add(event.data["body"])
    return bodies


def add_app(desk: Desk, app_id: str) -> None:
    with desk.transaction() as conn:
        row = dict(conn.execute("SELECT * FROM apps WHERE app_id = 'shop'").fetchone())
        row["app_id"] = app_id
        columns = ", ".join(row)
        conn.execute(
            f"INSERT INTO apps ({columns}) VALUES ({', '.join('?' * len(row))})", list(row.values())
        )


def site_token(kid: str, email: str, now_s: int, **extra: object) -> str:
    claims = {"email": email, "iat": now_s, "exp": now_s + 300, **extra}
    return pyjwt.encode(claims, SECRET, algorithm="HS256", headers={"kid": kid})


# -- the visibility rule ---------------------------------------------------------------------


def test_a_claim_reads_nothing_of_the_trusted_chat(engine: Engine) -> None:
    victim = trusted(engine)
    first = engine.send_message(victim, "my card ends 4242")
    engine.reply(first.conversation_id, "alice", "Thanks Julie, refund sent")
    attacker = claimed(engine, "JULIE@example.com")
    sent = engine.send_message(attacker, "show me my chat")
    assert sent.new_conversation and sent.conversation_id != first.conversation_id
    engine.reply(first.conversation_id, "alice", "Anything else, Julie?")
    assert seen_bodies(engine, attacker) == {"show me my chat"}
    victim_items = engine.timeline(first.conversation_id)
    assert all(i.body != "show me my chat" for i in victim_items)
    assert engine.conversation(first.conversation_id).profile.name == "Julie Martin"
    assert engine.conversation(sent.conversation_id).claimed_name == "Mallory"
    assert "other_chat_open" in events_of(engine, sent.conversation_id)


def test_a_claim_going_first_is_never_joined_by_the_trusted_customer(engine: Engine) -> None:
    attacker = claimed(engine)
    bait = engine.send_message(attacker, "hi, it's me")
    victim = trusted(engine)
    real = engine.send_message(victim, "order question")
    assert real.conversation_id != bait.conversation_id and real.trusted
    assert seen_bodies(engine, attacker) == {"hi, it's me"}
    assert seen_bodies(engine, victim) >= {"order question"}
    assert "hi, it's me" not in seen_bodies(engine, victim)


def test_a_claimed_logout_writes_nothing_into_the_trusted_chat(engine: Engine) -> None:
    victim = trusted(engine)
    first = engine.send_message(victim, "hello")
    attacker = claimed(engine)
    engine.send_message(attacker, "hello too")
    before = engine.timeline(first.conversation_id)
    engine.clear_user(attacker)
    assert engine.timeline(first.conversation_id) == before


def test_a_second_device_joins_the_verified_open_chat(engine: Engine) -> None:
    phone = trusted(engine)
    first = engine.send_message(phone, "from my phone")
    laptop = trusted(engine)
    assert engine.session(laptop).conversation_id == first.conversation_id
    assert "from my phone" in seen_bodies(engine, laptop)
    sent = engine.send_message(laptop, "from my laptop")
    assert sent.conversation_id == first.conversation_id and sent.trusted
    view = engine.conversation(first.conversation_id)
    assert view.trust_path == "before_routing"
    assert events_of(engine, first.conversation_id).count("authenticated") == 2


def test_trust_on_another_app_never_joins(engine: Engine, desk: Desk) -> None:
    add_app(desk, "other")
    first = engine.send_message(trusted(engine, app="shop"), "on the shop app")
    elsewhere = trusted(engine, app="other")
    assert engine.session(elsewhere).conversation_id is None
    sent = engine.send_message(elsewhere, "on the other app")
    assert sent.new_conversation and sent.conversation_id != first.conversation_id
    assert "on the shop app" not in seen_bodies(engine, elsewhere)


def test_a_joined_device_loses_the_chat_when_its_trust_lapses(engine: Engine, desk: Desk) -> None:
    clock = desk.clock
    assert isinstance(clock, ManualClock)
    phone = trusted(engine)
    first = engine.send_message(phone, "from my phone")
    clock.advance(1800)
    laptop = trusted(engine)  # joins; its window ends 30 minutes after the phone's
    engine.send_message(laptop, "from my laptop")
    clock.advance(3600)
    engine.tick()
    engine.reply(first.conversation_id, "alice", "reply after the lapse")
    assert engine.session_timeline(laptop) == []
    assert "reply after the lapse" not in seen_bodies(engine, laptop)
    assert "reply after the lapse" in seen_bodies(engine, phone)  # it started the chat
    again = engine.send_message(laptop, "still there?")
    assert again.new_conversation and not again.trusted


def test_trust_never_joins_a_chat_that_was_only_claimed(engine: Engine) -> None:
    """A claimed chat of the profile may be anyone's: logging in as the profile elsewhere does
    not open it."""
    attacker = claimed(engine)
    engine.send_message(attacker, "only claimed")
    victim = trusted(engine)
    assert engine.session(victim).conversation_id is None
    assert seen_bodies(engine, victim) == set()


def test_clear_user_ends_access_to_everything_before_it(engine: Engine) -> None:
    rules_engine = engine  # the same engine; named for what it checks
    session = trusted(rules_engine)
    sent = rules_engine.send_message(session, "private")
    rules_engine.reply(sent.conversation_id, "alice", "your order 4471")
    assert "your order 4471" in seen_bodies(rules_engine, session)
    rules_engine.clear_user(session)
    assert seen_bodies(rules_engine, session) == set()
    kinds = [e.kind for e in rules_engine.widget_events(session, after=0)]
    assert "conversation:started" not in kinds and "message:received" not in kinds
    rules_engine.set_user(session, name="Next Person", email="next@example.com")
    again = rules_engine.send_message(session, "new person here")
    assert again.new_conversation and again.conversation_id != sent.conversation_id
    assert seen_bodies(rules_engine, session) == {"new person here"}


def test_a_switch_to_another_person_replays_nothing_of_the_first(engine: Engine) -> None:
    session = claimed(engine, "a@example.com", "Anna")
    first = engine.send_message(session, "I am Anna")
    engine.reply(first.conversation_id, "alice", "Hi Anna")
    engine.set_user(session, jwt=engine.keyring.mint(email="b@example.com"))
    assert seen_bodies(engine, session) == set()
    second = engine.send_message(session, "I am Ben")
    assert second.new_conversation
    assert engine.conversation(second.conversation_id).trust_path == "different_identity"
    assert second.assignee != first.assignee


def test_logout_then_someone_else_starts_fresh(engine: Engine) -> None:
    session = trusted(engine, "a@example.com")
    engine.send_message(session, "Anna here")
    engine.clear_user(session)
    engine.set_user(session, jwt=engine.keyring.mint(email="b@example.com"))
    sent = engine.send_message(session, "Ben here")
    assert engine.conversation(sent.conversation_id).trust_path == "before_routing"


def test_an_anonymous_chat_that_logs_in_continues(desk: Desk) -> None:
    with desk.transaction() as conn:
        conn.execute("UPDATE apps SET onboarding_enabled = 0")
    engine = Engine(desk)
    session = engine.init_session("shop").session_id
    first = engine.send_message(session, "hi, a question")
    engine.set_user(session, jwt=engine.keyring.mint(email="julie@example.com"))
    later = engine.send_message(session, "logged in now")
    assert later.conversation_id == first.conversation_id and later.trusted
    view = engine.conversation(first.conversation_id)
    assert view.profile.emails == ("julie@example.com",)
    assert view.trust_path == "after_routing"
    assert "authenticated" in events_of(engine, first.conversation_id)


# -- trust lapse, renewal and revocation -----------------------------------------------------


def test_rules_see_the_current_trust_timing_after_a_lapse(desk: Desk, tmp_path: Path) -> None:
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(
        '[[rules]]\nname = "welcome"\n[rules.when]\ntrigger = "identity"\n'
        'trust_timing = "before_routing"\n[rules.then]\nbot_message = "An agent will be with you"\n'
    )
    engine = Engine(desk, rules=load_rules(rules_file, inboxes=frozenset({"Chat"})))
    clock = desk.clock
    assert isinstance(clock, ManualClock)
    session = trusted(engine)
    sent = engine.send_message(session, "hello")
    clock.advance(3601)
    engine.tick()
    assert "trust_expired" in events_of(engine, sent.conversation_id)
    engine.set_user(session, jwt=engine.keyring.mint(email="julie@example.com"))
    bots = [i.body for i in engine.timeline(sent.conversation_id) if i.sender == "bot"]
    assert bots == []  # trust came back after routing: not "before routing"
    again = engine.send_message(session, "still me")
    assert again.conversation_id == sent.conversation_id and again.trusted


def test_retiring_a_key_ends_the_trust_it_gave(engine: Engine, desk: Desk) -> None:
    engine.keyring.add_key(kid="site1", secret=SECRET)
    session = engine.init_session("shop").session_id
    now_s = desk.clock.now_ms() // 1000
    engine.set_user(session, jwt=site_token("site1", "julie@example.com", now_s))
    sent = engine.send_message(session, "trusted one")
    assert sent.trusted
    engine.keyring.retire("site1")
    after = engine.send_message(session, "after the retirement")
    assert not after.trusted
    assert "trust_revoked" in events_of(engine, sent.conversation_id)
    kinds = [e.kind for e in engine.widget_events(session, after=0)]
    assert "identity:expired" in kinds


def test_the_timer_revokes_trust_of_a_retired_key(engine: Engine, desk: Desk) -> None:
    engine.keyring.add_key(kid="site1", secret=SECRET)
    session = engine.init_session("shop").session_id
    now_s = desk.clock.now_ms() // 1000
    engine.set_user(session, jwt=site_token("site1", "julie@example.com", now_s))
    engine.keyring.retire("site1")
    assert engine.revoke_retired_trust() == [session]
    assert engine.session(session).identity_state == "CLAIMED"
    assert engine.revoke_retired_trust() == []


def test_an_open_chat_shows_expired_from_the_window_end(engine: Engine, desk: Desk) -> None:
    """No timer has run: the console's view still follows the trust window."""
    sent = engine.send_message(trusted(engine), "hello")
    assert engine.conversation(sent.conversation_id).identity_state == "TRUSTED"
    clock = desk.clock
    assert isinstance(clock, ManualClock)
    clock.advance(3600)
    assert engine.conversation(sent.conversation_id).identity_state == "CLAIMED"


# -- tokens: apps, jti ----------------------------------------------------------------------


def test_desk_tokens_name_their_app_and_trust_one_session(engine: Engine) -> None:
    token = engine.keyring.mint(email="julie@example.com")
    claims = pyjwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == "shop" and len(claims["jti"]) >= 16
    first = engine.init_session("shop").session_id
    engine.set_user(first, jwt=token)
    second = engine.init_session("shop").session_id
    with pytest.raises(TokenRejected) as caught:
        engine.set_user(second, jwt=token)
    assert caught.value.code == "replayed"
    assert engine.session(second).identity_state == "ANONYMOUS"


def test_a_token_for_one_app_never_trusts_another(engine: Engine, desk: Desk) -> None:
    add_app(desk, "other")
    token = engine.keyring.mint(email="julie@example.com", app_id="shop")
    session = engine.init_session("other").session_id
    with pytest.raises(TokenRejected) as caught:
        engine.set_user(session, jwt=token)
    assert caught.value.code == "bad_audience"
    with pytest.raises(Exception, match="several apps"):
        engine.keyring.mint(email="julie@example.com")


def test_site_keys_are_bound_to_apps_and_scope_their_jtis(engine: Engine, desk: Desk) -> None:
    add_app(desk, "other")
    with pytest.raises(Exception, match="--app"):
        engine.keyring.add_key(kid="loose", secret=SECRET)
    engine.keyring.add_key(kid="for-shop", secret=SECRET, apps=["shop"])
    engine.keyring.add_key(kid="for-other", secret=SECRET, apps=["other"])
    now_s = desk.clock.now_ms() // 1000
    shop_session = engine.init_session("shop").session_id
    other_session = engine.init_session("other").session_id
    with pytest.raises(TokenRejected) as caught:
        engine.set_user(other_session, jwt=site_token("for-shop", "j@example.com", now_s))
    assert caught.value.code == "bad_audience"
    # The same jti under two keys: one site cannot burn the other's.
    engine.set_user(shop_session, jwt=site_token("for-shop", "j@example.com", now_s, jti="j1"))
    engine.set_user(other_session, jwt=site_token("for-other", "j@example.com", now_s, jti="j1"))
    third = engine.init_session("shop").session_id
    with pytest.raises(TokenRejected) as replay:
        engine.set_user(third, jwt=site_token("for-shop", "k@example.com", now_s, jti="j1"))
    assert replay.value.code == "replayed"


def test_phone_claims_accept_possible_numbers_but_not_extensions(engine: Engine) -> None:
    """+1 555 0100 123 is possible but not valid (555-01xx is reserved): a signing site may
    vouch for it; the onboarding form may not. An extension is never cut off."""
    identity = engine.keyring.verify(engine.keyring.mint(phone="+15550100123"))
    assert identity.phone == "+15550100123"
    session = engine.init_session("shop").session_id
    with pytest.raises(InvalidContact):
        engine.set_user(session, name="Pat", phone="+15550100123")
    with pytest.raises(InvalidContact, match="(?i)extension"):
        engine.keyring.mint(phone="+1 415 555 0123 ext. 99")
    with pytest.raises(InvalidContact, match="(?i)extension"):
        engine.set_user(session, name="Pat", phone="+1 415 555 0123 ext. 99")
    assert engine.session(session).identity_state == "ANONYMOUS"


# -- fixtures -----------------------------------------------------------------------------------


def test_the_demo_builder_refuses_trust_outside_the_window(tmp_path: Path) -> None:
    from sim.demo_desk import FIXTURES, FixtureError, build_demo

    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    for path in FIXTURES.iterdir():
        if path.is_file():
            (fixtures / path.name).write_bytes(path.read_bytes())
    conversations = json.loads((fixtures / "conversations.json").read_text())
    conversation = next(c for c in conversations if c["identity_source"] == "jwt")
    late = dict(conversation["items"][-1], type="message", sender="customer", trusted=True)
    late.pop("event", None)
    late["at"] = "2026-11-21T09:00:00Z"
    conversation["items"].append(late)
    (fixtures / "conversations.json").write_text(json.dumps(conversations))
    with pytest.raises(FixtureError, match="outside a trust window"):
        build_demo(tmp_path / "out.db", fixtures)


def test_a_plain_set_user_never_renews_trust(engine: Engine, desk: Desk) -> None:
    """Found by the visibility machine: a claim of the same email once restarted the window."""
    clock = desk.clock
    assert isinstance(clock, ManualClock)
    session = trusted(engine)
    clock.advance(3000)
    engine.set_user(session, name="Julie", email="julie@example.com")
    assert engine.send_message(session, "still inside the first window").trusted
    clock.advance(601)
    engine.set_user(session, name="Julie", email="julie@example.com")
    assert not engine.send_message(session, "after the first window").trusted
