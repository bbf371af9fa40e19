from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.models import Household, Member


async def get_household(session: AsyncSession, household_id: uuid.UUID) -> Household | None:
    return (await session.execute(select(Household).where(Household.id == household_id))).scalar_one_or_none()


async def members_of(session: AsyncSession, household: Household) -> Sequence[Member]:
    query = (
        select(Member)
        .where(Member.village_id == household.village_id, Member.household_id == household.id)
        .order_by(Member.created_at, Member.name)
    )
    return (await session.execute(query)).scalars().all()


async def code_taken(session: AsyncSession, village_id: uuid.UUID, code: str) -> bool:
    query = select(Household.id).where(Household.village_id == village_id, Household.code == code)
    return (await session.execute(query)).first() is not None


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def search_households(
    session: AsyncSession,
    village_id: uuid.UUID,
    *,
    q: str | None,
    grid: str | None,
    grids: frozenset[str] | None = None,
    after_code: str | None,
    limit: int,
) -> Sequence[Household]:
    """`grids`: only households of these grids (a cadre's); None for the whole village."""
    query = select(Household).where(Household.village_id == village_id).order_by(Household.code).limit(limit)
    if q:
        pattern = _like_escape(q)
        query = query.where(
            or_(Household.code.ilike(pattern + "%"), Household.head_name.ilike("%" + pattern + "%"))
        )
    if grid:
        query = query.where(Household.grid == grid)
    if grids is not None:
        query = query.where(Household.grid.in_(sorted(grids)))
    if after_code is not None:
        query = query.where(Household.code > after_code)
    return (await session.execute(query)).scalars().all()


async def add_household(session: AsyncSession, household: Household) -> None:
    """Insert the household (IntegrityError on a code the village already has)."""
    session.add(household)
    await session.flush()


async def add_members(session: AsyncSession, members: Sequence[Member]) -> None:
    session.add_all(members)
    await session.flush()


async def household_grids(
    session: AsyncSession, village_id: uuid.UUID, *, only: frozenset[str] | None
) -> list[str]:
    """The grids the village's households are in (`only`: of these grids, a cadre's), by name."""
    query = select(Household.grid).where(Household.village_id == village_id, Household.grid.is_not(None))
    if only is not None:
        query = query.where(Household.grid.in_(sorted(only)))
    return sorted({grid for grid in (await session.execute(query.distinct())).scalars() if grid})
