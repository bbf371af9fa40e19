"""A store's sales, newest first: the clerk's list of today's receipts (to reprint or cancel one)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.pagination import BY_TIME_ID, Cursor, Limit, Page, list_route
from jifen.store.auth import StoreStaff
from jifen.store.repository import StoreRef
from jifen.store.repository import sales as sale_rows
from jifen.store.schemas import SaleOut

router = APIRouter(tags=["store"], route_class=AutoCommitRoute)


@list_route(router, "/stores/{store_id}/redemptions", Page[SaleOut])
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
    session: AsyncSession, store: StoreRef, since: datetime | None, cursor: str | None, limit: int
) -> Page[SaleOut]:
    """What `list_sales` answers, for the API and the clerk's page of today's sales."""
    rows = await sale_rows.sales(
        session, store.village_id, store.id, BY_TIME_ID.after(cursor), since, limit + 1
    )
    page = BY_TIME_ID.page(rows, limit, lambda row: (row.created_at, row.id))
    return Page(items=page.items, next_cursor=page.next_cursor)
