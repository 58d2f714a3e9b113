"""The caller's performance statistics."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView

from schemas.stats import StatsOut, present

from ..services.stats import StatsService
from .auth import authenticate, user_id
from .extensions import Blueprint

blp = Blueprint("stats", __name__, url_prefix="/v1/stats", description="Performance statistics")
blp.before_request(authenticate)


def service() -> StatsService:
    return current_app.extensions["tradeapp"].stats


@blp.route("")
class Stats(MethodView):
    @blp.response(200, StatsOut)
    @blp.errors(401, 503)
    def get(self) -> Any:
        """Your stats, as last rebuilt from your trades"""
        return present(service().get(user_id()))


@blp.route("/rebuild")
class StatsRebuild(MethodView):
    @blp.response(200, StatsOut)
    @blp.errors(401, 503)
    def post(self) -> Any:
        """Rebuild your stats from your trades now"""
        return present(service().rebuild(user_id()))
