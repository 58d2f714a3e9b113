"""The app behind Zappa's real Lambda handler: REST API (v1) and HTTP API (v2) events, streams, schedules."""

from __future__ import annotations

import json
import logging
import os
import sys
from types import ModuleType
from typing import Any

import pytest

from .conftest import scheduled_event, settings_stages

# The two API Gateway payload shapes, and the path prefix each puts in front of the app's URLs:
# the REST API is reached on its execute-api host, where the stage is part of the URL.
FLAVOURS = {"apigw-rest-v1": "/dev", "apigw-http-v2": ""}


def header(response: dict[str, Any], name: str) -> str | None:
    """A response header as the client gets it, from either payload shape."""
    for key, value in (response.get("headers") or {}).items():
        if key.lower() == name.lower():
            return str(value)
    return None


def body(response: dict[str, Any]) -> Any:
    assert not response.get("isBase64Encoded"), "JSON must come back as text, not base64"
    return json.loads(response["body"])


def with_bearer(event: dict[str, Any], token: str) -> dict[str, Any]:
    """The event as API Gateway sends it when the client sends `Authorization: Bearer token`."""
    value = f"Bearer {token}"
    if event.get("version") == "2.0":
        event["headers"]["authorization"] = value
    else:
        event["headers"]["Authorization"] = value
        event["multiValueHeaders"]["Authorization"] = [value]
    return event


def request_id(event: dict[str, Any]) -> str:
    return str(event["requestContext"]["requestId"])


@pytest.fixture
def local_lambda(start_lambda: Any, local_overrides: dict[str, str]) -> Any:
    return start_lambda("dev", local_overrides)


def test_cold_start_applies_the_stage_environment_with_the_test_overrides_on_top(local_lambda: Any) -> None:
    settings = local_lambda.app.config["TRADEAPP"]
    assert (os.environ["STAGE"], os.environ["PROJECT"]) == ("dev", "tradeapp")
    assert os.environ["TRADEAPP_SSM_PREFIX"] == "/tradeapp/dev"  # from zappa_settings.json
    assert (settings["BACKEND"], settings["AUTH"], settings["SECRETS"]) == ("sqlite", "local", "file")
    assert settings["TRADES_TABLE"] == "Trades"
    assert local_lambda.handler.wsgi_app is not None, "Zappa must treat the Flask app as WSGI"
    assert local_lambda.handler.app_type is None


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_health_through_the_handler(
    local_lambda: Any, load_event: Any, lambda_context: Any, flavour: str
) -> None:
    event = load_event(f"{flavour}-get-health")
    context = lambda_context()

    response = local_lambda.invoke(event, context)

    assert response["statusCode"] == 200
    assert body(response) == {"status": "ok"}
    assert header(response, "X-Request-Id") == request_id(event) != context.aws_request_id
    assert header(response, "Content-Type") == "application/json"


@pytest.mark.parametrize(("flavour", "stage_prefix"), FLAVOURS.items())
def test_create_a_trade_then_list_it(
    local_lambda: Any, load_event: Any, flavour: str, stage_prefix: str
) -> None:
    # GIVEN a token for alice from the embedded issuer
    issuer = local_lambda.app.extensions["tradeapp"].issuer
    alice, bob = issuer.issue("alice"), issuer.issue("bob")

    # WHEN she records a trade through API Gateway
    post = with_bearer(load_event(f"{flavour}-post-trades"), alice)
    created = local_lambda.invoke(post)

    # THEN it is created where Location says, with the exact decimals she sent
    assert created["statusCode"] == 201, created.get("body")
    trade = body(created)
    assert (trade["symbol"], trade["entryPrice"], trade["quantity"]) == ("AAPL", "187.25", "10")
    assert header(created, "Location") == f"{stage_prefix}/v1/trades/{trade['tradeId']}"
    assert header(created, "ETag") == '"1"'
    assert header(created, "X-Request-Id") == request_id(post)
    exposed = (header(created, "Access-Control-Expose-Headers") or "").lower()
    assert {"location", "x-request-id", "etag"} <= {h.strip() for h in exposed.split(",")}

    # AND her list shows it, while bob's does not
    listed = local_lambda.invoke(with_bearer(load_event(f"{flavour}-get-trades"), alice))
    assert listed["statusCode"] == 200
    assert [t["tradeId"] for t in body(listed)["items"]] == [trade["tradeId"]]
    others = local_lambda.invoke(with_bearer(load_event(f"{flavour}-get-trades"), bob))
    assert body(others)["items"] == []


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_listing_without_a_token_is_refused(local_lambda: Any, load_event: Any, flavour: str) -> None:
    event = load_event(f"{flavour}-get-trades")

    response = local_lambda.invoke(event)

    assert response["statusCode"] == 401
    assert (header(response, "WWW-Authenticate") or "").startswith("Bearer ")
    assert body(response)["code"] == 401
    assert header(response, "X-Request-Id") == request_id(event)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_bearer_token_stays_out_of_the_logs(
    local_lambda: Any, load_event: Any, caplog: pytest.LogCaptureFixture, capfd: Any, flavour: str
) -> None:
    """With Zappa's defaults (debug true, DEBUG) the handler logs each raw event, headers and all."""
    token = local_lambda.app.extensions["tradeapp"].issuer.issue("alice")
    caplog.set_level(logging.DEBUG)

    response = local_lambda.invoke(with_bearer(load_event(f"{flavour}-get-trades"), token))

    assert response["statusCode"] == 200
    assert caplog.records, "the access log should have been captured"
    out, err = capfd.readouterr()
    assert token not in caplog.text + out + err


def test_rest_v1_answers_in_both_header_shapes(local_lambda: Any, load_event: Any) -> None:
    """The REST API reads multiValueHeaders when the event had them; Zappa fills both."""
    response = local_lambda.invoke(load_event("apigw-rest-v1-get-health"))

    assert response["multiValueHeaders"]["X-Request-Id"] == [response["headers"]["X-Request-Id"]]


# The stats issue's entry points, routed by Zappa's real handler from the settings' `events`.


@pytest.fixture
def fake_stats_tasks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    """A stand-in for tasks.stats that records how Zappa calls it (the real one may not exist yet)."""
    calls: list[tuple[str, tuple[Any, ...]]] = []
    module = ModuleType("tasks.stats")

    def update_stats(event: Any, context: Any) -> dict[str, Any]:
        calls.append(("update_stats", (event, context)))
        return {"batchItemFailures": []}

    def rebuild_all_stats(event: Any, context: Any) -> dict[str, int]:
        calls.append(("rebuild_all_stats", (event, context)))
        return {"users": 0}

    module.update_stats = update_stats  # type: ignore[attr-defined]
    module.rebuild_all_stats = rebuild_all_stats  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tasks.stats", module)
    return calls


def stream_event(arn: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventID": "c4ca4238a0b923820dcc509a6f75849b",
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "Keys": {"userId": {"S": "alice"}, "tradeId": {"S": "01JNR8Z6X1V6Q3M9T0B2C4D5E6"}},
                    "SequenceNumber": "4421584500000000017450439091",
                    "SizeBytes": 120,
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
                "eventSourceARN": arn,
            }
        ]
    }


def stream_arn(stage: str) -> str:
    (event,) = [e for e in settings_stages()[stage]["events"] if "event_source" in e]
    return str(event["event_source"]["arn"])


def test_the_trades_stream_reaches_update_stats(
    local_lambda: Any, fake_stats_tasks: list[Any], lambda_context: Any
) -> None:
    event, context = stream_event(stream_arn("dev")), lambda_context()

    result = local_lambda.invoke(event, context)

    assert fake_stats_tasks == [("update_stats", (event, context))]
    assert result == {"batchItemFailures": []}


def test_a_stream_with_another_arn_is_dropped_silently(
    local_lambda: Any, fake_stats_tasks: list[Any]
) -> None:
    """Zappa matches eventSourceARN exactly (handler.py, get_function_for_aws_event): a re-created
    stream has a new label, and until zappa_settings.json names it, its records are acknowledged
    unprocessed (the handler logs an error and returns None, so Lambda does not retry)."""
    relabelled = stream_arn("dev").rsplit("/", 1)[0] + "/2026-03-10T12:00:00.000"

    result = local_lambda.invoke(stream_event(relabelled))

    assert result is None
    assert fake_stats_tasks == []


def test_the_schedule_reaches_rebuild_all_stats(
    local_lambda: Any, fake_stats_tasks: list[Any], lambda_context: Any
) -> None:
    """The rule name is the one Zappa gives the rule at `zappa schedule`; the handler reads the
    function back from its last `-` part, so a custom "name" is fine as long as the function has none."""
    event = scheduled_event("dev")
    rule = event["resources"][0].rsplit("/", 1)[-1]
    context = lambda_context()

    result = local_lambda.invoke(event, context)

    assert rule.startswith("tradeapp-dev-rebuild-all-stats-")
    assert fake_stats_tasks == [("rebuild_all_stats", (event, context))]
    assert result == {"users": 0}


def test_a_type_error_inside_an_entry_point_makes_zappa_call_it_again_with_fewer_arguments(
    local_lambda: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why an entry point never lets TypeError escape (CONVENTIONS 11; handler.py, run_function)."""
    calls: list[int] = []

    def update_stats(*args: Any) -> None:
        calls.append(len(args))
        raise TypeError("a bug inside the task")

    module = ModuleType("tasks.stats")
    module.update_stats = update_stats  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tasks.stats", module)

    with pytest.raises(RuntimeError, match="Function signature is invalid"):
        local_lambda.invoke(stream_event(stream_arn("dev")))
    assert calls == [2, 1, 0]


# The stage's own environment (DynamoDB, Cognito, SSM), with AWS played by moto.


@pytest.mark.parametrize("stage", sorted(settings_stages()))
def test_the_stage_environment_cold_starts_against_aws(
    start_lambda: Any, load_event: Any, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    """The cold start reads the cursor keys from SSM under the stage's prefix and touches nothing else."""
    from moto import mock_aws

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        import boto3

        keys = {"current": "k1", "keys": {"k1": "ab" * 32}}
        boto3.client("ssm", region_name="us-east-1").put_parameter(
            Name=f"/tradeapp/{stage}/cursor-keys", Value=json.dumps(keys), Type="SecureString"
        )
        running = start_lambda(stage)

        settings = running.app.config["TRADEAPP"]
        health = running.invoke(load_event("apigw-http-v2-get-health"))
        refused = running.invoke(load_event("apigw-http-v2-get-trades"))

    assert (settings["BACKEND"], settings["AUTH"], settings["SECRETS"]) == ("dynamodb", "cognito", "ssm")
    assert running.app.extensions["tradeapp"].issuer is None
    assert (health["statusCode"], body(health)) == (200, {"status": "ok"})
    assert refused["statusCode"] == 401
