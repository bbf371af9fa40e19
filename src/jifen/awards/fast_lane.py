"""The one-call award without FastAPI's per-request machinery: `POST /api/v1/awards` in its common shape.

Measured (issue #13), FastAPI's dependency resolution and routing cost more CPU per award than everything else
in Python on that path together: the endpoint's dependencies are solved anew for every request (thirteen
nested solves for the token, the actor, the session, the body, the key and the access), and the router tries
every route before it. The award itself is one database call (`award_submit`, migration 0021) that checks
the access in the database.

This pure ASGI middleware sits inside the app's own middleware (request id, control characters, body limit,
security headers, metrics: they all still apply) and in front of the router. It answers the request itself
only when everything the endpoint would read is of the one-call shape and sure: a bearer token naming an
actor this process has cached (`auth/actor_cache.py`) who need not change a password, a valid
Idempotency-Key sent once, a JSON body that the endpoint's own model (`AwardCreate`) accepts, and
`award_submit` answering (not NULL) and committing. Then the answer is the same bytes, status and headers
the endpoint sends (`@idempotent` with `at_once`).

Anything else — another shape, a token or actor it would have to load, a refusal (NULL: nothing written),
any error (rolled back: nothing written, or, for a commit whose outcome is unknown, the key claimed with its
answer) — and the request goes on to the router exactly as it came in, its body replayed: the general path
answers, with every refusal, code and message as before.
"""

from __future__ import annotations

import contextlib
import json

import structlog
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jifen.auth.actor import Actor
from jifen.auth.actor_cache import ACTORS
from jifen.auth.tokens import read_token
from jifen.awards.auth import PendingSubmission
from jifen.awards.endpoints import create_award, router
from jifen.awards.schemas import AwardCreate
from jifen.awards.service import submit_in_one_call
from jifen.kit.asgi import HttpMiddleware
from jifen.kit.idempotency import CallerKey, is_valid_key, request_fingerprint

PATH = "/api/v1/awards"
log = structlog.get_logger(__name__)


_READ = (b"authorization", b"content-type", b"idempotency-key")


def _headers(scope: Scope) -> dict[bytes, str] | None:
    """The few request headers the lane reads; None when one is sent twice (not the lane's to judge)."""
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


def _award(body: bytes) -> AwardCreate | None:
    try:
        return AwardCreate.model_validate(json.loads(body))
    except (ValueError, ValidationError):  # not JSON, or not a valid award: the endpoint says what is wrong
        return None


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


class OneCallAwardLane(HttpMiddleware):
    def __init__(self, app: ASGIApp, *, state: State) -> None:
        super().__init__(app)
        self.state = state
        # the endpoint's route, as the router would have matched it: the metrics' label, the body limit
        self.route = next(r for r in router.routes if getattr(r, "endpoint", None) is create_award)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST" or scope["path"] != PATH or scope.get("root_path"):
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
        scope["route"], scope["endpoint"] = self.route, create_award
        try:
            body, messages = await _read_body(receive)
        except Exception as refusal:  # the body limit, a control character: the router's handlers answer
            await self.app(scope, _raising(refusal), send)
            return
        award = _award(body)
        answer = None
        if award is not None:
            answer = await self._one_call(scope, actor, award, CallerKey(actor.user_id, key))
        if answer is not None:
            await Response(answer, status_code=201, media_type="application/json")(scope, receive, send)
            return
        replay = iter(messages)

        async def replayed() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replayed, send)

    async def _one_call(self, scope: Scope, actor: Actor, award: AwardCreate, key: CallerKey) -> bytes | None:
        structlog.contextvars.bind_contextvars(actor_id=str(actor.user_id))
        sessionmaker: async_sessionmaker[AsyncSession] = self.state.sessionmaker
        fingerprint = request_fingerprint(Request(scope), award)
        async with sessionmaker() as session:
            try:
                access = PendingSubmission(actor, session, key.key, [award.household_id])
                answer = await submit_in_one_call(
                    key=key, fingerprint=fingerprint, body=award, access=access, session=session
                )
                if answer is not None:
                    await session.commit()
                    return answer
            except Exception as exc:  # the general path runs again and answers it (a fault: its 503)
                log.info("award_lane_fell_through", error=type(exc).__name__)
            if session.in_transaction():
                try:
                    await session.rollback()
                except Exception:  # the connection is gone, its transaction with it
                    with contextlib.suppress(Exception):
                        await session.invalidate()
        return None
