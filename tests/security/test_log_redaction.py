"""No spelling of a token in a URL reaches the access log of a real `gladdesk serve`.

The event stream takes its session token in the query; `?%74oken=` is read by the server as
`token` too, and other spellings (`TOKEN`, `jwt`, `api_token`, ...) may carry secrets the
server does not even read. The log records the query as sent, so each is redacted.
"""

from __future__ import annotations

import logging
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.web.log_redaction import RedactTokens, redact_url
from tests.e2e.server import ROOT, free_port, start_server

APP = "retale"

#: Query spellings of a credential; `{s}` is the secret.
HOSTILE_QUERIES = [
    "token={s}",
    "%74oken={s}",
    "%74%6F%6B%65%6E={s}",
    "to%6Ben={s}",
    "TOKEN={s}",
    "Token={s}&after=0",
    "after=0&token={s}",
    "after=0&%54oKeN={s}",
    "%2574oken={s}",
    "to+ken={s}",
    "token={s}&token={s}",
    "x=1;token={s}",
    "token={s};tail",
    "jwt={s}",
    "api_token={s}",
    "Access-Token={s}",
    "access_token={s}",
    "id%5Ftoken={s}",
    "token",
]


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_every_spelling_is_redacted(query: str) -> None:
    secret = "s3cret-" + secrets.token_hex(8)
    target = "/widget/v1/events?" + query.format(s=secret)
    redacted = redact_url(target)
    assert secret not in redacted
    assert redacted.startswith("/widget/v1/events?") and "[redacted]" in redacted


@pytest.mark.parametrize(
    "target",
    ["/widget/v1/events?after=4", "/healthz", "/widget/v1/events?after=4&tokens_seen", "/a?b=c&d"],
)
def test_other_parameters_are_kept_as_sent(target: str) -> None:
    expected = target.replace("tokens_seen", "[redacted]")  # over-redacting is fine
    assert redact_url(target) == expected


def test_an_encoded_question_mark_in_the_path_is_cut() -> None:
    assert redact_url("/widget/v1/events%3Ftoken%3Ds3cret") == "/widget/v1/events%3F[redacted]"
    assert redact_url("/files/a%3Fb") == "/files/a%3Fb"


def test_the_filter_redacts_bare_messages_too() -> None:
    """Records with arguments are uvicorn's (tests/unit/test_web_api.py and the server below)."""
    bare = logging.LogRecord("x", logging.INFO, __file__, 1, "GET /e?TOKEN=s3cret 200", None, None)
    assert RedactTokens().filter(bare)
    assert bare.getMessage() == "GET /e?TOKEN=[redacted] 200"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    db = tmp_path / "demo.db"
    subprocess.run(
        [sys.executable, "-m", "tui", "db", "build-demo", "--out", str(db)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=60,
    )
    port = free_port()
    log = tmp_path / "serve.log"
    process = start_server(db, port, log)
    try:
        yield f"http://127.0.0.1:{port}", log
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_the_access_log_of_a_real_server_shows_no_token(served: tuple[str, Path]) -> None:
    url, log = served
    with httpx.Client(base_url=url, timeout=10) as client:
        started = client.post("/widget/v1/sessions", json={"appId": APP})
        assert started.status_code == 201, started.text
        session_token = started.json()["token"]
        # The server reads `%74oken` as `token`: a working credential in the log otherwise.
        with client.stream("GET", f"/widget/v1/events?%74oken={session_token}") as stream:
            assert stream.status_code == 200
        sent = [session_token]
        for query in HOSTILE_QUERIES:
            secret = "s3cret-" + secrets.token_hex(8)
            sent.append(secret)
            with client.stream("GET", "/widget/v1/events?" + query.format(s=secret)) as stream:
                assert stream.status_code in (200, 401)
        assert client.get("/healthz").status_code == 200
    text = log.read_text()
    assert "/widget/v1/events?%74oken=[redacted]" in text  # the access log is on, as sent
    assert "GET /healthz" in text
    assert text.count("[redacted]") >= len(HOSTILE_QUERIES)
    for secret in sent:
        assert secret not in text
