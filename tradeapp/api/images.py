"""Trade images: request an upload, complete it, delete it."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView

from schemas.images import ImageRequest, UploadOut
from schemas.trades import TradeOut

from ..services.images import ImageService
from .auth import authenticate, user_id
from .extensions import Blueprint

blp = Blueprint("images", __name__, url_prefix="/v1/trades", description="Chart screenshots of a trade")
blp.before_request(authenticate)


def service() -> ImageService:
    return current_app.extensions["tradeapp"].images


@blp.route("/<string:trade_id>/images")
class TradeImages(MethodView):
    @blp.arguments(ImageRequest)
    @blp.response(201, UploadOut)
    @blp.errors(400, 401, 404, 409, 503)
    def post(self, request: dict[str, Any], trade_id: str) -> Any:
        """Start an upload: returns a form to POST the file to, valid for 5 minutes"""
        upload = service().request_upload(user_id(), trade_id, request["content_type"], request["size"])
        return upload, 201


@blp.route("/<string:trade_id>/images/<string:image_id>/complete")
class ImageComplete(MethodView):
    @blp.response(200, TradeOut)
    @blp.errors(401, 404, 409, 422, 503)
    def post(self, trade_id: str, image_id: str) -> Any:
        """Finish an upload: checks size and type (by its bytes) and marks the image ready"""
        return service().complete(user_id(), trade_id, image_id)


@blp.route("/<string:trade_id>/images/<string:image_id>")
class ImageById(MethodView):
    @blp.response(204)
    @blp.errors(401, 404, 409, 503)
    def delete(self, trade_id: str, image_id: str) -> Any:
        """Delete an image and its reference"""
        service().delete(user_id(), trade_id, image_id)
        return "", 204
