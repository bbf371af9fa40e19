"""Who may submit awards: cadres and village admins of the households' village (not town admins)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.auth.actor import VILLAGE_STAFF, Actor
from jifen.auth.dependencies import (
    CurrentActor,
    DeferredKey,
    IdempotencyHeader,
    PendingAccess,
    VillageAccess,
    authorize,
    village_role,
)
from jifen.auth.scope import HouseholdView, check_grid, grid_scope, household_view, refusal
from jifen.awards import repository
from jifen.awards.repository import inspections as sheets
from jifen.awards.schemas import AwardBatchCreate, AwardCreate
from jifen.kit.db import Session
from jifen.kit.errors import BadRequest, Forbidden, NotFound, found
from jifen.models import Role

SUBMITTERS = frozenset({Role.cadre, Role.village_admin})
INSPECTION_READERS = frozenset({Role.cadre, Role.village_admin, Role.reviewer})


class MixedVillages(BadRequest, code="mixed_villages", detail="一批评定中的所有户必须属于同一个村"): ...


@dataclass(frozen=True)
class Submission:
    actor: Actor
    village_id: uuid.UUID
    households: dict[uuid.UUID, repository.HouseholdRef]


async def submission(actor: Actor, session: Session, household_ids: list[uuid.UUID]) -> Submission:
    households = await repository.households_by_id(session, list(set(household_ids)))
    for index, household_id in enumerate(household_ids):
        if household_id not in households:
            detail = "找不到该户" if len(household_ids) == 1 else f"第 {index + 1} 项：找不到该户"
            raise NotFound(detail, **({"index": index} if len(household_ids) > 1 else {}))
    villages = {h.village_id for h in households.values()}
    if len(villages) > 1:
        raise MixedVillages()
    village_id = villages.pop()
    authorize(actor, village_id, SUBMITTERS, town_admin=False)
    return Submission(actor=actor, village_id=village_id, households=households)


async def award_submitter(body: AwardCreate, actor: CurrentActor, session: Session) -> Submission:
    return await submission(actor, session, [body.household_id])


@dataclass
class PendingSubmission(PendingAccess[Submission]):
    """POST /awards and /awards/batch: who may submit, unless the one-call award (`award_submit`) answered."""

    household_ids: list[uuid.UUID]

    async def check(self) -> Submission:
        return await submission(self.actor, self.session, self.household_ids)

    @property
    def submission(self) -> Submission:
        return self.access


async def _pending(
    body: AwardCreate | AwardBatchCreate, actor: Actor, session: AsyncSession, header: str | None
) -> PendingSubmission:
    items = body.items if isinstance(body, AwardBatchCreate) else [body]
    return PendingSubmission(actor, session, header, [item.household_id for item in items])


async def pending_award(
    body: AwardCreate, actor: CurrentActor, session: Session, key: IdempotencyHeader = None
) -> PendingSubmission:
    return await _pending(body, actor, session, key)


async def pending_batch(
    body: AwardBatchCreate, actor: CurrentActor, session: Session, key: IdempotencyHeader = None
) -> PendingSubmission:
    return await _pending(body, actor, session, key)


AwardSubmitter = Annotated[PendingSubmission, Depends(pending_award)]
BatchSubmitter = Annotated[PendingSubmission, Depends(pending_batch)]
SubmitterKey = DeferredKey  # checked by PendingSubmission (after the access) or by the one-call award


@dataclass(frozen=True)
class AwardAccess:
    actor: Actor
    award_id: uuid.UUID
    village_id: uuid.UUID


async def _award(award_id: uuid.UUID, session: Session) -> tuple[uuid.UUID, uuid.UUID]:
    row = found(await repository.award_village(session, award_id), "找不到该评定")
    return row.village_id, row.household_id


async def award_reviewer(award_id: uuid.UUID, actor: CurrentActor, session: Session) -> AwardAccess:
    village_id, _ = await _award(award_id, session)
    authorize(actor, village_id, REVIEWERS, town_admin=False)
    return AwardAccess(actor=actor, award_id=award_id, village_id=village_id)


async def _award_household(
    award_id: uuid.UUID, session: Session
) -> tuple[uuid.UUID, repository.HouseholdRef]:
    village_id, household_id = await _award(award_id, session)
    return village_id, (await repository.households_by_id(session, [household_id]))[household_id]


async def award_reader(award_id: uuid.UUID, actor: CurrentActor, session: Session) -> AwardAccess:
    """The award's own household, a reviewer (the award under review), a cadre of its grid, the admins."""
    village_id, household = await _award_household(award_id, session)
    view = household_view(actor, village_id, household.id, household.grid)
    if view is None or view < HouseholdView.summary:
        error = refusal(actor, village_id, view, what="评定")
        if isinstance(error, NotFound):
            error = NotFound("找不到该评定")
        raise error
    return AwardAccess(actor=actor, award_id=award_id, village_id=village_id)


REVIEWERS = frozenset({Role.reviewer, Role.village_admin})
AwardReviewer = Annotated[AwardAccess, Depends(award_reviewer)]
AwardReader = Annotated[AwardAccess, Depends(award_reader)]


async def award_rectifier(award_id: uuid.UUID, actor: CurrentActor, session: Session) -> AwardAccess:
    village_id, household = await _award_household(award_id, session)
    authorize(actor, village_id, SUBMITTERS, town_admin=False)
    check_grid(actor, village_id, household.grid)
    return AwardAccess(actor=actor, award_id=award_id, village_id=village_id)


AwardRectifier = Annotated[AwardAccess, Depends(award_rectifier)]


async def award_objector(award_id: uuid.UUID, actor: CurrentActor, session: Session) -> AwardAccess:
    """Anyone of the award's village (a villager above all) may object to it while it is on notice."""
    village_id, _ = await _award(award_id, session)
    authorize(actor, village_id, VILLAGE_STAFF | {Role.villager}, town_admin=False)
    return AwardAccess(actor=actor, award_id=award_id, village_id=village_id)


AwardObjector = Annotated[AwardAccess, Depends(award_objector)]


async def _inspection(inspection_id: uuid.UUID, session: Session) -> tuple[uuid.UUID, str]:
    row = found(await sheets.place(session, inspection_id), "找不到该检查表")
    return row.village_id, row.grid


async def inspection_reader(inspection_id: uuid.UUID, actor: CurrentActor, session: Session) -> AwardAccess:
    """A grid's sheet: the village admin, the reviewers, the cadre of that grid (not the counter)."""
    village_id, grid = await _inspection(inspection_id, session)
    authorize(actor, village_id, INSPECTION_READERS, town_admin=True)
    if grid_scope(actor, village_id, {Role.reviewer}) is not None:
        check_grid(actor, village_id, grid)
    return AwardAccess(actor=actor, award_id=inspection_id, village_id=village_id)


async def inspection_scorer(inspection_id: uuid.UUID, actor: CurrentActor, session: Session) -> AwardAccess:
    village_id, _ = await _inspection(inspection_id, session)
    authorize(actor, village_id, SUBMITTERS, town_admin=False)
    return AwardAccess(actor=actor, award_id=inspection_id, village_id=village_id)


InspectionReader = Annotated[AwardAccess, Depends(inspection_reader)]
InspectionScorer = Annotated[AwardAccess, Depends(inspection_scorer)]
village_scorer = village_role(*SUBMITTERS, town_admin=False)  # opens a grid's inspection sheet
VillageScorer = Annotated[VillageAccess, Depends(village_scorer)]


@dataclass(frozen=True)
class HouseholdVillager:
    actor: Actor
    household: repository.HouseholdRef


async def self_reporter(household_id: uuid.UUID, actor: CurrentActor, session: Session) -> HouseholdVillager:
    """自主申报 is for a villager of the household itself; staff score households through `POST /awards`."""
    household = found(
        (await repository.households_by_id(session, [household_id])).get(household_id), "找不到该户"
    )
    own = {g.household_id for g in actor.grants_in(household.village_id) if g.role is Role.villager}
    if household_id in own:
        return HouseholdVillager(actor=actor, household=household)
    if actor.is_town_admin or actor.roles_in(household.village_id) & VILLAGE_STAFF:
        raise Forbidden("自主申报只能由本户村民提交；工作人员请直接登记评定")
    raise NotFound("找不到该户")  # a neighbour's household, or another village's: nothing leaks


SelfReporter = Annotated[HouseholdVillager, Depends(self_reporter)]
