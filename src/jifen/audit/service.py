"""The audit trail (操作日志/留痕): every change on the record, written in the same database transaction as
the change itself, append-only and chained (see audit/chain.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.audit import repository
from jifen.audit.repository import TOWN_SCOPE
from jifen.auth.actor import Actor
from jifen.kit.logging import REQUEST

__all__ = ["TOWN_SCOPE", "record", "record_many"]


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, default=_plain, separators=(",", ":"))


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID | datetime):
        return str(value)
    if hasattr(value, "value"):
        return value.value
    raise TypeError(f"cannot record {type(value).__name__}")


def _roles(actor: Actor, scope: uuid.UUID) -> str:
    roles = sorted({g.role.value for g in actor.grants if g.village_id == scope or g.village_id is None})
    return ",".join(roles)[:200]


async def record(
    session: AsyncSession,
    actor: Actor,
    *,
    village_id: uuid.UUID | None,
    action: str,
    record_type: str,
    record_id: Any,
    before: Any = None,
    after: Any = None,
    reason: str | None = None,
) -> None:
    """One audit event, in the caller's transaction."""
    await record_many(
        session,
        actor,
        village_id=village_id,
        action=action,
        record_type=record_type,
        changes=[(record_id, before, after)],
        reason=reason,
    )


async def record_many(
    session: AsyncSession,
    actor: Actor,
    *,
    village_id: uuid.UUID | None,
    action: str,
    record_type: str,
    changes: Sequence[tuple[Any, Any, Any]],
    reason: str | None = None,
) -> None:
    """Many audit events of one action (a batch of awards), in one statement: (record id, before, after)."""
    if not changes:
        return
    scope = village_id or TOWN_SCOPE
    info = REQUEST.get()
    head = repository.EventHead(
        scope=scope,
        actor_id=None if actor.user_id.int == 0 else actor.user_id,
        actor_name=actor.username[:64],
        actor_roles=_roles(actor, scope),
        action=action,
        record_type=record_type,
        reason=reason,
        request_id=info.request_id,
        client_addr=info.client_addr,
    )
    await repository.insert_events(
        session,
        head,
        [None if rid is None else str(rid) for rid, _, _ in changes],
        [_json(before) for _, before, _ in changes],
        [_json(after) for _, _, after in changes],
    )
