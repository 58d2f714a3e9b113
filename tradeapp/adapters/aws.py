"""AWS adapters for the stats pipeline's edges: StatsDLQ on SQS and reading DynamoDB Streams."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from .dynamodb import translate
from .ports import DeadLetter

# The records are no longer in the stream (24 h retention), or the stream or shard is gone.
GONE = {"TrimmedDataAccessException", "ExpiredIteratorException", "ResourceNotFoundException"}
MAX_EMPTY_PAGES = 10


class SQSDeadLetterQueue:
    def __init__(self, sqs: Any, queue_url: str, visibility_timeout: int = 300) -> None:
        """`sqs` is a boto3 SQS client."""
        self.sqs = sqs
        self.queue_url = queue_url
        self.visibility_timeout = visibility_timeout

    def send(self, body: dict[str, Any]) -> None:
        self._call("send_message", QueueUrl=self.queue_url, MessageBody=json.dumps(body))

    def receive(self, limit: int) -> list[DeadLetter]:
        response = self._call(
            "receive_message",
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max(1, min(limit, 10)),
            VisibilityTimeout=self.visibility_timeout,
            WaitTimeSeconds=0,
        )
        letters = []
        for message in response.get("Messages", []):
            try:
                body = json.loads(message["Body"])
            except ValueError:
                body = {"unreadable": message["Body"][:1000]}
            if not isinstance(body, dict):
                body = {"unreadable": str(body)[:1000]}
            letters.append(DeadLetter(message["ReceiptHandle"], message["MessageId"], body))
        return letters

    def delete(self, receipt: str) -> None:
        self._call("delete_message", QueueUrl=self.queue_url, ReceiptHandle=receipt)

    def release(self, receipt: str) -> None:
        self._call(
            "change_message_visibility", QueueUrl=self.queue_url, ReceiptHandle=receipt, VisibilityTimeout=0
        )

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.sqs, operation)(**kwargs)
        except ClientError as error:
            raise translate(error) from error


class DynamoDBStreamReader:
    def __init__(self, streams: Any) -> None:
        """`streams` is a boto3 dynamodbstreams client."""
        self.streams = streams

    def records(self, stream_arn: str, shard_id: str, start: str, end: str) -> list[dict[str, Any]] | None:
        try:
            iterator = self.streams.get_shard_iterator(
                StreamArn=stream_arn,
                ShardId=shard_id,
                ShardIteratorType="AT_SEQUENCE_NUMBER",
                SequenceNumber=start,
            ).get("ShardIterator")
            found: list[dict[str, Any]] = []
            empty = 0
            while iterator and empty < MAX_EMPTY_PAGES:
                page = self.streams.get_records(ShardIterator=iterator, Limit=1000)
                records = page.get("Records", [])
                empty = empty + 1 if not records else 0
                for record in records:
                    sequence = int(record["dynamodb"]["SequenceNumber"])
                    if sequence > int(end):
                        return found
                    record.setdefault("eventSourceARN", stream_arn)
                    found.append(record)
                    if sequence == int(end):
                        return found
                iterator = page.get("NextShardIterator")
            # The range was not read to its end: a partial list would let replay delete the
            # message without rebuilding the users it missed, so treat the records as gone.
            return None
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in GONE or (code == "ValidationException" and "trim" in str(error).lower()):
                return None
            raise translate(error) from error
