"""Who may see and keep the store's money.

The village admin keeps the books (peg, funds, payments to stores); the town admin reads them; the store's
own clerk reads the store's settlement; every village user may see the peg. A user of another village
learns nothing (404). Who may read or pay a store's settlement is decided with the store's other records,
in store/auth.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from jifen.auth.actor import VILLAGE_USERS, Actor
from jifen.auth.dependencies import CurrentActor, VillageAccess, authorize, village_role
from jifen.funding import repository, service
from jifen.kit.db import Session
from jifen.models import Role
from jifen.store.auth import ReservationCanceller as ReservationQr
from jifen.store.auth import SettlementPayer, SettlementReader, settlement_payer, settlement_reader

__all__ = [
    "FundAccess",
    "FundKeeper",
    "FundsKeeper",
    "FundsReader",
    "PegReader",
    "ReservationQr",  # a pickup code's QR: the household's own villager, the store's clerk, the village admin
    "SettlementPayer",
    "SettlementReader",
    "fund_keeper",
    "funds_keeper",
    "funds_reader",
    "peg_reader",
    "settlement_payer",
    "settlement_reader",
]


@dataclass(frozen=True)
class FundAccess:
    actor: Actor
    village_id: uuid.UUID
    fund_id: uuid.UUID


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
