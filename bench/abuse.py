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

The attackers run in one client process at a lower CPU priority (nice): they stand for other
machines. On 2 shared cores, an attacker at full priority would take the server's CPU, and the
figures would measure the machine rather than the server's defences.
"""

# ruff: noqa: E402
from __future__ import annotations

import base64
import json
import math
import multiprocessing
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from web import free_port, percentile, start_server  # bench/web.py

from sim.demo_desk import build_demo

APP = "retale"
CUSTOMERS = 32
#: Client processes for the honest customers, each driving CUSTOMERS / WORKERS of them from as
#: many threads (httpx costs more CPU per request than the server does).
WORKERS = 4
RATE = 300
PHASE_S = 30.0
#: Under attack, the honest customers start this long after the attackers.
RAMP_S = 2.0
HONEST_TIMEOUT_S = 10.0
ATTACK_TIMEOUT_S = 5.0
ATTACKER_NICE = 10
FLOOD_CONNECTIONS = 4
STREAM_LOOPS = 12
STREAM_SESSIONS = 3
TRICKLE_EVERY_S = 4.0
TARGET_RATIO = 2.0

FLOOD_ADDRESSES = [f"127.0.2.{n}" for n in range(1, FLOOD_CONNECTIONS + 1)]
WIDGET_GUESS_ADDRESS = "127.0.2.10"
ADMIN_GUESS_ADDRESS = "127.0.2.11"
STREAM_ADDRESS = "127.0.2.20"
KID_ADDRESS = "127.0.2.30"


def honest_address(n: int) -> str:
    return f"127.0.1.{n + 1}"


# -- requests and what came of them -----------------------------------------------------------


@dataclass
class Tally:
    """What a client got: `counts` of "METHOD /path status" (or the exception's name), and the
    round trips of successful message sends."""

    counts: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.counts.update(other.counts)
        self.latencies.extend(other.latencies)


def call(
    client: httpx.Client, tally: Tally, method: str, path: str, **kwargs: Any
) -> httpx.Response | None:
    """One request, counted by its status (refusals with their error code); None on an error."""
    try:
        response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        tally.counts[f"{method} {path} {type(exc).__name__}"] += 1
        return None
    tally.counts[f"{method} {path} {response.status_code}{_error_code(response)}"] += 1
    return response


def _error_code(response: httpx.Response) -> str:
    if response.status_code < 400:
        return ""
    try:
        return " " + str(response.json()["errors"][0]["code"])
    except (ValueError, KeyError, IndexError, TypeError):
        return ""


def client_for(port: int, address: str, timeout: float) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", transport=transport, timeout=timeout)


def sleep_until(at: float) -> None:
    delay = at - time.time()
    if delay > 0:
        time.sleep(delay)


def new_session(client: httpx.Client, tally: Tally) -> dict[str, str] | None:
    """A widget session's Authorization header, or None when init was refused."""
    response = call(client, tally, "POST", "/widget/v1/sessions", json={"appId": APP})
    if response is None or response.status_code != 201:
        return None
    return {"Authorization": f"Bearer {response.json()['token']}"}


# -- honest customers -------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    port: int
    tag: str  # keeps each phase's emails apart
    open_at: float  # sessions start
    chat_at: float  # first messages
    stop_at: float
    interval: float  # seconds between one customer's messages


def honest_customer(schedule: Schedule, n: int) -> Tally:
    """Open a session and identify, then send a message every `interval` s until `stop_at`."""
    tally = Tally()
    with client_for(schedule.port, honest_address(n), HONEST_TIMEOUT_S) as client:
        sleep_until(schedule.open_at + n / CUSTOMERS)
        while "Authorization" not in client.headers:
            if time.time() >= schedule.stop_at:
                return tally
            open_and_identify(client, tally, f"honest-{schedule.tag}-{n}", n % 2 == 1)
        next_at = schedule.chat_at + schedule.interval * n / CUSTOMERS
        sent = 0
        while True:
            sleep_until(next_at)
            next_at += schedule.interval
            if time.time() >= schedule.stop_at:
                return tally
            sent += 1
            started = time.perf_counter()
            response = call(
                client, tally, "POST", "/widget/v1/messages", json={"body": f"message {sent}"}
            )
            if response is not None and response.status_code == 201:
                tally.latencies.append(time.perf_counter() - started)


def open_and_identify(client: httpx.Client, tally: Tally, name: str, set_user: bool) -> None:
    """A session (its token set on `client`), identified by `setUser` or the onboarding form.
    After a refused init the customer waits as its Retry-After says (10 s at most)."""
    response = call(client, tally, "POST", "/widget/v1/sessions", json={"appId": APP})
    if response is None:
        return
    if response.status_code != 201:
        time.sleep(min(float(response.headers.get("Retry-After", "1")), 10.0))
        return
    client.headers["Authorization"] = f"Bearer {response.json()['token']}"
    who = {"name": name, "email": f"{name}@example.com"}
    if set_user:
        call(client, tally, "PUT", "/widget/v1/user", json=who)
    else:
        call(client, tally, "POST", "/widget/v1/onboarding", json=who)


def honest_worker(schedule: Schedule, customers: list[int]) -> Tally:
    tally = Tally()
    with ThreadPoolExecutor(len(customers)) as pool:
        for result in pool.map(lambda n: honest_customer(schedule, n), customers):
            tally.add(result)
    return tally


# -- attackers --------------------------------------------------------------------------------


def session_flood(port: int, address: str, start_at: float, stop_at: float) -> Tally:
    """Sessions as fast as one connection allows; each one onboarded and sent a message."""
    tally = Tally()
    with client_for(port, address, ATTACK_TIMEOUT_S) as client:
        sleep_until(start_at)
        n = 0
        while time.time() < stop_at:
            auth = new_session(client, tally)
            if auth is None:
                continue
            n += 1
            who = {"name": f"Flood {n}", "email": f"flood-{address}-{n}@example.com"}
            call(client, tally, "POST", "/widget/v1/onboarding", headers=auth, json=who)
            call(client, tally, "POST", "/widget/v1/messages", headers=auth, json={"body": "hi"})
    return tally


def guess_session_tokens(port: int, start_at: float, stop_at: float) -> Tally:
    """Random bearer tokens on the widget API."""
    tally = Tally()
    with client_for(port, WIDGET_GUESS_ADDRESS, ATTACK_TIMEOUT_S) as client:
        sleep_until(start_at)
        while time.time() < stop_at:
            auth = {"Authorization": f"Bearer {secrets.token_urlsafe(32)}"}
            call(client, tally, "GET", "/widget/v1/session", headers=auth)
    return tally


def guess_api_logins(port: int, start_at: float, stop_at: float) -> Tally:
    """Random Basic credentials on the admin API."""
    tally = Tally()
    with client_for(port, ADMIN_GUESS_ADDRESS, ATTACK_TIMEOUT_S) as client:
        sleep_until(start_at)
        while time.time() < stop_at:
            login = f"ops-{secrets.token_hex(3)}@example.com:{secrets.token_urlsafe(24)}"
            auth = {"Authorization": "Basic " + base64.b64encode(login.encode()).decode()}
            call(
                client,
                tally,
                "GET",
                "/api/v1/customer-profiles",
                headers=auth,
                params={"email": "someone@example.com"},
            )
    return tally


def stream_sessions(port: int, tally: Tally) -> list[dict[str, str]]:
    """Sessions with a few events each, for the reconnect loops to replay from 0."""
    sessions = []
    with client_for(port, STREAM_ADDRESS, ATTACK_TIMEOUT_S) as client:
        for n in range(STREAM_SESSIONS):
            auth = new_session(client, tally)
            if auth is None:
                continue
            who = {"name": f"Stream {n}", "email": f"stream-{n}@example.com"}
            call(client, tally, "POST", "/widget/v1/onboarding", headers=auth, json=who)
            call(client, tally, "POST", "/widget/v1/messages", headers=auth, json={"body": "hi"})
            sessions.append(auth)
    return sessions


def reconnect_loop(port: int, auth: dict[str, str], start_at: float, stop_at: float) -> Tally:
    """Open the event stream from event 0, read until the replay starts, close; again."""
    tally = Tally()
    with client_for(port, STREAM_ADDRESS, ATTACK_TIMEOUT_S) as client:
        sleep_until(start_at)
        while time.time() < stop_at:
            try:
                with client.stream(
                    "GET", "/widget/v1/events", params={"after": 0}, headers=auth
                ) as response:
                    tally.counts[f"GET /widget/v1/events {response.status_code}"] += 1
                    if response.status_code != 200:
                        response.read()
                        continue
                    for chunk in response.iter_raw():
                        if b"\nid: " in chunk:
                            break
            except httpx.HTTPError as exc:
                tally.counts[f"GET /widget/v1/events {type(exc).__name__}"] += 1
    return tally


def unknown_kids(port: int, start_at: float, stop_at: float) -> Tally:
    """`setUser` with HS256 tokens naming random kids: each asks for a keyset refresh."""
    tally = Tally()
    secret = os.urandom(32)
    with client_for(port, KID_ADDRESS, ATTACK_TIMEOUT_S) as client:
        sleep_until(start_at)
        auth = None
        while time.time() < stop_at:
            if auth is None:
                auth = new_session(client, tally)
                continue
            claims = {"sub": secrets.token_hex(6), "email": "victim@example.com"}
            claims["exp"] = int(time.time()) + 300
            token = jwt.encode(claims, secret, "HS256", headers={"kid": secrets.token_hex(8)})
            response = call(
                client, tally, "PUT", "/widget/v1/user", headers=auth, json={"jwt": token}
            )
            if response is not None and response.status_code == 429:
                auth = None  # this session is throttled: take another
    return tally


ATTACKS = {
    "session flood": f"{FLOOD_CONNECTIONS} connections, {FLOOD_ADDRESSES[0]}-{FLOOD_CONNECTIONS}",
    "bad session tokens": WIDGET_GUESS_ADDRESS,
    "bad API logins": ADMIN_GUESS_ADDRESS,
    "event-stream reconnects": f"{STREAM_LOOPS} loops on {STREAM_SESSIONS} sessions,"
    f" {STREAM_ADDRESS}",
    "unknown kids (trickling JWKS)": KID_ADDRESS,
}


def attacker(port: int, start_at: float, stop_at: float) -> dict[str, Tally]:
    """Every attack at once, from one process at a lower CPU priority."""
    os.nice(ATTACKER_NICE)
    setup = Tally()
    sessions = stream_sessions(port, setup)
    runs: dict[str, list[Any]] = {
        "session flood": [session_flood] * FLOOD_CONNECTIONS,
        "bad session tokens": [guess_session_tokens],
        "bad API logins": [guess_api_logins],
        "event-stream reconnects": [reconnect_loop] * STREAM_LOOPS,
        "unknown kids (trickling JWKS)": [unknown_kids],
    }
    threads = sum(len(fns) for fns in runs.values())
    with ThreadPoolExecutor(threads) as pool:
        futures: dict[str, list[Any]] = {}
        for name, fns in runs.items():
            for i, fn in enumerate(fns):
                if fn is session_flood:
                    args: tuple[Any, ...] = (port, FLOOD_ADDRESSES[i], start_at, stop_at)
                elif fn is reconnect_loop:
                    args = (port, sessions[i % len(sessions)], start_at, stop_at)
                else:
                    args = (port, start_at, stop_at)
                futures.setdefault(name, []).append(pool.submit(fn, *args))
        tallies = {name: Tally() for name in runs}
        for name, running in futures.items():
            for future in running:
                tallies[name].add(future.result())
    tallies["event-stream reconnects"].add(setup)
    return tallies


# -- the trickling JWKS host ------------------------------------------------------------------


def jwks_document() -> bytes:
    public_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(public_key))
    jwk.update({"kid": "trickle-1", "alg": "ES256", "use": "sig"})
    return json.dumps({"keys": [jwk]}).encode()


class TrickleHandler(BaseHTTPRequestHandler):
    """Answers the first request at once, every later one a byte every TRICKLE_EVERY_S."""

    document = b""
    requests: Any = None  # multiprocessing.Value: requests so far

    def do_GET(self) -> None:  # noqa: N802
        with self.requests.get_lock():
            number = self.requests.value
            self.requests.value += 1
        answer = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
            % (len(self.document), self.document)
        )
        if number == 0:
            self.wfile.write(answer)
            return
        for byte in answer:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(TRICKLE_EVERY_S)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class TrickleHost:
    """The JWKS host, in a process of its own (started before any client process forks)."""

    def __init__(self) -> None:
        TrickleHandler.document = jwks_document()
        TrickleHandler.requests = multiprocessing.get_context("fork").Value("i", 0)
        server = ThreadingHTTPServer(("127.0.0.1", 0), TrickleHandler)
        server.daemon_threads = True
        self.port = int(server.server_address[1])
        self.process = multiprocessing.get_context("fork").Process(
            target=server.serve_forever, daemon=True
        )
        self.process.start()
        server.socket.close()

    @property
    def requests(self) -> int:
        return int(TrickleHandler.requests.value)

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(10)


def add_trickling_keyset(db: Path, port: int) -> None:
    subprocess.run(
        [
            *(sys.executable, "-m", "tui", "--db", str(db), "keys", "add", "--kid", "trickle"),
            *("--jwks-url", f"http://127.0.0.1:{port}/jwks.json", "--app", APP),
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
    server_cpu: float  # share of one core


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_job(job: tuple[Any, ...]) -> Any:
    return job[0](*job[1:])


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
        jobs.append((attacker, port, start_at, stop_at))
    cpu_before = cpu_seconds(server_pid)
    with multiprocessing.get_context("fork").Pool(len(jobs)) as pool:
        results = pool.map(run_job, jobs)
    cpu = (cpu_seconds(server_pid) - cpu_before) / (time.time() - start_at)
    honest = Tally()
    for result in results[:WORKERS]:
        honest.add(result)
    return Phase(honest, results[WORKERS] if attack else {}, cpu)


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
    """ "POST /widget/v1/sessions 201×240 429×9,000; ..." from "METHOD /path outcome" counts."""
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
        f"{phase.server_cpu:.0%} of a core",
    ]


ROWS = (
    "messages sent (201)",
    "round trip p50",
    "round trip p99",
    "honest requests",
    "refused (4xx/5xx)",
    "failed (errors)",
    "server CPU",
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
    print(f"attackers ({PHASE_S + RAMP_S:.0f} s, one process at nice {ATTACKER_NICE}):")
    for name, tally in attacked.attacks.items():
        total = sum(tally.counts.values())
        print(
            f"  {name} ({ATTACKS[name]}): {total:,} requests ({total / (PHASE_S + RAMP_S):,.0f}/s)"
        )
        print(f"    {grouped(tally.counts)}")
    print(
        f"  JWKS host: {trickled} fetch(es) after the first answered a byte every {TRICKLE_EVERY_S:.0f} s"
    )


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="gladdesk-bench-abuse-"))
    try:
        db = build_demo(work / "bench.db")
        host = TrickleHost()
        try:
            add_trickling_keyset(db, host.port)
            port = free_port()
            server = start_server(db, port)
            try:
                quiet = run_phase(port, server.pid, "q", attack=False)
                attacked = run_phase(port, server.pid, "a", attack=True)
            finally:
                host.stop()  # a server stuck reading the JWKS host gets its answer cut
                server.send_signal(signal.SIGINT)
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()
            trickled = host.requests - 1
        finally:
            host.stop()
        print(
            f"cores: {os.cpu_count()}; {CUSTOMERS} honest customers ({honest_address(0)}"
            f" to {honest_address(CUSTOMERS - 1)}) in {WORKERS} client processes, {RATE}"
            f" messages/s for {PHASE_S:.0f} s; one uvicorn worker, loopback"
        )
        print_table(quiet, attacked)
        p99_quiet, p99_attacked = p99_ms(quiet), p99_ms(attacked)
        print_attacks(attacked, trickled)
        ratio = p99_attacked / p99_quiet
        _, refused_q, failed_q = by_outcome(quiet.honest)
        _, refused_a, failed_a = by_outcome(attacked.honest)
        errors = sum((refused_a + failed_a).values())
        met = ratio <= TARGET_RATIO and errors == 0
        print(
            "honest p99 under attack / without: "
            + (f"{ratio:.2f}x" if math.isfinite(ratio) else "no message went through")
            + f" (target <= {TARGET_RATIO:.0f}x), honest requests refused or failed under"
            f" attack: {errors} (target 0) {'MET' if met else 'MISSED'}"
        )
        figures = {
            "p99_ms": p99_quiet,
            "p99_attack_ms": p99_attacked,
            "ratio": ratio,
            "honest_errors": sum((refused_q + failed_q).values()),
            "honest_errors_attack": errors,
        }
        print(
            json.dumps({k: round(v, 2) if math.isfinite(v) else None for k, v in figures.items()})
        )
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
