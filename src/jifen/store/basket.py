"""One basket check for every way goods leave the points supermarket: a sale at the counter, a reservation
on the phone (预约兑换) and its pickup at the counter (核销) all go through `check_out`, so they cannot drift
apart (two copies once did, and a household could take twice its limit).

`check_out` takes the locks in the store's one order — the items in id order, then the household's account
(inside the ledger) — and then checks, in this order:

1. stock: what is on the shelf and not promised to a reservation (a pickup may take its own units);
2. the household's per-item limits, in the limit's local (Asia/Shanghai) period: units in completed sales
   of the period + units on its active, unexpired reservations (except the one being picked up) + this
   basket;
3. points: posted, held or captured by the ledger, which refuses to go below zero.

Then it writes the movements: the sale and its stock movements, or the units set aside. Any refusal raises
before the ledger or the shelf changed, and the request's transaction rolls back whatever it had begun."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.auth.actor import Actor
from jifen.kit.db import unique_or
from jifen.kit.errors import Conflict, NotFound
from jifen.kit.periods import PERIOD_NAMES, window
from jifen.ledger import service as ledger
from jifen.models import Hold, Period, Store, TransactionKind
from jifen.store import repository
from jifen.store.repository import ItemRow, LineRow
from jifen.store.repository import sales as sale_rows

T = TypeVar("T")


class StorePaused(Conflict, code="store_paused", detail="该积分超市已暂停营业"): ...


class ItemInactive(Conflict, code="item_inactive", detail="该商品已下架"): ...


class OutOfStock(Conflict, code="out_of_stock", detail="库存不足"): ...


class LimitExceeded(Conflict, code="limit_exceeded", detail="超出该商品每户限购数量"): ...


@dataclass(frozen=True)
class CounterSale:
    """Sold at the counter now, at today's prices: the points are posted to the store."""


@dataclass(frozen=True)
class NewReservation:
    """Promised for a later pickup: the points are held and the units set aside."""

    reservation_id: uuid.UUID


@dataclass(frozen=True)
class Pickup:
    """A reservation turned into a sale, at the prices it was reserved at: its hold is captured and its
    units leave the shelf. The caller has locked the reservation (it comes first in the lock order)."""

    reservation_id: uuid.UUID
    hold_id: uuid.UUID
    prices: Mapping[uuid.UUID, int]


@dataclass(frozen=True)
class Sale:
    redemption_id: uuid.UUID
    transaction_id: uuid.UUID
    receipt_no: int
    balance_after: int
    created_at: datetime


@dataclass(frozen=True)
class CheckedOut:
    lines: list[LineRow]
    total: int
    sale: Sale | None  # a counter sale or a pickup
    hold: Hold | None  # a new reservation's


def _limit_detail(name: str, count: int, period: str, sold: int, promised: int, left: int) -> str:
    taken = f"本期已兑 {sold}" + (f"、已预约 {promised}" if promised else "")
    return f"“{name}”每户每{PERIOD_NAMES[period].unit}限兑 {count}，{taken}，还可兑 {left}"


async def check_out(
    session: AsyncSession,
    actor: Actor,
    store: Store,
    household_id: uuid.UUID,
    wanted: Mapping[uuid.UUID, int],
    *,
    now: datetime,
    path: CounterSale | NewReservation | Pickup,
) -> CheckedOut:
    """Check and take a basket (`wanted`: units by item) for the household, by one of the three paths."""
    if not store.active:
        raise StorePaused(f"“{store.name}”已暂停营业")
    basket = dict(sorted(wanted.items()))
    items = {row.id: row for row in await repository.lock_items(session, store.village_id, list(basket))}
    pickup = path if isinstance(path, Pickup) else None
    lines, windows = _checked_lines(store, items, basket, pickup, now)
    if windows:
        await _check_limits(session, store.village_id, household_id, items, basket, windows, now, pickup)
    total = sum(line.line_points for line in lines)
    taking = _Taking(store, household_id, basket, lines, total)
    if isinstance(path, NewReservation):
        return CheckedOut(
            lines=lines, total=total, sale=None, hold=await _set_aside(session, actor, taking, path)
        )
    sale = await _sell(session, actor, taking, now, pickup)
    return CheckedOut(lines=lines, total=total, sale=sale, hold=None)


_Window = tuple[uuid.UUID, datetime, datetime]


def _checked_lines(
    store: Store,
    items: Mapping[uuid.UUID, ItemRow],
    basket: dict[uuid.UUID, int],
    pickup: Pickup | None,
    now: datetime,
) -> tuple[list[LineRow], list[_Window]]:
    """Step 1: each item is this store's, on sale (unless picked up) and in stock; its line at its price,
    and the limit window of each limited item."""
    own = basket if pickup else {}  # a pickup's units are already set aside for it
    lines: list[LineRow] = []
    windows: list[_Window] = []
    for item_id, quantity in basket.items():
        item = items.get(item_id)
        if item is None or item.store_id != store.id:
            raise NotFound("本店没有该商品", item_id=str(item_id))
        if pickup is None and not item.active:  # goods already set aside may still be handed over
            raise ItemInactive(f"“{item.name}”已下架", item_id=str(item_id))
        left = item.on_hand - item.reserved + own.get(item_id, 0)
        # stock never negative. SQL twin: migrations/versions/0004_store.py ck_items_on_hand and
        # 0007_reservations.py ck_items_reserved (reserved <= on_hand), reached only through `_stock`
        if left < quantity:
            raise OutOfStock(
                f"“{item.name}”库存不足：剩 {left}，要 {quantity}", item_id=str(item_id), stock=left
            )
        if item.limit is not None:
            windows.append((item_id, *window(Period(item.limit[1]).value, now)))
        price = pickup.prices[item_id] if pickup else item.price_points
        lines.append(LineRow(item_id, item.name, quantity, price, quantity * price))
    return lines, windows


async def _check_limits(
    session: AsyncSession,
    village_id: uuid.UUID,
    household_id: uuid.UUID,
    items: Mapping[uuid.UUID, ItemRow],
    basket: dict[uuid.UUID, int],
    windows: list[_Window],
    now: datetime,
    pickup: Pickup | None,
) -> None:
    """Step 2: the household's per-item limits: sold + promised in the period + this basket."""
    # the items are locked: every other sale, reservation, pickup or release of them has committed
    # (and this statement sees it) or waits for this basket
    taken = await repository.taken_by_household(
        session,
        village_id,
        household_id,
        windows,
        now=now,
        except_reservation=pickup.reservation_id if pickup else None,
    )
    for item_id, _, _ in windows:
        item = items[item_id]
        assert item.limit is not None  # only a limited item has a window
        count, period = item.limit
        sold, promised = taken.get(item_id, (0, 0))
        left = max(count - sold - promised, 0)
        if basket[item_id] > left:
            raise LimitExceeded(
                _limit_detail(item.name, count, period, sold, promised, left),
                item_id=str(item_id),
                left=left,
            )


def _summary(lines: list[LineRow]) -> str:
    return "、".join(f"{line.name}×{line.quantity}" for line in lines)


@dataclass(frozen=True)
class _Taking:
    """A checked basket, about to be taken: the store, the household, units by item, its lines and total."""

    store: Store
    household_id: uuid.UUID
    basket: dict[uuid.UUID, int]
    lines: list[LineRow]
    total: int


async def _set_aside(session: AsyncSession, actor: Actor, taking: _Taking, path: NewReservation) -> Hold:
    """Step 3 for a reservation: the points held (the ledger refuses below zero), the units set aside."""
    hold = await ledger.place_hold(
        session,
        actor,
        ledger.HoldTerms(
            village_id=taking.store.village_id,
            household_id=taking.household_id,
            amount=taking.total,
            memo=f"预约兑换：{_summary(taking.lines)}"[:500],
            source_type="reservation",
            source_id=path.reservation_id,
        ),
    )
    await _stock(
        repository.set_reserved(
            session, taking.store.village_id, list(taking.basket), list(taking.basket.values())
        )
    )
    return hold


async def _sell(
    session: AsyncSession, actor: Actor, taking: _Taking, now: datetime, pickup: Pickup | None
) -> Sale:
    """Step 3 for a sale: the points posted to the store (a pickup captures its hold and releases its
    set-aside units), then the sale and its stock movements recorded."""
    village_id = taking.store.village_id
    redemption_id = uuid.uuid4()
    draft = ledger.Draft(
        kind=TransactionKind.redemption,
        lines=[ledger.Line(taking.household_id, -taking.total), ledger.Line(taking.store.id, taking.total)],
        memo=f"{'预约兑换核销' if pickup else '积分超市兑换'}：{_summary(taking.lines)}"[:500],
        source_type="redemption",
        source_id=redemption_id,
    )
    if pickup:
        held = await repository.hold(session, village_id, pickup.hold_id)
        await ledger.capture_hold(session, actor, held, draft)
        await _stock(
            repository.set_reserved(
                session, village_id, list(taking.basket), [-q for q in taking.basket.values()]
            )
        )
    else:
        await ledger.post(session, actor, village_id, [draft])
    row = await _stock(
        sale_rows.record_sale(
            session,
            {
                "village_id": village_id,
                "id": redemption_id,
                "store_id": taking.store.id,
                "household_id": taking.household_id,
                "total_points": taking.total,
                "transaction_id": draft.id,
                "clerk_id": actor.user_id,
                "created_at": now,
                "item_ids": [line.item_id for line in taking.lines],
                "quantities": [line.quantity for line in taking.lines],
                "prices": [line.price_points for line in taking.lines],
            },
        )
    )
    return Sale(redemption_id, draft.id, row.receipt_no, row.balance_after, row.created_at)


async def _stock(write: Awaitable[T]) -> T:
    """The shelf's CHECK constraints are the last line: never reached while the items are locked."""
    with unique_or(OutOfStock(), "ck_items_on_hand", "ck_items_reserved"):
        return await write
