"""The trade lifecycle over HTTP: the tour, ETags and If-Match, partial closes, idempotent creation."""

from __future__ import annotations

import pytest

from . import BACKENDS, trade_body

pytestmark = pytest.mark.parametrize("backend", BACKENDS)

DECIMAL_FIELDS = ("quantity", "entryPrice", "fees", "stopLoss", "multiplier", "remainingQuantity")


def test_the_tour_long_aapl_with_two_partial_closes(client, auth):
    # GIVEN a long AAPL 100 @ 187.25 with 1.00 of fees and a stop at 185
    created = client.post("/v1/trades", json=trade_body(), headers=auth())
    assert created.status_code == 201
    trade = created.get_json()
    assert trade["symbol"] == "AAPL"
    assert trade["side"] == "long"
    assert trade["quantity"] == "100"
    assert trade["entryPrice"] == "187.25"
    assert trade["fees"] == "1"
    assert trade["stopLoss"] == "185"
    assert trade["status"] == "open"
    assert trade["remainingQuantity"] == "100"
    assert trade["partialCloses"] == []
    assert trade["grossPnl"] == "0.00"
    assert trade["netPnl"] == "0.00"
    assert trade["outcome"] is None
    assert trade["holdSeconds"] is None
    assert trade["version"] == 1
    for name in DECIMAL_FIELDS:
        assert isinstance(trade[name], str), name
    closes = f"/v1/trades/{trade['tradeId']}/closes"

    # WHEN 60 are sold at 189.10 (a string) with 0.50 of fees (a number)
    first = client.post(
        closes,
        json={"quantity": 60, "price": "189.10", "fees": 0.5, "closedAt": "2026-03-02T15:00:00Z"},
        headers=auth(),
    )

    # THEN the trade is partial and carries 60% of the entry fees on that close
    assert first.status_code == 201
    assert first.headers["ETag"] == '"2"'
    partial = first.get_json()
    assert partial["status"] == "partial"
    assert partial["remainingQuantity"] == "40"
    assert partial["grossPnl"] == "111.00"  # 60 * 1.85
    assert partial["netPnl"] == "109.90"  # 111.00 - 0.50 - 0.60
    assert partial["rMultiple"] == "0.4884"  # 109.90 / (2.25 * 100)
    assert partial["outcome"] is None
    assert partial["holdSeconds"] is None

    # WHEN the remaining 40 are sold at 190 a day later (timestamp with an offset)
    second = client.post(
        closes,
        json={"quantity": "40", "price": 190, "fees": "0.50", "closedAt": "2026-03-03T10:00:00-05:00"},
        headers=auth(),
    )

    # THEN the trade is closed and every figure is exact to the cent
    assert second.status_code == 201
    assert second.headers["ETag"] == '"3"'
    closed = second.get_json()
    assert closed["status"] == "closed"
    assert closed["remainingQuantity"] == "0"
    assert [(c["quantity"], c["price"], c["fees"]) for c in closed["partialCloses"]] == [
        ("60", "189.1", "0.5"),
        ("40", "190", "0.5"),
    ]
    assert closed["partialCloses"][1]["closedAt"] == "2026-03-03T15:00:00Z"
    assert [c["grossPnl"] for c in closed["partialCloses"]] == ["111.00", "110.00"]
    assert [c["netPnl"] for c in closed["partialCloses"]] == ["109.90", "109.10"]
    assert closed["grossPnl"] == "221.00"
    assert closed["netPnl"] == "219.00"  # 221.00 - 1.00 - 0.50 - 0.50
    assert closed["rMultiple"] == "0.9733"  # 219 / 225
    assert closed["outcome"] == "win"
    assert closed["holdSeconds"] == 24 * 3600 + 30 * 60
    assert closed["version"] == 3

    # AND reading it back gives the same figures
    read = client.get(f"/v1/trades/{trade['tradeId']}", headers=auth())
    assert read.status_code == 200
    assert read.get_json() == closed


def test_a_losing_short_is_exact_to_the_cent(client, auth):
    body = trade_body(
        side="short",
        quantity="3",
        entryPrice="10.01",
        fees="0.10",
        stopLoss="10.50",
        partialCloses=[
            {"quantity": 1, "price": "10.02", "closedAt": "2026-03-02T14:31:00Z"},
            {"quantity": 2, "price": "10.33", "fees": "0.01", "closedAt": "2026-03-02T14:32:00Z"},
        ],
    )
    response = client.post("/v1/trades", json=body, headers=auth())
    assert response.status_code == 201
    trade = response.get_json()
    assert [c["grossPnl"] for c in trade["partialCloses"]] == ["-0.01", "-0.64"]
    assert trade["grossPnl"] == "-0.65"
    assert trade["netPnl"] == "-0.76"
    assert trade["outcome"] == "loss"
    assert trade["holdSeconds"] == 120
    assert trade["rMultiple"] == "-0.5170"  # -0.76 / (0.49 * 3)


def test_post_returns_201_with_location_and_etag_and_get_returns_the_etag(client, auth):
    response = client.post("/v1/trades", json=trade_body(), headers=auth())
    assert response.status_code == 201
    trade_id = response.get_json()["tradeId"]
    assert response.headers["Location"].endswith(f"/v1/trades/{trade_id}")
    assert response.headers["ETag"] == '"1"'

    read = client.get(response.headers["Location"], headers=auth())
    assert read.status_code == 200
    assert read.headers["ETag"] == '"1"'
    assert read.get_json()["tradeId"] == trade_id


def test_patch_without_if_match_is_428_and_changes_nothing(client, auth, create):
    trade = create()
    url = f"/v1/trades/{trade['tradeId']}"
    response = client.patch(url, json={"notes": "changed"}, headers=auth())
    assert response.status_code == 428
    assert client.get(url, headers=auth()).get_json() == trade


@pytest.mark.parametrize("stale", ['"0"', '"2"', 'W/"7"', '"abc"', "1"])
def test_patch_with_a_stale_if_match_is_412_and_changes_nothing(client, auth, create, stale):
    trade = create()
    url = f"/v1/trades/{trade['tradeId']}"
    response = client.patch(url, json={"notes": "changed"}, headers=auth(**{"If-Match": stale}))
    assert response.status_code == 412
    after = client.get(url, headers=auth())
    assert after.get_json() == trade
    assert after.headers["ETag"] == '"1"'


def test_patch_accepts_weak_and_strong_etags(client, auth, create):
    trade = create()
    url = f"/v1/trades/{trade['tradeId']}"

    weak = client.patch(url, json={"notes": "first"}, headers=auth(**{"If-Match": 'W/"1"'}))
    assert weak.status_code == 200
    assert weak.headers["ETag"] == '"2"'
    assert weak.get_json()["notes"] == "first"

    strong = client.patch(url, json={"tags": ["breakout"]}, headers=auth(**{"If-Match": '"2"'}))
    assert strong.status_code == 200
    assert strong.headers["ETag"] == '"3"'
    body = strong.get_json()
    assert (body["notes"], body["tags"], body["version"]) == ("first", ["breakout"], 3)
    assert body["createdAt"] == trade["createdAt"]

    # the previous ETag is now stale
    again = client.patch(url, json={"notes": "late"}, headers=auth(**{"If-Match": '"2"'}))
    assert again.status_code == 412
    assert client.get(url, headers=auth()).get_json()["notes"] == "first"


def test_patch_recomputes_figures_from_changed_numbers(client, auth, create):
    trade = create(partialCloses=[{"quantity": 100, "price": 190, "closedAt": "2026-03-02T15:00:00Z"}])
    assert trade["netPnl"] == "274.00"
    response = client.patch(
        f"/v1/trades/{trade['tradeId']}",
        json={"entryPrice": "188.25", "fees": 0},
        headers=auth(**{"If-Match": '"1"'}),
    )
    assert response.status_code == 200
    assert response.get_json()["netPnl"] == "175.00"
    assert response.get_json()["rMultiple"] == "0.5385"  # 175 / (3.25 * 100)


def test_patch_of_partial_closes_replaces_the_list(client, auth, create):
    trade = create()
    url = f"/v1/trades/{trade['tradeId']}"
    for quantity, at in ((30, "2026-03-02T15:00:00Z"), (30, "2026-03-02T16:00:00Z")):
        added = client.post(
            f"{url}/closes", json={"quantity": quantity, "price": 188, "closedAt": at}, headers=auth()
        )
        assert added.status_code == 201
    kept = added.get_json()["partialCloses"][0]
    assert added.headers["ETag"] == '"3"'

    response = client.patch(
        url,
        json={
            "partialCloses": [
                {
                    "closeId": kept["closeId"],
                    "quantity": 30,
                    "price": 188,
                    "closedAt": "2026-03-02T15:00:00Z",
                },
                {"quantity": 70, "price": "189.25", "closedAt": "2026-03-02T17:00:00Z", "note": "rest"},
            ]
        },
        headers=auth(**{"If-Match": '"3"'}),
    )

    assert response.status_code == 200
    closes = response.get_json()["partialCloses"]
    assert [(c["quantity"], c["price"], c["note"]) for c in closes] == [
        ("30", "188", None),
        ("70", "189.25", "rest"),
    ]
    assert closes[0]["closeId"] == kept["closeId"]
    assert closes[1]["closeId"] != added.get_json()["partialCloses"][1]["closeId"]
    assert response.get_json()["status"] == "closed"
    assert response.get_json()["grossPnl"] == "162.50"  # 30 * 0.75 + 70 * 2.00

    emptied = client.patch(url, json={"partialCloses": []}, headers=auth(**{"If-Match": '"4"'}))
    assert emptied.status_code == 200
    assert emptied.get_json()["partialCloses"] == []
    assert emptied.get_json()["status"] == "open"


def test_patch_with_an_unknown_close_id_is_422_and_changes_nothing(client, auth, create):
    trade = create()
    url = f"/v1/trades/{trade['tradeId']}"
    response = client.patch(
        url,
        json={
            "partialCloses": [
                {
                    "closeId": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
                    "quantity": 1,
                    "price": 1,
                    "closedAt": "2026-03-02T15:00:00Z",
                }
            ]
        },
        headers=auth(**{"If-Match": '"1"'}),
    )
    assert response.status_code == 422
    assert "partialCloses" in response.get_json()["errors"]["json"]
    assert client.get(url, headers=auth()).get_json() == trade


def test_delete_is_204_then_the_trade_is_gone(client, auth, create, listed):
    trade = create()
    url = f"/v1/trades/{trade['tradeId']}"
    response = client.delete(url, headers=auth(**{"If-Match": '"1"'}))
    assert response.status_code == 204
    assert response.data == b""
    assert client.get(url, headers=auth()).status_code == 404
    assert client.delete(url, headers=auth()).status_code == 404
    assert listed() == []


def test_delete_without_if_match_is_allowed(client, auth, create):
    trade = create()
    url = f"/v1/trades/{trade['tradeId']}"
    assert client.delete(url, headers=auth()).status_code == 204
    assert client.get(url, headers=auth()).status_code == 404


def test_delete_with_a_stale_if_match_is_412_and_keeps_the_trade(client, auth, create):
    trade = create()
    url = f"/v1/trades/{trade['tradeId']}"
    response = client.delete(url, headers=auth(**{"If-Match": '"2"'}))
    assert response.status_code == 412
    assert client.get(url, headers=auth()).get_json() == trade


def test_unknown_trade_is_404(client, auth):
    url = "/v1/trades/01ARZ3NDEKTSV4RRFFQ69G5FAV"
    assert client.get(url, headers=auth()).status_code == 404
    assert client.patch(url, json={"notes": "x"}, headers=auth(**{"If-Match": '"1"'})).status_code == 404
    assert client.delete(url, headers=auth()).status_code == 404
    close = {"quantity": 1, "price": 1, "closedAt": "2026-03-02T15:00:00Z"}
    assert client.post(f"{url}/closes", json=close, headers=auth()).status_code == 404


def test_the_same_idempotency_key_and_body_create_one_trade(client, auth, listed):
    headers = auth(**{"Idempotency-Key": "order-42"})
    first = client.post("/v1/trades", json=trade_body(), headers=headers)
    # the same meaning written differently: numbers as strings, the time with an offset
    same = trade_body(quantity="100.0", entryPrice="187.250", entryAt="2026-03-02T09:30:00-05:00")
    second = client.post("/v1/trades", json=same, headers=headers)

    assert first.status_code == 201
    assert second.status_code in (200, 201)
    assert second.get_json()["tradeId"] == first.get_json()["tradeId"]
    assert [t["tradeId"] for t in listed()] == [first.get_json()["tradeId"]]


def test_the_same_idempotency_key_with_another_body_is_422(client, auth, listed):
    headers = auth(**{"Idempotency-Key": "order-42"})
    first = client.post("/v1/trades", json=trade_body(), headers=headers)
    assert first.status_code == 201

    second = client.post("/v1/trades", json=trade_body(quantity=200), headers=headers)

    assert second.status_code == 422
    assert "Idempotency-Key" in second.get_json()["errors"]["headers"]
    assert [t["tradeId"] for t in listed()] == [first.get_json()["tradeId"]]


def test_idempotency_keys_are_per_user(client, auth, listed):
    alice = client.post("/v1/trades", json=trade_body(), headers=auth("alice", **{"Idempotency-Key": "k1"}))
    bob = client.post("/v1/trades", json=trade_body(), headers=auth("bob", **{"Idempotency-Key": "k1"}))
    assert alice.status_code == bob.status_code == 201
    assert alice.get_json()["tradeId"] != bob.get_json()["tradeId"]
    assert [t["tradeId"] for t in listed("alice")] == [alice.get_json()["tradeId"]]
    assert [t["tradeId"] for t in listed("bob")] == [bob.get_json()["tradeId"]]
    # bob's other body under the same key is refused for bob only
    other = client.post(
        "/v1/trades", json=trade_body(quantity=5), headers=auth("bob", **{"Idempotency-Key": "k1"})
    )
    assert other.status_code == 422


def test_without_idempotency_key_the_same_body_creates_two_trades(client, auth, listed):
    first = client.post("/v1/trades", json=trade_body(), headers=auth())
    second = client.post("/v1/trades", json=trade_body(), headers=auth())
    assert first.get_json()["tradeId"] != second.get_json()["tradeId"]
    assert len(listed()) == 2


def test_replaying_a_key_after_its_trade_was_deleted_is_409_not_a_new_trade(client, auth, listed):
    headers = auth(**{"Idempotency-Key": "order-7"})
    first = client.post("/v1/trades", json=trade_body(), headers=headers)
    assert client.delete(first.headers["Location"], headers=auth()).status_code == 204
    again = client.post("/v1/trades", json=trade_body(), headers=headers)
    assert again.status_code == 409
    assert listed() == []
