"""Expiry (清零, migration 0011): a village's policy as an append-only history, every expiry posted, and the
due job's passes. All three are append-only; primary keys make each expiry and pass happen once."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from jifen.models import base
from jifen.models.base import Base, VillageRow


class ExpiryPolicy(VillageRow, Base):
    """`none`, `yearly` (a clearing at a local month/day, an optional carry-over cap) or `rolling` (each
    earned point valid N months); in force from `effective_at` until the next one."""

    __tablename__ = "expiry_policies"
    __table_args__ = (
        # the history is a sequence per village: two admins saving at once cannot both be number n
        base.once_per_village("seq"),
        *base.checks(
            mode="mode IN ('none', 'yearly', 'rolling')",
            yearly=(
                "(mode = 'yearly') = (clearing_month IS NOT NULL AND clearing_day IS NOT NULL)"
                " AND (clearing_month IS NULL) = (clearing_day IS NULL)"
                " AND (clearing_month IS NULL"
                " OR (clearing_month BETWEEN 1 AND 12 AND clearing_day BETWEEN 1 AND 31))"
            ),
            cap="carry_over_cap IS NULL OR (mode = 'yearly' AND carry_over_cap >= 0)",
            rolling=(
                "(mode = 'rolling') = (months IS NOT NULL) AND (months IS NULL OR months BETWEEN 1 AND 120)"
            ),
            seq="seq > 0",
        ),
        Index("ix_expiry_policies_id", "id"),
    )

    seq: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(8))
    clearing_month: Mapped[int | None] = mapped_column(SmallInteger)
    clearing_day: Mapped[int | None] = mapped_column(SmallInteger)
    carry_over_cap: Mapped[int | None] = mapped_column(BigInteger)
    months: Mapped[int | None] = mapped_column(SmallInteger)
    effective_at: Mapped[datetime]
    reason: Mapped[str] = base.text500()
    actor_id: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = base.created_at()


class Expiry(Base):
    """One expiry transaction: exactly once per household, cutoff and part, whoever races the due job."""

    __tablename__ = "expiries"
    __table_args__ = (
        *base.scoped_fks(
            household_id="households", policy_id="expiry_policies", transaction_id="ledger_transactions"
        ),
        base.once_per_village("transaction_id"),
        *base.checks(amount="amount > 0", part="part > 0"),
        Index("ix_expiries_village_id_cutoff", "village_id", "cutoff"),
    )

    village_id: Mapped[uuid.UUID] = base.uuid_key()
    household_id: Mapped[uuid.UUID] = base.uuid_key()
    cutoff: Mapped[datetime] = mapped_column(primary_key=True)
    part: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    policy_id: Mapped[uuid.UUID]
    amount: Mapped[int] = mapped_column(BigInteger)
    transaction_id: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = base.created_at()


class ExpiryRun(Base):
    """A pass of the due job over a cutoff: pass 1 clears every household (once), later passes only those
    whose held points were released since."""

    __tablename__ = "expiry_runs"
    __table_args__ = (
        base.scoped_fk("policy_id", "expiry_policies"),
        CheckConstraint("pass > 0", name="pass"),
    )

    village_id: Mapped[uuid.UUID] = base.uuid_key()
    cutoff: Mapped[datetime] = mapped_column(primary_key=True)
    # "pass" in the database (a Python keyword)
    pass_: Mapped[int] = mapped_column("pass", Integer, primary_key=True, autoincrement=False)
    policy_id: Mapped[uuid.UUID]
    households: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = base.created_at()
