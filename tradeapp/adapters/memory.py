"""In-memory adapters: the fakes that service tests use, held to the same contract suite."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from ..domain.errors import ConflictError, PreconditionFailedError, TradeNotFoundError
from ..domain.trade import Trade
from .items import entry_key, to_item
from .ports import (
    DeadLetter,
    IdempotencyKeyTakenError,
    IdempotencyRecord,
    Position,
    StatsRecord,
    TradeQuery,
)


class MemoryTradeRepository:
    def __init__(self) -> None:
        self._trades: dict[tuple[str, str], Trade] = {}
        self._keys: dict[tuple[str, str], IdempotencyRecord] = {}
        self._revisions: dict[str, int] = {}
        self._lock = threading.Lock()

    def _bump(self, user_id: str) -> None:
        self._revisions[user_id] = self._revisions.get(user_id, 0) + 1

    def add(self, trade: Trade, idempotency: IdempotencyRecord | None = None) -> None:
        with self._lock:
            if idempotency is not None:
                held = self._keys.get((idempotency.user_id, idempotency.key))
                if held is not None and held.expires_at > trade.created_at:
                    raise IdempotencyKeyTakenError(held)
            if (trade.user_id, trade.trade_id) in self._trades:
                raise ConflictError(f"trade {trade.trade_id} already exists")
            self._trades[(trade.user_id, trade.trade_id)] = trade
            self._bump(trade.user_id)
            if idempotency is not None:
                self._keys[(idempotency.user_id, idempotency.key)] = idempotency

    def get(self, user_id: str, trade_id: str) -> Trade:
        try:
            return self._trades[(user_id, trade_id)]
        except KeyError:
            raise TradeNotFoundError() from None

    def replace(self, trade: Trade, expected_version: int | None) -> None:
        with self._lock:
            self._check(trade.user_id, trade.trade_id, expected_version)
            self._trades[(trade.user_id, trade.trade_id)] = trade
            self._bump(trade.user_id)

    def delete(self, user_id: str, trade_id: str, expected_version: int | None) -> None:
        with self._lock:
            self._check(user_id, trade_id, expected_version)
            del self._trades[(user_id, trade_id)]
            self._bump(user_id)

    def _check(self, user_id: str, trade_id: str, expected_version: int | None) -> None:
        current = self.get(user_id, trade_id)
        if expected_version is not None and current.version != expected_version:
            raise PreconditionFailedError()

    def list(self, user_id: str, query: TradeQuery, after: Position | None, limit: int) -> list[Trade]:
        start = entry_key(after.entry_at, after.trade_id) if after else None
        mine = sorted(
            (t for (owner, _), t in self._trades.items() if owner == user_id),
            key=lambda t: entry_key(t.entry_at, t.trade_id),
            reverse=True,
        )
        found = []
        for trade in mine:
            if start is not None and entry_key(trade.entry_at, trade.trade_id) >= start:
                continue
            if matches(trade, query):
                found.append(trade)
                if len(found) == limit:
                    break
        return found

    def find_idempotency(self, user_id: str, key: str, now: datetime) -> IdempotencyRecord | None:
        record = self._keys.get((user_id, key))
        return record if record is not None and record.expires_at > now else None

    def revision(self, user_id: str) -> int:
        return self._revisions.get(user_id, 0)

    def trades_of(self, user_id: str) -> Iterator[Trade]:
        with self._lock:
            mine = [t for (owner, _), t in self._trades.items() if owner == user_id]
        yield from mine

    def trades_for_stats(self, user_id: str) -> Iterator[Trade]:
        return self.trades_of(user_id)  # already in memory: nothing to save

    def items_of(self, user_id: str) -> Iterator[dict[str, Any]]:
        return map(to_item, self.trades_of(user_id))

    def users(self, after: str | None, limit: int) -> list[str]:
        with self._lock:
            ordered = sorted(self._revisions)
        return [u for u in ordered if after is None or u > after][:limit]


class MemoryStatsRepository:
    def __init__(self) -> None:
        self._stats: dict[str, StatsRecord] = {}
        self._lock = threading.Lock()

    def get(self, user_id: str) -> StatsRecord | None:
        return self._stats.get(user_id)

    def put(self, record: StatsRecord) -> bool:
        with self._lock:
            stored = self._stats.get(record.user_id)
            if stored is not None and stored.revision > record.revision:
                return False
            self._stats[record.user_id] = record
            return True


def matches(trade: Trade, query: TradeQuery) -> bool:
    """The reference meaning of a TradeQuery; the SQL and DynamoDB filters mirror it."""
    return (
        (query.status is None or trade.figures.status == query.status)
        and (query.symbol is None or trade.symbol == query.symbol)
        and (query.tag is None or query.tag in trade.tags)
        and (query.from_ is None or trade.entry_at >= query.from_)
        and (query.to is None or trade.entry_at <= query.to)
    )


class MemoryDeadLetterQueue:
    """Like SQS: a received message is hidden for `visibility_timeout` seconds."""

    def __init__(self, visibility_timeout: float = 300) -> None:
        self._messages: dict[str, dict[str, Any]] = {}
        self._hidden_until: dict[str, float] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.visibility_timeout = visibility_timeout

    def send(self, body: dict[str, Any]) -> None:
        with self._lock:
            self._messages[str(next(self._ids))] = body

    def receive(self, limit: int) -> list[DeadLetter]:
        now = time.monotonic()
        with self._lock:
            visible = [k for k in self._messages if self._hidden_until.get(k, 0) <= now][:limit]
            for key in visible:
                self._hidden_until[key] = now + self.visibility_timeout
            return [DeadLetter(k, k, self._messages[k]) for k in visible]

    def delete(self, receipt: str) -> None:
        with self._lock:
            self._messages.pop(receipt, None)
            self._hidden_until.pop(receipt, None)

    def release(self, receipt: str) -> None:
        with self._lock:
            self._hidden_until.pop(receipt, None)


class MemoryRevocationStore:
    def __init__(self) -> None:
        self._after: dict[str, int] = {}
        self._lock = threading.Lock()

    def valid_after(self, user_id: str) -> int | None:
        return self._after.get(user_id)

    def revoke(self, user_id: str, at: int) -> None:
        with self._lock:
            self._after[user_id] = max(at, self._after.get(user_id, at))
