"""`flask trades export|check` and their zappa-invoke twins, on the embedded store."""

from __future__ import annotations

import json

import pytest

import tasks.stats
from tasks.trades import check_trades, export_trades


@pytest.fixture
def two_trades(create):
    return [create("alice"), create("alice", symbol="MSFT")]


def test_export_prints_one_exact_line_per_trade(app, two_trades):
    result = app.test_cli_runner().invoke(args=["trades", "export", "alice"])

    assert result.exit_code == 0, result.stdout
    items = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(i["tradeId"] for i in items) == sorted(t["tradeId"] for t in two_trades)
    assert all(isinstance(i["entryPrice"], str) for i in items)


def test_check_of_sound_data_reports_nothing_and_exits_zero(app, two_trades):
    result = app.test_cli_runner().invoke(args=["trades", "check"])

    assert result.exit_code == 0
    assert result.stdout == ""
    assert "0 malformed trade(s)" in result.stderr


def test_check_reports_a_damaged_item_and_exits_non_zero(app, two_trades):
    db = app.extensions["tradeapp"].trades.repo.inner.db
    item = json.loads(db.connection().execute("SELECT item FROM trades LIMIT 1").fetchone()[0])
    item["quantity"] = "lots"
    with db.write() as conn:
        conn.execute("UPDATE trades SET item = ? WHERE trade_id = ?", (json.dumps(item), item["tradeId"]))

    result = app.test_cli_runner().invoke(args=["trades", "check", "alice"])

    assert result.exit_code == 1
    [report] = [json.loads(line) for line in result.stdout.splitlines()]
    assert report["tradeId"] == item["tradeId"]
    assert report["problems"] == ["quantity is not a number: 'lots'"]


def test_the_tasks_give_the_same_answers(app, two_trades, monkeypatch):
    monkeypatch.setattr(tasks.stats, "_container", app.extensions["tradeapp"])

    exported = export_trades({"userId": "alice"}, None)
    checked = check_trades({}, None)

    assert exported["trades"] == 2
    assert len(exported["jsonl"].splitlines()) == 2
    assert checked == {"malformed": 0, "reports": []}
    with pytest.raises(ValueError, match="userId"):
        export_trades({}, None)
