"""flask-smorest subclassed once: Api, Blueprint and the base Schema that every resource uses."""

from __future__ import annotations

import json
from decimal import Decimal
from http import HTTPStatus
from typing import Any

import flask
import flask_smorest
import marshmallow as ma
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from ..domain.trade import camel_case


class Schema(ma.Schema):
    """Unknown fields are refused; Python attributes are snake_case, JSON keys camelCase."""

    class Meta:
        unknown = ma.RAISE

    def on_bind_field(self, field_name: str, field_obj: ma.fields.Field) -> None:
        if field_obj.data_key is None:
            field_obj.data_key = camel_case(field_name.rstrip("_"))


BODY = "<request body>"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


class Parser(FlaskParser):
    """Reads JSON numbers as exact Decimals (never float) and refuses NaN and Infinity.
    Unknown query parameters are refused like unknown body fields (a misspelt filter would
    otherwise silently list everything)."""

    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": ma.RAISE}

    def _raw_load_json(self, req: Any) -> Any:
        if not is_json_request(req):
            return core.missing
        data = req.get_data(cache=True)
        # webargs reads a JSONDecodeError whose doc is "" as "no body", so these name the body.
        try:
            return json.loads(
                data.decode("utf-8"),
                parse_float=Decimal,
                parse_int=Decimal,
                parse_constant=_refuse_constant,
            )
        except UnicodeDecodeError as error:
            raise json.JSONDecodeError(str(error), BODY, 0) from error
        except RecursionError as error:  # e.g. 100,000 nested arrays, well under the size limit
            raise json.JSONDecodeError("JSON is nested too deeply", BODY, 0) from error
        except ValueError as error:
            if isinstance(error, json.JSONDecodeError):
                raise
            raise json.JSONDecodeError(str(error), BODY, 0) from error


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = Parser()

    def undocumented_route(self, rule: str, **options: Any) -> Any:
        """A route left out of the OpenAPI document (flask-smorest has no `hide`)."""

        def decorator(func: Any) -> Any:
            flask.Blueprint.add_url_rule(self, rule, view_func=func, **options)
            return func

        return decorator

    def errors(self, *codes: int) -> Any:
        """Document the error responses an operation can give, in flask-smorest's error shape."""

        def decorator(func: Any) -> Any:
            for code in codes:
                func = self.alt_response(code, response=HTTPStatus(code).name)(func)
            return func

        return decorator


class Api(flask_smorest.Api):
    def handle_http_exception(self, error: Any) -> Any:
        """flask-smorest's JSON error, keeping the exception's own headers (a 405's Allow, RFC 9110)."""
        payload, code, headers = super().handle_http_exception(error)
        own = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        return payload, code, {**own, **(headers or {})}
