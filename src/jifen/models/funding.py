"""Funding and settlement of the points supermarket (migration 0010). Money is integer fen; every table here
is a record, never updated or deleted (triggers say so)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from jifen.models import base
from jifen.models.base import Base, VillageChildRow, VillageRow


class VillagePeg(Base):
    """What a point is worth in money from `effective_from` on (a history; never back-dated)."""

    __tablename__ = "village_pegs"
    __table_args__ = (
        *base.checks(
            fen_per_point="fen_per_point BETWEEN 1 AND 1000000",
            # a few minutes of slack between the app's and the database's clocks
            not_backdated="effective_from >= created_at - interval '5 minutes'",
        ),
        Index("ix_village_pegs_effective", "village_id", text("effective_from DESC"), text("id DESC")),
    )

    village_id: Mapped[uuid.UUID] = base.village_key()
    id: Mapped[int] = base.identity_key()
    effective_from: Mapped[datetime]
    fen_per_point: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = base.text500()
    actor_id: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = base.created_at()


class VillageFund(VillageRow, Base):
    """Money the village received to stock its store (collective, donor, town, other)."""

    __tablename__ = "village_funds"
    __table_args__ = (
        *base.checks(
            source="source IN ('collective', 'donor', 'town', 'other')",
            amount_fen="amount_fen > 0 AND amount_fen <= 100000000000",
        ),
        Index("ix_village_funds_id", "id"),
        Index("ix_village_funds_received", "village_id", text("received_on DESC"), text("id DESC")),
    )

    source: Mapped[str] = mapped_column(String(12))
    source_name: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    received_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = base.text500()
    actor_id: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = base.created_at()


class VillageFundVoid(Base):
    """A fund recorded by mistake, voided (at most once: the primary key)."""

    __tablename__ = "village_fund_voids"
    __table_args__ = (base.scoped_fk("fund_id", "village_funds"),)

    village_id: Mapped[uuid.UUID] = base.uuid_key()
    fund_id: Mapped[uuid.UUID] = base.uuid_key()
    reason: Mapped[str] = base.text500()
    actor_id: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = base.created_at()


class StoreSettlement(VillageChildRow, Base):
    """What the village paid a store for a stretch of time; a stretch is paid once (an exact repeat by the
    unique constraint, an overlap by a trigger)."""

    __tablename__ = "store_settlements"
    __table_args__ = (
        base.scoped_fk("store_id", "stores"),
        UniqueConstraint(
            "village_id", "store_id", "starts_at", "ends_at", name="uq_store_settlements_period"
        ),
        *base.checks(range="starts_at < ends_at", amount_fen="abs(amount_fen) <= 100000000000"),
        Index("ix_store_settlements_id", "id"),
    )

    store_id: Mapped[uuid.UUID]
    period: Mapped[str] = mapped_column(String(32))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    report_points: Mapped[int] = mapped_column(BigInteger)
    report_fen: Mapped[int] = mapped_column(BigInteger)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str] = base.text500()
    actor_id: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = base.created_at()
