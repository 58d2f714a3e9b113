"""Fields shared by the schemas: exact decimals and UTC timestamps."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import marshmallow as ma

from tradeapp.adapters.items import format_time
from tradeapp.domain.numbers import MAX_DECIMAL_PLACES, MAX_INTEGER_DIGITS, bounds_problem

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
MAX_NUMBER_TEXT = 64

# A decimal string in plain notation, as the bounds read it: at most MAX_INTEGER_DIGITS digits
# before the point (leading zeros aside) and MAX_DECIMAL_PLACES after it (trailing zeros aside).
_INTEGER = rf"0*[1-9][0-9]{{0,{MAX_INTEGER_DIGITS - 1}}}"
_FRACTION = rf"(\.([0-9]{{0,{MAX_DECIMAL_PLACES - 1}}}[1-9])?0*)?"
POSITIVE_DECIMAL = rf"^({_INTEGER}{_FRACTION}|0+\.[0-9]{{0,{MAX_DECIMAL_PLACES - 1}}}[1-9]0*)$"
NON_NEGATIVE_DECIMAL = rf"^({_INTEGER}|0+){_FRACTION}$"


def _storable(value: Decimal) -> None:
    problem = bounds_problem(value)
    if problem:
        raise ma.ValidationError(problem)


def accepted_decimal(minimum: str, exclusive: bool, nullable: bool = False) -> dict[str, Any]:
    """The JSON Schema of what a request's decimal field accepts: a string or a number, > or >=
    minimum, below 10^15, at most 10 decimal places. minimum is "0" for every request field.

    Where null is accepted too, each branch says so (OpenAPI 3.0 reads `nullable` only beside a
    `type`), and the branches are `anyOf`: null matches both, and `oneOf` wants exactly one.
    """
    if Decimal(minimum) != 0:
        raise ValueError("the documented patterns state a minimum of 0")
    branches: list[dict[str, Any]] = [
        {
            "type": "string",
            "format": "decimal",
            "maxLength": MAX_NUMBER_TEXT,
            "pattern": POSITIVE_DECIMAL if exclusive else NON_NEGATIVE_DECIMAL,
        },
        {
            "type": "number",
            "minimum": 0,
            "exclusiveMinimum": exclusive,
            "maximum": 10**MAX_INTEGER_DIGITS,
            "exclusiveMaximum": True,
            "multipleOf": float(Decimal(1).scaleb(-MAX_DECIMAL_PLACES)),
        },
    ]
    if nullable:
        return {"anyOf": [{**branch, "nullable": True} for branch in branches]}
    return {"oneOf": branches}


class Number(ma.fields.Decimal):
    """A decimal given as a JSON number or string, returned as a string ("187.25").

    Request fields are the ones with a `minimum`: they are documented as what they accept (a
    string or a number, see accepted_decimal); the others, as what responses hold (a string).
    The Api maps this class to no type of its own, so the metadata says it all.
    """

    def __init__(self, *, minimum: str | None = None, exclusive: bool = True, **kwargs: Any) -> None:
        validators = [_storable]
        if minimum is not None:
            bound = ma.validate.Range(min=Decimal(minimum), min_inclusive=not exclusive)
            # Called through a lambda so apispec does not document it: a Decimal `minimum` would
            # be written as the string "0", which JSON Schema refuses (and the type is a string).
            validators.append(lambda value: bound(value))
        metadata = kwargs.setdefault("metadata", {})
        if minimum is None:
            metadata.setdefault("type", "string")
            metadata.setdefault("format", "decimal")
            metadata.setdefault("description", "decimal, as a string")
        else:
            for key, value in accepted_decimal(minimum, exclusive, kwargs.get("allow_none", False)).items():
                metadata.setdefault(key, value)
            metadata.setdefault(
                "description",
                f"decimal, as a string or number; {'>' if exclusive else '>='} {minimum}, "
                f"below 10^{MAX_INTEGER_DIGITS}, at most {MAX_DECIMAL_PLACES} decimal places",
            )
        super().__init__(as_string=True, allow_nan=False, validate=validators, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, bool):  # Decimal(str(True)) would fail with a poorer message
            raise self.make_error("invalid")
        if isinstance(value, str) and len(value) > MAX_NUMBER_TEXT:
            raise ma.ValidationError("number is too long")
        return super()._deserialize(value, attr, data, **kwargs)


# The date-times whose instant in UTC falls in 1900..2999: any offset on the days in between,
# and on the first and last days only offsets that keep the instant inside (a subset there: a
# local time past the offset is accepted too, undocumented).
IN_RANGE = (
    r"^((190[1-9]|19[1-9][0-9]|2[0-8][0-9]{2}|29[0-8][0-9]|299[0-8])-"
    r"|1900-(0[2-9]|1[0-2])-|1900-01-(0[2-9]|[12][0-9]|3[01])T"
    r"|2999-(0[1-9]|1[01])-|2999-12-([0-2][0-9]|30)T"
    r"|1900-01-01T.*(Z|-[0-9]{2}:[0-9]{2}|\+00:00)$"
    r"|2999-12-31T.*(Z|\+[0-9]{2}:[0-9]{2}|-00:00)$)"
)


class Timestamp(ma.fields.AwareDateTime):
    """ISO 8601 with an offset on input; UTC with a Z on output."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = kwargs.setdefault("metadata", {})
        metadata.setdefault(
            "description", "ISO 8601 date-time with an offset, in 1900..2999 UTC; returned in UTC"
        )
        metadata.setdefault("pattern", IN_RANGE)
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
