"""JWKS-URL keysets in the verifier: fetched off the caller's thread and off the keyring lock,
one fetch per keyset at a time, at most once a minute for unknown kids, the last good keys
served meanwhile, and a stored plain-http URL to another host never fetched."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.identity import Keyring, TokenRejected
from core.store.keys import mark_changed
from tests.identity_helpers import Site, audit_rows, claims, ec_key, jwk_of, open_site, sign
from tests.jwks_host import JwksHost, jwks_host

#: Generous bounds for a shared, noisy machine: far below the trickle, far above a verify.
PROMPT_S = 2.0
DEADLINE_S = 4.0


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    yield from open_site(tmp_path)


@pytest.fixture
def host() -> Iterator[JwksHost]:
    with jwks_host([jwk_of(ec_key("r1"), "r1", "ES256")]) as served:
        yield served


def _keyring(site: Site, host: JwksHost, *, wait: bool = True) -> Keyring:
    keyring = Keyring(site.desk, check_interval_ms=0, jwks_timeout_s=DEADLINE_S, wait_for_jwks=wait)
    keyring.add_key(kid="shop-jwks", jwks_url=host.url)
    assert host.requests == 1
    host.mode, host.trickle_every_s = "trickle_body", 0.5
    return keyring


def _unknown_kid_token() -> str:
    return sign(claims(), kid="k-" + uuid.uuid4().hex[:10], alg="ES256", key=ec_key("other"))


def _known_kid_token() -> str:
    return sign(claims(), kid="r1", alg="ES256", key=ec_key("r1"))


def _rejection(keyring: Keyring, token: str) -> TokenRejected:
    with pytest.raises(TokenRejected) as caught:
        keyring.verify(token)
    return caught.value


def test_a_known_kid_never_waits_for_a_fetch(site: Site, host: JwksHost) -> None:
    keyring = _keyring(site, host)
    started = time.monotonic()
    assert keyring.verify(_known_kid_token()).kid == "r1"  # stale snapshot: a fetch starts
    assert keyring.verify(_known_kid_token()).kid == "r1"  # and is not waited for
    assert time.monotonic() - started < PROMPT_S
    keyring.wait_for_jwks_fetches(DEADLINE_S + PROMPT_S)
    assert host.requests == 2
    keyring.close()


def test_concurrent_unknown_kids_share_one_fetch_and_hold_no_lock(
    site: Site, host: JwksHost
) -> None:
    keyring = _keyring(site, host)
    codes: list[str] = []
    started = time.monotonic()

    def guess() -> None:
        codes.append(_rejection(keyring, _unknown_kid_token()).code)

    guessers = [threading.Thread(target=guess) for _ in range(20)]
    for thread in guessers:
        thread.start()
    while host.requests < 2:
        assert time.monotonic() - started < PROMPT_S, "no fetch started"
        time.sleep(0.01)
    # While the fetch trickles: the keyring lock is free, known keys verify at once.
    probe = time.monotonic()
    keyring.reload()
    assert keyring.verify(sign(claims())).kid == "hs1"
    assert keyring.verify(_known_kid_token()).kid == "r1"
    assert time.monotonic() - probe < PROMPT_S
    for thread in guessers:
        thread.join()
    assert codes == ["unknown_kid"] * 20
    assert time.monotonic() - started < DEADLINE_S + PROMPT_S
    assert host.requests == 2  # one fetch for all twenty
    # Within the minute, more invented kids fetch nothing and wait for nothing.
    probe = time.monotonic()
    for _ in range(10):
        assert _rejection(keyring, _unknown_kid_token()).code == "unknown_kid"
    assert time.monotonic() - probe < PROMPT_S
    assert host.requests == 2
    assert "within 4 s" in audit_rows(site.desk)[-1]["detail"]
    # The last good keys still verify after the failed fetch.
    assert keyring.verify(_known_kid_token()).kid == "r1"
    keyring.close()


def test_without_waiting_an_unknown_kid_is_refused_at_once(site: Site, host: JwksHost) -> None:
    """The web server's keyring: the request awaits `jwks_fetches_for` on the event loop."""
    keyring = _keyring(site, host, wait=False)
    token = _unknown_kid_token()
    pending = keyring.jwks_fetches_for(token)
    assert len(pending) == 1 and not pending[0].done()
    assert keyring.jwks_fetches_for(_unknown_kid_token()) == pending  # the same fetch
    assert keyring.jwks_fetches_for(_known_kid_token()) == []
    assert keyring.jwks_fetches_for("not a token") == []
    started = time.monotonic()
    rejection = _rejection(keyring, token)
    assert time.monotonic() - started < PROMPT_S
    assert rejection.code == "unknown_kid" and "under way" in rejection.detail
    assert pending[0].result(DEADLINE_S + PROMPT_S) is False  # cut at the deadline
    assert host.requests == 2
    keyring.close()


def test_a_new_key_is_found_by_the_fetch_it_starts(site: Site, host: JwksHost) -> None:
    keyring = _keyring(site, host)
    host.mode = "serve"
    host.keys.append(jwk_of(ec_key("r2"), "r2", "ES256"))
    token = sign(claims(), kid="r2", alg="ES256", key=ec_key("r2"))
    assert keyring.verify(token).kid == "r2"
    assert host.requests == 2
    keyring.close()


def test_a_stored_plain_http_url_to_another_host_is_never_fetched(
    site: Site, host: JwksHost
) -> None:
    """A row stored before the https rule (here: the same host, spelt `127.1`)."""
    keyring = _keyring(site, host)
    host.mode = "serve"
    with site.desk.transaction() as conn:
        conn.execute(
            "UPDATE signing_keys SET jwks_url = ? WHERE kid = 'shop-jwks'",
            (f"http://127.1:{host.port}/jwks.json",),
        )
        mark_changed(site.desk, site.clock.now_ms())
    rejection = _rejection(keyring, _unknown_kid_token())
    assert rejection.code == "unknown_kid" and "use https://" in rejection.detail
    assert keyring.verify(_known_kid_token()).kid == "r1"  # the add-time snapshot
    keyring.wait_for_jwks_fetches()
    assert host.requests == 1
    keyring.close()
