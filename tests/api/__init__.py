"""HTTP API tests: the Flask app through its test client, against the memory and SQLite backends."""

from __future__ import annotations

import uuid
from typing import Any

BACKENDS = ["memory", "sqlite"]


def trade_body(**changes: Any) -> dict[str, Any]:
    """The tour's trade: long AAPL 100 @ 187.25, fees 1.00, stop 185 (numbers and strings mixed)."""
    return {
        "symbol": "AAPL",
        "side": "long",
        "quantity": 100,
        "entryPrice": 187.25,
        "entryAt": "2026-03-02T14:30:00Z",
        "fees": "1.00",
        "stopLoss": 185,
        **changes,
    }


def fresh_user() -> str:
    """A user name no other test uses, for tests that share one app."""
    return f"user-{uuid.uuid4().hex[:12]}"
