from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, String
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from jifen.models.base import Base, created_at


class AwardStatus(enum.StrEnum):
    pending_review = "pending_review"
    approved = "approved"
    public_notice = "public_notice"
    posted = "posted"
    rejected = "rejected"
    revoked = "revoked"


class Award(Base):
    """One application of a rule to a household (积分评定)."""

    __tablename__ = "awards"

    village_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    household_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    rule_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    rule_version: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(BigInteger)
    member_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    note: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[AwardStatus] = mapped_column(String(16))
    transaction_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    batch_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    submitted_by: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    notice_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    hold_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # 自主申报: filed by a villager (submitted_by) for their own household; always reviewed
    self_report: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    created_at: Mapped[datetime] = created_at()
