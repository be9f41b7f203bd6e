"""Console tests see control characters as pictures (␛), whatever this machine's locale says;
tests of the fallback set the mode themselves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tui.text import CONTROL_CHARS_ENV, PICTURES, use_control_chars


@pytest.fixture(autouse=True)
def control_pictures(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(CONTROL_CHARS_ENV, PICTURES)
    use_control_chars(PICTURES)
    yield
    use_control_chars(PICTURES)
