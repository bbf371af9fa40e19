from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.models import Household, Member

_INSERT_AWARDS = text(
    """
INSERT INTO awards (village_id, id, household_id, rule_id, rule_version, quantity, points, member_id, note,
                    status, transaction_id, batch_id, submitted_by)
SELECT CAST(:village AS uuid), a.id, a.household_id, a.rule_id, a.rule_version, a.quantity, a.points,
       a.member_id, a.note, a.status, a.transaction_id, CAST(:batch AS uuid), CAST(:actor AS uuid)
  FROM unnest(CAST(:ids AS uuid[]), CAST(:households AS uuid[]), CAST(:rules AS uuid[]),
              CAST(:versions AS integer[]), CAST(:quantities AS integer[]), CAST(:points AS bigint[]),
              CAST(:members AS uuid[]), CAST(:notes AS text[]), CAST(:statuses AS text[]),
              CAST(:transactions AS uuid[]))
    AS a(id, household_id, rule_id, rule_version, quantity, points, member_id, note, status, transaction_id)
RETURNING created_at
"""
)


async def insert_awards(session: AsyncSession, params: dict[str, Any]) -> datetime:
    """Insert the awards in one statement; returns their (shared) creation time."""
    result = await session.execute(_INSERT_AWARDS, params)
    return result.scalars().first()  # type: ignore[return-value]


async def households_by_id(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """(id, village_id, code, grid) of the households, without their members."""
    query = select(Household.id, Household.village_id, Household.code, Household.grid).where(
        Household.id.in_(ids)
    )
    return {row.id: row for row in (await session.execute(query)).all()}


async def member_households(
    session: AsyncSession, village_id: uuid.UUID, member_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    rows = await session.execute(
        select(Member.id, Member.household_id).where(
            Member.village_id == village_id, Member.id.in_(member_ids)
        )
    )
    return {row.id: row.household_id for row in rows}
