"""Exact decimal helpers: one canonical form for stored numbers, fixed scales for derived ones.

Every adapter must round-trip a number to the same value, and DynamoDB drops trailing
zeros, so stored numbers are kept in their shortest exact form ("187.25", "100").
"""

from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)

# Inputs are bounded (see MAX_*), so 100 digits keep every product and sum exact.
CONTEXT = Context(prec=100, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])
MAX_INTEGER_DIGITS = 15
MAX_DECIMAL_PLACES = 10
ZERO = Decimal(0)
ONE = Decimal(1)
CENT = Decimal("0.01")
ZERO_CENTS = Decimal("0.00")
# Entry fees are spread over closes at this scale; see trade.py for why it stays exact.
ALLOCATION_QUANTUM = Decimal(1).scaleb(-MAX_DECIMAL_PLACES)
RATIO_QUANTUM = Decimal("0.0001")


def canonical(value: Decimal) -> Decimal:
    """The shortest exact form: no exponent, no trailing zeros, no negative zero.

    >>> canonical(Decimal("187.250")), canonical(Decimal("1E+2")), canonical(Decimal("-0"))
    (Decimal('187.25'), Decimal('100'), Decimal('0'))
    """
    if not value.is_finite():
        raise ValueError("not a finite number")
    if value.is_zero():
        return ZERO
    normal = value.normalize(CONTEXT)
    if normal.as_tuple().exponent > 0:  # type: ignore[operator]
        normal = normal.quantize(ONE, context=CONTEXT)
    return normal


def bounds_problem(value: Decimal) -> str | None:
    """Why a number cannot be stored exactly, or None when it can."""
    if not value.is_finite():
        return "must be a finite number"
    if value.is_zero():
        return None
    # Read the digits as given: canonical() would round past 100 digits or overflow on 1E+100.
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    exponent += len(digits) - len("".join(map(str, digits)).rstrip("0"))
    if -exponent > MAX_DECIMAL_PLACES:
        return f"must have at most {MAX_DECIMAL_PLACES} decimal places"
    if value.adjusted() >= MAX_INTEGER_DIGITS:
        return f"must be below 10^{MAX_INTEGER_DIGITS}"
    return None


def money(value: Decimal) -> Decimal:
    """A derived amount for display: exact, with at least two decimal places.

    Equal to canonical(value) widened to cents; written as one quantize and one compare
    because a stats rebuild calls it several times per trade.
    """
    if not value.is_finite():
        raise ValueError("not a finite number")
    if value.is_zero():
        return ZERO_CENTS  # never "-0.00"
    cents = value.quantize(CENT, context=CONTEXT)
    return cents if cents == value else value.normalize(CONTEXT)


def ratio(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    """numerator / denominator at four decimal places; None when the denominator is 0."""
    if denominator.is_zero():
        return None
    result = CONTEXT.divide(numerator, denominator).quantize(RATIO_QUANTUM, context=CONTEXT)
    return result.copy_abs() if result.is_zero() else result  # never "-0.0000"
