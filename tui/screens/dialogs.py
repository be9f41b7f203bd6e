"""Modal dialogs: confirm, transfer target, profile search, help."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option

from core.console.data import HIT_END, HIT_START, AgentEntry, ConsoleData, MessageHit, ProfileHit
from core.errors import DeskError
from tui.bindings import CONFIRM_SCREEN, HELP_SCREEN, SEARCH_SCREEN, TRANSFER_SCREEN, bindings_for
from tui.format import GLYPH, STATUS_WORDS, badge, fit, fit_right
from tui.text import clean_line
from tui.workers import ReportsWorkerErrors


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question. `y` / `n` or the buttons; Esc means no."""

    BINDINGS = bindings_for(CONFIRM_SCREEN)

    def __init__(self, question: str, *, yes: str = "Yes", no: str = "No") -> None:
        super().__init__(classes="dialog-screen")
        self.question = question
        self.yes = yes
        self.no = no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(self.question), classes="dialog-question")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", variant="error", id="yes")
                yield Button(f"{self.no} (n)", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


def agent_load(agent: AgentEntry) -> tuple[str, str]:
    """`3/5 open` and `available`, `at capacity` or `unavailable`, with the style of the latter."""
    if not agent.available:
        return f"{agent.open_conversations}/{agent.capacity} open", "unavailable"
    if agent.at_capacity:
        return f"{agent.open_conversations}/{agent.capacity} open", "at capacity"
    return f"{agent.open_conversations}/{agent.capacity} open", "available"


class TransferScreen(ModalScreen[tuple[str, str] | None]):
    """Pick an agent (with their load and availability) or an inbox to transfer a chat to."""

    BINDINGS = bindings_for(TRANSFER_SCREEN)

    AVAILABILITY_STYLES = {"available": "green", "at capacity": "yellow", "unavailable": "dim"}

    def __init__(self, agents: Sequence[AgentEntry], inboxes: Sequence[str]) -> None:
        super().__init__(classes="dialog-screen")
        self.targets: list[tuple[str, str]] = [("agent", a.handle) for a in agents]
        self.targets += [("inbox", name) for name in inboxes]
        self.labels = [self._agent_label(a) for a in agents]
        self.labels += [Text(f"Inbox  {clean_line(name, limit=60)}", end="") for name in inboxes]

    def _agent_label(self, agent: AgentEntry) -> Text:
        load, availability = agent_load(agent)
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append("Agent  ")
        text.append(fit(clean_line(agent.handle, limit=60), 10), "bold")
        text.append(" " + fit(clean_line(agent.name, limit=100), 22))
        text.append(" " + fit_right(load, 10) + "  ")
        text.append(availability, self.AVAILABILITY_STYLES[availability])
        return text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(
                "Transfer to… (Enter picks, Esc cancels). Agents: open conversations / capacity.",
                classes="dialog-question",
            )
            yield OptionList(*(Option(label) for label in self.labels), id="targets")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.targets[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)


class SearchScreen(ReportsWorkerErrors, ModalScreen[ProfileHit | MessageHit | None]):
    """Find a customer by name, email or phone, or a message by its words (or a tag): Enter
    opens the customer's latest conversation, or the message's conversation at the message."""

    BINDINGS = bindings_for(SEARCH_SCREEN)

    @dataclass
    class Results(Message):
        query: str
        hits: list[ProfileHit | MessageHit]
        error: str | None = None

    def __init__(self, data: ConsoleData) -> None:
        super().__init__(classes="dialog-screen")
        self.data = data
        self.hits: list[ProfileHit | MessageHit] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog search-dialog"):
            yield Static(
                "Search customers by name, email or phone, and messages by their words",
                classes="dialog-question",
            )
            yield Input(placeholder="julie, @example.com, 0612…, refund", id="search-input")
            yield OptionList(id="search-results")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Changed, "#search-input")
    def _changed(self, event: Input.Changed) -> None:
        self._search(event.value)

    @on(Input.Submitted, "#search-input")
    def _submitted(self) -> None:
        results = self.query_one(OptionList)
        if self.hits:
            self._pick(results.highlighted or 0)

    @work(thread=True, exclusive=True, exit_on_error=False, group="search")
    def _search(self, query: str) -> None:
        try:
            hits: list[ProfileHit | MessageHit] = []
            hits += self.data.search_customers(query, limit=10)
            if len(query.strip()) >= MIN_MESSAGE_QUERY:
                hits += self.data.search_messages(query, limit=20)
        except DeskError as exc:
            self.post_message(self.Results(query, [], str(exc)))
            return
        self.post_message(self.Results(query, hits))

    @on(Results)
    def _results(self, message: Results) -> None:
        if message.query != self.query_one(Input).value:
            return  # an older search finished late
        self.hits = message.hits
        results = self.query_one(OptionList)
        results.clear_options()
        if message.error:
            results.add_option(Option(Text(message.error, style="red"), disabled=True))
            return
        results.add_options(Option(self._label(hit)) for hit in message.hits)
        if message.hits:
            results.highlighted = 0

    @staticmethod
    def _label(hit: ProfileHit | MessageHit) -> Text:
        if isinstance(hit, MessageHit):
            return _message_label(hit)
        text = Text(clean_line(hit.name, limit=100), style="bold", no_wrap=True, end="")
        contacts = ", ".join((*hit.emails, *hit.phones))
        if contacts:
            text.append("  " + clean_line(contacts, limit=200), "")
        if hit.latest_conversation_id is None:
            text.append("  · no conversation", "dim")
        else:
            text.append(
                f"  · #{hit.latest_conversation_id} {(hit.latest_status or '').lower()}"
                f" · {hit.conversations} conversation(s)",
                "dim",
            )
        return text

    @on(OptionList.OptionSelected, "#search-results")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._pick(event.option_index)

    def _pick(self, index: int) -> None:
        if 0 <= index < len(self.hits):
            self.dismiss(self.hits[index])

    def action_cancel(self) -> None:
        self.dismiss(None)


#: Characters a query needs before messages are searched too (one letter finds everything).
MIN_MESSAGE_QUERY = 2


def _message_label(hit: MessageHit) -> Text:
    """`#361 Hana Chen · open · customer: …the words found…`, the words found in bold."""
    text = Text(f"#{hit.conversation_id} ", style="bold", no_wrap=True, end="")
    text.append(clean_line(hit.customer or "anonymous", limit=60), "bold")
    text.append(f" · {hit.status.lower()} · {hit.sender}: ", "dim")
    # Split on the marks first: each piece is then made safe to show on its own.
    for n, part in enumerate(hit.snippet.split(HIT_START)):
        found, _, rest = part.partition(HIT_END) if n else ("", "", part)
        text.append(clean_line(found, limit=100), "bold reverse")
        text.append(clean_line(rest, limit=200))
    return text


_BADGE_WORDS = (
    ("TRUSTED", "jwt", "verified by a signed identity token (JWT), within its window"),
    ("CLAIMED", "onboarding_form", "name and email typed into the onboarding form: not verified"),
    ("CLAIMED", "set_user", "given by the website (setUser) without proof"),
    ("CLAIMED", "jwt", "was verified; its trust window ended or its key was retired"),
    ("ANONYMOUS", "jwt", "logged out (clearUser); likewise CLEARED · form, · set_user"),
    ("ANONYMOUS", "none", "not identified"),
)


def legend() -> Text:
    """What the marks, badges, statuses and columns mean: the help screen's second half."""
    text = Text(end="")
    text.append("\nThe trusted mark\n", "bold underline")
    text.append(f"  {GLYPH}", "bold green")
    text.append("  a message the customer sent while verified; the conversation is open\n")
    text.append(f"  {GLYPH}", "grey50")
    text.append("  the same, in a closed conversation\n")
    text.append("     a blank cell: the message was not verified\n")
    text.append(
        "  In the queue the mark stands before each conversation's last customer message;\n"
        "  in a conversation, before every customer message; the banner spells it out for\n"
        "  the last one. It is about the message, not the customer now: a message sent\n"
        "  before trust ended keeps its mark beside an EXPIRED or CLEARED badge.\n"
    )
    text.append("\nIdentity badges: the customer now\n", "bold underline")
    for state, source, words in _BADGE_WORDS:
        text.append(f"  {badge(state, source):<19}", "bold")
        text.append(f" {words}\n")
    text.append("\nStatus, Unanswered, Agent\n", "bold underline")
    rows = (
        (STATUS_WORDS["OPEN"], "the customer wrote last; Unanswered: how long they waited"),
        (STATUS_WORDS["WAITING"], "an agent wrote last, the customer's turn; Unanswered: —"),
        (STATUS_WORDS["CLOSED"], "closed; reopening keeps its agent if they can take it"),
        ("Agent —", "no agent has it: Take assigns it to you, within capacity"),
        ("Agent held", "held until the customer logs in (a rule): not takeable yet"),
    )
    for words, meaning in rows:
        text.append(f"  {words:<19}", "bold")
        text.append(f" {meaning}\n")
    return text


@dataclass(frozen=True, slots=True)
class HelpKey:
    keys: str
    description: str


class HelpScreen(ModalScreen[None]):
    """Keys of the screen underneath, and what the glyph and badges mean."""

    BINDINGS = bindings_for(HELP_SCREEN)

    def __init__(self, keys: Iterable[HelpKey]) -> None:
        super().__init__(classes="dialog-screen")
        self.keys = list(keys)

    def compose(self) -> ComposeResult:
        text = Text(end="")
        text.append("Keys\n", "bold underline")
        for key in self.keys:
            text.append(f"  {key.keys:<16}", "bold")
            text.append(f" {key.description}\n")
        text.append("\nCtrl+P opens the command palette; type a customer's name there too.\n")
        text.append_text(legend())
        with Vertical(classes="dialog help-dialog"), VerticalScroll():
            yield Static(text)

    def action_close(self) -> None:
        self.dismiss(None)
