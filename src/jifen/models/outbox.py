"""The outbox (migration 0020): events people should hear about, written in the transaction of the change
(append-only), a village's channels (webhooks, SMS) and each event's delivery state per channel."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Integer, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from jifen.models import base
from jifen.models.base import Base, VillageChildRow, VillageRow


class OutboxEvent(VillageChildRow, Base):
    """One thing that happened (an award posted, a sale cancelled …); never updated."""

    __tablename__ = "outbox_events"
    # no index beyond the key: every read goes through a delivery row's key, so an award pays for one index;
    # its village and household are checked by a statement trigger, not foreign keys (migration 0022)

    kind: Mapped[str] = mapped_column(String(40))
    household_id: Mapped[uuid.UUID | None]
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = base.created_at()


class NotifyChannel(VillageRow, Base):
    """A village's webhook (url, signing secret) or SMS channel (provider endpoint, key, template)."""

    __tablename__ = "notify_channels"
    __table_args__ = base.checks(kind="kind IN ('webhook', 'sms')")

    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_by: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = base.created_at()


class OutboxDelivery(Base):
    """An event's delivery over one channel: retried with backoff until delivered, or dead after N tries."""

    __tablename__ = "outbox_deliveries"
    __table_args__ = (
        *base.scoped_fks(event_id="outbox_events", channel_id="notify_channels"),
        *base.checks(attempts="attempts >= 0"),
        base.partial_index(
            "ix_outbox_deliveries_due", "next_attempt_at", where="delivered_at IS NULL AND dead_at IS NULL"
        ),
        base.partial_index("ix_outbox_deliveries_dead", "village_id", "dead_at", where="dead_at IS NOT NULL"),
    )

    village_id: Mapped[uuid.UUID] = base.uuid_key()
    event_id: Mapped[uuid.UUID] = base.uuid_key()
    channel_id: Mapped[uuid.UUID] = base.uuid_key()
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = base.server_now()
    delivered_at: Mapped[datetime | None]
    dead_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
