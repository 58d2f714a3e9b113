"""Settings: embedded defaults, then TRADEAPP_* environment overrides, then a test mapping."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

DEFAULTS: dict[str, Any] = {
    # "sqlite" (embedded default), "dynamodb" (production) or "memory" (tests).
    "BACKEND": "sqlite",
    "DATA_DIR": "./var",
    "AWS_REGION": "us-east-1",
    "DYNAMODB_ENDPOINT": None,
    "TRADES_TABLE": "Trades",
    "IDEMPOTENCY_TABLE": "TradeIdempotency",
    "STATS_TABLE": "TradeStats",
    "STATS_DLQ_URL": None,
    # Screenshots: an S3 bucket in production; without one, files under DATA_DIR/images.
    "IMAGES_BUCKET": None,
    "MAX_IMAGE_BYTES": 5 * 1024 * 1024,
    # "local": tokens from the embedded issuer; "cognito": a Cognito user pool.
    "AUTH": "local",
    "COGNITO_USER_POOL_ID": None,
    "COGNITO_APP_CLIENT_ID": None,
    "LOCAL_ISSUER": "http://127.0.0.1:5000/local-issuer",
    "LOCAL_CLIENT_ID": "tradeapp-local",
    # Where secrets come from: "file" (the data dir) or "ssm" (Parameter Store).
    "SECRETS": "file",
    "SSM_PREFIX": "/tradeapp/dev",
    "CORS_ORIGINS": "http://localhost:3000,http://127.0.0.1:3000,http://localhost:5173",
    "MAX_CONTENT_LENGTH": 1024 * 1024,
}

# Settings given as numbers in the environment.
INTEGERS = {"MAX_CONTENT_LENGTH", "MAX_IMAGE_BYTES"}


def load(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    environ = os.environ if environ is None else environ
    settings = dict(DEFAULTS)
    for name in DEFAULTS:
        value = environ.get(f"TRADEAPP_{name}")
        if value is not None:
            settings[name] = int(value) if name in INTEGERS else value
    settings.update(overrides or {})
    if settings["BACKEND"] not in ("sqlite", "dynamodb", "memory"):
        raise ValueError(f"TRADEAPP_BACKEND must be sqlite, dynamodb or memory, not {settings['BACKEND']!r}")
    if settings["AUTH"] not in ("local", "cognito"):
        raise ValueError(f"TRADEAPP_AUTH must be local or cognito, not {settings['AUTH']!r}")
    if settings["AUTH"] == "cognito" and not (
        settings["COGNITO_USER_POOL_ID"] and settings["COGNITO_APP_CLIENT_ID"]
    ):
        raise ValueError("TRADEAPP_AUTH=cognito needs TRADEAPP_COGNITO_USER_POOL_ID and _APP_CLIENT_ID")
    return settings
