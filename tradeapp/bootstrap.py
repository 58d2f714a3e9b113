"""The composition root: picks adapters from settings and wires the services.

create_app and every tasks/ entry point call build(); nothing else constructs adapters.
Heavy imports (boto3) happen only for the backend that needs them.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .adapters.localissuer import LocalIssuer, LocalJWKClient
from .adapters.ports import (
    DeadLetterQueue,
    ImageStore,
    RevocationStore,
    StatsRepository,
    StreamReader,
    TradeRepository,
)
from .services.audit import TradeAudit
from .services.auth import SessionService, TokenVerifier
from .services.cursors import CursorCodec, SigningKeys
from .services.images import ImageService
from .services.stats import StatsService
from .services.trades import TradeService


@dataclass
class Container:
    settings: dict[str, Any]
    trades: TradeService
    stats: StatsService
    images: ImageService
    verifier: TokenVerifier
    sessions: SessionService
    audit: TradeAudit
    issuer: LocalIssuer | None
    dead_letters: Callable[[], DeadLetterQueue]
    stream: Callable[[], StreamReader]
    continuation: Callable[[], Callable[[Any, dict[str, Any]], None]]


def aws_config() -> Any:
    """One retry policy for every boto3 client: standard mode, bounded attempts and timeouts."""
    from botocore.config import Config

    return Config(
        # total_max_attempts counts the first try; botocore's `max_attempts` counts retries only.
        retries={"mode": "standard", "total_max_attempts": 4},
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
    stats_repo: StatsRepository
    dead_letters: Callable[[], DeadLetterQueue]
    stream: Callable[[], StreamReader]
    feed = None
    if settings["BACKEND"] == "dynamodb":
        from .adapters.dynamodb import (
            DynamoDBRevocationStore,
            DynamoDBStatsRepository,
            DynamoDBTradeRepository,
        )

        session = aws_session(settings)
        dynamodb = session.resource(
            "dynamodb", config=aws_config(), endpoint_url=settings["DYNAMODB_ENDPOINT"]
        )
        stats_table = dynamodb.Table(settings["STATS_TABLE"])
        repo = DynamoDBTradeRepository(
            dynamodb.Table(settings["TRADES_TABLE"]),
            dynamodb.Table(settings["IDEMPOTENCY_TABLE"]),
            stats_table,
        )
        stats_repo = DynamoDBStatsRepository(stats_table)
        revocations: RevocationStore = DynamoDBRevocationStore(stats_table)
        aws = session
        # Built on first use: the API never needs SQS or Streams clients.
        dead_letters = functools.cache(lambda: _sqs_dead_letters(aws, settings))
        stream = functools.cache(lambda: _stream_reader(aws))
    else:
        from .adapters.changefeed import ChangeFeed

        if settings["BACKEND"] == "memory":
            from .adapters.memory import (
                MemoryDeadLetterQueue,
                MemoryRevocationStore,
                MemoryStatsRepository,
                MemoryTradeRepository,
            )

            inner: TradeRepository = MemoryTradeRepository()
            stats_repo = MemoryStatsRepository()
            revocations = MemoryRevocationStore()
            local_dlq: DeadLetterQueue = MemoryDeadLetterQueue()
        else:
            from .adapters.sqlite import (
                Database,
                SQLiteDeadLetterQueue,
                SQLiteRevocationStore,
                SQLiteStatsRepository,
                SQLiteTradeRepository,
            )

            data_dir.mkdir(parents=True, exist_ok=True)
            db = Database(data_dir / "tradeapp.sqlite3")
            inner, stats_repo, local_dlq = (
                SQLiteTradeRepository(db),
                SQLiteStatsRepository(db),
                SQLiteDeadLetterQueue(db),
            )
            revocations = SQLiteRevocationStore(db)
        # The embedded stream: each committed write feeds the same stats code as update_stats.
        feed = ChangeFeed(inner)
        repo = feed
        dead_letters = lambda: local_dlq  # noqa: E731
        stream = lambda: feed  # noqa: E731

    issuer = None
    if settings["AUTH"] == "cognito":
        from jwt import PyJWKClient

        region = settings["COGNITO_USER_POOL_ID"].split("_")[0]
        pool_url = f"https://cognito-idp.{region}.amazonaws.com/{settings['COGNITO_USER_POOL_ID']}"
        verifier = TokenVerifier(
            PyJWKClient(pool_url + "/.well-known/jwks.json", lifespan=3600, timeout=3),
            issuer=pool_url,
            client_id=settings["COGNITO_APP_CLIENT_ID"],
            revocations=revocations,
        )
        sessions = SessionService(revocations, _cognito_sign_out(session or aws_session(settings)))
    else:
        issuer = LocalIssuer(data_dir, settings["LOCAL_ISSUER"], settings["LOCAL_CLIENT_ID"])
        verifier = TokenVerifier(LocalJWKClient(issuer), issuer.issuer, issuer.client_id, revocations)
        sessions = SessionService(revocations)

    keys: SigningKeys
    if settings["SECRETS"] == "ssm":
        from .adapters.secrets import ssm_signing_keys

        session = session or aws_session(settings)
        ssm = session.client("ssm", config=aws_config())
        keys = ssm_signing_keys(ssm, settings["SSM_PREFIX"].rstrip("/") + "/cursor-keys")
    else:
        from .adapters.secrets import file_signing_keys

        keys = file_signing_keys(data_dir)

    stats = StatsService(repo, stats_repo)
    images = ImageService(repo, _image_store(settings, data_dir, keys, session), settings["MAX_IMAGE_BYTES"])
    if feed is not None:
        feed.listener = functools.partial(stats.apply_local_changes, dead_letters=dead_letters())
    return Container(
        settings=settings,
        trades=TradeService(repo, CursorCodec(keys), after_delete=images.delete_objects_of),
        images=images,
        stats=stats,
        verifier=verifier,
        sessions=sessions,
        audit=TradeAudit(repo),
        issuer=issuer,
        dead_letters=dead_letters,
        stream=stream,
        continuation=functools.cache(lambda: _continuation(session or aws_session(settings))),
    )


def _sqs_dead_letters(session: Any, settings: dict[str, Any]) -> DeadLetterQueue:
    from .adapters.aws import SQSDeadLetterQueue

    if not settings["STATS_DLQ_URL"]:
        raise ValueError("TRADEAPP_STATS_DLQ_URL is not set")
    return SQSDeadLetterQueue(session.client("sqs", config=aws_config()), settings["STATS_DLQ_URL"])


def _stream_reader(session: Any) -> StreamReader:
    from .adapters.aws import DynamoDBStreamReader

    return DynamoDBStreamReader(session.client("dynamodbstreams", config=aws_config()))


def _continuation(session: Any) -> Callable[[Any, dict[str, Any]], None]:
    """Start the same function again, asynchronously, with `payload` (rebuild-all's checkpoint)."""
    import json

    client = session.client("lambda", config=aws_config())

    def invoke(context: Any, payload: dict[str, Any]) -> None:
        client.invoke(
            FunctionName=context.invoked_function_arn,
            InvocationType="Event",
            Payload=json.dumps(payload).encode(),
        )

    return invoke


class LazyImageStore:
    """An ImageStore built on first use. Most requests never touch an image, and building
    the S3 client (botocore's models, endpoint rules) costs ~100 ms of a cold start.
    Built once, under a lock: boto3 sessions are not safe to make clients from in parallel."""

    def __init__(self, build: Callable[[], ImageStore]) -> None:
        self._build = build
        self._store: ImageStore | None = None
        self._building = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        if self._store is None:
            with self._building:
                if self._store is None:
                    self._store = self._build()
        return getattr(self._store, name)


def _image_store(settings: dict[str, Any], data_dir: Path, keys: SigningKeys, session: Any) -> ImageStore:
    if settings["IMAGES_BUCKET"]:

        def s3_store() -> ImageStore:
            from botocore.config import Config

            from .adapters.s3 import S3ImageStore

            # Presigned URLs must be SigV4 and regional to be accepted by a bucket outside us-east-1.
            config = aws_config().merge(Config(signature_version="s3v4", s3={"addressing_style": "virtual"}))
            client = (session or aws_session(settings)).client("s3", config=config)
            return S3ImageStore(client, settings["IMAGES_BUCKET"])

        return LazyImageStore(s3_store)  # type: ignore[return-value]
    from .adapters.localfiles import LocalImageStore

    return LocalImageStore(data_dir / "images", keys.keys, keys.current, "/v1/local-images")


def _cognito_sign_out(session: Any) -> Callable[[str], None]:
    """Cognito's GlobalSignOut with the caller's own access token (revokes refresh tokens)."""
    holder: list[Any] = []

    def sign_out(access_token: str) -> None:
        from botocore.exceptions import ClientError

        if not holder:  # the client is built on first use: most requests never sign out
            holder.append(session.client("cognito-idp", config=aws_config()))
        try:
            holder[0].global_sign_out(AccessToken=access_token)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "NotAuthorizedException":
                raise  # NotAuthorized: already signed out; the revocation below still applies

    return sign_out
