"""The composition root: picks adapters from settings and wires the services.

create_app and every tasks/ entry point call build(); nothing else constructs adapters.
Heavy imports (boto3) happen only for the backend that needs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .adapters.localissuer import LocalIssuer, LocalJWKClient
from .adapters.ports import TradeRepository
from .services.auth import TokenVerifier
from .services.cursors import CursorCodec, SigningKeys
from .services.trades import TradeService


@dataclass
class Container:
    settings: dict[str, Any]
    trades: TradeService
    verifier: TokenVerifier
    issuer: LocalIssuer | None


def aws_config() -> Any:
    """One retry policy for every boto3 client: standard mode, bounded attempts and timeouts."""
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "max_attempts": 4},
        connect_timeout=2,
        read_timeout=5,
        tcp_keepalive=True,
    )


def aws_session(settings: dict[str, Any]) -> Any:
    import boto3

    return boto3.session.Session(region_name=settings["AWS_REGION"])


def build(settings: dict[str, Any]) -> Container:
    data_dir = Path(settings["DATA_DIR"])
    session = None
    repo: TradeRepository
    if settings["BACKEND"] == "dynamodb":
        from .adapters.dynamodb import DynamoDBTradeRepository

        session = aws_session(settings)
        dynamodb = session.resource(
            "dynamodb", config=aws_config(), endpoint_url=settings["DYNAMODB_ENDPOINT"]
        )
        repo = DynamoDBTradeRepository(
            dynamodb.Table(settings["TRADES_TABLE"]), dynamodb.Table(settings["IDEMPOTENCY_TABLE"])
        )
    elif settings["BACKEND"] == "memory":
        from .adapters.memory import MemoryTradeRepository

        repo = MemoryTradeRepository()
    else:
        from .adapters.sqlite import Database, SQLiteTradeRepository

        data_dir.mkdir(parents=True, exist_ok=True)
        repo = SQLiteTradeRepository(Database(data_dir / "tradeapp.sqlite3"))

    issuer = None
    if settings["AUTH"] == "cognito":
        from jwt import PyJWKClient

        region = settings["COGNITO_USER_POOL_ID"].split("_")[0]
        pool_url = f"https://cognito-idp.{region}.amazonaws.com/{settings['COGNITO_USER_POOL_ID']}"
        verifier = TokenVerifier(
            PyJWKClient(pool_url + "/.well-known/jwks.json", lifespan=3600, timeout=3),
            issuer=pool_url,
            client_id=settings["COGNITO_APP_CLIENT_ID"],
        )
    else:
        issuer = LocalIssuer(data_dir, settings["LOCAL_ISSUER"], settings["LOCAL_CLIENT_ID"])
        verifier = TokenVerifier(LocalJWKClient(issuer), issuer.issuer, issuer.client_id)

    keys: SigningKeys
    if settings["SECRETS"] == "ssm":
        from .adapters.secrets import ssm_signing_keys

        session = session or aws_session(settings)
        ssm = session.client("ssm", config=aws_config())
        keys = ssm_signing_keys(ssm, settings["SSM_PREFIX"].rstrip("/") + "/cursor-keys")
    else:
        from .adapters.secrets import file_signing_keys

        keys = file_signing_keys(data_dir)

    return Container(
        settings=settings,
        trades=TradeService(repo, CursorCodec(keys)),
        verifier=verifier,
        issuer=issuer,
    )
