"""Trade images: upload forms, completion checks, downloads, deletion and orphan cleanup.

Every image call writes one structured log line with what it added, removed, found
missing and failed, so the runbook's image playbook can follow a trade's screenshots.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from .. import metrics
from ..adapters.ports import ImageStore, StoredObject, TradeRepository
from ..domain.errors import ConflictError, ImageNotFoundError, InvalidTradeError, PreconditionFailedError
from ..domain.images import CONTENT_TYPES, MAX_IMAGES, SNIFF_BYTES, ImageRef, image_key, sniff
from ..domain.trade import Trade
from .common import WRITE_ATTEMPTS, every_user, new_id, utcnow

log = logging.getLogger("tradeapp.images")
UPLOAD_TTL = timedelta(minutes=5)
DOWNLOAD_TTL = timedelta(minutes=15)
STALE_PENDING = timedelta(hours=24)
FRESH = UPLOAD_TTL + timedelta(minutes=5)


def log_summary(action: str, trade: Trade | None, **changes: list[str]) -> None:
    """The image processing summary: one line per trade write or image call."""
    # Every line carries all four counts (zeros too), so log queries need no special cases.
    changes = {"added": [], "removed": [], "missing": [], "failed": [], **changes}
    counts = {name: len(keys) for name, keys in changes.items()}
    log.info(
        "image summary",
        extra={
            "action": action,
            "tradeId": trade.trade_id if trade else None,
            "userId": trade.user_id if trade else None,
            "images": len(trade.images) if trade else 0,
            **{f"{name}Count": count for name, count in counts.items()},
            **{name: keys for name, keys in changes.items() if keys},
        },
    )


@dataclass
class Upload:
    trade: Trade
    image: ImageRef
    form: dict[str, Any]
    expires_at: datetime


@dataclass
class CleanupReport:
    orphans: list[str] = field(default_factory=list)
    stale_pending: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    deleted: bool = False
    objects_seen: int = 0
    trades_seen: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "deleted": self.deleted,
            "objectsSeen": self.objects_seen,
            "tradesSeen": self.trades_seen,
            "orphans": len(self.orphans),
            "stalePending": len(self.stale_pending),
            "staleReferences": len(self.missing),
            "orphanKeys": self.orphans[:1000],
            "stalePendingKeys": self.stale_pending[:1000],
            "staleReferenceKeys": self.missing[:1000],
        }


class ImageService:
    def __init__(
        self,
        trades: TradeRepository,
        store: ImageStore,
        max_bytes: int,
        clock: Callable[[], datetime] = utcnow,
        ids: Callable[[], str] | None = None,
    ) -> None:
        self.trades = trades
        self.store = store
        self.max_bytes = max_bytes
        self.clock = clock
        self.ids = ids or new_id

    def request_upload(self, user_id: str, trade_id: str, content_type: str, size: int) -> Upload:
        problems: dict[str, list[str]] = {}
        if content_type not in CONTENT_TYPES:
            problems["contentType"] = [f"must be one of {', '.join(CONTENT_TYPES)}"]
        if not 1 <= size <= self.max_bytes:
            problems["size"] = [f"must be between 1 and {self.max_bytes} bytes"]
        if problems:
            raise InvalidTradeError(problems)
        now = self.clock()
        image_id = self.ids()
        ref = ImageRef(image_id, image_key(user_id, trade_id, image_id), content_type, size, "pending", now)

        def add(trade: Trade) -> Trade:
            if len(trade.images) >= MAX_IMAGES:
                raise InvalidTradeError({"images": [f"at most {MAX_IMAGES} images per trade"]})
            return replace(trade, images=(*trade.images, ref))

        trade = self._change(user_id, trade_id, add)
        expires_at = now + UPLOAD_TTL
        # The form's size limit is the declared size: a browser cannot store more than it said.
        form = self.store.upload_form(ref.key, content_type, size, expires_at)
        log_summary("image.upload", trade, added=[ref.key])
        return Upload(trade, ref, form, expires_at)

    def complete(self, user_id: str, trade_id: str, image_id: str) -> Trade:
        """Check that the object is there, of the declared size and really that image type."""
        ref = self._find(self.trades.get(user_id, trade_id), image_id)
        found = self.store.stat(ref.key)
        problem = self._problem(ref, found)
        if problem:
            if found is not None:
                self.store.delete(ref.key)  # a bad object never stays behind
            log_summary(
                "image.complete",
                self.trades.get(user_id, trade_id),
                missing=[ref.key] if found is None else [],
                failed=[ref.key] if found is not None else [],
            )
            raise InvalidTradeError({"image": [problem]})

        def ready(trade: Trade) -> Trade:
            current = self._find(trade, image_id)
            images = tuple(replace(i, status="ready") if i is current else i for i in trade.images)
            return replace(trade, images=images)

        trade = self._change(user_id, trade_id, ready)
        log_summary("image.complete", trade)
        return trade

    def delete(self, user_id: str, trade_id: str, image_id: str) -> Trade:
        ref = self._find(self.trades.get(user_id, trade_id), image_id)

        def drop(trade: Trade) -> Trade:
            return replace(trade, images=tuple(i for i in trade.images if i.image_id != image_id))

        trade = self._change(user_id, trade_id, drop)
        failed = self._delete_objects([ref.key])
        log_summary("image.delete", trade, removed=[ref.key], failed=failed)
        return trade

    def delete_objects_of(self, trade: Trade) -> None:
        """After a trade is deleted: its images go too (what fails is left to cleanup)."""
        failed = self._delete_objects([i.key for i in trade.images])
        log_summary("trade.delete", trade, removed=[i.key for i in trade.images], failed=failed)

    def url(self, ref: ImageRef) -> str | None:
        if ref.status != "ready":
            return None
        return self.store.download_url(ref.key, self.clock() + DOWNLOAD_TTL)

    def cleanup(self, delete: bool = False) -> CleanupReport:
        """Find objects no trade references, pending uploads older than 24 h, and references
        whose object is missing; with delete, remove the first two and clear the last.

        Memory holds one user's trades and keys at a time: a pass over the table compares
        each user's references with the objects under their prefix; a pass over the bucket
        finds the objects of users who never wrote a trade.
        """
        report = CleanupReport(deleted=delete)
        now = self.clock()
        for user_id in every_user(self.trades):
            refs: dict[str, ImageRef] = {}
            for trade in self.trades.trades_of(user_id):
                report.trades_seen += 1
                refs.update((ref.key, ref) for ref in trade.images)
            keys = set()
            for obj in self.store.objects(f"users/{user_id}/"):
                report.objects_seen += 1
                keys.add(obj.key)
                # An upload requested after the references were read is not an orphan yet.
                if obj.key not in refs and now - obj.last_modified > FRESH:
                    report.orphans.append(obj.key)
            for ref in refs.values():
                if ref.status == "pending" and now - ref.created_at > STALE_PENDING:
                    report.stale_pending.append(ref.key)
                elif ref.status == "ready" and ref.key not in keys:
                    report.missing.append(ref.key)
        owner, owner_known = None, True
        for obj in self.store.objects("users/"):
            this_owner = obj.key.split("/")[1] if obj.key.count("/") >= 2 else ""
            if this_owner != owner:  # keys come grouped by owner: one look-up per owner
                owner, owner_known = this_owner, bool(this_owner) and self.trades.revision(this_owner) > 0
            if not owner_known:
                report.objects_seen += 1
                if now - obj.last_modified > FRESH:
                    report.orphans.append(obj.key)
        if delete:
            self._delete_objects(report.orphans + report.stale_pending)
            self._clear_refs(report.stale_pending + report.missing)
        log.info("image cleanup", extra=report.as_dict())
        if delete:
            metrics.record(
                {
                    "ImagesCleaned": (len(report.orphans) + len(report.stale_pending), "Count"),
                    "ImageReferencesCleared": (len(report.stale_pending) + len(report.missing), "Count"),
                }
            )
        return report

    # -- helpers -------------------------------------------------------------------------
    def _change(self, user_id: str, trade_id: str, change: Callable[[Trade], Trade]) -> Trade:
        for _ in range(WRITE_ATTEMPTS):
            current = self.trades.get(user_id, trade_id)
            changed = change(current)
            changed = replace(changed, version=current.version + 1, updated_at=self.clock())
            try:
                self.trades.replace(changed, expected_version=current.version)
                return changed
            except PreconditionFailedError:
                continue
        raise ConflictError("the trade is being changed by other requests; retry")

    @staticmethod
    def _find(trade: Trade, image_id: str) -> ImageRef:
        for ref in trade.images:
            if ref.image_id == image_id:
                return ref
        raise ImageNotFoundError()

    def _problem(self, ref: ImageRef, found: StoredObject | None) -> str | None:
        if found is None:
            return "the image was not uploaded (or its upload expired)"
        if found.size > self.max_bytes:
            return f"the image is larger than {self.max_bytes} bytes"
        if found.size != ref.size:
            return f"the image has {found.size} bytes, not the {ref.size} declared"
        if found.content_type not in (None, ref.content_type):
            return f"the image was stored as {found.content_type}, not {ref.content_type}"
        actual = sniff(self.store.read_head(ref.key, SNIFF_BYTES))
        if actual != ref.content_type:
            return f"the file's bytes are not {ref.content_type}"
        return None

    def _delete_objects(self, keys: list[str]) -> list[str]:
        failed = []
        for key in keys:
            try:
                self.store.delete(key)
            except Exception:
                log.exception("image delete failed", extra={"key": key})
                failed.append(key)
        return failed

    def _clear_refs(self, keys: list[str]) -> None:
        by_trade: dict[tuple[str, str], set[str]] = {}
        for key in keys:
            _, user_id, _, trade_id, _ = key.split("/", 4)
            by_trade.setdefault((user_id, trade_id), set()).add(key)
        for (user_id, trade_id), gone in by_trade.items():
            try:
                self._change(
                    user_id,
                    trade_id,
                    lambda t, g=gone: replace(t, images=tuple(i for i in t.images if i.key not in g)),
                )
            except Exception:
                log.exception("clearing stale image references failed", extra={"tradeId": trade_id})
