"""The runbook's data tools: lossless export and the integrity check of stored trade items."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tradeapp.adapters.items import from_item, to_item
from tradeapp.adapters.memory import MemoryTradeRepository
from tradeapp.domain.trade import PartialClose, Trade
from tradeapp.services.audit import TradeAudit, problems_of

AT = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def a_trade(user: str = "alice", trade_id: str = "01JNX0000000000000000000T1", **changes) -> Trade:
    fields = {
        "user_id": user,
        "trade_id": trade_id,
        "symbol": "BTC-USD",
        "side": "long",
        "quantity": Decimal("0.00012345"),
        "entry_price": Decimal("64123.4567891234"),
        "entry_at": AT,
        "created_at": AT,
        "updated_at": AT,
        "fees": Decimal("0.0000000001"),
        "partial_closes": (
            PartialClose("c1", Decimal("0.0001"), Decimal("65000"), AT, Decimal("0.01"), "half"),
        ),
        **changes,
    }
    return Trade(**fields)


def test_export_is_lossless_and_decimals_stay_exact():
    repo = MemoryTradeRepository()
    original = a_trade()
    repo.add(original)

    [line] = list(TradeAudit(repo).export("alice"))

    item = json.loads(line)
    assert item["entryPrice"] == "64123.4567891234"  # a string: no float on the way
    assert item["quantity"] == "0.00012345"
    assert from_item(item) == original


def test_a_sound_item_has_no_problems():
    assert problems_of(to_item(a_trade())) == []


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda i: i.pop("entryPrice"), "missing field entryPrice"),
        (lambda i: i.update(colour="red"), "unknown attribute colour"),
        (lambda i: i["partialCloses"][0].update(colour="red"), "partialCloses[0]: unknown attribute colour"),
        (lambda i: i.update(quantity="12abc"), "quantity is not a number: '12abc'"),
        (lambda i: i.update(quantity="NaN"), "quantity is not a number: 'NaN'"),
        (
            lambda i: i["partialCloses"][0].update(quantity="0.0002"),
            "closes total 0.0002, more than the quantity",
        ),
        (
            lambda i: i["partialCloses"][0].update(closedAt="2026-03-01T00:00:00Z"),
            "closedAt is before entryAt",
        ),
        (lambda i: i.update(entryAt="yesterday"), "cannot be read"),
        (lambda i: i.update(partialCloses=["x"]), "partialCloses[0] is not a map"),
    ],
)
def test_each_kind_of_damage_is_reported(damage, expected):
    item = to_item(a_trade())
    damage(item)

    found = problems_of(item)

    assert any(expected in problem for problem in found), found


def test_check_scans_one_user_or_everyone_and_changes_nothing():
    repo = MemoryTradeRepository()
    repo.add(a_trade("alice"))
    repo.add(a_trade("bob", "01JNX0000000000000000000T2"))
    broken = to_item(a_trade("carol", "01JNX0000000000000000000T3"))
    broken["partialCloses"][0]["quantity"] = Decimal("1")  # over the quantity
    repo.add(a_trade("carol", "01JNX0000000000000000000T3"))
    repo.items_of = lambda user: iter([broken]) if user == "carol" else map(to_item, repo.trades_of(user))
    before = {u: list(repo.trades_of(u)) for u in ("alice", "bob", "carol")}

    everyone = list(TradeAudit(repo).check())
    only_alice = list(TradeAudit(repo).check("alice"))

    assert [(r["userId"], r["tradeId"]) for r in everyone] == [("carol", "01JNX0000000000000000000T3")]
    assert "more than the quantity" in everyone[0]["problems"][0]
    assert only_alice == []
    assert {u: list(repo.trades_of(u)) for u in ("alice", "bob", "carol")} == before
