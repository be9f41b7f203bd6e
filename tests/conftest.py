from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.clock import ManualClock
from core.engine import Engine
from core.store import Desk
from tests.helpers import seed_desk


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_795_000_000_000)  # 2026-11-18T10:26:40Z


@pytest.fixture
def desk(tmp_path: Path, clock: ManualClock) -> Iterator[Desk]:
    desk = Desk.open(tmp_path / "desk.db", clock=clock)
    seed_desk(desk)
    yield desk
    desk.close()


@pytest.fixture
def engine(desk: Desk) -> Engine:
    return Engine(desk)
