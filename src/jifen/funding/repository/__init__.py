"""Funding's statements, typed rows through `Sql` in the request's transaction: pegs and funds here,
settlements in `settlements`, the overview in `overview`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit.pagination import key_args
from jifen.kit.sql import Sql, columns_of

# ---------------------------------------------------------------------------------------------- pegs


@dataclass(frozen=True, slots=True)
class PegRow:
    id: int
    effective_from: datetime
    fen_per_point: int
    reason: str
    actor_id: uuid.UUID
    created_at: datetime


PEG_COLUMNS = columns_of(PegRow)


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
    return await Sql(session).one(
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
        *key_args(after),
        limit,
    )
