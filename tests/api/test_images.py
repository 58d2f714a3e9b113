"""Trade images over HTTP, against the local files store (SQLite) and S3 under moto (memory):
upload forms, completion checks, downloads, deletion, the local URLs' enforcement, cleanup
and the image summary log line."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from . import fresh_user, trade_body

# Objects made in these tests are seconds old: let cleanup see them (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("objects_past_the_upload_window")


BUCKET = "tradeapp-images-test"
MAX = 5 * 1024 * 1024  # TRADEAPP_MAX_IMAGE_BYTES' default
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x42" * 1500
WEBP = b"RIFF\x00\x10\x00\x00WEBPVP8 " + b"\x17" * 700
GIF = b"GIF89a" + b"\x01" * (len(PNG) - 6)  # as long as PNG, so only the bytes give it away
KINDS = ["local", "s3"]


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- the apps: local files on SQLite, or S3 (moto) on the memory backend ----------------------


@pytest.fixture
def s3(aws_credentials: None) -> Iterator[Any]:
    """moto with dummy credentials; the app's S3 client is built after the mock starts."""
    from moto import mock_aws

    with mock_aws():
        import boto3

        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def app(make_app: Callable[..., Flask], kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Flask:
    if kind == "local":
        return make_app(tmp_path / "data")  # the embedded default: SQLite, files under DATA_DIR
    request.getfixturevalue("s3")
    return make_app(tmp_path / "data", "memory", IMAGES_BUCKET=BUCKET)


@dataclass
class Images:
    """The image routes for one user, and a look at the store that does not go through the app."""

    client: FlaskClient
    auth: Callable[..., dict[str, str]]
    kind: str
    app: Flask
    s3: Any
    data_dir: Path

    @property
    def service(self) -> Any:
        return self.app.extensions["tradeapp"].images

    def request(self, trade_id: str, content_type: str = "image/png", size: int = len(PNG), who=None):
        body = {"contentType": content_type, "size": size}
        return self.client.post(f"/v1/trades/{trade_id}/images", json=body, headers=self.auth(who))

    def complete(self, trade_id: str, image_id: str, who=None):
        return self.client.post(f"/v1/trades/{trade_id}/images/{image_id}/complete", headers=self.auth(who))

    def remove(self, trade_id: str, image_id: str, who=None):
        return self.client.delete(f"/v1/trades/{trade_id}/images/{image_id}", headers=self.auth(who))

    def trade(self, trade_id: str, who=None) -> dict[str, Any]:
        response = self.client.get(f"/v1/trades/{trade_id}", headers=self.auth(who))
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def upload(self, form: dict[str, Any], data: bytes, content_type: str = "image/png") -> Any:
        """POST the file with the form's fields, as a browser does; the response."""
        if self.kind == "s3":  # moto answers requests to S3 URLs while mock_aws runs
            file = {"file": ("chart", data, content_type)}
            return requests.post(form["url"], data=form["fields"], files=file, timeout=5)
        body = {**form["fields"], "file": (io.BytesIO(data), "chart", content_type)}
        return self.client.post(form["url"], data=body, content_type="multipart/form-data")

    def fetch(self, url: str) -> tuple[int, bytes, str | None]:
        if self.kind == "s3":
            response = requests.get(url, timeout=5)
            return response.status_code, response.content, response.headers.get("Content-Type")
        got = self.client.get(url)
        return got.status_code, got.get_data(), got.mimetype

    def stored(self, key: str) -> bytes | None:
        """The object's bytes, read from the bucket or the folder directly."""
        if self.kind == "s3":
            try:
                return bytes(self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
            except self.s3.exceptions.NoSuchKey:
                return None
        path = self.data_dir / "images" / key
        return path.read_bytes() if path.is_file() else None

    def put_behind(self, key: str, data: bytes, content_type: str = "image/png") -> None:
        """An object the API never heard of."""
        if self.kind == "s3":
            self.s3.put_object(Bucket=BUCKET, Key=key, Body=data, ContentType=content_type)
            return
        store = self.service.store
        form = store.upload_form(key, content_type, MAX, datetime.now(UTC) + timedelta(minutes=5))
        store.accept_upload(form["fields"], io.BytesIO(data))

    def delete_behind(self, key: str) -> None:
        if self.kind == "s3":
            self.s3.delete_object(Bucket=BUCKET, Key=key)
        else:
            (self.data_dir / "images" / key).unlink()

    def start(self, trade_id: str, content_type: str = "image/png", size: int = len(PNG), who=None):
        """Request an upload (asserting 201): (imageId, form)."""
        response = self.request(trade_id, content_type, size, who)
        assert response.status_code == 201, response.get_json()
        body = response.get_json()
        return body["imageId"], body["upload"]

    def attach(self, trade_id: str, data: bytes = PNG, content_type: str = "image/png", who=None):
        """Request, upload and complete one image (asserting each step): its entry in the trade."""
        image_id, form = self.start(trade_id, content_type, len(data), who)
        assert self.upload(form, data, content_type).status_code in (200, 201, 204)
        done = self.complete(trade_id, image_id, who)
        assert done.status_code == 200, done.get_json()
        (image,) = [i for i in done.get_json()["images"] if i["imageId"] == image_id]
        return image


@pytest.fixture
def images(client, auth, kind: str, app: Flask, request: pytest.FixtureRequest) -> Images:
    s3 = request.getfixturevalue("s3") if kind == "s3" else None
    data_dir = Path(app.config["TRADEAPP"]["DATA_DIR"])
    return Images(client, auth, kind, app, s3, data_dir)


def key_of(user: str, trade_id: str, image_id: str) -> str:
    return f"users/{user}/trades/{trade_id}/{image_id}"


def files_under(folder: Path) -> list[str]:
    """Every file below folder, temporary and metadata files included."""
    return sorted(str(Path(d, f).relative_to(folder)) for d, _, fs in os.walk(folder) for f in fs)


# -- the whole flow, on both stores ------------------------------------------------------------


def test_upload_complete_download_delete(images: Images, create, kind: str) -> None:
    # GIVEN a trade
    trade_id = create()["tradeId"]

    # WHEN alice asks to upload a PNG
    asked = datetime.now(UTC).replace(microsecond=0)
    response = images.request(trade_id, "image/png", len(PNG))

    # THEN she gets a form for her trade's prefix, valid for at most five minutes
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) == {"imageId", "upload", "expiresAt"}
    image_id, form = body["imageId"], body["upload"]
    key = key_of("alice", trade_id, image_id)
    assert form["fields"]["key"] == key
    assert form["fields"]["Content-Type"] == "image/png"
    assert asked < parse_time(body["expiresAt"]) <= datetime.now(UTC) + timedelta(minutes=5)
    # AND the trade lists the image as pending, without a URL
    (pending,) = images.trade(trade_id)["images"]
    assert pending == {
        "imageId": image_id,
        "contentType": "image/png",
        "size": len(PNG),
        "status": "pending",
        "createdAt": pending["createdAt"],
        "url": None,
    }
    assert abs(parse_time(pending["createdAt"]) - asked) < timedelta(seconds=10)

    # WHEN the browser uploads the file with the form, and alice completes the upload
    assert images.upload(form, PNG).status_code == 204
    assert images.stored(key) == PNG
    done = images.complete(trade_id, image_id)

    # THEN the image is ready, with a short-lived URL that serves the bytes
    assert done.status_code == 200, done.get_json()
    (ready,) = done.get_json()["images"]
    assert ready["status"] == "ready"
    assert ready["url"]
    assert images.fetch(ready["url"]) == (200, PNG, "image/png")
    (listed,) = images.trade(trade_id)["images"]
    assert listed["status"] == "ready"
    assert images.fetch(listed["url"]) == (200, PNG, "image/png")

    # WHEN alice deletes it
    gone = images.remove(trade_id, image_id)

    # THEN the object and the reference are gone, and a second delete finds nothing
    assert gone.status_code == 204
    assert gone.get_data() == b""
    assert images.stored(key) is None
    assert images.trade(trade_id)["images"] == []
    assert images.remove(trade_id, image_id).status_code == 404
    assert images.complete(trade_id, image_id).status_code == 404


def test_every_allowed_type_completes(images: Images, create) -> None:
    trade_id = create()["tradeId"]

    attached = [
        images.attach(trade_id, data, content_type)
        for data, content_type in [(PNG, "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp")]
    ]

    assert [(i["contentType"], i["size"], i["status"]) for i in attached] == [
        ("image/png", len(PNG), "ready"),
        ("image/jpeg", len(JPEG), "ready"),
        ("image/webp", len(WEBP), "ready"),
    ]
    listed = images.trade(trade_id)["images"]
    assert [i["imageId"] for i in listed] == [i["imageId"] for i in attached]
    for image, data in zip(listed, (PNG, JPEG, WEBP), strict=True):
        assert images.fetch(image["url"]) == (200, data, image["contentType"])


def test_a_gif_declared_as_png_is_refused_and_deleted(images: Images, create) -> None:
    # GIVEN a GIF uploaded with a form for a PNG of the same size
    trade_id = create()["tradeId"]
    image_id, form = images.start(trade_id, "image/png", len(GIF))
    assert images.upload(form, GIF).status_code == 204
    key = key_of("alice", trade_id, image_id)
    assert images.stored(key) == GIF

    # WHEN alice completes it
    response = images.complete(trade_id, image_id)

    # THEN the bytes give it away: 422, and the object is deleted
    assert response.status_code == 422
    assert "not image/png" in json.dumps(response.get_json())
    assert images.stored(key) is None
    assert [i["status"] for i in images.trade(trade_id)["images"]] == ["pending"]


def test_a_size_other_than_declared_is_refused_and_deleted(images: Images, create) -> None:
    trade_id = create()["tradeId"]
    image_id, form = images.start(trade_id, "image/png", len(PNG) + 1)
    assert images.upload(form, PNG).status_code == 204

    response = images.complete(trade_id, image_id)

    assert response.status_code == 422
    assert f"{len(PNG)} bytes, not the {len(PNG) + 1} declared" in json.dumps(response.get_json())
    assert images.stored(key_of("alice", trade_id, image_id)) is None


def test_completing_before_any_upload_is_refused(images: Images, create) -> None:
    trade_id = create()["tradeId"]
    image_id, _ = images.start(trade_id)

    response = images.complete(trade_id, image_id)

    assert response.status_code == 422
    assert response.get_json()["errors"]["json"]["image"] == [
        "the image was not uploaded (or its upload expired)"
    ]
    assert images.trade(trade_id)["images"][0]["status"] == "pending"


@pytest.mark.parametrize("kind", ["s3"])
def test_an_object_stored_with_another_content_type_is_refused(images: Images, create) -> None:
    # GIVEN PNG bytes put at the key with a JPEG content type (S3's policy would refuse the
    # form; this is an object written some other way)
    trade_id = create()["tradeId"]
    image_id, _ = images.start(trade_id, "image/png", len(PNG))
    key = key_of("alice", trade_id, image_id)
    images.put_behind(key, PNG, "image/jpeg")

    response = images.complete(trade_id, image_id)

    assert response.status_code == 422
    assert "stored as image/jpeg" in json.dumps(response.get_json())
    assert images.stored(key) is None


def test_at_most_ten_images_per_trade(images: Images, create) -> None:
    trade_id = create()["tradeId"]
    for _ in range(10):
        images.start(trade_id)

    eleventh = images.request(trade_id)

    assert eleventh.status_code == 422
    assert eleventh.get_json()["errors"]["json"]["images"] == ["at most 10 images per trade"]
    assert len(images.trade(trade_id)["images"]) == 10
    # AND deleting one makes room again
    first = images.trade(trade_id)["images"][0]["imageId"]
    assert images.remove(trade_id, first).status_code == 204
    assert images.request(trade_id).status_code == 201


@pytest.mark.parametrize("kind", ["local"])  # the service refuses these before any store call
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"contentType": "image/gif", "size": 100}, "contentType"),
        ({"contentType": "image/svg+xml", "size": 100}, "contentType"),
        ({"contentType": "IMAGE/PNG", "size": 100}, "contentType"),
        ({"contentType": "image/png", "size": 0}, "size"),
        ({"contentType": "image/png", "size": -1}, "size"),
        ({"contentType": "image/png", "size": MAX + 1}, "size"),
        ({"contentType": "image/png", "size": 1.5}, "size"),
        ({"contentType": "image/png"}, "size"),
        ({"size": 100}, "contentType"),
        ({"contentType": "image/png", "size": 100, "key": "users/bob/x"}, "key"),
    ],
)
def test_an_upload_request_outside_the_rules_is_refused(images: Images, create, body, field) -> None:
    trade_id = create()["tradeId"]

    response = images.client.post(f"/v1/trades/{trade_id}/images", json=body, headers=images.auth())

    assert response.status_code == 422
    assert field in response.get_json()["errors"]["json"]
    assert images.trade(trade_id)["images"] == []


def test_the_largest_allowed_size_is_accepted(images: Images, create) -> None:
    trade_id = create()["tradeId"]

    assert images.request(trade_id, "image/png", MAX).status_code == 201
    assert images.request(trade_id, "image/png", 1).status_code == 201


def test_another_users_trade_is_404_on_every_image_route(images: Images, create) -> None:
    # GIVEN alice's trade with a ready image and a pending one
    trade_id = create()["tradeId"]
    ready = images.attach(trade_id)
    pending_id, _ = images.start(trade_id)
    before = images.trade(trade_id)

    # WHEN bob uses her ids on every image route
    answers = [
        images.request(trade_id, who="bob"),
        images.complete(trade_id, pending_id, who="bob"),
        images.complete(trade_id, ready["imageId"], who="bob"),
        images.remove(trade_id, ready["imageId"], who="bob"),
        images.remove(trade_id, pending_id, who="bob"),
    ]
    # AND bob's own trade with alice's image ids
    bobs = create("bob")["tradeId"]
    answers += [
        images.complete(bobs, pending_id, who="bob"),
        images.remove(bobs, ready["imageId"], who="bob"),
    ]

    # THEN every answer is 404, and alice's trade and objects are untouched
    assert [a.status_code for a in answers] == [404] * 7
    after = images.trade(trade_id)
    assert [(i["imageId"], i["status"]) for i in after["images"]] == [
        (i["imageId"], i["status"]) for i in before["images"]
    ]
    assert after["version"] == before["version"]
    assert images.stored(key_of("alice", trade_id, ready["imageId"])) == PNG
    assert images.trade(bobs, who="bob")["images"] == []


def test_unknown_trades_and_images_are_404(images: Images, create) -> None:
    trade_id = create()["tradeId"]
    missing_trade = "01JNX0000000000000000000ZZ"

    assert images.request(missing_trade).status_code == 404
    assert images.complete(trade_id, "01JNX0000000000000000000ZZ").status_code == 404
    assert images.remove(trade_id, "01JNX0000000000000000000ZZ").status_code == 404
    assert images.complete(missing_trade, "01JNX0000000000000000000ZZ").status_code == 404


def test_image_routes_need_a_token(images: Images, create) -> None:
    trade_id = create()["tradeId"]
    image_id, _ = images.start(trade_id)

    answers = [
        images.client.post(f"/v1/trades/{trade_id}/images", json={"contentType": "image/png", "size": 9}),
        images.client.post(f"/v1/trades/{trade_id}/images/{image_id}/complete"),
        images.client.delete(f"/v1/trades/{trade_id}/images/{image_id}"),
    ]

    assert [a.status_code for a in answers] == [401] * 3


def test_trade_writes_keep_the_images_and_cannot_set_them(images: Images, create) -> None:
    # GIVEN a trade with a ready image
    trade_id = create()["tradeId"]
    image = images.attach(trade_id)
    path, auth = f"/v1/trades/{trade_id}", images.auth

    # WHEN the trade is patched, gets a close, and is listed
    patched = images.client.patch(path, json={"notes": "gap"}, headers=auth(**{"If-Match": '"3"'}))
    closed = images.client.post(
        f"{path}/closes",
        json={"quantity": 10, "price": 190, "closedAt": "2026-03-02T15:00:00Z"},
        headers=auth(),
    )
    listed = images.client.get("/v1/trades", headers=auth())

    # THEN each answer still carries the image, with a URL that works
    assert (patched.status_code, closed.status_code, listed.status_code) == (200, 201, 200)
    for trade in (patched.get_json(), closed.get_json(), listed.get_json()["items"][0]):
        (kept,) = trade["images"]
        assert (kept["imageId"], kept["status"]) == (image["imageId"], "ready")
        assert "key" not in kept
        assert images.fetch(kept["url"])[:2] == (200, PNG)
    # AND a client cannot write the image list itself
    version = closed.get_json()["version"]
    forged = [{**image, "imageId": "01JNX0000000000000000000ZZ"}]
    for body in ({"images": []}, {"images": forged}):
        refused = images.client.patch(path, json=body, headers=auth(**{"If-Match": f'"{version}"'}))
        assert refused.status_code == 422
        assert "images" in refused.get_json()["errors"]["json"]
    created = images.client.post("/v1/trades", json=trade_body(images=forged), headers=auth())
    assert created.status_code == 422


def test_deleting_a_trade_deletes_its_images(images: Images, create) -> None:
    # GIVEN a trade with a ready image and an uploaded, not completed one, and another trade's image
    trade_id = create()["tradeId"]
    ready = images.attach(trade_id)
    pending_id, form = images.start(trade_id, "image/jpeg", len(JPEG))
    assert images.upload(form, JPEG, "image/jpeg").status_code == 204
    other_id = create()["tradeId"]
    other = images.attach(other_id)

    # WHEN the trade is deleted
    response = images.client.delete(f"/v1/trades/{trade_id}", headers=images.auth())

    # THEN both of its objects are gone, and the other trade's image stays
    assert response.status_code == 204
    assert images.stored(key_of("alice", trade_id, ready["imageId"])) is None
    assert images.stored(key_of("alice", trade_id, pending_id)) is None
    assert images.stored(key_of("alice", other_id, other["imageId"])) == PNG
    assert images.fetch(images.trade(other_id)["images"][0]["url"])[0] == 200


def test_the_upload_form_pins_key_type_and_declared_size(images: Images, create, kind) -> None:
    trade_id = create()["tradeId"]
    asked = datetime.now(UTC).replace(microsecond=0)

    image_id, form = images.start(trade_id, "image/webp", len(WEBP))

    fields = form["fields"]
    key = key_of("alice", trade_id, image_id)
    if kind == "local":
        assert form["url"] == "/v1/local-images/upload"
        assert fields["x-max-bytes"] == str(len(WEBP))
        assert asked < datetime.fromtimestamp(int(fields["x-expires"]), UTC) <= asked + timedelta(minutes=5)
        return
    assert form["url"] == f"https://{BUCKET}.s3.amazonaws.com/"
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert {"bucket": BUCKET} in policy["conditions"]
    assert {"key": key} in policy["conditions"]
    assert {"Content-Type": "image/webp"} in policy["conditions"]
    assert ["content-length-range", 1, len(WEBP)] in policy["conditions"]
    expiration = datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert asked < expiration <= datetime.now(UTC) + timedelta(minutes=5)
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    assert {"x-amz-credential", "x-amz-date", "x-amz-signature"} <= fields.keys()


def test_s3_download_urls_are_presigned_for_fifteen_minutes_at_most(images: Images, create, kind) -> None:
    trade_id = create()["tradeId"]
    image = images.attach(trade_id)

    url = urlsplit(image["url"])

    query = dict(parse_qsl(url.query))
    key = key_of("alice", trade_id, image["imageId"])
    if kind == "local":
        assert url.path == f"/v1/local-images/{key}"
        expires = datetime.fromtimestamp(int(query["x-expires"]), UTC)
        assert expires <= datetime.now(UTC) + timedelta(minutes=15)
        return
    assert (url.netloc, url.path) == (f"{BUCKET}.s3.amazonaws.com", f"/{key}")
    assert 0 < int(query["X-Amz-Expires"]) <= 900
    assert query["X-Amz-Signature"]


def test_the_local_upload_routes_are_not_served_when_images_live_in_s3(images: Images, create, kind) -> None:
    trade_id = create()["tradeId"]
    image = images.attach(trade_id)
    key = key_of("alice", trade_id, image["imageId"])

    download = images.client.get(f"/v1/local-images/{key}?x-expires=9999999999")
    upload = images.client.post(
        "/v1/local-images/upload",
        data={"key": key, "file": (io.BytesIO(PNG), "chart.png")},
        content_type="multipart/form-data",
    )

    expected = 403 if kind == "local" else 404
    assert (download.status_code, upload.status_code) == (expected, expected)


# -- the local store's signed URLs, enforced for real -------------------------------------------


@pytest.fixture
def local(images: Images, create) -> tuple[Images, str, str, dict[str, Any]]:
    """(images, tradeId, imageId, form) for one requested PNG upload on the local store."""
    trade_id = create()["tradeId"]
    image_id, form = images.start(trade_id, "image/png", len(PNG))
    return images, trade_id, image_id, form


def assert_refused(response: Any, status: int, images: Images) -> None:
    """Refused in the API's error shape, and nothing at all left in the images folder."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    assert response.get_json()["code"] == status
    assert response.get_json()["status"]
    assert files_under(images.data_dir / "images") == []


@pytest.mark.parametrize("kind", ["local"])
def test_local_upload_over_the_size_limit_is_413_and_leaves_nothing(local) -> None:
    images, trade_id, image_id, form = local  # declared len(PNG) bytes

    # A byte over the signed limit (the declared size): the store counts while it writes,
    # then removes the part
    over_by_one = images.upload(form, PNG + b"\x00")
    assert_refused(over_by_one, 413, images)
    assert over_by_one.get_json()["message"] == f"the file is larger than {len(PNG)} bytes"
    # Far over the configured maximum: refused before the body is read
    far_over = images.upload(form, PNG + b"\x00" * (MAX + 200 * 1024))
    assert_refused(far_over, 413, images)

    # AND the same form still takes the declared file (so the refusal was about size)
    assert images.upload(form, PNG).status_code == 204
    assert images.complete(trade_id, image_id).status_code == 200


@pytest.mark.parametrize("kind", ["local"])
def test_local_upload_larger_than_declared_is_413_even_under_the_maximum(local) -> None:
    images, trade_id, image_id, form = local

    response = images.upload(form, PNG + b"\x00" * (MAX - len(PNG)))

    assert_refused(response, 413, images)
    assert images.stored(key_of("alice", trade_id, image_id)) is None
    assert images.complete(trade_id, image_id).status_code == 422


@pytest.mark.parametrize("kind", ["local"])
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Content-Type", "image/jpeg"),
        ("Content-Type", "text/html"),
        ("key", "users/bob/trades/01JNX0000000000000000000T1/01JNX0000000000000000000I1"),
        ("key", "users/alice/trades/other/x"),
        ("x-max-bytes", str(50 * 1024 * 1024)),
        ("x-expires", "99999999999"),
        ("x-key-id", "some-other-key"),
        ("x-signature", "0" * 64),
        ("x-signature", ""),
        ("x-signature", "\u00e9" * 64),
    ],
)
def test_local_upload_with_a_changed_field_is_403_and_leaves_nothing(local, field, value) -> None:
    images, trade_id, image_id, form = local
    tampered = {"url": form["url"], "fields": {**form["fields"], field: value}}

    response = images.upload(tampered, PNG)

    assert_refused(response, 403, images)
    assert images.complete(trade_id, image_id).status_code == 422


@pytest.mark.parametrize("kind", ["local"])
def test_local_upload_with_a_flipped_signature_character_is_403(local) -> None:
    images, _, _, form = local
    signature = form["fields"]["x-signature"]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")

    response = images.upload({"url": form["url"], "fields": {**form["fields"], "x-signature": flipped}}, PNG)

    assert_refused(response, 403, images)


@pytest.mark.parametrize("kind", ["local"])
@pytest.mark.parametrize(
    "field", ["key", "Content-Type", "x-max-bytes", "x-expires", "x-key-id", "x-signature"]
)
def test_local_upload_missing_a_signed_field_is_refused(local, field) -> None:
    images, _, _, form = local
    fields = {k: v for k, v in form["fields"].items() if k != field}

    response = images.upload({"url": form["url"], "fields": fields}, PNG)

    assert_refused(response, 403, images)


@pytest.mark.parametrize("kind", ["local"])
def test_local_upload_without_a_file_or_with_an_empty_one_is_400(local) -> None:
    images, _, _, form = local

    no_file = images.client.post(form["url"], data=form["fields"], content_type="multipart/form-data")
    empty = images.upload(form, b"")

    assert_refused(no_file, 400, images)
    assert_refused(empty, 400, images)


@pytest.mark.parametrize("kind", ["local"])
def test_local_upload_after_the_form_expired_is_403(images: Images, create, monkeypatch) -> None:
    # GIVEN a form issued ten minutes ago (the service's clock stands then)
    trade_id = create()["tradeId"]
    then = datetime.now(UTC) - timedelta(minutes=10)
    monkeypatch.setattr(images.service, "clock", lambda: then)
    image_id, form = images.start(trade_id)
    monkeypatch.undo()
    assert int(form["fields"]["x-expires"]) < datetime.now(UTC).timestamp()

    # WHEN the browser uses it now
    response = images.upload(form, PNG)

    # THEN it is refused, nothing is stored, and completing finds nothing
    assert_refused(response, 403, images)
    assert "expired" in response.get_json()["message"]
    assert images.complete(trade_id, image_id).status_code == 422


@pytest.mark.parametrize("kind", ["local"])
def test_local_upload_with_a_form_that_expired_a_second_ago_is_403(images: Images, create) -> None:
    trade_id = create()["tradeId"]
    image_id, _ = images.start(trade_id)
    store = images.service.store
    past = datetime.now(UTC) - timedelta(seconds=1)
    form = store.upload_form(key_of("alice", trade_id, image_id), "image/png", MAX, past)

    assert_refused(images.upload(form, PNG), 403, images)


@pytest.mark.parametrize("kind", ["local"])
def test_local_download_url_tampered_or_expired_is_403(images: Images, create, monkeypatch) -> None:
    # GIVEN a ready image and its download URL
    trade_id = create()["tradeId"]
    image = images.attach(trade_id)
    other = images.attach(trade_id, JPEG, "image/jpeg")
    url = urlsplit(image["url"])
    query = dict(parse_qsl(url.query))

    def get(path: str, changes: dict[str, str] | None = None, drop: str | None = None) -> int:
        params = {k: v for k, v in {**query, **(changes or {})}.items() if k != drop}
        return images.client.get(f"{path}?{urlencode(params)}").status_code

    # THEN the URL as given serves the bytes with their type
    assert images.fetch(image["url"]) == (200, PNG, "image/png")
    # AND any change to it is refused
    other_path = f"/v1/local-images/{key_of('alice', trade_id, other['imageId'])}"
    assert get(other_path) == 403  # another key under the same signature
    assert get(url.path, {"x-expires": str(int(query["x-expires"]) + 3600)}) == 403
    assert get(url.path, {"x-signature": "f" * 64}) == 403
    assert get(url.path, {"x-signature": "\u00e9" * 64}) == 403  # non-ASCII: still 403, not 500
    assert get(url.path, {"x-key-id": "nope"}) == 403
    for name in ("x-expires", "x-key-id", "x-signature"):
        assert get(url.path, drop=name) == 403

    # WHEN a URL was issued twenty minutes ago (it lived fifteen)
    then = datetime.now(UTC) - timedelta(minutes=20)
    monkeypatch.setattr(images.service, "clock", lambda: then)
    old_url = images.trade(trade_id)["images"][0]["url"]
    monkeypatch.undo()

    # THEN it is refused as expired
    expired = images.client.get(old_url)
    assert expired.status_code == 403
    assert "expired" in expired.get_json()["message"]


@pytest.mark.parametrize("kind", ["local"])
def test_local_download_of_a_deleted_image_is_404(images: Images, create) -> None:
    trade_id = create()["tradeId"]
    image = images.attach(trade_id)

    assert images.remove(trade_id, image["imageId"]).status_code == 204

    assert images.client.get(image["url"]).status_code == 404


@pytest.mark.parametrize("kind", ["local"])
def test_local_upload_declared_type_wins_over_the_file_parts_own(local) -> None:
    # Like S3: the signed Content-Type field is what the object is stored as
    images, trade_id, image_id, form = local

    assert images.upload(form, PNG, content_type="application/octet-stream").status_code == 204

    done = images.complete(trade_id, image_id)
    assert done.status_code == 200
    assert images.fetch(done.get_json()["images"][0]["url"]) == (200, PNG, "image/png")


# -- cleanup: the CLI, against both stores ----------------------------------------------------


def run_cleanup(app: Flask, *args: str) -> list[str]:
    result = app.test_cli_runner().invoke(args=["images", "cleanup", *args])
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_cleanup_finds_orphans_stale_uploads_and_missing_objects(images: Images, create, monkeypatch) -> None:
    # GIVEN a healthy ready image and a fresh pending upload, which cleanup must leave alone
    trade_id = create()["tradeId"]
    healthy = images.attach(trade_id)
    fresh_id, _ = images.start(trade_id)
    # AND a ready image whose object was deleted behind the app's back
    lost = images.attach(trade_id, JPEG, "image/jpeg")
    images.delete_behind(key_of("alice", trade_id, lost["imageId"]))
    # AND a pending upload from 25 hours ago whose object did arrive
    monkeypatch.setattr(images.service, "clock", lambda: datetime.now(UTC) - timedelta(hours=25))
    stale_id, _ = images.start(trade_id)
    monkeypatch.undo()
    images.put_behind(key_of("alice", trade_id, stale_id), PNG)
    # AND a pending upload from 25 hours ago that never arrived
    monkeypatch.setattr(images.service, "clock", lambda: datetime.now(UTC) - timedelta(hours=25))
    stale_empty_id, _ = images.start(trade_id)
    monkeypatch.undo()
    # AND an object under alice's prefix no trade references, and objects of a user with no trades
    orphan = "users/alice/trades/01JNX00000000000000000000X/01JNX00000000000000000000Y"
    stranger = ["users/mallory/trades/T1/a", "users/mallory/trades/T2/b"]
    for key in [orphan, *stranger]:
        images.put_behind(key, PNG)
    before = images.trade(trade_id)

    # WHEN the operator runs the cleanup without --delete
    dry = run_cleanup(images.app)

    # THEN it lists each finding by key, with the counts, and changes nothing
    stale_keys = [key_of("alice", trade_id, stale_id), key_of("alice", trade_id, stale_empty_id)]
    lost_key = key_of("alice", trade_id, lost["imageId"])
    assert sorted(dry[:-1]) == sorted(
        [f"orphan: {k}" for k in [orphan, *stranger]]
        + [f"stalePending: {k}" for k in stale_keys]
        + [f"staleReference: {lost_key}"]
    )
    assert dry[-1] == (
        "orphans 3, stale pending 2, stale references 1 (dry run: nothing changed; --delete to clean)"
    )
    assert images.trade(trade_id) == {**before, "images": images.trade(trade_id)["images"]}
    assert [i["imageId"] for i in images.trade(trade_id)["images"]] == [
        i["imageId"] for i in before["images"]
    ]
    assert images.trade(trade_id)["version"] == before["version"]
    for key in [orphan, *stranger, stale_keys[0]]:
        assert images.stored(key) == PNG

    # WHEN it runs with --delete
    deleted = run_cleanup(images.app, "--delete")

    # THEN the orphans and stale uploads are removed, and stale references cleared
    assert deleted[-1] == "orphans 3, stale pending 2, stale references 1"
    for key in [orphan, *stranger, stale_keys[0]]:
        assert images.stored(key) is None
    after = images.trade(trade_id)["images"]
    assert [(i["imageId"], i["status"]) for i in after] == [
        (healthy["imageId"], "ready"),
        (fresh_id, "pending"),
    ]
    assert images.stored(key_of("alice", trade_id, healthy["imageId"])) == PNG
    assert images.fetch(after[0]["url"])[0] == 200
    # AND a second pass finds nothing
    assert run_cleanup(images.app)[-1].startswith("orphans 0, stale pending 0, stale references 0")


def test_cleanup_of_a_clean_store_reports_nothing(images: Images, create) -> None:
    trade_id = create()["tradeId"]
    images.attach(trade_id)

    assert run_cleanup(images.app) == [
        "orphans 0, stale pending 0, stale references 0 (dry run: nothing changed; --delete to clean)"
    ]


def test_cleanup_keeps_a_pending_upload_younger_than_a_day(images: Images, create, monkeypatch) -> None:
    trade_id = create()["tradeId"]
    monkeypatch.setattr(images.service, "clock", lambda: datetime.now(UTC) - timedelta(hours=23))
    images.start(trade_id)
    monkeypatch.undo()

    assert run_cleanup(images.app, "--delete") == ["orphans 0, stale pending 0, stale references 0"]
    assert len(images.trade(trade_id)["images"]) == 1


# -- the image summary log line ---------------------------------------------------------------


def summaries(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "tradeapp.images" and r.getMessage() == "image summary"]


def counts(record: logging.LogRecord) -> tuple[Any, ...]:
    return (
        record.action,
        record.addedCount,
        record.removedCount,
        record.missingCount,
        record.failedCount,
    )


def test_one_summary_line_per_trade_write_and_image_call(images: Images, client, auth, caplog) -> None:
    caplog.set_level(logging.INFO, logger="tradeapp.images")

    def one_line(response: Any, status: int) -> logging.LogRecord:
        assert response.status_code == status, response.get_data(as_text=True)
        lines = summaries(caplog)
        assert len(lines) == 1, [r.__dict__ for r in lines]
        caplog.clear()
        return lines[0]

    # trade create
    created = client.post("/v1/trades", json=trade_body(), headers=auth())
    line = one_line(created, 201)
    trade_id = created.get_json()["tradeId"]
    assert (line.tradeId, line.userId) == (trade_id, "alice")
    assert counts(line) == ("trade.create", 0, 0, 0, 0)

    # trade update
    line = one_line(
        client.patch(f"/v1/trades/{trade_id}", json={"notes": "x"}, headers=auth(**{"If-Match": '"1"'})), 200
    )
    assert (line.tradeId, counts(line)) == (trade_id, ("trade.update", 0, 0, 0, 0))

    # image upload request
    response = images.request(trade_id)
    line = one_line(response, 201)
    first = response.get_json()["imageId"]
    assert (line.tradeId, counts(line)) == (trade_id, ("image.upload", 1, 0, 0, 0))
    assert line.added == [key_of("alice", trade_id, first)]
    assert images.upload(response.get_json()["upload"], PNG).status_code == 204
    caplog.clear()

    # complete, good
    line = one_line(images.complete(trade_id, first), 200)
    assert (line.tradeId, counts(line)) == (trade_id, ("image.complete", 0, 0, 0, 0))

    # complete, nothing uploaded
    second, _ = images.start(trade_id)
    caplog.clear()
    line = one_line(images.complete(trade_id, second), 422)
    assert counts(line) == ("image.complete", 0, 0, 1, 0)
    assert line.missing == [key_of("alice", trade_id, second)]

    # complete, wrong bytes
    third, form = images.start(trade_id, "image/png", len(GIF))
    assert images.upload(form, GIF).status_code == 204
    caplog.clear()
    line = one_line(images.complete(trade_id, third), 422)
    assert counts(line) == ("image.complete", 0, 0, 0, 1)
    assert line.failed == [key_of("alice", trade_id, third)]

    # image delete
    line = one_line(images.remove(trade_id, first), 204)
    assert (line.tradeId, counts(line)) == (trade_id, ("image.delete", 0, 1, 0, 0))
    assert line.removed == [key_of("alice", trade_id, first)]

    # trade delete, with its two pending images
    line = one_line(client.delete(f"/v1/trades/{trade_id}", headers=auth()), 204)
    assert (line.tradeId, counts(line)) == (trade_id, ("trade.delete", 0, 2, 0, 0))
    assert sorted(line.removed) == sorted(key_of("alice", trade_id, i) for i in (second, third))


def test_summary_lines_are_json_serialisable(images: Images, create, caplog) -> None:
    caplog.set_level(logging.INFO, logger="tradeapp.images")
    trade_id = create()["tradeId"]
    images.attach(trade_id)

    standard = set(vars(logging.makeLogRecord({})))
    for record in summaries(caplog):
        extra = {k: v for k, v in vars(record).items() if k not in standard}
        assert json.loads(json.dumps(extra))["action"] == record.action


def test_trades_of_many_users_keep_their_images_apart(images: Images, create) -> None:
    users = [fresh_user() for _ in range(3)]
    trades = {u: create(u)["tradeId"] for u in users}

    attached = {u: images.attach(trades[u], who=u) for u in users}

    for user in users:
        (image,) = images.trade(trades[user], who=user)["images"]
        assert image["imageId"] == attached[user]["imageId"]
        assert images.stored(key_of(user, trades[user], image["imageId"])) == PNG
