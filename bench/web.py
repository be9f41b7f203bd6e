"""HTTP benchmark (issue 7): `gladdesk serve` on loopback, one uvicorn worker.

32 concurrent customers on httpx keep-alive connections, each from its own loopback address
(127.0.0.2 ...) with its own widget session (onboarded with its own email), sending customer
messages.

1. Throughput: messages/s with every customer sending back to back. Target >= 1,500.
   Baseline, measured in the same run: `Engine.send_message` called directly in one process
   on a copy of the same desk (no HTTP); the ratio is HTTP / in-process.
2. Latency at a steady 500 messages/s (open loop, each customer on its own schedule):
   p50 / p99 of the HTTP round trip. Target p99 <= 50 ms.
3. Customer message -> visible to a separate process tailing the `events` table (as an agent
   console does, polling every 100 ms): p95 during run 2. Target <= 250 ms.
"""

# ruff: noqa: E402
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.engine import Engine
from core.store import Desk
from sim.demo_desk import build_demo

CUSTOMERS = 32
#: Client processes, each driving CUSTOMERS / WORKERS customers from as many threads (httpx's
#: client costs more CPU per request than the server does: one process could not keep up).
WORKERS = 4
THROUGHPUT_S = 8.0
RATE = 500
RATE_S = 10.0
BASELINE_MESSAGES = 4000
TAIL_POLL_S = 0.1

TAILER = """
import sys, time
from core.store import Desk
desk = Desk.open(sys.argv[1], create=False)
last = desk.last_event_id()
print("ready", flush=True)
seen = []
deadline = time.time() + float(sys.argv[2])
while time.time() < deadline:
    for event in desk.events_after(last, 5000):
        last = event.id
        if event.kind == "item.created" and event.item_id is not None:
            seen.append((event.item_id, time.time()))
    time.sleep(float(sys.argv[3]))
print("\\n".join(f"{item} {at}" for item, at in seen), flush=True)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    db: Path | str,
    port: int,
    *options: str,
    env: dict[str, str] | None = None,
    wait_s: float = 30,
) -> subprocess.Popen[bytes]:
    """`gladdesk --db DB serve --port PORT [OPTIONS]`, once /healthz answers."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tui", "--db", str(db), "serve", "--port", str(port), *options],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("the server did not start")


def client_for(port: int, customer: int, **options: object) -> httpx.Client:
    """A client connecting from customer `customer`'s own loopback address (127.0.0.2, ...):
    the server budgets new sessions and chats per client address, as for real customers."""
    transport = httpx.HTTPTransport(local_address=f"127.0.0.{customer + 2}")
    url = f"http://127.0.0.1:{port}"
    return httpx.Client(base_url=url, transport=transport, **options)  # type: ignore[arg-type]


def open_customers(port: int, tag: str) -> list[tuple[int, str]]:
    """CUSTOMERS widget sessions, each onboarded with its own email: (customer, token)."""
    tokens = []
    for n in range(CUSTOMERS):
        with client_for(port, n, timeout=30) as client:
            token = client.post("/widget/v1/sessions", json={"appId": "retale"}).json()["token"]
            client.post(
                "/widget/v1/onboarding",
                json={"name": f"Bench {n}", "email": f"bench-{tag}-{n}@example.com"},
                headers={"Authorization": f"Bearer {token}"},
            ).raise_for_status()
        tokens.append((n, token))
    return tokens


def customer(
    port: int, who: tuple[int, str], start_at: float, stop_at: float, interval: float | None
) -> tuple[int, list[float], list[tuple[int, float]]]:
    """One customer on its own keep-alive connection: back to back, or every `interval` s."""
    number, token = who
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    latencies: list[float] = []
    sent: list[tuple[int, float]] = []
    with client_for(port, number, timeout=30, headers=headers) as client:
        next_at = start_at
        n = 0
        while True:
            now = time.time()
            if interval is not None:
                if next_at - now > 0:
                    time.sleep(next_at - now)
                next_at += interval
            elif now < start_at:
                time.sleep(start_at - now)
            if time.time() >= stop_at:
                break
            n += 1
            wall = time.time()
            started = time.perf_counter()
            response = client.post("/widget/v1/messages", content=b'{"body": "message %d"}' % n)
            latencies.append(time.perf_counter() - started)
            response.raise_for_status()
            sent.append((int(response.json()["id"]), wall))
    return n, latencies, sent


def worker(
    args: tuple[int, list[tuple[int, str]], float, float, float | None, list[float]],
) -> tuple:
    port, tokens, start_at, stop_at, interval, offsets = args
    with ThreadPoolExecutor(len(tokens)) as pool:
        results = list(
            pool.map(
                lambda pair: customer(port, pair[0], start_at + pair[1], stop_at, interval),
                zip(tokens, offsets, strict=True),
            )
        )
    return (
        sum(r[0] for r in results),
        [x for r in results for x in r[1]],
        [x for r in results for x in r[2]],
    )


def drive(
    port: int, tokens: list[tuple[int, str]], seconds: float, interval: float | None
) -> tuple[int, float, list[float], dict[int, float]]:
    """Run the customers in WORKERS processes; returns (sent, elapsed, latencies, sent_at)."""
    start_at = time.time() + 1.5  # let every process start first
    stop_at = start_at + seconds
    spread = interval or 0.0
    jobs = []
    per = CUSTOMERS // WORKERS
    for w in range(WORKERS):
        chunk = tokens[w * per : (w + 1) * per]
        offsets = [spread * (w * per + i) / CUSTOMERS for i in range(len(chunk))]
        jobs.append((port, chunk, start_at, stop_at, interval, offsets))
    with multiprocessing.get_context("fork").Pool(WORKERS) as pool:
        results = pool.map(worker, jobs)
    sent = sum(r[0] for r in results)
    latencies = [x for r in results for x in r[1]]
    sent_at = {item: wall for r in results for item, wall in r[2]}
    return sent, seconds, latencies, sent_at


def baseline(db: Path) -> float:
    """In-process messages/s on the same desk: the engine without HTTP."""
    desk = Desk.open(db, create=False)
    engine = Engine.for_desk(desk)
    sessions = []
    for n in range(CUSTOMERS):
        start = engine.init_session("retale")
        engine.submit_onboarding(start.session_id, name=f"Base {n}", email=f"base-{n}@example.com")
        sessions.append(start.session_id)
    started = time.perf_counter()
    for n in range(BASELINE_MESSAGES):
        engine.send_message(sessions[n % CUSTOMERS], f"message {n}")
    elapsed = time.perf_counter() - started
    desk.close()
    return BASELINE_MESSAGES / elapsed


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="gladdesk-bench-http-"))
    try:
        db = build_demo(work / "bench.db")
        base_db = work / "baseline.db"
        shutil.copy(db, base_db)
        shutil.copy(f"{db}.keys", f"{base_db}.keys")
        engine_rate = baseline(base_db)

        port = free_port()
        server = start_server(db, port)
        try:
            sent, elapsed, _, _ = drive(port, open_customers(port, "t"), THROUGHPUT_S, None)
            rate = sent / elapsed
            steady_tokens = open_customers(port, "s")
            tailer = subprocess.Popen(
                [sys.executable, "-c", TAILER, str(db), str(RATE_S + 8), str(TAIL_POLL_S)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert tailer.stdout is not None
            tailer.stdout.readline()  # ready
            _, _, latencies, sent_at = drive(port, steady_tokens, RATE_S, CUSTOMERS / RATE)
            output, _ = tailer.communicate(timeout=60)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
        seen = {int(i): float(t) for i, t in (line.split() for line in output.split("\n") if line)}
        visible = [seen[item] - at for item, at in sent_at.items() if item in seen]
        missing = len(sent_at) - len(visible)

        p50 = statistics.median(latencies) * 1000
        p99 = percentile(latencies, 0.99) * 1000
        tail_p95 = percentile(visible, 0.95) * 1000 if visible else float("nan")
        achieved = len(latencies) / RATE_S
        try:
            import httptools  # noqa: F401

            parser = "httptools"
        except ImportError:
            parser = "h11 (install httptools and uvloop for the figures below)"
        print(
            f"cores: {os.cpu_count()}; {CUSTOMERS} customers in {WORKERS} client processes,"
            f" one uvicorn worker ({parser}), loopback"
        )
        print(
            f"throughput: {sent} messages in {elapsed:.1f} s = {rate:,.0f} messages/s"
            f"  (target >= 1,500) {'ok' if rate >= 1500 else 'MISSED'}"
        )
        print(
            f"baseline (Engine.send_message in-process, no HTTP): {engine_rate:,.0f} messages/s;"
            f" ratio HTTP / in-process = {rate / engine_rate:.2f}"
        )
        print(
            f"steady {RATE}/s for {RATE_S:.0f} s ({achieved:,.0f}/s achieved): round trip"
            f" p50 {p50:.1f} ms, p99 {p99:.1f} ms  (target p99 <= 50 ms)"
            f" {'ok' if p99 <= 50 else 'MISSED'}"
        )
        print(
            f"customer message -> tailing process (polls every {TAIL_POLL_S * 1000:.0f} ms):"
            f" p95 {tail_p95:.0f} ms over {len(visible)} messages"
            f"{f', {missing} never seen' if missing else ''}  (target <= 250 ms)"
            f" {'ok' if tail_p95 <= 250 and not missing else 'MISSED'}"
        )
        print(
            json.dumps(
                {
                    "messages_per_s": round(rate),
                    "p99_ms": round(p99, 1),
                    "tail_p95_ms": round(tail_p95),
                    "baseline_per_s": round(engine_rate),
                }
            )
        )
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
