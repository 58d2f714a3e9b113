"""Stats use cases: rebuild one user, read, apply a batch of change records, rebuild everyone.

Every path ends in rebuild(), which folds the user's trades with domain.stats.fold and
writes the result conditionally on the revision it was computed from: stats never go
backwards, and replaying any records any number of times converges on one fold.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from .. import logs, metrics
from ..adapters.ports import (
    DeadLetter,
    DeadLetterQueue,
    StatsRecord,
    StatsRepository,
    StreamReader,
    TradeRepository,
)
from ..domain.stats import fold
from ..domain.trade import Trade
from .common import every_user, utcnow

log = logging.getLogger("tradeapp.stats")
USERS_PAGE = 50
REBUILD_ATTEMPTS = 3


@dataclass
class RebuildAllReport:
    users: int = 0
    trades: int = 0
    failures: list[str] = field(default_factory=list)
    checkpoint: str | None = None
    finished: bool = False
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "trades": self.trades,
            "failures": len(self.failures),
            "failedUsers": self.failures[:100],
            "checkpoint": self.checkpoint,
            "finished": self.finished,
            "durationSeconds": round(self.seconds, 3),
        }


class StatsService:
    def __init__(
        self,
        trades: TradeRepository,
        stats: StatsRepository,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.trades = trades
        self.stats = stats
        self.clock = clock

    def get(self, user_id: str) -> StatsRecord:
        """The stored stats, or zeroed ones for a user who never had a trade."""
        stored = self.stats.get(user_id)
        if stored is not None:
            return stored
        return StatsRecord(user_id, 0, self.clock(), 0, plain(fold(())))

    def rebuild(self, user_id: str) -> StatsRecord:
        """Fold the user's trades now; returns what is stored afterwards (never older)."""
        started = time.perf_counter()
        # The revision is read before and after the trades: only when both agree are the
        # trades exactly that revision's, so equal revisions always mean equal stats.
        for _ in range(REBUILD_ATTEMPTS):
            revision = self.trades.revision(user_id)
            counter = _Counter(self.trades.trades_for_stats(user_id))
            stats = plain(fold(counter))
            consistent = self.trades.revision(user_id) == revision
            if consistent:
                break
        record = StatsRecord(user_id, revision, self.clock(), counter.count, stats)
        # Revision 0: never wrote a trade. Storing would create the user's stats row/item,
        # and users() (rebuild-all, replay of aged-out records) would list them from then on.
        # Not consistent: writes kept landing; the stream's rebuild of the newest one stores.
        written = consistent and revision > 0 and self.stats.put(record)
        metrics.record(
            {
                "RebuildDuration": ((time.perf_counter() - started) * 1000, "Milliseconds"),
                "TradesPerRebuild": (counter.count, "Count"),
            }
        )
        log.info(
            "stats rebuilt",
            extra={
                "userId": user_id,
                "revision": revision,
                "trades": counter.count,
                "written": written,
                "ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        if written:
            return record
        return self.stats.get(user_id) or record

    def apply_changes(self, records: Iterable[Mapping[str, Any]]) -> list[str]:
        """Rebuild each user named by the records once; return the sequence numbers to retry.

        For each user whose rebuild failed, the earliest of its records is returned, so that
        Lambda retries the batch from there (ReportBatchItemFailures). A record that names no
        user is poison: it is returned too, and the others still update.
        """
        earliest: dict[str, str] = {}
        correlations: dict[str, list[str]] = {}
        failed: list[str] = []
        for record in records:
            sequence = str(record.get("dynamodb", {}).get("SequenceNumber", ""))
            user_id = user_of(record)
            if user_id is None:
                log.error("change record names no user", extra={"sequence": sequence})
                failed.append(sequence)
                continue
            if user_id not in earliest or _before(sequence, earliest[user_id]):
                earliest[user_id] = sequence
            correlation = correlation_of(record)
            if correlation and correlation not in correlations.setdefault(user_id, []):
                correlations[user_id].append(correlation)
        for user_id, sequence in earliest.items():
            # The requests behind these records, so a rebuild's lines lead back to them.
            with logs.scoped(userId=user_id, correlationIds=correlations.get(user_id) or None):
                try:
                    self.rebuild(user_id)
                except Exception:
                    log.exception("stats rebuild failed", extra={"sequence": sequence})
                    failed.append(sequence)
        return sorted(failed, key=_sequence_key)

    def apply_local_changes(self, records: list[dict[str, Any]], dead_letters: DeadLetterQueue) -> None:
        """The embedded stream's consumer: as Lambda would, send what failed to the DLQ."""
        failed = self.apply_changes(records)
        if failed:
            dead_letters.send(dead_letter_for(records))

    def replay(
        self,
        dead_letters: DeadLetterQueue,
        stream: StreamReader,
        dry_run: bool = False,
        letters: list[DeadLetter] | None = None,
    ) -> list[dict[str, Any]]:
        """Replay StatsDLQ: for each message, read its records back from the stream and
        rebuild the users they name (everyone, once the records have aged out). A message
        is deleted only after every rebuild succeeded. With dry_run nothing changes.

        `letters` are messages already received (an SQS-triggered invocation); otherwise the
        queue is read until it is empty.
        """
        reports = []
        polled = letters is None
        seen: set[str] = set()
        kept: list[DeadLetter] = []
        while True:
            batch = dead_letters.receive(10) if polled else letters or []
            batch = [letter for letter in batch if letter.message_id not in seen]
            if not batch:
                break
            for letter in batch:
                seen.add(letter.message_id)
                report = self._replay_one(letter, dead_letters, stream, dry_run, polled)
                reports.append(report)
                if report["action"] != "rebuilt, deleted":
                    kept.append(letter)
            if not polled:
                break
        if polled:  # what stays in the queue is visible again for the next run, not hidden
            for letter in kept:
                dead_letters.release(letter.receipt)
        return reports

    def _replay_one(
        self,
        letter: DeadLetter,
        dead_letters: DeadLetterQueue,
        stream: StreamReader,
        dry_run: bool,
        delete: bool,
    ) -> dict[str, Any]:
        report: dict[str, Any] = {"messageId": letter.message_id}
        info = letter.body.get("DDBStreamBatchInfo")
        if not isinstance(info, dict) or not {"streamArn", "shardId", "startSequenceNumber"} <= info.keys():
            report.update(action="left", reason="not a stream failure message")
            return report
        start = str(info["startSequenceNumber"])
        end = str(info.get("endSequenceNumber", start))
        if not (start.isdigit() and end.isdigit()):
            report.update(action="left", reason="sequence numbers are not numbers")
            return report
        records = stream.records(info["streamArn"], info["shardId"], start, end)
        if records is None:
            report["source"] = "records gone: every user"
            users = list(every_user(self.trades, USERS_PAGE))
        else:
            report["source"] = f"{len(records)} records"
            users = list(dict.fromkeys(u for u in map(user_of, records) if u is not None))
        report["users"] = users
        if dry_run:
            report["action"] = "would rebuild"
            return report
        failed = []
        for user_id in users:
            try:
                self.rebuild(user_id)
            except Exception:
                log.exception("replay rebuild failed", extra={"userId": user_id})
                failed.append(user_id)
        report["failed"] = failed
        if failed:
            report["action"] = "kept"
        else:
            if delete:
                dead_letters.delete(letter.receipt)
            report["action"] = "rebuilt, deleted" if delete else "rebuilt"
        log.info("dlq message replayed", extra=report)
        metrics.record(
            {
                "DlqMessagesReplayed": (int(not failed), "Count"),
                "DlqMessagesKept": (int(bool(failed)), "Count"),
            }
        )
        return report

    def rebuild_all(
        self, checkpoint: str | None = None, keep_going: Callable[[], bool] = lambda: True
    ) -> RebuildAllReport:
        """Rebuild every user, a page at a time, from just after `checkpoint`.

        Before each page it asks keep_going(); when that says no, the report's checkpoint is
        the last user of the last finished page, for a continuation to start after.
        """
        report = RebuildAllReport(checkpoint=checkpoint)
        started = time.perf_counter()
        while keep_going():
            users = self.trades.users(after=report.checkpoint, limit=USERS_PAGE)
            for user_id in users:
                try:
                    report.trades += self.rebuild(user_id).trade_count
                except Exception:
                    log.exception("stats rebuild failed", extra={"userId": user_id})
                    report.failures.append(user_id)
                report.users += 1
            if users:
                report.checkpoint = users[-1]
            if len(users) < USERS_PAGE:
                report.finished = True
                break
        report.seconds = time.perf_counter() - started
        return report


def plain(value: Any) -> Any:
    """The fold's output in JSON form: decimals as exact strings, as the API returns them."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def dead_letter_for(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The pointer-only message a stream event source mapping sends on failure (AWS's shape)."""
    sequences = sorted((str(r["dynamodb"]["SequenceNumber"]) for r in records), key=_sequence_key)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 1},
        "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": now,
        "DDBStreamBatchInfo": {
            "shardId": records[0].get("shardId", "shardId-local"),
            "startSequenceNumber": sequences[0],
            "endSequenceNumber": sequences[-1],
            "approximateArrivalOfFirstRecord": now,
            "approximateArrivalOfLastRecord": now,
            "batchSize": len(records),
            "streamArn": records[0].get("eventSourceARN", ""),
        },
    }


def user_of(record: Mapping[str, Any]) -> str | None:
    """The userId of a DynamoDB stream record (keys first, then either image)."""
    body = record.get("dynamodb") or {}
    for part in ("Keys", "NewImage", "OldImage"):
        value = (body.get(part) or {}).get("userId") or {}
        if isinstance(value, Mapping) and isinstance(value.get("S"), str) and value["S"]:
            return str(value["S"])
    return None


def correlation_of(record: Mapping[str, Any]) -> str | None:
    image = (record.get("dynamodb") or {}).get("NewImage") or {}
    value = image.get("correlationId") or {}
    return value.get("S") if isinstance(value, Mapping) and isinstance(value.get("S"), str) else None


def _sequence_key(sequence: str) -> tuple[int, str]:
    return (int(sequence), sequence) if sequence.isdigit() else (-1, sequence)


def _before(a: str, b: str) -> bool:
    return _sequence_key(a) < _sequence_key(b)


class _Counter:
    """Counts the trades as the fold reads them, so a user's trades are never held twice."""

    def __init__(self, trades: Iterable[Trade]) -> None:
        self.trades = trades
        self.count = 0

    def __iter__(self) -> Iterator[Trade]:
        for trade in self.trades:
            self.count += 1
            yield trade
