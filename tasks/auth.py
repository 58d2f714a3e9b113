"""Security-incident entry point for `zappa invoke`: refuse a user's tokens now."""

from __future__ import annotations

from typing import Any

from .stats import container, emit, entry


@entry
def revoke_user(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """`{"userId": ...}` -> every access token issued to that user until now is refused."""
    user_id = event.get("userId")
    if not isinstance(user_id, str) or not user_id:
        raise ValueError('revoke_user needs {"userId": "..."}')
    summary = {"userId": user_id, "tokensValidAfter": container().sessions.revoke(user_id)}
    emit("revoke-user", **summary)
    return summary
