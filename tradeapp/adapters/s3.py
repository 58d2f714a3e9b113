"""The S3 image store: presigned POST uploads pinned to one key, type and size range."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from ..domain.errors import StoreUnavailableError
from .ports import StoredObject

BUSY = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"}


def _seconds_until(moment: datetime) -> int:
    return max(1, int((moment - datetime.now(UTC)).total_seconds()))


class S3ImageStore:
    def __init__(self, s3: Any, bucket: str) -> None:
        """`s3` is a boto3 S3 client (signature v4)."""
        self.s3 = s3
        self.bucket = bucket

    def upload_form(
        self, key: str, content_type: str, max_bytes: int, expires_at: datetime
    ) -> dict[str, Any]:
        # The policy pins the exact key (S3 checks the signed `key` field), the exact
        # Content-Type and the size range; a browser cannot widen any of them.
        form = self.s3.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[
                {"Content-Type": content_type},
                ["content-length-range", 1, max_bytes],
            ],
            ExpiresIn=_seconds_until(expires_at),
        )
        return {"url": form["url"], "fields": form["fields"]}

    def stat(self, key: str) -> StoredObject | None:
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise _translate(error) from error
        return StoredObject(key, int(head["ContentLength"]), head.get("ContentType"), head["LastModified"])

    def read_head(self, key: str, size: int) -> bytes:
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{size - 1}")
        except ClientError as error:
            raise _translate(error) from error
        return bytes(response["Body"].read(size))

    def delete(self, key: str) -> None:
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            raise _translate(error) from error

    def download_url(self, key: str, expires_at: datetime) -> str:
        return str(
            self.s3.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": key},
                ExpiresIn=_seconds_until(expires_at),
            )
        )

    def objects(self, prefix: str) -> Iterator[StoredObject]:
        paginator = self.s3.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(
                Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": 1000}
            ):
                for item in page.get("Contents", []):
                    yield StoredObject(item["Key"], int(item["Size"]), None, item["LastModified"])
        except ClientError as error:
            raise _translate(error) from error


def _translate(error: ClientError) -> Exception:
    if error.response.get("Error", {}).get("Code") in BUSY:
        return StoreUnavailableError()
    return error
