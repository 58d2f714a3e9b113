"""DynamoDB throttling injected under botocore's own retry loop: no 500, no partial write.

botocore's Stubber answers before the retry handler runs, so it cannot test retries. A
`before-send` hook can: it answers an attempt with a throttling response, botocore's
standard retry mode decides to retry, and moto (which also listens on before-send) is told
to skip that attempt, as DynamoDB applies nothing of a throttled request.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.retries import standard
from flask import Flask
from moto import mock_aws
from moto.core.models import botocore_stubber

from tradeapp.adapters.dynamodb import create_tables

from . import trade_body

USER = "trader"
THROTTLED = json.dumps(
    {
        "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "message": "The level of configured provisioned throughput for the table was exceeded.",
    }
).encode()


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self.body


class Throttle:
    """A before-send hook answering a seeded random fraction of attempts with a throttle."""

    def __init__(self, rate: float, seed: int = 7, only: str | None = None) -> None:
        self.rate = rate
        self.only = only  # an operation name, or every operation
        self.random = random.Random(seed)
        self.skip: Any = None
        self.calls: Counter[str] = Counter()  # API calls (first attempts) by operation
        self.attempts: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self.per_call: list[int] = []  # attempts each API call made

    def __call__(self, request: Any, event_name: str, **kwargs: Any) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        attempt = request.context.get("retries", {}).get("attempt", 1)
        self.attempts[operation] += 1
        if attempt == 1:
            self.calls[operation] += 1
            self.per_call.append(0)
        self.per_call[-1] += 1
        self.skip = None
        if self.only not in (None, operation) or self.random.random() >= self.rate:
            return None
        self.throttled[operation] += 1
        self.skip = request
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": uuid.uuid4().hex}
        return AWSResponse(request.url, 400, headers, _Raw(THROTTLED))  # type: ignore[arg-type]


@pytest.fixture
def aws(aws_credentials: None) -> Iterator[None]:
    """moto's DynamoDB, with every AWS_ setting of the machine (AWS_MAX_ATTEMPTS, AWS_RETRY_MODE
    among them) cleared: the retry figures must come from the app's own settings."""
    with mock_aws():
        resource = boto3.resource("dynamodb", region_name="us-east-1")  # after the mock starts
        create_tables(resource, "Trades", "TradeIdempotency", "TradeStats")
        yield


@pytest.fixture
def backoffs(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays botocore asked for, not slept: the test stays fast."""
    asked: list[float] = []
    original = standard.ExponentialBackoff.delay_amount

    def delay_amount(self: Any, context: Any) -> float:
        asked.append(original(self, context))
        return 0

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", delay_amount)
    return asked


@pytest.fixture
def throttled_app(
    aws: None,
    backoffs: list[float],
    make_app: Callable[..., Flask],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[Throttle], Flask]:
    def build(throttle: Throttle) -> Flask:
        app = make_app(tmp_path / "data", "dynamodb", AUTH="local", SECRETS="file")
        client = app.extensions["tradeapp"].trades.repo.client
        client.meta.events.register("before-send.dynamodb.*", throttle)
        process = botocore_stubber.process_request
        # moto answers before-send too: a throttled attempt must not reach its tables
        monkeypatch.setattr(
            botocore_stubber,
            "process_request",
            lambda request: None if request is throttle.skip else process(request),
        )
        return app

    return build


class Journal:
    """The HTTP side: requests, their statuses, and what the 2xx answers say is stored."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client = app.test_client()
        self.statuses: Counter[int] = Counter()
        self.trades: dict[str, dict[str, Any]] = {}  # tradeId -> {version, closes, notes}
        self.writes = 0  # 2xx trade writes: each bumps tradesRevision once

    def send(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.app.extensions['tradeapp'].issuer.issue(USER)}"}
        headers.update(kwargs.pop("headers", {}))
        response = self.client.open(path, method=method, headers=headers, **kwargs)
        self.statuses[response.status_code] += 1
        assert response.status_code < 300 or response.status_code == 503, response.get_data()
        if response.status_code == 503:
            assert response.headers["Retry-After"] == "1"
        return response

    def create(self, attempts: int = 8) -> str | None:
        """Retried with one Idempotency-Key, as a client should after a 503."""
        key = uuid.uuid4().hex
        for _ in range(attempts):
            response = self.send("POST", "/v1/trades", json=trade_body(), headers={"Idempotency-Key": key})
            if response.status_code == 201:
                trade_id = response.get_json()["tradeId"]
                if trade_id not in self.trades:
                    self.trades[trade_id] = {"version": 1, "closes": 0, "notes": None}
                    self.writes += 1
                return str(trade_id)
        return None

    def close(self, trade_id: str) -> None:
        body = {"quantity": 10, "price": 190, "closedAt": "2026-03-03T15:00:00Z"}
        response = self.send("POST", f"/v1/trades/{trade_id}/closes", json=body)
        if response.status_code == 201:
            self._wrote(trade_id, response, closes=1)

    def patch(self, trade_id: str, notes: str) -> None:
        version = self.trades[trade_id]["version"]
        response = self.send(
            "PATCH", f"/v1/trades/{trade_id}", json={"notes": notes}, headers={"If-Match": f'"{version}"'}
        )
        if response.status_code == 200:
            assert response.get_json()["notes"] == notes
            self.trades[trade_id]["notes"] = notes
            self._wrote(trade_id, response)

    def read(self, trade_id: str) -> None:
        response = self.send("GET", f"/v1/trades/{trade_id}")
        if response.status_code == 200:
            assert response.get_json()["version"] == self.trades[trade_id]["version"]

    def _wrote(self, trade_id: str, response: Any, closes: int = 0) -> None:
        expected = self.trades[trade_id]
        expected["version"] += 1
        expected["closes"] += closes
        assert response.get_json()["version"] == expected["version"]
        self.writes += 1

    def stored(self) -> dict[str, dict[str, Any]]:
        repo = self.app.extensions["tradeapp"].trades.repo
        return {
            t.trade_id: {"version": t.version, "closes": len(t.partial_closes), "notes": t.notes}
            for t in repo.trades_of(USER)
        }


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_partial_throttling_never_500s_nor_half_writes(
    throttled_app: Callable[[Throttle], Flask], backoffs: list[float], rate: float
) -> None:
    # GIVEN an app whose DynamoDB calls are throttled at `rate`, before botocore's retries
    throttle = Throttle(rate)
    journal = Journal(throttled_app(throttle))

    # WHEN a trader records, closes, annotates and reads trades
    for n in range(12):
        trade_id = journal.create()
        if trade_id is None:
            continue
        journal.close(trade_id)
        journal.patch(trade_id, f"note {n}")
        journal.close(trade_id)
        journal.read(trade_id)

    # THEN nothing but 2xx and 503 (asserted per request), retries ran, most requests succeeded
    throttle.rate = 0
    ok = sum(count for status, count in journal.statuses.items() if status < 300)
    total = sum(journal.statuses.values())
    retried = sum(1 for n in throttle.per_call if n > 1)
    print(
        f"\nthrottle {rate:.0%}: {total} requests, {ok} 2xx, {journal.statuses[503]} 503, "
        f"{sum(throttle.calls.values())} API calls, {sum(throttle.attempts.values())} attempts, "
        f"{sum(throttle.throttled.values())} throttled, {retried} calls retried"
    )
    assert throttle.throttled
    assert retried
    assert backoffs
    assert max(throttle.per_call) <= 4
    assert ok > total / 2
    # AND the store holds exactly what the 2xx answers said: no partial write
    assert journal.stored() == journal.trades
    assert journal.app.extensions["tradeapp"].trades.repo.revision(USER) == journal.writes


def test_throttling_every_call_is_503_with_retry_after_and_stores_nothing(
    throttled_app: Callable[[Throttle], Flask],
) -> None:
    # GIVEN every DynamoDB call throttled, on every attempt
    throttle = Throttle(1.0)
    journal = Journal(throttled_app(throttle))

    # WHEN the trader tries every kind of data request (each is refused, so no id exists)
    paths = [
        ("POST", "/v1/trades"),
        ("GET", "/v1/trades"),
        ("GET", "/v1/trades/T1"),
        ("PATCH", "/v1/trades/T1"),
        ("POST", "/v1/trades/T1/closes"),
        ("DELETE", "/v1/trades/T1"),
        ("GET", "/v1/stats"),
        ("POST", "/v1/stats/rebuild"),
        ("POST", "/v1/auth/signout"),
    ]
    for method, path in paths:
        response = journal.send(method, path, json=trade_body() if method == "POST" else None)

        # THEN each is a 503 with Retry-After
        assert response.status_code == 503, (method, path, response.get_json())

    # AND each API call made exactly 4 attempts, then gave up
    assert throttle.per_call
    assert set(throttle.per_call) == {4}, throttle.per_call
    print(
        f"\nthrottle 100%: {len(paths)} requests, 0 2xx, {journal.statuses[503]} 503, "
        f"{len(throttle.per_call)} API calls, {sum(throttle.per_call)} attempts"
    )
    # AND nothing was stored
    throttle.rate = 0
    assert journal.stored() == {}
    assert journal.app.extensions["tradeapp"].trades.repo.revision(USER) == 0


def test_throttled_transactions_write_nothing_after_reads_succeed(
    throttled_app: Callable[[Throttle], Flask],
) -> None:
    # GIVEN a trade, then every transaction throttled while reads still succeed
    throttle = Throttle(0.0, only="TransactWriteItems")
    journal = Journal(throttled_app(throttle))
    trade_id = journal.create()
    assert trade_id is not None
    before = journal.stored()
    throttle.rate, throttle.per_call = 1.0, []

    # WHEN the trader creates, closes, patches and deletes
    body = {"quantity": 10, "price": 190, "closedAt": "2026-03-03T15:00:00Z"}
    responses = [
        journal.send("POST", "/v1/trades", json=trade_body(), headers={"Idempotency-Key": "k1"}),
        journal.send("POST", f"/v1/trades/{trade_id}/closes", json=body),
        journal.send("PATCH", f"/v1/trades/{trade_id}", json={"notes": "x"}, headers={"If-Match": '"1"'}),
        journal.send("DELETE", f"/v1/trades/{trade_id}"),
    ]

    # THEN every write is a 503, its transaction tried 4 times, and the store is unchanged
    assert [r.status_code for r in responses] == [503] * 4
    assert throttle.throttled["TransactWriteItems"] == 16
    throttle.rate = 0
    assert journal.stored() == before
    assert journal.app.extensions["tradeapp"].trades.repo.revision(USER) == 1


def test_every_client_the_bootstrap_builds_shares_the_retry_settings(
    aws: None, make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    # GIVEN an app on DynamoDB, with its lazily built AWS clients forced into being
    app = make_app(tmp_path / "data", "dynamodb", STATS_DLQ_URL="https://sqs.us-east-1.amazonaws.com/1/dlq")
    container = app.extensions["tradeapp"]
    clients = {
        "dynamodb": container.trades.repo.client,
        "sqs": container.dead_letters().sqs if hasattr(container.dead_letters(), "sqs") else None,
        "dynamodbstreams": getattr(container.stream(), "streams", None),
        "lambda": container.continuation().__closure__[0].cell_contents,  # type: ignore[attr-defined]
    }
    found = {name: client for name, client in clients.items() if client is not None}
    assert set(found) == set(clients), clients

    # THEN each retries in standard mode with bounded attempts and explicit timeouts
    for name, client in found.items():
        config = client.meta.config
        assert config.retries["mode"] == "standard", name
        # 4 attempts in all: botocore's own `max_attempts` would count retries (5 attempts)
        assert config.retries.get("total_max_attempts") == 4, (name, config.retries)
        assert config.connect_timeout == 2, name
        assert config.read_timeout == 5, name
    print(f"\nretry settings checked on: {sorted(found)}")
