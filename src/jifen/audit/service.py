"""The audit trail (操作日志/留痕): every change on the record, written in the same database transaction as
the change itself, append-only and chained (see audit/chain.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.audit import chain
from jifen.auth.actor import Actor
from jifen.kit.db import driver
from jifen.kit.logging import REQUEST
from jifen.kit.timeutil import utcnow

TOWN_SCOPE = uuid.UUID(int=0)  # what belongs to no village: town administrators, logins

_INSERT = """
INSERT INTO audit_events (scope, actor_id, actor_name, actor_roles, action, record_type, record_id, before,
                          after, reason, request_id, client_addr)
SELECT $1, $2, $3, $4, $5, $6, e.record_id, e.before::jsonb, e.after::jsonb, $7, $8, $9
  FROM unnest($10::text[], $11::text[], $12::text[]) AS e(record_id, before, after)
"""


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
    await (await driver(session)).execute(
        _INSERT,
        scope,
        None if actor.user_id.int == 0 else actor.user_id,
        actor.username[:64],
        _roles(actor, scope),
        action,
        record_type,
        reason,
        info.request_id,
        info.client_addr,
        [None if rid is None else str(rid) for rid, _, _ in changes],
        [_json(before) for _, before, _ in changes],
        [_json(after) for _, _, after in changes],
    )


# ------------------------------------------------------------------------------------------- verifying


async def verify_scope(
    conn: asyncpg.Connection, scope: uuid.UUID, digest: bytes | None = None
) -> chain.Verdict:
    """The full verification (`jifen audit verify`, GET /audit/verify), kept as the scope's newest mark."""
    verdict = await chain.verify(conn, scope, digest)
    await _keep(conn, verdict, full_scan=True)
    return verdict


@dataclass
class CachedVerdict:
    """The newest verification of a scope's chain and what was checked on top of it now."""

    verdict: chain.Verdict  # what holds now: the mark's verdict and the new records' together
    base: chain.Mark  # the verification this one builds on
    last_full_at: datetime | None  # when the whole chain was last re-checked


async def cached_verdict(conn: asyncpg.Connection, scope: uuid.UUID) -> CachedVerdict:
    """What the admin page shows: the last verdict, plus a check of only what was linked since (its cost
    follows what is new). A scope never verified is verified in full once. A verdict that found a broken
    record stays the verdict until a full verification passes again."""
    mark = await chain.last_mark(conn, scope)
    if mark is None:
        verdict = await chain.verify(conn, scope)
        base = await _keep(conn, verdict, full_scan=True)
    elif not mark.ok:
        verdict = chain.Verdict(
            scope=scope,
            ok=False,
            checked=0,
            seq=mark.seq,
            last_chain_id=mark.chain_id,
            head=mark.link_hash.hex() if mark.link_hash else None,
            accounts_checked=mark.accounts_checked,
            first_bad=mark.first_bad,
            first_bad_account=mark.first_bad_account,
        )
        base = mark
    else:
        verdict = await chain.verify_since(conn, scope, mark)
        base = mark
        if verdict.checked or not verdict.ok:
            await _keep(conn, verdict, full_scan=False)
    last_full = await conn.fetchval(
        "SELECT verified_at FROM audit_verifications WHERE scope = $1 AND full_scan ORDER BY id DESC LIMIT 1",
        scope,
    )
    return CachedVerdict(verdict=verdict, base=base, last_full_at=last_full)


async def _keep(conn: asyncpg.Connection, verdict: chain.Verdict, *, full_scan: bool) -> chain.Mark:
    """Record the verification; on a read-only database (a replica serving pages) it is simply not kept."""
    try:
        return await chain.record_mark(conn, verdict, full_scan=full_scan)
    except asyncpg.ReadOnlySQLTransactionError:
        return chain.mark_of(verdict, full_scan=full_scan, verified_at=utcnow())
