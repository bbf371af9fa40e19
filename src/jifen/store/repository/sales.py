"""A store's sales (兑换): recorded with their lines and stock movements in one statement, read, listed
and cancelled."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from jifen.auth.actor_cache import OneCallCaller
from jifen.kit.db import raw_connection
from jifen.kit.sql import Sql, checked, present
from jifen.store.schemas import SaleOut

_RECORD_SALE = """
WITH redemption AS (
    INSERT INTO redemptions (village_id, id, store_id, household_id, total_points, transaction_id, clerk_id,
                             created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    RETURNING receipt_no, created_at
), lines AS (
    INSERT INTO redemption_lines (village_id, redemption_id, item_id, quantity, price_points, line_points)
    SELECT $1, $2, l.item_id, l.quantity, l.price, l.quantity::bigint * l.price
      FROM unnest($9::uuid[], $10::integer[], $11::integer[]) AS l(item_id, quantity, price)
), sold AS (
    UPDATE items i SET on_hand = i.on_hand - l.quantity
      FROM unnest($9::uuid[], $10::integer[]) AS l(item_id, quantity)
     WHERE i.village_id = $1 AND i.id = l.item_id
    RETURNING i.id, l.quantity, i.on_hand
), movements AS (
    INSERT INTO stock_movements (village_id, item_id, kind, quantity, on_hand_after, actor_id, redemption_id,
                                 created_at)
    SELECT $1, sold.id, 'sale', -sold.quantity, sold.on_hand, $7, $2, $8 FROM sold
)
SELECT redemption.receipt_no, redemption.created_at,
       (SELECT posted FROM accounts WHERE village_id = $1 AND id = $4) AS balance_after
  FROM redemption
"""


@dataclass(frozen=True, slots=True)
class SaleRecorded:
    receipt_no: int
    created_at: datetime
    balance_after: int


async def record_sale(session: AsyncSession, params: dict[str, Any]) -> SaleRecorded:
    """The redemption, its lines, the stock off the shelf and the sale movements, in one statement."""
    row = await Sql(session).row(
        SaleRecorded,
        _RECORD_SALE,
        params["village_id"],
        params["id"],
        params["store_id"],
        params["household_id"],
        params["total_points"],
        params["transaction_id"],
        params["clerk_id"],
        params["created_at"],
        params["item_ids"],
        params["quantities"],
        params["prices"],
    )
    return present(row)


_SUBMIT = (
    "SELECT sale_submit($1::uuid, $2::integer, $3::text, $4::text, $5::text, $6::text, $7::text,"
    " $8::timestamptz, $9::uuid, $10::uuid, $11::text, $12::uuid[], $13::integer[])"
)


@dataclass(frozen=True, slots=True)
class OneCall:
    """What `sale_submit` (migration 0023) is called with: the caller, the key, the basket."""

    caller: OneCallCaller
    now: datetime
    store_id: uuid.UUID
    household_id: uuid.UUID | None
    household_code: str | None
    item_ids: list[uuid.UUID]
    quantities: list[int]


def _arguments(call: OneCall) -> list[object]:
    return [*call.caller.args(), *(getattr(call, f.name) for f in fields(call)[1:])]


async def submit_in_one_call(session: AsyncSession, call: OneCall) -> str | None:
    """The whole counter sale in one statement: its answer as JSON, or None (nothing written)."""
    return await Sql(session).value(str, _SUBMIT, *_arguments(call))


async def submit_committed(engine: AsyncEngine, call: OneCall) -> str | None:
    """The same statement in a transaction of its own on a pooled connection, without an ORM session (the
    sale's lane): PostgreSQL's implicit transaction, committed when the statement answers, with no BEGIN
    and COMMIT round trips of their own. The answer is committed when this returns; None: nothing was
    written (a refusal commits nothing). Without a session there is no SQLAlchemy transaction, result or
    greenlet around the call, and the commit follows the call at once (the items' rows it locked are held
    no longer than that)."""
    async with raw_connection(engine) as driver:
        answer = await driver.fetchval(_SUBMIT, *_arguments(call))
    return checked(str, answer)


@dataclass(frozen=True, slots=True)
class RedemptionRow:
    village_id: uuid.UUID
    id: uuid.UUID
    receipt_no: int
    store_id: uuid.UUID
    household_id: uuid.UUID
    household_code: str
    status: str
    total_points: int
    transaction_id: uuid.UUID
    clerk_id: uuid.UUID
    created_at: datetime
    cancel_transaction_id: uuid.UUID | None
    cancelled_at: datetime | None
    cancel_reason: str | None


_REDEMPTION = """
SELECT r.village_id, r.id, r.receipt_no, r.store_id, r.household_id, h.code AS household_code, r.status,
       r.total_points,
       r.transaction_id, r.clerk_id, r.created_at, r.cancel_transaction_id, r.cancelled_at, r.cancel_reason
  FROM redemptions r JOIN households h ON h.village_id = r.village_id AND h.id = r.household_id
"""


async def get_redemption(session: AsyncSession, redemption_id: uuid.UUID) -> RedemptionRow | None:
    return await Sql(session).row(RedemptionRow, _REDEMPTION + " WHERE r.id = $1", redemption_id)


async def lock_redemption(
    session: AsyncSession, village_id: uuid.UUID, redemption_id: uuid.UUID
) -> RedemptionRow:
    row = await Sql(session).row(
        RedemptionRow,
        _REDEMPTION + " WHERE r.village_id = $1 AND r.id = $2 FOR UPDATE OF r",
        village_id,
        redemption_id,
    )
    return present(row)


_RECORD_CANCEL = """
WITH returned AS (
    UPDATE items i SET on_hand = i.on_hand + rl.quantity
      FROM redemption_lines rl
     WHERE rl.village_id = $1 AND rl.redemption_id = $2 AND i.village_id = $1 AND i.id = rl.item_id
    RETURNING i.id, rl.quantity, i.on_hand
), movements AS (
    INSERT INTO stock_movements (village_id, item_id, kind, quantity, on_hand_after, reason, actor_id,
                                 redemption_id, created_at)
    SELECT $1, returned.id, 'cancel', returned.quantity, returned.on_hand, $5, $4, $2, $6 FROM returned
), cancelled AS (
    UPDATE redemptions SET status = 'cancelled', cancel_transaction_id = $3, cancelled_at = $6,
                           cancelled_by = $4, cancel_reason = $5
     WHERE village_id = $1 AND id = $2
    RETURNING household_id
)
SELECT (SELECT posted FROM accounts a WHERE a.village_id = $1 AND a.id = cancelled.household_id)
  FROM cancelled
"""


async def record_cancel(
    session: AsyncSession,
    *,
    village_id: uuid.UUID,
    redemption_id: uuid.UUID,
    transaction_id: uuid.UUID,
    actor_id: uuid.UUID,
    reason: str,
    at: datetime,
) -> int:
    """Stock back on the shelf, the cancel movements and the redemption marked cancelled; returns the
    household's balance after."""
    balance = await Sql(session).value(
        int, _RECORD_CANCEL, village_id, redemption_id, transaction_id, actor_id, reason, at
    )
    return present(balance)


async def cancel_window_minutes(session: AsyncSession, village_id: uuid.UUID) -> int:
    minutes = await Sql(session).value(
        int, "SELECT cancel_window_minutes FROM villages WHERE id = $1", village_id
    )
    return present(minutes)


_SALES = """
SELECT r.id, r.receipt_no, r.status, r.household_id, h.code AS household_code, h.head_name, r.total_points,
       (SELECT count(*) FROM redemption_lines rl
         WHERE rl.village_id = r.village_id AND rl.redemption_id = r.id)
         AS lines,
       r.created_at, r.cancelled_at
  FROM redemptions r JOIN households h ON h.village_id = r.village_id AND h.id = r.household_id
 WHERE r.village_id = $1 AND r.store_id = $2
   AND ($3::timestamptz IS NULL OR (r.created_at, r.id) < ($3, $4::uuid))
   AND ($5::timestamptz IS NULL OR r.created_at >= $5)
 ORDER BY r.created_at DESC, r.id DESC
 LIMIT $6
"""


async def sales(
    session: AsyncSession,
    village_id: uuid.UUID,
    store_id: uuid.UUID,
    before: tuple[datetime, uuid.UUID] | None,
    since: datetime | None,
    limit: int,
) -> list[SaleOut]:
    """A store's sales, newest first: those before `before` (a page's last), at or after `since`."""
    created_at, sale_id = before if before is not None else (None, None)
    return await Sql(session).rows(SaleOut, _SALES, village_id, store_id, created_at, sale_id, since, limit)
