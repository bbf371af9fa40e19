"""The browser session: a signed, HttpOnly cookie naming the user and their credential version, with the CSRF
token bound to it. A sign-out, a password change or a disabling raises the version, and every cookie issued
before stops working: the pages' actor comes from the same loader as the API's, which checks the version."""

from __future__ import annotations

import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import Request, Response

from jifen.auth.tokens import TokenSubject, VerifiedTokens, sign
from jifen.settings import Settings

COOKIE = "jifen_session"
LOGIN_CSRF_COOKIE = "jifen_login_csrf"


@dataclass(frozen=True)
class WebSession(TokenSubject):
    csrf: str


def issue(settings: Settings, user_id: uuid.UUID, credential_version: int) -> str:
    lifetime = timedelta(hours=settings.web_session_hours)
    return sign(settings, user_id, credential_version, "web", lifetime, csrf=secrets.token_urlsafe(24))


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


# session cookies this process has verified (a browser sends the same cookie with every page); the credential
# version is still checked on every request by the actor's loader, so a sign-out or a password change ends a
# remembered session as it ends any other
_VERIFIED: VerifiedTokens[WebSession] = VerifiedTokens()


def _decode(settings: Settings, token: str) -> WebSession | None:
    return _VERIFIED.read(settings, token, "web", "csrf", _session)


def _session(subject: TokenSubject, claims: dict[str, Any]) -> WebSession:
    return WebSession(subject.user_id, subject.credential_version, str(claims["csrf"]))


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
