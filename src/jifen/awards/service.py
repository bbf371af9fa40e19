"""Awards and deductions: a rule applied to a household. Rules without review post at once, through the
ledger's set-based path, one award or ten thousand in one database round trip."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.audit import service as audit
from jifen.auth.actor import Actor
from jifen.awards import repository
from jifen.awards.auth import Submission
from jifen.awards.schemas import AwardItem
from jifen.kit.errors import BadRequest, Conflict, Forbidden, JifenError, NotFound
from jifen.kit.timeutil import utcnow
from jifen.ledger import service as ledger
from jifen.models import AccountKind, AwardStatus, Review, Role, TransactionKind
from jifen.rules import repository as rules_repository
from jifen.rules.repository import RuleSnapshot


class ConflictOfInterest(Forbidden):
    code = "conflict_of_interest"
    default_detail = "不能为自己家庭评分或扣分"


class OutsideGrid(Forbidden):
    code = "outside_grid"
    default_detail = "该户不在您负责的网格内"


class RuleRetired(Conflict):
    code = "rule_retired"
    default_detail = "该积分细则已停用"


class InvalidMember(BadRequest):
    code = "invalid_member"
    default_detail = "该家庭成员不属于这一户"


@dataclass(slots=True)
class AwardResult:
    id: uuid.UUID
    status: AwardStatus
    points: int
    transaction_id: uuid.UUID | None
    household_id: uuid.UUID
    rule_id: uuid.UUID
    rule_version: int
    quantity: int
    member_id: uuid.UUID | None
    note: str | None
    created_at: datetime


def _at(error: JifenError, index: int, many: bool) -> JifenError:
    """Name the item a batch failed at."""
    if many:
        error.detail = f"第 {index + 1} 项：{error.detail}"
        error.extra["index"] = index
    return error


def _check_actor(actor: Actor, village_id: uuid.UUID, household_id: uuid.UUID, grid: str | None) -> None:
    if household_id in actor.household_ids():
        raise ConflictOfInterest()
    grants = actor.grants_in(village_id)
    if any(g.role is Role.village_admin for g in grants):
        return
    cadre_grids = [g.grid for g in grants if g.role is Role.cadre]
    if cadre_grids and None not in cadre_grids and grid not in cadre_grids:
        raise OutsideGrid(f"该户不在您负责的网格（{'、'.join(str(g) for g in cadre_grids)}）内")


async def submit(
    session: AsyncSession, actor: Actor, submission: Submission, items: Sequence[AwardItem]
) -> list[AwardResult]:
    """Apply rules to households, all or nothing. Items under a rule without review post at once."""
    many = len(items) > 1
    village_id = submission.village_id
    rules = {
        rule.rule_id: rule
        for rule in await rules_repository.current_versions(session, list({item.rule_id for item in items}))
        if rule.village_id == village_id
    }
    member_ids = [item.member_id for item in items if item.member_id is not None]
    members = await repository.member_households(session, village_id, member_ids) if member_ids else {}
    accounts = await ledger.system_accounts(session, village_id)

    now = utcnow()
    drafts: list[ledger.Draft] = []
    draft_item: list[int] = []
    results: list[AwardResult] = []
    for index, item in enumerate(items):
        household = submission.households[item.household_id]
        version: RuleSnapshot | None = rules.get(item.rule_id)
        try:
            if version is None:
                raise NotFound("找不到该积分细则")
            if not version.active:
                raise RuleRetired(f"积分细则“{version.name}”已停用")
            _check_actor(actor, village_id, household.id, household.grid)
            if item.member_id is not None and members.get(item.member_id) != household.id:
                raise InvalidMember()
        except JifenError as error:
            raise _at(error, index, many) from None
        points = version.points * item.quantity
        award_id = uuid.uuid4()
        transaction_id = None
        status = AwardStatus.pending_review
        if version.review == Review.none.value:
            draft = _award_draft(accounts, household.id, version, item, award_id, points)
            drafts.append(draft)
            draft_item.append(index)
            transaction_id, status = draft.id, AwardStatus.posted
        results.append(
            AwardResult(
                id=award_id,
                status=status,
                points=points,
                transaction_id=transaction_id,
                household_id=household.id,
                rule_id=version.rule_id,
                rule_version=version.version,
                quantity=item.quantity,
                member_id=item.member_id,
                note=item.note,
                created_at=now,
            )
        )
    if drafts:
        try:
            await ledger.post(session, actor, village_id, drafts)
        except ledger.InsufficientPoints as error:
            raise _at(error, draft_item[error.draft_index], many) from None
    created_at = await repository.insert_awards(
        session,
        {
            "village": village_id,
            "batch": uuid.uuid4() if many else None,
            "actor": actor.user_id,
            "ids": [r.id for r in results],
            "households": [r.household_id for r in results],
            "rules": [r.rule_id for r in results],
            "versions": [r.rule_version for r in results],
            "quantities": [r.quantity for r in results],
            "points": [r.points for r in results],
            "members": [r.member_id for r in results],
            "notes": [r.note for r in results],
            "statuses": [r.status.value for r in results],
            "transactions": [r.transaction_id for r in results],
        },
    )
    for result in results:
        result.created_at = created_at
    await audit.record_many(
        session,
        actor,
        village_id=village_id,
        action="award.submit",
        record_type="award",
        changes=[
            (
                r.id,
                None,
                {
                    "household_id": r.household_id,
                    "rule_id": r.rule_id,
                    "rule_version": r.rule_version,
                    "quantity": r.quantity,
                    "points": r.points,
                    "status": r.status,
                    "transaction_id": r.transaction_id,
                    "note": r.note,
                },
            )
            for r in results
        ],
    )
    return results


def _award_draft(
    accounts: dict[AccountKind, uuid.UUID],
    household_id: uuid.UUID,
    version: RuleSnapshot,
    item: AwardItem,
    award_id: uuid.UUID,
    points: int,
) -> ledger.Draft:
    memo = version.name if item.quantity == 1 else f"{version.name} ×{item.quantity}"
    if points > 0:
        kind = TransactionKind.award
        lines = [
            ledger.Line(household_id, points, earned=points),
            ledger.Line(accounts[AccountKind.issuing], -points),
        ]
    else:
        kind = TransactionKind.deduction
        lines = [ledger.Line(household_id, points), ledger.Line(accounts[AccountKind.deductions], -points)]
    return ledger.Draft(
        kind=kind,
        lines=lines,
        memo=memo,
        rule_id=version.rule_id,
        rule_version=version.version,
        source_type="award",
        source_id=award_id,
    )
