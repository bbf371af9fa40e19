"""A store's sales, newest first: the clerk's list of today's receipts (to reprint or cancel one)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit.db import AutoCommitRoute, Session, driver
from jifen.kit.errors import Forbidden, NotAuthenticated, NotFound, error_responses
from jifen.kit.pagination import BY_TIME_ID, Cursor, InvalidCursor, Limit, Page
from jifen.models import RedemptionStatus, Store
from jifen.store.auth import StoreStaff
from jifen.store.service import receipt_number

router = APIRouter(tags=["store"], route_class=AutoCommitRoute)


class SaleOut(BaseModel):
    id: uuid.UUID
    receipt_no: str
    status: RedemptionStatus
    household_id: uuid.UUID
    household_code: str
    head_name: str
    total_points: int
    lines: int
    created_at: datetime
    cancelled_at: datetime | None


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


@router.get(
    "/stores/{store_id}/redemptions",
    response_model=Page[SaleOut],
    responses=error_responses(NotAuthenticated, Forbidden, NotFound, InvalidCursor),
)
async def list_sales(
    access: StoreStaff,
    session: Session,
    since: Annotated[datetime | None, Query(description="only sales at or after this time")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[SaleOut]:
    """The store's sales (兑换记录), newest first, for its clerk and the village admin."""
    return await sales_page(session, access.store, since, cursor, limit)


async def sales_page(
    session: AsyncSession, store: Store, since: datetime | None, cursor: str | None, limit: int
) -> Page[SaleOut]:
    """What `list_sales` answers, for the API and the clerk's page of today's sales."""
    before = BY_TIME_ID.after(cursor) or (None, None)
    rows = await (await driver(session)).fetch(
        _SALES, store.village_id, store.id, before[0], before[1], since, limit + 1
    )
    items = [SaleOut(**{**dict(row), "receipt_no": receipt_number(row["receipt_no"])}) for row in rows]
    return BY_TIME_ID.page(items, limit, lambda sale: (sale.created_at, sale.id))
