"""Who may see and keep the store's money.

The village admin keeps the books (peg, funds, payments to stores); the town admin reads them; the store's
own clerk reads the store's settlement; every village user may see the peg. A user of another village
learns nothing (404)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from jifen.auth.actor import VILLAGE_USERS, Actor
from jifen.auth.dependencies import CurrentActor, VillageAccess, authorize, village_role
from jifen.funding import repository, service
from jifen.kit.db import Session
from jifen.kit.errors import NotFound
from jifen.models import Role, Store
from jifen.store import repository as store_repository
from jifen.store.auth import ReservationAccess, authorize_store_staff, reservation_canceller


@dataclass(frozen=True)
class StoreAccess:
    actor: Actor
    store: Store


@dataclass(frozen=True)
class FundAccess:
    actor: Actor
    village_id: uuid.UUID
    fund_id: uuid.UUID


async def _store(session: Session, store_id: uuid.UUID) -> Store:
    store = await store_repository.get_store(session, store_id)
    if store is None:
        raise NotFound("找不到该积分超市")
    return store


async def settlement_reader(store_id: uuid.UUID, actor: CurrentActor, session: Session) -> StoreAccess:
    """The village admin, the store's own clerk, the town admin."""
    store = await _store(session, store_id)
    authorize_store_staff(actor, store, town_admin=True)
    return StoreAccess(actor=actor, store=store)


async def settlement_payer(store_id: uuid.UUID, actor: CurrentActor, session: Session) -> StoreAccess:
    """The village admin records what the village paid; nobody else."""
    store = await _store(session, store_id)
    authorize(actor, store.village_id, {Role.village_admin}, town_admin=False)
    return StoreAccess(actor=actor, store=store)


async def fund_keeper(fund_id: uuid.UUID, actor: CurrentActor, session: Session) -> FundAccess:
    row = await repository.get_fund(session, fund_id)
    if row is None:
        raise service.FundNotFound()
    authorize(actor, row.village_id, {Role.village_admin}, town_admin=False)
    return FundAccess(actor=actor, village_id=row.village_id, fund_id=fund_id)


funds_keeper = village_role(Role.village_admin, town_admin=False)
funds_reader = village_role(Role.village_admin)
peg_reader = village_role(*VILLAGE_USERS)
FundsKeeper = Annotated[VillageAccess, Depends(funds_keeper)]
FundsReader = Annotated[VillageAccess, Depends(funds_reader)]
PegReader = Annotated[VillageAccess, Depends(peg_reader)]
FundKeeper = Annotated[FundAccess, Depends(fund_keeper)]
SettlementReader = Annotated[StoreAccess, Depends(settlement_reader)]
SettlementPayer = Annotated[StoreAccess, Depends(settlement_payer)]
# a pickup code's QR: the household's own villager, the store's clerk, the village admin (not the town)
ReservationQr = Annotated[ReservationAccess, Depends(reservation_canceller)]
