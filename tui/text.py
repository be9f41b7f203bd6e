"""Customer and agent text made safe to put on an agent's screen.

Everything a customer (or another process) wrote is hostile. These pure functions turn any
string into plain characters that cannot style, move the cursor, reorder text or imitate the
trusted glyph:

- ESC (ANSI CSI/OSC sequences start with it), other C0 controls and DEL become their visible
  Unicode "control pictures" (`␛[31m`), so the sequence shows literally and does nothing;
- C1 controls, bidi overrides/isolates, zero-width and other invisible format characters,
  line/paragraph separators become a visible `⟨U+202E⟩` code;
- check-mark look-alikes (✔ ✓ ✅ ☑ …) become `⟨U+2714⟩`: only the glyph column, fed by the
  stored trusted flag, may show a check mark;
- over-long text is cut for display with a note of how much was left out.

Markup needs no treatment here: widgets receive `Text`/`Segment`s, never markup strings.
"""

from __future__ import annotations

import unicodedata

from rich.text import Text

#: Characters of one item shown at most (a 100 KB line must not stall the terminal).
MAX_DISPLAY_CHARS = 4000
TAB = "    "
NEWLINE_MARK = "⏎ "

#: Characters that could pass for the trusted glyph.
CHECK_MARKS = frozenset("\u2713\u2714\u2705\u2611\u221a\U0001f5f8\U0001f5f9\u2612\u2610\u237b")
#: Invisible characters with no Cf category that still hide or reorder text.
_INVISIBLE_EXTRA = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f")


def _visible_code(char: str) -> str:
    return f"⟨U+{ord(char):04X}⟩"


def _build_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(0x20):
        table[code] = chr(0x2400 + code)  # ␀ … ␟ (ESC → ␛)
    table[0x7F] = "\u2421"  # ␡
    for code in range(0x80, 0xA0):
        table[code] = _visible_code(chr(code))
    table[0x09] = TAB
    return table


_TABLE = _build_table()


def _needs_code(char: str) -> bool:
    if char in CHECK_MARKS or char in _INVISIBLE_EXTRA:
        return True
    category = unicodedata.category(char)
    # Cf: format (bidi controls, zero-width, soft hyphen, BOM); Zl/Zp: line separators;
    # Cs/Co/Cn: surrogates, private use and unassigned code points.
    return category in ("Cf", "Zl", "Zp", "Cs", "Co", "Cn")


def _clean_chars(text: str) -> str:
    out = text.translate(_TABLE)
    if out.isascii():
        return out
    return "".join(_visible_code(char) if _needs_code(char) else char for char in out)


def _cut(text: str, limit: int) -> tuple[str, int]:
    if len(text) <= limit:
        return text, 0
    return text[:limit], len(text) - limit


def _cut_note(left_out: int) -> str:
    return f" … [{left_out:,} more characters not shown]"


def clean_line(value: object, *, limit: int = MAX_DISPLAY_CHARS) -> str:
    """One display line: newlines shown as `⏎`, everything hostile made visible and inert."""
    text = "" if value is None else str(value)
    text, left_out = _cut(text.replace("\r\n", "\n"), limit)
    cleaned = NEWLINE_MARK.join(_clean_chars(part) for part in text.split("\n"))
    return cleaned + (_cut_note(left_out) if left_out else "")


def clean_lines(value: object, *, limit: int = MAX_DISPLAY_CHARS) -> list[str]:
    """Display lines of a message body: its own line breaks kept, the rest as `clean_line`."""
    text = "" if value is None else str(value)
    text, left_out = _cut(text.replace("\r\n", "\n"), limit)
    lines = [_clean_chars(part) for part in text.split("\n")]
    if left_out:
        lines[-1] += _cut_note(left_out)
    return lines


def safe_text(value: object, style: str = "", *, limit: int = MAX_DISPLAY_CHARS) -> Text:
    """A single-line `Text` of hostile input: never parsed as markup, never styled by it."""
    return Text(clean_line(value, limit=limit), style=style, no_wrap=True, end="")


def safe_wrapped(value: object, style: str = "", *, limit: int = MAX_DISPLAY_CHARS) -> Text:
    """A multi-line `Text` of hostile input, for wrapping widgets."""
    return Text("\n".join(clean_lines(value, limit=limit)), style=style, end="")
