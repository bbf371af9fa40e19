from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import (
    Boolean,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jifen.models import base
from jifen.models.base import Base, VillageChildRow, VillageRow


class HouseholdRecord(Protocol):
    """A household as it is read: the ORM's `Household`, or the row an access check loads
    (`HouseholdRow`). Changing a household takes the ORM object."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def village_id(self) -> uuid.UUID: ...
    @property
    def code(self) -> str: ...
    @property
    def head_name(self) -> str: ...
    @property
    def grid(self) -> str | None: ...
    @property
    def address(self) -> str | None: ...
    @property
    def household_class(self) -> str | None: ...
    @property
    def population(self) -> int | None: ...
    @property
    def sms_enabled(self) -> bool: ...
    @property
    def created_at(self) -> datetime: ...


# the select list a `HouseholdRow` is read from ("class" is a keyword in Python)
HOUSEHOLD_ROW = (
    "id, village_id, code, head_name, grid, address, class AS household_class, population, sms_enabled,"
    " created_at"
)


@dataclass(frozen=True, slots=True)
class HouseholdRow:
    """A household as it is read (an access check, a list); the ORM's `Household` is for one being added or
    changed. Read with `SELECT {HOUSEHOLD_ROW} FROM households`."""

    id: uuid.UUID
    village_id: uuid.UUID
    code: str
    head_name: str
    grid: str | None
    address: str | None
    household_class: str | None
    population: int | None
    sms_enabled: bool
    created_at: datetime


class Household(VillageRow, Base):
    """The account holder: points are kept per household (一户一档)."""

    __tablename__ = "households"
    __table_args__ = (
        Index("ix_households_id", "id"),
        base.once_per_village("code"),
        Index("ix_households_village_id_grid", "village_id", "grid"),
        Index("ix_households_village_id_head_name", "village_id", "head_name"),
        *base.checks(population="population BETWEEN 1 AND 99"),
    )

    code: Mapped[str] = mapped_column(String(32))
    head_name: Mapped[str] = mapped_column(String(64))
    grid: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(200))
    # a class the village ranks apart (e.g. 党员户); "class" in the database
    household_class: Mapped[str | None] = mapped_column("class", String(32))
    # 人口: the number of people the roll gives the household (not necessarily its members on record)
    population: Mapped[int | None] = mapped_column(Integer)
    # the household may turn SMS notices off (on its /me pages)
    sms_enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[datetime] = base.created_at()

    # loaded only where shown (`households.repository.members_and_balance`); most requests never need them
    members: Mapped[list[Member]] = relationship(lazy="raise", order_by="Member.created_at", viewonly=True)


class Member(VillageChildRow, Base):
    __tablename__ = "members"
    __table_args__ = (
        base.scoped_fk("household_id", "households"),
        Index("ix_members_village_id_household_id", "village_id", "household_id"),
    )

    household_id: Mapped[uuid.UUID]
    name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(20))
    # 与户主关系 as the roll says it: 户主, 配偶, 子, 女, 父, 母 …
    relation: Mapped[str | None] = mapped_column(String(16))
    # a member's phone receives SMS notices only when the member allowed it
    sms_consent: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    created_at: Mapped[datetime] = base.created_at()
