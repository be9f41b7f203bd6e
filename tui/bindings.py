"""Every key binding of the terminal UI, in one place.

Each `KeySpec` is one remappable binding: its id (the name in the key config file, see
tui/keymap.py), default keys, action, footer description, tooltip, and the class names of the
screens, widgets or apps whose `BINDINGS` hold it. Those classes take their bindings with
`bindings_for(owner)`, and the keymap loader knows every id from `default_keys()`, so a new
binding is remappable the moment it is listed here. This module imports nothing of the UI:
anything may import it.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType

# Owners: the class names whose BINDINGS are built from this table.
DESK_APP = "DeskApp"
QUEUE_SCREEN = "QueueScreen"
QUEUE_LIST = "QueueList"
CONVERSATION_SCREEN = "ConversationScreen"
TIMELINE_VIEW = "TimelineView"
REPORTS_SCREEN = "ReportsScreen"
CONFIRM_SCREEN = "ConfirmScreen"
TRANSFER_SCREEN = "TransferScreen"
SEARCH_SCREEN = "SearchScreen"
HELP_SCREEN = "HelpScreen"
ORDER_PICKER = "OrderPicker"
TRAIN_SCREEN = "TrainScreen"


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One binding; `id` is what the key config file remaps."""

    id: str
    owners: tuple[str, ...]
    key: str
    action: str
    description: str
    tooltip: str
    show: bool = True

    def binding(self) -> Binding:
        return Binding(
            self.key,
            self.action,
            self.description,
            show=self.show,
            id=self.id,
            tooltip=self.tooltip,
        )


def _key(
    owner: str | tuple[str, ...],
    id: str,
    key: str,
    action: str,
    description: str,
    tooltip: str,
    *,
    show: bool = True,
) -> KeySpec:
    owners = (owner,) if isinstance(owner, str) else owner
    return KeySpec(id, owners, key, action, description, tooltip, show)


#: In each owner's order: the footer shows them in this order.
KEYS: tuple[KeySpec, ...] = (
    # The console, on every screen.
    _key(DESK_APP, "desk.help", "question_mark,f1", "help", "Help", "Keys and what marks mean"),
    _key(
        DESK_APP,
        "desk.search",
        "slash",
        "search",
        "Search",
        "Find a customer by name, email or phone",
    ),
    _key(
        DESK_APP,
        "desk.reports",
        "R",
        "reports",
        "Reports",
        "Authentication report: trust per day, inbox and path; rejected tokens",
    ),
    _key(
        DESK_APP,
        "feed.pause",
        "p",
        "toggle_feed",
        "Pause feed",
        "Pause or resume the simulated customer feed",
    ),
    # The queue screen and its list.
    _key(
        QUEUE_SCREEN,
        "queue.view",
        "v",
        "next_view",
        "View",
        "Switch between your conversations, the unassigned ones, each inbox, and all",
    ),
    _key(
        QUEUE_SCREEN,
        "queue.status",
        "s",
        "next_status",
        "Status",
        "Filter by status: active, needs reply (the customer wrote last), replied (you did),"
        " closed, all",
    ),
    _key(
        QUEUE_SCREEN,
        "queue.trust",
        "t",
        "next_trust",
        "Trust",
        "Filter by the trust of each conversation's latest customer message",
    ),
    _key(
        QUEUE_SCREEN,
        "queue.take",
        "a",
        "take",
        "Take",
        "Assign the highlighted unassigned conversation to yourself",
    ),
    _key(QUEUE_LIST, "queue.up", "up,k", "cursor_up", "Up", "Previous row", show=False),
    _key(QUEUE_LIST, "queue.down", "down,j", "cursor_down", "Down", "Next row", show=False),
    _key(QUEUE_LIST, "queue.page_up", "pageup", "page_up", "Page up", "Page up", show=False),
    _key(
        QUEUE_LIST,
        "queue.page_down",
        "pagedown,space",
        "page_down",
        "Page down",
        "Page down",
        show=False,
    ),
    _key(QUEUE_LIST, "queue.first", "home,g", "first", "First", "First row", show=False),
    _key(QUEUE_LIST, "queue.last", "end,G", "last", "Last", "Last row", show=False),
    _key(QUEUE_LIST, "queue.open", "enter", "select", "Open", "Open the highlighted conversation"),
    # The conversation screen and its timeline.
    _key(CONVERSATION_SCREEN, "conversation.back", "escape", "back", "Back", "Back to the queue"),
    _key(
        CONVERSATION_SCREEN,
        "conversation.reply",
        "r",
        "reply",
        "Reply",
        "Write a reply (Enter sends)",
    ),
    _key(
        CONVERSATION_SCREEN,
        "conversation.login_prompt",
        "l",
        "login_prompt",
        "Login prompt",
        "Send the customer a message with the login link, so they can verify"
        " (asks first if they are verified already)",
    ),
    _key(
        CONVERSATION_SCREEN,
        "conversation.close",
        "c",
        "close",
        "Close",
        "Close the conversation (asks first if the customer waits for a reply)",
    ),
    _key(
        CONVERSATION_SCREEN,
        "conversation.take",
        "a",
        "take",
        "Take",
        "Assign this unassigned conversation to yourself",
    ),
    _key(
        CONVERSATION_SCREEN,
        "conversation.reopen",
        "o",
        "reopen",
        "Reopen",
        "Reopen it; it stays with its agent if they can take it",
    ),
    _key(
        CONVERSATION_SCREEN,
        "conversation.transfer",
        "t",
        "transfer",
        "Transfer",
        "Transfer to another agent (their load shown) or inbox",
    ),
    _key(
        CONVERSATION_SCREEN,
        "conversation.profile",
        "i",
        "toggle_profile",
        "Profile",
        "Show or hide the customer profile pane",
    ),
    _key(TIMELINE_VIEW, "timeline.up", "up,k", "scroll_up", "Up", "Scroll up", show=False),
    _key(
        TIMELINE_VIEW,
        "timeline.down",
        "down,j",
        "scroll_down",
        "Down",
        "Scroll down",
        show=False,
    ),
    _key(TIMELINE_VIEW, "timeline.page_up", "pageup", "page_up", "Page up", "Page up", show=False),
    _key(
        TIMELINE_VIEW,
        "timeline.page_down",
        "pagedown",
        "page_down",
        "Page down",
        "Page down",
        show=False,
    ),
    _key(TIMELINE_VIEW, "timeline.top", "home", "scroll_home", "Top", "Oldest", show=False),
    _key(TIMELINE_VIEW, "timeline.bottom", "end", "scroll_end", "Bottom", "Newest", show=False),
    # The reports screen.
    _key(
        REPORTS_SCREEN,
        "reports.refresh",
        "r",
        "reload",
        "Refresh",
        "Compute the report again from the desk",
    ),
    _key(
        REPORTS_SCREEN,
        "reports.close",
        "escape",
        "close",
        "Back",
        "Leave the reports and go back",
    ),
    # Dialogs.
    _key(CONFIRM_SCREEN, "confirm.yes", "y", "answer(True)", "Yes", "Confirm"),
    _key(CONFIRM_SCREEN, "confirm.no", "n,escape", "answer(False)", "No", "Cancel"),
    _key(TRANSFER_SCREEN, "transfer.cancel", "escape", "cancel", "Cancel", "Cancel"),
    _key(SEARCH_SCREEN, "search.cancel", "escape", "cancel", "Cancel", "Cancel"),
    _key(HELP_SCREEN, "help.close", "escape,q,question_mark,f1", "close", "Close", "Close"),
    # The trainer (`gladdesk train`).
    _key(
        TRAIN_SCREEN,
        "train.next",
        "n,right,space",
        "next",
        "Next",
        "Run the next step; at the end of an order, go on to the next one",
    ),
    _key(TRAIN_SCREEN, "train.back", "b,left", "back", "Back", "Undo the last step"),
    _key(TRAIN_SCREEN, "train.restart", "r", "restart", "Restart", "Start the order again"),
    _key(TRAIN_SCREEN, "train.orders", "o,escape", "orders", "Orders", "Pick another order"),
    _key((ORDER_PICKER, TRAIN_SCREEN), "train.quit", "q", "app.quit", "Quit", "Leave trainer mode"),
)


def bindings_for(owner: str) -> list[BindingType]:
    """The `BINDINGS` of the class named `owner`, in table order."""
    bindings: list[BindingType] = [spec.binding() for spec in KEYS if owner in spec.owners]
    if not bindings:
        raise LookupError(f"no bindings are registered for {owner!r} in tui/bindings.py")
    return bindings


def default_keys() -> dict[str, str]:
    """Every binding id with its default keys: what the key config file may remap."""
    return {spec.id: spec.key for spec in KEYS}
