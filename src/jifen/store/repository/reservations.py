"""Reservations' statements (预约兑换): read, lock, create, end. The lock order is the store's: the
reservation first, then its items, then the household's account."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit.pagination import key_args
from jifen.kit.sql import Sql, present
from jifen.store.repository import LineRow, lines_of

_COLUMNS = """r.village_id, r.id, r.code, r.store_id, r.household_id, r.status, r.total_points, r.hold_id,
       r.expires_at, r.created_by, r.created_at, r.ended_at, r.end_reason, r.redemption_id"""


@dataclass(frozen=True, slots=True)
class ReservationRow:
    village_id: uuid.UUID
    id: uuid.UUID
    code: str
    store_id: uuid.UUID
    household_id: uuid.UUID
    status: str
    total_points: int
    hold_id: uuid.UUID
    expires_at: datetime
    created_by: uuid.UUID
    created_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    redemption_id: uuid.UUID | None


async def get(session: AsyncSession, reservation_id: uuid.UUID) -> ReservationRow | None:
    return await Sql(session).row(
        ReservationRow, f"SELECT {_COLUMNS} FROM reservations r WHERE r.id = $1", reservation_id
    )


async def of_household(
    session: AsyncSession,
    village_id: uuid.UUID,
    household_id: uuid.UUID,
    *,
    status: str | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
    store_ids: frozenset[uuid.UUID] | None,
) -> list[ReservationRow]:
    """The household's reservations, newest first; `store_ids`: only those at these stores (a clerk's)."""
    return await Sql(session).rows(
        ReservationRow,
        f"""
        SELECT {_COLUMNS} FROM reservations r
         WHERE r.village_id = $1 AND r.household_id = $2 AND ($3::text IS NULL OR r.status = $3)
           AND ($4::timestamptz IS NULL OR (r.created_at, r.id) < ($4, $5::uuid))
           AND ($7::uuid[] IS NULL OR r.store_id = ANY($7::uuid[]))
         ORDER BY r.created_at DESC, r.id DESC
         LIMIT $6
        """,
        village_id,
        household_id,
        status,
        *key_args(after),
        limit,
        sorted(store_ids) if store_ids is not None else None,
    )


async def lock(session: AsyncSession, village_id: uuid.UUID, reservation_id: uuid.UUID) -> ReservationRow:
    row = await Sql(session).row(
        ReservationRow,
        f"SELECT {_COLUMNS} FROM reservations r WHERE r.village_id = $1 AND r.id = $2 FOR UPDATE",
        village_id,
        reservation_id,
    )
    assert row is not None  # the caller read it: reservations are never deleted
    return row


async def lock_by_code(session: AsyncSession, village_id: uuid.UUID, code: str) -> ReservationRow | None:
    """The active reservation with this code, else the latest one that had it (to say why it is not)."""
    return await Sql(session).row(
        ReservationRow,
        f"""
        SELECT {_COLUMNS} FROM reservations r
         WHERE r.village_id = $1 AND r.code = $2
         ORDER BY r.status = 'active' DESC, r.created_at DESC
         LIMIT 1
           FOR UPDATE
        """,
        village_id,
        code,
    )


async def lock_due(session: AsyncSession, moment: datetime) -> list[ReservationRow]:
    """Up to 200 active reservations past their expiry, claimed under row locks others skip."""
    return await Sql(session).rows(
        ReservationRow,
        f"""
        SELECT {_COLUMNS} FROM reservations r
         WHERE r.status = 'active' AND r.expires_at <= $1
         ORDER BY r.expires_at
         LIMIT 200
           FOR UPDATE OF r SKIP LOCKED
        """,
        moment,
    )


async def lines(session: AsyncSession, village_id: uuid.UUID, reservation_id: uuid.UUID) -> list[LineRow]:
    return await lines_of(session, "reservation", village_id, reservation_id)


async def end(
    session: AsyncSession,
    row: ReservationRow,
    *,
    status: str,
    actor_id: uuid.UUID,
    at: datetime,
    reason: str | None,
    redemption_id: uuid.UUID | None,
) -> ReservationRow:
    return await Sql(session).one(
        ReservationRow,
        f"""
        UPDATE reservations r SET status = $3, ended_at = $4, ended_by = $5, end_reason = $6,
                                  redemption_id = $7
         WHERE r.village_id = $1 AND r.id = $2
        RETURNING {_COLUMNS}
        """,
        row.village_id,
        row.id,
        status,
        at,
        actor_id,
        reason,
        redemption_id,
    )


async def reservation_days(session: AsyncSession, village_id: uuid.UUID) -> int:
    return present(
        await Sql(session).value(int, "SELECT reservation_days FROM villages WHERE id = $1", village_id)
    )


@dataclass(frozen=True, slots=True)
class NewReservation:
    village_id: uuid.UUID
    id: uuid.UUID
    store_id: uuid.UUID
    household_id: uuid.UUID
    total_points: int
    hold_id: uuid.UUID
    expires_at: datetime
    created_by: uuid.UUID
    created_at: datetime


async def insert(session: AsyncSession, new: NewReservation, code: str) -> ReservationRow | None:
    """The reservation under `code`, or None when an active reservation of the village holds that code."""
    return await Sql(session).row(
        ReservationRow,
        f"""
        INSERT INTO reservations AS r (village_id, id, code, store_id, household_id, total_points,
                                       hold_id, expires_at, created_by, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT (village_id, code) WHERE status = 'active' DO NOTHING
        RETURNING {_COLUMNS}
        """,
        new.village_id,
        new.id,
        code,
        new.store_id,
        new.household_id,
        new.total_points,
        new.hold_id,
        new.expires_at,
        new.created_by,
        new.created_at,
    )


async def insert_lines(
    session: AsyncSession,
    village_id: uuid.UUID,
    reservation_id: uuid.UUID,
    item_ids: Sequence[uuid.UUID],
    quantities: Sequence[int],
    prices: Sequence[int],
) -> None:
    await Sql(session).execute(
        """
        INSERT INTO reservation_lines (village_id, reservation_id, item_id, quantity, price_points,
                                       line_points)
        SELECT $1, $2, l.item_id, l.quantity, l.price, l.quantity::bigint * l.price
          FROM unnest($3::uuid[], $4::integer[], $5::integer[]) AS l(item_id, quantity, price)
        """,
        village_id,
        reservation_id,
        list(item_ids),
        list(quantities),
        list(prices),
    )


async def household_code(session: AsyncSession, village_id: uuid.UUID, household_id: uuid.UUID) -> str:
    return present(
        await Sql(session).value(
            str, "SELECT code FROM households WHERE village_id = $1 AND id = $2", village_id, household_id
        )
    )
