"""Inspection sheets' statements (评比): a grid's sheet for a day, its rules and households."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.awards.schemas import SheetHousehold, SheetRule
from jifen.kit.sql import Sql


@dataclass(frozen=True, slots=True)
class InspectionRow:
    id: uuid.UUID
    village_id: uuid.UUID
    grid: str
    inspected_on: date
    rule_ids: list[uuid.UUID]
    judges: list[str]
    status: str
    awards: int | None
    submitted_at: datetime | None


_INSPECTION = "id, village_id, grid, inspected_on, rule_ids, judges, status, awards, submitted_at"


@dataclass(frozen=True, slots=True)
class InspectionPlace:
    village_id: uuid.UUID
    grid: str


async def place(session: AsyncSession, inspection_id: uuid.UUID) -> InspectionPlace | None:
    return await Sql(session).row(
        InspectionPlace, "SELECT village_id, grid FROM inspections WHERE id = $1", inspection_id
    )


async def inspection(
    session: AsyncSession, inspection_id: uuid.UUID, *, lock: bool = False
) -> InspectionRow | None:
    query = f"SELECT {_INSPECTION} FROM inspections WHERE id = $1" + (" FOR UPDATE" if lock else "")
    return await Sql(session).row(InspectionRow, query, inspection_id)


async def village_rule_count(
    session: AsyncSession, village_id: uuid.UUID, rule_ids: Sequence[uuid.UUID]
) -> int:
    """How many of the rules belong to the village."""
    count = await Sql(session).value(
        int,
        "SELECT count(*) FROM rules WHERE village_id = $1 AND id = ANY($2::uuid[])",
        village_id,
        list(rule_ids),
    )
    return count or 0


async def grid_households(session: AsyncSession, village_id: uuid.UUID, grid: str) -> list[SheetHousehold]:
    return await Sql(session).rows(
        SheetHousehold,
        "SELECT id, code, head_name FROM households WHERE village_id = $1 AND grid = $2 ORDER BY code",
        village_id,
        grid,
    )


async def insert(
    session: AsyncSession,
    *,
    village_id: uuid.UUID,
    inspection_id: uuid.UUID,
    grid: str,
    inspected_on: date,
    rule_ids: Sequence[uuid.UUID],
    judges: Sequence[str],
    created_by: uuid.UUID,
) -> None:
    """A new sheet (uq_inspections_grid_day refuses a second one for the grid and day)."""
    await Sql(session).execute(
        "INSERT INTO inspections (village_id, id, grid, inspected_on, rule_ids, judges, created_by)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        village_id,
        inspection_id,
        grid,
        inspected_on,
        list(rule_ids),
        list(judges),
        created_by,
    )


async def sheet_rules(
    session: AsyncSession, village_id: uuid.UUID, rule_ids: Sequence[uuid.UUID]
) -> list[SheetRule]:
    """The sheet's rules in their current version, by category and code."""
    return await Sql(session).rows(
        SheetRule,
        """
        SELECT r.id, r.code, v.name, v.category, v.points, v.review
          FROM rules r
          JOIN rule_versions v
            ON v.village_id = r.village_id AND v.rule_id = r.id AND v.version = r.current_version
         WHERE r.village_id = $1 AND r.id = ANY($2::uuid[])
         ORDER BY v.category, r.code
        """,
        village_id,
        list(rule_ids),
    )


async def mark_submitted(
    session: AsyncSession, village_id: uuid.UUID, inspection_id: uuid.UUID, actor_id: uuid.UUID, awards: int
) -> None:
    await Sql(session).execute(
        "UPDATE inspections SET status = 'submitted', submitted_by = $3, submitted_at = now(), awards = $4"
        " WHERE village_id = $1 AND id = $2",
        village_id,
        inspection_id,
        actor_id,
        awards,
    )
