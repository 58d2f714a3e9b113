"""Bearer tokens: every malformed, forged or misdirected token is a 401 with WWW-Authenticate."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from . import fresh_user, trade_body

MISSING = object()


@pytest.fixture(scope="module")
def app(make_app, tmp_path_factory):
    """One app for the module: the tests only read, or write as a user of their own."""
    return make_app(tmp_path_factory.mktemp("auth"))


@pytest.fixture
def user():
    return fresh_user()


@pytest.fixture(scope="module")
def other_rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def issuer(app):
    return app.extensions["tradeapp"].issuer


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: dict[str, Any]) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def claims(issuer, **changes: Any) -> dict[str, Any]:
    """Cognito-shaped access-token claims for alice; a change to MISSING drops the claim."""
    now = int(time.time())
    payload = {
        "sub": "alice",
        "iss": issuer.issuer,
        "client_id": issuer.client_id,
        "token_use": "access",
        "iat": now,
        "auth_time": now,
        "exp": now + 600,
    }
    payload.update(changes)
    return {name: value for name, value in payload.items() if value is not MISSING}


def rs256(issuer, key=None, headers: dict[str, Any] | None = None, **changes: Any) -> str:
    return jwt.encode(
        claims(issuer, **changes),
        key or issuer.private_key,
        algorithm="RS256",
        headers={"kid": issuer.kid} if headers is None else headers,
    )


def hand_signed(issuer, header: dict[str, Any]) -> str:
    """RS256 built by hand, for headers PyJWT refuses to write (a numeric kid)."""
    signing_input = f"{segment({'alg': 'RS256', 'typ': 'JWT', **header})}.{segment(claims(issuer))}"
    signature = issuer.private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


def unsigned(issuer) -> str:
    return f"{segment({'alg': 'none', 'typ': 'JWT', 'kid': issuer.kid})}.{segment(claims(issuer))}."


def hs256_with_public_pem(issuer) -> str:
    """The classic algorithm-confusion forgery: HMAC keyed with the RSA public key's PEM."""
    pem = issuer.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{segment({'alg': 'HS256', 'typ': 'JWT', 'kid': issuer.kid})}.{segment(claims(issuer))}"
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def resigned_payload(issuer) -> str:
    """A valid token for bob with alice's claims pasted in: the signature no longer matches."""
    header, _, signature = rs256(issuer, sub="bob").split(".")
    return f"{header}.{segment(claims(issuer))}.{signature}"


BAD_TOKENS = {
    "garbage": lambda i, k: "garbage",
    "three-garbage-parts": lambda i, k: "a.b.c",
    "expired": lambda i, k: rs256(i, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
    "expired-beyond-leeway": lambda i, k: rs256(i, exp=int(time.time()) - 30),
    "not-yet-valid": lambda i, k: rs256(i, nbf=int(time.time()) + 3600),
    "wrong-issuer": lambda i, k: rs256(i, iss="https://evil.example/issuer"),
    "issuer-with-trailing-slash": lambda i, k: rs256(i, iss=i.issuer + "/"),
    "wrong-client-id": lambda i, k: rs256(i, client_id="someone-else"),
    "id-token": lambda i, k: rs256(i, token_use="id"),
    "no-token-use": lambda i, k: rs256(i, token_use=MISSING),
    "no-client-id": lambda i, k: rs256(i, client_id=MISSING),
    "no-exp": lambda i, k: rs256(i, exp=MISSING),
    "no-iat": lambda i, k: rs256(i, iat=MISSING),
    "no-sub": lambda i, k: rs256(i, sub=MISSING),
    "empty-sub": lambda i, k: rs256(i, sub=""),
    "numeric-sub": lambda i, k: rs256(i, sub=42),
    "sub-with-a-slash": lambda i, k: rs256(i, sub="alice/trades/x"),
    "sub-too-long": lambda i, k: rs256(i, sub="a" * 129),
    "alg-none": lambda i, k: unsigned(i),
    "hs256-with-public-pem": lambda i, k: hs256_with_public_pem(i),
    "other-key-same-kid": lambda i, k: rs256(i, key=k),
    "unknown-kid": lambda i, k: rs256(i, headers={"kid": "not-a-known-kid"}),
    "no-kid": lambda i, k: rs256(i, headers={}),
    "numeric-kid": lambda i, k: hand_signed(i, {"kid": 7}),
    "rs512": lambda i, k: jwt.encode(claims(i), i.private_key, algorithm="RS512", headers={"kid": i.kid}),
    "es256": lambda i, k: jwt.encode(
        claims(i), ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": i.kid}
    ),
    "signature-stripped": lambda i, k: rs256(i).rsplit(".", 1)[0] + ".",
    "payload-swapped": lambda i, k: resigned_payload(i),
}


def assert_refused(response) -> None:
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["code"] == 401
    assert response.headers.get("X-Request-Id")


@pytest.mark.parametrize("build", [rs256, lambda i: hand_signed(i, {"kid": i.kid})], ids=["pyjwt", "by-hand"])
def test_a_well_formed_token_built_here_is_accepted(client, issuer, build):
    # the forgeries below differ from these tokens in one respect each
    response = client.get("/v1/trades", headers={"Authorization": f"Bearer {build(issuer)}"})
    assert response.status_code == 200


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_scheme_is_case_insensitive(client, token, scheme):
    response = client.get("/v1/trades", headers={"Authorization": f"{scheme} {token()}"})
    assert response.status_code == 200


@pytest.mark.parametrize("name", list(BAD_TOKENS))
def test_a_bad_token_is_401(client, issuer, other_rsa_key, name):
    bad = BAD_TOKENS[name](issuer, other_rsa_key)
    response = client.get("/v1/trades", headers={"Authorization": f"Bearer {bad}"})
    assert_refused(response)


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic YWxpY2U6cGFzc3dvcmQ=", "Token {token}", "{token}", "Bearer  "],
    ids=["absent", "empty", "scheme-only", "scheme-space", "basic", "token-scheme", "no-scheme", "spaces"],
)
def test_a_missing_or_wrong_scheme_is_401(client, token, header):
    headers = {} if header is None else {"Authorization": header.format(token=token())}
    assert_refused(client.get("/v1/trades", headers=headers))


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/v1/trades", None),
        ("post", "/v1/trades", {"nonsense": True}),
        ("get", "/v1/trades/{id}", None),
        ("patch", "/v1/trades/{id}", {"notes": "x"}),
        ("delete", "/v1/trades/{id}", None),
        ("post", "/v1/trades/{id}/closes", {"quantity": 1}),
        ("get", "/v1/trades/unknown-id", None),
    ],
)
def test_every_trade_route_needs_a_token_before_anything_else(client, create, method, path, body):
    trade = create()
    url = path.format(id=trade["tradeId"])
    response = getattr(client, method)(url, json=body)
    assert_refused(response)
    forged = getattr(client, method)(url, json=body, headers={"Authorization": "Bearer x.y.z"})
    assert_refused(forged)


def test_a_forged_token_changes_nothing(client, auth, create, issuer, other_rsa_key, listed):
    trade = create("alice")  # the forgeries claim to be alice
    url = f"/v1/trades/{trade['tradeId']}"
    for name in ("alg-none", "hs256-with-public-pem", "other-key-same-kid"):
        headers = {"Authorization": f"Bearer {BAD_TOKENS[name](issuer, other_rsa_key)}", "If-Match": '"1"'}
        assert client.patch(url, json={"notes": "forged"}, headers=headers).status_code == 401
        assert client.delete(url, headers=headers).status_code == 401
        assert client.post("/v1/trades", json=trade_body(), headers=headers).status_code == 401
    assert listed("alice") == [trade]


def test_a_token_from_another_apps_issuer_is_401(client, tmp_path):
    from tradeapp import create_app

    other_dir = tmp_path / "other"
    other = create_app({"BACKEND": "memory", "DATA_DIR": str(other_dir)})
    foreign = other.extensions["tradeapp"].issuer.issue("alice")
    assert_refused(client.get("/v1/trades", headers={"Authorization": f"Bearer {foreign}"}))
