from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit.sql import Sql


@dataclass(frozen=True, slots=True)
class Ranked:
    rank: int
    household_id: uuid.UUID
    code: str
    head_name: str
    grid: str | None
    points: int
    lifetime_earned: int
    available: int


# what counts: awards and deductions, their reversals, rectifications and objection adjustments (a posted
# award revised or revoked); not what was spent or expired
_RANKING = """
WITH earned AS (
    SELECT p.account_id, sum(p.amount) AS points
      FROM postings p
      JOIN ledger_transactions t ON t.village_id = p.village_id AND t.id = p.transaction_id
     WHERE p.village_id = $1 AND p.account_version IS NOT NULL
       AND (t.kind IN ('award', 'deduction', 'rectification', 'reversal')
            OR (t.kind = 'adjustment' AND t.source_type = 'award'))
       AND ($2::timestamptz IS NULL OR t.created_at >= $2) AND ($3::timestamptz IS NULL OR t.created_at < $3)
     GROUP BY p.account_id
)
SELECT rank() OVER (ORDER BY coalesce(e.points, 0) DESC)::int AS rank, h.id AS household_id, h.code,
       h.head_name, h.grid, coalesce(e.points, 0)::bigint AS points,
       coalesce(a.lifetime_earned, 0)::bigint AS lifetime_earned,
       coalesce(a.posted - a.held, 0)::bigint AS available
  FROM households h
  LEFT JOIN earned e ON e.account_id = h.id
  LEFT JOIN accounts a ON a.village_id = h.village_id AND a.id = h.id
 WHERE h.village_id = $1 AND ($4::text IS NULL OR h.grid = $4)
   AND ($5::text IS NULL OR h.class = $5)
 ORDER BY rank, h.code
"""


async def ranking(
    session: AsyncSession,
    village_id: uuid.UUID,
    start: datetime | None,
    end: datetime | None,
    grid: str | None,
    household_class: str | None,
) -> list[Ranked]:
    return await Sql(session).rows(Ranked, _RANKING, village_id, start, end, grid, household_class)


async def star_thresholds(session: AsyncSession, village_id: uuid.UUID) -> list[int]:
    thresholds = await Sql(session).value(
        list, "SELECT star_thresholds FROM villages WHERE id = $1", village_id
    )
    return [int(t) for t in thresholds or []]
