"""Sign-out that takes effect: tokens issued before it are refused by this API at once."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

import tasks.stats
from tasks.auth import revoke_user
from tradeapp.bootstrap import _cognito_sign_out


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def later_token(app: Any, user: str) -> str:
    """A token issued after this second (a fresh sign-in)."""
    return app.extensions["tradeapp"].issuer.issue(user, iat=int(time.time()) + 2)


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_signing_out_refuses_every_token_issued_until_then(app, client, token):
    # GIVEN two tokens alice holds (two devices) and one of bob's
    phone, laptop, bobs = token("alice"), token("alice"), token("bob")
    assert client.get("/v1/trades", headers=bearer(laptop)).status_code == 200

    # WHEN alice signs out from her phone
    response = client.post("/v1/auth/signout", headers=bearer(phone))

    # THEN both her tokens are refused at once, with the reason
    assert response.status_code == 204
    for old in (phone, laptop):
        refused = client.get("/v1/trades", headers=bearer(old))
        assert refused.status_code == 401
        assert "revoked" in refused.get_json()["message"]
    # AND bob is not affected, and alice can sign in again
    assert client.get("/v1/trades", headers=bearer(bobs)).status_code == 200
    assert client.get("/v1/trades", headers=bearer(later_token(app, "alice"))).status_code == 200


def test_sign_out_needs_a_valid_token(client):
    assert client.post("/v1/auth/signout").status_code == 401


def test_the_operator_command_revokes_a_users_tokens(app, client, token):
    held = token("alice")

    result = app.test_cli_runner().invoke(args=["auth", "revoke", "alice"])

    assert result.exit_code == 0, result.stdout
    assert '"userId": "alice"' in result.stdout
    assert client.get("/v1/trades", headers=bearer(held)).status_code == 401
    assert client.get("/v1/trades", headers=bearer(later_token(app, "alice"))).status_code == 200


def test_the_task_revokes_through_the_same_service(app, client, token, monkeypatch):
    held = token("carol")
    monkeypatch.setattr(tasks.stats, "_container", app.extensions["tradeapp"])

    summary = revoke_user({"userId": "carol"}, None)

    assert summary["userId"] == "carol"
    assert client.get("/v1/trades", headers=bearer(held)).status_code == 401
    with pytest.raises(ValueError, match="userId"):
        revoke_user({}, None)


def test_cognito_global_sign_out_is_called_with_the_callers_token(aws_credentials):
    session = boto3.session.Session(region_name="us-east-1")
    client = session.client("cognito-idp")
    calls = []

    class OneClient:
        def client(self, *args: Any, **kwargs: Any) -> Any:
            calls.append(args)
            return client

    with Stubber(client) as stub:
        stub.add_response("global_sign_out", {}, {"AccessToken": "the-token"})
        # an already signed-out token: Cognito says NotAuthorized, the revocation still stands
        stub.add_client_error(
            "global_sign_out", "NotAuthorizedException", expected_params={"AccessToken": "x"}
        )
        stub.add_client_error(
            "global_sign_out", "InternalErrorException", expected_params={"AccessToken": "y"}
        )
        sign_out = _cognito_sign_out(OneClient())
        sign_out("the-token")
        sign_out("x")
        with pytest.raises(Exception, match="InternalErrorException"):
            sign_out("y")
        stub.assert_no_pending_responses()
    assert calls == [("cognito-idp",)]  # one client, built on first use
