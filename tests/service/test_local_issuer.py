"""The embedded token issuer: its key files, and verification without the private key."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tradeapp.adapters.localissuer import KEY_FILE, PEM, PUBLIC_KEY_FILE, SPKI, LocalIssuer, LocalJWKClient
from tradeapp.services.auth import TokenVerifier

ISSUER, CLIENT = "http://127.0.0.1:5000/local-issuer", "local"


def verify(issuer: LocalIssuer, token: str) -> dict:
    return TokenVerifier(LocalJWKClient(issuer), ISSUER, CLIENT).verify(token)


def test_a_new_data_dir_gets_both_keys_and_a_restart_verifies_without_the_private_one(tmp_path: Path) -> None:
    first = LocalIssuer(tmp_path, ISSUER, CLIENT)
    token = first.issue("alice")
    assert (tmp_path / KEY_FILE).exists()
    assert (tmp_path / PUBLIC_KEY_FILE).exists()

    restarted = LocalIssuer(tmp_path, ISSUER, CLIENT)

    assert verify(restarted, token)["sub"] == "alice"
    assert "private_key" not in vars(restarted)  # never loaded: verifying needs only the public key
    assert restarted.kid == first.kid


def test_a_private_key_put_there_alone_gets_its_public_key(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / KEY_FILE).write_bytes(pem)

    issuer = LocalIssuer(tmp_path, ISSUER, CLIENT)

    assert (tmp_path / PUBLIC_KEY_FILE).read_bytes() == key.public_key().public_bytes(PEM, SPKI)
    assert verify(issuer, issuer.issue("bob"))["sub"] == "bob"


def test_keys_that_do_not_match_are_refused_when_issuing(tmp_path: Path) -> None:
    LocalIssuer(tmp_path, ISSUER, CLIENT)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    (tmp_path / PUBLIC_KEY_FILE).write_bytes(other.public_bytes(PEM, SPKI))
    issuer = LocalIssuer(tmp_path, ISSUER, CLIENT)

    with pytest.raises(ValueError, match=PUBLIC_KEY_FILE):
        issuer.issue("alice")
