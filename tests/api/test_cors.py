"""CORS for the browser front end, and X-Request-Id on every response."""

from __future__ import annotations

import pytest

from . import fresh_user, trade_body

ALLOWED = "http://localhost:3000"
PREFLIGHT = {
    "Access-Control-Request-Method": "PATCH",
    "Access-Control-Request-Headers": "authorization, content-type, if-match, idempotency-key",
}


@pytest.fixture(scope="module")
def app(make_app, tmp_path_factory):
    """One app for the module; each test acts as a user of its own."""
    return make_app(tmp_path_factory.mktemp("cors"))


@pytest.fixture
def user():
    return fresh_user()


def header_set(value: str | None) -> set[str]:
    return {part.strip().lower() for part in (value or "").split(",") if part.strip()}


@pytest.mark.parametrize("origin", [ALLOWED, "http://127.0.0.1:3000", "http://localhost:5173"])
@pytest.mark.parametrize("path", ["/v1/trades", "/v1/trades/01ARZ3NDEKTSV4RRFFQ69G5FAV"])
def test_a_preflight_from_an_allowed_origin_is_allowed(client, origin, path):
    response = client.options(path, headers={"Origin": origin, **PREFLIGHT})
    assert response.status_code in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert header_set(response.headers.get("Access-Control-Allow-Headers")) >= {
        "authorization",
        "content-type",
        "if-match",
        "idempotency-key",
    }
    assert "PATCH" in response.headers["Access-Control-Allow-Methods"]
    assert "Origin" in response.headers.get("Vary", "")


def test_a_normal_response_exposes_etag_location_and_request_id(client, auth):
    response = client.post("/v1/trades", json=trade_body(), headers={**auth(), "Origin": ALLOWED})
    assert response.status_code == 201
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert header_set(response.headers.get("Access-Control-Expose-Headers")) >= {
        "etag",
        "location",
        "x-request-id",
    }


def test_an_error_response_to_an_allowed_origin_is_readable(client):
    response = client.get("/v1/trades", headers={"Origin": ALLOWED})
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "x-request-id" in header_set(response.headers.get("Access-Control-Expose-Headers"))


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://localhost:3001", "http://localhost:3000.evil.example", "null"]
)
def test_a_disallowed_origin_gets_no_allow_origin(client, auth, origin):
    preflight = client.options("/v1/trades", headers={"Origin": origin, **PREFLIGHT})
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert "Access-Control-Allow-Headers" not in preflight.headers
    normal = client.get("/v1/trades", headers={**auth(), "Origin": origin})
    assert normal.status_code == 200
    assert "Access-Control-Allow-Origin" not in normal.headers


def test_allowed_origins_come_from_settings(make_app, tmp_path):
    app = make_app(tmp_path, "memory", CORS_ORIGINS="https://app.example, http://other.example")
    client = app.test_client()
    allowed = client.options("/v1/trades", headers={"Origin": "https://app.example", **PREFLIGHT})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    refused = client.options("/v1/trades", headers={"Origin": ALLOWED, **PREFLIGHT})
    assert "Access-Control-Allow-Origin" not in refused.headers


def requests_of_every_kind(client, auth, create):
    trade = create()
    url = f"/v1/trades/{trade['tradeId']}"
    json_headers = {**auth(), "Content-Type": "application/json"}
    yield 200, client.get("/v1/health")
    yield 200, client.get("/v1/openapi.json")
    yield 200, client.get(url, headers=auth())
    yield 201, client.post("/v1/trades", json=trade_body(), headers=auth())
    yield 400, client.post("/v1/trades", data="{", headers=json_headers)
    yield 400, client.get("/v1/trades", query_string={"cursor": "x"}, headers=auth())
    yield 401, client.get("/v1/trades")
    yield 404, client.get("/v1/trades/01ARZ3NDEKTSV4RRFFQ69G5FAV", headers=auth())
    yield 404, client.get("/v1/no-such-route")
    yield 405, client.put(url, headers=auth())
    yield 412, client.patch(url, json={"notes": "x"}, headers=auth(**{"If-Match": '"9"'}))
    yield 413, client.post("/v1/trades", data="x" * (1024 * 1024 + 1), headers=json_headers)
    yield 422, client.post("/v1/trades", json={"bogus": 1}, headers=auth())
    yield 428, client.patch(url, json={"notes": "x"}, headers=auth())
    yield 200, client.options("/v1/trades", headers={"Origin": ALLOWED, **PREFLIGHT})
    yield 204, client.delete(url, headers=auth())


def test_every_response_carries_a_request_id(client, auth, create):
    seen = set()
    for status, response in requests_of_every_kind(client, auth, create):
        assert response.status_code == status, response.get_data(as_text=True)
        request_id = response.headers.get("X-Request-Id")
        assert request_id, status
        seen.add(request_id)
    assert len(seen) == 16  # one per request


def test_the_api_gateway_request_id_is_reused(client):
    response = client.get(
        "/v1/health", environ_base={"lambda.event": {"requestContext": {"requestId": "apigw-123"}}}
    )
    assert response.headers["X-Request-Id"] == "apigw-123"
