"""infra/*.yaml: cfn-lint clean, and the properties the app and the runbook rely on are there.

Each check in `problems` is shown to fire on a template broken in its way (BAD below), so
that a check which can never fail cannot hide among them.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from deploy.stream_mapping import SETTINGS, STARTING_POSITION
from tradeapp.adapters.dynamodb import create_tables

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((PROJECT_ROOT / "infra").glob("*.yaml"))
TEMPLATE = PROJECT_ROOT / "infra" / "tradeapp.yaml"
TABLES = ("Trades", "TradeIdempotency", "TradeStats")
# Wildcards a resource ARN may end in: images under users/, and the stage's SSM path.
# Images under users/, the stage's parameters, and the log streams of the function's own group.
ALLOWED_WILDCARD_SUFFIXES = ("/users/*", "/tradeapp/${Stage}/*", "/aws/lambda/${FunctionName}:log-stream:*")
FUNCTION_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
    "sqs:SendMessage",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:ListBucket",
    "ssm:GetParameter",
    "lambda:InvokeFunction",
    "cognito-idp:GlobalSignOut",
    "cognito-idp:AdminUserGlobalSignOut",
}
ALARMED_METRICS = {
    "5XXError",
    "ApproximateNumberOfMessagesVisible",
    "Throttles",
    "ReadThrottleEvents",
    "WriteThrottleEvents",
    "IteratorAge",
}
DASHBOARD_TERMS = (
    '"Errors"',
    '"Throttles"',
    '"Duration"',
    "@initDuration",
    "ThrottledRequests",
    '"ReadThrottleEvents"',
    '"WriteThrottleEvents"',
    '"ApproximateNumberOfMessagesVisible"',
    '"IteratorAge"',
)


def load(path: Path) -> dict[str, Any]:
    """The template with !Ref/!GetAtt/!Sub as their long forms, as plain dicts and lists."""
    return json.loads(json.dumps(cfn_yaml.load(str(path))))


def test_there_are_templates() -> None:
    assert TEMPLATE in TEMPLATES


def test_cfn_lint_finds_no_errors_or_warnings() -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run(
        [str(cfn_lint), *map(str, TEMPLATES)], capture_output=True, text=True, timeout=120, check=False
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_cfn_lint_would_catch_a_broken_template(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(TEMPLATE.read_text().replace("MessageRetentionPeriod: 1209600", "MessageRetention: 1"))
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run([str(cfn_lint), str(broken)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "MessageRetention" in result.stdout


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def statements(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Policy statements, the branches of Fn::If included."""
    found = document.get("Statement", [])
    for statement in found if isinstance(found, list) else [found]:
        if "Fn::If" in statement:
            yield from (s for s in statement["Fn::If"][1:] if "Ref" not in s)
        else:
            yield statement


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resource_text(resource: Any) -> str:
    """A Resource entry as the ARN text it stands for (a Ref or GetAtt holds no wildcard)."""
    if isinstance(resource, str):
        return resource
    if "Fn::Sub" in resource:
        sub = resource["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    return ""


def iam_problems(template: dict[str, Any]) -> Iterator[str]:
    granted: set[str] = set()
    for kind in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy", "AWS::IAM::Role"):
        for name, resource in of_type(template, kind).items():
            props = resource["Properties"]
            documents = [props["PolicyDocument"]] if "PolicyDocument" in props else []
            documents += [p["PolicyDocument"] for p in props.get("Policies", [])]
            for document in documents:
                for statement in statements(document):
                    if statement.get("Effect") != "Allow":
                        continue
                    if "NotAction" in statement or "NotResource" in statement:
                        yield f"{name}: NotAction/NotResource grant more than they name"
                    for action in as_list(statement.get("Action", [])):
                        granted.add(action)
                        if "*" in action:
                            yield f"{name}: wildcard action {action}"
                    for entry in as_list(statement.get("Resource", [])):
                        text = resource_text(entry)
                        if text == "*" or ("*" in text and not text.endswith(ALLOWED_WILDCARD_SUFFIXES)):
                            yield f"{name}: wildcard resource {text}"
    missing = FUNCTION_ACTIONS - granted
    if missing:
        yield f"the function's policy does not grant {sorted(missing)}"


def problems(template: dict[str, Any]) -> list[str]:
    found: list[str] = []
    resources = template["Resources"]
    tables = of_type(template, "AWS::DynamoDB::Table")
    if sorted(t["Properties"].get("TableName") for t in tables.values()) != sorted(TABLES):
        found.append(f"the tables must be {TABLES}")
    for name, table in tables.items():
        props = table["Properties"]
        if props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") is not True:
            found.append(f"{name}: no point-in-time recovery")
        if props.get("SSESpecification", {}).get("SSEEnabled") is not True:
            found.append(f"{name}: no SSESpecification.SSEEnabled")
        if props.get("BillingMode") != "PAY_PER_REQUEST":
            found.append(f"{name}: not PAY_PER_REQUEST")
        if (
            props.get("TableName") in ("Trades", "TradeStats")
            and props.get("DeletionProtectionEnabled") is not True
        ):
            found.append(f"{name}: no deletion protection")
        view = props.get("StreamSpecification", {}).get("StreamViewType")
        if props.get("TableName") == "Trades" and view != "NEW_AND_OLD_IMAGES":
            found.append("Trades: the stream must be NEW_AND_OLD_IMAGES")
        if props.get("TableName") == "TradeIdempotency":
            ttl = props.get("TimeToLiveSpecification", {})
            if (ttl.get("AttributeName"), ttl.get("Enabled")) != ("expiresAt", True):
                found.append("TradeIdempotency: TTL must be enabled on expiresAt")

    found += iam_problems(template)

    queue = resources.get("StatsDLQ", {}).get("Properties", {})
    if queue.get("MessageRetentionPeriod") != 1209600:
        found.append("StatsDLQ must keep messages 14 days (1209600 s)")
    if queue.get("SqsManagedSseEnabled") is not True:
        found.append("StatsDLQ must be encrypted")

    buckets = of_type(template, "AWS::S3::Bucket")
    if not buckets:
        found.append("no images bucket")
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        block = props.get("PublicAccessBlockConfiguration", {})
        flags = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
        if any(block.get(flag) is not True for flag in flags):
            found.append(f"{name}: public access is not blocked")
        if not props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration"):
            found.append(f"{name}: no default encryption")
        rules = props.get("LifecycleConfiguration", {}).get("Rules", [])
        if not any(
            r.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation") == 1 for r in rules
        ):
            found.append(f"{name}: incomplete multipart uploads are not aborted after 1 day")
        cors = props.get("CorsConfiguration", {}).get("CorsRules", [])
        if not any("POST" in r.get("AllowedMethods", []) and r.get("AllowedOrigins") for r in cors):
            found.append(f"{name}: no CORS rule for browser POST uploads")

    mappings = of_type(template, "AWS::Lambda::EventSourceMapping")
    if len(mappings) != 1:
        found.append("one event source mapping for the Trades stream is needed")
    for name, mapping in mappings.items():
        props = mapping["Properties"]
        wanted = {
            **SETTINGS,
            "StartingPosition": STARTING_POSITION,
            "EventSourceArn": {"Fn::GetAtt": ["Trades", "StreamArn"]},
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": ["StatsDLQ", "Arn"]}}},
            "FunctionName": {"Ref": "FunctionName"},
        }
        for key, value in wanted.items():
            if props.get(key) != value:
                found.append(f"{name}: {key} must be {value!r}, not {props.get(key)!r}")

    clients = of_type(template, "AWS::Cognito::UserPoolClient")
    if not clients:
        found.append("no Cognito app client")
    for name, client in clients.items():
        props = client["Properties"]
        if props.get("GenerateSecret") is not False:
            found.append(f"{name}: a browser client cannot keep a secret")
        if "ALLOW_USER_SRP_AUTH" not in props.get("ExplicitAuthFlows", []):
            found.append(f"{name}: SRP sign-in is not allowed")
        if not (
            props.get("TokenValidityUnits", {}).get("AccessToken") == "minutes"
            and 5 <= props.get("AccessTokenValidity", 0) <= 60
        ):
            found.append(f"{name}: access tokens must live minutes, not hours")

    alarmed = set()
    for alarm in of_type(template, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        alarmed.add(props.get("MetricName"))
        alarmed |= {
            m["MetricStat"]["Metric"]["MetricName"] for m in props.get("Metrics", []) if "MetricStat" in m
        }
    if ALARMED_METRICS - alarmed:
        found.append(f"no alarm on {sorted(ALARMED_METRICS - alarmed)}")

    bodies = [
        d["Properties"]["DashboardBody"] for d in of_type(template, "AWS::CloudWatch::Dashboard").values()
    ]
    body = "".join(b["Fn::Sub"] if isinstance(b, dict) else b for b in bodies)
    try:
        json.loads(re.sub(r"\$\{[^}]+\}", "x", body) or "null")
    except ValueError:
        found.append("the dashboard body is not JSON")
    missing_widgets = [term for term in DASHBOARD_TERMS if term not in body]
    if missing_widgets:
        found.append(f"the dashboard does not show {missing_widgets}")

    roles = of_type(template, "AWS::IAM::Role")
    role = roles.get("FunctionRole", {}).get("Properties", {})
    if {"Ref": "FunctionPolicy"} not in role.get("ManagedPolicyArns", []):
        found.append("no function role carrying FunctionPolicy")
    principals = [
        st.get("Principal", {}).get("Service")
        for st in role.get("AssumeRolePolicyDocument", {}).get("Statement", [])
    ]
    if principals and principals != ["lambda.amazonaws.com"]:
        found.append(f"the function role trusts {principals}, not only Lambda")

    outputs = template.get("Outputs", {})
    for output in ("TradesStreamArn", "StatsDLQArn", "CursorKeysParameterName", "FunctionRoleName"):
        if output not in outputs:
            found.append(f"no output {output}")
    return found


def test_the_template_has_no_problems() -> None:
    assert problems(load(TEMPLATE)) == []


BAD = {
    "no role for the policy": ("Resources.FunctionRole.Properties.ManagedPolicyArns", []),
    "a role others may assume": (
        "Resources.FunctionRole.Properties.AssumeRolePolicyDocument.Statement.0.Principal.Service",
        "ec2.amazonaws.com",
    ),
    "a table without PITR": ("Resources.TradeIdempotency.Properties.PointInTimeRecoverySpecification", ...),
    "PITR off": (
        "Resources.TradeStats.Properties.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled",
        False,
    ),
    "a table unencrypted": ("Resources.TradeStats.Properties.SSESpecification", ...),
    "Trades keys-only stream": (
        "Resources.Trades.Properties.StreamSpecification.StreamViewType",
        "KEYS_ONLY",
    ),
    "Trades without a stream": ("Resources.Trades.Properties.StreamSpecification", ...),
    "Trades deletable": ("Resources.Trades.Properties.DeletionProtectionEnabled", False),
    "TradeStats deletable": ("Resources.TradeStats.Properties.DeletionProtectionEnabled", ...),
    "no TTL": ("Resources.TradeIdempotency.Properties.TimeToLiveSpecification", ...),
    "provisioned": ("Resources.Trades.Properties.BillingMode", "PROVISIONED"),
    "a wildcard resource": ("Resources.FunctionPolicy.Properties.PolicyDocument.Statement.0.Resource", "*"),
    "a table wildcard": (
        "Resources.FunctionPolicy.Properties.PolicyDocument.Statement.0.Resource.1",
        {"Fn::Sub": "${Trades.Arn}/index/*"},
    ),
    "a wildcard action": ("Resources.FunctionPolicy.Properties.PolicyDocument.Statement.2.Action", "sqs:*"),
    "every action": ("Resources.FunctionPolicy.Properties.PolicyDocument.Statement.3.Action", "*"),
    "a whole-bucket wildcard": (
        "Resources.FunctionPolicy.Properties.PolicyDocument.Statement.3.Resource",
        {"Fn::Sub": "${ImagesBucket.Arn}/*"},
    ),
    "a wildcard in the conditional branch": (
        "Resources.FunctionPolicy.Properties.PolicyDocument.Statement.6.Fn::If.1.Resource",
        "*",
    ),
    "a needed action missing": ("Resources.FunctionPolicy.Properties.PolicyDocument.Statement.7", ...),
    "retention of 4 days": ("Resources.StatsDLQ.Properties.MessageRetentionPeriod", 345600),
    "queue unencrypted": ("Resources.StatsDLQ.Properties.SqsManagedSseEnabled", ...),
    "bucket public": (
        "Resources.ImagesBucket.Properties.PublicAccessBlockConfiguration.BlockPublicPolicy",
        False,
    ),
    "bucket without block": ("Resources.ImagesBucket.Properties.PublicAccessBlockConfiguration", ...),
    "bucket unencrypted": ("Resources.ImagesBucket.Properties.BucketEncryption", ...),
    "no multipart abort": ("Resources.ImagesBucket.Properties.LifecycleConfiguration", ...),
    "no CORS": ("Resources.ImagesBucket.Properties.CorsConfiguration", ...),
    "no mapping": ("Resources.TradesStreamMapping", ...),
    "mapping from LATEST": ("Resources.TradesStreamMapping.Properties.StartingPosition", "LATEST"),
    "mapping without bisect": ("Resources.TradesStreamMapping.Properties.BisectBatchOnFunctionError", ...),
    "mapping retrying forever": ("Resources.TradesStreamMapping.Properties.MaximumRetryAttempts", -1),
    "mapping records kept a week": (
        "Resources.TradesStreamMapping.Properties.MaximumRecordAgeInSeconds",
        604800,
    ),
    "mapping without a DLQ": ("Resources.TradesStreamMapping.Properties.DestinationConfig", ...),
    "mapping without batch item failures": (
        "Resources.TradesStreamMapping.Properties.FunctionResponseTypes",
        ...,
    ),
    "mapping of another table": (
        "Resources.TradesStreamMapping.Properties.EventSourceArn",
        {"Fn::GetAtt": ["TradeStats", "Arn"]},
    ),
    "mapping batch of 10": ("Resources.TradesStreamMapping.Properties.BatchSize", 10),
    "a client secret": ("Resources.UserPoolClient.Properties.GenerateSecret", True),
    "hour-long access tokens": (
        "Resources.UserPoolClient.Properties.TokenValidityUnits.AccessToken",
        "hours",
    ),
    "no SRP": ("Resources.UserPoolClient.Properties.ExplicitAuthFlows", ["ALLOW_REFRESH_TOKEN_AUTH"]),
    "no DLQ alarm": ("Resources.StatsDLQAlarm", ...),
    "no iterator age alarm": ("Resources.IteratorAgeAlarm", ...),
    "no dynamodb throttle alarm": ("Resources.DynamoDBThrottlesAlarm", ...),
    "no dashboard": ("Resources.Dashboard", ...),
    "no stream output": ("Outputs.TradesStreamArn", ...),
    "no cursor keys output": ("Outputs.CursorKeysParameterName", ...),
}


def mutate(node: Any, path: str, value: Any) -> None:
    """Set (or delete, for ...) a dotted path; list indexes are numbers."""
    *parents, last = path.split(".")
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    key: Any = int(last) if isinstance(node, list) else last
    if value is ...:
        del node[key]
    else:
        node[key] = value


@pytest.mark.parametrize("case", BAD)
def test_each_check_catches_its_problem(case: str) -> None:
    template = copy.deepcopy(load(TEMPLATE))
    mutate(template, *BAD[case])

    assert problems(template) != []


def test_the_policy_statements_the_cases_above_edit_are_the_ones_they_mean() -> None:
    """BAD names statements by position: fail loudly when the template's order changes."""
    document = load(TEMPLATE)["Resources"]["FunctionPolicy"]["Properties"]["PolicyDocument"]
    sids = [s.get("Sid") or s["Fn::If"][1]["Sid"] for s in document["Statement"]]

    assert sids[:8] == [
        "Tables",
        "TradesStream",
        "StatsDLQ",
        "ImageObjects",
        "ImagesListing",
        "StageParameters",
        "StageParametersKey",
        "ContinueItself",
    ]


class Recorder:
    """Stands in for a boto3 DynamoDB resource: keeps what create_tables asks for."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, Any]] = {}

    def create_table(self, **kwargs: Any) -> None:
        self.tables[kwargs["TableName"]] = kwargs


@pytest.mark.parametrize("table", TABLES)
def test_tables_have_the_shape_the_adapter_and_its_tests_use(table: str) -> None:
    recorder = Recorder()
    create_tables(recorder, *TABLES)
    (declared,) = [
        t["Properties"]
        for t in of_type(load(TEMPLATE), "AWS::DynamoDB::Table").values()
        if t["Properties"]["TableName"] == table
    ]
    used = recorder.tables[table]

    def key(attribute: dict[str, Any]) -> str:
        return attribute["AttributeName"]

    assert declared["KeySchema"] == used["KeySchema"]
    assert sorted(declared["AttributeDefinitions"], key=key) == sorted(used["AttributeDefinitions"], key=key)
    assert declared.get("LocalSecondaryIndexes") == used.get("LocalSecondaryIndexes")
    assert declared.get("StreamSpecification", {}).get("StreamViewType") == used.get(
        "StreamSpecification", {}
    ).get("StreamViewType")
