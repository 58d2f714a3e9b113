"""`flask --app wsgi token USER`: prints a token, and nothing else, that the API accepts."""

from __future__ import annotations

import jwt

from . import trade_body


def test_the_token_command_prints_only_a_token_the_api_accepts(app, client):
    result = app.test_cli_runner().invoke(args=["token", "alice"])

    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert result.output == token + "\n"
    assert len(token.split(".")) == 3
    assert jwt.get_unverified_header(token)["alg"] == "RS256"

    headers = {"Authorization": f"Bearer {token}"}
    created = client.post("/v1/trades", json=trade_body(), headers=headers)
    assert created.status_code == 201
    listed = client.get("/v1/trades", headers=headers)
    assert [t["tradeId"] for t in listed.get_json()["items"]] == [created.get_json()["tradeId"]]


def test_the_token_belongs_to_the_named_user(app, client, auth, create):
    bobs = create("bob")
    token = app.test_cli_runner().invoke(args=["token", "bob"]).output.strip()
    read = client.get(f"/v1/trades/{bobs['tradeId']}", headers={"Authorization": f"Bearer {token}"})
    assert read.status_code == 200
    alice = app.test_cli_runner().invoke(args=["token", "alice"]).output.strip()
    other = client.get(f"/v1/trades/{bobs['tradeId']}", headers={"Authorization": f"Bearer {alice}"})
    assert other.status_code == 404


def test_the_lifetime_option_sets_the_expiry(app):
    token = app.test_cli_runner().invoke(args=["token", "alice", "--lifetime", "60"]).output.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 60
    assert claims["sub"] == "alice"
    assert claims["token_use"] == "access"


def test_an_expired_token_from_the_command_is_refused(app, client):
    token = app.test_cli_runner().invoke(args=["token", "alice", "--lifetime", "-60"]).output.strip()
    response = client.get("/v1/trades", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_the_command_needs_a_user(app):
    result = app.test_cli_runner().invoke(args=["token"])
    assert result.exit_code != 0
