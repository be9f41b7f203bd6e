"""Agent accounts: their role and personal access token (stored only as a hash), and what the
agent API reads of them on every request."""

from __future__ import annotations

from dataclasses import dataclass

from core.store.desk import Desk, Tx

#: The roles an agent may have (the `agents.role` CHECK).
AGENT_ROLES = ("agent", "admin")


@dataclass(frozen=True, slots=True)
class AgentAccount:
    """The agent a token opens, as the agent API needs them."""

    id: int
    handle: str
    name: str
    role: str
    capacity: int
    available: bool
    disabled: bool
    #: The stored hash of the token that found them (compared again by the caller).
    token_hash: str

    @property
    def admin(self) -> bool:
        return self.role == "admin"


def account_by_token_hash(desk: Desk, token_hash: str) -> AgentAccount | None:
    """The agent whose token hashes to `token_hash` (one lookup on the unique index), or
    None. Read on every request: a token revoked a moment ago is refused at once."""
    row = desk.query_one(
        "SELECT id, handle, name, role, capacity, available, disabled, token_hash FROM agents"
        " WHERE token_hash = ?",
        (token_hash,),
    )
    if row is None:
        return None
    return AgentAccount(
        id=int(row[0]),
        handle=str(row[1]),
        name=str(row[2]),
        role=str(row[3]),
        capacity=int(row[4]),
        available=bool(row[5]),
        disabled=bool(row[6]),
        token_hash=str(row[7]),
    )


def worked_inbox_ids(desk: Desk, agent_id: int) -> tuple[int, ...] | None:
    """The ids of the inboxes the agent works, in inbox order; None when they work every
    inbox (no `agent_inboxes` rows)."""
    rows = desk.query(
        "SELECT inbox_id FROM agent_inboxes WHERE agent_id = ? ORDER BY inbox_id", (agent_id,)
    )
    return tuple(int(r[0]) for r in rows) or None


def has_token(conn: Tx, agent_id: int) -> bool:
    row = conn.execute("SELECT token_hash FROM agents WHERE id = ?", (agent_id,)).fetchone()
    return row is not None and row[0] is not None


def set_token(conn: Tx, agent_id: int, token_hash: str, at: int) -> None:
    """Store a new token's hash, replacing (and so revoking) the one before."""
    conn.execute(
        "UPDATE agents SET token_hash = ?, token_created_at = ? WHERE id = ?",
        (token_hash, at, agent_id),
    )


def clear_token(conn: Tx, agent_id: int) -> bool:
    """Revoke the agent's token; False when they had none."""
    cursor = conn.execute(
        "UPDATE agents SET token_hash = NULL, token_created_at = NULL"
        " WHERE id = ? AND token_hash IS NOT NULL",
        (agent_id,),
    )
    return cursor.rowcount > 0
