"""The trade as the API returns it, built by hand: the fast path behind TradeOut.dump.

A page of 50 trades through marshmallow's field-by-field dump costs about 1,800 field
serializations; this builds the same JSON object directly. TradeOut's fields stay the
documented shape and the reference: tests/api/test_presenter.py checks that this returns
exactly what marshmallow's own dump of TradeOut returns, on generated trades.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from tradeapp.adapters.items import format_time
from tradeapp.domain.images import ImageRef
from tradeapp.domain.trade import Trade


def text(value: Decimal) -> str:
    """A decimal as marshmallow's Decimal(as_string=True) writes it: fixed point, no exponent.
    str() is four times cheaper and agrees except below 1e-6, where it writes an exponent."""
    written = str(value)
    return written if "E" not in written else format(value, "f")


def optional(value: Decimal | None) -> str | None:
    return None if value is None else text(value)


def present_trade(trade: Trade, image_url: Callable[[ImageRef], str | None]) -> dict[str, Any]:
    figures = trade.figures
    return {
        "tradeId": trade.trade_id,
        "symbol": trade.symbol,
        "side": trade.side,
        "quantity": text(trade.quantity),
        "entryPrice": text(trade.entry_price),
        "entryAt": format_time(trade.entry_at),
        "fees": text(trade.fees),
        "stopLoss": optional(trade.stop_loss),
        "takeProfit": optional(trade.take_profit),
        "multiplier": text(trade.multiplier),
        "currency": trade.currency,
        "assetClass": trade.asset_class,
        "setup": trade.setup,
        "tags": list(trade.tags),
        "notes": trade.notes,
        "partialCloses": [
            {
                "closeId": close.close_id,
                "quantity": text(close.quantity),
                "price": text(close.price),
                "closedAt": format_time(close.closed_at),
                "fees": text(close.fees),
                "note": close.note,
                "grossPnl": text(f.gross_pnl),
                "netPnl": text(f.net_pnl),
            }
            for close, f in zip(trade.partial_closes, figures.closes, strict=True)
        ],
        "images": [
            {
                "imageId": ref.image_id,
                "contentType": ref.content_type,
                "size": ref.size,
                "status": ref.status,
                "createdAt": format_time(ref.created_at),
                "url": image_url(ref),
            }
            for ref in trade.images
        ],
        "remainingQuantity": text(figures.remaining_quantity),
        "status": figures.status,
        "grossPnl": text(figures.gross_pnl),
        "netPnl": text(figures.net_pnl),
        "outcome": figures.outcome,
        "rMultiple": optional(figures.r_multiple),
        "holdSeconds": figures.hold_seconds,
        "createdAt": format_time(trade.created_at),
        "updatedAt": format_time(trade.updated_at),
        "version": trade.version,
    }
