"""Request logs, correlation ids and the function version on every line."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

TRADE = {
    "symbol": "AAPL",
    "side": "long",
    "quantity": "100",
    "entryPrice": "187.25",
    "entryAt": "2026-03-02T14:30:00Z",
}


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The JSON lines tradeapp wrote to stderr."""
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]


@pytest.fixture(autouse=True)
def logs_to_stderr_only() -> None:
    # The suite lets records reach caplog too; here only the JSON handler's output counts.
    logging.getLogger("tradeapp").propagate = False


def test_each_request_writes_one_line_with_who_what_and_how_long(client, auth, capsys, monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "7")
    headers = auth("alice", **{"X-Correlation-Id": "checkout-42-abc"})
    capsys.readouterr()

    response = client.post("/v1/trades", json=TRADE, headers=headers)

    [line] = [entry for entry in lines(capsys) if entry["logger"] == "tradeapp.access"]
    assert response.status_code == 201
    assert line["message"] == "request"
    assert (line["method"], line["route"], line["status"]) == ("POST", "/v1/trades", 201)
    assert line["requestId"] == response.headers["X-Request-Id"]
    assert line["correlationId"] == "checkout-42-abc"
    assert line["userId"] == "alice"
    assert line["functionVersion"] == "7"
    assert isinstance(line["latencyMs"], float)


def test_no_line_ever_carries_the_token(client, auth, capsys):
    headers = auth("alice")
    token = headers["Authorization"].split()[1]
    capsys.readouterr()

    client.post("/v1/trades", json=TRADE, headers=headers)
    client.get("/v1/trades", headers={"Authorization": "Bearer " + token[:-4] + "AAAA"})

    err = capsys.readouterr().err
    assert "request" in err
    assert token not in err
    assert token.split(".")[1] not in err  # not even the claims part
    assert "Authorization" not in err


@pytest.mark.parametrize(
    ("given", "kept"),
    [("checkout-42-abc", True), ("a" * 128, True), ("short", False), ("has space in it", False), ("", False)],
)
def test_a_well_formed_correlation_id_is_echoed_and_anything_else_replaced(client, given, kept):
    response = client.get("/v1/health", headers={"X-Correlation-Id": given} if given else {})

    echoed = response.headers["X-Correlation-Id"]
    if kept:
        assert echoed == given
    else:
        assert echoed != given
        assert len(echoed) == 32


def test_the_correlation_id_is_stored_on_the_trade_and_reaches_the_stats_rebuild(client, auth, app, capsys):
    headers = auth("alice", **{"X-Correlation-Id": "import-batch-0007"})
    capsys.readouterr()

    created = client.post("/v1/trades", json=TRADE, headers=headers).get_json()

    repo = app.extensions["tradeapp"].trades.repo
    item = json.loads(
        repo.inner.db.connection()
        .execute("SELECT item FROM trades WHERE trade_id = ?", (created["tradeId"],))
        .fetchone()[0]
    )
    assert item["correlationId"] == "import-batch-0007"
    # the embedded stream fed the stats rebuild the same record shape, correlation id included
    rebuilt = [e for e in lines(capsys) if e["message"] == "stats rebuilt"]
    assert rebuilt
    assert rebuilt[-1]["correlationIds"] == ["import-batch-0007"]
    assert rebuilt[-1]["userId"] == "alice"


def test_cors_lets_browser_scripts_read_the_correlation_id(client):
    response = client.get("/v1/health", headers={"Origin": "http://localhost:3000"})

    assert "X-Correlation-Id" in response.headers["Access-Control-Expose-Headers"]
