"""Structured logs: one JSON object per line (on stderr) for every `tradeapp.*` logger.

The fields passed as `extra=` become keys of the line, so CloudWatch Logs Insights can
filter on them (`filter action = "image.complete"`). Every line also carries the ambient
context bound for the current request or task (requestId, correlationId, userId) and the
function version, so that after a deploy the new version's lines read apart from the old's.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


# Never mutated: bind() sets a new mapping, so a request's fields cannot leak into another's.
_context: ContextVar[Mapping[str, Any]] = ContextVar("tradeapp_log_context", default=MappingProxyType({}))


def bind(**fields: Any) -> None:
    """Add fields to every line logged from here on in this request or task."""
    _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})


@contextmanager
def scoped(**fields: Any) -> Iterator[None]:
    """Fields for the lines logged inside the block only."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def bound(name: str) -> Any:
    return _context.get().get(name)


def clear() -> None:
    _context.set(MappingProxyType({}))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            # Lambda sets this variable: "$LATEST" or the published version number.
            "functionVersion": os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "local"),
            **_context.get(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (test runners swap it). Lambda sends
    stderr to CloudWatch Logs like stdout, and a CLI's stdout stays its answer alone."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure(level: int = logging.INFO) -> None:
    """Idempotent: the app factory and every task entry point may call it."""
    logger = logging.getLogger("tradeapp")
    if any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        return
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False  # Lambda's root handler would print it a second time, unstructured
