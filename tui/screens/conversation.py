"""The conversation screen: identity banner, timeline, profile pane and composer.

Reads and actions run in thread workers that call the console's data interface
(`core.console.ConsoleData`) and post messages back; the one
`Worker.StateChanged` handler of the app reports their errors. Live updates append new items
and refresh the banner without moving focus or touching the draft in the composer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Input

from core.console.data import (
    MAX_MESSAGE_CHARS,
    AgentEntry,
    ConversationView,
    Event,
    PastConversation,
    TimelineItem,
)
from core.errors import DeskError
from tui.base import DeskAppBase, PaletteCommand
from tui.bindings import CONVERSATION_SCREEN, bindings_for
from tui.format import stamp
from tui.screens.dialogs import ConfirmScreen, TransferScreen
from tui.text import clean_line
from tui.widgets.banner import IdentityBanner
from tui.widgets.footer import KeyFooter
from tui.widgets.link_banner import LinkBanner
from tui.widgets.profile_pane import ProfilePane
from tui.widgets.status_bar import StatusBar
from tui.widgets.timeline import TimelineView
from tui.workers import LatestRead, ReadTicket, ReportsWorkerErrors

#: Items read when a conversation opens, and per older page.
TIMELINE_PAGE = 100


def _offers(view: ConversationView) -> tuple[bool, bool]:
    """What `ConversationScreen.check_action` decides the footer's keys from."""
    return view.status == "CLOSED", view.assignee is None


class ConversationScreen(ReportsWorkerErrors, Screen[None]):
    """One conversation, worked by the agent."""

    BINDINGS = bindings_for(CONVERSATION_SCREEN)

    #: Below this width the profile pane is hidden unless asked for (the timeline needs room).
    NARROW = 110

    app: DeskAppBase  # type: ignore[assignment]

    @dataclass
    class Loaded(Message):
        """The conversation as read when the screen opened."""

        view: ConversationView
        status: str
        items: list[TimelineItem]
        has_older: bool
        past: list[PastConversation]
        #: The item to show first (a search hit), when it was asked for.
        focus: int | None = None

    @dataclass
    class Refreshed(Message):
        """The conversation changed elsewhere: new view, new items since the last one shown.

        `view` is None when the read failed."""

        ticket: ReadTicket
        view: ConversationView | None
        items: list[TimelineItem]
        past: list[PastConversation]

    @dataclass
    class OlderLoaded(Message):
        items: list[TimelineItem]
        has_older: bool

    @dataclass
    class Done(Message):
        """An action succeeded."""

        note: str

    @dataclass
    class ReplyFailed(Message):
        body: str
        error: str

    @dataclass
    class CloseNeedsForce(Message):
        """The customer waits for a reply: ask before closing."""

    @dataclass
    class LoginPromptNeedsConfirm(Message):
        """The customer is verified already: ask before sending them the login prompt."""

        view: ConversationView

    @dataclass
    class TransferTargets(Message):
        """The agents, with their load as of now, for the transfer dialog."""

        agents: list[AgentEntry]

    def __init__(self, conversation_id: int, *, at_item: int | None = None) -> None:
        super().__init__(classes="conversation-screen")
        self.conversation_id = conversation_id
        #: Open at this item (a search hit) rather than at the newest.
        self.at_item = at_item
        self.view: ConversationView | None = None
        self._past: list[PastConversation] = []
        #: The background reads of live updates (tests count them).
        self.live = LatestRead()
        self._profile_wanted: bool | None = None  # None: by terminal width

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="✉")
        yield LinkBanner(id="link-banner")
        yield IdentityBanner("loading…", id="banner")
        with Horizontal(id="conversation-body"):
            with Vertical(id="conversation-main"):
                yield TimelineView(id="timeline")
                yield Input(
                    placeholder="Reply… (Enter sends · Esc leaves the composer)",
                    max_length=MAX_MESSAGE_CHARS,
                    id="composer",
                )
            with VerticalScroll(id="profile-scroll"):
                yield ProfilePane(id="profile")
        yield StatusBar(id="status-bar")
        yield KeyFooter()

    @property
    def timeline(self) -> TimelineView:
        return self.query_one(TimelineView)

    @property
    def composer(self) -> Input:
        return self.query_one("#composer", Input)

    def on_mount(self) -> None:
        self.title = "gladdesk"
        self.sub_title = f"conversation #{self.conversation_id} · {self.app.agent}"
        draft = self.app.drafts.get(self.conversation_id)
        if draft:
            self.composer.value = draft
        self.timeline.focus()
        self._place_profile()
        self.app.refresh_status_bars()
        self.app.refresh_link_banners()
        self._load()

    def on_resize(self) -> None:
        self._place_profile()

    def _place_profile(self) -> None:
        wanted = self._profile_wanted
        show = self.size.width >= self.NARROW if wanted is None else wanted
        self.query_one("#profile-scroll").display = show

    def action_toggle_profile(self) -> None:
        self._profile_wanted = not self.query_one("#profile-scroll").display
        self._place_profile()

    @on(Input.Changed, "#composer")
    def _keep_draft(self, event: Input.Changed) -> None:
        """Drafts outlive the screen: leaving and coming back keeps what was typed."""
        self.app.drafts[self.conversation_id] = event.value

    # -- reading ---------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="conversation-load")
    def _load(self) -> None:
        data, at = self.app.data, self.at_item
        view = data.conversation(self.conversation_id)
        if at is None:
            page = data.timeline(self.conversation_id, limit=TIMELINE_PAGE + 1)
            status, items = page.status, list(page.items)
            has_older = len(items) > TIMELINE_PAGE
            items = items[-TIMELINE_PAGE:]
        else:  # the page ending at the hit, then everything after it
            page = data.timeline(self.conversation_id, before=at + 1, limit=TIMELINE_PAGE + 1)
            status, older = page.status, list(page.items)
            has_older = len(older) > TIMELINE_PAGE
            newer = data.timeline(self.conversation_id, after=at, limit=1000).items
            items = older[-TIMELINE_PAGE:] + list(newer)
        past = data.past_conversations(view.profile.id, exclude=self.conversation_id)
        self.post_message(self.Loaded(view, status, items, has_older, past, at))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self._show_view(message.view, message.past)
        self.timeline.customer = message.view.profile.name
        self.timeline.set_items(
            message.status, message.items, has_older=message.has_older, focus=message.focus
        )

    def _show_view(self, view: ConversationView, past: Sequence[PastConversation]) -> None:
        before = self.view
        self.view = view
        self._past = list(past)
        self.query_one(IdentityBanner).show(view)
        self.query_one(ProfilePane).show(view, past)
        self.timeline.set_status(view.status)
        # The footer is built again on every refresh of the bindings (a layout of the whole
        # screen): only when what they offer may have changed (`check_action`), not on each
        # new message.
        if before is None or _offers(before) != _offers(view):
            self.refresh_bindings()

    def desk_changed(self, events: Sequence[Event]) -> None:
        """A batch of the change feed: one background read if any of it concerns this
        conversation or its customer, however many events it holds."""
        profile_id = self.view.profile.id if self.view else None
        if (
            any(
                e.conversation_id == self.conversation_id
                or (profile_id is not None and e.profile_id == profile_id)
                for e in events
            )
            and self.live.change()
        ):
            self._start_refresh()

    def _start_refresh(self) -> None:
        if not self.query(TimelineView):
            # Not composed yet (or torn down at exit): no read starts; the first load reads all.
            return
        items = self.timeline.items
        self._refresh(self.live.begin(), items[-1].id if items else 0)

    @work(thread=True, exit_on_error=False, group="conversation-refresh")
    def _refresh(self, ticket: ReadTicket, last_id: int) -> None:
        view: ConversationView | None = None
        items: list[TimelineItem] = []
        past: list[PastConversation] = []
        try:
            data = self.app.data
            view = data.conversation(self.conversation_id)
            items = list(data.timeline(self.conversation_id, after=last_id, limit=1000).items)
            past = data.past_conversations(view.profile.id, exclude=self.conversation_id)
        except BaseException:
            view = None
            raise  # reported by report_worker
        finally:
            self.post_message(self.Refreshed(ticket, view, items, past))

    @on(Refreshed)
    def _refreshed(self, message: Refreshed) -> None:
        show, again = self.live.finish(message.ticket, ok=message.view is not None)
        if show and message.view is not None:
            self.timeline.append_items(message.items)
            if message.view != self.view or message.past != self._past:
                self._show_view(message.view, message.past)
        if again:
            self._start_refresh()

    @on(TimelineView.OlderWanted)
    def _older_wanted(self, message: TimelineView.OlderWanted) -> None:
        self._load_older(message.before_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="conversation-older")
    def _load_older(self, before_id: int) -> None:
        page = self.app.data.timeline(
            self.conversation_id, before=before_id, limit=TIMELINE_PAGE + 1
        )
        items = list(page.items)
        self.post_message(self.OlderLoaded(items[-TIMELINE_PAGE:], len(items) > TIMELINE_PAGE))

    @on(OlderLoaded)
    def _older_loaded(self, message: OlderLoaded) -> None:
        self.timeline.prepend_items(message.items, has_older=message.has_older)

    # -- actions ---------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # `reply` stays enabled on closed conversations: it only focuses the composer, so what
        # the agent types next goes there, not to single-letter bindings.
        if self.view is None or action not in ("close", "reopen", "login_prompt", "take"):
            return True
        closed = self.view.status == "CLOSED"
        if action == "take":  # shown only where it can apply: an open chat no agent has
            return not closed and self.view.assignee is None
        if action == "reopen":
            return closed or None  # None: shown dimmed
        return (not closed) or None

    def action_back(self) -> None:
        if self.focused is self.composer:
            self.timeline.focus()
            return
        self.app.pop_screen()

    def action_reply(self) -> None:
        self.composer.focus()

    @on(Input.Submitted, "#composer")
    def _submitted(self, event: Input.Submitted) -> None:
        body = event.value
        if not body.strip():
            self.notify("Type a reply first.", severity="warning")
            return
        self.composer.value = ""
        self._send_reply(body)

    @work(thread=True, exit_on_error=False, group="conversation-action")
    def _send_reply(self, body: str) -> None:
        try:
            self.app.data.reply(self.conversation_id, body)
        except DeskError as exc:
            self.post_message(self.ReplyFailed(body, str(exc)))

    @on(ReplyFailed)
    def _reply_failed(self, message: ReplyFailed) -> None:
        if not self.composer.value:
            self.composer.value = message.body  # give the draft back
        self.notify(message.error, title="Reply not sent", severity="error")

    def action_login_prompt(self) -> None:
        self._login_prompt(confirmed=False)

    @work(thread=True, exit_on_error=False, group="conversation-action")
    def _login_prompt(self, *, confirmed: bool) -> None:
        data = self.app.data
        if not confirmed:
            view = data.conversation(self.conversation_id)
            # A closed one goes on to the desk's own refusal (reopen it first).
            if view.identity_state == "TRUSTED" and view.status != "CLOSED":
                self.post_message(self.LoginPromptNeedsConfirm(view))
                return
        data.send_login_prompt(self.conversation_id)
        self.post_message(self.Done("Login prompt sent"))

    @on(LoginPromptNeedsConfirm)
    def _confirm_login_prompt(self, message: LoginPromptNeedsConfirm) -> None:
        view = message.view
        until = f" until {stamp(view.trusted_until)}" if view.trusted_until is not None else ""

        def answered(send: bool | None) -> None:
            if send:
                self._login_prompt(confirmed=True)

        self.app.push_screen(
            ConfirmScreen(
                f"{clean_line(view.profile.name, limit=80)} is verified already (signed identity"
                f" token{until}). Send the login prompt anyway?",
                yes="Send anyway",
                no="Don't send",
            ),
            answered,
        )

    def action_take(self) -> None:
        self._take()

    @work(thread=True, exit_on_error=False, group="conversation-action")
    def _take(self) -> None:
        self.app.data.take(self.conversation_id)
        self.post_message(self.Done("Conversation taken: it is yours"))

    def action_reopen(self) -> None:
        self._reopen()

    def action_close(self) -> None:
        self._close(force=False)

    @work(thread=True, exit_on_error=False, group="conversation-action")
    def _close(self, *, force: bool) -> None:
        data = self.app.data
        if not force and data.conversation(self.conversation_id).customer_waiting:
            self.post_message(self.CloseNeedsForce())
            return
        data.close_conversation(self.conversation_id, force=force)
        self.post_message(self.Done("Conversation closed"))

    @on(CloseNeedsForce)
    def _confirm_close(self) -> None:
        def answered(force: bool | None) -> None:
            if force:
                self._close(force=True)

        self.app.push_screen(
            ConfirmScreen(
                "The customer is waiting for a reply. Close the conversation anyway?",
                yes="Close anyway",
                no="Keep open",
            ),
            answered,
        )

    def action_transfer(self) -> None:
        self._transfer_targets()

    @work(thread=True, exclusive=True, exit_on_error=False, group="conversation-targets")
    def _transfer_targets(self) -> None:
        self.post_message(self.TransferTargets(self.app.data.agents()))

    @on(TransferTargets)
    def _choose_target(self, message: TransferTargets) -> None:
        app = self.app

        def chosen(target: tuple[str, str] | None) -> None:
            if target is None:
                return
            kind, name = target
            self._transfer(kind, name)

        others = [a for a in message.agents if a.handle != app.agent and not a.disabled]
        app.push_screen(TransferScreen(others, app.inboxes), chosen)

    @work(thread=True, exit_on_error=False, group="conversation-action")
    def _transfer(self, kind: str, name: str) -> None:
        data = self.app.data
        if kind == "agent":
            data.transfer(self.conversation_id, to_agent=name)
        else:
            data.transfer(self.conversation_id, to_inbox=name)
        self.post_message(self.Done(f"Transferred to {kind} {name}"))

    @work(thread=True, exit_on_error=False, group="conversation-action")
    def _reopen(self) -> None:
        data = self.app.data
        data.reopen_conversation(self.conversation_id)
        assignee = data.conversation(self.conversation_id).assignee
        if assignee is None:
            self.post_message(self.Done("Conversation reopened; no agent is free: unassigned"))
        elif assignee == self.app.agent:
            self.post_message(self.Done("Conversation reopened: it is yours"))
        else:
            self.post_message(self.Done(f"Conversation reopened; {assignee} has it"))

    @on(Done)
    def _done(self, message: Done) -> None:
        self.notify(clean_line(message.note, limit=200), timeout=3)

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand(
                "Reply", "Write a reply to the customer", self.action_reply, "conversation.reply"
            ),
            PaletteCommand(
                "Send login prompt",
                "Send a message with the login link so the customer can verify",
                self.action_login_prompt,
                "conversation.login_prompt",
            ),
            PaletteCommand(
                "Close conversation",
                "Close it (asks first if the customer waits)",
                self.action_close,
                "conversation.close",
            ),
            PaletteCommand(
                "Take conversation",
                "Assign this unassigned conversation to yourself",
                self.action_take,
                "conversation.take",
            ),
            PaletteCommand(
                "Reopen conversation",
                "Reopen it; it stays with its agent if they can take it",
                self.action_reopen,
                "conversation.reopen",
            ),
            PaletteCommand(
                "Transfer conversation",
                "Transfer to another agent or inbox",
                self.action_transfer,
                "conversation.transfer",
            ),
            PaletteCommand(
                "Show or hide the profile",
                "The customer's emails, phones and past conversations",
                self.action_toggle_profile,
                "conversation.profile",
            ),
            PaletteCommand(
                "Back to the queue",
                "Leave this conversation",
                self.app.pop_screen,
                "conversation.back",
            ),
        ]
