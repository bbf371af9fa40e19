from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.auth.dependencies import idempotency_key
from jifen.auth.households import HouseholdHistoryReader, HouseholdReader
from jifen.auth.scope import OutsideGrid
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.error_sets import MONEY_ERRORS, read_route
from jifen.kit.errors import Forbidden, NotAuthenticated, NotFound, create_route, error_responses
from jifen.kit.idempotency import CallerKey, idempotent
from jifen.kit.pagination import Cursor, InvalidCursor, Limit, Page
from jifen.kit.schemas import out_of
from jifen.ledger import repository, service
from jifen.ledger.auth import TransactionReader, TransactionReverser
from jifen.ledger.schemas import (
    BalanceOut,
    CompensationOut,
    CompensationRef,
    EntryOut,
    PostingOut,
    ReverseRequest,
    TransactionOut,
)
from jifen.models import LedgerTransaction, TransactionKind

router = APIRouter(tags=["ledger"], route_class=AutoCommitRoute)


@router.get(
    "/households/{household_id}/balance",
    response_model=BalanceOut,
    responses=error_responses(NotAuthenticated, Forbidden, OutsideGrid, NotFound),
)
async def get_balance(access: HouseholdReader, session: Session) -> BalanceOut:
    """A household's points: posted, held (set aside), available to spend, and earned over its lifetime."""
    return await service.balance(session, access.household.id)


@router.get(
    "/households/{household_id}/entries",
    response_model=Page[EntryOut],
    responses=error_responses(NotAuthenticated, Forbidden, OutsideGrid, NotFound, InvalidCursor),
)
async def list_entries(
    access: HouseholdHistoryReader, session: Session, cursor: Cursor = None, limit: Limit = 50
) -> Page[EntryOut]:
    """A household's history, newest first, with the running balance after each entry."""
    return await service.entries_page(session, access.household, cursor, limit)


async def transaction_out(session: AsyncSession, transaction: LedgerTransaction) -> TransactionOut:
    postings = await repository.postings_of(session, transaction.village_id, transaction.id)
    compensations = await repository.compensations_of(session, transaction.village_id, transaction.id)
    made_by = await repository.compensation_made_by(session, transaction.village_id, transaction.id)
    kinds = await repository.account_kinds(session, transaction.village_id, [p.account_id for p in postings])
    return out_of(
        TransactionOut,
        transaction,
        kind=TransactionKind(transaction.kind),
        postings=[
            PostingOut(
                account_id=p.account_id,
                account_kind=kinds[p.account_id].value,
                amount=p.amount,
                balance_after=p.balance_after,
            )
            for p in postings
        ],
        reverses=transaction.reverses_id,
        reversed_by=await repository.reversal_of(session, transaction.village_id, transaction.id),
        compensated_by=service.compensation_ref(compensations[0] if compensations else None),
        compensations=[out_of(CompensationOut, c) for c in compensations],
        compensates=None
        if made_by is None
        else CompensationRef(kind=made_by.kind, transaction_id=made_by.source_id),
    )


@read_route(router, "/transactions/{transaction_id}", TransactionOut)
async def get_transaction(access: TransactionReader, session: Session) -> TransactionOut:
    """One ledger transaction with its postings, what reversed it, and how it was compensated:
    `compensated_by` names the compensation (reversal, cancellation, rectification, revision or revocation —
    at most one, but for a rectified deduction reversed for what is left of it, listed in `compensations`);
    `compensates` the transaction this one compensates."""
    return await transaction_out(session, access.transaction)


@create_route(
    router,
    "/transactions/{transaction_id}/reverse",
    TransactionOut,
    *MONEY_ERRORS,
    service.AlreadyReversed,
    service.AlreadyCompensated,
    service.CannotReverse,
    service.InsufficientPoints,
)
@idempotent(lambda access: access.transaction.village_id)
async def reverse_transaction(
    request: Request,
    body: ReverseRequest,
    key: Annotated[CallerKey, Depends(idempotency_key)],
    access: TransactionReverser,
    session: Session,
) -> TransactionOut:
    """Correct a transaction with a new one of opposite postings, with a reason; never twice, and never
    after a cancellation, revision or revocation (409 `already_compensated`, naming how). A rectified
    deduction is reversed once, for what the rectification left of it."""
    reversal = await service.reverse(session, access.actor, access.transaction, reason=body.reason)
    return await transaction_out(session, reversal)
