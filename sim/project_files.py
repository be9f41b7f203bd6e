"""Where the simulation finds the project's committed data: `fixtures/` and `demo.db`.

In a checkout (and the editable install `make` sets up) they sit at the project's root beside
the `sim` package. A wheel carries them as package data, in `sim/data/` (pyproject.toml), so
that `pip install gladdesk` then `gladdesk demo` works from any folder. `project_path` is the
one place that knows this; every default path of the simulation comes from it. Both places
are only read: the demo works on a copy (tui/demo.py) and `db build-demo` writes where it is
told (`IN_CHECKOUT` decides its default).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent
#: Running from a checkout (its `fixtures/` beside `sim/`), not from an installed wheel.
IN_CHECKOUT = (_CHECKOUT / "fixtures" / "desk.toml").is_file()


def project_path(*parts: str) -> Path:
    """A file or folder of the project's data, by its path in the repository (`fixtures`,
    `demo.db`, ...): from the checkout, else from the package data of an installed wheel."""
    if IN_CHECKOUT:
        return _CHECKOUT.joinpath(*parts)
    return Path(str(resources.files("sim").joinpath("data", *parts)))


#: The demo data the demo desk is built from (customers, conversations, desk.toml, rules).
FIXTURES = project_path("fixtures")
#: The shipped scenario scripts.
SCENARIOS_DIR = project_path("fixtures", "scenarios")
#: The committed demo desk (with its `.keys` and `.rules.toml` beside it).
DEMO_DB = project_path("demo.db")
