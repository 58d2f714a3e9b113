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
