"""A process writing to a shared desk for the concurrency test (tests/unit/test_concurrency.py).

    python -m tests.unit.concurrency_worker ROLE DB SECONDS OUT_JSON SEED

ROLE is `customers` (widget sessions sending messages) or `agents` (replies, transfers,
closes, reopens). Every success is recorded; any exception other than an expected refusal
(e.g. closing a conversation someone else just closed) ends the run as a failure.
"""

from __future__ import annotations

import json
import random
import sys
import time
import traceback

from core.engine import Engine
from core.errors import Conflict
from core.store import Desk


def customers(engine: Engine, deadline: float, rng: random.Random, tag: str) -> dict:
    sent: list[str] = []
    sessions = 0
    while time.monotonic() < deadline:
        start = engine.init_session("shop")
        sessions += 1
        engine.submit_onboarding(
            start.session_id, name=f"Customer {tag}{sessions}", email=f"{tag}{sessions}@example.com"
        )
        for n in range(rng.randint(1, 4)):
            body = f"{tag}-{sessions}-{n}"
            engine.send_message(start.session_id, body)
            sent.append(body)
        if rng.random() < 0.3:
            engine.clear_user(start.session_id)
        engine.end_session(start.session_id)
    return {"customer_messages": sent, "sessions": sessions}


def agents(engine: Engine, deadline: float, rng: random.Random, tag: str) -> dict:
    replies: list[str] = []
    actions = 0
    refused = 0
    handles = engine.agent_handles()
    while time.monotonic() < deadline:
        row = engine.desk.query_one(
            "SELECT id, status FROM conversations ORDER BY random() LIMIT 1"
        )
        if row is None:
            time.sleep(0.01)
            continue
        conversation_id, status = row
        agent = rng.choice(handles)
        try:
            if status == "CLOSED":
                engine.reopen(conversation_id, agent)
            else:
                choice = rng.random()
                if choice < 0.6:
                    body = f"{tag}-reply-{actions}"
                    engine.reply(conversation_id, agent, body)
                    replies.append(body)
                elif choice < 0.8:
                    engine.transfer(conversation_id, agent, to_agent=rng.choice(handles))
                else:
                    engine.close(conversation_id, agent, force=True)
        except Conflict:
            refused += 1  # raced with a customer or another action: a refusal, not a failure
        actions += 1
    return {"agent_replies": replies, "actions": actions, "refused": refused}


def main() -> None:
    role, db, seconds, out, seed = sys.argv[1:6]
    rng = random.Random(int(seed))
    result: dict = {"role": role, "error": None}
    try:
        with Desk.open(db) as desk:
            engine = Engine(desk)
            deadline = time.monotonic() + float(seconds)
            work = customers if role == "customers" else agents
            result.update(work(engine, deadline, rng, f"{role[0]}{seed}"))
    except BaseException:
        result["error"] = traceback.format_exc()
    with open(out, "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()
