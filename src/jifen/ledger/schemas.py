from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from jifen.kit.schemas import InputModel, Reason
from jifen.models import TransactionKind


class BalanceOut(BaseModel):
    household_id: uuid.UUID
    posted: int
    held: int
    available: int
    lifetime_earned: int


CompensationKindName = Literal["reversal", "cancellation", "rectification", "revision", "revocation"]


class CompensationRef(BaseModel):
    """How a transaction was compensated (or what a compensating transaction compensates)."""

    kind: CompensationKindName
    transaction_id: uuid.UUID


class CompensationOut(CompensationRef):
    amount: int  # what the compensating transaction moved on the household's account
    actor_id: uuid.UUID
    created_at: datetime


class EntryOut(BaseModel):
    transaction_id: uuid.UUID
    kind: TransactionKind
    amount: int
    balance_after: int
    memo: str | None
    rule_code: str | None
    rule_version: int | None
    created_at: datetime
    actor_id: uuid.UUID
    reverses: uuid.UUID | None
    compensated_by: CompensationRef | None = None


class PostingOut(BaseModel):
    account_id: uuid.UUID
    account_kind: str
    amount: int
    balance_after: int | None


class TransactionOut(BaseModel):
    id: uuid.UUID
    village_id: uuid.UUID
    kind: TransactionKind
    postings: list[PostingOut]
    memo: str | None
    rule_id: uuid.UUID | None
    rule_version: int | None
    source_type: str | None
    source_id: uuid.UUID | None
    reason: str | None
    created_at: datetime
    actor_id: uuid.UUID
    reverses: uuid.UUID | None
    reversed_by: uuid.UUID | None
    # the first (and only, but for a rectified deduction's reversal) compensation of this transaction
    compensated_by: CompensationRef | None = None
    compensations: list[CompensationOut] = []
    compensates: CompensationRef | None = None  # when this transaction is itself a compensation


class ReverseRequest(InputModel):
    reason: Reason
