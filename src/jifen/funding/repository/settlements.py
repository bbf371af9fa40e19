"""Settlements' statements: a store's period report, its cancellations, the settlement records."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit.pagination import key_args
from jifen.kit.sql import Sql, columns_of

# ---------------------------------------------------------------------------------------------- settlement

_LINES = """
WITH moved AS (
    SELECT rl.item_id, rl.quantity AS sold, 0 AS cancelled, rl.line_points AS points,
           rl.line_points * jifen_peg_at(r.village_id, r.created_at) AS fen
      FROM redemptions r
      JOIN redemption_lines rl ON rl.village_id = r.village_id AND rl.redemption_id = r.id
     WHERE r.village_id = $1 AND r.store_id = $2 AND r.created_at >= $3 AND r.created_at < $4
    UNION ALL
    SELECT rl.item_id, 0, rl.quantity, -rl.line_points,
           -(rl.line_points * jifen_peg_at(r.village_id, r.created_at))
      FROM redemptions r
      JOIN redemption_lines rl ON rl.village_id = r.village_id AND rl.redemption_id = r.id
     WHERE r.village_id = $1 AND r.store_id = $2 AND r.status = 'cancelled'
       AND r.cancelled_at >= $3 AND r.cancelled_at < $4
)
SELECT i.id AS item_id, i.name, i.unit, sum(m.sold)::bigint AS sold, sum(m.cancelled)::bigint AS cancelled,
       sum(m.points)::bigint AS points, sum(m.fen)::bigint AS fen
  FROM moved m JOIN items i ON i.village_id = $1 AND i.id = m.item_id
 GROUP BY i.id, i.name, i.unit
 ORDER BY i.name, i.id
"""


@dataclass(frozen=True, slots=True)
class SettlementLineRow:
    item_id: uuid.UUID
    name: str
    unit: str
    sold: int
    cancelled: int
    points: int
    fen: int


async def settlement_lines(
    session: AsyncSession, village_id: uuid.UUID, store_id: uuid.UUID, starts_at: datetime, ends_at: datetime
) -> list[SettlementLineRow]:
    return await Sql(session).rows(SettlementLineRow, _LINES, village_id, store_id, starts_at, ends_at)


@dataclass(frozen=True, slots=True)
class _Counts:
    sales: int
    cancellations: int


async def period_counts(
    session: AsyncSession, village_id: uuid.UUID, store_id: uuid.UUID, starts_at: datetime, ends_at: datetime
) -> tuple[int, int]:
    """(sales made, cancellations made) in [starts_at, ends_at)."""
    row = await Sql(session).row(
        _Counts,
        """
        SELECT (SELECT count(*) FROM redemptions
                 WHERE village_id = $1 AND store_id = $2 AND created_at >= $3 AND created_at < $4) AS sales,
               (SELECT count(*) FROM redemptions
                 WHERE village_id = $1 AND store_id = $2 AND status = 'cancelled'
                   AND cancelled_at >= $3 AND cancelled_at < $4) AS cancellations
        """,
        village_id,
        store_id,
        starts_at,
        ends_at,
    )
    assert row is not None
    return row.sales, row.cancellations


@dataclass(frozen=True, slots=True)
class CancellationRow:
    redemption_id: uuid.UUID
    receipt_no: int
    household_code: str
    sold_at: datetime
    cancelled_at: datetime
    sold_in_period: bool
    reason: str | None
    total_points: int
    fen: int


async def cancellations(
    session: AsyncSession, village_id: uuid.UUID, store_id: uuid.UUID, starts_at: datetime, ends_at: datetime
) -> list[CancellationRow]:
    return await Sql(session).rows(
        CancellationRow,
        """
        SELECT r.id AS redemption_id, r.receipt_no, h.code AS household_code, r.created_at AS sold_at,
               r.cancelled_at, r.created_at >= $3 AS sold_in_period, r.cancel_reason AS reason,
               r.total_points, r.total_points * jifen_peg_at(r.village_id, r.created_at) AS fen
          FROM redemptions r JOIN households h ON h.village_id = r.village_id AND h.id = r.household_id
         WHERE r.village_id = $1 AND r.store_id = $2 AND r.status = 'cancelled'
           AND r.cancelled_at >= $3 AND r.cancelled_at < $4
         ORDER BY r.cancelled_at, r.id
        """,
        village_id,
        store_id,
        starts_at,
        ends_at,
    )


@dataclass(frozen=True, slots=True)
class SettlementRow:
    id: uuid.UUID
    store_id: uuid.UUID
    period: str
    starts_at: datetime
    ends_at: datetime
    report_points: int
    report_fen: int
    amount_fen: int
    note: str
    actor_id: uuid.UUID
    created_at: datetime


SETTLEMENT_COLUMNS = columns_of(SettlementRow)


async def lock_store(session: AsyncSession, village_id: uuid.UUID, store_id: uuid.UUID) -> None:
    """Settlements of one store queue (the same lock the overlap trigger takes)."""
    await Sql(session).execute(
        "SELECT 1 FROM stores WHERE village_id = $1 AND id = $2 FOR NO KEY UPDATE", village_id, store_id
    )


async def settlement_over(
    session: AsyncSession,
    village_id: uuid.UUID,
    store_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
    *,
    exactly: bool,
) -> SettlementRow | None:
    """The store's earliest settlement overlapping [starts_at, ends_at), or (`exactly`) the one settling
    exactly that span."""
    return await Sql(session).row(
        SettlementRow,
        f"""
        SELECT {SETTLEMENT_COLUMNS} FROM store_settlements
         WHERE village_id = $1 AND store_id = $2 AND starts_at < $4 AND $3 < ends_at
           AND (NOT $5 OR (starts_at = $3 AND ends_at = $4))
         ORDER BY starts_at LIMIT 1
        """,
        village_id,
        store_id,
        starts_at,
        ends_at,
        exactly,
    )


async def insert_settlement(session: AsyncSession, values: dict[str, Any]) -> SettlementRow:
    return await Sql(session).one(
        SettlementRow,
        f"""
        INSERT INTO store_settlements (village_id, id, store_id, period, starts_at, ends_at, report_points,
                                       report_fen, amount_fen, note, actor_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        RETURNING {SETTLEMENT_COLUMNS}
        """,
        values["village_id"],
        values["id"],
        values["store_id"],
        values["period"],
        values["starts_at"],
        values["ends_at"],
        values["report_points"],
        values["report_fen"],
        values["amount_fen"],
        values["note"],
        values["actor_id"],
    )


async def list_settlements(
    session: AsyncSession,
    village_id: uuid.UUID,
    store_id: uuid.UUID,
    *,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[SettlementRow]:
    """The latest period first."""
    return await Sql(session).rows(
        SettlementRow,
        f"""
        SELECT {SETTLEMENT_COLUMNS} FROM store_settlements
         WHERE village_id = $1 AND store_id = $2
           AND ($3::timestamptz IS NULL OR (starts_at, id) < ($3, $4::uuid))
         ORDER BY starts_at DESC, id DESC
         LIMIT $5
        """,
        village_id,
        store_id,
        *key_args(after),
        limit,
    )
