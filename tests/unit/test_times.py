"""Stored and returned timestamps: format_time and parse_time, written by hand for speed,
agree with the plain library versions they replaced, on any moment in any offset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from tradeapp.adapters.items import format_time, parse_time

OFFSETS = st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-23 * 60 - 59, 23 * 60 + 59)
)
MOMENTS = st.datetimes(
    min_value=datetime(1900, 1, 2), max_value=datetime(2999, 12, 30), timezones=OFFSETS | st.just(UTC)
)


def strftime_format(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


def replace_z_parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@settings(max_examples=500, deadline=None)
@given(MOMENTS)
def test_format_time_writes_what_strftime_wrote(moment: datetime) -> None:
    assert format_time(moment) == strftime_format(moment)


@settings(max_examples=500, deadline=None)
@given(MOMENTS)
def test_parse_time_reads_each_form_to_the_same_utc_moment(moment: datetime) -> None:
    for text in (format_time(moment), moment.isoformat(), moment.isoformat().replace("+00:00", "Z")):
        parsed = parse_time(text)
        assert parsed == replace_z_parse(text)
        assert parsed.tzinfo is UTC
        assert parsed.utcoffset() == timedelta(0)
