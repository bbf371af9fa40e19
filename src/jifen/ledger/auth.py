from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from jifen.auth.actor import VILLAGE_STAFF, Actor
from jifen.auth.dependencies import CurrentActor, authorize
from jifen.kit.db import Session
from jifen.kit.errors import NotFound
from jifen.ledger import repository
from jifen.models import LedgerTransaction, Role


@dataclass(frozen=True)
class TransactionAccess:
    actor: Actor
    transaction: LedgerTransaction


async def _transaction(transaction_id: uuid.UUID, session: Session) -> LedgerTransaction:
    transaction = await repository.get_transaction(session, transaction_id)
    if transaction is None:
        raise NotFound("找不到该笔交易")
    return transaction


async def transaction_reader(
    transaction_id: uuid.UUID, actor: CurrentActor, session: Session
) -> TransactionAccess:
    transaction = await _transaction(transaction_id, session)
    authorize(actor, transaction.village_id, VILLAGE_STAFF, town_admin=True)
    return TransactionAccess(actor=actor, transaction=transaction)


async def transaction_reverser(
    transaction_id: uuid.UUID, actor: CurrentActor, session: Session
) -> TransactionAccess:
    transaction = await _transaction(transaction_id, session)
    authorize(actor, transaction.village_id, {Role.village_admin}, town_admin=False)
    return TransactionAccess(actor=actor, transaction=transaction)


TransactionReader = Annotated[TransactionAccess, Depends(transaction_reader)]
TransactionReverser = Annotated[TransactionAccess, Depends(transaction_reverser)]
