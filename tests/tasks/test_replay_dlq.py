"""A poison batch, and tasks.stats.replay_dlq bringing its users' stats back from StatsDLQ (moto)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.stub import Stubber

import tasks.stats

from .conftest import MotoAws, close_body, fresh_stats, stats_view, stored_stats, trade_body

USERS = ["alice", "bob", "mallory"]
MALFORMED = {"userId": "mallory", "tradeId": "01JDMALFORMED0000000000000", "symbol": "XYZ", "version": 1}


@dataclass
class Poisoned:
    """Trades for three users, one of mallory's items malformed (no entryAt: from_item raises),
    and the stream records of all those writes."""

    app: Any
    aws: MotoAws
    records: list[dict[str, Any]]
    failure_message: dict[str, Any]

    def sequences(self, user: str) -> list[str]:
        return [r["dynamodb"]["SequenceNumber"] for r in self.records if user_of(r) == user]

    def send_failure_message(self, body: dict[str, Any] | None = None) -> None:
        """What the event source mapping does once the batch's retries are exhausted."""
        message = json.dumps(self.failure_message if body is None else body)
        self.aws.sqs.send_message(QueueUrl=self.aws.queue_url, MessageBody=message)

    def fix(self) -> None:
        """The operator's fix: the malformed item goes."""
        self.aws.trades_table.delete_item(Key={k: MALFORMED[k] for k in ("userId", "tradeId")})

    def forget_stats(self) -> None:
        """Stats as if no batch had ever been applied (the revision counters stay)."""
        for user in USERS:
            self.aws.dynamodb.Table("TradeStats").update_item(
                Key={"userId": user}, UpdateExpression="REMOVE revision, computedAt, tradeCount, stats"
            )
        assert [stored_stats(self.app, u) for u in USERS] == [None] * len(USERS)

    def assert_fresh(self, *users: str) -> None:
        for user in users:
            assert stats_view(stored_stats(self.app, user)) == stats_view(fresh_stats(self.app, user)), user


def user_of(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["Keys"]["userId"]["S"])


@pytest.fixture
def poisoned(
    dynamodb_container: Any, moto_aws: MotoAws, load_event: Callable[[str], dict[str, Any]]
) -> Poisoned:
    app = dynamodb_container
    aapl = app.trades.create("alice", trade_body())
    app.trades.add_close("alice", aapl.trade_id, close_body("100", "190.00"))
    app.trades.create("bob", trade_body("ES", "short", quantity="2", price="5100"))
    good = app.trades.create("mallory", trade_body("MSFT"))
    moto_aws.trades_table.put_item(Item=MALFORMED)  # written around the adapter, as a bad migration would
    app.trades.add_close("mallory", good.trade_id, close_body("50", "188.00"))
    app.trades.create("alice", trade_body("NVDA"))
    records = moto_aws.stream_records()
    assert [user_of(r) for r in records] == ["alice"] * 2 + ["bob"] + ["mallory"] * 3 + ["alice"]

    # The on-failure message AWS would send for that batch: the shared sample, pointing at moto's stream.
    message = load_event("statsdlq-onfailure-message")
    message["DDBStreamBatchInfo"].update(
        streamArn=moto_aws.stream_arn,
        shardId=moto_aws.shard_id,
        startSequenceNumber=records[0]["dynamodb"]["SequenceNumber"],
        endSequenceNumber=records[-1]["dynamodb"]["SequenceNumber"],
        batchSize=len(records),
    )
    return Poisoned(app, moto_aws, records, message)


def test_a_poison_user_reports_its_earliest_record_and_the_others_still_update(poisoned: Poisoned) -> None:
    # WHEN the batch with mallory's malformed trade is delivered
    result = tasks.stats.update_stats({"Records": poisoned.records}, None)

    # THEN mallory's first record is reported (Lambda retries from there), the others updated
    assert result == {"batchItemFailures": [{"itemIdentifier": poisoned.sequences("mallory")[0]}]}
    poisoned.assert_fresh("alice", "bob")
    assert stored_stats(poisoned.app, "mallory") is None


def test_replay_keeps_the_message_while_the_rebuild_fails_and_deletes_it_once_fixed(
    poisoned: Poisoned,
) -> None:
    # GIVEN the batch ended in StatsDLQ, and its users' stats are missing
    poisoned.forget_stats()
    poisoned.send_failure_message()
    # (a message kept by a replay is hidden for the visibility timeout; the test does not wait it out)
    poisoned.app.dead_letters().visibility_timeout = 0

    # WHEN the operator replays the queue while mallory's item is still malformed
    first = tasks.stats.replay_dlq({}, None)

    # THEN the users named by the message's records were rebuilt, except mallory, and the message stays
    (report,) = first["messages"]
    assert report["source"] == f"{len(poisoned.records)} records"
    assert (report["users"], report["failed"], report["action"]) == (USERS, ["mallory"], "kept")
    assert first["batchItemFailures"] == [{"itemIdentifier": report["messageId"]}]
    assert poisoned.aws.queued() == 1
    poisoned.assert_fresh("alice", "bob")
    assert stored_stats(poisoned.app, "mallory") is None

    # WHEN the cause is fixed and the queue replayed again
    poisoned.fix()
    second = tasks.stats.replay_dlq({}, None)

    # THEN mallory's stats are back and the message is gone
    (report,) = second["messages"]
    assert (report["failed"], report["action"], second["batchItemFailures"]) == ([], "rebuilt, deleted", [])
    assert poisoned.aws.queued() == 0
    poisoned.assert_fresh(*USERS)
    assert tasks.stats.replay_dlq({}, None) == {"messages": [], "batchItemFailures": []}


def test_a_dry_run_changes_nothing_and_lists_the_users(poisoned: Poisoned) -> None:
    # GIVEN a fixed cause, the batch in StatsDLQ, and no stats
    poisoned.fix()
    poisoned.forget_stats()
    poisoned.send_failure_message()

    # WHEN the operator replays with {"dryRun": true}
    dry = tasks.stats.replay_dlq({"dryRun": True}, None)

    # THEN it lists whom it would rebuild, rebuilds nobody, and leaves the message in the queue
    (report,) = dry["messages"]
    assert (report["users"], report["action"]) == (USERS, "would rebuild")
    assert [stored_stats(poisoned.app, u) for u in USERS] == [None] * len(USERS)
    assert poisoned.aws.queued() == 1

    # AND the replay that follows at once finds the message and does the work
    real = tasks.stats.replay_dlq({}, None)
    assert [m["action"] for m in real["messages"]] == ["rebuilt, deleted"]
    assert poisoned.aws.queued() == 0
    poisoned.assert_fresh(*USERS)


GONE = {
    # moto asserts on a shard it does not know and on a trimmed position; these are AWS's answers.
    "unknown shard": ("ResourceNotFoundException", "Requested resource not found: Shard does not exist"),
    "trimmed": ("TrimmedDataAccessException", "Attempted to access data that has been trimmed"),
    "stream of a deleted table": (None, None),
}


@pytest.mark.parametrize("why", GONE)
def test_a_message_whose_records_are_gone_rebuilds_every_user(poisoned: Poisoned, why: str) -> None:
    # GIVEN a message whose records the stream no longer has, and nobody's stats
    poisoned.fix()
    poisoned.forget_stats()
    message = copy.deepcopy(poisoned.failure_message)
    info = message["DDBStreamBatchInfo"]
    if why == "unknown shard":
        info["shardId"] = "shardId-00000001541626099999-00000000"
    elif why == "stream of a deleted table":
        info["streamArn"] = info["streamArn"].replace("table/Trades/", "table/TradesV1/")
    poisoned.send_failure_message(message)

    # WHEN the queue is replayed
    code, text = GONE[why]
    stub = Stubber(poisoned.app.stream().streams)
    if code is not None:
        expected = {
            "StreamArn": info["streamArn"],
            "ShardId": info["shardId"],
            "ShardIteratorType": "AT_SEQUENCE_NUMBER",
            "SequenceNumber": info["startSequenceNumber"],
        }
        stub.add_client_error("get_shard_iterator", code, text, 400, expected_params=expected)
        stub.activate()
    try:
        result = tasks.stats.replay_dlq({}, None)
    finally:
        stub.deactivate()
    stub.assert_no_pending_responses()

    # THEN every user was rebuilt, and the message deleted
    (report,) = result["messages"]
    assert report["source"] == "records gone: every user"
    assert (sorted(report["users"]), report["action"]) == (USERS, "rebuilt, deleted")
    assert poisoned.aws.queued() == 0
    poisoned.assert_fresh(*USERS)


def test_the_sqs_event_shape_is_replayed_from_its_body(
    poisoned: Poisoned, load_event: Callable[[str], dict[str, Any]]
) -> None:
    """StatsDLQ as an SQS trigger: the records' bodies are replayed; Lambda deletes what succeeded."""
    # GIVEN the SQS event carrying the batch's failure message, while mallory's item is malformed
    poisoned.forget_stats()
    event = load_event("statsdlq-sqs-event")
    (record,) = event["Records"]
    assert json.loads(record["body"]).keys() == poisoned.failure_message.keys()
    record["body"] = json.dumps(poisoned.failure_message)

    # WHEN it is delivered
    failing = tasks.stats.replay_dlq(copy.deepcopy(event), None)

    # THEN the message is reported for retry, the others' stats are back
    assert failing["batchItemFailures"] == [{"itemIdentifier": record["messageId"]}]
    assert [m["action"] for m in failing["messages"]] == ["kept"]
    poisoned.assert_fresh("alice", "bob")

    # WHEN it is delivered again after the fix
    poisoned.fix()
    fixed = tasks.stats.replay_dlq(copy.deepcopy(event), None)

    # THEN it succeeds, deleting nothing itself (the queue was never polled)
    (report,) = fixed["messages"]
    assert (report["messageId"], report["users"], report["action"]) == (record["messageId"], USERS, "rebuilt")
    assert fixed["batchItemFailures"] == []
    poisoned.assert_fresh(*USERS)


def test_every_message_in_the_queue_is_replayed(poisoned: Poisoned) -> None:
    """More than one receive's worth (10): the replay reads the queue until it is empty."""
    poisoned.fix()
    poisoned.forget_stats()
    for _ in range(12):
        poisoned.send_failure_message()

    result = tasks.stats.replay_dlq({}, None)

    assert [m["action"] for m in result["messages"]] == ["rebuilt, deleted"] * 12
    assert len({m["messageId"] for m in result["messages"]}) == 12
    assert poisoned.aws.queued() == 0
    poisoned.assert_fresh(*USERS)


def test_a_message_that_is_not_a_stream_failure_is_left_alone(poisoned: Poisoned) -> None:
    poisoned.send_failure_message({"hello": "world"})

    result = tasks.stats.replay_dlq({}, None)

    (report,) = result["messages"]
    assert (report["action"], report["reason"]) == ("left", "not a stream failure message")
    assert result["batchItemFailures"] == [{"itemIdentifier": report["messageId"]}]
    assert poisoned.aws.queued() == 1
    assert [stored_stats(poisoned.app, u) for u in USERS] == [None] * len(USERS)
