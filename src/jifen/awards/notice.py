"""Public notice (公示): an approved award waits out the village's notice period before it posts; during it
any villager may object (异议), and a reviewer resolves the objection: upheld (posts), revised (posts the
changed points) or revoked (nothing posts). When the period ends with no open objection the award posts
by itself, exactly once, whichever server process or `jifen jobs run` gets to it first."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.audit import service as audit
from jifen.auth.actor import Actor, console_actor
from jifen.awards import repository
from jifen.awards.schemas import AwardItem
from jifen.awards.service import ConflictOfInterest, _award_draft, rule_of
from jifen.kit.db import driver
from jifen.kit.errors import BadRequest, Conflict, NotFound
from jifen.kit.timeutil import utcnow
from jifen.ledger import service as ledger
from jifen.models import AwardStatus, Hold


class NoticeClosed(Conflict):
    code = "notice_closed"
    default_detail = "该评定不在公示期内，不能再提出异议"


class NoOpenObjection(Conflict):
    code = "no_open_objection"
    default_detail = "该评定没有待处理的异议"


class InvalidRevision(BadRequest):
    code = "invalid_revision"
    default_detail = "修改后的积分必须与原评定同号且不为 0"


@dataclass(frozen=True)
class Objection:
    id: uuid.UUID
    award_id: uuid.UUID
    reason: str
    status: str
    created_at: datetime


async def object_to(session: AsyncSession, actor: Actor, award_id: uuid.UUID, *, reason: str) -> Objection:
    row = await repository.lock_award(session, award_id)
    if row is None:
        raise NotFound("找不到该评定")
    if row["status"] != AwardStatus.public_notice.value or utcnow() >= row["notice_until"]:
        raise NoticeClosed()
    objection = await (await driver(session)).fetchrow(
        "INSERT INTO objections (village_id, id, award_id, raised_by, reason) VALUES ($1, $2, $3, $4, $5)"
        " RETURNING id, award_id, reason, status, created_at",
        row["village_id"],
        uuid.uuid4(),
        award_id,
        actor.user_id,
        reason,
    )
    await audit.record(
        session,
        actor,
        village_id=row["village_id"],
        action="award.object",
        record_type="award",
        record_id=award_id,
        after={"objection_id": objection["id"]},
        reason=reason,
    )
    return Objection(**dict(objection))


async def _post(session: AsyncSession, actor: Actor, row: Any, points: int) -> uuid.UUID:
    """Post a noticed award (its held points, for a deduction) with `points`; returns the transaction id."""
    village_id, award_id = row["village_id"], row["id"]
    accounts = await ledger.system_accounts(session, village_id)
    item = AwardItem(household_id=row["household_id"], rule_id=row["rule_id"], quantity=row["quantity"])
    draft = _award_draft(accounts, row["household_id"], rule_of(row), item, award_id, points)
    hold = None
    if row["hold_id"] is not None:
        hold = (
            await session.execute(
                select(Hold).where(Hold.village_id == village_id, Hold.id == row["hold_id"])
            )
        ).scalar_one()
    if hold is not None and -points == hold.amount:
        await ledger.capture_hold(session, actor, hold, draft)
    else:
        if hold is not None:
            await ledger.release_hold(session, actor, hold)
        await ledger.post(session, actor, village_id, [draft])
    await repository.set_status(session, village_id, award_id, AwardStatus.posted.value, draft.id)
    return draft.id


async def resolve(
    session: AsyncSession,
    actor: Actor,
    award_id: uuid.UUID,
    *,
    outcome: str,
    reason: str,
    points: int | None = None,
) -> Any:
    """Settle the award's open objections: upheld posts it, revised posts the changed points, revoked
    releases whatever it held and posts nothing."""
    row = await repository.lock_award(session, award_id)
    if row is None:
        raise NotFound("找不到该评定")
    village_id = row["village_id"]
    if row["household_id"] in actor.household_ids():
        raise ConflictOfInterest("不能处理自己家庭评定的异议")
    connection = await driver(session)
    open_count = await connection.fetchval(
        "SELECT count(*) FROM objections WHERE village_id = $1 AND award_id = $2 AND status = 'open'",
        village_id,
        award_id,
    )
    if row["status"] != AwardStatus.public_notice.value or not open_count:
        raise NoOpenObjection()
    final_points = row["points"]
    if outcome == "revised":
        if points is None or points == 0 or (points > 0) != (row["points"] > 0):
            raise InvalidRevision()
        final_points = points
    if outcome == "revoked":
        if row["hold_id"] is not None:
            hold = (
                await session.execute(
                    select(Hold).where(Hold.village_id == village_id, Hold.id == row["hold_id"])
                )
            ).scalar_one()
            await ledger.release_hold(session, actor, hold)
        await repository.set_status(session, village_id, award_id, AwardStatus.revoked.value)
    else:
        if final_points != row["points"]:
            await connection.execute(
                "UPDATE awards SET points = $3 WHERE village_id = $1 AND id = $2",
                village_id,
                award_id,
                final_points,
            )
        await _post(session, actor, {**dict(row), "points": final_points}, final_points)
    await connection.execute(
        "UPDATE objections SET status = 'resolved', outcome = $3, resolved_by = $4, resolution = $5,"
        " resolved_at = now() WHERE village_id = $1 AND award_id = $2 AND status = 'open'",
        village_id,
        award_id,
        outcome,
        actor.user_id,
        reason,
    )
    await audit.record(
        session,
        actor,
        village_id=village_id,
        action=f"award.objection_{outcome}",
        record_type="award",
        record_id=award_id,
        before={"points": row["points"], "status": row["status"]},
        after={"points": final_points, "outcome": outcome},
        reason=reason,
    )
    return await repository.lock_award_for_read(session, award_id)


async def run_due(sessionmaker: async_sessionmaker[AsyncSession], *, now: datetime | None = None) -> int:
    """Post every award whose notice has ended without an open objection. Safe to run in several processes
    at once: each award is claimed under a row lock (SKIP LOCKED) and posted in the claimer's transaction."""
    moment = now or utcnow()
    actor = console_actor("公示到期")
    posted = 0
    while True:
        async with sessionmaker() as session, session.begin():
            due = await (await driver(session)).fetch(
                """
                SELECT a.id FROM awards a
                 WHERE a.status = 'public_notice' AND a.notice_until <= $1
                   AND NOT EXISTS (
                        SELECT 1 FROM objections o
                         WHERE o.village_id = a.village_id AND o.award_id = a.id AND o.status = 'open')
                 ORDER BY a.notice_until
                 LIMIT 200
                   FOR UPDATE OF a SKIP LOCKED
                """,
                moment,
            )
            if not due:
                return posted
            for award in due:
                row = await repository.lock_award(session, award["id"])
                if row is None or row["status"] != AwardStatus.public_notice.value:
                    continue
                transaction_id = await _post(session, actor, row, row["points"])
                await audit.record(
                    session,
                    actor,
                    village_id=row["village_id"],
                    action="award.notice_ended",
                    record_type="award",
                    record_id=row["id"],
                    after={"status": "posted", "transaction_id": transaction_id},
                )
                posted += 1
