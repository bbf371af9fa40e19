from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    Sequence,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from jifen.models import base
from jifen.models.base import Base, VillageChildRow, VillageRow


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


# One sequence orders every chained record (transactions, postings, audit events); see migration 0003.
CHAIN_SEQUENCE = Sequence("jifen_chain_seq", data_type=BigInteger, metadata=Base.metadata)


def chain_id_column() -> Mapped[int]:
    """A record's place in its village's hash chain, drawn by PostgreSQL when the row is written."""
    return mapped_column(BigInteger, server_default=text(f"nextval('{CHAIN_SEQUENCE.name}')"))


class Account(VillageRow, Base):
    """A ledger account. Household rows keep their balance; system rows never change (see migration 0002)."""

    __tablename__ = "accounts"
    __table_args__ = (
        *base.scoped_fks(household_id="households", store_id="stores"),
        base.once_per_village("household_id"),
        base.once_per_village("store_id"),
        *base.checks(
            # one text[] constant: cheaper for PostgreSQL to read on each write than a list of literals (0016)
            kind="kind::text = ANY ('{household,issuing,deductions,store,expiry}'::text[])",
            owner=(
                "(kind = 'household') = (household_id IS NOT NULL)"
                " AND (kind = 'store') = (store_id IS NOT NULL)"
            ),
            held_not_negative="held >= 0",
            # the promise every villager relies on: available = posted - held never goes below zero
            available_not_negative="kind <> 'household' OR posted - held >= 0",
            system_row_untouched="kind = 'household' OR (posted = 0 AND held = 0 AND lifetime_earned = 0)",
        ),
        base.once_per_village_where(
            "uq_accounts_village_system_kind", "kind", where="kind IN ('issuing', 'deductions', 'expiry')"
        ),
        {"postgresql_with": {"fillfactor": 80}},
    )

    kind: Mapped[AccountKind] = mapped_column(String(16))
    household_id: Mapped[uuid.UUID | None]
    store_id: Mapped[uuid.UUID | None]
    posted: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    held: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    lifetime_earned: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    version: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = base.created_at()


class LedgerTransaction(VillageChildRow, Base):
    """Append-only; its village and rule version are checked by a statement trigger, and the transaction a
    reversal reverses by a row trigger that fires for reversals only (migration 0026), not foreign keys."""

    __tablename__ = "ledger_transactions"
    __table_args__ = (
        *base.checks(
            kind=(
                "kind::text = ANY ('{award,deduction,reversal,redemption,redemption_cancel,expiry,"
                "rectification,adjustment}'::text[])"
            ),
            reversal_has_reason="reverses_id IS NULL OR (kind = 'reversal' AND reason IS NOT NULL)",
        ),
        base.distinct_index("ix_ledger_transactions_id", "id"),
        # one village's chain and one village's periods, whatever the other villages hold (migration 0017)
        base.distinct_index("ix_ledger_transactions_village_id_chain_id", "village_id", "chain_id"),
        Index(
            "ix_ledger_transactions_village_id_created_at",
            "village_id",
            "created_at",
            postgresql_include=["id", "kind", "source_type"],
        ),
        # a transaction is reversed at most once
        base.once_per_village_where(
            "uq_ledger_transactions_village_id_reverses_id", "reverses_id", where="reverses_id IS NOT NULL"
        ),
        # one rectification per deduction
        base.once_per_village_where(
            "uq_ledger_transactions_rectification", "source_id", where="kind = 'rectification'"
        ),
    )

    kind: Mapped[TransactionKind] = mapped_column(String(24))
    memo: Mapped[str | None] = base.text500()
    actor_id: Mapped[uuid.UUID]
    rule_id: Mapped[uuid.UUID | None]
    rule_version: Mapped[int | None] = mapped_column(Integer)
    source_type: Mapped[str | None] = mapped_column(String(24))
    source_id: Mapped[uuid.UUID | None]
    reverses_id: Mapped[uuid.UUID | None]
    reason: Mapped[str | None] = base.text500()
    created_at: Mapped[datetime] = base.created_at()
    chain_id: Mapped[int] = chain_id_column()


class Posting(Base):
    """Append-only; its transaction and account are checked by a statement trigger that also checks the
    transaction balances, not by foreign keys."""

    __tablename__ = "postings"
    __table_args__ = (
        *base.checks(
            amount_not_zero="amount <> 0",
            history="(balance_after IS NULL) = (account_version IS NULL)",
            account_version_positive="account_version IS NULL OR account_version > 0",
        ),
        Index("ix_postings_village_id_transaction_id", "village_id", "transaction_id"),
        base.once_per_village_where(
            "uq_postings_account_history",
            "account_id",
            "account_version",
            where="account_version IS NOT NULL",
            # a household's newest running balance from the index alone (migration 0030: the audit
            # verdict reads every household's, and a village's entries lie together only in the index)
            include=("balance_after",),
        ),
        base.distinct_index("ix_postings_village_id_chain_id", "village_id", "chain_id"),
        Index("ix_postings_created_at_brin", "created_at", postgresql_using="brin"),
    )

    village_id: Mapped[uuid.UUID] = base.uuid_key()
    id: Mapped[int] = base.identity_key()
    transaction_id: Mapped[uuid.UUID]
    account_id: Mapped[uuid.UUID]
    amount: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int | None] = mapped_column(BigInteger)
    account_version: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = base.created_at()
    chain_id: Mapped[int] = chain_id_column()


class Hold(VillageChildRow, Base):
    """Points set aside; they count against `available` at once and end exactly once, posted or released."""

    __tablename__ = "holds"
    __table_args__ = (
        *base.scoped_fks(account_id="accounts", transaction_id="ledger_transactions"),
        *base.checks(
            amount="amount > 0",
            status="status IN ('active', 'posted', 'released')",
            ended="(status = 'active') = (ended_at IS NULL)",
            posted_has_transaction="(status = 'posted') = (transaction_id IS NOT NULL)",
        ),
        base.partial_index(
            "ix_holds_village_id_account_id", "village_id", "account_id", where="status = 'active'"
        ),
        base.partial_index(
            "ix_holds_village_id_released", "village_id", "ended_at", where="status = 'released'"
        ),
    )

    account_id: Mapped[uuid.UUID]
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10), default="active", server_default="active")
    memo: Mapped[str | None] = base.text500()
    source_type: Mapped[str | None] = mapped_column(String(24))
    source_id: Mapped[uuid.UUID | None]
    transaction_id: Mapped[uuid.UUID | None]
    actor_id: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = base.created_at()
    ended_at: Mapped[datetime | None]


class Compensation(Base):
    """The one compensation of a source transaction (a reversal, a sale's cancellation, a rectification, an
    objection's revision or revocation); the primary key decides a race between them (migration 0012)."""

    __tablename__ = "compensations"
    __table_args__ = (
        base.scoped_fk("source_id", "ledger_transactions", name="fk_compensations_source"),
        # written before the compensating transaction it names, in the same database transaction
        base.scoped_fk(
            "transaction_id",
            "ledger_transactions",
            name="fk_compensations_transaction",
            deferrable=True,
            initially="DEFERRED",
        ),
        base.once_per_village("transaction_id"),
        *base.checks(
            kind="kind IN ('reversal', 'cancellation', 'rectification', 'revision', 'revocation')",
            step="step = 1 OR (step = 2 AND kind = 'reversal')",
            not_itself="source_id <> transaction_id",
        ),
        Index("ix_compensations_village_id_transaction_id", "village_id", "transaction_id"),
    )

    village_id: Mapped[uuid.UUID] = base.uuid_key()
    source_id: Mapped[uuid.UUID] = base.uuid_key()
    step: Mapped[int] = mapped_column(SmallInteger, primary_key=True, server_default=text("1"))
    transaction_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(16))
    # what the compensating transaction moved on the household's account (signed)
    amount: Mapped[int] = mapped_column(BigInteger)
    actor_id: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = base.created_at()


class IdempotencyKey(Base):
    """A caller's key, the request's hash and the exact answer sent, written with the change it answered."""

    __tablename__ = "idempotency_keys"

    village_id: Mapped[uuid.UUID] = base.village_key()
    caller_id: Mapped[uuid.UUID] = base.uuid_key()
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    # stored uncompressed (STORAGE EXTERNAL, migration 0026): a batch's answer is megabytes, pglz costs more
    response: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = base.created_at()
