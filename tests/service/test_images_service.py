"""ImageService against the in-memory trade repository and a fake image store: upload requests,
completion checks, deletion, what a trade's deletion takes with it, cleanup and the summary log."""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tradeapp.adapters.memory import MemoryTradeRepository
from tradeapp.adapters.ports import StoredObject
from tradeapp.domain.errors import (
    ConflictError,
    ImageNotFoundError,
    InvalidTradeError,
    PreconditionFailedError,
    TradeNotFoundError,
)
from tradeapp.services.cursors import CursorCodec, SigningKeys
from tradeapp.services.images import ImageService
from tradeapp.services.trades import TradeService

NOW = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
MAX = 4096
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 92
JPEG = b"\xff\xd8\xff\xdb" + b"\x01" * 96
WEBP = b"RIFF\x5c\x00\x00\x00WEBPVP8 " + b"\x02" * 84
GIF = b"GIF89a" + b"\x03" * 94


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Stored:
    data: bytes
    content_type: str | None
    modified: datetime


class FakeImageStore:
    """The ImageStore port in a dict, S3-like in its listing; deletes of `failing` keys raise."""

    def __init__(self) -> None:
        self.items: dict[str, Stored] = {}
        self.forms: list[tuple[str, str, int, datetime]] = []
        self.failing: set[str] = set()

    def put(
        self, key: str, data: bytes, content_type: str | None = "image/png", modified: datetime | None = None
    ) -> None:
        # Stored an hour before the test's "now" unless said otherwise: past the upload window.
        self.items[key] = Stored(data, content_type, modified or NOW - timedelta(hours=1))

    def upload_form(
        self, key: str, content_type: str, max_bytes: int, expires_at: datetime
    ) -> dict[str, Any]:
        self.forms.append((key, content_type, max_bytes, expires_at))
        return {"url": "https://upload.example/", "fields": {"key": key, "Content-Type": content_type}}

    def stat(self, key: str) -> StoredObject | None:
        found = self.items.get(key)
        return found and StoredObject(key, len(found.data), found.content_type, found.modified)

    def read_head(self, key: str, size: int) -> bytes:
        return self.items[key].data[:size]

    def delete(self, key: str) -> None:
        if key in self.failing:
            raise OSError(f"cannot delete {key}")
        self.items.pop(key, None)

    def download_url(self, key: str, expires_at: datetime) -> str:
        return f"https://download.example/{key}?expires={int(expires_at.timestamp())}"

    def objects(self, prefix: str):
        for key in sorted(self.items):
            if key.startswith(prefix):
                found = self.items[key]
                yield StoredObject(key, len(found.data), None, found.modified)


def numbered(prefix: str):
    counter = itertools.count(1)
    return lambda: f"{prefix}{next(counter):04d}"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def repo() -> MemoryTradeRepository:
    return MemoryTradeRepository()


@pytest.fixture
def store() -> FakeImageStore:
    return FakeImageStore()


@pytest.fixture
def images(repo, store, clock) -> ImageService:
    return ImageService(repo, store, MAX, clock=clock, ids=numbered("img"))


@pytest.fixture
def trades(repo, images, clock) -> TradeService:
    keys = SigningKeys("k1", {"k1": b"k" * 32})
    return TradeService(
        repo, CursorCodec(keys), clock=clock, ids=numbered("T"), after_delete=images.delete_objects_of
    )


def new_trade(trades: TradeService, user: str = "alice") -> str:
    body = {
        "symbol": "AAPL",
        "side": "long",
        "quantity": Decimal(10),
        "entry_price": Decimal(100),
        "entry_at": NOW - timedelta(days=1),
    }
    return trades.create(user, body).trade_id


def key(user: str, trade_id: str, image_id: str) -> str:
    return f"users/{user}/trades/{trade_id}/{image_id}"


def attach(
    images: ImageService, store: FakeImageStore, trade_id: str, data: bytes = PNG, user: str = "alice"
):
    """Request, store and complete a PNG: the ImageRef."""
    upload = images.request_upload(user, trade_id, "image/png", len(data))
    store.put(upload.image.key, data, "image/png")
    images.complete(user, trade_id, upload.image.image_id)
    return upload.image


# -- request_upload ----------------------------------------------------------------------------


def test_request_upload_records_a_pending_image_and_asks_the_store_for_a_form(images, trades, store, repo):
    trade_id = new_trade(trades)

    upload = images.request_upload("alice", trade_id, "image/jpeg", 1234)

    image = upload.image
    assert (image.image_id, image.key) == ("img0001", key("alice", trade_id, "img0001"))
    assert (image.content_type, image.size, image.status, image.created_at) == (
        "image/jpeg",
        1234,
        "pending",
        NOW,
    )
    # the form pins this key and type, the declared size, and five minutes
    assert store.forms == [(image.key, "image/jpeg", 1234, NOW + timedelta(minutes=5))]
    assert upload.expires_at == NOW + timedelta(minutes=5)
    assert upload.form["fields"]["key"] == image.key
    stored = repo.get("alice", trade_id)
    assert stored.images == (image,)
    assert stored.version == 2
    assert upload.trade == stored


@pytest.mark.parametrize(
    ("content_type", "size", "fields"),
    [
        ("image/gif", 10, {"contentType"}),
        ("image/svg+xml", 10, {"contentType"}),
        ("image/png", 0, {"size"}),
        ("image/png", -5, {"size"}),
        ("image/png", MAX + 1, {"size"}),
        ("text/plain", MAX + 1, {"contentType", "size"}),
    ],
)
def test_request_upload_refuses_other_types_and_sizes(
    images, trades, store, repo, content_type, size, fields
):
    trade_id = new_trade(trades)

    with pytest.raises(InvalidTradeError) as refused:
        images.request_upload("alice", trade_id, content_type, size)

    assert set(refused.value.errors) == fields
    assert store.forms == []
    assert repo.get("alice", trade_id).images == ()


def test_request_upload_accepts_one_byte_to_the_maximum(images, trades):
    trade_id = new_trade(trades)

    images.request_upload("alice", trade_id, "image/png", 1)
    images.request_upload("alice", trade_id, "image/webp", MAX)


def test_request_upload_on_another_users_trade_is_not_found(images, trades, store):
    trade_id = new_trade(trades, "alice")

    with pytest.raises(TradeNotFoundError):
        images.request_upload("bob", trade_id, "image/png", 10)

    assert store.forms == []


def test_at_most_ten_images_and_no_form_for_the_eleventh(images, trades, store, repo):
    trade_id = new_trade(trades)
    for _ in range(10):
        images.request_upload("alice", trade_id, "image/png", 10)

    with pytest.raises(InvalidTradeError) as refused:
        images.request_upload("alice", trade_id, "image/png", 10)

    assert refused.value.errors == {"images": ["at most 10 images per trade"]}
    assert len(store.forms) == 10
    assert len(repo.get("alice", trade_id).images) == 10


def test_a_concurrent_write_makes_request_upload_retry_not_lose_it(images, trades, repo):
    # GIVEN a repository where the first conditional write loses to another writer
    trade_id = new_trade(trades)
    real = repo.replace
    lost = []

    def replace(trade, expected_version):
        if not lost:
            lost.append(expected_version)
            raise PreconditionFailedError()
        return real(trade, expected_version)

    repo.replace = replace

    # WHEN an upload is requested
    upload = images.request_upload("alice", trade_id, "image/png", 10)

    # THEN it was written once, on the second try
    assert lost == [1]
    assert repo.get("alice", trade_id).images == (upload.image,)


def test_a_trade_that_never_stops_changing_gives_a_conflict(images, trades, repo):
    trade_id = new_trade(trades)

    def replace(trade, expected_version):
        raise PreconditionFailedError()

    repo.replace = replace

    with pytest.raises(ConflictError):
        images.request_upload("alice", trade_id, "image/png", 10)


# -- complete ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "data"), [("image/png", PNG), ("image/jpeg", JPEG), ("image/webp", WEBP)]
)
def test_complete_marks_a_real_image_ready(images, trades, store, repo, clock, content_type, data):
    trade_id = new_trade(trades)
    upload = images.request_upload("alice", trade_id, content_type, len(data))
    store.put(upload.image.key, data, content_type)
    clock.advance(seconds=30)

    trade = images.complete("alice", trade_id, upload.image.image_id)

    (ready,) = trade.images
    assert ready.status == "ready"
    assert (ready.image_id, ready.key, ready.created_at) == (upload.image.image_id, upload.image.key, NOW)
    assert repo.get("alice", trade_id) == trade
    assert trade.updated_at == NOW + timedelta(seconds=30)
    assert store.stat(upload.image.key) is not None


def test_complete_accepts_an_object_without_a_stored_type_when_its_bytes_match(images, trades, store):
    trade_id = new_trade(trades)
    upload = images.request_upload("alice", trade_id, "image/png", len(PNG))
    store.put(upload.image.key, PNG, None)

    assert images.complete("alice", trade_id, upload.image.image_id).images[0].status == "ready"


@pytest.mark.parametrize(
    ("declared", "data", "stored_as", "problem"),
    [
        ("image/png", GIF, "image/png", "the file's bytes are not image/png"),
        ("image/jpeg", PNG, "image/jpeg", "the file's bytes are not image/jpeg"),
        ("image/webp", b"RIFF\x00\x00\x00\x00WAVEfmt " + b"\x00" * 84, "image/webp", "not image/webp"),
        ("image/png", PNG, "image/jpeg", "the image was stored as image/jpeg, not image/png"),
        (
            "image/png",
            PNG + b"\x00",
            "image/png",
            f"the image has {len(PNG) + 1} bytes, not the {len(PNG)} declared",
        ),
        ("image/png", PNG + b"\x00" * MAX, "image/png", f"larger than {MAX} bytes"),
    ],
)
def test_complete_refuses_and_deletes_an_object_that_is_not_what_was_declared(
    images, trades, store, repo, declared, data, stored_as, problem
):
    # GIVEN an upload declared as len(PNG) bytes of `declared`, and `data` stored as `stored_as`
    trade_id = new_trade(trades)
    upload = images.request_upload("alice", trade_id, declared, len(PNG))
    store.put(upload.image.key, data, stored_as)

    # WHEN it is completed
    with pytest.raises(InvalidTradeError) as refused:
        images.complete("alice", trade_id, upload.image.image_id)

    # THEN it is refused with the reason, the object is deleted, the image stays pending
    assert problem in refused.value.errors["image"][0]
    assert store.stat(upload.image.key) is None
    assert [i.status for i in repo.get("alice", trade_id).images] == ["pending"]


def test_complete_without_an_object_is_refused(images, trades, repo):
    trade_id = new_trade(trades)
    upload = images.request_upload("alice", trade_id, "image/png", len(PNG))

    with pytest.raises(InvalidTradeError) as refused:
        images.complete("alice", trade_id, upload.image.image_id)

    assert refused.value.errors == {"image": ["the image was not uploaded (or its upload expired)"]}
    assert repo.get("alice", trade_id).version == 2


def test_complete_of_an_unknown_image_or_someone_elses_is_not_found(images, trades, store):
    trade_id = new_trade(trades)
    ref = attach(images, store, trade_id)
    bobs = new_trade(trades, "bob")

    with pytest.raises(ImageNotFoundError):
        images.complete("alice", trade_id, "img9999")
    with pytest.raises(TradeNotFoundError):
        images.complete("bob", trade_id, ref.image_id)
    with pytest.raises(ImageNotFoundError):
        images.complete("bob", bobs, ref.image_id)


def test_url_is_given_for_ready_images_only_and_lives_fifteen_minutes(images, trades, store, clock):
    trade_id = new_trade(trades)
    pending = images.request_upload("alice", trade_id, "image/png", 10).image
    ready = attach(images, store, trade_id)
    clock.advance(minutes=3)

    assert images.url(pending) is None
    (ready_ref,) = [i for i in images.trades.get("alice", trade_id).images if i.image_id == ready.image_id]
    expires = int((NOW + timedelta(minutes=18)).timestamp())
    assert images.url(ready_ref) == f"https://download.example/{ready.key}?expires={expires}"


# -- delete ------------------------------------------------------------------------------------


def test_delete_removes_the_reference_and_the_object(images, trades, store, repo):
    trade_id = new_trade(trades)
    first = attach(images, store, trade_id)
    second = attach(images, store, trade_id)

    trade = images.delete("alice", trade_id, first.image_id)

    assert [i.image_id for i in trade.images] == [second.image_id]
    assert repo.get("alice", trade_id) == trade
    assert store.stat(first.key) is None
    assert store.stat(second.key) is not None
    with pytest.raises(ImageNotFoundError):
        images.delete("alice", trade_id, first.image_id)


def test_delete_drops_the_reference_even_when_the_store_fails_and_cleanup_finds_the_object(
    images, trades, store, repo, caplog
):
    # GIVEN an image whose object the store cannot delete right now
    trade_id = new_trade(trades)
    ref = attach(images, store, trade_id)
    store.failing.add(ref.key)
    caplog.set_level(logging.INFO, logger="tradeapp.images")
    caplog.clear()

    # WHEN it is deleted
    images.delete("alice", trade_id, ref.image_id)

    # THEN the reference is gone, the failure is logged, and cleanup later sees an orphan
    assert repo.get("alice", trade_id).images == ()
    (summary,) = [r for r in caplog.records if r.getMessage() == "image summary"]
    assert (summary.action, summary.removedCount, summary.failedCount) == ("image.delete", 1, 1)
    assert summary.failed == [ref.key]
    assert any(r.getMessage() == "image delete failed" and r.exc_info for r in caplog.records)
    store.failing.clear()
    report = images.cleanup(delete=True)
    assert report.orphans == [ref.key]
    assert store.stat(ref.key) is None


def test_deleting_a_trade_deletes_its_objects_only(images, trades, store):
    trade_id = new_trade(trades)
    refs = [attach(images, store, trade_id), images.request_upload("alice", trade_id, "image/png", 10).image]
    store.put(refs[1].key, PNG)
    other = attach(images, store, new_trade(trades))

    trades.delete("alice", trade_id, None)

    assert [store.stat(r.key) for r in refs] == [None, None]
    assert store.stat(other.key) is not None


# -- cleanup -----------------------------------------------------------------------------------


def test_cleanup_sorts_what_it_finds_and_a_dry_run_changes_nothing(images, trades, store, repo, clock):
    # GIVEN a ready image that is fine and a pending upload just requested
    trade_id = new_trade(trades)
    healthy = attach(images, store, trade_id)
    # AND a pending upload requested 24 h 1 s ago whose object arrived, and one that never did
    clock.advance(hours=-24, seconds=-1)
    stale = images.request_upload("alice", trade_id, "image/png", len(PNG)).image
    store.put(stale.key, PNG)
    stale_empty = images.request_upload("alice", trade_id, "image/png", len(PNG)).image
    clock.now = NOW
    fresh = images.request_upload("alice", trade_id, "image/png", len(PNG)).image
    # AND a ready image whose object is gone
    lost = attach(images, store, trade_id)
    del store.items[lost.key]
    # AND objects no trade references: under alice's prefix, and of users with no trades
    orphan = key("alice", "T9999", "img9999")
    strangers = [key("mallory", "T1", "a"), key("mallory", "T2", "b"), key("zed", "T1", "c")]
    for k in [orphan, *strangers]:
        store.put(k, PNG)
    before_trade, before_keys = repo.get("alice", trade_id), set(store.items)

    # WHEN cleanup runs without delete
    report = images.cleanup()

    # THEN it reports each kind, and nothing changed
    assert report.orphans == [orphan, *strangers]
    assert sorted(report.stale_pending) == sorted([stale.key, stale_empty.key])
    assert report.missing == [lost.key]
    assert report.deleted is False
    assert report.trades_seen == 1
    assert report.objects_seen == 3 + 3  # alice's healthy, stale and orphan; then the strangers'
    assert repo.get("alice", trade_id) == before_trade
    assert set(store.items) == before_keys
    assert report.as_dict()["orphans"] == 4
    assert report.as_dict()["stalePending"] == 2
    assert report.as_dict()["staleReferences"] == 1
    assert report.as_dict()["orphanKeys"] == [orphan, *strangers]
    assert {healthy.key, fresh.key} & set(report.orphans + report.stale_pending + report.missing) == set()


def test_cleanup_with_delete_removes_orphans_and_stale_uploads_and_clears_references(
    images, trades, store, repo, clock
):
    trade_id = new_trade(trades)
    healthy = attach(images, store, trade_id)
    clock.advance(hours=-30)
    stale = images.request_upload("alice", trade_id, "image/png", len(PNG)).image
    store.put(stale.key, PNG)
    clock.now = NOW
    fresh = images.request_upload("alice", trade_id, "image/png", len(PNG)).image
    lost = attach(images, store, trade_id)
    del store.items[lost.key]
    orphan, stranger = key("alice", "T9999", "x"), key("mallory", "T1", "y")
    store.put(orphan, PNG)
    store.put(stranger, PNG)

    report = images.cleanup(delete=True)

    assert report.deleted is True
    assert (report.orphans, report.stale_pending, report.missing) == (
        [orphan, stranger],
        [stale.key],
        [lost.key],
    )
    assert set(store.items) == {healthy.key}
    assert [(i.image_id, i.status) for i in repo.get("alice", trade_id).images] == [
        (healthy.image_id, "ready"),
        (fresh.image_id, "pending"),
    ]
    again = images.cleanup(delete=True)
    assert (again.orphans, again.stale_pending, again.missing) == ([], [], [])


def test_a_pending_upload_exactly_a_day_old_is_not_yet_stale(images, trades, clock):
    trade_id = new_trade(trades)
    clock.advance(hours=-24)
    images.request_upload("alice", trade_id, "image/png", 10)
    clock.now = NOW

    assert images.cleanup().stale_pending == []
    clock.advance(seconds=1)
    assert len(images.cleanup().stale_pending) == 1


def test_cleanup_finds_the_objects_of_a_user_whose_trades_are_all_deleted(images, trades, store):
    # GIVEN a trade whose image the store failed to delete when the trade went
    trade_id = new_trade(trades)
    ref = attach(images, store, trade_id)
    store.failing.add(ref.key)
    trades.delete("alice", trade_id, None)
    store.failing.clear()

    report = images.cleanup(delete=True)

    assert report.orphans == [ref.key]
    assert store.items == {}


def test_cleanup_walks_every_page_of_users(images, trades, store):
    # GIVEN more users than one page of users() holds, each with one orphan object
    users = [f"user{n:03d}" for n in range(230)]
    for user in users:
        new_trade(trades, user)
        store.put(key(user, "gone", "img"), PNG)

    report = images.cleanup()

    assert sorted(report.orphans) == sorted(key(u, "gone", "img") for u in users)
    assert report.trades_seen == 230


def test_cleanup_writes_one_summary_record(images, trades, store, caplog):
    store.put(key("mallory", "T1", "a"), PNG)
    caplog.set_level(logging.INFO, logger="tradeapp.images")
    caplog.clear()

    images.cleanup()

    (record,) = [r for r in caplog.records if r.getMessage() == "image cleanup"]
    assert (record.orphans, record.stalePending, record.staleReferences, record.deleted) == (1, 0, 0, False)
    assert record.orphanKeys == [key("mallory", "T1", "a")]


# -- the summary log ---------------------------------------------------------------------------


def test_each_trade_write_and_image_call_logs_one_summary_with_all_counts(images, trades, store, caplog):
    caplog.set_level(logging.INFO, logger="tradeapp.images")

    def lines() -> list[tuple[Any, ...]]:
        found = [
            (r.action, r.tradeId, r.addedCount, r.removedCount, r.missingCount, r.failedCount)
            for r in caplog.records
            if r.name == "tradeapp.images" and r.getMessage() == "image summary"
        ]
        caplog.clear()
        return found

    trade_id = new_trade(trades)
    assert lines() == [("trade.create", trade_id, 0, 0, 0, 0)]
    trades.update("alice", trade_id, {"notes": "gap up"}, None)
    assert lines() == [("trade.update", trade_id, 0, 0, 0, 0)]
    upload = images.request_upload("alice", trade_id, "image/png", len(PNG))
    assert lines() == [("image.upload", trade_id, 1, 0, 0, 0)]
    with pytest.raises(InvalidTradeError):
        images.complete("alice", trade_id, upload.image.image_id)
    assert lines() == [("image.complete", trade_id, 0, 0, 1, 0)]
    store.put(upload.image.key, GIF)
    with pytest.raises(InvalidTradeError):
        images.complete("alice", trade_id, upload.image.image_id)
    assert lines() == [("image.complete", trade_id, 0, 0, 0, 1)]
    store.put(upload.image.key, PNG)
    images.complete("alice", trade_id, upload.image.image_id)
    assert lines() == [("image.complete", trade_id, 0, 0, 0, 0)]
    second = images.request_upload("alice", trade_id, "image/png", len(PNG)).image
    lines()
    images.delete("alice", trade_id, upload.image.image_id)
    assert lines() == [("image.delete", trade_id, 0, 1, 0, 0)]
    store.failing.add(second.key)
    trades.delete("alice", trade_id, None)
    assert lines() == [("trade.delete", trade_id, 0, 1, 0, 1)]


def test_cleanup_leaves_an_object_younger_than_the_upload_window(images, trades, store, clock):
    # GIVEN an object nobody references yet, written a minute ago (its reference may be on
    # its way: cleanup read the trades before the object was listed)
    trade_id = new_trade(trades)
    fresh = key("alice", trade_id, "img-new")
    store.put(fresh, PNG, modified=clock.now - timedelta(minutes=1))
    old = key("alice", trade_id, "img-old")
    store.put(old, PNG, modified=clock.now - timedelta(minutes=11))

    # WHEN cleanup runs
    report = images.cleanup(delete=True)

    # THEN only the object older than the upload window counts as an orphan
    assert report.orphans == [old]
    assert fresh in store.items
    assert old not in store.items
