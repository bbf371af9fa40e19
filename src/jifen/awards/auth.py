"""Who may submit awards: cadres and village admins of the households' village (not town admins)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from jifen.auth.actor import Actor
from jifen.auth.dependencies import CurrentActor, authorize
from jifen.awards import repository
from jifen.awards.schemas import AwardBatchCreate, AwardCreate
from jifen.kit.db import Session
from jifen.kit.errors import BadRequest, NotFound
from jifen.models import Role

SUBMITTERS = frozenset({Role.cadre, Role.village_admin})


class MixedVillages(BadRequest):
    code = "mixed_villages"
    default_detail = "一批评定中的所有户必须属于同一个村"


@dataclass(frozen=True)
class Submission:
    actor: Actor
    village_id: uuid.UUID
    households: dict[uuid.UUID, repository.HouseholdRef]


async def _submission(actor: Actor, session: Session, household_ids: list[uuid.UUID]) -> Submission:
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
    return await _submission(actor, session, [body.household_id])


async def batch_submitter(body: AwardBatchCreate, actor: CurrentActor, session: Session) -> Submission:
    return await _submission(actor, session, [item.household_id for item in body.items])


AwardSubmitter = Annotated[Submission, Depends(award_submitter)]
BatchSubmitter = Annotated[Submission, Depends(batch_submitter)]
