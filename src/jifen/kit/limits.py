"""Request body limits on every route, enforced while the body streams in.

One ASGI middleware wraps `receive`: the first time the application asks for the body (routing has picked
the endpoint by then) it looks up the endpoint's limit — the default from `JIFEN_BODY_MAX_BYTES`, or the
limit the endpoint declared with `@body_limit(...)` (a batch of awards, a photo) — refuses at once when the
declared Content-Length is over it, and otherwise counts the bytes as they arrive (a client may lie about
the length, or send none) and refuses as soon as they pass it. Nothing beyond the limit is read, so
neither a form parser nor a JSON decoder ever holds or spools more than the limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jifen.kit.asgi import HttpMiddleware
from jifen.settings import Settings

_ATTRIBUTE = "__jifen_body_limit__"
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def size_text(max_bytes: int) -> str:
    """1 MB, 36 MB, 195 KB: the limit as a person reads it."""
    if max_bytes >= 1024 * 1024:
        return f"{max_bytes / (1024 * 1024):g} MB"
    return f"{max_bytes // 1024} KB"


@dataclass(frozen=True)
class BodyLimit:
    max_bytes: int  # the whole body, multipart boundaries and headers included
    detail: str  # what the person is told when it is over


class BodyTooLarge(HTTPException):
    """413 too_large, rendered by the application's error handler like any other refusal."""

    def __init__(self, limit: BodyLimit) -> None:
        # the rest of the body is never read: the connection cannot carry another request after it
        super().__init__(413, limit.detail, headers={"Connection": "close"})


def default_limit(settings: Settings) -> BodyLimit:
    limit = settings.body_max_bytes
    return BodyLimit(limit, f"提交的内容太大，不能超过 {size_text(limit)}")


def batch_limit(settings: Settings) -> BodyLimit:
    """A batch of up to 10,000 awards (a grid's inspection sheet is one too)."""
    limit = settings.batch_body_max_bytes
    return BodyLimit(limit, f"提交的内容太大，不能超过 {size_text(limit)}，请分成几批提交")


def body_limit(limit: Callable[[Settings], BodyLimit]) -> Callable[[Endpoint], Endpoint]:
    """Give an endpoint its own body limit (put it under the route decorator)."""

    def mark(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, _ATTRIBUTE, limit)
        return endpoint

    return mark


def limit_for(scope: Scope, settings: Settings) -> BodyLimit:
    declared: Callable[[Settings], BodyLimit] | None = getattr(scope.get("endpoint"), _ATTRIBUTE, None)
    return declared(settings) if declared is not None else default_limit(settings)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class BodyLimitMiddleware(HttpMiddleware):
    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        super().__init__(app)
        self.settings = settings

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = _content_length(scope)
        limit: BodyLimit | None = None
        seen = 0

        async def limited_receive() -> Message:
            nonlocal limit, seen
            if limit is None:
                limit = limit_for(scope, self.settings)
                if declared is not None and declared > limit.max_bytes:
                    raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit.max_bytes:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)
