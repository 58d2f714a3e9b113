"""The stats fold: one pure function from a user's trades to their performance statistics.

The stream updater, the scheduled rebuild and on-demand rebuilds all call fold(), so they
cannot drift. Definitions are in docs/stats.md. O(n log n): one pass plus two sorts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, localcontext
from typing import Any

from .numbers import CONTEXT, RATIO_QUANTUM, ZERO, money, ratio
from .trade import Trade

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SQN_CAP = 100
BREAKDOWNS = ("symbol", "setup", "tag", "weekday", "month")


@dataclass
class Bucket:
    trades: int = 0
    wins: int = 0
    losses: int = 0
    breakevens: int = 0
    net_pnl: Decimal = ZERO

    def add(self, outcome: str, net: Decimal) -> None:
        self.trades += 1
        self.wins += outcome == "win"
        self.losses += outcome == "loss"
        self.breakevens += outcome == "breakeven"
        self.net_pnl += net

    def as_dict(self) -> dict[str, Any]:
        return {
            "trades": self.trades,
            "wins": self.wins,
            "losses": self.losses,
            "breakevens": self.breakevens,
            "netPnl": money(self.net_pnl),
            "winRate": ratio(Decimal(self.wins), Decimal(self.trades)),
        }


@dataclass
class _Closed:
    last_closed_at: datetime
    trade_id: str
    outcome: str


@dataclass
class _Acc:
    total: int = 0
    open: int = 0
    wins: int = 0
    losses: int = 0
    breakevens: int = 0
    gross: Decimal = ZERO
    net: Decimal = ZERO
    win_sum: Decimal = ZERO
    loss_sum: Decimal = ZERO
    closed_net: Decimal = ZERO
    largest_win: Decimal | None = None
    largest_loss: Decimal | None = None
    r_values: list[Decimal] = field(default_factory=list)
    events: list[tuple[datetime, str, int, Decimal]] = field(default_factory=list)
    closed: list[_Closed] = field(default_factory=list)
    by: dict[str, dict[str, Bucket]] = field(
        default_factory=lambda: {k: defaultdict(Bucket) for k in BREAKDOWNS}
    )


def fold(trades: Iterable[Trade]) -> dict[str, Any]:
    """Every statistic of the user's trades (camelCase keys, Decimals, None for 0 denominators)."""
    acc = _Acc()
    # + and - use the thread's context, 28 digits by default: CONTEXT keeps every sum exact.
    with localcontext(CONTEXT):
        for trade in trades:
            _add(acc, trade)
        return _finish(acc)


def _add(acc: _Acc, trade: Trade) -> None:
    figures = trade.figures
    acc.total += 1
    for index, (close, close_figures) in enumerate(zip(trade.partial_closes, figures.closes, strict=True)):
        acc.gross += close_figures.gross_pnl
        acc.net += close_figures.net_pnl
        acc.events.append((close.closed_at, trade.trade_id, index, close_figures.net_pnl))
    if figures.status != "closed":
        acc.open += 1
        return
    net, outcome = figures.net_pnl, figures.outcome
    assert outcome is not None
    assert figures.last_closed_at is not None
    acc.closed_net += net
    if outcome == "win":
        acc.wins += 1
        acc.win_sum += net
        acc.largest_win = net if acc.largest_win is None else max(acc.largest_win, net)
    elif outcome == "loss":
        acc.losses += 1
        acc.loss_sum += net
        acc.largest_loss = net if acc.largest_loss is None else min(acc.largest_loss, net)
    else:
        acc.breakevens += 1
    if figures.r_multiple is not None:
        acc.r_values.append(figures.r_multiple)
    acc.closed.append(_Closed(figures.last_closed_at, trade.trade_id, outcome))
    acc.by["symbol"][trade.symbol].add(outcome, net)
    if trade.setup:
        acc.by["setup"][trade.setup].add(outcome, net)
    for tag in dict.fromkeys(trade.tags):  # a tag listed twice still counts once
        acc.by["tag"][tag].add(outcome, net)
    acc.by["weekday"][WEEKDAYS[trade.entry_at.weekday()]].add(outcome, net)
    closed_at = figures.last_closed_at  # formatted by hand: strftime costs three times as much
    acc.by["month"][f"{closed_at.year:04d}-{closed_at.month:02d}"].add(outcome, net)


def _finish(acc: _Acc) -> dict[str, Any]:
    closed_count = acc.wins + acc.losses + acc.breakevens
    avg_win = _mean(acc.win_sum, acc.wins)
    avg_loss = _mean(-acc.loss_sum, acc.losses)
    max_wins, max_losses, current = _streaks(acc.closed)
    max_drawdown, curve = _equity(acc.events)
    weekdays = {day: acc.by["weekday"][day].as_dict() for day in WEEKDAYS}
    return {
        "totalTrades": acc.total,
        "openTrades": acc.open,
        "closedTrades": closed_count,
        "wins": acc.wins,
        "losses": acc.losses,
        "breakevens": acc.breakevens,
        "winRate": ratio(Decimal(acc.wins), Decimal(closed_count)),
        "winRateDecisive": ratio(Decimal(acc.wins), Decimal(acc.wins + acc.losses)),
        "grossPnl": money(acc.gross),
        "netPnl": money(acc.net),
        "totalFees": money(acc.gross - acc.net),
        "avgWin": avg_win,
        "avgLoss": avg_loss,
        # from the exact means, not the rounded ones: (win_sum / wins) / (|loss_sum| / losses)
        "payoffRatio": ratio(acc.win_sum * acc.losses, -acc.loss_sum * acc.wins),
        "largestWin": acc.largest_win,
        "largestLoss": acc.largest_loss,
        "profitFactor": ratio(acc.win_sum, -acc.loss_sum),
        "expectancy": _mean(acc.closed_net, closed_count),
        "avgR": _mean(sum(acc.r_values, ZERO), len(acc.r_values)),
        "sqn": _sqn(acc.r_values),
        "maxDrawdown": max_drawdown,
        "maxConsecutiveWins": max_wins,
        "maxConsecutiveLosses": max_losses,
        "currentStreak": current,
        "bySymbol": _buckets(acc.by["symbol"]),
        "bySetup": _buckets(acc.by["setup"]),
        "byTag": _buckets(acc.by["tag"]),
        "byWeekday": weekdays,
        "byMonth": _buckets(acc.by["month"]),
        "equityCurve": curve,
    }


def _mean(total: Decimal, count: int) -> Decimal | None:
    return ratio(total, Decimal(count))


def _sqn(values: list[Decimal]) -> Decimal | None:
    n = len(values)
    if n < 2:
        return None
    mean = CONTEXT.divide(sum(values, ZERO), Decimal(n))
    variance = CONTEXT.divide(sum(((v - mean) ** 2 for v in values), ZERO), Decimal(n - 1))
    if variance.is_zero():
        return None
    stdev = variance.sqrt(CONTEXT)
    scale = Decimal(min(n, SQN_CAP)).sqrt(CONTEXT)
    return CONTEXT.divide(CONTEXT.multiply(scale, mean), stdev).quantize(RATIO_QUANTUM, context=CONTEXT)


def _streaks(closed: list[_Closed]) -> tuple[int, int, int]:
    best_wins = best_losses = run = 0
    for trade in sorted(closed, key=lambda c: (c.last_closed_at, c.trade_id)):
        if trade.outcome == "win":
            run = run + 1 if run > 0 else 1
        elif trade.outcome == "loss":
            run = run - 1 if run < 0 else -1
        else:
            run = 0  # a breakeven breaks a run
        best_wins = max(best_wins, run)
        best_losses = max(best_losses, -run)
    return best_wins, best_losses, run


def _equity(events: list[tuple[datetime, str, int, Decimal]]) -> tuple[Decimal, list[dict[str, Any]]]:
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    equity = peak = drawdown = ZERO
    days: dict[date, Decimal] = {}
    for closed_at, _, _, net in events:
        equity += net
        if equity > peak:
            peak = equity
        elif peak - equity > drawdown:
            drawdown = peak - equity
        day = closed_at.date()
        days[day] = days.get(day, ZERO) + net
    curve = []
    cumulative = ZERO
    for day, net in days.items():  # events are in time order, so days are too
        cumulative += net
        curve.append({"date": day.isoformat(), "netPnl": money(net), "cumulative": money(cumulative)})
    return money(drawdown), curve


def _buckets(groups: dict[str, Bucket]) -> dict[str, dict[str, Any]]:
    return {key: groups[key].as_dict() for key in sorted(groups)}
