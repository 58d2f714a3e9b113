"""The ImageStore contract over the local files store and S3 (moto), and the S3 upload policy."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from botocore.config import Config
from moto import mock_aws

from tradeapp.adapters.localfiles import LocalImageStore
from tradeapp.adapters.ports import ImageStore
from tradeapp.adapters.s3 import S3ImageStore

BUCKET = "tradeapp-images-test"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
JPEG = b"\xff\xd8\xff\xe0" + b"jfif" * 100


def soon(minutes: int = 5) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


class LocalKind:
    """LocalImageStore in a temporary folder; objects arrive as a browser would send them."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = LocalImageStore(root, {"k1": b"k" * 32}, "k1", "/v1/local-images")

    def put(self, key: str, data: bytes, content_type: str) -> None:
        form = self.store.upload_form(key, content_type, 10 * 1024 * 1024, soon())
        assert self.store.accept_upload(form["fields"], io.BytesIO(data)) == key

    def fetch(self, url: str) -> tuple[int, bytes, str | None]:
        from tradeapp import create_app

        # The local URLs are the app's own routes: serve them from an app that uses this store.
        app = create_app({"BACKEND": "memory", "DATA_DIR": str(self.root.parent / "app")})
        app.extensions["tradeapp"].images.store = self.store
        response = app.test_client().get(url)
        return response.status_code, response.get_data(), response.mimetype


class S3Kind:
    name = "s3"

    def __init__(self, client: Any) -> None:
        self.client = client
        self.store = S3ImageStore(client, BUCKET)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=BUCKET, Key=key, Body=data, ContentType=content_type)

    def fetch(self, url: str) -> tuple[int, bytes, str | None]:
        # moto answers `requests` calls to S3 URLs too while mock_aws runs: no network involved.
        response = requests.get(url, timeout=5)
        return response.status_code, response.content, response.headers.get("Content-Type")


def s3_client() -> Any:
    """A client configured as bootstrap configures it: SigV4, virtual-hosted addressing.

    Not from the shared botocore session: boto3 adds its S3 transfer methods once per Session
    built on it, and a second client would fail on the duplicate.
    """
    config = Config(signature_version="s3v4", s3={"addressing_style": "virtual"})
    return boto3.client("s3", region_name="us-east-1", config=config)


@pytest.fixture
def s3(aws_credentials: None) -> Iterator[S3Kind]:
    with mock_aws():
        client = s3_client()
        client.create_bucket(Bucket=BUCKET)  # after the mock started (CONVENTIONS 12)
        yield S3Kind(client)


@pytest.fixture(params=["local", "s3"])
def kind(request: pytest.FixtureRequest, tmp_path: Path) -> LocalKind | S3Kind:
    if request.param == "local":
        return LocalKind(tmp_path / "images")
    return request.getfixturevalue("s3")


@pytest.fixture
def store(kind: LocalKind | S3Kind) -> ImageStore:
    return kind.store


def test_stat_of_an_absent_key_is_none(store: ImageStore) -> None:
    assert store.stat("users/alice/trades/t1/nothing-here") is None


def test_stat_gives_size_content_type_and_time_of_a_stored_object(kind, store: ImageStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    kind.put("users/alice/trades/t1/i1", PNG, "image/png")
    kind.put("users/alice/trades/t1/i2", JPEG, "image/jpeg")

    png, jpeg = store.stat("users/alice/trades/t1/i1"), store.stat("users/alice/trades/t1/i2")

    assert (png.key, png.size, png.content_type) == ("users/alice/trades/t1/i1", len(PNG), "image/png")
    assert (jpeg.key, jpeg.size, jpeg.content_type) == ("users/alice/trades/t1/i2", len(JPEG), "image/jpeg")
    assert png.last_modified.tzinfo is not None
    assert before <= png.last_modified <= datetime.now(UTC) + timedelta(seconds=5)


def test_read_head_gives_the_first_bytes(kind, store: ImageStore) -> None:
    kind.put("users/alice/trades/t1/i1", PNG, "image/png")

    assert store.read_head("users/alice/trades/t1/i1", 16) == PNG[:16]
    assert store.read_head("users/alice/trades/t1/i1", 1) == PNG[:1]


def test_read_head_of_a_short_object_gives_what_there_is(kind, store: ImageStore) -> None:
    kind.put("users/alice/trades/t1/tiny", b"\xff\xd8", "image/jpeg")

    assert store.read_head("users/alice/trades/t1/tiny", 16) == b"\xff\xd8"


def test_delete_removes_the_object_and_an_absent_one_is_fine(kind, store: ImageStore) -> None:
    kind.put("users/alice/trades/t1/i1", PNG, "image/png")
    kind.put("users/alice/trades/t1/i2", PNG, "image/png")

    store.delete("users/alice/trades/t1/i1")
    store.delete("users/alice/trades/t1/i1")
    store.delete("users/alice/trades/t9/never-was")

    assert store.stat("users/alice/trades/t1/i1") is None
    assert store.stat("users/alice/trades/t1/i2") is not None
    assert [o.key for o in store.objects("users/")] == ["users/alice/trades/t1/i2"]


def test_objects_lists_exactly_the_keys_under_a_prefix(kind, store: ImageStore) -> None:
    # GIVEN neighbours that share leading characters with the prefixes asked for
    keys = [
        "users/alice/trades/t1/a",
        "users/alice/trades/t1/b",
        "users/alice/trades/t10/c",
        "users/alice/trades/t2/d",
        "users/alice2/trades/t1/e",
        "users/bob/trades/t1/f",
    ]
    for index, key in enumerate(keys):
        kind.put(key, PNG[: 20 + index], "image/png")

    def listed(prefix: str) -> list[str]:
        return sorted(o.key for o in store.objects(prefix))

    # THEN each listing is S3's: every key that starts with the prefix, and nothing else
    assert listed("users/alice/") == keys[:4]
    assert listed("users/alice/trades/t1/") == keys[:2]
    assert listed("users/alice/trades/t1") == keys[:3]  # no slash: t10 starts with it too
    assert listed("users/alice") == keys[:5]
    assert listed("users/") == keys
    assert listed("users/carol/") == []
    assert listed("users/alice/trades/t1/a") == ["users/alice/trades/t1/a"]
    assert {o.key: o.size for o in store.objects("users/")} == {k: 20 + i for i, k in enumerate(keys)}


def test_objects_of_an_empty_store_is_empty(store: ImageStore) -> None:
    assert list(store.objects("users/")) == []
    assert list(store.objects("")) == []


def test_upload_form_pins_the_key_and_the_content_type(store: ImageStore) -> None:
    form = store.upload_form("users/alice/trades/t1/i1", "image/webp", 1234, soon())

    assert form["url"]
    assert form["fields"]["key"] == "users/alice/trades/t1/i1"
    assert form["fields"]["Content-Type"] == "image/webp"
    assert all(isinstance(v, str) for v in form["fields"].values())


def test_download_url_serves_the_bytes_with_their_type(kind, store: ImageStore) -> None:
    kind.put("users/alice/trades/t1/i1", PNG, "image/png")
    kind.put("users/alice/trades/t1/i2", JPEG, "image/jpeg")

    status, body, content_type = kind.fetch(store.download_url("users/alice/trades/t1/i1", soon(15)))
    assert (status, body, content_type) == (200, PNG, "image/png")
    status, body, content_type = kind.fetch(store.download_url("users/alice/trades/t1/i2", soon(15)))
    assert (status, body, content_type) == (200, JPEG, "image/jpeg")


# -- S3 only: the presigned POST policy, the presigned GET, paging ---------------------------


def policy_of(form: dict[str, Any]) -> dict[str, Any]:
    return json.loads(base64.b64decode(form["fields"]["policy"]))


def test_s3_presigned_post_policy_pins_key_type_size_and_expiry(s3: S3Kind) -> None:
    # GIVEN a form for one key, valid for five minutes
    key = "users/alice/trades/01JNX0000000000000000000T1/01JNX0000000000000000000I1"
    issued = datetime.now(UTC).replace(microsecond=0)
    form = s3.store.upload_form(key, "image/jpeg", 5 * 1024 * 1024, issued + timedelta(minutes=5))

    # THEN the fields a browser sends carry the key, the type and a SigV4 signature
    fields = form["fields"]
    assert form["url"] == f"https://{BUCKET}.s3.amazonaws.com/"
    assert fields["key"] == key
    assert fields["Content-Type"] == "image/jpeg"
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    assert fields["x-amz-credential"].endswith("/us-east-1/s3/aws4_request")
    assert datetime.strptime(fields["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) >= issued
    assert len(fields["x-amz-signature"]) == 64
    int(fields["x-amz-signature"], 16)

    # AND the signed policy pins exactly that key and type, 1 byte up to the limit, and the expiry
    policy = policy_of(form)
    conditions = policy["conditions"]
    assert {"bucket": BUCKET} in conditions
    assert {"key": key} in conditions
    assert {"Content-Type": "image/jpeg"} in conditions
    assert ["content-length-range", 1, 5 * 1024 * 1024] in conditions
    assert not [c for c in conditions if isinstance(c, list) and c[0] == "starts-with"]
    assert {"x-amz-algorithm": "AWS4-HMAC-SHA256"} in conditions
    assert {"x-amz-credential": fields["x-amz-credential"]} in conditions
    assert {"x-amz-date": fields["x-amz-date"]} in conditions
    expiration = datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert issued + timedelta(minutes=4) <= expiration <= issued + timedelta(minutes=5, seconds=1)


def test_s3_policy_never_outlives_the_expiry_asked_for(s3: S3Kind) -> None:
    now = datetime.now(UTC)
    form = s3.store.upload_form("users/a/trades/t/i", "image/png", 100, now + timedelta(seconds=30))

    expiration = datetime.strptime(policy_of(form)["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert expiration <= now + timedelta(seconds=31)


def test_s3_download_url_is_a_short_presigned_get_of_the_key(s3: S3Kind) -> None:
    s3.put("users/alice/trades/t1/i1", PNG, "image/png")

    url = urlsplit(s3.store.download_url("users/alice/trades/t1/i1", soon(15)))

    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert (url.scheme, url.netloc, url.path) == (
        "https",
        f"{BUCKET}.s3.amazonaws.com",
        "/users/alice/trades/t1/i1",
    )
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert 840 <= int(query["X-Amz-Expires"]) <= 900
    assert len(query["X-Amz-Signature"]) == 64
    assert query["X-Amz-SignedHeaders"] == "host"


def test_s3_objects_reads_every_page(s3: S3Kind, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN seven objects, and pages of two (a full listing is 1000 per page)
    keys = sorted(f"users/alice/trades/t{i}/img" for i in range(7))
    for key in keys:
        s3.put(key, PNG, "image/png")
    s3.put("users/bob/trades/t1/img", PNG, "image/png")
    real = s3.client.get_paginator

    class SmallPages:
        def __init__(self, name: str) -> None:
            self.paginator = real(name)

        def paginate(self, **kwargs: Any) -> Any:
            return self.paginator.paginate(**{**kwargs, "PaginationConfig": {"PageSize": 2}})

    monkeypatch.setattr(s3.client, "get_paginator", SmallPages)
    calls: list[dict[str, Any]] = []
    s3.client.meta.events.register("before-call.s3.ListObjectsV2", lambda params, **_: calls.append(params))

    # WHEN the store lists alice's objects
    listed = [o.key for o in s3.store.objects("users/alice/")]

    # THEN it followed the continuation tokens through four pages, each key once
    assert listed == keys
    assert len(calls) == 4
