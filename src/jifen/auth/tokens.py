"""Short-lived signed access tokens (JWT, HS256) that name the user and their credential version."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

import jwt

from jifen.kit.timeutil import utcnow
from jifen.settings import Settings

ALGORITHM = "HS256"
VERSION_CLAIM = "ver"


@dataclass(frozen=True)
class TokenSubject:
    """Who a valid token names: the user, and the credential version it was issued under."""

    user_id: uuid.UUID
    credential_version: int


def sign(
    settings: Settings,
    user_id: uuid.UUID,
    credential_version: int,
    typ: str,
    lifetime: timedelta,
    **extra: object,
) -> str:
    """A token of type `typ` naming the user and their credential version, valid for `lifetime`."""
    now = utcnow()
    claims = {
        "sub": str(user_id),
        "iat": now,
        "exp": now + lifetime,
        "typ": typ,
        VERSION_CLAIM: credential_version,
        **extra,
    }
    return jwt.encode(claims, settings.signing_key, algorithm=ALGORITHM)


def verified(
    settings: Settings, token: str, typ: str, *required: str
) -> tuple[TokenSubject, dict[str, Any]] | None:
    """Who a valid, unexpired token of type `typ` names, with its claims (the `required` ones among them);
    None for anything else."""
    try:
        claims = jwt.decode(
            token,
            settings.signing_key,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "exp", VERSION_CLAIM, *required]},
        )
        version = claims[VERSION_CLAIM]
        if claims.get("typ") != typ or type(version) is not int:
            return None
        return TokenSubject(uuid.UUID(str(claims["sub"])), version), claims
    except (jwt.PyJWTError, ValueError):
        return None


def issue_token(settings: Settings, user_id: uuid.UUID, credential_version: int) -> tuple[str, int]:
    ttl = settings.token_ttl_seconds
    return sign(settings, user_id, credential_version, "access", timedelta(seconds=ttl)), ttl


T = TypeVar("T")


class VerifiedTokens(Generic[T]):
    """Tokens this process has verified, with what they said, until they expire: a client sends the same
    token with every request, and checking its signature was a tenth of the award's Python time (issue
    #13). Keyed by the signing key too: a token is only ever taken as verified under the key that verified
    it."""

    def __init__(self, size: int = 4096) -> None:
        self._known: dict[tuple[str, str], tuple[T, float]] = {}
        self._size = size

    def lookup(self, settings: Settings, token: str) -> tuple[bool, T | None]:
        """(True, what it said) for a token verified before, (True, None) once it has expired, (False,
        None) for a token to verify."""
        key = (settings.signing_key, token)
        known = self._known.get(key)
        if known is None:
            return False, None
        if time.time() < known[1]:  # as PyJWT: expired once `exp` is reached
            return True, known[0]
        del self._known[key]
        return True, None

    def remember(self, settings: Settings, token: str, value: T, claims: dict[str, Any]) -> None:
        if len(self._known) >= self._size:
            self._known.clear()
        self._known[(settings.signing_key, token)] = (value, float(claims["exp"]))

    def read(
        self,
        settings: Settings,
        token: str,
        typ: str,
        required: str,
        said: Callable[[TokenSubject, dict[str, Any]], T],
    ) -> T | None:
        """What a valid, unexpired token of type `typ` says (`said` of its subject and claims, the `required`
        one among them), verified once and then remembered until it expires; None for anything else."""
        seen, known = self.lookup(settings, token)
        if seen:
            return known
        found = verified(settings, token, typ, required)
        if found is None:
            return None
        value = said(*found)
        self.remember(settings, token, value, found[1])
        return value


_VERIFIED: VerifiedTokens[TokenSubject] = VerifiedTokens()


def read_token(settings: Settings, token: str) -> TokenSubject | None:
    """The user and version a valid, unexpired token names; None for anything else."""
    return _VERIFIED.read(settings, token, "access", "iat", lambda subject, _claims: subject)
