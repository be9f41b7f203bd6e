"""Hostile customer text becomes inert, visible characters (tui/text.py)."""

from __future__ import annotations

import unicodedata

import pytest
from rich.console import Console
from rich.text import Text

from tests.console_helpers import INJECTION_CORPUS
from tui.text import MAX_DISPLAY_CHARS, clean_line, clean_lines, safe_text


def _invisible_or_control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn")


@pytest.mark.parametrize("name, body", INJECTION_CORPUS)
def test_corpus_has_no_control_format_or_check_mark_left(name: str, body: str) -> None:
    for value in (name, body):
        for cleaned in (clean_line(value), *clean_lines(value)):
            assert not any(_invisible_or_control(c) for c in cleaned), repr(cleaned[:80])
            assert not set(cleaned) & set("✔✓✅☑"), repr(cleaned[:80])


def test_markup_stays_literal_and_unstyled() -> None:
    text = safe_text("[green]✔[/] Julie")
    assert text.plain == "[green]⟨U+2714⟩[/] Julie"
    assert text.spans == []
    console = Console(force_terminal=True, color_system="truecolor", width=80)
    with console.capture() as capture:
        console.print(text)
    rendered = capture.get()
    assert "[green]" in rendered  # shown literally, not interpreted
    assert "\x1b[32m" not in rendered and "38;2;0;128;0" not in rendered


def test_ansi_and_osc_sequences_show_their_escape_visibly() -> None:
    assert clean_line("\x1b[31mred\x1b[0m") == "␛[31mred␛[0m"
    assert clean_line("\x1b]8;;http://evil\x07x\x1b]8;;\x07") == "␛]8;;http://evil␇x␛]8;;␇"
    assert "\x1b" not in clean_line("\x1b[2J")


def test_c0_c1_and_del_become_visible() -> None:
    assert clean_line("a\x00b\x7fc\x08d") == "a␀b␡c␈d"
    assert clean_line("x\x9by") == "x⟨U+009B⟩y"
    assert clean_line("tab\tstop") == "tab    stop"


def test_bidi_overrides_and_zero_width_are_named() -> None:
    assert clean_line("a\u202eb") == "a⟨U+202E⟩b"
    assert clean_line("a\u2066b\u2069") == "a⟨U+2066⟩b⟨U+2069⟩"
    assert clean_line("zero\u200bwidth") == "zero⟨U+200B⟩width"
    assert clean_line("\ufeffbom") == "⟨U+FEFF⟩bom"
    assert clean_line("line\u2028sep") == "line⟨U+2028⟩sep"


def test_check_mark_look_alikes_cannot_imitate_the_glyph() -> None:
    for mark in "✔✓✅☑":
        assert mark not in clean_line(f"{mark} verified")


def test_newlines_single_line_vs_wrapped() -> None:
    assert clean_line("one\r\ntwo\nthree") == "one⏎ two⏎ three"
    assert clean_lines("one\r\ntwo\nthree") == ["one", "two", "three"]
    assert clean_lines("") == [""]


def test_huge_lines_are_cut_with_a_note() -> None:
    cleaned = clean_line("x" * 100_000)
    assert cleaned.startswith("x" * MAX_DISPLAY_CHARS)
    assert cleaned.endswith("[96,000 more characters not shown]")
    lines = clean_lines("y" * 100_000)
    assert len(lines) == 1 and lines[0].endswith("[96,000 more characters not shown]")


def test_ordinary_text_is_untouched() -> None:
    for value in ("Renée Müller", "李小龍", "emoji 👍 fine", "café — 50 % off [sale]"):
        assert clean_line(value) == value


def test_non_strings_and_none() -> None:
    assert clean_line(None) == ""
    assert clean_line(42) == "42"
    assert isinstance(safe_text(None), Text)
