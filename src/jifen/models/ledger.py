from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKeyConstraint, Identity, Integer, String, Text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from jifen.models.base import Base, created_at


class AccountKind(enum.StrEnum):
    household = "household"
    issuing = "issuing"  # where awarded points come from
    deductions = "deductions"  # where deducted points go
    store = "store"  # what a store has taken in redemptions
    expiry = "expiry"  # where cleared (清零) points go


SYSTEM_ACCOUNT_KINDS = (AccountKind.issuing, AccountKind.deductions, AccountKind.expiry)


class TransactionKind(enum.StrEnum):
    award = "award"
    deduction = "deduction"
    reversal = "reversal"
    redemption = "redemption"
    redemption_cancel = "redemption_cancel"
    expiry = "expiry"
    rectification = "rectification"
    adjustment = "adjustment"


class Account(Base):
    """A ledger account. Household rows keep their balance; system rows never change (see migration 0002)."""

    __tablename__ = "accounts"
    __table_args__ = (
        ForeignKeyConstraint(["village_id", "household_id"], ["households.village_id", "households.id"]),
        ForeignKeyConstraint(["village_id", "store_id"], ["stores.village_id", "stores.id"]),
    )

    village_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    kind: Mapped[AccountKind] = mapped_column(String(16))
    household_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    store_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    posted: Mapped[int] = mapped_column(BigInteger, default=0)
    held: Mapped[int] = mapped_column(BigInteger, default=0)
    lifetime_earned: Mapped[int] = mapped_column(BigInteger, default=0)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = created_at()


class LedgerTransaction(Base):
    __tablename__ = "ledger_transactions"

    village_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    kind: Mapped[TransactionKind] = mapped_column(String(24))
    memo: Mapped[str | None] = mapped_column(String(500))
    actor_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    rule_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    rule_version: Mapped[int | None] = mapped_column(Integer)
    source_type: Mapped[str | None] = mapped_column(String(24))
    source_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = created_at()


class Posting(Base):
    __tablename__ = "postings"

    village_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    transaction_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    amount: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int | None] = mapped_column(BigInteger)
    account_version: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = created_at()


class Hold(Base):
    __tablename__ = "holds"

    village_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10), default="active")
    memo: Mapped[str | None] = mapped_column(String(500))
    source_type: Mapped[str | None] = mapped_column(String(24))
    source_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    transaction_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    actor_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = created_at()
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    village_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    caller_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
