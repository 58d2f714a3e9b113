"""Access-token verification, the way AWS documents it for Cognito, shared by the local issuer.

RS256 only; the key is chosen by `kid` from the issuer's JWKS (cached; an unknown kid
triggers one refetch); `iss`, `exp`, `token_use == "access"` and `client_id` are checked.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import jwt

from ..adapters.ports import RevocationStore
from ..domain.errors import AuthError, StoreUnavailableError

# Cognito subs are UUIDs. User ids become parts of storage keys (users/{sub}/...), so a
# slash or anything unusual must never reach them.
USER_ID = re.compile(r"[A-Za-z0-9._@+:-]{1,128}")
REQUIRED_CLAIMS = ["exp", "iat", "iss", "sub", "token_use", "client_id"]


class TokenVerifier:
    def __init__(
        self,
        jwks: jwt.PyJWKClient,
        issuer: str,
        client_id: str,
        revocations: RevocationStore | None = None,
        leeway: int = 5,
    ) -> None:
        self.jwks = jwks
        self.issuer = issuer
        self.client_id = client_id
        self.revocations = revocations
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
        # Cognito access tokens stay valid after GlobalSignOut until they expire: this API
        # refuses those issued at or before the user's last sign-out itself.
        after = self.revocations.valid_after(claims["sub"]) if self.revocations else None
        if after is not None and int(claims["iat"]) <= after:
            raise AuthError("token was revoked (signed out)")
        return claims


class SessionService:
    """Sign-out that takes effect: the identity provider's global sign-out (refresh tokens),
    then a "tokens valid after" time that refuses the access tokens already issued."""

    def __init__(
        self,
        revocations: RevocationStore,
        sign_out_everywhere: Callable[[str], None] = lambda token: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.revocations = revocations
        self.sign_out_everywhere = sign_out_everywhere
        self.clock = clock

    def sign_out(self, user_id: str, access_token: str) -> None:
        self.sign_out_everywhere(access_token)
        self.revoke(user_id)

    def revoke(self, user_id: str) -> int:
        """Refuse every token issued until now; returns the time recorded."""
        at = int(self.clock())
        self.revocations.revoke(user_id, at)
        return at
