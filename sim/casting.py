"""Who plays the scripts in the random customer mix: realistic people and topics from the
fixtures (customers.json, conversations.json), so simulated chats read like the demo's own.
"""

from __future__ import annotations

import itertools
import json
import random
import unicodedata
from pathlib import Path

from core.contacts import normalize_email
from sim.project_files import FIXTURES
from sim.scenarios import Cast, Person, Scenario, Topic


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


class Casting:
    """Realistic people and topics from the fixtures: customers.json, conversations.json."""

    def __init__(self, fixtures: Path = FIXTURES) -> None:
        customers = json.loads((fixtures / "customers.json").read_text(encoding="utf-8"))
        conversations = json.loads((fixtures / "conversations.json").read_text(encoding="utf-8"))
        with_history = {c["customer"] for c in conversations}
        busy = {c["customer"] for c in conversations if c["status"] != "CLOSED"}
        returning = [c for c in customers if c["id"] in with_history and c["id"] not in busy]
        self.by_email = [
            Person(c["name"], email=normalize_email(c["emails"][0]))
            for c in returning
            if c["emails"]
        ]
        self.by_phone = [Person(c["name"], phone=c["phones"][0]) for c in returning if c["phones"]]
        self.first_names = sorted({c["name"].split()[0] for c in customers})
        self.last_names = sorted({c["name"].split()[-1] for c in customers})
        topics = []
        for conversation in conversations:
            messages = [i for i in conversation["items"] if i["type"] == "message"]
            customer = [m["body"] for m in messages if m["sender"] == "customer"]
            agent = [m["body"] for m in messages if m["sender"] == "agent"]
            if len(customer) >= 2 and agent:
                topics.append(Topic(customer[0], agent[0], customer[1]))
        self.topics = sorted(set(topics), key=lambda t: (t.question, t.answer, t.thanks))
        self._new = itertools.count(1)

    def cast(self, scenario: Scenario, rng: random.Random) -> Cast:
        """Replace each person of the script by a different fixture customer or a new one."""
        used: set[str] = set()
        people = {}
        for key, person in scenario.people.items():
            people[key] = self._person(person, rng, used)
            used.add(people[key].contact)
        return Cast(people, rng.choice(self.topics) if self.topics else scenario.topic)

    def _person(self, person: Person, rng: random.Random, used: set[str]) -> Person:
        pool = self.by_phone if person.phone else self.by_email
        returning = person.cast == "returning" or (person.cast == "any" and rng.random() < 0.6)
        if returning and pool:
            for _ in range(8):
                chosen = rng.choice(pool)
                if chosen.contact not in used:
                    return chosen
        number = next(self._new)
        first, last = rng.choice(self.first_names), rng.choice(self.last_names)
        if person.phone:
            return Person(f"{first} {last}", phone=f"+1415555{number % 10_000:04d}", cast="new")
        email = f"{_ascii(first)}.{_ascii(last)}.{number}@feed.example.net"
        return Person(f"{first} {last}", email=email, cast="new")
