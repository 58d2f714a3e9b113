"""The stats fold against a naive recomputation from the definitions, on random valid trades.

The recomputation works in exact fractions and rounds once at the end, so it shares no
arithmetic with fold() or Trade.figures.
"""

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from tradeapp.domain.numbers import money
from tradeapp.domain.stats import fold
from tradeapp.domain.trade import PartialClose, Trade, validate

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
START = datetime(2025, 12, 26, tzinfo=UTC)  # trades close in either month, and year
HALF_DAY = timedelta(hours=12)
FEE_QUANTUM_PLACES = 10  # entry fees are allocated per close at 10 decimal places
SQN_CAP = 100
COUNTS = {"win": "wins", "loss": "losses", "breakeven": "breakevens"}

# ---------------------------------------------------------------------------------------------
# Random valid trades: small numbers with at most 4 decimal places, whole-hour UTC times on a
# narrow grid so that equal closing times (and so the tie rules) come up often.


def decimals(high):
    """Decimals in [0, high] with 0 to 4 decimal places (the division drops trailing zeros)."""
    return st.integers(0, high * 10**4).map(lambda n: Decimal(n) / 10**4)


# Built once: hypothesis validates every strategy object it is given.
POSITIVE = st.one_of(
    st.sampled_from([Decimal(n) for n in ("0.5", "1", "2", "3", "10", "100")]),
    decimals(200).filter(bool),
)
FEE = st.one_of(st.just(Decimal(0)), st.just(Decimal(0)), decimals(5))
STOP_DISTANCE = st.one_of(st.just(Decimal(0)), decimals(20), decimals(20))  # 0: a stop at the entry, no R
CLOSE = st.tuples(
    POSITIVE,  # quantity
    st.one_of(st.none(), st.none(), POSITIVE),  # price; None: at the entry price, for breakevens
    st.integers(0, 12),  # half days after the entry: equal times come up often
    st.sampled_from("abc"),  # close id, so that close id order is not close order
    FEE,
)
TRADE = st.fixed_dictionaries(
    {
        "side": st.sampled_from(("long", "short")),
        "entry_price": POSITIVE,
        "entry_slot": st.integers(0, 12),  # half days from START
        "closes": st.lists(CLOSE, max_size=4),
        "fully_closed": st.sampled_from((True, True, False)),
        "extra": POSITIVE,
        "stop_distance": st.one_of(st.none(), STOP_DISTANCE, STOP_DISTANCE),
        "symbol": st.sampled_from(("AAPL", "ES", "BTC")),
        "fees": FEE,
        "multiplier": st.sampled_from([Decimal(n) for n in ("1", "1", "50", "0.1")]),
        "setup": st.sampled_from((None, "breakout", "fade")),
        "tags": st.lists(st.sampled_from("xyz"), unique=True, max_size=3),
    }
)
TRADE_IDS = st.lists(st.text("abcdef", min_size=1, max_size=3), unique=True, max_size=8)


def build(trade_id, d):
    entry_at = START + HALF_DAY * d["entry_slot"]
    closes = tuple(
        PartialClose(
            close_id=f"{letter}{index}",
            quantity=quantity,
            price=d["entry_price"] if price is None else price,
            closed_at=entry_at + HALF_DAY * slots,
            fees=fees,
        )
        for index, (quantity, price, slots, letter, fees) in enumerate(d["closes"])
    )
    # closed (the closes sum to the quantity), partial, or open
    quantity = sum((c.quantity for c in closes), Decimal(0))
    if not closes or not d["fully_closed"]:
        quantity += d["extra"]
    stop_loss = None
    if d["stop_distance"] is not None:  # a long's stop is at or below the entry, a short's above
        stop_loss = d["entry_price"] + (d["stop_distance"] if d["side"] == "short" else -d["stop_distance"])
    trade = Trade(
        user_id="alice",
        trade_id=trade_id,
        symbol=d["symbol"],
        side=d["side"],
        quantity=quantity,
        entry_price=d["entry_price"],
        entry_at=entry_at,
        created_at=START,
        updated_at=START,
        fees=d["fees"],
        stop_loss=stop_loss if stop_loss is None or stop_loss > 0 else None,
        multiplier=d["multiplier"],
        setup=d["setup"],
        tags=tuple(d["tags"]),
        partial_closes=closes,
    )
    return validate(trade)


@st.composite
def trade_lists(draw):
    # ids drawn out of order, so that trade id order is not input order
    return [build(trade_id, draw(TRADE)) for trade_id in draw(TRADE_IDS)]


# ---------------------------------------------------------------------------------------------
# The naive recomputation, straight from the definitions.


def half_even(value, places):
    """Fraction -> Fraction rounded half-even (round() on a Fraction rounds half to even)."""
    scale = 10**places
    return Fraction(round(value * scale), scale)


def as_ratio(value):
    """An exact Fraction rounded half-even to 4 places, as a Decimal with exponent -4."""
    return Decimal(f"{round(value * 10**4)}E-4")


def as_money(value):
    """An exact Fraction with a power-of-ten denominator, as numbers.money writes it."""
    places = 0
    while (value * 10**places).denominator != 1:
        places += 1
        assert places <= 40, value  # not a finite decimal: the recomputation went wrong
    return money(Decimal(f"{value * 10**places}E-{places}"))


def divided(numerator, denominator):
    return None if denominator == 0 else as_ratio(Fraction(numerator) / Fraction(denominator))


def sqn(values):
    """sqrt(min(n, 100)) * mean / sample stdev, rounded half-even exactly via integer square roots."""
    n = len(values)
    if n < 2:
        return None
    mean = sum(values, Fraction(0)) / n
    variance = sum(((v - mean) ** 2 for v in values), Fraction(0)) / (n - 1)
    if variance == 0:
        return None
    # |sqn| * 10^4 = sqrt(x) with x rational; round sqrt(x) half-even by comparing x with (s + 1/2)^2
    x = min(n, SQN_CAP) * mean**2 / variance * 10**8
    s = math.isqrt(math.floor(x))
    halfway = (Fraction(2 * s + 1, 2)) ** 2
    rounded = s + 1 if x > halfway or (x == halfway and s % 2) else s
    return Decimal(f"{rounded if mean >= 0 else -rounded}E-4")


def realizations(trade):
    """(gross_k, net_k) of each close: s * q_k * (p_k - entry) * m, less the close fee and
    A(c_k) - A(c_{k-1}) of the entry fees, with A(c) = fees * c / Q rounded to 10 places."""
    sign = 1 if trade.side == "long" else -1
    quantity, entry_price = Fraction(trade.quantity), Fraction(trade.entry_price)
    closed = allocated = Fraction(0)
    result = []
    for close in trade.partial_closes:
        gross = sign * Fraction(close.quantity) * (Fraction(close.price) - entry_price)
        gross *= Fraction(trade.multiplier)
        closed += Fraction(close.quantity)
        cumulative = half_even(Fraction(trade.fees) * closed / quantity, FEE_QUANTUM_PLACES)
        result.append((gross, gross - Fraction(close.fees) - (cumulative - allocated)))
        allocated = cumulative
    return result


def empty_bucket():
    return {"trades": 0, "wins": 0, "losses": 0, "breakevens": 0, "net": Fraction(0)}


def shown(bucket):
    return {
        "trades": bucket["trades"],
        "wins": bucket["wins"],
        "losses": bucket["losses"],
        "breakevens": bucket["breakevens"],
        "netPnl": as_money(bucket["net"]),
        "winRate": divided(bucket["wins"], bucket["trades"]),
    }


def naive(trade_list):
    gross = net = Fraction(0)
    events = []
    closed = []  # (last closed_at, trade_id, net, outcome)
    r_values = []
    groups = {name: defaultdict(empty_bucket) for name in ("symbol", "setup", "tag", "weekday", "month")}
    open_count = 0
    for trade in trade_list:
        figures = realizations(trade)
        for index, (close, (close_gross, close_net)) in enumerate(
            zip(trade.partial_closes, figures, strict=True)
        ):
            gross += close_gross
            net += close_net
            events.append((close.closed_at, trade.trade_id, index, close_net))
        closed_quantity = sum((Fraction(c.quantity) for c in trade.partial_closes), Fraction(0))
        if not trade.partial_closes or closed_quantity < Fraction(trade.quantity):
            open_count += 1
            continue
        trade_net = sum((n for _, n in figures), Fraction(0))
        outcome = "win" if trade_net > 0 else "loss" if trade_net < 0 else "breakeven"
        last = max(c.closed_at for c in trade.partial_closes)
        closed.append((last, trade.trade_id, trade_net, outcome))
        if trade.stop_loss is not None and trade.stop_loss != trade.entry_price:
            risk = abs(Fraction(trade.entry_price) - Fraction(trade.stop_loss))
            risk *= Fraction(trade.multiplier) * Fraction(trade.quantity)
            r_values.append(half_even(trade_net / risk, 4))  # the trade's own rMultiple
        keys = {
            "symbol": [trade.symbol],
            "setup": [trade.setup] if trade.setup else [],
            "tag": list(trade.tags),
            "weekday": [WEEKDAYS[trade.entry_at.astimezone(UTC).weekday()]],
            "month": [last.astimezone(UTC).strftime("%Y-%m")],
        }
        for name, values in keys.items():
            for value in values:
                group = groups[name][value]
                group["trades"] += 1
                group[COUNTS[outcome]] += 1
                group["net"] += trade_net

    wins = [n for *_, n, o in closed if o == "win"]
    losses = [n for *_, n, o in closed if o == "loss"]
    breakevens = [n for *_, n, o in closed if o == "breakeven"]
    avg_win = sum(wins, Fraction(0)) / len(wins) if wins else None
    avg_loss = -sum(losses, Fraction(0)) / len(losses) if losses else None

    streak = best_wins = best_losses = 0
    for _, _, _, outcome in sorted(closed, key=lambda c: (c[0], c[1])):
        if outcome == "win":
            streak = streak + 1 if streak > 0 else 1
        elif outcome == "loss":
            streak = streak - 1 if streak < 0 else -1
        else:
            streak = 0
        best_wins, best_losses = max(best_wins, streak), max(best_losses, -streak)

    equity = peak = drawdown = Fraction(0)
    days = defaultdict(Fraction)
    for closed_at, _, _, amount in sorted(events, key=lambda e: e[:3]):
        equity += amount
        peak = max(peak, equity)
        drawdown = max(drawdown, peak - equity)
        days[closed_at.astimezone(UTC).date().isoformat()] += amount
    curve = []
    cumulative = Fraction(0)
    for day in sorted(days):
        cumulative += days[day]
        curve.append({"date": day, "netPnl": as_money(days[day]), "cumulative": as_money(cumulative)})

    closed_total = sum((n for _, _, n, _ in closed), Fraction(0))
    return {
        "totalTrades": len(trade_list),
        "openTrades": open_count,
        "closedTrades": len(closed),
        "wins": len(wins),
        "losses": len(losses),
        "breakevens": len(breakevens),
        "winRate": divided(len(wins), len(closed)),
        "winRateDecisive": divided(len(wins), len(wins) + len(losses)),
        "grossPnl": as_money(gross),
        "netPnl": as_money(net),
        "totalFees": as_money(gross - net),
        "avgWin": None if avg_win is None else as_ratio(avg_win),
        "avgLoss": None if avg_loss is None else as_ratio(avg_loss),
        "payoffRatio": None if avg_win is None or avg_loss is None else divided(avg_win, avg_loss),
        "largestWin": as_money(max(wins)) if wins else None,
        "largestLoss": as_money(min(losses)) if losses else None,
        "profitFactor": divided(sum(wins, Fraction(0)), -sum(losses, Fraction(0))),
        "expectancy": divided(closed_total, len(closed)),
        "avgR": divided(sum(r_values, Fraction(0)), len(r_values)),
        "sqn": sqn(r_values),
        "maxDrawdown": as_money(drawdown),
        "maxConsecutiveWins": best_wins,
        "maxConsecutiveLosses": best_losses,
        "currentStreak": streak,
        "bySymbol": {k: shown(v) for k, v in sorted(groups["symbol"].items())},
        "bySetup": {k: shown(v) for k, v in sorted(groups["setup"].items())},
        "byTag": {k: shown(v) for k, v in sorted(groups["tag"].items())},
        "byWeekday": {day: shown(groups["weekday"][day]) for day in WEEKDAYS},
        "byMonth": {k: shown(v) for k, v in sorted(groups["month"].items())},
        "equityCurve": curve,
    }


# ---------------------------------------------------------------------------------------------


def assert_same(actual, expected, path="stats"):
    """Equal structure and values, with each Decimal at the scale the naive version writes."""
    assert type(actual) is type(expected), path
    if isinstance(expected, dict):
        assert list(actual) == list(expected), path
        for key in expected:
            assert_same(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), path
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same(a, e, f"{path}[{index}]")
    elif isinstance(expected, Decimal):
        assert actual == expected, f"{path}: {actual} != {expected}"
        assert actual.as_tuple().exponent == expected.as_tuple().exponent, f"{path}: {actual} vs {expected}"
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def walk(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)
    else:
        yield value


PROPERTY = settings(max_examples=200, deadline=None)


@PROPERTY
@given(trade_lists())
def test_fold_equals_the_naive_recomputation_and_holds_no_floats(trade_list):
    stats = fold(trade_list)

    assert_same(stats, naive(trade_list))
    for value in walk(stats):
        assert type(value) in (str, int, Decimal, type(None)), repr(value)


@PROPERTY
@given(st.data())
def test_fold_does_not_depend_on_the_order_of_the_trades(data):
    trade_list = data.draw(trade_lists())
    shuffled = data.draw(st.permutations(trade_list))

    # repr: the same values written the same way, keys in the same order
    assert repr(fold(shuffled)) == repr(fold(trade_list))
