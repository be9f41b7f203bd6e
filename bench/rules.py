"""Rules benchmark (issue 8).

Customer messages per second through the engine on a trusted session with the demo rules
(fixtures/rules.toml, loaded as a desk loads them: a reloading `RuleBook` beside the
database), against the same engine without rules, in the same run. A third desk has an empty
rules file: it separates the engine's per-message rules hook (gathering the facts) from the
cost of the rules themselves. The desks take turns in chunks so machine noise hits all alike;
each keeps its best chunk. Target: demo rules within 10% of no rules (ratio >= 0.90).

Also shown, without a target: full session starts (init + set_user jwt + a first message the
Returns rule routes, greets and tags), which do more work with rules by design.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.clock import ManualClock  # noqa: E402
from core.engine import Engine  # noqa: E402
from core.rules import rules_for_desk, rules_path_for  # noqa: E402
from core.store import Desk  # noqa: E402
from tests.helpers import seed_desk  # noqa: E402

DEMO_RULES = Path(__file__).resolve().parent.parent / "fixtures" / "rules.toml"
CHUNK = 2_000
ROUNDS = 6
SESSIONS = 1_500


def open_engine(path: Path, rules_text: str | None) -> Engine:
    """An engine on a fresh desk; `rules_text` goes in the desk's rules file (None: no file)."""
    desk = Desk.open(path, clock=ManualClock())
    seed_desk(desk, agents=tuple(f"agent{n}" for n in range(20)), capacity=100_000)
    if rules_text is None:
        return Engine(desk)
    rules_path_for(desk).write_text(rules_text, encoding="utf-8")
    return Engine(desk, rules=rules_for_desk(desk))


def message_rates(tmp: Path) -> dict[str, float]:
    """Best messages/s of each setup over ROUNDS chunks taken in turns."""
    setups = {
        "no rules": None,
        "demo rules": DEMO_RULES.read_text(encoding="utf-8"),
        "empty rules file": "# no rules\n",
    }
    engines, sessions = {}, {}
    for number, (label, text) in enumerate(setups.items()):
        engine = engines[label] = open_engine(tmp / f"messages-{number}.db", text)
        session = sessions[label] = engine.init_session("shop").session_id
        engine.set_user(session, jwt=engine.keyring.mint(email="julie@example.com", name="Julie"))
        first = engine.send_message(session, "I'd like to return my boots")
        expected = "Returns" if label == "demo rules" else "Chat"
        assert engine.conversation(first.conversation_id).inbox == expected
    best = dict.fromkeys(setups, 0.0)
    labels = list(setups)
    for round_number in range(ROUNDS):
        turn = labels[round_number % len(labels) :] + labels[: round_number % len(labels)]
        for label in turn:
            engine, session = engines[label], sessions[label]
            clock = engine.desk.clock
            assert isinstance(clock, ManualClock)
            started = time.perf_counter()
            for n in range(CHUNK):
                clock.advance(0.001)
                assert engine.send_message(session, f"and one more thing, number {n}").trusted
            best[label] = max(best[label], CHUNK / (time.perf_counter() - started))
    for engine in engines.values():
        engine.desk.close()
    return best


def session_starts(path: Path, rules_text: str | None) -> float:
    engine = open_engine(path, rules_text)
    tokens = [engine.keyring.mint(email=f"c{n}@example.com", name="Julie") for n in range(SESSIONS)]
    started = time.perf_counter()
    for token in tokens:
        session = engine.init_session("shop").session_id
        engine.set_user(session, jwt=token)
        assert engine.send_message(session, "Can I return these boots?").assignee is not None
    rate = SESSIONS / (time.perf_counter() - started)
    engine.desk.close()
    return rate


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        rates = message_rates(tmp)
        plain = rates["no rules"]
        for label, rate in rates.items():
            print(f"engine, trusted session, {label + ':':18} {rate:8,.0f} customer messages/s")
        ratio = rates["demo rules"] / plain
        print(
            f"ratio demo rules / no rules: {ratio:.3f} (target >= 0.90)"
            f" {'OK' if ratio >= 0.90 else 'MISSED'}"
        )
        print(f"ratio empty rules file / no rules: {rates['empty rules file'] / plain:.3f}")
        starts_plain = session_starts(tmp / "starts-plain.db", None)
        starts_ruled = session_starts(tmp / "starts-rules.db", DEMO_RULES.read_text("utf-8"))
        print(
            f"full session starts (init + set_user jwt + first message): no rules"
            f" {starts_plain:,.0f}/s, demo rules {starts_ruled:,.0f}/s"
            f" (ratio {starts_ruled / starts_plain:.3f}; the Returns rule adds a greeting and a"
            " tag, no target)"
        )


if __name__ == "__main__":
    main()
