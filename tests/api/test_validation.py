"""Bad requests are refused with a 4xx naming the problem, and nothing is written."""

from __future__ import annotations

import json

import pytest

from . import fresh_user, trade_body

CLOSE = {"quantity": 10, "price": 190, "closedAt": "2026-03-02T15:00:00Z"}


@pytest.fixture(scope="module")
def app(make_app, tmp_path_factory):
    """One app for the module; each test acts as a user of its own."""
    return make_app(tmp_path_factory.mktemp("validation"))


@pytest.fixture
def user():
    return fresh_user()


@pytest.fixture
def existing(create, listed):
    """One stored trade, and a check that the stored trades are still exactly as they were."""
    trade = create()
    before = listed()
    assert [t["tradeId"] for t in before] == [trade["tradeId"]]

    def unchanged() -> None:
        assert listed() == before

    return trade, unchanged


def post_raw(client, auth, text, path="/v1/trades"):
    return client.post(path, data=text, headers={**auth(), "Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"symbol": "A" * 33}, "symbol"),
        ({"symbol": "AAPL\U0001f680"}, "symbol"),
        ({"symbol": ""}, "symbol"),
        ({"symbol": " AAPL"}, "symbol"),
        ({"side": "sideways"}, "side"),
        ({"quantity": 0}, "quantity"),
        ({"quantity": "0"}, "quantity"),
        ({"quantity": -5}, "quantity"),
        ({"quantity": "-0.5"}, "quantity"),
        ({"entryPrice": 0}, "entryPrice"),
        ({"fees": -1}, "fees"),
        ({"quantity": True}, "quantity"),
        ({"entryPrice": False}, "entryPrice"),
        ({"quantity": "NaN"}, "quantity"),
        ({"quantity": "Infinity"}, "quantity"),
        ({"entryPrice": "-Infinity"}, "entryPrice"),
        ({"quantity": "1e400"}, "quantity"),
        ({"quantity": "0.00000000001"}, "quantity"),
        ({"quantity": "1000000000000000"}, "quantity"),
        ({"quantity": "12abc"}, "quantity"),
        ({"quantity": [100]}, "quantity"),
        ({"entryAt": "2026-03-02T14:30:00"}, "entryAt"),
        ({"entryAt": "yesterday"}, "entryAt"),
        ({"entryAt": "0001-01-01T00:00:00Z"}, "entryAt"),
        ({"stopLoss": "187.26"}, "stopLoss"),
        ({"side": "short", "stopLoss": "187.24"}, "stopLoss"),
        ({"tags": [f"t{i}" for i in range(21)]}, "tags"),
        ({"tags": [""]}, "tags"),
        ({"notes": "n" * 10_001}, "notes"),
        ({"notes": "bell\x07"}, "notes"),
        ({"currency": "usd"}, "currency"),
        ({"assetClass": "bond"}, "assetClass"),
        ({"bogus": 1}, "bogus"),
        ({"userId": "bob"}, "userId"),
        ({"tradeId": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}, "tradeId"),
        ({"version": 9}, "version"),
    ],
)
def test_a_bad_field_is_422_naming_it_and_writes_nothing(client, auth, existing, changes, field):
    _, unchanged = existing
    response = client.post("/v1/trades", json=trade_body(**changes), headers=auth())
    assert response.status_code == 422
    assert field in response.get_json()["errors"]["json"]
    unchanged()


def test_a_missing_required_field_is_422_naming_it(client, auth, existing):
    _, unchanged = existing
    body = trade_body()
    del body["entryAt"]
    response = client.post("/v1/trades", json=body, headers=auth())
    assert response.status_code == 422
    assert list(response.get_json()["errors"]["json"]) == ["entryAt"]
    unchanged()


def test_the_edges_of_the_limits_are_accepted(client, auth):
    body = trade_body(
        symbol="B" * 32, tags=[f"t{i}" for i in range(20)], notes="n" * 10_000, quantity="0.0000000001"
    )
    response = client.post("/v1/trades", json=body, headers=auth())
    assert response.status_code == 201
    assert response.get_json()["quantity"] == "0.0000000001"


def test_an_unknown_field_inside_a_partial_close_is_422(client, auth, existing):
    _, unchanged = existing
    body = trade_body(partialCloses=[{**CLOSE, "profit": 5}])
    response = client.post("/v1/trades", json=body, headers=auth())
    assert response.status_code == 422
    assert "profit" in response.get_json()["errors"]["json"]["partialCloses"]["0"]
    unchanged()


@pytest.mark.parametrize(
    "closes",
    [
        [{**CLOSE, "quantity": 60}, {**CLOSE, "quantity": "40.0000000001"}],
        [{**CLOSE, "quantity": 101}],
    ],
)
def test_closes_summing_above_the_quantity_are_422(client, auth, existing, closes):
    _, unchanged = existing
    response = client.post("/v1/trades", json=trade_body(partialCloses=closes), headers=auth())
    assert response.status_code == 422
    assert "partialCloses" in response.get_json()["errors"]["json"]
    unchanged()


def test_a_close_before_the_entry_is_422(client, auth, existing):
    _, unchanged = existing
    body = trade_body(partialCloses=[{**CLOSE, "closedAt": "2026-03-02T14:29:59Z"}])
    response = client.post("/v1/trades", json=body, headers=auth())
    assert response.status_code == 422
    assert "partialCloses" in response.get_json()["errors"]["json"]
    unchanged()


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_json_literals_are_400(client, auth, existing, literal):
    _, unchanged = existing
    text = json.dumps(trade_body(quantity="Q")).replace('"Q"', literal)
    response = post_raw(client, auth, text)
    assert response.status_code == 400
    unchanged()


@pytest.mark.parametrize(
    "number",
    [
        "1e400",
        "-1e400",
        "1E+999999999",
        "1e-400",
        "9" * 10_000,
        "0." + "1" * 10_000,
        "1" + "0" * 9_999 + ".5",
        "0." + "9" * 200,
        "1." + "0" * 200 + "1",
    ],
)
def test_huge_or_overlong_json_numbers_are_422_never_500(client, auth, existing, number):
    _, unchanged = existing
    text = json.dumps(trade_body(quantity="Q")).replace('"Q"', number)
    response = post_raw(client, auth, text)
    assert response.status_code == 422
    assert "quantity" in response.get_json()["errors"]["json"]
    unchanged()


@pytest.mark.parametrize("number", ["9" * 10_000, "1e400"])
def test_huge_numbers_in_a_close_are_422(client, auth, existing, number):
    trade, unchanged = existing
    text = json.dumps({**CLOSE, "price": "P"}).replace('"P"', number)
    response = post_raw(client, auth, text, path=f"/v1/trades/{trade['tradeId']}/closes")
    assert response.status_code == 422
    assert "price" in response.get_json()["errors"]["json"]
    unchanged()


def test_a_long_numeric_string_is_422(client, auth, existing):
    _, unchanged = existing
    response = client.post("/v1/trades", json=trade_body(quantity="1" * 10_000), headers=auth())
    assert response.status_code == 422
    assert "quantity" in response.get_json()["errors"]["json"]
    unchanged()


@pytest.mark.parametrize(
    "text",
    ["{bad", '{"symbol": "AAPL",}', "", "[]", '"AAPL"', "null", b"\xff\xfe{}"],
    ids=["unclosed", "trailing-comma", "empty", "array", "string", "null", "not-utf8"],
)
def test_malformed_or_non_object_json_is_4xx(client, auth, existing, text):
    _, unchanged = existing
    response = post_raw(client, auth, text)
    assert response.status_code in (400, 422)
    unchanged()


@pytest.mark.parametrize(
    "text",
    ["{bad", '{"symbol": "AAPL",}', b"\xff\xfe{}", "[" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000],
    ids=["unclosed", "trailing-comma", "not-utf8", "deep-array", "deep-object"],
)
def test_malformed_json_is_400(client, auth, existing, text):
    _, unchanged = existing
    response = post_raw(client, auth, text)
    assert response.status_code == 400
    assert response.get_json()["code"] == 400
    unchanged()


def test_a_body_over_one_mebibyte_is_413(client, auth, existing):
    _, unchanged = existing
    body = trade_body(notes="n" * (1024 * 1024))
    response = client.post("/v1/trades", json=body, headers=auth())
    assert response.status_code == 413
    unchanged()


def test_a_close_over_the_remaining_quantity_is_422_and_the_trade_is_unchanged(client, auth, existing):
    trade, _ = existing
    url = f"/v1/trades/{trade['tradeId']}"
    assert client.post(f"{url}/closes", json={**CLOSE, "quantity": 60}, headers=auth()).status_code == 201
    before = client.get(url, headers=auth()).get_json()

    response = client.post(f"{url}/closes", json={**CLOSE, "quantity": "40.01"}, headers=auth())

    assert response.status_code == 422
    assert "partialCloses" in response.get_json()["errors"]["json"]
    after = client.get(url, headers=auth())
    assert after.get_json() == before
    assert after.headers["ETag"] == '"2"'


@pytest.mark.parametrize(
    ("close", "field"),
    [
        ({**CLOSE, "quantity": 0}, "quantity"),
        ({**CLOSE, "price": "-1"}, "price"),
        ({**CLOSE, "closedAt": "2026-03-02T15:00:00"}, "closedAt"),
        ({**CLOSE, "extra": 1}, "extra"),
        ({**CLOSE, "closeId": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}, "closeId"),
        ({"quantity": 1, "price": 1}, "closedAt"),
    ],
)
def test_a_bad_close_is_422_and_the_trade_is_unchanged(client, auth, existing, close, field):
    trade, unchanged = existing
    response = client.post(f"/v1/trades/{trade['tradeId']}/closes", json=close, headers=auth())
    assert response.status_code == 422
    assert field in response.get_json()["errors"]["json"]
    unchanged()


def test_a_close_before_the_entry_via_post_closes_is_422(client, auth, existing):
    trade, unchanged = existing
    close = {**CLOSE, "closedAt": "2026-03-01T00:00:00Z"}
    response = client.post(f"/v1/trades/{trade['tradeId']}/closes", json=close, headers=auth())
    assert response.status_code == 422
    assert "partialCloses" in response.get_json()["errors"]["json"]
    unchanged()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"quantity": 50}, "partialCloses"),  # below the 60 already closed
        ({"stopLoss": 200}, "stopLoss"),
        ({"side": "short"}, "stopLoss"),  # the long's stop is below entry
        ({"entryAt": "2026-03-02T15:30:00Z"}, "partialCloses"),  # after the close
        ({"bogus": True}, "bogus"),
        ({"symbol": None}, "symbol"),
        ({"quantity": None}, "quantity"),
        ({"partialCloses": [{**CLOSE, "extra": 1}]}, "partialCloses"),
        ({}, "_schema"),
    ],
)
def test_a_bad_patch_is_422_naming_the_field_and_changes_nothing(client, auth, create, changes, field):
    trade = create(partialCloses=[{**CLOSE, "quantity": 60}])
    url = f"/v1/trades/{trade['tradeId']}"
    response = client.patch(url, json=changes, headers=auth(**{"If-Match": '"1"'}))
    assert response.status_code == 422
    assert field in response.get_json()["errors"]["json"]
    after = client.get(url, headers=auth())
    assert after.get_json() == trade
    assert after.headers["ETag"] == '"1"'
