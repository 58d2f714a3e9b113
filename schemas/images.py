"""Request and response schemas for trade images."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from tradeapp.api.extensions import Schema
from tradeapp.domain.images import CONTENT_TYPES

from .fields import Timestamp, WholeNumber


class ImageRequest(Schema):
    content_type = fields.String(required=True, validate=validate.OneOf(CONTENT_TYPES))
    # The upper bound is the app's MAX_IMAGE_BYTES, checked by the service and documented by the Api.
    size = WholeNumber(
        required=True,
        validate=validate.Range(min=1),
        metadata={"description": "bytes, at most MAX_IMAGE_BYTES", "x-maximum-setting": "MAX_IMAGE_BYTES"},
    )


class UploadForm(Schema):
    url = fields.String(metadata={"description": "POST the file here as multipart/form-data"})
    fields_ = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        data_key="fields",
        attribute="fields",
        metadata={"description": "send these form fields first, then the file as `file`"},
    )


class UploadOut(Schema):
    image_id = fields.String()
    upload = fields.Nested(UploadForm)
    expires_at = Timestamp()

    @ma.pre_dump
    def _present(self, upload: Any, **_: Any) -> dict[str, Any]:
        return {"image_id": upload.image.image_id, "upload": upload.form, "expires_at": upload.expires_at}


class ImageOut(Schema):
    image_id = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    status = fields.String(metadata={"enum": ["pending", "ready"]})
    created_at = Timestamp()
    url = fields.String(allow_none=True, metadata={"description": "short-lived download URL (ready images)"})
