from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from jifen.models import base
from jifen.models.base import Base, VillageChildRow, VillageRow


class AwardStatus(enum.StrEnum):
    pending_review = "pending_review"
    approved = "approved"
    public_notice = "public_notice"
    posted = "posted"
    rejected = "rejected"
    revoked = "revoked"


class Award(VillageChildRow, Base):
    """One application of a rule to a household (积分评定).

    Its household, rule version, member and transaction are checked by statement triggers (migration 0002),
    not foreign keys: a batch of thousands costs one join."""

    __tablename__ = "awards"
    __table_args__ = (
        *base.checks(
            quantity="quantity > 0",
            status=(
                "status IN ('pending_review', 'approved', 'public_notice', 'posted', 'rejected', 'revoked')"
            ),
            # a posted award has its transaction; a revoked one may keep it (an objection to a posted award)
            posted_has_transaction=(
                "(status <> 'posted' OR transaction_id IS NOT NULL)"
                " AND (transaction_id IS NULL OR status IN ('posted', 'revoked'))"
            ),
            notice="(status = 'public_notice') <= (notice_until IS NOT NULL)",
            self_report_deed="NOT self_report OR points > 0",
            # an award scored offline was seen before the server received it (a phone's clock a little fast
            # allowed for): caps count by the observed moment, found from the period's start less this skew
            observed_before_received="observed_at <= created_at + interval '10 minutes'",
        ),
        Index("ix_awards_id", "id"),
        Index("ix_awards_household_created", "village_id", "household_id", "created_at"),
        # caps: what a household has under a rule since the start of a period
        Index("ix_awards_cap", "village_id", "household_id", "rule_id", "created_at"),
        # the review queue
        Index("ix_awards_village_id_status", "village_id", "status", "created_at"),
        base.partial_index("ix_awards_due", "notice_until", where="status = 'public_notice'"),
        base.partial_index("ix_awards_self_reports", "village_id", "created_at", where="self_report"),
    )

    household_id: Mapped[uuid.UUID]
    rule_id: Mapped[uuid.UUID]
    rule_version: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(BigInteger)
    member_id: Mapped[uuid.UUID | None]
    note: Mapped[str | None] = base.text500()
    status: Mapped[AwardStatus] = mapped_column(String(16))
    transaction_id: Mapped[uuid.UUID | None]
    batch_id: Mapped[uuid.UUID | None]
    submitted_by: Mapped[uuid.UUID]
    notice_until: Mapped[datetime | None]
    hold_id: Mapped[uuid.UUID | None]
    # 自主申报: filed by a villager (submitted_by) for their own household; always reviewed
    self_report: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    created_at: Mapped[datetime] = base.created_at()
    # when the deed was seen, for an award scored offline and sent later; None: when it was received
    observed_at: Mapped[datetime | None]


class AwardDecision(VillageChildRow, Base):
    """A reviewer's approval or rejection of an award; append-only. A double review needs two approvers."""

    __tablename__ = "award_decisions"
    __table_args__ = (
        base.scoped_fk("award_id", "awards", name="fk_award_decisions_award"),
        *base.checks(
            decision="decision IN ('approve', 'reject')",
            reject_reason="decision <> 'reject' OR reason IS NOT NULL",
        ),
        # one approval per person per award
        base.once_per_village_where(
            "uq_award_decisions_one_approval_each", "award_id", "actor_id", where="decision = 'approve'"
        ),
    )

    award_id: Mapped[uuid.UUID]
    decision: Mapped[str] = mapped_column(String(8))
    actor_id: Mapped[uuid.UUID]
    reason: Mapped[str | None] = base.text500()
    created_at: Mapped[datetime] = base.created_at()


class Objection(VillageChildRow, Base):
    """An objection (异议) to an award on public notice or recently posted: upheld, revised or revoked; a
    `double` rule's resolution is proposed by one resolver and completed by a second."""

    __tablename__ = "objections"
    __table_args__ = (
        base.scoped_fk("award_id", "awards", name="fk_objections_award"),
        *base.checks(
            status="status IN ('open', 'resolved')",
            outcome=(
                "(status = 'open' AND outcome IS NULL AND resolved_at IS NULL)"
                " OR (status = 'resolved' AND outcome IN ('upheld', 'revised', 'revoked')"
                " AND resolved_at IS NOT NULL)"
            ),
            proposal=(
                "(proposed_outcome IS NULL) = (proposed_by IS NULL)"
                " AND (proposed_by IS NULL) = (proposed_at IS NULL)"
                " AND (proposed_outcome IS NULL OR proposed_outcome IN ('upheld', 'revised', 'revoked'))"
            ),
        ),
        base.partial_index("ix_objections_award", "village_id", "award_id", where="status = 'open'"),
        Index("ix_objections_id", "id"),
    )

    award_id: Mapped[uuid.UUID]
    raised_by: Mapped[uuid.UUID]
    reason: Mapped[str] = base.text500()
    status: Mapped[str] = mapped_column(String(10), server_default="open")
    outcome: Mapped[str | None] = mapped_column(String(10))
    resolved_by: Mapped[uuid.UUID | None]
    resolution: Mapped[str | None] = base.text500()
    resolved_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = base.created_at()
    proposed_outcome: Mapped[str | None] = mapped_column(String(10))
    proposed_points: Mapped[int | None] = mapped_column(BigInteger)
    proposed_by: Mapped[uuid.UUID | None]
    proposed_at: Mapped[datetime | None]


class Inspection(VillageRow, Base):
    """A grid inspection sheet: rules for one grid on one day, judged by named people, submitted once."""

    __tablename__ = "inspections"
    __table_args__ = (
        # one sheet per grid and day: a second tap opens nothing new
        UniqueConstraint("village_id", "grid", "inspected_on", name="uq_inspections_grid_day"),
        *base.checks(
            status="status IN ('open', 'submitted')",
            submitted="(status = 'submitted') = (submitted_at IS NOT NULL)",
            sheet="cardinality(rule_ids) BETWEEN 1 AND 50 AND cardinality(judges) BETWEEN 1 AND 9",
        ),
        Index("ix_inspections_id", "id"),
    )

    grid: Mapped[str] = mapped_column(String(32))
    inspected_on: Mapped[date] = mapped_column(Date)
    rule_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)))
    judges: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    status: Mapped[str] = mapped_column(String(10), server_default="open")
    created_by: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = base.created_at()
    submitted_by: Mapped[uuid.UUID | None]
    submitted_at: Mapped[datetime | None]
    awards: Mapped[int | None] = mapped_column(Integer)


class AwardPhoto(Base):
    """A photo attached to an award as evidence; append-only, so the evidence is never swapped afterwards."""

    __tablename__ = "award_photos"
    __table_args__ = (
        base.scoped_fk("award_id", "awards", name="fk_award_photos_award"),
        base.scoped_fk("photo_id", "photos", name="fk_award_photos_photo"),
        *base.checks(position="position BETWEEN 0 AND 8"),
    )

    village_id: Mapped[uuid.UUID] = base.uuid_key()
    award_id: Mapped[uuid.UUID] = base.uuid_key()
    photo_id: Mapped[uuid.UUID] = base.uuid_key()
    position: Mapped[int] = mapped_column(SmallInteger)
