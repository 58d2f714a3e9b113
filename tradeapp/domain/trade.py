"""A trade: one position, its entry and any number of partial closes, and the figures derived from them."""

from __future__ import annotations

import functools
from dataclasses import MISSING, dataclass, field, fields, replace
from datetime import datetime
from decimal import Decimal, localcontext
from functools import cached_property
from typing import Any, Literal, NamedTuple, TypeVar

from .errors import InvalidTradeError
from .images import MAX_IMAGES, ImageRef, owned
from .numbers import ALLOCATION_QUANTUM, CONTEXT, ONE, ZERO, bounds_problem, canonical, money, ratio

Side = Literal["long", "short"]
Status = Literal["open", "partial", "closed"]
Outcome = Literal["win", "loss", "breakeven"]

SIDES = ("long", "short")
ASSET_CLASSES = ("stock", "option", "future", "forex", "crypto")
MAX_CLOSES = 200
MAX_TAGS = 20
# DynamoDB items stop at 400 KB of UTF-8; keep the text well inside that (emoji are 4 bytes).
MAX_TEXT_BYTES = 300_000
DECIMAL_FIELDS = ("quantity", "entry_price", "fees", "stop_loss", "take_profit", "multiplier")
CLOSE_DECIMAL_FIELDS = ("quantity", "price", "fees")


@dataclass(frozen=True)
class PartialClose:
    close_id: str
    quantity: Decimal
    price: Decimal
    closed_at: datetime
    fees: Decimal = ZERO
    note: str | None = None


# Named tuples rather than frozen dataclasses: as immutable, and a rebuild builds one per
# trade and close, where a frozen dataclass's __init__ costs several times more.
class CloseFigures(NamedTuple):
    gross_pnl: Decimal
    net_pnl: Decimal


class TradeFigures(NamedTuple):
    remaining_quantity: Decimal
    status: Status
    closes: tuple[CloseFigures, ...]
    gross_pnl: Decimal
    net_pnl: Decimal
    outcome: Outcome | None
    r_multiple: Decimal | None
    hold_seconds: int | None
    last_closed_at: datetime | None


@dataclass(frozen=True)
class Trade:
    user_id: str
    trade_id: str
    symbol: str
    side: Side
    quantity: Decimal
    entry_price: Decimal
    entry_at: datetime
    created_at: datetime
    updated_at: datetime
    version: int = 1
    fees: Decimal = ZERO
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    multiplier: Decimal = ONE
    currency: str = "USD"
    asset_class: str = "stock"
    setup: str | None = None
    tags: tuple[str, ...] = ()
    notes: str | None = None
    partial_closes: tuple[PartialClose, ...] = field(default=())
    images: tuple[ImageRef, ...] = ()

    @cached_property
    def figures(self) -> TradeFigures:
        return compute_figures(self)


R = TypeVar("R", Trade, PartialClose)


@functools.cache
def _defaults(cls: type) -> dict[str, Any]:
    return {f.name: f.default for f in fields(cls) if f.default is not MISSING}


def restored(cls: type[R], values: dict[str, Any]) -> R:
    """A Trade or PartialClose from stored values that are already whole and valid, built
    without __init__ (fields not given take their defaults). A frozen dataclass's __init__
    sets each field through object.__setattr__; for a trade's 21 fields that costs several
    times the rest of reading it, and a stats rebuild reads every trade of a user."""
    instance = object.__new__(cls)
    instance.__dict__.update(_defaults(cls))
    instance.__dict__.update(values)
    return instance


def compute_figures(trade: Trade) -> TradeFigures:
    """Derive P&L and status exactly.

    Entry fees are allocated to close k as A(c_k) - A(c_{k-1}), where c_k is the quantity
    closed so far and A(c) = fees * c / Q rounded to ALLOCATION_QUANTUM. The sum telescopes
    to A(Q) = fees, so a closed trade's net P&L is exactly gross minus all fees, while each
    close carries fees * q_k / Q to within 1e-10.
    """
    # + and - use the thread's context, 28 digits by default: CONTEXT keeps every sum exact.
    with localcontext(CONTEXT):
        return _compute_figures(trade)


def _compute_figures(trade: Trade) -> TradeFigures:
    sign = ONE if trade.side == "long" else -ONE
    closed = ZERO
    allocated = ZERO
    per_close = []
    gross_total = ZERO
    net_total = ZERO
    for close in trade.partial_closes:
        gross = CONTEXT.multiply(
            CONTEXT.multiply(sign * close.quantity, close.price - trade.entry_price),
            trade.multiplier,
        )
        closed += close.quantity
        if trade.fees.is_zero():
            share = ZERO
        else:
            cumulative = CONTEXT.divide(CONTEXT.multiply(trade.fees, closed), trade.quantity)
            cumulative = cumulative.quantize(ALLOCATION_QUANTUM, context=CONTEXT)
            share, allocated = cumulative - allocated, cumulative
        net = gross - close.fees - share
        per_close.append(CloseFigures(money(gross), money(net)))
        gross_total += gross
        net_total += net
    remaining = max(trade.quantity - closed, ZERO)
    status: Status = "open" if not trade.partial_closes else "partial" if remaining else "closed"
    outcome: Outcome | None = None
    hold_seconds = None
    last_closed_at = max((c.closed_at for c in trade.partial_closes), default=None)
    if status == "closed" and last_closed_at is not None:
        outcome = "win" if net_total > 0 else "loss" if net_total < 0 else "breakeven"
        hold_seconds = int((last_closed_at - trade.entry_at).total_seconds())
    r_multiple = None
    if trade.stop_loss is not None:
        risk = abs(trade.entry_price - trade.stop_loss) * trade.multiplier * trade.quantity
        r_multiple = ratio(net_total, risk)
    return TradeFigures(
        remaining_quantity=canonical(remaining),
        status=status,
        closes=tuple(per_close),
        gross_pnl=money(gross_total),
        net_pnl=money(net_total),
        outcome=outcome,
        r_multiple=r_multiple,
        hold_seconds=hold_seconds,
        last_closed_at=last_closed_at,
    )


def validate(trade: Trade) -> Trade:
    """Check every rule a stored trade must keep; raise InvalidTradeError naming the fields."""
    errors: dict[str, list[str]] = {}

    def fail(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    for name in DECIMAL_FIELDS:
        value = getattr(trade, name)
        if value is None:
            continue
        problem = bounds_problem(value)
        if problem:
            fail(camel_case(name), problem)
        elif name == "fees" and value < 0:
            fail("fees", "must be >= 0")
        elif name != "fees" and value <= 0:
            fail(camel_case(name), "must be > 0")
    if trade.side not in SIDES:
        fail("side", f"must be one of {', '.join(SIDES)}")
    if trade.asset_class not in ASSET_CLASSES:
        fail("assetClass", f"must be one of {', '.join(ASSET_CLASSES)}")
    if len(trade.tags) > MAX_TAGS:
        fail("tags", f"at most {MAX_TAGS} tags")
    if len(trade.images) > MAX_IMAGES:
        fail("images", f"at most {MAX_IMAGES} images per trade")
    if any(not owned(ref, trade.user_id, trade.trade_id) for ref in trade.images):
        fail("images", "an image must live under its own trade's prefix")
    if len(trade.partial_closes) > MAX_CLOSES:
        fail("partialCloses", f"at most {MAX_CLOSES} partial closes")
    for index, close in enumerate(trade.partial_closes):
        for name in CLOSE_DECIMAL_FIELDS:
            value = getattr(close, name)
            problem = bounds_problem(value)
            if problem:
                fail("partialCloses", f"close {index}: {name} {problem}")
            elif name == "fees" and value < 0:
                fail("partialCloses", f"close {index}: fees must be >= 0")
            elif name != "fees" and value <= 0:
                fail("partialCloses", f"close {index}: {name} must be > 0")
        if close.closed_at < trade.entry_at:
            fail("partialCloses", f"close {index}: closedAt is before entryAt")
    if errors:  # the checks below need well-formed numbers
        raise InvalidTradeError(errors)
    closed = sum((c.quantity for c in trade.partial_closes), ZERO)
    if closed > trade.quantity:
        fail(
            "partialCloses",
            f"closes total {canonical(closed)}, more than the quantity {canonical(trade.quantity)}",
        )
    if trade.stop_loss is not None:
        if trade.side == "long" and trade.stop_loss > trade.entry_price:
            fail("stopLoss", "a long trade's stop must not be above entryPrice")
        if trade.side == "short" and trade.stop_loss < trade.entry_price:
            fail("stopLoss", "a short trade's stop must not be below entryPrice")
    notes_bytes = len((trade.notes or "").encode())
    close_bytes = sum(len((c.note or "").encode()) + 200 for c in trade.partial_closes)
    if notes_bytes + close_bytes > MAX_TEXT_BYTES:
        fail(
            "notes" if notes_bytes >= close_bytes else "partialCloses",
            f"the trade's notes take {notes_bytes + close_bytes} bytes; at most {MAX_TEXT_BYTES} fit",
        )
    if errors:
        raise InvalidTradeError(errors)
    return trade


def normalized(trade: Trade) -> Trade:
    """The same trade with numbers in canonical form and the symbol upper-cased."""
    # Out-of-bounds numbers are left as given for validate() to refuse: canonical() would
    # round them past 100 digits, or overflow.
    numbers: dict[str, Any] = {
        name: canonical(getattr(trade, name))
        for name in DECIMAL_FIELDS
        if getattr(trade, name) is not None and bounds_problem(getattr(trade, name)) is None
    }
    closes = tuple(
        replace(
            c,
            **{
                n: canonical(getattr(c, n))
                for n in CLOSE_DECIMAL_FIELDS
                if bounds_problem(getattr(c, n)) is None
            },
        )
        for c in trade.partial_closes
    )
    return replace(trade, symbol=trade.symbol.upper(), partial_closes=closes, **numbers)


def camel_case(name: str) -> str:
    """The JSON name of a field: entry_price -> entryPrice."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
