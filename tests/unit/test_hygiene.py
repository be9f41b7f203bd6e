"""The boundaries: core is the headless desk and imports none of sim, cli or tui; sim runs
without the terminal UI; the CLI loads Textual only for its terminal commands; SQL lives in
core's store layer, never in the web routers, the console, the CLI or the simulation."""

from __future__ import annotations

import ast
import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import cli
import core
import sim
from sim.demo_desk import build_demo

ROOT = Path(__file__).resolve().parents[2]


def _modules(package: ModuleType) -> list[str]:
    """The package and every module under it (not `__main__`, which runs the CLI)."""
    found = pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}.")
    return sorted(
        [package.__name__, *(m.name for m in found if m.name.split(".")[-1] != "__main__")]
    )


CORE_MODULES = _modules(core)
SIM_MODULES = _modules(sim)
CLI_MODULES = _modules(cli)

#: What each layer may never load, by top-level package.
CORE_FORBIDDEN = ("sim", "cli", "tui", "textual", "rich")
SIM_FORBIDDEN = ("cli", "tui", "textual", "rich")
CLI_FORBIDDEN = ("tui", "textual", "rich")


def _leaked(code: str, forbidden: tuple[str, ...]) -> list[str]:
    """Run `code` in a fresh interpreter; the forbidden top-level packages it loaded."""
    probe = (
        f"{code}\n"
        "import json, sys\n"
        f"found = sorted({{m.split('.')[0] for m in sys.modules}} & set({forbidden!r}))\n"
        "print('LEAKED=' + json.dumps(found))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    marker = [line for line in result.stdout.splitlines() if line.startswith("LEAKED=")]
    assert marker, result.stdout
    return json.loads(marker[-1].removeprefix("LEAKED="))


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_imports_nothing_outside_core(module: str) -> None:
    assert _leaked(f"import {module}", CORE_FORBIDDEN) == []


@pytest.mark.parametrize("module", SIM_MODULES)
def test_sim_module_imports_without_the_terminal_ui(module: str) -> None:
    assert _leaked(f"import {module}", SIM_FORBIDDEN) == []


@pytest.mark.parametrize("module", CLI_MODULES)
def test_cli_module_imports_without_the_terminal_ui(module: str) -> None:
    assert _leaked(f"import {module}", CLI_FORBIDDEN) == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--help"], "report"),
        (["report", "--format", "json"], '"rejected_tokens"'),
    ],
    ids=["help", "report"],
)
def test_headless_commands_run_without_the_terminal_ui(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    desk = build_demo(tmp_path / "demo.db")
    code = (
        "import sys\n"
        "from cli.main import main\n"
        "try:\n"
        f"    main({['--db', str(desk), *args]!r}, prog_name='gladdesk')\n"
        "except SystemExit as done:\n"
        "    assert done.code in (0, None), done.code\n"
    )
    probe = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert probe.returncode == 0, probe.stderr
    assert expected in probe.stdout
    assert _leaked(code, CLI_FORBIDDEN) == []


def test_the_module_lists_are_not_empty() -> None:
    assert {"core.store", "core.web.app"} <= set(CORE_MODULES)
    assert {
        "sim.customers",
        "sim.scenarios",
        "sim.script_run",
        "sim.widget_client",
        "sim.demo_desk",
        "sim.http_widget",
    } <= set(SIM_MODULES)
    assert {"cli.main", "cli.terminal", "cli.report"} <= set(CLI_MODULES)


def test_the_terminal_commands_are_registered() -> None:
    from cli.main import main

    assert {"console", "demo", "train", "report", "serve", "feed"} <= set(main.commands)


#: Where SQL must never appear: it belongs in core's store layer (core/store/), so a second
#: backend has one place to look.
SQL_FREE = (
    "core/engine",
    "core/identity",
    "core/rules",
    "core/report",
    "core/setup",
    "core/web",
    "tui",
    "cli",
    "sim",
)
SQL_RE = re.compile(r"\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM)\b")


def _sql_literals(path: Path) -> list[str]:
    """`line: text` of every string literal in `path` that holds an SQL statement."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        f"{node.lineno}: {node.value[:60]!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and SQL_RE.search(node.value)
    ]


def _sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("folder", SQL_FREE)
def test_no_sql_outside_the_store_layer(folder: str) -> None:
    assert _sources(folder), folder
    found = {
        str(path.relative_to(ROOT)): hits
        for path in _sources(folder)
        if (hits := _sql_literals(path))
    }
    assert found == {}, "move these statements into core's store layer"


def test_no_sql_in_cores_own_modules() -> None:
    found = {
        path.name: hits
        for path in sorted((ROOT / "core").glob("*.py"))
        if (hits := _sql_literals(path))
    }
    assert found == {}, "move these statements into core's store layer"


def test_the_sql_scan_finds_sql() -> None:
    assert _sql_literals(ROOT / "core" / "store" / "queue.py")
    assert _sql_literals(ROOT / "core" / "store" / "seed.py")
