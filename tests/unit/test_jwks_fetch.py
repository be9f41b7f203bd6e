"""Fetching a JWKS URL: https:// only (http:// to loopback), one deadline for the whole fetch
against a host that trickles, a size cap, no redirects; the deadline option's hostile values."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from cli.main import main
from core.identity import KeyringError
from core.identity.jwks_fetch import check_jwks_timeout, check_jwks_url, fetch_jwks
from tests.identity_helpers import ec_key, jwk_of
from tests.jwks_host import JwksHost, jwks_host

#: Far beyond any deadline used here; a trickled answer would take minutes to finish.
GENEROUS_S = 10.0


@pytest.fixture
def host() -> Iterator[JwksHost]:
    with jwks_host([jwk_of(ec_key("h1"), "h1", "ES256")]) as served:
        yield served


@pytest.mark.parametrize(
    "url",
    [
        "https://keys.shop.example/.well-known/jwks.json",
        "HTTPS://keys.shop.example/jwks",
        "http://127.0.0.1:8000/jwks.json",
        "http://127.9.8.7/jwks.json",
        "http://[::1]:8000/jwks.json",
        "http://localhost:8000/jwks.json",
        "http://LocalHost/jwks.json",
    ],
)
def test_https_and_loopback_urls_are_accepted(url: str) -> None:
    assert check_jwks_url(url) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://keys.shop.example/jwks.json", "use https://"),
        ("http://10.0.0.1/jwks.json", "use https://"),
        ("http://0.0.0.0:8000/jwks.json", "use https://"),
        ("http://127.1:8000/jwks.json", "use https://"),  # resolves to loopback; not spelt so
        ("http://2130706433/jwks.json", "use https://"),
        ("http://[::ffff:127.0.0.1]/jwks.json", "use https://"),
        ("http://localhost.evil.example/jwks.json", "use https://"),
        ("http://127.0.0.1.evil.example/jwks.json", "use https://"),
        ("ftp://keys.shop.example/jwks.json", "expected an https:// URL"),
        ("file:///etc/passwd", "expected an https:// URL"),
        ("https://", "expected an https:// URL"),
        ("keys.shop.example/jwks.json", "expected an https:// URL"),
        ("https://keys.shop.example:port/jwks", "not a valid URL"),
        ("https://[::1/jwks", "not a valid URL"),
        ("https://keys.shop.example/jw ks", "spaces or control characters"),
        ("https://keys.shop.example/\x00", "spaces or control characters"),
    ],
)
def test_other_urls_are_refused_with_the_rule(url: str, message: str) -> None:
    with pytest.raises(KeyringError, match=message):
        check_jwks_url(url)


def test_a_refused_url_is_never_fetched() -> None:
    """The rule is checked again before every fetch (a row stored before it existed)."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"keys": []})

    client = httpx.Client(transport=httpx.MockTransport(answer))
    with pytest.raises(KeyringError, match="use https://"):
        fetch_jwks(client, "http://keys.shop.example/jwks.json")
    assert seen == []


@pytest.mark.parametrize("mode", ["trickle_headers", "trickle_body"])
def test_a_trickling_host_is_cut_at_the_deadline(host: JwksHost, mode: str) -> None:
    """Each byte comes well within httpx's per-read timeout; the whole never would."""
    host.mode, host.trickle_every_s = mode, 0.2
    started = time.monotonic()
    with httpx.Client() as client, pytest.raises(KeyringError, match="within 1 s"):
        fetch_jwks(client, host.url, timeout_s=1.0)
    assert time.monotonic() - started < GENEROUS_S
    assert host.cut.wait(GENEROUS_S), "the connection to the trickling host stayed open"


def test_a_good_host_is_fetched_within_the_deadline(host: JwksHost) -> None:
    with httpx.Client() as client:
        assert b'"h1"' in fetch_jwks(client, host.url, timeout_s=1.0)


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("huge", "larger than"),
        ("gzip", "compressed"),
        ("fail", "HTTP 503"),
    ],
)
def test_bad_answers_are_refused(host: JwksHost, mode: str, message: str) -> None:
    host.mode = mode
    with httpx.Client() as client, pytest.raises(KeyringError, match=message):
        fetch_jwks(client, host.url, timeout_s=5.0)


@pytest.mark.parametrize("target", ["http://127.1:{port}/other", "https://evil.example/jwks"])
def test_redirects_are_never_followed(host: JwksHost, target: str) -> None:
    host.mode, host.redirect_to = "redirect", target.format(port=host.port)
    with httpx.Client() as client, pytest.raises(KeyringError, match="redirects are not followed"):
        fetch_jwks(client, host.url, timeout_s=5.0)
    assert host.paths == ["/jwks.json"]


@pytest.mark.parametrize("seconds", [0.1, 3, 60.0])
def test_deadlines_in_range_are_accepted(seconds: float) -> None:
    assert check_jwks_timeout(seconds) == seconds


@pytest.mark.parametrize(
    "value", [0, 0.05, -3, 60.5, 1e308, math.inf, -math.inf, math.nan, "3", None, True]
)
def test_hostile_deadlines_are_refused(value: object) -> None:
    with pytest.raises(KeyringError, match="JWKS timeout"):
        check_jwks_timeout(value)


@pytest.mark.parametrize(
    "value", ["nan", "inf", "-inf", "1e999", "0", "-1", "61", "abc", "", "0x10"]
)
@pytest.mark.parametrize(
    "command", [["serve"], ["keys", "add", "--jwks-url", "https://k.example/j"]]
)
def test_the_jwks_timeout_option_refuses_hostile_values(
    tmp_path: Path, command: list[str], value: str
) -> None:
    db = tmp_path / "desk.db"
    result = CliRunner().invoke(main, ["--db", str(db), *command, "--jwks-timeout", value])
    assert result.exit_code == 2, result.output
    assert "--jwks-timeout" in result.output
    assert not db.exists()  # nothing was created, nothing served


@pytest.mark.parametrize("url", ["http://keys.shop.example/jwks.json", "http://127.1:1/jwks"])
def test_keys_add_refuses_plain_http_to_other_hosts(tmp_path: Path, url: str) -> None:
    db = tmp_path / "desk.db"
    result = CliRunner().invoke(main, ["--db", str(db), "keys", "add", "--jwks-url", url])
    assert result.exit_code == 2
    assert "use https://" in result.output and "loopback" in result.output
    assert not db.exists()
