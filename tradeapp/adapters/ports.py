"""Ports: what the services need from storage, as Protocols that every adapter satisfies."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ..domain.errors import ConflictError
from ..domain.trade import Trade


@dataclass(frozen=True)
class TradeQuery:
    """Filters for listing one user's trades; from_/to bound entryAt, both inclusive."""

    status: str | None = None
    symbol: str | None = None
    tag: str | None = None
    from_: datetime | None = None
    to: datetime | None = None


@dataclass(frozen=True)
class Position:
    """Where a page ended: listing resumes strictly after (entry_at, trade_id), newest first."""

    entry_at: datetime
    trade_id: str


@dataclass(frozen=True)
class IdempotencyRecord:
    user_id: str
    key: str
    request_hash: str
    trade_id: str
    expires_at: datetime


@dataclass(frozen=True)
class StatsRecord:
    """One user's stats as stored: the fold's output in JSON form (decimals as strings),
    and the revision of the trade data it was computed from."""

    user_id: str
    revision: int
    computed_at: datetime
    trade_count: int
    stats: dict[str, Any]


class IdempotencyKeyTakenError(ConflictError):
    """The key was already used; `record` says for which request and trade."""

    def __init__(self, record: IdempotencyRecord) -> None:
        super().__init__("Idempotency-Key already used")
        self.record = record


class TradeRepository(Protocol):
    """One user's trades, keyed by (user_id, trade_id). Every write is conditional.

    >>> repo.add(trade)                                  # fails if trade_id exists
    >>> repo.replace(changed, expected_version=3)        # changed.version == 4
    >>> repo.list("user-1", TradeQuery(tag="breakout"), after=None, limit=51)
    """

    def add(self, trade: Trade, idempotency: IdempotencyRecord | None = None) -> None:
        """Insert a new trade and, atomically with it, its idempotency record.

        Raises ConflictError if the trade id exists, IdempotencyKeyTakenError if the key is
        held by an unexpired record.
        """
        ...

    def get(self, user_id: str, trade_id: str) -> Trade:
        """Raises TradeNotFoundError."""
        ...

    def replace(self, trade: Trade, expected_version: int | None) -> None:
        """Overwrite the stored trade if its version is still expected_version (None: any).

        Raises TradeNotFoundError, or PreconditionFailedError when the version moved on.
        """
        ...

    def delete(self, user_id: str, trade_id: str, expected_version: int | None) -> None:
        """Raises TradeNotFoundError or PreconditionFailedError, as replace does."""
        ...

    def list(self, user_id: str, query: TradeQuery, after: Position | None, limit: int) -> list[Trade]:
        """Up to `limit` matching trades, newest entryAt first (ties: higher trade_id first)."""
        ...

    def find_idempotency(self, user_id: str, key: str, now: datetime) -> IdempotencyRecord | None:
        """The unexpired record for this key, if any."""
        ...

    def revision(self, user_id: str) -> int:
        """The user's change counter, bumped in the same atomic write as every trade change
        (0 for a user who never wrote one). Trades read after it are at least this new."""
        ...

    def trades_of(self, user_id: str) -> Iterable[Trade]:
        """Every trade of the user, read consistently, a page at a time (memory stays bounded)."""
        ...

    def trades_for_stats(self, user_id: str) -> Iterable[Trade]:
        """Like trades_of, but each trade need only hold what the stats fold reads
        (items.FOLD_ATTRIBUTES); stores that can fetch less should."""
        ...

    def items_of(self, user_id: str) -> Iterable[dict[str, Any]]:
        """The user's stored items exactly as stored (for export and integrity checks)."""
        ...

    def users(self, after: str | None, limit: int) -> list[str]:
        """Up to `limit` users who ever wrote a trade, in the store's own stable order,
        starting after the user `after` (a checkpoint from the previous page)."""
        ...


class StatsRepository(Protocol):
    """Per-user stats; writes never replace stats computed from a newer revision.

    >>> stats.put(StatsRecord("user-1", 7, now, 12, {...}))   # True: stored
    >>> stats.put(StatsRecord("user-1", 6, now, 11, {...}))   # False: 7 is newer
    """

    def get(self, user_id: str) -> StatsRecord | None: ...

    def put(self, record: StatsRecord) -> bool:
        """Store unless a higher revision is stored; True when written."""
        ...


@dataclass(frozen=True)
class DeadLetter:
    """One message from StatsDLQ: `receipt` deletes it, `body` is the parsed JSON."""

    receipt: str
    message_id: str
    body: dict[str, Any]


class DeadLetterQueue(Protocol):
    """Where failed stream batches go (StatsDLQ): pointers to records, not the records.

    >>> for letter in dlq.receive(10): ...; dlq.delete(letter.receipt)
    """

    def send(self, body: dict[str, Any]) -> None: ...

    def receive(self, limit: int) -> list[DeadLetter]:
        """Up to `limit` messages, hidden from other readers for a while."""
        ...

    def delete(self, receipt: str) -> None: ...

    def release(self, receipt: str) -> None:
        """Make a received message visible again now (a dry run leaves the queue as it was)."""
        ...


class StreamReader(Protocol):
    """Reads records back from the trades' change stream by sequence number.

    >>> reader.records(arn, "shardId-0001", "1100", "1104")   # None once trimmed (24 h)
    """

    def records(
        self, stream_arn: str, shard_id: str, start: str, end: str
    ) -> list[dict[str, Any]] | None: ...


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    content_type: str | None
    last_modified: datetime


class ImageStore(Protocol):
    """Where screenshots live: S3 in production, a folder of the data dir locally.

    >>> form = store.upload_form("users/u/trades/t/i", "image/png", 5_242_880, expires_at)
    >>> form["url"], form["fields"]          # a browser POSTs the file with these fields
    >>> store.stat("users/u/trades/t/i")     # StoredObject, or None when absent
    """

    def upload_form(
        self, key: str, content_type: str, max_bytes: int, expires_at: datetime
    ) -> dict[str, Any]:
        """A form that lets a browser upload exactly this key, type and size, until expires_at."""
        ...

    def stat(self, key: str) -> StoredObject | None: ...

    def read_head(self, key: str, size: int) -> bytes:
        """The first `size` bytes of the object (for checking what it really is)."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; removing an absent one is not an error."""
        ...

    def download_url(self, key: str, expires_at: datetime) -> str: ...

    def objects(self, prefix: str) -> Iterable[StoredObject]:
        """Every object under prefix, page by page."""
        ...


class RevocationStore(Protocol):
    """Per-user "tokens valid after" times: access tokens issued at or before it are refused.

    >>> revocations.revoke("user-1", 1_795_000_000)
    >>> revocations.valid_after("user-1")    # 1795000000 (never moves back)
    """

    def valid_after(self, user_id: str) -> int | None: ...

    def revoke(self, user_id: str, at: int) -> None:
        """Refuse tokens issued at or before `at` (epoch seconds); an earlier `at` changes nothing."""
        ...
