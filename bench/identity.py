"""Identity verify throughput against the fastest peers, and p99 latency with 10,000 keys.

Run: `.venv/bin/python bench/identity.py`. Prints its figures and ratios; exits 0.

- throughput: the same tokens (1,000 distinct ones, identical for every contender) through
  `Keyring.verify` (keyring lookup, claim rules, normalization, no jti) and through its
  peers, each with its key prepared once and checking signature, exp and iat with 60 s
  leeway: PyJWT `jwt.decode(token, key_object, algorithms=[alg], options={"require": ["exp",
  "iat"]}, leeway=60)` with the HMAC secret bytes or the loaded public key object, and
  joserfc `jwt.decode(token, key, algorithms=[alg])` plus `JWTClaimsRegistry(leeway=60,
  exp/iat essential).validate(claims)` (skipped, with a note, when joserfc is not
  installed; it is in the `dev` extra). For ES256, PyJWT given the PEM text (re-loaded
  per call) is shown too, for reference. Rounds interleaved in rotating order, best round
  each (least disturbed by other load); the target is >= 1.0x the fastest peer.
- keys.changed check: verify with the version check on every call (default) and at most
  every second, to show what noticing another process's key change costs.
- 10,000 keys: one JWKS of 10,000 ES256 keys; p50/p99 verify latency over 1,000 tokens
  from random keys, first touch (key prepared then) and warm; and one full reload.
"""

from __future__ import annotations

import json
import os
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

try:
    from joserfc import jwt as jose_jwt
    from joserfc.jwk import ECKey, OctKey
    from joserfc.jwt import JWTClaimsRegistry
except ImportError:  # not installed: that baseline is skipped, with a note
    jose_jwt = None

TOKENS = 1000
ROUNDS = 11
TARGET = 1.0
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


Contender = Callable[[str], object]


def _rate(seconds: float, count: int) -> str:
    return f"{count / seconds:>9,.0f}/s ({1e6 * seconds / count:6.1f} us)"


def _compare(
    label: str,
    full: Contender,
    peers: dict[str, Contender],
    tokens: list[str],
    *,
    reference: dict[str, Contender] | None = None,
    judged: bool = True,
) -> tuple[float, str]:
    """Best-round rate of `full` and of each peer; returns (ratio to the fastest peer, its name)."""
    contenders = {"Keyring.verify": full, **peers, **(reference or {})}
    for token in tokens[:50]:  # every contender must accept every token
        for fn in contenders.values():
            fn(token)
    names = list(contenders)
    best = dict.fromkeys(names, float("inf"))
    for round_no in range(ROUNDS):  # rotate the order: no contender always runs first
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            best[name] = min(best[name], _round(contenders[name], tokens))
    fastest = min(peers, key=best.__getitem__)
    ratio = best[fastest] / best["Keyring.verify"]
    print(label)
    for name in names:
        note = ""
        if name != "Keyring.verify":
            note = f"   verify is {best[name] / best['Keyring.verify']:.2f}x"
            note += "  (fastest peer)" if name == fastest else ""
            note += "  (reference, not a peer)" if name not in peers else ""
        print(f"    {name:<28} {_rate(best[name], len(tokens))}{note}")
    verdict = f"; target >= {TARGET:.1f}x: {'OK' if ratio >= TARGET else 'BELOW'}"
    print(f"    => {ratio:.2f}x the fastest peer ({fastest}){verdict if judged else ''}")
    return ratio, fastest


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50 * 1e6:7.1f} us   p99 {p99 * 1e6:7.1f} us   max {ordered[-1] * 1e6:7.1f} us"


def _jose_version() -> str:
    if jose_jwt is None:
        return "not installed"
    from importlib.metadata import version

    return version("joserfc")


def _peers(alg: str, key_object: object, jose_material: object) -> dict[str, Contender]:
    """The peers for `alg`, each with its key prepared once: PyJWT given the key object (the
    HMAC secret bytes or the loaded public key) and joserfc, when it is installed, given the
    key it imported once from `jose_material` (the secret or the PEM: joserfc 1.0 takes no
    key objects)."""
    peers: dict[str, Contender] = {
        "PyJWT (key object)": lambda t: jwt.decode(
            t,
            key_object,  # type: ignore[arg-type]
            algorithms=[alg],
            options=OPTIONS,  # type: ignore[arg-type]
            leeway=LEEWAY_S,
        )
    }
    if jose_jwt is None:
        if alg == "HS256":
            print(
                "note: joserfc is not installed (pip install joserfc, or the dev extra):"
                " its baseline is skipped"
            )
        return peers
    jose_key = (OctKey if alg == "HS256" else ECKey).import_key(jose_material)  # type: ignore[arg-type]
    claims = JWTClaimsRegistry(leeway=LEEWAY_S, exp={"essential": True}, iat={"essential": True})

    def jose(token: str) -> object:
        decoded = jose_jwt.decode(token, jose_key, algorithms=[alg])
        claims.validate(decoded.claims)
        return decoded.claims

    peers["joserfc"] = jose
    return peers


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
        es_public = es_private.public_key()
        print(
            f"identity bench: {TOKENS} tokens x {ROUNDS} rounds, best round; {os.cpu_count()} cores,"
            f" Python {sys.version.split()[0]}, PyJWT {jwt.__version__},"
            f" joserfc {_jose_version()}"
        )
        peers = {
            "HS256": _peers("HS256", secret, secret),
            "ES256": _peers("ES256", es_public, es_pem),
        }
        pem_reference: dict[str, Contender] = {
            "PyJWT (PEM text per call)": lambda t: jwt.decode(
                t, es_pem, algorithms=["ES256"], options=OPTIONS, leeway=LEEWAY_S
            )
        }
        print("throughput (same tokens for all; signature + exp/iat with 60 s leeway)")
        results = {
            "HS256": _compare("  HS256", keyring.verify, peers["HS256"], hs_tokens),
            "ES256": _compare(
                "  ES256", keyring.verify, peers["ES256"], es_tokens, reference=pem_reference
            ),
        }
        every = Keyring(desk, check_interval_ms=0)
        print(
            "keys.changed check: default reads the keyring version at most every"
            f" {DEFAULT_CHECK_INTERVAL_MS} ms; check_interval_ms=0 reads it on every verify"
        )
        for alg, tokens in (("HS256", hs_tokens), ("ES256", es_tokens)):
            label = f"  {alg}, version read per verify (no target)"
            _compare(label, every.verify, peers[alg], tokens, judged=False)
        sync = every.verifier.sync
        check_cost = _round(lambda _t: sync(), hs_tokens * 10) / (len(hs_tokens) * 10)
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
    summary = ", ".join(
        f"{alg} {ratio:.2f}x ({'OK' if ratio >= TARGET else 'BELOW'}, vs {fastest})"
        for alg, (ratio, fastest) in results.items()
    )
    print(
        f"result: Keyring.verify {summary} of the fastest peer (target >= {TARGET:.1f}x);"
        f" {time.perf_counter() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
