"""Pickup codes (预约兑换): a villager reserves goods for their own household on the phone. The points are
held (a ledger hold) and the goods set aside (`items.reserved`, never more than on the shelf) until

- the store's clerk redeems the code at the counter (核销): the hold is captured into a completed redemption
  (the same receipt as a counter sale) and the reserved units leave the shelf;
- the villager or the store's staff cancels it; or
- it expires (the village's `reservation_days`) and `release_expired` releases hold and goods, exactly once.

Lock order, the same as everywhere in the store: the reservation, then its items in id order, then the
household's account (the ledger)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.audit import service as audit
from jifen.auth.actor import Actor, console_actor
from jifen.households.auth import HouseholdAccess
from jifen.kit import timeutil
from jifen.kit.db import driver
from jifen.kit.errors import Conflict, NotFound
from jifen.kit.pagination import BY_TIME_ID, Page, encode_cursor
from jifen.kit.timeutil import utcnow
from jifen.ledger import service as ledger
from jifen.models import Hold, RedemptionStatus, Store
from jifen.store import basket, repository
from jifen.store.schemas import (
    RedemptionLineIn,
    RedemptionLineOut,
    RedemptionOut,
    ReservationOut,
    ReservationStatus,
)
from jifen.store.service import basket_of, line_outs, receipt_number


class ReservationNotFound(NotFound):
    code = "reservation_not_found"
    default_detail = "找不到该取货码对应的预约"


class ReservationExpired(Conflict):
    code = "reservation_expired"
    default_detail = "该预约已过期，积分和商品已经（或即将）退回"


class ReservationUsed(Conflict):
    code = "reservation_used"
    default_detail = "该取货码已经核销过"


class ReservationCancelled(Conflict):
    code = "reservation_cancelled"
    default_detail = "该预约已经取消"


CODE_ATTEMPTS = 30

_COLUMNS = """r.village_id, r.id, r.code, r.store_id, r.household_id, r.status, r.total_points, r.hold_id,
       r.expires_at, r.created_by, r.created_at, r.ended_at, r.end_reason, r.redemption_id"""


@dataclass(frozen=True)
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


# ---------------------------------------------------------------------------------------------- queries


async def get_reservation(session: AsyncSession, reservation_id: uuid.UUID) -> ReservationRow | None:
    row = await (await driver(session)).fetchrow(
        f"SELECT {_COLUMNS} FROM reservations r WHERE r.id = $1", reservation_id
    )
    return None if row is None else ReservationRow(*row)


async def household_reservations(
    session: AsyncSession,
    village_id: uuid.UUID,
    household_id: uuid.UUID,
    *,
    status: ReservationStatus | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
    store_ids: frozenset[uuid.UUID] | None = None,
) -> list[ReservationRow]:
    """The household's reservations, newest first; `store_ids`: only those at these stores (a clerk's)."""
    rows = await (await driver(session)).fetch(
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
        status.value if status else None,
        after[0] if after else None,
        after[1] if after else None,
        limit,
        sorted(store_ids) if store_ids is not None else None,
    )
    return [ReservationRow(*row) for row in rows]


async def _lock(session: AsyncSession, village_id: uuid.UUID, reservation_id: uuid.UUID) -> ReservationRow:
    row = await (await driver(session)).fetchrow(
        f"SELECT {_COLUMNS} FROM reservations r WHERE r.village_id = $1 AND r.id = $2 FOR UPDATE",
        village_id,
        reservation_id,
    )
    return ReservationRow(*row)


async def _lock_by_code(session: AsyncSession, village_id: uuid.UUID, code: str) -> ReservationRow | None:
    """The active reservation with this code, else the latest one that had it (to say why it is not)."""
    row = await (await driver(session)).fetchrow(
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
    return None if row is None else ReservationRow(*row)


async def _lines(session: AsyncSession, village_id: uuid.UUID, reservation_id: uuid.UUID) -> list[Any]:
    rows: list[Any] = await (await driver(session)).fetch(
        """
        SELECT rl.item_id, i.name, rl.quantity, rl.price_points, rl.line_points
          FROM reservation_lines rl JOIN items i ON i.village_id = rl.village_id AND i.id = rl.item_id
         WHERE rl.village_id = $1 AND rl.reservation_id = $2
         ORDER BY rl.item_id
        """,
        village_id,
        reservation_id,
    )
    return rows


async def _end(
    session: AsyncSession,
    row: ReservationRow,
    *,
    status: ReservationStatus,
    actor: Actor,
    at: datetime,
    reason: str | None,
    redemption_id: uuid.UUID | None = None,
) -> ReservationRow:
    ended = await (await driver(session)).fetchrow(
        f"""
        UPDATE reservations r SET status = $3, ended_at = $4, ended_by = $5, end_reason = $6,
                                  redemption_id = $7
         WHERE r.village_id = $1 AND r.id = $2
        RETURNING {_COLUMNS}
        """,
        row.village_id,
        row.id,
        status.value,
        at,
        actor.user_id,
        reason,
        redemption_id,
    )
    return ReservationRow(*ended)


def qr_payload(row: ReservationRow) -> str:
    """Exactly what the counter accepts when a scanner types it: the code itself (see funding/qr.py)."""
    return row.code


async def reservation_out(session: AsyncSession, row: ReservationRow) -> ReservationOut:
    lines = await _lines(session, row.village_id, row.id)
    return ReservationOut(
        id=row.id,
        code=row.code,
        qr_payload=qr_payload(row),
        status=ReservationStatus(row.status),
        store_id=row.store_id,
        household_id=row.household_id,
        total_points=row.total_points,
        lines=[RedemptionLineOut(**dict(line)) for line in lines],
        hold_id=row.hold_id,
        expires_at=row.expires_at,
        created_at=row.created_at,
        created_by=row.created_by,
        ended_at=row.ended_at,
        end_reason=row.end_reason,
        redemption_id=row.redemption_id,
    )


def _refuse_ended(row: ReservationRow) -> None:
    if row.status == ReservationStatus.redeemed.value:
        when = timeutil.to_local(row.ended_at or row.created_at)
        raise ReservationUsed(f"该取货码已于 {when:%Y-%m-%d %H:%M} 核销")
    if row.status == ReservationStatus.cancelled.value:
        raise ReservationCancelled()
    if row.status == ReservationStatus.expired.value:
        raise ReservationExpired(f"该预约已于 {timeutil.to_local(row.expires_at):%Y-%m-%d %H:%M} 过期")


# ---------------------------------------------------------------------------------------------- reserve


async def reserve(
    session: AsyncSession,
    actor: Actor,
    store: Store,
    household_id: uuid.UUID,
    lines: Sequence[RedemptionLineIn],
) -> ReservationOut:
    """Hold the basket's points and set its goods aside under a fresh 6-digit code, together or not at all."""
    village_id = store.village_id
    reservation_id = uuid.uuid4()
    now = utcnow()
    checked = await basket.check_out(
        session,
        actor,
        store,
        household_id,
        basket_of(lines),
        now=now,
        path=basket.NewReservation(reservation_id),
    )
    hold = checked.hold
    assert hold is not None
    item_ids = [line.item_id for line in checked.lines]
    quantities = [line.quantity for line in checked.lines]
    prices = [line.price_points for line in checked.lines]
    total = checked.total
    days: int = await (await driver(session)).fetchval(
        "SELECT reservation_days FROM villages WHERE id = $1", village_id
    )
    expires_at = now + timedelta(days=days)
    connection = await driver(session)
    row = None
    for _ in range(CODE_ATTEMPTS):
        code = f"{secrets.randbelow(1_000_000):06d}"
        row = await connection.fetchrow(
            f"""
            INSERT INTO reservations AS r (village_id, id, code, store_id, household_id, total_points,
                                           hold_id, expires_at, created_by, created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (village_id, code) WHERE status = 'active' DO NOTHING
            RETURNING {_COLUMNS}
            """,
            village_id,
            reservation_id,
            code,
            store.id,
            household_id,
            total,
            hold.id,
            expires_at,
            actor.user_id,
            now,
        )
        if row is not None:
            break
    if row is None:  # a million codes, thirty tries: only a village with ~all codes active gets here
        raise Conflict("暂时无法生成取货码，请稍后再试")
    await connection.execute(
        """
        INSERT INTO reservation_lines (village_id, reservation_id, item_id, quantity, price_points,
                                       line_points)
        SELECT $1, $2, l.item_id, l.quantity, l.price, l.quantity::bigint * l.price
          FROM unnest($3::uuid[], $4::integer[], $5::integer[]) AS l(item_id, quantity, price)
        """,
        village_id,
        reservation_id,
        item_ids,
        quantities,
        prices,
    )
    reservation = ReservationRow(*row)
    await audit.record(
        session,
        actor,
        village_id=village_id,
        action="reservation.create",
        record_type="reservation",
        record_id=reservation_id,
        after={
            "store_id": store.id,
            "household_id": household_id,
            "total_points": total,
            "hold_id": hold.id,
            "expires_at": expires_at.isoformat(),
            "lines": [[str(i), q, p] for i, q, p in zip(item_ids, quantities, prices, strict=True)],
        },
    )
    return await reservation_out(session, reservation)


# ---------------------------------------------------------------------------------------------- redeem


async def redeem_code(session: AsyncSession, actor: Actor, store: Store, code: str) -> RedemptionOut:
    """核销: the clerk turns a valid code into a completed redemption at the price it was reserved at; the
    hold is captured and the reserved units leave the shelf."""
    village_id = store.village_id
    row = await _lock_by_code(session, village_id, code)
    if row is None or row.store_id != store.id:
        raise ReservationNotFound(f"本店没有取货码为 {code} 的预约")
    _refuse_ended(row)
    now = utcnow()
    if row.expires_at <= now:
        raise ReservationExpired(f"该预约已于 {timeutil.to_local(row.expires_at):%Y-%m-%d %H:%M} 过期")
    lines = await _lines(session, village_id, row.id)
    checked = await basket.check_out(
        session,
        actor,
        store,
        row.household_id,
        {line["item_id"]: line["quantity"] for line in lines},
        now=now,
        path=basket.Pickup(
            reservation_id=row.id,
            hold_id=row.hold_id,
            prices={line["item_id"]: line["price_points"] for line in lines},
        ),
    )
    sale = checked.sale
    assert sale is not None
    redemption_id = sale.redemption_id
    await _end(
        session,
        row,
        status=ReservationStatus.redeemed,
        actor=actor,
        at=now,
        reason=None,
        redemption_id=redemption_id,
    )
    household_code: str = await (await driver(session)).fetchval(
        "SELECT code FROM households WHERE village_id = $1 AND id = $2", village_id, row.household_id
    )
    out = RedemptionOut(
        id=redemption_id,
        receipt_no=receipt_number(sale.receipt_no),
        status=RedemptionStatus.completed,
        store_id=store.id,
        household_id=row.household_id,
        household_code=household_code,
        total_points=row.total_points,
        lines=line_outs(checked.lines),
        transaction_id=sale.transaction_id,
        balance_after=sale.balance_after,
        clerk_id=actor.user_id,
        created_at=sale.created_at,
    )
    await audit.record(
        session,
        actor,
        village_id=village_id,
        action="reservation.redeem",
        record_type="reservation",
        record_id=row.id,
        before={"status": "active"},
        after={"status": "redeemed", "redemption_id": redemption_id, "transaction_id": sale.transaction_id},
    )
    await audit.record(
        session,
        actor,
        village_id=village_id,
        action="redemption.complete",
        record_type="redemption",
        record_id=redemption_id,
        after={
            "receipt_no": out.receipt_no,
            "store_id": store.id,
            "household_id": row.household_id,
            "total_points": row.total_points,
            "transaction_id": sale.transaction_id,
            "reservation_id": row.id,
            "lines": [[str(line.item_id), line.quantity, line.price_points] for line in checked.lines],
        },
    )
    return out


# ---------------------------------------------------------------------------------------------- release


async def _release(
    session: AsyncSession,
    actor: Actor,
    row: ReservationRow,
    *,
    status: ReservationStatus,
    reason: str | None,
    at: datetime,
) -> ReservationRow:
    """Give the held points and the reserved goods back; the reservation (locked by the caller) ends."""
    lines = await _lines(session, row.village_id, row.id)
    item_ids = [line["item_id"] for line in lines]
    await repository.lock_items(session, row.village_id, item_ids)
    hold = await session.get(Hold, (row.village_id, row.hold_id))
    assert hold is not None
    await ledger.release_hold(session, actor, hold)
    await repository.set_reserved(session, row.village_id, item_ids, [-line["quantity"] for line in lines])
    ended = await _end(session, row, status=status, actor=actor, at=at, reason=reason)
    await audit.record(
        session,
        actor,
        village_id=row.village_id,
        action=f"reservation.{'cancel' if status is ReservationStatus.cancelled else 'expire'}",
        record_type="reservation",
        record_id=row.id,
        before={"status": "active"},
        after={
            "status": status.value,
            "hold_id": row.hold_id,
            "total_points": row.total_points,
            "lines": [[str(line["item_id"]), line["quantity"]] for line in lines],
        },
        reason=reason,
    )
    return ended


async def cancel(
    session: AsyncSession, actor: Actor, reservation: ReservationRow, *, reason: str | None
) -> ReservationOut:
    """The villager changed their mind, or the staff cancels: hold and goods come back, once."""
    row = await _lock(session, reservation.village_id, reservation.id)
    _refuse_ended(row)
    ended = await _release(
        session, actor, row, status=ReservationStatus.cancelled, reason=reason or "取消预约", at=utcnow()
    )
    return await reservation_out(session, ended)


async def release_expired(
    sessionmaker: async_sessionmaker[AsyncSession], *, now: datetime | None = None
) -> int:
    """Release every active reservation past its expiry. Safe to run in several processes at once: each
    reservation is claimed under a row lock (SKIP LOCKED) and released in the claimer's transaction."""
    moment = now or utcnow()
    actor = console_actor("预约到期")
    released = 0
    while True:
        async with sessionmaker() as session, session.begin():
            due = await (await driver(session)).fetch(
                f"""
                SELECT {_COLUMNS} FROM reservations r
                 WHERE r.status = 'active' AND r.expires_at <= $1
                 ORDER BY r.expires_at
                 LIMIT 200
                   FOR UPDATE OF r SKIP LOCKED
                """,
                moment,
            )
            if not due:
                return released
            for record in due:
                row = ReservationRow(*record)
                await _release(
                    session, actor, row, status=ReservationStatus.expired, reason="预约超时未取货", at=moment
                )
                released += 1


def without_code(reservation: ReservationOut, sees_code: bool) -> ReservationOut:
    """A live pickup code is the household's and its store's: anyone else reads the reservation without it."""
    return reservation if sees_code else reservation.model_copy(update={"code": None, "qr_payload": None})


async def household_reservations_page(
    session: AsyncSession,
    access: HouseholdAccess,
    cursor: str | None,
    limit: int,
    status: ReservationStatus | None = None,
) -> Page[ReservationOut]:
    """The household's reservations, newest first, each with its pickup code only for those who may see it."""
    rows = await household_reservations(
        session,
        access.household.village_id,
        access.household.id,
        status=status,
        after=BY_TIME_ID.after(cursor),
        limit=limit,
        store_ids=access.store_ids,
    )
    items = [
        without_code(await reservation_out(session, row), access.sees_pickup_code(row.store_id))
        for row in rows
    ]
    next_cursor = encode_cursor(rows[-1].created_at.isoformat(), rows[-1].id) if len(rows) == limit else None
    return Page(items=items, next_cursor=next_cursor)
