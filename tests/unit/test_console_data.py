"""The console's data interface (`core.console.ConsoleData`): one set of assertions, run
against every backend that implements it.

`BACKENDS` names how each is built on a desk (the demo desk, on SQLite and on PostgreSQL):
the local one, and the remote one (the agent API over HTTP, core/console/remote.py) talking
to a server on the same desk. The remote console's agent is made an admin, so that both see
the same queues (an agent's narrower view is the agent API's, tested in
tests/unit/test_agent_api.py and tests/unit/test_console_remote.py). Another writer on the
desk (`other`) stands for customers and colleagues in other processes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import pytest

from core.console.data import (
    HIT_END,
    HIT_START,
    MAX_PAGE,
    ConsoleData,
    InvalidQuery,
    QueueQuery,
    QueueRow,
    decode_cursor,
    encode_cursor,
)
from core.console.local import LocalConsoleData
from core.console.remote import RemoteConsoleData
from core.engine import Engine
from core.errors import Conflict, DeskError, NotFound
from core.report import AuthReport
from core.setup.admin import DeskAdmin
from core.store import Desk
from tests.console_helpers import frozen_clock
from tests.unit.test_web_events import serving
from tests.web_helpers import DeskAt

#: Alice's open conversation with Diego Fischer, verified (demo desk).
TRUSTED_OPEN = 384
#: Bruno's open conversation, the customer waiting for a reply.
BRUNOS_OPEN = 370
#: A closed conversation of a customer with no open one.
CLOSED = 2
MISSING = 999_999

Builder = Callable[[DeskAt, str], ConsoleData]
#: How a backend is built: on the desk, as the agent, with the servers started so far.
Maker = Callable[[DeskAt, str, contextlib.ExitStack], ConsoleData]


def _local(location: DeskAt, agent: str, _: contextlib.ExitStack) -> ConsoleData:
    return LocalConsoleData.open(location, agent=agent, clock=frozen_clock())


def _remote(location: DeskAt, agent: str, servers: contextlib.ExitStack) -> ConsoleData:
    url = getattr(servers, "url", None)
    if url is None:
        # No engine tick: a server's tick hands waiting chats out on its own (timers,
        # routing), which the local backend's desk does only when asked.
        url = servers.enter_context(serving(location, clock=frozen_clock(), tick_s=3600))
        servers.url = url  # type: ignore[attr-defined]
    with Desk.open(location, create=False) as desk:
        admin = DeskAdmin(desk)
        admin.set_agent(agent, {"role": "admin"})
        token = admin.issue_token(agent)
    return RemoteConsoleData.open(url, token, agent=agent)


BACKENDS: dict[str, Maker] = {"local": _local, "remote": _remote}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def build(backend: str, demo_db: DeskAt) -> Iterator[Builder]:
    opened: list[ConsoleData] = []
    with contextlib.ExitStack() as servers:

        def make(location: DeskAt, agent: str) -> ConsoleData:
            data = BACKENDS[backend](location, agent, servers)
            opened.append(data)
            return data

        yield make
        for data in opened:
            data.close()


@pytest.fixture
def data(build: Builder, demo_db: DeskAt) -> ConsoleData:
    """Alice's console."""
    return build(demo_db, "alice")


@pytest.fixture
def other(demo_db: DeskAt) -> Iterator[Engine]:
    desk = Desk.open(demo_db, clock=frozen_clock(), create=False)
    yield Engine(desk)
    desk.close()


def walk(data: ConsoleData, query: QueueQuery, limit: int = 64) -> list[QueueRow]:
    """Every row of a queue, page after page by the pages' own cursors."""
    rows: list[QueueRow] = []
    cursor: str | None = None
    for _ in range(10_000):
        page = data.queue_page(query, after=cursor, limit=limit)
        rows += page.rows
        if page.next is None:
            return rows
        assert page.rows, "a page with a next cursor has rows"
        cursor = page.next
    raise AssertionError("the pages never ended")


def one_line(error: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(error.value)
    assert text and "\n" not in text
    return text


# -- who and where ------------------------------------------------------------------------------


def test_the_agent_their_colleagues_and_the_inboxes(data: ConsoleData) -> None:
    me = data.me()
    assert (data.agent, me.handle, me.name) == ("alice", "alice", "Alice Moreau")
    assert (me.open_conversations, me.capacity, me.available, me.disabled) == (6, 8, True, False)
    agents = data.agents()
    assert [a.handle for a in agents] == ["alice", "bruno", "chen", "dana", "emil"]
    assert next(a for a in agents if a.handle == "emil").open_conversations == 0
    assert data.inboxes() == ["Chat", "Returns", "Billing"]


def test_an_unknown_or_disabled_agent_gets_no_console(
    build: Builder, demo_db: DeskAt, other: Engine, backend: str
) -> None:
    if backend == "remote":
        pytest.skip("over the network a console signs in with a token: test_console_remote.py")
    with pytest.raises(NotFound, match="no agent 'zed'") as error:
        build(demo_db, "zed")
    assert "alice" in one_line(error)
    bruno = build(demo_db, "bruno")
    DeskAdmin(other.desk).disable_agent("bruno")
    assert bruno.me().disabled  # an open console learns it from its own record
    with pytest.raises(Conflict, match="agent 'bruno' is disabled") as refused:
        build(demo_db, "bruno")
    one_line(refused)


# -- the queue ----------------------------------------------------------------------------------


def test_pages_by_cursor_and_the_directory_list_the_same_queue(data: ConsoleData) -> None:
    query = QueueQuery(view="all", status="all")
    rows = walk(data, query)
    assert len(rows) == 384 and len({r.id for r in rows}) == 384
    assert [r.key for r in rows] == sorted(r.key for r in rows)  # longest wait first
    assert [r.id for r in walk(data, query, limit=50)] == [r.id for r in rows]
    directory = data.queue_directory(query, every=64)
    assert (directory.total, directory.every, len(directory.starts)) == (384, 64, 6)
    paged: list[QueueRow] = []
    for number in range(len(directory.starts)):
        start = directory.start(number)
        assert start is not None
        paged += data.queue_page(query, after=start, limit=64).rows
    assert [r.id for r in paged] == [r.id for r in rows]
    assert directory.start(6) is None and directory.start(-1) is None


def test_a_snapshot_reads_the_directory_and_the_pages_wanted(data: ConsoleData) -> None:
    query = QueueQuery(view="all", status="all")
    snapshot = data.queue_snapshot(query, directory=None, pages=[0, 2, 9], every=64)
    directory = data.queue_directory(query, every=64)
    assert snapshot.directory == directory
    assert snapshot.directory_seconds is not None and snapshot.directory_seconds >= 0
    assert sorted(snapshot.pages) == [0, 2]  # page 9 is past the end
    for number, rows in snapshot.pages.items():
        expected = data.queue_page(query, after=directory.start(number), limit=64).rows
        assert rows == expected
    again = data.queue_snapshot(query, directory=directory, pages=[5], every=64)
    assert again.directory is directory and again.directory_seconds is None
    assert len(again.pages[5]) == 384 - 5 * 64


def test_views_and_filters_choose_the_rows(data: ConsoleData) -> None:
    def rows(**query: str) -> list[QueueRow]:
        return walk(data, QueueQuery(**query))  # type: ignore[arg-type]

    assert {r.assignee for r in rows(view="mine", status="all")} == {"alice"}
    assert len(rows(view="mine")) == 6
    assert {r.inbox for r in rows(view="inbox", inbox="Returns", status="all")} == {"Returns"}
    assert {r.status for r in rows(view="all")} == {"OPEN", "WAITING"}
    assert {r.status for r in rows(view="all", status="needs_reply")} == {"OPEN"}
    assert {r.status for r in rows(view="all", status="replied")} == {"WAITING"}
    assert {r.status for r in rows(view="all", status="closed")} == {"CLOSED"}
    trusted = rows(view="all", status="all", trust="trusted")
    untrusted = rows(view="all", status="all", trust="untrusted")
    assert trusted and all(r.last_customer_trusted for r in trusted)
    assert untrusted and not any(r.last_customer_trusted for r in untrusted)
    assert len(trusted) + len(untrusted) == 384
    assert rows(view="unassigned", status="all") == []
    assert data.queue_directory(QueueQuery(view="unassigned"), every=64).total == 0


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"view": "nope"}, "unknown view 'nope'"),
        ({"view": "inbox"}, "give an inbox name with the inbox view"),
        ({"view": "mine", "inbox": "Chat"}, "give an inbox name with the inbox view"),
        ({"view": "inbox", "inbox": ""}, "1 to 40 characters"),
        ({"view": "inbox", "inbox": "x" * 41}, "1 to 40 characters"),
        ({"status": "OPEN"}, "unknown status 'OPEN'"),
        ({"trust": "maybe"}, "trust must be one of trusted, untrusted"),
    ],
)
def test_a_bad_query_is_one_clear_line(query: dict[str, str], words: str) -> None:
    with pytest.raises(InvalidQuery, match=words) as error:
        QueueQuery(**query)  # type: ignore[arg-type]
    one_line(error)


HOSTILE_CURSORS = [
    "",
    "not a cursor!",
    "x" * 65,
    "MTIz",  # "123": no dot
    encode_cursor((1, 2)) + "=",
    "LTEuMg",  # "-1.2"
    "MS4yOw",  # "1.2;"
    "OTk5OTk5OTk5OTk5OTk5OTk5OS4x",  # a number past 64 bits
    "MS4yIE9SIDE9MQ",  # "1.2 OR 1=1"
    "\u00e9t\u00e9",
]


@pytest.mark.parametrize("cursor", HOSTILE_CURSORS)
def test_a_cursor_not_from_the_desk_is_refused(data: ConsoleData, cursor: str) -> None:
    with pytest.raises(InvalidQuery, match="not a cursor from this desk") as error:
        data.queue_page(QueueQuery(view="all"), after=cursor)
    one_line(error)


def test_cursors_round_trip_and_limits_are_checked(data: ConsoleData) -> None:
    assert decode_cursor(encode_cursor((1_795_000_000_000, 42))) == (1_795_000_000_000, 42)
    for limit in (0, -1, MAX_PAGE + 1):
        with pytest.raises(InvalidQuery, match="page size"):
            data.queue_page(QueueQuery(view="all"), limit=limit)
    with pytest.raises(NotFound, match="Nowhere"):
        data.queue_page(QueueQuery(view="inbox", inbox="Nowhere"))


# -- a conversation -----------------------------------------------------------------------------


def test_the_conversation_its_banner_facts_and_the_profile_pane(data: ConsoleData) -> None:
    view = data.conversation(TRUSTED_OPEN)
    assert (view.status, view.assignee, view.assignee_name) == ("OPEN", "alice", "Alice Moreau")
    assert (view.profile.name, view.identity_state, view.identity_source) == (
        "Diego Fischer",
        "TRUSTED",
        "jwt",
    )
    assert view.last_customer_trusted is True and view.trusted_until is not None
    past = data.past_conversations(view.profile.id, exclude=TRUSTED_OPEN)
    assert [p.id for p in past] == [139]
    assert (past[0].status, past[0].trust_path) == ("CLOSED", "after_routing")
    assert [p.id for p in data.past_conversations(view.profile.id)] == [TRUSTED_OPEN, 139]
    with pytest.raises(NotFound, match=f"conversation {MISSING}"):
        data.conversation(MISSING)


def test_timeline_pages_by_item_id(data: ConsoleData) -> None:
    longest = max(walk(data, QueueQuery(view="all", status="all")), key=lambda r: r.item_count)
    assert longest.item_count > 6
    everything = data.timeline(longest.id, limit=1000)
    assert len(everything.items) == longest.item_count
    ids = [item.id for item in everything.items]
    assert ids == sorted(ids)
    latest = data.timeline(longest.id, limit=3)
    assert [i.id for i in latest.items] == ids[-3:]
    assert latest.status == longest.status
    walked = list(latest.items)  # back to the first, a page at a time
    while True:
        older = data.timeline(longest.id, before=walked[0].id, limit=3).items
        if not older:
            break
        walked = list(older) + walked
    assert [i.id for i in walked] == ids
    newer = data.timeline(longest.id, after=ids[1], limit=2).items
    assert [i.id for i in newer] == ids[2:4]
    assert data.timeline(longest.id, after=ids[-1]).items == ()


def test_each_customer_message_carries_its_trusted_flag(data: ConsoleData) -> None:
    page = data.timeline(TRUSTED_OPEN)
    customer = [i for i in page.items if i.sender == "customer"]
    assert customer and all(i.trusted is True and i.glyph == "green" for i in customer)
    closed = data.timeline(CLOSED)
    assert closed.status == "CLOSED"
    for item in closed.items:
        if item.sender == "customer":
            assert item.trusted is not None
            assert item.glyph == ("gray" if item.trusted else None)
        else:
            assert item.trusted is None and item.glyph is None


def test_bad_timeline_reads_are_refused(data: ConsoleData) -> None:
    with pytest.raises(NotFound, match=f"no conversation {MISSING}"):
        data.timeline(MISSING)
    with pytest.raises(InvalidQuery, match="not both"):
        data.timeline(TRUSTED_OPEN, before=10, after=5)
    with pytest.raises(InvalidQuery, match="page size"):
        data.timeline(TRUSTED_OPEN, limit=MAX_PAGE + 1)


# -- search and the report ----------------------------------------------------------------------


def test_search_finds_customers_and_messages(data: ConsoleData) -> None:
    hits = data.search_customers("Diego", limit=10)
    diego = next(h for h in hits if h.name == "Diego Fischer")
    assert (diego.latest_conversation_id, diego.latest_status, diego.matched) == (
        TRUSTED_OPEN,
        "OPEN",
        "name",
    )
    assert data.search_customers("diego.fischer@", limit=10)[0].id == diego.id
    messages = data.search_messages("refunds", limit=5)
    assert messages and all(HIT_START in m.snippet and HIT_END in m.snippet for m in messages)
    assert all(m.item_id is not None for m in messages)
    assert data.search_messages("!!", limit=5) == []
    with pytest.raises(InvalidQuery, match="320 characters"):
        data.search_messages("x" * 321, limit=5)


def test_the_authentication_report(data: ConsoleData) -> None:
    report = data.authentication_report()
    assert isinstance(report, AuthReport)
    assert report.conversations == 384 == sum(day.conversations for day in report.days)
    assert 0 < report.authenticated < report.conversations


# -- actions and their refusals -----------------------------------------------------------------


def unchanged(data: ConsoleData, conversation_id: int) -> Callable[[], None]:
    """A check that a refused action wrote nothing to the conversation."""
    before = (data.conversation(conversation_id), data.timeline(conversation_id))

    def check() -> None:
        assert (data.conversation(conversation_id), data.timeline(conversation_id)) == before

    return check


def test_a_reply_and_a_login_prompt_are_written_as_the_agent(data: ConsoleData) -> None:
    item = data.reply(TRUSTED_OPEN, "  On it, Diego.  ")
    last = data.timeline(TRUSTED_OPEN).items[-1]
    assert (last.id, last.sender, last.agent, last.body) == (
        item,
        "agent",
        "alice",
        "On it, Diego.",
    )
    assert data.conversation(TRUSTED_OPEN).status == "WAITING"
    prompt = data.send_login_prompt(TRUSTED_OPEN)
    assert prompt > item and data.timeline(TRUSTED_OPEN, after=item).items


def test_refused_replies_change_nothing(data: ConsoleData) -> None:
    check = unchanged(data, CLOSED)
    with pytest.raises(Conflict, match=f"conversation {CLOSED} is closed; reopen it first"):
        data.reply(CLOSED, "Hello again")
    with pytest.raises(Conflict, match="is closed"):
        data.send_login_prompt(CLOSED)
    check()
    check = unchanged(data, TRUSTED_OPEN)
    for body, words in (("   ", "empty"), ("x" * 5000, "over the limit"), ("a\x1b[2Jb", "")):
        with pytest.raises(DeskError, match=words or None) as error:
            data.reply(TRUSTED_OPEN, body)
        one_line(error)
    check()
    with pytest.raises(NotFound, match=f"conversation {MISSING}"):
        data.reply(MISSING, "Hello")


def test_take_what_is_taken_and_transfers(
    data: ConsoleData, build: Builder, demo_db: DeskAt
) -> None:
    check = unchanged(data, BRUNOS_OPEN)
    with pytest.raises(Conflict, match="already assigned to bruno; ask them to transfer"):
        data.take(BRUNOS_OPEN)
    check()
    with pytest.raises(Conflict, match="already yours"):
        data.take(TRUSTED_OPEN)
    data.transfer(TRUSTED_OPEN, to_inbox="Returns")  # to an inbox alone: it waits unassigned
    view = data.conversation(TRUSTED_OPEN)
    assert (view.assignee, view.inbox) == (None, "Returns")
    assert [r.id for r in walk(data, QueueQuery(view="unassigned"))] == [TRUSTED_OPEN]
    bruno = build(demo_db, "bruno")
    bruno.take(TRUSTED_OPEN)
    with pytest.raises(Conflict, match="already assigned to bruno"):
        data.take(TRUSTED_OPEN)
    bruno.transfer(TRUSTED_OPEN, to_agent="alice")
    assert data.conversation(TRUSTED_OPEN).assignee == "alice"
    check = unchanged(data, TRUSTED_OPEN)
    with pytest.raises(NotFound, match="zed"):
        data.transfer(TRUSTED_OPEN, to_agent="zed")
    with pytest.raises(NotFound, match="Nowhere"):
        data.transfer(TRUSTED_OPEN, to_inbox="Nowhere")
    with pytest.raises(DeskError, match="name an agent or an inbox"):
        data.transfer(TRUSTED_OPEN)
    with pytest.raises(Conflict, match="already there"):
        data.transfer(TRUSTED_OPEN, to_agent="alice")
    check()


def test_close_asks_for_force_and_reopen_only_what_is_closed(data: ConsoleData) -> None:
    assert data.conversation(BRUNOS_OPEN).customer_waiting
    check = unchanged(data, BRUNOS_OPEN)
    with pytest.raises(Conflict, match="the customer is waiting for a reply"):
        data.close_conversation(BRUNOS_OPEN)
    with pytest.raises(Conflict, match=f"conversation {BRUNOS_OPEN} is not closed"):
        data.reopen_conversation(BRUNOS_OPEN)
    check()
    data.close_conversation(BRUNOS_OPEN, force=True)
    assert data.conversation(BRUNOS_OPEN).status == "CLOSED"
    with pytest.raises(Conflict, match="is closed"):
        data.close_conversation(BRUNOS_OPEN)
    data.reopen_conversation(BRUNOS_OPEN)
    assert data.conversation(BRUNOS_OPEN).status == "WAITING"
    with pytest.raises(NotFound, match=f"conversation {MISSING}"):
        data.reopen_conversation(MISSING)


# -- live changes -------------------------------------------------------------------------------


def noticed(data: ConsoleData, timeout: float = 10.0) -> bool:
    """Whether `changed()` says so within `timeout` seconds: a desk that is told of commits
    (PostgreSQL's notifications, a remote stream) hears of one a moment after it."""
    deadline = time.monotonic() + timeout
    while not data.changed():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def arrived(data: ConsoleData, newest: int, timeout: float = 10.0) -> None:
    """Wait until the change `newest` can be read (a stream brings changes one by one)."""
    deadline = time.monotonic() + timeout
    while data.last_change_id() < newest:
        assert time.monotonic() < deadline, f"change {newest} never arrived"
        time.sleep(0.01)


def test_changes_are_noticed_and_read_after_an_id(data: ConsoleData, other: Engine) -> None:
    assert data.changed()  # the first check: read once, to learn where the desk is
    assert not data.changed() and not data.changed()
    first = data.last_change_id()
    assert data.changes_after(first, limit=10) == []
    session = other.init_session("retale").session_id
    other.set_user(session, name="Nora New", email="nora.new@example.com")
    chat = other.send_message(session, "Hello from the website").conversation_id
    newest = other.desk.last_event_id()
    assert noticed(data)
    arrived(data, newest)
    batch = data.changes_after(first, limit=2)
    assert len(batch) == 2 and first < batch[0].id < batch[1].id
    rest = data.changes_after(batch[-1].id, limit=1000)
    changes = batch + rest
    assert [c.id for c in changes] == sorted({c.id for c in changes})
    assert changes[-1].id == data.last_change_id()
    assert any(c.conversation_id == chat and c.kind == "conversation.created" for c in changes)
    data.reply(chat, "Hi Nora")  # the console's own action is a change too
    assert noticed(data)
    arrived(data, other.desk.last_event_id())
    mine = data.changes_after(changes[-1].id, limit=1000)
    assert any(c.conversation_id == chat and c.kind == "item.created" for c in mine)


def test_a_new_chat_reaches_the_queue_pages(data: ConsoleData, other: Engine) -> None:
    query = QueueQuery(view="all")
    before = data.queue_directory(query, every=64)
    session = other.init_session("retale").session_id
    other.set_user(session, name="Nora New", email="nora.new@example.com")
    chat = other.send_message(session, "Is my parcel lost?").conversation_id
    after = data.queue_directory(query, every=64)
    assert after.total == before.total + 1
    row = next(r for r in walk(data, query) if r.id == chat)
    assert (row.customer, row.last_preview, row.status) == (
        "Nora New",
        "Is my parcel lost?",
        "OPEN",
    )


def test_closing_twice_is_safe(build: Builder, demo_db: DeskAt) -> None:
    data = build(demo_db, "alice")
    assert data.changed()
    data.queue_snapshot(QueueQuery(view="all"), directory=None, pages=[0], every=64)
    data.close()
    data.close()
