"""Request and response schemas for trades and their partial closes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from tradeapp.api.extensions import Schema
from tradeapp.domain.trade import ASSET_CLASSES, MAX_CLOSES, MAX_TAGS, SIDES, Trade

from .fields import Number, Timestamp
from .images import ImageOut
from .present import present_trade

# Tickers as brokers write them: BRK.B, ES=F, EUR/USD, BTC-USD, ^SPX, OCC option symbols.
SYMBOL = validate.Regexp(
    r"^[A-Za-z0-9^][A-Za-z0-9 ._/:=^-]*$",
    error="letters, digits, spaces and . _ / : = ^ - only",
)
NO_CONTROL = validate.Regexp(
    r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$", error="control characters are not allowed"
)
ID = validate.Regexp(r"^[0-9A-HJKMNP-TV-Z]{26}$", error="not a valid id")
# SYMBOL and the symbol's no-trailing-space rule in one pattern, for the document.
SYMBOL_PATTERN = r"^[A-Za-z0-9^]([A-Za-z0-9 ._/:=^-]*[A-Za-z0-9._/:=^-])?$"
# What the server issues: base64url(JSON) "." base64url(HMAC-SHA256).
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$"
# RFC 9110's If-Match as the API reads it: `*` or one strong or weak ETag naming a version.
IF_MATCH_PATTERN = r'^(\*|(W/)?"[0-9]{1,18}")$'


class CloseIn(Schema):
    quantity = Number(required=True, minimum="0")
    price = Number(required=True, minimum="0")
    closed_at = Timestamp(required=True)
    fees = Number(minimum="0", exclusive=False, load_default=Decimal(0))
    note = fields.String(allow_none=True, validate=[validate.Length(max=1000), NO_CONTROL])


class TradeIn(Schema):
    symbol = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=32), SYMBOL],
        metadata={"pattern": SYMBOL_PATTERN},
    )
    side = fields.String(required=True, validate=validate.OneOf(SIDES))
    quantity = Number(required=True, minimum="0")
    entry_price = Number(required=True, minimum="0")
    entry_at = Timestamp(required=True)
    fees = Number(minimum="0", exclusive=False, load_default=Decimal(0))
    stop_loss = Number(minimum="0", allow_none=True)
    take_profit = Number(minimum="0", allow_none=True)
    multiplier = Number(minimum="0", load_default=Decimal(1))
    currency = fields.String(
        load_default="USD", validate=validate.Regexp(r"^[A-Z]{3}$", error="an ISO 4217 code, e.g. USD")
    )
    asset_class = fields.String(load_default="stock", validate=validate.OneOf(ASSET_CLASSES))
    setup = fields.String(allow_none=True, validate=[validate.Length(max=64), NO_CONTROL])
    tags = fields.List(
        fields.String(validate=[validate.Length(min=1, max=32), NO_CONTROL]),
        load_default=list,
        validate=validate.Length(max=MAX_TAGS),
    )
    notes = fields.String(allow_none=True, validate=[validate.Length(max=10_000), NO_CONTROL])
    partial_closes = fields.List(
        fields.Nested(CloseIn), load_default=list, validate=validate.Length(max=MAX_CLOSES)
    )

    @ma.validates("symbol")
    def _symbol(self, value: str, **_: Any) -> None:
        if value != value.strip():
            raise ma.ValidationError("no leading or trailing spaces")


class KeptCloseIn(CloseIn):
    close_id = fields.String(validate=ID, metadata={"description": "keeps an existing close's id"})


class TradePatch(TradeIn):
    """Any subset of the trade's fields; a given partialCloses replaces the list."""

    class Meta(TradeIn.Meta):
        json_schema = {"minProperties": 1}  # _not_empty, for the document

    partial_closes = fields.List(fields.Nested(KeptCloseIn), validate=validate.Length(max=MAX_CLOSES))

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(partial=tuple(TradeIn._declared_fields), **kwargs)

    @ma.validates_schema
    def _not_empty(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ma.ValidationError("give at least one field to change")


class CloseOut(Schema):
    close_id = fields.String()
    quantity = Number()
    price = Number()
    closed_at = Timestamp()
    fees = Number()
    note = fields.String(allow_none=True)
    gross_pnl = Number(metadata={"description": "s * q * (price - entryPrice) * multiplier"})
    net_pnl = Number(metadata={"description": "grossPnl - fees - entry fees * q / quantity"})


class TradeOut(Schema):
    trade_id = fields.String()
    symbol = fields.String()
    side = fields.String()
    quantity = Number()
    entry_price = Number()
    entry_at = Timestamp()
    fees = Number()
    stop_loss = Number(allow_none=True)
    take_profit = Number(allow_none=True)
    multiplier = Number()
    currency = fields.String()
    asset_class = fields.String()
    setup = fields.String(allow_none=True)
    tags = fields.List(fields.String())
    notes = fields.String(allow_none=True)
    partial_closes = fields.List(fields.Nested(CloseOut))
    images = fields.List(fields.Nested(ImageOut))
    remaining_quantity = Number()
    status = fields.String(metadata={"enum": ["open", "partial", "closed"]})
    gross_pnl = Number()
    net_pnl = Number()
    outcome = fields.String(allow_none=True, metadata={"enum": ["win", "loss", "breakeven", None]})
    r_multiple = Number(allow_none=True)
    hold_seconds = fields.Integer(allow_none=True)
    created_at = Timestamp()
    updated_at = Timestamp()
    version = fields.Integer()

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        """The hand-built presenter (schemas/present.py); reference_dump is the field-by-field
        marshmallow dump that documents the shape and that the presenter is tested against."""
        many = self.many if many is None else many
        return [present_trade(t, image_url) for t in obj] if many else present_trade(obj, image_url)

    def reference_dump(self, obj: Any, *, many: bool | None = None) -> Any:
        return super().dump(obj, many=many)

    @ma.pre_dump
    def _present(self, trade: Trade, **_: Any) -> dict[str, Any]:
        figures = trade.figures
        return {
            **{name: getattr(trade, name) for name in self.fields if hasattr(trade, name)},
            "partial_closes": [
                {**vars(close), "gross_pnl": f.gross_pnl, "net_pnl": f.net_pnl}
                for close, f in zip(trade.partial_closes, figures.closes, strict=True)
            ],
            "images": [{**vars(ref), "url": image_url(ref)} for ref in trade.images],
            "remaining_quantity": figures.remaining_quantity,
            "status": figures.status,
            "gross_pnl": figures.gross_pnl,
            "net_pnl": figures.net_pnl,
            "outcome": figures.outcome,
            "r_multiple": figures.r_multiple,
            "hold_seconds": figures.hold_seconds,
        }


def image_url(ref: Any) -> str | None:
    """A short-lived download URL from the app's image store (presigned GET on S3)."""
    from flask import current_app

    return current_app.extensions["tradeapp"].images.url(ref)  # type: ignore[no-any-return]


class TradeQueryArgs(Schema):
    status = fields.String(validate=validate.OneOf(["open", "partial", "closed"]))
    symbol = fields.String(validate=validate.Length(min=1, max=32))
    tag = fields.String(validate=validate.Length(min=1, max=32))
    from_ = Timestamp(metadata={"description": "entryAt at or after (inclusive)"})
    to = Timestamp(metadata={"description": "entryAt at or before (inclusive)"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=100))
    cursor = fields.String(
        validate=validate.Length(max=1024),
        metadata={
            "description": "nextCursor of the previous page, opaque: only a cursor the server issued "
            "to you for the same filters is valid (another one gets 400)",
            "pattern": CURSOR_PATTERN,
        },
    )


class TradePage(Schema):
    items = fields.List(fields.Nested(TradeOut))
    next_cursor = fields.String(allow_none=True)


class CreateHeaders(Schema):
    class Meta:
        unknown = ma.EXCLUDE  # every other request header

    idempotency_key = fields.String(
        data_key="Idempotency-Key",
        validate=[validate.Length(min=1, max=255), validate.Regexp(r"^[\x21-\x7e]+$")],
        metadata={"description": "retry-safe creation: the same key and body create one trade"},
    )


class IfMatchHeaders(Schema):
    class Meta:
        unknown = ma.EXCLUDE

    if_match = fields.String(
        data_key="If-Match",
        metadata={
            "description": 'the ETag of the trade as read, e.g. "3", or *; another version gets 412',
            "pattern": IF_MATCH_PATTERN,
        },
    )


class RequiredIfMatchHeaders(IfMatchHeaders):
    """If-Match documented as required: the view answers its absence with 428 (RFC 6585)."""

    if_match = fields.String(
        data_key="If-Match",
        metadata={**IfMatchHeaders._declared_fields["if_match"].metadata, "view_required": True},
    )
