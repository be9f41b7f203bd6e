"""`gladdesk feed --url`: simulated customers drive a real server over HTTP, as a widget would.

Each test starts `gladdesk serve` on a fresh copy of the demo desk (a loopback port), makes an
API user with the CLI, runs the feed against the URL, and checks the desk through
`gladdesk export conversations`.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from tests.e2e.server import free_port, start_server

pytestmark = pytest.mark.e2e

API_USER = "feed.bot@example.com"
JULIE = "julie.romero@example.com"


@dataclass(frozen=True)
class Server:
    url: str
    db: Path
    token: str
    unused_db: Path  # what --db points at: a feed over HTTP must not create it


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner(env=env).invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@contextlib.contextmanager
def serving(built_demo: Path, tmp_path: Path, **budgets: int) -> Iterator[Server]:
    """`gladdesk serve` on a copy of the demo desk with an API user; `budgets` set the demo
    app's flood budgets first."""
    db = tmp_path / "demo.db"
    shutil.copy(built_demo, db)
    shutil.copy(f"{built_demo}.keys", f"{db}.keys")
    code, out, err = cli("--db", str(db), "api-users", "add", API_USER)
    assert code == 0, err
    token = out.strip().splitlines()[-1]
    if budgets:
        assignments = ", ".join(f"{name} = {value}" for name, value in budgets.items())
        with sqlite3.connect(db) as conn:
            conn.execute(f"UPDATE apps SET {assignments}")
        conn.close()
    port = free_port()
    process = start_server(db, port, tmp_path / "server.log")
    try:
        yield Server(f"http://127.0.0.1:{port}", db, token, tmp_path / "not-created.db")
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def server(built_demo: Path, tmp_path: Path) -> Iterator[Server]:
    with serving(built_demo, tmp_path) as served:
        yield served


def feed(server: Server, *args: str, token: str | None = None) -> tuple[int, str, str]:
    return cli(
        "--db",
        str(server.unused_db),
        "feed",
        *args,
        "--url",
        server.url,
        "--api-user",
        API_USER,
        "--api-token",
        token or server.token,
    )


def export(db: Path) -> list[dict]:
    code, out, err = cli("--db", str(db), "export", "conversations")
    assert code == 0, err
    return json.loads(out)


def new_conversations(server: Server, *args: str) -> tuple[dict, list[dict]]:
    """Run the feed with --json; its summary and the conversations it created."""
    before = {c["id"] for c in export(server.db)}
    code, out, err = feed(server, *args, "--pace", "fast", "--json")
    assert code == 0, out + err
    assert not server.unused_db.exists()
    return json.loads(out), [c for c in export(server.db) if c["id"] not in before]


def customer_messages(conversation: dict) -> list[dict]:
    return [
        i for i in conversation["items"] if i["type"] == "message" and i["sender"] == "customer"
    ]


# -- the authentication orders over HTTP (docs/authentication-orders.md) ---------------------------


def test_most_ideal_over_http_every_message_trusted(server: Server) -> None:
    stats, [conversation] = new_conversations(server, "--scenario", "most-ideal")
    assert stats["errors"] == 0 and stats["mismatches"] == []
    assert stats["skipped_agent_steps"] == 1  # the agent's reply: no widget API for agents
    messages = customer_messages(conversation)
    assert [m["trusted"] for m in messages] == [True, True]
    assert all(m["glyph"] == "green" for m in messages)
    assert conversation["identity"] == {
        "state": "TRUSTED",
        "source": "jwt",
        "trust_path": "before_routing",
    }
    assert conversation["customer"]["emails"] == [JULIE]
    assert conversation["assignee"] is not None
    assert not [i for i in conversation["items"] if i["sender"] == "agent"]


def test_undesired_over_http_same_conversation_trusted_from_login_on(server: Server) -> None:
    stats, [conversation] = new_conversations(server, "--scenario", "undesired")
    assert stats["errors"] == 0 and stats["mismatches"] == []
    assert stats["logins"] == 1 and stats["skipped_agent_steps"] == 2
    items = conversation["items"]
    messages = customer_messages(conversation)
    assert [m["trusted"] for m in messages] == [False, True]
    authenticated = next(n for n, i in enumerate(items) if i["event"] == "authenticated")
    first, second = (items.index(m) for m in messages)
    assert first < authenticated < second
    assert conversation["customer"]["id"] == 8  # Julie's existing profile
    assert conversation["identity"]["trust_path"] == "after_routing"
    assigned = [i for i in items if i["event"] == "assigned"]
    assert len(assigned) == 1 and conversation["assignee"] in assigned[0]["body"]


def test_bad_tokens_are_sent_and_their_rejection_codes_checked(server: Server) -> None:
    stats, [conversation] = new_conversations(server, "--scenario", "rejected-token")
    # The script expects bad_signature then alg_not_allowed: a different code is a mismatch.
    assert stats["rejected_tokens"] == 2 and stats["mismatches"] == []
    assert [m["trusted"] for m in customer_messages(conversation)] == [True]


def test_mix_over_http_finishes_without_errors(server: Server) -> None:
    before = len(export(server.db))
    stats, created = new_conversations(server, "--rate", "600", "--duration", "5", "--seed", "3")
    assert stats["errors"] == 0 and stats["mismatches"] == [], stats
    assert 30 <= stats["customers"] == stats["finished"]
    assert stats["messages"] > stats["customers"] and stats["trusted_messages"] > 0
    assert stats["agent_steps"] == 0 and stats["skipped_agent_steps"] > 0
    assert stats["http_requests"] >= stats["messages"] + stats["logins"]
    # A fast feed cannot wait out a trust window on the server's clock: left out of the mix.
    assert "trust-lapse" not in stats["by_scenario"]
    assert len(created) == stats["conversations"] > 0
    assert len(export(server.db)) == before + len(created)
    fed_messages = [m for c in created for m in customer_messages(c)]
    assert sum(1 for m in fed_messages if m["trusted"]) == stats["trusted_messages"]


def test_the_feed_with_api_credentials_is_not_slowed_by_the_flood_budgets(
    built_demo: Path, tmp_path: Path
) -> None:
    # Every simulated customer comes from 127.0.0.1, far past the address's budgets.
    with serving(built_demo, tmp_path, address_sessions_per_min=2) as server:
        args = ("--rate", "600", "--duration", "2", "--seed", "5")
        stats, created = new_conversations(server, *args)
    assert stats["errors"] == 0 and stats["mismatches"] == [], stats
    assert stats["customers"] == stats["finished"] >= 10
    assert len(created) == stats["conversations"] > 2
    with sqlite3.connect(server.db) as conn:
        counted = conn.execute(
            "SELECT count(*) FROM widget_sessions WHERE client_address IS NOT NULL"
            " AND api_user IS NULL"
        ).fetchone()[0]
    conn.close()
    assert counted == 0


# -- hostile input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1:8080",
        "http://",
        "127.0.0.1:8080",
        "http://127.0.0.1:99999",
        "http://127.0.0.1:8080/?token=x",
        "http://user:pw@127.0.0.1:8080",
        "http://127.0.0.1:8080/\x1b[31m",
    ],
)
def test_bad_urls_are_usage_errors(url: str, tmp_path: Path) -> None:
    code, out, err = cli(
        "--db", str(tmp_path / "x.db"), "feed", "--scenario", "standard", "--url", url
    )
    assert code == 2, out + err
    assert "--url" in err
    assert not (tmp_path / "x.db").exists()


def test_unreachable_server_is_one_line_and_exit_1(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    code, out, err = cli(
        "--db", str(tmp_path / "x.db"), "feed", "--scenario", "standard", "--url", url
    )
    assert code == 1
    assert err.strip().count("\n") == 0 and f"cannot reach {url}" in err
    assert not (tmp_path / "x.db").exists()


def test_a_server_that_is_not_gladdesk_is_refused(tmp_path: Path) -> None:
    class NotFound(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    other = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=other.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{other.server_address[1]}"
        code, out, err = cli("feed", "--scenario", "standard", "--url", url)
    finally:
        other.shutdown()
        other.server_close()
    assert code == 1
    assert err.strip().count("\n") == 0 and "does not look like a gladdesk server" in err


def test_wrong_api_token_is_refused_and_changes_nothing(server: Server) -> None:
    before = export(server.db)
    code, out, err = feed(server, "--scenario", "most-ideal", "--pace", "fast", token="gdk_nope")
    assert code == 1
    assert err.strip().count("\n") == 0 and "refused the API credentials" in err and "401" in err
    assert export(server.db) == before
    assert not server.unused_db.exists()


def test_unknown_app_stops_the_feed_with_one_line(server: Server) -> None:
    before = export(server.db)
    code, out, err = feed(server, "--scenario", "standard", "--pace", "fast", "--app", "nope")
    assert code == 1
    assert err.strip().count("\n") == 0 and "app 'nope'" in err and "--app" in err
    assert export(server.db) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "most-ideal", "--url", "http://127.0.0.1:9"], "--api-user EMAIL"),
        (["--scenario", "most-ideal", "--api-user", API_USER], "--api-user goes with --url"),
        (["--scenario", "most-ideal", "--app", "retale"], "--app goes with --url"),
        (
            ["--scenario", "trust-lapse", "--pace", "fast", "--url", "http://127.0.0.1:9"]
            + ["--api-user", API_USER, "--api-token", "t"],
            "--pace real",
        ),
        (
            ["--scenario", "standard", "--skip-agent", "ana", "--url", "http://127.0.0.1:9"],
            "--skip-agent",
        ),
    ],
)
def test_option_misuse_is_a_usage_error_before_any_request(
    args: list[str], message: str, tmp_path: Path
) -> None:
    # Port 9 (discard) on loopback: nothing answers there, so any request would exit 1.
    code, out, err = cli("--db", str(tmp_path / "x.db"), "feed", *args)
    assert code == 2, out + err
    assert message in err
    assert not (tmp_path / "x.db").exists()


def test_credentials_come_from_the_environment(server: Server) -> None:
    code, out, err = cli(
        "--db",
        str(server.unused_db),
        "feed",
        "--scenario",
        "most-ideal",
        "--pace",
        "fast",
        "--url",
        server.url,
        env={"GLADDESK_API_USER": API_USER, "GLADDESK_API_TOKEN": server.token},
    )
    assert code == 0, out + err
    assert "most-ideal: done" in out and "(2 trusted)" in out
