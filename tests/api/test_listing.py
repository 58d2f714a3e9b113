"""Listing trades: order, limits, cursor paging and filters."""

from __future__ import annotations

import base64
import json

import pytest

from . import BACKENDS, fresh_user, trade_body

FULL = {"quantity": 100, "price": 190, "closedAt": "2026-03-05T10:00:00Z"}
HALF = {**FULL, "quantity": 50}
JOURNAL = {
    "feb": {"symbol": "BRK.B", "entryAt": "2026-02-28T23:59:59Z", "tags": []},
    "tsla": {"symbol": "TSLA", "entryAt": "2026-03-03T10:00:00Z", "tags": ["swing"]},
    "aapl1": {"symbol": "AAPL", "entryAt": "2026-03-01T10:00:00Z", "tags": ["breakout"]},
    "msft": {
        "symbol": "MSFT",
        "entryAt": "2026-03-02T05:00:00-05:00",
        "tags": ["breakout", "swing"],
        "partialCloses": [FULL],
    },
    "aapl2": {"symbol": "aapl", "entryAt": "2026-03-03T10:00:00Z", "partialCloses": [HALF]},
}


def write_journal(client, headers):
    """Five trades created out of order; two share an entryAt. Returns their ids by name."""
    ids = {}
    for name, fields in JOURNAL.items():
        response = client.post("/v1/trades", json=trade_body(**fields), headers=headers)
        assert response.status_code == 201
        ids[name] = response.get_json()["tradeId"]
    return ids


@pytest.fixture
def user():
    return fresh_user()


@pytest.fixture(scope="module", params=BACKENDS)
def app(request, make_app, tmp_path_factory):
    """One app per backend for this module: the read-only tests share alice's journal."""
    return make_app(tmp_path_factory.mktemp(request.param), request.param)


@pytest.fixture(scope="module")
def journal(app):
    token = app.extensions["tradeapp"].issuer.issue("alice")
    return write_journal(app.test_client(), {"Authorization": f"Bearer {token}"})


@pytest.fixture
def own_journal(client, auth):
    """The same journal for the test's own user, for tests that change it."""
    return write_journal(client, auth())


def page(client, auth, user="alice", **query):
    response = client.get("/v1/trades", query_string=query, headers=auth(user))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def ids(client, auth, user="alice", cursor=None, **query):
    """Every id the query lists, following nextCursor, checking each page's size."""
    found = []
    limit = query.get("limit", 50)
    while True:
        body = page(client, auth, user, **query, **({"cursor": cursor} if cursor else {}))
        assert len(body["items"]) <= limit
        found += [t["tradeId"] for t in body["items"]]
        cursor = body["nextCursor"]
        if cursor is None:
            return found
        assert len(body["items"]) == limit


def newest_first(journal, *names):
    order = {
        "aapl2": "2026-03-03T10:00:00Z",
        "tsla": "2026-03-03T10:00:00Z",
        "msft": "2026-03-02T10:00:00Z",
        "aapl1": "2026-03-01T10:00:00Z",
        "feb": "2026-02-28T23:59:59Z",
    }
    return [journal[n] for n in sorted(names, key=lambda n: (order[n], journal[n]), reverse=True)]


ALL = ("aapl2", "tsla", "msft", "aapl1", "feb")


def test_trades_are_listed_newest_entry_first(client, auth, journal):
    body = page(client, auth)
    assert [t["tradeId"] for t in body["items"]] == newest_first(journal, *ALL)
    assert [t["entryAt"] for t in body["items"]][2:] == [
        "2026-03-02T10:00:00Z",
        "2026-03-01T10:00:00Z",
        "2026-02-28T23:59:59Z",
    ]
    assert body["nextCursor"] is None
    assert body["items"][0]["grossPnl"] in ("0.00", "137.50")  # items carry their figures


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 5, 100])
def test_paging_visits_every_trade_once_in_order(client, auth, journal, limit):
    assert ids(client, auth, limit=limit) == newest_first(journal, *ALL)


def test_a_full_last_page_may_end_with_an_empty_page_or_no_cursor(client, auth, journal):
    first = page(client, auth, limit=5)
    assert len(first["items"]) == 5
    if first["nextCursor"] is not None:
        assert page(client, auth, limit=5, cursor=first["nextCursor"])["items"] == []


def test_an_empty_journal_lists_nothing(client, auth, user):
    assert page(client, auth, user) == {"items": [], "nextCursor": None}


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "1.5"])
def test_limit_outside_1_to_100_is_422(client, auth, limit):
    response = client.get("/v1/trades", query_string={"limit": limit}, headers=auth())
    assert response.status_code == 422
    assert "limit" in response.get_json()["errors"]["query"]


def test_a_cursor_can_be_reused_with_another_limit(client, auth, journal):
    cursor = page(client, auth, limit=1)["nextCursor"]
    rest = page(client, auth, limit=10, cursor=cursor)
    assert [t["tradeId"] for t in rest["items"]] == newest_first(journal, *ALL)[1:]


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ({"status": "open"}, ("tsla", "aapl1", "feb")),
        ({"status": "partial"}, ("aapl2",)),
        ({"status": "closed"}, ("msft",)),
        ({"symbol": "AAPL"}, ("aapl2", "aapl1")),
        ({"symbol": "aapl"}, ("aapl2", "aapl1")),
        ({"symbol": "brk.b"}, ("feb",)),
        ({"symbol": "NVDA"}, ()),
        ({"tag": "swing"}, ("tsla", "msft")),
        ({"tag": "breakout"}, ("msft", "aapl1")),
        ({"tag": "swin"}, ()),
        ({"from": "2026-03-02T10:00:00Z"}, ("aapl2", "tsla", "msft")),
        ({"from": "2026-03-02T10:00:00.000001Z"}, ("aapl2", "tsla")),
        ({"to": "2026-03-02T10:00:00Z"}, ("msft", "aapl1", "feb")),
        ({"to": "2026-03-02T09:59:59Z"}, ("aapl1", "feb")),
        ({"from": "2026-03-01T05:00:00-05:00", "to": "2026-03-02T05:00:00-05:00"}, ("msft", "aapl1")),
        ({"from": "2026-03-01T00:00:00Z", "tag": "breakout", "status": "open"}, ("aapl1",)),
        ({"symbol": "aapl", "status": "open"}, ("aapl1",)),
        ({"symbol": "msft", "status": "open"}, ()),
    ],
)
def test_filters(client, auth, journal, query, names):
    expected = newest_first(journal, *names)
    assert ids(client, auth, **query) == expected
    assert ids(client, auth, limit=1, **query) == expected


def test_a_bad_filter_is_422_naming_it(client, auth):
    response = client.get(
        "/v1/trades", query_string={"status": "won", "from": "yesterday", "to": "2026-03-02"}, headers=auth()
    )
    assert response.status_code == 422
    assert {"status", "from", "to"} <= set(response.get_json()["errors"]["query"])


def test_listing_follows_changes_to_status(client, auth, own_journal, user):
    url = f"/v1/trades/{own_journal['tsla']}/closes"
    assert client.post(url, json=FULL, headers=auth(user)).status_code == 201
    assert ids(client, auth, user, status="closed") == newest_first(own_journal, "tsla", "msft")
    assert ids(client, auth, user, status="open") == newest_first(own_journal, "aapl1", "feb")


def _tamper(cursor: str, part: int) -> str:
    pieces = cursor.split(".")
    text = pieces[part]
    pieces[part] = text[:-2] + ("A" if text[-2] != "A" else "B") + text[-1]
    return ".".join(pieces)


def _forged(cursor: str) -> str:
    """The same cursor with its position moved, keeping the old signature."""
    body, mac = cursor.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["e"] = "2030-01-01T00:00:00Z"
    text = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).rstrip(b"=")
    return text.decode() + "." + mac


@pytest.mark.parametrize(
    "spoil",
    [
        lambda c: _tamper(c, 0),
        lambda c: _tamper(c, 1),
        _forged,
        lambda c: c.split(".")[0],
        lambda c: c + ".x",
        lambda c: "garbage",
        lambda c: "a.b",
        lambda c: "..",
        lambda c: "e30.e30",
        lambda c: "%%%.!!!",
    ],
    ids=["body", "mac", "forged", "no-mac", "three-parts", "garbage", "a.b", "dots", "empty-json", "symbols"],
)
def test_a_tampered_cursor_is_400(client, auth, journal, spoil):
    cursor = page(client, auth, limit=2)["nextCursor"]
    response = client.get("/v1/trades", query_string={"limit": 2, "cursor": spoil(cursor)}, headers=auth())
    assert response.status_code == 400
    assert "cursor" in response.get_json()["errors"]["query"]


def test_a_cursor_from_another_user_is_400(client, auth, journal, own_journal, user):
    cursor = page(client, auth, "alice", limit=1)["nextCursor"]
    response = client.get("/v1/trades", query_string={"limit": 1, "cursor": cursor}, headers=auth(user))
    assert response.status_code == 400
    assert "cursor" in response.get_json()["errors"]["query"]


@pytest.mark.parametrize(
    ("issued_for", "used_with"),
    [
        ({"status": "open"}, {}),
        ({"status": "open"}, {"status": "closed"}),
        ({}, {"tag": "swing"}),
        ({"symbol": "AAPL"}, {"symbol": "MSFT"}),
        ({"from": "2026-03-01T00:00:00Z"}, {"from": "2026-03-01T00:00:01Z"}),
        ({"to": "2026-03-04T00:00:00Z"}, {}),
    ],
)
def test_a_cursor_from_another_filter_is_400(client, auth, journal, issued_for, used_with):
    cursor = page(client, auth, limit=1, **issued_for)["nextCursor"]
    assert cursor is not None
    response = client.get(
        "/v1/trades", query_string={"limit": 1, "cursor": cursor, **used_with}, headers=auth()
    )
    assert response.status_code == 400
    assert "cursor" in response.get_json()["errors"]["query"]


def test_a_cursor_is_bound_to_the_symbol_not_its_spelling(client, auth, journal):
    cursor = page(client, auth, limit=1, symbol="aapl")["nextCursor"]
    rest = page(client, auth, limit=1, symbol="AAPL", cursor=cursor)
    assert [t["tradeId"] for t in rest["items"]] == [journal["aapl1"]]


def test_a_cursor_survives_deletion_of_the_trade_it_points_at(client, auth, own_journal, user):
    first = page(client, auth, user, limit=2)
    last = first["items"][-1]["tradeId"]
    assert client.delete(f"/v1/trades/{last}", headers=auth(user)).status_code == 204
    rest = ids(client, auth, user, limit=2, cursor=first["nextCursor"])
    assert rest == newest_first(own_journal, *ALL)[2:]
