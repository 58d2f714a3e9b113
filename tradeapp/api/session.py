"""Sign-out that takes effect at once, for a lost device or a leaked token."""

from __future__ import annotations

from typing import Any

from flask import current_app, g
from flask.views import MethodView

from .auth import authenticate, user_id
from .extensions import Blueprint

blp = Blueprint("auth", __name__, url_prefix="/v1/auth", description="Sessions")
blp.before_request(authenticate)


@blp.route("/signout")
class SignOut(MethodView):
    @blp.response(204)
    @blp.errors(401, 503)
    def post(self) -> Any:
        """Sign out everywhere: every access token issued until now stops working here"""
        current_app.extensions["tradeapp"].sessions.sign_out(user_id(), g.access_token)
        return "", 204
