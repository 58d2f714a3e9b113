"""The stats floor: read one user's rows from the SQLite file and sum each trade's net P&L.

Decimal arithmetic on the same item JSON the adapter writes, and nothing else: no Trade
objects, no validation, no breakdowns. StatsService.rebuild is compared with this.
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal

ZERO = Decimal(0)


def net_pnl(item: dict) -> Decimal:
    """Gross P&L of the closes, less the close fees and the entry fees."""
    entry = Decimal(item["entryPrice"])
    sign = 1 if item["side"] == "long" else -1
    multiplier = Decimal(item.get("multiplier", "1"))
    total = -Decimal(item.get("fees", "0"))
    for close in item["partialCloses"]:
        total += (Decimal(close["price"]) - entry) * Decimal(close["quantity"]) * sign * multiplier
        total -= Decimal(close["fees"])
    return total


def fold_floor(path: str, user_id: str) -> tuple[int, Decimal]:
    """(trades read, their summed net P&L) for one user."""
    conn = sqlite3.connect(path)
    try:
        count, total = 0, ZERO
        for (item,) in conn.execute("SELECT item FROM trades WHERE user_id = ?", (user_id,)):
            total += net_pnl(json.loads(item))
            count += 1
        return count, total
    finally:
        conn.close()
