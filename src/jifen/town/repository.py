"""The town's figures: every village side by side.

Every village's households' postings are rolled up per local month, year and all time (`village_period_*`,
migration 0017) by the chainer's background pass, up to the same horizon it links to; the overview reads the
rolled-up figures plus, per village, only the household postings after the village's mark (the
`(village_id, chain_id)` index). So it stays exact whenever it is asked, and its cost follows the number of
villages and what happened in the last seconds, not the county's history.

A household posting is one with an `account_version` (only household accounts carry one; migration 0002's
trigger refuses anything else), and its transaction's `created_at` is its own (both are set by `now()` in the
one statement of ledger_post). The points outstanding are the households' postings summed, which is what
their balances hold (`jifen audit verify` reconciles the two). The households are counted by a trigger
(`village_households`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.audit.balances import EARNED_BY
from jifen.kit.sql import Sql
from jifen.rankings.repository import COUNTS

ALL_TIME = "*"

# one village's household postings after its mark, up to `upto`, added to its figures and to its households'
# ranking points
_ROLL_UP = f"""
WITH mark AS (
    SELECT coalesce((SELECT chain_id FROM village_rollup_marks WHERE village_id = $1), 0) AS chain_id
), moves AS (
    SELECT p.account_id, p.amount, t.kind, {COUNTS} AS ranked, {EARNED_BY} AS earned,
           to_char(t.created_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') AS month
      FROM postings p
      JOIN ledger_transactions t ON t.village_id = p.village_id AND t.id = p.transaction_id
      LEFT JOIN ledger_transactions r ON r.village_id = t.village_id AND r.id = t.reverses_id
     WHERE p.village_id = $1 AND p.account_version IS NOT NULL
       AND p.chain_id > (SELECT chain_id FROM mark) AND p.chain_id <= $2
), keyed AS (
    SELECT month AS period, account_id, amount, kind, ranked, earned FROM moves
    UNION ALL SELECT left(month, 4), account_id, amount, kind, ranked, earned FROM moves
    UNION ALL SELECT '*', account_id, amount, kind, ranked, earned FROM moves
), points AS (
    -- each household's ranking points and what it earned (migration 0024): executed whether or not
    -- anything reads it
    INSERT INTO household_period_points AS h (village_id, period, account_id, points, earned)
    SELECT $1, period, account_id, coalesce(sum(amount) FILTER (WHERE ranked), 0), sum(earned)
      FROM keyed WHERE ranked OR earned <> 0 GROUP BY period, account_id
    ON CONFLICT (village_id, period, account_id) DO UPDATE
       SET points = h.points + excluded.points, earned = h.earned + excluded.earned
), joined AS (
    INSERT INTO village_period_participants (village_id, period, account_id)
    SELECT DISTINCT $1::uuid, period, account_id FROM keyed
     WHERE kind IN ('award', 'deduction') AND period <> '*'
    ON CONFLICT DO NOTHING
    RETURNING period
), sums AS (
    SELECT period,
           coalesce(sum(amount) FILTER (WHERE kind IN ('award', 'rectification') AND amount > 0), 0)
             AS issued,
           coalesce(-sum(amount) FILTER (WHERE kind = 'deduction'), 0) AS deducted,
           coalesce(-sum(amount) FILTER (WHERE kind IN ('redemption', 'redemption_cancel')), 0) AS redeemed,
           sum(amount) AS posted
      FROM keyed GROUP BY period
), figures AS (
    INSERT INTO village_period_figures AS f
           (village_id, period, taking_part, issued, deducted, redeemed, posted)
    SELECT $1, s.period, coalesce(j.joined, 0), s.issued, s.deducted, s.redeemed, s.posted
      FROM sums s LEFT JOIN (SELECT period, count(*) AS joined FROM joined GROUP BY period) j USING (period)
    ON CONFLICT (village_id, period) DO UPDATE
       SET taking_part = f.taking_part + excluded.taking_part, issued = f.issued + excluded.issued,
           deducted = f.deducted + excluded.deducted, redeemed = f.redeemed + excluded.redeemed,
           posted = f.posted + excluded.posted
    RETURNING 1
)
INSERT INTO village_rollup_marks AS m (village_id, chain_id) VALUES ($1, $2)
ON CONFLICT (village_id) DO UPDATE SET chain_id = excluded.chain_id, rolled_at = now()
 WHERE m.chain_id < excluded.chain_id
RETURNING (SELECT count(*) FROM figures)
"""

# the villages with household postings after their mark (one index probe each)
_BEHIND = """
SELECT v.id FROM villages v
  LEFT JOIN village_rollup_marks m ON m.village_id = v.id
 WHERE EXISTS (SELECT 1 FROM postings p
                WHERE p.village_id = v.id AND p.chain_id > coalesce(m.chain_id, 0) AND p.chain_id <= $1)
 ORDER BY coalesce(m.chain_id, 0), v.code
 LIMIT $2
"""

VILLAGES_PER_PASS = 50  # a first pass over a large existing ledger spreads over several background passes


async def roll_up(conn: asyncpg.Connection, upto: int, villages: int = VILLAGES_PER_PASS) -> int:
    """Add the household postings up to chain_id `upto` (a horizon: everything at or below it has
    committed) to the period figures of up to `villages` villages, those furthest behind first; returns how
    many moved. The caller holds the chainer lock, so one process rolls up at a time; the overview is exact
    whatever is still behind."""
    moved = 0
    for row in await conn.fetch(_BEHIND, upto, villages):
        async with conn.transaction():
            await conn.fetchval(_ROLL_UP, row["id"], upto)
        moved += 1
    return moved


OVERVIEW = """
WITH tail AS (
    SELECT v.id AS village_id, x.*
      FROM villages v
      LEFT JOIN village_rollup_marks m ON m.village_id = v.id
     -- per village, from its mark on (OFFSET 0 keeps it a lookup of the (village_id, chain_id) index)
     CROSS JOIN LATERAL (
           SELECT p.account_id, t.kind, p.amount, t.created_at >= $1 AND t.created_at < $2 AS inside
             FROM postings p
             JOIN ledger_transactions t ON t.village_id = p.village_id AND t.id = p.transaction_id
            WHERE p.village_id = v.id AND p.chain_id > coalesce(m.chain_id, 0)
              AND p.account_version IS NOT NULL
           OFFSET 0) x
), recent AS (
    SELECT village_id,
           count(DISTINCT account_id) FILTER (
               WHERE inside AND kind IN ('award', 'deduction')
                 AND NOT EXISTS (SELECT 1 FROM village_period_participants x
                                  WHERE x.village_id = tail.village_id AND x.period = $3
                                    AND x.account_id = tail.account_id)) AS taking_part,
           coalesce(sum(amount) FILTER (WHERE inside AND kind IN ('award', 'rectification')
                                               AND amount > 0), 0) AS issued,
           coalesce(-sum(amount) FILTER (WHERE inside AND kind = 'deduction'), 0) AS deducted,
           coalesce(-sum(amount) FILTER (WHERE inside AND kind IN ('redemption', 'redemption_cancel')), 0)
             AS redeemed,
           sum(amount) AS posted
      FROM tail GROUP BY village_id
)
SELECT v.id AS village_id, v.code, v.name,
       coalesce(c.households, 0) AS households,
       coalesce(f.taking_part, 0) + coalesce(r.taking_part, 0) AS taking_part,
       coalesce(f.issued, 0) + coalesce(r.issued, 0) AS issued,
       coalesce(f.deducted, 0) + coalesce(r.deducted, 0) AS deducted,
       coalesce(f.redeemed, 0) + coalesce(r.redeemed, 0) AS redeemed,
       coalesce(o.posted, 0) + coalesce(r.posted, 0) AS outstanding
  FROM villages v
  LEFT JOIN village_period_figures f ON f.village_id = v.id AND f.period = $3
  LEFT JOIN village_period_figures o ON o.village_id = v.id AND o.period = '*'
  LEFT JOIN recent r ON r.village_id = v.id
  LEFT JOIN village_households c ON c.village_id = v.id
 ORDER BY v.code
"""


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


async def overview(
    session: AsyncSession, period: str, start: datetime, end: datetime
) -> list[VillageFiguresRow]:
    """Every village's figures for a local month (`2026-11`) or year (`2026`), [start, end) in UTC."""
    return await Sql(session).rows(VillageFiguresRow, OVERVIEW, start, end, period)
