"""The trust window: TRUSTED lapses to CLAIMED when its window ends or its key is retired."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from core.engine.access import Access, live_session
from core.store import Desk, Row, Tx, widget_sessions

if TYPE_CHECKING:
    from core.identity import Keyring


class TrustWindow:
    """Ends trust: on the timer (`expire_trust`, `revoke_retired_trust`) and, before any use of
    a session, when it is found over (`refresh`)."""

    def __init__(self, desk: Desk, keyring: Callable[[], Keyring], access: Access) -> None:
        self.desk = desk
        self.keyring = keyring  # loaded on first use: the verifier pulls in PyJWT
        self.access = access

    def refresh(self, conn: Tx, row: Row, now: int) -> Row:
        """The session as it is at `now`: a window that ended or a retired key is written as
        ended first."""
        if row["identity_state"] != "TRUSTED":
            return row
        if (row["trusted_until"] or 0) <= now:
            self.lapse(conn, row, now)
        elif row["trusted_kid"] is not None and self.keyring().is_retired(row["trusted_kid"]):
            self.end(conn, row, now, revoked_kid=row["trusted_kid"])
        else:
            return row
        return live_session(conn, row["id"])

    def lapse(self, conn: Tx, row: Row, now: int) -> bool:
        if row["identity_state"] != "TRUSTED" or (row["trusted_until"] or 0) > now:
            return False
        self.end(conn, row, now)
        return True

    def end(self, conn: Tx, row: Row, now: int, *, revoked_kid: str | None = None) -> None:
        """TRUSTED -> CLAIMED: the window ended, or the key that gave the trust was retired."""
        if revoked_kid is None:
            event = "trust_expired"
            body = (
                "Trust window ended; new messages are not verified until the customer logs in again"
            )
        else:
            event = "trust_revoked"
            body = (
                f"The signing key {revoked_kid!r} that verified this customer was retired;"
                " new messages are not verified until the customer logs in again"
            )
        self.access.identity_event(
            conn,
            row["conversation_id"],
            event=event,
            body=body,
            session_id=row["id"],
            identity_state="CLAIMED",
        )
        widget_sessions.end_trust(conn, row["id"], now)
        widget_sessions.revoke_trusted(conn, row["id"])
        self.desk.emit("session.expired", at=now, session_id=row["id"])

    def expire_trust(self) -> list[str]:
        """Lapse every session whose trust window ended; returns their ids.

        Each gets a `trust_expired` timeline event and an `identity:expired` widget event.
        """
        now = self.desk.clock.now_ms()
        with self.desk.reading() as conn:
            due = widget_sessions.trust_ended(conn, now)
        expired = []
        for session_id in due:
            with self.desk.transaction() as conn:
                row = widget_sessions.get(conn, session_id)
                if row is not None and self.lapse(conn, row, now):
                    expired.append(session_id)
        return expired

    def revoke_retired_trust(self) -> list[str]:
        """End the trust of every session trusted through a key retired since; returns their
        ids. Each gets a `trust_revoked` timeline event and an `identity:expired` widget event.
        """
        with self.desk.reading() as conn:
            kids = widget_sessions.trusting_kids(conn)
        revoked = []
        for kid in kids:
            if not self.keyring().is_retired(kid):
                continue
            with self.desk.reading() as conn:
                trusted = widget_sessions.trusted_by(conn, kid)
            for session_id in trusted:
                with self.desk.transaction() as conn:
                    row = live_session(conn, session_id)
                    if row["identity_state"] == "TRUSTED":
                        self.end(conn, row, self.desk.clock.now_ms(), revoked_kid=kid)
                        revoked.append(session_id)
        return revoked
