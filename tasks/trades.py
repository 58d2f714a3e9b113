"""Data tools for `zappa invoke`: export a user's trades, check trade items' integrity."""

from __future__ import annotations

from typing import Any

from .stats import container, emit, entry

# A Lambda response carries at most 6 MB: past this, export with the CLI from an operator
# machine (TRADEAPP_BACKEND=dynamodb flask --app wsgi trades export USER).
MAX_LINES = 5_000


@entry
def export_trades(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """`{"userId": ...}` -> that user's trade items as JSON Lines (decimals exact)."""
    user_id = event.get("userId")
    if not isinstance(user_id, str) or not user_id:
        raise ValueError('export_trades needs {"userId": "..."}')
    lines = []
    for line in container().audit.export(user_id):
        if len(lines) == MAX_LINES:
            raise ValueError(f"more than {MAX_LINES} trades: export with the CLI instead")
        lines.append(line)
    emit("export-trades", userId=user_id, trades=len(lines))
    return {"userId": user_id, "trades": len(lines), "jsonl": "\n".join(lines)}


@entry
def check_trades(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """`{"userId": ...}` or `{}` (everyone) -> every malformed trade item; changes nothing."""
    reports = list(container().audit.check(event.get("userId") or None))
    for report in reports:
        emit("malformed trade", **report)
    emit("check-trades", malformed=len(reports))
    return {"malformed": len(reports), "reports": reports[:1000]}
