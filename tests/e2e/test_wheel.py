"""gladdesk installed from its wheel runs outside the checkout: the wheel carries the demo
desk and the scenario scripts, and `demo --headless`, `feed --scenario`, `db build-demo` and
`train` work from a folder that has nothing of the project in it, writing nothing inside the
installed package.

The wheel is built from this checkout (hatchling, from the package index or pip's
find-links; the test skips when neither has it) and installed, without its dependencies,
into a fresh venv; the dependencies come from the venv running the tests, added by a `.pth`
line. The `.pth` files in that folder are not read through it, so its editable install of
gladdesk (which would point back at the checkout) stays out: the test checks that what runs
is the installed copy.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Installed:
    venv: Path
    site: Path
    cwd: Path
    env: dict[str, str]

    def run(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / "gladdesk"), *args],
            cwd=cwd or self.cwd,
            env=self.env | (env or {}),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def python(self, code: str, timeout: float = 120) -> str:
        return subprocess.run(
            [str(self.venv / "bin" / "python"), "-c", code],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=timeout,
        ).stdout


def build_wheel(folder: Path) -> Path:
    """The wheel of this checkout, in `folder`. Without build isolation when hatchling is
    importable here; else pip fetches it, and a registry out of reach skips the test."""
    isolation = [] if importlib.util.find_spec("hatchling") is None else ["--no-build-isolation"]
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", *isolation]
        + ["-w", str(folder), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if built.returncode != 0:
        unreachable = ("No matching distribution", "Could not find a version", "NewConnection")
        if "hatchling" in built.stderr and any(word in built.stderr for word in unreachable):
            pytest.skip("the build backend (hatchling) cannot be fetched: no package registry")
        pytest.fail(f"building the wheel failed:\n{built.stderr[-3000:]}")
    [wheel] = folder.glob("gladdesk-*.whl")
    return wheel


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    folder = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(folder)
    venv = folder / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
        + ["install", "--quiet", "--no-deps", str(wheel)],
        check=True,
        timeout=300,
    )
    site = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    cwd = folder / "elsewhere"
    cwd.mkdir()
    # A user's environment, as a fresh login has it: nothing of the checkout or of this run.
    unset = ("PYTHONPATH", "GLADDESK_DB", "GLADDESK_STATE_DIR", "XDG_STATE_HOME")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env |= {"HOME": str(folder / "home")}
    yield Installed(venv, Path(site), cwd, env)


def test_what_runs_is_the_installed_copy_with_its_data(installed: Installed) -> None:
    where = installed.python(
        "import cli, sim.project_files as p; print(cli.__file__); print(p.DEMO_DB);"
        " print(p.SCENARIOS_DIR); print(p.IN_CHECKOUT)"
    ).splitlines()
    assert all(line.startswith(str(installed.site)) for line in where[:3]), where
    assert where[3] == "False"
    assert Path(where[1]).is_file() and (Path(where[2]) / "most-ideal.toml").is_file()


def test_demo_headless_runs_from_any_folder(installed: Installed) -> None:
    """The working copy goes to the user's state folder (~/.local/state/gladdesk/), or
    where $GLADDESK_STATE_DIR says; never beside the installed package nor in the cwd."""
    empty = installed.cwd.parent / "empty"
    empty.mkdir()
    result = installed.run("demo", "--headless", "--duration", "5", "--seed", "1", cwd=empty)
    assert result.returncode == 0, result.stderr
    copy = Path(installed.env["HOME"]) / ".local" / "state" / "gladdesk" / "demo.db"
    assert f"demo feed: 5 s on {copy}" in result.stdout and "customers:" in result.stdout
    assert copy.is_file() and Path(f"{copy}.keys").is_file()
    state = installed.cwd.parent / "state"
    told = installed.run(
        "demo", "--headless", "--duration", "1", env={"GLADDESK_STATE_DIR": str(state)}, cwd=empty
    )
    assert told.returncode == 0, told.stderr
    assert f"on {state / 'demo.db'}" in told.stdout
    assert list(empty.iterdir()) == []


def test_feed_plays_a_scenario_on_a_new_desk(installed: Installed) -> None:
    result = installed.run("feed", "--scenario", "most-ideal", "--db", "new.db")
    assert result.returncode == 0, result.stderr
    assert "scripts: most-ideal 1" in result.stdout
    assert (installed.cwd / "new.db").is_file()
    after = installed.run("report", "--format", "json", "--db", "new.db")
    before = installed.run("--db", "new.db", "report", "--format", "json")
    assert after.returncode == before.returncode == 0, after.stderr + before.stderr
    assert after.stdout == before.stdout and '"until"' in after.stdout


def test_build_demo_writes_where_it_is_told_or_in_the_current_folder(
    installed: Installed,
) -> None:
    told = installed.run("db", "build-demo", "--out", "x.db")
    assert told.returncode == 0, told.stderr
    assert (installed.cwd / "x.db").is_file() and (installed.cwd / "x.db.keys").is_file()
    default = installed.run("db", "build-demo")
    assert default.returncode == 0, default.stderr
    assert (installed.cwd / "demo.db").is_file()


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_train_opens_in_a_terminal(installed: Installed) -> None:
    session = f"gladdesk-wheel-{os.getpid()}"
    command = f"{installed.venv / 'bin' / 'gladdesk'} train"
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "140", "-y", "40", command],
        cwd=installed.cwd,
        env=installed.env,
        check=True,
    )
    try:
        screen = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "Most ideal" not in screen:
            time.sleep(0.5)
            screen = subprocess.run(
                ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True
            ).stdout
        assert "Most ideal" in screen, screen
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def test_the_trainer_steps_through_an_order_on_the_packaged_scripts(installed: Installed) -> None:
    """Without a terminal: the installed trainer builds its desk from the wheel's fixtures
    and plays the first step of an order."""
    out = installed.python(
        "import asyncio, tempfile\n"
        "from pathlib import Path\n"
        "from tui.train import make_train_app\n"
        "async def main():\n"
        "    with tempfile.TemporaryDirectory() as folder:\n"
        "        app = make_train_app(order='most-ideal', workdir=Path(folder))\n"
        "        async with app.run_test(size=(140, 40)) as pilot:\n"
        "            await app.workers.wait_for_complete(); await pilot.pause()\n"
        "            await pilot.press('n')\n"
        "            await app.workers.wait_for_complete(); await pilot.pause()\n"
        "            print(app.screen.scenario.name, app.screen.frame.position)\n"
        "asyncio.run(main())\n",
        timeout=180,
    )
    assert out.split() == ["most-ideal", "1"], out


def _record_hash(path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes()).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_nothing_was_written_inside_the_installed_package(installed: Installed) -> None:
    """After every command above: the installed files are as pip wrote them (RECORD), and
    nothing new sits beside them but bytecode."""
    [record] = installed.site.glob("gladdesk-*.dist-info/RECORD")
    recorded = set()
    for line in record.read_text().splitlines():
        name, hashed, _size = line.rsplit(",", 2)
        recorded.add(name)
        if hashed:
            assert _record_hash(installed.site / name) == hashed, name
    for package in ("core", "sim", "cli", "tui"):
        for path in (installed.site / package).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                assert str(path.relative_to(installed.site)) in recorded, path
