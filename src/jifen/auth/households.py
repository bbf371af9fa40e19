"""Who may touch households: the village admin keeps the roll; who reads how much of a household is decided
in `auth/scope.py` (a cadre their grid, a clerk the counter's view, a reviewer the summary, a villager
their own household)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.auth import repository
from jifen.auth.actor import VILLAGE_STAFF, Actor
from jifen.auth.dependencies import CurrentActor, VillageAccess, authorize, village_role
from jifen.auth.scope import (
    HouseholdView,
    grid_scope,
    household_view,
    phones_in_full,
    refusal,
    sees_pickup_code,
)
from jifen.kit.db import Session
from jifen.kit.errors import Forbidden, found
from jifen.models import Household, Role

village_admin = village_role(Role.village_admin)  # the village admin (and the town admin)
VillageAdmin = Annotated[VillageAccess, Depends(village_admin)]


@dataclass(frozen=True)
class HouseholdAccess:
    actor: Actor
    household: Household
    view: HouseholdView = HouseholdView.admin
    # the stores whose reservations the caller may list; None: every store
    store_ids: frozenset[uuid.UUID] | None = None

    @property
    def phones_in_full(self) -> bool:
        return phones_in_full(self.actor, self.household.village_id)

    def sees_pickup_code(self, store_id: uuid.UUID) -> bool:
        return sees_pickup_code(self.actor, self.household.village_id, store_id, self.household.id)


async def _household(household_id: uuid.UUID, session: Session) -> Household:
    household = found(await repository.household(session, household_id), "找不到该户")
    return household


def household_reader(
    least: HouseholdView, what: str
) -> Callable[[uuid.UUID, Actor, AsyncSession], Awaitable[HouseholdAccess]]:
    """A dependency for `/households/{household_id}/...` reads that need at least `least` (see scope.py)."""

    async def dependency(household_id: uuid.UUID, actor: CurrentActor, session: Session) -> HouseholdAccess:
        household = await _household(household_id, session)
        view = household_view(actor, household.village_id, household.id, household.grid)
        if view is None or view < least:
            raise refusal(actor, household.village_id, view, what=what)
        return HouseholdAccess(actor=actor, household=household, view=view)

    return dependency


async def household_reservations_reader(
    household_id: uuid.UUID, actor: CurrentActor, session: Session
) -> HouseholdAccess:
    """A household's reservations: its villager, the village admin (and the town admin, without the codes),
    a clerk those of their own store; cadres and reviewers have no business with pickup codes."""
    household = await _household(household_id, session)
    village_id = household.village_id
    view = household_view(actor, village_id, household.id, household.grid)
    own = any(g.role is Role.villager and g.household_id == household.id for g in actor.grants_in(village_id))
    if view is HouseholdView.admin or own:
        return HouseholdAccess(actor=actor, household=household, view=view or HouseholdView.history)
    if view is not None and Role.clerk in actor.roles_in(village_id):
        stores = frozenset(
            g.store_id for g in actor.grants_in(village_id) if g.role is Role.clerk and g.store_id
        )
        return HouseholdAccess(actor=actor, household=household, view=view, store_ids=stores)
    if view is not None:
        raise Forbidden("您的岗位不能查看该户的预约兑换和取货码")
    raise refusal(actor, village_id, view, what="预约兑换")


async def household_admin(household_id: uuid.UUID, actor: CurrentActor, session: Session) -> HouseholdAccess:
    household = await _household(household_id, session)
    authorize(actor, household.village_id, {Role.village_admin}, town_admin=True)
    return HouseholdAccess(actor=actor, household=household)


read_household = household_reader(HouseholdView.counter, "信息")
read_household_history = household_reader(HouseholdView.history, "积分明细、评定记录和上限")
HouseholdReader = Annotated[HouseholdAccess, Depends(read_household)]
HouseholdHistoryReader = Annotated[HouseholdAccess, Depends(read_household_history)]
HouseholdReservationsReader = Annotated[HouseholdAccess, Depends(household_reservations_reader)]
HouseholdAdmin = Annotated[HouseholdAccess, Depends(household_admin)]


@dataclass(frozen=True)
class VillageScope:
    """A village-wide list cut to what the caller may read: `grids` None is the whole village."""

    actor: Actor
    village: repository.VillageLine
    grids: frozenset[str] | None

    def view_of(self, household_id: uuid.UUID, grid: str | None) -> HouseholdView | None:
        return household_view(self.actor, self.village.id, household_id, grid)


def village_scope(
    *roles: Role, village_wide: frozenset[Role]
) -> Callable[[uuid.UUID, Actor, AsyncSession], Awaitable[VillageScope]]:
    """A dependency for `/villages/{village_id}/...` lists of households or their awards: the actor holds one
    of `roles` (or is the town admin); a cadre holding none of `village_wide` sees their grids only."""
    check = village_role(*roles)

    async def dependency(village_id: uuid.UUID, actor: CurrentActor, session: Session) -> VillageScope:
        access = await check(village_id, actor, session)
        return VillageScope(
            actor=actor, village=access.village, grids=grid_scope(actor, village_id, village_wide)
        )

    return dependency


# the counter finds a household by its code; a reviewer looks one up; a cadre searches their grid
household_lister = village_scope(*VILLAGE_STAFF, village_wide=frozenset({Role.reviewer, Role.clerk}))
HouseholdLister = Annotated[VillageScope, Depends(household_lister)]
# the awards and the review queue: not the counter's business
award_lister = village_scope(
    Role.village_admin, Role.cadre, Role.reviewer, village_wide=frozenset({Role.reviewer})
)
AwardLister = Annotated[VillageScope, Depends(award_lister)]
