"""Idempotency-Key for every money-moving POST.

The key is claimed with an INSERT at the start of the request's transaction; a concurrent request with the
same key waits on that row until the first commits, then replays its stored answer. The answer is written
in the same transaction as the change, so a committed change always has its answer and a failed one
(rolled back) leaves neither, and a retry runs again.

A key belongs to its caller: the answer is stored under (village, caller, key), so another user who sends
the same key and body runs their own request and never sees the first caller's answer (a pickup code).

An API endpoint takes part with `@idempotent(...)` (under the route decorator) and just returns its model;
a page's form post calls `run_once`.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from fastapi import Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit.errors import BadRequest, Conflict
from jifen.kit.sql import Sql

M = TypeVar("M", bound=BaseModel)
P = ParamSpec("P")


class IdempotencyKeyRequired(
    BadRequest,
    code="idempotency_key_required",
    detail="此操作需要 Idempotency-Key 请求头（1–200 个可打印字符），以免重复提交",
): ...


class IdempotencyKeyReused(
    Conflict,
    code="idempotency_key_reused",
    detail="该 Idempotency-Key 已用于另一个不同的请求，请换一个新的键",
): ...


@dataclass(frozen=True)
class CallerKey:
    """An Idempotency-Key as the caller who sent it: a key is only ever replayed to the same user."""

    caller_id: uuid.UUID
    key: str


def is_valid_key(value: str | None) -> bool:
    return value is not None and 1 <= len(value) <= 200 and all(" " <= ch <= "~" for ch in value)


def valid_key(value: str | None) -> str:
    if value is None or not is_valid_key(value):
        raise IdempotencyKeyRequired()
    return value


def request_fingerprint(request: Request, body: BaseModel | None) -> str:
    """The request as parsed (field order fixed by the model), so spacing and key order do not matter."""
    return fingerprint(request.method, request.url.path, body)


def fingerprint(method: str, path: str, body: BaseModel | None) -> str:
    """`request_fingerprint` from the method and the path as they are (an ASGI lane has no Request, and
    building its URL costs more than the hash)."""
    canonical = body.model_dump_json().encode() if body is not None else b"null"
    return hashlib.sha256(f"{method} {path}\n".encode() + canonical).hexdigest()


def render(model: BaseModel) -> bytes:
    return model.model_dump_json().encode()


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    request_hash: str
    status_code: int | None
    response: str | None


async def claim(
    session: AsyncSession, village_id: uuid.UUID, key: CallerKey, fingerprint: str
) -> StoredAnswer | None:
    """Claim the key for this request (None: go ahead), or the answer stored by the request that holds it
    (waiting for that request to commit first). A key sent again with another request is refused."""
    # one answer per (village, caller, key). SQL twin: migrations/versions/0015_caller_idempotency.py
    # pk_idempotency_keys, whose row a concurrent claim waits on
    sql = Sql(session)
    claimed = await sql.value(
        bool,
        "INSERT INTO idempotency_keys (village_id, caller_id, key, request_hash) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT DO NOTHING RETURNING true",
        village_id,
        key.caller_id,
        key.key,
        fingerprint,
    )
    if claimed:
        return None
    stored = await sql.row(
        StoredAnswer,
        "SELECT request_hash, status_code, response FROM idempotency_keys"
        " WHERE village_id = $1 AND caller_id = $2 AND key = $3",
        village_id,
        key.caller_id,
        key.key,
    )
    assert stored is not None  # the row that refused the claim is committed: it is there
    if stored.request_hash != fingerprint:
        raise IdempotencyKeyReused()
    return stored


async def keep_answer(
    session: AsyncSession, village_id: uuid.UUID, key: CallerKey, status_code: int, body: bytes
) -> None:
    """The answer, in the same transaction as the change: committed together or not at all."""
    await Sql(session).execute(
        "UPDATE idempotency_keys SET status_code = $4, response = $5"
        " WHERE village_id = $1 AND caller_id = $2 AND key = $3",
        village_id,
        key.caller_id,
        key.key,
        status_code,
        body.decode(),
    )


async def answer_once(
    session: AsyncSession,
    *,
    village_id: uuid.UUID,
    key: CallerKey,
    fingerprint: str,
    status_code: int,
    produce: Callable[[], Awaitable[BaseModel]],
) -> Response:
    """An API call once per key: the stored answer replayed as it was sent, or `produce` run and kept."""
    stored = await claim(session, village_id, key, fingerprint)
    if stored is not None:
        return Response(
            stored.response,
            status_code=stored.status_code or status_code,
            media_type="application/json",
            headers={"Idempotent-Replayed": "true"},
        )
    body = render(await produce())
    await keep_answer(session, village_id, key, status_code, body)
    return Response(body, status_code=status_code, media_type="application/json")


_NEEDS = ("request", "key", "session", "access")


# one database call that does the whole request, its key and answer included: (the endpoint's arguments
# and the request's fingerprint) → the answer's JSON, or None (nothing written: the endpoint runs as usual)
AtOnce = Callable[..., Awaitable[bytes | None]]


def idempotent(
    village: Callable[[Any], uuid.UUID | Awaitable[uuid.UUID]],
    *,
    at_once: AtOnce | None = None,
) -> Callable[[Callable[P, Awaitable[BaseModel]]], Callable[P, Awaitable[Response]]]:
    """A money-moving POST once per Idempotency-Key: the endpoint body just returns its model.

    The endpoint declares the parameters `request`, `key` (a `CallerKey`, or `CallerKey | None` where the
    key is optional), `session` and `access`; `village(access)` is the village the key belongs to (it may
    be awaited: an access check run only when needed), and the parsed `body` (when there is one) is the
    request's fingerprint. The status is the route's own (`status_code=` on the route decorator; 200
    without one), so the OpenAPI document is unchanged. `at_once`, tried first, may answer the whole
    request in one database call (awards/endpoints.py)."""

    def wrap(endpoint: Callable[P, Awaitable[BaseModel]]) -> Callable[P, Awaitable[Response]]:
        missing = [name for name in _NEEDS if name not in inspect.signature(endpoint).parameters]
        if missing:
            raise TypeError(f"@idempotent {endpoint.__qualname__} needs the parameters {missing}")

        @functools.wraps(endpoint)
        async def once(*args: P.args, **kwargs: P.kwargs) -> Response:
            request: Request = kwargs["request"]  # type: ignore[assignment]
            route_status = getattr(request.scope.get("route"), "status_code", None)
            status_code: int = route_status or 200
            key: CallerKey | None = kwargs["key"]  # type: ignore[assignment]
            if key is None:  # an optional key not sent: the call runs as it is
                return Response(
                    render(await endpoint(*args, **kwargs)),
                    status_code=status_code,
                    media_type="application/json",
                )
            body: BaseModel | None = kwargs.get("body")  # type: ignore[assignment]
            fingerprint = request_fingerprint(request, body)
            if at_once is not None:
                answer = await at_once(fingerprint=fingerprint, **kwargs)
                if answer is not None:
                    return Response(answer, status_code=status_code, media_type="application/json")
            village_id = village(kwargs["access"])
            return await answer_once(
                kwargs["session"],  # type: ignore[arg-type]
                village_id=village_id if isinstance(village_id, uuid.UUID) else await village_id,
                key=key,
                fingerprint=fingerprint,
                status_code=status_code,
                produce=lambda: endpoint(*args, **kwargs),
            )

        return once

    return wrap


async def run_once(
    session: AsyncSession,
    *,
    village_id: uuid.UUID,
    key: CallerKey,
    fingerprint: str,
    model: type[M],
    produce: Callable[[], Awaitable[M]],
) -> M:
    """A page's form post once per key (a double tap, a reload): the first answer, typed, either way."""
    stored = await claim(session, village_id, key, fingerprint)
    if stored is not None and stored.response is not None:
        return model.model_validate_json(stored.response)
    value = await produce()
    await keep_answer(session, village_id, key, 201, render(value))
    return value
