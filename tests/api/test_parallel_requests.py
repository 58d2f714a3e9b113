"""Parallel HTTP requests against a real threaded server, on SQLite and on DynamoDB.

Each race is repeated ROUNDS times; every round sends its 20 requests through a barrier so
they leave together. A lost race or a double write in any round fails the test. DynamoDB
is moto with each request serialized: atomic requests, as DynamoDB's are, interleaving
freely between them (see `moto_one_request_at_a_time` in tests/conftest.py).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from http.client import HTTPConnection
from typing import Any

import pytest
from flask import Flask

PARALLEL = 20
ROUNDS = 5
TRADE = {
    "symbol": "AAPL",
    "side": "long",
    "quantity": "10",
    "entryPrice": "100",
    "entryAt": "2026-03-02T14:30:00Z",
}


@pytest.fixture
def server(live_server_each_store: tuple[Flask, int]) -> tuple[Flask, int]:
    return live_server_each_store


def call(port: int, method: str, path: str, headers: dict[str, str], body: Any = None) -> tuple[int, Any]:
    conn = HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        payload = json.dumps(body) if body is not None else None
        conn.request(method, path, body=payload, headers={"Content-Type": "application/json", **headers})
        response = conn.getresponse()
        text = response.read()
        return response.status, json.loads(text) if text else None
    finally:
        conn.close()


def together(requests: list[Callable[[], tuple[int, Any]]]) -> list[tuple[int, Any]]:
    barrier = threading.Barrier(len(requests))

    def run(request: Callable[[], tuple[int, Any]]) -> tuple[int, Any]:
        barrier.wait()
        return request()

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(run, requests))


def test_parallel_patches_with_one_if_match_have_exactly_one_winner(server):
    app, port = server
    auth = {"Authorization": "Bearer " + app.extensions["tradeapp"].issuer.issue("alice")}
    for _ in range(ROUNDS):
        _, trade = call(port, "POST", "/v1/trades", auth, TRADE)
        path = f"/v1/trades/{trade['tradeId']}"
        results = together(
            [
                partial(call, port, "PATCH", path, {**auth, "If-Match": '"1"'}, {"notes": f"n{n}"})
                for n in range(PARALLEL)
            ]
        )

        assert Counter(status for status, _ in results) == {200: 1, 412: PARALLEL - 1}
        [winner] = [body for status, body in results if status == 200]
        _, stored = call(port, "GET", path, auth)
        assert (stored["version"], stored["notes"]) == (2, winner["notes"])


def test_parallel_closes_never_overfill_a_trade(server):
    app, port = server
    auth = {"Authorization": "Bearer " + app.extensions["tradeapp"].issuer.issue("alice")}
    close = {"quantity": "1", "price": "101", "closedAt": "2026-03-02T15:30:00Z"}
    for _ in range(ROUNDS):
        _, trade = call(port, "POST", "/v1/trades", auth, {**TRADE, "quantity": "7"})
        path = f"/v1/trades/{trade['tradeId']}/closes"
        results = together([partial(call, port, "POST", path, auth, close)] * PARALLEL)

        statuses = Counter(status for status, _ in results)
        # 7 fit; the others are refused (422: would overfill) or told to retry (409), never a 5xx
        assert statuses[201] == 7
        assert set(statuses) <= {201, 409, 422}
        _, stored = call(port, "GET", f"/v1/trades/{trade['tradeId']}", auth)
        assert (stored["remainingQuantity"], len(stored["partialCloses"])) == ("0", 7)


def test_parallel_creates_with_one_idempotency_key_make_one_trade(server):
    app, port = server
    for round_ in range(ROUNDS):
        user = f"user-{round_}"
        auth = {"Authorization": "Bearer " + app.extensions["tradeapp"].issuer.issue(user)}
        headers = {**auth, "Idempotency-Key": "checkout-42"}
        results = together([partial(call, port, "POST", "/v1/trades", headers, TRADE)] * PARALLEL)

        assert {status for status, _ in results} == {201}
        assert len({body["tradeId"] for _, body in results}) == 1
        _, page = call(port, "GET", "/v1/trades", auth)
        assert len(page["items"]) == 1
