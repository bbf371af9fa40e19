"""The browser session: a signed, HttpOnly cookie naming the user and their credential version, with the CSRF
token bound to it. A sign-out, a password change or a disabling raises the version, and every cookie issued
before stops working: the pages' actor comes from the same loader as the API's, which checks the version."""

from __future__ import annotations

import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

import jwt
from fastapi import Request, Response

from jifen.auth.tokens import VERSION_CLAIM
from jifen.kit.timeutil import utcnow
from jifen.settings import Settings

COOKIE = "jifen_session"
LOGIN_CSRF_COOKIE = "jifen_login_csrf"
ALGORITHM = "HS256"


@dataclass(frozen=True)
class WebSession:
    user_id: uuid.UUID
    credential_version: int
    csrf: str


def _secret(settings: Settings) -> str:
    return settings.signing_key


def issue(settings: Settings, user_id: uuid.UUID, credential_version: int) -> str:
    now = utcnow()
    claims = {
        "sub": str(user_id),
        VERSION_CLAIM: credential_version,
        "iat": now,
        "exp": now + timedelta(hours=settings.web_session_hours),
        "typ": "web",
        "csrf": secrets.token_urlsafe(24),
    }
    return jwt.encode(claims, _secret(settings), algorithm=ALGORITHM)


def read(settings: Settings, request: Request) -> WebSession | None:
    """The request's session cookie, checked; decoded once per request (the actor's loader and the page both
    ask)."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    known = getattr(request.state, "web_session", None)
    if known is not None and known[0] == token:
        session: WebSession | None = known[1]
        return session
    session = _decode(settings, token)
    request.state.web_session = (token, session)
    return session


def _decode(settings: Settings, token: str) -> WebSession | None:
    try:
        claims = jwt.decode(
            token,
            _secret(settings),
            algorithms=[ALGORITHM],
            options={"require": ["sub", "exp", "csrf", VERSION_CLAIM]},
        )
        version = claims[VERSION_CLAIM]
        if claims.get("typ") != "web" or type(version) is not int:
            return None
        return WebSession(
            user_id=uuid.UUID(str(claims["sub"])), credential_version=version, csrf=str(claims["csrf"])
        )
    except (jwt.PyJWTError, ValueError):
        return None


def _secure(settings: Settings, request: Request) -> bool:
    return settings.env == "prod" or request.url.scheme == "https"


def set_cookie(settings: Settings, request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=settings.web_session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=_secure(settings, request),
        path="/",
    )


def clear_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")


def login_csrf(request: Request) -> str:
    """The token for the login form (no session yet): a double-submit cookie."""
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)


def set_login_csrf(settings: Settings, request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=_secure(settings, request),
        path="/login",
    )


def same(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))
