"""The Trades stream -> tasks.stats.update_stats mapping, with the settings Zappa 0.63 cannot give it.

Zappa's DynamoDB event source sends no StartingPosition (DynamoDB streams require one, so its
create call fails and is only logged) and no failure settings; on `zappa update` it changes
only BatchSize and Enabled of an existing mapping and leaves the rest. So `make deploy` runs
this after Zappa: it creates the mapping, or brings an existing one (made by hand, by an older
Zappa, or by the stack) to exactly the settings below. infra/tradeapp.yaml declares the same.

    python -m deploy.stream_mapping dev
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

STARTING_POSITION = "TRIM_HORIZON"
SETTINGS: dict[str, Any] = {
    "BatchSize": 100,
    "BisectBatchOnFunctionError": True,
    "MaximumRetryAttempts": 5,
    "MaximumRecordAgeInSeconds": 3600,
    "FunctionResponseTypes": ["ReportBatchItemFailures"],
}
# Lambda refuses to change a mapping in these states (ResourceInUseException).
BUSY_STATES = {"Creating", "Enabling", "Disabling", "Updating", "Deleting"}
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def desired(dlq_arn: str) -> dict[str, Any]:
    return {**SETTINGS, "Enabled": True, "DestinationConfig": {"OnFailure": {"Destination": dlq_arn}}}


def ensure_stream_mapping(
    lambda_client: Any,
    function_name: str,
    stream_arn: str,
    dlq_arn: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
    attempts: int = 60,
) -> dict[str, Any]:
    """Create or update the one mapping of `stream_arn` to the function; returns its configuration.

    Idempotent. StartingPosition cannot be updated: a mapping that starts elsewhere is deleted
    and created again from TRIM_HORIZON, which replays up to 24 h of records (safe: stats are
    rebuilt from the user's trades and written conditionally on the revision).
    """
    function_arn = lambda_client.get_function(FunctionName=function_name)["Configuration"]["FunctionArn"]
    settings = desired(dlq_arn)
    mappings = _mappings(lambda_client, function_arn, stream_arn)
    keep = next((m for m in mappings if m.get("StartingPosition") == STARTING_POSITION), None)
    for mapping in mappings:
        if mapping is not keep:
            _wait(lambda_client, mapping["UUID"], sleep, attempts)
            lambda_client.delete_event_source_mapping(UUID=mapping["UUID"])
            _wait(lambda_client, mapping["UUID"], sleep, attempts, until_gone=True)
    if keep is None:
        return lambda_client.create_event_source_mapping(
            FunctionName=function_name,
            EventSourceArn=stream_arn,
            StartingPosition=STARTING_POSITION,
            **settings,
        )
    if _matches(keep, settings):
        return keep
    _wait(lambda_client, keep["UUID"], sleep, attempts)
    return lambda_client.update_event_source_mapping(
        UUID=keep["UUID"], FunctionName=function_name, **settings
    )


def _matches(mapping: dict[str, Any], settings: dict[str, Any]) -> bool:
    """Lambda also reports an empty OnSuccess: only the failure destination is compared."""
    failure = mapping.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    return (
        mapping.get("State") in ("Enabled", "Enabling")
        and failure == settings["DestinationConfig"]["OnFailure"]["Destination"]
        and all(mapping.get(key) == value for key, value in SETTINGS.items())
    )


def _mappings(lambda_client: Any, function_arn: str, stream_arn: str) -> list[dict[str, Any]]:
    """Every mapping of the stream to this function, however it was named when created."""
    found = []
    for page in lambda_client.get_paginator("list_event_source_mappings").paginate(EventSourceArn=stream_arn):
        for mapping in page["EventSourceMappings"]:
            if _unqualified(mapping.get("FunctionArn", "")) == _unqualified(function_arn):
                found.append(mapping)
    return found


def _unqualified(function_arn: str) -> str:
    return ":".join(function_arn.split(":")[:7])  # arn:aws:lambda:REGION:ACCOUNT:function:NAME


def _wait(
    lambda_client: Any,
    uuid: str,
    sleep: Callable[[float], None],
    attempts: int,
    until_gone: bool = False,
) -> None:
    for _ in range(attempts):
        try:
            state = lambda_client.get_event_source_mapping(UUID=uuid).get("State")
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return
            raise
        if not until_gone and state not in BUSY_STATES:
            return
        sleep(5)
    raise TimeoutError(f"event source mapping {uuid} is still busy")


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m deploy.stream_mapping STAGE", file=sys.stderr)
        return 2
    import boto3

    stage = argv[0]
    config = json.loads((PROJECT_ROOT / "zappa_settings.json").read_text())[stage]
    session = boto3.session.Session(region_name=config["aws_region"])
    function_name = f"{config['project_name']}-{stage}"
    outputs = stack_outputs(session.client("cloudformation"), f"tradeapp-{stage}")
    mapping = ensure_stream_mapping(
        session.client("lambda"), function_name, outputs["TradesStreamArn"], outputs["StatsDLQArn"]
    )
    print(f"{function_name}: stream mapping {mapping['UUID']} ({mapping.get('State')})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
