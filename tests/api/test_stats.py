"""GET /v1/stats and POST /v1/stats/rebuild over HTTP: every write shows up at once, to the cent.

The portfolio (every figure below is computed by hand, docs/stats.md has the definitions):

| trade | side, size          | entry fees | close                     | gross   | net     | R       |
| ----- | ------------------- | ---------- | ------------------------- | ------- | ------- | ------- |
| W     | long 10 AAPL @ 100  | 1.00       | 10 @ 110, fees 1.00, Mon  | 100.00  | 98.00   | 1.9600  |
| L     | short 5 TSLA @ 200  | 0.50       | 5 @ 204, fees 0.50, Tue   | -20.00  | -21.00  | -0.4200 |
| B     | long 4 MSFT @ 50    | 0          | 4 @ 50.50, fees 2.00, Wed | 2.00    | 0.00    | (none)  |
| O     | long 10 NVDA @ 20   | 1.00       | 4 @ 17, fees 0.25, Thu    | -12.00  | -12.65  | (open)  |

O stays open (partial): its close realizes -12 - 0.25 - 1.00 * 4/10 = -12.65.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

import pytest

from tradeapp.domain.stats import WEEKDAYS, fold

from . import BACKENDS

pytestmark = pytest.mark.parametrize("backend", BACKENDS)

WIN = {
    "symbol": "AAPL",
    "side": "long",
    "quantity": 10,
    "entryPrice": "100",
    "entryAt": "2026-03-02T14:30:00Z",  # a Monday
    "fees": "1.00",
    "stopLoss": "95",
    "setup": "orb",
    "tags": ["breakout", "momentum"],
}
WIN_CLOSE = {"quantity": 10, "price": "110", "fees": "1.00", "closedAt": "2026-03-02T15:00:00Z"}
LOSS = {
    "symbol": "TSLA",
    "side": "short",
    "quantity": 5,
    "entryPrice": "200",
    "entryAt": "2026-03-03T14:30:00Z",  # a Tuesday
    "fees": "0.50",
    "stopLoss": "210",
    "setup": "orb",
    "tags": ["breakout"],
}
LOSS_CLOSE = {"quantity": 5, "price": "204", "fees": "0.50", "closedAt": "2026-03-03T16:00:00Z"}
BREAKEVEN = {
    "symbol": "MSFT",
    "side": "long",
    "quantity": 4,
    "entryPrice": "50",
    "entryAt": "2026-03-04T14:30:00Z",  # a Wednesday
    "tags": ["fade"],
    # closed in the same request that records it
    "partialCloses": [{"quantity": 4, "price": "50.50", "fees": "2.00", "closedAt": "2026-03-04T15:00:00Z"}],
}
OPEN = {
    "symbol": "NVDA",
    "side": "long",
    "quantity": 10,
    "entryPrice": "20",
    "entryAt": "2026-03-05T14:30:00Z",  # a Thursday
    "fees": "1.00",
    "tags": ["breakout"],
}
OPEN_CLOSE = {"quantity": 4, "price": "17", "fees": "0.25", "closedAt": "2026-03-05T15:00:00Z"}
PORTFOLIO_WRITES = 7  # four creations and three closes: the user's revision afterwards

EMPTY_BUCKET = {"trades": 0, "wins": 0, "losses": 0, "breakevens": 0, "netPnl": "0.00", "winRate": None}
META = {"userId", "revision", "computedAt", "tradeCount"}
PLAIN_DECIMAL = re.compile(r"-?\d+(\.\d+)?")  # what money and ratios look like: no exponent


def bucket(trades: int, wins: int, losses: int, breakevens: int, net: str, win_rate: str | None):
    return {
        "trades": trades,
        "wins": wins,
        "losses": losses,
        "breakevens": breakevens,
        "netPnl": net,
        "winRate": win_rate,
    }


@pytest.fixture
def read_stats(client, auth):
    """read_stats(who) -> GET /v1/stats as `who` (asserting 200)."""

    def read(who: str | None = None) -> dict[str, Any]:
        response = client.get("/v1/stats", headers=auth(who))
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    return read


@pytest.fixture
def stats_at(read_stats):
    """stats_at(revision) -> the stats once they reflect that revision.

    Polls for up to a second (the contract with the AWS stream); the embedded change feed
    updates stats before the write's response, so the first read must already have them.
    """

    def wait(revision: int, who: str | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + 1.0
        reads = 0
        while True:
            stats = read_stats(who)
            reads += 1
            if stats["revision"] >= revision or time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        assert stats["revision"] == revision, f"stats at revision {stats['revision']}, wanted {revision}"
        assert reads == 1, "the local change feed should have updated the stats synchronously"
        return stats

    return wait


@pytest.fixture
def write(client, auth):
    """write(method, url, body, **headers) -> the response JSON, asserting a 2xx."""

    def send(method: str, url: str, body: Any = None, who: str | None = None, **headers: str) -> Any:
        response = client.open(url, method=method, json=body, headers=auth(who, **headers))
        assert 200 <= response.status_code < 300, (method, url, response.get_data(as_text=True))
        return response.get_json() if response.status_code != 204 else None

    return send


@pytest.fixture
def portfolio(write):
    """The four trades of the module docstring, written as alice; their JSON by letter."""
    trades = {"W": write("POST", "/v1/trades", WIN)}
    trades["W"] = write("POST", f"/v1/trades/{trades['W']['tradeId']}/closes", WIN_CLOSE)
    trades["L"] = write("POST", "/v1/trades", LOSS)
    trades["L"] = write("POST", f"/v1/trades/{trades['L']['tradeId']}/closes", LOSS_CLOSE)
    trades["B"] = write("POST", "/v1/trades", BREAKEVEN)
    trades["O"] = write("POST", "/v1/trades", OPEN)
    trades["O"] = write("POST", f"/v1/trades/{trades['O']['tradeId']}/closes", OPEN_CLOSE)
    return trades


def without_time(stats: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stats.items() if k != "computedAt"}


# --- no trades --------------------------------------------------------------------------------


def test_a_user_without_trades_gets_zeroed_stats(read_stats):
    stats = read_stats("newcomer")

    assert stats["userId"] == "newcomer"
    assert stats["revision"] == 0
    assert stats["tradeCount"] == 0
    for name in ("totalTrades", "openTrades", "closedTrades", "wins", "losses", "breakevens"):
        assert stats[name] == 0, name
    for name in ("maxConsecutiveWins", "maxConsecutiveLosses", "currentStreak"):
        assert stats[name] == 0, name
    for name in ("grossPnl", "netPnl", "totalFees", "maxDrawdown"):
        assert stats[name] == "0.00", name
    for name in (
        "winRate",
        "winRateDecisive",
        "avgWin",
        "avgLoss",
        "payoffRatio",
        "largestWin",
        "largestLoss",
        "profitFactor",
        "expectancy",
        "avgR",
        "sqn",
    ):
        assert stats[name] is None, name
    assert list(stats["byWeekday"]) == list(WEEKDAYS)
    assert all(b == EMPTY_BUCKET for b in stats["byWeekday"].values())
    assert stats["bySymbol"] == stats["bySetup"] == stats["byTag"] == stats["byMonth"] == {}
    assert stats["equityCurve"] == []


# --- every write, as it happens ------------------------------------------------------------------


def test_each_write_shows_in_the_stats_at_once(write, stats_at):
    # GIVEN a winning trade recorded but not yet closed
    win = write("POST", "/v1/trades", WIN)
    stats = stats_at(1)
    assert (stats["totalTrades"], stats["openTrades"], stats["closedTrades"]) == (1, 1, 0)
    assert stats["netPnl"] == "0.00"
    assert stats["byTag"] == {}  # buckets count closed trades only

    # WHEN it is closed, THEN it is a win of 98.00 (100.00 gross, 1.00 + 1.00 fees)
    write("POST", f"/v1/trades/{win['tradeId']}/closes", WIN_CLOSE)
    stats = stats_at(2)
    assert (stats["openTrades"], stats["closedTrades"], stats["wins"]) == (0, 1, 1)
    assert (stats["grossPnl"], stats["netPnl"], stats["totalFees"]) == ("100.00", "98.00", "2.00")
    assert stats["profitFactor"] is None  # no losses yet: null, never 0 or 999

    # WHEN the short loses 21.00
    loss = write("POST", "/v1/trades", LOSS)
    assert stats_at(3)["totalTrades"] == 2
    write("POST", f"/v1/trades/{loss['tradeId']}/closes", LOSS_CLOSE)
    stats = stats_at(4)
    assert (stats["wins"], stats["losses"], stats["netPnl"]) == (1, 1, "77.00")
    assert stats["profitFactor"] == "4.6667"  # 98 / 21
    assert stats["maxDrawdown"] == "21.00"

    # WHEN a breakeven arrives already closed
    write("POST", "/v1/trades", BREAKEVEN)
    stats = stats_at(5)
    assert (stats["closedTrades"], stats["breakevens"], stats["currentStreak"]) == (3, 1, 0)
    assert stats["totalFees"] == "5.00"

    # WHEN a fourth trade is partly closed at a loss
    opened = write("POST", "/v1/trades", OPEN)
    assert stats_at(6)["openTrades"] == 1
    write("POST", f"/v1/trades/{opened['tradeId']}/closes", OPEN_CLOSE)

    # THEN the partial close is realized although the trade stays open
    stats = stats_at(7)
    assert (stats["totalTrades"], stats["openTrades"], stats["closedTrades"]) == (4, 1, 3)
    assert (stats["grossPnl"], stats["netPnl"], stats["totalFees"]) == ("70.00", "64.35", "5.65")
    assert stats["tradeCount"] == 4


def test_the_portfolio_to_the_cent(portfolio, stats_at):
    stats = stats_at(PORTFOLIO_WRITES)

    assert stats["tradeCount"] == stats["totalTrades"] == 4
    assert (stats["openTrades"], stats["closedTrades"]) == (1, 3)
    assert (stats["wins"], stats["losses"], stats["breakevens"]) == (1, 1, 1)
    assert stats["winRate"] == "0.3333"  # 1 / 3
    assert stats["winRateDecisive"] == "0.5000"  # 1 / 2
    assert stats["grossPnl"] == "70.00"  # 100 - 20 + 2 - 12
    assert stats["netPnl"] == "64.35"  # 98 - 21 + 0 - 12.65
    assert stats["totalFees"] == "5.65"  # 2.00 + 1.00 + 2.00 + 0.65
    assert stats["avgWin"] == "98.0000"
    assert stats["avgLoss"] == "21.0000"
    assert stats["payoffRatio"] == "4.6667"
    assert stats["largestWin"] == "98.00"
    assert stats["largestLoss"] == "-21.00"
    assert stats["profitFactor"] == "4.6667"  # 98 / 21
    assert stats["expectancy"] == "25.6667"  # (98 - 21 + 0) / 3: the open trade is not in it
    assert stats["avgR"] == "0.7700"  # (1.96 - 0.42) / 2; the breakeven has no stop
    assert stats["sqn"] == "0.6471"  # sqrt(2) * 0.77 / (1.19 * sqrt(2))
    # equity 98, 77, 77, 64.35 against a peak of 98
    assert stats["maxDrawdown"] == "33.65"
    assert (stats["maxConsecutiveWins"], stats["maxConsecutiveLosses"], stats["currentStreak"]) == (1, 1, 0)
    assert stats["bySymbol"] == {
        "AAPL": bucket(1, 1, 0, 0, "98.00", "1.0000"),
        "MSFT": bucket(1, 0, 0, 1, "0.00", "0.0000"),
        "TSLA": bucket(1, 0, 1, 0, "-21.00", "0.0000"),
    }
    assert stats["bySetup"] == {"orb": bucket(2, 1, 1, 0, "77.00", "0.5000")}
    assert stats["byTag"] == {
        "breakout": bucket(2, 1, 1, 0, "77.00", "0.5000"),  # NVDA is open: not counted
        "fade": bucket(1, 0, 0, 1, "0.00", "0.0000"),
        "momentum": bucket(1, 1, 0, 0, "98.00", "1.0000"),
    }
    assert stats["byWeekday"] == {
        "monday": bucket(1, 1, 0, 0, "98.00", "1.0000"),
        "tuesday": bucket(1, 0, 1, 0, "-21.00", "0.0000"),
        "wednesday": bucket(1, 0, 0, 1, "0.00", "0.0000"),
        **{day: EMPTY_BUCKET for day in WEEKDAYS[3:]},
    }
    assert list(stats["byWeekday"]) == list(WEEKDAYS)
    assert stats["byMonth"] == {"2026-03": bucket(3, 1, 1, 1, "77.00", "0.3333")}
    assert stats["equityCurve"] == [
        {"date": "2026-03-02", "netPnl": "98.00", "cumulative": "98.00"},
        {"date": "2026-03-03", "netPnl": "-21.00", "cumulative": "77.00"},
        {"date": "2026-03-04", "netPnl": "0.00", "cumulative": "77.00"},
        {"date": "2026-03-05", "netPnl": "-12.65", "cumulative": "64.35"},
    ]


def test_a_patch_updates_the_stats(portfolio, write, stats_at):
    # GIVEN the portfolio; WHEN the win's entry fees become 3.00 and it loses its breakout tag
    win = portfolio["W"]
    write(
        "PATCH",
        f"/v1/trades/{win['tradeId']}",
        {"fees": "3.00", "tags": ["momentum"]},
        **{"If-Match": f'"{win["version"]}"'},
    )

    # THEN the win nets 96.00 (100 - 1 - 3) and the breakout bucket holds only the loss
    stats = stats_at(PORTFOLIO_WRITES + 1)
    assert stats["grossPnl"] == "70.00"
    assert stats["netPnl"] == "62.35"
    assert stats["totalFees"] == "7.65"
    assert stats["profitFactor"] == "4.5714"  # 96 / 21
    assert stats["expectancy"] == "25.0000"  # 75 / 3
    assert stats["largestWin"] == "96.00"
    assert stats["maxDrawdown"] == "33.65"  # 96 -> 62.35
    assert stats["byTag"] == {
        "breakout": bucket(1, 0, 1, 0, "-21.00", "0.0000"),
        "fade": bucket(1, 0, 0, 1, "0.00", "0.0000"),
        "momentum": bucket(1, 1, 0, 0, "96.00", "1.0000"),
    }
    assert stats["equityCurve"][0] == {"date": "2026-03-02", "netPnl": "96.00", "cumulative": "96.00"}
    assert stats["equityCurve"][-1]["cumulative"] == "62.35"


def test_a_delete_updates_the_stats(portfolio, write, stats_at):
    # GIVEN the portfolio; WHEN the losing trade is deleted
    write("DELETE", f"/v1/trades/{portfolio['L']['tradeId']}")

    # THEN there is no loss left: the ratios over losses are null again
    stats = stats_at(PORTFOLIO_WRITES + 1)
    assert (stats["totalTrades"], stats["closedTrades"], stats["losses"]) == (3, 2, 0)
    assert stats["winRate"] == "0.5000"
    assert stats["winRateDecisive"] == "1.0000"
    assert stats["grossPnl"] == "90.00"
    assert stats["netPnl"] == "85.35"
    assert stats["totalFees"] == "4.65"
    assert stats["profitFactor"] is None
    assert stats["avgLoss"] is None
    assert stats["payoffRatio"] is None
    assert stats["largestLoss"] is None
    assert stats["expectancy"] == "49.0000"  # 98 / 2
    assert stats["avgR"] == "1.9600"
    assert stats["sqn"] is None  # one R value
    assert stats["maxDrawdown"] == "12.65"
    assert stats["maxConsecutiveLosses"] == 0
    assert "TSLA" not in stats["bySymbol"]
    assert stats["byTag"]["breakout"] == bucket(1, 1, 0, 0, "98.00", "1.0000")
    assert stats["byWeekday"]["tuesday"] == EMPTY_BUCKET
    assert [p["date"] for p in stats["equityCurve"]] == ["2026-03-02", "2026-03-04", "2026-03-05"]
    assert stats["equityCurve"][-1]["cumulative"] == "85.35"


def test_deleting_every_trade_zeroes_the_stats_but_keeps_the_revision(portfolio, write, stats_at, read_stats):
    for trade in portfolio.values():
        write("DELETE", f"/v1/trades/{trade['tradeId']}")

    stats = stats_at(PORTFOLIO_WRITES + 4)
    assert stats["tradeCount"] == stats["totalTrades"] == 0
    assert (stats["netPnl"], stats["grossPnl"], stats["maxDrawdown"]) == ("0.00", "0.00", "0.00")
    assert stats["winRate"] is None
    assert stats["equityCurve"] == []
    assert stats["byTag"] == {}
    assert without_time(stats) == {
        **without_time(read_stats("nobody")),
        "userId": "alice",
        "revision": PORTFOLIO_WRITES + 4,
    }


# --- rebuild on demand ----------------------------------------------------------------------------


def test_rebuild_returns_the_same_numbers_and_revision(portfolio, client, auth, stats_at):
    before = stats_at(PORTFOLIO_WRITES)

    response = client.post("/v1/stats/rebuild", headers=auth())

    assert response.status_code == 200
    rebuilt = response.get_json()
    assert without_time(rebuilt) == without_time(before)
    assert rebuilt["revision"] == PORTFOLIO_WRITES
    assert without_time(stats_at(PORTFOLIO_WRITES)) == without_time(before)


def test_rebuild_for_a_user_without_trades(client, auth):
    response = client.post("/v1/stats/rebuild", headers=auth("newcomer"))

    assert response.status_code == 200
    stats = response.get_json()
    assert (stats["userId"], stats["revision"], stats["totalTrades"]) == ("newcomer", 0, 0)
    assert list(stats["byWeekday"]) == list(WEEKDAYS)


# --- isolation and auth -----------------------------------------------------------------------------


def test_one_users_stats_never_include_anothers_trades(portfolio, write, client, auth, stats_at, read_stats):
    # GIVEN alice's portfolio
    alices = stats_at(PORTFOLIO_WRITES)

    # THEN bob, who has no trades, sees none of it, even when he asks for a rebuild
    bobs = read_stats("bob")
    assert (bobs["userId"], bobs["revision"], bobs["totalTrades"], bobs["netPnl"]) == ("bob", 0, 0, "0.00")
    rebuilt = client.post("/v1/stats/rebuild", headers=auth("bob")).get_json()
    assert (rebuilt["revision"], rebuilt["totalTrades"], rebuilt["bySymbol"]) == (0, 0, {})

    # WHEN bob records and closes one AAPL trade of his own
    trade = write("POST", "/v1/trades", {**WIN, "tags": ["breakout"]}, who="bob")
    write("POST", f"/v1/trades/{trade['tradeId']}/closes", {**WIN_CLOSE, "price": "90"}, who="bob")

    # THEN his stats have exactly that trade, and alice's did not move
    bobs = stats_at(2, who="bob")
    assert (bobs["totalTrades"], bobs["wins"], bobs["losses"]) == (1, 0, 1)
    assert bobs["netPnl"] == "-102.00"  # 10 * -10 - 1 - 1
    assert bobs["byTag"] == {"breakout": bucket(1, 0, 1, 0, "-102.00", "0.0000")}
    assert bobs["bySymbol"] == {"AAPL": bucket(1, 0, 1, 0, "-102.00", "0.0000")}
    assert read_stats("alice") == alices


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/v1/stats"), ("POST", "/v1/stats/rebuild")], ids=["get", "rebuild"]
)
@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic YWxpY2U6eA=="}]
)
def test_stats_need_a_valid_token(client, method, path, headers):
    response = client.open(path, method=method, headers=headers)

    assert response.status_code == 401
    body = response.get_json()
    assert body["code"] == 401
    assert "totalTrades" not in body


# --- the documented schema ---------------------------------------------------------------------------


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def conform(spec: dict[str, Any], schema: dict[str, Any], value: Any, where: str = "$") -> None:
    """Assert that `value` is what the OpenAPI 3.0 `schema` documents (the subset we use)."""
    schema = resolve(spec, schema)
    if value is None:
        assert schema.get("nullable") is True, f"{where} is null but not documented as nullable"
        return
    kind = schema.get("type")
    if kind == "object":
        assert isinstance(value, dict), where
        documented = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in documented:
                conform(spec, documented[key], item, f"{where}.{key}")
            else:
                assert isinstance(extra, dict), f"{where}.{key} is not documented"
                conform(spec, extra, item, f"{where}.{key}")
    elif kind == "array":
        assert isinstance(value, list), where
        for index, item in enumerate(value):
            conform(spec, schema["items"], item, f"{where}[{index}]")
    elif kind == "integer":
        assert type(value) is int, f"{where} should be an integer, is {value!r}"
    elif kind == "string":
        assert isinstance(value, str), f"{where} should be a string, is {value!r}"
        if schema.get("format") == "decimal":
            assert PLAIN_DECIMAL.fullmatch(value), f"{where} is not a plain decimal: {value!r}"
        if schema.get("format") == "date-time":
            assert value.endswith("Z"), f"{where} is not in UTC: {value!r}"
            datetime.fromisoformat(value)
    else:
        raise AssertionError(f"{where}: undocumented type {kind!r}")


@pytest.mark.parametrize("with_trades", [False, True], ids=["empty", "portfolio"])
def test_the_response_is_what_the_openapi_document_says(request, client, auth, with_trades):
    if with_trades:
        request.getfixturevalue("portfolio")
    spec = client.get("/v1/openapi.json").get_json()
    for method, path in (("get", "/v1/stats"), ("post", "/v1/stats/rebuild")):
        documented = spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
        schema = resolve(spec, documented)

        response = client.open(path, method=method.upper(), headers=auth())

        assert response.status_code == 200
        stats = response.get_json()
        conform(spec, schema, stats)
        # every documented key is returned, and every statistic the fold makes is documented
        assert set(stats) == set(schema["properties"]) == META | set(fold(()))
        assert isinstance(stats["netPnl"], str)
        assert isinstance(stats["maxDrawdown"], str)
        if with_trades:
            assert isinstance(stats["byTag"]["breakout"]["netPnl"], str)
            assert isinstance(stats["equityCurve"][0]["cumulative"], str)
