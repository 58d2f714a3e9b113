"""DynamoDB adapters: the production store.

`Trades` has PK userId, SK tradeId and a local secondary index `byEntry` on entryKey, so
a user's trades list newest first with strongly consistent reads. Idempotency records
live in their own table and are written in one transaction with the trade they created.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from ..domain.errors import (
    ConflictError,
    InvalidTradeError,
    PreconditionFailedError,
    StoreUnavailableError,
    TradeNotFoundError,
)
from ..domain.trade import Trade
from .items import FOLD_ATTRIBUTES, entry_key, format_time, from_fold_item, from_item, parse_time, to_item
from .ports import IdempotencyKeyTakenError, IdempotencyRecord, Position, StatsRecord, TradeQuery

ENTRY_INDEX = "byEntry"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# What DynamoDB answers when it sheds load; botocore has already retried these.
BUSY_CODES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "LimitExceededException",
}


def translate(error: ClientError) -> Exception:
    """A botocore error in the port's words (the caller raises it `from` the original)."""
    code = error.response.get("Error", {}).get("Code", "")
    if code in BUSY_CODES:
        return StoreUnavailableError()
    if code == "ValidationException" and "size" in str(error).lower():
        return InvalidTradeError({"trade": ["the trade is too large to store"]})
    if code == "TransactionCanceledException":
        reasons = {r.get("Code") for r in error.response.get("CancellationReasons", [])}
        if reasons & {"ThrottlingError", "ProvisionedThroughputExceeded", "TransactionConflict"}:
            return StoreUnavailableError()
    return error


class DynamoDBTradeRepository:
    def __init__(self, trades: Any, idempotency: Any, stats: Any) -> None:
        """`trades`, `idempotency` and `stats` are boto3 Table resources.

        Every trade write is one transaction with an increment of the user's
        `tradesRevision` on their TradeStats item: the revision stats are computed from.
        """
        self.trades = trades
        self.idempotency = idempotency
        self.stats = stats
        # The resource's own client: boto3 has hooked it to (de)serialize plain Python values,
        # so items and expression values are passed as dicts of str/Decimal/int, never {"S": ...}.
        self.client = trades.meta.client

    def _bump(self, user_id: str) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self.stats.name,
                "Key": {"userId": user_id},
                "UpdateExpression": "ADD tradesRevision :one",
                "ExpressionAttributeValues": {":one": 1},
            }
        }

    def _transact(self, items: list[dict[str, Any]]) -> list[str | None]:
        """Run the transaction; on cancellation, the reason code of each item, else []."""
        try:
            self.client.transact_write_items(TransactItems=items)
            return []
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise translate(error) from error
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" not in reasons:
                raise translate(error) from error
            return reasons

    def add(self, trade: Trade, idempotency: IdempotencyRecord | None = None) -> None:
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.trades.name,
                    "Item": to_item(trade),
                    "ConditionExpression": "attribute_not_exists(tradeId)",
                }
            },
            self._bump(trade.user_id),
        ]
        if idempotency is not None:
            items.append(
                {
                    "Put": {
                        "TableName": self.idempotency.name,
                        "Item": _key_item(idempotency),
                        "ConditionExpression": (
                            "attribute_not_exists(idempotencyKey) OR expiresAtMicros <= :now"
                        ),
                        "ExpressionAttributeValues": {":now": _micros(trade.created_at)},
                    }
                }
            )
        reasons = self._transact(items)
        if len(reasons) > 2 and reasons[2] == "ConditionalCheckFailed":
            assert idempotency is not None
            held = self.find_idempotency(idempotency.user_id, idempotency.key, trade.created_at)
            if held is not None:
                raise IdempotencyKeyTakenError(held)
            raise StoreUnavailableError()  # it expired in between: a retry will succeed
        if reasons:
            raise ConflictError(f"trade {trade.trade_id} already exists")

    def get(self, user_id: str, trade_id: str) -> Trade:
        try:
            response = self.trades.get_item(Key={"userId": user_id, "tradeId": trade_id}, ConsistentRead=True)
        except ClientError as error:
            raise translate(error) from error
        if "Item" not in response:
            raise TradeNotFoundError()
        return from_item(response["Item"])

    def replace(self, trade: Trade, expected_version: int | None) -> None:
        write = {"Put": {"TableName": self.trades.name, "Item": to_item(trade)}}
        self._conditional(trade.user_id, trade.trade_id, expected_version, write)

    def delete(self, user_id: str, trade_id: str, expected_version: int | None) -> None:
        write = {"Delete": {"TableName": self.trades.name, "Key": {"userId": user_id, "tradeId": trade_id}}}
        self._conditional(user_id, trade_id, expected_version, write)

    def _conditional(
        self, user_id: str, trade_id: str, expected_version: int | None, write: dict[str, Any]
    ) -> None:
        (operation,) = write.values()
        operation["ConditionExpression"] = "attribute_exists(tradeId)"
        if expected_version is not None:
            operation["ConditionExpression"] += " AND version = :expected"
            operation["ExpressionAttributeValues"] = {":expected": expected_version}
        if self._transact([write, self._bump(user_id)]):
            self.get(user_id, trade_id)  # raises TradeNotFoundError when it is gone
            raise PreconditionFailedError()

    def revision(self, user_id: str) -> int:
        try:
            response = self.stats.get_item(
                Key={"userId": user_id}, ConsistentRead=True, ProjectionExpression="tradesRevision"
            )
        except ClientError as error:
            raise translate(error) from error
        return int(response.get("Item", {}).get("tradesRevision", 0))

    def trades_of(self, user_id: str) -> Iterator[Trade]:
        return map(from_item, self.items_of(user_id))

    def trades_for_stats(self, user_id: str) -> Iterator[Trade]:
        # Names, not the attributes themselves: some (e.g. "side") may be reserved words.
        names = {f"#a{n}": name for n, name in enumerate(FOLD_ATTRIBUTES)}
        projection = {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}
        return map(from_fold_item, self.items_of(user_id, projection))

    def items_of(self, user_id: str, projection: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("userId").eq(user_id),
            "ConsistentRead": True,
            **(projection or {}),
        }
        while True:
            try:
                page = self.trades.query(**kwargs)
            except ClientError as error:
                raise translate(error) from error
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def users(self, after: str | None, limit: int) -> list[str]:
        """Users in TradeStats' scan order (every trade write creates the user's item)."""
        kwargs: dict[str, Any] = {
            "ProjectionExpression": "userId",
            "FilterExpression": Attr("tradesRevision").exists(),  # users who wrote a trade
            "Limit": limit,
        }
        if after is not None:
            kwargs["ExclusiveStartKey"] = {"userId": after}
        found: list[str] = []
        while len(found) < limit:
            try:
                page = self.stats.scan(**kwargs)
            except ClientError as error:
                raise translate(error) from error
            found.extend(item["userId"] for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            kwargs["Limit"] = limit - len(found)
        return found

    def list(self, user_id: str, query: TradeQuery, after: Position | None, limit: int) -> list[Trade]:
        upper = []
        if after is not None:
            upper.append(entry_key(after.entry_at, after.trade_id))
        if query.to is not None:
            upper.append(entry_key(query.to, "") + "\uffff")
        lower = entry_key(query.from_, "") if query.from_ is not None else None
        if lower is not None and upper and lower > min(upper):
            return []  # DynamoDB rejects a BETWEEN whose bounds are reversed
        condition = Key("userId").eq(user_id)
        if lower is not None and upper:
            condition &= Key("entryKey").between(lower, min(upper))
        elif lower is not None:
            condition &= Key("entryKey").gte(lower)
        elif upper:
            condition &= Key("entryKey").lte(min(upper))
        filters = []
        if query.status is not None:
            filters.append(Attr("status").eq(query.status))
        if query.symbol is not None:
            filters.append(Attr("symbol").eq(query.symbol))
        if query.tag is not None:
            filters.append(Attr("tags").contains(query.tag))
        kwargs: dict[str, Any] = {
            "IndexName": ENTRY_INDEX,
            "KeyConditionExpression": condition,
            "ScanIndexForward": False,
            "ConsistentRead": True,
            # One extra for the `after` item itself, which the inclusive bound returns.
            "Limit": limit + 1,
        }
        if filters:
            expression = filters[0]
            for more in filters[1:]:
                expression &= more
            kwargs["FilterExpression"] = expression
        skip = upper[0] if after is not None else None
        found: list[Trade] = []
        while True:
            try:
                page = self.trades.query(**kwargs)
            except ClientError as error:
                raise translate(error) from error
            for item in page.get("Items", []):
                if item.get("entryKey") == skip:
                    continue
                found.append(from_item(item))
                if len(found) == limit:
                    return found
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def find_idempotency(self, user_id: str, key: str, now: datetime) -> IdempotencyRecord | None:
        try:
            response = self.idempotency.get_item(
                Key={"userId": user_id, "idempotencyKey": key}, ConsistentRead=True
            )
        except ClientError as error:
            raise translate(error) from error
        item = response.get("Item")
        if item is None or int(item["expiresAtMicros"]) <= _micros(now):
            return None  # TTL deletes lazily, so an expired record may still be there
        return IdempotencyRecord(
            user_id=user_id,
            key=key,
            request_hash=item["requestHash"],
            trade_id=item["tradeId"],
            expires_at=EPOCH + timedelta(microseconds=int(item["expiresAtMicros"])),
        )


def _micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def _key_item(record: IdempotencyRecord) -> dict[str, Any]:
    expires = _micros(record.expires_at)
    return {
        "userId": record.user_id,
        "idempotencyKey": record.key,
        "requestHash": record.request_hash,
        "tradeId": record.trade_id,
        # Expiry is decided on the exact instant; the TTL attribute holds whole seconds,
        # rounded up so that TTL never deletes a record that is still live.
        "expiresAtMicros": expires,
        "expiresAt": -(-expires // 1_000_000),
    }


class DynamoDBStatsRepository:
    """Stats live on the user's TradeStats item beside `tradesRevision`, which trade writes bump.

    The fold's document is stored gzip-compressed: an equity curve of years of days and
    hundreds of symbols would otherwise approach DynamoDB's 400 KB item limit.
    """

    def __init__(self, stats: Any) -> None:
        self.stats = stats

    def get(self, user_id: str) -> StatsRecord | None:
        try:
            response = self.stats.get_item(Key={"userId": user_id}, ConsistentRead=True)
        except ClientError as error:
            raise translate(error) from error
        item = response.get("Item")
        if item is None or "revision" not in item:
            return None
        return StatsRecord(
            user_id=user_id,
            revision=int(item["revision"]),
            computed_at=parse_time(item["computedAt"]),
            trade_count=int(item["tradeCount"]),
            stats=json.loads(gzip.decompress(bytes(item["stats"]))),
        )

    def put(self, record: StatsRecord) -> bool:
        document = json.dumps(record.stats, separators=(",", ":")).encode()
        try:
            self.stats.update_item(
                Key={"userId": record.user_id},
                UpdateExpression="SET revision = :r, computedAt = :c, tradeCount = :n, stats = :s",
                ConditionExpression="attribute_not_exists(revision) OR revision <= :r",
                ExpressionAttributeValues={
                    ":r": record.revision,
                    ":c": format_time(record.computed_at),
                    ":n": record.trade_count,
                    ":s": gzip.compress(document, mtime=0),
                },
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise translate(error) from error
        return True


class DynamoDBRevocationStore:
    """`tokensValidAfter` on the user's TradeStats item: one consistent GetItem per request."""

    def __init__(self, stats: Any) -> None:
        self.stats = stats

    def valid_after(self, user_id: str) -> int | None:
        try:
            response = self.stats.get_item(
                Key={"userId": user_id}, ConsistentRead=True, ProjectionExpression="tokensValidAfter"
            )
        except ClientError as error:
            raise translate(error) from error
        found = response.get("Item", {}).get("tokensValidAfter")
        return None if found is None else int(found)

    def revoke(self, user_id: str, at: int) -> None:
        try:
            self.stats.update_item(
                Key={"userId": user_id},
                UpdateExpression="SET tokensValidAfter = :at",
                ConditionExpression="attribute_not_exists(tokensValidAfter) OR tokensValidAfter < :at",
                ExpressionAttributeValues={":at": at},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise translate(error) from error  # else a later revocation already stands


def create_tables(resource: Any, trades: str, idempotency: str, stats: str = "TradeStats") -> None:
    """Create the tables as infra/ declares them (for tests and local experiments)."""
    resource.create_table(
        TableName=trades,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[
            {"AttributeName": "userId", "KeyType": "HASH"},
            {"AttributeName": "tradeId", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "userId", "AttributeType": "S"},
            {"AttributeName": "tradeId", "AttributeType": "S"},
            {"AttributeName": "entryKey", "AttributeType": "S"},
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": ENTRY_INDEX,
                "KeySchema": [
                    {"AttributeName": "userId", "KeyType": "HASH"},
                    {"AttributeName": "entryKey", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    resource.create_table(
        TableName=idempotency,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[
            {"AttributeName": "userId", "KeyType": "HASH"},
            {"AttributeName": "idempotencyKey", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "userId", "AttributeType": "S"},
            {"AttributeName": "idempotencyKey", "AttributeType": "S"},
        ],
    )
    resource.create_table(
        TableName=stats,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "userId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "userId", "AttributeType": "S"}],
    )
