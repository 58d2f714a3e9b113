"""Unauthenticated routes: health, the YAML spec and Swagger UI's own assets (no CDN)."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, send_from_directory
from flask.views import MethodView

from .extensions import Blueprint, Schema, ma

blp = Blueprint("meta", __name__, url_prefix="/v1", description="Health and documentation")


class Health(Schema):
    status = ma.fields.String(metadata={"example": "ok"})


@blp.route("/health")
class HealthCheck(MethodView):
    @blp.doc(security=[])
    @blp.response(200, Health)
    def get(self) -> Any:
        """Liveness check; needs no token"""
        return {"status": "ok"}


@blp.undocumented_route("/openapi.yaml")
def openapi_yaml() -> Response:
    spec = current_app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec
    return Response(spec.to_yaml(), mimetype="application/yaml")


@blp.undocumented_route("/docs/assets/<path:filename>")
def swagger_assets(filename: str) -> Response:
    from swagger_ui_bundle import swagger_ui_path

    response = send_from_directory(str(swagger_ui_path), filename, max_age=86400)
    return response
