from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit.sql import Sql
from jifen.models import Household, Member


async def get_household(session: AsyncSession, household_id: uuid.UUID) -> Household | None:
    return (await session.execute(select(Household).where(Household.id == household_id))).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class MemberLine:
    """One member of a household with the household's balance (a household without members: one line with
    no member)."""

    posted: int
    held: int
    lifetime_earned: int
    id: uuid.UUID | None
    name: str | None
    phone: str | None
    relation: str | None


_MEMBERS_AND_BALANCE = """
SELECT a.posted, a.held, a.lifetime_earned, m.id, m.name, m.phone, m.relation
  FROM accounts a
  LEFT JOIN members m ON $2 AND m.village_id = a.village_id AND m.household_id = a.id
 WHERE a.id = $1 AND a.kind = 'household'
 ORDER BY m.created_at, m.name
"""


async def members_and_balance(
    session: AsyncSession, household: Household, *, members: bool
) -> list[MemberLine]:
    """The household's balance as it is now and (when `members`) its members, in one statement; no line:
    the household has no account."""
    return await Sql(session).rows(MemberLine, _MEMBERS_AND_BALANCE, household.id, members)


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
