"""The audit trail (操作日志/留痕): every change on the record, written in the same database transaction as
the change itself, append-only and chained (see audit/chain.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from jifen.audit import chain, repository
from jifen.audit.repository import TOWN_SCOPE
from jifen.audit.schemas import BadAccount, BrokenRecord, CheckpointOut, VerifyOut
from jifen.auth.actor import Actor
from jifen.kit.db import raw_connection
from jifen.kit.errors import NotFound
from jifen.kit.logging import REQUEST

__all__ = ["TOWN_SCOPE", "record", "record_many", "seal_checkpoint", "verify_chain", "verify_out"]


def verify_out(verdict: chain.Verdict) -> VerifyOut:
    return VerifyOut(
        ok=verdict.ok,
        checked=verdict.checked,
        head=verdict.head,
        pending=verdict.pending,
        checkpoints=verdict.checkpoints,
        first_bad=BrokenRecord(**verdict.first_bad) if verdict.first_bad else None,
        digest_found=verdict.digest_found,
        village_id=None if verdict.scope == TOWN_SCOPE else verdict.scope,
        accounts_checked=verdict.accounts_checked,
        first_bad_account=BadAccount(**verdict.first_bad_account) if verdict.first_bad_account else None,
    )


async def verify_chain(engine: AsyncEngine, village_id: uuid.UUID | None, wanted: bytes | None) -> VerifyOut:
    """Re-check a village's tamper-evident chain (every village's when `village_id` is None) on a connection
    of its own, and name the first broken record; `wanted`: a printed checkpoint digest to look for."""
    async with raw_connection(engine) as conn:
        if village_id is not None:
            return verify_out(await chain.verify(conn, village_id, wanted))
        verdicts = [await chain.verify(conn, scope, wanted) for scope in await chain.scopes(conn)]
    failed = next((v for v in verdicts if not v.ok), None)
    summary = verify_out(failed or verdicts[0])
    summary.checked = sum(v.checked for v in verdicts)
    summary.pending = sum(v.pending for v in verdicts)
    summary.checkpoints = sum(v.checkpoints for v in verdicts)
    summary.accounts_checked = sum(v.accounts_checked for v in verdicts)
    summary.head = None if failed is None else summary.head
    if wanted is not None:
        summary.digest_found = any(v.digest_found for v in verdicts)
    return summary


async def seal_checkpoint(engine: AsyncEngine, village_id: uuid.UUID, sealed_by: uuid.UUID) -> CheckpointOut:
    """Seal the village's chain now (on a connection of its own): its head digest, for the notice board."""
    async with raw_connection(engine) as conn:
        checkpoint = await chain.seal(conn, village_id, sealed_by)
    if checkpoint is None:
        raise NotFound("该村还没有任何记录可以封存")
    return CheckpointOut(
        id=checkpoint.id,
        village_id=checkpoint.scope,
        seq=checkpoint.seq,
        digest=checkpoint.digest,
        records=checkpoint.records,
        sealed_at=checkpoint.sealed_at,
    )


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
