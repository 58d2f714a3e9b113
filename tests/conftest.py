"""Fixtures for every test kind."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def logs_reach_caplog() -> Iterator[None]:
    """tradeapp's JSON handler stops propagation (Lambda's root handler would print each
    line twice); let records reach pytest's caplog handler on the root logger again."""
    logger = logging.getLogger("tradeapp")
    before = logger.propagate
    logger.propagate = True
    yield
    logger.propagate = before


@pytest.fixture
def objects_past_the_upload_window() -> Iterator[None]:
    """Cleanup spares objects younger than the upload window, and objects a test makes are
    seconds old: for tests of what cleanup finds, count every object (the window itself is
    tested with a fake clock in tests/service). Its own MonkeyPatch, so that a test's
    monkeypatch.undo() leaves it in place."""
    from datetime import timedelta

    import tradeapp.services.images

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tradeapp.services.images, "FRESH", timedelta(seconds=-1))
        yield


@pytest.fixture
def moto_one_request_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serialize every request moto answers, so that each one is atomic, as DynamoDB's are.

    Why: DynamoDB applies each single request atomically. A PutItem, UpdateItem or DeleteItem
    checks its ConditionExpression and writes with no other write to that item in between,
    and a TransactWriteItems is all or nothing, isolated from every other write. moto is not
    thread-safe: it checks a condition, then writes, with no lock, and a cancelled
    transaction restores a copy of the tables taken before it began, erasing what other
    threads wrote meanwhile. Racing threads through bare moto would test moto, not ours.

    How: every mocked AWS call (botocore's before-send hook and the `responses` path alike)
    goes through `botocore_stubber.process_request`; one lock around it makes each request
    run alone, start to finish. Threads still interleave freely *between* requests, and
    that is where an adapter's races live: it reads, decides, then writes on a condition.
    A missing or wrong condition lets a stale write through here as it would on DynamoDB.

    What it does not model: DynamoDB runs requests on different items in parallel, and two
    transactions (or a transaction and a write) that touch one item at the same moment make
    one of them fail with TransactionConflict, which the adapter reports as "store busy"
    (503). Here requests never overlap, so no TransactionConflict ever happens: those
    answers are never exercised (they are no lost write either way). Nor does it model
    latency, throttling (tests/api/test_fault_injection.py), or a write applied whose
    answer was lost before botocore retried it.
    """
    from moto.core.models import botocore_stubber

    lock = threading.Lock()
    process = botocore_stubber.process_request

    def one_at_a_time(request: Any) -> Any:
        with lock:
            return process(request)

    monkeypatch.setattr(botocore_stubber, "process_request", one_at_a_time)


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AWS setting of the machine's (profile, tokens, retry mode...), dummy credentials and a
    region instead, and no instance metadata: nothing can reach a real account even if a mock
    leaks. Endpoints without the account id, which moto's stream endpoints need."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
