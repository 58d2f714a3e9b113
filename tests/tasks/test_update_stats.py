"""tasks.stats.update_stats: DynamoDB stream batches, through Zappa's real handler and from moto's stream."""

from __future__ import annotations

import copy
import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

import tasks.stats
from tradeapp.adapters.ports import StatsRecord

from .conftest import (
    MotoAws,
    RunningLambda,
    close_body,
    fresh_stats,
    scheduled_event,
    stage_stream_arn,
    stats_view,
    stored_stats,
    trade_body,
)

SHARED_USERS = ("user-a", "user-b")


def shared_batch(load_event: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """The shared sample batch, from the stream that the dev stage maps to update_stats."""
    event = load_event("dynamodb-stream-batch")
    for record in event["Records"]:
        record["eventSourceARN"] = stage_stream_arn("dev")
    return event


def sequences(event: dict[str, Any]) -> list[str]:
    return [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]


def write_the_shared_batch_trades(app: Any) -> None:
    """The trades behind the shared batch: user-a's AAPL long with a partial close; user-b's ES short,
    created then deleted."""
    aapl = app.trades.create("user-a", trade_body(tags=["breakout"]))
    app.trades.add_close("user-a", aapl.trade_id, close_body("40", "190.10"))
    es = app.trades.create("user-b", trade_body("ES", "short", tags=["breakout"]))
    app.trades.delete("user-b", es.trade_id, None)


# Through Zappa's handler, on the in-memory adapters.


def test_the_shared_batch_through_zappa_rebuilds_each_user_once(
    zappa_lambda: RunningLambda,
    use_container: Callable[..., Any],
    count_rebuilds: Callable[[Any], list[str]],
    load_event: Callable[[str], dict[str, Any]],
    lambda_context: Any,
) -> None:
    # GIVEN the trades behind the batch, whose stats nothing has computed yet
    app = use_container("memory")
    write_the_shared_batch_trades(app)
    assert [stored_stats(app, u) for u in SHARED_USERS] == [None, None]
    rebuilt = count_rebuilds(app)
    # AND a batch naming each user several times (every record twice, as a retried batch would)
    event = shared_batch(load_event)
    event["Records"] += copy.deepcopy(event["Records"])

    # WHEN Lambda hands it to the function
    result = zappa_lambda.invoke(event, lambda_context())

    # THEN Zappa routed it to update_stats, which rebuilt each user exactly once and reports no failure
    assert result == {"batchItemFailures": []}
    assert Counter(rebuilt) == {"user-a": 1, "user-b": 1}
    # AND each user's stats are what a fresh rebuild computes
    for user in SHARED_USERS:
        assert stats_view(stored_stats(app, user)) == stats_view(fresh_stats(app, user))
    a, b = stored_stats(app, "user-a"), stored_stats(app, "user-b")
    assert (a.revision, a.trade_count, a.stats["totalTrades"], a.stats["openTrades"]) == (2, 1, 1, 1)
    assert (b.revision, b.trade_count, b.stats["totalTrades"]) == (2, 0, 0)


def test_a_record_naming_no_user_is_reported_while_the_others_update(
    zappa_lambda: RunningLambda,
    use_container: Callable[..., Any],
    load_event: Callable[[str], dict[str, Any]],
) -> None:
    # GIVEN the shared batch in which user-b's INSERT has lost its userId (keys and image)
    app = use_container("memory")
    write_the_shared_batch_trades(app)
    event = shared_batch(load_event)
    poison = event["Records"][2]["dynamodb"]
    del poison["Keys"]["userId"], poison["NewImage"]["userId"]

    # WHEN it is delivered
    result = zappa_lambda.invoke(event)

    # THEN that record alone is reported for retry
    assert result == {"batchItemFailures": [{"itemIdentifier": sequences(event)[2]}]}
    # AND both users, user-b through its REMOVE, still got their stats
    for user in SHARED_USERS:
        assert stats_view(stored_stats(app, user)) == stats_view(fresh_stats(app, user))


def test_a_user_whose_rebuild_fails_reports_its_earliest_record_and_the_others_update(
    zappa_lambda: RunningLambda,
    use_container: Callable[..., Any],
    load_event: Callable[[str], dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Even a TypeError (a bug) in one user's rebuild is that user's failure, not the batch's."""
    # GIVEN user-a's trades cannot be read
    app = use_container("memory")
    write_the_shared_batch_trades(app)
    real_read = app.stats.trades.trades_for_stats

    def trades_for_stats(user_id: str) -> Any:
        if user_id == "user-a":
            raise TypeError("a bug reading user-a's trades")
        return real_read(user_id)

    monkeypatch.setattr(app.stats.trades, "trades_for_stats", trades_for_stats)
    # AND the batch lists user-a's records newest first
    event = shared_batch(load_event)
    event["Records"].reverse()

    # WHEN it is delivered
    result = zappa_lambda.invoke(event)

    # THEN the earliest of user-a's records is reported, so Lambda retries from there
    assert result == {"batchItemFailures": [{"itemIdentifier": min(sequences(event)[-2:], key=int)}]}
    assert sequences(load_event("dynamodb-stream-batch"))[0] == min(sequences(event)[-2:], key=int)
    assert stored_stats(app, "user-a") is None
    assert stats_view(stored_stats(app, "user-b")) == stats_view(fresh_stats(app, "user-b"))


ENTRY_POINTS = {
    "update_stats": ("apply_changes", lambda load: shared_batch(load)),
    "rebuild_all_stats": ("rebuild_all", lambda load: scheduled_event("dev")),
    "rebuild_user": ("rebuild", lambda load: {"command": "tasks.stats.rebuild_user", "userId": "user-a"}),
    "replay_dlq": ("replay", lambda load: {"command": "tasks.stats.replay_dlq"}),
}


@pytest.mark.parametrize("task", ENTRY_POINTS)
def test_a_type_error_inside_a_task_runs_it_once_and_surfaces_as_runtime_error(
    zappa_lambda: RunningLambda,
    use_container: Callable[..., Any],
    load_event: Callable[[str], dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    task: str,
) -> None:
    """Zappa's run_function calls a task again with fewer arguments on TypeError (handler.py): the
    entry points turn it into RuntimeError, so the work is not repeated."""
    # GIVEN the service the task calls raises TypeError
    method, make_event = ENTRY_POINTS[task]
    app = use_container("memory")
    calls: list[tuple[Any, ...]] = []

    def broken(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        raise TypeError("a bug inside the service")

    monkeypatch.setattr(app.stats, method, broken)

    # WHEN Lambda invokes the task through Zappa
    with pytest.raises(RuntimeError, match=f"^{task} failed: TypeError") as raised:
        zappa_lambda.invoke(make_event(load_event))

    # THEN it ran once, and the error is ours, not Zappa's "Function signature is invalid"
    assert len(calls) == 1
    assert isinstance(raised.value.__cause__, TypeError)


# End to end on moto: trades written through the DynamoDB adapter, records read from its stream.


def write_trades(app: Any) -> dict[str, int]:
    """Creates, closes, patches and deletes for three users; returns how many trades each has left."""
    trades = app.trades
    aapl = trades.create("alice", trade_body(tags=["breakout"]))
    trades.add_close("alice", aapl.trade_id, close_body("40", "190.10"))
    trades.add_close("alice", aapl.trade_id, close_body("60", "185.00", hours=3))
    trades.create("alice", trade_body("MSFT", partial_closes=[close_body("100", "190.00", hours=26)]))
    trades.update("alice", aapl.trade_id, {"setup": "pullback", "tags": ["breakout", "earnings"]}, None)
    es = trades.create("bob", trade_body("ES", "short", quantity="2", price="5100", multiplier=Decimal("50")))
    nq = trades.create("bob", trade_body("NQ", "short", quantity="1", price="18000"))
    trades.add_close("bob", nq.trade_id, close_body("1", "17950", hours=2))
    trades.delete("bob", es.trade_id, None)
    gone = trades.create("carol", trade_body("TSLA"))
    trades.update("carol", gone.trade_id, {"notes": "entered late"}, gone.version)
    trades.delete("carol", gone.trade_id, 2)
    return {"alice": 2, "bob": 1, "carol": 0}


def test_real_stream_records_bring_every_user_to_a_fresh_rebuild(
    dynamodb_container: Any, moto_aws: MotoAws, count_rebuilds: Callable[[Any], list[str]]
) -> None:
    # GIVEN trades written through the DynamoDB adapter, and the records its stream carries
    app = dynamodb_container
    left = write_trades(app)
    records = moto_aws.stream_records()
    assert Counter(r["eventName"] for r in records) == {"INSERT": 5, "MODIFY": 5, "REMOVE": 2}
    assert {stored_stats(app, user) for user in left} == {None}
    rebuilt = count_rebuilds(app)

    # WHEN Lambda delivers them as one batch
    result = tasks.stats.update_stats({"Records": records}, None)

    # THEN every user was rebuilt once, to what a fresh rebuild computes, revision and all
    assert result == {"batchItemFailures": []}
    assert Counter(rebuilt) == dict.fromkeys(left, 1)
    for user, count in left.items():
        stored = stored_stats(app, user)
        assert stats_view(stored) == stats_view(fresh_stats(app, user))
        assert stored.trade_count == count
        assert stored.revision == app.stats.trades.revision(user) > 0
    assert stored_stats(app, "alice").stats["closedTrades"] == 2


def test_duplicated_shuffled_batches_in_any_order_give_the_same_stats(
    dynamodb_container: Any, moto_aws: MotoAws
) -> None:
    # GIVEN the stream's records, each delivered twice (Lambda delivers at least once), shuffled
    app = dynamodb_container
    left = write_trades(app)
    records = moto_aws.stream_records() * 2
    shuffle = random.Random(20260302)
    shuffle.shuffle(records)
    cuts = sorted(shuffle.sample(range(1, len(records)), 4))
    batches = [records[i:j] for i, j in zip([0, *cuts], [*cuts, len(records)], strict=True)]
    shuffle.shuffle(batches)

    # WHEN the batches arrive one after another, in that order
    results = [tasks.stats.update_stats({"Records": batch}, None) for batch in batches]

    # THEN none failed and every user's stats equal a fresh rebuild
    assert results == [{"batchItemFailures": []}] * len(batches)
    for user in left:
        assert stats_view(stored_stats(app, user)) == stats_view(fresh_stats(app, user))


def test_a_rebuild_computed_from_an_older_revision_does_not_overwrite_newer_stats(
    dynamodb_container: Any, moto_aws: MotoAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN alice's stats are up to date
    app = dynamodb_container
    write_trades(app)
    records = moto_aws.stream_records()
    tasks.stats.update_stats({"Records": records}, None)
    current = stored_stats(app, "alice")
    assert current is not None
    assert current.trade_count == 2
    # AND a slow rebuild read alice's revision and trades before her latest writes (none of them)
    monkeypatch.setattr(app.stats.trades, "revision", lambda user_id: current.revision - 1)
    monkeypatch.setattr(app.stats.trades, "trades_for_stats", lambda user_id: iter(()))

    # WHEN that rebuild finishes, as part of a batch
    alices = [r for r in records if r["dynamodb"]["Keys"]["userId"]["S"] == "alice"]
    result = tasks.stats.update_stats({"Records": alices}, None)

    # THEN it is not a failure, and the stored stats did not go back
    assert result == {"batchItemFailures": []}
    assert stats_view(stored_stats(app, "alice")) == stats_view(current)
    assert stats_view(app.stats.rebuild("alice")) == stats_view(current)


def test_stats_stored_from_a_newer_revision_survive_a_batch(
    dynamodb_container: Any, moto_aws: MotoAws
) -> None:
    # GIVEN bob's stored stats were computed from a revision newer than his trades' (a rebuild
    # that ran after writes this batch does not include)
    app = dynamodb_container
    write_trades(app)
    revision = app.stats.trades.revision("bob")
    newer = StatsRecord("bob", revision + 1, datetime.now(UTC), 7, {"marker": "newer"})
    assert app.stats.stats.put(newer)

    # WHEN the batch with bob's records is applied
    result = tasks.stats.update_stats({"Records": moto_aws.stream_records()}, None)

    # THEN bob keeps the newer stats, while the others got theirs
    assert result == {"batchItemFailures": []}
    assert stats_view(stored_stats(app, "bob")) == stats_view(newer)
    assert stats_view(stored_stats(app, "alice")) == stats_view(fresh_stats(app, "alice"))
