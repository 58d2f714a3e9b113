"""What the services share: the clock, new ids, the bound on optimistic retries, and paging
through every user."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from ulid import ULID

from ..adapters.ports import TradeRepository

# How often a read-modify-conditional-write is tried before the caller hears "busy, retry".
WRITE_ATTEMPTS = 8


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """A ULID: unique, and sortable by creation time."""
    return str(ULID())


def every_user(trades: TradeRepository, page: int = 100) -> Iterator[str]:
    """Each user who wrote a trade, once, a page at a time."""
    after = None
    while users := trades.users(after=after, limit=page):
        yield from users
        after = users[-1]
