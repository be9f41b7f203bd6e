"""Hostile customer text becomes inert, visible characters (tui/text.py)."""

from __future__ import annotations

import unicodedata

import pytest
from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from tests.console_helpers import INJECTION_CORPUS
from tui.text import MAX_DISPLAY_CHARS, clean_line, clean_lines, safe_text, wrap


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


# -- wrapping: links whole --------------------------------------------------------------------

PROMPT = "Please log in so we can verify it's you: http://127.0.0.1:8080/demo/login?next=%2Forders"


@pytest.mark.parametrize("width", [8, 12, 20, 33, 40, 41, 60, 200])
def test_wrap_keeps_every_character_and_stays_in_the_width(width: int) -> None:
    lines = [line.plain for line in wrap(Text(PROMPT), width)]
    assert all(cell_len(line) <= width for line in lines)
    assert "".join(lines).replace(" ", "") == PROMPT.replace(" ", "")


def test_a_link_that_fits_a_line_moves_to_it_whole() -> None:
    link = "http://127.0.0.1:8080/demo/login?next=%2Forders"
    for width in range(len(link), len(PROMPT) + 1):
        lines = [line.plain for line in wrap(Text(PROMPT), width)]
        assert any(link in line for line in lines), (width, lines)


def test_a_link_longer_than_a_line_is_cut_after_its_separators() -> None:
    lines = [line.plain for line in wrap(Text(PROMPT), 20)]
    assert lines[-3:] == ["http://127.0.0.1:", "8080/demo/login?", "next=%2Forders"]
    # Anything else too long is cut where the line is full, as Rich folds it.
    assert [line.plain for line in wrap(Text("x" * 12), 5)] == ["xxxxx", "xxxxx", "xx"]
    assert [line.plain for line in wrap(Text("日本語のテキスト"), 5)] == [
        "日本",
        "語の",
        "テキ",
        "スト",
    ]


def test_wrap_keeps_styles_by_position() -> None:
    text = Text("see ")
    text.append("http://example.com/a/b", "underline")
    lines = wrap(text, 12)
    assert [line.plain for line in lines] == ["see", "http://", "example.com/", "a/b"]
    assert all(span.style == "underline" for line in lines[1:] for span in line.spans)
