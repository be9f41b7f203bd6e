"""The honest customers: each from its own address, one session, identified, chatting on a
schedule of its own (open loop)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from abuse_traffic.counted import APP, Tally, call, client_for, sleep_until

CUSTOMERS = 32
TIMEOUT_S = 10.0
#: The longest a customer waits after a refused init (whatever its Retry-After says).
MAX_WAIT_S = 10.0


def honest_address(n: int) -> str:
    return f"127.0.1.{n + 1}"


@dataclass(frozen=True)
class Schedule:
    port: int
    tag: str  # keeps each phase's emails apart
    open_at: float  # sessions start (spread over a second)
    chat_at: float  # first messages (spread over an interval)
    stop_at: float
    interval: float  # seconds between one customer's messages


def honest_worker(schedule: Schedule, customers: list[int]) -> Tally:
    """Customers number `customers`, one thread each."""
    tally = Tally()
    with ThreadPoolExecutor(len(customers)) as pool:
        for result in pool.map(lambda n: honest_customer(schedule, n), customers):
            tally.add(result)
    return tally


def honest_customer(schedule: Schedule, n: int) -> Tally:
    """Open a session and identify, then send a message every `interval` s until `stop_at`."""
    tally = Tally()
    with client_for(schedule.port, honest_address(n), TIMEOUT_S) as client:
        sleep_until(schedule.open_at + n / CUSTOMERS)
        while "Authorization" not in client.headers:
            if time.time() >= schedule.stop_at:
                return tally
            open_and_identify(client, tally, f"honest-{schedule.tag}-{n}", n % 2 == 1)
        next_at = schedule.chat_at + schedule.interval * n / CUSTOMERS
        sent = 0
        while True:
            sleep_until(next_at)
            next_at += schedule.interval
            if time.time() >= schedule.stop_at:
                return tally
            sent += 1
            started = time.perf_counter()
            response = call(
                client, tally, "POST", "/widget/v1/messages", json={"body": f"message {sent}"}
            )
            if response is not None and response.status_code == 201:
                tally.latencies.append(time.perf_counter() - started)


def open_and_identify(client: httpx.Client, tally: Tally, name: str, set_user: bool) -> None:
    """A session (its token set on `client`), identified by `setUser` or the onboarding form.
    After a refused init the customer waits as its Retry-After says (MAX_WAIT_S at most), after
    one with no answer a second."""
    response = call(client, tally, "POST", "/widget/v1/sessions", json={"appId": APP})
    if response is None:
        time.sleep(1.0)
        return
    if response.status_code != 201:
        try:
            wait = float(response.headers.get("Retry-After", "1"))
        except ValueError:
            wait = 1.0
        time.sleep(min(max(wait, 0.0), MAX_WAIT_S))
        return
    client.headers["Authorization"] = f"Bearer {response.json()['token']}"
    who = {"name": name, "email": f"{name}@example.com"}
    if set_user:
        call(client, tally, "PUT", "/widget/v1/user", json=who)
    else:
        call(client, tally, "POST", "/widget/v1/onboarding", json=who)
