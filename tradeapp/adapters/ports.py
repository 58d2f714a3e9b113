"""Ports: what the services need from storage, as Protocols that every adapter satisfies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

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
