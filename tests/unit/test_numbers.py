"""Canonical forms, storage bounds and display scales of the exact decimal helpers."""

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeapp.domain.numbers import CONTEXT, bounds_problem, canonical, money, ratio

DECIMALS_MESSAGE = "must have at most 10 decimal places"
SIZE_MESSAGE = "must be below 10^15"
FINITE_MESSAGE = "must be a finite number"


@pytest.mark.parametrize(
    ("given_", "expected"),
    [
        ("187.250", "187.25"),
        ("1E+2", "100"),
        ("-0", "0"),
        ("0.000", "0"),
        ("-0E+5", "0"),
        ("100", "100"),
        ("1.10", "1.1"),
        ("-5.0500", "-5.05"),
        ("0.0000000001", "0.0000000001"),
        ("0.000000120", "0.00000012"),
    ],
)
def test_canonical_is_the_shortest_exact_form(given_, expected):
    result = canonical(Decimal(given_))

    # format "f", as the schemas serialise: str() writes values below 1e-6 as "1.2E-7"
    assert format(result, "f") == expected
    assert result == Decimal(given_)


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "sNaN"])
def test_canonical_refuses_non_finite(text):
    with pytest.raises(ValueError, match="finite"):
        canonical(Decimal(text))


@pytest.mark.parametrize(
    ("given_", "expected"),
    [
        ("5", "5.00"),  # padded to cents
        ("-3.1", "-3.10"),
        ("1E+2", "100.00"),
        ("-0", "0.00"),  # no negative zero on display
        ("1.2345", "1.2345"),  # more than two decimals are kept, never rounded
        ("0.3333333333", "0.3333333333"),
        ("12.500", "12.50"),
    ],
)
def test_money_shows_at_least_two_decimals_and_stays_exact(given_, expected):
    assert str(money(Decimal(given_))) == expected


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        ("1041", "1000", "1.0410"),
        ("100", "300", "0.3333"),  # 0.33333... rounds down at 4 dp
        ("200", "300", "0.6667"),  # 0.66666... rounds up
        ("-300", "200", "-1.5000"),
        ("0.00005", "1", "0.0000"),  # half-even: 0.00005 -> 0.0000
        ("0.00015", "1", "0.0002"),  # half-even: 0.00015 -> 0.0002
    ],
)
def test_ratio_is_rounded_half_even_at_four_places(numerator, denominator, expected):
    assert str(ratio(Decimal(numerator), Decimal(denominator))) == expected


def test_ratio_by_zero_is_none():
    assert ratio(Decimal(5), Decimal(0)) is None
    assert ratio(Decimal(5), Decimal("-0.000")) is None


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "-0",
        "1.0000000001",  # exactly 10 decimals
        "1.10000000000",  # 11 written decimals, but the trailing zero is not a real one
        "999999999999999",  # 15 integer digits
        "999999999999999.9999999999",  # the largest storable magnitude, 25 digits
        "-999999999999999.9999999999",
        "1E+14",
        "1E-10",
        "0E-500",  # a zero is storable whatever its exponent
    ],
)
def test_bounds_accept_storable_numbers(text):
    assert bounds_problem(Decimal(text)) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.00000000001", DECIMALS_MESSAGE),  # 11 decimals
        ("0.00000000001", DECIMALS_MESSAGE),
        ("1E-11", DECIMALS_MESSAGE),
        ("1E-300", DECIMALS_MESSAGE),
        # 149 decimals: more digits than the 100-digit context holds, so rounding it first
        # would make it look like 1
        ("1." + "0" * 148 + "1", DECIMALS_MESSAGE),
        ("1000000000000000", SIZE_MESSAGE),  # 10^15
        ("-1000000000000000", SIZE_MESSAGE),
        ("1E+15", SIZE_MESSAGE),
        ("1E+100", SIZE_MESSAGE),  # quantizing this to an integer needs 101 digits
        ("1E+300", SIZE_MESSAGE),
        ("1" * 120, SIZE_MESSAGE),
        ("NaN", FINITE_MESSAGE),
        ("-NaN", FINITE_MESSAGE),
        ("sNaN", FINITE_MESSAGE),
        ("Infinity", FINITE_MESSAGE),
        ("-Infinity", FINITE_MESSAGE),
    ],
)
def test_bounds_name_the_problem(text, expected):
    assert bounds_problem(Decimal(text)) == expected


def arbitrary_decimals():
    """Finite decimals of any size and precision, including far outside the stored bounds."""
    built = st.builds(
        lambda sign, coefficient, exponent: Decimal(f"{sign}{coefficient}E{exponent}"),
        st.sampled_from(["", "-"]),
        st.integers(0, 10**130),
        st.integers(-200, 200),
    )
    return st.one_of(built, st.decimals(allow_nan=False, allow_infinity=False))


@settings(max_examples=300, deadline=None)
@given(arbitrary_decimals())
def test_bounds_problem_is_none_exactly_when_the_number_is_storable(value):
    exact = Fraction(value)
    storable = (exact * 10**10).denominator == 1 and abs(exact) < 10**15

    assert (bounds_problem(value) is None) == storable


@settings(max_examples=200, deadline=None)
@given(arbitrary_decimals())
def test_canonical_keeps_the_value_of_every_storable_number(value):
    if bounds_problem(value) is not None:
        return
    result = canonical(value)

    _, digits, exponent = result.as_tuple()
    assert Fraction(result) == Fraction(value)
    assert exponent <= 0  # "1E+2" becomes "100"
    assert exponent == 0 or digits[-1] != 0  # no trailing zeros after the point
    assert not (result.is_zero() and result.is_signed())
    assert str(canonical(result)) == str(result)  # idempotent


DERIVED = st.builds(  # what money() is given: sums and products of stored numbers
    lambda sign, coefficient, exponent: Decimal(f"{sign}{coefficient}E{exponent}"),
    st.sampled_from(["", "-"]),
    st.integers(0, 10**60),
    st.integers(-40, 10),
)


@settings(max_examples=300, deadline=None)
@given(DERIVED)
def test_money_is_the_canonical_form_widened_to_cents(value):
    """money() is written for speed; this is its definition."""
    shortest = canonical(value)
    cents = shortest.quantize(Decimal("0.01"), context=CONTEXT)
    expected = shortest if -shortest.as_tuple().exponent >= 2 else cents

    result = money(value)

    assert str(result) == str(expected)
    assert Fraction(result) == Fraction(value)
