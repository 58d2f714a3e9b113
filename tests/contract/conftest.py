"""Contract fixtures: every TradeRepository adapter behind one parametrised `repo` fixture."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import botocore.session
import pytest
from moto import mock_aws

from tradeapp.adapters.dynamodb import DynamoDBStatsRepository, DynamoDBTradeRepository, create_tables
from tradeapp.adapters.memory import MemoryStatsRepository, MemoryTradeRepository
from tradeapp.adapters.ports import StatsRepository, TradeRepository
from tradeapp.adapters.sqlite import Database, SQLiteStatsRepository, SQLiteTradeRepository


@pytest.fixture(scope="session")
def botocore_session() -> Any:
    """One botocore session for the run, to load the service models (~0.3 s) only once.

    Created after moto is imported, so it carries moto's hook; each test still builds its
    own resource from it, after its own mock has started.
    """
    return botocore.session.get_session()


@pytest.fixture
def dynamodb(aws_credentials: None, botocore_session: Any) -> Iterator[Any]:
    """A moto DynamoDB with the tables; the resource is built only once the mock runs."""
    with mock_aws():
        session = boto3.session.Session(botocore_session=botocore_session, region_name="us-east-1")
        resource = session.resource("dynamodb")
        create_tables(resource, "Trades", "TradeIdempotency")
        yield resource


def _build(kind: str, request: pytest.FixtureRequest) -> tuple[TradeRepository, StatsRepository]:
    """A trade repository and the stats repository of the same store."""
    if kind == "memory":
        return MemoryTradeRepository(), MemoryStatsRepository()
    if kind == "sqlite":
        db = Database(request.getfixturevalue("tmp_path") / "tradeapp.sqlite3")
        return SQLiteTradeRepository(db), SQLiteStatsRepository(db)
    resource = request.getfixturevalue("dynamodb")  # starts moto only for this adapter
    stats = resource.Table("TradeStats")
    trades = DynamoDBTradeRepository(resource.Table("Trades"), resource.Table("TradeIdempotency"), stats)
    return trades, DynamoDBStatsRepository(stats)


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
def stores(request: pytest.FixtureRequest) -> tuple[TradeRepository, StatsRepository]:
    """Fresh, empty stores of each kind; every contract test runs once per adapter."""
    return _build(request.param, request)


@pytest.fixture
def repo(stores: tuple[TradeRepository, StatsRepository]) -> TradeRepository:
    return stores[0]


@pytest.fixture
def stats_repo(stores: tuple[TradeRepository, StatsRepository]) -> StatsRepository:
    return stores[1]


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
def threaded_repo(request: pytest.FixtureRequest) -> TradeRepository:
    """Each adapter, for tests that hit one store from many threads at once.

    moto is not thread-safe, so on DynamoDB each mocked request runs alone: DynamoDB's own
    per-request atomicity, no more (see `moto_one_request_at_a_time` in tests/conftest.py).
    """
    if request.param == "dynamodb":
        request.getfixturevalue("moto_one_request_at_a_time")
    return _build(request.param, request)[0]
