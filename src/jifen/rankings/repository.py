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
# award revised or revoked); not what was spent or expired. A condition on the transaction `t`.
COUNTS = """(t.kind IN ('award', 'deduction', 'rectification', 'reversal')
            OR (t.kind = 'adjustment' AND t.source_type = 'award'))"""

# the households' points rolled up to the village's mark (household_period_points, migration 0024, by the
# chainer's background pass: town/repository.py roll_up) plus the household postings after it, so exact
# whenever asked; $6 the period's key ('YYYY-MM', 'YYYY' or '*'), $7 the mark, {period}: the period's
# condition
_RANKING = f"""
WITH recent AS MATERIALIZED (
    SELECT p.account_id, p.amount AS points
      FROM postings p
      JOIN ledger_transactions t ON t.village_id = p.village_id AND t.id = p.transaction_id
     WHERE p.village_id = $1 AND p.chain_id > $7 AND p.account_version IS NOT NULL
       AND {COUNTS}
       {{period}}
), earned AS (
    SELECT account_id, sum(points) AS points
      FROM (SELECT account_id, points FROM household_period_points WHERE village_id = $1 AND period = $6
            UNION ALL SELECT account_id, points FROM recent) x
     GROUP BY account_id
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

ALL_TIME = "*"
# the village's roll-up mark, read in the statement that also asks for a plan made for this village and
# period (set_config(..., true): for this transaction, as SET LOCAL): one round trip for both
_MARK = (
    "SELECT coalesce((SELECT chain_id FROM village_rollup_marks WHERE village_id = $1), 0)"
    " FROM set_config('plan_cache_mode', 'force_custom_plan', true)"
)


async def ranking(
    session: AsyncSession,
    village_id: uuid.UUID,
    period: tuple[str, datetime, datetime] | None,
    grid: str | None,
    household_class: str | None,
) -> list[Ranked]:
    """The village's ranking for `period` (its key, 'YYYY-MM' or 'YYYY', and its [start, end) in UTC: a
    local month or year) or all time (None)."""
    # two statements, not one with `$2 IS NULL OR …`, so the plan can use the period index; and a plan made
    # for this village and period: the prepared statement's generic plan (from its sixth run on) joins the
    # households to the period's sums in a nested loop, measured 5-10x slower with 500 villages (bench scale)
    if period is None:
        key, start, end = ALL_TIME, None, None
        sql = _RANKING.format(period="AND $2::timestamptz IS NULL AND $3::timestamptz IS NULL")
    else:
        key, start, end = period
        sql = _RANKING.format(period="AND t.created_at >= $2 AND t.created_at < $3")
    db = Sql(session)
    # the mark as a value, not a subquery, so the plan knows that little comes after it (the (village_id,
    # chain_id) index), rather than walking the period's transactions (measured 40 ms against 5 for a month)
    mark = await db.value(int, _MARK, village_id)
    return await db.rows(Ranked, sql, village_id, start, end, grid, household_class, key, mark)


async def star_thresholds(session: AsyncSession, village_id: uuid.UUID) -> list[int]:
    thresholds = await Sql(session).value(
        list, "SELECT star_thresholds FROM villages WHERE id = $1", village_id
    )
    return [int(t) for t in thresholds or []]
