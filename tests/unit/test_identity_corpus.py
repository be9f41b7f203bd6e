"""The hostile-token corpus: every rule of docs/tokens.md and every rejection code."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import jwt
import pytest
from jwt.utils import base64url_encode

from core.identity import MAX_TOKEN_BYTES, REJECTION_CODES, TokenRejected, VerifiedIdentity
from tests.identity_helpers import (
    AUDIENCE,
    ISSUER,
    SECRET_HS1,
    SECRET_HS2,
    SECRET_OLD,
    T0,
    Site,
    audit_rows,
    claims,
    ec_key,
    open_site,
    pub_pem,
    raw_token,
    rsa_key,
    sign,
)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    yield from open_site(tmp_path)


def _hs256_with_key_bytes(kid: str, key_bytes: bytes) -> str:
    """Key confusion: an HS256 token whose HMAC key is a public key's PEM bytes."""
    header = json.dumps({"alg": "HS256", "kid": kid, "typ": "JWT"}).encode()
    return raw_token(header, json.dumps(claims()).encode(), key_bytes)


def _replace_segment(token: str, index: int, new: str) -> str:
    parts = token.split(".")
    parts[index] = new
    return ".".join(parts)


def _exact_size_token(size: int) -> str:
    for extra in range(4):
        for pad in range(0, size):
            token = sign(claims(pad="x" * pad), headers={"x": "y" * extra})
            if len(token) == size:
                return token
            if len(token) > size:
                break
    raise AssertionError("no token of that size")


def _b64(data: bytes) -> str:
    return base64url_encode(data).decode()


#: (case id, token builder, expected rejection code)
CORPUS: list[tuple[str, Callable[[], object], str]] = [
    # rule 1: the algorithm is fixed per key; alg none never verifies
    ("alg-none", lambda: sign(claims(), alg="none", key=None), "alg_not_allowed"),
    (
        "alg-None-mixed-case",
        lambda: raw_token(
            json.dumps({"alg": "None", "kid": "hs1"}).encode(), json.dumps(claims()).encode()
        ),
        "alg_not_allowed",
    ),
    (
        "alg-HS512-on-HS256-key",
        lambda: sign(claims(), alg="HS512", key=SECRET_HS1 * 2),
        "alg_not_allowed",
    ),
    (
        "alg-RS256-on-ES256-key",
        lambda: sign(claims(), kid="es1", alg="RS256", key=rsa_key("rs1")),
        "alg_not_allowed",
    ),
    (
        "alg-ES256-on-HS256-key",
        lambda: sign(claims(), kid="hs1", alg="ES256", key=ec_key("es1")),
        "alg_not_allowed",
    ),
    # rule 2: no key confusion
    (
        "hs256-signed-with-es-public-pem",
        lambda: _hs256_with_key_bytes("es1", pub_pem(ec_key("es1"))),
        "alg_not_allowed",
    ),
    (
        "hs256-signed-with-rs-public-pem",
        lambda: _hs256_with_key_bytes("rs1", pub_pem(rsa_key("rs1"))),
        "alg_not_allowed",
    ),
    # signatures
    ("wrong-secret", lambda: sign(claims(), key=b"w" * 40), "bad_signature"),
    (
        "es256-other-key",
        lambda: sign(claims(), kid="es1", alg="ES256", key=ec_key("intruder")),
        "bad_signature",
    ),
    (
        "rs256-other-key",
        lambda: sign(claims(), kid="rs1", alg="RS256", key=rsa_key("intruder")),
        "bad_signature",
    ),
    ("signature-truncated", lambda: sign(claims())[:-3], "bad_signature"),
    ("signature-truncated-mid-char", lambda: sign(claims())[:-4], "malformed"),
    ("signature-empty", lambda: _replace_segment(sign(claims()), 2, ""), "bad_signature"),
    (
        "signature-of-other-token",
        lambda: _replace_segment(sign(claims()), 2, sign(claims(name="Eve")).split(".")[2]),
        "bad_signature",
    ),
    (
        "payload-swapped-unsigned",
        lambda: _replace_segment(
            sign(claims()), 1, _b64(json.dumps(claims(email="eve@example.com")).encode())
        ),
        "bad_signature",
    ),
    # malformed text
    (
        "payload-truncated-one-char",
        lambda: _replace_segment(sign(claims()), 1, sign(claims()).split(".")[1][:-1]),
        "malformed",
    ),
    ("signature-padded", lambda: sign(claims()) + "==", "malformed"),
    (
        "payload-padded",
        lambda: _replace_segment(sign(claims()), 1, sign(claims()).split(".")[1] + "="),
        "malformed",
    ),
    ("four-segments", lambda: sign(claims()) + ".abc", "malformed"),
    ("two-segments", lambda: sign(claims()).rsplit(".", 1)[0], "malformed"),
    ("empty-string", lambda: "", "malformed"),
    ("whitespace-inside", lambda: sign(claims()).replace(".", " .", 1), "malformed"),
    ("non-ascii", lambda: sign(claims()) + "é", "malformed"),
    ("not-a-string", lambda: 12345, "malformed"),
    ("none-value", lambda: None, "malformed"),
    ("bearer-prefix", lambda: "Bearer " + sign(claims()), "malformed"),
    ("payload-not-json", lambda: sign(b"not json at all"), "malformed"),
    ("payload-json-array", lambda: sign(json.dumps([claims()]).encode()), "malformed"),
    ("payload-json-string", lambda: sign(b'"julie@example.com"'), "malformed"),
    ("payload-json-number", lambda: sign(b"42"), "malformed"),
    (
        "header-json-array",
        lambda: raw_token(b'["HS256","hs1"]', json.dumps(claims()).encode(), SECRET_HS1),
        "malformed",
    ),
    (
        "header-not-json",
        lambda: raw_token(b"{alg: HS256}", json.dumps(claims()).encode(), SECRET_HS1),
        "malformed",
    ),
    (
        "header-alg-number",
        lambda: raw_token(b'{"alg": 256, "kid": "hs1"}', json.dumps(claims()).encode(), SECRET_HS1),
        "malformed",
    ),
    (
        "header-kid-number",
        lambda: raw_token(b'{"alg": "HS256", "kid": 1}', json.dumps(claims()).encode(), SECRET_HS1),
        "malformed",
    ),
    (
        "header-crit-unknown",
        lambda: sign(claims(), headers={"crit": ["exp"], "exp": 1}),
        "malformed",
    ),
    (
        "header-b64-false",
        lambda: raw_token(
            b'{"alg":"HS256","kid":"hs1","b64":false,"crit":["b64"]}', b"", SECRET_HS1
        ),
        "malformed",
    ),
    # rule 6: kids
    ("kid-missing", lambda: sign(claims(), kid=None), "unknown_kid"),
    ("kid-unknown", lambda: sign(claims(), kid="nobody"), "unknown_kid"),
    ("kid-retired", lambda: sign(claims(), kid="hs-old", key=SECRET_OLD), "key_retired"),
    # rule 3: exp / iat
    ("exp-missing", lambda: sign(claims(exp=None)), "missing_claim"),
    ("iat-missing", lambda: sign(claims(iat=None)), "missing_claim"),
    ("exp-null", lambda: sign(json.dumps({**claims(), "exp": None}).encode()), "missing_claim"),
    ("exp-string", lambda: sign(claims(exp=str(T0 + 600))), "malformed"),
    ("iat-bool", lambda: sign(claims(iat=True)), "malformed"),
    (
        "exp-nan",
        lambda: sign(json.dumps(claims()).replace(str(T0 + 600), "NaN").encode()),
        "malformed",
    ),
    ("exp-huge", lambda: sign(claims(exp=10**30)), "malformed"),
    ("exp-negative", lambda: sign(claims(exp=-1)), "malformed"),
    ("exp-before-iat", lambda: sign(claims(iat=T0, exp=T0 - 1)), "malformed"),
    ("expired-at-leeway-boundary", lambda: sign(claims(iat=T0 - 600, exp=T0 - 60)), "expired"),
    ("expired-long-ago", lambda: sign(claims(iat=T0 - 7200, exp=T0 - 6600)), "expired"),
    (
        "iat-future-beyond-leeway",
        lambda: sign(claims(iat=T0 + 61, exp=T0 + 600)),
        "issued_in_future",
    ),
    ("nbf-future-beyond-leeway", lambda: sign(claims(nbf=T0 + 61)), "not_yet_valid"),
    ("nbf-string", lambda: sign(claims(nbf="soon")), "malformed"),
    ("lifetime-over-cap", lambda: sign(claims(iat=T0, exp=T0 + 3601)), "lifetime_too_long"),
    # rule 4: issuer / audience when the key has them
    ("iss-missing", lambda: sign(claims(aud=AUDIENCE), kid="hs2", key=SECRET_HS2), "missing_claim"),
    (
        "iss-wrong",
        lambda: sign(claims(iss="https://evil.example", aud=AUDIENCE), kid="hs2", key=SECRET_HS2),
        "bad_issuer",
    ),
    (
        "iss-list",
        lambda: sign(claims(iss=[ISSUER], aud=AUDIENCE), kid="hs2", key=SECRET_HS2),
        "bad_issuer",
    ),
    ("aud-missing", lambda: sign(claims(iss=ISSUER), kid="hs2", key=SECRET_HS2), "missing_claim"),
    (
        "aud-wrong",
        lambda: sign(claims(iss=ISSUER, aud="other-app"), kid="hs2", key=SECRET_HS2),
        "bad_audience",
    ),
    (
        "aud-list-without-ours",
        lambda: sign(claims(iss=ISSUER, aud=["a", "b"]), kid="hs2", key=SECRET_HS2),
        "bad_audience",
    ),
    (
        "aud-number",
        lambda: sign(claims(iss=ISSUER, aud=7), kid="hs2", key=SECRET_HS2),
        "bad_audience",
    ),
    ("aud-on-key-without-audience", lambda: sign(claims(aud="someone")), "bad_audience"),
    # rule 5: exactly one identity, validated
    ("email-and-phone", lambda: sign(claims(phone="+14155550123")), "bad_identity"),
    ("neither-email-nor-phone", lambda: sign(claims(email=None)), "bad_identity"),
    ("email-invalid", lambda: sign(claims(email="not-an-email")), "bad_identity"),
    ("email-two-ats", lambda: sign(claims(email="a@b@example.com")), "bad_identity"),
    ("email-not-string", lambda: sign(claims(email=123)), "bad_identity"),
    ("email-empty", lambda: sign(claims(email="")), "bad_identity"),
    ("phone-not-e164", lambda: sign(claims(email=None, phone="4155550123")), "bad_identity"),
    ("phone-invalid-number", lambda: sign(claims(email=None, phone="+1234")), "bad_identity"),
    ("phone-list", lambda: sign(claims(email=None, phone=["+14155550123"])), "bad_identity"),
    ("name-not-string", lambda: sign(claims(name={"first": "Julie"})), "bad_identity"),
    ("name-too-long", lambda: sign(claims(name="J" * 201)), "bad_identity"),
    ("jti-not-string", lambda: sign(claims(jti=5)), "malformed"),
    ("jti-empty", lambda: sign(claims(jti="")), "malformed"),
    # rule 7: size before parsing
    ("8KiB-plus-one-valid-looking", lambda: _exact_size_token(MAX_TOKEN_BYTES + 1), "too_large"),
    ("8KiB-plus-one-garbage", lambda: "!" * (MAX_TOKEN_BYTES + 1), "too_large"),
    ("1MiB", lambda: "a." * (1 << 19), "too_large"),
]


def test_corpus_is_big_and_covers_every_code() -> None:
    assert len(CORPUS) >= 40
    assert len({case_id for case_id, _, _ in CORPUS}) == len(CORPUS)
    covered = {code for _, _, code in CORPUS} | {"replayed"}  # replayed: its own tests below
    assert covered == set(REJECTION_CODES)


@pytest.mark.parametrize(("case_id", "build", "code"), CORPUS, ids=[c[0] for c in CORPUS])
def test_hostile_token_is_rejected_with_its_code(
    site: Site, case_id: str, build: Callable[[], object], code: str
) -> None:
    token = build()
    before = len(audit_rows(site.desk))
    with pytest.raises(TokenRejected) as caught:
        site.keyring.verify(token, session_id="sess-1", client_address="203.0.113.7")  # type: ignore[arg-type]
    assert caught.value.code == code, caught.value.detail
    rows = audit_rows(site.desk)
    assert len(rows) == before + 1
    row = rows[-1]
    assert (row["code"], row["session_id"], row["client_address"], row["at"]) == (
        code,
        "sess-1",
        "203.0.113.7",
        site.clock.now_ms(),
    )
    assert row["detail"] == caught.value.detail[:200]
    if isinstance(token, str) and len(token) > 20:
        assert token not in str(caught.value)
        for segment in token.split("."):
            if len(segment) > 16:
                assert segment not in row["detail"]


#: Tokens right at the limits: these verify.
ACCEPTED: list[tuple[str, Callable[[], str]]] = [
    ("plain", lambda: sign(claims())),
    ("exp-one-second-inside-leeway", lambda: sign(claims(iat=T0 - 600, exp=T0 - 59))),
    ("iat-exactly-at-leeway", lambda: sign(claims(iat=T0 + 60, exp=T0 + 600))),
    ("nbf-exactly-at-leeway", lambda: sign(claims(nbf=T0 + 60))),
    ("lifetime-exactly-at-cap", lambda: sign(claims(iat=T0, exp=T0 + 3600))),
    ("float-times", lambda: sign(claims(iat=T0 + 0.5, exp=T0 + 600.25))),
    ("iss-aud", lambda: sign(claims(iss=ISSUER, aud=AUDIENCE), kid="hs2", key=SECRET_HS2)),
    ("aud-list", lambda: sign(claims(iss=ISSUER, aud=["x", AUDIENCE]), kid="hs2", key=SECRET_HS2)),
    ("es256", lambda: sign(claims(), kid="es1", alg="ES256", key=ec_key("es1"))),
    ("rs256", lambda: sign(claims(), kid="rs1", alg="RS256", key=rsa_key("rs1"))),
    ("exactly-8KiB", lambda: _exact_size_token(MAX_TOKEN_BYTES)),
    (
        "email-null-phone-given",
        lambda: sign({**claims(email=None, phone="+1 415 555 0123"), "email": None}),
    ),
]


@pytest.mark.parametrize(("case_id", "build"), ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_tokens_at_the_limits_verify(site: Site, case_id: str, build: Callable[[], str]) -> None:
    token = build()
    identity = site.keyring.verify(token)
    assert isinstance(identity, VerifiedIdentity)
    assert identity.source == "site"
    if identity.email is not None:
        assert identity.email == "julie@example.com"
        assert identity.name == "Julie Doe"
    else:
        assert identity.phone == "+14155550123"
    assert audit_rows(site.desk) == []
    if case_id == "exactly-8KiB":
        assert len(token) == MAX_TOKEN_BYTES


def test_verified_identity_fields(site: Site) -> None:
    token = sign(
        claims(jti="abc", iat=T0 - 10, exp=T0 + 300), kid="es1", alg="ES256", key=ec_key("es1")
    )
    assert site.keyring.verify(token) == VerifiedIdentity(
        email="julie@example.com",
        phone=None,
        name="Julie Doe",
        kid="es1",
        source="site",
        expires_at=(T0 + 300) * 1000,
        issued_at=(T0 - 10) * 1000,
        jti="abc",
        scope="es1",
    )


def test_leeway_boundary_moves_with_the_clock(site: Site) -> None:
    token = sign(claims(iat=T0, exp=T0 + 100))
    site.clock.set((T0 + 100 + 60) * 1000 - 1)
    assert site.keyring.verify(token).email == "julie@example.com"
    site.clock.set((T0 + 100 + 60) * 1000)
    with pytest.raises(TokenRejected) as caught:
        site.keyring.verify(token)
    assert caught.value.code == "expired"


# rule 8: jti binds to one widget session


def test_jti_replayed_in_another_session_and_fine_in_its_own(site: Site) -> None:
    token = sign(claims(jti="order-42"))
    assert site.keyring.verify(token, session_id="s-a").jti == "order-42"
    assert site.keyring.verify(token, session_id="s-a").jti == "order-42"
    with pytest.raises(TokenRejected) as caught:
        site.keyring.verify(token, session_id="s-b")
    assert caught.value.code == "replayed"
    assert site.keyring.verify(token, session_id="s-a").email == "julie@example.com"
    rows = audit_rows(site.desk)
    assert [(r["code"], r["session_id"], r["kid"]) for r in rows] == [("replayed", "s-b", "hs1")]
    bound = site.desk.query("SELECT jti, session_id FROM jti_uses")
    assert [tuple(r) for r in bound] == [("order-42", "s-a")]


def test_jti_replay_across_different_tokens_with_the_same_jti(site: Site) -> None:
    site.keyring.verify(sign(claims(jti="same")), session_id="s-a")
    with pytest.raises(TokenRejected) as caught:
        site.keyring.verify(sign(claims(jti="same", name="Other")), session_id="s-b")
    assert caught.value.code == "replayed"


def test_jti_binding_lapses_with_the_token(site: Site) -> None:
    site.keyring.verify(sign(claims(jti="short", exp=T0 + 10)), session_id="s-a")
    site.clock.advance(10 + 60 + 1)
    fresh = sign(claims(jti="short", iat=T0 + 71, exp=T0 + 600))
    assert site.keyring.verify(fresh, session_id="s-b").jti == "short"


def test_rejected_token_binds_nothing(site: Site) -> None:
    with pytest.raises(TokenRejected):
        site.keyring.verify(sign(claims(jti="bad", exp=T0 - 3600, iat=T0 - 4000)), session_id="s-a")
    assert site.desk.query("SELECT * FROM jti_uses") == []


def test_desk_minted_token_verifies_as_desk(site: Site) -> None:
    token = site.keyring.mint(phone="+44 20 7946 0958", name="Ann", jti="m1")
    identity = site.keyring.verify(token, session_id="s-1")
    assert (identity.phone, identity.email, identity.source, identity.jti) == (
        "+442079460958",
        None,
        "desk",
        "m1",
    )
    assert identity.expires_at - identity.issued_at == 600_000
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256" and header["kid"] == identity.kid


def test_forged_desk_token_with_hmac_of_desk_public_key_is_rejected(site: Site) -> None:
    kid = jwt.get_unverified_header(site.keyring.mint(email="a@example.com"))["kid"]
    row = site.desk.query_one("SELECT public_material FROM signing_keys WHERE kid = ?", (kid,))
    assert row is not None
    forged = _hs256_with_key_bytes(kid, row[0].encode())
    with pytest.raises(TokenRejected) as caught:
        site.keyring.verify(forged)
    assert caught.value.code == "alg_not_allowed"
