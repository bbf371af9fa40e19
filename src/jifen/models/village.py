from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol

from sqlalchemy import BigInteger, Integer, String, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from jifen.models import base
from jifen.models.base import Base

DEFAULT_STAR_THRESHOLDS = (100, 200, 300, 400, 500)


class VillageView(Protocol):
    """A village as it is read: the ORM's `Village`, or the row an access check loads (auth/repository.py
    `VillageLine`). Changing a village takes the ORM object."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def cancel_window_minutes(self) -> int: ...
    @property
    def notice_days(self) -> int: ...
    @property
    def reservation_days(self) -> int: ...
    @property
    def star_thresholds(self) -> list[int]: ...
    @property
    def grids(self) -> list[str]: ...
    @property
    def created_at(self) -> datetime: ...


class Village(Base):
    """The tenant: rules, households, stores and users' roles belong to one village."""

    __tablename__ = "villages"
    __table_args__ = base.checks(
        cancel_window_minutes="cancel_window_minutes BETWEEN 0 AND 525600",
        notice_days="notice_days BETWEEN 0 AND 30",
        reservation_days="reservation_days BETWEEN 1 AND 90",
        star_thresholds=(
            "cardinality(star_thresholds) = 5 AND array_position(star_thresholds, NULL) IS NULL"
            " AND 0 < star_thresholds[1] AND star_thresholds[1] < star_thresholds[2]"
            " AND star_thresholds[2] < star_thresholds[3] AND star_thresholds[3] < star_thresholds[4]"
            " AND star_thresholds[4] < star_thresholds[5]"
        ),
    )

    id: Mapped[uuid.UUID] = base.uuid_pk()
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    # how long after a sale the store's clerk may cancel it; a village admin may later
    cancel_window_minutes: Mapped[int] = mapped_column(Integer, default=1440, server_default="1440")
    # days an approved award stays on public notice (公示) before it posts; 0: none
    notice_days: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # days a pickup code (预约兑换) stays valid before its hold and reserved goods are released
    reservation_days: Mapped[int] = mapped_column(Integer, default=7, server_default="7")
    # 星级文明户: points earned in a local year for one to five stars, ascending
    star_thresholds: Mapped[list[int]] = mapped_column(
        ARRAY(Integer), default=lambda: list(DEFAULT_STAR_THRESHOLDS), server_default="{100,200,300,400,500}"
    )
    # the grids (网格) the village has fixed; empty: any grid name is accepted
    grids: Mapped[list[str]] = mapped_column(
        ARRAY(String(32)), default=list, server_default=text("'{}'::character varying[]")
    )
    created_at: Mapped[datetime] = base.created_at()


class VillagePeriodFigures(Base):
    """The town overview's figures of one village for a local month ('YYYY-MM'), year ('YYYY') or all time
    ('*'), rolled up by the background pass up to the village's mark (migration 0017). Derived data."""

    __tablename__ = "village_period_figures"

    village_id: Mapped[uuid.UUID] = base.village_key()
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    taking_part: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    issued: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    deducted: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    redeemed: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    posted: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))


class VillagePeriodParticipant(Base):
    """A household account that took part (an award or deduction) in a village's period, once."""

    __tablename__ = "village_period_participants"

    village_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)


class HouseholdPeriodPoints(Base):
    """What counts in a ranking, summed for one household account and a local month, year or all time ('*'),
    rolled up by the background pass up to the village's mark (migration 0024). Derived data."""

    __tablename__ = "household_period_points"

    village_id: Mapped[uuid.UUID] = base.village_key()
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    points: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    earned: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))  # lifetime_earned's rule


class VillageRollupMark(Base):
    """Up to which chain_id a village's household postings are in its period figures."""

    __tablename__ = "village_rollup_marks"

    village_id: Mapped[uuid.UUID] = base.village_key()
    chain_id: Mapped[int] = mapped_column(BigInteger)
    rolled_at: Mapped[datetime] = base.server_now()


class VillageHouseholds(Base):
    """A village's number of households, kept by a statement trigger on households (migration 0017)."""

    __tablename__ = "village_households"

    village_id: Mapped[uuid.UUID] = base.village_key()
    households: Mapped[int] = mapped_column(BigInteger)
