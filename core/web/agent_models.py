"""What the agent API (`/agent/v1`, docs/agent-api.md) takes and answers: typed models, so
`/openapi.json` describes every body, and the conversions from the desk's own values.

Times are ISO 8601 UTC strings (`core.clock.iso`); ids are numbers; names are camelCase like
the admin API's.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from core.clock import iso
from core.engine.agent_access import AgentProfile
from core.engine.hooks import MAX_MESSAGE_CHARS
from core.models import ConversationView, PastConversation, ProfileView, RejectionNote
from core.store.profiles import ProfileHit
from core.store.queue import QueueRow
from core.store.search import HIT_END, HIT_START, MessageHit
from core.web.admin_api import ItemOut

# -- requests ---------------------------------------------------------------------------------


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ReplyRequest(Strict):
    # The length is checked by the engine, whose refusal says how long the message was
    # (the console shows it); the schema still says the limit.
    body: str = Field(min_length=1, json_schema_extra={"maxLength": MAX_MESSAGE_CHARS})


class TransferRequest(Strict):
    #: The handle of the agent to hand the conversation to.
    to: str | None = Field(default=None, min_length=1, max_length=32)
    #: The inbox to move it to (with no `to`, it waits there unassigned).
    inbox: str | None = Field(default=None, min_length=1, max_length=40)


class CloseRequest(Strict):
    #: Close even though the customer is waiting for a reply.
    force: bool = False


# -- answers ----------------------------------------------------------------------------------


class MeOut(BaseModel):
    id: int
    handle: str
    name: str
    role: Literal["agent", "admin"]
    capacity: int
    available: bool
    #: Open conversations assigned to them now.
    openConversations: int
    #: The inboxes whose unassigned conversations they see and may take.
    inboxes: list[str]
    #: True when they work every inbox (no inbox listed for them).
    everyInbox: bool
    #: The change feed's newest id now: open `/events?after=` it to follow from here.
    lastEventId: int
    #: The desk's time now (waiting times are counted on it; a demo desk runs behind).
    now: str


class AgentOut(BaseModel):
    """A colleague, as the console's transfer list shows them."""

    id: int
    handle: str
    name: str
    available: bool
    openConversations: int
    capacity: int
    disabled: bool


class AgentsOut(BaseModel):
    #: Every agent, by handle.
    agents: list[AgentOut]


class InboxesOut(BaseModel):
    #: Every inbox's name, in creation order (transfer targets).
    inboxes: list[str]


class QueueRowOut(BaseModel):
    id: int
    status: Literal["OPEN", "WAITING", "CLOSED"]
    inbox: str
    #: The handle of the agent who has it; null: unassigned.
    assignee: str | None
    profileId: int
    customer: str
    identityState: str
    identitySource: str
    #: The latest customer message, shortened, and whether it was trusted (the ✔ mark).
    lastPreview: str
    lastCustomerTrusted: bool | None
    glyph: Literal["green", "gray"] | None
    #: The customer wrote last and waits for a reply (the console's "needs reply").
    unanswered: bool
    waitingSince: str | None
    updatedAt: str | None
    #: Held for the customer to log in: not routed to anyone yet.
    held: bool
    #: When it was routed to an agent or the queue; null while held.
    routedAt: str | None
    itemCount: int
    #: Its place in queue order (longest-waiting first).
    queueKey: int


class QueueOut(BaseModel):
    rows: list[QueueRowOut]
    #: Pass as `?after=` for the next page; null on the last page.
    next: str | None


class QueueDirectoryOut(BaseModel):
    #: Rows in the queue now.
    total: int
    #: Rows a page of the directory holds.
    every: int
    #: Where page `n` starts: pass `starts[n]` as `/queue?after=` (with `limit=every`).
    starts: list[str]
    #: The rows of the pages asked for with `pages=`, by page number (one snapshot with
    #: the count).
    pages: dict[int, list[QueueRowOut]]


class RejectionNoteOut(BaseModel):
    at: str | None
    code: str
    kid: str | None


class CustomerOut(BaseModel):
    id: int
    name: str
    emails: list[str]
    phoneNumbers: list[str]


class ConversationOut(BaseModel):
    id: int
    status: Literal["OPEN", "WAITING", "CLOSED"]
    inbox: str
    assignee: str | None
    assigneeName: str | None
    customer: CustomerOut
    appId: str | None
    identityState: str
    identitySource: str
    trustPath: str | None
    authenticatedAt: str | None
    createdAt: str | None
    updatedAt: str | None
    routedAt: str | None
    waitingSince: str | None
    unanswered: bool
    lastCustomerTrusted: bool | None
    tags: list[str]
    claimedName: str | None
    trustedUntil: str | None
    #: The latest tokens rejected in its live sessions, newest first.
    rejections: list[RejectionNoteOut]


class ItemsOut(BaseModel):
    status: Literal["OPEN", "WAITING", "CLOSED"]
    #: Oldest first. Each customer message carries its stored `trusted` flag and the `glyph`
    #: the console draws: green (trusted, conversation open), gray (trusted, closed), null.
    items: list[ItemOut]
    #: Whether there are more items beyond this page in the direction read (older for the
    #: latest page and `before=`, newer for `after=`).
    more: bool


class PastConversationOut(BaseModel):
    id: int
    status: str
    inbox: str
    createdAt: str | None
    trustPath: str | None
    trustedMessages: int
    customerMessages: int


class ProfilePaneOut(CustomerOut):
    #: Their conversations this agent may see, newest first.
    conversations: list[PastConversationOut]
    rejections: list[RejectionNoteOut]


class ProfileHitOut(BaseModel):
    id: int
    name: str
    emails: list[str]
    phoneNumbers: list[str]
    matched: str
    conversations: int
    latestConversationId: int | None
    latestStatus: str | None


class MessageHitOut(BaseModel):
    conversationId: int
    #: The message to open the conversation at; null for a tag match.
    itemId: int | None
    #: The matched text, plain; `matches` are [start, end) character offsets into it.
    snippet: str
    matches: list[tuple[int, int]]
    customer: str
    status: str
    at: str | None
    sender: str


class SearchOut(BaseModel):
    profiles: list[ProfileHitOut]
    messages: list[MessageHitOut]


class ActionOut(BaseModel):
    conversationId: int
    #: The timeline item the action wrote (reply, login prompt); null for the others.
    itemId: int | None = None


# -- conversions ------------------------------------------------------------------------------


def queue_row_out(row: QueueRow) -> QueueRowOut:
    return QueueRowOut(
        id=row.id,
        status=row.status,  # type: ignore[arg-type]
        inbox=row.inbox,
        assignee=row.assignee,
        profileId=row.profile_id,
        customer=row.customer,
        identityState=row.identity_state,
        identitySource=row.identity_source,
        lastPreview=row.last_preview,
        lastCustomerTrusted=row.last_customer_trusted,
        glyph=row.glyph,
        unanswered=row.customer_waiting,
        waitingSince=iso(row.waiting_since),
        updatedAt=iso(row.updated_at),
        held=row.held,
        routedAt=iso(row.routed_at),
        itemCount=row.item_count,
        queueKey=row.queue_key,
    )


def rejections_out(notes: tuple[RejectionNote, ...]) -> list[RejectionNoteOut]:
    return [RejectionNoteOut(at=iso(n.at), code=n.code, kid=n.kid) for n in notes]


def customer_out(profile: ProfileView) -> CustomerOut:
    return CustomerOut(
        id=profile.id,
        name=profile.name,
        emails=list(profile.emails),
        phoneNumbers=list(profile.phones),
    )


def conversation_out(view: ConversationView) -> ConversationOut:
    return ConversationOut(
        id=view.id,
        status=view.status,  # type: ignore[arg-type]
        inbox=view.inbox,
        assignee=view.assignee,
        assigneeName=view.assignee_name,
        customer=customer_out(view.profile),
        appId=view.app_id,
        identityState=view.identity_state,
        identitySource=view.identity_source,
        trustPath=view.trust_path,
        authenticatedAt=iso(view.authenticated_at),
        createdAt=iso(view.created_at),
        updatedAt=iso(view.updated_at),
        routedAt=iso(view.routed_at),
        waitingSince=iso(view.waiting_since),
        unanswered=view.customer_waiting,
        lastCustomerTrusted=view.last_customer_trusted,
        tags=list(view.tags),
        claimedName=view.claimed_name,
        trustedUntil=iso(view.trusted_until),
        rejections=rejections_out(view.rejections),
    )


def past_out(past: PastConversation) -> PastConversationOut:
    return PastConversationOut(
        id=past.id,
        status=past.status,
        inbox=past.inbox,
        createdAt=iso(past.created_at),
        trustPath=past.trust_path,
        trustedMessages=past.trusted_messages,
        customerMessages=past.customer_messages,
    )


def profile_out(found: AgentProfile) -> ProfilePaneOut:
    base = customer_out(found.profile)
    return ProfilePaneOut(
        **base.model_dump(),
        conversations=[past_out(p) for p in found.conversations],
        rejections=rejections_out(found.rejections),
    )


def profile_hit_out(hit: ProfileHit) -> ProfileHitOut:
    return ProfileHitOut(
        id=hit.id,
        name=hit.name,
        emails=list(hit.emails),
        phoneNumbers=list(hit.phones),
        matched=hit.matched,
        conversations=hit.conversations,
        latestConversationId=hit.latest_conversation_id,
        latestStatus=hit.latest_status,
    )


def plain_snippet(marked: str) -> tuple[str, list[tuple[int, int]]]:
    """A search snippet without its HIT_START/HIT_END marks, and where the marks were."""
    text: list[str] = []
    matches: list[tuple[int, int]] = []
    start: int | None = None
    length = 0
    for ch in marked:
        if ch == HIT_START:
            start = length
        elif ch == HIT_END:
            if start is not None:
                matches.append((start, length))
            start = None
        else:
            text.append(ch)
            length += 1
    return "".join(text), matches


def message_hit_out(hit: MessageHit) -> MessageHitOut:
    snippet, matches = plain_snippet(hit.snippet)
    return MessageHitOut(
        conversationId=hit.conversation_id,
        itemId=hit.item_id,
        snippet=snippet,
        matches=matches,
        customer=hit.customer,
        status=hit.status,
        at=iso(hit.at),
        sender=hit.sender,
    )
