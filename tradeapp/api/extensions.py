"""flask-smorest subclassed once: Api, Blueprint and the base Schema that every resource uses."""

from __future__ import annotations

import copy
import json
import threading
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
    """Blueprints' routes are registered at once and documented on first use of `spec`.

    Documenting every operation (apispec resolving the schemas) costs tens of milliseconds,
    paid on every Lambda cold start although few invocations ever read the document.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._undocumented: list[tuple[Any, str, Any]] = []
        self._documenting = threading.Lock()
        super().__init__(*args, **kwargs)

    def init_app(self, app: flask.Flask, *args: Any, **kwargs: Any) -> None:
        super().init_app(app, *args, **kwargs)
        from schemas.fields import Number  # schemas import this module: imported when used

        # Number documents its own type: a string when returned, a string or number when accepted.
        self.register_field(Number, None, None)
        settings = app.config.get("TRADEAPP", {})

        def view_required(converter: Any, field: ma.fields.Field, **_: Any) -> dict[str, Any]:
            """`metadata={"view_required": True}`: a parameter the view itself requires, to answer its
            absence with a status of its own (If-Match: 428, RFC 6585) rather than the parser's 422."""
            return {"required": True} if field.metadata.get("view_required") else {}

        self.ma_plugin.converter.add_parameter_attribute_function(view_required)
        convert = self.ma_plugin.converter.schema2jsonschema

        def schema2jsonschema(schema: Any) -> dict[str, Any]:
            """`Meta.json_schema`: object-level rules a schema validates itself (minProperties)."""
            return {**convert(schema), **getattr(getattr(schema, "Meta", None), "json_schema", {})}

        self.ma_plugin.converter.schema2jsonschema = schema2jsonschema
        # Blueprints and schemas are module-level, shared by every app in the process, and a
        # component documented for one app showed in the next: a bound that depends on this
        # app's settings is filled in on each copy of the document it serves.
        to_dict = self.spec.to_dict
        self.spec.to_dict = lambda: _fill_settings(copy.deepcopy(to_dict()), settings)  # type: ignore[method-assign]

    @property  # type: ignore[override]
    def spec(self) -> Any:
        if self._undocumented:
            with self._documenting:
                # Emptied only once every blueprint is in: a thread that comes meanwhile waits
                # for the lock instead of reading a half-built document. A failure leaves the
                # list as it was, so that every later read fails too, never serves a part.
                if self._undocumented:
                    for blp, name, parameters in self._undocumented:
                        spec = self._spec
                        blp.register_views_in_doc(self, self._app, spec, name=name, parameters=parameters)
                        spec.tag({"name": name, "description": blp.description})
                    self._undocumented = []
        return self._spec

    @spec.setter
    def spec(self, value: Any) -> None:
        self._spec = value

    def register_blueprint(self, blp: Any, *, parameters: Any = None, **options: Any) -> None:
        """flask_smorest.Api.register_blueprint (0.47), with the documentation deferred."""
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        self._undocumented.append((blp, name, parameters))

    def handle_http_exception(self, error: Any) -> Any:
        """flask-smorest's JSON error, keeping the exception's own headers (a 405's Allow, RFC 9110)."""
        payload, code, headers = super().handle_http_exception(error)
        own = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        return payload, code, {**own, **(headers or {})}


def _fill_settings(node: Any, settings: dict[str, Any]) -> Any:
    """`"x-maximum-setting": NAME` in a schema becomes `"maximum": <this app's NAME>`."""
    if isinstance(node, dict):
        name = node.pop("x-maximum-setting", None)
        if name is not None:
            node["maximum"] = settings[name]
        for value in node.values():
            _fill_settings(value, settings)
    elif isinstance(node, list):
        for value in node:
            _fill_settings(value, settings)
    return node
