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
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.audit import service as audit
from jifen.auth.actor import Actor, console_actor
from jifen.auth.households import HouseholdAccess
from jifen.kit import timeutil
from jifen.kit.errors import Conflict, NotFound
from jifen.kit.pagination import BY_TIME_ID, Page
from jifen.kit.schemas import out_of
from jifen.kit.sweep import sweep
from jifen.kit.timeutil import utcnow
from jifen.ledger import service as ledger
from jifen.models import Store
from jifen.outbox import repository as outbox
from jifen.store import basket, repository
from jifen.store.repository import LineRow
from jifen.store.repository import reservations as reservation_rows
from jifen.store.repository.reservations import ReservationRow
from jifen.store.schemas import (
    RedemptionLineIn,
    RedemptionLineOut,
    RedemptionOut,
    ReservationOut,
    ReservationStatus,
)
from jifen.store.service import basket_of, completed_sale


class ReservationNotFound(NotFound, code="reservation_not_found", detail="找不到该取货码对应的预约"): ...


class ReservationExpired(
    Conflict, code="reservation_expired", detail="该预约已过期，积分和商品已经（或即将）退回"
): ...


class ReservationUsed(Conflict, code="reservation_used", detail="该取货码已经核销过"): ...


class ReservationCancelled(Conflict, code="reservation_cancelled", detail="该预约已经取消"): ...


CODE_ATTEMPTS = 30


async def get_reservation(session: AsyncSession, reservation_id: uuid.UUID) -> ReservationRow | None:
    return await reservation_rows.get(session, reservation_id)


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
    return await reservation_rows.end(
        session,
        row,
        status=status.value,
        actor_id=actor.user_id,
        at=at,
        reason=reason,
        redemption_id=redemption_id,
    )


def qr_payload(row: ReservationRow) -> str:
    """Exactly what the counter accepts when a scanner types it: the code itself (see funding/qr.py)."""
    return row.code


async def reservation_out(session: AsyncSession, row: ReservationRow) -> ReservationOut:
    return _out(row, await reservation_rows.lines(session, row.village_id, row.id))


def _out(row: ReservationRow, lines: list[LineRow]) -> ReservationOut:
    return out_of(
        ReservationOut,
        row,
        qr_payload=qr_payload(row),
        lines=[RedemptionLineOut.model_validate(line, from_attributes=True) for line in lines],
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
    assert checked.hold is not None
    days = await reservation_rows.reservation_days(session, village_id)
    new = reservation_rows.NewReservation(
        village_id=village_id,
        id=reservation_id,
        store_id=store.id,
        household_id=household_id,
        total_points=checked.total,
        hold_id=checked.hold.id,
        expires_at=now + timedelta(days=days),
        created_by=actor.user_id,
        created_at=now,
    )
    reservation = await _insert_with_fresh_code(session, new)
    item_ids = [line.item_id for line in checked.lines]
    quantities = [line.quantity for line in checked.lines]
    prices = [line.price_points for line in checked.lines]
    await reservation_rows.insert_lines(session, village_id, reservation_id, item_ids, quantities, prices)
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
            "total_points": checked.total,
            "hold_id": new.hold_id,
            "expires_at": new.expires_at.isoformat(),
            "lines": [[str(i), q, p] for i, q, p in zip(item_ids, quantities, prices, strict=True)],
        },
    )
    out = await reservation_out(session, reservation)
    await outbox.record_one(session, village_id, pickup_issued(out, store.name))
    return out


def pickup_issued(reservation: ReservationOut, store_name: str) -> outbox.Event:
    """A pickup code issued: the household's to read, with its code."""
    payload = {
        "reservation_id": reservation.id,
        "code": reservation.code,
        "store": store_name,
        "total_points": reservation.total_points,
        "expires_at": reservation.expires_at,
    }
    return outbox.Event(outbox.Kind.pickup_issued, reservation.household_id, payload)


async def _insert_with_fresh_code(
    session: AsyncSession, new: reservation_rows.NewReservation
) -> ReservationRow:
    """The reservation under a random 6-digit code no active reservation of the village holds."""
    # one active reservation per code in a village. SQL twin: migrations/versions/0007_reservations.py
    # uq_reservations_active_code (the insert's ON CONFLICT ... DO NOTHING is that index answering)
    for _ in range(CODE_ATTEMPTS):
        row = await reservation_rows.insert(session, new, f"{secrets.randbelow(1_000_000):06d}")
        if row is not None:
            return row
    # a million codes, thirty tries: only a village with ~all codes active gets here
    raise Conflict("暂时无法生成取货码，请稍后再试")


# ---------------------------------------------------------------------------------------------- redeem


async def redeem_code(session: AsyncSession, actor: Actor, store: Store, code: str) -> RedemptionOut:
    """核销: the clerk turns a valid code into a completed redemption at the price it was reserved at; the
    hold is captured and the reserved units leave the shelf."""
    village_id = store.village_id
    row = await reservation_rows.lock_by_code(session, village_id, code)
    if row is None or row.store_id != store.id:
        raise ReservationNotFound(f"本店没有取货码为 {code} 的预约")
    _refuse_ended(row)
    now = utcnow()
    if row.expires_at <= now:
        raise ReservationExpired(f"该预约已于 {timeutil.to_local(row.expires_at):%Y-%m-%d %H:%M} 过期")
    lines = await reservation_rows.lines(session, village_id, row.id)
    checked = await basket.check_out(
        session,
        actor,
        store,
        row.household_id,
        {line.item_id: line.quantity for line in lines},
        now=now,
        path=basket.Pickup(
            reservation_id=row.id,
            hold_id=row.hold_id,
            prices={line.item_id: line.price_points for line in lines},
        ),
    )
    sale = checked.sale
    assert sale is not None
    await _end(
        session,
        row,
        status=ReservationStatus.redeemed,
        actor=actor,
        at=now,
        reason=None,
        redemption_id=sale.redemption_id,
    )
    await _audit_ended(
        session,
        actor,
        row,
        "reservation.redeem",
        {"status": "redeemed", "redemption_id": sale.redemption_id, "transaction_id": sale.transaction_id},
    )
    household_code = await reservation_rows.household_code(session, village_id, row.household_id)
    return await completed_sale(
        session, actor, store, row.household_id, household_code, checked, reservation_id=row.id
    )


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
    lines = await reservation_rows.lines(session, row.village_id, row.id)
    item_ids = [line.item_id for line in lines]
    await repository.lock_items(session, row.village_id, item_ids)
    await ledger.release_hold(session, actor, await repository.hold(session, row.village_id, row.hold_id))
    await repository.set_reserved(session, row.village_id, item_ids, [-line.quantity for line in lines])
    ended = await _end(session, row, status=status, actor=actor, at=at, reason=reason)
    await _audit_ended(
        session,
        actor,
        row,
        f"reservation.{'cancel' if status is ReservationStatus.cancelled else 'expire'}",
        {
            "status": status.value,
            "hold_id": row.hold_id,
            "total_points": row.total_points,
            "lines": [[str(line.item_id), line.quantity] for line in lines],
        },
        reason,
    )
    return ended


async def cancel(
    session: AsyncSession, actor: Actor, reservation: ReservationRow, *, reason: str | None
) -> ReservationOut:
    """The villager changed their mind, or the staff cancels: hold and goods come back, once."""
    row = await reservation_rows.lock(session, reservation.village_id, reservation.id)
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

    async def claim(session: AsyncSession) -> Sequence[ReservationRow]:
        return await reservation_rows.lock_due(session, moment)

    async def release(session: AsyncSession, row: ReservationRow) -> bool:
        await _release(
            session, actor, row, status=ReservationStatus.expired, reason="预约超时未取货", at=moment
        )
        return True

    return await sweep(sessionmaker, claim, release)


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
    """The household's reservations, newest first, each with its pickup code only for those who may see it
    (a clerk's `access` reads only those at their stores)."""
    rows = await reservation_rows.of_household(
        session,
        access.household.village_id,
        access.household.id,
        status=status.value if status else None,
        after=BY_TIME_ID.after(cursor),
        limit=limit + 1,
        store_ids=access.store_ids,
    )
    page = BY_TIME_ID.page(rows, limit, lambda row: (row.created_at, row.id))
    items = [
        without_code(await reservation_out(session, row), access.sees_pickup_code(row.store_id))
        for row in page.items
    ]
    return Page(items=items, next_cursor=page.next_cursor)


async def _audit_ended(
    session: AsyncSession,
    actor: Actor,
    row: ReservationRow,
    action: str,
    after: dict[str, object],
    reason: str | None = None,
) -> None:
    """The audit event of an active reservation that ended (redeemed, cancelled, expired)."""
    await audit.record(
        session,
        actor,
        village_id=row.village_id,
        action=action,
        record_type="reservation",
        record_id=row.id,
        before={"status": "active"},
        after=after,
        reason=reason,
    )
