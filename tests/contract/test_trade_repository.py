"""The TradeRepository contract: one suite, run unchanged against every adapter."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeapp.adapters.ports import (
    IdempotencyKeyTakenError,
    IdempotencyRecord,
    Position,
    TradeQuery,
    TradeRepository,
)
from tradeapp.domain.errors import ConflictError, PreconditionFailedError, TradeNotFoundError
from tradeapp.domain.trade import PartialClose, Trade

# A fixed clock; the microseconds make sure that no store rounds them away.
CREATED = datetime(2026, 3, 3, 9, 0, 0, 250000, tzinfo=UTC)
ENTERED = datetime(2026, 3, 2, 14, 30, 0, 123456, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def make_trade(trade_id: str, **fields: Any) -> Trade:
    """A valid trade of alice's; any field can be overridden by keyword."""
    values: dict[str, Any] = {
        "user_id": "alice",
        "trade_id": trade_id,
        "symbol": "AAPL",
        "side": "long",
        "quantity": Decimal("10"),
        "entry_price": Decimal("187.25"),
        "entry_at": ENTERED,
        "created_at": CREATED,
        "updated_at": CREATED,
    }
    values.update(fields)
    return Trade(**values)


def minutes(n: int, micros: int = 0) -> datetime:
    """An entry time n minutes after ENTERED's whole minute."""
    return ENTERED.replace(microsecond=0) + timedelta(minutes=n, microseconds=micros)


def exact(value: Any) -> Any:
    """A structure that differs whenever a store changed a value's type or representation.

    `==` alone would accept Decimal('1.50') for Decimal('1.5'), a list for a tuple, or a
    datetime in another zone; this compares digits and exponents, types and UTC offsets.
    """
    if isinstance(value, Decimal):
        return ("Decimal", value.as_tuple())
    if isinstance(value, datetime):
        return ("datetime", value.isoformat())
    if dataclasses.is_dataclass(value):
        return (
            type(value).__name__,
            [(f.name, exact(getattr(value, f.name))) for f in dataclasses.fields(value)],
        )
    if isinstance(value, tuple):
        return ("tuple", [exact(item) for item in value])
    return (type(value).__name__, value)


def record(key: str = "key-1", trade_id: str = "t1", **fields: Any) -> IdempotencyRecord:
    values: dict[str, Any] = {
        "user_id": "alice",
        "key": key,
        "request_hash": f"hash-of-{trade_id}",
        "trade_id": trade_id,
        "expires_at": CREATED + timedelta(hours=24),
    }
    values.update(fields)
    return IdempotencyRecord(**values)


def newest_first(trades: list[Trade]) -> list[str]:
    return [t.trade_id for t in sorted(trades, key=lambda t: (t.entry_at, t.trade_id), reverse=True)]


def ids(trades: list[Trade]) -> list[str]:
    return [t.trade_id for t in trades]


def query_id(query: TradeQuery) -> str:
    parts = []
    for name, value in dataclasses.asdict(query).items():
        if value is not None:
            shown = value.isoformat() if isinstance(value, datetime) else value
            parts.append(f"{name}={shown}")
    return ",".join(parts) or "all"


def page_through(repo: TradeRepository, user_id: str, query: TradeQuery, limit: int) -> list[list[str]]:
    """Every page, each resumed after the last trade of the one before, as a client would."""
    pages: list[list[str]] = []
    after = None
    for _ in range(1000):  # a broken `after` must fail the test, not hang it
        page = repo.list(user_id, query, after, limit)
        assert len(page) <= limit
        if not page:
            return pages
        pages.append(ids(page))
        after = Position(page[-1].entry_at, page[-1].trade_id)
    raise AssertionError("paging never ended")


# --- add and get ---------------------------------------------------------------------------

MINIMAL: dict[str, Any] = {}  # every optional field absent, every default in place
FULL: dict[str, Any] = {
    "symbol": "BRK.B",
    "side": "short",
    "quantity": Decimal("12.5"),
    "entry_price": Decimal("412.0000000001"),
    "fees": Decimal("1.3"),
    "stop_loss": Decimal("420"),
    "take_profit": Decimal("380.125"),
    "multiplier": Decimal("100"),
    "currency": "EUR",
    "asset_class": "option",
    "setup": "gap-and-go",
    "tags": ("breakout", "earnings", "größe ✓"),
    "notes": "line one\nline two — «quoted»",
    "version": 7,
    "updated_at": CREATED + timedelta(days=2, microseconds=1),
    "partial_closes": (
        PartialClose(
            "c1",
            Decimal("2.5"),
            Decimal("400.75"),
            ENTERED + timedelta(hours=1, microseconds=1),
            fees=Decimal("0.65"),
            note="scale out",
        ),
        PartialClose("c2", Decimal("10"), Decimal("399"), ENTERED + timedelta(days=1, microseconds=999998)),
    ),
}
EXTREMES: dict[str, Any] = {
    "quantity": Decimal("99999999999999.9999999999"),  # 15 integer digits and 10 places: the bounds
    "entry_price": Decimal("0.0000000001"),
    "fees": Decimal("0"),
    "stop_loss": Decimal("1E-10"),
    "multiplier": Decimal("1000000"),
    "entry_at": datetime(1900, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    "partial_closes": (PartialClose("c1", Decimal("0.0000000001"), Decimal("123456789012345"), CREATED),),
}
EMPTY_TEXT: dict[str, Any] = {
    "setup": "",
    "notes": "",
    "partial_closes": (PartialClose("c1", Decimal("1"), Decimal("190"), CREATED, note=""),),
}


@pytest.mark.parametrize(
    "fields", [MINIMAL, FULL, EXTREMES, EMPTY_TEXT], ids=["minimal", "full", "extremes", "empty-text"]
)
def test_add_then_get_round_trips_the_trade_exactly(repo: TradeRepository, fields: dict[str, Any]) -> None:
    trade = make_trade("t1", **fields)

    repo.add(trade)
    got = repo.get("alice", "t1")

    assert got == trade
    assert exact(got) == exact(trade)


def test_a_stored_trade_keeps_its_derived_status(repo: TradeRepository) -> None:
    trade = make_trade("t1", partial_closes=(PartialClose("c1", Decimal("10"), Decimal("190"), CREATED),))

    repo.add(trade)

    assert repo.get("alice", "t1").figures == trade.figures
    assert repo.get("alice", "t1").figures.status == "closed"


def test_add_of_an_existing_id_is_a_conflict_and_keeps_the_first(repo: TradeRepository) -> None:
    first = make_trade("t1", notes="first")
    repo.add(first)

    with pytest.raises(ConflictError) as raised:
        repo.add(make_trade("t1", notes="second", symbol="MSFT"))

    assert type(raised.value) is ConflictError
    assert repo.get("alice", "t1") == first
    assert ids(repo.list("alice", TradeQuery(), None, 10)) == ["t1"]


def test_get_of_a_missing_trade_is_not_found(repo: TradeRepository) -> None:
    repo.add(make_trade("t1"))

    with pytest.raises(TradeNotFoundError):
        repo.get("alice", "t2")


def test_trades_are_keyed_per_user(repo: TradeRepository) -> None:
    # GIVEN alice and bob each own a trade with the same id, and only alice owns t2
    alices = make_trade("t1", symbol="AAPL")
    bobs = make_trade("t1", user_id="bob", symbol="MSFT")
    repo.add(alices)
    repo.add(bobs)
    repo.add(make_trade("t2"))

    # THEN each reads only their own, and bob cannot see alice's t2
    assert repo.get("alice", "t1") == alices
    assert repo.get("bob", "t1") == bobs
    with pytest.raises(TradeNotFoundError):
        repo.get("bob", "t2")


# --- replace -------------------------------------------------------------------------------


def test_replace_with_the_current_version_stores_the_new_trade(repo: TradeRepository) -> None:
    original = make_trade("t1")
    repo.add(original)
    changed = dataclasses.replace(
        original,
        version=2,
        notes="tightened the stop",
        stop_loss=Decimal("180.5"),
        updated_at=CREATED + timedelta(minutes=5, microseconds=7),
        tags=("revised",),
    )

    repo.replace(changed, expected_version=1)

    got = repo.get("alice", "t1")
    assert exact(got) == exact(changed)


def test_replace_with_a_stale_version_fails_and_changes_nothing(repo: TradeRepository) -> None:
    # GIVEN a trade that has already moved on to version 2
    repo.add(make_trade("t1"))
    current = make_trade("t1", version=2, notes="second")
    repo.replace(current, expected_version=1)

    # WHEN a writer that read version 1 tries to replace it
    with pytest.raises(PreconditionFailedError):
        repo.replace(make_trade("t1", version=2, notes="lost update"), expected_version=1)

    # THEN version 2 stands
    assert repo.get("alice", "t1") == current


@pytest.mark.parametrize("expected_version", [1, None])
def test_replace_of_a_missing_trade_is_not_found_and_creates_nothing(
    repo: TradeRepository, expected_version: int | None
) -> None:
    with pytest.raises(TradeNotFoundError):
        repo.replace(make_trade("t1", version=2), expected_version=expected_version)

    with pytest.raises(TradeNotFoundError):
        repo.get("alice", "t1")


@pytest.mark.parametrize("expected_version", [1, None])
def test_replace_cannot_reach_another_users_trade(
    repo: TradeRepository, expected_version: int | None
) -> None:
    alices = make_trade("t1")
    repo.add(alices)

    with pytest.raises(TradeNotFoundError):
        repo.replace(make_trade("t1", user_id="bob", version=2), expected_version=expected_version)

    assert repo.get("alice", "t1") == alices
    with pytest.raises(TradeNotFoundError):
        repo.get("bob", "t1")


def test_replace_without_an_expected_version_overwrites_any_version(repo: TradeRepository) -> None:
    # GIVEN a trade at version 3
    repo.add(make_trade("t1", version=3))

    # WHEN it is replaced with If-Match: *
    forced = make_trade("t1", version=4, notes="forced")
    repo.replace(forced, expected_version=None)

    # THEN the new trade is stored whatever the old version was
    assert repo.get("alice", "t1") == forced


def test_replace_moves_the_trade_in_listings(repo: TradeRepository) -> None:
    # GIVEN two trades, t1 the older
    repo.add(make_trade("t1", entry_at=minutes(0)))
    repo.add(make_trade("t2", entry_at=minutes(10)))

    # WHEN t1's entry time, symbol, tags and status change
    moved = make_trade(
        "t1",
        version=2,
        entry_at=minutes(20),
        symbol="MSFT",
        tags=("late",),
        partial_closes=(PartialClose("c1", Decimal("10"), Decimal("190"), minutes(30)),),
    )
    repo.replace(moved, expected_version=1)

    # THEN listings and every filter see the new values, never the old ones
    assert ids(repo.list("alice", TradeQuery(), None, 10)) == ["t1", "t2"]
    assert ids(repo.list("alice", TradeQuery(symbol="MSFT"), None, 10)) == ["t1"]
    assert ids(repo.list("alice", TradeQuery(symbol="AAPL"), None, 10)) == ["t2"]
    assert ids(repo.list("alice", TradeQuery(tag="late"), None, 10)) == ["t1"]
    assert ids(repo.list("alice", TradeQuery(status="closed"), None, 10)) == ["t1"]
    assert ids(repo.list("alice", TradeQuery(status="open"), None, 10)) == ["t2"]
    assert ids(repo.list("alice", TradeQuery(to=minutes(5)), None, 10)) == []


# --- delete --------------------------------------------------------------------------------


def test_delete_with_the_current_version_removes_the_trade(repo: TradeRepository) -> None:
    repo.add(make_trade("t1", version=2))
    repo.add(make_trade("t2"))

    repo.delete("alice", "t1", expected_version=2)

    with pytest.raises(TradeNotFoundError):
        repo.get("alice", "t1")
    assert ids(repo.list("alice", TradeQuery(), None, 10)) == ["t2"]


def test_delete_with_a_stale_version_fails_and_keeps_the_trade(repo: TradeRepository) -> None:
    trade = make_trade("t1", version=2)
    repo.add(trade)

    with pytest.raises(PreconditionFailedError):
        repo.delete("alice", "t1", expected_version=1)

    assert repo.get("alice", "t1") == trade


@pytest.mark.parametrize("expected_version", [1, None])
def test_delete_of_a_missing_trade_is_not_found(repo: TradeRepository, expected_version: int | None) -> None:
    repo.add(make_trade("t1"))

    with pytest.raises(TradeNotFoundError):
        repo.delete("alice", "t2", expected_version=expected_version)
    with pytest.raises(TradeNotFoundError):
        repo.delete("bob", "t1", expected_version=expected_version)  # alice's id, bob's name

    assert repo.get("alice", "t1") == make_trade("t1")


def test_delete_without_an_expected_version_removes_any_version(repo: TradeRepository) -> None:
    repo.add(make_trade("t1", version=5))

    repo.delete("alice", "t1", expected_version=None)

    with pytest.raises(TradeNotFoundError):
        repo.get("alice", "t1")


def test_a_deleted_id_can_be_added_again(repo: TradeRepository) -> None:
    repo.add(make_trade("t1"))
    repo.delete("alice", "t1", expected_version=1)

    again = make_trade("t1", notes="again")
    repo.add(again)

    assert repo.get("alice", "t1") == again


# --- list ----------------------------------------------------------------------------------

CLOSED = (PartialClose("c1", Decimal("10"), Decimal("190"), minutes(120)),)
PARTIAL = (PartialClose("c1", Decimal("4"), Decimal("190"), minutes(120)),)
# (id, entry, symbol, tags, closes). Inserted in this order, which is deliberately not sorted;
# t02..t04 share one instant, and t05 is one microsecond after t09.
JOURNAL: list[tuple[str, datetime, str, tuple[str, ...], tuple[PartialClose, ...]]] = [
    ("t05", minutes(20, 1), "AAPL", ("earnings",), ()),
    ("t03", minutes(10), "AAPL", ("breakout", "earnings"), CLOSED),
    ("t07", minutes(-5), "AAPL", (), ()),
    ("t01", minutes(0), "AAPL", ("breakout",), ()),
    ("t08", minutes(40), "AAPL", ("breakout",), PARTIAL),
    ("t02", minutes(10), "MSFT", (), PARTIAL),
    ("t09", minutes(20), "TSLA", ("earnings",), ()),
    ("t06", minutes(30), "MSFT", ("breakout",), CLOSED),
    ("t04", minutes(10), "TSLA", (), ()),
    ("t10", minutes(25), "AAPL", ("breakout",), CLOSED),
]
EVERY_ID = ["t08", "t06", "t10", "t05", "t09", "t04", "t03", "t02", "t01", "t07"]


@pytest.fixture
def journal(repo: TradeRepository) -> list[Trade]:
    """Alice's ten trades, plus bob's look-alikes that must never show up in her listings."""
    trades = [
        make_trade(trade_id, entry_at=entry, symbol=symbol, tags=tags, partial_closes=closes)
        for trade_id, entry, symbol, tags, closes in JOURNAL
    ]
    for trade in trades:
        repo.add(trade)
    repo.add(make_trade("t03", user_id="bob", entry_at=minutes(10), tags=("breakout",)))
    repo.add(make_trade("b01", user_id="bob", entry_at=minutes(15), tags=("breakout",)))
    return trades


def test_list_is_newest_first_with_ties_broken_by_the_higher_id(
    repo: TradeRepository, journal: list[Trade]
) -> None:
    listed = repo.list("alice", TradeQuery(), None, 100)

    assert ids(listed) == EVERY_ID == newest_first(journal)
    assert listed == sorted(journal, key=lambda t: (t.entry_at, t.trade_id), reverse=True)


@pytest.mark.parametrize("limit", [1, 3, 9, 10, 11])
def test_list_returns_at_most_limit_trades_from_the_newest(
    repo: TradeRepository, journal: list[Trade], limit: int
) -> None:
    assert ids(repo.list("alice", TradeQuery(), None, limit)) == EVERY_ID[:limit]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param(query, expected, id=query_id(query))
        for query, expected in [
            (TradeQuery(status="open"), ["t05", "t09", "t04", "t01", "t07"]),
            (TradeQuery(status="partial"), ["t08", "t02"]),
            (TradeQuery(status="closed"), ["t06", "t10", "t03"]),
            (TradeQuery(symbol="MSFT"), ["t06", "t02"]),
            (TradeQuery(symbol="msft"), []),  # symbols are stored upper-case; matching is exact
            (TradeQuery(symbol="NVDA"), []),
            (TradeQuery(tag="breakout"), ["t08", "t06", "t10", "t03", "t01"]),
            (TradeQuery(tag="earnings"), ["t05", "t09", "t03"]),
            (TradeQuery(tag="break"), []),  # a tag is matched whole, never as a substring
            (TradeQuery(from_=minutes(10), to=minutes(20)), ["t09", "t04", "t03", "t02"]),
            (TradeQuery(from_=minutes(20)), ["t08", "t06", "t10", "t05", "t09"]),
            (TradeQuery(from_=minutes(20, 1)), ["t08", "t06", "t10", "t05"]),
            (TradeQuery(to=minutes(20)), ["t09", "t04", "t03", "t02", "t01", "t07"]),
            (TradeQuery(to=minutes(20, -1)), ["t04", "t03", "t02", "t01", "t07"]),
            (TradeQuery(from_=minutes(10), to=minutes(10)), ["t04", "t03", "t02"]),
            (TradeQuery(from_=minutes(20), to=minutes(10)), []),  # an empty range, not an error
            (TradeQuery(from_=minutes(41)), []),
            (
                TradeQuery(  # the same instants, written in another zone
                    from_=minutes(10).astimezone(timezone(timedelta(hours=5, minutes=30))),
                    to=minutes(20).astimezone(timezone(timedelta(hours=-7))),
                ),
                ["t09", "t04", "t03", "t02"],
            ),
            (TradeQuery(status="open", symbol="AAPL", tag="earnings"), ["t05"]),
            (TradeQuery(status="closed", tag="breakout", from_=minutes(10), to=minutes(25)), ["t10", "t03"]),
            (TradeQuery(status="partial", symbol="TSLA"), []),
        ]
    ],
)
def test_list_filters(
    repo: TradeRepository, journal: list[Trade], query: TradeQuery, expected: list[str]
) -> None:
    assert ids(repo.list("alice", query, None, 100)) == expected


@pytest.mark.parametrize(
    "query",
    [
        TradeQuery(),
        TradeQuery(tag="breakout"),
        TradeQuery(status="open"),
        TradeQuery(from_=minutes(10), to=minutes(20)),
        TradeQuery(symbol="AAPL", to=minutes(25)),
    ],
    ids=["all", "tag", "status", "range", "symbol+to"],
)
def test_paging_visits_every_match_exactly_once_in_order(
    repo: TradeRepository, journal: list[Trade], query: TradeQuery
) -> None:
    # GIVEN the whole answer, as one page
    everything = ids(repo.list("alice", query, None, 100))
    assert everything  # each query here matches something, or the test proves little

    for limit in (1, 2, 3, 4, 100):  # small pages split the tie t02..t04 every way
        # WHEN a client pages through it, resuming after the last trade of each page
        pages = page_through(repo, "alice", query, limit)

        # THEN every page but the last is full, and together they are the answer, in order
        assert all(len(page) == limit for page in pages[:-1]), limit
        assert [trade_id for page in pages for trade_id in page] == everything, limit


def test_paging_resumes_after_a_trade_deleted_since_the_last_page(
    repo: TradeRepository, journal: list[Trade]
) -> None:
    # GIVEN a first page that ends at t04, one of three trades sharing an instant
    first = repo.list("alice", TradeQuery(), None, 6)
    assert ids(first) == EVERY_ID[:6]

    # WHEN t04 is deleted before the next page is asked for
    repo.delete("alice", "t04", expected_version=None)
    rest = repo.list("alice", TradeQuery(), Position(first[-1].entry_at, first[-1].trade_id), 100)

    # THEN the listing carries on after where t04 was
    assert ids(rest) == EVERY_ID[6:]


def test_list_sees_only_the_users_own_trades(repo: TradeRepository, journal: list[Trade]) -> None:
    assert ids(repo.list("bob", TradeQuery(), None, 100)) == ["b01", "t03"]
    assert ids(repo.list("bob", TradeQuery(tag="breakout"), Position(minutes(15), "b01"), 100)) == ["t03"]
    assert repo.list("carol", TradeQuery(), None, 100) == []
    resumed = repo.list("alice", TradeQuery(tag="breakout"), Position(minutes(16), ""), 100)
    assert ids(resumed) == ["t03", "t01"]
    assert {t.user_id for t in resumed} == {"alice"}


@pytest.mark.parametrize(
    ("query", "matching"),
    [
        (TradeQuery(tag="rare"), {"tags": ("rare",)}),
        (TradeQuery(symbol="RARE"), {"symbol": "RARE"}),
        (TradeQuery(status="closed"), {"partial_closes": CLOSED}),
    ],
    ids=["tag", "symbol", "status"],
)
def test_a_page_is_full_even_when_the_filter_skips_many_trades(
    repo: TradeRepository, query: TradeQuery, matching: dict[str, Any]
) -> None:
    # GIVEN 40 newer trades that do not match, then 5 older ones that do, then 10 more that do not
    for n in range(40):
        repo.add(make_trade(f"n{n:02d}", entry_at=minutes(100 + n)))
    for n in range(5):
        repo.add(make_trade(f"m{n:02d}", entry_at=minutes(50 + n), **matching))
    for n in range(10):
        repo.add(make_trade(f"o{n:02d}", entry_at=minutes(n)))

    # WHEN a page of three is asked for, and then the rest after it
    page = repo.list("alice", query, None, 3)
    rest = repo.list("alice", query, Position(page[-1].entry_at, page[-1].trade_id), 3)

    # THEN the page is full even though DynamoDB, say, filters only after reading a Limit
    assert ids(page) == ["m04", "m03", "m02"]
    assert ids(rest) == ["m01", "m00"]


# Property: for any journal and any query, paging gives what a plain sort-and-filter gives.
# Each example writes under a fresh user id, so one repository serves every example.

entries = st.builds(
    lambda minute, micro: minutes(minute, micro),
    st.integers(min_value=0, max_value=4),
    st.sampled_from([0, 1, 999999]),
)
journal_entries = st.lists(
    st.tuples(
        entries,
        st.sampled_from(["AAPL", "MSFT"]),
        st.frozensets(st.sampled_from(["a", "b"])),
        st.sampled_from(["open", "partial", "closed"]),
    ),
    max_size=9,
)
queries = st.builds(
    TradeQuery,
    status=st.none() | st.sampled_from(["open", "partial", "closed"]),
    symbol=st.none() | st.sampled_from(["AAPL", "MSFT"]),
    tag=st.none() | st.sampled_from(["a", "b"]),
    from_=st.none() | entries,
    to=st.none() | entries,
)


def reference(trades: list[Trade], query: TradeQuery) -> list[str]:
    status = {t.trade_id: t.figures.status for t in trades}
    return newest_first(
        [
            t
            for t in trades
            if query.status in (None, status[t.trade_id])
            and query.symbol in (None, t.symbol)
            and (query.tag is None or query.tag in t.tags)
            and (query.from_ is None or t.entry_at >= query.from_)
            and (query.to is None or t.entry_at <= query.to)
        ]
    )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=journal_entries, query=queries, limit=st.integers(min_value=1, max_value=4))
def test_paging_agrees_with_a_plain_sort_and_filter(
    repo: TradeRepository,
    rows: list[tuple[datetime, str, frozenset[str], str]],
    query: TradeQuery,
    limit: int,
) -> None:
    user_id = f"user-{uuid.uuid4()}"
    closes = {"open": (), "partial": PARTIAL, "closed": CLOSED}
    trades = [
        make_trade(
            f"t{n}",  # one digit at most: string order and numeric order agree here
            user_id=user_id,
            entry_at=entry,
            symbol=symbol,
            tags=tuple(sorted(tags)),
            partial_closes=closes[status],
        )
        for n, (entry, symbol, tags, status) in enumerate(rows)
    ]
    for trade in trades:
        repo.add(trade)

    pages = page_through(repo, user_id, query, limit)

    assert [trade_id for page in pages for trade_id in page] == reference(trades, query)
    assert all(len(page) == limit for page in pages[:-1])


# --- idempotency ---------------------------------------------------------------------------


def test_add_with_a_record_stores_the_trade_and_the_record(repo: TradeRepository) -> None:
    trade = make_trade("t1")
    held = record()

    repo.add(trade, held)

    assert repo.get("alice", "t1") == trade
    found = repo.find_idempotency("alice", "key-1", CREATED)
    assert found == held
    assert found is not None
    assert exact(found) == exact(held)


def test_a_taken_key_rejects_the_second_add_and_writes_nothing(repo: TradeRepository) -> None:
    # GIVEN t1 was created with key-1
    first = record(trade_id="t1")
    repo.add(make_trade("t1"), first)

    # WHEN another trade is added with the same key before it expires
    with pytest.raises(IdempotencyKeyTakenError) as raised:
        repo.add(
            make_trade("t2", created_at=CREATED + timedelta(minutes=1)),
            record(trade_id="t2", request_hash="another body"),
        )

    # THEN the error names the first request, and neither t2 nor its record was stored
    assert raised.value.record == first
    with pytest.raises(TradeNotFoundError):
        repo.get("alice", "t2")
    assert ids(repo.list("alice", TradeQuery(), None, 10)) == ["t1"]
    assert repo.find_idempotency("alice", "key-1", CREATED + timedelta(minutes=1)) == first


def test_a_taken_key_wins_over_an_existing_trade_id(repo: TradeRepository) -> None:
    first = record(trade_id="t1")
    repo.add(make_trade("t1"), first)

    with pytest.raises(IdempotencyKeyTakenError) as raised:
        repo.add(make_trade("t1", notes="retry"), record(trade_id="t1"))

    assert raised.value.record == first
    assert repo.get("alice", "t1") == make_trade("t1")


def test_an_existing_trade_id_fails_the_add_without_taking_the_key(repo: TradeRepository) -> None:
    # GIVEN t1 exists
    repo.add(make_trade("t1"))

    # WHEN t1 is added again with a fresh key
    with pytest.raises(ConflictError) as raised:
        repo.add(make_trade("t1", notes="again"), record(key="fresh"))

    # THEN it is a plain conflict, and the key was not stored either: the two are one write
    assert not isinstance(raised.value, IdempotencyKeyTakenError)
    assert repo.find_idempotency("alice", "fresh", CREATED) is None
    assert repo.get("alice", "t1") == make_trade("t1")


@pytest.mark.parametrize(
    ("created_after_expiry", "blocks"),
    [
        (-timedelta(hours=1), True),
        (-timedelta(seconds=1), True),
        (-MICROSECOND, True),
        (timedelta(0), False),  # expires_at <= created_at: expired
        (MICROSECOND, False),
        (timedelta(days=3), False),
    ],
    ids=["1h-before", "1s-before", "1us-before", "at-expiry", "1us-after", "days-after"],
)
def test_a_key_blocks_until_the_instant_it_expires(
    repo: TradeRepository, created_after_expiry: timedelta, blocks: bool
) -> None:
    # GIVEN key-1 was taken by t1 and expires at `expiry`
    expiry = CREATED + timedelta(hours=24)
    first = record(trade_id="t1", expires_at=expiry)
    repo.add(make_trade("t1"), first)

    # WHEN t2 is created with the same key, `created_after_expiry` from that instant
    created = expiry + created_after_expiry
    second = record(trade_id="t2", request_hash="another body", expires_at=created + timedelta(hours=24))
    trade = make_trade("t2", created_at=created, updated_at=created)
    if blocks:
        with pytest.raises(IdempotencyKeyTakenError) as raised:
            repo.add(trade, second)
        # THEN the live key still belongs to t1
        assert raised.value.record == first
        assert repo.find_idempotency("alice", "key-1", created) == first
        with pytest.raises(TradeNotFoundError):
            repo.get("alice", "t2")
    else:
        repo.add(trade, second)
        # THEN the expired key was taken over by t2, and t1 is untouched
        assert repo.find_idempotency("alice", "key-1", created) == second
        assert repo.get("alice", "t2") == trade
        assert repo.get("alice", "t1") == make_trade("t1")


@pytest.mark.parametrize(
    ("now_after_expiry", "found"),
    [
        (-timedelta(hours=23), True),
        (-MICROSECOND, True),
        (timedelta(0), False),
        (MICROSECOND, False),
        (timedelta(days=400), False),
    ],
    ids=["long-before", "1us-before", "at-expiry", "1us-after", "long-after"],
)
def test_find_idempotency_ignores_an_expired_record(
    repo: TradeRepository, now_after_expiry: timedelta, found: bool
) -> None:
    held = record()
    repo.add(make_trade("t1"), held)

    result = repo.find_idempotency("alice", "key-1", held.expires_at + now_after_expiry)

    assert result == (held if found else None)


def test_find_idempotency_of_an_unknown_key_is_none(repo: TradeRepository) -> None:
    repo.add(make_trade("t1"), record(key="key-1"))

    assert repo.find_idempotency("alice", "key-2", CREATED) is None
    assert repo.find_idempotency("bob", "key-1", CREATED) is None


def test_idempotency_keys_are_per_user(repo: TradeRepository) -> None:
    # GIVEN alice created t1 with key-1
    alices = record(trade_id="t1")
    repo.add(make_trade("t1"), alices)

    # WHEN bob creates his own trade with the same key
    bobs = record(user_id="bob", trade_id="b1", request_hash="bob's body")
    repo.add(make_trade("b1", user_id="bob"), bobs)

    # THEN both succeed, and each user's key points at their own trade
    assert repo.find_idempotency("alice", "key-1", CREATED) == alices
    assert repo.find_idempotency("bob", "key-1", CREATED) == bobs
    assert repo.get("bob", "b1").user_id == "bob"


def test_a_key_outlives_the_trade_it_created(repo: TradeRepository) -> None:
    # GIVEN t1 was created with key-1 and then deleted
    held = record(trade_id="t1")
    repo.add(make_trade("t1"), held)
    repo.delete("alice", "t1", expected_version=1)

    # THEN the key still blocks a new trade until it expires (the service answers 409 for it)
    assert repo.find_idempotency("alice", "key-1", CREATED) == held
    with pytest.raises(IdempotencyKeyTakenError):
        repo.add(make_trade("t2"), record(trade_id="t2"))
