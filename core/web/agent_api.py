"""The agent API (`/agent/v1`, docs/agent-api.md): what the console does, over HTTP, for an
agent signed in with their personal access token (`Authorization: Bearer`, from `gladdesk
agents token`).

The token is looked up on every request, and what the agent may see is decided by the engine
(`core.engine.agent_access`): a conversation they may not see answers 404 on every route, as
an id no conversation has. Their actions are the engine's own, as the token's agent (never
a body field), with its refusals mapped to 409 (conflict), 404 and 400 (bad input).
The event stream is in `core.web.agent_events`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from core.clock import iso
from core.console.data import QUEUE_STATUSES
from core.cursors import encode_cursor, parse_cursor, start_cursor
from core.engine import AgentScope
from core.errors import DeskError, NotFound
from core.store import Desk
from core.store.agent_accounts import AgentAccount
from core.store.directory import agents, inboxes
from core.store.queue import MAX_PAGE as MAX_EVERY
from core.store.queue import QueueFilter, QueueKey, queue_index, queue_page
from core.web.admin_api import MAX_ID, item_out, report_answer
from core.web.agent_models import (
    ActionOut,
    AgentOut,
    AgentsOut,
    CloseRequest,
    ConversationOut,
    InboxesOut,
    ItemsOut,
    MeOut,
    ProfilePaneOut,
    QueueDirectoryOut,
    QueueOut,
    QueueRowOut,
    ReplyRequest,
    SearchOut,
    TransferRequest,
    conversation_out,
    message_hit_out,
    profile_hit_out,
    profile_out,
    queue_row_out,
)
from core.web.auth import agent_of
from core.web.errors import ApiError, api_error_from_desk
from core.web.state import WebState, web_state

router = APIRouter(prefix="/agent/v1", tags=["agent"])

#: Rows or items one page holds at most; a larger `limit` is cut to this.
MAX_PAGE = 200
#: Search hits of each kind, by default and at most.
SEARCH_HITS = 20
MAX_SEARCH_HITS = 50
#: Pages one directory read may also return.
MAX_DIRECTORY_PAGES = 8
#: The smallest page a directory counts in: a 100,000-row queue is then at most 10,000
#: starts in one answer.
MIN_EVERY = 10
TOKEN: dict[str, Any] = {"security": [{"agentToken": []}]}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "bad input"},
    401: {"description": "missing, unknown or revoked agent token"},
    404: {"description": "no such conversation, or not one this agent may see"},
    429: {"description": "too many failed logins (Retry-After)"},
}
ACTION_ERRORS = ERRORS | {409: {"description": "the engine refused: taken, closed, ..."}}

ConversationId = Annotated[int, Path(ge=1, le=MAX_ID)]


@dataclass(frozen=True, slots=True)
class AgentCall:
    """A request of the agent API: the server, the token's agent and what they may see."""

    state: WebState
    account: AgentAccount
    scope: AgentScope

    async def run(self, fn: Callable[..., Any], *args: Any, attr: str | None = None) -> Any:
        """A desk call; a refusal becomes the error envelope (naming `attr` when given)."""
        try:
            return await self.state.call(fn, *args)
        except DeskError as exc:
            raise api_error_from_desk(exc, attr=attr) from None

    async def scan(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A long read (`WebState.scan`: `fn(reader, *args)`); a refusal becomes the error
        envelope."""
        try:
            return await self.state.scan(fn, *args)
        except DeskError as exc:
            raise api_error_from_desk(exc) from None

    async def named(self, lookup: Callable[[str], int], name: str, attr: str) -> int:
        """The id of an agent or inbox named in the request; an unknown name is bad input
        (400 naming `attr`), not a missing conversation."""
        try:
            return await self.state.call(lookup, name)  # type: ignore[no-any-return]
        except NotFound as exc:
            raise ApiError(400, "invalid", str(exc), attr=attr) from None

    async def act(self, conversation_id: int, action: Callable[[], Any]) -> Any:
        """An engine action on a conversation the agent may see (one transaction with that
        check); widget streams are woken at once."""
        access = self.state.engine.agent_access
        try:
            return await self.run(access.act, self.scope, conversation_id, action)
        finally:
            self.state.hub.poke()


async def agent_call(request: Request) -> AgentCall:
    account = await agent_of(request)
    state = web_state(request)
    scope = await state.call(state.engine.agent_access.scope, account)
    return AgentCall(state, account, scope)


Agent = Annotated[AgentCall, Depends(agent_call)]


# -- cursors ----------------------------------------------------------------------------------


def decode_cursor(cursor: str) -> QueueKey:
    """The key a `next` cursor stands for; 400 for anything else."""
    key = parse_cursor(cursor, largest=MAX_ID)
    if key is None:
        raise ApiError(
            400,
            "invalid",
            "not a cursor from this API; pass the `next` of the page before, or leave it out",
            attr="after",
        )
    return key


# -- who am I ---------------------------------------------------------------------------------


@router.get("/me", response_model=MeOut, openapi_extra=TOKEN, responses=ERRORS)
async def me(call: Agent) -> MeOut:
    """The token's agent: handle, name, role, capacity, availability and inboxes; and where
    the change feed and the desk's clock are now (what a console starts from)."""
    desk = call.state.desk

    def read() -> MeOut:
        last_event_id = desk.last_event_id()
        entry = next(a for a in agents(desk) if a.id == call.account.id)
        worked = call.scope.inbox_ids
        names = [name for number, name in inboxes(desk) if worked is None or number in worked]
        return MeOut(
            id=entry.id,
            handle=entry.handle,
            name=entry.name,
            role=call.account.role,  # type: ignore[arg-type]
            capacity=entry.capacity,
            available=entry.available,
            openConversations=entry.open_conversations,
            inboxes=names,
            everyInbox=worked is None,
            lastEventId=last_event_id,
            now=iso(desk.clock.now_ms()) or "",
        )

    return await call.run(read)  # type: ignore[no-any-return]


@router.get("/agents", response_model=AgentsOut, openapi_extra=TOKEN, responses=ERRORS)
async def agent_list(call: Agent) -> AgentsOut:
    """Every agent by handle, with their load and availability: whom a conversation may be
    transferred to."""

    def read() -> AgentsOut:
        return AgentsOut(
            agents=[
                AgentOut(
                    id=a.id,
                    handle=a.handle,
                    name=a.name,
                    available=a.available,
                    openConversations=a.open_conversations,
                    capacity=a.capacity,
                    disabled=a.disabled,
                )
                for a in agents(call.state.desk)
            ]
        )

    return await call.run(read)  # type: ignore[no-any-return]


@router.get("/inboxes", response_model=InboxesOut, openapi_extra=TOKEN, responses=ERRORS)
async def inbox_list(call: Agent) -> InboxesOut:
    """Every inbox's name in creation order: where a conversation may be transferred (the
    queue views show only those the agent works, `/me`'s `inboxes`)."""

    def read() -> InboxesOut:
        return InboxesOut(inboxes=[name for _, name in inboxes(call.state.desk)])

    return await call.run(read)  # type: ignore[no-any-return]


# -- the queue --------------------------------------------------------------------------------


View = Literal["mine", "unassigned", "all", "inbox"]
Status = Literal["active", "needs_reply", "replied", "closed", "all"]
Trust = Literal["trusted", "untrusted"]
InboxName = Annotated[str | None, Query(min_length=1, max_length=40)]


async def queue_filter(
    call: Agent,
    view: View = "mine",
    inbox: InboxName = None,
    status: Status = "active",
    trust: Trust | None = None,
) -> QueueFilter:
    """The queue a request names (`view`, `inbox`, `status`, `trust`), cut down to what the
    agent may see: the queue routes' shared parameters."""
    if (view == "inbox") != (inbox is not None):
        raise ApiError(
            400, "invalid", "give inbox=NAME with view=inbox, and only then", attr="inbox"
        )
    inbox_id = None
    if inbox is not None:
        inbox_id = await call.named(call.state.engine.inbox_id, inbox, "inbox")
    wanted = QueueFilter(
        agent_id=call.account.id if view == "mine" else None,
        inbox_id=inbox_id,
        unassigned=view == "unassigned",
        statuses=QUEUE_STATUSES[status],
        trust=trust,
    )
    return call.scope.queue(wanted)


WantedQueue = Annotated[QueueFilter, Depends(queue_filter)]


@router.get("/queue", response_model=QueueOut, openapi_extra=TOKEN, responses=ERRORS)
async def queue(
    call: Agent,
    wanted: WantedQueue,
    after: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, description=f"at most {MAX_PAGE}; more is cut")] = 50,
) -> QueueOut:
    """A page of a queue in queue order (longest-waiting customers first), as the console's
    queue list shows it. `view`: `mine`, `unassigned`, `all` or `inbox` (with `inbox=NAME`);
    for an agent every view holds only what they may see. `after`: the `next` of the page
    before."""
    start = decode_cursor(after) if after is not None else None
    size = min(limit, MAX_PAGE)

    def read() -> QueueOut:
        rows = queue_page(call.state.desk, wanted, after=start, limit=size + 1)
        page = rows[:size]
        more = len(rows) > size
        return QueueOut(
            rows=[queue_row_out(row) for row in page],
            next=encode_cursor(page[-1].key) if more else None,
        )

    return await call.run(read)  # type: ignore[no-any-return]


@router.get(
    "/queue/directory", response_model=QueueDirectoryOut, openapi_extra=TOKEN, responses=ERRORS
)
async def queue_directory(
    call: Agent,
    wanted: WantedQueue,
    every: Annotated[int, Query(ge=MIN_EVERY, le=MAX_EVERY)] = 64,
    pages: Annotated[
        str | None,
        Query(
            max_length=100,
            pattern=r"^[0-9]{1,9}(,[0-9]{1,9})*$",
            description=f"page numbers to return too, comma-separated (at most"
            f" {MAX_DIRECTORY_PAGES})",
        ),
    ] = None,
) -> QueueDirectoryOut:
    """How many rows a queue has and where each page of `every` rows starts (a scroll bar
    over the whole queue), with the rows of the pages asked for, in one snapshot: what the
    console reads when the queue changes."""
    numbers = sorted({int(n) for n in pages.split(",")}) if pages else []
    if len(numbers) > MAX_DIRECTORY_PAGES:
        raise ApiError(400, "invalid", f"ask for at most {MAX_DIRECTORY_PAGES} pages", attr="pages")

    def read(desk: Desk) -> QueueDirectoryOut:
        rows: dict[int, list[QueueRowOut]] = {}
        with desk.reading():
            index = queue_index(desk, wanted, every=every)
            for number in numbers:
                if number < len(index.anchors):
                    key, row_id = index.anchors[number]
                    found = queue_page(desk, wanted, after=(key, row_id - 1), limit=every)
                    rows[number] = [queue_row_out(row) for row in found]
        return QueueDirectoryOut(
            total=index.total,
            every=index.every,
            starts=[start_cursor(anchor) for anchor in index.anchors],
            pages=rows,
        )

    # One index scan of the whole queue: on the server's reader connection.
    return await call.scan(read)  # type: ignore[no-any-return]


# -- conversations ----------------------------------------------------------------------------


@router.get(
    "/conversations/{conversation_id}",
    response_model=ConversationOut,
    openapi_extra=TOKEN,
    responses=ERRORS,
)
async def conversation(call: Agent, conversation_id: ConversationId) -> ConversationOut:
    """The conversation as the console's conversation screen and banner show it."""
    access = call.state.engine.agent_access
    view = await call.run(access.conversation, call.scope, conversation_id, attr="conversation_id")
    return conversation_out(view)


@router.get(
    "/conversations/{conversation_id}/items",
    response_model=ItemsOut,
    openapi_extra=TOKEN,
    responses=ERRORS,
)
async def conversation_items(
    call: Agent,
    conversation_id: ConversationId,
    after: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, description=f"at most {MAX_PAGE}; more is cut")] = 100,
) -> ItemsOut:
    """A page of the timeline, oldest first: the latest items, or those just `before` an
    item id (older), or just `after` one (newer)."""
    if after is not None and before is not None:
        raise ApiError(400, "invalid", "give after or before, not both", attr="before")
    size = min(limit, MAX_PAGE)
    access = call.state.engine.agent_access

    def read() -> ItemsOut:
        status, items = access.timeline(
            call.scope, conversation_id, before_id=before, after_id=after, limit=size + 1
        )
        more = len(items) > size
        page = items[:size] if after is not None else items[-size:]
        return ItemsOut(status=status, items=[item_out(i) for i in page], more=more)  # type: ignore[arg-type]

    return await call.run(read, attr="conversation_id")  # type: ignore[no-any-return]


@router.get(
    "/profiles/{profile_id}", response_model=ProfilePaneOut, openapi_extra=TOKEN, responses=ERRORS
)
async def profile(call: Agent, profile_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> ProfilePaneOut:
    """The profile pane: who the customer is, their conversations this agent may see, and
    the tokens their open chats' sessions had rejected. 404 when the agent may see none of
    their conversations."""
    access = call.state.engine.agent_access
    found = await call.run(access.profile, call.scope, profile_id, attr="profile_id")
    return profile_out(found)


@router.get("/search", response_model=SearchOut, openapi_extra=TOKEN, responses=ERRORS)
async def search(
    call: Agent,
    q: Annotated[str, Query(min_length=1, max_length=320)],
    limit: Annotated[int, Query(ge=1, le=MAX_SEARCH_HITS)] = SEARCH_HITS,
) -> SearchOut:
    """Customers by name, email or phone, and messages and tags by their words (what the
    console's search finds), only in conversations this agent may see: up to `limit` of
    each."""
    access = call.state.engine.agent_access
    profiles, messages = await call.run(lambda: access.search(call.scope, q, limit=limit), attr="q")
    return SearchOut(
        profiles=[profile_hit_out(hit) for hit in profiles],
        messages=[message_hit_out(hit) for hit in messages],
    )


@router.get("/reports/authentication", openapi_extra=TOKEN, responses=ERRORS)
async def authentication_report(
    call: Agent,
    since: Annotated[str | None, Query(max_length=40)] = None,
    until: Annotated[str | None, Query(max_length=40)] = None,
) -> dict[str, Any]:
    """The authentication report (docs/reports.md), as the admin API's: `?since=&until=`."""
    return await report_answer(call.state, since, until)


# -- actions ----------------------------------------------------------------------------------


def _action(path: str, status_code: int = 200) -> Callable[[Any], Any]:
    return router.post(
        f"/conversations/{{conversation_id}}/{path}",
        response_model=ActionOut,
        status_code=status_code,
        openapi_extra=TOKEN,
        responses=ACTION_ERRORS,
    )


@_action("reply", 201)
async def reply(call: Agent, conversation_id: ConversationId, payload: ReplyRequest) -> ActionOut:
    """Reply to the customer (the conversation becomes yours when it had no agent)."""
    engine = call.state.engine
    item_id = await call.act(
        conversation_id, lambda: engine.reply(conversation_id, call.account.handle, payload.body)
    )
    return ActionOut(conversationId=conversation_id, itemId=item_id)


@_action("login-prompt", 201)
async def login_prompt(call: Agent, conversation_id: ConversationId) -> ActionOut:
    """Send the app's login link, recorded as a login prompt."""
    engine = call.state.engine
    item_id = await call.act(
        conversation_id, lambda: engine.send_login_prompt(conversation_id, call.account.handle)
    )
    return ActionOut(conversationId=conversation_id, itemId=item_id)


@_action("take")
async def take(call: Agent, conversation_id: ConversationId) -> ActionOut:
    """Take an unassigned conversation; 409 naming who has it when someone was first."""
    access = call.state.engine.agent_access
    try:
        await call.run(access.take, call.scope, conversation_id, attr="conversation_id")
    finally:
        call.state.hub.poke()
    return ActionOut(conversationId=conversation_id)


@_action("transfer")
async def transfer(
    call: Agent, conversation_id: ConversationId, payload: TransferRequest
) -> ActionOut:
    """Hand the conversation to another agent (`to`) and/or inbox (`inbox`)."""
    if payload.to is None and payload.inbox is None:
        raise ApiError(
            400,
            "required",
            "transfer: name an agent or an inbox to transfer to (to: a handle, inbox: a name)",
            attr="to",
        )
    engine = call.state.engine
    if payload.to is not None:
        await call.named(engine.agent_id, payload.to, "to")
    if payload.inbox is not None:
        await call.named(engine.inbox_id, payload.inbox, "inbox")
    await call.act(
        conversation_id,
        lambda: engine.transfer(
            conversation_id, call.account.handle, to_agent=payload.to, to_inbox=payload.inbox
        ),
    )
    return ActionOut(conversationId=conversation_id)


@_action("close")
async def close(
    call: Agent,
    conversation_id: ConversationId,
    payload: CloseRequest | None = None,
) -> ActionOut:
    """Close; a customer waiting for a reply needs `{"force": true}` (else 409)."""
    engine = call.state.engine
    force = payload.force if payload is not None else False
    await call.act(
        conversation_id, lambda: engine.close(conversation_id, call.account.handle, force=force)
    )
    return ActionOut(conversationId=conversation_id)


@_action("reopen")
async def reopen(call: Agent, conversation_id: ConversationId) -> ActionOut:
    """Reopen a closed conversation (409 when the customer has another open one)."""
    engine = call.state.engine
    await call.act(conversation_id, lambda: engine.reopen(conversation_id, call.account.handle))
    return ActionOut(conversationId=conversation_id)
