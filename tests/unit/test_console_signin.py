"""Signing a console in over the network: where the token comes from (a file only its owner
reads, `$GLADDESK_AGENT_TOKEN`, a prompt; never the command line), which addresses it may go
to, and `gladdesk console --url` refusing what it cannot use in one line, before any screen.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from core.console.signin import (
    TOKEN_ENV,
    SignInError,
    agent_token,
    check_server_url,
    read_token_file,
)
from core.setup import DeskAdmin
from core.store import Desk
from tests.console_helpers import frozen_clock
from tests.unit.test_web_events import free_port, serving

TOKEN = "gda_" + "A1b2" * 10 + "xyz"


def no_prompt() -> str | None:
    return None


def token_file(tmp_path: Path, text: str | bytes, mode: int = 0o600) -> Path:
    path = tmp_path / "token"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    path.chmod(mode)
    return path


# -- where the token comes from --------------------------------------------------------------


def test_a_token_file_wins_then_the_environment_then_the_prompt(tmp_path: Path) -> None:
    path = token_file(tmp_path, f"  {TOKEN}\n")
    other = "gda_" + "z" * 43
    assert agent_token(path, prompt=no_prompt, environ={TOKEN_ENV: other}) == TOKEN
    assert agent_token(None, prompt=no_prompt, environ={TOKEN_ENV: other}) == other
    assert agent_token(None, prompt=lambda: f"{TOKEN} ", environ={}) == TOKEN
    with pytest.raises(SignInError, match=f"no agent token: set \\${TOKEN_ENV}"):
        agent_token(None, prompt=no_prompt, environ={})


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "is empty"),
        ("\n\n  ", "is empty"),
        (f"{TOKEN}\n{TOKEN}", "does not hold an agent token"),
        ("short", "does not hold an agent token"),
        ("gda_" + "x" * 600, "does not hold an agent token"),
        ("gda_abc def ghi jkl mno", "does not hold an agent token"),
        ("gda_\x1b[31mred\x1b[0mxxxxxxxxxx", "does not hold an agent token"),
        (b"\xff\xfe" + b"x" * 20, "is not text"),
        ("x" * 5000, "bytes: not a token file"),
    ],
)
def test_a_token_file_that_holds_no_token_is_one_line_without_its_text(
    tmp_path: Path, text: str | bytes, words: str
) -> None:
    path = token_file(tmp_path, text)
    with pytest.raises(SignInError, match=words) as error:
        read_token_file(path)
    message = str(error.value)
    assert "\n" not in message and "gda_" not in message  # never quotes what it read


def test_a_token_file_others_may_read_or_no_file_is_refused(tmp_path: Path) -> None:
    path = token_file(tmp_path, TOKEN, mode=0o644)
    with pytest.raises(SignInError, match="may be read by others \\(mode 0644\\).*chmod 600"):
        read_token_file(path)
    with pytest.raises(SignInError, match="no such file"):
        read_token_file(tmp_path / "missing")
    with pytest.raises(SignInError, match="is not a file"):
        read_token_file(tmp_path)


@pytest.mark.parametrize("value", ["", "   ", "not a token", "gda_" + "x" * 600])
def test_a_bad_token_in_the_environment_is_refused(value: str) -> None:
    with pytest.raises(SignInError, match=f"\\${TOKEN_ENV}"):
        agent_token(None, prompt=no_prompt, environ={TOKEN_ENV: value})


# -- where it may be sent --------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://desk.example",
        "https://desk.example:8443/",
        "http://127.0.0.1:8080",
        "http://localhost:8080",
        "http://[::1]:8080",
        "http://127.0.0.2",
    ],
)
def test_https_anywhere_and_http_on_this_machine_are_fine(url: str) -> None:
    check_server_url(url)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://desk.example", "plain http would send your token"),
        ("http://10.0.0.5:8080", "plain http would send your token"),
        ("ftp://desk.example", "give the desk server's address"),
        ("desk.example", "give the desk server's address"),
        ("https://", "give the desk server's address"),
        ("https://alice:pw@desk.example", "no user or password"),
        ("https://desk.example/?next=x", "without \\?query"),
        ("https://desk.example:99999", "not an address"),
        ("https://" + "d" * 3000, "over 2,000 characters"),
    ],
)
def test_addresses_a_token_may_not_go_to_are_refused(url: str, words: str) -> None:
    with pytest.raises(SignInError, match=words) as error:
        check_server_url(url)
    assert "\n" not in str(error.value)


def test_insecure_http_is_the_agents_own_call() -> None:
    check_server_url("http://desk.example", insecure_http=True)


# -- the command -----------------------------------------------------------------------------


@pytest.fixture
def served_desk(demo_db: Path) -> Iterator[tuple[str, str, Path]]:
    with Desk.open(demo_db, create=False) as desk:
        token = DeskAdmin(desk).issue_token("alice")
    with serving(demo_db, clock=frozen_clock()) as url:
        yield url, token, demo_db


def console(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["console", *args], env=env or {TOKEN_ENV: ""})
    return result.exit_code, result.output


def test_the_command_refuses_what_it_cannot_use_in_one_line(
    served_desk: tuple[str, str, Path], tmp_path: Path
) -> None:
    url, token, db = served_desk
    code, out = console("--url", url, "--agent", "alice", "--db", str(db))
    assert code == 2 and "--db and --url name two desks" in out
    code, out = console("--agent", "alice", "--token-file", str(tmp_path / "t"))
    assert code == 2 and "go with --url" in out
    code, out = console("--url", "http://desk.example", "--agent", "alice")
    assert code == 1 and "plain http would send your token" in out
    code, out = console("--url", url, "--agent", "alice", env={TOKEN_ENV: "gda_" + "q" * 43})
    assert code == 1 and "revoked or replaced" in out and out.count("\n") == 1
    code, out = console("--url", url, "--agent", "bruno", env={TOKEN_ENV: token})
    assert code == 1 and "this token is agent alice's, not bruno's" in out
    dead = f"http://127.0.0.1:{free_port()}"
    code, out = console("--url", dead, "--agent", "alice", env={TOKEN_ENV: token})
    assert code == 1 and "cannot be reached" in out and token not in out


def test_no_token_and_no_terminal_says_where_a_token_comes_from(
    served_desk: tuple[str, str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _, _ = served_desk
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    # CliRunner's stdin is not a terminal: there is nobody to ask.
    result = CliRunner().invoke(main, ["console", "--url", url, "--agent", "alice"])
    assert result.exit_code == 1
    assert f"set ${TOKEN_ENV}, pass --token-file FILE" in result.output
