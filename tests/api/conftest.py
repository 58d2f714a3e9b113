"""Fixtures for the HTTP API tests: flaskr-style `app` and `client`, tokens, and request helpers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from tradeapp import create_app
from tradeapp.adapters.localissuer import KEY_FILE

from . import trade_body


@pytest.fixture(scope="session")
def issuer_key_pem() -> bytes:
    """One RSA key for the whole run: generating one per app would dominate the suite's time."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="session")
def make_app(issuer_key_pem: bytes) -> Callable[..., Flask]:
    """make_app(data_dir, backend, **settings): an app as `app` builds it, for any scope."""

    def make(data_dir: Path, backend: str = "sqlite", **settings: Any) -> Flask:
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / KEY_FILE).write_bytes(issuer_key_pem)
        app = create_app({"BACKEND": backend, "DATA_DIR": str(data_dir), **settings})
        app.config["TESTING"] = True
        return app

    return make


@pytest.fixture
def backend() -> str:
    """Overridden with `pytest.mark.parametrize("backend", BACKENDS)` by the core CRUD tests."""
    return "sqlite"


@pytest.fixture
def app(make_app: Callable[..., Flask], backend: str, tmp_path: Path) -> Flask:
    return make_app(tmp_path, backend)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def user() -> str:
    """Whom auth(), create() and listed() act for by default.

    Modules whose tests share one app override it with fresh_user(), so that no test sees
    another's trades.
    """
    return "alice"


@pytest.fixture
def token(app: Flask, user: str) -> Callable[..., str]:
    """token("bob", lifetime=60) -> an access token from the app's embedded issuer."""

    def issue(who: str | None = None, **kwargs: Any) -> str:
        return app.extensions["tradeapp"].issuer.issue(who or user, **kwargs)

    return issue


@pytest.fixture
def auth(token: Callable[..., str], user: str) -> Callable[..., dict[str, str]]:
    """auth("bob", **{"If-Match": '"1"'}) -> request headers carrying bob's bearer token."""
    cache: dict[str, str] = {}

    def headers(who: str | None = None, **extra: str) -> dict[str, str]:
        who = who or user
        if who not in cache:
            cache[who] = token(who)
        return {"Authorization": f"Bearer {cache[who]}", **extra}

    return headers


@pytest.fixture
def create(client: FlaskClient, auth: Callable[..., dict[str, str]]) -> Callable[..., dict[str, Any]]:
    """create("bob", symbol="MSFT") -> the created trade's JSON (asserting 201)."""

    def make(who: str | None = None, **changes: Any) -> dict[str, Any]:
        response = client.post("/v1/trades", json=trade_body(**changes), headers=auth(who))
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return make


@pytest.fixture
def listed(client: FlaskClient, auth: Callable[..., dict[str, str]]) -> Callable[..., list[dict[str, Any]]]:
    """listed("bob") -> every trade bob can list, following nextCursor."""

    def collect(who: str | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        query: dict[str, Any] = {"limit": 100}
        while True:
            response = client.get("/v1/trades", query_string=query, headers=auth(who))
            assert response.status_code == 200, response.get_json()
            page = response.get_json()
            items += page["items"]
            if not page["nextCursor"]:
                return items
            query["cursor"] = page["nextCursor"]

    return collect


@contextmanager
def serving(app: Flask) -> Iterator[int]:
    """Serve `app` on 127.0.0.1 from a threaded server while the block runs: its port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture
def live_server(make_app: Callable[..., Flask], tmp_path: Path) -> Iterator[tuple[Flask, int]]:
    """An embedded app served on 127.0.0.1 by a threaded server: the app and its port."""
    app = make_app(tmp_path / "data")
    with serving(app) as port:
        yield app, port


@pytest.fixture(params=["sqlite", "dynamodb"])
def live_server_each_store(
    request: pytest.FixtureRequest,
    make_app: Callable[..., Flask],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Flask, int]]:
    """live_server on each store: SQLite, then DynamoDB under moto with each request serialized.

    moto is not thread-safe; `moto_one_request_at_a_time` (tests/conftest.py) makes each
    request atomic, as DynamoDB's are, and says what that does not model.
    """
    if request.param == "sqlite":
        yield request.getfixturevalue("live_server")
        return
    import boto3  # only here: most API tests never touch AWS
    from moto import mock_aws

    from tradeapp.adapters.dynamodb import create_tables

    request.getfixturevalue("aws_credentials")
    request.getfixturevalue("moto_one_request_at_a_time")
    with mock_aws():
        # tables, then the app's clients, all after the mock starts
        create_tables(boto3.resource("dynamodb", region_name="us-east-1"), "Trades", "TradeIdempotency")
        app = make_app(tmp_path / "data", "dynamodb")
        with serving(app) as port:
            yield app, port
