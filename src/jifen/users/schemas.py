from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from jifen.auth.passwords import MIN_PASSWORD_LENGTH
from jifen.auth.schemas import RoleGrant
from jifen.kit.schemas import Grid, InputModel, Name, Reason

Username = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@\-]+$")
]
Password = Annotated[str, StringConstraints(min_length=MIN_PASSWORD_LENGTH, max_length=128)]


class RoleGrantIn(InputModel, RoleGrant):
    grid: Grid | None = None


class UserCreate(InputModel):
    username: Username
    password: Password
    display_name: Name
    roles: list[RoleGrantIn] = Field(min_length=1, max_length=20)


class UserOut(BaseModel):
    id: uuid.UUID
    username: str
    display_name: str
    is_active: bool
    created_at: datetime
    roles: list[RoleGrant]
    # an administrator reset the password and the user has not chosen their own yet
    must_change_password: bool = False
    disabled_at: datetime | None = None
    disabled_reason: str | None = None


class UserDisable(InputModel):
    reason: Reason


class UserReason(InputModel):
    reason: Reason | None = None


class RoleRemoval(RoleGrantIn):
    """The grant to take away, exactly as the user holds it, and why."""

    reason: Reason


class PasswordReset(BaseModel):
    user: UserOut
    # shown once to the administrator, who hands it over; the user must replace it at the next sign-in
    one_time_password: str
