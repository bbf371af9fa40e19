from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.models import Household, Store, Village


async def village_exists(session: AsyncSession, village_id: uuid.UUID) -> bool:
    return (await session.execute(select(Village.id).where(Village.id == village_id))).first() is not None


async def store_in_village(session: AsyncSession, village_id: uuid.UUID, store_id: uuid.UUID) -> bool:
    query = select(Store.id).where(Store.village_id == village_id, Store.id == store_id)
    return (await session.execute(query)).first() is not None


async def household_in_village(session: AsyncSession, village_id: uuid.UUID, household_id: uuid.UUID) -> bool:
    query = select(Household.id).where(Household.village_id == village_id, Household.id == household_id)
    return (await session.execute(query)).first() is not None
