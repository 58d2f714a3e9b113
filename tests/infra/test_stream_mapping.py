"""deploy/stream_mapping.py under moto: the Trades stream mapping gets, and keeps, what Zappa cannot give.

moto stores every field asserted here, but it is more lenient than Lambda: it gives a
DynamoDB mapping TRIM_HORIZON when StartingPosition is missing (Lambda refuses the call), it
resolves no function names in list filters, and a mapping is never Creating or Deleting.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from deploy.stream_mapping import ensure_stream_mapping
from tradeapp.adapters.dynamodb import create_tables

FUNCTION = "tradeapp-dev"


@dataclass
class World:
    lambda_client: Any
    stream_arn: str
    dlq_arn: str
    function_arn: str


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return None\n")
    return buffer.getvalue()


@pytest.fixture
def world(aws_credentials: None) -> Iterator[World]:
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        dynamodb = session.resource("dynamodb")
        create_tables(dynamodb, "Trades", "TradeIdempotency")
        stream_arn = dynamodb.Table("Trades").latest_stream_arn
        sqs = session.client("sqs")
        queue_url = sqs.create_queue(QueueName="StatsDLQ")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        role = session.client("iam").create_role(
            RoleName="tradeapp-dev-role",
            AssumeRolePolicyDocument='{"Version": "2012-10-17", "Statement": []}',
        )["Role"]["Arn"]
        lambda_client = session.client("lambda")
        function_arn = lambda_client.create_function(
            FunctionName=FUNCTION,
            Runtime="python3.12",
            Role=role,
            Handler="handler.lambda_handler",
            Code={"ZipFile": _zip()},
        )["FunctionArn"]
        yield World(lambda_client, stream_arn, dlq_arn, function_arn)


def mappings(world: World) -> list[dict[str, Any]]:
    return world.lambda_client.list_event_source_mappings(EventSourceArn=world.stream_arn)[
        "EventSourceMappings"
    ]


def assert_fully_configured(mapping: dict[str, Any], world: World) -> None:
    assert mapping["EventSourceArn"] == world.stream_arn
    assert mapping["FunctionArn"] == world.function_arn
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["BatchSize"] == 100
    assert mapping["BisectBatchOnFunctionError"] is True
    assert 0 <= mapping["MaximumRetryAttempts"] <= 5
    assert 60 <= mapping["MaximumRecordAgeInSeconds"] <= 3600
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == world.dlq_arn
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["State"] == "Enabled"


def test_a_new_mapping_has_every_setting(world: World) -> None:
    created = ensure_stream_mapping(world.lambda_client, FUNCTION, world.stream_arn, world.dlq_arn)

    (listed,) = mappings(world)
    assert listed["UUID"] == created["UUID"]
    assert_fully_configured(world.lambda_client.get_event_source_mapping(UUID=created["UUID"]), world)


def test_running_it_again_leaves_one_unchanged_mapping(world: World) -> None:
    first = ensure_stream_mapping(world.lambda_client, FUNCTION, world.stream_arn, world.dlq_arn)
    second = ensure_stream_mapping(world.lambda_client, FUNCTION, world.stream_arn, world.dlq_arn)

    (only,) = mappings(world)
    assert only["UUID"] == first["UUID"] == second["UUID"]
    assert_fully_configured(only, world)


def test_a_bare_mapping_as_zappa_makes_it_gets_the_full_settings(world: World) -> None:
    """GIVEN what Zappa's create call sends (by function ARN, no StartingPosition or failure settings)."""
    bare = world.lambda_client.create_event_source_mapping(
        FunctionName=world.function_arn, EventSourceArn=world.stream_arn, BatchSize=100, Enabled=True
    )
    assert "DestinationConfig" not in bare

    ensure_stream_mapping(world.lambda_client, FUNCTION, world.stream_arn, world.dlq_arn)

    (only,) = mappings(world)
    assert only["UUID"] == bare["UUID"]
    assert_fully_configured(world.lambda_client.get_event_source_mapping(UUID=only["UUID"]), world)


def test_a_disabled_mapping_with_other_failure_settings_is_corrected(world: World) -> None:
    stale = world.lambda_client.create_event_source_mapping(
        FunctionName=FUNCTION,
        EventSourceArn=world.stream_arn,
        StartingPosition="TRIM_HORIZON",
        BatchSize=500,
        Enabled=False,
        MaximumRetryAttempts=-1,
        DestinationConfig={"OnFailure": {"Destination": world.dlq_arn + "-old"}},
    )

    ensure_stream_mapping(world.lambda_client, FUNCTION, world.stream_arn, world.dlq_arn)

    (only,) = mappings(world)
    assert only["UUID"] == stale["UUID"]
    assert_fully_configured(only, world)


def test_a_mapping_starting_at_latest_is_replaced(world: World) -> None:
    """StartingPosition cannot be updated: LATEST would skip what the stream still holds."""
    latest = world.lambda_client.create_event_source_mapping(
        FunctionName=FUNCTION, EventSourceArn=world.stream_arn, StartingPosition="LATEST", BatchSize=100
    )

    created = ensure_stream_mapping(
        world.lambda_client, FUNCTION, world.stream_arn, world.dlq_arn, sleep=lambda _: None
    )

    (only,) = mappings(world)
    assert only["UUID"] == created["UUID"] != latest["UUID"]
    assert_fully_configured(only, world)


def test_another_functions_mapping_of_the_stream_is_left_alone(world: World) -> None:
    other = world.lambda_client.create_function(
        FunctionName="tradeapp-dev-other",
        Runtime="python3.12",
        Role=world.lambda_client.get_function(FunctionName=FUNCTION)["Configuration"]["Role"],
        Handler="handler.lambda_handler",
        Code={"ZipFile": _zip()},
    )
    theirs = world.lambda_client.create_event_source_mapping(
        FunctionName=other["FunctionArn"], EventSourceArn=world.stream_arn, StartingPosition="LATEST"
    )

    ensure_stream_mapping(world.lambda_client, FUNCTION, world.stream_arn, world.dlq_arn)

    by_function = {m["FunctionArn"]: m for m in mappings(world)}
    assert by_function[other["FunctionArn"]]["UUID"] == theirs["UUID"]
    assert by_function[other["FunctionArn"]]["StartingPosition"] == "LATEST"
    assert_fully_configured(by_function[world.function_arn], world)
