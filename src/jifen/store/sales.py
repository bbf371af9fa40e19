"""A store's sales, newest first: the clerk's list of today's receipts (to reprint or cancel one)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from jifen.kit.db import AutoCommitRoute, Session, driver
from jifen.kit.errors import Forbidden, NotAuthenticated, NotFound, error_responses
from jifen.kit.pagination import Cursor, InvalidCursor, Limit, Page, decode_cursor, encode_cursor
from jifen.models import RedemptionStatus
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
    after = decode_cursor(cursor, 2)
    try:
        before = (datetime.fromisoformat(after[0]), uuid.UUID(after[1])) if after else (None, None)
    except ValueError:
        raise InvalidCursor() from None
    rows = await (await driver(session)).fetch(
        _SALES, access.store.village_id, access.store.id, before[0], before[1], since, limit + 1
    )
    items = [
        SaleOut(**{**dict(row), "receipt_no": receipt_number(row["receipt_no"])}) for row in rows[:limit]
    ]
    more = len(rows) > limit
    return Page(
        items=items,
        next_cursor=encode_cursor(items[-1].created_at.isoformat(), items[-1].id) if more else None,
    )
