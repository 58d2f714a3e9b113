"""Chart screenshots attached to a trade: references, their keys, and what the bytes really are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

CONTENT_TYPES = ("image/png", "image/jpeg", "image/webp")
MAX_IMAGES = 10
SNIFF_BYTES = 16

ImageStatus = Literal["pending", "ready"]


@dataclass(frozen=True)
class ImageRef:
    image_id: str
    key: str
    content_type: str
    size: int
    status: ImageStatus
    created_at: datetime


def image_key(user_id: str, trade_id: str, image_id: str) -> str:
    """Where the object lives: under its owner's and its trade's prefix, named by the server."""
    return f"users/{user_id}/trades/{trade_id}/{image_id}"


def trade_prefix(user_id: str, trade_id: str) -> str:
    return f"users/{user_id}/trades/{trade_id}/"


def owned(ref: ImageRef, user_id: str, trade_id: str) -> bool:
    return ref.key == image_key(user_id, trade_id, ref.image_id)


def sniff(head: bytes) -> str | None:
    """The image type the first bytes prove, whatever the upload claimed."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None
