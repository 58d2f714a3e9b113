"""TradeService use cases against the in-memory fake repository."""

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tradeapp.adapters.memory import MemoryTradeRepository
from tradeapp.adapters.ports import TradeQuery
from tradeapp.domain.errors import (
    ConflictError,
    IdempotencyMismatchError,
    InvalidCursorError,
    InvalidTradeError,
    PreconditionFailedError,
    TradeNotFoundError,
)
from tradeapp.domain.trade import PartialClose
from tradeapp.services.cursors import CursorCodec, SigningKeys
from tradeapp.services.trades import TradeService

NOW = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
ENTRY_AT = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)
KEYS = SigningKeys("k1", {"k1": b"x" * 32})


class Clock:
    def __init__(self):
        self.now = NOW

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += timedelta(**delta)


def sequential_ids():
    counter = itertools.count(1)
    return lambda: f"id{next(counter):04d}"


@pytest.fixture
def repo():
    return MemoryTradeRepository()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def service(repo, clock):
    return TradeService(repo, CursorCodec(KEYS), clock=clock, ids=sequential_ids())


def body(**changes):
    data = {
        "symbol": "aapl",
        "side": "long",
        "quantity": Decimal("100.0"),
        "entry_price": Decimal("187.250"),
        "entry_at": ENTRY_AT,
        "fees": Decimal("1.00"),
    }
    data.update(changes)
    return data


def a_close(quantity, price, **changes):
    item = {
        "quantity": Decimal(quantity),
        "price": Decimal(price),
        "closed_at": ENTRY_AT + timedelta(hours=1),
        "fees": Decimal("0"),
    }
    item.update(changes)
    return item


def stored(repo, user="alice"):
    return repo.list(user, TradeQuery(), None, 1000)


# --- create ---------------------------------------------------------------------------------


def test_create_normalises_the_symbol_and_numbers(service, repo):
    trade = service.create(
        "alice", body(stop_loss=Decimal("180.50"), partial_closes=[a_close("25.0", "190.10")])
    )

    assert trade.symbol == "AAPL"
    assert [str(trade.quantity), str(trade.entry_price), str(trade.fees), str(trade.stop_loss)] == [
        "100",
        "187.25",
        "1",
        "180.5",
    ]
    close = trade.partial_closes[0]
    assert [str(close.quantity), str(close.price)] == ["25", "190.1"]
    assert close.close_id == "id0002"  # the trade took id0001
    assert (trade.user_id, trade.trade_id, trade.version) == ("alice", "id0001", 1)
    assert trade.created_at == trade.updated_at == NOW
    assert trade.figures.status == "partial"
    assert repo.get("alice", trade.trade_id) == trade


def test_create_refuses_an_invalid_trade_and_stores_nothing(service, repo):
    with pytest.raises(InvalidTradeError) as raised:
        service.create("alice", body(stop_loss=Decimal("190")))  # above a long's entry

    assert list(raised.value.errors) == ["stopLoss"]
    assert stored(repo) == []


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"quantity": Decimal("1E+100")}, {"quantity": ["must be below 10^15"]}),
        # 149 decimals: must be refused, not rounded to 1 on the way in
        (
            {"entry_price": Decimal("1." + "0" * 148 + "1")},
            {"entryPrice": ["must have at most 10 decimal places"]},
        ),
        ({"fees": Decimal("NaN")}, {"fees": ["must be a finite number"]}),
    ],
)
def test_create_refuses_numbers_that_cannot_be_stored(service, repo, changes, errors):
    with pytest.raises(InvalidTradeError) as raised:
        service.create("alice", body(**changes))

    assert raised.value.errors == errors
    assert stored(repo) == []


def test_same_key_and_body_return_the_first_trade_and_store_one(service, repo, clock):
    first = service.create("alice", body(), idempotency_key="key-1")
    clock.advance(minutes=5)

    again = service.create("alice", body(), idempotency_key="key-1")

    assert again == first
    assert stored(repo) == [first]


def test_same_key_with_another_body_is_refused(service, repo):
    first = service.create("alice", body(), idempotency_key="key-1")

    with pytest.raises(IdempotencyMismatchError):
        service.create("alice", body(quantity=Decimal("101")), idempotency_key="key-1")

    assert stored(repo) == [first]


def test_semantically_equal_bodies_count_as_the_same(service, repo):
    first = service.create("alice", body(quantity=Decimal("100")), idempotency_key="key-1")

    again = service.create(
        "alice",
        body(
            quantity=Decimal("100.0"),
            entry_price=Decimal("187.2500"),
            fees=Decimal("1"),
            # the same instant, written in another offset
            entry_at=ENTRY_AT.astimezone(timezone(timedelta(hours=2))),
        ),
        idempotency_key="key-1",
    )

    assert again == first
    assert len(stored(repo)) == 1


def test_a_key_is_scoped_to_its_user(service, repo):
    alices = service.create("alice", body(), idempotency_key="key-1")
    bobs = service.create("bob", body(), idempotency_key="key-1")

    assert bobs.trade_id != alices.trade_id
    assert stored(repo, "alice") == [alices]
    assert stored(repo, "bob") == [bobs]


def test_a_key_can_be_reused_after_it_expires(service, repo, clock):
    first = service.create("alice", body(), idempotency_key="key-1")
    clock.advance(hours=24, seconds=1)

    second = service.create("alice", body(quantity=Decimal("5")), idempotency_key="key-1")

    assert second.trade_id != first.trade_id
    assert len(stored(repo)) == 2


def test_replaying_a_key_whose_trade_was_deleted_is_a_conflict(service, repo):
    first = service.create("alice", body(), idempotency_key="key-1")
    service.delete("alice", first.trade_id, if_match=1)

    with pytest.raises(ConflictError):
        service.create("alice", body(), idempotency_key="key-1")

    assert stored(repo) == []


# --- update ---------------------------------------------------------------------------------


def test_update_with_a_stale_if_match_changes_nothing(service, repo, clock):
    trade = service.create("alice", body())
    current = service.update("alice", trade.trade_id, {"notes": "first"}, if_match=1)
    clock.advance(minutes=1)

    with pytest.raises(PreconditionFailedError):
        service.update("alice", trade.trade_id, {"notes": "second"}, if_match=1)

    assert repo.get("alice", trade.trade_id) == current
    assert current.version == 2


def test_update_bumps_version_and_updated_at(service, repo, clock):
    trade = service.create("alice", body())
    clock.advance(hours=2)

    changed = service.update(
        "alice", trade.trade_id, {"symbol": "msft", "tags": ["swing"], "fees": Decimal("2.50")}, if_match=1
    )

    assert changed.version == 2
    assert changed.updated_at == NOW + timedelta(hours=2)
    assert changed.created_at == NOW
    assert (changed.symbol, changed.tags, str(changed.fees)) == ("MSFT", ("swing",), "2.5")
    assert repo.get("alice", trade.trade_id) == changed


def test_update_with_if_match_star_applies_to_any_version(service):
    trade = service.create("alice", body())
    service.update("alice", trade.trade_id, {"notes": "a"}, if_match=None)

    changed = service.update("alice", trade.trade_id, {"notes": "b"}, if_match=None)

    assert (changed.version, changed.notes) == (3, "b")


def test_update_that_breaks_a_rule_changes_nothing(service, repo):
    trade = service.create("alice", body())

    with pytest.raises(InvalidTradeError) as raised:
        service.update("alice", trade.trade_id, {"stop_loss": Decimal("200")}, if_match=1)

    assert list(raised.value.errors) == ["stopLoss"]
    assert repo.get("alice", trade.trade_id) == trade


def test_update_of_a_missing_trade(service):
    with pytest.raises(TradeNotFoundError):
        service.update("alice", "nope", {"notes": "x"}, if_match=1)


def test_replacing_the_closes_keeps_a_given_close_id(service, repo):
    # GIVEN a trade with two closes
    trade = service.create("alice", body(partial_closes=[a_close("10", "190"), a_close("20", "191")]))
    first, second = trade.partial_closes

    # WHEN the list is replaced by the first close, edited, and a new one
    changed = service.update(
        "alice",
        trade.trade_id,
        {"partial_closes": [a_close("15", "190.5", close_id=first.close_id), a_close("5", "192")]},
        if_match=1,
    )

    # THEN the first keeps its id, the second is gone, the new one has a fresh id
    kept, added = changed.partial_closes
    assert kept.close_id == first.close_id
    assert (str(kept.quantity), str(kept.price)) == ("15", "190.5")
    assert added.close_id not in (first.close_id, second.close_id)
    assert changed.figures.remaining_quantity == 80
    assert repo.get("alice", trade.trade_id) == changed


def test_replacing_the_closes_refuses_an_unknown_close_id(service, repo):
    trade = service.create("alice", body(partial_closes=[a_close("10", "190")]))

    with pytest.raises(InvalidTradeError) as raised:
        service.update(
            "alice", trade.trade_id, {"partial_closes": [a_close("10", "190", close_id="forged")]}, if_match=1
        )

    assert raised.value.errors == {"partialCloses": ["close 0: unknown closeId forged"]}
    assert repo.get("alice", trade.trade_id) == trade


def test_replacing_the_closes_refuses_a_close_id_twice(service, repo):
    trade = service.create("alice", body(partial_closes=[a_close("10", "190")]))
    close_id = trade.partial_closes[0].close_id

    with pytest.raises(InvalidTradeError) as raised:
        service.update(
            "alice",
            trade.trade_id,
            {
                "partial_closes": [
                    a_close("1", "190", close_id=close_id),
                    a_close("1", "190", close_id=close_id),
                ]
            },
            if_match=1,
        )

    assert list(raised.value.errors) == ["partialCloses"]
    assert repo.get("alice", trade.trade_id) == trade


def test_a_close_id_from_another_trade_is_unknown(service):
    other = service.create("alice", body(partial_closes=[a_close("10", "190")]))
    trade = service.create("alice", body())

    with pytest.raises(InvalidTradeError):
        service.update(
            "alice",
            trade.trade_id,
            {"partial_closes": [a_close("1", "190", close_id=other.partial_closes[0].close_id)]},
            if_match=1,
        )


# --- add_close ------------------------------------------------------------------------------


def test_add_close_appends_and_bumps_the_version(service, repo, clock):
    trade = service.create("alice", body(quantity=Decimal("10")))
    clock.advance(minutes=3)

    changed = service.add_close("alice", trade.trade_id, a_close("4", "190.00"))

    assert changed.version == 2
    assert changed.updated_at == NOW + timedelta(minutes=3)
    assert [str(c.quantity) for c in changed.partial_closes] == ["4"]
    assert changed.figures.status == "partial"
    assert repo.get("alice", trade.trade_id) == changed


def test_add_close_refuses_an_overfill_and_changes_nothing(service, repo):
    trade = service.create("alice", body(quantity=Decimal("10"), partial_closes=[a_close("6", "190")]))

    with pytest.raises(InvalidTradeError) as raised:
        service.add_close("alice", trade.trade_id, a_close("4.0000000001", "191"))

    assert list(raised.value.errors) == ["partialCloses"]
    assert repo.get("alice", trade.trade_id) == trade


def test_add_close_refuses_a_close_id_from_the_caller(service, repo):
    trade = service.create("alice", body())

    with pytest.raises(InvalidTradeError):
        service.add_close("alice", trade.trade_id, a_close("1", "190", close_id="mine"))

    assert repo.get("alice", trade.trade_id) == trade


class RacingRepository(MemoryTradeRepository):
    """Lets another writer change the trade between the service's read and its write, once."""

    def __init__(self):
        super().__init__()
        self.other_writer = None

    def replace(self, trade, expected_version):
        if self.other_writer is not None:
            write, self.other_writer = self.other_writer, None
            write(self)
        super().replace(trade, expected_version)


def their_close(quantity):
    return PartialClose("theirs", Decimal(quantity), Decimal("190"), ENTRY_AT + timedelta(minutes=5))


def test_add_close_rereads_after_losing_a_race(clock):
    repo = RacingRepository()
    service = TradeService(repo, CursorCodec(KEYS), clock=clock, ids=sequential_ids())
    trade = service.create("alice", body(quantity=Decimal("10")))
    theirs = replace(trade, version=2, partial_closes=(their_close("6"),))
    repo.other_writer = lambda store: MemoryTradeRepository.replace(store, theirs, 1)

    changed = service.add_close("alice", trade.trade_id, a_close("4", "191"))

    assert changed.version == 3
    assert [c.close_id for c in changed.partial_closes] == ["theirs", "id0002"]
    assert repo.get("alice", trade.trade_id) == changed
    assert changed.figures.status == "closed"


def test_two_racing_closes_can_never_overfill(clock):
    repo = RacingRepository()
    service = TradeService(repo, CursorCodec(KEYS), clock=clock, ids=sequential_ids())
    trade = service.create("alice", body(quantity=Decimal("10")))
    theirs = replace(trade, version=2, partial_closes=(their_close("7"),))
    repo.other_writer = lambda store: MemoryTradeRepository.replace(store, theirs, 1)

    with pytest.raises(InvalidTradeError):
        service.add_close("alice", trade.trade_id, a_close("4", "191"))  # 7 + 4 > 10

    assert repo.get("alice", trade.trade_id) == theirs


def test_if_match_star_applies_the_change_to_whatever_version_won_a_race(clock):
    repo = RacingRepository()
    service = TradeService(repo, CursorCodec(KEYS), clock=clock, ids=sequential_ids())
    trade = service.create("alice", body(quantity=Decimal("10")))
    theirs = replace(trade, version=2, partial_closes=(their_close("6"),))
    repo.other_writer = lambda store: MemoryTradeRepository.replace(store, theirs, 1)

    changed = service.update("alice", trade.trade_id, {"notes": "mine"}, if_match=None)

    assert changed.version == 3
    assert changed.notes == "mine"
    assert [c.close_id for c in changed.partial_closes] == ["theirs"]
    assert repo.get("alice", trade.trade_id) == changed


def test_a_stale_if_match_loses_a_race_with_412(clock):
    repo = RacingRepository()
    service = TradeService(repo, CursorCodec(KEYS), clock=clock, ids=sequential_ids())
    trade = service.create("alice", body(quantity=Decimal("10")))
    theirs = replace(trade, version=2, partial_closes=(their_close("6"),))
    repo.other_writer = lambda store: MemoryTradeRepository.replace(store, theirs, 1)

    with pytest.raises(PreconditionFailedError):
        service.update("alice", trade.trade_id, {"notes": "mine"}, if_match=1)

    assert repo.get("alice", trade.trade_id) == theirs


def test_delete_with_a_stale_if_match_keeps_the_trade(service, repo):
    trade = service.create("alice", body())
    changed = service.update("alice", trade.trade_id, {"notes": "x"}, if_match=1)

    with pytest.raises(PreconditionFailedError):
        service.delete("alice", trade.trade_id, if_match=1)

    assert repo.get("alice", trade.trade_id) == changed
    service.delete("alice", trade.trade_id, if_match=2)
    with pytest.raises(TradeNotFoundError):
        service.get("alice", trade.trade_id)


# --- list -----------------------------------------------------------------------------------


def create_many(service, user, count, **changes):
    """count trades an hour apart, every third pair sharing an entry time (ties on trade_id)."""
    return [
        service.create(user, body(entry_at=ENTRY_AT + timedelta(hours=i - i % 3 // 2), **changes))
        for i in range(count)
    ]


def all_pages(service, user, query, limit):
    pages, cursor = [], None
    while True:
        page = service.list(user, query, limit, cursor)
        pages.append([t.trade_id for t in page.items])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


def test_paging_visits_every_trade_once_newest_first(service):
    trades = create_many(service, "alice", 8)
    create_many(service, "bob", 3)  # another user's trades never show

    pages = all_pages(service, "alice", TradeQuery(), limit=3)

    assert [len(p) for p in pages] == [3, 3, 2]
    visited = [trade_id for page in pages for trade_id in page]
    newest_first = sorted(trades, key=lambda t: (t.entry_at, t.trade_id), reverse=True)
    assert visited == [t.trade_id for t in newest_first]
    assert len(set(visited)) == 8


def test_a_full_last_page_has_no_next_cursor(service):
    create_many(service, "alice", 6)

    assert [len(p) for p in all_pages(service, "alice", TradeQuery(), limit=3)] == [3, 3]


def test_paging_a_filtered_query(service):
    create_many(service, "alice", 5, symbol="msft")
    wanted = create_many(service, "alice", 5, symbol="aapl", tags=["breakout"])

    pages = all_pages(service, "alice", TradeQuery(symbol="AAPL", tag="breakout"), limit=2)

    assert sorted(t for page in pages for t in page) == sorted(t.trade_id for t in wanted)


def test_a_cursor_is_refused_for_another_user(service):
    create_many(service, "alice", 4)
    create_many(service, "bob", 4)
    cursor = service.list("alice", TradeQuery(), 2).next_cursor

    with pytest.raises(InvalidCursorError):
        service.list("bob", TradeQuery(), 2, cursor)


def test_a_cursor_is_refused_for_another_filter(service):
    create_many(service, "alice", 4)
    cursor = service.list("alice", TradeQuery(), 2).next_cursor

    with pytest.raises(InvalidCursorError):
        service.list("alice", TradeQuery(status="open"), 2, cursor)


def test_a_cursor_is_not_bound_to_the_page_size(service):
    create_many(service, "alice", 5)
    cursor = service.list("alice", TradeQuery(), 2).next_cursor

    assert len(service.list("alice", TradeQuery(), 10, cursor).items) == 3


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c: c[:3] + ("A" if c[3] != "A" else "B") + c[4:],  # a body character
        lambda c: c[:-3] + ("A" if c[-3] != "A" else "B") + c[-2:],  # a mac character
        lambda c: c.split(".")[0],  # mac dropped
        lambda c: "garbage",
        lambda c: "",
    ],
    ids=["body flipped", "mac flipped", "mac dropped", "garbage", "empty string"],
)
def test_a_tampered_cursor_is_refused(service, mangle):
    create_many(service, "alice", 4)
    cursor = service.list("alice", TradeQuery(), 2).next_cursor

    with pytest.raises(InvalidCursorError):
        service.list("alice", TradeQuery(), 2, mangle(cursor))


def test_cursors_survive_key_rotation_until_the_old_key_is_removed(repo, clock):
    def service_with(keys):
        return TradeService(repo, CursorCodec(keys), clock=clock, ids=sequential_ids())

    # GIVEN a first page listed while k1 signs
    before = service_with(SigningKeys("k1", {"k1": b"x" * 32}))
    for hour in range(4):
        before.create("alice", body(entry_at=ENTRY_AT + timedelta(hours=hour)))
    cursor = before.list("alice", TradeQuery(), 2).next_cursor

    # WHEN k2 takes over with k1 still listed, the next page follows on
    rotated = service_with(SigningKeys("k2", {"k1": b"x" * 32, "k2": b"y" * 32}))
    assert [t.trade_id for t in rotated.list("alice", TradeQuery(), 2, cursor).items] == ["id0002", "id0001"]

    # WHEN k1 is removed, its cursors are refused
    retired = service_with(SigningKeys("k2", {"k2": b"y" * 32}))
    with pytest.raises(InvalidCursorError):
        retired.list("alice", TradeQuery(), 2, cursor)
