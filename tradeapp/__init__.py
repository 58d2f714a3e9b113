"""tradeapp: the backend of a trading journal. create_app is the one application factory."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from flask import Flask, g, request

from . import config as settings_module
from . import logs, metrics

access_log = logging.getLogger("tradeapp.access")
CORRELATION_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")

API_SPEC = {
    "API_TITLE": "tradeapp",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    "OPENAPI_SWAGGER_UI_URL": "/v1/docs/assets/",
    "OPENAPI_SWAGGER_UI_CONFIG": {"persistAuthorization": True, "displayRequestDuration": True},
    "API_SPEC_OPTIONS": {
        "info": {
            "description": "A trading journal: trades with partial closes, exact to the cent. "
            "Click Authorize and paste an access token (locally: `flask --app wsgi token USER`)."
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
        },
    },
}
EXPOSED_HEADERS = ["ETag", "Location", "X-Request-Id", "X-Correlation-Id", "Retry-After"]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    from flask_cors import CORS

    from . import cli
    from .api import errors, images, localimages, meta, session, stats, trades
    from .api.extensions import Api
    from .bootstrap import build

    logs.configure()
    app = Flask(__name__)
    app.json.sort_keys = False  # keep the schemas' field order  # type: ignore[attr-defined]
    settings = settings_module.load(config)
    app.config.update(API_SPEC)
    app.config["MAX_CONTENT_LENGTH"] = settings["MAX_CONTENT_LENGTH"]
    app.config["TRADEAPP"] = settings
    app.extensions["tradeapp"] = build(settings)

    api = Api(app)
    for blueprint in (meta.blp, trades.blp, images.blp, stats.blp, session.blp, localimages.blp):
        api.register_blueprint(blueprint)
    errors.init_app(app)
    origins = [o.strip() for o in settings["CORS_ORIGINS"].split(",") if o.strip()]
    CORS(
        app,
        resources={r"/v1/*": {"origins": origins}},
        expose_headers=EXPOSED_HEADERS,
        allow_headers=["Authorization", "Content-Type", "If-Match", "Idempotency-Key", "X-Correlation-Id"],
        max_age=600,
    )
    app.before_request(_assign_request_id)
    app.after_request(_stamp_response)
    app.teardown_request(_forget_request)
    cli.init_app(app)
    return app


def _assign_request_id() -> None:
    """Request id: API Gateway's when there is one (what AWS logs), else a fresh one.
    Correlation id: the caller's X-Correlation-Id when well-formed, else a fresh one."""
    event = request.environ.get("lambda.event") or {}
    context = request.environ.get("lambda.context")
    request_id = (event.get("requestContext") or {}).get("requestId") or getattr(
        context, "aws_request_id", None
    )
    g.request_id = request_id or uuid.uuid4().hex
    given = request.headers.get("X-Correlation-Id", "")
    g.correlation_id = given if CORRELATION_ID.fullmatch(given) else uuid.uuid4().hex
    g.started = time.perf_counter()
    logs.clear()
    logs.bind(requestId=g.request_id, correlationId=g.correlation_id)


def _stamp_response(response: Any) -> Any:
    response.headers["X-Request-Id"] = g.get("request_id") or uuid.uuid4().hex
    response.headers["X-Correlation-Id"] = g.get("correlation_id") or uuid.uuid4().hex
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Cache-Control", "no-store")
    started = g.get("started")
    latency = round((time.perf_counter() - started) * 1000, 2) if started else 0.0
    route = request.url_rule.rule if request.url_rule else "unmatched"
    # One line per request; never headers or bodies (the Authorization header stays out).
    access_log.info(
        "request",
        extra={
            "method": request.method,
            "route": route,
            "status": response.status_code,
            "latencyMs": latency,
        },
    )
    metrics.record(
        {
            "Requests": (1, "Count"),
            "Errors": (int(response.status_code >= 500), "Count"),
            "ClientErrors": (int(400 <= response.status_code < 500), "Count"),
            "Latency": (latency, "Milliseconds"),
        },
        route=route,
        method=request.method,
    )
    return response


def _forget_request(_: BaseException | None) -> None:
    logs.clear()
