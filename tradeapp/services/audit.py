"""Data tools for the runbook: a lossless export of a user's trades, and an integrity check
that reports malformed trade items without changing anything."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ..adapters.items import NUMBER_FIELDS, TEXT_FIELDS, dump_item, from_item
from ..adapters.ports import TradeRepository
from ..domain.errors import InvalidTradeError
from ..domain.trade import validate
from .common import every_user

REQUIRED = (
    "userId",
    "tradeId",
    "symbol",
    "side",
    "quantity",
    "entryPrice",
    "entryAt",
    "createdAt",
    "updatedAt",
    "version",
)
KNOWN = {
    *REQUIRED,
    *NUMBER_FIELDS,
    *TEXT_FIELDS,
    "entryKey",
    "status",
    "tags",
    "partialCloses",
    "images",
    "correlationId",
}
CLOSE_KNOWN = {"closeId", "quantity", "price", "closedAt", "fees", "note"}


def problems_of(item: Mapping[str, Any]) -> list[str]:
    """Everything wrong with one stored trade item, in words an operator can act on."""
    found = [f"missing field {name}" for name in REQUIRED if name not in item]
    found += [f"unknown attribute {name}" for name in sorted(set(item) - KNOWN)]
    for index, close in enumerate(item.get("partialCloses") or []):
        if not isinstance(close, Mapping):
            found.append(f"partialCloses[{index}] is not a map")
            continue
        found += [f"partialCloses[{index}]: unknown attribute {k}" for k in sorted(set(close) - CLOSE_KNOWN)]
    for name in NUMBER_FIELDS:
        if name in item and not _decodes(item[name]):
            found.append(f"{name} is not a number: {str(item[name])[:40]!r}")
    if found:
        return found
    try:
        trade = from_item(dict(item))
    except (KeyError, TypeError, ValueError, InvalidOperation) as error:
        return [f"cannot be read: {error!r}"[:200]]
    try:
        validate(trade)
    except InvalidTradeError as error:
        return [f"{field}: {message}" for field, messages in error.errors.items() for message in messages]
    return []


def _decodes(value: Any) -> bool:
    try:
        return Decimal(str(value)).is_finite()
    except (InvalidOperation, ValueError):
        return False


class TradeAudit:
    def __init__(self, trades: TradeRepository) -> None:
        self.trades = trades

    def export(self, user_id: str) -> Iterator[str]:
        """One JSON line per stored trade item, decimals as exact strings."""
        for item in self.trades.items_of(user_id):
            yield dump_item(dict(item))

    def check(self, user_id: str | None = None) -> Iterator[dict[str, Any]]:
        """A report per malformed item, for one user or (page by page) for every user."""
        users = [user_id] if user_id else every_user(self.trades)
        for user in users:
            for item in self.trades.items_of(user):
                found = problems_of(item)
                if found:
                    yield {"userId": user, "tradeId": item.get("tradeId"), "problems": found}
