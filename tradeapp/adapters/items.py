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
from ..domain.trade import PartialClose, Trade

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
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


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
    """Read an item whose numbers are Decimals (DynamoDB) or strings (JSON)."""
    fields: dict[str, Any] = {
        attr: Decimal(str(item[key])) for key, attr in NUMBER_FIELDS.items() if key in item
    }
    fields.update({attr: item[key] for key, attr in TEXT_FIELDS.items() if key in item})
    return Trade(
        user_id=item["userId"],
        trade_id=item["tradeId"],
        entry_at=parse_time(item["entryAt"]),
        created_at=parse_time(item["createdAt"]),
        updated_at=parse_time(item["updatedAt"]),
        version=int(item["version"]),
        tags=tuple(item.get("tags", ())),
        partial_closes=tuple(
            PartialClose(
                close_id=c["closeId"],
                quantity=Decimal(str(c["quantity"])),
                price=Decimal(str(c["price"])),
                closed_at=parse_time(c["closedAt"]),
                fees=Decimal(str(c.get("fees", "0"))),
                note=c.get("note"),
            )
            for c in item.get("partialCloses", ())
        ),
        images=tuple(
            ImageRef(
                image_id=i["imageId"],
                key=i["key"],
                content_type=i["contentType"],
                size=int(i["size"]),
                status=i["status"],
                created_at=parse_time(i["createdAt"]),
            )
            for i in item.get("images", ())
        ),
        **fields,
    )
