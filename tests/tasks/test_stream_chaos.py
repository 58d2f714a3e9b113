"""Stream chaos: many trade events, transient rebuild failures, duplicate records and one poison
record, processed the way Lambda processes a DynamoDB stream with ReportBatchItemFailures,
MaximumRetryAttempts 5 and an on-failure destination (StatsDLQ).

GIVEN the events, WHEN every batch has run and StatsDLQ has been replayed, THEN each user's
stats equal one fold of their final trades, and before the replay StatsDLQ held exactly the
poison batch.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

import tasks.stats
from tradeapp.domain.stats import fold
from tradeapp.services.stats import dead_letter_for, plain

BATCH = 100
MAX_RETRIES = 5  # what deploy/stream_mapping.py sets
AT = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def write_events(app: Any, count: int, users: int, rng: random.Random) -> None:
    """`count` trade writes (creates, closes, patches, deletes) spread over `users` users."""
    open_trades: dict[str, list[str]] = {}
    for n in range(count):
        user = f"user-{rng.randrange(users):03d}"
        mine = open_trades.setdefault(user, [])
        roll = rng.random()
        if not mine or roll < 0.4:
            trade = app.trades.create(
                user,
                {
                    "symbol": rng.choice(["AAPL", "MSFT", "ES"]),
                    "side": rng.choice(["long", "short"]),
                    "quantity": Decimal(10),
                    "entry_price": Decimal(100),
                    "entry_at": AT + timedelta(minutes=n),
                    "fees": Decimal("1.00"),
                    "tags": [rng.choice(["a", "b"])],
                },
            )
            mine.append(trade.trade_id)
        elif roll < 0.75:
            trade_id = rng.choice(mine)
            app.trades.add_close(
                user,
                trade_id,
                {
                    "quantity": Decimal(5),
                    "price": Decimal(100 + rng.randint(-5, 5)),
                    "closed_at": AT + timedelta(minutes=n, seconds=30),
                    "fees": Decimal("0.50"),
                },
            )
            if app.trades.get(user, trade_id).figures.status == "closed":
                mine.remove(trade_id)
        elif roll < 0.9:
            app.trades.update(user, rng.choice(mine), {"notes": f"n{n}"}, if_match=None)
        else:
            trade_id = rng.choice(mine)
            app.trades.delete(user, trade_id, if_match=None)
            mine.remove(trade_id)


def lambda_consumes(
    records: list[dict[str, Any]],
    send_to_dlq: Callable[[list[dict[str, Any]]], None],
    state: dict[str, int],
) -> int:
    """Lambda's loop over a shard: batches in order; a batch whose items fail is retried from
    the earliest failed record, at most MAX_RETRIES times, then its rest goes to the DLQ."""
    invocations = 0
    for start in range(0, len(records), BATCH):
        state["batch"] = start
        batch = records[start : start + BATCH]
        for attempt in range(MAX_RETRIES + 1):
            invocations += 1
            result = tasks.stats.update_stats({"Records": batch}, None)
            failed = [f["itemIdentifier"] for f in result["batchItemFailures"]]
            if not failed:
                break
            first = min(int(s) for s in failed)
            batch = [r for r in batch if int(r["dynamodb"]["SequenceNumber"]) >= first]
            if attempt == MAX_RETRIES:
                send_to_dlq(batch)
    return invocations


class ShardReader:
    """The stream as Lambda saw it, read back by sequence number (what DynamoDB Streams keeps)."""

    def __init__(self, shard: list[dict[str, Any]]) -> None:
        self.shard = shard

    def records(self, stream_arn: str, shard_id: str, start: str, end: str) -> list[dict[str, Any]] | None:
        return [r for r in self.shard if int(start) <= int(r["dynamodb"]["SequenceNumber"]) <= int(end)]


@pytest.mark.parametrize(
    "events",
    [pytest.param(1_000, id="1k-events"), pytest.param(10_000, id="10k-events", marks=pytest.mark.deep)],
)
def test_stats_survive_failures_duplicates_and_a_poison_record(use_container, monkeypatch, events):
    rng = random.Random(20261129)
    app = use_container("memory")
    feed = app.trades.repo
    stream: list[dict[str, Any]] = []
    feed.listener = stream.extend  # record the stream; Lambda consumes it below

    # GIVEN the events of many users
    write_events(app, events, users=max(10, events // 50), rng=rng)
    changes = list(stream)
    # AND 10% of them delivered twice (at-least-once), later in the shard
    for record in rng.sample(changes, len(changes) // 10):
        changes.insert(rng.randrange(changes.index(record), len(changes)) + 1, record)
    # AND one record that can never be processed (it names no user), in the middle
    arn = changes[0]["eventSourceARN"]
    poison = {"eventName": "MODIFY", "eventSourceARN": arn, "dynamodb": {"Keys": {}}}
    changes.insert(len(changes) // 2, poison)
    # The shard: every record with its own, increasing sequence number
    shard = [{**r, "dynamodb": {**r["dynamodb"], "SequenceNumber": str(n)}} for n, r in enumerate(changes, 1)]
    poison = shard[len(changes) // 2]
    # AND rebuilds that fail transiently: 20% of first and second attempts per user and batch
    real_rebuild = app.stats.rebuild
    state = {"batch": 0}
    attempts: dict[tuple[str, int], int] = {}

    def flaky(user_id: str) -> Any:
        key = (user_id, state["batch"])
        attempts[key] = attempts.get(key, 0) + 1
        if attempts[key] <= 2 and rng.random() < 0.2:
            raise ConnectionError("transient")
        return real_rebuild(user_id)

    monkeypatch.setattr(app.stats, "rebuild", flaky)
    dead: list[list[dict[str, Any]]] = []

    def to_dlq(batch: list[dict[str, Any]]) -> None:
        dead.append(batch)
        app.dead_letters().send(dead_letter_for(batch))

    # WHEN Lambda consumes the stream
    invocations = lambda_consumes(shard, to_dlq, state)

    # THEN StatsDLQ holds exactly the poison batch: from the poison record to its batch's end
    assert invocations > len(shard) // BATCH  # the transient failures were retried
    assert len(dead) == 1
    assert dead[0][0] is poison
    [letter] = app.dead_letters().receive(10)
    app.dead_letters().release(letter.receipt)
    info = letter.body["DDBStreamBatchInfo"]
    assert info["startSequenceNumber"] == poison["dynamodb"]["SequenceNumber"]
    assert int(info["endSequenceNumber"]) == int(dead[0][-1]["dynamodb"]["SequenceNumber"])

    # WHEN the operator replays it (the cause is the poison record itself, which names no user)
    monkeypatch.setattr(app.stats, "rebuild", real_rebuild)
    reports = app.stats.replay(app.dead_letters(), ShardReader(shard))

    # THEN the message is gone and every user's stats equal one fold of their final trades
    assert [r["action"] for r in reports] == ["rebuilt, deleted"]
    assert app.dead_letters().receive(10) == []
    users = list(app.stats.trades.users(after=None, limit=100_000))
    assert len(users) >= 10
    for user in users:
        stored = app.stats.stats.get(user)
        assert stored is not None, user
        assert stored.revision == app.stats.trades.revision(user), user
        assert stored.stats == plain(fold(app.stats.trades.trades_of(user))), user
