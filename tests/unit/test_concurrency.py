"""Several processes on one database file: no lost write, no `database is locked` to a caller."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.store import Desk
from tests.helpers import one_row, seed_desk

SECONDS = float(os.environ.get("GLADDESK_CONCURRENCY_SECONDS", "30"))


@pytest.mark.slow
def test_two_customer_processes_and_one_agent_process(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    with Desk.open(db) as desk:
        seed_desk(desk, capacity=1000)
    roles = [("customers", 1), ("customers", 2), ("agents", 3)]
    procs = []
    for role, seed in roles:
        out = tmp_path / f"{role}-{seed}.json"
        procs.append(
            (
                out,
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "tests.unit.concurrency_worker",
                        role,
                        str(db),
                        str(SECONDS),
                        str(out),
                        str(seed),
                    ],
                ),
            )
        )
    results = []
    for out, proc in procs:
        assert proc.wait(timeout=SECONDS + 120) == 0
        results.append(json.loads(out.read_text()))
    for result in results:
        assert result["error"] is None, result["error"]
    sent = [m for r in results for m in r.get("customer_messages", [])]
    replies = [m for r in results for m in r.get("agent_replies", [])]
    assert len(sent) > 100 and len(replies) > 20, (len(sent), len(replies))
    with Desk.open(db) as desk:
        stored_customer = {
            r[0] for r in desk.query("SELECT body FROM items WHERE sender = 'customer'")
        }
        stored_agent = {r[0] for r in desk.query("SELECT body FROM items WHERE sender = 'agent'")}
        assert one_row(desk, "PRAGMA integrity_check")[0] == "ok"
        # the agent-load counters kept by triggers agree with a recount
        drift = desk.query(
            "SELECT a.handle, a.open_conversations, (SELECT count(*) FROM conversations c"
            " WHERE c.assignee_id = a.id AND c.status != 'CLOSED') FROM agents a"
        )
    assert set(sent) <= stored_customer, "customer messages lost"
    assert len(sent) == len(set(sent))
    assert set(replies) <= stored_agent, "agent replies lost"
    assert all(row[1] == row[2] for row in drift), [tuple(r) for r in drift]
