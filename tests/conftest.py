from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.clock import ManualClock
from core.engine import Engine
from core.identity.api_users import add_api_user
from core.store import Desk
from core.store.postgres import sidecar_base
from core.web import create_app
from sim.demo_desk import build_demo, build_demo_into
from tests import pg
from tests.helpers import seed_desk
from tests.web_helpers import DeskAt, basic, copy_desk


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_795_000_000_000)  # 2026-11-18T10:26:40Z


@pytest.fixture(scope="session")
def pg_server(worker_id: str) -> Iterator[pg.Server]:
    """The session's PostgreSQL databases (skips when no server answers: tests/pg.py)."""
    yield from pg.start(worker_id)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Which store a test's desk is in: each test taking `desk` runs on both."""
    return str(request.param)


@pytest.fixture
def desk_location(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str | Path]:
    """Where a new, empty desk goes: a file in tmp_path, or a fresh PostgreSQL database
    (whose secrets and rules live in tmp_path)."""
    if backend == "sqlite":
        yield tmp_path / "desk.db"
        return
    server: pg.Server = request.getfixturevalue("pg_server")
    monkeypatch.setenv("GLADDESK_STATE_DIR", str(tmp_path / "state"))
    url = server.fresh()
    yield url
    server.drop(url)


@pytest.fixture
def desk(desk_location: str | Path, clock: ManualClock) -> Iterator[Desk]:
    desk = Desk.open(desk_location, clock=clock)
    seed_desk(desk)
    yield desk
    desk.close()


@pytest.fixture
def engine(desk: Desk) -> Engine:
    return Engine(desk)


# -- the demo desk, shared by the web, feed and security tests ---------------------------


@pytest.fixture(scope="module")
def built_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo(tmp_path_factory.mktemp("built") / "demo.db")


@pytest.fixture(scope="session")
def built_pg_demo(
    pg_server: pg.Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[pg.BuiltDesk]:
    """The demo desk built once per session into a PostgreSQL database, the template of each
    test's copy (`demo_db`), with its keystore and rules."""
    state = tmp_path_factory.mktemp("pg-demo-state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GLADDESK_STATE_DIR", str(state))
        url = build_demo_into(pg_server.fresh())
        built = pg.BuiltDesk(url, sidecar_base(url))
    yield built
    pg_server.drop(url)


@pytest.fixture
def demo_db(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DeskAt]:
    """A copy of the demo desk of the test's own: a file in tmp_path, or a PostgreSQL database
    (its keystore and rules in tmp_path/state)."""
    if backend == "sqlite":
        yield copy_desk(request.getfixturevalue("built_demo"), tmp_path)
        return
    server: pg.Server = request.getfixturevalue("pg_server")
    built: pg.BuiltDesk = request.getfixturevalue("built_pg_demo")
    monkeypatch.setenv("GLADDESK_STATE_DIR", str(tmp_path / "state"))
    url = server.copy(built.url)
    built.copy_sidecars(sidecar_base(url))
    yield url
    server.drop(url)


@pytest.fixture
def client(demo_db: DeskAt) -> Iterator[TestClient]:
    with TestClient(create_app(demo_db)) as test_client:
        yield test_client


@pytest.fixture
def api_auth(demo_db: DeskAt) -> dict[str, str]:
    with Desk.open(demo_db, create=False) as desk:
        token = add_api_user(desk, "Backend@Retale.example")
    return basic("backend@retale.example", token)


#: Files whose parametrized tests (many hostile or bad inputs, refused before the store is
#: written) run every case on SQLite and only their first case on PostgreSQL: the store's part
#: of them is the same for each case, and the suite stays within its time.
PG_FIRST_CASE_ONLY = frozenset(
    {
        "tests/security/test_hostile_input.py",
        "tests/unit/test_setup_config.py",
        "tests/unit/test_web_api.py",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept, dropped, seen = [], [], set()
    for item in items:
        callspec = getattr(item, "callspec", None)
        path = item.nodeid.split("::", 1)[0]
        if callspec is None or callspec.params.get("backend") != "postgresql":
            kept.append(item)
            continue
        if path in PG_FIRST_CASE_ONLY:
            function = (path, getattr(item, "originalname", item.name))
            if function in seen:
                dropped.append(item)
                continue
            seen.add(function)
        kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
