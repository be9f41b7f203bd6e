"""Abuse benchmark (issue 12): honest customers chatting while the server is attacked.

`gladdesk serve` (one uvicorn worker) on a copy of the demo desk, on loopback. 32 honest
customers, each from its own source address (127.0.1.1 to 127.0.1.32) on its own keep-alive
connection, open a widget session, identify (the onboarding form or `setUser`), then chat at a
steady 300 messages/s in total (open loop: each customer on its own schedule) for 30 s. Then
they do the same again (new sessions) while, from other addresses (127.0.2.x), these run:

- a session flood: session starts as fast as a few connections allow, each session it gets
  onboarded and sent a first message, to fill the queue;
- bad-token guessing: random bearer tokens on the widget API, random Basic credentials on the
  admin API;
- event-stream reconnect loops: `GET /widget/v1/events?after=0` opened and closed in a loop,
  several at once, with valid session tokens;
- a trickling JWKS host: a keyset added with `keys add --jwks-url` whose host answers its
  first fetch (the add) at once and every later one one byte every 4 s, and `setUser` tokens
  naming unknown kids, so that the server tries to refresh that keyset.

Figures for the honest customers, without and under attack in the same run: round trip of
message sends (p50 / p99), requests sent, refused (any 4xx/5xx) and failed (errors, timeouts).
Target: p99 under attack <= 2x p99 without, and no honest request refused or failed. What the
attackers got is printed too (counts by status), so that the defences can be seen working.
The CPU used by the server, the clients and other processes is printed for each phase; when
other processes took more than a quarter of a core, or the customers without attack did not
keep up, the bench gives no verdict: the figures would measure the machine.

The clients stand for other machines: on a machine of two cores or more, every client process
is kept on half of the cores, so the server mostly has the other half to itself, and the
attackers run in one process at a lower CPU priority (nice), so that they yield to the honest
customers. Otherwise the attackers' own CPU (httpx costs more per request than the server
does) would come out of the server's, and the figures would measure the machine rather than
the server's defences. The clients live in bench/abuse_traffic/.
"""

# ruff: noqa: E402
from __future__ import annotations

import json
import math
import multiprocessing
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from abuse_traffic.attackers import ATTACKS, NICE, attack_all
from abuse_traffic.counted import APP, Tally
from abuse_traffic.honest import CUSTOMERS, Schedule, honest_address, honest_worker
from abuse_traffic.jwks_host import TRICKLE_EVERY_S, TrickleHost
from web import free_port, percentile, start_server  # bench/web.py

from sim.demo_desk import build_demo

#: Client processes for the honest customers, each driving CUSTOMERS / WORKERS of them from as
#: many threads (httpx costs more CPU per request than the server does).
WORKERS = 4
RATE = 300
PHASE_S = 30.0
#: Under attack, the honest customers start this long after the attackers.
RAMP_S = 2.0
TARGET_RATIO = 2.0
#: Beyond this share of a core taken by other processes in a phase, no verdict is given.
BUSY_OTHERS = 0.25


def add_trickling_keyset(db: Path, url: str) -> None:
    """`gladdesk keys add --jwks-url` (which fetches the keyset once)."""
    subprocess.run(
        [
            *(sys.executable, "-m", "tui", "--db", str(db), "keys", "add", "--kid", "trickle"),
            *("--jwks-url", url, "--app", APP),
        ],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )


# -- phases -----------------------------------------------------------------------------------


@dataclass
class Phase:
    honest: Tally
    attacks: dict[str, Tally]
    attack_s: float  # how long the attackers ran
    #: CPU used, in shares of one core: "server", "honest clients", "attackers", and "other
    #: processes" (the rest of what the machine's cores were busy with: work that is not ours).
    cpu: dict[str, float]


def process_cpu_s(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_s() -> float:
    """CPU time all cores spent busy since boot (Linux /proc/stat)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def client_cores() -> set[int]:
    """The cores the client processes are kept on: the second half of this process's, when it
    has two or more. The server is not pinned: it runs where it finds room, mostly the first
    half, so that busy clients (attackers included) stand for other machines."""
    cores = sorted(os.sched_getaffinity(0))
    return set(cores[len(cores) // 2 :])


def run_job(job: tuple[Any, ...]) -> tuple[Any, float]:
    """A job's result and the CPU time its process spent on it (all its threads)."""
    started = time.process_time()
    result = job[0](*job[1:])
    return result, time.process_time() - started


def run_phase(port: int, server_pid: int, tag: str, attack: bool) -> Phase:
    """The honest customers for PHASE_S of chat, with the attackers running or not."""
    start_at = time.time() + 1.5  # let every process start first
    open_at = start_at + (RAMP_S if attack else 0.0)
    chat_at = open_at + 1.5  # every session open and identified
    stop_at = chat_at + PHASE_S
    schedule = Schedule(port, tag, open_at, chat_at, stop_at, CUSTOMERS / RATE)
    per = CUSTOMERS // WORKERS
    jobs: list[tuple[Any, ...]] = [
        (honest_worker, schedule, list(range(w * per, (w + 1) * per))) for w in range(WORKERS)
    ]
    if attack:
        jobs.append((attack_all, port, start_at, stop_at))
    server_before, machine_before, started = process_cpu_s(server_pid), machine_cpu_s(), time.time()
    context = multiprocessing.get_context("fork")
    with context.Pool(len(jobs), os.sched_setaffinity, (0, client_cores())) as pool:
        results = pool.map(run_job, jobs)
    elapsed = time.time() - started
    honest = Tally()
    for tally, _ in results[:WORKERS]:
        honest.add(tally)
    cpu = {
        "server": process_cpu_s(server_pid) - server_before,
        "honest clients": sum(used for _, used in results[:WORKERS]),
        "attackers": results[WORKERS][1] if attack else 0.0,
    }
    cpu["other processes"] = max(0.0, machine_cpu_s() - machine_before - sum(cpu.values()))
    attacks = results[WORKERS][0] if attack else {}
    shares = {name: used / elapsed for name, used in cpu.items()}
    return Phase(honest, attacks, stop_at - start_at if attack else 0.0, shares)


# -- the report -------------------------------------------------------------------------------


def by_outcome(tally: Tally) -> tuple[int, Counter[str], Counter[str]]:
    """(requests, refused by "call status code", failed by "call error")."""
    refused: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for key, count in tally.counts.items():
        outcome = key.split(" ")[2]
        if not outcome.isdigit():
            failed[key] += count
        elif int(outcome) >= 400:
            refused[key] += count
    return sum(tally.counts.values()), refused, failed


def grouped(counts: Counter[str]) -> str:
    """Counts of "METHOD /path outcome" as `POST /widget/v1/sessions 201×240 429×9,000; ...`."""
    calls: dict[str, list[str]] = {}
    for key, count in sorted(counts.items()):
        method, path, outcome = key.split(" ", 2)
        calls.setdefault(f"{method} {path}", []).append(f"{outcome}×{count:,}")
    return "; ".join(f"{name} {' '.join(outcomes)}" for name, outcomes in calls.items())


def p99_ms(phase: Phase) -> float:
    return percentile(phase.honest.latencies or [float("nan")], 0.99) * 1000


def column(phase: Phase) -> list[str]:
    """One phase's figures, in the order of `ROWS`."""
    requests, refused, failed = by_outcome(phase.honest)
    latencies = phase.honest.latencies
    return [
        f"{len(latencies):,} ({len(latencies) / PHASE_S:,.0f}/s)",
        f"{statistics.median(latencies) * 1000:.1f} ms" if latencies else "none",
        f"{p99_ms(phase):.1f} ms" if latencies else "none",
        f"{requests:,}",
        f"{sum(refused.values()):,}",
        f"{sum(failed.values()):,}",
        *(f"{phase.cpu[name]:.0%} of a core" for name in CPU_ROWS),
    ]


CPU_ROWS = ("server", "honest clients", "attackers", "other processes")
ROWS = (
    "messages sent (201)",
    "round trip p50",
    "round trip p99",
    "honest requests",
    "refused (4xx/5xx)",
    "failed (errors)",
    *(f"CPU: {name}" for name in CPU_ROWS),
)


def print_table(quiet: Phase, attacked: Phase) -> None:
    print(f"{'honest customers':<22}{'without attack':>22}{'under attack':>22}")
    for label, a, b in zip(ROWS, column(quiet), column(attacked), strict=True):
        print(f"{label:<22}{a:>22}{b:>22}")
    for name, phase in (("without attack", quiet), ("under attack", attacked)):
        _, refused, failed = by_outcome(phase.honest)
        if refused or failed:
            print(f"  honest refused/failed {name}: {grouped(refused + failed)}")


def print_attacks(attacked: Phase, trickled: int) -> None:
    print(f"attackers ({attacked.attack_s:.0f} s, one process at nice {NICE}):")
    for name, tally in attacked.attacks.items():
        total = sum(tally.counts.values())
        rate = total / attacked.attack_s
        print(f"  {name} ({ATTACKS[name]}): {total:,} requests ({rate:,.0f}/s)")
        print(f"    {grouped(tally.counts)}")
    print(
        f"  JWKS host: the server fetched it {trickled} time(s) during the run, each answered"
        f" a byte every {TRICKLE_EVERY_S:.0f} s (keys add's fetch was answered at once)"
    )


def verdict(quiet: Phase, attacked: Phase, ratio: float, errors: int) -> str:
    """MET or MISSED; no verdict when the phase without attack (the baseline) fell short or
    other work took the machine's CPU: then the figures measure the machine."""
    _, refused, failed = by_outcome(quiet.honest)
    scheduled = round(RATE * PHASE_S)
    others = max(quiet.cpu["other processes"], attacked.cpu["other processes"])
    if errors:
        return "MISSED"
    if len(quiet.honest.latencies) < 0.95 * scheduled or refused or failed:
        return (
            f"NO VERDICT: without attack only {len(quiet.honest.latencies):,} of {scheduled:,}"
            f" messages went through, {sum((refused + failed).values())} refused or failed"
            " (a busy machine?); run again"
        )
    if others > BUSY_OTHERS:
        return (
            f"NO VERDICT: other processes took {others:.0%} of a core during a phase;"
            " run again on a quieter machine"
        )
    return "MET" if ratio <= TARGET_RATIO else "MISSED"


def print_verdict(quiet: Phase, attacked: Phase) -> None:
    p99_quiet, p99_attacked = p99_ms(quiet), p99_ms(attacked)
    ratio = p99_attacked / p99_quiet
    _, refused_q, failed_q = by_outcome(quiet.honest)
    _, refused_a, failed_a = by_outcome(attacked.honest)
    errors = sum((refused_a + failed_a).values())
    print(
        "honest p99 under attack / without: "
        + (f"{ratio:.2f}x" if math.isfinite(ratio) else "no message went through")
        + f" (target <= {TARGET_RATIO:.0f}x); honest requests refused or failed under attack:"
        f" {errors} (target 0)  {verdict(quiet, attacked, ratio, errors)}"
    )
    figures = {
        "p99_ms": p99_quiet,
        "p99_attack_ms": p99_attacked,
        "ratio": ratio,
        "honest_errors": sum((refused_q + failed_q).values()),
        "honest_errors_attack": errors,
    }
    print(json.dumps({k: round(v, 2) if math.isfinite(v) else None for k, v in figures.items()}))


def run(work: Path) -> tuple[Phase, Phase, int]:
    """Both phases against one server; returns them and the JWKS host's later fetches."""
    db = build_demo(work / "bench.db")
    host = TrickleHost()
    try:
        add_trickling_keyset(db, host.url)
        port = free_port()
        server = start_server(db, port)
        try:
            quiet = run_phase(port, server.pid, "q", attack=False)
            attacked = run_phase(port, server.pid, "a", attack=True)
        finally:
            host.stop()  # a server still reading from the JWKS host gets cut off
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        return quiet, attacked, host.requests - 1
    finally:
        host.stop()


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="gladdesk-bench-abuse-"))
    try:
        quiet, attacked, trickled = run(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"cores: {os.cpu_count()}; {CUSTOMERS} honest customers ({honest_address(0)} to"
        f" {honest_address(CUSTOMERS - 1)}) in {WORKERS} client processes, {RATE} messages/s"
        f" for {PHASE_S:.0f} s; one uvicorn worker, loopback"
    )
    print(f"every client process kept on core(s) {sorted(client_cores())}, the server free")
    print_table(quiet, attacked)
    print_attacks(attacked, trickled)
    print_verdict(quiet, attacked)
    return 0


if __name__ == "__main__":
    sys.exit(main())
