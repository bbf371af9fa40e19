from __future__ import annotations

import uuid

from pydantic import BaseModel

from jifen.models import Role


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


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
