"""The embedded token issuer: an RSA key in the data dir, verified by the same code as Cognito's."""

from __future__ import annotations

import base64
import hashlib
import os
import time
import uuid
from functools import cached_property
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

KEY_FILE = "local-issuer-key.pem"
PUBLIC_KEY_FILE = "local-issuer-key.pub.pem"
PEM = serialization.Encoding.PEM
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


def write_private(path: Path, data: bytes) -> None:
    """Write a secret file readable only by its owner; the first writer wins a race."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    try:
        os.link(tmp, path)  # fails if another process made the file first
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


class LocalIssuer:
    """Verifying needs only the public key, kept beside the private one: loading a private key
    validates it (about 100 ms), paid only when a token is issued, not on every start."""

    def __init__(self, data_dir: str | Path, issuer: str, client_id: str) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.path = Path(data_dir) / KEY_FILE
        public_path = Path(data_dir) / PUBLIC_KEY_FILE
        if not self.path.exists():
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            write_private(self.path, pem)
        if public_path.exists():
            public = serialization.load_pem_public_key(public_path.read_bytes())
            assert isinstance(public, rsa.RSAPublicKey)
            self.public_key = public
        else:  # a key from before the public file, or one put there by hand
            self.public_key = self.private_key.public_key()
            write_private(public_path, self.public_key.public_bytes(PEM, SPKI))
        public_der = self.public_key.public_bytes(serialization.Encoding.DER, SPKI)
        self.kid = base64.urlsafe_b64encode(hashlib.sha256(public_der).digest()[:12]).decode()

    @cached_property
    def private_key(self) -> rsa.RSAPrivateKey:
        loaded = serialization.load_pem_private_key(self.path.read_bytes(), password=None)
        assert isinstance(loaded, rsa.RSAPrivateKey)
        public = getattr(self, "public_key", None)
        if public is not None and loaded.public_key().public_numbers() != public.public_numbers():
            raise ValueError(f"{KEY_FILE} does not match {PUBLIC_KEY_FILE}: delete {PUBLIC_KEY_FILE}")
        return loaded

    def jwks(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.public_key, as_dict=True)
        jwk.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return {"keys": [jwk]}

    def issue(self, user_id: str, lifetime: int = 3600, **extra: Any) -> str:
        """A Cognito-shaped access token for user_id."""
        now = int(time.time())
        claims = {
            "sub": user_id,
            "iss": self.issuer,
            "client_id": self.client_id,
            "token_use": "access",
            "scope": "aws.cognito.signin.user.admin",
            "auth_time": now,
            "iat": now,
            "exp": now + lifetime,
            "jti": str(uuid.uuid4()),
            "username": user_id,
            **extra,
        }
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": self.kid})


class LocalJWKClient(jwt.PyJWKClient):
    """PyJWKClient over the local issuer's JWKS: the same key lookup and caching as for Cognito."""

    def __init__(self, issuer: LocalIssuer) -> None:
        super().__init__(issuer.issuer + "/.well-known/jwks.json")
        self.local = issuer

    def fetch_data(self) -> Any:
        return self.local.jwks()
