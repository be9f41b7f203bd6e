"""Requests from a chosen loopback source address, counted by what came of them."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

#: The demo desk's app, which every client talks to.
APP = "retale"


@dataclass
class Tally:
    """What clients got: `counts` of "METHOD /path outcome" (a status, with the error code of a
    refusal, or the name of the exception), and the round trips of successful message sends."""

    counts: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.counts.update(other.counts)
        self.latencies.extend(other.latencies)


def client_for(port: int, address: str, timeout: float) -> httpx.Client:
    """A client of the server on `port` whose connections come from `address`."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", transport=transport, timeout=timeout)


def call(
    client: httpx.Client, tally: Tally, method: str, path: str, **kwargs: Any
) -> httpx.Response | None:
    """One request, counted by its outcome; None when it got no answer."""
    try:
        response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        tally.counts[f"{method} {path} {type(exc).__name__}"] += 1
        return None
    tally.counts[f"{method} {path} {response.status_code}{_error_code(response)}"] += 1
    return response


def _error_code(response: httpx.Response) -> str:
    if response.status_code < 400:
        return ""
    try:
        return " " + str(response.json()["errors"][0]["code"])
    except (ValueError, KeyError, IndexError, TypeError):
        return ""


def new_session(client: httpx.Client, tally: Tally) -> dict[str, str] | None:
    """A new widget session's Authorization header, or None when init was refused."""
    response = call(client, tally, "POST", "/widget/v1/sessions", json={"appId": APP})
    if response is None or response.status_code != 201:
        return None
    return {"Authorization": f"Bearer {response.json()['token']}"}


def sleep_until(at: float) -> None:
    delay = at - time.time()
    if delay > 0:
        time.sleep(delay)
