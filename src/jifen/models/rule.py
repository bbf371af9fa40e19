from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, Date, Index, Integer, String
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from jifen.models import base
from jifen.models.base import Base, VillageRow


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


class Rule(VillageRow, Base):
    """A rule's identity (积分细则); what it says lives in its versions."""

    __tablename__ = "rules"
    __table_args__ = (base.once_per_village("code"), Index("ix_rules_id", "id"))

    code: Mapped[str] = mapped_column(String(32))
    current_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = base.created_at()


class RuleVersion(Base):
    """What a rule says from one version on; append-only (a change is a new version)."""

    __tablename__ = "rule_versions"
    __table_args__ = (
        base.scoped_fk("rule_id", "rules"),
        *base.checks(
            points="points <> 0 AND abs(points) <= 100000",
            **base.per_period("cap"),
            review="review IN ('none', 'single', 'double')",
            # rectification (整改): the share (percent) of a deduction that comes back once it is fixed
            rectification_share=(
                "rectification_share IS NULL OR (points < 0 AND rectification_share BETWEEN 1 AND 100)"
            ),
            # escalation for repeat deductions in a period: the n-th deduction takes escalation[n] points
            escalation=(
                "escalation IS NULL OR (points < 0 AND cardinality(escalation) BETWEEN 1 AND 10"
                " AND 0 < ALL (escalation) AND 100000 >= ALL (escalation))"
            ),
            active_range="active_from IS NULL OR active_until IS NULL OR active_from <= active_until",
        ),
    )

    village_id: Mapped[uuid.UUID] = base.uuid_key()
    rule_id: Mapped[uuid.UUID] = base.uuid_key()
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32))
    points: Mapped[int] = mapped_column(Integer)
    cap_count: Mapped[int | None] = mapped_column(Integer)
    cap_period: Mapped[str | None] = mapped_column(String(8))
    evidence_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    rectification_share: Mapped[int | None] = mapped_column(Integer)
    escalation: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))
    active_from: Mapped[date | None] = mapped_column(Date)
    active_until: Mapped[date | None] = mapped_column(Date)
    review: Mapped[str] = mapped_column(String(8), default="none", server_default="none")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_by: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = base.created_at()
