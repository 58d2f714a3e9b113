"""Property-based tests of the API against its own OpenAPI document, in process (WSGI).

Every documented operation, authenticated, with all of Schemathesis's checks: no server
error, every response matches its documented schema, every status code is documented, and
every schema-valid request is accepted. The undocumented local image routes are not in the
document, so they are not fuzzed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.modes import GenerationMode

from tradeapp.domain.numbers import MAX_INTEGER_DIGITS
from tradeapp.domain.trade import MAX_TEXT_BYTES

SIGN_OUT = "/v1/auth/signout"
TRADE = "/v1/trades/{trade_id}"
# Deterministic examples, so a CI failure reproduces; no deadline on a shared 2-core runner.
COMMON = {
    "derandomize": True,
    "deadline": None,
    "database": None,
    "suppress_health_check": list(HealthCheck),
}
# Schemathesis's own defaults for positive-data acceptance: 2xx, 3xx, and the answers that
# depend on what exists (401, 403, 404, 409, 429), plus 5xx (left to not_a_server_error).
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]


def _stateful(path: str, method: str, *also: int) -> dict[str, Any]:
    """Statuses a schema-valid request may also get in stateful runs only, where the trade exists
    and the answer depends on it: outside them every drawn trade id is unknown, so these
    operations answer 404 and any other refusal of valid data is a failure."""
    checks = {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, *map(str, also)]}}
    return {"include-path": path, "include-method": method, "phases": {"stateful": {"checks": checks}}}


CONFIG = {
    "operations": [
        # If-Match naming a version the trade has moved past (RFC 9110: 412); a change that breaks
        # a rule tying it to the stored trade (closes beyond the quantity, a close before entryAt,
        # a stop on the wrong side of the entry price): JSON Schema cannot compare with stored data.
        _stateful(TRADE, "PATCH", 412, 422),
        _stateful(TRADE, "DELETE", 412),
        # A close dated before the stored trade's entryAt (422); closing more than remains is 409.
        _stateful(TRADE + "/closes", "POST", 422),
        # The eleventh image of a trade (MAX_IMAGES, 422).
        _stateful(TRADE + "/images", "POST", 422),
        # Completing an upload whose file was never sent (no stateful step uploads one).
        _stateful(TRADE + "/images/{image_id}/complete", "POST", 422),
        # A malformed If-Match names no version, so it cannot match: RFC 9110 says 412, which
        # Schemathesis's negative-data and missing-header lists lack; its absence on PATCH is 428.
        {
            "include-path": TRADE,
            "include-method": "PATCH",
            "checks": {
                "negative_data_rejection": {"expected-statuses": ["4xx", "5xx"]},
                "missing_required_header": {
                    "expected-statuses": ["400", "401", "403", "406", "415", "422", "428"]
                },
            },
        },
        {
            "include-path": TRADE,
            "include-method": "DELETE",
            "checks": {"negative_data_rejection": {"expected-statuses": ["4xx", "5xx"]}},
        },
    ]
}


@pytest.fixture(scope="module")
def fuzz_app(make_app: Callable[..., Flask], tmp_path_factory: pytest.TempPathFactory) -> Flask:
    return make_app(tmp_path_factory.mktemp("fuzz"))


@pytest.fixture(scope="module")
def api_schema(fuzz_app: Flask) -> Any:
    return schemathesis.openapi.from_wsgi(
        "/v1/openapi.json", fuzz_app, config=SchemathesisConfig.from_dict(CONFIG)
    )


def who(path: str) -> str:
    """One user for every operation but sign-out, which revokes its user's tokens: a fresh user
    for each sign-out keeps the other operations authenticated and sign-out itself reaching 204."""
    return f"fuzz-{uuid.uuid4().hex[:12]}" if path == SIGN_OUT else "fuzz"


def bearer(app: Flask, path: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {app.extensions['tradeapp'].issuer.issue(who(path))}"}


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value))  # a float's repr is what json.dumps sends


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def fit(case: schemathesis.Case, app: Flask) -> None:
    """Keep a schema-valid case within the rules no document can state, so that any refusal
    of it is a finding. Negative cases are left alone.

    - Rules across fields of a new trade (closes total at most the quantity, no close before
      entryAt, a long's stop at or below the entry price and a short's at or above, the text
      budget): the values are rearranged, never replaced by made-up ones.
    - Idempotency-Key: a reused key with another body is refused (422) by design, so each
      case gets a key of its own, keeping the generated characters.
    - cursor: only cursors the server issued are valid; a generated one is swapped for the
      server's own cursor for the same filters, or dropped when that query has no next page.
    """
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    if any(c.mode.is_negative for c in case.meta.components.values()):
        # Schemathesis 4.32's coverage phase, when it cannot draw a value for an optional
        # parameter (If-Match here), puts in an invalid one and still labels the case positive;
        # judge it as the negative case it is.
        case.meta.generation.mode = GenerationMode.NEGATIVE
        return
    route = (case.method.upper(), case.operation.path)
    if route == ("POST", "/v1/trades") and isinstance(case.body, dict):
        _fit_trade(case.body)
        if case.headers and "Idempotency-Key" in case.headers:
            case.headers["Idempotency-Key"] = (uuid.uuid4().hex + case.headers["Idempotency-Key"])[:255]
    if route == ("GET", "/v1/trades") and case.query and "cursor" in case.query:
        query = {k: v for k, v in case.query.items() if k not in ("cursor", "limit")}
        page = app.test_client().get(
            "/v1/trades", query_string={**query, "limit": 1}, headers=bearer(app, case.operation.path)
        )
        issued = page.get_json()["nextCursor"] if page.status_code == 200 else None
        if issued is None:
            del case.query["cursor"]
        else:
            case.query["cursor"] = issued


def _fit_trade(body: dict[str, Any]) -> None:
    entry, stop = body.get("entryPrice"), body.get("stopLoss")
    if entry is not None and stop is not None and body.get("side") in ("long", "short"):
        above = _decimal(stop) > _decimal(entry)
        if above == (body["side"] == "long") and _decimal(stop) != _decimal(entry):
            body["entryPrice"], body["stopLoss"] = stop, entry
    closes = body.get("partialCloses") or []
    while closes and sum(_decimal(c["quantity"]) for c in closes) >= 10**MAX_INTEGER_DIGITS:
        closes.pop()
    if closes and "quantity" in body:
        total = sum(_decimal(c["quantity"]) for c in closes)
        if total > _decimal(body["quantity"]):
            body["quantity"] = format(total, "f")
    if closes and "entryAt" in body:
        earliest = min((c["closedAt"] for c in closes), key=_instant)
        if _instant(earliest) < _instant(body["entryAt"]):
            body["entryAt"] = earliest
    for close in closes:
        used = len((body.get("notes") or "").encode()) + sum(
            len((c.get("note") or "").encode()) + 200 for c in closes
        )
        if used <= MAX_TEXT_BYTES:
            break
        close.pop("note", None)


@pytest.fixture(autouse=True)
def _nodeid_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """Schemathesis 4.32's from_fixture reads and renames `item._nodeid`, which pytest 9.2 no longer
    has: give it one to read (only its subtest labels use it)."""
    request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=100, **COMMON)
def test_every_operation_conforms(case: schemathesis.Case, fuzz_app: Flask) -> None:
    fit(case, fuzz_app)
    case.call_and_validate(headers=bearer(fuzz_app, case.operation.path))


@pytest.mark.deep
@schema.parametrize()
@settings(max_examples=1000, **COMMON)
def test_every_operation_conforms_deep(case: schemathesis.Case, fuzz_app: Flask) -> None:
    fit(case, fuzz_app)
    case.call_and_validate(headers=bearer(fuzz_app, case.operation.path))


@pytest.mark.deep
def test_stateful_sequences_conform(api_schema: Any, fuzz_app: Flask) -> None:
    """Sequences that create a trade, then read, patch, close and delete it (links inferred)."""

    class Machine(api_schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            """Each run starts with no trades, so that a run Hypothesis replays (to shrink) gets the
            responses, and so the links and draws, the first one got."""
            client, headers = fuzz_app.test_client(), bearer(fuzz_app, "/v1/trades")
            while items := client.get("/v1/trades?limit=100", headers=headers).get_json()["items"]:
                for trade in items:
                    client.delete(f"/v1/trades/{trade['tradeId']}", headers={**headers, "If-Match": "*"})

        def before_call(self, case: schemathesis.Case) -> None:
            fit(case, fuzz_app)

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"headers": bearer(fuzz_app, case.operation.path)}

        def validate_response(self, response: Any, case: schemathesis.Case, **kwargs: Any) -> None:
            # The headers sent, so that checks know the token was given, not generated (ignored_auth
            # then re-sends without it and expects 401, instead of failing every 2xx).
            case.validate_response(
                response,
                headers=kwargs.get("headers"),
                transport_kwargs=kwargs or None,
                recorder=self.recorder,
            )

    Machine.run(settings=settings(max_examples=200, stateful_step_count=10, **COMMON))
