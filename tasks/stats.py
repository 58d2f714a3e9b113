"""Stats entry points for Lambda: the Trades stream, the 6-hourly schedule and `zappa invoke`.

Each decodes its event, calls one service function and returns. Zappa's run_function calls
a task again with fewer arguments when it raises TypeError, which would run it twice: no
TypeError escapes (see `entry`).
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from tradeapp.adapters.ports import DeadLetter
from tradeapp.bootstrap import Container, build
from tradeapp.config import load
from tradeapp.logs import configure

# Start another page only with this much time left, or twice the slowest page so far.
RESERVE_MS = 10_000
_container: Container | None = None


def container() -> Container:
    """One per Lambda container, built on first use (never at import)."""
    global _container
    if _container is None:
        configure()
        _container = build(load())
    return _container


def entry(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def run(event: Any = None, context: Any = None) -> Any:
        try:
            return func(event or {}, context)
        except TypeError as error:  # never let Zappa retry us with fewer arguments
            raise RuntimeError(f"{func.__name__} failed: {error!r}") from error

    return run


def emit(message: str, **fields: Any) -> None:
    """One structured line on stdout, which Lambda sends to CloudWatch Logs."""
    print(json.dumps({"message": message, **fields}, default=str))


@entry
def update_stats(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """DynamoDB stream batch -> one rebuild per user; failures reported per item."""
    records = event.get("Records") or []
    failed = container().stats.apply_changes(records)
    emit("update-stats", records=len(records), failures=len(failed))
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}


@entry
def rebuild_all_stats(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Rebuild every user; before Lambda's time runs out, continue in a fresh invocation."""
    run_id = event.get("runId") or uuid.uuid4().hex
    report = container().stats.rebuild_all(event.get("checkpoint"), time_budget(context))
    summary = {"runId": run_id, "part": int(event.get("part", 1)), **report.as_dict()}
    if not report.finished:
        payload = {
            "command": "tasks.stats.rebuild_all_stats",
            "checkpoint": report.checkpoint,
            "runId": run_id,
            "part": summary["part"] + 1,
        }
        try:
            container().continuation()(context, payload)
        except Exception as error:
            # Say where to resume from, then fail loudly (the alarm on errors sees it).
            emit("rebuild-all-stats continuation failed", resume=payload, error=repr(error), **summary)
            raise RuntimeError(f"rebuild-all could not continue from {report.checkpoint!r}") from error
    emit("rebuild-all-stats", **summary)
    return summary


@entry
def rebuild_user(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """`{"userId": ...}` -> that user's stats rebuilt now."""
    user_id = event.get("userId")
    if not isinstance(user_id, str) or not user_id:
        raise ValueError('rebuild_user needs {"userId": "..."}')
    record = container().stats.rebuild(user_id)
    summary = {"userId": user_id, "revision": record.revision, "trades": record.trade_count}
    emit("rebuild-user", **summary)
    return summary


@entry
def replay_dlq(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Replay StatsDLQ (`{"dryRun": true}` changes nothing); or, triggered by SQS, its records."""
    app = container()
    sqs_records = [r for r in event.get("Records") or [] if r.get("eventSource") == "aws:sqs"]
    letters = [_letter(r) for r in sqs_records] if sqs_records else None
    reports = app.stats.replay(app.dead_letters(), app.stream(), bool(event.get("dryRun")), letters)
    for report in reports:
        emit("dlq-replay", **report)
    failed = [r["messageId"] for r in reports if r.get("action") in ("kept", "left")]
    return {"messages": reports, "batchItemFailures": [{"itemIdentifier": m} for m in failed]}


def _letter(record: dict[str, Any]) -> DeadLetter:
    try:
        body = json.loads(record.get("body") or "")
    except ValueError:
        body = {}
    return DeadLetter(record.get("receiptHandle", ""), record.get("messageId", ""), body)


def time_budget(context: Any) -> Callable[[], bool]:
    """keep_going() for rebuild_all: always one page (so every invocation makes progress),
    then another only while there is room for it, judged by the slowest page so far."""
    if context is None or not hasattr(context, "get_remaining_time_in_millis"):
        return lambda: True
    state = {"calls": 0, "last": time.monotonic(), "slowest_ms": 0.0}

    def keep_going() -> bool:
        now = time.monotonic()
        if state["calls"]:
            state["slowest_ms"] = max(state["slowest_ms"], (now - state["last"]) * 1000)
        state["calls"] += 1
        state["last"] = now
        if state["calls"] == 1:
            return True
        return bool(context.get_remaining_time_in_millis() > max(RESERVE_MS, 2 * state["slowest_ms"]))

    return keep_going
