"""One user's trades are invisible to another: 404, never 403, and absent from every list."""

from __future__ import annotations

import pytest

from . import BACKENDS

pytestmark = pytest.mark.parametrize("backend", BACKENDS)

CLOSE = {"quantity": 10, "price": 190, "closedAt": "2026-03-02T15:00:00Z"}


@pytest.fixture
def alices_trade(create):
    return create("alice", tags=["shared-tag"])


def test_another_user_cannot_read_it(client, auth, alices_trade):
    response = client.get(f"/v1/trades/{alices_trade['tradeId']}", headers=auth("bob"))
    assert response.status_code == 404
    assert alices_trade["tradeId"] not in response.get_data(as_text=True)


@pytest.mark.parametrize("if_match", ['"1"', "*"])
def test_another_user_cannot_patch_it(client, auth, alices_trade, if_match):
    url = f"/v1/trades/{alices_trade['tradeId']}"
    response = client.patch(
        url, json={"notes": "bob was here"}, headers=auth("bob", **{"If-Match": if_match})
    )
    assert response.status_code == 404
    assert client.get(url, headers=auth("alice")).get_json() == alices_trade


def test_without_if_match_a_patch_cannot_tell_whether_the_trade_exists(client, auth, alices_trade):
    theirs = client.patch(f"/v1/trades/{alices_trade['tradeId']}", json={"notes": "x"}, headers=auth("bob"))
    nobodys = client.patch("/v1/trades/01ARZ3NDEKTSV4RRFFQ69G5FAV", json={"notes": "x"}, headers=auth("bob"))
    assert theirs.status_code == nobodys.status_code == 428
    assert theirs.get_json() == nobodys.get_json()


@pytest.mark.parametrize("if_match", [None, '"1"', '"5"'])
def test_another_user_cannot_delete_it(client, auth, alices_trade, if_match):
    url = f"/v1/trades/{alices_trade['tradeId']}"
    headers = auth("bob") if if_match is None else auth("bob", **{"If-Match": if_match})
    assert client.delete(url, headers=headers).status_code == 404
    assert client.get(url, headers=auth("alice")).get_json() == alices_trade


def test_another_user_cannot_add_a_close(client, auth, alices_trade):
    url = f"/v1/trades/{alices_trade['tradeId']}"
    assert client.post(f"{url}/closes", json=CLOSE, headers=auth("bob")).status_code == 404
    assert client.get(url, headers=auth("alice")).get_json() == alices_trade


@pytest.mark.parametrize(
    "query", [{}, {"symbol": "AAPL"}, {"tag": "shared-tag"}, {"status": "open"}, {"limit": 100}]
)
def test_another_user_never_lists_it(client, auth, create, alices_trade, query):
    bobs = create("bob", symbol="MSFT", tags=["shared-tag"])
    response = client.get("/v1/trades", query_string=query, headers=auth("bob"))
    assert response.status_code == 200
    assert alices_trade["tradeId"] not in response.get_data(as_text=True)
    assert all(t["tradeId"] == bobs["tradeId"] for t in response.get_json()["items"])


def test_users_with_similar_names_are_separate(client, auth, create, alices_trade):
    url = f"/v1/trades/{alices_trade['tradeId']}"
    for user in ("Alice", "alic", "alice.", "alice@x"):
        assert client.get(url, headers=auth(user)).status_code == 404, repr(user)
        assert client.get("/v1/trades", headers=auth(user)).get_json()["items"] == []
    # names that could not be storage-key parts are not user ids at all
    for user in ("alice ", "alice\x00", "alice/trades"):
        assert client.get(url, headers=auth(user)).status_code == 401, repr(user)
