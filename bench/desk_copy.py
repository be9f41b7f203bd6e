"""`gladdesk db copy` at scale: the console bench's desk (100,000 conversations, 1,000,000
timeline items, 60,000 customers; `bench/console.py` generates and caches it) copied from its
SQLite file into an empty PostgreSQL database, then from that database into a new file.

Each copy runs as the real command in a subprocess: wall time, rows a second and the
command's peak RSS. The check before the commit (every table's rows digested on both desks)
is part of the time. Baseline in the same run: the PostgreSQL server's own tools moving the
same data between two databases (`pg_dump -Fc`, then `pg_restore` into an empty one).

PostgreSQL: `$GLADDESK_BENCH_PG` or `$GLADDESK_TEST_PG` (a URL whose user may create
databases), else the local server `.ci/run` prepares. Skipped with a reason when none answers.
Target (2 cores): each direction within 5 minutes.
"""

# ruff: noqa: E402
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from backends import reachable_pg, with_database
from console import DB, ensure_db

TARGET_S = 300.0


def timed(args: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Run `args`; (wall seconds, peak RSS in MB, stderr). Fails loudly when it fails."""
    started = time.perf_counter()
    process = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert process.stderr is not None
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    err = process.stderr.read().decode()
    process.stderr.close()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])}... failed:\n{err}")
    return seconds, usage.ru_maxrss // 1024, err


def _pg_tools() -> tuple[str, str] | None:
    found = shutil.which("pg_dump"), shutil.which("pg_restore")
    return (found[0], found[1]) if found[0] and found[1] else None


def baseline(url: str, empty: str, work: Path, env: dict[str, str]) -> float | None:
    """pg_dump of the copied database and pg_restore into an empty one: seconds."""
    tools = _pg_tools()
    if tools is None:
        return None
    dump = work / "desk.dump"
    parts = urlsplit(url)
    pg_env = {**env, "PGPASSWORD": parts.password or ""}
    where = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432)]
    user = ["-U", parts.username or "postgres"]
    started = time.perf_counter()
    subprocess.run(
        [tools[0], *where, *user, "-Fc", "-f", str(dump), parts.path.lstrip("/")],
        env=pg_env,
        check=True,
    )
    subprocess.run(
        [tools[1], *where, *user, "-d", urlsplit(empty).path.lstrip("/"), str(dump)],
        env=pg_env,
        check=True,
    )
    return time.perf_counter() - started


def main() -> int:
    import psycopg

    admin = reachable_pg()
    if admin is None:
        return 0
    generated = ensure_db()
    if generated:
        print(f"generated the console bench's desk in {generated:.0f} s")
    work = Path(tempfile.mkdtemp(prefix="gladdesk-bench-copy-"))
    env = {**os.environ, "GLADDESK_STATE_DIR": str(work / "state")}
    names = [f"gladdesk_bench_copy_{os.getpid()}_{n}" for n in (1, 2)]
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    url, spare = (with_database(admin, name) for name in names)
    gladdesk = [sys.executable, "-m", "cli", "db", "copy"]
    try:
        source = work / "source.db"
        shutil.copy(DB, source)  # the cached desk is never migrated nor changed
        to_pg = timed([*gladdesk, "--from", str(source), "--to", url], env)
        back = timed([*gladdesk, "--from", url, "--to", str(work / "back.db")], env)
        tools = baseline(url, spare, work, env)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)
    rows = int(to_pg[2].split(": ", 1)[1].split(" rows")[0].replace(",", ""))
    print(f"desk: {rows:,} rows (100,000 conversations, 1,000,000 items)")
    for label, (seconds, rss, _) in (
        ("SQLite -> PostgreSQL", to_pg),
        ("PostgreSQL -> SQLite", back),
    ):
        verdict = "met" if seconds <= TARGET_S else "MISSED"
        print(
            f"  {label}: {seconds:6.1f} s, {rows / seconds:,.0f} rows/s, peak RSS {rss} MB"
            f" (target <= {TARGET_S:.0f} s: {verdict})"
        )
    if tools is None:
        print("  baseline: pg_dump / pg_restore not on PATH, not measured")
    else:
        print(
            f"  baseline pg_dump + pg_restore (PostgreSQL -> PostgreSQL): {tools:.1f} s;"
            f" db copy into PostgreSQL at {tools / to_pg[0]:.2f}x its speed"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
