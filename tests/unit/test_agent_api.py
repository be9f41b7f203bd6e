"""The agent API (`/agent/v1`, docs/agent-api.md) over the demo desk, in process: who may see
what, the queue's pages, the actions with the engine's refusals, hostile input, the failed
login limits and the admin API opened with an admin agent's token."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.clock import parse_iso
from core.engine import Engine
from core.setup import DeskAdmin
from core.store import Desk
from core.web import create_app
from core.web.agent_api import MAX_PAGE, encode_cursor
from tests.helpers import set_agents
from tests.web_helpers import DeskAt, error


@dataclass
class Desks:
    """The demo desk served, and the tokens of three agents on it: alice works only the
    Chat inbox, bruno every inbox, dana is an admin."""

    client: TestClient
    db: Path
    tokens: dict[str, str]

    def get(self, who: str, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, headers=bearer(self.tokens[who]), **kwargs)

    def post(self, who: str, path: str, **kwargs: Any) -> Any:
        return self.client.post(path, headers=bearer(self.tokens[who]), **kwargs)

    def queue(self, who: str, query: str = "view=all&status=all") -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        after = ""
        while True:
            page = self.get(who, f"/agent/v1/queue?{query}&limit={MAX_PAGE}{after}")
            assert page.status_code == 200, page.text
            rows += page.json()["rows"]
            if page.json()["next"] is None:
                return rows
            after = "&after=" + page.json()["next"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def add_unassigned(desk: Desk, email: str, inbox: str | None = None) -> int:
    """A routed open conversation no agent has (everyone was away when it came in), moved
    to `inbox` when given."""
    engine = Engine(desk)
    set_agents(desk, "available = 0")
    start = engine.init_session("retale")
    engine.submit_onboarding(start.session_id, name="Pat Doe", email=email)
    sent = engine.send_message(start.session_id, "is anyone there?")
    set_agents(desk, "available = 1")
    assert sent.assignee is None
    if inbox is not None:
        engine.transfer(sent.conversation_id, "dana", to_inbox=inbox)
    return sent.conversation_id


def three_agents(db: DeskAt) -> dict[str, str]:
    """The tokens of alice (works only the Chat inbox), bruno (every inbox) and dana (an
    admin) on the demo desk, with an unassigned chat in Chat and one in Billing."""
    with Desk.open(db, create=False) as desk:
        add_unassigned(desk, "pat.chat@example.com")
        add_unassigned(desk, "pat.billing@example.com", "Billing")
        admin = DeskAdmin(desk)
        admin.set_agent("alice", {"inboxes": ["Chat"]})
        admin.set_agent("dana", {"role": "admin"})
        return {handle: admin.issue_token(handle) for handle in ("alice", "bruno", "dana")}


@pytest.fixture
def desks(demo_db: Path) -> Iterator[Desks]:
    tokens = three_agents(demo_db)
    # No engine tick: it would hand the unassigned chats out between two reads of a test.
    with TestClient(create_app(demo_db, tick_s=3600)) as client:
        yield Desks(client, demo_db, tokens)


def visible_to_alice(row: dict[str, Any]) -> bool:
    return row["assignee"] == "alice" or (row["assignee"] is None and row["inbox"] == "Chat")


# -- who sees what ----------------------------------------------------------------------------


def test_me_says_who_the_token_is(desks: Desks) -> None:
    me = desks.get("alice", "/agent/v1/me")
    assert me.status_code == 200, me.text
    with Desk.open(desks.db, create=False) as desk:
        last_event_id = desk.last_event_id()
        alice_id = Engine(desk).agent_id("alice")
        now = desk.clock.now_ms()
    answer = me.json()
    # The desk's clock (the demo desk runs behind the wall clock), read a moment ago.
    assert 0 <= now - parse_iso(answer.pop("now")) < 60_000
    assert answer | {"openConversations": 0} == {
        "id": alice_id,
        "handle": "alice",
        "name": "Alice Moreau",
        "role": "agent",
        "capacity": 8,
        "available": True,
        "openConversations": 0,
        "inboxes": ["Chat"],
        "everyInbox": False,
        "lastEventId": last_event_id,
    }
    dana = desks.get("dana", "/agent/v1/me").json()
    assert (dana["role"], dana["everyInbox"]) == ("admin", True)
    assert dana["inboxes"] == ["Chat", "Returns", "Billing"]


def test_an_agent_sees_their_own_and_their_inboxes_unassigned_and_an_admin_everything(
    desks: Desks,
) -> None:
    everything = desks.queue("dana")
    with Desk.open(desks.db, create=False) as desk:
        total = desk.query_one("SELECT count(*) FROM conversations")
    assert total is not None and len(everything) == total[0]
    assert {row["assignee"] for row in everything} > {"alice", "bruno"}
    alices = desks.queue("alice")
    assert alices and all(visible_to_alice(row) for row in alices)
    assert [row["id"] for row in alices] == [
        row["id"] for row in everything if visible_to_alice(row)
    ]
    # Bruno works every inbox: his own and every unassigned one.
    brunos = desks.queue("bruno")
    expected = [r["id"] for r in everything if r["assignee"] in ("bruno", None)]
    assert [row["id"] for row in brunos] == expected
    # Each view is cut to the same rule.
    for query in ("view=unassigned&status=all", "view=inbox&inbox=Billing&status=all"):
        assert all(visible_to_alice(row) for row in desks.queue("alice", query))
    mine = desks.queue("alice", "view=mine&status=all")
    assert mine and {row["assignee"] for row in mine} == {"alice"}


def test_another_agents_conversation_is_404_everywhere_for_an_agent(desks: Desks) -> None:
    theirs = next(row for row in desks.queue("dana") if row["assignee"] == "bruno")
    number = theirs["id"]
    missing = desks.get("alice", "/agent/v1/conversations/999999")
    for path in (f"/agent/v1/conversations/{number}", f"/agent/v1/conversations/{number}/items"):
        answer = desks.get("alice", path)
        assert answer.status_code == 404, answer.text
        assert error(answer)["detail"] == f"no conversation {number}"
        assert error(missing)["code"] == error(answer)["code"] == "not_found"
    for action, body in (
        ("reply", {"body": "hello"}),
        ("login-prompt", None),
        ("transfer", {"to": "alice"}),
        ("close", {"force": True}),
        ("reopen", None),
    ):
        answer = desks.post("alice", f"/agent/v1/conversations/{number}/{action}", json=body)
        assert answer.status_code == 404, (action, answer.text)
    # Nothing was written: the admin still sees it with bruno, open, unchanged.
    after = desks.get("dana", f"/agent/v1/conversations/{number}").json()
    assert (after["assignee"], after["status"]) == ("bruno", theirs["status"])
    assert desks.get("dana", f"/agent/v1/conversations/{number}/items").status_code == 200
    # Their profile too, when alice may see none of the customer's conversations.
    profile = desks.get("alice", f"/agent/v1/profiles/{theirs['profileId']}")
    if not any(
        visible_to_alice(r) for r in desks.queue("dana") if r["profileId"] == theirs["profileId"]
    ):
        assert profile.status_code == 404


def test_search_and_profiles_show_an_agent_only_what_they_may_see(desks: Desks) -> None:
    seen = {row["id"] for row in desks.queue("alice")}
    everything = desks.get("dana", "/agent/v1/search?q=refund").json()
    alices = desks.get("alice", "/agent/v1/search?q=refund").json()
    assert {m["conversationId"] for m in everything["messages"]} - seen, "nothing hidden"
    assert alices["messages"] and {m["conversationId"] for m in alices["messages"]} <= seen
    for hit in alices["messages"]:
        word = hit["snippet"][hit["matches"][0][0] : hit["matches"][0][1]]
        assert word.lower().startswith("refund")
    profile_id = next(row["profileId"] for row in desks.queue("alice"))
    profile = desks.get("alice", f"/agent/v1/profiles/{profile_id}").json()
    assert profile["conversations"] and {c["id"] for c in profile["conversations"]} <= seen


# -- the queue's pages ------------------------------------------------------------------------


def test_queue_pages_follow_each_other_without_gap_or_repeat(desks: Desks) -> None:
    whole = desks.queue("dana")
    assert len(whole) > MAX_PAGE
    rows, after = [], ""
    while True:
        page = desks.get("dana", f"/agent/v1/queue?view=all&status=all&limit=7{after}").json()
        assert len(page["rows"]) <= 7
        rows += page["rows"]
        if page["next"] is None:
            break
        after = "&after=" + page["next"]
    assert [r["id"] for r in rows] == [r["id"] for r in whole]
    keys = [(r["queueKey"], r["id"]) for r in rows]
    assert keys == sorted(keys)
    row = rows[0]
    assert set(row) >= {"customer", "identityState", "lastPreview", "glyph", "unanswered"}
    assert row["glyph"] in ("green", "gray", None)


def test_the_queue_filters_by_status_and_trust(desks: Desks) -> None:
    closed = desks.queue("dana", "view=all&status=closed")
    assert closed and {row["status"] for row in closed} == {"CLOSED"}
    trusted = desks.queue("dana", "view=all&status=all&trust=trusted")
    assert trusted and all(row["lastCustomerTrusted"] for row in trusted)
    needs_reply = desks.queue("dana", "view=all&status=needs_reply")
    assert {row["status"] for row in needs_reply} <= {"OPEN"}


@pytest.mark.parametrize(
    ("query", "attr"),
    [
        ("after=nope!", "after"),
        ("after=" + "A" * 65, "after"),
        ("after=MTIz", "after"),  # "123": not a key
        ("after=" + encode_cursor((2**63, 1)), "after"),
        ("after=4pyU4pyU", "after"),  # "✔✔"
        ("view=inbox", "inbox"),
        ("inbox=Chat", "inbox"),
        ("view=inbox&inbox=Nowhere", "inbox"),
        ("view=everything", "view"),
        ("status=OPEN", "status"),
        ("trust=maybe", "trust"),
        ("limit=0", "limit"),
        ("limit=-5", "limit"),
        ("limit=ten", "limit"),
    ],
)
def test_hostile_queue_parameters_are_400(desks: Desks, query: str, attr: str) -> None:
    answer = desks.get("alice", f"/agent/v1/queue?{query}")
    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"][0]["attr"] == attr


def test_the_directory_counts_the_queue_and_its_starts_read_each_page(desks: Desks) -> None:
    """Any page of the queue is one read away: `starts[n]` with `limit=every` is page n,
    for an agent only what they may see; `pages=` returns pages in the same snapshot."""
    for who, query in (("dana", "view=all&status=all"), ("alice", "view=all&status=active")):
        whole = desks.queue(who, query)
        answer = desks.get(who, f"/agent/v1/queue/directory?{query}&every=10&pages=0,2,999")
        assert answer.status_code == 200, answer.text
        directory = answer.json()
        assert (directory["total"], directory["every"]) == (len(whole), 10)
        assert len(directory["starts"]) == -(-len(whole) // 10)
        # JSON keys; page 999 is past the end, and so is page 2 of a short queue
        assert set(directory["pages"]) == {str(n) for n in (0, 2) if n < len(directory["starts"])}
        for number, start in enumerate(directory["starts"]):
            page = desks.get(who, f"/agent/v1/queue?{query}&limit=10&after={start}").json()
            wanted = [r["id"] for r in whole[number * 10 : number * 10 + 10]]
            assert [r["id"] for r in page["rows"]] == wanted
            if str(number) in directory["pages"]:
                assert [r["id"] for r in directory["pages"][str(number)]] == wanted
        if who == "dana":
            assert len(directory["starts"]) > 2
        else:
            assert all(visible_to_alice(row) for row in whole)


@pytest.mark.parametrize(
    ("query", "attr"),
    [
        ("every=0", "every"),
        ("every=9", "every"),
        ("every=1001", "every"),
        ("pages=-1", "pages"),
        ("pages=1,,2", "pages"),
        ("pages=" + ",".join(map(str, range(9))), "pages"),
        ("pages=1;DROP", "pages"),
        ("view=inbox", "inbox"),
        ("view=inbox&inbox=Nowhere", "inbox"),
    ],
)
def test_hostile_directory_parameters_are_400(desks: Desks, query: str, attr: str) -> None:
    answer = desks.get("alice", f"/agent/v1/queue/directory?{query}")
    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"][0]["attr"] == attr


def test_agents_and_inboxes_list_every_transfer_target(desks: Desks) -> None:
    agents = desks.get("alice", "/agent/v1/agents")
    assert agents.status_code == 200, agents.text
    handles = [a["handle"] for a in agents.json()["agents"]]
    assert handles == sorted(handles) and {"alice", "bruno", "dana"} <= set(handles)
    bruno = next(a for a in agents.json()["agents"] if a["handle"] == "bruno")
    assert set(bruno) == {
        "id", "handle", "name", "available", "openConversations", "capacity", "disabled"
    }  # fmt: skip
    # Every inbox, though alice works only Chat (/me's inboxes).
    inboxes = desks.get("alice", "/agent/v1/inboxes")
    assert inboxes.json() == {"inboxes": ["Chat", "Returns", "Billing"]}
    assert desks.client.get("/agent/v1/agents").status_code == 401
    assert desks.client.get("/agent/v1/inboxes").status_code == 401


def test_search_takes_a_limit_up_to_fifty(desks: Desks) -> None:
    few = desks.get("dana", "/agent/v1/search", params={"q": "a", "limit": 2}).json()
    assert len(few["profiles"]) <= 2 and len(few["messages"]) <= 2
    many = desks.get("dana", "/agent/v1/search", params={"q": "a", "limit": 50}).json()
    assert len(many["profiles"]) > 2
    for bad in (0, 51, "x"):
        answer = desks.get("dana", "/agent/v1/search", params={"q": "a", "limit": bad})
        assert answer.status_code == 400 and answer.json()["errors"][0]["attr"] == "limit"


def test_a_huge_limit_is_cut_to_the_page_size(desks: Desks) -> None:
    answer = desks.get("dana", "/agent/v1/queue?view=all&status=all&limit=1000000000000")
    assert answer.status_code == 200
    assert len(answer.json()["rows"]) == MAX_PAGE and answer.json()["next"]


# -- timelines --------------------------------------------------------------------------------


def test_timeline_pages_by_item_id_with_trusted_glyphs(desks: Desks) -> None:
    trusted = desks.queue("dana", "view=all&status=all&trust=trusted")
    number = next(row["id"] for row in trusted if row["itemCount"] > 4)
    path = f"/agent/v1/conversations/{number}/items"
    whole = desks.get("dana", path + "?limit=200").json()
    assert not whole["more"]
    ids = [item["id"] for item in whole["items"]]
    assert ids == sorted(ids)
    latest = desks.get("dana", path + "?limit=2").json()
    assert latest["more"] and [i["id"] for i in latest["items"]] == ids[-2:]
    older = desks.get("dana", path + f"?limit=2&before={ids[-2]}").json()
    assert [i["id"] for i in older["items"]] == ids[-4:-2]
    newer = desks.get("dana", path + f"?limit=2&after={ids[0]}").json()
    assert [i["id"] for i in newer["items"]] == ids[1:3] and newer["more"]
    glyph = "gray" if whole["status"] == "CLOSED" else "green"
    for item in whole["items"]:
        assert item["glyph"] == (glyph if item["trusted"] else None), item
    assert any(item["trusted"] for item in whole["items"])


@pytest.mark.parametrize(
    "path",
    [
        "/agent/v1/conversations/0",
        "/agent/v1/conversations/-1",
        "/agent/v1/conversations/abc",
        "/agent/v1/conversations/99999999999999999999999",
        "/agent/v1/conversations/1/items?after=1&before=5",
        "/agent/v1/conversations/1/items?after=-1",
        "/agent/v1/conversations/1/items?before=0",
        "/agent/v1/conversations/1/items?limit=0",
        "/agent/v1/profiles/0",
        "/agent/v1/profiles/1e3",
        "/agent/v1/search?q=",
        "/agent/v1/search?q=" + "x" * 321,
        "/agent/v1/search",
        "/agent/v1/reports/authentication?since=yesterday",
        "/agent/v1/events?after=-1",
    ],
)
def test_hostile_reads_are_400(desks: Desks, path: str) -> None:
    answer = desks.get("dana", path)
    assert answer.status_code == 400, answer.text
    assert error(answer)["code"] in ("invalid", "wrong_type", "too_long", "too_short", "required")


def test_the_report_is_the_admin_apis(desks: Desks) -> None:
    query = "?since=2026-10-01&until=2026-11-20"
    ours = desks.get("alice", "/agent/v1/reports/authentication" + query)
    theirs = desks.get("dana", "/api/v1/reports/authentication" + query)
    assert ours.status_code == theirs.status_code == 200
    assert ours.json() == theirs.json() and ours.json()


# -- actions ----------------------------------------------------------------------------------


def unassigned_chat(desks: Desks) -> int:
    return next(
        row["id"]
        for row in desks.queue("dana", "view=unassigned")
        if row["inbox"] == "Chat" and not row["held"]
    )


def test_take_reply_transfer_close_reopen_as_the_tokens_agent(desks: Desks) -> None:
    number = unassigned_chat(desks)
    base = f"/agent/v1/conversations/{number}"
    taken = desks.post("alice", base + "/take")
    assert taken.status_code == 200, taken.text
    assert desks.get("alice", base).json()["assignee"] == "alice"
    again = desks.post("bruno", base + "/take")
    assert again.status_code == 409
    assert "already assigned to alice" in error(again)["detail"]
    reply = desks.post("alice", base + "/reply", json={"body": "On it!", "agent": "bruno"})
    assert reply.status_code == 400 and error(reply)["code"] == "unknown_field"
    reply = desks.post("alice", base + "/reply", json={"body": "On it!"})
    assert reply.status_code == 201, reply.text
    items = desks.get("alice", base + "/items?limit=1").json()["items"]
    assert (items[-1]["id"], items[-1]["agent"], items[-1]["body"]) == (
        reply.json()["itemId"],
        "alice",
        "On it!",
    )
    prompt = desks.post("alice", base + "/login-prompt")
    assert prompt.status_code == 201 and prompt.json()["itemId"] > reply.json()["itemId"]
    moved = desks.post("alice", base + "/transfer", json={"to": "bruno"})
    assert moved.status_code == 200, moved.text
    # No longer alice's: gone from her sight, there for bruno.
    assert desks.get("alice", base).status_code == 404
    assert desks.get("bruno", base).json()["assignee"] == "bruno"
    closed = desks.post("bruno", base + "/close")
    assert closed.status_code == 200, closed.text
    assert desks.post("bruno", base + "/close").status_code == 409
    assert desks.post("bruno", base + "/reply", json={"body": "x"}).status_code == 409
    reopened = desks.post("bruno", base + "/reopen")
    assert reopened.status_code == 200, reopened.text
    assert desks.get("bruno", base).json()["status"] != "CLOSED"


def test_closing_on_a_waiting_customer_needs_force(desks: Desks) -> None:
    waiting = next(
        row for row in desks.queue("bruno", "view=mine&status=needs_reply") if row["unanswered"]
    )
    path = f"/agent/v1/conversations/{waiting['id']}/close"
    refused = desks.post("bruno", path)
    assert refused.status_code == 409 and "force" in error(refused)["detail"]
    assert desks.post("bruno", path, json={"force": "yes"}).status_code == 400
    assert desks.post("bruno", path, json={"force": True}).status_code == 200


def test_take_by_an_agent_outside_the_inbox_is_404_and_transfer_checks_its_target(
    desks: Desks,
) -> None:
    billing = next(
        row["id"] for row in desks.queue("dana", "view=unassigned") if row["inbox"] != "Chat"
    )
    assert desks.post("alice", f"/agent/v1/conversations/{billing}/take").status_code == 404
    number = unassigned_chat(desks)
    base = f"/agent/v1/conversations/{number}"
    for body, attr in (
        ({}, "to"),
        ({"to": "nobody"}, "to"),
        ({"inbox": "Nowhere"}, "inbox"),
        ({"to": 5}, "to"),
        ({"to": "x" * 33}, "to"),
        ([], None),
    ):
        answer = desks.post("dana", base + "/transfer", json=body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["errors"][0]["attr"] == attr
    assert desks.get("dana", base).json()["assignee"] is None


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"body": ""},
        {"body": 5},
        {"body": "x" * 5000},
        {"body": "hi", "extra": 1},
        "just text",
    ],
)
def test_hostile_replies_are_400_and_write_nothing(desks: Desks, body: Any) -> None:
    number = unassigned_chat(desks)
    path = f"/agent/v1/conversations/{number}"
    before = desks.get("dana", path + "/items").json()["items"]
    answer = desks.post("dana", path + "/reply", json=body)
    assert answer.status_code == 400, answer.text
    assert desks.get("dana", path + "/items").json()["items"] == before


def test_a_malformed_json_body_is_400(desks: Desks) -> None:
    number = unassigned_chat(desks)
    answer = desks.client.post(
        f"/agent/v1/conversations/{number}/reply",
        content=b'{"body": ',
        headers={**bearer(desks.tokens["dana"]), "Content-Type": "application/json"},
    )
    assert answer.status_code == 400 and error(answer)["code"] == "invalid_json"


# -- tokens -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer gda_nope",
        "Bearer " + "gda_" + "A" * 5000,
        "Basic Z2RhX25vcGU6eA==",
        "Bearer gda_\x00\u202e",
    ],
)
def test_a_missing_or_wrong_token_is_401(desks: Desks, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    try:
        answer = desks.client.get("/agent/v1/me", headers=headers)
    except UnicodeEncodeError:
        return  # a header httpx will not send is one no client can
    assert answer.status_code == 401
    assert error(answer)["code"] == "unauthorized"
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_widget_session_token_is_not_an_agent_token(desks: Desks) -> None:
    session = desks.client.post("/widget/v1/sessions", json={"appId": "retale"})
    token = session.json()["token"]
    assert desks.client.get("/agent/v1/me", headers=bearer(token)).status_code == 401


def test_disabling_revokes_at_once_and_enabling_does_not_bring_the_token_back(
    desks: Desks,
) -> None:
    assert desks.get("bruno", "/agent/v1/me").status_code == 200
    with Desk.open(desks.db, create=False) as desk:  # another process, as the CLI would be
        DeskAdmin(desk).disable_agent("bruno")
    assert desks.get("bruno", "/agent/v1/me").status_code == 401
    with Desk.open(desks.db, create=False) as desk:
        DeskAdmin(desk).enable_agent("bruno")
    assert desks.get("bruno", "/agent/v1/me").status_code == 401
    with Desk.open(desks.db, create=False) as desk:
        fresh = DeskAdmin(desk).issue_token("bruno")
    assert desks.client.get("/agent/v1/me", headers=bearer(fresh)).status_code == 200


def test_a_rotated_token_stops_and_its_successor_works(desks: Desks) -> None:
    old = desks.tokens["alice"]
    with Desk.open(desks.db, create=False) as desk:
        new = DeskAdmin(desk).issue_token("alice", rotate=True)
    assert desks.client.get("/agent/v1/me", headers=bearer(old)).status_code == 401
    assert desks.client.get("/agent/v1/me", headers=bearer(new)).status_code == 200


def test_a_role_change_applies_from_the_next_request(desks: Desks) -> None:
    hidden = next(row["id"] for row in desks.queue("dana") if row["assignee"] == "bruno")
    assert desks.get("alice", f"/agent/v1/conversations/{hidden}").status_code == 404
    with Desk.open(desks.db, create=False) as desk:
        DeskAdmin(desk).set_agent("alice", {"role": "admin"})
    assert desks.get("alice", f"/agent/v1/conversations/{hidden}").status_code == 200


def test_failed_logins_are_limited_but_the_right_token_still_works(desks: Desks) -> None:
    answers = [desks.client.get("/agent/v1/me", headers=bearer(f"gda_guess{n}")) for n in range(12)]
    statuses = [a.status_code for a in answers]
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
    assert int(answers[-1].headers["Retry-After"]) > 0
    assert error(answers[-1])["code"] == "rate_limited"
    assert desks.get("alice", "/agent/v1/me").status_code == 200
    assert desks.get("alice", "/agent/v1/queue").status_code == 200


# -- the admin API with an agent's token ------------------------------------------------------


def test_an_admin_agents_token_opens_the_admin_api_and_an_agents_does_not(desks: Desks) -> None:
    assert desks.get("dana", "/api/v1/audit?limit=1").status_code == 200
    refused = desks.get("alice", "/api/v1/audit?limit=1")
    assert refused.status_code == 403 and error(refused)["code"] == "forbidden"
    assert desks.client.get("/api/v1/audit", headers=bearer("gda_nope")).status_code == 401


def test_the_openapi_document_describes_the_agent_api(desks: Desks) -> None:
    schema = desks.client.get("/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/agent/v1/me",
        "/agent/v1/agents",
        "/agent/v1/inboxes",
        "/agent/v1/queue",
        "/agent/v1/queue/directory",
        "/agent/v1/conversations/{conversation_id}",
        "/agent/v1/conversations/{conversation_id}/items",
        "/agent/v1/conversations/{conversation_id}/take",
        "/agent/v1/profiles/{profile_id}",
        "/agent/v1/search",
        "/agent/v1/events",
    ):
        assert path in paths, path
    queue = paths["/agent/v1/queue"]["get"]
    assert queue["security"] == [{"agentToken": []}]
    assert queue["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/QueueOut"
    )
    assert "agentToken" in schema["components"]["securitySchemes"]
    # Every model has a name of its own (no clash with the admin API's left to FastAPI).
    assert not [name for name in schema["components"]["schemas"] if "__" in name]
