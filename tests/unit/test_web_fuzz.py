"""Schema-driven fuzz of the HTTP API: requests built from `/openapi.json` never get a 5xx.

Hypothesis draws, for every operation in the document, path and query values, a body (often
shaped like the operation's schema, sometimes any JSON or raw bytes) and credentials (valid,
wrong or none). Every answer must be below 500, and every error must use the envelope.
The event stream is left out: with a valid token it never ends; its errors are tested in
test_web_api.py.
"""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.identity.api_users import add_api_user
from core.store import Desk
from core.web import create_app
from sim.demo_desk import build_demo
from tests.web_helpers import lift_budgets

EXAMPLES = 150
SKIPPED = {("/widget/v1/events", "get")}

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
INTERESTING_TEXT = st.sampled_from(
    [
        "",
        " ",
        "julie.martin@example.org",
        "JULIE.MARTIN@EXAMPLE.ORG",
        "+12065550001",
        "+1",
        "not-an-email",
        "retale",
        "EMAIL",
        "MOBILE_PHONE_NUMBER",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.eyJlbWFpbCI6Imp1bGllQGV4YW1wbGUub3JnIn0.",
        "\u202eevil\u0000\x1b[31m",
        "[green]✔[/]",
        "<script>alert(1)</script>",
        "x" * 5000,
        "9" * 30,
        "-1",
    ]
)
TEXT = INTERESTING_TEXT | st.text(max_size=60)


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str]]:
    folder = tmp_path_factory.mktemp("fuzz")
    db = build_demo(folder / "demo.db")
    with Desk.open(db, create=False) as desk:
        api_token = add_api_user(desk, "fuzz@retale.example")
    lift_budgets(db)  # every session of the fuzz comes from the one test client
    basic = "Basic " + base64.b64encode(f"fuzz@retale.example:{api_token}".encode()).decode()
    with TestClient(create_app(db), raise_server_exceptions=False) as client:
        # Every limiter out of the way: the fuzz means to reach the handlers.
        state = client.app.state.web  # type: ignore[attr-defined]
        for limiter in (
            state.bearer_failures,
            state.jwt_session_failures,
            state.jwt_address_failures,
            state.basic_failures,
        ):
            limiter.limit = 10**9
        yield client, basic
    shutil.rmtree(folder, ignore_errors=True)


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation) of the OpenAPI document, then its components."""
    with tempfile.TemporaryDirectory() as folder:
        spec = create_app(build_demo(Path(folder) / "spec.db")).openapi()
    return [
        (path, method, operation)
        for path, item in sorted(spec["paths"].items())
        for method, operation in sorted(item.items())
        if (path, method) not in SKIPPED
    ] + [("__components__", "", spec.get("components", {}))]


OPERATIONS = operations()
COMPONENTS = OPERATIONS.pop()[2]


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = COMPONENTS["schemas"][name]
    return schema


def value_for(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values near the schema's type, and often outside it."""
    schema = resolve(schema)
    kinds = [s.get("type") for s in schema.get("anyOf", [schema])]
    typed: list[st.SearchStrategy[Any]] = []
    if "string" in kinds:
        typed.append(TEXT)
    if "integer" in kinds:
        typed.append(st.integers() | st.integers(min_value=-(2**70), max_value=2**70))
    if "boolean" in kinds:
        typed.append(st.booleans())
    if "null" in kinds:
        typed.append(st.none())
    if "enum" in schema:
        typed.append(st.sampled_from(schema["enum"]))
    shaped = st.one_of(typed) if typed else JSON
    return st.one_of(shaped, shaped, JSON)


def body_for(operation: dict[str, Any]) -> st.SearchStrategy[bytes | None]:
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    if schema is None:
        return st.none() | st.binary(max_size=40)
    schema = resolve(schema)
    properties = schema.get("properties", {})
    shaped = st.fixed_dictionaries(
        {}, optional={name: value_for(prop) for name, prop in properties.items()}
    )
    extra = st.dictionaries(st.text(max_size=8), JSON, max_size=2)
    as_json = st.one_of(shaped, shaped, st.builds(lambda a, b: {**b, **a}, shaped, extra), JSON)
    return st.one_of(
        as_json.map(lambda doc: json.dumps(doc).encode()),
        st.binary(max_size=60),
        st.just(b"{"),
    )


@st.composite
def requests(draw: st.DrawFn, operation: dict[str, Any], path: str) -> dict[str, Any]:
    url = path
    query: dict[str, Any] = {}
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            value = draw(st.integers(min_value=-5, max_value=2**70) | TEXT.filter(bool))
            url = url.replace("{" + parameter["name"] + "}", quote(str(value), safe=""))
        elif parameter["in"] == "query" and draw(st.booleans()):
            query[parameter["name"]] = str(draw(value_for(parameter.get("schema", {}))))
    return {
        "url": url,
        "query": query,
        "body": draw(body_for(operation)),
        "auth": draw(st.sampled_from(["widget", "widget-onboarded", "basic", "wrong", "none"])),
    }


@pytest.mark.parametrize(
    ("path", "method", "operation"),
    OPERATIONS,
    ids=[f"{method.upper()} {path}" for path, method, _ in OPERATIONS],
)
def test_no_request_gets_a_server_error(
    fuzz_client: tuple[TestClient, str], path: str, method: str, operation: dict[str, Any]
) -> None:
    client, basic = fuzz_client

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )
    @given(request=requests(operation, path))
    def check(request: dict[str, Any]) -> None:
        headers = {"content-type": "application/json"}
        if request["auth"].startswith("widget"):
            token = client.post("/widget/v1/sessions", json={"appId": "retale"}).json()["token"]
            headers["Authorization"] = f"Bearer {token}"
            if request["auth"] == "widget-onboarded":
                client.put(
                    "/widget/v1/user",
                    json={"name": "Fuzz", "email": "fuzz.customer@example.com"},
                    headers=headers,
                )
        elif request["auth"] == "basic":
            headers["Authorization"] = basic
        elif request["auth"] == "wrong":
            headers["Authorization"] = "Bearer wrong"
        response = client.request(
            method.upper(),
            request["url"],
            params=request["query"],
            content=request["body"],
            headers=headers,
        )
        assert response.status_code < 500, (request, response.text)
        if response.status_code >= 400:
            body = response.json()
            assert set(body) == {"errors"} and body["errors"], body
            assert all(set(e) == {"attr", "code", "detail"} for e in body["errors"]), body

    check()
