"""The embedded image store's own upload and download URLs (S3 serves these in production)."""

from __future__ import annotations

from typing import Any

from flask import current_app, request, send_file

from ..adapters.localfiles import LocalImageStore, UploadRefusedError
from .extensions import Blueprint

blp = Blueprint("localimages", __name__, url_prefix="/v1/local-images")


def store() -> LocalImageStore:
    found = current_app.extensions["tradeapp"].images.store
    if not isinstance(found, LocalImageStore):
        raise UploadRefusedError("images are stored in S3 here", 404)
    return found


@blp.undocumented_route("/upload", methods=["POST"])
def upload() -> Any:
    """Like S3's presigned POST: the signed form fields, then the file as `file`."""
    local = store()
    # Set before the body is parsed: the API's 1 MiB limit would refuse every real image.
    request.max_content_length = current_app.config["TRADEAPP"]["MAX_IMAGE_BYTES"] + 64 * 1024
    fields = {k: v for k, v in request.form.items()}
    file = request.files.get("file")
    if file is None:
        raise UploadRefusedError("the form has no `file`", 400)
    local.accept_upload(fields, file.stream)  # like S3: the signed Content-Type field counts
    return "", 204


@blp.undocumented_route("/<path:key>", methods=["GET"])
def download(key: str) -> Any:
    path, content_type = store().open_download(key, dict(request.args))
    return send_file(path, mimetype=content_type, max_age=0)
