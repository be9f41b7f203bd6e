"""The limiters in memory (core/web/limits.py), the budget settings (core/budgets.py) and
`serve --forwarded-allow-ips`, with an injected clock: bounded maps, expiry, all-or-none."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from cli.serve import _check_proxies
from core.addresses import address_group
from core.budgets import BUDGET_DEFAULTS, check_budgets
from core.errors import DeskError, RateLimited
from core.store import Desk
from core.store.schema import _v3
from core.web.limits import Budgets, FailureLimiter, FixedBudget, TokenBuckets
from sim.demo_desk import FIXTURES, FixtureError, build_demo


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def app(**settings: int) -> dict[str, object]:
    return {"app_id": "shop", **BUDGET_DEFAULTS, **settings}


# -- the failure limiter ----------------------------------------------------------------------


def test_the_failure_limiter_never_holds_more_than_its_bound() -> None:
    clock = Clock()
    limiter = FailureLimiter(3, 60.0, now=clock, max_keys=100)
    for n in range(1000):
        limiter.fail(f"addr:{n}")
        assert len(limiter) <= 100
    # The least recently failing went first; the latest are still counted.
    assert limiter.retry_after("addr:0") == 0
    for _ in range(2):
        limiter.fail("addr:999")
    assert limiter.retry_after("addr:999") == 60


def test_the_failure_limiter_drops_expired_keys_as_it_goes() -> None:
    clock = Clock()
    limiter = FailureLimiter(3, 60.0, now=clock, max_keys=1000)
    for n in range(10):
        limiter.fail(f"addr:{n}")
    clock.now = 61.0
    for _ in range(5):  # each call drops up to two expired keys besides its own
        limiter.retry_after("addr:other")
    assert len(limiter) == 0


def test_a_key_failing_again_moves_behind_the_others() -> None:
    clock = Clock()
    limiter = FailureLimiter(2, 60.0, now=clock, max_keys=2)
    limiter.fail("addr:a")
    limiter.fail("addr:b")
    limiter.fail("addr:a")  # a is now the most recent
    limiter.fail("addr:c")  # pushes out b, not a
    assert limiter.retry_after("addr:a") == 60
    limiter.fail("addr:b")
    assert limiter.retry_after("addr:b") == 0  # b starts over with one failure


# -- token buckets and budgets --------------------------------------------------------------------


def test_a_token_bucket_map_never_holds_more_than_its_bound() -> None:
    clock = Clock()
    buckets = TokenBuckets(max_keys=50)
    for n in range(500):
        tokens = buckets.level(f"k{n}", 10.0, 1.0, clock.now)
        buckets.keep(f"k{n}", tokens - 1, 10.0, 1.0, clock.now)
        assert len(buckets) <= 50


def test_a_refilled_bucket_is_dropped() -> None:
    clock = Clock()
    buckets = TokenBuckets(max_keys=50)
    for n in range(6):
        buckets.keep(f"k{n}", 9.0, 10.0, 1.0, clock.now)
    clock.now = 1.5  # each refilled its one token after 1 s
    for _ in range(3):
        buckets.level("other", 10.0, 1.0, clock.now)
    assert len(buckets) == 0


def test_a_budget_lets_a_burst_through_then_one_per_interval() -> None:
    clock = Clock()
    budgets = Budgets(now=clock)
    shop = app(address_sessions_per_min=3, app_sessions_per_min=0)
    for _ in range(3):
        budgets.take("sessions", shop, "10.0.0.1")
    with pytest.raises(RateLimited) as refused:
        budgets.take("sessions", shop, "10.0.0.1")
    assert refused.value.retry_after_s == 20  # 3 a minute: one every 20 s
    assert refused.value.code == "rate_limited"
    budgets.take("sessions", shop, "10.0.0.2")  # another address has its own
    clock.now = 20.5
    budgets.take("sessions", shop, "10.0.0.1")
    with pytest.raises(RateLimited):
        budgets.take("sessions", shop, "10.0.0.1")


def test_a_fixed_budget_lets_its_burst_through_then_one_per_interval() -> None:
    clock = Clock()
    budget = FixedBudget(30, now=clock, max_keys=4)
    for _ in range(30):
        assert budget.wait("session:a") == 0
        budget.spend("session:a")
    assert budget.wait("session:a") == pytest.approx(2.0)  # 30 a minute: one every 2 s
    assert budget.wait("session:b") == 0  # keys apart
    clock.now = 1.0
    assert budget.wait("session:a") == pytest.approx(1.0)
    clock.now = 2.0
    assert budget.wait("session:a") == 0
    for n in range(10):  # bounded: the least recently used key goes first
        budget.spend(f"session:{n}")
    assert len(budget) == 4


def test_an_address_refused_does_not_spend_the_apps_budget() -> None:
    clock = Clock()
    budgets = Budgets(now=clock)
    shop = app(address_conversations_per_min=1, app_conversations_per_min=3)
    budgets.take("conversations", shop, "10.0.0.1")
    for _ in range(10):
        with pytest.raises(RateLimited):
            budgets.take("conversations", shop, "10.0.0.1")
    budgets.take("conversations", shop, "10.0.0.2")
    budgets.take("conversations", shop, "10.0.0.3")
    with pytest.raises(RateLimited) as refused:
        budgets.take("conversations", shop, "10.0.0.4")
    assert "all addresses" in str(refused.value)


def test_a_zero_budget_is_no_limit_and_budgets_of_each_kind_and_app_are_apart() -> None:
    budgets = Budgets(now=Clock())
    free = app(address_identifications_per_min=0, app_identifications_per_min=0)
    for _ in range(1000):
        budgets.take("identifications", free, "10.0.0.1")
    tight = app(address_sessions_per_min=1)
    budgets.take("sessions", tight, "10.0.0.1")
    budgets.take("conversations", tight, "10.0.0.1")
    budgets.take("sessions", {**tight, "app_id": "other"}, "10.0.0.1")
    with pytest.raises(RateLimited):
        budgets.take("sessions", tight, "10.0.0.1")


def test_a_flood_of_addresses_cannot_push_an_apps_bucket_out() -> None:
    clock = Clock()
    budgets = Budgets(max_addresses=10, now=clock)
    shop = app(app_sessions_per_min=5)
    for n in range(5):
        budgets.take("sessions", shop, f"10.0.0.{n}")
    for n in range(100):
        budgets.take("identifications", shop, f"10.1.0.{n}")
    assert len(budgets.addresses) <= 10
    with pytest.raises(RateLimited):
        budgets.take("sessions", shop, "10.2.0.1")


# -- addresses ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "group"),
    [
        ("127.0.0.2", "127.0.0.2"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::9", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("fe80::1%eth0", "fe80::/64"),
        ("testclient", "testclient"),
        ("x" * 500, "x" * 100),
        ("", None),
        (None, None),
    ],
)
def test_addresses_are_counted_per_ipv4_address_and_per_ipv6_64(
    host: str | None, group: str | None
) -> None:
    assert address_group(host) == group


# -- the settings -------------------------------------------------------------------------------


def test_the_migration_sets_the_documented_defaults() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE apps (app_id TEXT PRIMARY KEY)")
    conn.execute("CREATE TABLE widget_sessions (id TEXT, client_address TEXT)")
    conn.execute(
        "CREATE TABLE conversations (id INTEGER, app_id TEXT, started_session_id TEXT,"
        " status TEXT, assignee_id INTEGER)"
    )
    conn.execute("INSERT INTO apps VALUES ('shop')")
    _v3(conn)
    row = conn.execute(f"SELECT {', '.join(BUDGET_DEFAULTS)} FROM apps").fetchone()
    assert dict(zip(BUDGET_DEFAULTS, row, strict=True)) == BUDGET_DEFAULTS
    conn.close()


def test_the_docs_state_the_defaults() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "config.md").read_text(encoding="utf-8")
    for name, default in BUDGET_DEFAULTS.items():
        assert f"| `{name}` | `{default}` |" in docs, name


@pytest.mark.parametrize("value", [-1, 1_000_001, 2.5, "60", True, None, [60]])
def test_a_bad_budget_value_is_refused_naming_the_setting(value: object) -> None:
    with pytest.raises(DeskError, match="address_sessions_per_min"):
        check_budgets({"address_sessions_per_min": value}, "desk.toml: app 'shop'")


def fixtures_with(tmp_path: Path, extra: str) -> Path:
    folder = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, folder)
    desk = folder / "desk.toml"
    text = desk.read_text(encoding="utf-8")
    desk.write_text(text.replace("[[inboxes]]", extra + "\n[[inboxes]]", 1), encoding="utf-8")
    return folder


def test_an_app_sets_its_budgets_in_desk_toml(tmp_path: Path) -> None:
    fixtures = fixtures_with(tmp_path, "address_sessions_per_min = 5\naddress_unassigned_max = 0")
    db = build_demo(tmp_path / "built.db", fixtures)
    with Desk.open(db, create=False) as desk:
        row = desk.query_one(
            "SELECT address_sessions_per_min, address_unassigned_max, app_sessions_per_min"
            " FROM apps WHERE app_id = 'retale'"
        )
    assert row is not None and tuple(row) == (5, 0, BUDGET_DEFAULTS["app_sessions_per_min"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("address_sessions_per_min = -5", r"desk.toml:\d+: .*address_sessions_per_min: must be 0"),
        ('app_conversations_per_min = "lots"', "app_conversations_per_min: must be a whole"),
        ("address_sesions_per_min = 5", "address_sesions_per_min: unknown setting"),
    ],
)
def test_a_bad_budget_in_desk_toml_fails_the_build(
    tmp_path: Path, extra: str, message: str
) -> None:
    fixtures = fixtures_with(tmp_path, extra)
    out = tmp_path / "built.db"
    with pytest.raises(FixtureError, match=message):
        build_demo(out, fixtures)
    assert not out.exists()


# -- serve --forwarded-allow-ips --------------------------------------------------------------------


def test_forwarded_allow_ips_takes_addresses_and_networks() -> None:
    assert _check_proxies(None) is None
    assert _check_proxies(" * ") == "*"
    assert _check_proxies("10.0.0.5, 10.1.0.0/16,::1") == "10.0.0.5,10.1.0.0/16,::1"
    assert _check_proxies("10.1.2.3/16") == "10.1.0.0/16"


@pytest.mark.parametrize(
    "value",
    ["", "localhost", "10.0.0.5,", "10.0.0.5;10.0.0.6", "10.0.0.0/33", "*,10.0.0.1", "\x1b[31m"]
    + [",".join(["10.0.0.1"] * 101)],
)
def test_a_bad_forwarded_allow_ips_is_a_usage_error_before_serving(
    value: str, tmp_path: Path
) -> None:
    db = tmp_path / "desk.db"
    result = CliRunner().invoke(
        main, ["--db", str(db), "serve", "--port", "9", "--forwarded-allow-ips", value]
    )
    assert result.exit_code == 2, result.output
    assert "--forwarded-allow-ips" in result.stderr
    assert "\x1b" not in result.stderr
    assert not db.exists()
