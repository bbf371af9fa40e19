"""Every query of the store, typed rows through `Sql` in the request's transaction (the counter's hot path
sends its statements straight to asyncpg: see kit/sql.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit.pagination import key_args
from jifen.kit.sql import Sql, columns_of, present, unnest_args
from jifen.models import Hold, Item, Store

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ItemRow:
    id: uuid.UUID
    store_id: uuid.UUID
    village_id: uuid.UUID
    name: str
    unit: str
    category: str | None
    price_points: int
    on_hand: int
    reserved: int
    limit_count: int | None
    limit_period: str | None
    active: bool
    picture_url: str | None
    created_at: datetime

    @property
    def limit(self) -> tuple[int, str] | None:
        """(units, period) of the per-household limit, if any (the table sets both or neither)."""
        if self.limit_count is None or self.limit_period is None:
            return None
        return self.limit_count, self.limit_period


ITEM_COLUMNS = columns_of(ItemRow)


@dataclass(frozen=True, slots=True)
class LineRow:
    """A line of a sale or a reservation, with the item's name."""

    item_id: uuid.UUID
    name: str
    quantity: int
    price_points: int
    line_points: int


async def get_store(session: AsyncSession, store_id: uuid.UUID) -> Store | None:
    store: Store | None = (
        await session.execute(select(Store).where(Store.id == store_id))
    ).scalar_one_or_none()
    return store


async def add_store(session: AsyncSession, village_id: uuid.UUID, name: str) -> Store:
    store = Store(village_id=village_id, name=name)
    session.add(store)
    await session.flush()
    return store


class StoreRef(Protocol):
    """A store where only which store it is matters (a `Store` or a `StoreLine`)."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def village_id(self) -> uuid.UUID: ...


@dataclass(frozen=True, slots=True)
class StoreLine:
    """A store as the lists show it (the ORM's `Store` is for one being changed)."""

    village_id: uuid.UUID
    id: uuid.UUID
    name: str
    active: bool
    created_at: datetime


async def village_stores(session: AsyncSession, village_id: uuid.UUID) -> list[StoreLine]:
    return await Sql(session).rows(
        StoreLine,
        "SELECT village_id, id, name, active, created_at FROM stores WHERE village_id = $1"
        " ORDER BY created_at, id",
        village_id,
    )


async def get_item(session: AsyncSession, item_id: uuid.UUID) -> Item | None:
    return (await session.execute(select(Item).where(Item.id == item_id))).scalar_one_or_none()


async def insert_item(session: AsyncSession, values: dict[str, Any]) -> ItemRow:
    row = await Sql(session).row(
        ItemRow,
        f"""
        INSERT INTO items (village_id, id, store_id, name, unit, category, price_points, on_hand, limit_count,
                           limit_period, active, picture_url)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        RETURNING {ITEM_COLUMNS}
        """,
        values["village_id"],
        values["id"],
        values["store_id"],
        values["name"],
        values["unit"],
        values["category"],
        values["price_points"],
        values["on_hand"],
        values["limit_count"],
        values["limit_period"],
        values["active"],
        values["picture_url"],
    )
    return present(row)


async def list_items(
    session: AsyncSession,
    village_id: uuid.UUID,
    store_id: uuid.UUID,
    *,
    after: tuple[str, uuid.UUID] | None,
    limit: int,
    active_only: bool,
) -> list[ItemRow]:
    return await Sql(session).rows(
        ItemRow,
        f"""
        SELECT {ITEM_COLUMNS} FROM items
         WHERE village_id = $1 AND store_id = $2 AND ($3::text IS NULL OR (name, id) > ($3, $4::uuid))
           AND (NOT $5 OR active)
         ORDER BY name, id
         LIMIT $6
        """,
        village_id,
        store_id,
        *key_args(after),
        active_only,
        limit,
    )


async def lock_item(session: AsyncSession, village_id: uuid.UUID, item_id: uuid.UUID) -> ItemRow:
    return present(
        await Sql(session).row(
            ItemRow,
            f"SELECT {ITEM_COLUMNS} FROM items WHERE village_id = $1 AND id = $2 FOR UPDATE",
            village_id,
            item_id,
        )
    )


async def update_item(
    session: AsyncSession, village_id: uuid.UUID, item_id: uuid.UUID, row: ItemRow
) -> ItemRow:
    updated = await Sql(session).row(
        ItemRow,
        f"""
        UPDATE items SET name = $3, unit = $4, category = $5, price_points = $6, limit_count = $7,
                         limit_period = $8, active = $9, picture_url = $10
         WHERE village_id = $1 AND id = $2
        RETURNING {ITEM_COLUMNS}
        """,
        village_id,
        item_id,
        row.name,
        row.unit,
        row.category,
        row.price_points,
        row.limit_count,
        row.limit_period,
        row.active,
        row.picture_url,
    )
    return present(updated)


_MOVE_STOCK = f"""
WITH moved AS (
    UPDATE items SET on_hand = on_hand + $3 WHERE village_id = $1 AND id = $2
    RETURNING {ITEM_COLUMNS}
), movement AS (
    INSERT INTO stock_movements (village_id, item_id, kind, quantity, on_hand_after, reason, actor_id)
    SELECT $1, moved.id, $4, $3, moved.on_hand, $5, $6 FROM moved
)
SELECT {ITEM_COLUMNS} FROM moved
"""


async def move_stock(
    session: AsyncSession,
    *,
    village_id: uuid.UUID,
    item_id: uuid.UUID,
    quantity: int,
    kind: str,
    reason: str | None,
    actor_id: uuid.UUID,
) -> ItemRow:
    """Change an item's stock and write the movement that says so, in one statement."""
    return present(
        await Sql(session).row(ItemRow, _MOVE_STOCK, village_id, item_id, quantity, kind, reason, actor_id)
    )


@dataclass(frozen=True, slots=True)
class HouseholdRef:
    id: uuid.UUID
    village_id: uuid.UUID
    code: str


async def household(
    session: AsyncSession, village_id: uuid.UUID, *, household_id: uuid.UUID | None, code: str | None
) -> HouseholdRef | None:
    by, key = ("id", household_id) if household_id is not None else ("code", code)
    return await Sql(session).row(
        HouseholdRef,
        f"SELECT id, village_id, code FROM households WHERE village_id = $1 AND {by} = $2",
        village_id,
        key,
    )


async def lock_items(
    session: AsyncSession, village_id: uuid.UUID, item_ids: Sequence[uuid.UUID]
) -> list[ItemRow]:
    """Lock the items in id order: two baskets sharing items always queue, never deadlock."""
    return await Sql(session).rows(
        ItemRow,
        f"SELECT {ITEM_COLUMNS} FROM items WHERE village_id = $1 AND id = ANY($2::uuid[])"
        " ORDER BY id FOR UPDATE",
        village_id,
        list(item_ids),
    )


_TAKEN = """
SELECT w.item_id,
       (SELECT coalesce(sum(rl.quantity), 0)
          FROM redemptions r
          JOIN redemption_lines rl ON rl.village_id = r.village_id AND rl.redemption_id = r.id
         WHERE r.village_id = $1 AND r.household_id = $2 AND r.created_at >= w.since
           AND r.created_at < w.until AND r.status = 'completed' AND rl.item_id = w.item_id)::bigint AS sold,
       (SELECT coalesce(sum(rl.quantity), 0)
          FROM reservations r
          JOIN reservation_lines rl ON rl.village_id = r.village_id AND rl.reservation_id = r.id
         WHERE r.village_id = $1 AND r.household_id = $2 AND r.status = 'active' AND r.expires_at > $6
           AND r.id IS DISTINCT FROM $7::uuid AND rl.item_id = w.item_id)::bigint AS promised
  FROM unnest($3::uuid[], $4::timestamptz[], $5::timestamptz[]) AS w(item_id, since, until)
"""


@dataclass(frozen=True, slots=True)
class _Taken:
    item_id: uuid.UUID
    sold: int
    promised: int


async def taken_by_household(
    session: AsyncSession,
    village_id: uuid.UUID,
    household_id: uuid.UUID,
    windows: Sequence[tuple[uuid.UUID, datetime, datetime]],
    *,
    now: datetime,
    except_reservation: uuid.UUID | None,
) -> dict[uuid.UUID, tuple[int, int]]:
    """Per item: (units the household took in completed sales within [since, until), units on its active
    reservations not yet expired at `now`, leaving out `except_reservation`)."""
    rows = await Sql(session).rows(
        _Taken,
        _TAKEN,
        village_id,
        household_id,
        *unnest_args(windows, 3),
        now,
        except_reservation,
    )
    return {row.item_id: (row.sold, row.promised) for row in rows}


async def set_reserved(
    session: AsyncSession, village_id: uuid.UUID, item_ids: list[uuid.UUID], deltas: list[int]
) -> None:
    """Set units aside for reservations (positive) or give them back (negative)."""
    await Sql(session).execute(
        """
        UPDATE items i SET reserved = i.reserved + l.delta
          FROM unnest($2::uuid[], $3::integer[]) AS l(item_id, delta)
         WHERE i.village_id = $1 AND i.id = l.item_id
        """,
        village_id,
        item_ids,
        deltas,
    )


async def redemption_lines(
    session: AsyncSession, village_id: uuid.UUID, redemption_id: uuid.UUID
) -> list[LineRow]:
    return await lines_of(session, "redemption", village_id, redemption_id)


async def lines_of(
    session: AsyncSession,
    of: Literal["redemption", "reservation"],
    village_id: uuid.UUID,
    parent_id: uuid.UUID,
) -> list[LineRow]:
    """The lines of a sale or a reservation, by item id, with the items' names."""
    return await Sql(session).rows(
        LineRow,
        f"""
        SELECT rl.item_id, i.name, rl.quantity, rl.price_points, rl.line_points
          FROM {of}_lines rl JOIN items i ON i.village_id = rl.village_id AND i.id = rl.item_id
         WHERE rl.village_id = $1 AND rl.{of}_id = $2
         ORDER BY rl.item_id
        """,
        village_id,
        parent_id,
    )


@dataclass(frozen=True, slots=True)
class ParentLineRow:
    """A line as `LineRow`, with the sale or reservation it belongs to."""

    parent_id: uuid.UUID
    item_id: uuid.UUID
    name: str
    quantity: int
    price_points: int
    line_points: int


async def lines_of_many(
    session: AsyncSession,
    of: Literal["redemption", "reservation"],
    village_id: uuid.UUID,
    parent_ids: list[uuid.UUID],
) -> dict[uuid.UUID, list[LineRow]]:
    """The lines of several sales or reservations in one statement (a list page), by parent."""
    rows = await Sql(session).rows(
        ParentLineRow,
        f"""
        SELECT rl.{of}_id AS parent_id, rl.item_id, i.name, rl.quantity, rl.price_points, rl.line_points
          FROM {of}_lines rl JOIN items i ON i.village_id = rl.village_id AND i.id = rl.item_id
         WHERE rl.village_id = $1 AND rl.{of}_id = ANY($2::uuid[])
         ORDER BY rl.{of}_id, rl.item_id
        """,
        village_id,
        parent_ids,
    )
    out: dict[uuid.UUID, list[LineRow]] = {parent: [] for parent in parent_ids}
    for r in rows:
        out[r.parent_id].append(LineRow(r.item_id, r.name, r.quantity, r.price_points, r.line_points))
    return out


async def set_store(session: AsyncSession, store: Store, *, name: str, active: bool) -> None:
    await Sql(session).execute(
        "UPDATE stores SET name = $3, active = $4 WHERE village_id = $1 AND id = $2",
        store.village_id,
        store.id,
        name,
        active,
    )


async def hold(session: AsyncSession, village_id: uuid.UUID, hold_id: uuid.UUID) -> Hold:
    """A reservation's hold (the reservation, locked first, names it: it is there)."""
    return present(await session.get(Hold, (village_id, hold_id)))
