"""StatsService against the in-memory fakes and the embedded change feed: rebuilds, change
batches, the dead-letter queue and its replay, and rebuilding everyone page by page."""

from __future__ import annotations

import functools
import itertools
import json
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeapp.adapters import changefeed
from tradeapp.adapters.changefeed import LOCAL_SHARD, LOCAL_STREAM_ARN, ChangeFeed
from tradeapp.adapters.memory import MemoryDeadLetterQueue, MemoryStatsRepository, MemoryTradeRepository
from tradeapp.adapters.ports import StatsRecord
from tradeapp.domain.stats import fold
from tradeapp.domain.trade import PartialClose, Trade
from tradeapp.services import stats as stats_module
from tradeapp.services.stats import StatsService, dead_letter_for, plain

NOW = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
ENTRY_AT = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
_ids = itertools.count(1)


def a_trade(user: str, exit_price: str | None = "110", **changes) -> Trade:
    """Long 10 @ 100 with 1.00 of fees, closed in full, fee-free, at `exit_price` (None: open)."""
    trade_id = f"T{next(_ids):08d}"
    closes = ()
    if exit_price is not None:
        closes = (
            PartialClose(f"C{trade_id}", Decimal(10), Decimal(exit_price), ENTRY_AT + timedelta(hours=1)),
        )
    fields = {
        "user_id": user,
        "trade_id": trade_id,
        "symbol": "AAPL",
        "side": "long",
        "quantity": Decimal(10),
        "entry_price": Decimal(100),
        "entry_at": ENTRY_AT,
        "created_at": NOW,
        "updated_at": NOW,
        "fees": Decimal(1),
        "partial_closes": closes,
        **changes,
    }
    return Trade(**fields)


def change(user: str | None, sequence: int | str, part: str = "Keys") -> dict:
    """A stream record naming `user` in Keys (or NewImage/OldImage), as DynamoDB sends it."""
    body: dict = {"SequenceNumber": str(sequence), "StreamViewType": "NEW_AND_OLD_IMAGES"}
    if user is not None:
        body[part] = {"userId": {"S": user}, "tradeId": {"S": f"T-{sequence}"}}
    else:
        body["Keys"] = {"tradeId": {"S": f"T-{sequence}"}}
    return {
        "eventName": "MODIFY",
        "eventSource": "aws:dynamodb",
        "eventSourceARN": LOCAL_STREAM_ARN,
        "dynamodb": body,
    }


def one_fold(repo, user: str) -> dict:
    return plain(fold(repo.trades_of(user)))


class FlakyTrades(MemoryTradeRepository):
    """The memory fake, except that reading a `broken` user's trades fails (a throttled read)."""

    def __init__(self) -> None:
        super().__init__()
        self.broken: set[str] = set()

    def trades_of(self, user_id: str):
        if user_id in self.broken:
            raise RuntimeError(f"cannot read {user_id}'s trades")
        return super().trades_of(user_id)


class SpyService(StatsService):
    """StatsService that records whom it rebuilt."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rebuilt: list[str] = []

    def rebuild(self, user_id: str) -> StatsRecord:
        self.rebuilt.append(user_id)
        return super().rebuild(user_id)


@pytest.fixture
def trades():
    return FlakyTrades()


@pytest.fixture
def stored():
    return MemoryStatsRepository()


@pytest.fixture
def service(trades, stored):
    return SpyService(trades, stored, clock=lambda: NOW)


# --- rebuild --------------------------------------------------------------------------------------


def test_rebuild_stores_the_fold_at_the_repositorys_revision(trades, stored, service):
    # GIVEN three writes: a win, a loss, and the loss deleted again
    trades.add(a_trade("alice", "110"))
    loss = a_trade("alice", "90")
    trades.add(loss)
    trades.delete("alice", loss.trade_id, None)

    record = service.rebuild("alice")

    assert record == stored.get("alice")
    assert (record.user_id, record.revision, record.trade_count, record.computed_at) == ("alice", 3, 1, NOW)
    assert record.stats == one_fold(trades, "alice")
    assert (record.stats["netPnl"], record.stats["wins"]) == ("99.00", 1)  # 10 * 10 - 1.00


def test_get_is_zeroed_for_a_user_never_rebuilt(service, stored):
    record = service.get("nobody")

    assert (record.revision, record.trade_count, record.stats) == (0, 0, plain(fold(())))
    assert stored.get("nobody") is None


def test_rebuilding_a_user_who_never_wrote_a_trade_stores_nothing(service, stored, trades):
    record = service.rebuild("visitor")

    assert (record.revision, record.trade_count, record.stats) == (0, 0, plain(fold(())))
    assert stored.get("visitor") is None


def test_a_stale_rebuild_does_not_overwrite_newer_stats(trades, stored, service):
    # GIVEN stats stored from revision 5 while the trades this process reads are at revision 1
    trades.add(a_trade("alice"))
    newer = StatsRecord("alice", 5, NOW, 7, {"marker": "from revision 5"})
    assert stored.put(newer)

    # WHEN a rebuild computes from the older revision
    record = service.rebuild("alice")

    # THEN the newer stats stay, and the rebuild says what is stored
    assert stored.get("alice") == newer
    assert record == newer


def test_a_rebuild_overtaken_by_a_write_and_its_rebuild_keeps_the_newer_one(stored):
    # GIVEN a rebuild that read revision 1, and then (before it stored anything) another
    # write landed and its own rebuild stored revision 2
    class Interleaved(MemoryTradeRepository):
        meanwhile = None

        def trades_of(self, user_id):
            if self.meanwhile is not None:
                run, self.meanwhile = self.meanwhile, None
                run()
            return super().trades_of(user_id)

    trades = Interleaved()
    service = StatsService(trades, stored, clock=lambda: NOW)
    trades.add(a_trade("alice", "110"))

    def concurrent_write_and_rebuild():
        trades.add(a_trade("alice", "90"))
        assert service.rebuild("alice").revision == 2

    trades.meanwhile = concurrent_write_and_rebuild

    # WHEN the first rebuild finishes
    record = service.rebuild("alice")

    # THEN it did not overwrite revision 2 and returns it
    assert record.revision == 2
    assert stored.get("alice").revision == 2
    assert stored.get("alice").stats == one_fold(trades, "alice")
    assert record.stats["totalTrades"] == 2


# --- apply_changes ------------------------------------------------------------------------------------


def test_a_batch_rebuilds_each_user_once(trades, stored, service):
    # GIVEN alice with two trades and bob with one, and a batch naming them five times
    # (keys, new images and old images)
    for user in ("alice", "alice", "bob"):
        trades.add(a_trade(user))
    batch = [
        change("alice", 101),
        change("bob", 102, "NewImage"),
        change("alice", 103, "NewImage"),
        change("alice", 104, "OldImage"),
        change("bob", 105),
    ]

    failed = service.apply_changes(batch)

    assert failed == []
    assert Counter(service.rebuilt) == {"alice": 1, "bob": 1}
    assert stored.get("alice").stats == one_fold(trades, "alice")
    assert (stored.get("alice").revision, stored.get("bob").revision) == (2, 1)


def test_a_failed_rebuild_reports_that_users_earliest_sequence_and_the_others_still_update(
    trades, stored, service
):
    # GIVEN bob's trades cannot be read, and his records come out of order ("9" < "10" < "12")
    for user in ("alice", "bob", "carol"):
        trades.add(a_trade(user))
    trades.broken.add("bob")
    batch = [change("alice", 8), change("bob", 10), change("carol", 11), change("bob", 9), change("bob", 12)]

    failed = service.apply_changes(batch)

    # THEN Lambda is told to retry from bob's earliest record (numerically, not as text)
    assert failed == ["9"]
    assert sorted(service.rebuilt) == ["alice", "bob", "carol"]
    assert stored.get("bob") is None
    assert stored.get("alice").revision == stored.get("carol").revision == 1


def test_a_record_that_names_no_user_is_reported_and_the_others_update(trades, stored, service):
    trades.add(a_trade("alice"))

    failed = service.apply_changes([change("alice", 20), change(None, 21), change("alice", 22)])

    assert failed == ["21"]
    assert service.rebuilt == ["alice"]
    assert stored.get("alice").revision == 1


def test_the_sequences_to_retry_come_in_stream_order(trades, service):
    # GIVEN a poison record (12) and a failing user (bob, from 9): "12" < "9" as text
    trades.add(a_trade("bob"))
    trades.broken.add("bob")

    failed = service.apply_changes([change(None, 12), change("bob", 9)])

    assert failed == ["9", "12"]


def test_an_empty_batch_does_nothing(service, stored):
    assert service.apply_changes([]) == []
    assert service.rebuilt == []


USERS = ("ann", "ben", "cid")
WRITE = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(USERS), st.sampled_from(["90", "100", "110", None])),
    st.tuples(st.just("close"), st.sampled_from(USERS), st.sampled_from(["95", "105"])),
    st.tuples(st.just("delete"), st.sampled_from(USERS), st.none()),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(writes=st.lists(WRITE, min_size=1, max_size=12), data=st.data())
def test_any_records_applied_any_number_of_times_in_any_order_converge_on_one_fold(writes, data):
    # GIVEN a history of writes through the change feed, whose records were collected
    # (and some applied as they came, as the stream would)
    trades, stored = MemoryTradeRepository(), MemoryStatsRepository()
    service = StatsService(trades, stored, clock=lambda: NOW)
    feed = ChangeFeed(trades)
    records: list[dict] = []

    def collect(batch):
        records.extend(batch)
        if data.draw(st.booleans(), label="apply at once"):
            service.apply_changes(batch)

    feed.listener = collect
    for kind, user, price in writes:
        mine = list(trades.trades_of(user))
        if kind == "add" or not mine:
            feed.add(a_trade(user, price if kind == "add" else None))
        elif kind == "close":
            trade = mine[0]
            remaining = trade.figures.remaining_quantity
            if remaining:
                close = PartialClose(
                    f"X{trade.version}", remaining, Decimal(price), ENTRY_AT + timedelta(hours=2)
                )
                closes = (*trade.partial_closes, close)
                feed.replace(replace(trade, version=trade.version + 1, partial_closes=closes), trade.version)
            else:
                feed.delete(user, trade.trade_id, trade.version)
        else:
            feed.delete(user, mine[-1].trade_id, None)

    # WHEN every record is applied again, some several times, shuffled and in random batches
    replayed = data.draw(st.permutations(records), label="order")
    replayed += data.draw(st.lists(st.sampled_from(records), max_size=8), label="repeats")
    replayed = data.draw(st.permutations(replayed), label="shuffled")
    while replayed:
        size = data.draw(st.integers(1, len(replayed)), label="batch size")
        assert service.apply_changes(replayed[:size]) == []
        replayed = replayed[size:]

    # THEN each user's stats are one fold over their final trades, at their final revision
    for user in {user for _, user, _ in writes}:
        record = stored.get(user)
        assert record.stats == one_fold(trades, user)
        assert record.revision == trades.revision(user)
        assert record.trade_count == len(list(trades.trades_of(user)))


# --- the embedded change feed and its dead letters -------------------------------------------------------


@pytest.fixture
def dlq():
    return MemoryDeadLetterQueue()


@pytest.fixture
def feed(trades, service, dlq):
    """The local wiring (bootstrap.build): every write feeds apply_local_changes."""
    return ChangeFeed(trades, listener=functools.partial(service.apply_local_changes, dead_letters=dlq))


def pending(dlq) -> list:
    """The queued messages, looked at without taking them (receive hides them, as SQS does)."""
    letters = dlq.receive(100)
    for letter in letters:
        dlq.release(letter.receipt)
    return letters


def test_the_feed_keeps_stats_current_without_dead_letters(feed, stored, dlq):
    trade = a_trade("alice", None)
    feed.add(trade)
    assert stored.get("alice").stats["openTrades"] == 1

    feed.delete("alice", trade.trade_id, None)

    assert (stored.get("alice").revision, stored.get("alice").stats["totalTrades"]) == (2, 0)
    assert pending(dlq) == []


def test_a_failed_rebuild_sends_one_pointer_only_message(trades, feed, stored, dlq):
    # GIVEN bob's trades cannot be read
    trades.broken.add("bob")

    # WHEN alice and bob each write a trade
    feed.add(a_trade("alice"))
    feed.add(a_trade("bob"))

    # THEN bob's write is stored, his stats are not, and one message points at his record
    assert len(list(trades.trades_of("alice"))) == 1
    assert trades.revision("bob") == 1
    assert stored.get("bob") is None
    assert stored.get("alice") is not None
    [letter] = pending(dlq)
    info = letter.body["DDBStreamBatchInfo"]
    assert info["startSequenceNumber"] == info["endSequenceNumber"]
    assert info["batchSize"] == 1
    assert info["streamArn"] == LOCAL_STREAM_ARN
    assert info["shardId"] == LOCAL_SHARD
    assert letter.body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    # a pointer, as AWS sends it: no record, no image, not even whose it was
    text = json.dumps(letter.body)
    assert "bob" not in text
    assert "NewImage" not in text
    assert "Records" not in text
    # AND the stream gives back bob's record, and only it, for that pointer
    [record] = feed.records(
        info["streamArn"], info["shardId"], info["startSequenceNumber"], info["endSequenceNumber"]
    )
    assert (record["eventName"], record["dynamodb"]["Keys"]["userId"]) == ("INSERT", {"S": "bob"})


def test_replay_rebuilds_the_batchs_users_once_the_failure_is_fixed_and_deletes_the_message(
    trades, feed, stored, dlq, service
):
    # GIVEN a dead letter for bob's failed rebuild, and alice's stats up to date
    trades.broken.add("bob")
    feed.add(a_trade("alice"))
    feed.add(a_trade("bob", "90"))
    [letter] = pending(dlq)

    # WHEN it is replayed while bob's reads still fail, THEN the message is kept
    [kept] = service.replay(dlq, feed)
    assert (kept["action"], kept["users"], kept["failed"]) == ("kept", ["bob"], ["bob"])
    assert pending(dlq) == [letter]

    # WHEN it is replayed after the failure is fixed
    trades.broken.clear()
    service.rebuilt.clear()
    [report] = service.replay(dlq, feed)

    # THEN bob, and only bob, is rebuilt at his revision, and the message is gone
    assert report == {
        "messageId": letter.message_id,
        "source": "1 records",
        "users": ["bob"],
        "failed": [],
        "action": "rebuilt, deleted",
    }
    assert service.rebuilt == ["bob"]
    assert stored.get("bob").revision == 1
    assert stored.get("bob").stats == one_fold(trades, "bob")
    assert pending(dlq) == []
    assert service.replay(dlq, feed) == []


def test_a_dry_run_changes_nothing_and_reports_the_users(trades, feed, stored, dlq, service):
    trades.broken.add("bob")
    feed.add(a_trade("bob"))
    trades.broken.clear()
    service.rebuilt.clear()

    [report] = service.replay(dlq, feed, dry_run=True)

    assert (report["action"], report["users"]) == ("would rebuild", ["bob"])
    assert service.rebuilt == []
    assert stored.get("bob") is None
    assert len(pending(dlq)) == 1


@pytest.mark.parametrize(
    "pointer",
    [
        {"SequenceNumber": "1", "eventSourceARN": LOCAL_STREAM_ARN},  # older than the feed keeps
        {"SequenceNumber": None, "eventSourceARN": "arn:aws:dynamodb:eu-west-1:1:table/Trades/stream/x"},
    ],
    ids=["aged-out", "another-stream"],
)
def test_when_the_records_are_gone_replay_rebuilds_every_user(
    monkeypatch, trades, stored, dlq, service, pointer
):
    # GIVEN five users whose stats were never built, and a feed that keeps records
    monkeypatch.setattr(stats_module, "USERS_PAGE", 2)
    emitted: list[dict] = []
    feed = ChangeFeed(trades, listener=emitted.extend)
    users = ["u1", "u2", "u3", "u4", "u5"]
    for user in users:
        feed.add(a_trade(user))
    kept = emitted[-1]["dynamodb"]["SequenceNumber"]
    # AND a message pointing at records the feed cannot give back
    sequence = pointer["SequenceNumber"] or kept
    dlq.send(
        dead_letter_for(
            [{"dynamodb": {"SequenceNumber": sequence}, "eventSourceARN": pointer["eventSourceARN"]}]
        )
    )

    [report] = service.replay(dlq, feed)

    assert report["source"] == "records gone: every user"
    assert report["users"] == users
    assert report["action"] == "rebuilt, deleted"
    assert sorted(service.rebuilt) == users
    assert all(stored.get(u).revision == 1 for u in users)
    assert pending(dlq) == []


def test_records_beyond_the_feeds_retention_are_gone(monkeypatch, trades, dlq, service, stored):
    # GIVEN a record that has aged out of the feed's 24 hours, as the clock moves on
    clock = [1000.0]
    fake_time = SimpleNamespace(monotonic=lambda: clock[0], time=time.time, time_ns=time.time_ns)
    monkeypatch.setattr(changefeed, "time", fake_time)
    emitted: list[dict] = []
    feed = ChangeFeed(trades, listener=emitted.extend)
    feed.add(a_trade("alice"))
    [old] = emitted
    clock[0] += changefeed.RETENTION_SECONDS + 1
    feed.add(a_trade("bob"))
    dlq.send(dead_letter_for([old]))

    assert feed.records(LOCAL_STREAM_ARN, LOCAL_SHARD, *(old["dynamodb"]["SequenceNumber"],) * 2) is None
    [report] = service.replay(dlq, feed)

    assert report["source"] == "records gone: every user"
    assert report["users"] == ["alice", "bob"]


def test_a_message_that_is_not_a_stream_failure_is_left_and_reported(trades, feed, dlq, service, stored):
    # GIVEN a stray message, then a real dead letter for bob
    dlq.send({"hello": "not a stream batch"})
    trades.broken.add("bob")
    feed.add(a_trade("bob"))
    trades.broken.clear()

    reports = service.replay(dlq, feed)

    # THEN the stray one is left in the queue and the real one still replays
    assert [r["action"] for r in reports] == ["left", "rebuilt, deleted"]
    assert reports[0]["reason"] == "not a stream failure message"
    assert [letter.body for letter in pending(dlq)] == [{"hello": "not a stream batch"}]
    assert stored.get("bob").revision == 1


# --- rebuild_all --------------------------------------------------------------------------------------


@pytest.fixture
def five_users(monkeypatch, trades):
    monkeypatch.setattr(stats_module, "USERS_PAGE", 2)
    users = ["u1", "u2", "u3", "u4", "u5"]
    for count, user in enumerate(users, start=1):
        for _ in range(count):
            trades.add(a_trade(user))
    return users


def test_rebuild_all_visits_each_user_once_across_pages(five_users, service, stored, trades):
    report = service.rebuild_all()

    assert Counter(service.rebuilt) == dict.fromkeys(five_users, 1)
    assert report.as_dict() | {"durationSeconds": 0} == {
        "users": 5,
        "trades": 15,
        "failures": 0,
        "failedUsers": [],
        "checkpoint": "u5",
        "finished": True,
        "durationSeconds": 0,
    }
    assert all(stored.get(u).stats == one_fold(trades, u) for u in five_users)


def test_rebuild_all_with_a_page_exactly_full_still_finishes(monkeypatch, five_users, service):
    monkeypatch.setattr(stats_module, "USERS_PAGE", 5)

    report = service.rebuild_all()

    assert report.finished
    assert report.users == 5
    assert Counter(service.rebuilt) == dict.fromkeys(five_users, 1)


def test_rebuild_all_stops_when_told_and_resumes_from_its_checkpoint(five_users, service):
    # GIVEN a time budget for one page only
    budget = iter([True, False])

    # WHEN rebuild_all runs, THEN it stops after the first page with a checkpoint
    first = service.rebuild_all(keep_going=lambda: next(budget))
    assert (first.users, first.finished, first.checkpoint) == (2, False, "u2")
    assert service.rebuilt == ["u1", "u2"]

    # WHEN a continuation starts from the checkpoint, THEN it does the rest, each user once
    second = service.rebuild_all(checkpoint=first.checkpoint)
    assert (second.users, second.finished, second.checkpoint) == (3, True, "u5")
    assert service.rebuilt == five_users


def test_rebuild_all_reports_failures_and_goes_on(five_users, trades, service, stored):
    trades.broken.add("u3")

    report = service.rebuild_all()

    assert (report.users, report.failures, report.finished) == (5, ["u3"], True)
    assert report.trades == 15 - 3
    assert stored.get("u3") is None
    assert stored.get("u4") is not None


class WrittenDuringRead(MemoryTradeRepository):
    """A repository where another request writes `writes` times while a rebuild reads trades."""

    def __init__(self, writes: int) -> None:
        super().__init__()
        self.writes = writes

    def trades_of(self, user_id: str):
        found = list(super().trades_of(user_id))
        if self.writes:
            self.writes -= 1
            self.add(a_trade(user_id))
        return found


def test_a_rebuild_that_raced_a_write_reads_again_and_stores_one_consistent_revision() -> None:
    # GIVEN alice's trade, and a write that lands while the first read is in progress
    repo = WrittenDuringRead(writes=0)
    repo.add(a_trade("alice"))
    repo.writes = 1
    stored = MemoryStatsRepository()

    # WHEN her stats are rebuilt
    record = StatsService(repo, stored, clock=lambda: NOW).rebuild("alice")

    # THEN the stored stats are those of the revision they are labelled with: both trades
    assert record.revision == repo.revision("alice") == 2
    assert record.trade_count == 2
    assert stored.get("alice") == record


def test_a_rebuild_that_keeps_racing_writes_stores_nothing_it_cannot_label() -> None:
    # GIVEN writes that land during every read (more than the rebuild's attempts)
    repo = WrittenDuringRead(writes=0)
    repo.add(a_trade("alice"))
    repo.writes = stats_module.REBUILD_ATTEMPTS
    stored = MemoryStatsRepository()

    # WHEN her stats are rebuilt
    StatsService(repo, stored, clock=lambda: NOW).rebuild("alice")

    # THEN nothing is stored under a revision the trades read do not match
    assert stored.get("alice") is None
