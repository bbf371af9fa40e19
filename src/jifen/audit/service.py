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
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from jifen.audit import chain, repository
from jifen.audit.repository import TOWN_SCOPE
from jifen.audit.schemas import BadAccount, BrokenRecord, CheckpointOut, VerdictOut, VerifyOut
from jifen.auth.actor import Actor
from jifen.kit.db import raw_connection
from jifen.kit.errors import NotFound
from jifen.kit.imports import Plan
from jifen.kit.jsonutil import compact_json
from jifen.kit.logging import REQUEST
from jifen.kit.schemas import out_of
from jifen.kit.timeutil import utcnow

__all__ = ["TOWN_SCOPE", "record", "record_many", "seal_checkpoint", "verify_chain", "verify_out"]


def verify_out(verdict: chain.Verdict) -> VerifyOut:
    return out_of(
        VerifyOut,
        verdict,
        first_bad=BrokenRecord(**verdict.first_bad) if verdict.first_bad else None,
        village_id=None if verdict.scope == TOWN_SCOPE else verdict.scope,
        first_bad_account=BadAccount(**verdict.first_bad_account) if verdict.first_bad_account else None,
    )


async def verify_chain(engine: AsyncEngine, village_id: uuid.UUID | None, wanted: bytes | None) -> VerifyOut:
    """Re-check a village's tamper-evident chain in full (every village's when `village_id` is None) on a
    connection of its own, name the first broken record, and keep the verdict as the village's verified-up-to
    mark; `wanted`: a printed checkpoint digest to look for."""
    async with raw_connection(engine) as conn:
        if village_id is not None:
            return verify_out(await verify_scope(conn, village_id, wanted))
        verdicts = [await verify_scope(conn, scope, wanted) for scope in await chain.scopes(conn)]
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
    return out_of(CheckpointOut, checkpoint, village_id=checkpoint.scope)


def _roles(actor: Actor, scope: uuid.UUID) -> str:
    roles = sorted({g.role.value for g in actor.grants if g.village_id == scope or g.village_id is None})
    return ",".join(roles)[:200]


async def record(
    session: AsyncSession,
    actor: Actor,
    village_id: uuid.UUID | None,
    action: str,
    record_id: Any,
    *,
    record_type: str | None = None,
    before: Any = None,
    after: Any = None,
    reason: str | None = None,
) -> None:
    """One audit event, in the caller's transaction. `record_type`: by default what the action is about (an
    action `rule.…`, `hold.…`, `store.…` is about a record of that type)."""
    await record_many(
        session,
        actor,
        village_id=village_id,
        action=action,
        record_type=action.partition(".")[0] if record_type is None else record_type,
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
        [compact_json(before) for _, before, _ in changes],
        [compact_json(after) for _, _, after in changes],
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


async def verdict_out(engine: AsyncEngine, village_id: uuid.UUID) -> VerdictOut:
    """The village's newest verification and a check of only what was linked since (its cost follows what is
    new, not the village's history): what the admin page shows and `GET …/audit/verdict` answers."""
    async with raw_connection(engine) as conn:
        cached = await cached_verdict(conn, village_id)
    return VerdictOut(
        **verify_out(cached.verdict).model_dump(),
        verified_since_seq=cached.base.seq,
        base_verified_at=cached.base.verified_at,
        base_full_scan=cached.base.full_scan,
        last_full_verification_at=cached.last_full_at,
    )


VILLAGES_PER_PASS = 10  # a first verification of many large villages spreads over several passes


async def verify_behind(conn: asyncpg.Connection, villages: int = VILLAGES_PER_PASS) -> int:
    """The background loop's verification (after linking): each village with linked records beyond its newest
    verification is verified, in full the first time, then only what is new (`cached_verdict`), and the
    verdict kept as its mark. So the admin page reads a kept verdict instead of verifying. Returns how many
    villages were verified."""
    done = 0
    for scope in await chain.behind(conn, villages):
        await cached_verdict(conn, scope)
        done += 1
    return done


PAGE_VERIFY_LIMIT = 500  # links the admin page verifies itself at most (bounded work while it answers)


@dataclass(frozen=True)
class PageVerdict:
    """What the admin page says of the village's chain: the newest verdict kept (or one the page made itself
    when what was new was small), how far it reached and when, and what it has not checked yet."""

    ok: bool | None  # None: never verified (the background loop will)
    problem: str | None  # the first broken record's problem, or the first balance that disagrees
    upto: int  # links verified
    verified_at: datetime | None
    unverified: int  # links after the verdict's, not verified yet
    pending: int  # records not linked yet (at most repository.PENDING_CAP)


def _problem(first_bad: dict[str, Any] | None, first_bad_account: dict[str, Any] | None) -> str | None:
    if first_bad is not None:
        return str(first_bad.get("problem") or "")
    if first_bad_account is not None:
        return f"户 {first_bad_account.get('household_code') or ''} 的积分余额与流水不符"
    return None


async def page_verdict(
    engine: AsyncEngine, village_id: uuid.UUID, state: repository.VerificationState
) -> PageVerdict:
    """The admin page's verdict from `state` (read with the page's other reads): the kept one, unless what is
    new since it is at most PAGE_VERIFY_LIMIT links (or, never verified, the whole chain is) and as many
    wait to be linked: then verified now, on a connection of its own (`verdict_out`). More than that waits
    for the background loop (`verify_behind`), and the page says how much is not verified yet."""
    new = state.linked - (state.mark_seq or 0)
    # a verification also counts what waits to be linked, hashing it (chain._pending_and_balances)
    small = new <= PAGE_VERIFY_LIMIT and state.pending <= PAGE_VERIFY_LIMIT
    if (state.mark_seq is None and small) or (state.mark_ok and 0 < new and small):
        fresh = await verdict_out(engine, village_id)
        problem = _problem(
            fresh.first_bad.model_dump() if fresh.first_bad else None,
            fresh.first_bad_account.model_dump(mode="json") if fresh.first_bad_account else None,
        )
        upto = fresh.verified_since_seq + fresh.checked
        return PageVerdict(fresh.ok, problem, upto, utcnow(), max(state.linked - upto, 0), state.pending)
    if state.mark_seq is None:
        return PageVerdict(None, None, 0, None, state.linked, state.pending)
    problem = _problem(
        None if state.mark_first_bad is None else json.loads(state.mark_first_bad),
        None if state.mark_first_bad_account is None else json.loads(state.mark_first_bad_account),
    )
    return PageVerdict(
        bool(state.mark_ok), problem, state.mark_seq, state.verified_at, max(new, 0), state.pending
    )


async def record_import(
    session: AsyncSession, actor: Actor, planned: Plan[Any, Any], scope: tuple[uuid.UUID, str, str, uuid.UUID]
) -> None:
    """One event for an applied catalogue file (its SHA-256, what it added and changed), besides each
    record's own; nothing when the file changed nothing. `scope`: village, action, record type, record id."""
    village_id, action, record_type, record_id = scope
    if planned.adds or planned.changes:
        after = planned.audit_after()
        await record(
            session,
            actor,
            village_id=village_id,
            action=action,
            record_type=record_type,
            record_id=record_id,
            after=after,
        )
