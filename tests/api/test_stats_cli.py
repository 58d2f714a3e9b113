"""`flask --app wsgi stats ...` and `dlq replay` against the local (SQLite) app, as an operator runs them."""

from __future__ import annotations

import json

import pytest

from . import trade_body

CLOSE = {"quantity": 100, "price": "190.25", "fees": "1.00", "closedAt": "2026-03-02T15:00:00Z"}


class StatsStoreDown:
    """Stands in for the stats store while it refuses writes."""

    def get(self, user_id):
        return None

    def put(self, record):
        raise ConnectionError("stats store unavailable")


@pytest.fixture
def container(app):
    return app.extensions["tradeapp"]


@pytest.fixture
def run(app):
    """run("stats", "rebuild", "alice") -> the click Result."""

    def invoke(*args: str):
        return app.test_cli_runner().invoke(args=list(args))

    return invoke


@pytest.fixture
def without_stream(monkeypatch, container):
    """Trades written while this is active do not reach the stats (as if the stream were off)."""
    monkeypatch.setattr(container.stats.trades, "listener", None)
    return monkeypatch


@pytest.fixture
def stats_of(client, auth):
    def read(who: str) -> dict:
        response = client.get("/v1/stats", headers=auth(who))
        assert response.status_code == 200
        return response.get_json()

    return read


def a_closed_trade(client, auth, create, who: str) -> None:
    """One long AAPL 100 @ 187.25 closed at 190.25: net 300 - 1 - 1 = 298.00 (two writes)."""
    trade = create(who)
    response = client.post(f"/v1/trades/{trade['tradeId']}/closes", json=CLOSE, headers=auth(who))
    assert response.status_code == 201


def queued(container) -> list:
    """The local StatsDLQ's messages, looked at without taking them (receive hides them)."""
    dead_letters = container.dead_letters()
    letters = dead_letters.receive(10)
    for letter in letters:
        dead_letters.release(letter.receipt)
    return letters


def json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_stats_rebuild_prints_the_revision_and_trades_and_stores_them(
    run, without_stream, client, auth, create, stats_of
):
    # GIVEN alice's trades written while the stream was off: her stored stats are empty
    a_closed_trade(client, auth, create, "alice")
    create("alice", symbol="MSFT")
    assert stats_of("alice")["revision"] == 0

    # WHEN the operator rebuilds her
    result = run("stats", "rebuild", "alice")

    # THEN it prints her revision and trade count, and the API serves those stats
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout) == {"userId": "alice", "revision": 3, "trades": 2}
    stats = stats_of("alice")
    assert (stats["revision"], stats["tradeCount"], stats["totalTrades"]) == (3, 2, 2)
    assert (stats["closedTrades"], stats["openTrades"], stats["netPnl"]) == (1, 1, "298.00")


def test_stats_rebuild_needs_a_user(run):
    assert run("stats", "rebuild").exit_code != 0


def test_stats_rebuild_all_prints_the_summary(run, without_stream, client, auth, create, stats_of):
    # GIVEN three users with trades and no stats
    for who in ("alice", "bob", "carol"):
        a_closed_trade(client, auth, create, who)
    create("bob")

    result = run("stats", "rebuild-all")

    assert result.exit_code == 0, result.stdout
    summary = json.loads(result.stdout)
    assert summary["durationSeconds"] >= 0
    assert {k: v for k, v in summary.items() if k != "durationSeconds"} == {
        "users": 3,
        "trades": 4,
        "failures": 0,
        "failedUsers": [],
        "checkpoint": "carol",
        "finished": True,
    }
    assert [stats_of(who)["netPnl"] for who in ("alice", "bob", "carol")] == ["298.00"] * 3
    assert stats_of("bob")["revision"] == 3


def test_rebuild_all_counts_only_users_who_wrote_trades(run, client, auth, create):
    # GIVEN alice, who has a trade, and a visitor who only asked for a rebuild of nothing
    create("alice")
    assert client.post("/v1/stats/rebuild", headers=auth("visitor")).status_code == 200

    result = run("stats", "rebuild-all")

    assert result.exit_code == 0, result.stdout
    assert (json.loads(result.stdout)["users"], json.loads(result.stdout)["checkpoint"]) == (1, "alice")


def test_stats_rebuild_all_fails_when_a_user_fails(run, container, monkeypatch, create):
    create("alice")
    monkeypatch.setattr(container.stats, "stats", StatsStoreDown())

    result = run("stats", "rebuild-all")

    assert result.exit_code == 1
    assert json_lines(result.stdout)[0]["failedUsers"] == ["alice"]


@pytest.fixture
def dead_letter(monkeypatch, container, client, auth, create):
    """GIVEN alice's trade written while the stats store was down: one local dead letter.

    Yields the `monkeypatch` that broke the store; undo() fixes it.
    """
    monkeypatch.setattr(container.stats, "stats", StatsStoreDown())
    created = client.post("/v1/trades", json=trade_body(), headers=auth("alice"))
    assert created.status_code == 201  # the write itself succeeded
    [letter] = queued(container)
    assert "DDBStreamBatchInfo" in letter.body
    return monkeypatch


def test_dlq_replay_dry_run_lists_the_users_and_leaves_the_message(run, dead_letter, container, stats_of):
    dead_letter.undo()

    result = run("dlq", "replay", "--dry-run")

    assert result.exit_code == 0, result.stdout
    [report] = json_lines(result.stdout)
    assert report["action"] == "would rebuild"
    assert report["users"] == ["alice"]
    assert result.stdout.splitlines()[-1] == "1 message(s) (dry run: nothing changed)"
    assert len(queued(container)) == 1
    assert stats_of("alice")["revision"] == 0


def test_dlq_replay_rebuilds_and_empties_the_queue(run, dead_letter, container, stats_of):
    dead_letter.undo()

    result = run("dlq", "replay")

    assert result.exit_code == 0, result.stdout
    [report] = json_lines(result.stdout)
    assert report["users"] == ["alice"]
    assert report["action"] == "rebuilt, deleted"
    assert queued(container) == []
    stats = stats_of("alice")
    assert (stats["revision"], stats["totalTrades"], stats["openTrades"]) == (1, 1, 1)
    # and a second run has nothing to do
    again = run("dlq", "replay")
    assert again.exit_code == 0
    assert again.stdout.strip() == "0 message(s)"


def test_dlq_replay_exits_non_zero_while_a_rebuild_still_fails(run, dead_letter, container):
    result = run("dlq", "replay")

    assert result.exit_code == 1
    [report] = json_lines(result.stdout)
    assert (report["action"], report["failed"]) == ("kept", ["alice"])
    assert len(queued(container)) == 1
