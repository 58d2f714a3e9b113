"""Fields shared by the schemas: exact decimals and UTC timestamps."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import marshmallow as ma

from tradeapp.adapters.items import format_time
from tradeapp.domain.numbers import bounds_problem

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)


def _storable(value: Decimal) -> None:
    problem = bounds_problem(value)
    if problem:
        raise ma.ValidationError(problem)


class Number(ma.fields.Decimal):
    """A decimal given as a JSON number or string, returned as a string ("187.25")."""

    def __init__(self, *, minimum: str | None = None, exclusive: bool = True, **kwargs: Any) -> None:
        validators = [_storable]
        if minimum is not None:
            bound = ma.validate.Range(min=Decimal(minimum), min_inclusive=not exclusive)
            # Called through a lambda so apispec does not document it: a Decimal `minimum` would
            # be written as the string "0", which JSON Schema refuses (and the type is a string).
            validators.append(lambda value: bound(value))
        kwargs.setdefault("metadata", {})
        # Documented as what is returned (apispec would say "number" for a Decimal field).
        kwargs["metadata"].setdefault("type", "string")
        kwargs["metadata"].setdefault("format", "decimal")
        kwargs["metadata"].setdefault(
            "description",
            f"decimal, as a string or number{'; > ' if exclusive else '; >= '}{minimum}"
            if minimum is not None
            else "decimal, as a string or number",
        )
        super().__init__(as_string=True, allow_nan=False, validate=validators, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, bool):  # Decimal(str(True)) would fail with a poorer message
            raise self.make_error("invalid")
        if isinstance(value, str) and len(value) > 64:
            raise ma.ValidationError("number is too long")
        return super()._deserialize(value, attr, data, **kwargs)


class Timestamp(ma.fields.AwareDateTime):
    """ISO 8601 with an offset on input; UTC with a Z on output."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {}).setdefault(
            "description", "ISO 8601 date-time with an offset; returned in UTC"
        )
        super().__init__(format="iso", **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:
            raise ma.ValidationError("date-time is out of range") from None
        if not EARLIEST <= moment < LATEST:
            raise ma.ValidationError("date-time must be between 1900 and 2999")
        return moment

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else format_time(value)


class WholeNumber(ma.fields.Integer):
    """An integer; JSON numbers arrive as Decimals, so 10 and 10.0 count, 10.5 does not."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
            value = int(value)
        return super()._deserialize(value, attr, data, **kwargs)
