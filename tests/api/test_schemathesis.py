"""Property-based tests of the API against its own OpenAPI document, in process (WSGI).

Every documented operation, authenticated, with all of Schemathesis's checks: no server
error, every response matches its documented schema, every status code is documented.
The undocumented local image routes are not in the document, so they are not fuzzed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

SIGN_OUT = "/v1/auth/signout"
# Every check but positive_data_acceptance, whose "schema-valid" requests break rules the
# document states only in prose (decimal strings, opaque cursors, If-Match syntax).
EXCLUDED = [positive_data_acceptance]
# Deterministic examples, so a CI failure reproduces; no deadline on a shared 2-core runner.
COMMON = {
    "derandomize": True,
    "deadline": None,
    "database": None,
    "suppress_health_check": list(HealthCheck),
}


@pytest.fixture(scope="module")
def fuzz_app(make_app: Callable[..., Flask], tmp_path_factory: pytest.TempPathFactory) -> Flask:
    return make_app(tmp_path_factory.mktemp("fuzz"))


@pytest.fixture(scope="module")
def api_schema(fuzz_app: Flask) -> Any:
    return schemathesis.openapi.from_wsgi("/v1/openapi.json", fuzz_app)


def bearer(app: Flask, path: str) -> dict[str, str]:
    """One user for every operation but sign-out, which revokes its user's tokens: a fresh user
    for each sign-out keeps the other operations authenticated and sign-out itself reaching 204."""
    who = f"fuzz-{uuid.uuid4().hex[:12]}" if path == SIGN_OUT else "fuzz"
    return {"Authorization": f"Bearer {app.extensions['tradeapp'].issuer.issue(who)}"}


@pytest.fixture(autouse=True)
def _nodeid_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """Schemathesis 4.32's from_fixture reads and renames `item._nodeid`, which pytest 9.2 no longer
    has: give it one to read (only its subtest labels use it)."""
    request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=100, **COMMON)
def test_every_operation_conforms(case: schemathesis.Case, fuzz_app: Flask) -> None:
    case.call_and_validate(headers=bearer(fuzz_app, case.operation.path), excluded_checks=EXCLUDED)


@pytest.mark.deep
@schema.parametrize()
@settings(max_examples=1000, **COMMON)
def test_every_operation_conforms_deep(case: schemathesis.Case, fuzz_app: Flask) -> None:
    case.call_and_validate(headers=bearer(fuzz_app, case.operation.path), excluded_checks=EXCLUDED)


@pytest.mark.deep
def test_stateful_sequences_conform(api_schema: Any, fuzz_app: Flask) -> None:
    """Sequences that create a trade, then read, patch, close and delete it (links inferred)."""

    class Machine(api_schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"headers": bearer(fuzz_app, case.operation.path)}

        def validate_response(self, response: Any, case: schemathesis.Case, **kwargs: Any) -> None:
            case.validate_response(
                response, excluded_checks=EXCLUDED, transport_kwargs=kwargs or None, recorder=self.recorder
            )

    Machine.run(settings=settings(max_examples=200, stateful_step_count=10, **COMMON))
