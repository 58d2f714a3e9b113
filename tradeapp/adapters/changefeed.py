"""The embedded stand-in for the DynamoDB stream on `Trades`.

ChangeFeed wraps any TradeRepository. After each committed write it builds the record
the stream would carry (NEW_AND_OLD_IMAGES, typed attribute values, a sequence number)
and hands it to a listener: locally, the same stats code as update_stats. It keeps the
last 24 hours of records so that dead-letter replay can read them back by sequence
number, as it does from DynamoDB Streams.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..domain.trade import Trade
from .items import to_item
from .ports import IdempotencyRecord, Position, TradeQuery, TradeRepository

log = logging.getLogger("tradeapp.changefeed")
LOCAL_STREAM_ARN = "arn:local:dynamodb:local:000000000000:table/Trades/stream/local"
LOCAL_SHARD = "shardId-local"
RETENTION_SECONDS = 24 * 3600
Listener = Callable[[list[dict[str, Any]]], None]


def attribute_value(value: Any) -> dict[str, Any]:
    """A Python value as a DynamoDB stream attribute value ({"S": ...}, {"N": ...}, ...)."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if value is None:
        return {"NULL": True}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | Decimal):
        return {"N": str(value)}
    if isinstance(value, list | tuple):
        return {"L": [attribute_value(v) for v in value]}
    if isinstance(value, dict):
        return {"M": {k: attribute_value(v) for k, v in value.items()}}
    raise TypeError(f"no stream type for {type(value).__name__}")


def image(trade: Trade) -> dict[str, Any]:
    return {k: attribute_value(v) for k, v in to_item(trade).items()}


class ChangeFeed:
    def __init__(self, inner: TradeRepository, listener: Listener | None = None) -> None:
        self.inner = inner
        self.listener = listener
        self._log: deque[tuple[float, dict[str, Any]]] = deque()
        self._lock = threading.Lock()
        # Sequence numbers grow across restarts (they start from the clock) and within one.
        self._sequence = itertools.count(time.time_ns() // 1000)

    def add(self, trade: Trade, idempotency: IdempotencyRecord | None = None) -> None:
        self.inner.add(trade, idempotency)
        self._emit("INSERT", trade.user_id, trade.trade_id, None, trade)

    def replace(self, trade: Trade, expected_version: int | None) -> None:
        # The old image is read just before the write; only its keys matter to stats.
        old = self._current(trade.user_id, trade.trade_id)
        self.inner.replace(trade, expected_version)
        self._emit("MODIFY", trade.user_id, trade.trade_id, old, trade)

    def delete(self, user_id: str, trade_id: str, expected_version: int | None) -> None:
        old = self._current(user_id, trade_id)
        self.inner.delete(user_id, trade_id, expected_version)
        self._emit("REMOVE", user_id, trade_id, old, None)

    def get(self, user_id: str, trade_id: str) -> Trade:
        return self.inner.get(user_id, trade_id)

    def list(self, user_id: str, query: TradeQuery, after: Position | None, limit: int) -> list[Trade]:
        return self.inner.list(user_id, query, after, limit)

    def find_idempotency(self, user_id: str, key: str, now: datetime) -> IdempotencyRecord | None:
        return self.inner.find_idempotency(user_id, key, now)

    def revision(self, user_id: str) -> int:
        return self.inner.revision(user_id)

    def trades_of(self, user_id: str) -> Iterable[Trade]:
        return self.inner.trades_of(user_id)

    def trades_for_stats(self, user_id: str) -> Iterable[Trade]:
        return self.inner.trades_for_stats(user_id)

    def items_of(self, user_id: str) -> Iterable[dict[str, Any]]:
        return self.inner.items_of(user_id)

    def users(self, after: str | None, limit: int) -> list[str]:
        return self.inner.users(after, limit)

    def records(self, stream_arn: str, shard_id: str, start: str, end: str) -> list[dict[str, Any]] | None:
        """The kept records with start <= sequence <= end; None if some may have aged out."""
        if stream_arn != LOCAL_STREAM_ARN:
            return None
        with self._lock:
            self._trim()
            kept = list(self._log)
        if not kept or int(kept[0][1]["dynamodb"]["SequenceNumber"]) > int(start):
            return None  # the start is older than what is kept (or this process restarted)
        return [r for _, r in kept if int(start) <= int(r["dynamodb"]["SequenceNumber"]) <= int(end)]

    def _current(self, user_id: str, trade_id: str) -> Trade | None:
        try:
            return self.inner.get(user_id, trade_id)
        except Exception:
            return None  # the write itself will say what is wrong

    def _emit(self, name: str, user_id: str, trade_id: str, old: Trade | None, new: Trade | None) -> None:
        body: dict[str, Any] = {
            "ApproximateCreationDateTime": int(time.time()),
            "Keys": {"userId": {"S": user_id}, "tradeId": {"S": trade_id}},
            "SequenceNumber": "",  # numbered under the lock, below, so the log stays in order
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
        if new is not None:
            body["NewImage"] = image(new)
        if old is not None:
            body["OldImage"] = image(old)
        record = {
            "eventID": "",
            "eventName": name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "local",
            "dynamodb": body,
            "eventSourceARN": LOCAL_STREAM_ARN,
        }
        with self._lock:
            body["SequenceNumber"] = record["eventID"] = str(next(self._sequence))
            self._log.append((time.monotonic(), record))
            self._trim()
        if self.listener is None:
            return
        try:
            self.listener([record])
        except Exception:
            # The write has committed: failing the request now would invite a duplicate retry.
            # Stats are rebuildable (the schedule, on demand), so log and carry on.
            log.exception("change listener failed", extra={"sequence": body["SequenceNumber"]})

    def _trim(self) -> None:
        horizon = time.monotonic() - RETENTION_SECONDS
        while self._log and self._log[0][0] < horizon:
            self._log.popleft()
