"""Who may do what at a store: the village admin runs the catalogue; the store's own clerk (and the village
admin) sells, restocks and cancels; the village admin records what the village paid the store, and reads the
store's settlement with its clerk and the town admin. A clerk of another store is refused; another village's
user learns nothing (404). The rules are the `Who` values below; every check of a store's record uses one."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Protocol, TypeVar

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.auth.actor import VILLAGE_USERS, Actor
from jifen.auth.dependencies import (
    CurrentActor,
    IdempotencyHeader,
    PendingAccess,
    authorize,
    deferred_idempotency_key_of,
)
from jifen.auth.scope import sees_pickup_code
from jifen.kit.db import Session
from jifen.kit.errors import BadRequest, Forbidden, NotFound, found
from jifen.kit.idempotency import CallerKey
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

    @property
    def village_id(self) -> uuid.UUID:
        return self.store.village_id


@dataclass(frozen=True)
class ItemAccess(StoreAccess):
    item: Item


@dataclass(frozen=True)
class RedemptionAccess(StoreAccess):
    redemption: RedemptionRow


def is_village_admin(actor: Actor, village_id: uuid.UUID) -> bool:
    return Role.village_admin in actor.roles_in(village_id)


def authorize_store_staff(actor: Actor, store: repository.StoreRef, *, town_admin: bool) -> None:
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


@dataclass(frozen=True)
class Who:
    """Who may act on a store's records: these `roles` of its village, or (None) its staff — the village
    admin and the store's own clerks (`authorize_store_staff`); and the town admin, when `town_admin`."""

    roles: frozenset[Role] | None
    town_admin: bool

    def check(self, actor: Actor, store: Store) -> None:
        if self.roles is None:
            authorize_store_staff(actor, store, town_admin=self.town_admin)
        else:
            authorize(actor, store.village_id, self.roles, town_admin=self.town_admin)


CATALOGUE = Who(frozenset({Role.village_admin}), town_admin=True)  # the store itself, its items
SHELF = Who(VILLAGE_USERS, town_admin=True)  # what the store offers
COUNTER = Who(None, town_admin=False)  # selling, redeeming a pickup code, cancelling
OVERSIGHT = Who(None, town_admin=True)  # restocking, reading a sale, a reservation, the settlement
PAYMENTS = Who(frozenset({Role.village_admin}), town_admin=False)  # what the village paid the store


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


async def store_access(session: AsyncSession, store_id: uuid.UUID, actor: Actor, who: Who) -> StoreAccess:
    """The store (else 404), if `who` may act on it."""
    store = await load_store(session, store_id)
    who.check(actor, store)
    return StoreAccess(actor=actor, store=store)


def store_role(who: Who) -> Callable[[uuid.UUID, Actor, AsyncSession], Awaitable[StoreAccess]]:
    """A dependency for `/stores/{store_id}/...` paths: the store exists and `who` may act on it."""

    async def dependency(store_id: uuid.UUID, actor: CurrentActor, session: Session) -> StoreAccess:
        return await store_access(session, store_id, actor, who)

    return dependency


store_admin = store_role(CATALOGUE)
store_reader = store_role(SHELF)
store_staff = store_role(COUNTER)  # the store's own clerk or the village admin (its sales list)
settlement_reader = store_role(OVERSIGHT)  # the village admin, the store's own clerk, the town admin
settlement_payer = store_role(PAYMENTS)  # the village admin records what the village paid; nobody else


async def item_admin(item_id: uuid.UUID, actor: CurrentActor, session: Session) -> ItemAccess:
    item, store = await _item(session, item_id)
    CATALOGUE.check(actor, store)
    return ItemAccess(actor=actor, store=store, item=item)


async def item_stocker(item_id: uuid.UUID, actor: CurrentActor, session: Session) -> ItemAccess:
    item, store = await _item(session, item_id)
    OVERSIGHT.check(actor, store)
    return ItemAccess(actor=actor, store=store, item=item)


async def cashier(body: RedemptionCreate, actor: CurrentActor, session: Session) -> StoreAccess:
    return await store_access(session, body.store_id, actor, COUNTER)


@dataclass
class PendingCashier(PendingAccess[StoreAccess]):
    """POST /redemptions: who may sell, unless the one-call sale (`sale_submit`) answered."""

    store_id: uuid.UUID

    async def check(self) -> StoreAccess:
        return await store_access(self.session, self.store_id, self.actor, COUNTER)

    @property
    def store(self) -> Store:
        return self.access.store


async def pending_cashier(
    body: RedemptionCreate, actor: CurrentActor, session: Session, key: IdempotencyHeader = None
) -> PendingCashier:
    return PendingCashier(actor, session, key, body.store_id)


async def _redemption(session: Session, redemption_id: uuid.UUID) -> tuple[RedemptionRow, Store]:
    redemption = await sale_rows.get_redemption(session, redemption_id)
    return await _with_store(session, redemption, "找不到该兑换记录")


async def redemption_canceller(
    redemption_id: uuid.UUID, actor: CurrentActor, session: Session
) -> RedemptionAccess:
    redemption, store = await _redemption(session, redemption_id)
    COUNTER.check(actor, store)
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
        OVERSIGHT.check(actor, store)
    return RedemptionAccess(actor=actor, store=store, redemption=redemption)


@dataclass(frozen=True)
class ReserverAccess(StoreAccess):
    household_id: uuid.UUID


@dataclass(frozen=True)
class ReservationAccess(StoreAccess):
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
    return await store_access(session, body.store_id, actor, COUNTER)


async def _reservation_access(
    reservation_id: uuid.UUID, actor: Actor, session: Session, who: Who
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
        who.check(actor, store)
    return ReservationAccess(actor=actor, store=store, reservation=reservation)


async def reservation_reader(
    reservation_id: uuid.UUID, actor: CurrentActor, session: Session
) -> ReservationAccess:
    return await _reservation_access(reservation_id, actor, session, OVERSIGHT)


async def reservation_canceller(
    reservation_id: uuid.UUID, actor: CurrentActor, session: Session
) -> ReservationAccess:
    return await _reservation_access(reservation_id, actor, session, COUNTER)


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
SettlementReader = Annotated[StoreAccess, Depends(settlement_reader)]
SettlementPayer = Annotated[StoreAccess, Depends(settlement_payer)]
