"""Trades: create, list, read, patch, delete, and append partial closes."""

from __future__ import annotations

import re
from typing import Any

from flask import current_app, url_for
from flask.views import MethodView

from schemas.trades import (
    CloseIn,
    CreateHeaders,
    IfMatchHeaders,
    RequiredIfMatchHeaders,
    TradeIn,
    TradeOut,
    TradePage,
    TradePatch,
    TradeQueryArgs,
)

from ..adapters.ports import TradeQuery
from ..domain.errors import PreconditionFailedError, PreconditionRequiredError
from ..domain.trade import Trade
from ..services.trades import TradeService
from .auth import authenticate, user_id
from .extensions import Blueprint

blp = Blueprint("trades", __name__, url_prefix="/v1/trades", description="Trades and their partial closes")
blp.before_request(authenticate)

ETAG = re.compile(r'^(?:W/)?"(\d{1,18})"$')
ETAG_HEADER = {"ETag": {"description": "the trade's version, for If-Match", "schema": {"type": "string"}}}
LOCATION_HEADER = {"Location": {"description": "URL of the trade", "schema": {"type": "string"}}}


def service() -> TradeService:
    return current_app.extensions["tradeapp"].trades


def etag(trade: Trade) -> dict[str, str]:
    return {"ETag": f'"{trade.version}"'}


def expected_version(header: str | None) -> int | None:
    """The version If-Match names; None for `*`. A header that names no version cannot match."""
    if header is None:
        raise PreconditionRequiredError()
    if header.strip() == "*":
        return None
    match = ETAG.match(header.strip())
    if match is None:
        raise PreconditionFailedError("If-Match does not name a version of this trade")
    return int(match.group(1))


@blp.route("")
class Trades(MethodView):
    @blp.arguments(TradeQueryArgs, location="query")
    @blp.response(200, TradePage)
    @blp.errors(400, 401)
    def get(self, args: dict[str, Any]) -> Any:
        """List your trades, newest entry first"""
        limit, cursor = args.pop("limit"), args.pop("cursor", None)
        if "symbol" in args:
            args["symbol"] = args["symbol"].upper()
        return service().list(user_id(), TradeQuery(**args), limit, cursor)

    @blp.arguments(CreateHeaders, location="headers")
    @blp.arguments(TradeIn)
    @blp.response(201, TradeOut, headers={**LOCATION_HEADER, **ETAG_HEADER})
    @blp.errors(400, 401, 409, 413, 503)
    def post(self, headers: dict[str, Any], data: dict[str, Any]) -> Any:
        """Record a trade"""
        trade = service().create(user_id(), data, headers.get("idempotency_key"))
        location = url_for("trades.TradeById", trade_id=trade.trade_id)
        return trade, 201, {**etag(trade), "Location": location}


@blp.route("/<string:trade_id>")
class TradeById(MethodView):
    @blp.response(200, TradeOut, headers=ETAG_HEADER)
    @blp.errors(401, 404)
    def get(self, trade_id: str) -> Any:
        """Read one trade"""
        trade = service().get(user_id(), trade_id)
        return trade, 200, etag(trade)

    @blp.arguments(RequiredIfMatchHeaders, location="headers")
    @blp.arguments(TradePatch)
    @blp.response(200, TradeOut, headers=ETAG_HEADER)
    @blp.errors(400, 401, 404, 412, 413, 428, 503)
    def patch(self, headers: dict[str, Any], changes: dict[str, Any], trade_id: str) -> Any:
        """Change a trade (If-Match required); a given partialCloses replaces the list"""
        version = expected_version(headers.get("if_match"))
        trade = service().update(user_id(), trade_id, changes, version)
        return trade, 200, etag(trade)

    @blp.arguments(IfMatchHeaders, location="headers")
    @blp.response(204)
    @blp.errors(401, 404, 412, 503)
    def delete(self, headers: dict[str, Any], trade_id: str) -> Any:
        """Delete a trade (If-Match honoured when sent)"""
        header = headers.get("if_match")
        version = expected_version(header) if header is not None else None
        service().delete(user_id(), trade_id, version)
        return "", 204


@blp.route("/<string:trade_id>/closes")
class TradeCloses(MethodView):
    @blp.arguments(CloseIn)
    @blp.response(201, TradeOut, headers=ETAG_HEADER)
    @blp.errors(400, 401, 404, 409, 413, 503)
    def post(self, close: dict[str, Any], trade_id: str) -> Any:
        """Add a partial close; refused if it would close more than remains"""
        trade = service().add_close(user_id(), trade_id, close)
        return trade, 201, etag(trade)
