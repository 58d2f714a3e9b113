"""The hand-built presenter (schemas/present.py) returns exactly what TradeOut's fields would.

TradeOut.dump uses the presenter for speed; TradeOut.reference_dump is marshmallow's own
field-by-field dump of the documented schema. Any drift between the two (a field added to
the schema and not to the presenter, a decimal written another way) fails here.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import schemas.trades
from schemas.trades import TradeOut, TradePage
from tests.unit.test_trade_properties import trades
from tradeapp.domain.images import ImageRef
from tradeapp.domain.trade import Trade

TEXT = st.one_of(st.none(), st.text(max_size=20))
MOMENTS = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2999, 12, 31), timezones=st.just(UTC)
)
TINY = st.sampled_from([Decimal("1E-10"), Decimal("0.0000001"), Decimal("1.5E-7"), Decimal("123.4500")])


@st.composite
def images(draw: Any) -> tuple[ImageRef, ...]:
    return tuple(
        ImageRef(
            image_id=f"i{n}",
            key=f"users/u1/trades/t1/i{n}",
            content_type=draw(st.sampled_from(["image/png", "image/jpeg", "image/webp"])),
            size=draw(st.integers(1, 5_000_000)),
            status=draw(st.sampled_from(["pending", "ready"])),
            created_at=draw(MOMENTS),
        )
        for n in range(draw(st.integers(0, 3)))
    )


@st.composite
def full_trades(draw: Any) -> Trade:
    """Valid trades with every optional field drawn too, incl. decimals str() would write with
    an exponent and timestamps with and without microseconds."""
    trade = draw(trades())
    tiny = draw(st.none() | TINY)
    return replace(
        trade,
        take_profit=draw(st.none() | TINY | st.just(trade.entry_price * 2)),
        stop_loss=trade.stop_loss if tiny is None else None,
        fees=tiny if tiny is not None else trade.fees,
        setup=draw(TEXT),
        notes=draw(TEXT),
        tags=tuple(draw(st.lists(st.text(min_size=1, max_size=8), max_size=3))),
        currency=draw(st.sampled_from(["USD", "EUR"])),
        asset_class=draw(st.sampled_from(["stock", "future"])),
        created_at=draw(MOMENTS),
        updated_at=draw(MOMENTS),
        version=draw(st.integers(1, 10**6)),
        images=draw(images()),
    )


def fake_url(ref: ImageRef) -> str | None:
    return f"https://images.example/{ref.key}" if ref.status == "ready" else None


@pytest.fixture(autouse=True)
def _urls(monkeypatch: pytest.MonkeyPatch) -> None:
    """A deterministic URL maker for both dumps (the real ones sign with the current time)."""
    monkeypatch.setattr(schemas.trades, "image_url", fake_url)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(trade=full_trades())
def test_the_presenter_returns_exactly_the_schemas_dump(trade: Trade) -> None:
    schema = TradeOut()
    fast, reference = schema.dump(trade), schema.reference_dump(trade)
    assert fast == reference
    assert list(fast) == list(reference)  # the same key order, as the app keeps it
    assert json.dumps(fast) == json.dumps(reference)  # and the same JSON, types included


def test_a_page_dumps_each_trade_through_the_presenter() -> None:
    base = Trade(
        user_id="u1",
        trade_id="t1",
        symbol="AAPL",
        side="long",
        quantity=Decimal("10"),
        entry_price=Decimal("187.25"),
        entry_at=datetime(2026, 3, 2, 14, 30, tzinfo=UTC),
        created_at=datetime(2026, 3, 2, 14, 30, tzinfo=UTC),
        updated_at=datetime(2026, 3, 2, 14, 30, tzinfo=UTC),
    )
    page_trades = [
        replace(base, trade_id=f"t{n}", entry_at=base.entry_at + timedelta(days=n)) for n in range(3)
    ]

    dumped = TradePage().dump({"items": page_trades, "next_cursor": "abc"})

    assert dumped == {"items": [TradeOut().reference_dump(t) for t in page_trades], "nextCursor": "abc"}
    assert dumped["items"][2]["entryAt"] == "2026-03-04T14:30:00Z"
    assert dumped["items"][0]["quantity"] == "10"
