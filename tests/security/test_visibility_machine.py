"""The visibility rule as a state machine over the engine (in process, no HTTP).

Random sequences of widget calls (init, onboarding, claimed and signed setUser, clearUser,
messages, end), agent replies and closes, and the clock passing the trust window. The test
keeps its own model of what each session may see:

- the conversations it started since its last clearUser or switch to another person, and
- while it is TRUSTED now: open conversations of its verified profile on its app in which
  trust was proven (the customer on a second device).

After every step, everything a live session can observe (`session_timeline`, and
`widget_events` replayed from 0 and read live from its last cursor) must be allowed by the
model, or be an item that session created since its last reset.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from core.clock import ManualClock
from core.engine import Engine, RuleAction, RuleFacts
from core.errors import Conflict
from core.identity import TokenRejected
from core.store import Desk
from tests.helpers import seed_desk

EMAILS = ("ann@example.com", "bob@example.com", "cat@example.com")
APPS = {"shop": 3600, "shop2": 1800}  # app id -> trust window (s)
AGENT = "alice"
MAX_SESSIONS = 6
#: Clock steps: inside both windows, past shop2's only, past both.
STEPS_S = (30, 1790, 1810, 3610)


T0_MS = 1_795_000_000_000
DB_NAME = "desk.db"


@cache
def template() -> Path:
    """A seeded desk with two apps and its desk signing key, copied for every example (much
    faster than building one each time, which matters when Hypothesis shrinks)."""
    folder = Path(tempfile.mkdtemp(prefix="visibility-template-"))
    atexit.register(shutil.rmtree, folder, True)
    desk = Desk.open(folder / DB_NAME, clock=ManualClock(T0_MS))
    seed_desk(desk, trust_window_s=APPS["shop"])
    with desk.transaction() as conn:
        conn.execute(
            "INSERT INTO apps (app_id, store_name, login_url, signup_url, first_message,"
            " greeting, onboarding_enabled, onboarding_identity, trust_window_s,"
            " allowed_origins) SELECT 'shop2', 'Shop 2', login_url, signup_url,"
            " first_message, greeting, onboarding_enabled, onboarding_identity, ?,"
            " allowed_origins FROM apps WHERE app_id = 'shop'",
            (APPS["shop2"],),
        )
    keyring = Engine(desk, rules=BotRules()).keyring
    keyring.mint(email=EMAILS[0], app_id="shop")  # creates the desk signing key
    keyring.close()
    desk.close()
    return folder


class BotRules:
    """Bot messages on routing, on a login, and on a customer message asking for help."""

    def wants(self, trigger: str) -> bool:
        return True

    def evaluate(self, facts: RuleFacts) -> list[RuleAction]:
        if facts.trigger == "routing":
            return [RuleAction("bot_message", f"bot: welcome {facts.first_name}")]
        if facts.trigger == "identity":
            return [RuleAction("bot_message", f"bot: verified {facts.first_name}")]
        if "help" in facts.message:
            return [RuleAction("bot_message", "bot: an agent will help")]
        return []


@dataclass
class Conv:
    email: str
    app: str
    open: bool = True
    proven: bool = False  # trust was proven in it (a trusted message, or a login in it)


@dataclass
class Session:
    app: str
    email: str | None = None  # the current identity, claimed or verified
    verified: bool = False  # the current identity came from a token
    trusted_until: int = 0  # ms
    started: set[int] = field(default_factory=set)  # since the last reset
    current: int | None = None  # the conversation last written to since the last reset
    watermark: int = 0  # the last item id before the last reset
    ever: set[int] = field(default_factory=set)  # every conversation ever allowed
    cursor: int = 0  # the live stream's position


class VisibilityMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="visibility-"))
        for source in template().glob(DB_NAME + "*"):
            shutil.copy(source, self.folder / source.name)
        self.clock = ManualClock(T0_MS)
        self.desk = Desk.open(self.folder / DB_NAME, clock=self.clock, create=False)
        self.engine = Engine(self.desk, rules=BotRules())
        self.sessions: dict[str, Session] = {}
        self.convs: dict[int, Conv] = {}
        self.replies = 0

    def teardown(self) -> None:
        self.engine.keyring.close()
        self.desk.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- the model ------------------------------------------------------------------------------

    def now(self) -> int:
        return self.clock.now_ms()

    def trusted(self, session: Session) -> bool:
        return session.verified and session.email is not None and self.now() < session.trusted_until

    def allowed(self, session: Session) -> set[int]:
        allowed = set(session.started)
        if self.trusted(session):
            allowed |= {
                conv_id
                for conv_id, conv in self.convs.items()
                if conv.open
                and conv.proven
                and conv.email == session.email
                and conv.app == session.app
            }
        return allowed

    def last_item(self) -> int:
        row = self.desk.query_one("SELECT coalesce(max(id), 0) FROM items")
        return int(row[0]) if row is not None else 0

    def reset(self, session: Session) -> None:
        """clearUser or a switch to another person: nothing before carries over."""
        session.started = set()
        session.current = None
        session.watermark = self.last_item()
        session.verified = False
        session.trusted_until = 0

    def pick(self, index: int) -> tuple[str, Session]:
        session_id = list(self.sessions)[index % len(self.sessions)]  # in creation order
        return session_id, self.sessions[session_id]

    def open_convs(self) -> list[int]:
        return sorted(conv_id for conv_id, conv in self.convs.items() if conv.open)

    # -- widget calls -----------------------------------------------------------------------------

    @initialize()
    def one_session_per_app(self) -> None:
        for app in sorted(APPS):
            self.init_session(app)

    @precondition(lambda self: len(self.sessions) < MAX_SESSIONS)
    @rule(app=st.sampled_from(sorted(APPS)))
    def init_session(self, app: str) -> None:
        start = self.engine.init_session(app)
        events = self.engine.widget_events(start.session_id, after=0)
        self.sessions[start.session_id] = Session(
            app=app, watermark=self.last_item(), cursor=events[-1].id if events else 0
        )

    @precondition(lambda self: self.sessions)
    @rule(index=st.integers(0, 99), email=st.sampled_from(EMAILS))
    def onboarding(self, index: int, email: str) -> None:
        session_id, session = self.pick(index)
        if session.email is not None:
            with pytest.raises(Conflict):
                self.engine.submit_onboarding(session_id, name="Onboarded Person", email=email)
            return
        self.engine.submit_onboarding(session_id, name="Onboarded Person", email=email)
        session.email = email

    @precondition(lambda self: self.sessions)
    @rule(index=st.integers(0, 99), email=st.sampled_from(EMAILS))
    def claim(self, index: int, email: str) -> None:
        """A plain setUser: anyone may claim any email, the victim's included."""
        session_id, session = self.pick(index)
        self.engine.set_user(session_id, name="Mallory Claim", email=email)
        if session.email is not None and session.email != email:
            self.reset(session)
        elif session.email is None:
            session.verified = False
        # The same person claimed again: a proven identity stays proven (the model is generous
        # here; being generous can only hide a leak, never invent one).
        session.email = email

    @precondition(lambda self: self.sessions)
    @rule(
        index=st.integers(0, 99),
        email=st.sampled_from(EMAILS),
        wrong_app=st.sampled_from((False, False, False, True)),
    )
    def login(self, index: int, email: str, wrong_app: bool) -> None:
        """A signed setUser with a fresh desk-minted token (sometimes minted for another app)."""
        session_id, session = self.pick(index)
        other = next(app for app in APPS if app != session.app)
        token = self.engine.keyring.mint(email=email, app_id=other if wrong_app else session.app)
        if wrong_app:
            with pytest.raises(TokenRejected) as caught:
                self.engine.set_user(session_id, jwt=token)
            assert caught.value.code == "bad_audience"
            return
        view = self.engine.set_user(session_id, jwt=token)
        assert view.identity_state == "TRUSTED"
        same_person = session.email == email
        if session.email is not None and not same_person:
            self.reset(session)
        elif (
            same_person and session.current in session.started and self.convs[session.current].open
        ):
            # A login inside the session's own open chat proves trust in it.
            self.convs[session.current].proven = True
        session.email = email
        session.verified = True
        session.trusted_until = self.now() + APPS[session.app] * 1000

    @precondition(lambda self: self.sessions)
    @rule(index=st.integers(0, 99))
    def clear_user(self, index: int) -> None:
        session_id, session = self.pick(index)
        view = self.engine.clear_user(session_id)
        assert view.identity_state == "ANONYMOUS" and view.conversation_id is None
        self.reset(session)
        session.email = None

    @precondition(lambda self: self.sessions)
    @rule(index=st.integers(0, 99), text=st.sampled_from(("hello", "please help", "thanks")))
    def send_message(self, index: int, text: str) -> None:
        session_id, session = self.pick(index)
        body = f"{text} from {session_id}"
        if session.email is None:
            with pytest.raises(Conflict):
                self.engine.send_message(session_id, body)
            return
        allowed = self.allowed(session)
        trusted = self.trusted(session)
        sent = self.engine.send_message(session_id, body)
        assert trusted or not sent.trusted, "a trusted message without a live verified identity"
        if sent.new_conversation:
            assert sent.conversation_id not in self.convs
            self.convs[sent.conversation_id] = Conv(session.email, session.app)
            session.started.add(sent.conversation_id)
        else:
            assert sent.conversation_id in allowed, (
                f"{session_id} wrote into conversation {sent.conversation_id}; allowed {allowed}"
            )
        if sent.trusted:
            self.convs[sent.conversation_id].proven = True
        session.current = sent.conversation_id

    @precondition(lambda self: len(self.sessions) > 2)
    @rule(index=st.integers(0, 99))
    def end_session(self, index: int) -> None:
        session_id, _ = self.pick(index)
        self.engine.end_session(session_id)
        del self.sessions[session_id]

    # -- the agent and the clock ----------------------------------------------------------------------

    @precondition(lambda self: self.open_convs())
    @rule(index=st.integers(0, 99))
    def agent_reply(self, index: int) -> None:
        conv_ids = self.open_convs()
        conv_id = conv_ids[index % len(conv_ids)]
        self.replies += 1
        self.engine.reply(conv_id, AGENT, f"agent reply {self.replies} in #{conv_id}")

    @precondition(lambda self: self.open_convs())
    @rule(index=st.integers(0, 99))
    def agent_close(self, index: int) -> None:
        conv_ids = self.open_convs()
        conv_id = conv_ids[index % len(conv_ids)]
        self.engine.close(conv_id, AGENT, force=True)
        self.convs[conv_id].open = False

    @rule(seconds=st.sampled_from(STEPS_S), tick=st.booleans())
    def time_passes(self, seconds: int, tick: bool) -> None:
        """Time passes; the server's timer may or may not have run since (lazy lapses)."""
        self.clock.advance(seconds)
        if tick:
            self.engine.tick()

    # -- invariants -------------------------------------------------------------------------------------

    def item_owner(self, item_id: int) -> tuple[int, str | None]:
        row = self.desk.query_one(
            "SELECT conversation_id, session_id FROM items WHERE id = ?", (item_id,)
        )
        assert row is not None, f"event names item {item_id}, which does not exist"
        return int(row[0]), row[1]

    def check_item(
        self, session_id: str, session: Session, item_id: int, allowed: set[int], where: str
    ) -> None:
        conv_id, author = self.item_owner(item_id)
        assert conv_id in session.ever, (
            f"{where}: {session_id} observes item {item_id} of conversation {conv_id},"
            f" which it never had access to"
        )
        own = author == session_id and item_id > session.watermark
        assert conv_id in allowed or own, (
            f"{where}: {session_id} observes item {item_id} of conversation {conv_id};"
            f" allowed now {sorted(allowed)} ({session})"
        )

    def check_events(self, session_id: str, session: Session, after: int, allowed: set[int]) -> int:
        where = f"widget_events(after={after})"
        last = after
        for event in self.engine.widget_events(session_id, after=after, limit=100_000):
            last = max(last, event.id)
            if event.kind == "message:received":
                self.check_item(session_id, session, int(event.data["id"]), allowed, where)
            elif event.kind == "conversation:started":
                assert event.data["id"] in allowed, (where, session_id, event, sorted(allowed))
            elif event.kind == "conversation:ended":
                # The notice that a chat it could read has ended carries only the id.
                assert event.data["id"] in session.ever, (where, session_id, event)
            else:
                assert event.kind == "identity:expired", (where, event)
        return last

    @invariant()
    def sessions_see_only_what_they_may(self) -> None:
        for session_id, session in self.sessions.items():
            allowed = self.allowed(session)
            session.ever |= allowed
            for item in self.engine.session_timeline(session_id):
                self.check_item(session_id, session, item.id, allowed, "session_timeline")
            self.check_events(session_id, session, 0, allowed)
            session.cursor = self.check_events(session_id, session, session.cursor, allowed)

    @invariant()
    def trusted_messages_are_in_conversations_where_trust_was_proven(self) -> None:
        bad = self.desk.query(
            "SELECT i.id, c.id, c.authenticated_at, c.trust_path FROM items i"
            " JOIN conversations c ON c.id = i.conversation_id"
            " WHERE i.type = 'message' AND i.sender = 'customer' AND i.trusted = 1"
            " AND (c.authenticated_at IS NULL OR c.trust_path IS NULL)"
        )
        assert [tuple(row) for row in bad] == []


TestVisibility = VisibilityMachine.TestCase
TestVisibility.settings = settings(
    max_examples=200,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
