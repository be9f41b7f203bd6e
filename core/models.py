"""Domain dataclasses the desk hands to its callers (console, server, feed, CLI)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

Glyph = Literal["green", "gray"] | None


def glyph(trusted: bool | int | None, status: str) -> Glyph:
    """The trusted glyph of a customer message (docs/trust-model.md): only from the stored flag."""
    if not trusted:
        return None
    return "gray" if status == "CLOSED" else "green"


@dataclass(frozen=True, slots=True)
class SessionStart:
    """What `Engine.init_session` returns to the widget."""

    session_id: str
    token: str  # secret bearer token for the HTTP widget API; stored only hashed
    app_id: str
    first_message: str
    onboarding_required: bool
    onboarding_identity: str  # "email" or "phone"


@dataclass(frozen=True, slots=True)
class SessionView:
    id: str
    app_id: str
    identity_state: str  # ANONYMOUS | CLAIMED | TRUSTED
    identity_source: str  # none | onboarding_form | set_user | jwt
    profile_id: int | None
    name: str | None
    first_name: str
    trusted_until: int | None
    conversation_id: int | None
    greeting: str | None  # "Hi Julie, ..." once identified
    onboarding_required: bool
    ended: bool
    #: The API user whose credentials started it (a site's backend, the HTTP feed); None for
    #: a customer's widget. Such sessions are not counted against the flood budgets.
    api_user: str | None = None


@dataclass(frozen=True, slots=True)
class SentMessage:
    item_id: int
    conversation_id: int
    trusted: bool
    new_conversation: bool
    assignee: str | None  # agent handle


@dataclass(frozen=True, slots=True)
class TimelineItem:
    id: int
    conversation_id: int
    type: str  # message | event
    sender: str  # customer | agent | bot | system
    event: str | None
    body: str
    at: int
    trusted: bool | None
    glyph: Glyph
    agent: str | None  # handle of the agent who wrote it

    #: The columns `from_row` expects, in order (items `i`, agents `a` left-joined).
    COLUMNS: ClassVar[str] = (
        "i.id, i.conversation_id, i.type, i.sender, i.event, i.body, i.at, i.trusted, a.handle"
    )

    @classmethod
    def from_row(cls, row: Sequence[Any], status: str) -> TimelineItem:
        """An item from a row of `COLUMNS`; its glyph follows the conversation's `status`."""
        trusted = row[7]
        return cls(
            id=row[0],
            conversation_id=row[1],
            type=row[2],
            sender=row[3],
            event=row[4],
            body=row[5],
            at=row[6],
            trusted=None if trusted is None else bool(trusted),
            glyph=glyph(trusted, status),
            agent=row[8],
        )


@dataclass(frozen=True, slots=True)
class ProfileView:
    id: int
    name: str
    emails: tuple[str, ...]
    phones: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PastConversation:
    id: int
    status: str
    inbox: str
    created_at: int
    trust_path: str | None
    trusted_messages: int
    customer_messages: int


@dataclass(frozen=True, slots=True)
class RejectionNote:
    """A token rejected in a live session of the conversation (the console's profile pane)."""

    at: int
    code: str
    kid: str | None


@dataclass(frozen=True, slots=True)
class ConversationView:
    id: int
    status: str
    inbox: str
    assignee: str | None  # agent handle
    assignee_name: str | None
    profile: ProfileView
    app_id: str | None
    identity_state: str
    identity_source: str
    trust_path: str | None
    authenticated_at: int | None
    created_at: int
    updated_at: int
    routed_at: int | None
    waiting_since: int | None
    last_customer_trusted: bool | None
    tags: tuple[str, ...] = field(default_factory=tuple)
    #: The name the customer's session gave (a claim), when it is not a signed one.
    claimed_name: str | None = None
    #: While TRUSTED: when the trust window of its last trusted session ends.
    trusted_until: int | None = None
    #: The latest tokens rejected in its live sessions, newest first (why it is not verified).
    rejections: tuple[RejectionNote, ...] = ()

    @property
    def customer_waiting(self) -> bool:
        return self.waiting_since is not None and self.status != "CLOSED"


@dataclass(frozen=True, slots=True)
class WidgetEvent:
    """One thing the widget receives: message:received, conversation:started, ..."""

    id: int  # the change-feed id; pass it back as `after` to resume
    kind: str
    data: dict


def identity_state_at(identity_state: str, trusted_until: int | None, now: int, status: str) -> str:
    """A conversation's identity state as of `now`: an open one's TRUSTED ends with its trust
    window even before a process running the desk's timers writes the lapse; a closed one
    keeps the state it closed with."""
    if (
        identity_state == "TRUSTED"
        and status != "CLOSED"
        and trusted_until is not None
        and trusted_until <= now
    ):
        return "CLAIMED"
    return identity_state
