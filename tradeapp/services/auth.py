"""Access-token verification, the way AWS documents it for Cognito, shared by the local issuer.

RS256 only; the key is chosen by `kid` from the issuer's JWKS (cached; an unknown kid
triggers one refetch); `iss`, `exp`, `token_use == "access"` and `client_id` are checked.
"""

from __future__ import annotations

import re
from typing import Any

import jwt

from ..domain.errors import AuthError, StoreUnavailableError

# Cognito subs are UUIDs. User ids become parts of storage keys (users/{sub}/...), so a
# slash or anything unusual must never reach them.
USER_ID = re.compile(r"[A-Za-z0-9._@+:-]{1,128}")
REQUIRED_CLAIMS = ["exp", "iat", "iss", "sub", "token_use", "client_id"]


class TokenVerifier:
    def __init__(self, jwks: jwt.PyJWKClient, issuer: str, client_id: str, leeway: int = 5) -> None:
        self.jwks = jwks
        self.issuer = issuer
        self.client_id = client_id
        self.leeway = leeway

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or AuthError saying why it is refused."""
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != "RS256":
                raise AuthError("token must be signed with RS256")
            kid = header.get("kid")
            if not isinstance(kid, str):
                raise AuthError("token has no key id")
            key = self.jwks.get_signing_key(kid)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.PyJWKClientConnectionError as error:
            raise StoreUnavailableError("cannot reach the token issuer's keys") from error
        except jwt.PyJWTError as error:
            raise AuthError(f"invalid token: {error}") from error
        if claims["token_use"] != "access":
            raise AuthError("an access token is required")
        if claims["client_id"] != self.client_id:
            raise AuthError("token was issued to another client")
        if not isinstance(claims["sub"], str) or not USER_ID.fullmatch(claims["sub"]):
            raise AuthError("token subject is not a user id")
        return claims
