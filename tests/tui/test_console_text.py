"""Control characters in customer text where the font or terminal lacks the control pictures:
`$GLADDESK_CONTROL_CHARS` or a non-UTF-8 locale switch ␛ to <ESC> (tui/text.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from core.store import Desk
from tests.console_helpers import (
    INJECTION_CORPUS,
    SIZE,
    add_injection_conversation,
    demo_copy,
    frozen_clock,
    wait_until,
)
from tests.tui.test_console import console, open_conversation, queue_ready
from tui.text import (
    CONTROL_CHARS_ENV,
    NAMES,
    PICTURES,
    ControlCharsError,
    clean_line,
    clean_lines,
    control_chars_mode,
    current_control_chars,
    use_control_chars,
)


@pytest.mark.parametrize(
    "environ, expected",
    [
        ({CONTROL_CHARS_ENV: "names"}, NAMES),
        ({CONTROL_CHARS_ENV: " Pictures ", "LANG": "C"}, PICTURES),  # the switch wins
        ({CONTROL_CHARS_ENV: "names", "LANG": "en_US.UTF-8"}, NAMES),
        ({"LANG": "en_US.UTF-8"}, PICTURES),
        ({"LANG": "C.utf8"}, PICTURES),
        ({"LC_CTYPE": "de_DE.UTF-8@euro"}, PICTURES),
        ({"LANG": "C"}, NAMES),
        ({"LANG": "POSIX"}, NAMES),
        ({"LANG": "en_US.ISO-8859-1"}, NAMES),
        ({"LC_ALL": "C", "LANG": "en_US.UTF-8"}, NAMES),  # LC_ALL overrides the others
        ({"LC_ALL": "", "LC_CTYPE": "fr_FR.UTF-8", "LANG": "C"}, PICTURES),
        ({}, NAMES),  # no locale at all: the C locale
    ],
)
def test_the_mode_comes_from_the_switch_or_the_locale(
    environ: dict[str, str], expected: str
) -> None:
    assert control_chars_mode(environ) == expected


@pytest.mark.parametrize("value", ["ascii", "yes", "␛", "names; rm -rf /", "x" * 500])
def test_a_bad_switch_is_one_clear_error(value: str) -> None:
    with pytest.raises(ControlCharsError) as caught:
        control_chars_mode({CONTROL_CHARS_ENV: value})
    message = str(caught.value)
    assert message.startswith(f"{CONTROL_CHARS_ENV}=") and "pictures" in message
    assert "names" in message and len(message) < 200 and "\n" not in message
    assert message.isascii()


def test_names_spell_controls_codes_and_newlines_in_ascii() -> None:
    use_control_chars(NAMES)
    assert clean_line("\x1b[31mred\x1b[0m") == "<ESC>[31mred<ESC>[0m"
    assert clean_line("bell\x07 null\x00 del\x7f bs\b") == "bell<BEL> null<NUL> del<DEL> bs<BS>"
    assert clean_line("a\u202eb\u200bc \x9b31m") == "a<U+202E>b<U+200B>c <U+009B>31m"
    assert clean_line("fake ✔ mark") == "fake <U+2714> mark"
    assert clean_line("one\ntwo") == "one<LF> two"
    assert clean_lines("one\r\ntwo\tend") == ["one", "two    end"]
    assert clean_line("Zoë’s café") == "Zoë’s café"  # ordinary letters stay as they are
    for name, body in INJECTION_CORPUS:
        for cleaned in (clean_line(name), *clean_lines(body, limit=300)):
            controls = [c for c in cleaned if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0]
            assert not controls and not set(cleaned) & set("␛⟨⟩⏎✔"), repr(cleaned[:80])


def test_pictures_are_the_default_form() -> None:
    assert current_control_chars() == PICTURES
    assert clean_line("\x1b[31m\u202e\nx") == "␛[31m⟨U+202E⟩⏎ x"
    with pytest.raises(ControlCharsError):
        use_control_chars("ascii")
    assert current_control_chars() == PICTURES


async def test_the_console_shows_names_when_switched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = demo_copy(tmp_path)
    with Desk.open(db, clock=frozen_clock(), create=False) as desk:
        name, body = INJECTION_CORPUS[1]  # ESC sequences and a bell
        conversation_id = add_injection_conversation(
            desk, name=name, body=body, trusted=False, at=1_795_000_000_000
        )
    monkeypatch.setenv(CONTROL_CHARS_ENV, "names")
    app = console(db)
    async with app.run_test(size=SIZE) as pilot:
        queue = await queue_ready(pilot)
        assert current_control_chars() == NAMES
        lines = [queue.render_line(y).text for y in range(1, queue.total + 1)]
        assert any("<ESC>[32m" in line for line in lines)
        assert not any("␛" in line for line in lines)
        screen = await open_conversation(pilot, conversation_id)
        text = "\n".join(screen.timeline.lines_text())
        assert "<ESC>[2J<ESC>[H<ESC>[31mred alert<ESC>[0m" in text and "bell<BEL>" in text
        assert "␛" not in text and "\x1b" not in text
        await wait_until(lambda: "<ESC>[32m" in str(screen.query_one("#banner").render()))


def test_a_bad_switch_stops_the_console_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = demo_copy(tmp_path)
    monkeypatch.setenv(CONTROL_CHARS_ENV, "fancy")
    result = CliRunner().invoke(main, ["--db", str(db), "console", "--agent", "alice"])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert f"{CONTROL_CHARS_ENV}='fancy'" in result.output and "names" in result.output
