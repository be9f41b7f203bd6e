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

Many fonts lack the control pictures (and ⟨ ⟩, ⏎), and a terminal in a non-UTF-8 locale cannot
show them: there the same characters are written in ASCII names instead (`<ESC>[31m`,
`<U+202E>`, `<LF>`). `$GLADDESK_CONTROL_CHARS` (`pictures` or `names`) chooses; unset, a
locale whose encoding is not UTF-8 means names. The console sets the mode once, at start.

`wrap` breaks lines between words and cuts only a word longer than a line, a link after one
of its separators (`/`, `?`, `&`...), so a link that fits a line is never split.

Markup needs no treatment here: widgets receive `Text`/`Segment`s, never markup strings.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Mapping

from rich.cells import cell_len
from rich.text import Text

from core.errors import DeskError

#: Characters of one item shown at most (a 100 KB line must not stall the terminal).
MAX_DISPLAY_CHARS = 4000
TAB = "    "

#: The environment variable choosing how control characters show, and its values.
CONTROL_CHARS_ENV = "GLADDESK_CONTROL_CHARS"
PICTURES, NAMES = "pictures", "names"
MODES = (PICTURES, NAMES)

#: The ASCII names of the C0 controls, as their control pictures depict them.
C0_NAMES = (
    "NUL SOH STX ETX EOT ENQ ACK BEL BS HT LF VT FF CR SO SI"
    " DLE DC1 DC2 DC3 DC4 NAK SYN ETB CAN EM SUB ESC FS GS RS US"
).split()
_NEWLINE_MARKS = {PICTURES: "⏎ ", NAMES: "<LF> "}

#: Where a link too long for one line may be cut: after one of these.
_URL_BREAKS = "/?&#=-_.,;:"
#: A word and the spaces after it: lines break at spaces only (a no-break space holds).
_WORD = re.compile(r"[^ ]+ *")

#: Characters that could pass for the trusted glyph.
CHECK_MARKS = frozenset("\u2713\u2714\u2705\u2611\u221a\U0001f5f8\U0001f5f9\u2612\u2610\u237b")
#: Invisible characters with no Cf category that still hide or reorder text.
_INVISIBLE_EXTRA = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f")


class ControlCharsError(DeskError):
    code = "bad_config"


def _visible_code(char: str, mode: str) -> str:
    if mode == NAMES:
        return f"<U+{ord(char):04X}>"
    return f"⟨U+{ord(char):04X}⟩"


def _build_table(mode: str) -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(0x20):
        # ␀ … ␟ (ESC → ␛), or <NUL> … <US> (ESC → <ESC>)
        table[code] = chr(0x2400 + code) if mode == PICTURES else f"<{C0_NAMES[code]}>"
    table[0x7F] = "\u2421" if mode == PICTURES else "<DEL>"  # ␡
    for code in range(0x80, 0xA0):
        table[code] = _visible_code(chr(code), mode)
    table[0x09] = TAB
    return table


_TABLES = {mode: _build_table(mode) for mode in MODES}
_mode = PICTURES


def control_chars_mode(
    environ: Mapping[str, str] | None = None, *, locale_name: str | None = None
) -> str:
    """`pictures` or `names`: `$GLADDESK_CONTROL_CHARS` if set (anything else is an error),
    else names when the locale (`LC_ALL`, `LC_CTYPE`, `LANG`, the first set) is not UTF-8."""
    env = os.environ if environ is None else environ
    wanted = env.get(CONTROL_CHARS_ENV, "").strip()
    if wanted:
        if wanted.lower() not in MODES:
            # ASCII only: the terminal reading this may not show more.
            raise ControlCharsError(
                f"{CONTROL_CHARS_ENV}={ascii(wanted[:40])}: expected {PICTURES} (Unicode control"
                f" pictures) or {NAMES} (ASCII names such as <ESC>)"
            )
        return wanted.lower()
    if locale_name is None:
        locale_name = next((env[n] for n in ("LC_ALL", "LC_CTYPE", "LANG") if env.get(n)), "")
    encoding = locale_name.partition(".")[2].partition("@")[0].lower().replace("-", "")
    return PICTURES if encoding == "utf8" else NAMES


def use_control_chars(mode: str) -> None:
    """Show control characters as `pictures` or `names` from now on (set once, at start:
    what widgets already drew keeps its form)."""
    global _mode
    if mode not in MODES:
        raise ControlCharsError(f"control characters: expected one of {', '.join(MODES)}")
    _mode = mode


def current_control_chars() -> str:
    return _mode


def _needs_code(char: str) -> bool:
    if char in CHECK_MARKS or char in _INVISIBLE_EXTRA:
        return True
    category = unicodedata.category(char)
    # Cf: format (bidi controls, zero-width, soft hyphen, BOM); Zl/Zp: line separators;
    # Cs/Co/Cn: surrogates, private use and unassigned code points.
    return category in ("Cf", "Zl", "Zp", "Cs", "Co", "Cn")


def _clean_chars(text: str) -> str:
    mode = _mode
    out = text.translate(_TABLES[mode])
    if out.isascii():
        return out
    return "".join(_visible_code(char, mode) if _needs_code(char) else char for char in out)


def _cut(text: str, limit: int) -> tuple[str, int]:
    if len(text) <= limit:
        return text, 0
    return text[:limit], len(text) - limit


def _cut_note(left_out: int) -> str:
    return f" … [{left_out:,} more characters not shown]"


def clean_line(value: object, *, limit: int = MAX_DISPLAY_CHARS) -> str:
    """One display line: newlines shown as `⏎` (`<LF>`), everything hostile visible and inert."""
    text = "" if value is None else str(value)
    text, left_out = _cut(text.replace("\r\n", "\n"), limit)
    cleaned = _NEWLINE_MARKS[_mode].join(_clean_chars(part) for part in text.split("\n"))
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


def _cut_points(word: str, start: int, width: int) -> list[int]:
    """Offsets (from `start`) where a word longer than `width` cells is cut: in a link, after
    its last separator in reach; elsewhere, where the line is full."""
    cuts = []
    position = 0
    linked = "://" in word
    while cell_len(word[position:]) > width:
        end, cells = position, 0
        while end < len(word) and cells + cell_len(word[end]) <= width:
            cells += cell_len(word[end])
            end += 1
        end = max(end, position + 1)
        if linked and end < len(word):
            separator = max(
                (i + 1 for i in range(position, end) if word[i] in _URL_BREAKS), default=0
            )
            if separator > position + 1:
                end = separator
        cuts.append(start + end)
        position = end
    return cuts


def line_starts(plain: str, width: int) -> list[int]:
    """Where each line of `plain` (one paragraph) begins when wrapped to `width` cells:
    between words, a word longer than a line cut (a link after one of its separators)."""
    width = max(1, width)
    starts = [0]
    # cells on the current line, with the spaces after its last word (or before its first)
    used = cell_len(plain[: len(plain) - len(plain.lstrip(" "))])
    for match in _WORD.finditer(plain):
        word = match.group().rstrip(" ")
        cells = cell_len(word)
        if used and used + cells > width:
            starts.append(match.start())
            used = 0
        if cells > width:
            cuts = _cut_points(word, match.start(), width)
            starts.extend(cuts)
            cells = cell_len(word[cuts[-1] - match.start() :])
        used += cells + cell_len(match.group()) - cell_len(word)
    return starts


def wrap(text: Text, width: int) -> list[Text]:
    """`text` (one paragraph, no newlines) in lines of at most `width` cells, broken between
    words; only a word longer than a line is cut (a link after one of its separators)."""
    lines = list(text.divide(line_starts(text.plain, width)[1:]))
    for line in lines:
        line.rstrip()
    return lines
