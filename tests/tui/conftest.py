"""The console tests' fixtures: a private copy of the demo desk, a second writer on it, and
control characters shown as pictures (␛) whatever this machine's locale says (tests of the
fallback set the mode themselves)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.engine import Engine
from core.store import Desk
from tests.console_helpers import demo_copy, frozen_clock
from tui.text import CONTROL_CHARS_ENV, PICTURES, use_control_chars


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return demo_copy(tmp_path)


@pytest.fixture
def other(db: Path) -> Iterator[Engine]:
    """A second writer on the same file: another process, as far as the console can tell."""
    desk = Desk.open(db, clock=frozen_clock(), create=False)
    yield Engine(desk)
    desk.close()


@pytest.fixture(autouse=True)
def control_pictures(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(CONTROL_CHARS_ENV, PICTURES)
    use_control_chars(PICTURES)
    yield
    use_control_chars(PICTURES)
