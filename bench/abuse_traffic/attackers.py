"""The attackers, every one from addresses of its own (127.0.2.x), all in one process: a
session flood, bad-token guessing, event-stream reconnect loops, and identity tokens naming
unknown kids (which send the server to the trickling JWKS host)."""

from __future__ import annotations

import base64
import os
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import jwt

from abuse_traffic.counted import Tally, call, client_for, new_session, sleep_until

TIMEOUT_S = 5.0
#: The attackers' CPU priority: they stand for other machines, so they yield the CPU to the
#: server and the honest customers on the 2 shared cores (they still take all that is idle).
NICE = 10
FLOOD_ADDRESSES = ("127.0.2.1", "127.0.2.2", "127.0.2.3", "127.0.2.4")
WIDGET_GUESS_ADDRESS = "127.0.2.10"
ADMIN_GUESS_ADDRESS = "127.0.2.11"
STREAM_ADDRESS = "127.0.2.20"
STREAM_LOOPS = 12
STREAM_SESSIONS = 3
KID_ADDRESS = "127.0.2.30"

#: Each attack and where it comes from, as the report names them.
ATTACKS = {
    "session flood": f"{len(FLOOD_ADDRESSES)} connections from {', '.join(FLOOD_ADDRESSES)}",
    "bad session tokens": WIDGET_GUESS_ADDRESS,
    "bad API logins": ADMIN_GUESS_ADDRESS,
    "event-stream reconnects": f"{STREAM_LOOPS} loops on {STREAM_SESSIONS} sessions from"
    f" {STREAM_ADDRESS}",
    "unknown kids": f"{KID_ADDRESS}, against the trickling JWKS host",
}


def attack_all(port: int, start_at: float, stop_at: float) -> dict[str, Tally]:
    """Every attack at once from `start_at` to `stop_at`, one thread per connection."""
    os.nice(NICE)
    tallies = {name: Tally() for name in ATTACKS}
    sessions = stream_sessions(port, tallies["event-stream reconnects"])
    plan: list[tuple[str, Callable[..., Tally], tuple[object, ...]]] = [
        ("session flood", session_flood, (address,)) for address in FLOOD_ADDRESSES
    ]
    plan += [("bad session tokens", guess_session_tokens, ())]
    plan += [("bad API logins", guess_api_logins, ())]
    plan += [
        ("event-stream reconnects", reconnect_loop, (sessions[i % len(sessions)],))
        for i in range(STREAM_LOOPS if sessions else 0)
    ]
    plan += [("unknown kids", unknown_kids, ())]
    with ThreadPoolExecutor(len(plan)) as pool:
        running = [
            (name, pool.submit(fn, port, start_at, stop_at, *args)) for name, fn, args in plan
        ]
        for name, future in running:
            tallies[name].add(future.result())
    return tallies


def session_flood(port: int, start_at: float, stop_at: float, address: str) -> Tally:
    """Sessions as fast as one connection allows; each one onboarded and sent a message."""
    tally = Tally()
    with client_for(port, address, TIMEOUT_S) as client:
        sleep_until(start_at)
        n = 0
        while time.time() < stop_at:
            auth = new_session(client, tally)
            if auth is None:
                continue
            n += 1
            who = {"name": f"Flood {n}", "email": f"flood-{address}-{n}@example.com"}
            call(client, tally, "POST", "/widget/v1/onboarding", headers=auth, json=who)
            call(client, tally, "POST", "/widget/v1/messages", headers=auth, json={"body": "hi"})
    return tally


def guess_session_tokens(port: int, start_at: float, stop_at: float) -> Tally:
    """Random bearer tokens on the widget API."""
    tally = Tally()
    with client_for(port, WIDGET_GUESS_ADDRESS, TIMEOUT_S) as client:
        sleep_until(start_at)
        while time.time() < stop_at:
            auth = {"Authorization": f"Bearer {secrets.token_urlsafe(32)}"}
            call(client, tally, "GET", "/widget/v1/session", headers=auth)
    return tally


def guess_api_logins(port: int, start_at: float, stop_at: float) -> Tally:
    """Random Basic credentials on the admin API."""
    tally = Tally()
    query = {"email": "someone@example.com"}
    with client_for(port, ADMIN_GUESS_ADDRESS, TIMEOUT_S) as client:
        sleep_until(start_at)
        while time.time() < stop_at:
            login = f"ops-{secrets.token_hex(3)}@example.com:{secrets.token_urlsafe(24)}"
            auth = {"Authorization": "Basic " + base64.b64encode(login.encode()).decode()}
            call(client, tally, "GET", "/api/v1/customer-profiles", headers=auth, params=query)
    return tally


def stream_sessions(port: int, tally: Tally) -> list[dict[str, str]]:
    """Sessions with a few events each, for the reconnect loops to replay from 0."""
    sessions = []
    with client_for(port, STREAM_ADDRESS, TIMEOUT_S) as client:
        for n in range(STREAM_SESSIONS):
            auth = new_session(client, tally)
            if auth is None:
                continue
            who = {"name": f"Stream {n}", "email": f"stream-{n}@example.com"}
            call(client, tally, "POST", "/widget/v1/onboarding", headers=auth, json=who)
            call(client, tally, "POST", "/widget/v1/messages", headers=auth, json={"body": "hi"})
            sessions.append(auth)
    return sessions


def reconnect_loop(port: int, start_at: float, stop_at: float, auth: dict[str, str]) -> Tally:
    """Open the event stream from event 0, read until the replay starts, close; again."""
    tally = Tally()
    outcome = "GET /widget/v1/events {}"
    with client_for(port, STREAM_ADDRESS, TIMEOUT_S) as client:
        sleep_until(start_at)
        while time.time() < stop_at:
            try:
                with client.stream(
                    "GET", "/widget/v1/events", params={"after": 0}, headers=auth
                ) as response:
                    tally.counts[outcome.format(response.status_code)] += 1
                    if response.status_code != 200:
                        response.read()
                        continue
                    for chunk in response.iter_raw():
                        if b"\nid: " in chunk:
                            break
            except httpx.HTTPError as exc:
                tally.counts[outcome.format(type(exc).__name__)] += 1
    return tally


def unknown_kids(port: int, start_at: float, stop_at: float) -> Tally:
    """`setUser` with HS256 tokens naming random kids: each asks for a keyset refresh. A
    session that gets 429 is dropped for a new one."""
    tally = Tally()
    secret = os.urandom(32)
    with client_for(port, KID_ADDRESS, TIMEOUT_S) as client:
        sleep_until(start_at)
        auth = None
        while time.time() < stop_at:
            if auth is None:
                auth = new_session(client, tally)
                continue
            claims = {"sub": secrets.token_hex(6), "exp": int(time.time()) + 300}
            token = jwt.encode(claims, secret, "HS256", headers={"kid": secrets.token_hex(8)})
            body = {"jwt": token}
            response = call(client, tally, "PUT", "/widget/v1/user", headers=auth, json=body)
            if response is not None and response.status_code == 429:
                auth = None
    return tally
