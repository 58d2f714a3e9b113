"""List cursors: opaque, signed, bound to one user and one query, and rotatable."""

import base64
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeapp.adapters.ports import Position, TradeQuery
from tradeapp.domain.errors import InvalidCursorError
from tradeapp.services.cursors import CursorCodec, SigningKeys

KEY_1 = b"x" * 32
KEY_2 = b"y" * 32
BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
QUERY = TradeQuery(status="closed", symbol="AAPL")
POSITION = Position(datetime(2024, 3, 1, 14, 30, tzinfo=UTC), "01HQZX0000000000000000000A")


def codec(current="k1", **keys):
    return CursorCodec(SigningKeys(current, keys or {"k1": KEY_1}))


def flip(text, index):
    """The same text with one character changed to its neighbour in the base64url alphabet.

    Neighbours differ only in the lowest bit, which the last character of a 32-byte MAC
    does not carry: a decoder that drops those bits accepts the flip.
    """
    neighbour = BASE64URL[BASE64URL.index(text[index]) ^ 1]
    return text[:index] + neighbour + text[index + 1 :]


def test_a_cursor_round_trips():
    token = codec().encode("alice", QUERY, POSITION)

    assert codec().decode(token, "alice", QUERY) == POSITION


def test_a_cursor_is_opaque_text_for_a_query_string():
    token = codec().encode("alice", QUERY, POSITION)

    assert set(token) <= set(BASE64URL + ".")
    assert token.count(".") == 1


@pytest.mark.parametrize(
    ("user", "query"),
    [
        ("bob", QUERY),
        ("alice", TradeQuery(status="closed")),
        ("alice", TradeQuery(status="open", symbol="AAPL")),
        ("alice", TradeQuery(status="closed", symbol="AAPL", tag="breakout")),
        ("alice", TradeQuery(status="closed", symbol="AAPL", from_=datetime(2024, 1, 1, tzinfo=UTC))),
        ("alice", TradeQuery(status="closed", symbol="AAPL", to=datetime(2024, 1, 1, tzinfo=UTC))),
    ],
)
def test_a_cursor_belongs_to_one_user_and_one_query(user, query):
    token = codec().encode("alice", QUERY, POSITION)

    with pytest.raises(InvalidCursorError):
        codec().decode(token, user, query)


def tampered():
    token = codec().encode("alice", QUERY, POSITION)
    body, mac = token.split(".")
    forged_body = base64.urlsafe_b64encode(
        json.dumps(
            {**json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))), "t": "someone-elses"}
        ).encode()
    ).decode()
    return {
        "body char flipped": flip(body, 5) + "." + mac,
        "mac char flipped": body + "." + flip(mac, 5),
        "mac last char flipped": body + "." + flip(mac, len(mac) - 1),
        "mac in standard base64": body + "." + mac.replace("-", "+").replace("_", "/") + "+",
        "mac padded": body + "." + mac + "=",
        "mac dropped": body,
        "mac empty": body + ".",
        "body dropped": "." + mac,
        "extra part": token + ".x",
        "payload edited, old mac": forged_body.rstrip("=") + "." + mac,
        "garbage": "not-a-cursor",
        "garbage with a dot": "abc.def",
        "non-ascii": token + "é",
        "empty string": "",
    }


@pytest.mark.parametrize("token", list(tampered().values()), ids=list(tampered()))
def test_a_tampered_cursor_is_refused(token):
    with pytest.raises(InvalidCursorError):
        codec().decode(token, "alice", QUERY)


def test_a_cursor_signed_with_another_secret_is_refused():
    token = codec(k1=b"z" * 32).encode("alice", QUERY, POSITION)

    with pytest.raises(InvalidCursorError):
        codec().decode(token, "alice", QUERY)


def test_rotation_keeps_old_cursors_while_their_key_is_listed():
    # GIVEN a cursor signed with k1
    old_token = codec("k1", k1=KEY_1).encode("alice", QUERY, POSITION)

    # WHEN k2 becomes current and k1 stays listed, both old and new cursors verify
    rotated = codec("k2", k1=KEY_1, k2=KEY_2)
    new_token = rotated.encode("alice", QUERY, POSITION)
    assert rotated.decode(old_token, "alice", QUERY) == POSITION
    assert rotated.decode(new_token, "alice", QUERY) == POSITION
    assert new_token != old_token

    # WHEN k1 is removed, its cursors fail and k2's still verify
    retired = codec("k2", k2=KEY_2)
    with pytest.raises(InvalidCursorError):
        retired.decode(old_token, "alice", QUERY)
    assert retired.decode(new_token, "alice", QUERY) == POSITION


def test_a_key_id_cannot_be_swapped_to_a_listed_key():
    # a k1 cursor relabelled as k2 must not verify under k2's secret
    token = codec("k1", k1=KEY_1).encode("alice", QUERY, POSITION)
    body, mac = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    relabelled = base64.urlsafe_b64encode(json.dumps({**payload, "k": "k2"}).encode()).decode().rstrip("=")

    with pytest.raises(InvalidCursorError):
        codec("k2", k1=KEY_1, k2=KEY_2).decode(relabelled + "." + mac, "alice", QUERY)


def test_every_single_character_substitution_is_refused():
    # Exhaustive over the characters a decoder might tolerate: the base64url and standard
    # alphabets, padding and the separator.
    token = codec().encode("alice", QUERY, POSITION)
    accepted = []
    for index, original in enumerate(token):
        for replacement in BASE64URL + "+/=.":
            if replacement == original:
                continue
            mutated = token[:index] + replacement + token[index + 1 :]
            try:
                codec().decode(mutated, "alice", QUERY)
            except InvalidCursorError:
                continue
            accepted.append((index, replacement))

    assert accepted == []


moments = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2999, 12, 31), timezones=st.just(UTC)
)
queries = st.builds(
    TradeQuery,
    status=st.none() | st.sampled_from(["open", "partial", "closed"]),
    symbol=st.none() | st.text(min_size=1, max_size=8),
    tag=st.none() | st.text(min_size=1, max_size=8),
    from_=st.none() | moments,
    to=st.none() | moments,
)
positions = st.builds(Position, moments, st.text(max_size=30))
users = st.text(min_size=1, max_size=20)


@settings(max_examples=100, deadline=None)
@given(users, queries, positions)
def test_cursors_round_trip_for_any_position(user, query, position):
    token = codec().encode(user, query, position)

    assert codec().decode(token, user, query) == position


@settings(max_examples=200, deadline=None)
@given(users, queries, positions, st.data())
def test_any_single_character_change_is_refused(user, query, position, data):
    token = codec().encode(user, query, position)
    index = data.draw(st.integers(0, len(token) - 1), label="index")
    replacement = data.draw(
        st.one_of(st.sampled_from(BASE64URL + "+/=."), st.characters(codec="utf-8")).filter(
            lambda c: c != token[index]
        ),
        label="replacement",
    )
    mutated = token[:index] + replacement + token[index + 1 :]

    with pytest.raises(InvalidCursorError):
        codec().decode(mutated, user, query)


@settings(max_examples=100, deadline=None)
@given(users, queries, positions, st.integers(0, 200))
def test_a_truncated_cursor_is_refused(user, query, position, keep):
    token = codec().encode(user, query, position)
    keep = keep % len(token)

    with pytest.raises(InvalidCursorError):
        codec().decode(token[:keep], user, query)
