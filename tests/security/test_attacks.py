"""Attacks on the visibility rule, through a real `gladdesk serve` process.

A widget session reads and writes only the conversations it started, plus, while TRUSTED,
open conversations of its verified profile on its app in which trust was proven. Each test
plays one attack over HTTP (widget API, admin API, the SSE stream with its replays) and
checks that the attacker sees nothing of the victim's and that the victim's conversation
is unchanged. Agent actions run in-process on the same database file, as a console would.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import jwt
import pytest

from core.engine import Engine
from core.store import Desk
from sim.demo_desk import build_demo_into
from tests import pg
from tests.e2e.server import ROOT, free_port, start_server
from tests.web_helpers import DeskAt, records, rows

APP_A = "retale"
APP_B = "retale-b"
AGENT = "alice"
TIMEOUT_S = 10.0
SECRET_SA = b"sa-secret-for-app-a-0123456789abcdefghijklmnop"
SECRET_SB = b"sb-secret-for-app-b-0123456789abcdefghijklmnop"
SECRET_K8 = b"k8-secret-retired-mid-chat-0123456789abcdefghij"


# -- the desk and its server ------------------------------------------------------------------


@dataclass
class Desk2:
    """A served demo desk with a second app, an API user and site keys sa (A), sb (B), k8 (A)."""

    url: str
    db: DeskAt
    api_auth: str  # Basic credentials for the admin API
    agent: Engine


def gladdesk(db: DeskAt | None, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "tui", *(["--db", str(db)] if db else []), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def desk(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Desk2]:
    """The attacks' desk on each store: a demo.db file, or the demo built into a PostgreSQL
    database (its keystore under the module's own state folder)."""
    folder = tmp_path_factory.mktemp("attacks")
    with pytest.MonkeyPatch.context() as patch:
        db: DeskAt
        if request.param == "sqlite":
            db = folder / "demo.db"
            gladdesk(None, "db", "build-demo", "--out", str(db))
        else:
            server: pg.Server = request.getfixturevalue("pg_server")
            patch.setenv("GLADDESK_STATE_DIR", str(folder / "state"))
            db = build_demo_into(server.fresh())
            request.addfinalizer(lambda: server.drop(str(db)))
        yield from serve_attacked_desk(db, folder)


def serve_attacked_desk(db: DeskAt, folder: Path) -> Iterator[Desk2]:
    with Desk.open(db, create=False) as second, second.transaction() as conn:
        conn.execute(
            "INSERT INTO apps (app_id, store_name, login_url, signup_url, first_message, greeting,"
            " onboarding_enabled, onboarding_identity, trust_window_s, allowed_origins)"
            " SELECT ?, store_name, login_url, signup_url, first_message, greeting,"
            " onboarding_enabled, onboarding_identity, trust_window_s, allowed_origins"
            " FROM apps WHERE app_id = ?",
            (APP_B, APP_A),
        )
    for kid, secret, app in (("sa", SECRET_SA, APP_A), ("sb", SECRET_SB, APP_B)):
        secret_file = folder / f"{kid}.secret"
        secret_file.write_bytes(secret)
        gladdesk(db, "keys", "add", "--kid", kid, "--secret-file", str(secret_file), "--app", app)
    secret_file = folder / "k8.secret"
    secret_file.write_bytes(SECRET_K8)
    gladdesk(db, "keys", "add", "--kid", "k8", "--secret-file", str(secret_file), "--app", APP_A)
    api_email = "site-backend@example.com"
    api_token = gladdesk(db, "api-users", "add", api_email).stdout.strip().splitlines()[-1]
    basic = base64.b64encode(f"{api_email}:{api_token}".encode()).decode()
    port = free_port()
    server = start_server(db, port, folder / "serve.log")
    agent_desk = Desk.open(db, create=False)
    try:
        yield Desk2(f"http://127.0.0.1:{port}", db, f"Basic {basic}", Engine(agent_desk))
    finally:
        agent_desk.close()
        server.terminate()
        server.wait(timeout=20)


def fresh_email(tag: str) -> str:
    """A customer the demo desk has never seen (no profile, no conversation)."""
    return f"{tag}.{uuid.uuid4().hex[:10]}@example.com"


def mint(desk: Desk2, email: str, app_id: str | None = APP_A) -> httpx.Response:
    body: dict[str, Any] = {"identityType": "EMAIL", "identity": email}
    if app_id is not None:
        body["appId"] = app_id
    return httpx.post(
        f"{desk.url}/api/v1/user-identity-jwt",
        json=body,
        headers={"Authorization": desk.api_auth},
        timeout=TIMEOUT_S,
    )


def minted(desk: Desk2, email: str, app_id: str = APP_A) -> str:
    response = mint(desk, email, app_id)
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def site_token(kid: str, secret: bytes, email: str, jti: str | None = None) -> str:
    now = int(time.time())
    payload = {"email": email, "iat": now, "exp": now + 600, "jti": jti or uuid.uuid4().hex}
    return jwt.encode(payload, secret, algorithm="HS256", headers={"kid": kid})


def error_code(response: httpx.Response) -> str:
    body = response.json()
    return str(body["errors"][0]["code"])


# -- the widget over HTTP -----------------------------------------------------------------------


@dataclass(frozen=True)
class Sse:
    kind: str
    data: dict[str, Any]
    id: int | None


class EventStream:
    """GET /widget/v1/events, read on the calling thread until a chosen event arrives."""

    def __init__(
        self, widget: Widget, *, last_event_id: int | None = None, after: int | None = None
    ) -> None:
        headers = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}
        params = {} if after is None else {"after": str(after)}
        self._context = widget.http.stream(
            "GET", "/widget/v1/events", headers=headers, params=params
        )
        self.received: list[Sse] = []

    def __enter__(self) -> EventStream:
        response = self._context.__enter__()
        assert response.status_code == 200, response.read()
        self._lines = response.iter_lines()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._context.__exit__(kind, value, traceback)

    def read_until(self, stop: Callable[[Sse], bool]) -> list[Sse]:
        """Events up to and including the first one `stop` accepts (ReadTimeout if none)."""
        out: list[Sse] = []
        kind: str | None = None
        data: dict[str, Any] = {}
        event_id: int | None = None
        deadline = time.monotonic() + TIMEOUT_S
        for line in self._lines:
            assert time.monotonic() < deadline, f"stream stalled; got {out}"
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
            elif line.startswith("id: "):
                event_id = int(line[4:])
            elif line == "" and kind is not None:
                event = Sse(kind, data, event_id)
                out.append(event)
                self.received.append(event)
                kind, data, event_id = None, {}, None
                if stop(event):
                    return out
        raise AssertionError(f"stream closed; got {out}")


def is_availability(event: Sse) -> bool:
    return event.kind == "availability:change"


class Widget:
    """One browser's widget: a session of an app and its bearer token."""

    def __init__(self, desk: Desk2, app_id: str = APP_A) -> None:
        self.desk = desk
        self.http = httpx.Client(base_url=desk.url, timeout=TIMEOUT_S)
        response = self.http.post("/widget/v1/sessions", json={"appId": app_id})
        assert response.status_code == 201, response.text
        self.start = response.json()
        self.http.headers["Authorization"] = f"Bearer {self.start['token']}"

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, path, json=body)
        assert response.status_code < 300, (method, path, response.text)
        return response.json() if response.content else None

    def claim(self, name: str, email: str) -> dict[str, Any]:
        return self.call("PUT", "/widget/v1/user", {"name": name, "email": email})  # type: ignore[no-any-return]

    def login(self, token: str, name: str | None = None) -> httpx.Response:
        body: dict[str, Any] = {"jwt": token}
        if name is not None:
            body["name"] = name
        return self.http.put("/widget/v1/user", json=body)

    def logged_in(self, token: str, name: str | None = None) -> dict[str, Any]:
        response = self.login(token, name)
        assert response.status_code == 200, response.text
        view: dict[str, Any] = response.json()
        assert view["identityState"] == "TRUSTED", view
        return view

    def clear(self) -> dict[str, Any]:
        return self.call("DELETE", "/widget/v1/user")  # type: ignore[no-any-return]

    def send(self, body: str) -> dict[str, Any]:
        return self.call("POST", "/widget/v1/messages", {"body": body})  # type: ignore[no-any-return]

    def messages(self) -> list[dict[str, Any]]:
        return self.call("GET", "/widget/v1/messages")["messages"]  # type: ignore[no-any-return]

    def session(self) -> dict[str, Any]:
        return self.call("GET", "/widget/v1/session")  # type: ignore[no-any-return]

    def stream(self, *, last_event_id: int | None = None, after: int | None = None) -> EventStream:
        return EventStream(self, last_event_id=last_event_id, after=after)

    def replay(self, how: str) -> list[Sse]:
        """Everything the stream replays from the start (`header`: Last-Event-ID: 0,
        `query`: ?after=0), up to the first availability notice that follows the replay."""
        cursor = {"last_event_id": 0} if how == "header" else {"after": 0}
        with self.stream(**cursor) as stream:
            return stream.read_until(is_availability)[:-1]

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def widgets(desk: Desk2) -> Iterator[Callable[..., Widget]]:
    made: list[Widget] = []

    def make(app_id: str = APP_A) -> Widget:
        widget = Widget(desk, app_id)
        made.append(widget)
        return widget

    yield make
    for widget in made:
        widget.close()


# -- reading the database ---------------------------------------------------------------------


def items_of(db: DeskAt, conversation_id: int) -> list[tuple[Any, ...]]:
    """(id, type, sender, event, body, session_id) of a conversation's items, in order."""
    return rows(
        db,
        "SELECT id, type, sender, event, body, session_id FROM items"
        " WHERE conversation_id = ? ORDER BY id",
        (conversation_id,),
    )


def session_of_item(db: DeskAt, item_id: int) -> str:
    [(session_id,)] = rows(db, "SELECT session_id FROM items WHERE id = ?", (item_id,))
    assert session_id, f"item {item_id} records no session"
    return str(session_id)


def conversation(db: DeskAt, conversation_id: int) -> dict[str, Any]:
    [row] = records(db, "SELECT * FROM conversations WHERE id = ?", (conversation_id,))
    return row


def profile_name(db: DeskAt, email: str) -> str:
    [(name,)] = rows(
        db,
        "SELECT p.name FROM profiles p JOIN profile_emails e ON e.profile_id = p.id"
        " WHERE e.email = ?",
        (email,),
    )
    return str(name)


def leaks(db: DeskAt, events: list[Sse], conversation_ids: set[int], texts: list[str]) -> list[Sse]:
    """The events that carry anything of these conversations: their ids, one of their items,
    or one of the given texts."""
    item_ids = {
        row[0] for conversation_id in conversation_ids for row in items_of(db, conversation_id)
    }
    out = []
    for event in events:
        ref = event.data.get("id")
        body = json.dumps(event.data, ensure_ascii=False)
        names_conversation = event.kind in ("conversation:started", "conversation:ended")
        names_item = event.kind == "message:received"
        if (
            (names_conversation and ref in conversation_ids)
            or (names_item and ref in item_ids)
            or any(text in body for text in texts)
        ):
            out.append(event)
    return out


def bodies(messages: list[dict[str, Any]]) -> list[str]:
    return [message["body"] for message in messages]


# -- the victim ---------------------------------------------------------------------------------


@dataclass
class Victim:
    widget: Widget
    email: str
    name: str
    conversation_id: int
    session_id: str
    texts: list[str]  # everything written to or by the victim so far


def victim_chatting(desk: Desk2, widgets: Callable[..., Widget], tag: str) -> Victim:
    """V logs in with a desk-minted token, writes, and gets an agent reply."""
    email = fresh_email(tag)
    widget = widgets()
    widget.logged_in(minted(desk, email), name="Vera Victim")
    secret = f"V {tag}: my card ends 4242, order 777"
    sent = widget.send(secret)
    assert sent["trusted"] is True and sent["newConversation"] is True
    reply = f"agent to V {tag}: your parcel goes to 12 Secret Lane"
    desk.agent.reply(sent["conversationId"], AGENT, reply)
    return Victim(
        widget,
        email,
        "Vera Victim",
        sent["conversationId"],
        session_of_item(desk.db, sent["id"]),
        [secret, reply],
    )


# -- 1. claiming the victim's email ------------------------------------------------------------


def test_a_claim_of_the_victims_email_gets_its_own_conversation_and_sees_nothing(
    desk: Desk2, widgets: Callable[..., Widget]
) -> None:
    victim = victim_chatting(desk, widgets, "claimed")
    before = items_of(desk.db, victim.conversation_id)
    # Positive control: the victim's own replay carries the agent's reply (the checks below
    # could see a leak).
    assert leaks(desk.db, victim.widget.replay("header"), {victim.conversation_id}, [])

    attacker = widgets()
    view = attacker.claim("M", victim.email)
    assert view["identityState"] == "CLAIMED"
    assert view["conversationId"] != victim.conversation_id
    assert attacker.messages() == []
    sent = attacker.send("A: hello, what is my address?")
    assert sent["conversationId"] != victim.conversation_id
    assert sent["newConversation"] is True and sent["trusted"] is False
    attacker_session = session_of_item(desk.db, sent["id"])
    assert attacker_session != victim.session_id

    messages = attacker.messages()
    assert [m["body"] for m in messages if m["sender"] == "customer"] == [
        "A: hello, what is my address?"
    ]
    assert not [m for m in messages if any(text in m["body"] for text in victim.texts)]
    for how in ("header", "query"):
        replayed = attacker.replay(how)
        assert leaks(desk.db, replayed, {victim.conversation_id}, victim.texts) == [], how
        # Positive control: the replay does carry the attacker's own conversation.
        started = [e.data for e in replayed if e.kind == "conversation:started"]
        assert {"id": sent["conversationId"]} in started, how

    # Live: an agent reply to V after A claimed does not reach A; A's own reply does.
    with attacker.stream() as stream:
        stream.read_until(is_availability)
        live_secret = "agent to V live: the code is 9911"
        victim.texts.append(live_secret)
        desk.agent.reply(victim.conversation_id, AGENT, live_secret)
        sentinel = "agent to A: sentinel"
        desk.agent.reply(sent["conversationId"], AGENT, sentinel)
        live = stream.read_until(lambda e: e.data.get("body") == sentinel)
    assert leaks(desk.db, live, {victim.conversation_id}, victim.texts) == []

    # V's conversation gained only the agent's live reply; nothing from A's session.
    after = items_of(desk.db, victim.conversation_id)
    assert after[: len(before)] == before
    assert [(t, s, b) for _, t, s, _, b, _ in after[len(before) :]] == [
        ("message", "agent", live_secret)
    ]
    assert [item for item in after if item[5] == attacker_session] == []
    # The agent is told about the other open chat in A's conversation, not in V's.
    assert "other_chat_open" in [item[3] for item in items_of(desk.db, sent["conversationId"])]
    assert profile_name(desk.db, victim.email) == victim.name
    assert "A: hello, what is my address?" not in bodies(victim.widget.messages())


# -- 2. claiming first ------------------------------------------------------------------------


def test_a_claim_made_first_is_not_joined_by_the_real_customer(
    desk: Desk2, widgets: Callable[..., Widget]
) -> None:
    email = fresh_email("first")
    attacker = widgets()
    attacker.claim("Mallory", email)
    a_text = "A first: hello there"
    a_sent = attacker.send(a_text)
    assert a_sent["trusted"] is False
    a_conversation = a_sent["conversationId"]
    a_before = items_of(desk.db, a_conversation)

    victim = widgets()
    victim.logged_in(minted(desk, email), name="Vera First")
    v_text = "V after A: my private question"
    v_sent = victim.send(v_text)
    assert v_sent["conversationId"] != a_conversation
    assert v_sent["trusted"] is True
    reply = "agent to V: the private answer"
    desk.agent.reply(v_sent["conversationId"], AGENT, reply)
    v_session = session_of_item(desk.db, v_sent["id"])

    assert v_text not in bodies(attacker.messages())
    assert reply not in bodies(attacker.messages())
    assert a_text not in bodies(victim.messages())
    for how in ("header", "query"):
        a_events = attacker.replay(how)
        assert leaks(desk.db, a_events, {v_sent["conversationId"]}, [v_text, reply]) == [], how
        v_events = victim.replay(how)
        assert leaks(desk.db, v_events, {a_conversation}, [a_text]) == [], how
    a_after = items_of(desk.db, a_conversation)
    assert [item for item in a_after if item[5] == v_session] == []
    assert "authenticated" not in [item[3] for item in a_after]
    assert conversation(desk.db, a_conversation)["authenticated_at"] is None
    assert a_after == a_before


# -- 3. clearUser of the attacker ---------------------------------------------------------------


def test_the_attackers_clear_user_writes_nothing_into_the_victims_conversation(
    desk: Desk2, widgets: Callable[..., Widget]
) -> None:
    victim = victim_chatting(desk, widgets, "clear")
    before = items_of(desk.db, victim.conversation_id)

    silent = widgets()  # claims and logs out without writing
    silent.claim("M", victim.email)
    silent.clear()
    chatty = widgets()  # claims, writes, logs out
    chatty.claim("M", victim.email)
    chatty.send("A: hello before logout")
    chatty.clear()

    after = items_of(desk.db, victim.conversation_id)
    assert after == before
    assert "identity_cleared" not in [item[3] for item in after]


# -- 4. second device (allowed) -------------------------------------------------------------------


def test_a_second_device_with_a_fresh_token_joins_the_open_trusted_chat(
    desk: Desk2, widgets: Callable[..., Widget]
) -> None:
    victim = victim_chatting(desk, widgets, "device")
    second = widgets()
    second.logged_in(minted(desk, victim.email))
    sent = second.send("from my phone")
    assert sent["conversationId"] == victim.conversation_id
    assert sent["trusted"] is True and sent["newConversation"] is False
    assert bodies(second.messages()) == [*victim.texts, "from my phone"]
    assert "from my phone" in bodies(victim.widget.messages())


def test_a_login_on_another_app_does_not_join_the_chat(
    desk: Desk2, widgets: Callable[..., Widget]
) -> None:
    victim = victim_chatting(desk, widgets, "otherapp")
    other_app = widgets(APP_B)
    other_app.logged_in(minted(desk, victim.email, APP_B))
    assert other_app.messages() == []
    sent = other_app.send("from the other store")
    assert sent["conversationId"] != victim.conversation_id
    assert sent["trusted"] is True and sent["newConversation"] is True
    for how in ("header", "query"):
        replayed = other_app.replay(how)
        assert leaks(desk.db, replayed, {victim.conversation_id}, victim.texts) == [], how


# -- 5. clearUser ends access, replays included -----------------------------------------------------


@pytest.mark.parametrize("identity", ["claimed", "trusted"])
def test_after_clear_user_nothing_before_it_is_replayed(
    desk: Desk2, widgets: Callable[..., Widget], identity: str
) -> None:
    widget = widgets()
    email = fresh_email(f"logout-{identity}")
    if identity == "trusted":
        widget.logged_in(minted(desk, email), name="Lena Logout")
        first = "I want to return my boots"  # a trusted returns chat gets a bot message
    else:
        widget.claim("Lena Logout", email)
        first = "A question about my account"  # an account question gets a bot login prompt
    sent = widget.send(first)
    old = sent["conversationId"]
    reply = f"agent: private details for {identity} Lena"
    desk.agent.reply(old, AGENT, reply)
    # Positive controls: before the logout the session sees a bot message, the agent's
    # reply and its conversation, in the timeline and in both replays.
    before = widget.messages()
    assert "bot" in [m["sender"] for m in before] and reply in bodies(before)
    for how in ("header", "query"):
        kinds = {e.kind for e in widget.replay(how)}
        assert {"conversation:started", "message:received"} <= kinds, how

    view = widget.clear()
    assert view["identityState"] == "ANONYMOUS" and view["conversationId"] is None
    after_clear = "agent: after the logout, still private"
    desk.agent.reply(old, AGENT, after_clear)
    assert widget.messages() == []
    old_texts = [first, reply, after_clear, *bodies(before)]
    for how in ("header", "query"):
        replayed = widget.replay(how)
        assert [e for e in replayed if e.kind in ("conversation:started", "message:received")] == []
        assert leaks(desk.db, replayed, {old}, old_texts) == [], how

    widget.claim("Otto Other", fresh_email("other"))
    new = widget.send("Hello, I am someone else")
    assert new["newConversation"] is True and new["conversationId"] != old
    assert bodies(widget.messages()) == ["Hello, I am someone else"]
    for how in ("header", "query"):
        replayed = widget.replay(how)
        assert leaks(desk.db, replayed, {old}, old_texts) == [], how
        started = [e.data["id"] for e in replayed if e.kind == "conversation:started"]
        assert started == [new["conversationId"]], how


# -- 6. desk-minted tokens trust one session ------------------------------------------------------


def test_a_minted_token_trusts_one_session_and_names_its_app(
    desk: Desk2, widgets: Callable[..., Widget]
) -> None:
    token = minted(desk, fresh_email("once"))
    payload = jwt.decode(token, options={"verify_signature": False})
    assert isinstance(payload.get("jti"), str) and payload["jti"]
    assert payload["aud"] == APP_A
    first = widgets()
    first.logged_in(token)
    second = widgets()
    response = second.login(token)
    assert response.status_code == 400, response.text
    assert error_code(response) == "replayed"
    assert second.session()["identityState"] == "ANONYMOUS"


# -- 7. app scoping ---------------------------------------------------------------------------------


def test_a_token_minted_for_one_app_is_refused_by_another(
    desk: Desk2, widgets: Callable[..., Widget]
) -> None:
    token = minted(desk, "x@y.com", APP_A)
    other_app = widgets(APP_B)
    response = other_app.login(token)
    assert response.status_code == 400, response.text
    assert error_code(response) == "bad_audience"
    assert other_app.session()["identityState"] == "ANONYMOUS"
    # The same token is good in its own app (it was refused for its audience, not its form).
    widgets(APP_A).logged_in(token)


def test_with_two_apps_minting_needs_the_app(desk: Desk2) -> None:
    response = mint(desk, fresh_email("noapp"), app_id=None)
    assert response.status_code == 400, response.text
    assert "token" not in response.json()
    assert mint(desk, fresh_email("noapp"), app_id="no-such-app").status_code == 400


def test_a_site_key_bound_to_one_app_is_refused_by_another(
    desk: Desk2, widgets: Callable[..., Widget]
) -> None:
    email = fresh_email("sitekey")
    other_app = widgets(APP_B)
    response = other_app.login(site_token("sa", SECRET_SA, email))
    assert response.status_code == 400, response.text
    assert error_code(response) == "bad_audience"
    assert other_app.session()["identityState"] == "ANONYMOUS"
    widgets(APP_A).logged_in(site_token("sa", SECRET_SA, email))


def test_jti_replay_is_checked_per_key(desk: Desk2, widgets: Callable[..., Widget]) -> None:
    jti = f"j1-{uuid.uuid4().hex[:8]}"  # "j1", unique to this module run
    email = fresh_email("jti")
    widgets(APP_B).logged_in(site_token("sb", SECRET_SB, email, jti))
    widgets(APP_A).logged_in(site_token("sa", SECRET_SA, email, jti))
    again = widgets(APP_A)
    response = again.login(site_token("sa", SECRET_SA, email, jti))
    assert response.status_code == 400, response.text
    assert error_code(response) == "replayed"
    assert again.session()["identityState"] == "ANONYMOUS"


# -- 8. retiring a key ends trust ---------------------------------------------------------------------


def test_retiring_the_key_ends_the_trust_it_gave(
    desk: Desk2, widgets: Callable[..., Widget]
) -> None:
    widget = widgets()
    widget.logged_in(site_token("k8", SECRET_K8, fresh_email("retired")))
    sent = widget.send("trusted before the retirement")
    assert sent["trusted"] is True
    with widget.stream() as stream:
        stream.read_until(is_availability)
        gladdesk(desk.db, "keys", "retire", "k8")
        stream.read_until(lambda e: e.kind == "identity:expired")
    later = widget.send("after the retirement")
    assert later["trusted"] is False
    assert widget.session()["identityState"] != "TRUSTED"
    events = [item[3] for item in items_of(desk.db, sent["conversationId"]) if item[1] == "event"]
    assert "trust_revoked" in events


# -- 9. trust path ------------------------------------------------------------------------------------


def test_logging_in_after_routing_marks_after_routing_and_a_second_device_keeps_it(
    desk: Desk2, widgets: Callable[..., Widget]
) -> None:
    email = fresh_email("path")
    widget = widgets()
    widget.claim("Paula Path", email)
    first = widget.send("hello before login")
    widget.logged_in(minted(desk, email))
    second = widget.send("hello after login")
    assert second["conversationId"] == first["conversationId"]
    row = conversation(desk.db, first["conversationId"])
    assert row["trust_path"] == "after_routing" and row["authenticated_at"] is not None
    events = [item[3] for item in items_of(desk.db, first["conversationId"])]
    assert "authenticated" in events

    device = widgets()
    device.logged_in(minted(desk, email))
    joined = device.send("from the other device")
    assert joined["conversationId"] == first["conversationId"] and joined["trusted"] is True
    again = conversation(desk.db, first["conversationId"])
    assert (again["trust_path"], again["authenticated_at"]) == (
        "after_routing",
        row["authenticated_at"],
    )


# -- what must still work: the authentication orders ----------------------------------------------


def customer_trust(db: DeskAt, conversation_id: int) -> list[tuple[str, int]]:
    return rows(
        db,
        "SELECT body, trusted FROM items WHERE conversation_id = ? AND sender = 'customer'"
        " ORDER BY id",
        (conversation_id,),
    )


def test_order_1_and_2_logged_in_before_the_chat(
    desk: Desk2, widgets: Callable[..., Widget]
) -> None:
    widget = widgets()
    assert "/demo/login" in widget.start["firstMessage"]
    view = widget.logged_in(minted(desk, fresh_email("olga")), name="Olga Order")
    assert view["greeting"].startswith("Hi Olga,")
    first = widget.send("Where is my order?")
    second = widget.send("It is order 1234.")
    assert first["trusted"] is True and second["trusted"] is True
    assert first["conversationId"] == second["conversationId"]
    assert conversation(desk.db, first["conversationId"])["trust_path"] == "before_routing"


def test_order_3_onboarding_is_claimed_and_finds_the_profile(
    desk: Desk2, widgets: Callable[..., Widget]
) -> None:
    email = fresh_email("onboard")
    earlier = widgets()
    earlier.logged_in(minted(desk, email), name="Nadia Onboard")
    earlier_sent = earlier.send("an earlier chat")
    widget = widgets()
    view = widget.call("POST", "/widget/v1/onboarding", {"name": "Nadia", "email": email})
    assert view["identityState"] == "CLAIMED"
    sent = widget.send("Where is my refund?")
    assert sent["trusted"] is False and sent["newConversation"] is True
    assert sent["conversationId"] != earlier_sent["conversationId"]
    [(profile,)] = rows(
        desk.db,
        "SELECT count(DISTINCT profile_id) FROM conversations WHERE id IN (?, ?)",
        (sent["conversationId"], earlier_sent["conversationId"]),
    )
    assert profile == 1


def test_order_4_claimed_then_login_with_the_same_email(
    desk: Desk2, widgets: Callable[..., Widget]
) -> None:
    email = fresh_email("order4")
    widget = widgets()
    widget.claim("Julia Four", email)
    before = widget.send("My parcel is late")
    desk.agent.reply(before["conversationId"], AGENT, "Could you log in?")
    widget.logged_in(minted(desk, email))
    after = widget.send("Logged in now")
    assert after["conversationId"] == before["conversationId"]
    assert (before["trusted"], after["trusted"]) == (False, True)
    assert customer_trust(desk.db, before["conversationId"]) == [
        ("My parcel is late", 0),
        ("Logged in now", 1),
    ]


def test_order_5_logging_in_as_someone_else_starts_apart(
    desk: Desk2, widgets: Callable[..., Widget]
) -> None:
    widget = widgets()
    widget.claim("Amara Five", fresh_email("amara"))
    a_sent = widget.send("I need help with my shoes")
    widget.logged_in(minted(desk, fresh_email("bruno")), name="Bruno Five")
    b_sent = widget.send("Hello, it's Bruno")
    assert b_sent["newConversation"] is True and b_sent["trusted"] is True
    assert b_sent["conversationId"] != a_sent["conversationId"]
    assert conversation(desk.db, b_sent["conversationId"])["trust_path"] == "different_identity"
    assert bodies(widget.messages()) == ["Hello, it's Bruno"]
    assert [
        e for e in widget.replay("header") if e.data.get("id") == a_sent["conversationId"]
    ] == []
