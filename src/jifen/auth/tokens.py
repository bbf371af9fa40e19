"""Short-lived signed access tokens (JWT, HS256)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import jwt

from jifen.kit.timeutil import utcnow
from jifen.settings import Settings

ALGORITHM = "HS256"


def issue_token(settings: Settings, user_id: uuid.UUID) -> tuple[str, int]:
    now = utcnow()
    ttl = settings.token_ttl_seconds
    claims = {
        "sub": str(user_id),
        "iat": now,
        "exp": now + timedelta(seconds=ttl),
        "typ": "access",
    }
    return jwt.encode(claims, settings.signing_key, algorithm=ALGORITHM), ttl


def read_token(settings: Settings, token: str) -> uuid.UUID | None:
    """The user id a valid, unexpired token names; None for anything else."""
    try:
        claims = jwt.decode(
            token,
            settings.signing_key,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "exp", "iat"]},
        )
        if claims.get("typ") != "access":
            return None
        return uuid.UUID(str(claims["sub"]))
    except (jwt.PyJWTError, ValueError):
        return None
