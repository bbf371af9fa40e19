"""Who may do what at a store: the village admin runs the catalogue; the store's own clerk (and the village
admin) sells, restocks and cancels. A clerk of another store is refused; another village's user learns
nothing (404)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Protocol, TypeVar

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.auth.actor import VILLAGE_USERS, Actor
from jifen.auth.dependencies import CurrentActor, IdempotencyHeader, authorize, deferred_idempotency_key_of
from jifen.auth.scope import sees_pickup_code
from jifen.kit.db import Session
from jifen.kit.errors import BadRequest, Forbidden, NotFound, found
from jifen.kit.idempotency import CallerKey, valid_key
from jifen.models import Item, Role, Store
from jifen.store import repository, reservations
from jifen.store.repository import sales as sale_rows
from jifen.store.repository.reservations import ReservationRow
from jifen.store.repository.sales import RedemptionRow
from jifen.store.schemas import RedemptionCreate, ReservationCreate, ReservationRedeem


@dataclass(frozen=True)
class StoreAccess:
    actor: Actor
    store: Store


@dataclass(frozen=True)
class ItemAccess:
    actor: Actor
    store: Store
    item: Item


@dataclass(frozen=True)
class RedemptionAccess:
    actor: Actor
    store: Store
    redemption: RedemptionRow


def is_village_admin(actor: Actor, village_id: uuid.UUID) -> bool:
    return Role.village_admin in actor.roles_in(village_id)


def authorize_store_staff(actor: Actor, store: Store, *, town_admin: bool) -> None:
    """The village admin, or a clerk assigned to this very store."""
    if actor.is_town_admin:
        if town_admin:
            return
        raise Forbidden("镇管理员不能执行此门店操作")
    grants = actor.grants_in(store.village_id)
    if not grants:
        raise NotFound()
    if any(g.role is Role.village_admin for g in grants):
        return
    if any(g.role is Role.clerk and g.store_id == store.id for g in grants):
        return
    if any(g.role is Role.clerk for g in grants):
        raise Forbidden("您不是这家积分超市的店员")
    raise Forbidden()


async def load_store(session: Session, store_id: uuid.UUID) -> Store:
    """The store, or 404 (找不到该积分超市)."""
    store = found(await repository.get_store(session, store_id), "找不到该积分超市")
    return store


class _InStore(Protocol):
    @property
    def store_id(self) -> uuid.UUID: ...


InStore = TypeVar("InStore", bound=_InStore)


async def _with_store(session: Session, record: InStore | None, missing: str) -> tuple[InStore, Store]:
    """A record of a store (an item, a sale) and its store, or 404 saying what is `missing`."""
    record = found(record, missing)
    store = await repository.get_store(session, record.store_id)
    assert store is not None  # a record's store is never deleted
    return record, store


async def _item(session: Session, item_id: uuid.UUID) -> tuple[Item, Store]:
    return await _with_store(session, await repository.get_item(session, item_id), "找不到该商品")


async def store_admin(store_id: uuid.UUID, actor: CurrentActor, session: Session) -> StoreAccess:
    store = await load_store(session, store_id)
    authorize(actor, store.village_id, {Role.village_admin}, town_admin=True)
    return StoreAccess(actor=actor, store=store)


async def store_reader(store_id: uuid.UUID, actor: CurrentActor, session: Session) -> StoreAccess:
    store = await load_store(session, store_id)
    authorize(actor, store.village_id, VILLAGE_USERS, town_admin=True)
    return StoreAccess(actor=actor, store=store)


async def store_staff(store_id: uuid.UUID, actor: CurrentActor, session: Session) -> StoreAccess:
    """The store's own clerk or the village admin (its sales list)."""
    store = await load_store(session, store_id)
    authorize_store_staff(actor, store, town_admin=False)
    return StoreAccess(actor=actor, store=store)


async def item_admin(item_id: uuid.UUID, actor: CurrentActor, session: Session) -> ItemAccess:
    item, store = await _item(session, item_id)
    authorize(actor, store.village_id, {Role.village_admin}, town_admin=True)
    return ItemAccess(actor=actor, store=store, item=item)


async def item_stocker(item_id: uuid.UUID, actor: CurrentActor, session: Session) -> ItemAccess:
    item, store = await _item(session, item_id)
    authorize_store_staff(actor, store, town_admin=True)
    return ItemAccess(actor=actor, store=store, item=item)


async def cashier(body: RedemptionCreate, actor: CurrentActor, session: Session) -> StoreAccess:
    store = await load_store(session, body.store_id)
    authorize_store_staff(actor, store, town_admin=False)
    return StoreAccess(actor=actor, store=store)


@dataclass
class PendingCashier:
    """POST /redemptions: who may sell is checked only when the one-call sale (`sale_submit`, which checks it
    in the database) did not answer; then before the key, as always."""

    actor: Actor
    session: AsyncSession
    store_id: uuid.UUID
    header: str | None
    checked: Store | None = None

    async def village_id(self) -> uuid.UUID:
        self.checked = await load_store(self.session, self.store_id)
        authorize_store_staff(self.actor, self.checked, town_admin=False)
        valid_key(self.header)  # 404 and 403 before 400
        return self.checked.village_id

    @property
    def store(self) -> Store:
        assert self.checked is not None, "village_id() checks the access first"
        return self.checked


async def pending_cashier(
    body: RedemptionCreate, actor: CurrentActor, session: Session, key: IdempotencyHeader = None
) -> PendingCashier:
    return PendingCashier(actor, session, body.store_id, key)


async def _redemption(session: Session, redemption_id: uuid.UUID) -> tuple[RedemptionRow, Store]:
    redemption = await sale_rows.get_redemption(session, redemption_id)
    return await _with_store(session, redemption, "找不到该兑换记录")


async def redemption_canceller(
    redemption_id: uuid.UUID, actor: CurrentActor, session: Session
) -> RedemptionAccess:
    redemption, store = await _redemption(session, redemption_id)
    authorize_store_staff(actor, store, town_admin=False)
    return RedemptionAccess(actor=actor, store=store, redemption=redemption)


async def redemption_reader(
    redemption_id: uuid.UUID, actor: CurrentActor, session: Session
) -> RedemptionAccess:
    """The store's staff, the town admin, and the household's own villager."""
    redemption, store = await _redemption(session, redemption_id)
    if redemption.household_id not in actor.household_ids():
        if not actor.is_town_admin and Role.villager in actor.roles_in(store.village_id):
            if not actor.roles_in(store.village_id) - {Role.villager}:
                raise NotFound("找不到该兑换记录")
        authorize_store_staff(actor, store, town_admin=True)
    return RedemptionAccess(actor=actor, store=store, redemption=redemption)


@dataclass(frozen=True)
class ReserverAccess:
    actor: Actor
    store: Store
    household_id: uuid.UUID


@dataclass(frozen=True)
class ReservationAccess:
    actor: Actor
    store: Store
    reservation: ReservationRow

    @property
    def sees_pickup_code(self) -> bool:
        return sees_pickup_code(
            self.actor, self.store.village_id, self.store.id, self.reservation.household_id
        )


async def reserver(body: ReservationCreate, actor: CurrentActor, session: Session) -> ReserverAccess:
    """A villager reserves for their own household only; staff sell at the counter instead."""
    store = await load_store(session, body.store_id)
    if actor.is_town_admin:
        raise Forbidden("预约兑换由本户村民在手机上提交")
    grants = actor.grants_in(store.village_id)
    if not grants:
        raise NotFound("找不到该积分超市")
    own = {g.household_id for g in grants if g.role is Role.villager and g.household_id is not None}
    if not own:
        raise Forbidden("只有本户村民可以预约兑换")
    if body.household_id is not None:
        if body.household_id not in own:
            raise Forbidden("只能为自己家预约兑换")
        return ReserverAccess(actor=actor, store=store, household_id=body.household_id)
    if len(own) > 1:
        raise BadRequest("您关联了多个户，请指明 household_id")
    return ReserverAccess(actor=actor, store=store, household_id=next(iter(own)))


async def code_redeemer(body: ReservationRedeem, actor: CurrentActor, session: Session) -> StoreAccess:
    store = await load_store(session, body.store_id)
    authorize_store_staff(actor, store, town_admin=False)
    return StoreAccess(actor=actor, store=store)


async def _reservation_access(
    reservation_id: uuid.UUID, actor: Actor, session: Session, *, town_admin: bool
) -> ReservationAccess:
    """The household's own villager, or the store's staff; a villager of another household learns nothing."""
    reservation = await reservations.get_reservation(session, reservation_id)
    if reservation is None:
        raise reservations.ReservationNotFound("找不到该预约")
    store = await repository.get_store(session, reservation.store_id)
    assert store is not None
    own = {
        g.household_id
        for g in actor.grants_in(store.village_id)
        if g.role is Role.villager and g.household_id is not None
    }
    if reservation.household_id not in own:
        roles = actor.roles_in(store.village_id)
        if not actor.is_town_admin and roles and not roles - {Role.villager}:
            raise reservations.ReservationNotFound("找不到该预约")
        authorize_store_staff(actor, store, town_admin=town_admin)
    return ReservationAccess(actor=actor, store=store, reservation=reservation)


async def reservation_reader(
    reservation_id: uuid.UUID, actor: CurrentActor, session: Session
) -> ReservationAccess:
    return await _reservation_access(reservation_id, actor, session, town_admin=True)


async def reservation_canceller(
    reservation_id: uuid.UUID, actor: CurrentActor, session: Session
) -> ReservationAccess:
    return await _reservation_access(reservation_id, actor, session, town_admin=False)


StoreAdmin = Annotated[StoreAccess, Depends(store_admin)]
StoreReader = Annotated[StoreAccess, Depends(store_reader)]
StoreStaff = Annotated[StoreAccess, Depends(store_staff)]
ItemAdmin = Annotated[ItemAccess, Depends(item_admin)]
ItemStocker = Annotated[ItemAccess, Depends(item_stocker)]
Cashier = Annotated[PendingCashier, Depends(pending_cashier)]
CashierKey = Annotated[CallerKey, Depends(deferred_idempotency_key_of(RedemptionCreate))]
RedemptionCanceller = Annotated[RedemptionAccess, Depends(redemption_canceller)]
RedemptionReader = Annotated[RedemptionAccess, Depends(redemption_reader)]
Reserver = Annotated[ReserverAccess, Depends(reserver)]
CodeRedeemer = Annotated[StoreAccess, Depends(code_redeemer)]
ReservationReader = Annotated[ReservationAccess, Depends(reservation_reader)]
ReservationCanceller = Annotated[ReservationAccess, Depends(reservation_canceller)]
