"""`GET /agent/v1/events` against a real uvicorn server in a thread: each agent's stream holds
only what they may see, resumes after `Last-Event-ID` with no gap and no repeat, ends with
`revoked` when the token is revoked or replaced, and counts under the stream caps.

Changes come through a second `Desk` on the same file, as a console or the CLI in another
process would make them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from core.engine import Engine
from core.engine.text import hash_token
from core.setup import DeskAdmin
from core.store import Desk
from core.store.agent_accounts import account_by_token_hash
from core.web.hub import MAX_STREAMS_PER_SESSION
from tests.unit.test_agent_api import add_unassigned
from tests.unit.test_web_events import WAIT_S, Stream, serving

PATH = "/agent/v1/events"


@dataclass
class Served:
    url: str
    engine: Engine
    tokens: dict[str, str]
    #: An open conversation of alice's, and one of bruno's.
    alices: int
    brunos: int

    def stream(self, who: str, last_event_id: int | None = None) -> Stream:
        return Stream(self.url, self.tokens[who], last_event_id, path=PATH)

    def get(self, who: str, path: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        return httpx.get(self.url + path, headers=headers, timeout=WAIT_S)


def open_of(desk: Desk, handle: str) -> int:
    row = desk.query_one(
        "SELECT c.id FROM conversations c JOIN agents a ON a.id = c.assignee_id"
        " WHERE a.handle = ? AND c.status != 'CLOSED' ORDER BY c.id LIMIT 1",
        (handle,),
    )
    assert row is not None
    return int(row[0])


@pytest.fixture
def served(demo_db: Path) -> Iterator[Served]:
    desk = Desk.open(demo_db, create=False)
    add_unassigned(desk, "pat.chat@example.com")
    admin = DeskAdmin(desk)
    admin.set_agent("alice", {"inboxes": ["Chat"]})
    admin.set_agent("dana", {"role": "admin"})
    tokens = {handle: admin.issue_token(handle) for handle in ("alice", "bruno", "dana")}
    try:
        with serving(demo_db) as url:
            yield Served(url, Engine(desk), tokens, open_of(desk, "alice"), open_of(desk, "bruno"))
    finally:
        desk.close()


def test_each_agent_streams_only_what_they_may_see(served: Served) -> None:
    alice, dana = served.stream("alice"), served.stream("dana")
    served.engine.reply(served.brunos, "bruno", "for bruno's customer")
    seen_by_dana = dana.next("item.created")
    assert seen_by_dana.data["conversationId"] == served.brunos and seen_by_dana.id
    served.engine.reply(served.alices, "alice", "for alice's customer")
    mine = alice.next("item.created")
    assert mine.data["conversationId"] == served.alices and mine.id is not None
    # Whom the change concerns, as the change feed says (the console re-reads a profile
    # pane by its customer).
    (row,) = served.engine.desk.events_after(mine.id - 1, 1)
    assert (mine.data["profileId"], mine.data["agentId"]) == (row.profile_id, row.agent_id)
    also = dana.next("item.created")
    assert also.id == mine.id and also.data["profileId"] == row.profile_id
    assert mine.id is not None and mine.id > seen_by_dana.id
    earlier = alice.drain()
    assert all(event.data.get("conversationId") != served.brunos for event in earlier)
    alice.close()
    dana.close()


def test_a_new_inbox_reaches_every_agent_and_a_colleagues_account_change_does_not(
    served: Served,
) -> None:
    alice = served.stream("alice")
    DeskAdmin(served.engine.desk).set_agent("bruno", {"capacity": 3})
    DeskAdmin(served.engine.desk).add_inbox("Priority")
    seen = [alice.next()]
    while seen[-1].kind != "inbox.added":
        seen.append(alice.next())
    assert seen[-1].data["conversationId"] is None
    # bruno's capacity changed first, and is not alice's business.
    assert not [event for event in seen if event.kind.startswith("agent.")]
    alice.close()


def test_a_transferred_conversation_is_said_to_be_hidden_once(served: Served) -> None:
    alice = served.stream("alice")
    served.engine.reply(served.alices, "alice", "one moment")
    alice.next("item.created")
    served.engine.transfer(served.alices, "alice", to_agent="bruno")
    hidden = alice.next("conversation.hidden")
    assert hidden.data == {
        "id": hidden.id,
        "kind": "conversation.hidden",
        "conversationId": served.alices,
    }
    served.engine.reply(served.alices, "bruno", "bruno here")
    served.engine.reply(served.brunos, "bruno", "marker")  # not alice's either
    assert served.get("alice", f"/agent/v1/conversations/{served.alices}").status_code == 404
    alice.close()


def test_last_event_id_resumes_with_no_gap_and_no_repeat(served: Served) -> None:
    alice = served.stream("alice")
    served.engine.reply(served.alices, "alice", "first")
    first = alice.next("item.created")
    alice.close()
    assert first.id is not None
    for n in range(3):  # while no stream is open: hers, and bruno's she must not get
        served.engine.reply(served.alices, "alice", f"later {n}")
        served.engine.reply(served.brunos, "bruno", f"not hers {n}")
    last = served.engine.reply(served.alices, "alice", "last")
    resumed = served.stream("alice", last_event_id=first.id)
    received = []
    while True:
        event = resumed.next()
        received.append(event)
        if event.data.get("itemId") == last:
            break
    resumed.close()
    ids = [event.id for event in received if event.id is not None]
    desk = served.engine.desk
    scope = served.engine.agent_access.scope(
        account_by_token_hash(desk, hash_token(served.tokens["alice"]))  # type: ignore[arg-type]
    )
    rows = [e for e in desk.events_after(first.id, 10_000) if e.id <= ids[-1]]
    visible = served.engine.agent_access.visible_conversations(
        scope, {e.conversation_id for e in rows if e.conversation_id is not None}
    )
    expected = [
        e.id
        for e in rows
        if e.conversation_id in visible
        or (e.kind.startswith("agent.") and e.agent_id == scope.agent_id)
    ]
    assert ids == expected and len(ids) == len(set(ids)) and min(ids) > first.id
    assert served.brunos not in {event.data.get("conversationId") for event in received}
    assert sum(event.kind == "item.created" for event in received) == 4


def test_a_bad_last_event_id_is_400(served: Served) -> None:
    for value in ("abc", "-1", "1.5", str(2**62 + 1)):
        response = httpx.get(
            served.url + PATH,
            headers={"Authorization": f"Bearer {served.tokens['alice']}", "Last-Event-ID": value},
            timeout=WAIT_S,
        )
        assert response.status_code == 400, value
        assert response.json()["errors"][0]["attr"] == "Last-Event-ID"


@pytest.mark.parametrize("how", ["disable", "rotate"])
def test_revoking_the_token_ends_the_open_stream(served: Served, how: str) -> None:
    stream = served.stream("bruno")
    served.engine.reply(served.brunos, "bruno", "hello")
    stream.next("item.created")
    admin = DeskAdmin(served.engine.desk)
    if how == "disable":
        admin.disable_agent("bruno")
    else:
        admin.issue_token("bruno", rotate=True)
    revoked = stream.next("revoked")
    assert "revoked or replaced" in revoked.data["detail"]
    assert stream.ended()
    assert served.get("bruno", "/agent/v1/me").status_code == 401
    assert served.get("bruno", PATH).status_code == 401


def test_one_agent_holds_a_few_streams_then_429(served: Served) -> None:
    streams = [served.stream("dana") for _ in range(MAX_STREAMS_PER_SESSION)]
    refused = served.get("dana", PATH)
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.json()["errors"][0]["code"] == "rate_limited"
    streams.pop().close()
    with httpx.stream(
        "GET",
        served.url + PATH,
        headers={"Authorization": f"Bearer {served.tokens['dana']}"},
        timeout=WAIT_S,
    ) as response:
        assert response.status_code == 200
    for stream in streams:
        stream.close()
