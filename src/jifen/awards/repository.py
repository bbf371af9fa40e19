from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit.db import driver

_INSERT_AWARDS = """
INSERT INTO awards (village_id, id, household_id, rule_id, rule_version, quantity, points, member_id, note,
                    status, transaction_id, batch_id, submitted_by)
SELECT $1, a.id, a.household_id, a.rule_id, a.rule_version, a.quantity, a.points,
       a.member_id, a.note, a.status, a.transaction_id, $2, $3
  FROM unnest($4::uuid[], $5::uuid[], $6::uuid[], $7::integer[], $8::integer[], $9::bigint[], $10::uuid[],
              $11::text[], $12::text[], $13::uuid[])
    AS a(id, household_id, rule_id, rule_version, quantity, points, member_id, note, status, transaction_id)
RETURNING created_at
"""
_AWARD_COLUMNS = (
    "ids",
    "households",
    "rules",
    "versions",
    "quantities",
    "points",
    "members",
    "notes",
    "statuses",
    "transactions",
)


async def insert_awards(session: AsyncSession, params: dict[str, Any]) -> datetime:
    """Insert the awards in one statement; returns their (shared) creation time."""
    created_at: datetime = await (await driver(session)).fetchval(
        _INSERT_AWARDS,
        params["village"],
        params["batch"],
        params["actor"],
        *(params[c] for c in _AWARD_COLUMNS),
    )
    return created_at


@dataclass(frozen=True)
class HouseholdRef:
    id: uuid.UUID
    village_id: uuid.UUID
    code: str
    grid: str | None


async def households_by_id(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, HouseholdRef]:
    """The households' id, village, code and grid, without their members."""
    rows = await (await driver(session)).fetch(
        "SELECT id, village_id, code, grid FROM households WHERE id = ANY($1::uuid[])", list(ids)
    )
    return {row["id"]: HouseholdRef(*row) for row in rows}


async def member_households(
    session: AsyncSession, village_id: uuid.UUID, member_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    rows = await (await driver(session)).fetch(
        "SELECT id, household_id FROM members WHERE village_id = $1 AND id = ANY($2::uuid[])",
        village_id,
        list(member_ids),
    )
    return {row["id"]: row["household_id"] for row in rows}
