from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from jifen.auth.passwords import MIN_PASSWORD_LENGTH
from jifen.auth.schemas import RoleGrant
from jifen.kit.schemas import Grid, InputModel, Name
from jifen.models import Role

Username = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@\-]+$")
]
Password = Annotated[str, StringConstraints(min_length=MIN_PASSWORD_LENGTH, max_length=128)]


class RoleGrantIn(InputModel):
    role: Role
    village_id: uuid.UUID | None = None
    store_id: uuid.UUID | None = None
    household_id: uuid.UUID | None = None
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
