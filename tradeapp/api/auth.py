"""Bearer-token authentication for the API's protected blueprints."""

from __future__ import annotations

from flask import current_app, g, request

from .. import logs
from ..domain.errors import AuthError


def authenticate() -> None:
    """A before_request hook: sets g.user_id from the access token or refuses with 401."""
    if request.method == "OPTIONS":  # CORS preflight carries no credentials
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("missing bearer token")
    claims = current_app.extensions["tradeapp"].verifier.verify(token.strip())
    g.user_id = claims["sub"]
    g.access_token = token.strip()
    logs.bind(userId=g.user_id)


def user_id() -> str:
    return str(g.user_id)
