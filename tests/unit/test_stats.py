"""The stats fold on hand-computed examples; the arithmetic is in the comments."""

from datetime import UTC, datetime
from decimal import Decimal

from tradeapp.domain.stats import fold
from tradeapp.domain.trade import PartialClose, Trade, validate

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def at(day, hour=12, minute=0, month=3):
    """2026-03-02 is a Monday."""
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def close(quantity, price, closed_at, fees="0", close_id=None):
    return PartialClose(
        close_id=close_id or f"c-{quantity}-{price}-{closed_at:%d%H%M}",
        quantity=Decimal(quantity),
        price=Decimal(price),
        closed_at=closed_at,
        fees=Decimal(fees),
    )


def make_trade(
    trade_id,
    *,
    quantity="1",
    entry="100",
    closes=(),
    side="long",
    symbol="AAPL",
    fees="0",
    multiplier="1",
    stop=None,
    setup=None,
    tags=(),
    entry_at=None,
):
    return validate(
        Trade(
            user_id="alice",
            trade_id=trade_id,
            symbol=symbol,
            side=side,
            quantity=Decimal(quantity),
            entry_price=Decimal(entry),
            entry_at=entry_at or at(2, 9),
            created_at=CREATED,
            updated_at=CREATED,
            fees=Decimal(fees),
            multiplier=Decimal(multiplier),
            stop_loss=None if stop is None else Decimal(stop),
            setup=setup,
            tags=tuple(tags),
            partial_closes=tuple(closes),
        )
    )


def closed_at_price(trade_id, price, closed_at, **kwargs):
    """A long trade of 1 @ 100 closed in one go: its net P&L is price - 100."""
    return make_trade(trade_id, closes=[close("1", price, closed_at)], **kwargs)


def bucket(trades, wins, losses, breakevens, net, win_rate):
    return {
        "trades": trades,
        "wins": wins,
        "losses": losses,
        "breakevens": breakevens,
        "netPnl": Decimal(net),
        "winRate": None if win_rate is None else Decimal(win_rate),
    }


def assert_same_numbers(actual, expected):
    """Equal values written the same way: Decimal("1.50") is not accepted for "1.5000"."""
    assert actual == expected
    assert str(actual) == str(expected)


def test_long_and_short_trades_with_multipliers_fees_and_a_partial_close():
    # GIVEN
    trades = [
        # long 10 @ 100, entry fees 2, all closed @ 110 with a close fee of 1:
        # gross = +1 * 10 * (110 - 100) * 1 = 100; net = 100 - 1 - 2 (entry fees, all allocated) = 97
        make_trade(
            "t1",
            quantity="10",
            entry="100",
            fees="2",
            closes=[close("10", "110", at(3), fees="1")],
        ),
        # short 2 ES @ 5000, multiplier 50, closed @ 4990 with a close fee of 4.50:
        # gross = -1 * 2 * (4990 - 5000) * 50 = 1000; net = 1000 - 4.50 = 995.50
        make_trade(
            "t2",
            side="short",
            symbol="ES",
            quantity="2",
            entry="5000",
            multiplier="50",
            closes=[close("2", "4990", at(4), fees="4.50")],
        ),
        # short 100 @ 10, entry fees 1, closed @ 10.25: gross = -1 * 100 * 0.25 = -25; net = -26
        make_trade(
            "t3",
            side="short",
            symbol="TSLA",
            quantity="100",
            entry="10",
            fees="1",
            closes=[close("100", "10.25", at(5))],
        ),
        # long 10 @ 20, entry fees 1, 4 closed @ 25 and 6 still open:
        # gross = 4 * 5 = 20; allocated entry fees = 1 * 4 / 10 = 0.40; net = 19.60
        make_trade(
            "t4",
            symbol="MSFT",
            quantity="10",
            entry="20",
            fees="1",
            closes=[close("4", "25", at(6))],
        ),
    ]

    # WHEN
    stats = fold(trades)

    # THEN the partial close counts in the P&L but t4 is not a closed trade
    assert (stats["totalTrades"], stats["openTrades"], stats["closedTrades"]) == (4, 1, 3)
    assert (stats["wins"], stats["losses"], stats["breakevens"]) == (2, 1, 0)
    expected = {
        "grossPnl": "1095.00",  # 100 + 1000 - 25 + 20
        "netPnl": "1086.10",  # 97 + 995.50 - 26 + 19.60
        "totalFees": "8.90",  # (2 + 1) + 4.50 + 1 + 0.40
        "winRate": "0.6667",  # 2 / 3
        "winRateDecisive": "0.6667",  # 2 / (2 + 1)
        "avgWin": "546.2500",  # (97 + 995.50) / 2
        "avgLoss": "26.0000",
        "payoffRatio": "21.0096",  # 546.25 / 26 = 21.00961...
        "largestWin": "995.50",
        "largestLoss": "-26.00",
        "profitFactor": "42.0192",  # 1092.50 / 26 = 42.01923...
        "expectancy": "355.5000",  # (97 + 995.50 - 26) / 3 = 1066.50 / 3
        "maxDrawdown": "26.00",  # equity 97, 1092.50, 1066.50, 1086.10: peak 1092.50
    }
    assert {key: str(stats[key]) for key in expected} == expected
    assert stats["avgR"] is None  # no stops
    assert stats["sqn"] is None
    assert stats["bySymbol"] == {
        "AAPL": bucket(1, 1, 0, 0, "97.00", "1.0000"),
        "ES": bucket(1, 1, 0, 0, "995.50", "1.0000"),
        "TSLA": bucket(1, 0, 1, 0, "-26.00", "0.0000"),
    }
    assert [point["cumulative"] for point in stats["equityCurve"]] == [
        Decimal("97"),
        Decimal("1092.50"),
        Decimal("1066.50"),
        Decimal("1086.10"),
    ]


def test_a_partial_close_on_an_open_trade_is_realized_but_the_trade_is_not_closed():
    # GIVEN long 3 @ 50, entry fees 3, 1 closed @ 60 with a close fee of 0.50:
    # gross = 10; net = 10 - 0.50 - 3 * 1 / 3 = 8.50; 2 remain open
    trade = make_trade(
        "t1", quantity="3", entry="50", fees="3", closes=[close("1", "60", at(2), fees="0.50")]
    )

    # WHEN
    stats = fold([trade])

    # THEN
    assert (stats["totalTrades"], stats["openTrades"], stats["closedTrades"]) == (1, 1, 0)
    assert (str(stats["grossPnl"]), str(stats["netPnl"]), str(stats["totalFees"])) == (
        "10.00",
        "8.50",
        "1.50",
    )
    assert stats["equityCurve"] == [
        {"date": "2026-03-02", "netPnl": Decimal("8.50"), "cumulative": Decimal("8.50")}
    ]
    for key in ("winRate", "winRateDecisive", "avgWin", "avgLoss", "expectancy", "profitFactor"):
        assert stats[key] is None, key
    assert stats["bySymbol"] == {}
    assert stats["byMonth"] == {}
    assert stats["currentStreak"] == 0


def test_no_trades_gives_zero_counts_none_ratios_and_seven_empty_weekdays():
    stats = fold([])

    empty_day = bucket(0, 0, 0, 0, "0.00", None)
    assert stats == {
        "totalTrades": 0,
        "openTrades": 0,
        "closedTrades": 0,
        "wins": 0,
        "losses": 0,
        "breakevens": 0,
        "winRate": None,
        "winRateDecisive": None,
        "grossPnl": Decimal("0.00"),
        "netPnl": Decimal("0.00"),
        "totalFees": Decimal("0.00"),
        "avgWin": None,
        "avgLoss": None,
        "payoffRatio": None,
        "largestWin": None,
        "largestLoss": None,
        "profitFactor": None,
        "expectancy": None,
        "avgR": None,
        "sqn": None,
        "maxDrawdown": Decimal("0.00"),
        "maxConsecutiveWins": 0,
        "maxConsecutiveLosses": 0,
        "currentStreak": 0,
        "bySymbol": {},
        "bySetup": {},
        "byTag": {},
        "byWeekday": dict.fromkeys(WEEKDAYS, empty_day),
        "byMonth": {},
        "equityCurve": [],
    }
    assert list(stats["byWeekday"]) == list(WEEKDAYS)
    for key in ("grossPnl", "netPnl", "totalFees", "maxDrawdown"):
        assert str(stats[key]) == "0.00", key
    assert str(stats["byWeekday"]["monday"]["netPnl"]) == "0.00"


def test_only_wins_leaves_the_loss_ratios_none():
    # GIVEN wins of 10 and 5
    trades = [closed_at_price("a", "110", at(2)), closed_at_price("b", "105", at(3))]

    # WHEN
    stats = fold(trades)

    # THEN
    assert stats["profitFactor"] is None  # 15 / |0|
    assert stats["payoffRatio"] is None  # 7.50 / no avgLoss
    assert stats["avgLoss"] is None
    assert stats["largestLoss"] is None
    assert str(stats["avgWin"]) == "7.5000"
    assert str(stats["largestWin"]) == "10.00"
    assert str(stats["winRate"]) == "1.0000"
    assert str(stats["winRateDecisive"]) == "1.0000"
    assert str(stats["maxDrawdown"]) == "0.00"
    assert (stats["maxConsecutiveWins"], stats["maxConsecutiveLosses"], stats["currentStreak"]) == (2, 0, 2)


def test_largest_win_and_largest_loss_are_the_extremes():
    # GIVEN wins of 5 and 20, losses of 3 and 30
    trades = [
        closed_at_price("a", "105", at(2)),
        closed_at_price("b", "70", at(3)),
        closed_at_price("c", "120", at(4)),
        closed_at_price("d", "97", at(5)),
    ]

    # WHEN
    stats = fold(trades)

    # THEN
    assert str(stats["largestWin"]) == "20.00"
    assert str(stats["largestLoss"]) == "-30.00"  # the most negative, as a negative number
    assert str(stats["avgWin"]) == "12.5000"  # 25 / 2
    assert str(stats["avgLoss"]) == "16.5000"  # 33 / 2
    assert str(stats["payoffRatio"]) == "0.7576"  # 12.5 / 16.5 = 0.75757...
    assert str(stats["profitFactor"]) == "0.7576"  # 25 / 33


def test_only_breakevens_leave_the_decisive_win_rate_none():
    stats = fold([closed_at_price("a", "100", at(2))])

    assert (stats["closedTrades"], stats["breakevens"]) == (1, 1)
    assert str(stats["winRate"]) == "0.0000"  # 0 / 1
    assert stats["winRateDecisive"] is None  # 0 / (0 + 0)
    assert str(stats["expectancy"]) == "0.0000"
    assert stats["profitFactor"] is None
    assert stats["payoffRatio"] is None


def test_a_breakeven_breaks_a_run():
    # GIVEN, in closing order: W W BE W L L (without the break the wins would run to 3)
    trades = [
        closed_at_price("w1", "110", at(2)),
        closed_at_price("w2", "110", at(3)),
        closed_at_price("be", "100", at(4)),
        closed_at_price("w3", "110", at(5)),
        closed_at_price("l1", "90", at(6)),
        closed_at_price("l2", "90", at(7)),
    ]

    # WHEN
    stats = fold(trades)

    # THEN
    assert stats["maxConsecutiveWins"] == 2
    assert stats["maxConsecutiveLosses"] == 2
    assert stats["currentStreak"] == -2
    assert stats["breakevens"] == 1
    assert str(stats["winRate"]) == "0.5000"  # 3 / 6
    assert str(stats["winRateDecisive"]) == "0.6000"  # 3 / (3 + 2)


def test_a_breakeven_at_the_end_resets_the_current_streak():
    trades = [closed_at_price("a", "90", at(2)), closed_at_price("b", "100", at(3))]

    stats = fold(trades)

    assert (stats["maxConsecutiveLosses"], stats["currentStreak"]) == (1, 0)


def test_streaks_follow_the_last_close_then_the_trade_id():
    # GIVEN b closes half on day 1 and the rest on day 6, so the order is c(4) a(5) b(6): W L W.
    # By first close it would be b(1) c(4) a(5): W W L.
    b = make_trade(
        "b", quantity="2", closes=[close("1", "110", at(1)), close("1", "110", at(6))], entry_at=at(1, 9)
    )
    trades = [closed_at_price("a", "90", at(5)), b, closed_at_price("c", "110", at(4))]

    # WHEN
    stats = fold(trades)

    # THEN
    assert (stats["maxConsecutiveWins"], stats["maxConsecutiveLosses"], stats["currentStreak"]) == (1, 1, 1)

    # GIVEN a loss x and a win y closed at the same moment, passed as y, x: the order is x then y
    tied = [closed_at_price("y", "110", at(8)), closed_at_price("x", "90", at(8))]

    # THEN the run ends with the win
    assert fold(tied)["currentStreak"] == 1
    assert fold(list(reversed(tied)))["currentStreak"] == 1


def r_trade(trade_id, exit_price, closed_at, **kwargs):
    """Long 10 @ 100 with a stop at 95: risk = 5 * 10 = 50, so R = (exit - 100) * 10 / 50."""
    return make_trade(
        trade_id, quantity="10", entry="100", stop="95", closes=[close("10", exit_price, closed_at)], **kwargs
    )


def test_sqn_needs_two_r_values():
    stats = fold([r_trade("a", "110", at(2))])  # R = 100 / 50 = 2

    assert str(stats["avgR"]) == "2.0000"
    assert stats["sqn"] is None


def test_sqn_of_two_r_values_leaves_out_open_trades_and_trades_without_a_stop():
    # GIVEN R = 2 (exit 110) and R = -1 (exit 95), plus trades that carry no R for the stats
    trades = [
        r_trade("a", "110", at(2)),
        r_trade("b", "95", at(3)),
        closed_at_price("no-stop", "150", at(4)),
        make_trade("open", quantity="10", stop="95", closes=[close("5", "200", at(5))]),
    ]

    # WHEN
    stats = fold(trades)

    # THEN mean = 0.5; sample variance = (1.5^2 + 1.5^2) / 1 = 4.5;
    # sqn = sqrt(2) * 0.5 / sqrt(4.5) = 0.5 * sqrt(4 / 9) = 1/3
    assert str(stats["avgR"]) == "0.5000"
    assert str(stats["sqn"]) == "0.3333"


def test_equal_r_values_have_no_sqn():
    trades = [r_trade(f"t{i}", "105", at(2 + i)) for i in range(3)]  # R = 1 each, stdev 0

    stats = fold(trades)

    assert str(stats["avgR"]) == "1.0000"
    assert stats["sqn"] is None


def test_sqn_caps_the_count_at_100():
    # GIVEN 100 trades with R = 1 and 100 with R = 3: mean 2, sample variance 200 / 199
    trades = [r_trade(f"a{i:03}", "105", at(2)) for i in range(100)]
    trades += [r_trade(f"b{i:03}", "115", at(3)) for i in range(100)]

    # WHEN
    stats = fold(trades)

    # THEN sqn = sqrt(100) * 2 / sqrt(200 / 199) = 20 * sqrt(0.995) = 19.94993...
    # (uncapped it would be sqrt(200) * 2 * sqrt(0.995) = 28.2134...)
    assert str(stats["sqn"]) == "19.9499"
    assert str(stats["avgR"]) == "2.0000"


def test_r_values_are_the_trades_own_rounded_r_multiples():
    # GIVEN long 1 @ 100 with a stop at 97 (risk 3), exits 101 and 102: R = 1/3 and 2/3,
    # which the trades carry as 0.3333 and 0.6667
    trades = [
        make_trade("a", stop="97", closes=[close("1", "101", at(2))]),
        make_trade("b", stop="97", closes=[close("1", "102", at(3))]),
    ]

    # WHEN
    stats = fold(trades)

    # THEN avgR = (0.3333 + 0.6667) / 2 = 0.5; sample stdev = sqrt(2 * 0.1667^2) = 0.23574...
    # sqn = sqrt(2) * 0.5 / 0.23574 = 2.99940...
    assert str(stats["avgR"]) == "0.5000"
    assert str(stats["sqn"]) == "2.9994"


def test_max_drawdown_is_measured_from_the_running_peak():
    # GIVEN events +100, -30, +80, -90, +10: equity 100, 70, 150, 60, 70; peak 100, 100, 150, 150, 150
    trades = [
        closed_at_price("e", "110", at(6)),
        closed_at_price("b", "70", at(3)),
        closed_at_price("d", "10", at(5)),
        closed_at_price("a", "200", at(2)),
        closed_at_price("c", "180", at(4)),
    ]

    # WHEN
    stats = fold(trades)

    # THEN the deeper dip after the new peak counts: 150 - 60 = 90 (the first dip was 30)
    assert_same_numbers(stats["maxDrawdown"], Decimal("90.00"))


def test_max_drawdown_starts_from_a_peak_of_zero():
    # GIVEN events -20, +5: equity -20, -15; the peak stays 0
    trades = [closed_at_price("a", "80", at(2)), closed_at_price("b", "105", at(3))]

    assert_same_numbers(fold(trades)["maxDrawdown"], Decimal("20.00"))


def test_max_drawdown_orders_simultaneous_events_by_trade_id():
    # GIVEN a (+50) and b (-50) at the same moment, then c (-50):
    # a first: equity 50, 0, -50 -> drawdown 100 (b first would give -50, 0, -50 -> 50)
    trades = [
        closed_at_price("b", "50", at(2)),
        closed_at_price("c", "50", at(3)),
        closed_at_price("a", "150", at(2)),
    ]

    assert_same_numbers(fold(trades)["maxDrawdown"], Decimal("100.00"))


def test_max_drawdown_orders_simultaneous_closes_of_a_trade_by_close_order():
    # GIVEN m's first close (+50, id "z") and second close (-50, id "a") at one moment, then n (-50):
    # in close order: equity 50, 0, -50 -> drawdown 100 (by close id it would be 50)
    m = make_trade(
        "m",
        quantity="2",
        closes=[close("1", "150", at(2), close_id="z"), close("1", "50", at(2), close_id="a")],
    )
    trades = [closed_at_price("n", "50", at(3)), m]

    assert_same_numbers(fold(trades)["maxDrawdown"], Decimal("100.00"))


def test_equity_curve_has_one_point_per_utc_day_with_a_realization():
    # GIVEN +100 and a partial close of -30 on day 2, +20 at 23:59 on day 4, -5 at 00:00 on day 5
    trades = [
        closed_at_price("t3", "120", at(4, 23, 59)),
        closed_at_price("t4", "95", at(5, 0, 0)),
        make_trade("t2", quantity="2", closes=[close("1", "70", at(2, 15))]),
        closed_at_price("t1", "200", at(2, 10)),
    ]

    # WHEN
    stats = fold(trades)

    # THEN day 3 has no realization and no point
    assert stats["equityCurve"] == [
        {"date": "2026-03-02", "netPnl": Decimal("70.00"), "cumulative": Decimal("70.00")},  # 100 - 30
        {"date": "2026-03-04", "netPnl": Decimal("20.00"), "cumulative": Decimal("90.00")},
        {"date": "2026-03-05", "netPnl": Decimal("-5.00"), "cumulative": Decimal("85.00")},
    ]
    assert [str(p["netPnl"]) for p in stats["equityCurve"]] == ["70.00", "20.00", "-5.00"]


def test_breakdowns_by_symbol_setup_tag_weekday_and_month():
    # GIVEN
    trades = [
        # A: entered Friday 2026-01-30; +10 that day, +20 on 2026-02-02: a win of 30 in February
        make_trade(
            "A",
            quantity="2",
            setup="breakout",
            tags=("momentum", "earnings"),
            entry_at=at(30, 15, month=1),
            closes=[close("1", "110", at(30, 16, month=1)), close("1", "120", at(2, 10, month=2))],
        ),
        # B: entered Monday 2026-02-02, no setup: a loss of 15
        make_trade(
            "B",
            tags=("momentum",),
            entry_at=at(2, 9, month=2),
            closes=[close("1", "85", at(2, 11, month=2))],
        ),
        # C: BTC entered Sunday 2026-01-25: a breakeven in January
        make_trade(
            "C",
            symbol="BTC",
            setup="breakout",
            entry_at=at(25, 20, month=1),
            closes=[close("1", "100", at(26, 8, month=1))],
        ),
        # D: still open, so in no bucket
        make_trade("D", symbol="ETH", setup="fade", tags=("earnings",), entry_at=at(3, 9, month=2)),
    ]

    # WHEN
    stats = fold(trades)

    # THEN
    assert stats["bySymbol"] == {
        "AAPL": bucket(2, 1, 1, 0, "15.00", "0.5000"),
        "BTC": bucket(1, 0, 0, 1, "0.00", "0.0000"),
    }
    assert stats["bySetup"] == {"breakout": bucket(2, 1, 0, 1, "30.00", "0.5000")}
    assert stats["byTag"] == {
        "earnings": bucket(1, 1, 0, 0, "30.00", "1.0000"),
        "momentum": bucket(2, 1, 1, 0, "15.00", "0.5000"),
    }
    # by the last close: A's first close and its entry are in January
    assert stats["byMonth"] == {
        "2026-01": bucket(1, 0, 0, 1, "0.00", "0.0000"),
        "2026-02": bucket(2, 1, 1, 0, "15.00", "0.5000"),
    }
    empty_day = bucket(0, 0, 0, 0, "0.00", None)
    assert stats["byWeekday"] == {
        "monday": bucket(1, 0, 1, 0, "-15.00", "0.0000"),
        "tuesday": empty_day,
        "wednesday": empty_day,
        "thursday": empty_day,
        "friday": bucket(1, 1, 0, 0, "30.00", "1.0000"),
        "saturday": empty_day,
        "sunday": bucket(1, 0, 0, 1, "0.00", "0.0000"),
    }
    assert list(stats["byWeekday"]) == list(WEEKDAYS)
    assert str(stats["byTag"]["momentum"]["netPnl"]) == "15.00"


def test_payoff_ratio_divides_the_exact_means():
    # GIVEN a win of 0.00005 and a loss of 0.00015 (fractional prices, as with crypto)
    trades = [closed_at_price("w", "100.00005", at(2)), closed_at_price("l", "99.99985", at(3))]

    # WHEN
    stats = fold(trades)

    # THEN the means show as 0.0000 and 0.0002 (half-even), but the payoff is 0.00005 / 0.00015 = 1/3,
    # not 0.0000 / 0.0002 = 0
    assert str(stats["avgWin"]) == "0.0000"
    assert str(stats["avgLoss"]) == "0.0002"
    assert str(stats["payoffRatio"]) == "0.3333"
    assert str(stats["profitFactor"]) == "0.3333"


def test_money_sums_stay_exact_beyond_28_digits():
    # GIVEN two partial closes whose exact sum has 35 digits:
    # 123456789012345.1234567891 * (2.0000000001 - 1) = 123456789024690.80235802361234567891
    # and 0.0000000001 * (1 - 2) = -0.0000000001
    big = make_trade(
        "big",
        quantity="123456789012345.1234567892",
        entry="1",
        closes=[close("123456789012345.1234567891", "2.0000000001", at(2))],
    )
    small = make_trade("small", quantity="2", entry="2", closes=[close("0.0000000001", "1", at(3))])

    # WHEN
    stats = fold([big, small])

    # THEN
    assert_same_numbers(stats["grossPnl"], Decimal("123456789024690.80235802351234567891"))
    assert_same_numbers(stats["netPnl"], Decimal("123456789024690.80235802351234567891"))  # no fees
    assert_same_numbers(stats["totalFees"], Decimal("0.00"))
    assert_same_numbers(
        stats["equityCurve"][-1]["cumulative"], Decimal("123456789024690.80235802351234567891")
    )
    # the peak is the first close; the second takes 0.0000000001 off it
    assert_same_numbers(stats["maxDrawdown"], Decimal("0.0000000001"))
