"""A hostile JWKS host cannot stall a real `gladdesk serve`.

A site key is added with `--jwks-url` pointing at a host on 127.0.0.1 that then trickles a
byte a second (always within httpx's per-read timeout). Customers, each on its own loopback
address, send tokens with invented kids; meanwhile `/healthz`, another customer's session,
trust and messages answer at once, the invented kids share one fetch, are refused within about
the deadline, and the last good keyset keeps verifying. Plain http:// to another host is
refused when the key is added and never fetched for a row stored before the rule.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from click.testing import CliRunner, Result

from cli.main import main
from core.store import Desk
from core.store.keys import key_infos, mark_changed
from sim.demo_desk import build_demo
from tests.e2e.server import ROOT, free_port
from tests.identity_helpers import ec_key, jwk_of
from tests.jwks_host import JwksHost, jwks_host

APP = "retale"
#: The server's JWKS deadline: far above PROMPT_S, so a stalled loop could not hide.
JWKS_TIMEOUT_S = 6.0
#: Generous bounds for a shared, noisy machine.
PROMPT_S = 2.0
SLACK_S = 4.0
GUESSERS = 12


def keys_add(db: Path, *args: str) -> Result:
    """`gladdesk keys add ARGS` (in-process: the command's checks are what is tested)."""
    return CliRunner().invoke(main, ["--db", str(db), "keys", "add", *args])


def serve(db: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`gladdesk serve --jwks-timeout 6` on a free port; returns once /healthz answers."""
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tui", "--db", str(db), "serve", "--port", str(port)]
            + ["--jwks-timeout", str(JWKS_TIMEOUT_S)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError(f"server did not start: {log.read_text()}")


class Customer:
    """One widget session, from its own loopback address."""

    def __init__(self, url: str, address: str) -> None:
        transport = httpx.HTTPTransport(local_address=address)
        self.http = httpx.Client(base_url=url, transport=transport, timeout=60)
        started = self.http.post("/widget/v1/sessions", json={"appId": APP})
        assert started.status_code == 201, started.text
        self.http.headers["Authorization"] = f"Bearer {started.json()['token']}"

    def set_user(self, token: str) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        response = self.http.put("/widget/v1/user", json={"jwt": token})
        return response, time.monotonic() - started

    def timed(self, method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        response = self.http.request(method, path, **kwargs)
        return response, time.monotonic() - started


def site_token(kid: str, key_name: str) -> str:
    now = int(time.time())
    claims = {"email": f"c.{uuid.uuid4().hex[:8]}@example.com", "iat": now, "exp": now + 300}
    return jwt.encode(claims, ec_key(key_name), algorithm="ES256", headers={"kid": kid})


def invented_kid_token() -> str:
    return site_token("k-" + uuid.uuid4().hex[:12], "attacker")


def known_kid_token() -> str:
    return site_token("r1", "r1")


def code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["code"])


@pytest.fixture
def host() -> Iterator[JwksHost]:
    with jwks_host([jwk_of(ec_key("r1"), "r1", "ES256")]) as served:
        yield served


@pytest.fixture
def desk(tmp_path: Path, host: JwksHost) -> Path:
    """A demo desk with the keyset `shop-jwks` (kid r1) from the loopback JWKS host."""
    db = build_demo(tmp_path / "demo.db")
    added = keys_add(db, "--kid", "shop-jwks", "--jwks-url", host.url)
    assert added.exit_code == 0, added.output
    assert host.requests == 1
    return db


def test_a_trickling_jwks_host_stalls_no_one(desk: Path, host: JwksHost, tmp_path: Path) -> None:
    process, url = serve(desk, tmp_path / "serve.log")
    try:
        host.mode, host.trickle_every_s = "trickle_headers", 1.0
        guessers = [Customer(url, f"127.0.0.{10 + n}") for n in range(GUESSERS)]
        honest = Customer(url, "127.0.0.2")
        results: list[tuple[httpx.Response, float]] = []

        def guess(customer: Customer) -> None:
            results.append(customer.set_user(invented_kid_token()))

        threads = [threading.Thread(target=guess, args=(c,)) for c in guessers]
        for thread in threads:
            thread.start()
        waiting_since = time.monotonic()
        while host.requests < 2:
            assert time.monotonic() - waiting_since < PROMPT_S * 2, "no JWKS fetch started"
            time.sleep(0.01)

        # The fetch trickles: everyone else is served at once.
        with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.3")) as other:
            started = time.monotonic()
            assert other.get(f"{url}/healthz", timeout=30).status_code == 200
            assert time.monotonic() - started < PROMPT_S
        answer, took = honest.timed("GET", "/widget/v1/session")
        assert answer.status_code == 200 and took < PROMPT_S
        answer, took = honest.set_user(known_kid_token())  # the last good keyset serves
        assert answer.status_code == 200, answer.text
        assert answer.json()["identityState"] == "TRUSTED" and took < PROMPT_S
        answer, took = honest.timed("POST", "/widget/v1/messages", json={"body": "hello?"})
        assert answer.status_code == 201, answer.text
        assert took < PROMPT_S
        assert any(thread.is_alive() for thread in threads), "the fetch was not pending"

        for thread in threads:
            thread.join(timeout=60)
        assert len(results) == GUESSERS
        for response, took in results:
            assert response.status_code == 400, response.text
            assert code(response) == "unknown_kid"
            assert took < JWKS_TIMEOUT_S + SLACK_S
        assert host.requests == 2  # one fetch for every guess and the stale keyset
        assert host.cut.wait(SLACK_S), "the trickling connection was not cut"

        # The host is down now: within the minute, new guesses fetch nothing and wait for
        # nothing, and the last good keyset still verifies.
        host.mode = "fail"
        late = Customer(url, "127.0.0.4")
        answer, took = late.set_user(invented_kid_token())
        assert code(answer) == "unknown_kid" and took < PROMPT_S
        answer, took = late.set_user(known_kid_token())
        assert answer.status_code == 200, answer.text
        assert answer.json()["identityState"] == "TRUSTED" and took < PROMPT_S
        assert host.requests == 2
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_plain_http_to_another_host_is_refused_at_add_and_at_fetch(
    desk: Path, host: JwksHost, tmp_path: Path
) -> None:
    # `127.1` is this same host, but not spelt as a loopback address.
    elsewhere = f"http://127.1:{host.port}/jwks.json"
    refused = keys_add(desk, "--kid", "plain", "--jwks-url", elsewhere)
    assert refused.exit_code == 2
    assert "use https://" in refused.output and "loopback" in refused.output
    stored = Desk.open(desk, create=False)
    assert "plain" not in {info.kid for info in key_infos(stored)}
    assert host.requests == 1

    # A row stored before the rule: its snapshot stands, its URL is never fetched.
    with stored.transaction() as conn:
        conn.execute("UPDATE signing_keys SET jwks_url = ? WHERE kid = 'shop-jwks'", (elsewhere,))
        mark_changed(stored, stored.clock.now_ms())
    stored.close()
    host.keys.append(jwk_of(ec_key("r2"), "r2", "ES256"))
    process, url = serve(desk, tmp_path / "serve.log")
    try:
        customer = Customer(url, "127.0.0.5")
        answer, _ = customer.set_user(site_token("r2", "r2"))
        assert code(answer) == "unknown_kid", answer.text
        assert "use https://" in answer.json()["errors"][0]["detail"]
        answer, _ = customer.set_user(known_kid_token())
        assert answer.status_code == 200, answer.text
        assert host.requests == 1
    finally:
        process.terminate()
        process.wait(timeout=20)
