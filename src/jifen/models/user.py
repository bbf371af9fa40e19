from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    CHAR,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jifen.models import base
from jifen.models.base import Base


class Role(enum.StrEnum):
    town_admin = "town_admin"
    village_admin = "village_admin"
    cadre = "cadre"
    reviewer = "reviewer"
    clerk = "clerk"
    villager = "villager"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        # user names are unique whatever their case
        Index("uq_users_username_lower", text("lower(username)"), unique=True),
        *base.checks(credential_version="credential_version >= 1"),
    )

    id: Mapped[uuid.UUID] = base.uuid_pk()
    username: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(64))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[datetime] = base.created_at()
    # carried in every token and session cookie; raised to end them all (sign-out, password, disabling)
    credential_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # set by an administrator's password reset: the user must choose their own before anything else
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = base.text500()

    roles: Mapped[list[UserRole]] = relationship(
        back_populates="user", lazy="selectin", order_by="UserRole.created_at"
    )


class UserRole(Base):
    """One scoped grant: a role in a village (a store for a clerk, a household for a villager)."""

    __tablename__ = "user_roles"
    __table_args__ = (
        *base.scoped_fks(store_id="stores", household_id="households"),
        *base.checks(
            role="role IN ('town_admin', 'village_admin', 'cadre', 'reviewer', 'clerk', 'villager')",
            # the scope each role needs, and nothing it must not have
            scope="""CASE role
              WHEN 'town_admin' THEN village_id IS NULL AND store_id IS NULL AND household_id IS NULL
                                     AND grid IS NULL
              WHEN 'clerk' THEN village_id IS NOT NULL AND store_id IS NOT NULL AND household_id IS NULL
              WHEN 'villager' THEN village_id IS NOT NULL AND household_id IS NOT NULL AND store_id IS NULL
              WHEN 'cadre' THEN village_id IS NOT NULL AND store_id IS NULL AND household_id IS NULL
              ELSE village_id IS NOT NULL AND store_id IS NULL AND household_id IS NULL AND grid IS NULL
            END""",
        ),
        UniqueConstraint(
            "user_id",
            "role",
            "village_id",
            "store_id",
            "household_id",
            "grid",
            name="uq_user_roles_grant",
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[uuid.UUID] = base.uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[Role] = mapped_column(String(16))
    village_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("villages.id"), index=True)
    store_id: Mapped[uuid.UUID | None]
    household_id: Mapped[uuid.UUID | None]
    grid: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = base.created_at()

    user: Mapped[User] = relationship(back_populates="roles")


class LoginThrottle(Base):
    """Scratch state of the login throttle (`auth.throttle`): one row per user name and client address
    (kind 'n') and one per address across names (kind 'a', name_key ''); not history."""

    __tablename__ = "login_throttle"
    __table_args__ = (
        *base.checks(kind="kind IN ('n', 'a')", failures="failures >= 0"),
        Index("ix_login_throttle_updated_at", "updated_at"),
    )

    kind: Mapped[str] = mapped_column(CHAR(1), primary_key=True)
    name_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_addr: Mapped[str] = mapped_column(String(64), primary_key=True)  # '' when unknown
    failures: Mapped[int] = mapped_column(Integer, server_default="0")
    blocked_until: Mapped[datetime | None]
    refused: Mapped[bool] = mapped_column(Boolean, server_default="false")  # what the last claim decided
    updated_at: Mapped[datetime] = base.server_now()
