"""Short-lived signed access tokens (JWT, HS256) that name the user and their credential version."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

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


def issue_token(settings: Settings, user_id: uuid.UUID, credential_version: int) -> tuple[str, int]:
    now = utcnow()
    ttl = settings.token_ttl_seconds
    claims = {
        "sub": str(user_id),
        "iat": now,
        "exp": now + timedelta(seconds=ttl),
        "typ": "access",
        VERSION_CLAIM: credential_version,
    }
    return jwt.encode(claims, settings.signing_key, algorithm=ALGORITHM), ttl


def read_token(settings: Settings, token: str) -> TokenSubject | None:
    """The user and version a valid, unexpired token names; None for anything else."""
    try:
        claims = jwt.decode(
            token,
            settings.signing_key,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "exp", "iat", VERSION_CLAIM]},
        )
        version = claims[VERSION_CLAIM]
        if claims.get("typ") != "access" or type(version) is not int:
            return None
        return TokenSubject(uuid.UUID(str(claims["sub"])), version)
    except (jwt.PyJWTError, ValueError):
        return None
