"""One contract for the revocation stores: memory, SQLite and DynamoDB (moto)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tradeapp.adapters.dynamodb import (
    DynamoDBRevocationStore,
    DynamoDBStatsRepository,
    DynamoDBTradeRepository,
)
from tradeapp.adapters.memory import MemoryRevocationStore
from tradeapp.adapters.ports import RevocationStore, StatsRecord
from tradeapp.adapters.sqlite import Database, SQLiteRevocationStore
from tradeapp.domain.trade import Trade


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
def revocations(request: pytest.FixtureRequest) -> RevocationStore:
    if request.param == "memory":
        return MemoryRevocationStore()
    if request.param == "sqlite":
        return SQLiteRevocationStore(Database(request.getfixturevalue("tmp_path") / "db.sqlite3"))
    resource: Any = request.getfixturevalue("dynamodb")
    return DynamoDBRevocationStore(resource.Table("TradeStats"))


def test_a_user_never_revoked_has_no_time(revocations):
    assert revocations.valid_after("alice") is None


def test_a_revocation_is_kept_per_user_and_never_moves_back(revocations):
    revocations.revoke("alice", 1_795_000_000)
    revocations.revoke("alice", 1_794_000_000)  # an older, slower request must not undo it

    assert revocations.valid_after("alice") == 1_795_000_000
    assert revocations.valid_after("bob") is None

    revocations.revoke("alice", 1_796_000_000)
    assert revocations.valid_after("alice") == 1_796_000_000


def test_on_dynamodb_it_shares_the_stats_item_without_disturbing_it(dynamodb):
    # GIVEN alice's stats item, carrying her trade revision and her stats
    stats = dynamodb.Table("TradeStats")
    trades = DynamoDBTradeRepository(dynamodb.Table("Trades"), dynamodb.Table("TradeIdempotency"), stats)
    stored = DynamoDBStatsRepository(stats)
    at = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    trades.add(
        Trade("alice", "01JNX0000000000000000000T1", "AAPL", "long", Decimal(1), Decimal(1), at, at, at)
    )
    record = StatsRecord("alice", 1, at, 1, {"netPnl": "0.00"})
    assert stored.put(record)

    # WHEN her tokens are revoked
    DynamoDBRevocationStore(stats).revoke("alice", 1_795_000_000)

    # THEN her revision, her stats and her place in the user list are as they were
    assert trades.revision("alice") == 1
    assert stored.get("alice") == record
    assert trades.users(after=None, limit=10) == ["alice"]
