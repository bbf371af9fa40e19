"""Public notice (公示): an approved award waits out the village's notice period before it posts; during it
any villager may object (异议), and a reviewer resolves the objection: upheld (posts), revised (posts the
lowered points) or revoked (nothing posts). When the period ends with no open objection the award posts
by itself, exactly once, whichever server process or `jifen jobs run` gets to it first.

A posted award may still be objected to for the village's notice days after its posting (7 without a
notice period); revising or revoking it then posts a compensating transaction, the award transaction's one
compensation (see `ledger.claim`)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.audit import service as audit
from jifen.auth.actor import Actor, console_actor
from jifen.awards import repository
from jifen.awards.repository import AwardRow, LockedAward, objections
from jifen.awards.schemas import AwardItem
from jifen.awards.service import ConflictOfInterest, award_draft, compensate_award, rule_of
from jifen.kit.errors import BadRequest, Conflict, Forbidden, found
from jifen.kit.sweep import sweep
from jifen.kit.timeutil import utcnow
from jifen.ledger import repository as ledger_repository
from jifen.ledger import service as ledger
from jifen.models import AccountKind, AwardStatus, Review, TransactionKind
from jifen.outbox import repository as outbox

OBJECTION_DAYS_WITHOUT_NOTICE = 7  # how long a posted award may be objected to where a village has no 公示


class NoticeClosed(Conflict, code="notice_closed", detail="该评定已过公示期（异议期），不能再提出异议"): ...


class NoOpenObjection(Conflict, code="no_open_objection", detail="该评定没有待处理的异议"): ...


class InvalidRevision(
    BadRequest, code="invalid_revision", detail="修改后的积分必须与原评定同号、不为 0，且不能超过原评定的分值"
): ...


class SeparationOfDuties(
    Forbidden,
    code="separation_of_duties",
    detail="提交、审核或对该评定提出异议的人不能处理它的异议，请由其他审核人处理",
): ...


class SecondResolverRequired(
    Conflict,
    code="second_resolver_required",
    detail="该细则需两人复核：您已提交处理意见，请由另一位审核人确认",
): ...


Objection = objections.ObjectionRow


async def objection_window(session: AsyncSession, row: AwardRow) -> datetime | None:
    """Until when the award may be objected to: its notice period while on 公示; after it posted, the
    village's notice days from the posting (7 days where the village has no notice period). None: never."""
    if row.status == AwardStatus.public_notice.value:
        return row.notice_until
    if row.status != AwardStatus.posted.value or row.transaction_id is None:
        return None
    posted_at = await objections.transaction_created_at(session, row.village_id, row.transaction_id)
    days = await repository.notice_days(session, row.village_id) or OBJECTION_DAYS_WITHOUT_NOTICE
    return None if posted_at is None else posted_at + timedelta(days=days)


async def object_to(session: AsyncSession, actor: Actor, award_id: uuid.UUID, *, reason: str) -> Objection:
    """异议: a challenge to an award on public notice, or to a posted one within the objection period after
    its posting; a posted award already compensated (reversed, rectified, revised) takes no more."""
    row = found(await repository.lock_award(session, award_id), "找不到该评定")
    until = await objection_window(session, row)
    if until is None or utcnow() >= until:
        raise NoticeClosed()
    if row.status == AwardStatus.posted.value:
        compensated = await ledger_repository.compensations_of(session, row.village_id, row.posting)
        if compensated:
            raise ledger.already_compensated(compensated[0].kind, what="该评定")
    objection = await objections.insert_objection(session, row.village_id, award_id, actor.user_id, reason)
    await audit.record(
        session,
        actor,
        row.village_id,
        "award.object",
        award_id,
        after={"objection_id": objection.id},
        reason=reason,
    )
    return objection


async def _post(session: AsyncSession, actor: Actor, row: LockedAward, points: int) -> uuid.UUID:
    """Post a noticed award (its held points, for a deduction) with `points`; returns the transaction id."""
    village_id, award_id = row.village_id, row.id
    accounts = await ledger.system_accounts(session, village_id)
    item = AwardItem(household_id=row.household_id, rule_id=row.rule_id, quantity=row.quantity)
    draft = award_draft(accounts, row.household_id, rule_of(row), item, award_id, points)
    hold = await repository.hold(session, village_id, row.hold_id) if row.hold_id is not None else None
    if hold is not None and -points == hold.amount:
        await ledger.capture_hold(session, actor, hold, draft)
    else:
        if hold is not None:
            await ledger.release_hold(session, actor, hold)
        await ledger.post(session, actor, village_id, [draft])
    await repository.set_status(session, village_id, award_id, AwardStatus.posted.value, draft.id)
    return draft.id


async def _check_duties(session: AsyncSession, actor: Actor, row: AwardRow) -> None:
    """The resolver of an objection judges the award afresh: not its household, its submitter, one of its
    approvers, nor anyone who objected to it."""
    village_id, award_id = row.village_id, row.id
    if row.household_id in actor.household_ids():
        raise ConflictOfInterest("不能处理自己家庭评定的异议")
    if row.submitted_by == actor.user_id:
        raise SeparationOfDuties("您提交了该评定，不能处理它的异议，请由其他审核人处理")
    if actor.user_id in await repository.approvals(session, village_id, award_id):
        raise SeparationOfDuties("您审核通过了该评定，不能处理它的异议，请由其他审核人处理")
    if actor.user_id in await objections.objectors(session, village_id, award_id):
        raise SeparationOfDuties("您对该评定提出了异议，不能自己处理，请由其他审核人处理")


def _revised_points(row: AwardRow, points: int | None) -> int:
    """A revision only lowers the award: same sign, not zero, no more than the original magnitude."""
    old = int(row.points)
    if points is None or points == 0 or (points > 0) != (old > 0) or abs(points) > abs(old):
        limit = f"1 到 {old}" if old > 0 else f"{old} 到 -1"
        raise InvalidRevision(f"修改后的积分只能在 {limit} 之间（与原评定同号，且不超过原评定的 {old} 分）")
    return points


async def _compensate_posted(
    session: AsyncSession, actor: Actor, row: LockedAward, final_points: int, *, revoke: bool, reason: str
) -> uuid.UUID | None:
    """An objection to a posted award: post the difference (revised) or the whole (revoked) back, as the
    award transaction's one compensation. Returns the compensating transaction, None when nothing moves."""
    village_id = row.village_id
    old = int(row.points)
    delta = -old if revoke else final_points - old  # what the household's account moves
    if delta == 0:
        return None
    # an award taken back lowers what the household earned; a deduction lowered earns nothing
    draft = await compensate_award(
        session,
        actor,
        row,
        kind=TransactionKind.adjustment,
        compensation=ledger.CompensationKind.revocation if revoke else ledger.CompensationKind.revision,
        amount=delta,
        earned=delta if old > 0 else 0,
        counter=AccountKind.issuing if old > 0 else AccountKind.deductions,
        memo=f"{'按异议撤销' if revoke else '按异议修改'}：{row.rule_name}",
        reason=reason,
    )
    await ledger.post(session, actor, village_id, [draft])
    return draft.id


async def resolve(
    session: AsyncSession,
    actor: Actor,
    award_id: uuid.UUID,
    *,
    outcome: str,
    reason: str,
    points: int | None = None,
) -> AwardRow:
    """Settle the award's open objections.

    On public notice: upheld posts it, revised posts the lowered points, revoked releases whatever it held
    and posts nothing. Posted (objected to within the objection period): upheld leaves it, revised posts the
    difference back, revoked posts the whole back — either as the award transaction's one compensation.

    `revised` only lowers an award (0 < |new| ≤ |old|, same sign). The resolver is neither the household,
    the submitter, an approver nor an objector. Under a `double` rule the first resolution is recorded as
    pending (proposed) and a second, different resolver who agrees (same outcome and points) completes it;
    one who disagrees replaces the proposal with theirs, which in turn waits for someone to agree."""
    row = found(await repository.lock_award(session, award_id), "找不到该评定")
    await _check_duties(session, actor, row)
    open_rows = await objections.open_objections(session, row.village_id, award_id)
    status = row.status
    if status not in (AwardStatus.public_notice.value, AwardStatus.posted.value) or not open_rows:
        raise NoOpenObjection()
    final_points = _revised_points(row, points) if outcome == "revised" else int(row.points)
    double = row.review == Review.double.value
    if double and await _proposed_only(session, actor, row, outcome, final_points, reason):
        return await repository.lock_award_for_read(session, award_id)
    if status == AwardStatus.posted.value:
        transaction_id = await _settle_posted(session, actor, row, outcome, final_points, reason)
    else:
        transaction_id = await _settle_on_notice(session, actor, row, outcome, final_points)
    await objections.resolve_objections(
        session, row.village_id, award_id, outcome=outcome, actor_id=actor.user_id, resolution=reason
    )
    await audit.record(
        session,
        actor,
        row.village_id,
        f"award.objection_{outcome}",
        award_id,
        before={"points": row.points, "status": status},
        after={
            "points": final_points,
            "outcome": outcome,
            "transaction_id": transaction_id,
            **({"proposed_by": open_rows[0].proposed_by} if double else {}),
        },
        reason=reason,
    )
    payload = {"award_id": award_id, "rule": row.rule_name, "outcome": outcome, "points": final_points}
    await outbox.record_one(
        session,
        row.village_id,
        outbox.Event(outbox.Kind.objection_resolved, row.household_id, {**payload, "reason": reason}),
    )
    return await repository.lock_award_for_read(session, award_id)


async def _proposed_only(
    session: AsyncSession, actor: Actor, row: LockedAward, outcome: str, final_points: int, reason: str
) -> bool:
    """Under a `double` rule: True when this resolution is only proposed (the first, or one that disagrees
    with the pending proposal); False when it agrees with another resolver's proposal and completes it."""
    village_id, award_id = row.village_id, row.id
    proposal_points = final_points if outcome == "revised" else None
    pending = await objections.pending_resolution(session, village_id, award_id)
    if pending is not None and pending.proposed_by == actor.user_id:
        raise SecondResolverRequired()
    if pending is not None and (pending.outcome, pending.points) == (outcome, proposal_points):
        return False
    await objections.propose_resolution(
        session, village_id, award_id, outcome=outcome, points=proposal_points, actor_id=actor.user_id
    )
    after = {"outcome": outcome, "points": final_points, "replaces": pending and pending.outcome}
    await audit.record(
        session, actor, village_id, "award.objection_proposed", award_id, after=after, reason=reason
    )
    return True


async def _settle_posted(
    session: AsyncSession, actor: Actor, row: LockedAward, outcome: str, final_points: int, reason: str
) -> uuid.UUID | None:
    """A posted award: revised or revoked goes back as its transaction's one compensation."""
    village_id, award_id = row.village_id, row.id
    transaction_id = None
    if outcome != "upheld":
        transaction_id = await _compensate_posted(
            session, actor, row, final_points, revoke=outcome == "revoked", reason=reason
        )
    if outcome == "revoked":
        await repository.set_status(
            session, village_id, award_id, AwardStatus.revoked.value, row.transaction_id
        )
    elif final_points != row.points:
        await repository.set_points(session, village_id, award_id, final_points)
    return transaction_id


async def _settle_on_notice(
    session: AsyncSession, actor: Actor, row: LockedAward, outcome: str, final_points: int
) -> uuid.UUID | None:
    """An award on public notice: revoked releases what it held and posts nothing; upheld or revised posts
    it (with the lowered points)."""
    village_id, award_id = row.village_id, row.id
    if outcome == "revoked":
        if row.hold_id is not None:
            await ledger.release_hold(session, actor, await repository.hold(session, village_id, row.hold_id))
        await repository.set_status(session, village_id, award_id, AwardStatus.revoked.value)
        return None
    if final_points != row.points:
        await repository.set_points(session, village_id, award_id, final_points)
    return await _post(session, actor, dataclasses.replace(row, points=final_points), final_points)


async def run_due(sessionmaker: async_sessionmaker[AsyncSession], *, now: datetime | None = None) -> int:
    """Post every award whose notice has ended without an open objection. Safe to run in several processes
    at once: each award is claimed under a row lock (SKIP LOCKED) and posted in the claimer's transaction."""
    moment = now or utcnow()
    actor = console_actor("公示到期")

    async def claim(session: AsyncSession) -> Sequence[uuid.UUID]:
        return await repository.lock_due_notices(session, moment)

    async def post(session: AsyncSession, award_id: uuid.UUID) -> bool:
        row = await repository.lock_award(session, award_id)
        if row is None or row.status != AwardStatus.public_notice.value:
            return False
        transaction_id = await _post(session, actor, row, row.points)
        after = {"status": "posted", "transaction_id": transaction_id}
        await audit.record(session, actor, row.village_id, "award.notice_ended", row.id, after=after)
        payload = {"award_id": row.id, "rule": row.rule_name, "points": row.points, "outcome": "posted"}
        await outbox.record_one(
            session, row.village_id, outbox.Event(outbox.Kind.notice_ended, row.household_id, payload)
        )
        return True

    return await sweep(sessionmaker, claim, post)
