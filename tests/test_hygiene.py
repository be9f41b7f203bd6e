"""The boundary: core runs without the terminal UI."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import core

CORE_MODULES = sorted(m.name for m in pkgutil.walk_packages(core.__path__, prefix="core."))


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_imports_without_textual_or_rich(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(leaked))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"{module} pulls in {result.stdout.strip()}"


def test_the_module_list_is_not_empty() -> None:
    assert "core.store" in CORE_MODULES and "core.cli" in CORE_MODULES
