"""The StatsRepository contract, and how stats and the trade revision share a store, on every adapter."""

from __future__ import annotations

import dataclasses
import json
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tradeapp.adapters.ports import StatsRecord, StatsRepository, TradeRepository
from tradeapp.domain.stats import fold
from tradeapp.domain.trade import PartialClose
from tradeapp.services.stats import plain

from .test_trade_repository import make_trade, minutes

COMPUTED = datetime(2026, 3, 4, 10, 15, 30, 654321, tzinfo=UTC)


def folded_stats() -> dict[str, Any]:
    """The fold's real output in JSON form: nested dicts and lists, None, str, int."""
    trades = [
        make_trade(
            f"t{i}",
            symbol=symbol,
            setup="breakout" if i % 2 else None,
            tags=("a", "b")[: i % 3],
            partial_closes=(PartialClose("c1", Decimal("10"), Decimal("190") - i * 2, minutes(90 * i)),),
        )
        for i, symbol in enumerate(["AAPL", "MSFT", "AAPL", "TSLA"])
    ]
    stats = plain(fold([*trades, make_trade("open")]))
    assert {type(v) for v in stats.values()} >= {dict, list, str, int, type(None)}  # the premise
    return stats


def stats_record(revision: int, user_id: str = "alice", **fields: Any) -> StatsRecord:
    values: dict[str, Any] = {
        "user_id": user_id,
        "revision": revision,
        "computed_at": COMPUTED,
        "trade_count": 5,
        "stats": {**folded_stats(), "note": f"revision {revision}"},
    }
    values.update(fields)
    return StatsRecord(**values)


def assert_same(got: StatsRecord | None, expected: StatsRecord) -> None:
    """Equal, and equal in JSON too: `==` alone takes True for 1 and 1.0 for 1."""
    assert got == expected
    assert got.computed_at.isoformat() == expected.computed_at.isoformat()
    assert json.dumps(got.stats, sort_keys=True) == json.dumps(expected.stats, sort_keys=True)


def test_an_unknown_user_has_no_stats(stats_repo: StatsRepository) -> None:
    assert stats_repo.get("alice") is None


def test_a_user_with_trades_but_no_stats_has_none(stores: tuple[TradeRepository, StatsRepository]) -> None:
    # the trade write creates the row or item the stats will live on, without stats in it
    repo, stats_repo = stores
    repo.add(make_trade("t1"))
    assert stats_repo.get("alice") is None


def test_put_then_get_round_trips_exactly(stats_repo: StatsRepository) -> None:
    record = stats_record(3, stats={**folded_stats(), "flags": [True, False, None, 0, ""], "empty": {}})

    assert stats_repo.put(record) is True

    assert_same(stats_repo.get("alice"), record)
    assert stats_repo.get("bob") is None


def test_a_lower_revision_is_refused_and_changes_nothing(stats_repo: StatsRepository) -> None:
    stored = stats_record(5)
    stats_repo.put(stored)

    older = stats_record(4, computed_at=COMPUTED + timedelta(hours=1), trade_count=99)
    assert stats_repo.put(older) is False

    assert_same(stats_repo.get("alice"), stored)


def test_an_equal_revision_overwrites(stats_repo: StatsRepository) -> None:
    stats_repo.put(stats_record(5))

    again = stats_record(5, computed_at=COMPUTED + timedelta(minutes=1), trade_count=6, stats={"other": 1})
    assert stats_repo.put(again) is True

    assert_same(stats_repo.get("alice"), again)


def test_a_higher_revision_overwrites(stats_repo: StatsRepository) -> None:
    stats_repo.put(stats_record(5))

    newer = stats_record(6, trade_count=7)
    assert stats_repo.put(newer) is True
    assert_same(stats_repo.get("alice"), newer)

    assert stats_repo.put(stats_record(0)) is False
    assert_same(stats_repo.get("alice"), newer)


def test_revisions_are_per_user(stats_repo: StatsRepository) -> None:
    stats_repo.put(stats_record(9, user_id="bob"))

    alice = stats_record(1)
    assert stats_repo.put(alice) is True

    assert_same(stats_repo.get("alice"), alice)
    assert stats_repo.get("bob").revision == 9


def test_a_stats_put_after_trade_writes_keeps_the_trade_revision(
    stores: tuple[TradeRepository, StatsRepository],
) -> None:
    # GIVEN two trade writes
    repo, stats_repo = stores
    repo.add(make_trade("t1"))
    repo.add(make_trade("t2"))
    # WHEN stats computed after the first are stored (late, but nothing newer is stored yet)
    record = stats_record(1)
    assert stats_repo.put(record) is True
    # THEN the revision is still the trades', and the next trade write still bumps it
    assert repo.revision("alice") == 2
    repo.delete("alice", "t1", expected_version=None)
    assert repo.revision("alice") == 3
    assert_same(stats_repo.get("alice"), record)


def test_a_trade_write_after_a_stats_put_bumps_the_revision(
    stores: tuple[TradeRepository, StatsRepository],
) -> None:
    # GIVEN stats stored for a user who has not written a trade yet
    repo, stats_repo = stores
    record = stats_record(0, trade_count=0)
    assert stats_repo.put(record) is True
    assert repo.revision("alice") == 0
    # WHEN they write trades
    repo.add(make_trade("t1"))
    repo.replace(dataclasses.replace(repo.get("alice", "t1"), version=2), expected_version=1)
    # THEN the revision counts the writes, and the stats are untouched
    assert repo.revision("alice") == 2
    assert_same(stats_repo.get("alice"), record)
    # AND stats at the new revision can replace them
    assert stats_repo.put(stats_record(2)) is True


def large_stats(days: int, symbols: int, tags: int) -> dict[str, Any]:
    """A fold-shaped document of years of trading: an equity point a day, a bucket a symbol
    and a tag. The numbers vary, as real ones do, so that compression has no easy ride.
    """
    rng = random.Random(7)

    def bucket() -> dict[str, Any]:
        trades = rng.randrange(1, 400)
        wins = rng.randrange(0, trades + 1)
        return {
            "trades": trades,
            "wins": wins,
            "losses": trades - wins,
            "breakevens": 0,
            "netPnl": str(Decimal(rng.randrange(-(10**9), 10**9)) / 100),
            "winRate": str((Decimal(wins) / trades).quantize(Decimal("0.0001"))),
        }

    stats = folded_stats()
    cumulative = Decimal(0)
    curve = []
    for day in range(days):
        net = Decimal(rng.randrange(-500_000, 500_000)) / 100
        cumulative += net
        when = date(2016, 1, 1) + timedelta(days=day)
        curve.append({"date": when.isoformat(), "netPnl": str(net), "cumulative": str(cumulative)})
    stats["equityCurve"] = curve
    stats["bySymbol"] = {f"SYM{i:04d}": bucket() for i in range(symbols)}
    stats["byTag"] = {f"tag-{i:04d}": bucket() for i in range(tags)}
    return stats


def test_a_large_document_round_trips(stats_repo: StatsRepository) -> None:
    stats = large_stats(days=3000, symbols=1000, tags=1500)
    # the premise: bigger than a DynamoDB item may be, uncompressed
    assert len(json.dumps(stats, separators=(",", ":"))) > 400_000
    record = stats_record(12, trade_count=40_000, stats=stats)

    assert stats_repo.put(record) is True

    assert_same(stats_repo.get("alice"), record)
