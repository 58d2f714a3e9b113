"""Fixtures for every test kind."""

from __future__ import annotations

import logging
from collections.abc import Iterator

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
