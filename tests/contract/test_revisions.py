"""The TradeRepository's stats-facing reads: revision(), trades_of(), trades_for_stats() and
users(), on every adapter."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import Decimal

import pytest
from boto3.dynamodb.conditions import Key

from tradeapp.adapters import sqlite
from tradeapp.adapters.dynamodb import DynamoDBTradeRepository
from tradeapp.adapters.ports import IdempotencyKeyTakenError, TradeRepository
from tradeapp.domain.errors import ConflictError, PreconditionFailedError, TradeNotFoundError
from tradeapp.domain.stats import fold
from tradeapp.domain.trade import PartialClose

from .test_trade_repository import exact, make_trade, minutes, record


def changed(repo: TradeRepository, user_id: str, trade_id: str) -> None:
    """Replace the stored trade with its next version."""
    current = repo.get(user_id, trade_id)
    repo.replace(
        dataclasses.replace(current, version=current.version + 1, notes=f"v{current.version + 1}"),
        expected_version=current.version,
    )


def test_a_new_user_is_at_revision_zero(repo: TradeRepository) -> None:
    assert repo.revision("alice") == 0


def test_each_successful_write_bumps_the_revision_by_one(repo: TradeRepository) -> None:
    writes: list[Callable[[], None]] = [
        lambda: repo.add(make_trade("t1")),
        lambda: repo.add(make_trade("t2"), record("key-2", "t2")),
        lambda: changed(repo, "alice", "t1"),
        lambda: repo.replace(dataclasses.replace(repo.get("alice", "t2"), notes="any version"), None),
        lambda: repo.delete("alice", "t1", expected_version=2),
        lambda: repo.delete("alice", "t2", expected_version=None),
        lambda: repo.add(make_trade("t1")),  # the id again, after its delete
    ]
    for expected, write in enumerate(writes, start=1):
        write()
        assert repo.revision("alice") == expected


def test_failed_writes_leave_the_revision_alone(repo: TradeRepository) -> None:
    # GIVEN alice has one trade, added with an idempotency key
    repo.add(make_trade("t1"), record("key-1", "t1"))
    changed(repo, "alice", "t1")
    assert repo.revision("alice") == 2
    stale = repo.get("alice", "t1").version - 1
    failures: list[tuple[type[Exception], Callable[[], None]]] = [
        (ConflictError, lambda: repo.add(make_trade("t1"))),
        (IdempotencyKeyTakenError, lambda: repo.add(make_trade("t2"), record("key-1", "t2"))),
        (TradeNotFoundError, lambda: repo.replace(make_trade("missing"), expected_version=None)),
        (TradeNotFoundError, lambda: repo.delete("alice", "missing", expected_version=None)),
        (PreconditionFailedError, lambda: repo.replace(make_trade("t1", version=9), expected_version=stale)),
        (PreconditionFailedError, lambda: repo.delete("alice", "t1", expected_version=stale)),
    ]
    for error, write in failures:
        # WHEN a write fails
        with pytest.raises(error):
            write()
        # THEN the revision has not moved
        assert repo.revision("alice") == 2, error.__name__
    assert repo.get("alice", "t1").version == 2


def test_other_users_writes_leave_the_revision_alone(repo: TradeRepository) -> None:
    repo.add(make_trade("t1", user_id="alice"))
    repo.add(make_trade("t1", user_id="bob"))
    changed(repo, "bob", "t1")
    changed(repo, "bob", "t1")
    repo.delete("bob", "t1", expected_version=None)
    assert repo.revision("alice") == 1
    assert repo.revision("bob") == 4
    assert repo.revision("carol") == 0


def test_trades_of_yields_exactly_the_users_trades(repo: TradeRepository) -> None:
    for i in range(5):
        repo.add(make_trade(f"a{i}", user_id="alice", entry_at=minutes(i), tags=("x",) * (i % 2)))
        repo.add(make_trade(f"b{i}", user_id="bob", entry_at=minutes(i)))
    # "alice" is a prefix of "alice2": a range read by prefix would leak alice2's trades
    repo.add(make_trade("c0", user_id="alice2"))
    changed(repo, "alice", "a1")
    repo.delete("alice", "a3", expected_version=None)

    found = sorted(repo.trades_of("alice"), key=lambda t: t.trade_id)

    assert [t.trade_id for t in found] == ["a0", "a1", "a2", "a4"]
    assert exact(found) == exact([repo.get("alice", t.trade_id) for t in found])
    assert found[1].version == 2
    assert list(repo.trades_of("nobody")) == []


def test_trades_for_stats_fold_exactly_like_the_whole_trades(repo: TradeRepository) -> None:
    # GIVEN trades that use every attribute the fold reads, and some it does not
    for i in range(6):
        closes = tuple(
            PartialClose(
                close_id=f"c{i}{n}",
                quantity=Decimal(5),
                price=Decimal("190.10") - Decimal(i),
                closed_at=minutes(60 * i + n + 1),
                fees=Decimal("0.35"),
                note="scaled out",
            )
            for n in range(i % 3)
        )
        repo.add(
            make_trade(
                f"a{i}",
                entry_at=minutes(60 * i),
                side=("long", "short")[i % 2],
                fees=Decimal("1.05"),
                stop_loss=Decimal("180") if i % 2 else None,
                multiplier=Decimal(100) if i == 5 else Decimal(1),
                setup="breakout" if i % 3 else None,
                tags=("gap", "earnings")[: i % 3],
                notes="x" * 2_000,
                partial_closes=closes,
            )
        )
    repo.add(make_trade("b0", user_id="bob"))

    # WHEN the stats read them
    lean = sorted(repo.trades_for_stats("alice"), key=lambda t: t.trade_id)
    whole = sorted(repo.trades_of("alice"), key=lambda t: t.trade_id)

    # THEN the same trades fold to exactly the same stats
    assert [t.trade_id for t in lean] == [f"a{i}" for i in range(6)]
    assert exact(fold(lean)) == exact(fold(whole))
    assert list(repo.trades_for_stats("nobody")) == []
    if isinstance(repo, DynamoDBTradeRepository):  # the projection really left the rest behind
        assert all(t.notes is None and t.version == 0 for t in lean)


def _more_than_a_page(repo: TradeRepository) -> tuple[int, int]:
    """(trades, note length) that span more than one of this store's pages, kept small.

    SQLite pages by rows (sqlite.PAGE); DynamoDB by 1 MB of items, and moto copies every
    table in each transaction, so there a few large trades are much faster than many small.
    """
    if isinstance(repo, DynamoDBTradeRepository):
        return 40, 30_000
    return sqlite.PAGE + 20, 10


@pytest.mark.parametrize("read", ["trades_of", "trades_for_stats"])
def test_trades_of_reads_every_page(repo: TradeRepository, read: str) -> None:
    count, note_length = _more_than_a_page(repo)
    for i in range(count):
        repo.add(make_trade(f"a{i:04d}", notes=f"{i:04d}".ljust(note_length, "."), entry_at=minutes(i)))
    repo.add(make_trade("b0000", user_id="bob"))
    if isinstance(repo, DynamoDBTradeRepository):  # the premise: one query does not return them all
        page = repo.trades.query(KeyConditionExpression=Key("userId").eq("alice"), ConsistentRead=True)
        assert "LastEvaluatedKey" in page

    found = list(getattr(repo, read)("alice"))

    assert len(found) == count
    assert sorted(t.trade_id for t in found) == [f"a{i:04d}" for i in range(count)]
    if read == "trades_of":
        assert all(t.notes == f"{t.trade_id[1:]}".ljust(note_length, ".") for t in found)


def all_pages(repo: TradeRepository, limit: int) -> list[str]:
    """Every user, read `limit` at a time from the checkpoint of the previous page."""
    seen: list[str] = []
    after = None
    while page := repo.users(after=after, limit=limit):
        assert len(page) <= limit
        seen.extend(page)
        after = page[-1]
        assert len(seen) < 100, "users() does not move past its checkpoint"
    return seen


def test_users_pages_through_every_writer_once(repo: TradeRepository) -> None:
    # GIVEN users written in no particular order, one of whom deleted all their trades
    writers = ["mallory", "alice", "zoe", "bob", "carol", "alice2", "dave", "Erin", "user-9"]
    for user in writers:
        repo.add(make_trade("t1", user_id=user))
    repo.add(make_trade("t2", user_id="bob"))
    repo.delete("carol", "t1", expected_version=None)
    assert repo.users(after=None, limit=100)  # the premise of the loop below

    # WHEN they are read in pages of several sizes
    orders = {limit: all_pages(repo, limit) for limit in (1, 2, 3, 100)}

    # THEN each page size lists every writer exactly once, in one stable order
    first = orders[1]
    assert sorted(first) == sorted(writers)
    assert all(order == first for order in orders.values())
    assert repo.users(after=first[-1], limit=5) == []


def test_users_is_empty_before_any_write(repo: TradeRepository) -> None:
    assert repo.users(after=None, limit=10) == []
