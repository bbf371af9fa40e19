from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, StringConstraints

from jifen.auth.passwords import MIN_PASSWORD_LENGTH
from jifen.kit.schemas import InputModel
from jifen.models import Role


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    # the password was reset by an administrator: only /auth/me, /auth/password and /auth/logout answer
    must_change_password: bool = False


class RoleGrant(BaseModel):
    role: Role
    village_id: uuid.UUID | None = None
    store_id: uuid.UUID | None = None
    household_id: uuid.UUID | None = None
    grid: str | None = None


class Me(BaseModel):
    id: uuid.UUID
    username: str
    display_name: str
    roles: list[RoleGrant]
    must_change_password: bool = False


class PasswordChange(InputModel):
    old_password: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    new_password: Annotated[str, StringConstraints(min_length=MIN_PASSWORD_LENGTH, max_length=128)]
