"""Where the simulation finds the project's committed data: `fixtures/` and `demo.db`.

They sit at the project's root beside the `sim` package, as in a clone and in the editable
install `make` sets up (a wheel carries the code only). `project_path` is the one place that
knows this; every default path of the simulation comes from it.
"""

from __future__ import annotations

from pathlib import Path


def project_path(*parts: str) -> Path:
    """A file or folder of the project, relative to its root (the folder holding `sim/`)."""
    return Path(__file__).resolve().parent.parent.joinpath(*parts)


#: The demo data the demo desk is built from (customers, conversations, desk.toml, rules).
FIXTURES = project_path("fixtures")
#: The shipped scenario scripts.
SCENARIOS_DIR = project_path("fixtures", "scenarios")
#: The committed demo desk (with its `.keys` and `.rules.toml` beside it).
DEMO_DB = project_path("demo.db")
