from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from jifen.auth.actor import VILLAGE_STAFF, Actor
from jifen.auth.dependencies import CurrentActor, authorize
from jifen.auth.scope import HouseholdView, household_view, refusal
from jifen.kit.db import Session
from jifen.kit.errors import found
from jifen.ledger import repository
from jifen.models import LedgerTransaction, Role


@dataclass(frozen=True)
class TransactionAccess:
    actor: Actor
    transaction: LedgerTransaction


async def _transaction(transaction_id: uuid.UUID, session: Session) -> LedgerTransaction:
    transaction = found(await repository.get_transaction(session, transaction_id), "找不到该笔交易")
    return transaction


async def transaction_reader(
    transaction_id: uuid.UUID, actor: CurrentActor, session: Session
) -> TransactionAccess:
    """The admins; otherwise whoever may read the history of a household it posts to (a cadre of its grid),
    a reviewer an award's transaction, a clerk their own store's sales."""
    transaction = await _transaction(transaction_id, session)
    village_id = transaction.village_id
    authorize(actor, village_id, VILLAGE_STAFF, town_admin=True)
    views = [
        household_view(actor, village_id, h.id, h.grid)
        for h in await repository.households_touched(session, transaction)
    ]
    best = max((v for v in views if v is not None), default=None)
    roles = actor.roles_in(village_id)
    if actor.is_town_admin or Role.village_admin in roles:
        return TransactionAccess(actor=actor, transaction=transaction)
    if best is not None and best >= HouseholdView.history:
        return TransactionAccess(actor=actor, transaction=transaction)
    if Role.reviewer in roles and transaction.source_type == "award":
        return TransactionAccess(actor=actor, transaction=transaction)
    if Role.clerk in roles and (store_id := await repository.source_store(session, transaction)) is not None:
        if store_id in actor.store_ids():
            return TransactionAccess(actor=actor, transaction=transaction)
    raise refusal(actor, village_id, best, what="交易")


async def transaction_reverser(
    transaction_id: uuid.UUID, actor: CurrentActor, session: Session
) -> TransactionAccess:
    transaction = await _transaction(transaction_id, session)
    authorize(actor, transaction.village_id, {Role.village_admin}, town_admin=False)
    return TransactionAccess(actor=actor, transaction=transaction)


TransactionReader = Annotated[TransactionAccess, Depends(transaction_reader)]
TransactionReverser = Annotated[TransactionAccess, Depends(transaction_reverser)]
