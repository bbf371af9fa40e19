"""A one-call POST without FastAPI's per-request machinery: the lane the award and the counter sale share.

Measured (issue #13), FastAPI's dependency resolution and routing cost more CPU per request than everything
else in Python on a one-call path together: the endpoint's dependencies are solved anew for every request
(for an award, thirteen nested solves for the token, the actor, the session, the body, the key and the
access), and the router tries every route before it. The work itself is one database call that checks the
access in the database (`award_submit`, migration 0021; `sale_submit`, 0023).

A lane is a pure ASGI middleware that sits inside the app's own middleware (request id, control characters,
body limit, security headers, metrics: they all still apply) and in front of the router. It answers the
request itself only when everything the endpoint would read is of the one-call shape and sure: a bearer token
naming an actor this process has cached (`auth/actor_cache.py`) who need not change a password, a valid
Idempotency-Key sent once, a JSON body that the endpoint's own model accepts, and the database call answering
(not NULL) and committing. Then the answer is the same bytes, status and headers the endpoint sends
(`@idempotent` with `at_once`), sent only after the commit.

Anything else — another shape, a token or actor it would have to load, a refusal (NULL: nothing written),
any error (rolled back: nothing written, or, for a commit whose outcome is unknown, the key claimed with its
answer) — and the request goes on to the router exactly as it came in, its body replayed: the general path
answers, with every refusal, code, message and header as before. A lane never renders a refusal itself, so
its refusals cannot differ from the router's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import structlog
from fastapi import APIRouter
from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, ValidationError
from starlette.datastructures import State
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jifen.auth.actor import Actor
from jifen.auth.actor_cache import ACTORS
from jifen.auth.tokens import read_token
from jifen.kit.asgi import HttpMiddleware
from jifen.kit.idempotency import CallerKey, fingerprint, is_valid_key

log = structlog.get_logger(__name__)

Body = TypeVar("Body", bound=BaseModel)

_READ = (b"authorization", b"content-type", b"idempotency-key")


def _headers(scope: Scope) -> dict[bytes, str] | None:
    """The few request headers a lane reads; None when one is sent twice (not the lane's to judge)."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in _READ:
            if name in found:
                return None
            found[name] = value.decode("latin-1")
    return found


def _cached_actor(state: State, authorization: str | None) -> Actor | None:
    scheme, token = get_authorization_scheme_param(authorization)
    if scheme.lower() != "bearer" or not token:
        return None
    subject = read_token(state.settings, token)
    if subject is None:
        return None
    actor = ACTORS.get(subject.user_id, subject.credential_version)
    return None if actor is None or actor.must_change_password else actor


async def _read_body(receive: Receive) -> tuple[bytes, list[Message]]:
    """The whole body, and the messages it came in (to replay them when the router takes over)."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks), messages


def _raising(error: Exception) -> Receive:
    async def receive() -> Message:
        raise error

    return receive


class OneCallLane(HttpMiddleware, Generic[Body]):
    """`POST path` answered by `call` when it is sure; everything else goes on to the router.

    A lane names the path, the router's endpoint there (its route is the metrics' label and the body limit's,
    as the router would have matched it), the endpoint's body model, and the name its fall-throughs are
    logged under; it implements `call`, the endpoint's `at_once` with the lane's access object."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        state: State,
        path: str,
        router: APIRouter,
        endpoint: Callable[..., Any],
        model: type[Body],
        name: str,
    ) -> None:
        super().__init__(app)
        self.state = state
        self.path = path
        self.endpoint = endpoint
        self.route = next(r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is endpoint)
        self.status_code = self.route.status_code or 200
        self.model = model
        self.fell_through = f"{name}_lane_fell_through"

    def takes(self) -> bool:
        """Whether the lane is open at all (a setting may send every request to the router)."""
        return True

    async def call(
        self, *, scope: Scope, actor: Actor, body: Body, key: CallerKey, fingerprint: str
    ) -> bytes | None:
        """The answer's JSON, committed by the call itself (one statement on a pooled driver connection), or
        None: nothing written."""
        raise NotImplementedError

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["method"] != "POST"
            or scope["path"] != self.path
            or scope.get("root_path")
            or not self.takes()
        ):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        key = headers.get(b"idempotency-key") if headers is not None else None
        actor = None
        if headers is not None and headers.get(b"content-type") == "application/json" and is_valid_key(key):
            actor = _cached_actor(self.state, headers.get(b"authorization"))
        if actor is None or key is None:
            await self.app(scope, receive, send)
            return
        scope["route"], scope["endpoint"] = self.route, self.endpoint
        try:
            raw, messages = await _read_body(receive)
        except Exception as refusal:  # the body limit, a control character: the router's handlers answer
            await self.app(scope, _raising(refusal), send)
            return
        body = self._body(raw)
        answer = None
        if body is not None:
            answer = await self._one_call(scope, actor, body, CallerKey(actor.user_id, key))
        if answer is not None:
            response = Response(answer, status_code=self.status_code, media_type="application/json")
            await response(scope, receive, send)
            return
        replay = iter(messages)

        async def replayed() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replayed, send)

    def _body(self, raw: bytes) -> Body | None:
        try:
            return self.model.model_validate(json.loads(raw))
        except (ValueError, ValidationError):  # not JSON, or not a valid body: the endpoint says why
            return None

    async def _one_call(self, scope: Scope, actor: Actor, body: Body, key: CallerKey) -> bytes | None:
        structlog.contextvars.bind_contextvars(actor_id=str(actor.user_id))
        # request_fingerprint's: the lane's path has nothing its URL would escape
        request_hash = fingerprint(scope["method"], scope["path"], body)
        try:
            return await self.call(scope=scope, actor=actor, body=body, key=key, fingerprint=request_hash)
        except Exception as exc:  # the general path runs again and answers it (a fault: its 503)
            log.info(self.fell_through, error=type(exc).__name__)
        return None
