"""Bindings: one table (tui/bindings.py), no import cycles, every binding remappable."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest
from textual.binding import Binding

import tui
from core.console.local import LocalConsoleData
from tests.console_helpers import SIZE, demo_copy, wait_until
from tests.tui.test_console import (
    CLAIMED_OPEN,
    TRUSTED_OPEN,
    console,
    items,
    open_conversation,
    queue_ready,
    settle,
    status_of,
)
from tui.app import DeskApp
from tui.bindings import KEYS, bindings_for, default_keys
from tui.keymap import parse_keymap
from tui.screens.conversation import ConversationScreen
from tui.screens.dialogs import ConfirmScreen, HelpScreen, SearchScreen, TransferScreen
from tui.screens.queue import QueueScreen
from tui.screens.reports import ReportsScreen

TUI_ROOT = Path(tui.__file__).parent
#: The only tui module that may import tui.app: it starts the console (the command line,
#: cli/terminal.py, is outside the package).
ENTRY_POINTS = {"tui.demo"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(TUI_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def tui_imports() -> dict[str, set[str]]:
    """Every tui module and the tui modules it imports anywhere (lazily or for typing too)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(TUI_ROOT.rglob("*.py")):
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module)
                imported |= {f"{node.module}.{alias.name}" for alias in node.names}
        graph[_module_name(path)] = {name for name in imported if name.startswith("tui.")}
    return graph


def test_the_import_walk_sees_the_entry_points() -> None:
    graph = tui_imports()
    assert "tui.app" in graph and "tui.app" in graph["tui.demo"]


def test_only_entry_points_import_the_app() -> None:
    importers = {module for module, imported in tui_imports().items() if "tui.app" in imported}
    assert importers <= ENTRY_POINTS, f"{sorted(importers - ENTRY_POINTS)} import tui.app"


def test_tui_modules_import_no_cycle() -> None:
    graph = tui_imports()
    modules = set(graph)
    edges = {module: {name for name in graph[module] if name in modules} for module in graph}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = path[path.index(module) :] + [module]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        for imported in sorted(edges[module]):
            visit(imported, [*path, module])
        done.add(module)

    for module in sorted(edges):
        visit(module, [])


def _binding_owners() -> dict[str, type]:
    """Every tui class that declares BINDINGS, by class name."""
    owners: dict[str, type] = {}
    for info in pkgutil.walk_packages(tui.__path__, prefix="tui."):
        if info.name == "tui.__main__":
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and value.__module__ == module.__name__
                and "BINDINGS" in vars(value)
            ):
                owners[name] = value
    return owners


def test_every_binding_comes_from_the_table() -> None:
    owners = _binding_owners()
    assert {"DeskApp", "ReportsScreen", "QueueList", "TrainScreen"} <= set(owners)
    assert set(owners) == {owner for spec in KEYS for owner in spec.owners}
    for name, owner in owners.items():
        declared = vars(owner)["BINDINGS"]
        assert bindings_for(name) == declared, name
        for binding in declared:
            assert isinstance(binding, Binding) and binding.id and binding.tooltip, name


def test_binding_ids_are_unique_and_all_remappable() -> None:
    ids = [spec.id for spec in KEYS]
    assert len(ids) == len(set(ids))
    assert set(default_keys()) == set(ids)
    assert parse_keymap({"keys": dict.fromkeys(ids, "f9")}) == dict.fromkeys(ids, "f9")


def test_an_owner_without_bindings_is_a_clear_error() -> None:
    with pytest.raises(LookupError, match="NoSuchScreen"):
        bindings_for("NoSuchScreen")


# -- remapping through the key config file, one binding of each screen ------------------------------

REMAPPED = {
    "desk.reports": "f6",
    "reports.refresh": "f5",
    "queue.status": "f7",
    "queue.down": "f8",
    "conversation.profile": "f9",
    "confirm.no": "z",
    "transfer.cancel": "f10",
    "search.cancel": "f11",
    "help.close": "f12",
}


def _keys_shown(screen: object, binding_id: str) -> list[str]:
    active = screen.active_bindings.values()  # type: ignore[attr-defined]
    return [
        active_binding.binding.key
        for active_binding in active
        if active_binding.binding.id == binding_id
    ]


@pytest.fixture
def remapped(tmp_path: Path) -> DeskApp:
    db = demo_copy(tmp_path)
    config = tmp_path / "keys.toml"
    lines = [f'"{binding_id}" = "{keys}"' for binding_id, keys in REMAPPED.items()]
    config.write_text("[keys]\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return console(db, config_path=config)


async def test_reports_refresh_is_remapped_from_the_key_config_file(remapped: DeskApp) -> None:
    app = remapped
    async with app.run_test(size=SIZE) as pilot:
        await queue_ready(pilot)
        await pilot.press("R")
        await settle(pilot)
        assert isinstance(app.screen, QueueScreen)  # `R` no longer opens the reports
        await pilot.press("f6")
        await wait_until(lambda: isinstance(app.screen, ReportsScreen))
        screen = app.screen
        assert isinstance(screen, ReportsScreen)
        await wait_until(lambda: screen.report is not None)
        first = screen.report
        assert _keys_shown(screen, "reports.refresh") == ["f5"]
        await pilot.press("r")
        await settle(pilot)
        assert screen.report is first  # `r` no longer refreshes
        await pilot.press("f5")
        await wait_until(lambda: screen.report is not first)
        await pilot.press("escape")
        await wait_until(lambda: isinstance(app.screen, QueueScreen))


async def test_queue_and_conversation_keys_are_remapped(remapped: DeskApp) -> None:
    app = remapped
    async with app.run_test(size=SIZE) as pilot:
        queue_screen = app.screen
        queue = await queue_ready(pilot)
        assert isinstance(queue_screen, QueueScreen)
        await pilot.press("s")
        assert queue_screen.status_number == 0
        await pilot.press("f7")
        assert queue_screen.status_number == 1
        await pilot.press("f7", "f7", "f7", "f7")  # back to "active"
        await settle(pilot)
        cursor = queue.cursor
        await pilot.press("f8")
        assert queue.cursor == cursor + 1
        screen = await open_conversation(pilot, TRUSTED_OPEN)
        pane = screen.query_one("#profile-scroll")
        shown = pane.display
        await pilot.press("i")
        assert pane.display == shown
        await pilot.press("f9")
        await wait_until(lambda: pane.display != shown)


async def test_dialog_keys_are_remapped(remapped: DeskApp) -> None:
    app = remapped
    async with app.run_test(size=SIZE) as pilot:
        data = app.data
        assert isinstance(data, LocalConsoleData)
        db = data.desk.path
        await open_conversation(pilot, TRUSTED_OPEN)
        await pilot.press("c")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("z")
        await wait_until(lambda: isinstance(app.screen, ConversationScreen))
        assert status_of(db, TRUSTED_OPEN)[0] == "OPEN"
        before = items(db, TRUSTED_OPEN)
        for key, dialog, close in (
            ("t", TransferScreen, "f10"),
            ("slash", SearchScreen, "f11"),
            ("question_mark", HelpScreen, "f12"),
        ):
            await pilot.press(key)
            await wait_until(lambda d=dialog: isinstance(app.screen, d))  # type: ignore[misc]
            await pilot.press(close)
            await wait_until(lambda: isinstance(app.screen, ConversationScreen))
        assert items(db, TRUSTED_OPEN) == before


# -- the palette has what the keys do ---------------------------------------------------------------


async def test_every_shown_key_is_in_the_command_palette(tmp_path: Path) -> None:
    app = console(demo_copy(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        checked: list[str] = []
        for open_screen in ("queue", "conversation", "reports"):
            if open_screen == "conversation":
                await open_conversation(pilot, CLAIMED_OPEN)
            elif open_screen == "reports":
                await pilot.press("R")
                await wait_until(lambda: isinstance(app.screen, ReportsScreen))
            else:
                await queue_ready(pilot)
            screen = app.screen
            palette = {c.binding_id for c in [*screen.palette_commands(), *app.palette_commands()]}  # type: ignore[attr-defined]
            shown = {
                active.binding.id
                for active in screen.active_bindings.values()
                if active.binding.show and active.enabled
            }
            assert shown and shown <= palette, f"{type(screen).__name__}: {shown - palette}"
            checked.append(type(screen).__name__)
        assert checked == ["QueueScreen", "ConversationScreen", "ReportsScreen"]
