"""Response schema of the stats: the stored document is already camelCase JSON."""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from tradeapp.api.extensions import Schema

from .fields import Number, Timestamp


class FromCamel(Schema):
    """Dumps mappings whose keys are already the JSON names (the stored stats document)."""

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        super().on_bind_field(field_name, field_obj)
        field_obj.attribute = field_obj.data_key


def _ratio(description: str) -> Number:
    return Number(allow_none=True, metadata={"description": description + "; null when its denominator is 0"})


class Bucket(FromCamel):
    trades = fields.Integer()
    wins = fields.Integer()
    losses = fields.Integer()
    breakevens = fields.Integer()
    net_pnl = Number()
    win_rate = _ratio("wins / trades")


class CurvePoint(FromCamel):
    date = fields.String(metadata={"example": "2026-03-02"})
    net_pnl = Number()
    cumulative = Number()


class StatsOut(FromCamel):
    user_id = fields.String()
    revision = fields.Integer(metadata={"description": "the trade-data revision these stats reflect"})
    computed_at = Timestamp()
    trade_count = fields.Integer()
    total_trades = fields.Integer()
    open_trades = fields.Integer(metadata={"description": "open or partial"})
    closed_trades = fields.Integer()
    wins = fields.Integer()
    losses = fields.Integer()
    breakevens = fields.Integer()
    win_rate = _ratio("wins / closedTrades")
    win_rate_decisive = _ratio("wins / (wins + losses)")
    gross_pnl = Number(metadata={"description": "realized, over every partial close"})
    net_pnl = Number(metadata={"description": "realized, over every partial close"})
    total_fees = Number(metadata={"description": "grossPnl - netPnl"})
    avg_win = _ratio("mean netPnl of wins")
    avg_loss = _ratio("mean |netPnl| of losses")
    payoff_ratio = _ratio("avgWin / avgLoss")
    largest_win = Number(allow_none=True)
    largest_loss = Number(allow_none=True, metadata={"description": "the most negative netPnl"})
    profit_factor = _ratio("sum of wins / |sum of losses|")
    expectancy = _ratio("sum of netPnl of closed trades / closedTrades")
    avg_r = _ratio("mean rMultiple of closed trades with a stop")
    sqn = _ratio("sqrt(min(n, 100)) * mean(R) / stdev(R)")
    max_drawdown = Number()
    max_consecutive_wins = fields.Integer()
    max_consecutive_losses = fields.Integer()
    current_streak = fields.Integer(metadata={"description": "+n wins, -n losses, 0"})
    by_symbol = fields.Dict(keys=fields.String(), values=fields.Nested(Bucket))
    by_setup = fields.Dict(keys=fields.String(), values=fields.Nested(Bucket))
    by_tag = fields.Dict(keys=fields.String(), values=fields.Nested(Bucket))
    by_weekday = fields.Dict(keys=fields.String(), values=fields.Nested(Bucket))
    by_month = fields.Dict(keys=fields.String(), values=fields.Nested(Bucket))
    equity_curve = fields.List(fields.Nested(CurvePoint))


def present(record: Any) -> dict[str, Any]:
    """A StatsRecord as the mapping StatsOut dumps."""
    return {
        "userId": record.user_id,
        "revision": record.revision,
        "computedAt": record.computed_at,
        "tradeCount": record.trade_count,
        **record.stats,
    }
