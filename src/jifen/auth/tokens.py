"""Short-lived signed access tokens (JWT, HS256) that name the user and their credential version."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

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


# access tokens this process has verified, until they expire: a client sends the same token with every
# request, and checking its signature was a tenth of the award's Python time (issue #13). Keyed by the
# signing key too: a token is only ever taken as verified under the key that verified it.
_VERIFIED: dict[tuple[str, str], tuple[TokenSubject, float]] = {}
_VERIFIED_MAX = 4096


def read_token(settings: Settings, token: str) -> TokenSubject | None:
    """The user and version a valid, unexpired token names; None for anything else."""
    cache_key = (settings.signing_key, token)
    known = _VERIFIED.get(cache_key)
    if known is not None:
        if time.time() < known[1]:  # as PyJWT: expired once `exp` is reached
            return known[0]
        del _VERIFIED[cache_key]
        return None
    found = verified(settings, token, "access", "iat")
    if found is None:
        return None
    subject, claims = found
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()
    _VERIFIED[cache_key] = (subject, float(claims["exp"]))
    return subject
