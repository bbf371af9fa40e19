from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, ForeignKeyConstraint, Integer, String
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from jifen.models.base import Base, created_at


class Store(Base):
    """A village points supermarket (积分超市) or partner shop."""

    __tablename__ = "stores"

    village_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("villages.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, default=uuid.uuid4, index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[datetime] = created_at()


class RedemptionStatus(enum.StrEnum):
    completed = "completed"
    cancelled = "cancelled"


class StockMovementKind(enum.StrEnum):
    restock = "restock"
    sale = "sale"
    cancel = "cancel"
    correction = "correction"


class Item(Base):
    """Goods on a store's shelf: a price in points, the stock on hand, an optional per-household limit.

    `on_hand` changes only together with a row of `stock_movements` (CHECK on_hand >= 0 in PostgreSQL)."""

    __tablename__ = "items"
    __table_args__ = (ForeignKeyConstraint(["village_id", "store_id"], ["stores.village_id", "stores.id"]),)

    village_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    store_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    name: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str | None] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(32))
    price_points: Mapped[int] = mapped_column(Integer)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    limit_count: Mapped[int | None] = mapped_column(Integer)
    limit_period: Mapped[str | None] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    picture_url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = created_at()


class Redemption(Base):
    """A sale at the counter (兑换/核销): points from the household to the store, goods off the shelf."""

    __tablename__ = "redemptions"

    village_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    receipt_no: Mapped[int] = mapped_column(BigInteger)
    store_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(String(10))
    total_points: Mapped[int] = mapped_column(BigInteger)
    transaction_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    clerk_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = created_at()
    cancel_transaction_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    cancel_reason: Mapped[str | None] = mapped_column(String(500))


class RedemptionLine(Base):
    __tablename__ = "redemption_lines"

    village_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    redemption_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    item_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
    price_points: Mapped[int] = mapped_column(Integer)
    line_points: Mapped[int] = mapped_column(BigInteger)


class StockMovement(Base):
    """Append-only: every change of an item's stock, with the stock after it."""

    __tablename__ = "stock_movements"

    village_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    item_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    kind: Mapped[str] = mapped_column(String(12))
    quantity: Mapped[int] = mapped_column(Integer)
    on_hand_after: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(500))
    actor_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    redemption_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = created_at()
