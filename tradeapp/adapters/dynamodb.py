"""DynamoDB adapters: the production store.

`Trades` has PK userId, SK tradeId and a local secondary index `byEntry` on entryKey, so
a user's trades list newest first with strongly consistent reads. Idempotency records
live in their own table and are written in one transaction with the trade they created.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from ..domain.errors import (
    ConflictError,
    PreconditionFailedError,
    StoreUnavailableError,
    TradeNotFoundError,
)
from ..domain.trade import Trade
from .items import entry_key, from_item, to_item
from .ports import IdempotencyKeyTakenError, IdempotencyRecord, Position, TradeQuery

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
}


def translate(error: ClientError) -> Exception:
    """A botocore error in the port's words (the caller raises it `from` the original)."""
    code = error.response.get("Error", {}).get("Code", "")
    if code in BUSY_CODES:
        return StoreUnavailableError()
    if code == "TransactionCanceledException":
        reasons = {r.get("Code") for r in error.response.get("CancellationReasons", [])}
        if reasons & {"ThrottlingError", "ProvisionedThroughputExceeded", "TransactionConflict"}:
            return StoreUnavailableError()
    return error


class DynamoDBTradeRepository:
    def __init__(self, trades: Any, idempotency: Any) -> None:
        """`trades` and `idempotency` are boto3 Table resources."""
        self.trades = trades
        self.idempotency = idempotency
        # The resource's own client: boto3 has hooked it to (de)serialize plain Python values,
        # so items and expression values are passed as dicts of str/Decimal/int, never {"S": ...}.
        self.client = trades.meta.client

    def add(self, trade: Trade, idempotency: IdempotencyRecord | None = None) -> None:
        put_trade = {
            "TableName": self.trades.name,
            "Item": to_item(trade),
            "ConditionExpression": "attribute_not_exists(tradeId)",
        }
        try:
            if idempotency is None:
                self.client.put_item(**put_trade)
                return
            self.client.transact_write_items(
                TransactItems=[
                    {"Put": put_trade},
                    {
                        "Put": {
                            "TableName": self.idempotency.name,
                            "Item": _key_item(idempotency),
                            "ConditionExpression": (
                                "attribute_not_exists(idempotencyKey) OR expiresAtMicros <= :now"
                            ),
                            "ExpressionAttributeValues": {":now": _micros(trade.created_at)},
                        }
                    },
                ]
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "ConditionalCheckFailedException":
                raise ConflictError(f"trade {trade.trade_id} already exists") from error
            if code == "TransactionCanceledException":
                reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
                if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                    assert idempotency is not None
                    held = self.find_idempotency(idempotency.user_id, idempotency.key, trade.created_at)
                    if held is not None:
                        raise IdempotencyKeyTakenError(held) from error
                    raise StoreUnavailableError() from error  # expired in between: retry
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    raise ConflictError(f"trade {trade.trade_id} already exists") from error
            raise translate(error) from error

    def get(self, user_id: str, trade_id: str) -> Trade:
        try:
            response = self.trades.get_item(Key={"userId": user_id, "tradeId": trade_id}, ConsistentRead=True)
        except ClientError as error:
            raise translate(error) from error
        if "Item" not in response:
            raise TradeNotFoundError()
        return from_item(response["Item"])

    def replace(self, trade: Trade, expected_version: int | None) -> None:
        self._conditional(
            trade.user_id,
            trade.trade_id,
            expected_version,
            lambda condition, values: self.trades.put_item(
                Item=to_item(trade), ConditionExpression=condition, **values
            ),
        )

    def delete(self, user_id: str, trade_id: str, expected_version: int | None) -> None:
        self._conditional(
            user_id,
            trade_id,
            expected_version,
            lambda condition, values: self.trades.delete_item(
                Key={"userId": user_id, "tradeId": trade_id},
                ConditionExpression=condition,
                **values,
            ),
        )

    def _conditional(self, user_id: str, trade_id: str, expected_version: int | None, write: Any) -> None:
        condition = "attribute_exists(tradeId)"
        values: dict[str, Any] = {}
        if expected_version is not None:
            condition += " AND version = :expected"
            values = {"ExpressionAttributeValues": {":expected": expected_version}}
        try:
            write(condition, values)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise translate(error) from error
            self.get(user_id, trade_id)  # raises TradeNotFoundError when it is gone
            raise PreconditionFailedError() from error

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


def create_tables(resource: Any, trades: str, idempotency: str) -> None:
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
