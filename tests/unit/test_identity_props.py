"""Property tests: the verifier accepts only untouched valid tokens and raises only its own error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.identity import REJECTION_CODES, TokenRejected, VerifiedIdentity
from tests.identity_helpers import (
    SECRET_HS1,
    T0,
    Site,
    claims,
    ec_key,
    open_site,
    raw_token,
    rsa_key,
    sign,
)

FIXTURE_OK = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
B64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    yield from open_site(tmp_path)


def _valid_tokens() -> list[str]:
    return [
        sign(claims()),
        sign(claims(jti="j-1", nbf=T0)),
        sign(claims(email=None, phone="+14155550123")),
        sign(claims(), kid="es1", alg="ES256", key=ec_key("es1")),
        sign(claims(), kid="rs1", alg="RS256", key=rsa_key("rs1")),
    ]


VALID = _valid_tokens()


def _expect_rejection(site: Site, token: object) -> None:
    try:
        site.keyring.verify(token, session_id="prop")  # type: ignore[arg-type]
    except TokenRejected as rejection:
        assert rejection.code in REJECTION_CODES
    else:
        raise AssertionError(f"accepted a token it should not: {token!r:.120}")


def test_the_untouched_tokens_verify(site: Site) -> None:
    for token in VALID:
        assert isinstance(site.keyring.verify(token), VerifiedIdentity)


@FIXTURE_OK
@given(text=st.text(max_size=400))
def test_random_text_is_rejected(site: Site, text: str) -> None:
    _expect_rejection(site, text)


@FIXTURE_OK
@given(
    text=st.from_regex(
        r"[A-Za-z0-9_-]{0,80}\.[A-Za-z0-9_-]{0,200}\.[A-Za-z0-9_-]{0,90}", fullmatch=True
    )
)
def test_random_token_shaped_text_is_rejected(site: Site, text: str) -> None:
    _expect_rejection(site, text)


@FIXTURE_OK
@given(
    which=st.integers(0, len(VALID) - 1),
    data=st.data(),
)
def test_mutated_valid_tokens_are_rejected(site: Site, which: int, data: st.DataObject) -> None:
    original = VALID[which]
    kind = data.draw(st.sampled_from(["replace", "insert", "delete", "truncate", "append", "swap"]))
    position = data.draw(st.integers(0, len(original) - 1))
    char = data.draw(st.sampled_from(B64_CHARS + ".= \n"))
    if kind == "replace":
        mutated = original[:position] + char + original[position + 1 :]
    elif kind == "insert":
        mutated = original[:position] + char + original[position:]
    elif kind == "delete":
        mutated = original[:position] + original[position + 1 :]
    elif kind == "truncate":
        mutated = original[:position]
    elif kind == "append":
        mutated = original + data.draw(st.text(B64_CHARS + ".=", min_size=1, max_size=8))
    else:
        other = data.draw(st.integers(0, len(original) - 1))
        chars = list(original)
        chars[position], chars[other] = chars[other], chars[position]
        mutated = "".join(chars)
    if mutated == original:
        return
    _expect_rejection(site, mutated)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


@FIXTURE_OK
@given(
    overrides=st.dictionaries(
        st.sampled_from(["exp", "iat", "nbf", "iss", "aud", "email", "phone", "name", "jti", "x"]),
        JSON_VALUES,
        max_size=4,
    )
)
def test_signed_random_claims_verify_or_raise_token_rejected(
    site: Site, overrides: dict[str, object]
) -> None:
    """Validly signed, arbitrary claims: an identity only when every rule holds."""
    payload = {**claims(), **overrides}
    token = sign(json.dumps(payload).encode())
    try:
        identity = site.keyring.verify(token)
    except TokenRejected as rejection:
        assert rejection.code in REJECTION_CODES
        return
    assert (identity.email is None) != (identity.phone is None)
    assert identity.kid == "hs1"
    assert 0 <= identity.expires_at - identity.issued_at <= 3600 * 1000
    assert site.clock.now_ms() < identity.expires_at + 60_000
    assert "aud" not in payload or payload["aud"] is None


@FIXTURE_OK
@given(
    header=st.dictionaries(
        st.sampled_from(["alg", "kid", "typ", "crit", "b64", "jku"]), JSON_VALUES, max_size=4
    )
)
def test_random_headers_never_escape_as_other_errors(site: Site, header: dict[str, object]) -> None:
    token = raw_token(json.dumps(header).encode(), json.dumps(claims()).encode(), SECRET_HS1)
    try:
        identity = site.keyring.verify(token)
    except TokenRejected as rejection:
        assert rejection.code in REJECTION_CODES
        return
    assert header.get("alg") == "HS256" and header.get("kid") == "hs1"
    assert identity.email == "julie@example.com"
