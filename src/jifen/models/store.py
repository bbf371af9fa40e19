from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Constraint,
    Index,
    Integer,
    Sequence,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from jifen.kit.periods import KINDS
from jifen.models import base
from jifen.models.base import Base, VillageChildRow, VillageRow

# Receipt numbers run across every village (printed on the slip); the constraint is per village
# (uq_redemptions_village_id_receipt_no), which a database distributed by village can enforce.
STOCK_MOVEMENT_KINDS = ("restock", "sale", "cancel", "correction")
REDEMPTION_STATUSES = ("completed", "cancelled")
RECEIPT_SEQUENCE = Sequence("redemption_receipt_seq", data_type=BigInteger, metadata=Base.metadata)


class Store(VillageRow, Base):
    """A village points supermarket (积分超市) or partner shop."""

    __tablename__ = "stores"
    __table_args__ = (Index("ix_stores_id", "id"),)

    name: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[datetime] = base.created_at()


class RedemptionStatus(enum.StrEnum):
    completed = "completed"
    cancelled = "cancelled"


class StockMovementKind(enum.StrEnum):
    restock = "restock"
    sale = "sale"
    cancel = "cancel"
    correction = "correction"


class Item(VillageChildRow, Base):
    """Goods on a store's shelf: a price in points, the stock on hand, an optional per-household limit.

    `on_hand` changes only together with a row of `stock_movements` (CHECK on_hand >= 0 in PostgreSQL)."""

    __tablename__ = "items"
    __table_args__ = (
        base.scoped_fk("store_id", "stores"),
        *base.checks(
            price_points="price_points > 0 AND price_points <= 1000000",
            # the shelf is never below empty: the last line against overselling
            on_hand="on_hand >= 0",
            # reserved goods are on the shelf: the available stock (on_hand - reserved) is never below zero
            reserved="reserved >= 0 AND reserved <= on_hand",
            # the period as one text-array constant (migration 0025: read on every sale's stock update)
            **{**base.per_period("limit"), "limit_period": base.any_of("limit_period", KINDS)},
        ),
        Index("ix_items_id", "id"),
        Index("ix_items_village_id_store_id", "village_id", "store_id", "name", "id"),
        {"postgresql_with": {"fillfactor": 80}},
    )

    store_id: Mapped[uuid.UUID]
    name: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str | None] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(32))
    price_points: Mapped[int] = mapped_column(Integer)
    on_hand: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reserved: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    limit_count: Mapped[int | None] = mapped_column(Integer)
    limit_period: Mapped[str | None] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    picture_url: Mapped[str | None] = base.text500()
    created_at: Mapped[datetime] = base.created_at()


class Redemption(VillageChildRow, Base):
    """A sale at the counter (兑换/核销): points from the household to the store, goods off the shelf.

    It changes once, completed -> cancelled, filling in only the cancellation's columns (a trigger says
    so)."""

    __tablename__ = "redemptions"
    __table_args__ = (
        *base.scoped_fks(store_id="stores", household_id="households", transaction_id="ledger_transactions"),
        # the name PostgreSQL cut to 63 characters when migration 0004 created it
        base.scoped_fk(
            "cancel_transaction_id",
            "ledger_transactions",
            name="fk_redemptions_village_id_cancel_transaction_id_ledger_transact",
        ),
        base.once_per_village("receipt_no"),
        *base.checks(
            total_points="total_points > 0",
            status=base.any_of("status", REDEMPTION_STATUSES),
            cancelled=(
                "(status = 'cancelled') = (cancel_transaction_id IS NOT NULL)"
                " AND (status = 'cancelled') = (cancelled_at IS NOT NULL)"
                " AND (status = 'cancelled') = (cancel_reason IS NOT NULL)"
            ),
        ),
        Index("ix_redemptions_id", "id"),
        Index("ix_redemptions_store", "village_id", "store_id", "created_at", "id"),
        base.partial_index(
            "ix_redemptions_household",
            "village_id",
            "household_id",
            "created_at",
            where="status = 'completed'",
        ),
        # cancellations are counted in the period they happen
        base.partial_index(
            "ix_redemptions_cancelled", "village_id", "store_id", "cancelled_at", where="status = 'cancelled'"
        ),
    )

    receipt_no: Mapped[int] = mapped_column(
        BigInteger, server_default=text(f"nextval('{RECEIPT_SEQUENCE.name}')")
    )
    store_id: Mapped[uuid.UUID]
    household_id: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(String(10), server_default=RedemptionStatus.completed.value)
    total_points: Mapped[int] = mapped_column(BigInteger)
    transaction_id: Mapped[uuid.UUID]
    clerk_id: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = base.created_at()
    cancel_transaction_id: Mapped[uuid.UUID | None]
    cancelled_at: Mapped[datetime | None]
    cancelled_by: Mapped[uuid.UUID | None]
    cancel_reason: Mapped[str | None] = base.text500()


class PricedLine:
    """One item of a sale or a pickup code, keyed (village_id, its basket, item_id): how many, at what
    price, and the line's points, which SQL checks are quantity × price."""

    quantity: Mapped[int] = mapped_column(Integer)
    price_points: Mapped[int] = mapped_column(Integer)
    line_points: Mapped[int] = mapped_column(BigInteger)


def priced_line_checks(basket_id: str, baskets: str) -> tuple[Constraint, ...]:
    return (
        base.scoped_fk(basket_id, baskets),
        base.scoped_fk("item_id", "items"),
        *base.checks(quantity="quantity > 0", line_points="line_points = quantity * price_points"),
    )


class RedemptionLine(PricedLine, Base):
    """Append-only: one item of a sale, at the price it was sold for."""

    __tablename__ = "redemption_lines"
    __table_args__ = (
        *priced_line_checks("redemption_id", "redemptions"),
        Index("ix_redemption_lines_item", "village_id", "item_id"),
    )

    village_id: Mapped[uuid.UUID] = base.uuid_key()
    redemption_id: Mapped[uuid.UUID] = base.uuid_key()
    item_id: Mapped[uuid.UUID] = base.uuid_key()


class StockMovement(Base):
    """Append-only: every change of an item's stock, with the stock after it."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        *base.scoped_fks(item_id="items", redemption_id="redemptions"),
        *base.checks(
            kind=base.any_of("kind", STOCK_MOVEMENT_KINDS),
            quantity=(
                "quantity <> 0 AND (kind <> 'restock' OR quantity > 0) AND (kind <> 'sale' OR quantity < 0)"
                " AND (kind <> 'cancel' OR quantity > 0)"
            ),
            on_hand_after="on_hand_after >= 0",
            redemption=f"({base.any_of('kind', ('sale', 'cancel'))}) = (redemption_id IS NOT NULL)",
            correction_reason="kind <> 'correction' OR reason IS NOT NULL",
        ),
        Index("ix_stock_movements_item", "village_id", "item_id", "id"),
        # a sale's stock comes back at most once per item
        base.once_per_village_where(
            "uq_stock_movements_cancel", "redemption_id", "item_id", where="kind = 'cancel'"
        ),
    )

    village_id: Mapped[uuid.UUID] = base.uuid_key()
    id: Mapped[int] = base.identity_key()
    item_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(12))
    quantity: Mapped[int] = mapped_column(Integer)
    on_hand_after: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = base.text500()
    actor_id: Mapped[uuid.UUID]
    redemption_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = base.created_at()


class Reservation(VillageChildRow, Base):
    """A pickup code (预约兑换): the points held and the goods set aside until the clerk redeems the code, it
    is cancelled, or it expires. It changes once, from active (a trigger says so)."""

    __tablename__ = "reservations"
    __table_args__ = (
        *base.scoped_fks(
            store_id="stores", household_id="households", hold_id="holds", redemption_id="redemptions"
        ),
        *base.checks(
            code="code ~ '^[0-9]{6}$'",
            total_points="total_points > 0",
            status="status IN ('active', 'redeemed', 'cancelled', 'expired')",
            ended=(
                "(status = 'active') = (ended_at IS NULL)"
                " AND (status = 'redeemed') = (redemption_id IS NOT NULL)"
            ),
            expires="expires_at > created_at",
        ),
        Index("ix_reservations_id", "id"),
        # a code names one active reservation in its village
        base.once_per_village_where("uq_reservations_active_code", "code", where="status = 'active'"),
        Index("ix_reservations_code", "village_id", "code", "created_at"),
        base.partial_index("ix_reservations_due", "expires_at", where="status = 'active'"),
        Index("ix_reservations_household", "village_id", "household_id", "created_at"),
    )

    code: Mapped[str] = mapped_column(String(6))
    store_id: Mapped[uuid.UUID]
    household_id: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(String(10), server_default="active")
    total_points: Mapped[int] = mapped_column(BigInteger)
    hold_id: Mapped[uuid.UUID]
    expires_at: Mapped[datetime]
    created_by: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = base.created_at()
    ended_at: Mapped[datetime | None]
    ended_by: Mapped[uuid.UUID | None]
    end_reason: Mapped[str | None] = base.text500()
    redemption_id: Mapped[uuid.UUID | None]


class ReservationLine(PricedLine, Base):
    """Append-only: one item of a pickup code, at the price it was reserved for."""

    __tablename__ = "reservation_lines"
    __table_args__ = priced_line_checks("reservation_id", "reservations")

    village_id: Mapped[uuid.UUID] = base.uuid_key()
    reservation_id: Mapped[uuid.UUID] = base.uuid_key()
    item_id: Mapped[uuid.UUID] = base.uuid_key()
