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


def metric_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [entry for entry in lines(capsys) if "_aws" in entry]


def test_each_request_is_a_metric_by_route_never_by_user(client, auth, capsys):
    headers = auth("alice")
    capsys.readouterr()

    client.post("/v1/trades", json=TRADE, headers=headers)
    client.get("/v1/trades/01JNX0000000000000000000ZZ", headers=headers)

    requests = [m for m in metric_lines(capsys) if "Requests" in m]
    assert [(m["method"], m["route"], m["Errors"], m["ClientErrors"]) for m in requests] == [
        ("POST", "/v1/trades", 0, 0),
        ("GET", "/v1/trades/<string:trade_id>", 0, 1),
    ]
    [directive] = requests[0]["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "tradeapp"
    assert directive["Dimensions"] == [["method", "route"]]
    assert {m["Name"] for m in directive["Metrics"]} == {"Requests", "Errors", "ClientErrors", "Latency"}
    assert all("userId" not in dims for dims in directive["Dimensions"])


def test_a_stats_rebuild_reports_its_duration_and_size(client, auth, capsys):
    headers = auth("alice")
    client.post("/v1/trades", json=TRADE, headers=headers)
    capsys.readouterr()

    client.post("/v1/stats/rebuild", headers=headers)

    [rebuild] = [m for m in metric_lines(capsys) if "RebuildDuration" in m]
    assert rebuild["TradesPerRebuild"] == 1
    assert rebuild["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [[]]


def test_cleaning_images_and_replaying_dead_letters_are_counted(app, create, capsys, monkeypatch):
    from datetime import timedelta

    import tradeapp.services.images

    container = app.extensions["tradeapp"]
    create("alice")
    orphan = container.images.store.root / "users/alice/trades/01JNX0000000000000000000T9/x"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"\x89PNG\r\n\x1a\n")
    orphan.with_name("x.meta.json").write_text('{"contentType": "image/png"}')
    monkeypatch.setattr(tradeapp.services.images, "FRESH", timedelta(seconds=-1))
    container.dead_letters().send(
        {"DDBStreamBatchInfo": {"streamArn": "gone", "shardId": "s", "startSequenceNumber": "1"}}
    )
    capsys.readouterr()

    container.images.cleanup(delete=True)
    container.stats.replay(container.dead_letters(), container.stream())

    found = metric_lines(capsys)
    [cleaned] = [m for m in found if "ImagesCleaned" in m]
    assert cleaned["ImagesCleaned"] == 1
    [replayed] = [m for m in found if "DlqMessagesReplayed" in m]
    assert (replayed["DlqMessagesReplayed"], replayed["DlqMessagesKept"]) == (1, 0)
