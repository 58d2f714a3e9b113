"""The embedded image store: files under the data dir, behind HMAC-signed, expiring URLs.

It stands in for S3's presigned POST and GET and enforces what S3's policy would: the
exact key, the exact Content-Type, the size limit and the expiry. The app serves the
upload and download routes itself (tradeapp/api/localimages.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlencode

from ..domain.errors import TradeAppError
from .ports import StoredObject

META = ".meta.json"
CHUNK = 64 * 1024


class UploadRefusedError(TradeAppError):
    """A local upload or download URL that does not hold; `status` is the HTTP answer."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class LocalImageStore:
    def __init__(self, root: str | Path, keys: dict[str, bytes], current: str, base_path: str) -> None:
        self.root = Path(root)
        self.keys = keys
        self.current = current
        self.base_path = base_path.rstrip("/")

    # -- what the service uses -------------------------------------------------------
    def upload_form(
        self, key: str, content_type: str, max_bytes: int, expires_at: datetime
    ) -> dict[str, Any]:
        fields = {
            "key": key,
            "Content-Type": content_type,
            "x-max-bytes": str(max_bytes),
            "x-expires": str(int(expires_at.timestamp())),
            "x-key-id": self.current,
        }
        fields["x-signature"] = self._sign("POST", fields)
        return {"url": f"{self.base_path}/upload", "fields": fields}

    def stat(self, key: str) -> StoredObject | None:
        path = self._path(key)
        try:
            info = path.stat()
            meta = json.loads(path.with_name(path.name + META).read_text())
        except FileNotFoundError:
            return None
        return StoredObject(
            key, info.st_size, meta.get("contentType"), datetime.fromtimestamp(info.st_mtime, UTC)
        )

    def read_head(self, key: str, size: int) -> bytes:
        with self._path(key).open("rb") as handle:
            return handle.read(size)

    def delete(self, key: str) -> None:
        path = self._path(key)
        for target in (path, path.with_name(path.name + META)):
            target.unlink(missing_ok=True)

    def download_url(self, key: str, expires_at: datetime) -> str:
        fields = {"key": key, "x-expires": str(int(expires_at.timestamp())), "x-key-id": self.current}
        query = {k: v for k, v in fields.items() if k != "key"}
        query["x-signature"] = self._sign("GET", fields)
        return f"{self.base_path}/{quote(key)}?{urlencode(query)}"

    def objects(self, prefix: str) -> Iterator[StoredObject]:
        # S3's meaning: every key that starts with prefix, so "t1" takes in "t10/..." too; walk
        # the folder that holds the prefix's last part, not the folder the prefix may name.
        parent = prefix.rpartition("/")[0]
        for folder, dirs, files in os.walk(self.root / parent if parent else self.root):
            dirs.sort()
            for name in sorted(files):
                if name.endswith(META) or name.startswith("."):
                    continue
                key = Path(folder, name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    found = self.stat(key)
                    if found is not None:
                        yield found

    # -- what the local routes use ---------------------------------------------------
    def accept_upload(self, fields: dict[str, str], stream: IO[bytes]) -> str:
        """Check the signed form like S3 checks its policy, then store the file; return the key."""
        self._verify("POST", fields)
        key = fields["key"]
        limit = int(fields["x-max-bytes"])
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        size = 0
        try:
            with partial.open("wb") as handle:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise UploadRefusedError(f"the file is larger than {limit} bytes", 413)
                    handle.write(chunk)
            if size == 0:
                raise UploadRefusedError("the file is empty", 400)
            path.with_name(path.name + META).write_text(json.dumps({"contentType": fields["Content-Type"]}))
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)  # nothing is left behind when an upload is refused
        return key

    def open_download(self, key: str, query: dict[str, str]) -> tuple[Path, str]:
        self._verify("GET", {**query, "key": key})
        found = self.stat(key)
        if found is None:
            raise UploadRefusedError("no such image", 404)
        return self._path(key), found.content_type or "application/octet-stream"

    # -- signing ---------------------------------------------------------------------
    def _sign(self, method: str, fields: dict[str, str], kid: str | None = None) -> str:
        kid = kid or fields["x-key-id"]
        signed = {k: v for k, v in sorted(fields.items()) if k != "x-signature"}
        message = method + "\n" + json.dumps(signed, separators=(",", ":"))
        return hmac.new(self.keys[kid], message.encode(), hashlib.sha256).hexdigest()

    def _verify(self, method: str, fields: dict[str, str]) -> None:
        required = {"key", "x-expires", "x-key-id", "x-signature"}
        if method == "POST":
            required |= {"Content-Type", "x-max-bytes"}
        if not required <= fields.keys() or fields["x-key-id"] not in self.keys:
            raise UploadRefusedError("the URL is not signed", 403)
        signed = {k: fields[k] for k in required}
        # Bytes, not str: compare_digest raises TypeError on non-ASCII text (a 500, not a 403).
        if not hmac.compare_digest(self._sign(method, signed).encode(), fields["x-signature"].encode()):
            raise UploadRefusedError("the URL's signature does not match", 403)
        if not fields["x-expires"].isdigit() or int(fields["x-expires"]) < time.time():
            raise UploadRefusedError("the URL has expired", 403)

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or any(part in ("", ".", "..") for part in parts) or key.startswith("/"):
            raise UploadRefusedError("not an image key", 400)
        return self.root.joinpath(*parts)
