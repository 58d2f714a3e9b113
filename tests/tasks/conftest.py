"""Fixtures that run the app the way Lambda does: Zappa's generated settings module and its real handler.

The settings module is produced by Zappa's own CLI (`zappa save-python-settings-file STAGE`) from
the repository's zappa_settings.json, offline and without AWS credentials.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SETTINGS_JSON = PROJECT_ROOT / "zappa_settings.json"
EVENTS_DIR = PROJECT_ROOT / "tests" / "events"
ACCOUNT_ID = "123456789012"

# Modules that a cold start imports and that must be fresh for the next one.
COLD_START_MODULES = ("zappa_settings", "wsgi")


@dataclass
class LambdaContext:
    """The attributes of the Python runtime's context object that Zappa or the app may read."""

    function_name: str = "tradeapp-dev"
    function_version: str = "$LATEST"
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:tradeapp-dev"
    memory_limit_in_mb: str = "512"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/tradeapp-dev"
    log_stream_name: str = "2026/03/10/[$LATEST]0123456789abcdef0123456789abcdef"
    timeout_ms: int = 30_000
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.timeout_ms - int((time.monotonic() - self.started) * 1000))


@dataclass
class RunningLambda:
    """One warm container: the LambdaHandler singleton after its cold start."""

    handler: Any
    settings: ModuleType

    def invoke(self, event: dict[str, Any], context: LambdaContext | None = None) -> Any:
        """What the Lambda runtime does: call the configured entry point, handler.lambda_handler."""
        from zappa.handler import lambda_handler

        return lambda_handler(event, context or LambdaContext())

    @property
    def app(self) -> Any:
        return self.handler.app_module.app


def settings_stages() -> dict[str, Any]:
    """The stages of zappa_settings.json, read as strict JSON (Zappa's hjson would forgive more)."""
    return json.loads(SETTINGS_JSON.read_text())


def offline_environ(home: Path) -> dict[str, str]:
    """The environment with no AWS credentials or profile, and any network attempt failing fast."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TRADEAPP_"))}
    env.update(
        {
            "AWS_CONFIG_FILE": str(home / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "HTTP_PROXY": "http://127.0.0.1:9",
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "NO_PROXY": "",
        }
    )
    return env


def start_zappa_cli(stage: str, workdir: Path) -> subprocess.Popen[str]:
    """Run Zappa's CLI in a copy of the project's settings, writing workdir/out/zappa_settings.py.

    --json keeps Zappa from checking PyPI for a newer version (cli.py, handle: check_for_update).
    """
    workdir.mkdir(parents=True)
    shutil.copy(SETTINGS_JSON, workdir / "zappa_settings.json")
    (workdir / "out").mkdir()  # Zappa does not create the output folder
    output = str(workdir / "out" / "zappa_settings.py")
    return subprocess.Popen(
        [sys.executable, "-m", "zappa.cli", "save-python-settings-file", stage, "--json", "-o", output],
        cwd=workdir,
        env=offline_environ(workdir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture(scope="session")
def generated_settings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """stage -> the zappa_settings.py Zappa generates for it, as packaged into the Lambda zip."""
    root = tmp_path_factory.mktemp("zappa-settings")
    runs = {stage: start_zappa_cli(stage, root / stage) for stage in settings_stages()}
    for stage, run in runs.items():
        output, _ = run.communicate(timeout=120)
        assert run.returncode == 0, f"zappa save-python-settings-file {stage} failed:\n{output}"
    return {stage: root / stage / "out" / "zappa_settings.py" for stage in runs}


@pytest.fixture
def lambda_context() -> Callable[..., LambdaContext]:
    return LambdaContext


@pytest.fixture
def start_lambda(
    generated_settings: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., RunningLambda]]:
    """Cold-start Zappa's LambdaHandler on a stage's generated settings.

    Zappa copies ENVIRONMENT_VARIABLES into os.environ at the cold start (handler.py, __init__),
    after anything a test put there, so test overrides go into that mapping, not into os.environ.
    """
    from zappa.handler import LambdaHandler

    saved_environ = os.environ.copy()
    root_level = logging.getLogger().level
    for name in COLD_START_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    for name in list(os.environ):
        if name.startswith(("AWS_", "TRADEAPP_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.syspath_prepend(str(PROJECT_ROOT))

    def start(stage: str = "dev", overrides: Mapping[str, str] | None = None) -> RunningLambda:
        task_root = tmp_path / "task"  # like /var/task: zappa_settings.py sits beside the handler
        task_root.mkdir()
        shutil.copy(generated_settings[stage], task_root / "zappa_settings.py")
        monkeypatch.syspath_prepend(str(task_root))
        settings = importlib.import_module("zappa_settings")
        assert Path(settings.__file__).parent == task_root
        monkeypatch.setattr(
            settings, "ENVIRONMENT_VARIABLES", {**settings.ENVIRONMENT_VARIABLES, **(overrides or {})}
        )
        monkeypatch.setattr(LambdaHandler, "_LambdaHandler__instance", None)
        handler = LambdaHandler("zappa_settings")
        assert handler.settings is settings
        return RunningLambda(handler, settings)

    yield start

    for name in COLD_START_MODULES:
        sys.modules.pop(name, None)
    os.environ.clear()
    os.environ.update(saved_environ)
    logging.getLogger().setLevel(root_level)


@pytest.fixture
def local_overrides(tmp_path: Path) -> dict[str, str]:
    """Embedded adapters instead of DynamoDB, Cognito and SSM, so a cold start needs no AWS."""
    return {
        "TRADEAPP_BACKEND": "sqlite",
        "TRADEAPP_AUTH": "local",
        "TRADEAPP_SECRETS": "file",
        "TRADEAPP_DATA_DIR": str(tmp_path / "data"),
    }


@pytest.fixture
def load_event() -> Callable[[str], dict[str, Any]]:
    def load(name: str) -> dict[str, Any]:
        return json.loads((EVENTS_DIR / f"{name}.json").read_text())

    return load


# The stats tasks (tasks/stats.py) against a container built from test settings.


def stage_stream_arn(stage: str = "dev") -> str:
    """The Trades stream ARN a stage's zappa_settings.json maps to tasks.stats.update_stats."""
    (event,) = [e for e in settings_stages()[stage]["events"] if "event_source" in e]
    return str(event["event_source"]["arn"])


def scheduled_event(stage: str = "dev") -> dict[str, Any]:
    """The CloudWatch Events payload of the stage's rebuild-all schedule, under Zappa's own rule name."""
    from zappa.core import Zappa

    (schedule,) = [e for e in settings_stages()[stage]["events"] if "expression" in e]
    zappa = Zappa(load_credentials=False, aws_region="us-east-1")
    rule = zappa.get_scheduled_event_name(schedule, schedule["function"], f"tradeapp-{stage}")
    return {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": "2026-03-10T12:00:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:{ACCOUNT_ID}:rule/{rule}"],
        "detail": {},
    }


@dataclass
class Continuations:
    """Stands in for Container.continuation (a factory of the async self-invoke): records payloads."""

    payloads: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self) -> Callable[[Any, dict[str, Any]], None]:
        return self.invoke

    def invoke(self, context: Any, payload: dict[str, Any]) -> None:
        # Lambda's Invoke carries JSON: a payload that does not survive it would fail there.
        self.payloads.append(json.loads(json.dumps(payload)))


@pytest.fixture
def zappa_lambda(
    start_lambda: Callable[..., RunningLambda], local_overrides: dict[str, str]
) -> RunningLambda:
    """A warm dev-stage container on embedded adapters (the stats tasks get their own, below)."""
    return start_lambda("dev", local_overrides)


@pytest.fixture
def use_container(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., Any]:
    """Point tasks.stats' per-container cache at a container built from test settings (undone after).

    The embedded change feed's listener is detached, so stats change only through the task under
    test; the continuation is a `Continuations` recorder.
    """
    import tasks.stats
    from tradeapp.adapters.changefeed import ChangeFeed
    from tradeapp.bootstrap import build
    from tradeapp.config import load

    def use(backend: str = "memory", **settings: Any) -> Any:
        base = {"BACKEND": backend, "AUTH": "local", "SECRETS": "file", "DATA_DIR": str(tmp_path / "stats")}
        app = build(load({**base, **settings}, environ={}))
        if isinstance(app.trades.repo, ChangeFeed):
            app.trades.repo.listener = None
        app.continuation = Continuations()
        monkeypatch.setattr(tasks.stats, "_container", app)
        return app

    return use


@pytest.fixture
def count_rebuilds(monkeypatch: pytest.MonkeyPatch) -> Callable[[Any], list[str]]:
    """Spy on a container's StatsService.rebuild: the returned list grows by a user id per call."""

    def spy(app: Any) -> list[str]:
        calls: list[str] = []
        real = app.stats.rebuild

        def rebuild(user_id: str) -> Any:
            calls.append(user_id)
            return real(user_id)

        monkeypatch.setattr(app.stats, "rebuild", rebuild)
        return calls

    return spy


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record as Lambda delivers it: plain JSON (epoch seconds), with eventSourceARN."""

    def encode(value: Any) -> Any:
        if hasattr(value, "timestamp"):
            return int(value.timestamp())
        raise TypeError(f"{type(value).__name__} in a stream record")

    return {**json.loads(json.dumps(record, default=encode)), "eventSourceARN": stream_arn}


@dataclass
class MotoAws:
    """The AWS side of the stats pipeline under moto: Trades (streamed), TradeIdempotency,
    TradeStats and the StatsDLQ queue."""

    dynamodb: Any
    sqs: Any
    streams: Any
    queue_url: str

    @property
    def trades_table(self) -> Any:
        return self.dynamodb.Table("Trades")

    @property
    def stream_arn(self) -> str:
        return str(self.trades_table.latest_stream_arn)

    @property
    def shard_id(self) -> str:
        (shard,) = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        return str(shard["ShardId"])

    def stream_records(self) -> list[dict[str, Any]]:
        """Every record of the Trades stream so far, from TRIM_HORIZON, as Lambda would deliver them."""
        iterator = self.streams.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=self.shard_id, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records: list[dict[str, Any]] = []
        while True:
            page = self.streams.get_records(ShardIterator=iterator, Limit=1000)
            if not page["Records"]:
                return [lambda_record(r, self.stream_arn) for r in records]
            records.extend(page["Records"])
            iterator = page["NextShardIterator"]

    def queued(self) -> int:
        """Messages in StatsDLQ, visible or not (received and not yet deleted)."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )


@pytest.fixture
def moto_aws(aws_credentials: None) -> Iterator[MotoAws]:
    """moto with dummy credentials; clients are built after the mock starts (CONVENTIONS 12)."""
    from moto import mock_aws

    with mock_aws():
        import boto3

        from tradeapp.adapters.dynamodb import create_tables

        dynamodb = boto3.resource("dynamodb", region_name="us-east-1")
        create_tables(dynamodb, "Trades", "TradeIdempotency", "TradeStats")
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue_url = sqs.create_queue(QueueName="StatsDLQ")["QueueUrl"]
        yield MotoAws(dynamodb, sqs, boto3.client("dynamodbstreams", region_name="us-east-1"), queue_url)


@pytest.fixture
def dynamodb_container(moto_aws: MotoAws, use_container: Callable[..., Any]) -> Any:
    """tasks.stats on the production adapters (DynamoDB, SQS, DynamoDB Streams), played by moto."""
    return use_container("dynamodb", STATS_DLQ_URL=moto_aws.queue_url)


# Trades and stats, as the stats tests write and compare them.

ENTRY_AT = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def trade_body(
    symbol: str = "AAPL", side: str = "long", quantity: str = "100", price: str = "187.25", **changes: Any
) -> dict[str, Any]:
    """TradeService.create's input for one trade."""
    return {
        "symbol": symbol,
        "side": side,
        "quantity": Decimal(quantity),
        "entry_price": Decimal(price),
        "entry_at": ENTRY_AT,
        "fees": Decimal("1.00"),
        **changes,
    }


def close_body(quantity: str, price: str, hours: int = 1, fees: str = "0.50") -> dict[str, Any]:
    return {
        "quantity": Decimal(quantity),
        "price": Decimal(price),
        "closed_at": ENTRY_AT + timedelta(hours=hours),
        "fees": Decimal(fees),
    }


def fresh_stats(app: Any, user_id: str) -> Any:
    """What StatsService.rebuild computes now from the container's trades, into a scratch store."""
    from tradeapp.adapters.memory import MemoryStatsRepository
    from tradeapp.services.stats import StatsService

    return StatsService(app.stats.trades, MemoryStatsRepository()).rebuild(user_id)


def stats_view(record: Any) -> tuple[Any, ...] | None:
    """A StatsRecord without computedAt, the one part two rebuilds of the same trades differ in."""
    if record is None:
        return None
    return (record.user_id, record.revision, record.trade_count, record.stats)


def stored_stats(app: Any, user_id: str) -> Any:
    return app.stats.stats.get(user_id)
