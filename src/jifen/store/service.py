"""The points supermarket (积分超市): stores, the catalogue and its stock, sales at the counter and their
cancellation. Points move through the ledger (household → the store's account); stock moves as append-only
movements beside `items.on_hand`, in the same transaction. Every sale path (here the counter, in
reservations.py the reservation and its pickup) checks and takes its basket through `basket.check_out`: the
items locked in id order before the household's account (the ledger). A cancellation locks the redemption,
then the items, then the account: the same order everywhere, so sales queue and never deadlock."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.audit import service as audit
from jifen.auth.actor import Actor
from jifen.kit import timeutil
from jifen.kit.errors import Conflict, Forbidden, found
from jifen.kit.schemas import out_of
from jifen.ledger import service as ledger
from jifen.models import Period, RedemptionStatus, Store, TransactionKind, VillageView
from jifen.outbox import repository as outbox
from jifen.store import basket, repository
from jifen.store.repository import HouseholdRef, ItemRow, LineRow
from jifen.store.repository import sales as sale_rows
from jifen.store.repository.sales import RedemptionRow
from jifen.store.schemas import (
    ItemCreate,
    ItemLimit,
    ItemOut,
    ItemPatch,
    RedemptionLineIn,
    RedemptionLineOut,
    RedemptionOut,
    receipt_number,
)


class AlreadyCancelled(Conflict, code="already_cancelled", detail="该笔兑换已经取消过"): ...


class CancelWindowClosed(
    Forbidden, code="cancel_window_closed", detail="已超过店员可取消的时限，请联系村管理员"
): ...


# ---------------------------------------------------------------------------------------------- stores


async def create_store(session: AsyncSession, actor: Actor, village: VillageView, *, name: str) -> Store:
    """A points supermarket with its own ledger account (what it takes in redemptions)."""
    store = await repository.add_store(session, village.id, name)
    await ledger.open_store_account(session, village.id, store.id)
    await audit.record(session, actor, village.id, "store.create", store.id, after={"name": name})
    return store


async def list_stores(session: AsyncSession, village_id: uuid.UUID) -> list[repository.StoreLine]:
    """The village's stores (the caller has checked the village: a page needs its id only)."""
    return await repository.village_stores(session, village_id)


async def change_store(
    session: AsyncSession, actor: Actor, store: Store, *, name: str | None, active: bool | None
) -> Store:
    """Rename, pause (active = false) or reopen a store."""
    new_name = store.name if name is None else name
    new_active = store.active if active is None else active
    before = {"name": store.name, "active": store.active}
    after = {"name": new_name, "active": new_active}
    if after != before:
        await repository.set_store(session, store, name=new_name, active=new_active)
        await audit.record(
            session, actor, store.village_id, "store.change", store.id, before=before, after=after
        )
        await session.refresh(store)
    return store


# ---------------------------------------------------------------------------------------------- items


def item_out(row: ItemRow) -> ItemOut:
    limit = None if row.limit is None else ItemLimit(count=row.limit[0], period=Period(row.limit[1]))
    return out_of(ItemOut, row, stock=row.on_hand, available=row.on_hand - row.reserved, limit=limit)


def _item_record(row: ItemRow) -> dict[str, Any]:
    return {
        "name": row.name,
        "price_points": row.price_points,
        "unit": row.unit,
        "category": row.category,
        "limit": None if row.limit_count is None else [row.limit_count, row.limit_period],
        "active": row.active,
        "picture_url": row.picture_url,
    }


async def create_item(session: AsyncSession, actor: Actor, store: Store, body: ItemCreate) -> ItemOut:
    """An item on the store's shelf; its opening stock is the first restock movement."""
    item_id = uuid.uuid4()
    row = await repository.insert_item(
        session,
        {
            "village_id": store.village_id,
            "id": item_id,
            "store_id": store.id,
            "name": body.name,
            "unit": body.unit,
            "category": body.category,
            "price_points": body.price_points,
            "on_hand": 0,
            "limit_count": body.limit.count if body.limit else None,
            "limit_period": body.limit.period.value if body.limit else None,
            "active": body.active,
            "picture_url": body.picture_url,
        },
    )
    if body.stock > 0:
        row = await _restock(session, actor, store, item_id, body.stock, "上架初始库存")
    await audit.record(
        session,
        actor,
        store.village_id,
        "item.create",
        item_id,
        after={**_item_record(row), "store_id": store.id, "stock": row.on_hand},
    )
    return item_out(row)


async def _restock(
    session: AsyncSession, actor: Actor, store: Store, item_id: uuid.UUID, quantity: int, reason: str | None
) -> ItemRow:
    """Add to an item's stock, with the movement that says so."""
    return await repository.move_stock(
        session,
        village_id=store.village_id,
        item_id=item_id,
        quantity=quantity,
        kind="restock",
        reason=reason,
        actor_id=actor.user_id,
    )


async def list_items(
    session: AsyncSession,
    store: repository.StoreRef,
    *,
    after: tuple[str, uuid.UUID] | None,
    limit: int,
    active_only: bool,
) -> list[ItemOut]:
    rows = await repository.list_items(
        session, store.village_id, store.id, after=after, limit=limit, active_only=active_only
    )
    return [item_out(row) for row in rows]


async def restock(
    session: AsyncSession, actor: Actor, store: Store, item_id: uuid.UUID, *, quantity: int, note: str | None
) -> ItemOut:
    row = await _restock(session, actor, store, item_id, quantity, note)
    await audit.record(
        session,
        actor,
        store.village_id,
        "item.restock",
        item_id,
        before={"stock": row.on_hand - quantity},
        after={"stock": row.on_hand, "quantity": quantity},
        reason=note,
    )
    return item_out(row)


async def change_item(
    session: AsyncSession, actor: Actor, store: Store, item_id: uuid.UUID, patch: ItemPatch
) -> ItemOut:
    """Change what was sent; sales already made keep the price they were made at."""
    current = await repository.lock_item(session, store.village_id, item_id)
    updates: dict[str, Any] = {}
    for field in patch.model_fields_set:
        if field == "limit":
            updates["limit_count"] = patch.limit.count if patch.limit else None
            updates["limit_period"] = patch.limit.period.value if patch.limit else None
        elif field in ("name", "price_points", "active") and getattr(patch, field) is None:
            continue  # these can't be emptied
        else:
            updates[field] = getattr(patch, field)
    changed = dataclasses.replace(current, **updates)
    before, after = _item_record(current), _item_record(changed)
    if before == after:
        return item_out(current)
    row = await repository.update_item(session, store.village_id, item_id, changed)
    await audit.record(
        session,
        actor,
        store.village_id,
        "item.change",
        item_id,
        before={k: v for k, v in before.items() if after[k] != v},
        after={k: v for k, v in after.items() if before[k] != v},
    )
    return item_out(row)


# ---------------------------------------------------------------------------------------------- redemptions


async def find_household(
    session: AsyncSession, store: Store, *, household_id: uuid.UUID | None, code: str | None
) -> HouseholdRef:
    household = found(
        await repository.household(session, store.village_id, household_id=household_id, code=code),
        f"找不到编号为 {code} 的户" if code else "找不到该户",
    )
    return household


def basket_of(lines: Sequence[RedemptionLineIn]) -> dict[uuid.UUID, int]:
    """Units by item, in id order; the same item twice in a basket counts as one line."""
    basket: dict[uuid.UUID, int] = {}
    for line in lines:
        basket[line.item_id] = basket.get(line.item_id, 0) + line.quantity
    return dict(sorted(basket.items()))


async def redeem(
    session: AsyncSession,
    actor: Actor,
    store: Store,
    household: HouseholdRef,
    lines: Sequence[RedemptionLineIn],
) -> RedemptionOut:
    """Sell a basket at the counter: points, stock and limits change together, or nothing does."""
    now = timeutil.utcnow()
    checked = await basket.check_out(
        session, actor, store, household.id, basket_of(lines), now=now, path=basket.CounterSale()
    )
    return await completed_sale(session, actor, store, household.id, household.code, checked)


async def completed_sale(
    session: AsyncSession,
    actor: Actor,
    store: Store,
    household_id: uuid.UUID,
    household_code: str,
    checked: basket.CheckedOut,
    *,
    reservation_id: uuid.UUID | None = None,
) -> RedemptionOut:
    """A basket sold, at the counter or at a pickup (`reservation_id`): its receipt as the API answers it,
    and the sale's audit record."""
    sale = checked.sale
    assert sale is not None
    out = RedemptionOut(
        id=sale.redemption_id,
        receipt_no=receipt_number(sale.receipt_no),
        status=RedemptionStatus.completed,
        store_id=store.id,
        household_id=household_id,
        household_code=household_code,
        total_points=checked.total,
        lines=line_outs(checked.lines),
        transaction_id=sale.transaction_id,
        balance_after=sale.balance_after,
        clerk_id=actor.user_id,
        created_at=sale.created_at,
    )
    after: dict[str, object] = {
        "receipt_no": out.receipt_no,
        "store_id": store.id,
        "household_id": household_id,
        "total_points": checked.total,
        "transaction_id": sale.transaction_id,
    }
    if reservation_id is not None:
        after["reservation_id"] = reservation_id
    after["lines"] = [[str(line.item_id), line.quantity, line.price_points] for line in checked.lines]
    await audit.record(
        session, actor, store.village_id, "redemption.complete", sale.redemption_id, after=after
    )
    await outbox.record_one(session, store.village_id, sale_event(outbox.Kind.sale_completed, out, store))
    return out


def sale_event(kind: outbox.Kind, sale: RedemptionOut, store: Store) -> outbox.Event:
    """A sale or its cancellation, as the household hears of it."""
    payload = {
        "redemption_id": sale.id,
        "receipt_no": sale.receipt_no,
        "store": store.name,
        "total_points": sale.total_points,
        "balance_after": sale.balance_after,
        "lines": [[line.name, line.quantity] for line in sale.lines],
    }
    return outbox.Event(kind, sale.household_id, payload)


def line_outs(lines: Sequence[LineRow]) -> list[RedemptionLineOut]:
    return [out_of(RedemptionLineOut, line) for line in lines]


async def redemption_out(
    session: AsyncSession, redemption: RedemptionRow, balance_after: int
) -> RedemptionOut:
    lines = await repository.redemption_lines(session, redemption.village_id, redemption.id)
    return out_of(
        RedemptionOut,
        redemption,
        status=RedemptionStatus(redemption.status),
        lines=[out_of(RedemptionLineOut, line) for line in lines],
        balance_after=balance_after,
    )


async def cancel(
    session: AsyncSession,
    actor: Actor,
    store: Store,
    redemption_id: uuid.UUID,
    *,
    reason: str,
    as_admin: bool,
) -> RedemptionOut:
    """Give the points and the goods back, as new linked records, once. A clerk may do it within the
    village's window after the sale; a village admin at any time."""
    village_id = store.village_id
    redemption = await sale_rows.lock_redemption(session, village_id, redemption_id)
    if redemption.status == RedemptionStatus.cancelled.value:
        when = timeutil.to_local(redemption.cancelled_at or redemption.created_at)
        raise AlreadyCancelled(f"该笔兑换已于 {when:%Y-%m-%d %H:%M} 取消")
    now = timeutil.utcnow()
    if not as_admin:
        minutes = await sale_rows.cancel_window_minutes(session, village_id)
        if now - redemption.created_at > timedelta(minutes=minutes):
            raise CancelWindowClosed(f"店员只能在兑换后 {minutes} 分钟内取消，请联系村管理员")
    total = redemption.total_points
    draft = ledger.Draft(
        kind=TransactionKind.redemption_cancel,
        lines=[ledger.Line(store.id, -total), ledger.Line(redemption.household_id, total)],
        memo=f"取消兑换（小票 {receipt_number(redemption.receipt_no)}）",
        source_type="redemption",
        source_id=redemption_id,
        reason=reason,
    )
    # the sale's transaction is compensated once: a reversal that came first refuses the cancellation
    await ledger.claim(
        session,
        actor,
        village_id,
        source_id=redemption.transaction_id,
        draft=draft,
        kind=ledger.CompensationKind.cancellation,
        amount=total,
        same_path=AlreadyCancelled,
    )
    lines = await repository.redemption_lines(session, village_id, redemption_id)
    await repository.lock_items(session, village_id, [line.item_id for line in lines])
    await ledger.post(session, actor, village_id, [draft])
    balance_after = await sale_rows.record_cancel(
        session,
        village_id=village_id,
        redemption_id=redemption_id,
        transaction_id=draft.id,
        actor_id=actor.user_id,
        reason=reason,
        at=now,
    )
    await audit.record(
        session,
        actor,
        village_id,
        "redemption.cancel",
        redemption_id,
        before={"status": "completed"},
        after={"status": "cancelled", "cancel_transaction_id": draft.id, "total_points": total},
        reason=reason,
    )
    cancelled = await sale_rows.get_redemption(session, redemption_id)
    assert cancelled is not None
    out = await redemption_out(session, cancelled, balance_after)
    await outbox.record_one(session, village_id, sale_event(outbox.Kind.sale_cancelled, out, store))
    return out


async def household_balance(session: AsyncSession, redemption: RedemptionRow) -> int:
    return (await ledger.balance(session, redemption.household_id)).posted
