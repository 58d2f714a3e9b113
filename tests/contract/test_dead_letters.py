"""The DeadLetterQueue contract (StatsDLQ): memory, SQLite and SQS under moto."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tradeapp.adapters.aws import SQSDeadLetterQueue
from tradeapp.adapters.memory import MemoryDeadLetterQueue
from tradeapp.adapters.ports import DeadLetterQueue
from tradeapp.adapters.sqlite import Database, SQLiteDeadLetterQueue

EVENTS = Path(__file__).parent.parent / "events"


@pytest.fixture
def message() -> dict[str, Any]:
    """What a stream event source mapping sends to StatsDLQ when its retries run out."""
    body: dict[str, Any] = json.loads((EVENTS / "statsdlq-onfailure-message.json").read_text())
    return body


@pytest.fixture(params=["memory", "sqlite", "sqs"])
def queues(
    request: pytest.FixtureRequest, botocore_session: Any
) -> Iterator[Callable[[float], DeadLetterQueue]]:
    """Builds an empty queue of each kind, given the seconds a received message stays hidden."""
    if request.param == "memory":
        yield lambda hidden: MemoryDeadLetterQueue(visibility_timeout=hidden)
    elif request.param == "sqlite":
        path = request.getfixturevalue("tmp_path") / "tradeapp.sqlite3"
        yield lambda hidden: SQLiteDeadLetterQueue(Database(path), visibility_timeout=hidden)
    else:
        request.getfixturevalue("aws_credentials")
        with mock_aws():
            session = boto3.session.Session(botocore_session=botocore_session, region_name="us-east-1")
            sqs = session.client("sqs")
            queue_url = sqs.create_queue(QueueName="StatsDLQ")["QueueUrl"]
            yield lambda hidden: SQSDeadLetterQueue(sqs, queue_url, visibility_timeout=int(hidden))


@pytest.fixture
def dlq(queues: Callable[[float], DeadLetterQueue]) -> DeadLetterQueue:
    """A queue that hides nothing between receives, so that a test can read it again."""
    return queues(0)


def numbered(message: dict[str, Any], n: int) -> dict[str, Any]:
    body = copy.deepcopy(message)
    body["DDBStreamBatchInfo"]["startSequenceNumber"] = str(n)
    return body


def drain(dlq: DeadLetterQueue, limit: int) -> list[dict[str, Any]]:
    """Receive and delete until the queue is empty; the bodies, in the order received."""
    bodies = []
    for _ in range(50):
        letters = dlq.receive(limit)
        if not letters:
            return bodies
        assert len(letters) <= limit
        for letter in letters:
            bodies.append(letter.body)
            dlq.delete(letter.receipt)
    raise AssertionError("the queue never empties")


def test_receive_on_an_empty_queue_is_empty(dlq: DeadLetterQueue) -> None:
    assert dlq.receive(10) == []


def test_a_message_comes_back_as_sent(dlq: DeadLetterQueue, message: dict[str, Any]) -> None:
    dlq.send(message)

    (letter,) = dlq.receive(10)

    assert letter.body == message
    assert letter.body["DDBStreamBatchInfo"]["startSequenceNumber"] == "1100000000017454423009"
    assert letter.receipt
    assert letter.message_id


def test_delete_removes_only_that_message(dlq: DeadLetterQueue, message: dict[str, Any]) -> None:
    # GIVEN two messages
    dlq.send(numbered(message, 1))
    dlq.send(numbered(message, 2))
    letters = dlq.receive(10)
    assert len(letters) == 2
    assert len({letter.message_id for letter in letters}) == 2
    # WHEN one is deleted
    gone, kept = letters
    dlq.delete(gone.receipt)
    # THEN only the other is received again, and once it is deleted too the queue is empty
    (again,) = dlq.receive(10)
    assert again.message_id == kept.message_id
    assert again.body == kept.body
    dlq.delete(again.receipt)
    assert dlq.receive(10) == []


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_receive_respects_its_limit(dlq: DeadLetterQueue, message: dict[str, Any], limit: int) -> None:
    for n in range(5):
        dlq.send(numbered(message, n))

    assert 1 <= len(dlq.receive(limit)) <= limit

    received = drain(dlq, limit)
    assert sorted(b["DDBStreamBatchInfo"]["startSequenceNumber"] for b in received) == list("01234")


def test_a_received_message_is_hidden_from_the_next_reader(
    queues: Callable[[float], DeadLetterQueue], message: dict[str, Any]
) -> None:
    # GIVEN two messages, in a queue that hides what it hands out for five minutes
    dlq = queues(300)
    dlq.send(numbered(message, 1))
    dlq.send(numbered(message, 2))
    # WHEN one reader takes one of them
    (first,) = dlq.receive(1)
    # THEN the next reader gets only the other, and after that nothing
    (second,) = dlq.receive(10)
    assert second.message_id != first.message_id
    assert sorted(letter.body["DDBStreamBatchInfo"]["startSequenceNumber"] for letter in (first, second)) == [
        "1",
        "2",
    ]
    assert dlq.receive(10) == []


def test_release_makes_a_received_message_visible_again(
    queues: Callable[[float], DeadLetterQueue], message: dict[str, Any]
) -> None:
    dlq = queues(300)
    dlq.send(message)
    (letter,) = dlq.receive(10)
    assert dlq.receive(10) == []

    dlq.release(letter.receipt)

    (again,) = dlq.receive(10)
    assert again.message_id == letter.message_id
    assert again.body == message
