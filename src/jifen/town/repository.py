"""The town's figures, every village side by side, for one window of time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit.sql import Sql


@dataclass(frozen=True, slots=True)
class VillageFiguresRow:
    village_id: uuid.UUID
    code: str
    name: str
    households: int
    taking_part: int
    issued: int
    deducted: int
    redeemed: int
    outstanding: int


_OVERVIEW = """
WITH moves AS (
    SELECT p.village_id, p.account_id, t.kind, p.amount
      FROM postings p
      JOIN ledger_transactions t ON t.village_id = p.village_id AND t.id = p.transaction_id
      JOIN accounts a ON a.village_id = p.village_id AND a.id = p.account_id AND a.kind = 'household'
     WHERE t.created_at >= $1 AND t.created_at < $2
), figures AS (
    SELECT village_id,
           count(DISTINCT account_id) FILTER (WHERE kind IN ('award', 'deduction')) AS taking_part,
           coalesce(sum(amount) FILTER (WHERE kind IN ('award', 'rectification') AND amount > 0), 0)
             AS issued,
           coalesce(-sum(amount) FILTER (WHERE kind = 'deduction'), 0) AS deducted,
           coalesce(-sum(amount) FILTER (WHERE kind IN ('redemption', 'redemption_cancel')), 0) AS redeemed
      FROM moves GROUP BY village_id
)
SELECT v.id AS village_id, v.code, v.name,
       (SELECT count(*) FROM households h WHERE h.village_id = v.id) AS households,
       coalesce(f.taking_part, 0) AS taking_part, coalesce(f.issued, 0) AS issued,
       coalesce(f.deducted, 0) AS deducted, coalesce(f.redeemed, 0) AS redeemed,
       (SELECT coalesce(sum(a.posted), 0) FROM accounts a WHERE a.village_id = v.id AND a.kind = 'household')
         AS outstanding
  FROM villages v LEFT JOIN figures f ON f.village_id = v.id
 ORDER BY v.code
"""


async def village_figures(
    session: AsyncSession, start: datetime | None, end: datetime | None
) -> list[VillageFiguresRow]:
    """Every village by code: households, those taking part, points issued, deducted and redeemed between
    `start` and `end`, and the households' posted points now."""
    return await Sql(session).rows(VillageFiguresRow, _OVERVIEW, start, end)
