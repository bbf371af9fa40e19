"""Who may touch households: the village's staff, and a villager their own household."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from jifen.auth.actor import VILLAGE_STAFF, Actor
from jifen.auth.dependencies import CurrentActor, VillageAccess, authorize, village_role
from jifen.households import repository
from jifen.kit.db import Session
from jifen.kit.errors import NotFound
from jifen.models import Household, Role

VillageAdmin = Annotated[VillageAccess, Depends(village_role(Role.village_admin))]
VillageStaff = Annotated[VillageAccess, Depends(village_role(*VILLAGE_STAFF))]


@dataclass(frozen=True)
class HouseholdAccess:
    actor: Actor
    household: Household


async def _household(household_id: uuid.UUID, session: Session) -> Household:
    household = await repository.get_household(session, household_id)
    if household is None:
        raise NotFound("找不到该户")
    return household


async def household_reader(household_id: uuid.UUID, actor: CurrentActor, session: Session) -> HouseholdAccess:
    household = await _household(household_id, session)
    if household.id not in actor.household_ids():
        # a villager of another household is refused like a stranger: 404, nothing leaks
        staff = actor.roles_in(household.village_id) & VILLAGE_STAFF
        if not staff and not actor.is_town_admin:
            raise NotFound("找不到该户")
        authorize(actor, household.village_id, VILLAGE_STAFF, town_admin=True)
    return HouseholdAccess(actor=actor, household=household)


async def household_admin(household_id: uuid.UUID, actor: CurrentActor, session: Session) -> HouseholdAccess:
    household = await _household(household_id, session)
    authorize(actor, household.village_id, {Role.village_admin}, town_admin=True)
    return HouseholdAccess(actor=actor, household=household)


HouseholdReader = Annotated[HouseholdAccess, Depends(household_reader)]
HouseholdAdmin = Annotated[HouseholdAccess, Depends(household_admin)]
