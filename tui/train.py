"""`gladdesk train`: trainer mode for the five authentication orders
(docs/authentication-orders.md).

It runs on a throwaway desk built from fixtures/ (`sim.demo_desk.build_demo`) in a temporary
folder, on a frozen clock, so every walkthrough shows the same thing and nothing it does
touches a real desk.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from textual.app import App

from core.clock import parse_iso
from core.errors import NotFound
from sim.demo_desk import build_demo
from sim.rehearsal import Rehearsal
from sim.scenarios import ORDERS, Scenario, load_scenarios
from tui.keymap import load_keymap
from tui.screens.train import OrderPicker, TrainScreen
from tui.text import control_chars_mode, use_control_chars

#: The trainer's frozen clock starts an hour after the demo desk was built.
TRAIN_START_MS = parse_iso("2026-11-20T10:00:00Z")


class TrainApp(App[None]):
    """The order picker, then one walkthrough at a time."""

    CSS_PATH = "app.tcss"
    TITLE = "gladdesk trainer"

    def __init__(
        self,
        base_db: Path,
        workdir: Path,
        *,
        order: str | None = None,
        keymap: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.keymap = keymap or {}
        self.base_db = base_db
        self.workdir = workdir
        scripts = load_scenarios()
        self.orders: list[Scenario] = [scripts[name] for name in ORDERS if name in scripts]
        self.scripts = scripts
        self.start_order = order

    def on_mount(self) -> None:
        if self.keymap:
            self.set_keymap(self.keymap)
        if self.start_order is not None:
            self.open_order(self.start_order)
        else:
            self.show_picker()

    def show_picker(self) -> None:
        def picked(name: str | None) -> None:
            if name is not None:
                self.open_order(name)

        self.push_screen(OrderPicker(self.orders), picked)

    def next_order(self, name: str) -> Scenario | None:
        """The order after `name`, from most ideal to most undesired; None after the last
        (or for a script that is not one of the five)."""
        names = [scenario.name for scenario in self.orders]
        if name not in names or names.index(name) + 1 == len(names):
            return None
        return self.orders[names.index(name) + 1]

    def open_order(self, name: str) -> None:
        """Walk through one order; `n` at its end opens the next, leaving it any other way
        (or after the last) returns to the picker."""
        scenario = self.scripts[name]
        following = self.next_order(name)

        def make() -> Rehearsal:
            return Rehearsal(self.base_db, self.workdir, scenario, start_ms=TRAIN_START_MS)

        def left(result: str | None) -> None:
            if result == "next" and following is not None:
                self.open_order(following.name)
            else:
                self.show_picker()

        self.push_screen(TrainScreen(make, scenario, next_order=following), left)


def check_order(order: str | None) -> str | None:
    """An order name the trainer knows (the five orders or another script), or NotFound."""
    if order is None:
        return None
    scripts = load_scenarios()
    if order not in scripts:
        raise NotFound(f"no order {order!r} (pick one of: {', '.join(ORDERS)})")
    return order


def make_train_app(
    *,
    order: str | None = None,
    workdir: Path,
    base_db: Path | None = None,
    config_path: Path | None = None,
) -> TrainApp:
    """The trainer on a desk built in `workdir` (or a prebuilt copy `base_db`, for tests).

    Keys are remapped from `config_path`, or the default key config file if there is one.
    """
    order = check_order(order)
    keymap = load_keymap(config_path)
    use_control_chars(control_chars_mode())
    if base_db is None:
        base_db = build_demo(workdir / "base.db")
    return TrainApp(base_db, workdir, order=order, keymap=keymap)


def run_train(*, order: str | None = None) -> None:
    """`gladdesk train`: the trainer in this terminal, on a temporary desk removed on exit."""
    check_order(order)
    with tempfile.TemporaryDirectory(prefix="gladdesk-train-") as folder:
        app = make_train_app(order=order, workdir=Path(folder))
        app.run()
