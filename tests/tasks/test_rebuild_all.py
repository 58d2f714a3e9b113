"""tasks.stats.rebuild_all_stats (the 6-hourly schedule, continuing itself before Lambda's time runs
out) and tasks.stats.rebuild_user (`zappa invoke`)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

import tasks.stats
import tradeapp.services.stats

from .conftest import (
    LambdaContext,
    RunningLambda,
    close_body,
    fresh_stats,
    scheduled_event,
    stats_view,
    stored_stats,
    trade_body,
)

PAGE = 7
SUMMARY = {
    "runId",
    "part",
    "users",
    "trades",
    "failures",
    "failedUsers",
    "checkpoint",
    "finished",
    "durationSeconds",
}


@dataclass
class Countdown:
    """A Lambda context whose remaining time is scripted: one value per question, the last repeated."""

    remaining_ms: list[int]
    asked: int = 0
    invoked_function_arn: str = LambdaContext.invoked_function_arn

    def get_remaining_time_in_millis(self) -> int:
        self.asked += 1
        return self.remaining_ms[min(self.asked, len(self.remaining_ms)) - 1]


@dataclass
class Run:
    """The invocations of one rebuild-all, the first and each continuation it asked for."""

    results: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    pages: list[list[str]] = field(default_factory=list)  # the users each invocation rebuilt


def seed_users(app: Any, count: int) -> tuple[list[str], int]:
    """`count` users with 1 to 3 trades each (one closed per user); their ids and the trade total."""
    users = [f"user-{i:03d}" for i in range(count)]
    total = 0
    for i, user in enumerate(users):
        closed = app.trades.create(user, trade_body(tags=["breakout"]))
        app.trades.add_close(user, closed.trade_id, close_body("100", f"{180 + i % 20}.00"))
        for _ in range(i % 3):
            app.trades.create(user, trade_body("MSFT"))
        total += 1 + i % 3
    return users, total


def store_order(app: Any) -> list[str]:
    """All users in the order the store pages them (DynamoDB: scan order)."""
    return list(app.stats.trades.users(after=None, limit=10_000))


def drive(
    app: Any,
    rebuilt: list[str],
    invoke: Callable[[dict[str, Any], Any], dict[str, Any]],
    first: dict[str, Any],
    context: Callable[[], Any],
    limit: int = 100,
) -> Run:
    """Invoke, then run each continuation it records (as Lambda would, asynchronously) until none is left."""
    run, pending = Run(), [first]
    while pending:
        assert len(run.results) < limit, "the continuations never finish"
        event = pending.pop(0)
        before = len(rebuilt)
        run.events.append(event)
        run.results.append(invoke(event, context()))
        run.pages.append(rebuilt[before:])
        pending.extend(app.continuation.payloads)
        app.continuation.payloads.clear()
    return run


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(tradeapp.services.stats, "USERS_PAGE", PAGE)
    return PAGE


@pytest.fixture
def backend_container(request: pytest.FixtureRequest, use_container: Callable[..., Any]) -> Any:
    """The container on the backend the test is parametrised with (`backend`)."""
    backend = request.getfixturevalue("backend")
    if backend == "dynamodb":
        return request.getfixturevalue("dynamodb_container")
    return use_container(backend)


ONE_PAGE = [tasks.stats.RESERVE_MS - 1]  # below the reserve once the first page is done
TWO_PAGES = [tasks.stats.RESERVE_MS + 5_000, tasks.stats.RESERVE_MS - 1]


@pytest.mark.parametrize(
    ("backend", "users", "remaining_ms", "pages_per_call"),
    [
        pytest.param("memory", 130, ONE_PAGE, 1, id="memory-130-users-1-page-a-call"),
        pytest.param("sqlite", 130, ONE_PAGE, 1, id="sqlite-130-users-1-page-a-call"),
        pytest.param("sqlite", 130, TWO_PAGES, 2, id="sqlite-130-users-2-pages-a-call"),
        # the last page is full, so one more call finds an empty page
        pytest.param("memory", 2 * PAGE, ONE_PAGE, 1, id="memory-exactly-2-pages"),
        # moto copies every table in each transaction, so its writes slow down as they add up
        pytest.param("dynamodb", 22, ONE_PAGE, 1, id="dynamodb-22-users-1-page-a-call"),
        pytest.param("dynamodb", 2 * PAGE, TWO_PAGES, 2, id="dynamodb-exactly-2-pages-in-1-call"),
    ],
)
def test_a_tiny_time_budget_continues_page_by_page_until_every_user_is_rebuilt_once(
    backend: str,
    backend_container: Any,
    small_pages: int,
    count_rebuilds: Callable[[Any], list[str]],
    users: int,
    remaining_ms: list[int],
    pages_per_call: int,
) -> None:
    # GIVEN many users, pages of 7, and a Lambda whose time runs short after `pages_per_call` pages
    app = backend_container
    seeded, trades = seed_users(app, users)
    order = store_order(app)
    assert sorted(order) == seeded
    rebuilt = count_rebuilds(app)

    # WHEN the schedule starts a rebuild-all and every continuation it asks for is run
    run = drive(app, rebuilt, tasks.stats.rebuild_all_stats, {}, lambda: Countdown(remaining_ms))

    # THEN every user was rebuilt exactly once overall, in the store's order: no page was redone
    assert Counter(rebuilt) == dict.fromkeys(seeded, 1)
    assert rebuilt == order
    # AND each invocation did its pages and then handed over from where it stopped
    calls = -(-users // (small_pages * pages_per_call)) + (users % (small_pages * pages_per_call) == 0)
    assert len(run.results) == calls
    assert [len(page) for page in run.pages[:-1]] == [small_pages * pages_per_call] * (calls - 1)
    first = run.results[0]
    for part, (result, event, page) in enumerate(zip(run.results, run.events, run.pages, strict=True), 1):
        assert result.keys() >= SUMMARY
        assert isinstance(result["durationSeconds"], float)
        assert (result["part"], result["runId"], result["failures"]) == (part, first["runId"], 0)
        assert result["users"] == len(page)
        assert result["checkpoint"] == (page[-1] if page else event["checkpoint"])
        assert result["finished"] is (part == calls)
        if part > 1:  # a continuation: the payload rebuild_all_stats asked Lambda to run
            previous = run.results[part - 2]
            assert event == {
                "command": "tasks.stats.rebuild_all_stats",
                "checkpoint": previous["checkpoint"],
                "runId": first["runId"],
                "part": part,
            }
    # AND the checkpoints chain through every user, ending at the last
    checkpoints = [r["checkpoint"] for r in run.results]
    assert checkpoints[-1] == order[-1]
    assert [order.index(c) for c in checkpoints] == sorted(order.index(c) for c in checkpoints)
    assert sum(r["users"] for r in run.results) == users
    assert sum(r["trades"] for r in run.results) == trades
    # AND the stats are a fresh rebuild's
    for user in (order[0], order[len(order) // 2], order[-1]):
        assert stats_view(stored_stats(app, user)) == stats_view(fresh_stats(app, user))


@pytest.mark.parametrize("context", [None, LambdaContext(timeout_ms=900_000)], ids=["local", "ample-time"])
def test_without_a_deadline_it_rebuilds_everyone_in_one_go(
    use_container: Callable[..., Any],
    small_pages: int,
    count_rebuilds: Callable[[Any], list[str]],
    context: Any,
) -> None:
    # GIVEN 130 users in pages of 7
    app = use_container("sqlite")
    seeded, trades = seed_users(app, 130)
    rebuilt = count_rebuilds(app)

    # WHEN rebuild-all runs with no Lambda context (the CLI, a test), or with plenty of time
    result = tasks.stats.rebuild_all_stats({}, context)

    # THEN it finished in that one call, each user once, and asked for no continuation
    assert result["finished"] is True
    assert (result["users"], result["trades"], result["failures"], result["part"]) == (130, trades, 0, 1)
    assert result["checkpoint"] == seeded[-1]
    assert isinstance(result["durationSeconds"], float)
    assert result["durationSeconds"] >= 0
    assert Counter(rebuilt) == dict.fromkeys(seeded, 1)
    assert app.continuation.payloads == []


def test_a_user_whose_rebuild_fails_is_counted_and_the_rest_go_on(
    use_container: Callable[..., Any], small_pages: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN 20 users, one of whose trades cannot be read
    app = use_container("memory")
    seeded, _ = seed_users(app, 20)
    real = app.stats.trades.trades_for_stats

    def trades_for_stats(user_id: str) -> Any:
        if user_id == seeded[9]:
            raise KeyError("entryAt")  # what from_fold_item raises for a malformed item
        return real(user_id)

    monkeypatch.setattr(app.stats.trades, "trades_for_stats", trades_for_stats)

    # WHEN rebuild-all runs
    result = tasks.stats.rebuild_all_stats({}, None)

    # THEN it finished, naming that user, and rebuilt all the others
    assert (result["finished"], result["users"], result["failures"]) == (True, 20, 1)
    assert result["failedUsers"] == [seeded[9]]
    assert stored_stats(app, seeded[9]) is None
    assert all(stored_stats(app, u) is not None for u in seeded if u != seeded[9])


def test_the_budget_keeps_room_for_twice_the_slowest_page(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the reserve, the next page starts only if twice the slowest page so far still fits."""
    now = [0.0]
    monkeypatch.setattr(tasks.stats, "time", SimpleNamespace(monotonic=lambda: now[0]))
    keep_going = tasks.stats.time_budget(Countdown([15_000]))

    answers = [keep_going()]  # the first page always runs
    for page_seconds in (6.0, 8.0):  # 2 x 6 s < 15 s left; 2 x 8 s > 15 s left
        now[0] += page_seconds
        answers.append(keep_going())

    assert answers == [True, True, False]


# Through Zappa's real handler.


def test_the_schedule_through_zappa_reaches_rebuild_all_and_its_continuations_run_as_commands(
    zappa_lambda: RunningLambda,
    use_container: Callable[..., Any],
    small_pages: int,
    count_rebuilds: Callable[[Any], list[str]],
) -> None:
    # GIVEN 30 users, and a Lambda with too little time for more than a page per invocation
    app = use_container("memory")
    seeded, _ = seed_users(app, 30)
    rebuilt = count_rebuilds(app)

    # WHEN the CloudWatch schedule fires, and each continuation comes back through the handler
    # (Lambda's async Invoke of the payload: a `command` event, which Zappa routes by name)
    run = drive(
        app, rebuilt, zappa_lambda.invoke, scheduled_event("dev"), lambda: LambdaContext(timeout_ms=5_000)
    )

    # THEN Zappa ran rebuild_all_stats for the schedule and for every continuation, until done
    assert [r["part"] for r in run.results] == [1, 2, 3, 4, 5]
    assert [r["finished"] for r in run.results] == [False] * 4 + [True]
    assert [e.get("command") for e in run.events] == [None] + ["tasks.stats.rebuild_all_stats"] * 4
    assert Counter(rebuilt) == dict.fromkeys(seeded, 1)


def test_the_schedule_with_time_to_spare_finishes_in_one_invocation(
    zappa_lambda: RunningLambda, use_container: Callable[..., Any], lambda_context: Any
) -> None:
    app = use_container("memory")
    seeded, trades = seed_users(app, 12)

    result = zappa_lambda.invoke(scheduled_event("dev"), lambda_context())

    assert (result["users"], result["trades"], result["finished"], result["part"]) == (12, trades, True, 1)
    assert app.continuation.payloads == []
    assert all(stats_view(stored_stats(app, u)) == stats_view(fresh_stats(app, u)) for u in seeded)


def test_rebuild_user_through_zappa_invoke(
    zappa_lambda: RunningLambda, use_container: Callable[..., Any]
) -> None:
    # GIVEN alice's two trades, one closed, whose stats nothing has computed yet
    app = use_container("memory")
    first = app.trades.create("alice", trade_body())
    app.trades.add_close("alice", first.trade_id, close_body("100", "190.00"))
    app.trades.create("alice", trade_body("MSFT"))
    app.trades.create("bob", trade_body())
    assert stored_stats(app, "alice") is None

    # WHEN an operator runs `zappa invoke dev '{"command": "tasks.stats.rebuild_user", "userId": "alice"}'`
    result = zappa_lambda.invoke({"command": "tasks.stats.rebuild_user", "userId": "alice"})

    # THEN her stats are rebuilt (only hers), and the summary says from which revision
    assert result == {"userId": "alice", "revision": 3, "trades": 2}
    assert stats_view(stored_stats(app, "alice")) == stats_view(fresh_stats(app, "alice"))
    assert stored_stats(app, "alice").stats["closedTrades"] == 1
    assert stored_stats(app, "bob") is None


@pytest.mark.parametrize("user_id", [None, "", 42])
def test_rebuild_user_without_a_user_id_says_so(
    zappa_lambda: RunningLambda, use_container: Callable[..., Any], user_id: Any
) -> None:
    use_container("memory")
    event: dict[str, Any] = {"command": "tasks.stats.rebuild_user"}
    if user_id is not None:
        event["userId"] = user_id

    with pytest.raises(ValueError, match="userId"):
        zappa_lambda.invoke(event)


def test_a_continuation_that_cannot_start_fails_loudly_with_where_to_resume(
    use_container: Callable[..., Any], small_pages: int, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN more users than one page, and a self-invoke that AWS refuses
    app = use_container("memory")
    seed_users(app, 3 * small_pages)

    def refuse(context: Any, payload: dict[str, Any]) -> None:
        raise PermissionError("not authorized to perform lambda:InvokeFunction")

    app.continuation = lambda: refuse
    capsys.readouterr()

    # WHEN an invocation runs out of time after its first page
    with pytest.raises(RuntimeError, match="could not continue from"):
        tasks.stats.rebuild_all_stats({}, LambdaContext(timeout_ms=tasks.stats.RESERVE_MS - 1))

    # THEN it says, in one line, where the next run should resume
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    failed = [line for line in lines if line["message"] == "rebuild-all-stats continuation failed"]
    assert len(failed) == 1
    assert failed[0]["resume"]["checkpoint"] == store_order(app)[small_pages - 1]
    assert failed[0]["users"] == small_pages
