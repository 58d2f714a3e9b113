"""The StreamReader port: DynamoDB Streams under moto, and the local ChangeFeed over memory and SQLite."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from tradeapp.adapters.aws import DynamoDBStreamReader
from tradeapp.adapters.changefeed import LOCAL_SHARD, LOCAL_STREAM_ARN, ChangeFeed
from tradeapp.adapters.dynamodb import DynamoDBTradeRepository
from tradeapp.adapters.items import from_item
from tradeapp.adapters.memory import MemoryTradeRepository
from tradeapp.adapters.ports import IdempotencyKeyTakenError, TradeRepository
from tradeapp.adapters.sqlite import Database, SQLiteTradeRepository
from tradeapp.domain.errors import (
    ConflictError,
    PreconditionFailedError,
    StoreUnavailableError,
    TradeNotFoundError,
)
from tradeapp.domain.trade import PartialClose, Trade

from .test_trade_repository import exact, make_trade, minutes, record

EVENTS = Path(__file__).parent.parent / "events"
SAMPLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/Trades/stream/2026-11-29T03:47:57.914654"
SHARD = "shardId-00000001541626099285-f35f62ef"
FIRST, LAST = "1100000000017454423009", "1100000000017454423012"


def sequence(record: dict[str, Any]) -> str:
    value: str = record["dynamodb"]["SequenceNumber"]
    return value


def closed(trade: Trade) -> Trade:
    """The trade's next version, with a partial close: the MODIFY of the sample batch."""
    close = PartialClose("c1", trade.quantity, trade.entry_price + 3, minutes(60), note="out")
    return dataclasses.replace(trade, version=trade.version + 1, partial_closes=(close,))


# --- DynamoDB Streams, read back from moto -----------------------------------------------


@pytest.fixture
def streams(dynamodb: Any, botocore_session: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A dynamodbstreams client on the mocked account that holds the `dynamodb` tables."""
    # Otherwise botocore picks an account-based endpoint that moto does not route (404).
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    session = boto3.session.Session(botocore_session=botocore_session, region_name="us-east-1")
    return session.client("dynamodbstreams")


@pytest.fixture
def written(dynamodb: Any, streams: Any) -> tuple[str, str, list[dict[str, Any]]]:
    """Five trade writes of two users through the adapter, and the stream's own record of them:
    (stream ARN, shard id, every record from the shard's start as GetRecords returns it, plus
    the eventSourceARN that Lambda adds and the reader adds too)."""
    repo = DynamoDBTradeRepository(
        dynamodb.Table("Trades"), dynamodb.Table("TradeIdempotency"), dynamodb.Table("TradeStats")
    )
    repo.add(make_trade("t1", user_id="alice"))
    repo.add(make_trade("t1", user_id="bob"))
    repo.replace(closed(repo.get("alice", "t1")), expected_version=1)
    repo.delete("bob", "t1", expected_version=1)
    repo.add(make_trade("t2", user_id="alice"))

    arn = dynamodb.Table("Trades").latest_stream_arn
    (shard,) = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn,
        ShardId=shard["ShardId"],
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        SequenceNumber=shard["SequenceNumberRange"]["StartingSequenceNumber"],
    )["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator, Limit=100)["Records"]
    assert [r["eventName"] for r in records] == ["INSERT", "INSERT", "MODIFY", "REMOVE", "INSERT"]
    return arn, shard["ShardId"], [{**r, "eventSourceARN": arn} for r in records]


def test_reads_exactly_the_records_in_the_range_in_order(
    streams: Any, written: tuple[str, str, list[dict[str, Any]]]
) -> None:
    arn, shard, records = written
    reader = DynamoDBStreamReader(streams)

    middle = reader.records(arn, shard, sequence(records[1]), sequence(records[3]))

    assert middle == records[1:4]
    assert [r["dynamodb"]["Keys"]["userId"]["S"] for r in middle] == ["bob", "alice", "bob"]
    assert reader.records(arn, shard, sequence(records[0]), sequence(records[4])) == records
    assert reader.records(arn, shard, sequence(records[2]), sequence(records[2])) == records[2:3]


def test_a_range_that_cannot_be_read_to_its_end_counts_as_gone(
    streams: Any, written: tuple[str, str, list[dict[str, Any]]]
) -> None:
    # A dead letter's end is the last record of a real batch: not reaching it means the
    # records are not all there, and a partial list would let replay skip users.
    arn, shard, records = written
    end = str(int(sequence(records[-1])) + 1000)

    found = DynamoDBStreamReader(streams).records(arn, shard, sequence(records[3]), end)

    assert found is None


def test_an_unknown_stream_is_gone(streams: Any, written: tuple[str, str, list[dict[str, Any]]]) -> None:
    _, shard, records = written
    other = "arn:aws:dynamodb:us-east-1:123456789012:table/Gone/stream/2026-01-01T00:00:00.000"

    assert (
        DynamoDBStreamReader(streams).records(other, shard, sequence(records[0]), sequence(records[0]))
        is None
    )


@pytest.fixture
def stubbed(aws_credentials: None, botocore_session: Any) -> Iterator[tuple[Any, Stubber]]:
    """A dynamodbstreams client whose answers the test sets: moto asserts on an unknown shard
    and on a trimmed sequence number instead of answering as DynamoDB Streams does."""
    client = boto3.session.Session(botocore_session=botocore_session, region_name="us-east-1").client(
        "dynamodbstreams"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("operation", "code"),
    [
        ("get_shard_iterator", "ResourceNotFoundException"),  # unknown shard, or the stream is gone
        ("get_shard_iterator", "TrimmedDataAccessException"),  # older than 24 hours
        ("get_records", "ExpiredIteratorException"),
        ("get_records", "TrimmedDataAccessException"),
    ],
)
def test_records_that_are_gone_read_as_none(stubbed: tuple[Any, Stubber], operation: str, code: str) -> None:
    client, stubber = stubbed
    if operation == "get_records":
        stubber.add_response("get_shard_iterator", {"ShardIterator": "it-1"})
    stubber.add_client_error(operation, service_error_code=code, http_status_code=400)

    assert DynamoDBStreamReader(client).records(SAMPLE_ARN, SHARD, FIRST, LAST) is None


def test_a_throttled_read_is_not_taken_for_gone_records(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_client_error(
        "get_shard_iterator", service_error_code="LimitExceededException", http_status_code=400
    )

    with pytest.raises((ClientError, StoreUnavailableError)):
        DynamoDBStreamReader(client).records(SAMPLE_ARN, SHARD, FIRST, LAST)


# --- The local ChangeFeed ----------------------------------------------------------------


@dataclasses.dataclass
class Feed:
    feed: ChangeFeed
    heard: list[dict[str, Any]]  # what the listener received, in order
    observed: list[tuple[int, int | None]]  # (revision, version) a second reader saw then


@pytest.fixture(params=["memory", "sqlite"])
def feed(request: pytest.FixtureRequest) -> Feed:
    """A ChangeFeed whose listener notes each record, and what a separate reader of the
    store saw when it arrived (for SQLite, another connection: it sees only committed data)."""
    inner: TradeRepository
    observer: TradeRepository
    if request.param == "memory":
        inner = observer = MemoryTradeRepository()
    else:
        path = request.getfixturevalue("tmp_path") / "tradeapp.sqlite3"
        inner, observer = SQLiteTradeRepository(Database(path)), SQLiteTradeRepository(Database(path))
    result = Feed(ChangeFeed(inner), [], [])

    def listener(records: list[dict[str, Any]]) -> None:
        for change in records:
            keys = change["dynamodb"]["Keys"]
            user_id, trade_id = keys["userId"]["S"], keys["tradeId"]["S"]
            try:
                version: int | None = observer.get(user_id, trade_id).version
            except TradeNotFoundError:
                version = None
            result.heard.append(change)
            result.observed.append((observer.revision(user_id), version))

    result.feed.listener = listener
    return result


def write_three(feed: ChangeFeed) -> tuple[Trade, Trade]:
    """INSERT, MODIFY, REMOVE of one trade of alice's; returns (inserted, modified)."""
    first = make_trade("t1", tags=("breakout",), fees=Decimal("1.00"))
    feed.add(first)
    second = closed(first)
    feed.replace(second, expected_version=1)
    feed.delete("alice", "t1", expected_version=2)
    return first, second


def typed(image: dict[str, Any]) -> Trade:
    deserializer = TypeDeserializer()
    return from_item({k: deserializer.deserialize(v) for k, v in image.items()})


def test_writes_become_typed_records_with_both_images(feed: Feed) -> None:
    first, second = write_three(feed.feed)

    insert, modify, remove = feed.heard
    assert [r["eventName"] for r in feed.heard] == ["INSERT", "MODIFY", "REMOVE"]
    assert exact(typed(insert["dynamodb"]["NewImage"])) == exact(first)
    assert "OldImage" not in insert["dynamodb"]
    assert exact(typed(modify["dynamodb"]["OldImage"])) == exact(first)
    assert exact(typed(modify["dynamodb"]["NewImage"])) == exact(second)
    assert exact(typed(remove["dynamodb"]["OldImage"])) == exact(second)
    assert "NewImage" not in remove["dynamodb"]
    for change in feed.heard:
        assert change["dynamodb"]["Keys"] == {"userId": {"S": "alice"}, "tradeId": {"S": "t1"}}
        assert change["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert change["eventSourceARN"] == LOCAL_STREAM_ARN


def assert_typed_like(ours: dict[str, Any], theirs: dict[str, Any], path: str = "") -> None:
    """`ours` is an attribute value of the same type as the sample's, all the way down;
    maps may hold more keys (optional fields the sample's trade did not set)."""
    ((tag, inner),) = ours.items()
    ((their_tag, their_inner),) = theirs.items()
    assert tag == their_tag, path
    if tag == "M":
        for key, value in their_inner.items():
            assert key in inner, f"{path}.{key}"
            assert_typed_like(inner[key], value, f"{path}.{key}")
    elif tag == "L" and their_inner:
        for i, value in enumerate(inner):
            assert_typed_like(value, their_inner[0], f"{path}[{i}]")


def test_records_have_the_shape_of_the_real_stream(feed: Feed) -> None:
    sample = {
        r["eventName"]: r for r in json.loads((EVENTS / "dynamodb-stream-batch.json").read_text())["Records"]
    }
    write_three(feed.feed)

    for change in feed.heard:
        real = sample[change["eventName"]]
        assert change.keys() == real.keys()
        # SizeBytes, which real records carry, is left out: nothing downstream reads it
        assert change["dynamodb"].keys() == real["dynamodb"].keys() - {"SizeBytes"}
        assert change["eventSource"] == real["eventSource"]
        assert type(change["dynamodb"]["ApproximateCreationDateTime"]) is int
        assert change["dynamodb"]["SequenceNumber"].isdigit()
        for part in ("NewImage", "OldImage"):
            assert (part in change["dynamodb"]) == (part in real["dynamodb"])
            if part in real["dynamodb"]:
                assert_typed_like({"M": change["dynamodb"][part]}, {"M": real["dynamodb"][part]}, part)


def test_sequence_numbers_increase(feed: Feed) -> None:
    write_three(feed.feed)
    feed.feed.add(make_trade("t2", user_id="bob"))

    numbers = [int(sequence(r)) for r in feed.heard]

    assert len(numbers) == 4
    assert numbers == sorted(set(numbers))


def test_records_by_range(feed: Feed) -> None:
    write_three(feed.feed)
    feed.feed.add(make_trade("t2", user_id="bob"))
    heard = feed.heard
    first, last = sequence(heard[0]), sequence(heard[-1])

    assert feed.feed.records(LOCAL_STREAM_ARN, LOCAL_SHARD, first, last) == heard
    assert (
        feed.feed.records(LOCAL_STREAM_ARN, LOCAL_SHARD, sequence(heard[1]), sequence(heard[2])) == heard[1:3]
    )
    assert feed.feed.records(LOCAL_STREAM_ARN, LOCAL_SHARD, last, last) == heard[3:]
    assert (
        feed.feed.records(LOCAL_STREAM_ARN, LOCAL_SHARD, sequence(heard[2]), str(int(last) + 10**6))
        == heard[2:]
    )


def test_a_range_older_than_what_is_kept_is_gone(feed: Feed) -> None:
    write_three(feed.feed)
    before = str(int(sequence(feed.heard[0])) - 1)

    assert feed.feed.records(LOCAL_STREAM_ARN, LOCAL_SHARD, before, sequence(feed.heard[-1])) is None


def test_another_stream_is_gone(feed: Feed) -> None:
    write_three(feed.feed)
    first, last = sequence(feed.heard[0]), sequence(feed.heard[-1])

    assert feed.feed.records(SAMPLE_ARN, LOCAL_SHARD, first, last) is None


def test_the_listener_hears_each_write_once_after_it_committed(feed: Feed) -> None:
    write_three(feed.feed)
    feed.feed.add(make_trade("t1", user_id="bob"))

    assert len({r["eventID"] for r in feed.heard}) == len(feed.heard) == 4
    # (revision, version) as another reader saw them when each record arrived
    assert feed.observed == [(1, 1), (2, 2), (3, None), (1, 1)]


def test_a_failed_write_emits_nothing(feed: Feed) -> None:
    # GIVEN one trade, added with an idempotency key
    feed.feed.add(make_trade("t1"), record("key-1", "t1"))
    before = list(feed.heard)
    failures: list[tuple[type[Exception], Any]] = [
        (ConflictError, lambda: feed.feed.add(make_trade("t1"))),
        (IdempotencyKeyTakenError, lambda: feed.feed.add(make_trade("t2"), record("key-1", "t2"))),
        (TradeNotFoundError, lambda: feed.feed.replace(make_trade("missing"), expected_version=None)),
        (TradeNotFoundError, lambda: feed.feed.delete("alice", "missing", expected_version=None)),
        (PreconditionFailedError, lambda: feed.feed.replace(make_trade("t1", version=3), expected_version=2)),
        (PreconditionFailedError, lambda: feed.feed.delete("alice", "t1", expected_version=2)),
    ]
    for error, write in failures:
        # WHEN a write fails
        with pytest.raises(error):
            write()
        # THEN nobody hears of it, and the stream does not hold it
        assert feed.heard == before, error.__name__
    first = sequence(before[0])
    assert feed.feed.records(LOCAL_STREAM_ARN, LOCAL_SHARD, first, str(int(first) + 10**6)) == before
