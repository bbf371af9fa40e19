from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
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


@dataclass(frozen=True, slots=True)
class HouseholdLine:
    """A household as a list shows it (`HouseholdSummary`'s fields; the ORM's `Household` is for one being
    written)."""

    id: uuid.UUID
    village_id: uuid.UUID
    code: str
    head_name: str
    grid: str | None
    address: str | None
    household_class: str | None
    population: int | None


async def search_households(
    session: AsyncSession,
    village_id: uuid.UUID,
    *,
    q: str | None,
    grid: str | None,
    grids: frozenset[str] | None = None,
    after_code: str | None,
    limit: int,
) -> list[HouseholdLine]:
    """`grids`: only households of these grids (a cadre's); None for the whole village. Each filter given
    adds its condition to the statement (one prepared statement per combination, each with its own plan)."""
    args: list[object] = [village_id, limit]
    where = ["village_id = $1"]
    if q:
        pattern = _like_escape(q)
        args += [pattern + "%", "%" + pattern + "%"]
        where.append(f"(code ILIKE ${len(args) - 1} OR head_name ILIKE ${len(args)})")
    filters = (("grid = ${}", grid or None), ("grid = ANY(${}::text[])", grids), ("code > ${}", after_code))
    for condition, value in filters:
        if value is not None:
            args.append(sorted(value) if isinstance(value, frozenset) else value)
            where.append(condition.format(len(args)))
    query = (
        "SELECT id, village_id, code, head_name, grid, address, class AS household_class, population"
        f" FROM households WHERE {' AND '.join(where)} ORDER BY code LIMIT $2"
    )
    return await Sql(session).rows(HouseholdLine, query, *args)


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
