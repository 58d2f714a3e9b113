"""SQLite adapters: the embedded default. One file in the data dir, WAL mode, one connection per thread."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..domain.errors import (
    ConflictError,
    PreconditionFailedError,
    StoreUnavailableError,
    TradeNotFoundError,
)
from ..domain.trade import Trade
from .items import dump_item, entry_key, format_time, from_fold_item, from_item, parse_time, to_item
from .ports import (
    DeadLetter,
    IdempotencyKeyTakenError,
    IdempotencyRecord,
    Position,
    StatsRecord,
    TradeQuery,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS trades (
    user_id   TEXT NOT NULL,
    trade_id  TEXT NOT NULL,
    entry_key TEXT NOT NULL,
    status    TEXT NOT NULL,
    symbol    TEXT NOT NULL,
    version   INTEGER NOT NULL,
    item      TEXT NOT NULL,
    PRIMARY KEY (user_id, trade_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS trades_by_entry ON trades (user_id, entry_key);
CREATE TABLE IF NOT EXISTS idempotency (
    user_id      TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    trade_id     TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_letters (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    visible_at REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS revocations (
    user_id     TEXT PRIMARY KEY,
    valid_after INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trade_stats (
    user_id         TEXT PRIMARY KEY,
    trades_revision INTEGER NOT NULL DEFAULT 0,
    revision        INTEGER,
    computed_at     TEXT,
    trade_count     INTEGER,
    stats           TEXT
) WITHOUT ROWID;
"""
# Bumped in the same transaction as every trade write: the revision stats are computed from.
BUMP = (
    "INSERT INTO trade_stats (user_id, trades_revision) VALUES (?, 1)"
    " ON CONFLICT (user_id) DO UPDATE SET trades_revision = trades_revision + 1"
)
PAGE = 500


class Database:
    """A SQLite file shared by the repositories; hands each thread its own connection."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._local = threading.local()
        self.connection().executescript(SCHEMA)  # IF NOT EXISTS: safe for concurrent starts

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # Autocommit mode: transactions are opened explicitly with BEGIN IMMEDIATE,
            # so that two writers queue on the lock instead of failing on upgrade.
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
            self._local.conn = conn
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            raise StoreUnavailableError() from error
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


class SQLiteTradeRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, trade: Trade, idempotency: IdempotencyRecord | None = None) -> None:
        with self.db.write() as conn:
            if idempotency is not None:
                held = self._find_key(conn, idempotency.user_id, idempotency.key, trade.created_at)
                if held is not None:
                    raise IdempotencyKeyTakenError(held)
                conn.execute(
                    "INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, ?, ?)",
                    (
                        idempotency.user_id,
                        idempotency.key,
                        idempotency.request_hash,
                        idempotency.trade_id,
                        format_time(idempotency.expires_at),
                    ),
                )
            try:
                conn.execute("INSERT INTO trades VALUES (?, ?, ?, ?, ?, ?, ?)", self._row(trade))
            except sqlite3.IntegrityError as error:
                raise ConflictError(f"trade {trade.trade_id} already exists") from error
            conn.execute(BUMP, (trade.user_id,))

    def get(self, user_id: str, trade_id: str) -> Trade:
        row = (
            self.db.connection()
            .execute("SELECT item FROM trades WHERE user_id = ? AND trade_id = ?", (user_id, trade_id))
            .fetchone()
        )
        if row is None:
            raise TradeNotFoundError()
        return from_item(json.loads(row[0]))

    def replace(self, trade: Trade, expected_version: int | None) -> None:
        with self.db.write() as conn:
            user_id, trade_id, *values = self._row(trade)
            cursor = conn.execute(
                "UPDATE trades SET entry_key = ?, status = ?, symbol = ?, version = ?, item = ?"
                " WHERE user_id = ? AND trade_id = ? AND (? IS NULL OR version = ?)",
                (*values, user_id, trade_id, expected_version, expected_version),
            )
            if cursor.rowcount == 0:
                self._explain_miss(conn, user_id, trade_id)
            conn.execute(BUMP, (user_id,))

    def delete(self, user_id: str, trade_id: str, expected_version: int | None) -> None:
        with self.db.write() as conn:
            cursor = conn.execute(
                "DELETE FROM trades WHERE user_id = ? AND trade_id = ? AND (? IS NULL OR version = ?)",
                (user_id, trade_id, expected_version, expected_version),
            )
            if cursor.rowcount == 0:
                self._explain_miss(conn, user_id, trade_id)
            conn.execute(BUMP, (user_id,))

    def list(self, user_id: str, query: TradeQuery, after: Position | None, limit: int) -> list[Trade]:
        sql = ["SELECT item FROM trades WHERE user_id = ?"]
        args: list[Any] = [user_id]
        if after is not None:
            sql.append("AND entry_key < ?")
            args.append(entry_key(after.entry_at, after.trade_id))
        if query.from_ is not None:
            sql.append("AND entry_key >= ?")
            args.append(entry_key(query.from_, ""))
        if query.to is not None:
            sql.append("AND entry_key < ?")
            args.append(entry_key(query.to, "") + "\uffff")
        if query.status is not None:
            sql.append("AND status = ?")
            args.append(query.status)
        if query.symbol is not None:
            sql.append("AND symbol = ?")
            args.append(query.symbol)
        if query.tag is not None:
            sql.append("AND EXISTS (SELECT 1 FROM json_each(item, '$.tags') WHERE value = ?)")
            args.append(query.tag)
        sql.append("ORDER BY entry_key DESC LIMIT ?")
        args.append(limit)
        rows = self.db.connection().execute(" ".join(sql), args).fetchall()
        return [from_item(json.loads(row[0])) for row in rows]

    def find_idempotency(self, user_id: str, key: str, now: datetime) -> IdempotencyRecord | None:
        return self._find_key(self.db.connection(), user_id, key, now)

    def revision(self, user_id: str) -> int:
        row = (
            self.db.connection()
            .execute("SELECT trades_revision FROM trade_stats WHERE user_id = ?", (user_id,))
            .fetchone()
        )
        return int(row[0]) if row else 0

    def trades_of(self, user_id: str) -> Iterator[Trade]:
        return map(from_item, self.items_of(user_id))

    def trades_for_stats(self, user_id: str) -> Iterator[Trade]:
        return map(from_fold_item, self.items_of(user_id))  # the JSON column comes whole

    def items_of(self, user_id: str) -> Iterator[dict[str, Any]]:
        # One statement is one snapshot; fetchmany keeps memory to a page of rows.
        rows = self.db.connection().execute("SELECT item FROM trades WHERE user_id = ?", (user_id,))
        while page := rows.fetchmany(PAGE):
            for (item,) in page:
                yield json.loads(item)

    def users(self, after: str | None, limit: int) -> list[str]:
        rows = self.db.connection().execute(
            "SELECT user_id FROM trade_stats WHERE user_id > ? AND trades_revision > 0"
            " ORDER BY user_id LIMIT ?",
            (after or "", limit),
        )
        return [row[0] for row in rows]

    @staticmethod
    def _find_key(
        conn: sqlite3.Connection, user_id: str, key: str, now: datetime
    ) -> IdempotencyRecord | None:
        row = conn.execute(
            "SELECT request_hash, trade_id, expires_at FROM idempotency WHERE user_id = ? AND key = ?",
            (user_id, key),
        ).fetchone()
        if row is None or parse_time(row[2]) <= now:
            return None
        return IdempotencyRecord(user_id, key, row[0], row[1], parse_time(row[2]))

    @staticmethod
    def _row(trade: Trade) -> tuple[Any, ...]:
        return (
            trade.user_id,
            trade.trade_id,
            entry_key(trade.entry_at, trade.trade_id),
            trade.figures.status,
            trade.symbol,
            trade.version,
            dump_item(to_item(trade)),
        )

    @staticmethod
    def _explain_miss(conn: sqlite3.Connection, user_id: str, trade_id: str) -> None:
        exists = conn.execute(
            "SELECT 1 FROM trades WHERE user_id = ? AND trade_id = ?", (user_id, trade_id)
        ).fetchone()
        raise PreconditionFailedError() if exists else TradeNotFoundError()


class SQLiteStatsRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, user_id: str) -> StatsRecord | None:
        row = (
            self.db.connection()
            .execute(
                "SELECT revision, computed_at, trade_count, stats FROM trade_stats"
                " WHERE user_id = ? AND revision IS NOT NULL",
                (user_id,),
            )
            .fetchone()
        )
        if row is None:
            return None
        return StatsRecord(user_id, int(row[0]), parse_time(row[1]), int(row[2]), json.loads(row[3]))

    def put(self, record: StatsRecord) -> bool:
        with self.db.write() as conn:
            cursor = conn.execute(
                "INSERT INTO trade_stats (user_id, revision, computed_at, trade_count, stats)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET"
                " revision = excluded.revision, computed_at = excluded.computed_at,"
                " trade_count = excluded.trade_count, stats = excluded.stats"
                " WHERE trade_stats.revision IS NULL OR trade_stats.revision <= excluded.revision",
                (
                    record.user_id,
                    record.revision,
                    format_time(record.computed_at),
                    record.trade_count,
                    json.dumps(record.stats, separators=(",", ":")),
                ),
            )
            return cursor.rowcount == 1


class SQLiteDeadLetterQueue:
    """The embedded StatsDLQ: a table, so that `flask dlq replay` in another process sees it.

    Like SQS, a received message is hidden for `visibility_timeout` seconds.
    """

    def __init__(self, db: Database, visibility_timeout: float = 300) -> None:
        self.db = db
        self.visibility_timeout = visibility_timeout

    def send(self, body: dict[str, Any]) -> None:
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO dead_letters (body, created_at) VALUES (?, ?)",
                (json.dumps(body), format_time(datetime.now(UTC))),
            )

    def receive(self, limit: int) -> list[DeadLetter]:
        now = time.time()
        with self.db.write() as conn:
            rows = conn.execute(
                "SELECT id, body FROM dead_letters WHERE visible_at <= ? ORDER BY id LIMIT ?", (now, limit)
            ).fetchall()
            conn.executemany(
                "UPDATE dead_letters SET visible_at = ? WHERE id = ?",
                [(now + self.visibility_timeout, row[0]) for row in rows],
            )
        return [DeadLetter(str(row[0]), str(row[0]), json.loads(row[1])) for row in rows]

    def delete(self, receipt: str) -> None:
        with self.db.write() as conn:
            conn.execute("DELETE FROM dead_letters WHERE id = ?", (int(receipt),))

    def release(self, receipt: str) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE dead_letters SET visible_at = 0 WHERE id = ?", (int(receipt),))


class SQLiteRevocationStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def valid_after(self, user_id: str) -> int | None:
        row = (
            self.db.connection()
            .execute("SELECT valid_after FROM revocations WHERE user_id = ?", (user_id,))
            .fetchone()
        )
        return int(row[0]) if row else None

    def revoke(self, user_id: str, at: int) -> None:
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO revocations VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET"
                " valid_after = MAX(valid_after, excluded.valid_after)",
                (user_id, at),
            )
