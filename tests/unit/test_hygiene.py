"""The boundaries: core is the headless desk and imports none of sim, cli or tui; sim runs
without the terminal UI; the CLI loads Textual only for its terminal commands."""

from __future__ import annotations

import json
import pkgutil
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
    assert {"sim.feed", "sim.scenarios", "sim.demo_desk", "sim.http_widget"} <= set(SIM_MODULES)
    assert {"cli.main", "cli.terminal", "cli.report"} <= set(CLI_MODULES)


def test_the_terminal_commands_are_registered() -> None:
    from cli.main import main

    assert {"console", "demo", "train", "report", "serve", "feed"} <= set(main.commands)
