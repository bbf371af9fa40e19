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
from typing import Annotated

from fastapi import Header, Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.auth.dependencies import CurrentActor
from jifen.kit.db import driver
from jifen.kit.errors import BadRequest, Conflict


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


def _valid_key(value: str | None) -> str:
    if value is None or not 1 <= len(value) <= 200 or not all(" " <= ch <= "~" for ch in value):
        raise IdempotencyKeyRequired()
    return value


async def idempotency_key(
    actor: CurrentActor,  # authentication is checked first: 401 before 400
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="1–200 printable characters; a retry with the same key and body changes nothing",
        ),
    ] = None,
) -> CallerKey:
    return CallerKey(actor.user_id, _valid_key(key))


async def optional_idempotency_key(
    actor: CurrentActor,
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="optional; a retry with the same key and body changes nothing",
        ),
    ] = None,
) -> CallerKey | None:
    """For calls that are safe to send without a key but should run once when a client sends one (a restock
    from a form a clerk may tap twice)."""
    return None if key is None else CallerKey(actor.user_id, _valid_key(key))


def request_fingerprint(request: Request, body: BaseModel | None) -> str:
    """The request as parsed (field order fixed by the model), so spacing and key order do not matter."""
    canonical = body.model_dump_json().encode() if body is not None else b"null"
    return hashlib.sha256(f"{request.method} {request.url.path}\n".encode() + canonical).hexdigest()


def render(model: BaseModel) -> bytes:
    return model.model_dump_json().encode()


async def run_idempotent(
    session: AsyncSession,
    *,
    village_id: uuid.UUID,
    key: CallerKey,
    fingerprint: str,
    status_code: int,
    produce: Callable[[], Awaitable[BaseModel]],
) -> Response:
    connection = await driver(session)
    claimed = await connection.fetchval(
        "INSERT INTO idempotency_keys (village_id, caller_id, key, request_hash) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT DO NOTHING RETURNING true",
        village_id,
        key.caller_id,
        key.key,
        fingerprint,
    )
    if not claimed:
        stored = await connection.fetchrow(
            "SELECT request_hash, status_code, response FROM idempotency_keys"
            " WHERE village_id = $1 AND caller_id = $2 AND key = $3",
            village_id,
            key.caller_id,
            key.key,
        )
        if stored["request_hash"] != fingerprint:
            raise IdempotencyKeyReused()
        return Response(
            stored["response"],
            status_code=stored["status_code"],
            media_type="application/json",
            headers={"Idempotent-Replayed": "true"},
        )
    body = render(await produce())
    await connection.execute(
        "UPDATE idempotency_keys SET status_code = $4, response = $5"
        " WHERE village_id = $1 AND caller_id = $2 AND key = $3",
        village_id,
        key.caller_id,
        key.key,
        status_code,
        body.decode(),
    )
    return Response(body, status_code=status_code, media_type="application/json")
