"""Properties of trade figures, checked against exact rational arithmetic (fractions.Fraction)."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tradeapp.domain.errors import InvalidTradeError
from tradeapp.domain.trade import PartialClose, Trade, normalized, validate

ENTRY_AT = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)
STEP = Fraction(1, 10**10)  # the smallest storable amount
SETTINGS = settings(max_examples=100, deadline=None)


def scaled(lowest, integer_digits, max_places):
    """Decimals n * 10^-places with n >= lowest, up to max_places places, below 10^integer_digits.

    The integer strategy leans to its bounds and to small values, so both everyday and
    25-digit numbers come up.
    """

    def build(n, places):
        top = 10 ** (integer_digits + places)
        return Decimal(f"{max(n % top, lowest)}E-{places}")

    return st.builds(
        build, st.integers(lowest, 10 ** (integer_digits + max_places) - 1), st.integers(0, max_places)
    )


def storable(lowest=1):
    """Any storable decimal: up to 10 places, below 10^15."""
    return scaled(lowest, 15, 10)


def everyday():
    """Prices and quantities as people type them: up to 6 integer digits and 4 decimals."""
    return scaled(1, 6, 4)


def amounts():
    return st.one_of(everyday(), storable())


def fees():
    return st.one_of(st.just(Decimal(0)), everyday(), storable(lowest=0))


AMOUNTS = amounts()
FEES = fees()
MULTIPLIERS = st.one_of(st.sampled_from([Decimal(1), Decimal(50), Decimal("0.1")]), AMOUNTS)
SIDES = st.sampled_from(["long", "short"])
GAPS = st.integers(0, 10**7)


def as_decimal(steps):
    return Decimal(f"{steps}E-10")


@st.composite
def trades(draw, *, closed=None, side=None):
    """Valid trades; closed=True closes the whole quantity, False leaves some open."""
    quantity = draw(AMOUNTS)
    units = int(quantity.scaleb(10))
    if closed is True:
        cuts = sorted({*draw(st.lists(st.integers(1, units), max_size=6)), units})
    elif closed is False:
        assume(units > 1)
        cuts = sorted(set(draw(st.lists(st.integers(1, units - 1), max_size=6))))
    else:
        cuts = sorted(set(draw(st.lists(st.integers(1, units), max_size=6))))
    pieces = [high - low for low, high in zip([0, *cuts], cuts, strict=False)]
    entry_price = draw(AMOUNTS)
    trade_side = side or draw(SIDES)
    stop_loss = draw(st.none() | AMOUNTS)
    if stop_loss is not None and (
        (trade_side == "long" and stop_loss > entry_price)
        or (trade_side == "short" and stop_loss < entry_price)
    ):
        stop_loss = entry_price
    closes = []
    moment = ENTRY_AT
    for index, piece in enumerate(pieces):
        moment += timedelta(seconds=draw(GAPS))
        closes.append(
            PartialClose(
                close_id=f"c{index}",
                quantity=as_decimal(piece),
                price=draw(AMOUNTS),
                closed_at=moment,
                fees=draw(FEES),
            )
        )
    trade = Trade(
        user_id="u1",
        trade_id="t1",
        symbol="ES",
        side=trade_side,
        quantity=quantity,
        entry_price=entry_price,
        entry_at=ENTRY_AT,
        created_at=ENTRY_AT,
        updated_at=ENTRY_AT,
        fees=draw(FEES),
        stop_loss=stop_loss,
        multiplier=draw(MULTIPLIERS),
        partial_closes=tuple(closes),
    )
    return validate(trade)


def exact_gross(trade, close):
    sign = 1 if trade.side == "long" else -1
    return (
        sign
        * Fraction(close.quantity)
        * (Fraction(close.price) - Fraction(trade.entry_price))
        * Fraction(trade.multiplier)
    )


@SETTINGS
@given(trades())
def test_remaining_quantity_is_the_unclosed_quantity_and_never_negative(trade):
    closed = sum(Fraction(c.quantity) for c in trade.partial_closes)
    figures = trade.figures

    assert figures.remaining_quantity >= 0
    assert Fraction(figures.remaining_quantity) == Fraction(trade.quantity) - closed
    assert figures.status == ("open" if not closed else "closed" if closed == trade.quantity else "partial")


@SETTINGS
@given(trades(), st.lists(storable(), min_size=1, max_size=4))
def test_closes_beyond_the_quantity_are_refused_and_never_leave_a_negative_remainder(trade, extra):
    more = tuple(
        PartialClose(close_id=f"x{i}", quantity=q, price=Decimal(1), closed_at=ENTRY_AT)
        for i, q in enumerate(extra)
    )
    overfilled = replace(trade, partial_closes=trade.partial_closes + more)
    total = sum(Fraction(c.quantity) for c in overfilled.partial_closes)

    if total > Fraction(trade.quantity):
        with pytest.raises(InvalidTradeError) as raised:
            validate(overfilled)
        assert list(raised.value.errors) == ["partialCloses"]
        assert overfilled.figures.remaining_quantity == 0  # clamped, even unvalidated
    else:
        assert validate(overfilled).figures.remaining_quantity >= 0


@SETTINGS
@given(trades())
def test_gross_is_the_exact_sum_of_each_close(trade):
    expected = [exact_gross(trade, c) for c in trade.partial_closes]
    figures = trade.figures

    assert [Fraction(c.gross_pnl) for c in figures.closes] == expected
    assert Fraction(figures.gross_pnl) == sum(expected)


@SETTINGS
@given(trades(closed=True))
def test_a_closed_trade_nets_gross_minus_every_fee_exactly(trade):
    figures = trade.figures
    close_fees = sum(Fraction(c.fees) for c in trade.partial_closes)

    assert figures.status == "closed"
    assert Fraction(figures.net_pnl) == Fraction(figures.gross_pnl) - Fraction(trade.fees) - close_fees
    assert Fraction(figures.net_pnl) == sum(Fraction(c.net_pnl) for c in figures.closes)
    net = Fraction(figures.net_pnl)
    assert figures.outcome == ("win" if net > 0 else "loss" if net < 0 else "breakeven")
    assert figures.hold_seconds == int((trade.partial_closes[-1].closed_at - ENTRY_AT).total_seconds())


@SETTINGS
@given(trades())
def test_each_close_carries_its_share_of_entry_fees_within_1e_10(trade):
    for close, figures in zip(trade.partial_closes, trade.figures.closes, strict=True):
        share = Fraction(trade.fees) * Fraction(close.quantity) / Fraction(trade.quantity)
        formula = exact_gross(trade, close) - Fraction(close.fees) - share

        assert abs(Fraction(figures.net_pnl) - formula) <= STEP


@SETTINGS
@given(trades(closed=False))
def test_an_unfinished_trade_has_no_outcome_or_hold_time(trade):
    assert trade.figures.status in ("open", "partial")
    assert trade.figures.outcome is None
    assert trade.figures.hold_seconds is None


@SETTINGS
@given(trades(side="long"))
def test_a_short_mirrors_a_long(long_trade):
    short_trade = validate(replace(long_trade, side="short", stop_loss=None))
    long_figures, short_figures = long_trade.figures, short_trade.figures

    assert Fraction(long_figures.gross_pnl) == -Fraction(short_figures.gross_pnl)
    for long_close, short_close in zip(long_figures.closes, short_figures.closes, strict=True):
        assert Fraction(long_close.gross_pnl) == -Fraction(short_close.gross_pnl)
    if long_figures.status == "closed":
        all_fees = Fraction(long_trade.fees) + sum(Fraction(c.fees) for c in long_trade.partial_closes)
        assert Fraction(long_figures.net_pnl) + Fraction(short_figures.net_pnl) == -2 * all_fees


@SETTINGS
@given(trades(closed=True), AMOUNTS, FEES, st.data())
def test_net_does_not_depend_on_how_the_quantity_is_split(trade, price, close_fees, data):
    # GIVEN a closed trade's closes, all moved to one price, their fees summing to close_fees
    weights = data.draw(st.lists(st.integers(0, 100), min_size=len(trade.partial_closes)))
    units = int(close_fees.scaleb(10))
    total_weight = sum(weights[: len(trade.partial_closes)]) or 1
    split_fees = [units * w // total_weight for w in weights[: len(trade.partial_closes)]]
    split_fees[-1] += units - sum(split_fees)
    split = replace(
        trade,
        partial_closes=tuple(
            replace(c, price=price, fees=as_decimal(f))
            for c, f in zip(trade.partial_closes, split_fees, strict=True)
        ),
    )
    # WHEN the same quantity is closed at once instead
    whole = replace(
        trade,
        partial_closes=(
            replace(trade.partial_closes[-1], quantity=trade.quantity, price=price, fees=close_fees),
        ),
    )

    # THEN gross and net are identical, to the last digit
    assert str(validate(split).figures.net_pnl) == str(validate(whole).figures.net_pnl)
    assert str(split.figures.gross_pnl) == str(whole.figures.gross_pnl)
    assert split.figures.r_multiple == whole.figures.r_multiple


@SETTINGS
@given(trades())
def test_figures_are_decimal_never_float(trade):
    figures = trade.figures
    money = [figures.remaining_quantity, figures.gross_pnl, figures.net_pnl]
    money += [n for c in figures.closes for n in (c.gross_pnl, c.net_pnl)]

    assert all(type(n) is Decimal for n in money)
    assert figures.r_multiple is None or type(figures.r_multiple) is Decimal
    assert figures.hold_seconds is None or type(figures.hold_seconds) is int
    # money is shown with at least cents
    assert all(-n.as_tuple().exponent >= 2 for n in money[1:])


@SETTINGS
@given(trades())
def test_r_multiple_is_net_over_risk_at_four_places(trade):
    figures = trade.figures
    if trade.stop_loss is None:
        assert figures.r_multiple is None
        return
    distance = abs(Fraction(trade.entry_price) - Fraction(trade.stop_loss))
    risk = distance * Fraction(trade.multiplier) * Fraction(trade.quantity)
    if risk == 0:
        assert figures.r_multiple is None
        return
    exact = Fraction(figures.net_pnl) / risk
    assert figures.r_multiple.as_tuple().exponent == -4
    assert abs(Fraction(figures.r_multiple) - exact) <= Fraction(1, 20000)


def wild_decimals():
    """Any Decimal at all: NaN, sNaN, infinities, signed zeros, huge, tiny, very long."""
    built = st.builds(
        lambda sign, coefficient, exponent: Decimal(f"{sign}{coefficient}E{exponent}"),
        st.sampled_from(["", "-"]),
        st.integers(0, 10**120),
        st.integers(-400, 400),
    )
    return st.one_of(
        built,
        st.decimals(allow_nan=True, allow_infinity=True),
        st.sampled_from([Decimal(s) for s in ("NaN", "-sNaN", "Infinity", "-0", "0E+300", "1E+99")]),
        amounts(),
    )


WILD = wild_decimals()


@st.composite
def wild_trades(draw):
    closes = tuple(
        PartialClose(
            close_id=f"c{i}",
            quantity=draw(WILD),
            price=draw(WILD),
            closed_at=ENTRY_AT + timedelta(seconds=draw(st.integers(-10, 10))),
            fees=draw(WILD),
        )
        for i in range(draw(st.integers(0, 3)))
    )
    return Trade(
        user_id="u1",
        trade_id="t1",
        symbol="x",
        side=draw(st.sampled_from(["long", "short", "flat"])),
        quantity=draw(WILD),
        entry_price=draw(WILD),
        entry_at=ENTRY_AT,
        created_at=ENTRY_AT,
        updated_at=ENTRY_AT,
        fees=draw(WILD),
        stop_loss=draw(st.none() | WILD),
        take_profit=draw(st.none() | WILD),
        multiplier=draw(WILD),
        partial_closes=closes,
    )


@settings(max_examples=200, deadline=None)
@given(wild_trades())
def test_validate_returns_the_trade_or_raises_invalid_trade_error(trade):
    for candidate in (trade, normalized(trade)):
        result, errors = None, None
        try:
            result = validate(candidate)
        except InvalidTradeError as error:
            errors = error.errors

        if errors is None:
            assert result is candidate
            assert result.figures.remaining_quantity >= 0  # a valid trade always has figures
        else:
            assert errors
            assert all(isinstance(m, list) and m for m in errors.values())
