"""Directory lookups: agents, apps, inboxes, customers' names and emails."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import NotFound
from core.store.desk import Desk, Row, Tx


@dataclass(frozen=True, slots=True)
class AgentEntry:
    id: int
    handle: str
    name: str
    available: bool
    #: Open (needs reply or replied) conversations assigned, and how many the agent may hold.
    open_conversations: int = 0
    capacity: int = 0
    #: Disabled by `gladdesk agents disable`: no new chats, no console.
    disabled: bool = False

    @property
    def at_capacity(self) -> bool:
        return self.open_conversations >= self.capacity


def agents(desk: Desk) -> list[AgentEntry]:
    """Every agent with their load, by handle."""
    rows = desk.query(
        "SELECT id, handle, name, available, open_conversations, capacity, disabled FROM agents"
        " ORDER BY handle"
    )
    return [
        AgentEntry(int(r[0]), str(r[1]), str(r[2]), bool(r[3]), int(r[4]), int(r[5]), bool(r[6]))
        for r in rows
    ]


def agents_available(desk: Desk) -> bool:
    """Whether any agent is marked available."""
    row = desk.query_one("SELECT count(*) FROM agents WHERE available = 1")
    return bool(row and row[0])


def app_origins(desk: Desk) -> list[tuple[str, str]]:
    """(app id, `allowed_origins` as stored: a JSON list, unchecked) of every app."""
    return [(str(r[0]), r[1]) for r in desk.query("SELECT app_id, allowed_origins FROM apps")]


def inboxes(desk: Desk) -> list[tuple[int, str]]:
    """(id, name) of every inbox, in creation order."""
    return [(int(r[0]), str(r[1])) for r in desk.query("SELECT id, name FROM inboxes ORDER BY id")]


def customer_name(desk: Desk, conversation_id: int) -> str:
    row = desk.query_one(
        "SELECT p.name FROM conversations c JOIN profiles p ON p.id = c.profile_id WHERE c.id = ?",
        (conversation_id,),
    )
    if row is None:
        raise NotFound(f"no conversation {conversation_id}")
    return str(row[0])


def customer_emails(desk: Desk, limit: int) -> list[tuple[str, str]]:
    """(name, smallest email) of the first `limit` profiles with an email, by profile id."""
    rows = desk.query(
        "SELECT p.name, min(e.email) FROM profiles p JOIN profile_emails e ON e.profile_id = p.id"
        " GROUP BY p.id ORDER BY p.id LIMIT ?",
        (limit,),
    )
    return [(r[0], r[1]) for r in rows]


# -- the engine's lookups ---------------------------------------------------------------------


def app_row(conn: Tx, app_id: str) -> Row | None:
    row: Row | None = conn.execute("SELECT * FROM apps WHERE app_id = ?", (app_id,)).fetchone()
    return row


def app_ids(conn: Tx) -> list[str]:
    """Every configured app id, in the order they were added."""
    return [str(r[0]) for r in conn.execute("SELECT app_id FROM apps")]


def agent_by_handle(conn: Tx, handle: str) -> tuple[int, str] | None:
    """(id, name) of the agent with this handle."""
    row = conn.execute("SELECT id, name FROM agents WHERE handle = ?", (handle,)).fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def agent_handles(conn: Tx) -> list[str]:
    return [str(r[0]) for r in conn.execute("SELECT handle FROM agents ORDER BY handle")]


def agent_row(conn: Tx, agent_id: int) -> Row:
    row: Row = conn.execute("SELECT * FROM agents WHERE id = ?", (agent_id,)).fetchone()
    return row


def free_agents(conn: Tx, inbox_id: int | None = None) -> list[Row]:
    """Available agents with spare capacity, least loaded first (then by id); with
    `inbox_id`, only those who work that inbox (an agent with no inboxes listed works all)."""
    return conn.execute(
        "SELECT a.id, a.handle, a.name FROM agents a"
        " WHERE a.available = 1 AND a.open_conversations < a.capacity"
        " AND (CAST(? AS BIGINT) IS NULL"
        " OR NOT EXISTS (SELECT 1 FROM agent_inboxes m WHERE m.agent_id = a.id)"
        " OR EXISTS (SELECT 1 FROM agent_inboxes m WHERE m.agent_id = a.id AND m.inbox_id = ?))"
        " ORDER BY a.open_conversations, a.id",
        (inbox_id, inbox_id),
    ).fetchall()


def inbox_by_name(conn: Tx, name: str) -> int | None:
    row = conn.execute("SELECT id FROM inboxes WHERE name = ?", (name,)).fetchone()
    return None if row is None else int(row[0])


def inbox_name(conn: Tx, inbox_id: int) -> str:
    return str(conn.execute("SELECT name FROM inboxes WHERE id = ?", (inbox_id,)).fetchone()[0])
