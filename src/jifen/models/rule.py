from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKeyConstraint, Integer, String
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from jifen.models.base import Base, created_at


class Review(enum.StrEnum):
    none = "none"
    single = "single"
    double = "double"


class Period(enum.StrEnum):
    day = "day"
    week = "week"
    month = "month"
    quarter = "quarter"
    year = "year"


class Rule(Base):
    """A rule's identity (积分细则); what it says lives in its versions."""

    __tablename__ = "rules"

    village_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(32))
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = created_at()


class RuleVersion(Base):
    __tablename__ = "rule_versions"
    __table_args__ = (ForeignKeyConstraint(["village_id", "rule_id"], ["rules.village_id", "rules.id"]),)

    village_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    rule_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32))
    points: Mapped[int] = mapped_column(Integer)
    cap_count: Mapped[int | None] = mapped_column(Integer)
    cap_period: Mapped[str | None] = mapped_column(String(8))
    evidence_required: Mapped[bool] = mapped_column(Boolean, default=False)
    rectification_share: Mapped[int | None] = mapped_column(Integer)
    escalation: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))
    active_from: Mapped[date | None] = mapped_column(Date)
    active_until: Mapped[date | None] = mapped_column(Date)
    review: Mapped[str] = mapped_column(String(8), default="none")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = created_at()
