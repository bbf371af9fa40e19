from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.auth import repository as auth_repository
from jifen.kit.sql import Sql
from jifen.models import Village


async def code_taken(session: AsyncSession, code: str) -> bool:
    return (await session.execute(select(Village.id).where(Village.code == code))).first() is not None


async def list_villages(
    session: AsyncSession, *, only: set[uuid.UUID] | None, after_code: str | None, limit: int
) -> Sequence[Village]:
    query = select(Village).order_by(Village.code).limit(limit)
    if only is not None:
        query = query.where(Village.id.in_(only))
    if after_code is not None:
        query = query.where(Village.code > after_code)
    return (await session.execute(query)).scalars().all()


@dataclass(frozen=True, slots=True)
class VillageName:
    """What a page's header and village switcher show of a village: it never changes once the village
    exists (there is no renaming and no deleting a village)."""

    id: uuid.UUID
    code: str
    name: str


_VILLAGE_NAMES = """
SELECT id, code, name FROM villages WHERE $1::uuid[] IS NULL OR id = ANY($1::uuid[]) ORDER BY code LIMIT $2
"""


async def village_names(
    session: AsyncSession, *, only: Sequence[uuid.UUID] | None, limit: int
) -> list[VillageName]:
    return await Sql(session).rows(VillageName, _VILLAGE_NAMES, None if only is None else list(only), limit)


async def add_village(session: AsyncSession, village: Village) -> None:
    """Insert the village (IntegrityError on a taken code)."""
    session.add(village)
    await session.flush()


async def village_to_change(session: AsyncSession, village_id: uuid.UUID) -> Village:
    """The village as an ORM object to change, locked until the transaction ends (it exists: the caller's
    access check read it)."""
    village = await session.get(Village, village_id, with_for_update=True)
    assert village is not None
    return village


async def save_village(session: AsyncSession, village: Village) -> None:
    """Write the village's changed settings in this transaction."""
    await session.flush()
    auth_repository.village_changed(session, village.id)


async def any_village(session: AsyncSession) -> bool:
    return (await session.execute(select(Village.id).limit(1))).first() is not None


@dataclass(frozen=True)
class SetupDone:
    """Which of the steps from a new village to its first redemption have happened (see onboarding.py)."""

    households: bool
    rules: bool
    store: bool
    staff: bool
    award: bool
    redemption: bool


_SETUP_DONE = """
SELECT EXISTS (SELECT 1 FROM households WHERE village_id = $1) AS households,
       EXISTS (SELECT 1 FROM rules WHERE village_id = $1) AS rules,
       EXISTS (SELECT 1 FROM items WHERE village_id = $1) AS store,
       EXISTS (SELECT 1 FROM user_roles
                WHERE village_id = $1 AND role IN ('cadre', 'reviewer', 'clerk')) AS staff,
       EXISTS (SELECT 1 FROM awards WHERE village_id = $1) AS award,
       EXISTS (SELECT 1 FROM redemptions WHERE village_id = $1) AS redemption
"""


async def setup_done(session: AsyncSession, village_id: uuid.UUID) -> SetupDone:
    """One query: each step done or not."""
    done = await Sql(session).row(SetupDone, _SETUP_DONE, village_id)
    assert done is not None  # EXISTS always answers one row
    return done
