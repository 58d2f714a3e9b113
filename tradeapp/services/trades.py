"""Trade use cases: create (idempotently), read, list, patch, add a close, delete."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ..adapters.ports import (
    IdempotencyKeyTakenError,
    IdempotencyRecord,
    Position,
    TradeQuery,
    TradeRepository,
)
from ..domain.errors import (
    ConflictError,
    IdempotencyMismatchError,
    InvalidTradeError,
    PreconditionFailedError,
    TradeNotFoundError,
)
from ..domain.trade import PartialClose, Trade, normalized, validate
from .common import WRITE_ATTEMPTS, new_id, utcnow
from .cursors import CursorCodec
from .images import log_summary

IDEMPOTENCY_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class Page:
    items: list[Trade]
    next_cursor: str | None


class TradeService:
    def __init__(
        self,
        repo: TradeRepository,
        cursors: CursorCodec,
        clock: Callable[[], datetime] = utcnow,
        ids: Callable[[], str] = new_id,
        after_delete: Callable[[Trade], None] | None = None,
    ) -> None:
        self.repo = repo
        self.cursors = cursors
        self.clock = clock
        self.ids = ids
        # Deleting a trade deletes its images: the image service plugs in here.
        self.after_delete = after_delete or (lambda trade: log_summary("trade.delete", trade))

    def create(self, user_id: str, data: Mapping[str, Any], idempotency_key: str | None = None) -> Trade:
        now = self.clock()
        fields = dict(data)
        closes = fields.pop("partial_closes", [])
        trade = Trade(
            user_id=user_id,
            trade_id=self.ids(),
            created_at=now,
            updated_at=now,
            version=1,
            partial_closes=self._closes(closes, ()),
            **_as_trade_fields(fields),
        )
        trade = validate(normalized(trade))
        if idempotency_key is None:
            self.repo.add(trade)
            log_summary("trade.create", trade)
            return trade
        request_hash = _fingerprint(data)
        held = self.repo.find_idempotency(user_id, idempotency_key, now)
        if held is None:
            record = IdempotencyRecord(
                user_id, idempotency_key, request_hash, trade.trade_id, now + IDEMPOTENCY_TTL
            )
            try:
                self.repo.add(trade, record)
                log_summary("trade.create", trade)
                return trade
            except IdempotencyKeyTakenError as taken:
                held = taken.record
        if held.request_hash != request_hash:
            raise IdempotencyMismatchError()
        try:
            return self.repo.get(user_id, held.trade_id)
        except TradeNotFoundError:
            raise ConflictError(
                "the trade created with this Idempotency-Key has since been deleted"
            ) from None

    def get(self, user_id: str, trade_id: str) -> Trade:
        return self.repo.get(user_id, trade_id)

    def list(self, user_id: str, query: TradeQuery, limit: int, cursor: str | None = None) -> Page:
        after = self.cursors.decode(cursor, user_id, query) if cursor is not None else None
        found = self.repo.list(user_id, query, after, limit + 1)
        items = found[:limit]
        next_cursor = None
        if len(found) > limit:
            last = items[-1]
            next_cursor = self.cursors.encode(user_id, query, Position(last.entry_at, last.trade_id))
        return Page(items, next_cursor)

    def update(self, user_id: str, trade_id: str, changes: Mapping[str, Any], if_match: int | None) -> Trade:
        """Apply a partial update; `if_match` None means the caller sent `If-Match: *`."""
        for _ in range(WRITE_ATTEMPTS):
            current = self.repo.get(user_id, trade_id)
            if if_match is not None and current.version != if_match:
                raise PreconditionFailedError()
            fields = dict(changes)
            if "partial_closes" in fields:
                fields["partial_closes"] = self._closes(fields.pop("partial_closes"), current.partial_closes)
            changed = replace(
                current,
                version=current.version + 1,
                updated_at=self.clock(),
                **_as_trade_fields(fields),
            )
            changed = validate(normalized(changed))
            try:
                self.repo.replace(changed, expected_version=current.version)
            except PreconditionFailedError:
                if if_match is not None:
                    raise
                continue  # `*` accepts any version: apply the change to the newer one
            log_summary("trade.update", changed)
            return changed
        raise ConflictError("the trade is being changed by other requests; retry")

    def add_close(self, user_id: str, trade_id: str, close: Mapping[str, Any]) -> Trade:
        """Append one close with optimistic retries: two closes can never overfill a trade."""
        new_close = self._closes([close], ())[0]
        for _ in range(WRITE_ATTEMPTS):
            current = self.repo.get(user_id, trade_id)
            changed = validate(
                normalized(
                    replace(
                        current,
                        partial_closes=(*current.partial_closes, new_close),
                        version=current.version + 1,
                        updated_at=self.clock(),
                    )
                )
            )
            try:
                self.repo.replace(changed, expected_version=current.version)
            except PreconditionFailedError:
                continue
            log_summary("trade.close", changed)
            return changed
        raise ConflictError("the trade is being changed by other requests; retry")

    def delete(self, user_id: str, trade_id: str, if_match: int | None) -> None:
        """Delete the trade as read (so that exactly its images go with it)."""
        for _ in range(WRITE_ATTEMPTS):
            trade = self.repo.get(user_id, trade_id)
            if if_match is not None and trade.version != if_match:
                raise PreconditionFailedError()
            try:
                self.repo.delete(user_id, trade_id, trade.version)
                break
            except PreconditionFailedError:
                if if_match is not None:
                    raise
        else:
            raise ConflictError("the trade is being changed by other requests; retry")
        self.after_delete(trade)

    def _closes(
        self, items: list[Mapping[str, Any]], existing: tuple[PartialClose, ...]
    ) -> tuple[PartialClose, ...]:
        known = {c.close_id for c in existing}
        closes = []
        for index, item in enumerate(items):
            fields = dict(item)
            close_id = fields.pop("close_id", None)
            if close_id is not None and close_id not in known:
                raise InvalidTradeError({"partialCloses": [f"close {index}: unknown closeId {close_id}"]})
            closes.append(PartialClose(close_id=close_id or self.ids(), **fields))
        ids = [c.close_id for c in closes]
        if len(set(ids)) != len(ids):
            raise InvalidTradeError({"partialCloses": ["a closeId appears twice"]})
        return tuple(closes)


def _as_trade_fields(fields: dict[str, Any]) -> dict[str, Any]:
    if "tags" in fields:
        fields["tags"] = tuple(fields["tags"])
    return fields


def _fingerprint(data: Mapping[str, Any]) -> str:
    """A hash of the request's meaning, so that `100` and `"100.0"` count as the same body."""

    def plain(value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(value.normalize()) if value.is_finite() else str(value)
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat()
        if isinstance(value, Mapping):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    text = json.dumps(plain(data), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
