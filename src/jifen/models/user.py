from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, ForeignKeyConstraint, Integer, String
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jifen.models.base import Base, created_at, uuid_pk


class Role(enum.StrEnum):
    town_admin = "town_admin"
    village_admin = "village_admin"
    cadre = "cadre"
    reviewer = "reviewer"
    clerk = "clerk"
    villager = "villager"


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = uuid_pk()
    username: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(64))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[datetime] = created_at()
    # carried in every token and session cookie; raised to end them all (sign-out, password, disabling)
    credential_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # set by an administrator's password reset: the user must choose their own before anything else
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_reason: Mapped[str | None] = mapped_column(String(500))

    roles: Mapped[list[UserRole]] = relationship(
        back_populates="user", lazy="selectin", order_by="UserRole.created_at"
    )


class UserRole(Base):
    """One scoped grant: a role in a village (a store for a clerk, a household for a villager)."""

    __tablename__ = "user_roles"
    __table_args__ = (
        ForeignKeyConstraint(["village_id", "store_id"], ["stores.village_id", "stores.id"]),
        ForeignKeyConstraint(["village_id", "household_id"], ["households.village_id", "households.id"]),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[Role] = mapped_column(String(16))
    village_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("villages.id"), index=True)
    store_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    household_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    grid: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = created_at()

    user: Mapped[User] = relationship(back_populates="roles")
