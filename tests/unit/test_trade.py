"""Hand-computed trade figures and every validation rule, each naming its field."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tradeapp.domain.errors import InvalidTradeError
from tradeapp.domain.trade import PartialClose, Trade, compute_figures, normalized, validate

ENTRY_AT = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)
TOLERANCE = Decimal("1E-10")


def make_trade(**changes):
    fields = {
        "user_id": "u1",
        "trade_id": "t1",
        "symbol": "AAPL",
        "side": "long",
        "quantity": Decimal("100"),
        "entry_price": Decimal("187.25"),
        "entry_at": ENTRY_AT,
        "created_at": ENTRY_AT,
        "updated_at": ENTRY_AT,
    }
    fields.update(changes)
    return Trade(**fields)


def close(quantity, price, *, fees="0", at=ENTRY_AT + timedelta(hours=1), close_id="c"):
    return PartialClose(
        close_id=close_id, quantity=Decimal(quantity), price=Decimal(price), closed_at=at, fees=Decimal(fees)
    )


def closes(*items):
    return tuple(replace(c, close_id=f"c{i}") for i, c in enumerate(items))


def problems(trade):
    with pytest.raises(InvalidTradeError) as raised:
        validate(trade)
    return raised.value.errors


# --- P&L -----------------------------------------------------------------------------------


def test_long_winner_with_fees():
    # GIVEN 100 AAPL long at 187.25, 1.00 entry fee, closed in one go at 190.50 with a 1.00 fee
    trade = make_trade(
        fees=Decimal("1.00"),
        partial_closes=(close("100", "190.50", fees="1.00", at=ENTRY_AT + timedelta(seconds=4530)),),
    )

    figures = validate(trade).figures

    # gross = +1 * 100 * (190.50 - 187.25) * 1 = 100 * 3.25 = 325
    assert str(figures.gross_pnl) == "325.00"
    # net = 325 - 1.00 (close fee) - 1.00 * 100/100 (entry fee share) = 323
    assert str(figures.net_pnl) == "323.00"
    assert figures.closes[0].gross_pnl == Decimal("325")
    assert figures.closes[0].net_pnl == Decimal("323")
    assert figures.status == "closed"
    assert figures.remaining_quantity == 0
    assert figures.outcome == "win"
    # 14:30:00 -> 15:45:30 = 1 h 15 min 30 s = 4530 s
    assert figures.hold_seconds == 4530
    assert figures.r_multiple is None  # no stop loss


def test_short_winner_when_the_price_falls():
    # 50 short at 42.10, covered at 40.00: gross = -1 * 50 * (40.00 - 42.10) = -50 * -2.10 = 105
    trade = make_trade(
        side="short",
        quantity=Decimal("50"),
        entry_price=Decimal("42.10"),
        partial_closes=(close("50", "40.00"),),
    )

    figures = validate(trade).figures

    assert str(figures.gross_pnl) == "105.00"
    assert str(figures.net_pnl) == "105.00"
    assert figures.outcome == "win"


def test_short_loser_when_the_price_rises():
    # 50 short at 42.10, covered at 43.00: gross = -1 * 50 * (43.00 - 42.10) = -50 * 0.90 = -45
    # net = -45 - 0.50 (close fee) - 0.50 (entry fee, all of it: the whole quantity closed) = -46
    trade = make_trade(
        side="short",
        quantity=Decimal("50"),
        entry_price=Decimal("42.10"),
        fees=Decimal("0.50"),
        partial_closes=(close("50", "43.00", fees="0.50"),),
    )

    figures = validate(trade).figures

    assert str(figures.gross_pnl) == "-45.00"
    assert str(figures.net_pnl) == "-46.00"
    assert figures.outcome == "loss"


def test_futures_multiplier_and_r_multiple():
    # ES: m = 50. 2 contracts long at 5000.25, stop 4990.25, closed at 5010.75.
    trade = make_trade(
        symbol="ES",
        asset_class="future",
        quantity=Decimal("2"),
        entry_price=Decimal("5000.25"),
        multiplier=Decimal("50"),
        stop_loss=Decimal("4990.25"),
        fees=Decimal("4.50"),
        partial_closes=(close("2", "5010.75", fees="4.50"),),
    )

    figures = validate(trade).figures

    # gross = 2 * (5010.75 - 5000.25) * 50 = 2 * 10.50 * 50 = 1050
    assert str(figures.gross_pnl) == "1050.00"
    # net = 1050 - 4.50 - 4.50 * 2/2 = 1041
    assert str(figures.net_pnl) == "1041.00"
    # risk = |5000.25 - 4990.25| * 50 * 2 = 10 * 100 = 1000; R = 1041 / 1000 = 1.041
    assert str(figures.r_multiple) == "1.0410"


def test_fractional_quantities_stay_exact():
    # 0.5 BTC long at 60000.10, closed at 60100.35: gross = 0.5 * 100.25 = 50.125 (3 decimals kept)
    trade = make_trade(
        symbol="BTC-USD",
        asset_class="crypto",
        quantity=Decimal("0.5"),
        entry_price=Decimal("60000.10"),
        partial_closes=(close("0.5", "60100.35"),),
    )

    assert str(validate(trade).figures.gross_pnl) == "50.125"


def test_partial_closes_on_an_open_trade():
    # GIVEN 100 long at 10, no stop
    trade = make_trade(quantity=Decimal("100"), entry_price=Decimal("10"))
    assert trade.figures.status == "open"
    assert trade.figures.remaining_quantity == 100
    assert str(trade.figures.gross_pnl) == "0.00"
    assert trade.figures.outcome is None
    assert trade.figures.hold_seconds is None

    # WHEN 30 are sold at 12: gross_1 = 30 * (12 - 10) = 60
    first = close("30", "12", at=ENTRY_AT + timedelta(minutes=10), close_id="c1")
    partial = validate(replace(trade, partial_closes=(first,)))

    # THEN the trade is partial, 70 remain, P&L is realised but there is no outcome yet
    assert partial.figures.status == "partial"
    assert partial.figures.remaining_quantity == 70
    assert str(partial.figures.gross_pnl) == "60.00"
    assert partial.figures.outcome is None
    assert partial.figures.hold_seconds is None

    # WHEN the other 70 are sold at 9: gross_2 = 70 * (9 - 10) = -70; total = 60 - 70 = -10
    second = close("70", "9", at=ENTRY_AT + timedelta(minutes=40), close_id="c2")
    done = validate(replace(trade, partial_closes=(first, second)))

    assert done.figures.status == "closed"
    assert done.figures.remaining_quantity == 0
    assert [str(c.gross_pnl) for c in done.figures.closes] == ["60.00", "-70.00"]
    assert str(done.figures.gross_pnl) == "-10.00"
    assert done.figures.outcome == "loss"
    # hold time runs to the last close: 40 min = 2400 s
    assert done.figures.hold_seconds == 2400
    assert done.figures.last_closed_at == ENTRY_AT + timedelta(minutes=40)


def test_entry_fees_are_allocated_exactly_over_three_closes():
    # fees = 1, Q = 3, three closes of 1 at the entry price, so every gross is 0.
    # A(c) = 1 * c / 3 at 1e-10: A(1) = 0.3333333333, A(2) = 0.6666666667, A(3) = 1
    # shares: 0.3333333333, 0.3333333334, 0.3333333333 -- they sum to exactly 1
    trade = make_trade(
        quantity=Decimal("3"),
        entry_price=Decimal("50"),
        fees=Decimal("1"),
        partial_closes=closes(close("1", "50"), close("1", "50"), close("1", "50")),
    )

    figures = validate(trade).figures

    assert [c.net_pnl for c in figures.closes] == [
        Decimal("-0.3333333333"),
        Decimal("-0.3333333334"),
        Decimal("-0.3333333333"),
    ]
    for each in figures.closes:
        # the spec's netPnl_k = 0 - 0 - 1 * 1/3
        assert abs(each.net_pnl - (-Decimal(1) / Decimal(3))) <= TOLERANCE
    assert figures.net_pnl == Decimal("-1")  # gross 0 - fees 1, exactly
    assert str(figures.net_pnl) == "-1.00"
    assert figures.outcome == "loss"


def test_entry_fee_share_follows_close_quantity():
    # fees = 10, Q = 4: closes of 1 and 3 carry 10 * 1/4 = 2.5 and 10 * 3/4 = 7.5
    # at 101 from 100: gross_1 = 1, gross_2 = 3; net_1 = 1 - 2.5 = -1.5; net_2 = 3 - 7.5 = -4.5
    trade = make_trade(
        quantity=Decimal("4"),
        entry_price=Decimal("100"),
        fees=Decimal("10"),
        partial_closes=closes(close("1", "101"), close("3", "101")),
    )

    figures = validate(trade).figures

    assert [str(c.net_pnl) for c in figures.closes] == ["-1.50", "-4.50"]
    assert str(figures.net_pnl) == "-6.00"  # 4 - 10


def test_breakeven_when_fees_eat_the_gain():
    # 10 long at 100, closed at 100.50: gross = 10 * 0.50 = 5; net = 5 - 3 (close) - 2 (entry) = 0
    trade = make_trade(
        quantity=Decimal("10"),
        entry_price=Decimal("100"),
        fees=Decimal("2"),
        partial_closes=(close("10", "100.50", fees="3"),),
    )

    figures = validate(trade).figures

    assert str(figures.gross_pnl) == "5.00"
    assert str(figures.net_pnl) == "0.00"
    assert figures.outcome == "breakeven"


def test_a_small_loss_is_not_breakeven():
    # gross = 10 * 0.50 = 5; net = 5 - 3 - 2.0000000001 = -0.0000000001
    trade = make_trade(
        quantity=Decimal("10"),
        entry_price=Decimal("100"),
        fees=Decimal("2.0000000001"),
        partial_closes=(close("10", "100.50", fees="3"),),
    )

    figures = validate(trade).figures

    assert figures.net_pnl == Decimal("-0.0000000001")
    assert figures.outcome == "loss"


@pytest.mark.parametrize(
    ("side", "stop", "exit_price", "expected"),
    [
        # long 100 at 50, stop 48: risk = 2 * 1 * 100 = 200
        ("long", "48", "53", "1.5000"),  # net = 100 * 3 = 300; 300 / 200
        ("long", "48", "47", "-1.5000"),  # net = 100 * -3 = -300
        ("long", "47", "51", "0.3333"),  # risk 300, net 100: 0.3333...
        ("long", "47", "52", "0.6667"),  # risk 300, net 200: 0.6666... rounds up
        # short 100 at 50, stop 52: risk = 2 * 100 = 200; net = -1 * 100 * (46 - 50) = 400
        ("short", "52", "46", "2.0000"),
    ],
)
def test_r_multiple(side, stop, exit_price, expected):
    trade = make_trade(
        side=side,
        quantity=Decimal("100"),
        entry_price=Decimal("50"),
        stop_loss=Decimal(stop),
        partial_closes=(close("100", exit_price),),
    )

    assert str(validate(trade).figures.r_multiple) == expected


def test_r_multiple_is_none_when_the_risk_is_zero():
    # stop == entry is allowed (a break-even stop), but risk = 0 * 1 * 100 = 0: no R
    trade = make_trade(
        entry_price=Decimal("50"),
        stop_loss=Decimal("50"),
        partial_closes=(close("100", "55"),),
    )

    figures = validate(trade).figures

    assert figures.r_multiple is None
    assert str(figures.net_pnl) == "500.00"


def test_r_multiple_uses_the_multiplier():
    # 1 CL contract (m = 1000) long at 80.00, stop 79.50, out at 81.25
    # risk = 0.50 * 1000 * 1 = 500; net = 1.25 * 1000 = 1250; R = 2.5
    trade = make_trade(
        quantity=Decimal("1"),
        entry_price=Decimal("80.00"),
        multiplier=Decimal("1000"),
        stop_loss=Decimal("79.50"),
        partial_closes=(close("1", "81.25"),),
    )

    assert str(validate(trade).figures.r_multiple) == "2.5000"


def test_hold_seconds_spans_days_and_uses_the_latest_close():
    # entry 2024-03-01 14:30, closes at +1 day 2 h and +3 days 0 h 0 min 5 s
    # latest close: 3 * 86400 + 5 = 259205 s
    trade = make_trade(
        partial_closes=closes(
            close("40", "190", at=ENTRY_AT + timedelta(days=1, hours=2)),
            close("60", "191", at=ENTRY_AT + timedelta(days=3, seconds=5)),
        )
    )

    assert validate(trade).figures.hold_seconds == 259205


def test_status_transitions_open_partial_closed():
    trade = make_trade(quantity=Decimal("10"))
    statuses = [trade.figures.status]
    for taken in (closes(close("4", "190")), closes(close("4", "190"), close("6", "189"))):
        trade = validate(replace(trade, partial_closes=taken))
        statuses.append(trade.figures.status)

    assert statuses == ["open", "partial", "closed"]


def test_compute_figures_matches_the_cached_figures():
    trade = make_trade(partial_closes=(close("100", "190.50"),))

    assert compute_figures(trade) == trade.figures


def test_remaining_quantity_is_canonical():
    # 10.50 - 0.25 = 10.25 remaining, stored without trailing zeros
    trade = make_trade(quantity=Decimal("10.50"), partial_closes=(close("0.25", "190"),))

    assert str(validate(trade).figures.remaining_quantity) == "10.25"


# --- normalisation --------------------------------------------------------------------------


def test_normalized_upper_cases_the_symbol_and_canonicalises_numbers():
    trade = make_trade(
        symbol="aapl",
        quantity=Decimal("1E+2"),
        entry_price=Decimal("187.250"),
        fees=Decimal("-0"),
        stop_loss=Decimal("180.00"),
        partial_closes=(close("50.0", "190.500", fees="0.10"),),
    )

    result = normalized(trade)

    assert result.symbol == "AAPL"
    assert [str(result.quantity), str(result.entry_price), str(result.fees), str(result.stop_loss)] == [
        "100",
        "187.25",
        "0",
        "180",
    ]
    only = result.partial_closes[0]
    assert [str(only.quantity), str(only.price), str(only.fees)] == ["50", "190.5", "0.1"]
    assert result.take_profit is None


def test_normalized_leaves_out_of_bounds_numbers_for_validate_to_refuse():
    # canonical() would raise on 1E+100 and round a 149-decimal number to 1
    long_number = Decimal("1." + "0" * 148 + "1")
    trade = make_trade(quantity=Decimal("1E+100"), entry_price=long_number)

    result = normalized(trade)

    assert result.entry_price == long_number
    errors = problems(result)
    assert errors == {
        "quantity": ["must be below 10^15"],
        "entryPrice": ["must have at most 10 decimal places"],
    }


# --- validation -----------------------------------------------------------------------------


def test_a_valid_trade_is_returned_unchanged():
    trade = make_trade(
        stop_loss=Decimal("180"),
        take_profit=Decimal("200"),
        tags=("breakout",),
        partial_closes=(close("100", "190"),),
    )

    assert validate(trade) is trade


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"quantity": Decimal("0")}, "quantity"),
        ({"quantity": Decimal("-1")}, "quantity"),
        ({"quantity": Decimal("NaN")}, "quantity"),
        ({"quantity": Decimal("1E+15")}, "quantity"),
        ({"quantity": Decimal("0.00000000001")}, "quantity"),
        ({"entry_price": Decimal("0")}, "entryPrice"),
        ({"entry_price": Decimal("Infinity")}, "entryPrice"),
        ({"fees": Decimal("-0.01")}, "fees"),
        ({"fees": Decimal("-Infinity")}, "fees"),
        ({"stop_loss": Decimal("0")}, "stopLoss"),
        ({"stop_loss": Decimal("-5")}, "stopLoss"),
        ({"take_profit": Decimal("0")}, "takeProfit"),
        ({"take_profit": Decimal("sNaN")}, "takeProfit"),
        ({"multiplier": Decimal("0")}, "multiplier"),
        ({"multiplier": Decimal("-50")}, "multiplier"),
        ({"side": "flat"}, "side"),
        ({"side": "LONG"}, "side"),
        ({"asset_class": "bond"}, "assetClass"),
        ({"tags": tuple(f"t{i}" for i in range(21))}, "tags"),
        ({"partial_closes": closes(*[close("0.1", "190")] * 201)}, "partialCloses"),
        ({"partial_closes": (close("0", "190"),)}, "partialCloses"),
        ({"partial_closes": (close("-1", "190"),)}, "partialCloses"),
        ({"partial_closes": (close("1", "0"),)}, "partialCloses"),
        ({"partial_closes": (close("1", "NaN"),)}, "partialCloses"),
        ({"partial_closes": (close("1", "190", fees="-1"),)}, "partialCloses"),
        ({"partial_closes": (close("1", "190.00000000001"),)}, "partialCloses"),
    ],
)
def test_each_rule_names_its_field(changes, field):
    errors = problems(make_trade(**changes))

    assert list(errors) == [field]
    assert errors[field]


def test_zero_fees_are_allowed():
    trade = make_trade(fees=Decimal("0"))

    assert validate(trade) is trade


def test_exactly_twenty_tags_and_two_hundred_closes_are_allowed():
    trade = make_trade(
        quantity=Decimal("200"),
        tags=tuple(f"t{i}" for i in range(20)),
        partial_closes=closes(*[close("1", "190")] * 200),
    )

    assert validate(trade).figures.status == "closed"


def test_closes_above_the_quantity_are_refused():
    # 60 + 50 = 110 > 100
    trade = make_trade(partial_closes=closes(close("60", "190"), close("50", "191")))

    errors = problems(trade)

    assert errors == {"partialCloses": ["closes total 110, more than the quantity 100"]}


def test_closes_summing_to_exactly_the_quantity_are_allowed():
    # 33.3333333333 + 33.3333333333 + 33.3333333334 = 100
    trade = make_trade(
        partial_closes=closes(
            close("33.3333333333", "190"), close("33.3333333333", "190"), close("33.3333333334", "190")
        )
    )

    assert validate(trade).figures.remaining_quantity == 0


def test_overfilling_by_the_smallest_step_is_refused():
    trade = make_trade(partial_closes=closes(close("99.9999999999", "190"), close("0.0000000002", "190")))

    assert list(problems(trade)) == ["partialCloses"]


def test_a_close_before_entry_is_refused():
    trade = make_trade(partial_closes=(close("10", "190", at=ENTRY_AT - timedelta(seconds=1)),))

    errors = problems(trade)

    assert errors == {"partialCloses": ["close 0: closedAt is before entryAt"]}


def test_a_close_at_the_entry_time_is_allowed():
    trade = make_trade(partial_closes=(close("100", "190", at=ENTRY_AT),))

    assert validate(trade).figures.hold_seconds == 0


@pytest.mark.parametrize(
    ("side", "stop", "message"),
    [
        ("long", "187.26", "a long trade's stop must not be above entryPrice"),
        ("short", "187.24", "a short trade's stop must not be below entryPrice"),
    ],
)
def test_a_stop_on_the_wrong_side_is_refused(side, stop, message):
    errors = problems(make_trade(side=side, entry_price=Decimal("187.25"), stop_loss=Decimal(stop)))

    assert errors == {"stopLoss": [message]}


@pytest.mark.parametrize(("side", "stop"), [("long", "187.24"), ("short", "187.26"), ("short", "187.25")])
def test_a_stop_on_the_right_side_is_allowed(side, stop):
    trade = make_trade(side=side, entry_price=Decimal("187.25"), stop_loss=Decimal(stop))

    assert validate(trade) is trade


def test_every_broken_rule_is_reported_at_once():
    trade = make_trade(
        quantity=Decimal("-1"),
        side="flat",
        fees=Decimal("-1"),
        partial_closes=(close("1", "190", at=ENTRY_AT - timedelta(days=1)),),
    )

    errors = problems(trade)

    assert set(errors) == {"quantity", "side", "fees", "partialCloses"}
    assert "quantity: must be > 0" in str(InvalidTradeError(errors))


def test_close_errors_say_which_close():
    trade = make_trade(partial_closes=closes(close("1", "190"), close("1", "-190")))

    assert problems(trade) == {"partialCloses": ["close 1: price must be > 0"]}


def test_a_trade_whose_text_would_not_fit_a_dynamodb_item_is_refused_naming_the_field():
    # 200 closes with 1,000-emoji notes: 200 * (4,000 + 200) = 840,000 bytes > 300,000
    at = datetime(2026, 1, 1, tzinfo=UTC)
    closes = tuple(
        PartialClose(f"c{i}", Decimal(1), Decimal(1), at, note="\U0001f600" * 1000) for i in range(200)
    )
    heavy = Trade("u", "t", "X", "long", Decimal(200), Decimal(1), at, at, at, partial_closes=closes)

    with pytest.raises(InvalidTradeError) as refused:
        validate(heavy)

    assert list(refused.value.errors) == ["partialCloses"]
    # the longest plain-text trade the schema allows still fits: 10,000 + 200 * (1,000 + 200)
    plain = replace(
        heavy, notes="n" * 10_000, partial_closes=tuple(replace(c, note="n" * 1000) for c in closes)
    )
    assert validate(plain) is plain
