"""Opaque, tamper-proof list cursors: a position signed with HMAC and bound to the user and the query."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

from ..adapters.items import format_time, parse_time
from ..adapters.ports import Position, TradeQuery
from ..domain.errors import InvalidCursorError


@dataclass(frozen=True)
class SigningKeys:
    """HMAC keys by id; `current` signs, every key listed verifies (rotation grace)."""

    current: str
    keys: dict[str, bytes]


class CursorCodec:
    def __init__(self, keys: SigningKeys) -> None:
        self.keys = keys

    def encode(self, user_id: str, query: TradeQuery, position: Position) -> str:
        payload = {
            "k": self.keys.current,
            "b": _binding(user_id, query),
            "e": format_time(position.entry_at),
            "t": position.trade_id,
        }
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return body + "." + _b64(self._mac(self.keys.current, body))

    def decode(self, token: str, user_id: str, query: TradeQuery) -> Position:
        try:
            body, mac = token.split(".")
            payload = json.loads(_unb64(body))
            kid = payload["k"]
            # Compare the text, not the decoded bytes: base64 decoding ignores the spare low
            # bits of the last character and the padding, so several texts carry one MAC.
            if kid not in self.keys.keys or not hmac.compare_digest(
                mac.encode(), _b64(self._mac(kid, body)).encode()
            ):
                raise InvalidCursorError()
            if payload["b"] != _binding(user_id, query):
                raise InvalidCursorError("cursor belongs to another user or query")
            return Position(parse_time(payload["e"]), str(payload["t"]))
        except InvalidCursorError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise InvalidCursorError() from error

    def _mac(self, kid: str, body: str) -> bytes:
        return hmac.new(self.keys.keys[kid], body.encode(), hashlib.sha256).digest()


def _binding(user_id: str, query: TradeQuery) -> str:
    parts = [
        user_id,
        query.status or "",
        query.symbol or "",
        query.tag or "",
        format_time(query.from_) if query.from_ else "",
        format_time(query.to) if query.to else "",
    ]
    return _b64(hashlib.sha256("\x00".join(parts).encode()).digest()[:12])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
