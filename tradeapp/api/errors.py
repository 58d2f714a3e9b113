"""One place that turns domain errors into HTTP responses in flask-smorest's error shape."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Flask

from ..domain import errors as e

# Most specific first: the first match wins.
STATUS: list[tuple[type[e.TradeAppError], int]] = [
    (e.NotFoundError, 404),
    (e.InvalidTradeError, 422),
    (e.IdempotencyMismatchError, 422),
    (e.PreconditionFailedError, 412),
    (e.PreconditionRequiredError, 428),
    (e.ConflictError, 409),
    (e.InvalidCursorError, 400),
    (e.AuthError, 401),
    (e.StoreUnavailableError, 503),
]


def error_body(code: int, message: str, errors: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "status": HTTPStatus(code).phrase, "message": message}
    if errors is not None:
        body["errors"] = errors
    return body


def handle(error: e.TradeAppError) -> tuple[dict[str, Any], int, dict[str, str]]:
    # An adapter's refusal may carry its own status (the local image URLs mirror S3's answers).
    code = getattr(error, "status", None) or next(
        (status for kind, status in STATUS if isinstance(error, kind)), 500
    )
    headers: dict[str, str] = {}
    errors: Any = None
    if isinstance(error, e.InvalidTradeError):
        errors = {"json": error.errors}
    elif isinstance(error, e.IdempotencyMismatchError):
        errors = {"headers": {"Idempotency-Key": [error.message]}}
    elif isinstance(error, e.InvalidCursorError):
        errors = {"query": {"cursor": [error.message]}}
    elif isinstance(error, e.AuthError):
        headers["WWW-Authenticate"] = 'Bearer realm="tradeapp", error="invalid_token"'
    elif isinstance(error, e.StoreUnavailableError):
        headers["Retry-After"] = "1"
    message = error.message if code != 500 else "internal error"
    return error_body(code, message, errors), code, headers


def init_app(app: Flask) -> None:
    app.register_error_handler(e.TradeAppError, handle)
