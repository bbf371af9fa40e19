"""The funding overview's statements: households' points, funds received, each store's money."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit.sql import Sql

# ---------------------------------------------------------------------------------------------- overview


@dataclass(frozen=True, slots=True)
class HouseholdPoints:
    """The households' points and the funds received (not voided), read together."""

    households: int
    posted: int
    held: int
    received: int  # fen


async def household_points(session: AsyncSession, village_id: uuid.UUID) -> HouseholdPoints:
    return await Sql(session).one(
        HouseholdPoints,
        """
        SELECT count(*) AS households, coalesce(sum(posted), 0)::bigint AS posted,
               coalesce(sum(held), 0)::bigint AS held,
               (SELECT coalesce(sum(f.amount_fen), 0)::bigint FROM village_funds f
                 WHERE f.village_id = $1
                   AND NOT EXISTS (SELECT 1 FROM village_fund_voids v
                                    WHERE v.village_id = $1 AND v.fund_id = f.id)) AS received
          FROM accounts WHERE village_id = $1 AND kind = 'household'
        """,
        village_id,
    )


_STORES = """
WITH moved AS (
    SELECT r.store_id, r.created_at AS at, r.total_points AS points,
           r.total_points * jifen_peg_at(r.village_id, r.created_at) AS fen
      FROM redemptions r WHERE r.village_id = $1
    UNION ALL
    SELECT r.store_id, r.cancelled_at, -r.total_points,
           -(r.total_points * jifen_peg_at(r.village_id, r.created_at))
      FROM redemptions r WHERE r.village_id = $1 AND r.status = 'cancelled'
), unsettled AS (
    SELECT m.store_id, sum(m.points)::bigint AS points, sum(m.fen)::bigint AS fen
      FROM moved m
     WHERE NOT EXISTS (SELECT 1 FROM store_settlements s
                        WHERE s.village_id = $1 AND s.store_id = m.store_id
                          AND m.at >= s.starts_at AND m.at < s.ends_at)
     GROUP BY m.store_id
), settled AS (
    SELECT s.store_id, sum(s.amount_fen)::bigint AS fen,
           (array_agg(s.period ORDER BY s.ends_at DESC, s.created_at DESC))[1] AS last_period
      FROM store_settlements s WHERE s.village_id = $1
     GROUP BY s.store_id
)
SELECT st.id AS store_id, st.name, coalesce(settled.fen, 0)::bigint AS settled_fen,
       settled.last_period AS last_settled_period,
       coalesce(unsettled.points, 0)::bigint AS unsettled_points,
       coalesce(unsettled.fen, 0)::bigint AS unsettled_fen
  FROM stores st
  LEFT JOIN settled ON settled.store_id = st.id
  LEFT JOIN unsettled ON unsettled.store_id = st.id
 WHERE st.village_id = $1
 ORDER BY st.created_at, st.id
"""


@dataclass(frozen=True, slots=True)
class StoreFundingRow:
    store_id: uuid.UUID
    name: str
    settled_fen: int
    last_settled_period: str | None
    unsettled_points: int
    unsettled_fen: int


async def store_funding(session: AsyncSession, village_id: uuid.UUID) -> list[StoreFundingRow]:
    return await Sql(session).rows(StoreFundingRow, _STORES, village_id)
