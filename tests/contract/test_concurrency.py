"""Races through TradeService: conditional writes must keep a trade whole under concurrent requests.

Each race runs THREADS threads that start together at a barrier, in two interleavings:
"lockstep" holds every thread after its first read until all of them have read, so that
all act on the same stale state (the worst case, every time); "free" lets them run with a
tiny GIL switch interval, for whatever other interleavings turn up. Each race is repeated
for ROUNDS rounds, each on a fresh repository, on every adapter: memory, SQLite, and
DynamoDB under moto with each request serialized (moto is not thread-safe; one lock makes
each request atomic, as DynamoDB's are, while threads still interleave between requests,
where a read-then-conditional-write race lives: see `moto_one_request_at_a_time`).
"""

from __future__ import annotations

import gc
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from tradeapp.adapters.ports import IdempotencyRecord, TradeQuery, TradeRepository
from tradeapp.domain.errors import InvalidTradeError, PreconditionFailedError
from tradeapp.domain.trade import Trade
from tradeapp.services.cursors import CursorCodec, SigningKeys
from tradeapp.services.trades import TradeService

# 3 rounds x 2 interleavings x 3 adapters of 8 threads per case: about 15 s for the file,
# two thirds of it on moto, whose every request costs milliseconds.
ROUNDS = 3
THREADS = 8
rounds = pytest.mark.parametrize("round_", range(ROUNDS), ids=lambda n: f"round{n}")
ENTERED = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
T = TypeVar("T")


class Lockstep:
    """A repository that holds each enlisted thread after its first read until all have read."""

    def __init__(self, repo: TradeRepository, parties: int) -> None:
        self.repo = repo
        self.barrier = threading.Barrier(parties, timeout=30)
        self.local = threading.local()

    def enlist(self) -> None:
        self.local.pending = True

    def get(self, user_id: str, trade_id: str) -> Trade:
        return self._after_all_read(self.repo.get(user_id, trade_id))

    def find_idempotency(self, user_id: str, key: str, now: datetime) -> IdempotencyRecord | None:
        return self._after_all_read(self.repo.find_idempotency(user_id, key, now))

    def _after_all_read(self, result: T) -> T:
        if getattr(self.local, "pending", False):
            self.local.pending = False
            self.barrier.wait()
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.repo, name)  # the writes and list, unchanged


@pytest.fixture(autouse=True)
def _switch_often() -> Iterator[None]:
    """Switch threads every microsecond, for more interleavings. The cyclic garbage collector
    is held off while threads race and run once they are done: one full `make test` (of six)
    crashed with a segfault inside the collector soon after these tests, once they raced
    over moto; CPython 3.11 has known crashes when collection meets other threads' frames."""
    before = sys.getswitchinterval()
    gc.disable()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)
        gc.enable()
        gc.collect()


@pytest.fixture(params=["lockstep", "free"])
def service(request: pytest.FixtureRequest, threaded_repo: TradeRepository) -> TradeService:
    repo = Lockstep(threaded_repo, THREADS) if request.param == "lockstep" else threaded_repo
    return TradeService(repo, CursorCodec(SigningKeys("k1", {"k1": b"x" * 32})))


def race(service: TradeService, action: Callable[[int], T]) -> list[T | Exception]:
    """Run action(0) .. action(THREADS - 1) at once; each result is a value or the raised error."""
    start = threading.Barrier(THREADS, timeout=30)

    def run(n: int) -> T | Exception:
        if isinstance(service.repo, Lockstep):
            service.repo.enlist()
        try:
            start.wait()
            return action(n)
        except Exception as error:
            return error

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(pool.map(run, range(THREADS)))


def outcomes(results: list[Any]) -> Counter[str]:
    return Counter("ok" if not isinstance(r, Exception) else type(r).__name__ for r in results)


def new_trade(service: TradeService, user_id: str, **fields: Any) -> Trade:
    data: dict[str, Any] = {
        "symbol": "AAPL",
        "side": "long",
        "quantity": Decimal("10"),
        "entry_price": Decimal("187.25"),
        "entry_at": ENTERED,
    }
    data.update(fields)
    return service.create(user_id, data)


@pytest.mark.parametrize(
    ("close_quantity", "fits"),
    [(Decimal("3"), 3), (Decimal("2.5"), 4), (Decimal("10"), 1)],
    ids=["3-of-10", "2.5-of-10", "all-at-once"],
)
@rounds
def test_concurrent_closes_never_overfill_a_trade(
    service: TradeService, close_quantity: Decimal, fits: int, round_: int
) -> None:
    # GIVEN an open trade of 10, and more closes racing for it than it can take
    user_id = "alice"
    trade = new_trade(service, user_id)
    close = {"quantity": close_quantity, "price": Decimal("190"), "closed_at": ENTERED}

    # WHEN every thread adds its close at once
    results = race(service, lambda n: service.add_close(user_id, trade.trade_id, close))

    # THEN exactly as many closes as fit were stored; every other one was refused as invalid
    assert outcomes(results) == Counter({"ok": fits, "InvalidTradeError": THREADS - fits})
    assert all(isinstance(r, InvalidTradeError) for r in results if isinstance(r, Exception))
    stored = service.get(user_id, trade.trade_id)
    assert len(stored.partial_closes) == fits
    assert stored.version == 1 + fits
    assert stored.figures.remaining_quantity == Decimal("10") - fits * close_quantity
    assert stored.figures.remaining_quantity >= 0
    assert stored.figures.status == ("closed" if fits * close_quantity == 10 else "partial")
    winners = {c.close_id for r in results if not isinstance(r, Exception) for c in r.partial_closes}
    assert {c.close_id for c in stored.partial_closes} == winners  # no accepted close was lost


@rounds
def test_concurrent_updates_with_the_same_if_match_let_exactly_one_win(
    service: TradeService, round_: int
) -> None:
    # GIVEN a trade at version 1
    user_id = "alice"
    trade = new_trade(service, user_id)

    # WHEN every thread patches it with If-Match: 1
    results = race(
        service, lambda n: service.update(user_id, trade.trade_id, {"notes": f"thread {n}"}, if_match=1)
    )

    # THEN one patch is stored and every other one is refused as stale
    assert outcomes(results) == Counter({"ok": 1, "PreconditionFailedError": THREADS - 1})
    assert all(isinstance(r, PreconditionFailedError) for r in results if isinstance(r, Exception))
    (winner,) = [r for r in results if not isinstance(r, Exception)]
    stored = service.get(user_id, trade.trade_id)
    assert stored == winner
    assert stored.version == 2


@rounds
def test_concurrent_creates_with_one_idempotency_key_make_one_trade(
    service: TradeService, round_: int
) -> None:
    # GIVEN one request body and one Idempotency-Key
    user_id = "alice"
    body = {
        "symbol": "AAPL",
        "side": "long",
        "quantity": Decimal("10"),
        "entry_price": Decimal("187.25"),
        "entry_at": ENTERED,
        "tags": ["retry"],
    }

    # WHEN every thread sends it at once, as a client retrying over a flaky link might
    results = race(service, lambda n: service.create(user_id, body, idempotency_key="key-1"))

    # THEN every thread gets the same trade, and only one was stored
    assert outcomes(results) == Counter({"ok": THREADS})
    assert len({r.trade_id for r in results}) == 1
    listed = service.list(user_id, TradeQuery(), limit=50).items
    assert [t.trade_id for t in listed] == [results[0].trade_id]
