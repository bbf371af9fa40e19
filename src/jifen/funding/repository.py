"""Every query of funding and settlement, typed rows through `Sql` in the request's transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit.sql import Sql

# ---------------------------------------------------------------------------------------------- pegs

PEG_COLUMNS = "id, effective_from, fen_per_point, reason, actor_id, created_at"


@dataclass(frozen=True, slots=True)
class PegRow:
    id: int
    effective_from: datetime
    fen_per_point: int
    reason: str
    actor_id: uuid.UUID
    created_at: datetime


async def peg_at(session: AsyncSession, village_id: uuid.UUID, at: datetime) -> PegRow | None:
    """The peg row in force at `at`, or None while the village runs on the default."""
    return await Sql(session).row(
        PegRow,
        f"""
        SELECT {PEG_COLUMNS} FROM village_pegs
         WHERE village_id = $1 AND effective_from <= $2
         ORDER BY effective_from DESC, id DESC
         LIMIT 1
        """,
        village_id,
        at,
    )


async def pegs(session: AsyncSession, village_id: uuid.UUID) -> list[PegRow]:
    return await Sql(session).rows(
        PegRow,
        f"SELECT {PEG_COLUMNS} FROM village_pegs WHERE village_id = $1 ORDER BY effective_from DESC, id DESC",
        village_id,
    )


async def pegs_during(
    session: AsyncSession, village_id: uuid.UUID, starts_at: datetime, ends_at: datetime
) -> list[PegRow]:
    """The pegs in force at some moment of [starts_at, ends_at), the earliest first."""
    return await Sql(session).rows(
        PegRow,
        f"""
        SELECT * FROM (
            (SELECT {PEG_COLUMNS} FROM village_pegs
              WHERE village_id = $1 AND effective_from <= $2
              ORDER BY effective_from DESC, id DESC LIMIT 1)
            UNION ALL
            (SELECT {PEG_COLUMNS} FROM village_pegs p
              WHERE village_id = $1 AND effective_from > $2 AND effective_from < $3
                AND NOT EXISTS (SELECT 1 FROM village_pegs later
                                 WHERE later.village_id = $1 AND later.effective_from = p.effective_from
                                   AND later.id > p.id))
        ) AS during
        ORDER BY effective_from, id
        """,
        village_id,
        starts_at,
        ends_at,
    )


async def insert_peg(
    session: AsyncSession,
    village_id: uuid.UUID,
    *,
    effective_from: datetime,
    fen_per_point: int,
    reason: str,
    actor_id: uuid.UUID,
) -> PegRow:
    row = await Sql(session).row(
        PegRow,
        f"""
        INSERT INTO village_pegs (village_id, effective_from, fen_per_point, reason, actor_id)
        VALUES ($1, $2, $3, $4, $5)
        RETURNING {PEG_COLUMNS}
        """,
        village_id,
        effective_from,
        fen_per_point,
        reason,
        actor_id,
    )
    assert row is not None
    return row


async def lock_village(session: AsyncSession, village_id: uuid.UUID) -> None:
    """Peg changes of one village queue: the second sees the first's row."""
    await Sql(session).execute("SELECT 1 FROM villages WHERE id = $1 FOR NO KEY UPDATE", village_id)


# ---------------------------------------------------------------------------------------------- funds

_FUND = """
SELECT f.id, f.village_id, f.source, f.source_name, f.amount_fen, f.received_on, f.note, f.actor_id,
       f.created_at, v.reason AS void_reason, v.actor_id AS void_actor_id, v.created_at AS voided_at
  FROM village_funds f
  LEFT JOIN village_fund_voids v ON v.village_id = f.village_id AND v.fund_id = f.id
"""


@dataclass(frozen=True, slots=True)
class FundRow:
    id: uuid.UUID
    village_id: uuid.UUID
    source: str
    source_name: str
    amount_fen: int
    received_on: date
    note: str | None
    actor_id: uuid.UUID
    created_at: datetime
    void_reason: str | None
    void_actor_id: uuid.UUID | None
    voided_at: datetime | None


async def insert_fund(session: AsyncSession, values: dict[str, Any]) -> None:
    await Sql(session).execute(
        """
        INSERT INTO village_funds (village_id, id, source, source_name, amount_fen, received_on, note,
                                   actor_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        """,
        values["village_id"],
        values["id"],
        values["source"],
        values["source_name"],
        values["amount_fen"],
        values["received_on"],
        values["note"],
        values["actor_id"],
    )


async def get_fund(session: AsyncSession, fund_id: uuid.UUID) -> FundRow | None:
    return await Sql(session).row(FundRow, _FUND + " WHERE f.id = $1", fund_id)


async def fund_in(session: AsyncSession, village_id: uuid.UUID, fund_id: uuid.UUID) -> FundRow | None:
    return await Sql(session).row(
        FundRow, _FUND + " WHERE f.village_id = $1 AND f.id = $2", village_id, fund_id
    )


async def insert_void(
    session: AsyncSession, village_id: uuid.UUID, fund_id: uuid.UUID, *, reason: str, actor_id: uuid.UUID
) -> None:
    await Sql(session).execute(
        "INSERT INTO village_fund_voids (village_id, fund_id, reason, actor_id) VALUES ($1, $2, $3, $4)",
        village_id,
        fund_id,
        reason,
        actor_id,
    )


async def list_funds(
    session: AsyncSession,
    village_id: uuid.UUID,
    *,
    source: str | None,
    received_from: date | None,
    received_to: date | None,
    include_voided: bool,
    after: tuple[date, uuid.UUID] | None,
    limit: int,
) -> list[FundRow]:
    """Newest received first."""
    return await Sql(session).rows(
        FundRow,
        _FUND
        + """
         WHERE f.village_id = $1 AND ($2::text IS NULL OR f.source = $2)
           AND ($3::date IS NULL OR f.received_on >= $3) AND ($4::date IS NULL OR f.received_on <= $4)
           AND ($5 OR v.fund_id IS NULL)
           AND ($6::date IS NULL OR (f.received_on, f.id) < ($6, $7::uuid))
         ORDER BY f.received_on DESC, f.id DESC
         LIMIT $8
        """,
        village_id,
        source,
        received_from,
        received_to,
        include_voided,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )


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
    id: uuid.UUID
    receipt_no: int
    household_code: str
    sold_at: datetime
    cancelled_at: datetime
    sold_in_period: bool
    cancel_reason: str | None
    total_points: int
    fen: int


async def cancellations(
    session: AsyncSession, village_id: uuid.UUID, store_id: uuid.UUID, starts_at: datetime, ends_at: datetime
) -> list[CancellationRow]:
    return await Sql(session).rows(
        CancellationRow,
        """
        SELECT r.id, r.receipt_no, h.code AS household_code, r.created_at AS sold_at, r.cancelled_at,
               r.created_at >= $3 AS sold_in_period, r.cancel_reason, r.total_points,
               r.total_points * jifen_peg_at(r.village_id, r.created_at) AS fen
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


SETTLEMENT_COLUMNS = (
    "id, store_id, period, starts_at, ends_at, report_points, report_fen, amount_fen, note, actor_id, "
    "created_at"
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


async def lock_store(session: AsyncSession, village_id: uuid.UUID, store_id: uuid.UUID) -> None:
    """Settlements of one store queue (the same lock the overlap trigger takes)."""
    await Sql(session).execute(
        "SELECT 1 FROM stores WHERE village_id = $1 AND id = $2 FOR NO KEY UPDATE", village_id, store_id
    )


async def overlapping_settlement(
    session: AsyncSession, village_id: uuid.UUID, store_id: uuid.UUID, starts_at: datetime, ends_at: datetime
) -> SettlementRow | None:
    return await Sql(session).row(
        SettlementRow,
        f"""
        SELECT {SETTLEMENT_COLUMNS} FROM store_settlements
         WHERE village_id = $1 AND store_id = $2 AND starts_at < $4 AND $3 < ends_at
         ORDER BY starts_at LIMIT 1
        """,
        village_id,
        store_id,
        starts_at,
        ends_at,
    )


async def exact_settlement(
    session: AsyncSession, village_id: uuid.UUID, store_id: uuid.UUID, starts_at: datetime, ends_at: datetime
) -> SettlementRow | None:
    return await Sql(session).row(
        SettlementRow,
        f"""
        SELECT {SETTLEMENT_COLUMNS} FROM store_settlements
         WHERE village_id = $1 AND store_id = $2 AND starts_at = $3 AND ends_at = $4
        """,
        village_id,
        store_id,
        starts_at,
        ends_at,
    )


async def insert_settlement(session: AsyncSession, values: dict[str, Any]) -> SettlementRow:
    row = await Sql(session).row(
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
    assert row is not None
    return row


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
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )


# ---------------------------------------------------------------------------------------------- overview


@dataclass(frozen=True, slots=True)
class HouseholdPoints:
    households: int
    posted: int
    held: int


async def household_points(session: AsyncSession, village_id: uuid.UUID) -> HouseholdPoints:
    row = await Sql(session).row(
        HouseholdPoints,
        """
        SELECT count(*) AS households, coalesce(sum(posted), 0)::bigint AS posted,
               coalesce(sum(held), 0)::bigint AS held
          FROM accounts WHERE village_id = $1 AND kind = 'household'
        """,
        village_id,
    )
    assert row is not None  # an aggregate always answers one row
    return row


async def funds_received(session: AsyncSession, village_id: uuid.UUID) -> int:
    total = await Sql(session).value(
        int,
        """
        SELECT coalesce(sum(f.amount_fen), 0)::bigint FROM village_funds f
         WHERE f.village_id = $1
           AND NOT EXISTS (SELECT 1 FROM village_fund_voids v WHERE v.village_id = $1 AND v.fund_id = f.id)
        """,
        village_id,
    )
    return total or 0


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
SELECT st.id, st.name, coalesce(settled.fen, 0)::bigint AS settled_fen, settled.last_period,
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
    id: uuid.UUID
    name: str
    settled_fen: int
    last_period: str | None
    unsettled_points: int
    unsettled_fen: int


async def store_funding(session: AsyncSession, village_id: uuid.UUID) -> list[StoreFundingRow]:
    return await Sql(session).rows(StoreFundingRow, _STORES, village_id)
