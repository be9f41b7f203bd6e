"""Identity verify throughput against bare `jwt.decode`, and p99 latency with 10,000 keys.

Run: `.venv/bin/python bench/identity.py`. Prints its figures and ratios; exits 0.

- throughput: the same tokens through `Keyring.verify` (keyring lookup, claim rules,
  normalization, no jti) and through `jwt.decode(token, secret_or_pem, algorithms=[alg],
  options={"require": ["exp", "iat"]}, leeway=60)`, rounds interleaved, best round each (least disturbed by other load).
- keys.changed check: verify with the version check on every call (default) and at most
  every second, to show what noticing another process's key change costs.
- 10,000 keys: one JWKS of 10,000 ES256 keys; p50/p99 verify latency over 1,000 tokens
  from random keys, first touch (key prepared then) and warm; and one full reload.
"""

from __future__ import annotations

import json
import random
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jwt  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from core.identity import DEFAULT_CHECK_INTERVAL_MS, Keyring  # noqa: E402
from core.store import Desk  # noqa: E402

TOKENS = 1000
ROUNDS = 9
BIG_KEYRING = 10_000
LATENCY_SAMPLES = 1000
OPTIONS = {"require": ["exp", "iat"]}
LEEWAY_S = 60


def _tokens(sign: Callable[[dict[str, object]], str], count: int) -> list[str]:
    now = int(time.time())
    return [
        sign(
            {
                "email": f"customer{i}@example.com",
                "name": f"Customer {i}",
                "iat": now,
                "exp": now + 1800,
            }
        )
        for i in range(count)
    ]


def _round(fn: Callable[[str], object], tokens: list[str]) -> float:
    start = time.perf_counter()
    for token in tokens:
        fn(token)
    return time.perf_counter() - start


def _compare(
    label: str, full: Callable[[str], object], bare: Callable[[str], object], tokens: list[str]
) -> float:
    for token in tokens[:50]:  # both paths must accept every token
        full(token)
        bare(token)
    full_times, bare_times = [], []
    for _ in range(ROUNDS):
        bare_times.append(_round(bare, tokens))
        full_times.append(_round(full, tokens))
    full_rate = len(tokens) / min(full_times)
    bare_rate = len(tokens) / min(bare_times)
    ratio = full_rate / bare_rate
    print(
        f"{label:<34} verify {full_rate:>9,.0f}/s ({1e6 / full_rate:6.1f} us)   "
        f"jwt.decode {bare_rate:>9,.0f}/s ({1e6 / bare_rate:6.1f} us)   ratio {ratio:.2f}x"
    )
    return ratio


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50 * 1e6:7.1f} us   p99 {p99 * 1e6:7.1f} us   max {ordered[-1] * 1e6:7.1f} us"


def main() -> int:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        desk = Desk.open(Path(tmp) / "bench.db")
        keyring = Keyring(desk)
        secret = secrets.token_bytes(32)
        es_private = ec.generate_private_key(ec.SECP256R1())
        es_pem = es_private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        keyring.add_key(kid="bench-hs", secret=secret)
        keyring.add_key(kid="bench-es", public_key_pem=es_pem)

        hs_tokens = _tokens(
            lambda c: jwt.encode(c, secret, algorithm="HS256", headers={"kid": "bench-hs"}), TOKENS
        )
        es_tokens = _tokens(
            lambda c: jwt.encode(c, es_private, algorithm="ES256", headers={"kid": "bench-es"}),
            TOKENS,
        )
        print(
            f"identity bench: {TOKENS} tokens x {ROUNDS} rounds, best round; Python {sys.version.split()[0]}, PyJWT {jwt.__version__}"
        )
        print("throughput (full verifier vs bare jwt.decode, same tokens, same options)")
        ratios = {
            "HS256": _compare(
                "  HS256",
                keyring.verify,
                lambda t: jwt.decode(
                    t, secret, algorithms=["HS256"], options=OPTIONS, leeway=LEEWAY_S
                ),  # type: ignore[arg-type]
                hs_tokens,
            ),
            "ES256": _compare(
                "  ES256",
                keyring.verify,
                lambda t: jwt.decode(
                    t, es_pem, algorithms=["ES256"], options=OPTIONS, leeway=LEEWAY_S
                ),  # type: ignore[arg-type]
                es_tokens,
            ),
        }
        every = Keyring(desk, check_interval_ms=0)
        print(
            "keys.changed check: default reads the keyring version at most every"
            f" {DEFAULT_CHECK_INTERVAL_MS} ms; check_interval_ms=0 reads it on every verify"
        )
        _compare(
            "  HS256, version read per verify",
            every.verify,
            lambda t: jwt.decode(t, secret, algorithms=["HS256"], options=OPTIONS, leeway=LEEWAY_S),  # type: ignore[arg-type]
            hs_tokens,
        )
        _compare(
            "  ES256, version read per verify",
            every.verify,
            lambda t: jwt.decode(t, es_pem, algorithms=["ES256"], options=OPTIONS, leeway=LEEWAY_S),  # type: ignore[arg-type]
            es_tokens,
        )
        check_cost = _round(lambda _t: every._sync(), hs_tokens * 10) / (len(hs_tokens) * 10)
        print(f"  cost of the per-verify version check: {check_cost * 1e6:.2f} us")

        print(f"latency with {BIG_KEYRING:,} keys in the keyring (one JWKS file of ES256 keys)")
        build = time.perf_counter()
        privates = [ec.generate_private_key(ec.SECP256R1()) for _ in range(BIG_KEYRING)]
        jwks = {
            "keys": [
                {
                    **json.loads(jwt.algorithms.ECAlgorithm.to_jwk(p.public_key())),
                    "kid": f"k{i:05d}",
                    "alg": "ES256",
                }
                for i, p in enumerate(privates)
            ]
        }
        keyring.add_key(jwks=jwks)
        print(f"  added {BIG_KEYRING:,} keys in {time.perf_counter() - build:.1f} s")
        reload_start = time.perf_counter()
        keyring.reload()
        print(
            f"  full reload (what a keys.changed costs a running verifier): {(time.perf_counter() - reload_start) * 1e3:.1f} ms"
        )
        chosen = random.Random(7).sample(range(BIG_KEYRING), LATENCY_SAMPLES)
        now = int(time.time())
        big_tokens = [
            jwt.encode(
                {"phone": f"+1415555{i % 10000:04d}", "iat": now, "exp": now + 1800},
                privates[i],
                algorithm="ES256",
                headers={"kid": f"k{i:05d}"},
            )
            for i in chosen
        ]
        for label in ("first touch", "warm"):
            samples = []
            for token in big_tokens:
                start = time.perf_counter()
                keyring.verify(token)
                samples.append(time.perf_counter() - start)
            print(f"  {label:<12} {_percentiles(samples)}")
        desk.close()
    print(
        f"result: HS256 {ratios['HS256']:.2f}x, ES256 {ratios['ES256']:.2f}x of bare jwt.decode"
        f" (target >= 1.0x); {time.perf_counter() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
