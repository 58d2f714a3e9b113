"""The stored shape of a trade: one camelCase item, as in DynamoDB and in the stream records.

SQLite stores the same item as JSON, so every backend (and the change records built from
it) agrees on one shape.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from .. import logs
from ..domain.images import ImageRef
from ..domain.numbers import ONE, ZERO
from ..domain.trade import PartialClose, Trade, restored

NUMBER_FIELDS = {
    "quantity": "quantity",
    "entryPrice": "entry_price",
    "fees": "fees",
    "stopLoss": "stop_loss",
    "takeProfit": "take_profit",
    "multiplier": "multiplier",
}
TEXT_FIELDS = {
    "symbol": "symbol",
    "side": "side",
    "currency": "currency",
    "assetClass": "asset_class",
    "setup": "setup",
    "notes": "notes",
}


def dump_item(item: dict[str, Any]) -> str:
    """An item as JSON, decimals as exact strings (the SQLite column, the export's lines)."""
    return json.dumps(item, default=_decimal_text, separators=(",", ":"))


def _decimal_text(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__}")


def format_time(moment: datetime) -> str:
    """UTC, whole seconds unless there is a fraction: '2026-03-02T14:30:00Z'."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    # By hand: a page of trades formats hundreds of these; strftime and f-strings with format
    # specs each cost about twice what %-formatting does.
    m = moment
    text = "%04d-%02d-%02dT%02d:%02d:%02d" % (m.year, m.month, m.day, m.hour, m.minute, m.second)  # noqa: UP031
    return f"{text}.{m.microsecond:06d}Z" if m.microsecond else text + "Z"


def parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)  # reads the Z since Python 3.11
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def entry_key(entry_at: datetime, trade_id: str) -> str:
    """A fixed-width sort key, so that string order is time order in every store."""
    return entry_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") + "#" + trade_id


def to_item(trade: Trade) -> dict[str, Any]:
    item: dict[str, Any] = {
        "userId": trade.user_id,
        "tradeId": trade.trade_id,
        "entryAt": format_time(trade.entry_at),
        "entryKey": entry_key(trade.entry_at, trade.trade_id),
        "status": trade.figures.status,
        "tags": list(trade.tags),
        "partialCloses": [_close_item(c) for c in trade.partial_closes],
        "images": [_image_item(i) for i in trade.images],
        "createdAt": format_time(trade.created_at),
        "updatedAt": format_time(trade.updated_at),
        "version": trade.version,
    }
    correlation = logs.bound("correlationId")
    if correlation:  # so that the stream handler's and rebuilds' logs can name the request
        item["correlationId"] = correlation
    for key, attr in {**NUMBER_FIELDS, **TEXT_FIELDS}.items():
        value = getattr(trade, attr)
        if value is not None:  # absent rather than null: DynamoDB and the stream agree
            item[key] = value
    return item


def _close_item(close: PartialClose) -> dict[str, Any]:
    item = {
        "closeId": close.close_id,
        "quantity": close.quantity,
        "price": close.price,
        "closedAt": format_time(close.closed_at),
        "fees": close.fees,
    }
    if close.note is not None:
        item["note"] = close.note
    return item


def _image_item(ref: ImageRef) -> dict[str, Any]:
    return {
        "imageId": ref.image_id,
        "key": ref.key,
        "contentType": ref.content_type,
        "size": ref.size,
        "status": ref.status,
        "createdAt": format_time(ref.created_at),
    }


def from_item(item: dict[str, Any]) -> Trade:
    """Read an item whose numbers are Decimals (DynamoDB) or strings (JSON).

    Spelt out field by field: lists and stats rebuilds read thousands of items at a time.
    """
    get = item.get
    fields = _fold_fields(item)
    fields.update(
        created_at=parse_time(item["createdAt"]),
        updated_at=parse_time(item["updatedAt"]),
        version=int(item["version"]),
        take_profit=_optional_number(get("takeProfit")),
        currency=get("currency", "USD"),
        asset_class=get("assetClass", "stock"),
        notes=get("notes"),
        images=tuple(
            ImageRef(
                image_id=i["imageId"],
                key=i["key"],
                content_type=i["contentType"],
                size=int(i["size"]),
                status=i["status"],
                created_at=parse_time(i["createdAt"]),
            )
            for i in get("images", ())
        ),
    )
    return restored(Trade, fields)


# What the stats fold reads of a trade: rebuilds fetch only these (a ProjectionExpression on
# DynamoDB), and notes of up to 300 KB or image lists never travel for a rebuild.
FOLD_ATTRIBUTES = (
    "userId",
    "tradeId",
    "symbol",
    "side",
    "quantity",
    "entryPrice",
    "entryAt",
    "fees",
    "stopLoss",
    "multiplier",
    "setup",
    "tags",
    "partialCloses",
)


def from_fold_item(item: dict[str, Any]) -> Trade:
    """A Trade from an item holding at least FOLD_ATTRIBUTES, to be folded and nothing else:
    what the fold does not read keeps its default (its times are its entry time, version 0)."""
    fields = _fold_fields(item)
    fields.update(created_at=fields["entry_at"], updated_at=fields["entry_at"], version=0)
    return restored(Trade, fields)


def _fold_fields(item: dict[str, Any]) -> dict[str, Any]:
    """The Trade fields read from FOLD_ATTRIBUTES."""
    get = item.get
    return {
        "user_id": item["userId"],
        "trade_id": item["tradeId"],
        "symbol": item["symbol"],
        "side": item["side"],
        "quantity": _number(item["quantity"]),
        "entry_price": _number(item["entryPrice"]),
        "entry_at": parse_time(item["entryAt"]),
        "fees": _number(get("fees", ZERO)),
        "stop_loss": _optional_number(get("stopLoss")),
        "multiplier": _number(get("multiplier", ONE)),
        "setup": get("setup"),
        "tags": tuple(get("tags", ())),
        "partial_closes": _closes(get("partialCloses", ())),
    }


def _closes(items: Any) -> tuple[PartialClose, ...]:
    return tuple(
        restored(
            PartialClose,
            {
                "close_id": c["closeId"],
                "quantity": _number(c["quantity"]),
                "price": _number(c["price"]),
                "closed_at": parse_time(c["closedAt"]),
                "fees": _number(c.get("fees", ZERO)),
                "note": c.get("note"),
            },
        )
        for c in items
    )


def _number(value: Any) -> Decimal:
    """A stored number: a Decimal from DynamoDB, a string from JSON; str() for anything else."""
    if isinstance(value, Decimal):
        return value
    return Decimal(value if isinstance(value, str) else str(value))


def _optional_number(value: Any) -> Decimal | None:
    return None if value is None else _number(value)
