"""Keyset queue and timeline pages, page directories and profile search (core/store/queue.py, timeline.py, profiles.py)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.clock import ManualClock
from core.errors import NotFound
from core.store import Desk, queue_key
from core.store.profiles import search_profiles
from core.store.queue import InvalidQuery, QueueFilter, queue_count, queue_index, queue_page
from core.store.timeline import timeline_page
from tests.helpers import one_row, seed_desk

STATUSES = ("OPEN", "WAITING", "CLOSED")


@pytest.fixture
def big_desk(tmp_path: Path) -> Iterator[Desk]:
    """600 conversations over 3 agents and 3 inboxes, with many equal queue keys."""
    desk = Desk.open(tmp_path / "q.db", clock=ManualClock(1_795_000_000_000))
    seed_desk(desk)
    rng = random.Random(7)
    with desk.transaction() as conn:
        for n in range(1, 201):
            conn.execute(
                "INSERT INTO profiles (id, name, created_at) VALUES (?, ?, 0)",
                (n, f"{rng.choice(['Julie', 'Ana', 'Bo_b', 'Zoë', '100% Real'])} Person{n}"),
            )
            conn.execute(
                "INSERT INTO profile_emails (email, profile_id) VALUES (?, ?)",
                (f"p{n}@example.com", n),
            )
            conn.execute(
                "INSERT INTO profile_phones (phone, profile_id) VALUES (?, ?)",
                (f"+4420790{n:05d}", n),
            )
        for n in range(1, 601):
            status = rng.choice(STATUSES)
            updated = 1_000 + rng.randrange(50)  # many ties: order falls back to id
            waiting = updated if status == "OPEN" and rng.random() < 0.7 else None
            trusted = rng.choice([None, 0, 1])
            conn.execute(
                "INSERT INTO conversations (id, profile_id, inbox_id, assignee_id, status,"
                " created_at, updated_at, waiting_since, queue_key, last_customer_trusted)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    n,
                    rng.randrange(1, 201),
                    rng.randrange(1, 4),
                    rng.choice([1, 2, 3, None]),
                    status,
                    updated,
                    updated,
                    waiting,
                    queue_key(waiting, updated),
                    trusted,
                ),
            )
    yield desk
    desk.close()


def brute_force(desk: Desk, queue: QueueFilter) -> list[int]:
    rows = desk.query("SELECT * FROM conversations")
    keep = []
    for row in rows:
        if row["status"] not in queue.statuses:
            continue
        if queue.agent_id is not None and row["assignee_id"] != queue.agent_id:
            continue
        if queue.inbox_id is not None and row["inbox_id"] != queue.inbox_id:
            continue
        trusted = row["last_customer_trusted"] == 1
        if queue.trust == "trusted" and not trusted:
            continue
        if queue.trust == "untrusted" and trusted:
            continue
        keep.append((row["queue_key"], row["id"]))
    return [conversation_id for _, conversation_id in sorted(keep)]


FILTERS = [
    QueueFilter(),
    QueueFilter(statuses=STATUSES),
    QueueFilter(statuses=("CLOSED",)),
    QueueFilter(statuses=("OPEN",), agent_id=2),
    QueueFilter(agent_id=1),
    QueueFilter(inbox_id=3, statuses=STATUSES),
    QueueFilter(agent_id=3, inbox_id=2, statuses=("WAITING", "CLOSED")),
    QueueFilter(trust="trusted", statuses=STATUSES),
    QueueFilter(trust="untrusted"),
]


@pytest.mark.parametrize("queue", FILTERS, ids=lambda q: repr(q))
def test_walking_pages_forward_gives_queue_order(big_desk: Desk, queue: QueueFilter) -> None:
    expected = brute_force(big_desk, queue)
    seen: list[int] = []
    page = queue_page(big_desk, queue, limit=17)
    while page:
        seen += [row.id for row in page]
        page = queue_page(big_desk, queue, after=page[-1].key, limit=17)
    assert seen == expected
    assert queue_count(big_desk, queue) == len(expected)


@pytest.mark.parametrize("queue", FILTERS[:4], ids=lambda q: repr(q))
def test_walking_pages_backward_and_directory(big_desk: Desk, queue: QueueFilter) -> None:
    expected = brute_force(big_desk, queue)
    index = queue_index(big_desk, queue, every=10)
    assert index.total == len(expected)
    assert [key[1] for key in index.anchors] == expected[::10]
    for page_number in range(len(index.anchors)):
        rows = queue_page(big_desk, queue, start=index.anchor(page_number), limit=10)
        assert [r.id for r in rows] == expected[page_number * 10 : page_number * 10 + 10]
    seen: list[int] = []
    page = queue_page(big_desk, queue, before=(1 << 62, 0), limit=13)
    while page:
        seen = [row.id for row in page] + seen
        page = queue_page(big_desk, queue, before=page[0].key, limit=13)
    assert seen == expected


def test_rows_carry_what_the_queue_shows(big_desk: Desk) -> None:
    row = queue_page(big_desk, QueueFilter(statuses=STATUSES), limit=1)[0]
    stored = one_row(big_desk, "SELECT * FROM conversations WHERE id = ?", (row.id,))
    assert row.status == stored["status"]
    assert row.inbox in ("Chat", "Returns", "Billing")
    assert row.glyph == (
        None
        if not stored["last_customer_trusted"]
        else ("gray" if stored["status"] == "CLOSED" else "green")
    )


def test_queue_pages_use_indexes_not_a_sort(big_desk: Desk) -> None:
    for queue in FILTERS:
        for where, params in queue.runs():
            plan = " ".join(
                str(r[3])
                for r in big_desk.query(
                    "EXPLAIN QUERY PLAN SELECT c.id FROM conversations c WHERE "
                    + where
                    + " AND (c.queue_key, c.id) > (?, ?) ORDER BY c.queue_key, c.id LIMIT 5",
                    (*params, 0, 0),
                )
            )
            assert "USING" in plan and "INDEX" in plan, plan
            assert "TEMP B-TREE" not in plan, plan


@pytest.mark.parametrize(
    "kwargs",
    [
        {"statuses": ()},
        {"statuses": ("OPEN", "OPEN")},
        {"statuses": ("open",)},
        {"statuses": ("OPEN'; DROP TABLE items; --",)},
        {"trust": "yes"},
        {"agent_id": "1"},
        {"agent_id": True},
        {"inbox_id": 1.5},
    ],
)
def test_bad_filters_are_refused(kwargs: dict) -> None:
    with pytest.raises(InvalidQuery):
        QueueFilter(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"limit": 0},
        {"limit": 10**6},
        {"limit": True},
        {"after": (1, "2")},
        {"after": (1,)},
        {"start": [1, 2]},
        {"after": (1, 2), "before": (3, 4)},
    ],
)
def test_bad_page_arguments_are_refused(big_desk: Desk, kwargs: dict) -> None:
    before = one_row(big_desk, "SELECT count(*) FROM conversations")[0]
    with pytest.raises(InvalidQuery):
        queue_page(big_desk, QueueFilter(), **kwargs)
    assert one_row(big_desk, "SELECT count(*) FROM conversations")[0] == before


def _add_items(desk: Desk, conversation_id: int, count: int) -> list[int]:
    ids = []
    with desk.transaction() as conn:
        for n in range(count):
            trusted = n % 2
            cursor = conn.execute(
                "INSERT INTO items (conversation_id, type, sender, body, at, trusted)"
                " VALUES (?, 'message', 'customer', ?, ?, ?)",
                (conversation_id, f"message {n}", 1000 + n, trusted),
            )
            ids.append(int(cursor.lastrowid or 0))
    return ids


def test_timeline_pages_from_the_end_and_by_keyset(big_desk: Desk) -> None:
    ids = _add_items(big_desk, 5, 45)
    _add_items(big_desk, 6, 3)  # interleaved conversation must not leak in
    status, latest = timeline_page(big_desk, 5, limit=20)
    assert [i.id for i in latest] == ids[-20:]
    _, older = timeline_page(big_desk, 5, before_id=latest[0].id, limit=20)
    assert [i.id for i in older] == ids[5:25]
    _, newer = timeline_page(big_desk, 5, after_id=ids[39], limit=20)
    assert [i.id for i in newer] == ids[40:]
    expected_glyph = "gray" if status == "CLOSED" else "green"
    assert {i.glyph for i in latest if i.trusted} == {expected_glyph}
    assert {i.glyph for i in latest if not i.trusted} == {None}


def test_timeline_page_refuses_bad_input(big_desk: Desk) -> None:
    with pytest.raises(NotFound):
        timeline_page(big_desk, 99_999)
    for kwargs in ({"limit": 0}, {"before_id": "1"}, {"before_id": 1, "after_id": 2}):
        with pytest.raises(InvalidQuery):
            timeline_page(big_desk, 5, **kwargs)
    with pytest.raises(InvalidQuery):
        timeline_page(big_desk, "5")  # type: ignore[arg-type]


def test_search_by_name_email_and_phone(big_desk: Desk) -> None:
    by_email = search_profiles(big_desk, "P17@EXAMPLE.com")
    assert [h.id for h in by_email][:1] == [17] and by_email[0].matched == "email"
    by_phone = search_profiles(big_desk, "+44 20790 00017")
    assert by_phone[0].id == 17 and by_phone[0].matched == "phone"
    by_name = search_profiles(big_desk, "person17", limit=50)
    assert 17 in [h.id for h in by_name]
    assert all("person17" in h.name.lower() for h in by_name)
    hit = by_name[[h.id for h in by_name].index(17)]
    assert hit.emails == ("p17@example.com",)


def test_search_wildcards_are_literal(big_desk: Desk) -> None:
    assert all("%" in h.name for h in search_profiles(big_desk, "100%", limit=50))
    assert all("_" in h.name for h in search_profiles(big_desk, "Bo_", limit=50))
    assert search_profiles(big_desk, "%") == [] or all(
        "%" in h.name for h in search_profiles(big_desk, "%")
    )


@pytest.mark.parametrize("text", ["", "   ", "'; DROP TABLE profiles; --", "\x00", "[green]✔[/]"])
def test_search_hostile_text_finds_nothing_and_changes_nothing(big_desk: Desk, text: str) -> None:
    before = one_row(big_desk, "SELECT count(*) FROM profiles")[0]
    assert search_profiles(big_desk, text) == []
    assert one_row(big_desk, "SELECT count(*) FROM profiles")[0] == before


def test_search_refuses_non_text_and_huge_input(big_desk: Desk) -> None:
    with pytest.raises(InvalidQuery):
        search_profiles(big_desk, None)
    with pytest.raises(InvalidQuery):
        search_profiles(big_desk, "a" * 10_000)


def test_search_finds_a_part_of_an_email(big_desk: Desk) -> None:
    by_domain = search_profiles(big_desk, "@EXAMPLE.com", limit=500)
    assert len(by_domain) == 200 and {h.matched for h in by_domain} == {"email"}
    by_local_part = search_profiles(big_desk, "p17@")
    assert by_local_part[0].id == 17
    without_at = search_profiles(big_desk, "17@example")  # no @ first: a part of an address
    assert 17 in [h.id for h in without_at] and all("17@example" in h.emails[0] for h in without_at)
    assert search_profiles(big_desk, "%@") == []  # wildcards stay literal


def test_search_finds_a_phone_by_a_part_or_in_national_form(big_desk: Desk) -> None:
    # stored +442079000017; typed as in the UK (trunk 0), with the 00 call prefix, or a part
    for typed in ("020 79000017", "0044 20 7900 0017", "79000017"):
        hits = search_profiles(big_desk, typed)
        assert [h.id for h in hits][:1] == [17], typed
        assert hits[0].matched == "phone"
    part = search_profiles(big_desk, "00017", limit=50)
    assert 17 in [h.id for h in part]
    assert all("00017" in h.phones[0] for h in part if h.matched == "phone")
    # under four digits only the start of a number matches (+017... is none)
    assert [h for h in search_profiles(big_desk, "017") if h.matched == "phone"] == []
