"""Backends benchmark (issue 16): the same HTTP load on SQLite with one server worker, and on
PostgreSQL with one and with two (`gladdesk serve --workers N`), in the same run.

For each: 32 customers on loopback (bench/web.py's clients, each from its own address)
1. session starts/s: every customer starting widget sessions back to back;
2. messages/s and the round trip's p50/p99 with every customer sending back to back;
3. customer message -> another process sees it: p95 at a steady 50 messages/s (within every
   configuration's capacity, so no queue builds up: what is measured is the wake-up), the other
   process tailing the feed as a console does (SQLite: `data_version` every
   TAIL_INTERVAL_S; PostgreSQL: woken by LISTEN/NOTIFY).
Targets (2 cores): PostgreSQL + 2 workers >= 1.0x SQLite + 1 worker's messages/s; arrival
p95 <= 50 ms on PostgreSQL and <= 100 ms on SQLite.

It also prints what a paper estimate of larger desks needs: CPU per message of the web
workers and of the PostgreSQL server (from /proc), measured in the PostgreSQL runs.

PostgreSQL: `$GLADDESK_BENCH_PG` or `$GLADDESK_TEST_PG` (a URL whose user may create
databases), else the local server `.ci/run` prepares. Skipped with a reason when none answers.
"""

# ruff: noqa: E402
from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import web as http_bench  # bench/web.py: its customers and drivers

from sim.demo_desk import build_demo
from tui.app import TAIL_INTERVAL_S

CUSTOMERS = http_bench.CUSTOMERS
SESSIONS_S = 5.0
THROUGHPUT_S = 8.0
RATE = 50
RATE_S = 6.0
DEFAULT_PG = "postgresql://gladdesk:gladdesk@127.0.0.1:5432/postgres"

TAILER = """
import sys, threading, time
from core.store import Desk
desk = Desk.open(sys.argv[1], create=False)
interval = float(sys.argv[3])
wake = threading.Event()
if desk.pushes_changes:
    desk.on_change(wake.set)
    desk.data_version()
last = desk.last_event_id()
print("ready", flush=True)
seen = []
version = desk.data_version()
deadline = time.time() + float(sys.argv[2])
while time.time() < deadline:
    if desk.pushes_changes:
        wake.wait(0.5)
        wake.clear()
    else:
        time.sleep(interval)
        now = desk.data_version()
        if now == version:
            continue
        version = now
    for event in desk.events_after(last, 5000):
        last = event.id
        if event.kind == "item.created" and event.item_id is not None:
            seen.append((event.item_id, time.time()))
print("\\n".join(f"{item} {at}" for item, at in seen), flush=True)
desk.close()
"""


def pg_url() -> str:
    return os.environ.get("GLADDESK_BENCH_PG") or os.environ.get("GLADDESK_TEST_PG") or DEFAULT_PG


def with_database(url: str, name: str) -> str:
    return urlsplit(url)._replace(path="/" + name).geturl()


def cli(*args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        env=env,
    )


def no_budgets(db: str, env: dict[str, str]) -> None:
    """The bench's customers are few addresses sending fast: lift the flood budgets."""
    flags = []
    for name in (
        "address-sessions-per-min",
        "app-sessions-per-min",
        "address-identifications-per-min",
        "app-identifications-per-min",
        "address-conversations-per-min",
        "app-conversations-per-min",
        "address-unassigned-max",
    ):
        flags += [f"--{name}", "0"]
    cli("--db", db, "apps", "set", "retale", *flags, env=env)


def start_server(db: str, port: int, workers: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """bench/web.py's server, with `--workers` (which take longer to come up)."""
    options = ("--workers", str(workers)) if workers > 1 else ()
    return http_bench.start_server(db, port, *options, env=env, wait_s=60)


def session_starts(port: int) -> float:
    """Widget sessions started per second, every customer back to back."""
    stop_at = time.time() + SESSIONS_S

    def one(customer: int) -> int:
        count = 0
        with http_bench.client_for(port, customer, timeout=30) as client:
            while time.time() < stop_at:
                client.post("/widget/v1/sessions", json={"appId": "retale"}).raise_for_status()
                count += 1
        return count

    with ThreadPoolExecutor(CUSTOMERS) as pool:
        return sum(pool.map(one, range(CUSTOMERS))) / SESSIONS_S


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (Linux /proc), children not included."""
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / tick


def server_pids(server: subprocess.Popen[bytes]) -> list[int]:
    """The serve process and its worker processes."""
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(server.pid)], capture_output=True, text=True
    ).stdout
    return [server.pid, *(int(p) for p in out.split())]


def postgres_pids(admin_url: str, database: str) -> list[int]:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,)
        ).fetchall()
    return [int(r[0]) for r in rows]


def run(label: str, db: str, workers: int, env: dict[str, str], pg: tuple[str, str] | None) -> dict:
    port = http_bench.free_port()
    server = start_server(db, port, workers, env)
    try:
        starts = session_starts(port)
        tokens = http_bench.open_customers(port, "t")
        pids = server_pids(server)
        pg_pids = postgres_pids(*pg) if pg else []
        web_cpu, pg_cpu = cpu_seconds(pids), cpu_seconds(pg_pids)
        sent, elapsed, latencies, _ = http_bench.drive(port, tokens, THROUGHPUT_S, None)
        web_cpu, pg_cpu = cpu_seconds(pids) - web_cpu, cpu_seconds(pg_pids) - pg_cpu
        rate = sent / elapsed
        steady = http_bench.open_customers(port, "s")
        tailer = subprocess.Popen(
            [sys.executable, "-c", TAILER, db, str(RATE_S + 8), str(TAIL_INTERVAL_S)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert tailer.stdout is not None
        tailer.stdout.readline()  # ready
        _, _, _, sent_at = http_bench.drive(port, steady, RATE_S, CUSTOMERS / RATE)
        output, _ = tailer.communicate(timeout=60)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    seen = {int(i): float(t) for i, t in (line.split() for line in output.split("\n") if line)}
    visible = [seen[item] - at for item, at in sent_at.items() if item in seen]
    return {
        "label": label,
        "session_starts_per_s": round(starts),
        "messages_per_s": round(rate),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(http_bench.percentile(latencies, 0.99) * 1000, 1),
        "arrival_p95_ms": round(http_bench.percentile(visible, 0.95) * 1000, 1)
        if visible
        else None,
        "never_seen": len(sent_at) - len(visible),
        "web_cpu_ms_per_message": round(web_cpu * 1000 / max(sent, 1), 3),
        "pg_cpu_ms_per_message": round(pg_cpu * 1000 / max(sent, 1), 3) if pg else None,
    }


def reachable_pg() -> str | None:
    """The bench's PostgreSQL server URL, or None (having said why) when none answers."""
    import psycopg

    admin = pg_url()
    try:
        psycopg.connect(admin, connect_timeout=3).close()
    except psycopg.Error as exc:
        print(f"skipped: no PostgreSQL server at {admin.split('@')[-1]} ({exc})")
        return None
    return admin


def main() -> int:
    import psycopg

    admin = reachable_pg()
    if admin is None:
        return 0
    work = Path(tempfile.mkdtemp(prefix="gladdesk-bench-backends-"))
    env = {**os.environ, "GLADDESK_STATE_DIR": str(work / "state")}
    database = f"gladdesk_bench_{os.getpid()}"
    results = []
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
    try:
        built = build_demo(work / "demo.db")
        url = with_database(admin, database)
        cli("db", "copy", "--from", str(built), "--to", url, env=env)
        no_budgets(url, env)
        sqlite_db = work / "bench.db"
        cli("db", "copy", "--from", str(built), "--to", str(sqlite_db), env=env)
        no_budgets(str(sqlite_db), env)
        results.append(run("SQLite, 1 worker", str(sqlite_db), 1, env, None))
        results.append(run("PostgreSQL, 1 worker", url, 1, env, (admin, database)))
        results.append(run("PostgreSQL, 2 workers", url, 2, env, (admin, database)))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    report(results)
    return 0


def report(results: list[dict]) -> None:
    base = results[0]["messages_per_s"]
    print(
        f"cores: {os.cpu_count()}; {CUSTOMERS} customers, loopback; arrival measured by"
        f" another process (SQLite: data_version every {TAIL_INTERVAL_S * 1000:.0f} ms;"
        " PostgreSQL: LISTEN/NOTIFY)"
    )
    for r in results:
        target = 50 if r["label"].startswith("PostgreSQL") else 100
        arrival = r["arrival_p95_ms"]
        lost = f", {r['never_seen']} never seen" if r["never_seen"] else ""
        print(
            f"{r['label']:<22} sessions {r['session_starts_per_s']:>5}/s  messages"
            f" {r['messages_per_s']:>5}/s ({r['messages_per_s'] / base:.2f}x SQLite)"
            f"  p50 {r['p50_ms']:>5} ms  p99 {r['p99_ms']:>6} ms  arrival p95 {arrival} ms"
            f" (target <= {target}) {'ok' if arrival is not None and arrival <= target else 'MISSED'}"
            f"{lost}"
        )
    two = results[-1]["messages_per_s"] / base
    print(
        f"PostgreSQL + 2 workers / SQLite + 1 worker: {two:.2f}x (target >= 1.0x)"
        f" {'ok' if two >= 1.0 else 'MISSED'}"
    )
    for r in results[1:]:
        print(
            f"{r['label']}: CPU per message: web workers {r['web_cpu_ms_per_message']} ms,"
            f" PostgreSQL server {r['pg_cpu_ms_per_message']} ms"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    sys.exit(main())
