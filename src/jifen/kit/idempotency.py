"""Idempotency-Key for every money-moving POST.

The key is claimed with an INSERT at the start of the request's transaction; a concurrent request with the
same key waits on that row until the first commits, then replays its stored answer. The answer is written
in the same transaction as the change, so a committed change always has its answer and a failed one
(rolled back) leaves neither, and a retry runs again.

A key belongs to its caller: the answer is stored under (village, caller, key), so another user who sends
the same key and body runs their own request and never sees the first caller's answer (a pickup code).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from fastapi import Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit.errors import BadRequest, Conflict
from jifen.kit.sql import Sql

M = TypeVar("M", bound=BaseModel)


class IdempotencyKeyRequired(BadRequest):
    code = "idempotency_key_required"
    default_detail = "此操作需要 Idempotency-Key 请求头（1–200 个可打印字符），以免重复提交"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    default_detail = "该 Idempotency-Key 已用于另一个不同的请求，请换一个新的键"


@dataclass(frozen=True)
class CallerKey:
    """An Idempotency-Key as the caller who sent it: a key is only ever replayed to the same user."""

    caller_id: uuid.UUID
    key: str


def valid_key(value: str | None) -> str:
    if value is None or not 1 <= len(value) <= 200 or not all(" " <= ch <= "~" for ch in value):
        raise IdempotencyKeyRequired()
    return value


def request_fingerprint(request: Request, body: BaseModel | None) -> str:
    """The request as parsed (field order fixed by the model), so spacing and key order do not matter."""
    canonical = body.model_dump_json().encode() if body is not None else b"null"
    return hashlib.sha256(f"{request.method} {request.url.path}\n".encode() + canonical).hexdigest()


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


async def run_idempotent(
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
